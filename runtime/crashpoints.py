"""Named crash points: where the crash tests kill the process with SIGKILL.

The crash harness (tests/crash_harness.py) starts the runtime with the
environment variable ``TRADEPIT_CRASH_AT=NAME:N`` (or several, comma
separated); the ``N``-th time the code passes :func:`crash_point` ``(NAME)``
the process sends itself SIGKILL: no handler, no ``finally``, no flush, exactly
what ``kill -9`` does at that instant. Without the variable a crash point is
one dictionary lookup in an empty dictionary.

The points (docs/journal.md lists them with what each proves):

- ``journal.before_commit``: records received, transaction not committed;
- ``journal.after_commit``: committed, the orders not yet handed to an engine
  (between the journal write and the send);
- ``engine.after_submit``: an order handed to the broker adapter;
- ``orders.before_journal``: a fill or update received by the order manager,
  not yet journaled (between the fill and the journal write).
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["ENV", "crash_point", "parse_points"]

ENV = "TRADEPIT_CRASH_AT"
"""The environment variable read once, at import."""


def parse_points(text: str) -> dict[str, int]:
    """``"a:3,b:1"`` -> ``{"a": 3, "b": 1}``; raises ``ValueError`` naming the bad item."""
    points: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, count = item.rpartition(":")
        if not sep or not name or not count.isdigit() or int(count) < 1:
            raise ValueError(f"{ENV}: expected NAME:N with N >= 1, got {item!r}")
        points[name] = int(count)
    return points


_remaining = parse_points(os.environ.get(ENV, ""))
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """SIGKILL this process if ``name`` is armed and this is its N-th pass."""
    if not _remaining or name not in _remaining:
        return
    with _lock:
        _remaining[name] -= 1
        if _remaining[name] > 0:
            return
    os.kill(os.getpid(), signal.SIGKILL)
