"""The backtester's event loop: fill semantics, risk, kill switch, failures, determinism."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from backtest_strategies import Scripted
from test_live_parity import SETTINGS as PARITY_SETTINGS

from runtime.backtest import BacktestError, StrategyFailedError, run_backtest
from runtime.backtest_types import BarSeries
from runtime.cli_backtest import load_data
from runtime.config import DataKind, Settings
from runtime.messages import OrderStatus, RejectReason, Side
from runtime.progress import Progress
from runtime.report import write_report
from runtime.settings import load_settings, parse_settings

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
DAY = 86_400 * 10**9
T0 = 1_600_000_000 * 10**9 // DAY * DAY  # a UTC midnight

BASE = """
[feed]
source = "synthetic"
[feed.synthetic]
symbols = ["AAA", "BBB"]
[execution]
engines = ["paper"]
[engines.paper]
adapter = "paper"
max_volume_share = {share}
[engines.paper.slippage]
model = "{slippage}"
{slippage_key}
[engines.paper.commission]
model = "{commission}"
{commission_key}
[risk]
{risk}
[portfolio]
starting_cash = 100000.0
[gateway]
enabled = false
"""

SCRIPTED = """
[[strategies]]
id = "{sid}"
class = "backtest_strategies:Scripted"
symbols = ["{symbol}"]
[strategies.params]
orders = {orders}
"""


def settings(
    tmp_path: Path,
    strategies: str,
    *,
    risk: str = "",
    share: float = 0.0,
    costs: bool = False,
) -> Settings:
    text = BASE.format(
        share=share,
        slippage="fixed_bps" if costs else "none",
        slippage_key="bps = 10.0" if costs else "",
        commission="per_share" if costs else "none",
        commission_key="per_share = 0.01\nminimum = 1.0" if costs else "",
        risk=risk,
    )
    return parse_settings(text + strategies, source="bt.toml", base_dir=tmp_path)


def scripted(sid: str, symbol: str, *orders: str) -> str:
    listed = "[" + ", ".join(f'"{o}"' for o in orders) + "]"
    return SCRIPTED.format(sid=sid, symbol=symbol, orders=listed)


def series(
    symbol: str,
    rows: list[tuple[float, float, float, float]],
    *,
    volume: float = 1e6,
    step: int = DAY,
    start: int = T0,
    kind: DataKind = DataKind.BARS,
) -> BarSeries:
    """Bars (open, high, low, close) one ``step`` apart."""
    return BarSeries(
        symbol=symbol,
        kind=kind,
        interval_s=0 if kind is DataKind.TICKS else step // 10**9,
        source=f"{symbol}.csv",
        ts=[start + i * step for i in range(len(rows))],
        open=[r[0] for r in rows],
        high=[r[1] for r in rows],
        low=[r[2] for r in rows],
        close=[r[3] for r in rows],
        volume=[volume] * len(rows),
    )


FLAT = [(100.0, 101.0, 99.0, 100.0)] * 3
ROWS = [
    (100.0, 101.0, 99.0, 100.5),  # 0
    (102.0, 103.0, 101.0, 102.5),  # 1
    (101.0, 101.5, 97.0, 98.0),  # 2
    (98.5, 99.0, 95.0, 96.0),  # 3
    (96.0, 104.0, 95.5, 103.0),  # 4
    (103.5, 104.0, 102.0, 103.0),  # 5
]


def test_a_market_order_fills_at_the_next_bar_open_with_slippage_and_commission(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path, scripted("s", "AAA", "0 BUY 100", "2 SELL 100"), costs=True)
    result = run_backtest(s, [series("AAA", ROWS)])
    buy, sell = result.fills
    assert buy.ts_event == T0 + DAY and sell.ts_event == T0 + 3 * DAY
    assert buy.price == pytest.approx(102.0 * 1.001) and buy.slippage == pytest.approx(0.102)
    assert sell.price == pytest.approx(98.5 * 0.999)
    assert buy.commission == 1.0 and sell.commission == 1.0  # 100 x 0.01 = 1, the minimum
    (trip,) = result.trips
    assert trip.pnl == pytest.approx((98.5 * 0.999 - 102.0 * 1.001) * 100 - 2.0)
    assert result.metrics["TOTAL"].fees == 2.0
    # the account: cash after the round trip plus nothing held
    assert result.equity.total[-1] == pytest.approx(100_000.0 + trip.pnl)


def test_limit_and_stop_orders_fill_when_the_bar_range_reaches_them(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        scripted(
            "s",
            "AAA",
            "0 BUY 10 limit=97.5",  # bar 1 low 101: no; bar 2 low 97: fills at 97.5
            "0 BUY 10 limit=94.0",  # never reached (lowest low 95)
            "2 SELL 10 stop=96.5",  # bar 3 low 95 reaches it, open 98.5 above: at 96.5
            "3 BUY 10 stop=103.8",  # bar 4 high 104: opens 96 below the stop, fills at 103.8
            "4 SELL 10 limit=103.2",  # bar 5 opens 103.5 through the limit: at the open
        ),
    )
    result = run_backtest(s, [series("AAA", ROWS)])
    got = [(f.ts_event, f.side, f.price) for f in result.fills]
    assert got == [
        (T0 + 2 * DAY, Side.BUY, 97.5),
        (T0 + 3 * DAY, Side.SELL, 96.5),
        (T0 + 4 * DAY, Side.BUY, 103.8),
        (T0 + 5 * DAY, Side.SELL, 103.5),
    ]
    never = [o for o in result.orders if o.limit_price == 94.0]
    assert [o.status for o in never] == [OrderStatus.ACCEPTED]  # still working at the end


def test_the_volume_cap_splits_an_order_over_bars(tmp_path: Path) -> None:
    s = settings(tmp_path, scripted("s", "AAA", "0 BUY 250"), share=0.1)
    result = run_backtest(s, [series("AAA", ROWS, volume=1000.0)])
    assert [f.quantity for f in result.fills] == [100.0, 100.0, 50.0]
    assert [o.status for o in result.orders] == [OrderStatus.FILLED]


def test_risk_refuses_with_the_live_rules_and_reason_codes(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        scripted("s", "AAA", "0 BUY 60", "1 BUY 60", "2 BUY 5 limit=150"),
        risk="max_position = 100\nprice_collar_pct = 10.0",
    )
    result = run_backtest(s, [series("AAA", ROWS)])
    assert [(o.status, o.reason) for o in result.orders] == [
        (OrderStatus.FILLED, None),
        (OrderStatus.REJECTED, RejectReason.MAX_POSITION),
        (OrderStatus.REJECTED, RejectReason.PRICE_COLLAR),
    ]
    assert "max_position 100" in result.orders[1].message


def test_the_kill_switch_halts_cancels_and_refuses(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        scripted("s", "AAA", "0 BUY 1000", "1 BUY 1 limit=90.0", "4 BUY 1"),
        risk="daily_loss_limit = 3000.0",
    )
    result = run_backtest(s, [series("AAA", ROWS)])
    # bought 1000 at 102 on bar 1; bar 2 closes at 98: -4,000 on the day
    assert "kill switch" in result.halted and "3,000.00" in result.halted
    working, refused = result.orders[1], result.orders[2]
    assert (working.status, working.reason) == (OrderStatus.CANCELLED, RejectReason.HALTED)
    assert (refused.status, refused.reason) == (OrderStatus.REJECTED, RejectReason.HALTED)


def test_a_kill_switch_on_a_partial_fill_cancels_after_the_fills_own_update(
    tmp_path: Path,
) -> None:
    s = settings(
        tmp_path,
        scripted("k", "AAA", "0 BUY 100", "1 SELL 100"),
        risk="daily_loss_limit = 300.0",
        share=0.01,
    )
    # the sell meets a gap down with 4,000 traded: 40 shares fill at 90, a loss
    # of 400 on the day that fires the kill switch on the fill itself
    data = series("AAA", [(100.0, 101.0, 99.0, 100.0)] * 2 + [(90.0, 91.0, 89.0, 90.0)] * 2)
    data = dataclasses.replace(data, volume=[1e6, 1e6, 4000.0, 1e6])
    result = run_backtest(s, [data])
    assert "kill switch" in result.halted
    sell = result.orders[1]
    assert (sell.status, sell.reason, sell.filled_quantity) == (
        OrderStatus.CANCELLED,
        RejectReason.HALTED,
        40.0,
    )
    told = [(hook, what) for hook, oid, what, _r, _q in Scripted.seen["k"] if oid.endswith("-2")]
    # the fill and its PARTIALLY_FILLED first, then the kill switch's cancel
    assert told == [
        ("order", "ACCEPTED"),
        ("fill", "SELL"),
        ("order", "PARTIALLY_FILLED"),
        ("order", "CANCELLED"),
    ]


def test_a_refused_modify_is_answered_as_the_order_manager_does(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        scripted(
            "m",
            "AAA",
            "0 BUY 10 limit=90.0",
            "1 MODIFY 0 quantity=500",  # over max_position: refused
            "2 MODIFY 0 limit=91.0",  # applied
            "3 CANCEL 0",
            "4 MODIFY 0 quantity=5",  # the order ended: no answer at all
        ),
        risk="max_position = 100",
    )
    result = run_backtest(s, [series("AAA", ROWS)])
    told = [(status, reason, q) for hook, _oid, status, reason, q in Scripted.seen["m"]]
    assert told[0] == ("ACCEPTED", "", 10.0)
    status, reason, quantity = told[1]
    assert (status, quantity) == ("ACCEPTED", 10.0)
    assert reason.startswith("MODIFY_REFUSED: MAX_POSITION: ")
    assert told[2:] == [("ACCEPTED", "", 10.0), ("CANCELLED", "", 10.0)]
    (order,) = result.orders
    assert (order.status, order.limit_price, order.reason) == (OrderStatus.CANCELLED, 91.0, None)


def test_a_losing_streak_pauses_the_strategy(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        scripted("s", "AAA", "0 BUY 10", "1 SELL 10", "3 BUY 10"),
        risk="max_consecutive_losses = 1",
    )
    result = run_backtest(s, [series("AAA", ROWS)])
    assert result.trips[0].pnl < 0
    assert (result.orders[2].status, result.orders[2].reason) == (
        OrderStatus.REJECTED,
        RejectReason.LOSING_STREAK,
    )


def test_a_strategy_that_raises_stops_the_run_naming_it(tmp_path: Path) -> None:
    text = """
