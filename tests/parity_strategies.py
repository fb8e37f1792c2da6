"""Strategies for the live-parity test: deterministic, and between them they use
market, limit and stop orders, cancels, partial fills and risk rejections."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.messages import Bar, Side
from strategies.base import Strategy


@dataclass(frozen=True, slots=True, kw_only=True)
class BracketParams:
    every: int = 4
    """Place a new order on every ``every``-th bar when nothing is working."""
    quantity: float = 300.0
    patience: int = 3
    """Cancel an order still working after this many bars."""


class BracketTrader(Strategy):
    """Buys on a limit below the close when flat or short, sells its position with a
    stop below the close when long; cancels orders that wait too long."""

    Params = BracketParams

    def on_start(self) -> None:
        self._bars = 0
        self._sent = 0
        self._placed: dict[str, int] = {}

    def on_bar(self, bar: Bar) -> None:
        p: BracketParams = self.params
        self._bars += 1
        working = self.open_orders()
        for oid in working:
            if self._bars - self._placed.get(oid, self._bars) >= p.patience:
                self.cancel(oid)
        if working or self._bars % p.every:
            return
        held = self.position(bar.symbol)
        self._sent += 1
        if held <= 0:
            # every third entry is twice the size: over a max_position limit
            size = p.quantity * 2 if self._sent % 3 == 0 else p.quantity
            oid = self.buy(bar.symbol, size, limit=round(bar.close * 0.995, 2))
        else:
            oid = self.submit(bar.symbol, Side.SELL, held, stop=round(bar.close * 0.99, 2))
        self._placed[oid] = self._bars
