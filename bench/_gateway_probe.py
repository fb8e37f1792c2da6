"""The strategy the hot-add benchmark adds over the gateway, and how it reports.

:class:`FirstBarProbe` stamps ``time.perf_counter_ns()`` first thing in its
``on_start`` and in its first ``on_bar`` and puts each stamp, with its
strategy id, on :data:`STAMPS`, which the benchmark thread reads (the
strategy runs in the benchmark's process, in its host's actor thread).

The same strategy is also added from a file (:data:`FILE_SOURCE`, written to
a temporary ``strategy_dirs`` directory): the runtime then executes that
file afresh on every add, as it does for a strategy an operator drops in a
directory. The file's class only forwards to :func:`stamp`.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass

from runtime.messages import Bar
from strategies.base import Strategy

__all__ = ["FILE_CLASS", "FILE_SOURCE", "STAMPS", "FirstBarProbe", "Stamp", "stamp"]


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a probe did, and when."""

    strategy_id: str
    """The probe's strategy id."""
    what: str
    """``started`` (its ``on_start``) or ``bar`` (its first ``on_bar``)."""
    ns: int
    """``time.perf_counter_ns()`` when it happened."""


STAMPS: queue.SimpleQueue[Stamp] = queue.SimpleQueue()
"""Written by the probes in their actor threads, read by the benchmark."""


def stamp(strategy_id: str, what: str) -> None:
    """Put a :class:`Stamp` of now on :data:`STAMPS`."""
    STAMPS.put(Stamp(strategy_id, what, time.perf_counter_ns()))


class FirstBarProbe(Strategy):
    """Stamps its start and its first bar; ignores every later bar."""

    def on_start(self) -> None:
        """Stamp ``started``."""
        stamp(self.id, "started")
        self.seen = False

    def on_bar(self, bar: Bar) -> None:
        """Stamp ``bar`` on the first bar only."""
        if not self.seen:
            self.seen = True
            stamp(self.id, "bar")


FILE_CLASS = "FileProbe"
"""Class name of the strategy in :data:`FILE_SOURCE`."""

FILE_SOURCE = '''"""The hot-add benchmark's probe, loaded from a file (see bench._gateway_probe)."""

from bench._gateway_probe import stamp
from runtime.messages import Bar
from strategies.base import Strategy


class FileProbe(Strategy):
    def on_start(self) -> None:
        stamp(self.id, "started")
        self.seen = False

    def on_bar(self, bar: Bar) -> None:
        if not self.seen:
            self.seen = True
            stamp(self.id, "bar")
'''
"""A strategy file doing what :class:`FirstBarProbe` does."""
