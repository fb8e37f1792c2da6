"""The data a backtest reads and the results it returns.

Plain frozen containers shared by the loader (:mod:`runtime.bar_data`), the
event loop (:mod:`runtime.backtest`), the metrics (:mod:`runtime.metrics`),
the report writer (:mod:`runtime.report`) and the optimizer
(:mod:`runtime.optimize`). Market data is columnar (one list per field), so
a file is loaded in bulk and a sweep shares it between trials without copying.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runtime.config import DataKind
from runtime.messages import Fill, OrderStatus, OrderType, RejectReason, Side, TimeInForce

__all__ = [
    "BacktestResult",
    "BarSeries",
    "EquityCurve",
    "Metrics",
    "OrderRecord",
    "RoundTrip",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BarSeries:
    """One symbol's market data, columnar, in strictly increasing time order
    (ticks: non-decreasing).

    For ticks (``kind`` TICKS) the trade price is in ``close`` (and in
    ``open``, ``high``, ``low``) and its size in ``volume``.
    """

    symbol: str
    """Symbol the rows are published under."""
    kind: DataKind
    """Bars or ticks."""
    interval_s: int
    """Bar length in seconds (0 for ticks)."""
    source: str
    """Where the data came from (a path), for messages."""
    ts: Sequence[int]
    """ts_event of every row, ns since the epoch, UTC."""
    open: Sequence[float]
    high: Sequence[float]
    low: Sequence[float]
    close: Sequence[float]
    volume: Sequence[float]
    """Traded quantity; 0 means unknown."""

    def __len__(self) -> int:
        return len(self.ts)

    def window(self, start_ns: int | None, end_ns: int | None) -> BarSeries:
        """The rows with ``start_ns <= ts < end_ns`` (None: unbounded), sharing nothing
        mutable with this series."""
        lo = 0 if start_ns is None else bisect.bisect_left(self.ts, start_ns)
        hi = len(self.ts) if end_ns is None else bisect.bisect_left(self.ts, end_ns)
        if lo == 0 and hi == len(self.ts):
            return self
        return BarSeries(
            symbol=self.symbol,
            kind=self.kind,
            interval_s=self.interval_s,
            source=self.source,
            ts=self.ts[lo:hi],
            open=self.open[lo:hi],
            high=self.high[lo:hi],
            low=self.low[lo:hi],
            close=self.close[lo:hi],
            volume=self.volume[lo:hi],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRecord:
    """One order a strategy submitted in a backtest, with how it ended."""

    client_order_id: str
    strategy_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: float
    limit_price: float | None
    stop_price: float | None
    time_in_force: TimeInForce
    ts_event: int
    """Market time of the submission (the bar the strategy decided on)."""
    status: OrderStatus
    """Last status: FILLED, CANCELLED, EXPIRED, REJECTED, or a working one at the end."""
    filled_quantity: float
    avg_fill_price: float | None
    reason: RejectReason | None
    """Why it was rejected or cancelled, if it was."""
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundTrip:
    """A closed round trip: from flat (or a flip) back to flat (or the next flip)."""

    strategy_id: str
    symbol: str
    side: Side
    """Side of the opening fill: BUY is a long trip."""
    quantity: float
    """Largest absolute position during the trip."""
    opened_at: int
    """ts_event of the opening fill, ns."""
    closed_at: int
    """ts_event of the closing fill, ns."""
    pnl: float
    """Realized P&L minus every commission of the trip (``TradeClosed.pnl``)."""
    fees: float
    """Commissions of the trip."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EquityCurve:
    """Equity after every event (bar or tick) of the run.

    ``total[i]`` is the account's equity (starting cash, cash flows and
    positions at their marks) once event ``i`` was handled completely.
    A strategy's curve is the starting cash plus that strategy's own
    contribution (its cash flows and positions): each strategy is measured
    against the whole account's capital, so its returns add up to the total's
    (up to compounding).
    """

    ts: Sequence[int]
    """ts_event of each point, ns; non-decreasing."""
    total: Sequence[float]
    """Account equity."""
    by_strategy: Mapping[str, Sequence[float]]
    """Starting cash plus each strategy's contribution, by strategy id."""
    in_market: Mapping[str, Sequence[bool]]
    """Per strategy (and ``"TOTAL"``): whether it held a position after each event."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    """Performance of one strategy or of the whole account over a backtest.

    Ratios that cannot be computed (no trade, no losing trade, no volatility,
    less than two days) are None, never NaN or infinity. Formulas:
    ``docs/backtest.md#metrics``.
    """

    start_equity: float
    end_equity: float
    net_pnl: float
    """end_equity - start_equity (after fees)."""
    total_return: float
    """end_equity / start_equity - 1."""
    cagr: float | None
    """Compound annual growth rate over the calendar time of the run."""
    volatility: float | None
    """Annualised standard deviation of daily returns."""
    sharpe: float | None
    """Annualised mean daily return over its standard deviation (risk-free rate 0)."""
    sortino: float | None
    """Annualised mean daily return over the downside deviation."""
    max_drawdown: float
    """Largest fall from a running peak of equity, as a fraction of that peak (>= 0)."""
    max_drawdown_duration_s: float
    """Longest time spent below a previous peak, seconds (to the end if not recovered)."""
    trades: int
    """Closed round trips."""
    win_rate: float | None
    """Share of round trips with pnl > 0."""
    profit_factor: float | None
    """Gross profit of winning trips over the gross loss of losing trips."""
    exposure: float
    """Share of events after which a position was held."""
    fees: float
    """Commissions paid."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestResult:
    """Everything one backtest produced, in event order."""

    settings: str
    """The settings file (for reports)."""
    data: tuple[str, ...]
    """``SYMBOL=source`` of every series replayed."""
    start_ns: int
    """ts_event of the first event (0 without data)."""
    end_ns: int
    """ts_event of the last event (0 without data)."""
    events: int
    """Bars and ticks replayed."""
    starting_cash: float
    strategies: tuple[str, ...]
    """Strategy ids, in settings order."""
    params: Mapping[str, Mapping[str, object]]
    """Each strategy's parameters, as run."""
    orders: tuple[OrderRecord, ...]
    """Every order, in submission order."""
    fills: tuple[Fill, ...]
    """Every execution, in order."""
    trips: tuple[RoundTrip, ...]
    """Every closed round trip, in order of closing."""
    equity: EquityCurve
    metrics: Mapping[str, Metrics]
    """Per strategy id, and ``"TOTAL"`` for the account."""
    halted: str = ""
    """Why the kill switch halted trading during the run; empty if it did not."""
