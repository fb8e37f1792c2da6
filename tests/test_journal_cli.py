"""`tradepit journal`: reading, exporting and pruning a real SQLite journal."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from runtime import cli, cli_journal
from runtime.journal_store import JournalStore, open_journal
from runtime.messages import (
    CancelOrder,
    Fill,
    Message,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RejectReason,
    RuntimeState,
    RuntimeStateChanged,
    Side,
    TimeInForce,
)

REPO = Path(__file__).resolve().parent.parent
S = 1_000_000_000
DAY = 86_400 * S
T0 = int(datetime(2024, 3, 1, 9, 30, tzinfo=UTC).timestamp()) * S
T8 = T0 + 8 * DAY
NOW = T0 + 10 * DAY
"""The clock while the tests run: 10 days after the first order."""
ENGINE = "engine.paper"


class _Writer:
    """Writes a journal the way the journal actor does, with chosen times."""

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        self.seq = 0
        self.ids = 0
        self.orders: dict[str, Order] = {}

    def _id(self) -> int:
        self.ids += 1
        return self.ids

    def event(self, message: Message, *, on_stream: bool = True) -> None:
        seq = None
        if on_stream:
            self.seq += 1
            seq = self.seq
        with self.store.transaction():
            self.store.record_event(seq, message)

    def order(
        self,
        coid: str,
        strategy: str,
        symbol: str,
        side: Side,
        quantity: float,
        *,
        at: int,
        limit: float | None = None,
        tif: TimeInForce = TimeInForce.DAY,
    ) -> None:
        order = Order(
            id=self._id(),
            ts_event=at,
            ts_init=at,
            client_order_id=coid,
            strategy_id=strategy,
            symbol=symbol,
            side=side,
            quantity=quantity,
            order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
            limit_price=limit,
            stop_price=None,
            time_in_force=tif,
            ts_intent=at,
        )
        self.orders[coid] = order
        with self.store.transaction():
            self.store.record_order(order, ENGINE)

    def update(
        self,
        coid: str,
        status: OrderStatus,
        ts: int,
        *,
        filled: float = 0.0,
        avg: float | None = None,
        reason: RejectReason | None = None,
        message: str = "",
    ) -> None:
        order = self.orders[coid]
        self.event(
            OrderUpdate(
                id=self._id(),
                ts_event=ts,
                ts_init=ts,
                client_order_id=coid,
                strategy_id=order.strategy_id,
                symbol=order.symbol,
                side=order.side,
                status=status,
                quantity=order.quantity,
                filled_quantity=filled,
                avg_fill_price=avg,
                reason=reason,
                message=message,
                engine="paper",
            )
        )

    def fill(
        self, coid: str, fill_id: str, quantity: float, price: float, fee: float, *, at: int
    ) -> None:
        order = self.orders[coid]
        self.event(
            Fill(
                id=self._id(),
                ts_event=at,
                ts_init=at,
                fill_id=fill_id,
                client_order_id=coid,
                strategy_id=order.strategy_id,
                symbol=order.symbol,
                side=order.side,
                quantity=quantity,
                price=price,
                commission=fee,
                slippage=0.0,
                engine="paper",
            )
        )

    def refusal(self, coid: str, strategy: str, symbol: str, ts: int) -> None:
        """An intent risk refused: an update only, never an order sent."""
        self.event(
            OrderUpdate(
                id=self._id(),
                ts_event=ts,
                ts_init=ts,
                client_order_id=coid,
                strategy_id=strategy,
                symbol=symbol,
                side=Side.BUY,
                status=OrderStatus.REJECTED,
                quantity=20.0,
                filled_quantity=0.0,
                avg_fill_price=None,
                reason=RejectReason.MAX_POSITION,
                message="position would exceed 10",
                engine="",
            )
        )


def write_trading_day(store: JournalStore) -> _Writer:
    """alpha: A1 buy 8 filled 4@100 + 4@102, A2 sell 8 filled @105, A3 cancelled,
    A4 still open (all on 1 March); beta (9 March): B1 open, B2 refused by risk,
    B3 sell 2 filled @52. 18 events, 7 orders, 4 fills."""
    w = _Writer(store)
    store.begin_run("run-1", "tradepit", T0)
    buy, sell = Side.BUY, Side.SELL
    w.order("A1", "alpha", "AAA", buy, 8.0, at=T0)
    w.update("A1", OrderStatus.ACCEPTED, T0 + 1 * S)
    w.fill("A1", "a1-1", 4.0, 100.0, 0.5, at=T0 + 2 * S)
    w.update("A1", OrderStatus.PARTIALLY_FILLED, T0 + 2 * S, filled=4.0, avg=100.0)
    w.fill("A1", "a1-2", 4.0, 102.0, 0.5, at=T0 + 3 * S)
    w.update("A1", OrderStatus.FILLED, T0 + 3 * S, filled=8.0, avg=101.0)
    w.order("A2", "alpha", "AAA", sell, 8.0, at=T0 + 60 * S, limit=105.0, tif=TimeInForce.GTC)
    w.update("A2", OrderStatus.ACCEPTED, T0 + 61 * S)
    w.fill("A2", "a2-1", 8.0, 105.0, 1.0, at=T0 + 62 * S)
    w.update("A2", OrderStatus.FILLED, T0 + 62 * S, filled=8.0, avg=105.0)
    w.order("A3", "alpha", "AAA", buy, 5.0, at=T0 + 120 * S, limit=90.0)
    w.update("A3", OrderStatus.ACCEPTED, T0 + 121 * S)
    cancel = CancelOrder(
        id=w._id(), ts_event=T0 + 130 * S, ts_init=T0 + 130 * S, client_order_id="A3",
        strategy_id="alpha",
    )  # fmt: skip
    w.event(cancel, on_stream=False)
    w.update("A3", OrderStatus.CANCELLED, T0 + 131 * S)
    w.order("A4", "alpha", "AAA", buy, 1.0, at=T0 + 180 * S, limit=80.0, tif=TimeInForce.GTC)
    w.update("A4", OrderStatus.ACCEPTED, T0 + 181 * S)
    w.event(
        RuntimeStateChanged(
            id=w._id(), ts_event=T0 + 200 * S, ts_init=T0 + 200 * S,
            previous=RuntimeState.RUNNING, state=RuntimeState.PAUSED, reason="operator",
        )
    )  # fmt: skip
    store.begin_run("run-2", "tradepit", T8)
    w.order("B1", "beta", "BBB", buy, 3.0, at=T8, limit=50.0, tif=TimeInForce.GTC)
    w.update("B1", OrderStatus.ACCEPTED, T8 + 1 * S)
    w.refusal("B2", "beta", "BBB", T8 + 60 * S)
    w.order("B3", "beta", "BBB", sell, 2.0, at=T8 + 120 * S)
    w.update("B3", OrderStatus.ACCEPTED, T8 + 120 * S)
    w.fill("B3", "b3-1", 2.0, 52.0, 0.25, at=T8 + 121 * S)
    w.update("B3", OrderStatus.FILLED, T8 + 121 * S, filled=2.0, avg=52.0)
    return w


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite"
    store = open_journal(path)
    write_trading_day(store)
    store.close()
    return path


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_journal, "clock", lambda: NOW)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``tradepit ARGV`` in this process: exit code, stdout, stderr."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return orjson.loads(out)


def counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {
            t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("orders", "events", "fills", "runs")
        }


# --- reading -------------------------------------------------------------------------------

OPEN_TABLE = """\
client_order_id  strategy_id  symbol  side  order_type  quantity  filled_quantity  limit_price  stop_price  status    engine        created                   age
---------------  -----------  ------  ----  ----------  --------  ---------------  -----------  ----------  --------  ------------  ------------------------  -----
A4               alpha        AAA     BUY   LIMIT              1                0           80           -  ACCEPTED  engine.paper  2024-03-01T09:33:00.000Z  9d23h
B1               beta         BBB     BUY   LIMIT              3                0           50           -  ACCEPTED  engine.paper  2024-03-09T09:30:00.000Z  2d00h
"""  # noqa: E501


def test_open_lists_unfinished_orders_oldest_first_with_their_age(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "journal", "open", "--db", str(journal)) == (0, OPEN_TABLE, "")
    rows = run_json(capsys, "journal", "open", "--db", str(journal))
    assert [(r["client_order_id"], r["status"], r["age_s"]) for r in rows] == [
        ("A4", "ACCEPTED", (10 * DAY - 180 * S) / S),
        ("B1", "ACCEPTED", 2 * DAY / S),
    ]
    assert rows[0]["created"] == "2024-03-01T09:33:00.000000000Z"


ORDERS_TABLE = """\
client_order_id  strategy_id  symbol  side  order_type  time_in_force  quantity  filled_quantity  avg_fill_price  limit_price  stop_price  status     reason        engine        created                   updated
---------------  -----------  ------  ----  ----------  -------------  --------  ---------------  --------------  -----------  ----------  ---------  ------------  ------------  ------------------------  ------------------------
A1               alpha        AAA     BUY   MARKET      DAY                   8                8             101            -           -  FILLED     -             engine.paper  2024-03-01T09:30:00.000Z  2024-03-01T09:30:03.000Z
A2               alpha        AAA     SELL  LIMIT       GTC                   8                8             105          105           -  FILLED     -             engine.paper  2024-03-01T09:31:00.000Z  2024-03-01T09:31:02.000Z
A3               alpha        AAA     BUY   LIMIT       DAY                   5                0               -           90           -  CANCELLED  -             engine.paper  2024-03-01T09:32:00.000Z  2024-03-01T09:32:11.000Z
A4               alpha        AAA     BUY   LIMIT       GTC                   1                0               -           80           -  ACCEPTED   -             engine.paper  2024-03-01T09:33:00.000Z  2024-03-01T09:33:01.000Z
B1               beta         BBB     BUY   LIMIT       GTC                   3                0               -           50           -  ACCEPTED   -             engine.paper  2024-03-09T09:30:00.000Z  2024-03-09T09:30:01.000Z
B2               beta         BBB     BUY   -           -                    20                0               -            -           -  REJECTED   MAX_POSITION  -             2024-03-09T09:31:00.000Z  2024-03-09T09:31:00.000Z
B3               beta         BBB     SELL  MARKET      DAY                   2                2              52            -           -  FILLED     -             engine.paper  2024-03-09T09:32:00.000Z  2024-03-09T09:32:01.000Z
"""  # noqa: E501


def test_orders_lists_every_order_oldest_first(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "journal", "orders", "--db", str(journal)) == (0, ORDERS_TABLE, "")


def test_orders_filters_by_strategy_and_time_and_keeps_the_most_recent(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ("--db", str(journal))

    def ids(*argv: str) -> list[str]:
        return [r["client_order_id"] for r in run_json(capsys, "journal", "orders", *db, *argv)]

    assert ids("--strategy", "alpha") == ["A1", "A2", "A3", "A4"]
    assert ids("--strategy", "alpha", "--limit", "2") == ["A3", "A4"]
    assert ids("--since", "2024-03-09") == ["B1", "B2", "B3"]
    assert ids("--since", "2024-03-01T09:31:00") == ["A2", "A3", "A4", "B1", "B2", "B3"]
    assert ids("--since", "2024-03-01T10:31:00+01:00") == ["A2", "A3", "A4", "B1", "B2", "B3"]
    assert ids("--since", "2024-03-01T09:31:00.000001Z") == ["A3", "A4", "B1", "B2", "B3"]
    assert ids("--limit", "1") == ["B3"]
    assert ids("--strategy", "nobody") == []
    assert run(capsys, "journal", "orders", *db, "--strategy", "nobody")[1] == "(none)\n"
    refused = run_json(capsys, "journal", "orders", *db, "--strategy", "beta")[1]
    assert refused["order_type"] is None and refused["engine"] == ""
    assert refused["reason"] == "MAX_POSITION" and refused["message"] == "position would exceed 10"


FILLS_TABLE = """\
time                      client_order_id  fill_id  strategy_id  symbol  side  quantity  price  commission  engine
------------------------  ---------------  -------  -----------  ------  ----  --------  -----  ----------  ------
2024-03-01T09:30:02.000Z  A1               a1-1     alpha        AAA     BUY          4    100         0.5  paper
2024-03-01T09:30:03.000Z  A1               a1-2     alpha        AAA     BUY          4    102         0.5  paper
2024-03-01T09:31:02.000Z  A2               a2-1     alpha        AAA     SELL         8    105           1  paper
2024-03-09T09:32:01.000Z  B3               b3-1     beta         BBB     SELL         2     52        0.25  paper
"""  # noqa: E501


def test_fills_lists_every_execution(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ("--db", str(journal))
    assert run(capsys, "journal", "fills", *db) == (0, FILLS_TABLE, "")
    rows = run_json(capsys, "journal", "fills", *db, "--strategy", "alpha", "--limit", "2")
    assert [(r["fill_id"], r["quantity"], r["price"], r["commission"]) for r in rows] == [
        ("a1-2", 4.0, 102.0, 0.5),
        ("a2-1", 8.0, 105.0, 1.0),
    ]
    assert rows[0]["time"] == "2024-03-01T09:30:03.000000000Z"
    since = run_json(capsys, "journal", "fills", *db, "--since", "2024-03-02")
    assert [r["fill_id"] for r in since] == ["b3-1"]


ORDER_A1 = """\
order A1
client_order_id: A1
run: run-1
strategy_id: alpha
symbol: AAA
side: BUY
order_type: MARKET
time_in_force: DAY
quantity: 8
limit_price: -
stop_price: -
engine: engine.paper
status: FILLED
filled_quantity: 8
avg_fill_price: 101
reason: -
message: -
acked: yes
created: 2024-03-01T09:30:00.000Z
updated: 2024-03-01T09:30:03.000Z

