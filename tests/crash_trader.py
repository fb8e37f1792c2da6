"""A seeded random trader for the crash tests: market and limit orders, cancels.

Each bar it draws from its own ``random.Random(seed)``: a market order (its
side keeps the position within +-``max_position``), a limit order a few basis
points from the close (it rests, then often fills), or a cancel of one of its
working orders. Quantities are whole shares, 1 to ``max_quantity``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from runtime.messages import Bar, Side
from strategies.base import Strategy


@dataclass(frozen=True, slots=True)
class TraderParams:
    """Parameters of :class:`SeededTrader`."""

    seed: int = 1
    max_quantity: int = 5
    max_position: float = 40.0


class SeededTrader(Strategy):
    """Trades at random, reproducibly from its seed."""

    Params = TraderParams

    def on_start(self) -> None:
        self.rng = random.Random(self.params.seed)

    def on_bar(self, bar: Bar) -> None:
        rng = self.rng
        quantity = rng.randint(1, self.params.max_quantity)
        position = self.position(bar.symbol)
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        if position > self.params.max_position:
            side = Side.SELL
        elif position < -self.params.max_position:
            side = Side.BUY
        draw = rng.random()
        if draw < 0.5:
            self.submit(symbol=bar.symbol, side=side, quantity=quantity)
        elif draw < 0.8:
            offset = 0.0005 if side is Side.BUY else -0.0005
            price = round(bar.close * (1.0 - offset), 4)
            self.submit(symbol=bar.symbol, side=side, quantity=quantity, limit=price)
        else:
            working = self.open_orders()
            if working:
                self.cancel(working[rng.randrange(len(working))])