[[strategies]]
id = "boom"
class = "backtest_strategies:FailsOnBar"
symbols = ["AAA"]
[strategies.params]
at = 2
"""
    with pytest.raises(StrategyFailedError, match=r"strategy boom failed in on_bar at .*2020-09-1"):
        run_backtest(settings(tmp_path, text), [series("AAA", ROWS)])


def test_a_strategy_symbol_missing_from_the_data_is_refused(tmp_path: Path) -> None:
    s = settings(tmp_path, scripted("s", "BBB", "0 BUY 1"))
    with pytest.raises(BacktestError, match="strategy s trades BBB but the data has AAA"):
        run_backtest(s, [series("AAA", ROWS)])
    with pytest.raises(BacktestError, match="'AAA' is given more than once"):
        run_backtest(s, [series("AAA", ROWS), series("AAA", ROWS)])


def test_two_symbols_are_merged_in_time_and_each_strategy_sees_its_own(tmp_path: Path) -> None:
    s = settings(tmp_path, scripted("a", "AAA", "1 BUY 1") + scripted("b", "BBB", "1 BUY 2"))
    half = DAY // 2
    data = [series("AAA", ROWS), series("BBB", FLAT * 2, start=T0 + half)]
    result = run_backtest(s, data)
    assert list(result.equity.ts) == sorted([*data[0].ts, *data[1].ts])
    fills = {f.strategy_id: (f.symbol, f.ts_event) for f in result.fills}
    assert fills == {"a": ("AAA", T0 + 2 * DAY), "b": ("BBB", T0 + half + 2 * DAY)}
    assert result.metrics["TOTAL"].trades == 0
    assert set(result.metrics) == {"a", "b", "TOTAL"}


def test_ticks_fill_market_orders_at_the_next_trade(tmp_path: Path) -> None:
    prices = [(p, p, p, p) for p in (10.0, 10.5, 10.25, 10.75)]
    s = settings(tmp_path, scripted("s", "AAA", "1 BUY 5"))
    result = run_backtest(s, [series("AAA", prices, step=10**9, kind=DataKind.TICKS)])
    assert [(f.price, f.quantity) for f in result.fills] == [(10.25, 5.0)]


def test_progress_counts_every_event(tmp_path: Path) -> None:
    s = settings(tmp_path, scripted("s", "AAA", "0 BUY 1"))
    rows = FLAT * 3000
    stream = io.StringIO()
    progress = Progress(len(rows), "backtest", stream=stream, enabled=True)
    run_backtest(s, [series("AAA", rows, step=60 * 10**9)], progress=progress)
    assert progress.done == len(rows)
    assert "9,000/9,000" in stream.getvalue()  # the last redraw shows every event done


@pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}")
def test_the_same_backtest_twice_gives_identical_results_and_reports(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(PARITY_SETTINGS.format(data=DATA.as_posix()), encoding="utf-8")
    s = load_settings(path)
    first = run_backtest(s, load_data(s, [], None, None))
    second = run_backtest(s, load_data(s, [], None, None))
    assert first.fills and first.trips
    assert [f.fill_id for f in first.fills] == [f.fill_id for f in second.fills]
    assert first.orders == second.orders and first.trips == second.trips
    assert first.metrics == second.metrics
    assert list(first.equity.total) == list(second.equity.total)
    write_report(first, tmp_path / "one")
    write_report(second, tmp_path / "two")
    names = ("summary.json", "trades.csv", "fills.csv", "orders.csv", "equity.csv")
    for name in (*names, "report.html", "equity.png"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), (
            name
        )
