"""Backtest metrics against values computed by hand on small constructed curves."""

from __future__ import annotations

import math
import random
import time

import pytest

from runtime import metrics
from runtime.backtest_types import RoundTrip
from runtime.messages import Side
from runtime.metrics import compute_metrics, daily_values

DAY = 86_400 * 1_000_000_000
HOUR = 3_600 * 1_000_000_000
# 2024-01-01 00:00 UTC, in days since the epoch
JAN1 = 19_723 * DAY
REL = 1e-9


def trip(pnl: float) -> RoundTrip:
    return RoundTrip(
        strategy_id="s",
        symbol="X",
        side=Side.BUY,
        quantity=1.0,
        opened_at=JAN1,
        closed_at=JAN1 + DAY,
        pnl=pnl,
        fees=0.0,
    )


def test_metrics_exports_its_public_names() -> None:
    assert metrics.__all__ == ["NS_PER_DAY", "compute_metrics", "daily_values"]


def test_six_daily_points_match_hand_computed_metrics() -> None:
    # days 0, 1, 2, 3, 6, 7 at 21:00 UTC; starting cash 100
    ts = [JAN1 + d * DAY + 21 * HOUR for d in (0, 1, 2, 3, 6, 7)]
    equity = [110.0, 99.0, 118.8, 112.86, 124.146, 124.146]
    m = compute_metrics(
        ts,
        equity,
        starting=100.0,
        trips=[trip(30.0), trip(-10.0), trip(5.0)],
        fees=1.5,
        in_market=[True, True, False, True, False, False],
    )
    assert m.start_equity == 100.0
    assert m.end_equity == 124.146
    assert m.net_pnl == pytest.approx(24.146, rel=REL)
    assert m.total_return == pytest.approx(0.24146, rel=REL)
    # daily returns: +10%, -10%, +20%, -5%, +10%, 0%
    # in 1/120 units: 12, -12, 24, -6, 12, 0; mean = 30/6 = 5 -> 1/24
    # deviations 7, -17, 19, -11, 7, -5 -> squares 49+289+361+121+49+25 = 894 (/120^2)
    # sample variance = 894 / 14400 / 5 = 894 / 72000
    std = math.sqrt(894 / 72000)
    assert m.volatility == pytest.approx(std * math.sqrt(252), rel=REL)
    assert m.sharpe == pytest.approx((1 / 24) / std * math.sqrt(252), rel=REL)
    # downside: (0.1^2 + 0.05^2) / 6 = 0.0125 / 6
    assert m.sortino == pytest.approx((1 / 24) / math.sqrt(0.0125 / 6) * math.sqrt(252), rel=REL)
    # 7 calendar days between first and last point
    assert m.cagr == pytest.approx(1.24146 ** (365.25 / 7) - 1, rel=REL)
    # peaks 110, 110, 118.8, 118.8, 124.146, 124.146: worst is 99 / 110 -> 10%
    assert m.max_drawdown == pytest.approx(0.1, rel=REL)
    # underwater from day 0 (110) to day 2 (118.8): 2 days; from day 2 to day 6: 4 days
    assert m.max_drawdown_duration_s == 4 * 86_400
    assert m.trades == 3
    assert m.win_rate == pytest.approx(2 / 3, rel=REL)
    assert m.profit_factor == pytest.approx(35 / 10, rel=REL)
    assert m.exposure == 0.5
    assert m.fees == 1.5


