"""Moving-average crossover: long when the fast SMA is above the slow one."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from runtime.messages import Bar
from strategies.base import Strategy

__all__ = ["SmaCrossover"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SmaParams:
    """Parameters of :class:`SmaCrossover`."""

    fast: int = 10
    """Bars in the fast average."""
    slow: int = 30
    """Bars in the slow average."""
    quantity: float = 100.0
    """Quantity bought on a cross up; the whole position is sold on a cross down."""
    allow_short: bool = False
    """On a cross down, also go short ``quantity`` instead of only going flat."""

    def validate(self) -> None:
        """Raise ValueError unless 1 <= fast < slow and quantity > 0."""
        if self.fast < 1:
            raise ValueError(f"fast must be >= 1, got {self.fast}")
        if self.slow <= self.fast:
            raise ValueError(f"slow must be greater than fast ({self.fast}), got {self.slow}")
        if not self.quantity > 0:
            raise ValueError(f"quantity must be > 0, got {self.quantity}")


class _Averages:
    """Fast and slow simple moving averages of one symbol's closes."""

    __slots__ = ("fast", "slow")

    def __init__(self, fast: int, slow: int) -> None:
        self.fast: deque[float] = deque(maxlen=fast)
        self.slow: deque[float] = deque(maxlen=slow)

    def push(self, price: float) -> tuple[float, float] | None:
        """Add a close; return (fast, slow) once the slow window is full."""
        self.fast.append(price)
        self.slow.append(price)
        if len(self.slow) < (self.slow.maxlen or 0):
            return None
        return math.fsum(self.fast) / len(self.fast), math.fsum(self.slow) / len(self.slow)


class SmaCrossover(Strategy):
    """Buy ``quantity`` when the fast SMA crosses above the slow SMA; exit on the
    cross below (and go short if ``allow_short``).

    A cross is backtrader's ``CrossOver``: the fast average is above (below) the
    slow one now, and the last non-zero difference before this bar was below
    (above) zero, so touching without crossing is not a cross. Orders are sent
    only when no order of the strategy is working.
    """

    Params = SmaParams

    def on_start(self) -> None:
        """Prepare one pair of averages per symbol."""
        p: SmaParams = self.params
        self._averages = {s: _Averages(p.fast, p.slow) for s in self.symbols}
        self._last_diff: dict[str, float] = {}

    def on_bar(self, bar: Bar) -> None:
        """Update the averages and trade on a cross."""
        symbol = bar.symbol
        averages = self._averages[symbol].push(bar.close)
        if averages is None:
            return
        diff = averages[0] - averages[1]
        before = self._last_diff.get(symbol)
        if diff != 0.0 or before is None:
            self._last_diff[symbol] = diff  # the first difference seeds it, even if zero
        if before is None:
            return
        if before < 0.0 < diff:
            up = True
        elif before > 0.0 > diff:
            up = False
        else:
            return
        if self.open_orders():
            return
        p: SmaParams = self.params
        held = self.position(symbol)
        if up and held <= 0:
            self.buy(symbol, p.quantity - held)
        elif not up and held >= 0:
            target = -p.quantity if p.allow_short else 0.0
            if held - target > 0:
                self.sell(symbol, held - target)
