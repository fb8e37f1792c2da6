"""Client order ids: unique across the runtime, stable for an order's whole life.

An id is ``<run>-<strategy>-<n>``: ``run`` is a short tag fixed when the
runtime starts (so two runs do not reuse an id at a venue), ``strategy`` the
owner and ``n`` a per-strategy counter. The id is made once, when the
strategy submits, and is never regenerated on retry or failover.
"""

from __future__ import annotations

import itertools
import secrets
import time

__all__ = ["ClientOrderIds", "run_tag"]

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(value: int) -> str:
    digits = []
    while value:
        value, rem = divmod(value, 36)
        digits.append(_ALPHABET[rem])
    return "".join(reversed(digits)) or "0"


def run_tag(now_ns: int | None = None) -> str:
    """A short tag: base-36 start time (milliseconds) and 3 random base-36 digits,
    so runs started in the same millisecond (sweeps, tests) still differ."""
    millis = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    return _base36(millis) + _base36(36**3 + secrets.randbelow(36**3))[1:]


class ClientOrderIds:
    """Makes the client order ids of one strategy."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self, run: str, strategy_id: str, start: int = 1) -> None:
        self._prefix = f"{run}-{strategy_id}-"
        self._counter = itertools.count(start)

    def next(self) -> str:
        """The next id."""
        return f"{self._prefix}{next(self._counter)}"
