"""Synthetic bars for the benchmarks."""

from __future__ import annotations

import time

from bench._settings import SYMBOL
from runtime.messages import Bar, next_id

__all__ = ["DEFAULT_VOLUME", "bar_at", "bars"]

_T0 = 1_704_187_800_000_000_000
"""2024-01-02T09:30:00Z, ns: market time of bar 0."""
_STEP = 60_000_000_000

DEFAULT_VOLUME = 10_000.0
"""Volume of a bar unless the caller asks for another one."""


def bar_at(seq: int, *, volume: float = DEFAULT_VOLUME) -> Bar:
    """Bar number ``seq`` of a gently oscillating one-minute series; ``ts_init`` is now.

    ``volume`` lets a benchmark mark bars for its probe strategy (see
    :class:`bench.strategies.SignalProbe`); the paper engine has no volume
    cap in the benchmark settings, so it does not change how orders fill.
    """
    price = 100.0 + (seq % 100) * 0.01
    return Bar(
        id=next_id(),
        ts_event=_T0 + seq * _STEP,
        symbol=SYMBOL,
        open=price,
        high=price + 0.05,
        low=price - 0.05,
        close=price + 0.01,
        volume=volume,
        interval_s=60,
        ts_init=time.time_ns(),
    )


def bars(count: int) -> list[Bar]:
    """``count`` consecutive bars, built up front (the replay reads them from memory)."""
    return [bar_at(i) for i in range(count)]