events (5):
jseq  seq  time                      type         status            quantity  filled_quantity  price  detail
----  ---  ------------------------  -----------  ----------------  --------  ---------------  -----  -------------------------
   1    1  2024-03-01T09:30:01.000Z  OrderUpdate  ACCEPTED                 8                0      -  -
   2    2  2024-03-01T09:30:02.000Z  Fill         -                        4                -    100  fill a1-1, commission 0.5
   3    3  2024-03-01T09:30:02.000Z  OrderUpdate  PARTIALLY_FILLED         8                4    100  -
   4    4  2024-03-01T09:30:03.000Z  Fill         -                        4                -    102  fill a1-2, commission 0.5
   5    5  2024-03-01T09:30:03.000Z  OrderUpdate  FILLED                   8                8    101  -
"""  # noqa: E501


def test_order_shows_the_row_and_every_event_oldest_first(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ("--db", str(journal))
    assert run(capsys, "journal", "order", "A1", *db) == (0, ORDER_A1, "")
    history = run_json(capsys, "journal", "order", "A3", *db)
    assert history["order"]["status"] == "CANCELLED"
    assert history["order"]["limit_price"] == 90.0
    events = history["events"]
    assert [(e["type"], e["seq"], e["message"].get("status")) for e in events] == [
        ("OrderUpdate", 9, "ACCEPTED"),
        ("CancelOrder", None, None),
        ("OrderUpdate", 10, "CANCELLED"),
    ]
    assert events[1]["time"] == "2024-03-01T09:32:10.000000000Z"
    code, out, _ = run(capsys, "journal", "order", "B2", *db)
    assert code == 0
    assert "reason: MAX_POSITION" in out
    assert (
        "REJECTED        20                0      -  MAX_POSITION: position would exceed 10" in out
    )


def test_an_unknown_order_exits_1_naming_it(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "journal", "order", "NOPE", "--db", str(journal))
    assert (code, out) == (1, "")
    assert err == f"tradepit: journal {journal}: no order 'NOPE'\n"


PNL_TEXT = """\
strategy_id  fills  realized_pnl  fees  net_pnl
-----------  -----  ------------  ----  -------
alpha            3            32     2       30
beta             1             0  0.25    -0.25
TOTAL            4            32  2.25    29.75

