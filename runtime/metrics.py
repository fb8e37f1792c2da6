"""Performance metrics of one equity curve and its round trips.

:func:`compute_metrics` turns the equity after every event of a backtest
(:class:`runtime.backtest_types.EquityCurve`) into a
:class:`runtime.backtest_types.Metrics`. It is pure Python: one loop over the curve
for the drawdowns, ``bisect`` for the daily resampling, so a 300,000-point
curve takes a few tens of milliseconds.

Definitions (``S`` is the starting cash, ``e_0 .. e_{n-1}`` the equity after
each event, ``t_0 .. t_{n-1}`` their times, ``P`` = ``periods_per_year``):

* ``start_equity = S``; ``end_equity = e_{n-1}`` (``S`` when the curve is empty);
  ``net_pnl = end - S``; ``total_return = end / S - 1``.
* **Daily returns.** The curve is resampled to one value per UTC calendar day
  that has events: the last equity of that day, ``d_1 .. d_m``. With
  ``d_0 = S``, the daily returns are ``r_k = d_k / d_{k-1} - 1`` for
  ``k = 1 .. m`` (``m`` returns). For daily bars this is bar-to-bar. The mean
  is ``mean(r) = sum(r) / m``.
* ``volatility = std(r) * sqrt(P)`` with the sample standard deviation
  ``std(r) = sqrt(sum((r_k - mean(r))^2) / (m - 1))``; None if ``m < 2``.
* ``sharpe = mean(r) / std(r) * sqrt(P)`` (risk-free rate 0); None if ``m < 2``
  or ``std(r) == 0``.
* ``sortino = mean(r) / dd(r) * sqrt(P)`` with the downside deviation
  ``dd(r) = sqrt(sum(min(r_k, 0)^2) / m)``; None if ``m < 2`` or ``dd(r) == 0``.
* ``cagr = (end / S) ** (1 / years) - 1`` with
  ``years = (t_{n-1} - t_0) / 365.25 days``; None if ``years <= 0``,
  ``end / S <= 0`` or the power overflows a float (a large return over minutes).
* **Drawdown.** The running peak starts at ``S``: ``peak_i = max(S, e_0 .. e_i)``.
  ``max_drawdown = max(0, max_i(1 - e_i / peak_i))``.
* ``max_drawdown_duration_s``: a drawdown starts at the time of the last point
  where equity stood at (or above) the running peak, or at ``t_0`` when no point
  has yet (the peak is ``S``), and ends at the first later point where equity is
  back to ``>=`` that peak, or at ``t_{n-1}`` if it never is. The metric is the
  longest such stretch in seconds; 0 if equity never fell below a peak.
* ``trades`` = number of round trips; ``win_rate = wins / trades`` where a win
  has ``pnl > 0`` (None without trips); ``profit_factor = sum(pnl > 0) /
  -sum(pnl < 0)``. No losing trip: undefined, shown as None.
* ``exposure`` = share of events after which a position was held (0 if none).
* ``fees`` = commissions paid, passed through.

Sums use :func:`math.fsum`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import NoReturn

from runtime.backtest_types import Metrics, RoundTrip

__all__ = ["NS_PER_DAY", "compute_metrics", "daily_values"]

NS_PER_DAY = 86_400 * 1_000_000_000
"""Nanoseconds in a (UTC calendar) day."""

_NS_PER_YEAR = 365.25 * NS_PER_DAY


def daily_values(ts: Sequence[int], equity: Sequence[float]) -> list[float]:
    """The last equity of every UTC calendar day that has events, in order.

    ``ts`` must be non-decreasing (not checked here).
    """
    out: list[float] = []
    n = len(ts)
    i = 0
    bisect_left = bisect.bisect_left
    append = out.append
    while i < n:
        day_end = (ts[i] // NS_PER_DAY + 1) * NS_PER_DAY
        j = bisect_left(ts, day_end, i + 1)
        append(equity[j - 1])
        i = j
    return out


def compute_metrics(
    ts: Sequence[int],
    equity: Sequence[float],
    *,
    starting: float,
    trips: Sequence[RoundTrip],
    fees: float,
    in_market: Sequence[bool],
    periods_per_year: int = 252,
) -> Metrics:
    """Metrics of the curve ``equity`` (one value per event at times ``ts``, ns).

    ``starting`` is the account's starting cash (returns are measured from it),
    ``trips`` the closed round trips, ``fees`` the commissions paid and
    ``in_market`` whether a position was held after each event. See the module
    docstring for every formula. Raises ValueError for inconsistent input.
    """
    _check(
        ts,
        equity,
        starting=starting,
        in_market=in_market,
        periods_per_year=periods_per_year,
        fees=fees,
    )
    n = len(equity)
    end = equity[-1] if n else starting
    ratio = end / starting
    max_dd, dd_ns = _drawdown(ts, equity, starting)
    volatility, sharpe, sortino = _return_stats(ts, equity, starting, periods_per_year)
    cagr: float | None = None
    if n:
        years = (ts[-1] - ts[0]) / _NS_PER_YEAR
        if years > 0 and ratio > 0:
            try:
                cagr = ratio ** (1.0 / years) - 1.0
            except OverflowError:  # a big return over minutes: not meaningful
                cagr = None
    pnls = [t.pnl for t in trips]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    win_rate = len(wins) / len(pnls) if pnls else None
    profit_factor = math.fsum(wins) / -math.fsum(losses) if losses else None
    return Metrics(
        start_equity=starting,
        end_equity=end,
        net_pnl=end - starting,
        total_return=ratio - 1.0,
        cagr=cagr,
        volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max_dd,
        max_drawdown_duration_s=dd_ns / 1e9,
        trades=len(pnls),
        win_rate=win_rate,
        profit_factor=profit_factor,
        exposure=sum(in_market) / len(in_market) if len(in_market) else 0.0,
        fees=fees,
    )


def _check(
    ts: Sequence[int],
    equity: Sequence[float],
    *,
    starting: float,
    in_market: Sequence[bool],
    periods_per_year: int,
    fees: float,
) -> None:
    if not (math.isfinite(starting) and starting > 0):
        raise ValueError(f"starting: expected a finite number > 0, got {starting!r}")
    if isinstance(periods_per_year, bool) or not (
        isinstance(periods_per_year, int) and periods_per_year > 0
    ):
        raise ValueError(f"periods_per_year: expected an integer > 0, got {periods_per_year!r}")
    if not math.isfinite(fees):
        raise ValueError(f"fees: expected a finite number, got {fees!r}")
    n = len(equity)
    if len(ts) != n:
        raise ValueError(f"ts: expected one time per equity value ({n}), got {len(ts)}")
    if len(in_market) != n:
        raise ValueError(
            f"in_market: expected one flag per equity value ({n}), got {len(in_market)}"
        )
    if not math.isfinite(sum(equity)):
        for i, value in enumerate(equity):
            if not math.isfinite(value):
                raise ValueError(f"equity: expected finite numbers, got {value!r} at index {i}")


def _drawdown(ts: Sequence[int], equity: Sequence[float], starting: float) -> tuple[float, int]:
    """(max drawdown as a fraction, longest drawdown in ns); checks ``ts`` is sorted."""
    if not equity:
        return 0.0, 0
    peak = starting
    peak_t = previous_t = ts[0]
    worst = 1.0  # lowest equity / peak
    longest = 0
    under = False
    for t, value in zip(ts, equity, strict=True):
        if t < previous_t:
            _unsorted(ts)
        previous_t = t
        if value >= peak:
            if under:
                under = False
                if t - peak_t > longest:  # noqa: PLR1730 (a call to max() is slower here)
                    longest = t - peak_t
            peak = value
            peak_t = t
        else:
            under = True
            fraction = value / peak
            if fraction < worst:  # noqa: PLR1730 (a call to min() is slower here)
                worst = fraction
    if under and previous_t - peak_t > longest:
        longest = previous_t - peak_t
    return 1.0 - worst, longest


def _unsorted(ts: Sequence[int]) -> NoReturn:
    i = next(k for k in range(1, len(ts)) if ts[k] < ts[k - 1])
    raise ValueError(
        f"ts: expected non-decreasing times, got {ts[i]} after {ts[i - 1]} at index {i}"
    )


def _return_stats(
    ts: Sequence[int], equity: Sequence[float], starting: float, periods_per_year: int
) -> tuple[float | None, float | None, float | None]:
    """(volatility, sharpe, sortino) of the daily returns."""
    closes = daily_values(ts, equity)
    m = len(closes)
    if m < 2:
        return None, None, None
    previous = [starting, *closes[:-1]]
    returns = [c / p - 1.0 for c, p in zip(closes, previous, strict=True)]
    mean = math.fsum(returns) / m
    std = math.sqrt(math.fsum((r - mean) ** 2 for r in returns) / (m - 1))
    downside = math.sqrt(math.fsum(r * r for r in returns if r < 0) / m)
    root = math.sqrt(periods_per_year)
    volatility = std * root
    sharpe = mean / std * root if std > 0 else None
    sortino = mean / downside * root if downside > 0 else None
    return volatility, sharpe, sortino