def test_intraday_curve_is_resampled_to_the_last_value_of_each_utc_day() -> None:
    ts = [
        JAN1 + 9 * HOUR,  # day 0
        JAN1 + 15 * HOUR,  # day 0, last: 103
        JAN1 + DAY + 1 * HOUR,  # day 1
        JAN1 + 2 * DAY - 1,  # day 1, last ns of the day: 100.94
        JAN1 + 2 * DAY,  # day 2, first ns of the day
        JAN1 + 2 * DAY + 12 * HOUR,  # day 2, last: 105.987
    ]
    equity = [101.0, 103.0, 97.0, 100.94, 95.0, 105.987]
    assert daily_values(ts, equity) == [103.0, 100.94, 105.987]
    m = compute_metrics(ts, equity, starting=100.0, trips=[], fees=0.0, in_market=[False, True] * 3)
    # returns from 100: 103/100-1 = 0.03, 100.94/103-1 = -0.02, 105.987/100.94-1 = 0.05
    # mean 0.02; deviations 0.01, -0.04, 0.03; sample variance 0.0026 / 2 = 0.0013
    assert m.volatility == pytest.approx(math.sqrt(0.0013) * math.sqrt(252), rel=REL)
    assert m.sharpe == pytest.approx(0.02 / math.sqrt(0.0013) * math.sqrt(252), rel=REL)
    assert m.sortino == pytest.approx(0.02 / math.sqrt(0.0004 / 3) * math.sqrt(252), rel=REL)
    # 09:00 day 0 to 12:00 day 2: 51 hours
    assert m.cagr == pytest.approx(1.05987 ** (365.25 * 24 / 51) - 1, rel=REL)
    # peak 103 (day 0 15:00), lowest 95 -> 8 / 103; back above at day 2 12:00: 45 hours
    assert m.max_drawdown == pytest.approx(8 / 103, rel=REL)
    assert m.max_drawdown_duration_s == 45 * 3_600
    assert m.exposure == 0.5


def test_a_drawdown_that_never_recovers_lasts_until_the_last_point() -> None:
    ts = [JAN1 + d * DAY for d in range(4)]
    m = compute_metrics(
        ts, [100.0, 90.0, 95.0, 80.0], starting=100.0, trips=[], fees=0.0, in_market=[True] * 4
    )
    # peak 100 set at day 0 (equal to the start); never back: 3 days; worst 80 / 100
    assert m.max_drawdown == pytest.approx(0.2, rel=REL)
    assert m.max_drawdown_duration_s == 3 * 86_400
    assert m.total_return == pytest.approx(-0.2, rel=REL)
    assert m.cagr == pytest.approx(0.8 ** (365.25 / 3) - 1, rel=REL)


def test_a_curve_starting_below_the_starting_cash_is_in_drawdown_from_the_first_point() -> None:
    ts = [JAN1 + d * DAY for d in range(3)]
    m = compute_metrics(
        ts, [90.0, 95.0, 80.0], starting=100.0, trips=[], fees=0.0, in_market=[True] * 3
    )
    # the starting cash is the first peak, at ts[0]; never regained: 2 days
    assert m.max_drawdown == pytest.approx(0.2, rel=REL)
    assert m.max_drawdown_duration_s == 2 * 86_400


def test_a_recovery_to_exactly_the_peak_ends_the_drawdown() -> None:
    ts = [JAN1 + d * DAY for d in range(5)]
    m = compute_metrics(
        ts,
        [120.0, 100.0, 120.0, 110.0, 115.0],
        starting=100.0,
        trips=[],
        fees=0.0,
        in_market=[True] * 5,
    )
    # 120 at day 0, back to 120 at day 2 (2 days); from day 2 never back (2 days to day 4)
    assert m.max_drawdown == pytest.approx(20 / 120, rel=REL)
    assert m.max_drawdown_duration_s == 2 * 86_400


def test_a_flat_curve_has_no_sharpe_or_sortino_and_no_drawdown() -> None:
    ts = [JAN1 + d * DAY for d in range(5)]
    m = compute_metrics(ts, [100.0] * 5, starting=100.0, trips=[], fees=0.0, in_market=[False] * 5)
    assert m.volatility == 0.0
    assert m.sharpe is None
    assert m.sortino is None
    assert m.max_drawdown == 0.0
    assert m.max_drawdown_duration_s == 0.0
    assert m.total_return == 0.0
    assert m.cagr == 0.0
    assert m.exposure == 0.0


def test_only_gains_give_no_sortino() -> None:
    ts = [JAN1 + d * DAY for d in range(3)]
    m = compute_metrics(
        ts, [101.0, 103.0, 104.0], starting=100.0, trips=[], fees=0.0, in_market=[True] * 3
    )
    assert m.sortino is None
    assert m.sharpe is not None and m.sharpe > 0