strategy_id  symbol  fills  bought  sold  position  avg_price  last_price  realized_pnl  fees
-----------  ------  -----  ------  ----  --------  ---------  ----------  ------------  ----
alpha        AAA         3       8     8         0          0         105            32     2
beta         BBB         1       0     2        -2         52          52             0  0.25

Realized P&L only: the journal holds no market prices, so open positions are not marked \
(last_price is the price of the position's last fill, not a market price).
"""


def test_pnl_replays_the_fills_per_strategy(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ("--db", str(journal))
    assert run(capsys, "journal", "pnl", *db) == (0, PNL_TEXT, "")
    report = run_json(capsys, "journal", "pnl", *db)
    # alpha bought 4 @ 100 and 4 @ 102 (average 101), sold 8 @ 105: 8 * (105 - 101) = 32,
    # fees 0.5 + 0.5 + 1; beta sold 2 @ 52 short, nothing closed, fee 0.25.
    assert report["strategies"] == [
        {"strategy_id": "alpha", "fills": 3, "realized_pnl": 32.0, "fees": 2.0, "net_pnl": 30.0},
        {"strategy_id": "beta", "fills": 1, "realized_pnl": 0.0, "fees": 0.25, "net_pnl": -0.25},
    ]
    assert report["total"] == {
        "strategy_id": "TOTAL", "fills": 4, "realized_pnl": 32.0, "fees": 2.25, "net_pnl": 29.75,
    }  # fmt: skip
    beta = report["positions"][1]
    assert (beta["symbol"], beta["position"], beta["avg_price"], beta["sold"]) == (
        "BBB", -2.0, 52.0, 2.0,
    )  # fmt: skip
    assert report["unrealized_pnl"] is None
    only = run_json(capsys, "journal", "pnl", *db, "--strategy", "beta")
    assert [s["strategy_id"] for s in only["strategies"]] == ["beta"]
    assert only["total"]["net_pnl"] == -0.25


def test_pnl_of_a_journal_without_fills(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.sqlite"
    open_journal(path).close()
    assert run(capsys, "journal", "pnl", "--db", str(path)) == (0, "(no fills)\n", "")
    assert run_json(capsys, "journal", "pnl", "--db", str(path))["total"]["fills"] == 0


# --- export --------------------------------------------------------------------------------


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or ()), rows


def test_export_writes_three_csv_files_with_headers(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out" / "day"
    code, out, err = run(capsys, "journal", "export", "--out", str(out_dir), "--db", str(journal))
    assert (code, err) == (0, "")
    assert out == (
        f"wrote {out_dir / 'orders.csv'} (7 rows)\n"
        f"wrote {out_dir / 'fills.csv'} (4 rows)\n"
        f"wrote {out_dir / 'events.csv'} (18 rows)\n"
    )
    header, orders = read_csv(out_dir / "orders.csv")
    assert header[:3] == ["client_order_id", "run", "strategy_id"]
    assert header[-2:] == ["created", "updated"]
    assert [o["client_order_id"] for o in orders] == ["A1", "A2", "A3", "A4", "B1", "B2", "B3"]
    assert orders[5]["order_type"] == "" and orders[5]["reason"] == "MAX_POSITION"
    assert (orders[0]["created_ns"], orders[0]["created"]) == (
        str(T0), "2024-03-01T09:30:00.000000000Z",
    )  # fmt: skip
    header, fills = read_csv(out_dir / "fills.csv")
    assert "fill_id" in header and "time" in header
    assert [(f["fill_id"], float(f["price"])) for f in fills] == [
        ("a1-1", 100.0), ("a1-2", 102.0), ("a2-1", 105.0), ("b3-1", 52.0),
    ]  # fmt: skip
    header, events = read_csv(out_dir / "events.csv")
    assert header == [
        "jseq", "run", "seq", "ts_ns", "type", "client_order_id", "strategy_id", "time", "json",
    ]  # fmt: skip
    assert events[9]["type"] == "CancelOrder" and events[9]["seq"] == ""
    decoded = [orjson.loads(e["json"]) for e in events]
    assert [d["type"] for d in decoded] == [e["type"] for e in events]
    assert (decoded[12]["type"], decoded[12]["state"]) == ("RuntimeStateChanged", "PAUSED")
    assert events[12]["client_order_id"] == "" and events[12]["time"].endswith(
        "09:33:20.000000000Z"
    )
    assert not list(out_dir.glob("*.partial"))

    since = run_json(
        capsys, "journal", "export", "--out", str(tmp_path / "b"), "--since", "2024-03-09",
        "--db", str(journal),
    )  # fmt: skip
    assert [w["rows"] for w in since] == [3, 1, 5]


# --- prune ---------------------------------------------------------------------------------


def dump(path: Path) -> list[str]:
    """Every row of every table, as SQL (what prune must leave alone without --yes)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def remaining(path: Path) -> tuple[list[str], list[tuple[int, str | None]], list[str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        orders = [r[0] for r in conn.execute("SELECT client_order_id FROM orders ORDER BY 1")]
        events = list(conn.execute("SELECT jseq, client_order_id FROM events ORDER BY jseq"))
        fills = [r[0] for r in conn.execute("SELECT fill_id FROM fills ORDER BY jseq")]
        return orders, events, fills
    finally:
        conn.close()


def test_prune_without_yes_only_says_what_it_would_delete(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = dump(journal)
    code, out, err = run(capsys, "journal", "prune", "--older-than", "5", "--db", str(journal))
    assert (code, err) == (0, "")
    assert out == (
        "would delete 3 finished orders and 12 events older than 2024-03-06T09:30:00.000Z; "
        "kept: 2 open orders, 4 fills (fills are never pruned).\n"
        "Nothing was changed: run again with --yes to delete.\n"
    )
    assert dump(journal) == before
    plan = run_json(capsys, "journal", "prune", "--older-than", "5", "--db", str(journal))
    assert plan == {
        "cutoff": "2024-03-06T09:30:00.000000000Z", "deleted": False, "orders": 3, "events": 12,
        "open_orders_kept": 2, "fills_kept": 4,
    }  # fmt: skip
    assert dump(journal) == before


def test_prune_deletes_old_finished_orders_and_events_and_keeps_fills_and_open_orders(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ("--db", str(journal))
    code, out, err = run(capsys, "journal", "prune", "--older-than", "5", "--yes", *db)
    assert (code, err) == (0, "")
    assert out == (
        "deleted 3 finished orders and 12 events older than 2024-03-06T09:30:00.000Z; "
        "kept: 2 open orders, 4 fills (fills are never pruned)\n"
    )
    orders, events, fills = remaining(journal)
    assert orders == ["A4", "B1", "B2", "B3"]  # A1-A3 finished on 1 March; A4 is open
    assert events == [(12, "A4"), (14, "B1"), (15, "B2"), (16, "B3"), (17, "B3"), (18, "B3")]
    assert fills == ["a1-1", "a1-2", "a2-1", "b3-1"]
    assert counts(journal)["runs"] == 2
    # P&L and recovery still see every fill; the open orders are all there.
    assert run(capsys, "journal", "pnl", *db) == (0, PNL_TEXT, "")
    assert run(capsys, "journal", "open", *db) == (0, OPEN_TABLE, "")
    store = open_journal(journal, readonly=True)
    try:
        state = store.load()
    finally:
        store.close()
    assert [o.client_order_id for o in state.open_orders] == ["A4", "B1"]
    assert [f.fill_id for f in state.fills] == ["a1-1", "a1-2", "a2-1", "b3-1"]
    again = run_json(capsys, "journal", "prune", "--older-than", "5", "--yes", *db)
    assert (again["deleted"], again["orders"], again["events"]) == (True, 0, 0)


def test_prune_in_small_transactions_deletes_the_same_rows(journal: Path, tmp_path: Path) -> None:
    from runtime.journal_query import prune

    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(journal.read_bytes())
    for path, batch in ((journal, 500), (copy, 2)):
        store = open_journal(path)
        try:
            result = prune(store, T0 + 5 * DAY, batch=batch)
        finally:
            store.close()
        assert (result.orders, result.events, result.open_orders, result.fills) == (3, 12, 2, 4)
    assert remaining(copy) == remaining(journal)


def test_prune_beside_a_live_writer_keeps_the_newest_event_so_numbering_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "live.sqlite"
    store = open_journal(path)  # the runtime's connection, open throughout
    try:
        writer = write_trading_day(store)
        code, out, _ = run(
            capsys, "journal", "prune", "--older-than", "0", "--yes", "--db", str(path)
        )
        assert code == 0
        assert out.startswith("deleted 5 finished orders and 15 events older than 2024-03-11T09:30")
        orders, events, _ = remaining(path)
        assert orders == ["A4", "B1"]
        # Open orders' events stay, and so does the newest (B3's FILLED, jseq 18) ...
        assert events == [(12, "A4"), (14, "B1"), (18, "B3")]
        # ... so what the runtime writes next numbers after every fill it keeps.
        writer.order("C1", "alpha", "AAA", Side.SELL, 1.0, at=NOW)
        writer.fill("C1", "c1-1", 1.0, 110.0, 0.0, at=NOW + S)
        state = store.load()
        assert [f.fill_id for f in state.fills] == ["a1-1", "a1-2", "a2-1", "b3-1", "c1-1"]
        assert remaining(path)[1][-1] == (19, "C1")
    finally:
        store.close()


def test_prune_refuses_nonsense_ages(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(SystemExit) as exc:
            cli.main(["journal", "prune", "--older-than", bad, "--db", str(journal)])
        assert exc.value.code == 2
        assert f"argument --older-than: expected a number of days >= 0, got '{bad}'" in (
            capsys.readouterr().err
        )


# --- reading beside the runtime --------------------------------------------------------------


def test_reading_beside_a_writer_sees_only_committed_rows_and_blocks_nothing(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ("--db", str(journal))
    store = open_journal(journal)  # a live runtime's connection
    try:
        writer = _Writer(store)
        store.begin_run("run-3", "tradepit", NOW)
        store.conn.execute("BEGIN IMMEDIATE")  # the writer is mid-transaction
        order = Order(
            id=1, ts_event=NOW, ts_init=NOW, client_order_id="C1", strategy_id="gamma",
            symbol="CCC", side=Side.BUY, quantity=1.0, order_type=OrderType.MARKET,
            limit_price=None, stop_price=None, time_in_force=TimeInForce.DAY, ts_intent=NOW,
        )  # fmt: skip
        store.record_order(order, ENGINE)
        rows = run_json(capsys, "journal", "orders", *db)
        assert [r["client_order_id"] for r in rows][-1] == "B3"
        assert run(capsys, "journal", "open", *db) == (0, OPEN_TABLE, "")
        store.conn.execute("COMMIT")
        rows = run_json(capsys, "journal", "open", *db)
        assert [r["client_order_id"] for r in rows] == ["A4", "B1", "C1"]

        # A reader's snapshot does not hold the writer up, and stays one state.
        from runtime.journal_query import JournalReader

        reader_store = open_journal(journal, readonly=True)
        try:
            reader = JournalReader(reader_store)
            with reader.snapshot():
                assert len(reader.orders()) == 8
                writer.orders["C1"] = order
                writer.update("C1", OrderStatus.ACCEPTED, NOW + S)  # commits at once
                writer.fill("C1", "c1-1", 1.0, 10.0, 0.0, at=NOW + 2 * S)
                assert len(reader.fills()) == 4
            assert len(reader.fills()) == 5
        finally:
            reader_store.close()
    finally:
        store.close()


# --- bad journals, settings and arguments -------------------------------------------------


def test_a_garbled_journal_exits_2_with_one_line_naming_the_file(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all\n" * 300)
    code, out, err = run(capsys, "journal", "open", "--db", str(junk))
    assert (code, out) == (2, "")
    assert err == (
        f"tradepit: journal {junk}: not an SQLite database "
        "(bad header: truncated or overwritten?)\n"
    )
    # A real journal with one page overwritten: SQLite's check finds it.
    data = bytearray(journal.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) >= 3 * page
    data[page : 2 * page] = b"\xa5" * page
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(bytes(data))
    before = broken.read_bytes()
    for argv in (["pnl"], ["prune", "--older-than", "1", "--yes"]):
        code, out, err = run(capsys, "journal", *argv, "--db", str(broken))
        assert (code, out) == (2, ""), argv
        assert err.startswith(f"tradepit: journal {broken}: ") and err.count("\n") == 1, err
        assert "unreadable" in err or "integrity check failed" in err
    assert broken.read_bytes() == before
    missing = tmp_path / "missing.sqlite"
    code, _, err = run(capsys, "journal", "fills", "--db", str(missing))
    assert (code, err) == (2, f"tradepit: journal {missing}: no such file\n")
    code, _, err = run(
        capsys, "journal", "prune", "--older-than", "1", "--yes", "--db", str(missing)
    )
    assert (code, err) == (2, f"tradepit: journal {missing}: no such file\n")
    assert not missing.exists()


def test_the_journal_path_comes_from_the_settings_file(
    journal: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = tmp_path / "site"
    (site / "var").mkdir(parents=True)
    (site / "var" / "j.sqlite").write_bytes(journal.read_bytes())
    settings = site / "prod.toml"
    settings.write_text('[journal]\nenabled = true\npath = "var/j.sqlite"\n', encoding="utf-8")
    assert run(capsys, "journal", "open", "--settings", str(settings)) == (0, OPEN_TABLE, "")
    (site / "settings.toml").write_text(settings.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(site)
    assert run(capsys, "journal", "open") == (0, OPEN_TABLE, "")

    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "journal", "open")
    assert (code, out) == (2, "")
    assert err == "tradepit: settings.toml: file not found (give --settings FILE or --db PATH)\n"
    bad = tmp_path / "bad.toml"
    bad.write_text("[journal]\npath = 3\n", encoding="utf-8")
    code, _, err = run(capsys, "journal", "open", "--settings", str(bad))
    assert code == 2
    assert err == f"tradepit: {bad}: journal.path: expected a non-empty string, got 3\n"
    off = tmp_path / "off.toml"
    off.write_text("[feed]\nspeed = 1.0\n", encoding="utf-8")
    code, _, err = run(capsys, "journal", "open", "--settings", str(off))
    assert code == 2
    assert err == (
        f"tradepit: journal {tmp_path / 'var' / 'journal.sqlite'}: no such file "
        f"([journal] enabled is false in {off})\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["orders", "--since", "yesterday"], "argument --since: expected a date YYYY-MM-DD"),
        (["fills", "--limit", "0"], "argument --limit: expected an integer >= 1, got '0'"),
        (["open", "--settings", "a.toml", "--db", "b"], "not allowed with argument"),
        (["prune"], "the following arguments are required: --older-than"),
        (["export"], "the following arguments are required: --out"),
        (["order"], "the following arguments are required: COID"),
        (["nope"], "invalid choice: 'nope'"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["journal", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# --- a real process ---------------------------------------------------------------------------


def _tradepit(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_tradepit_journal_as_a_process(journal: Path, tmp_path: Path) -> None:
    done = _tradepit("journal", "order", "A1", "--db", str(journal))
    assert (done.returncode, done.stdout, done.stderr) == (0, ORDER_A1, "")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"\x00" * 4096)
    done = _tradepit("journal", "fills", "--db", str(junk))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"tradepit: journal {junk}: not an SQLite database "
        "(bad header: truncated or overwritten?)\n"
    )
