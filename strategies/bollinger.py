"""Bollinger-band mean reversion: buy below the lower band, exit at the middle."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from runtime.messages import Bar, Side
from strategies.base import Strategy

__all__ = ["BollingerReversion"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BollingerParams:
    """Parameters of :class:`BollingerReversion`."""

    period: int = 20
    """Bars in the moving average and standard deviation."""
    width: float = 2.0
    """Band half-width in standard deviations."""
    quantity: float = 100.0
    """Quantity per entry."""
    allow_short: bool = True
    """Also sell short above the upper band."""

    def validate(self) -> None:
        """Raise ValueError unless period >= 2, width > 0 and quantity > 0."""
        if self.period < 2:
            raise ValueError(f"period must be >= 2, got {self.period}")
        if not self.width > 0:
            raise ValueError(f"width must be > 0, got {self.width}")
        if not self.quantity > 0:
            raise ValueError(f"quantity must be > 0, got {self.quantity}")


class BollingerReversion(Strategy):
    """Mean reversion on Bollinger bands (population standard deviation).

    Flat: buy ``quantity`` when the close is below the lower band, sell short
    when above the upper band (if ``allow_short``). In a position: close it
    when the close crosses back to the middle band.
    """

    Params = BollingerParams

    def on_start(self) -> None:
        """Prepare one price window per symbol."""
        p: BollingerParams = self.params
        self._windows = {s: deque[float](maxlen=p.period) for s in self.symbols}

    def on_bar(self, bar: Bar) -> None:
        """Update the bands and trade on the close."""
        p: BollingerParams = self.params
        window = self._windows[bar.symbol]
        window.append(bar.close)
        if len(window) < p.period or self.open_orders():
            return
        mean = sum(window) / p.period
        std = math.sqrt(max(sum((x - mean) ** 2 for x in window) / p.period, 0.0))
        lower, upper = mean - p.width * std, mean + p.width * std
        held = self.position(bar.symbol)
        if held == 0:
            if bar.close < lower:
                self.buy(bar.symbol, p.quantity)
            elif bar.close > upper and p.allow_short:
                self.sell(bar.symbol, p.quantity)
        elif (held > 0 and bar.close >= mean) or (held < 0 and bar.close <= mean):
            self.submit(bar.symbol, _closing_side(held), abs(held))


def _closing_side(held: float) -> Side:
    return Side.SELL if held > 0 else Side.BUY