def test_one_day_gives_no_return_statistics() -> None:
    ts = [JAN1 + h * HOUR for h in range(4)]
    m = compute_metrics(
        ts, [100.0, 101.0, 99.0, 102.0], starting=100.0, trips=[], fees=0.0, in_market=[True] * 4
    )
    # a single daily return (102/100 - 1): no standard deviation
    assert (m.volatility, m.sharpe, m.sortino) == (None, None, None)
    assert m.total_return == pytest.approx(0.02, rel=REL)


def test_no_trades_give_no_trade_ratios() -> None:
    ts = [JAN1, JAN1 + DAY]
    m = compute_metrics(
        ts, [100.0, 101.0], starting=100.0, trips=[], fees=0.0, in_market=[False, False]
    )
    assert m.trades == 0
    assert m.win_rate is None
    assert m.profit_factor is None


def test_no_losing_trip_leaves_the_profit_factor_undefined() -> None:
    m = compute_metrics(
        [JAN1], [100.0], starting=100.0, trips=[trip(5.0), trip(0.0)], fees=0.0, in_market=[True]
    )
    assert m.trades == 2
    # the break-even trip is not a win
    assert m.win_rate == 0.5
    assert m.profit_factor is None


def test_only_losing_trips_give_a_zero_profit_factor() -> None:
    m = compute_metrics(
        [JAN1], [100.0], starting=100.0, trips=[trip(-2.0), trip(-3.0)], fees=0.0, in_market=[True]
    )
    assert m.profit_factor == 0.0
    assert m.win_rate == 0.0


def test_an_empty_curve_keeps_the_starting_cash() -> None:
    m = compute_metrics([], [], starting=1_000.0, trips=[], fees=0.0, in_market=[])
    assert (m.start_equity, m.end_equity, m.net_pnl, m.total_return) == (1_000.0, 1_000.0, 0, 0)
    assert (m.cagr, m.volatility, m.sharpe, m.sortino) == (None, None, None, None)
    assert (m.max_drawdown, m.max_drawdown_duration_s, m.exposure) == (0.0, 0.0, 0.0)


def test_a_huge_return_over_minutes_has_no_cagr_instead_of_overflowing() -> None:
    m = compute_metrics(
        [JAN1, JAN1 + 60_000_000_000],
        [100.0, 200.0],
        starting=100.0,
        trips=[],
        fees=0.0,
        in_market=[True, True],
    )
    assert m.cagr is None
    assert m.total_return == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"starting": 0.0}, "starting: expected a finite number > 0, got 0.0"),
        ({"ts": [JAN1]}, "ts: expected one time per equity value (2), got 1"),
        ({"in_market": [True]}, "in_market: expected one flag per equity value (2), got 1"),
        ({"equity": [100.0, math.nan]}, "equity: expected finite numbers, got nan at index 1"),
        ({"ts": [JAN1 + 1, JAN1]}, f"ts: expected non-decreasing times, got {JAN1} after"),
        ({"periods_per_year": 0}, "periods_per_year: expected an integer > 0, got 0"),
        ({"fees": math.inf}, "fees: expected a finite number, got inf"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "ts": [JAN1, JAN1 + DAY],
        "equity": [100.0, 101.0],
        "starting": 100.0,
        "trips": [],
        "fees": 0.0,
        "in_market": [True, False],
    }
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        compute_metrics(**args)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_a_300k_point_curve_is_fast() -> None:
    rng = random.Random(7)
    n = 300_000
    ts = [JAN1 + i * 60_000_000_000 for i in range(n)]
    equity = []
    value = 100_000.0
    for _ in range(n):
        value *= 1 + rng.gauss(0, 0.001)
        equity.append(value)
    flags = [rng.random() < 0.5 for _ in range(n)]
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        m = compute_metrics(ts, equity, starting=100_000.0, trips=[], fees=0.0, in_market=flags)
        best = min(best, time.perf_counter() - started)
    assert m.end_equity == equity[-1]
    # well under 100 ms on a developer machine; generous for a loaded CI box
    assert best < 0.25, f"compute_metrics took {best * 1000:.0f} ms for {n:,} points"
