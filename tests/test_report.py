"""The backtest report folder and the terminal metrics table, from a hand-built result."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import orjson
import pytest

from runtime.backtest_types import BacktestResult, EquityCurve, Metrics, OrderRecord, RoundTrip
from runtime.messages import Fill, OrderStatus, OrderType, RejectReason, Side, TimeInForce
from runtime.report import HTML_TRADES_LIMIT, format_metrics_table, iso_utc, write_report

DAY = 86_400 * 1_000_000_000
# 2024-01-02 00:00:00 UTC
T0 = 19_724 * DAY
FILES = (
    "summary.json",
    "trades.csv",
    "fills.csv",
    "orders.csv",
    "equity.csv",
    "equity.png",
    "report.html",
)


def metrics(total_return: float, *, sharpe: float | None, trades: int) -> Metrics:
    return Metrics(
        start_equity=10_000.0,
        end_equity=10_000.0 * (1 + total_return),
        net_pnl=10_000.0 * total_return,
        total_return=total_return,
        cagr=None,
        volatility=0.125,
        sharpe=sharpe,
        sortino=None,
        max_drawdown=0.05,
        max_drawdown_duration_s=3 * 86_400.0,
        trades=trades,
        win_rate=0.5 if trades else None,
        profit_factor=None,
        exposure=0.3,
        fees=1.25,
    )


def fill(n: int, strategy: str, side: Side, price: float) -> Fill:
    return Fill(
        id=n,
        ts_event=T0 + n * DAY,
        ts_init=123_456_789 + n,
        fill_id=f"F{n}",
        client_order_id=f"{strategy}-{n}",
        strategy_id=strategy,
        symbol="ORCL",
        side=side,
        quantity=100.0,
        price=price,
        commission=0.5,
        slippage=0.01,
        engine="paper",
    )


def order(n: int, strategy: str, status: OrderStatus) -> OrderRecord:
    return OrderRecord(
        client_order_id=f"{strategy}-{n}",
        strategy_id=strategy,
        symbol="ORCL",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=100.0,
        limit_price=10.5,
        stop_price=None,
        time_in_force=TimeInForce.GTC,
        ts_event=T0 + n * DAY,
        status=status,
        filled_quantity=100.0 if status is OrderStatus.FILLED else 0.0,
        avg_fill_price=10.5 if status is OrderStatus.FILLED else None,
        reason=RejectReason.MAX_ORDER_QUANTITY if status is OrderStatus.REJECTED else None,
        message='too big, "really"' if status is OrderStatus.REJECTED else "",
    )


def trip(strategy: str, opened: int, pnl: float) -> RoundTrip:
    return RoundTrip(
        strategy_id=strategy,
        symbol="ORCL",
        side=Side.BUY,
        quantity=100.0,
        opened_at=T0 + opened * DAY,
        closed_at=T0 + (opened + 2) * DAY + 1_500_000,
        pnl=pnl,
        fees=1.0,
    )


def make_result(trips: tuple[RoundTrip, ...] | None = None) -> BacktestResult:
    ts = [T0 + i * DAY for i in range(10)]
    a = [10_000.0 + 10 * i for i in range(10)]
    b = [10_000.0 - 0.1 * i for i in range(10)]
    total = [x + y - 10_000.0 for x, y in zip(a, b, strict=True)]
    if trips is None:
        trips = (trip("sma", 1, 25.5), trip("a<b", 2, -3.25), trip("sma", 5, 0.1 + 0.2))
    return BacktestResult(
        settings="examples/sma & co.toml",
        data=("ORCL=../shared/data/orcl-1995-2014.txt",),
        start_ns=ts[0],
        end_ns=ts[-1],
        events=10,
        starting_cash=10_000.0,
        strategies=("sma", "a<b"),
        params={"sma": {"fast": 10, "slow": 30}, "a<b": {}},
        orders=(
            order(1, "sma", OrderStatus.FILLED),
            order(2, "a<b", OrderStatus.REJECTED),
            order(3, "sma", OrderStatus.FILLED),
        ),
        fills=(fill(1, "sma", Side.BUY, 10.5), fill(3, "sma", Side.SELL, 10.75)),
        trips=trips,
        equity=EquityCurve(
            ts=ts,
            total=total,
            by_strategy={"sma": a, "a<b": b},
            in_market={"TOTAL": [True] * 10, "sma": [True] * 10, "a<b": [False] * 10},
        ),
        metrics={
            "sma": metrics(0.009, sharpe=1.5, trades=2),
            "a<b": metrics(-0.0001, sharpe=None, trades=1),
            "TOTAL": metrics(0.0089, sharpe=1.25, trades=3),
        },
    )


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_two_writes_of_the_same_result_are_byte_identical(tmp_path: Path) -> None:
    first = write_report(make_result(), tmp_path / "one")
    second = write_report(make_result(), tmp_path / "two" / "nested")
    assert [p.name for p in first] == list(FILES)
    assert [p.name for p in second] == list(FILES)
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
        assert a.stat().st_size > 0


def test_summary_json_holds_the_run_and_every_metric(tmp_path: Path) -> None:
    write_report(make_result(), tmp_path)
    text = (tmp_path / "summary.json").read_text(encoding="utf-8")
    summary = orjson.loads(text)
    assert summary["settings"] == "examples/sma & co.toml"
    assert summary["data"] == ["ORCL=../shared/data/orcl-1995-2014.txt"]
    assert summary["start"] == "2024-01-02T00:00:00Z"
    assert summary["end"] == "2024-01-11T00:00:00Z"
    assert summary["events"] == 10
    assert summary["starting_cash"] == 10_000.0
    assert summary["strategies"] == [
        {"id": "sma", "params": {"fast": 10, "slow": 30}},
        {"id": "a<b", "params": {}},
    ]
    assert summary["halted"] == ""
    assert (summary["orders"], summary["fills"], summary["trades"]) == (3, 2, 3)
    assert set(summary["metrics"]) == {"sma", "a<b", "TOTAL"}
    assert summary["metrics"]["sma"]["sharpe"] == 1.5
    assert summary["metrics"]["a<b"]["sharpe"] is None
    assert summary["metrics"]["TOTAL"]["total_return"] == 0.0089
    assert summary["metrics"]["TOTAL"]["max_drawdown_duration_s"] == 259_200.0
    assert set(summary["metrics"]["TOTAL"]) == {f.name for f in dataclasses.fields(Metrics)}
    # sorted keys, indented
    assert text.index('"data"') < text.index('"end"') < text.index('"settings"')
    assert '\n  "events": 10,' in text


def test_trades_csv_has_one_row_per_round_trip(tmp_path: Path) -> None:
    write_report(make_result(), tmp_path)
    rows = read_csv(tmp_path / "trades.csv")
    assert rows[0] == [
        "strategy_id",
        "symbol",
        "side",
        "quantity",
        "opened_at",
        "closed_at",
        "pnl",
        "fees",
    ]
    assert len(rows) == 1 + 3
    assert rows[2] == [
        "a<b",
        "ORCL",
        "BUY",
        "100.0",
        "2024-01-04T00:00:00Z",
        "2024-01-06T00:00:00.001500Z",
        "-3.25",
        "1.0",
    ]
    # floats round-trip exactly
    assert float(rows[3][6]) == 0.1 + 0.2


def test_fills_and_orders_csv_have_every_record(tmp_path: Path) -> None:
    write_report(make_result(), tmp_path)
    fills = read_csv(tmp_path / "fills.csv")
    assert fills[0] == [
        "ts",
        "strategy_id",
        "client_order_id",
        "symbol",
        "side",
        "quantity",
        "price",
        "commission",
        "slippage",
    ]
    assert fills[2] == [
        "2024-01-05T00:00:00Z",
        "sma",
        "sma-3",
        "ORCL",
        "SELL",
        "100.0",
        "10.75",
        "0.5",
        "0.01",
    ]
    orders = read_csv(tmp_path / "orders.csv")
    assert orders[0] == [f.name for f in dataclasses.fields(OrderRecord)]
    assert len(orders) == 1 + 3
    rejected = dict(zip(orders[0], orders[2], strict=True))
    assert rejected["status"] == "REJECTED"
    assert rejected["reason"] == "MAX_ORDER_QUANTITY"
    assert rejected["message"] == 'too big, "really"'
    assert rejected["avg_fill_price"] == ""
    assert rejected["ts_event"] == "2024-01-04T00:00:00Z"


def test_equity_csv_has_total_then_one_column_per_strategy(tmp_path: Path) -> None:
    write_report(make_result(), tmp_path)
    rows = read_csv(tmp_path / "equity.csv")
    assert rows[0] == ["ts", "total", "sma", "a<b"]
    assert len(rows) == 1 + 10
    # point 3: sma 10030, a<b 9999.7, total 10029.7
    assert rows[4][0] == "2024-01-05T00:00:00Z"
    assert float(rows[4][1]) == pytest.approx(10_029.7)
    assert [float(v) for v in rows[4][2:]] == [10_030.0, 10_000.0 - 0.1 * 3]


def test_html_shows_metrics_chart_trades_and_escapes_strings(tmp_path: Path) -> None:
    write_report(make_result(), tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<img src="data:image/png;base64,iVBORw0KGgo' in page
    assert "a&lt;b" in page
    assert "a<b" not in page
    assert "sma &amp; co.toml" in page
    # sma's return 0.9%, a<b's Sharpe shown as "-", TOTAL row present
    assert "<td>sma</td>" in page
    assert '<td class="num">0.90</td>' in page
    assert "<td>TOTAL</td>" in page
    assert '<td class="num">-</td>' in page
    assert '<a href="trades.csv">trades.csv</a>' in page
    assert "more round trips" not in page


def test_html_lists_at_most_the_first_trades_and_says_how_many_more(tmp_path: Path) -> None:
    many = tuple(trip("sma", i, 1.0) for i in range(HTML_TRADES_LIMIT + 7))
    write_report(make_result(many), tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("<tr><td>sma</td><td>ORCL</td>") == HTML_TRADES_LIMIT
    assert "7 more round trips in trades.csv." in page
    assert len(read_csv(tmp_path / "trades.csv")) == 1 + HTML_TRADES_LIMIT + 7


def test_halted_runs_say_so(tmp_path: Path) -> None:
    result = dataclasses.replace(make_result(), halted="daily loss limit <5%> hit")
    write_report(result, tmp_path)
    assert orjson.loads((tmp_path / "summary.json").read_bytes())["halted"] == (
        "daily loss limit <5%> hit"
    )
    assert "daily loss limit &lt;5%&gt; hit" in (tmp_path / "report.html").read_text()


def test_metrics_table_has_a_row_per_strategy_then_total() -> None:
    table = format_metrics_table(make_result())
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["strategy", "return", "%"]
    assert lines[2].startswith("sma ")
    assert lines[3].startswith("a<b ")
    assert set(lines[4]) == {"-", " "}
    assert lines[5].startswith("TOTAL ")
    # sma: return 0.90 %, no CAGR, vol 12.50 %, Sharpe 1.50
    assert lines[2].split()[1:5] == ["0.90", "-", "12.50", "1.50"]
    # a<b: no Sharpe, no Sortino, no profit factor
    cells = lines[3].split()
    assert cells[4] == "-" and cells[5] == "-" and cells[10] == "-"


def test_missing_metrics_are_refused_with_the_strategy_named(tmp_path: Path) -> None:
    result = make_result()
    broken = dataclasses.replace(
        result, metrics={k: v for k, v in result.metrics.items() if k != "a<b"}
    )
    with pytest.raises(ValueError, match=r"result\.metrics: no metrics for 'a<b'"):
        format_metrics_table(broken)
    with pytest.raises(ValueError, match=r"result\.metrics: no metrics for 'a<b'"):
        write_report(broken, tmp_path)


def test_an_empty_run_writes_a_report_without_dates(tmp_path: Path) -> None:
    result = dataclasses.replace(
        make_result(()),
        start_ns=0,
        end_ns=0,
        events=0,
        orders=(),
        fills=(),
        equity=EquityCurve(
            ts=[], total=[], by_strategy={"sma": [], "a<b": []}, in_market={"TOTAL": []}
        ),
    )
    paths = write_report(result, tmp_path)
    assert all(p.exists() for p in paths)
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert (summary["start"], summary["end"], summary["events"]) == (None, None, 0)
    assert read_csv(tmp_path / "equity.csv") == [["ts", "total", "sma", "a<b"]]


def test_iso_utc_shows_a_fraction_only_when_there_is_one() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(T0 + 1) == "2024-01-02T00:00:00.000000001Z"
    assert iso_utc(T0 + 250_000_000) == "2024-01-02T00:00:00.250Z"
    assert iso_utc(T0 + 123_456_000) == "2024-01-02T00:00:00.123456Z"
