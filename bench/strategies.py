"""The strategies the benchmarks run (importable as ``bench.strategies:Name``)."""

from __future__ import annotations

from runtime.messages import Bar
from strategies.base import Strategy

__all__ = ["SIGNAL_VOLUME", "BuyEveryBar", "CountBars", "SignalProbe"]

SIGNAL_VOLUME = 1.0
"""Volume that marks a bar as a signal for :class:`SignalProbe`."""


class BuyEveryBar(Strategy):
    """Buys one unit at market on every bar: one order per bar (the every-bar probe)."""

    def on_bar(self, bar: Bar) -> None:
        """Submit a market buy of 1 for the bar's symbol."""
        self.buy(bar.symbol, 1)


class SignalProbe(Strategy):
    """Buys one unit at market on signal bars only (the signal-scenario probe).

    A signal bar is a bar whose volume is exactly :data:`SIGNAL_VOLUME`; every
    other bar, fill and order update is ignored, so the strategy's own work
    per order is the same as :class:`BuyEveryBar`'s and it places nothing
    while the benchmark settles the runtime between samples.
    """

    def on_bar(self, bar: Bar) -> None:
        """Submit a market buy of 1 when ``bar`` is a signal bar."""
        if bar.volume == SIGNAL_VOLUME:
            self.buy(bar.symbol, 1)


class CountBars(Strategy):
    """Counts the bars it sees and does nothing else (the fan-out subscriber)."""

    def on_start(self) -> None:
        """Start counting from zero."""
        self.bars = 0

    def on_bar(self, bar: Bar) -> None:
        """Count one bar."""
        self.bars += 1
