"""The journal in the running runtime: write-ahead, group commit, the stream's
numbers, and recovery from it at the next start (real SQLite files)."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

import actors.journal as journal_module
from actors.brokers.paper import PaperAdapter
from actors.engine_host import EngineHost
from actors.journal import JournalActor, JournalCarry, JournalStats
from runtime.actor import LeanActor, actor_of
from runtime.boot import Runtime
from runtime.config import JournalConfig, PaperConfig, SyncMode
from runtime.directory import Directory
from runtime.errors import JournalError
from runtime.journal_store import open_journal
from runtime.messages import (
    Flush,
    GetSnapshot,
    Journaled,
    Message,
    Order,
    OrderReconciled,
    OrderStatus,
    OrderToRecover,
    OrderType,
    OrderUpdate,
    Probe,
    RecoverOrders,
    RecoveryReport,
    RejectReason,
    ResolveOrders,
    Side,
    TimeInForce,
    ToEngine,
    next_id,
)
from runtime.names import ActorKind
from runtime.settings import load_settings
from support import Recorder, make_bar

S = OrderStatus


def _order(n: int) -> Order:
    return Order(
        id=next_id(),
        ts_event=n,
        ts_init=n,
        client_order_id=f"run-s-{n}",
        strategy_id="s",
        symbol="AAA",
        side=Side.BUY,
        quantity=1.0,
        order_type=OrderType.MARKET,
        limit_price=None,
        stop_price=None,
        time_in_force=TimeInForce.GTC,
        ts_intent=n,
    )


class _Engine(LeanActor):
    """Stands for an engine: on each order, looks in the journal for its row."""

    kind = ActorKind.ENGINE

    def __init__(self, *, name: str, directory: Directory, journal: Path) -> None:
        super().__init__(name=name, directory=directory)
        self.journal = journal
        self.seen: list[tuple[str, bool]] = []
        self.done = threading.Event()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Order):
            conn = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True)
            try:
                row = conn.execute(
                    "SELECT 1 FROM orders WHERE client_order_id = ?", (message.client_order_id,)
                ).fetchone()
            finally:
                conn.close()
            self.seen.append((message.client_order_id, row is not None))
            if len(self.seen) >= 50:
                self.done.set()
        return None


class _Orders(LeanActor):
    """Stands for the order manager: keeps what it is told."""

    kind = ActorKind.ORDERS

    def __init__(self, *, name: str, directory: Directory) -> None:
        super().__init__(name=name, directory=directory)
        self.told: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        self.told.append(message)
        return None


def _journal_actor(path: Path, directory: Directory, **config: Any) -> tuple[Any, JournalCarry]:
    store = open_journal(path, synchronous=SyncMode.NORMAL)
    store.begin_run("run", "test", 1)
    carry = JournalCarry(store=store)
    ref = JournalActor.start(
        name="journal", directory=directory, config=JournalConfig(**config), carry=carry
    )
    directory.register("journal", ref)
    return ref, carry


def test_an_order_reaches_its_engine_only_once_it_is_in_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    directory = Directory()
    engine = _Engine.start(name="engine.x", directory=directory, journal=path)
    directory.register("engine.x", engine)
    ref, carry = _journal_actor(path, directory)
    try:
        for n in range(50):
            ref.tell(ToEngine("engine.x", _order(n)))
        assert engine.proxy().done.get().wait(10)
        seen = engine.proxy().seen.get()
        stats: JournalStats = ref.ask(GetSnapshot(), timeout=5)
    finally:
        ref.stop()
        engine.stop()
        carry.store.close()
    assert [coid for coid, _ in seen] == [f"run-s-{n}" for n in range(50)], "in order"
    assert all(found for _, found in seen), "an order reached the engine before its commit"
    assert stats.records == 50 and stats.pending == 0


def test_a_burst_shares_transactions_and_every_event_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    directory = Directory()
    ref, carry = _journal_actor(path, directory, batch_max=256)
    events = [
        OrderUpdate(
            id=next_id(),
            ts_event=n,
            ts_init=n,
            client_order_id=f"c{n % 7}",
            strategy_id="s",
            symbol="AAA",
            side=Side.SELL,
            status=S.REJECTED,
            quantity=2.0,
            filled_quantity=0.0,
            avg_fill_price=None,
            reason=RejectReason.MAX_POSITION,
            message="too big",
            engine="",
        )
        for n in range(2000)
    ]
    try:
        for seq, event in enumerate(events, 1):
            ref.tell(Journaled(seq, event))
        ref.ask(Flush(), timeout=10)
        stats: JournalStats = ref.ask(GetSnapshot(), timeout=5)
    finally:
        ref.stop()
        carry.store.close()
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT seq, type FROM events ORDER BY jseq").fetchall()
    orders = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    conn.close()
    assert rows == [(seq, "OrderUpdate") for seq in range(1, 2001)]
    assert orders == 7, "one row per client order id (risk refusals)"
    assert stats.commits < 2000 and stats.largest_batch <= 256


def test_a_request_for_an_engine_that_is_not_running_is_rejected_back(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    directory = Directory()
    orders = _Orders.start(name="orders", directory=directory)
    directory.register("orders", orders)
    ref, carry = _journal_actor(path, directory)
    try:
        ref.tell(ToEngine("engine.gone", _order(1)))
        ref.ask(Flush(), timeout=5)
        orders.ask(Flush(), timeout=5)
        told = orders.proxy().told.get()
    finally:
        ref.stop()
        orders.stop()
        carry.store.close()
    updates = [m for m in told if isinstance(m, OrderUpdate)]
    assert [(u.status, u.reason) for u in updates] == [(S.REJECTED, RejectReason.NO_ENGINE)]


# --- in the runtime ------------------------------------------------------------------

_SETTINGS = """
[runtime]
log_level = "ERROR"
[feed.synthetic]
symbols = ["AAA"]
bars = 0
[execution]
cancel_on_shutdown = false
[journal]
enabled = true
path = "journal.sqlite"
[[strategies]]
id = "buyer"
class = "support:BuyOnce"
symbols = ["AAA"]
[strategies.params]
quantity = 7
[[strategies]]
id = "rester"
class = "support:DayLimitOnce"
symbols = ["AAA"]
"""


def _numbering() -> tuple[Callable[[Message], int | None], dict[int, int]]:
    given: dict[int, int] = {}
    counter = itertools.count(1)

    def stream(message: Message) -> int | None:
        seq = next(counter)
        given[message.id] = seq  # type: ignore[attr-defined]
        return seq

    return stream, given


def test_events_are_journaled_with_their_stream_numbers_and_recovered_at_the_next_start(
    write_settings: Callable[[str], Path],
) -> None:
    path = write_settings(_SETTINGS)
    settings = load_settings(path)
    stream, given = _numbering()
    first = Runtime(settings, source=iter(()), stream=stream)
    first.start()
    try:
        for i in range(3):
            first.inject(make_bar(i))
            first.settle()
        positions = {(p.strategy_id, p.symbol): p.quantity for p in first.positions()}
        resting = [v.client_order_id for v in first.orders("rester")]
    finally:
        first.stop()
    assert positions == {("buyer", "AAA"): 7.0} and len(resting) == 1
    journal = settings.journal.path
    conn = sqlite3.connect(journal)
    rows = conn.execute(
        "SELECT seq, json_extract(body, '$.id') FROM events WHERE seq IS NOT NULL"
    ).fetchall()
    conn.close()
    assert rows and all(given[event_id] == seq for seq, event_id in rows)
    assert {"Order", "OrderUpdate", "Fill", "Position"} <= _types(journal)

    # The next start: positions and the resting order come back before any bar; the
    # paper engine (in process) lost the order, so recovery ends it CANCELLED.
    recorder = Recorder()
    second = Runtime(settings, source=iter(()), listeners=[recorder])
    second.start()
    try:
        report = second.recovery
        restored = {(p.strategy_id, p.symbol): p.quantity for p in second.positions()}
        views = {v.client_order_id: v for v in second.orders(open_only=False)}
        reconciled = recorder.wait_for(OrderReconciled)
        recorder.wait_for(RecoveryReport)
    finally:
        second.stop()
    assert restored == positions
    assert report is not None
    assert (report.previous_runs, report.open_orders, report.reconciled) == (1, 1, 1)
    assert report.unresolved == () and not report.halted
    view = views[resting[0]]
    assert (view.status, view.reason) == (S.CANCELLED, RejectReason.RECOVERY)
    assert [(e.client_order_id, e.before, e.after) for e in reconciled] == [
        (resting[0], S.ACCEPTED, S.CANCELLED)
    ]


def _types(journal: Path) -> set[str]:
    conn = sqlite3.connect(journal)
    try:
        return {t for (t,) in conn.execute("SELECT DISTINCT type FROM events")}
    finally:
        conn.close()


def test_a_journal_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="not a tradepit journal"):
        open_journal(path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    open_journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="schema version 99 is newer"):
        open_journal(path)


def test_one_runtime_per_journal_and_the_lock_dies_with_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    first = open_journal(path)
    try:
        with pytest.raises(JournalError, match=r"in use by another process \(pid \d+\)"):
            open_journal(path)
        beside = open_journal(path, lock=False)  # tradepit journal prune
        beside.close()
    finally:
        first.close()
    open_journal(path).close()  # released by close (and by the kernel on kill -9)


class _LateBroker(PaperAdapter):
    """A broker that cannot answer recovery at first, then answers: ``o-1`` unknown."""

    def __init__(self) -> None:
        super().__init__(engine="late", config=PaperConfig(), clock=time.time_ns)
        self.asked = 0

    def recover(self, orders: Sequence[OrderToRecover]) -> Future[tuple[str, ...]]:
        self.asked += 1
        future: Future[tuple[str, ...]] = Future()
        if self.asked == 1:
            future.set_exception(TimeoutError("STATUS: not connected to the venue"))
        else:
            future.set_result(tuple(o.update.client_order_id for o in orders))
        return future


def test_an_engine_that_answers_recovery_late_still_resolves_the_orders() -> None:
    directory = Directory()
    orders = _Orders.start(name="orders", directory=directory)
    directory.register("orders", orders)
    broker = _LateBroker()
    engine = EngineHost.start(name="engine.late", directory=directory, adapter=lambda: broker)
    directory.register("engine.late", engine)
    update = OrderUpdate(
        id=next_id(),
        ts_event=1,
        ts_init=1,
        client_order_id="o-1",
        strategy_id="s",
        symbol="AAA",
        side=Side.BUY,
        status=S.UNKNOWN,
        quantity=1.0,
        filled_quantity=0.0,
        avg_fill_price=None,
        reason=None,
        message="",
        engine="",
    )
    try:
        first = engine.ask(RecoverOrders((OrderToRecover(update, ()),)), timeout=5, block=True)
        assert isinstance(first, Future)
        assert isinstance(first.exception(timeout=5), TimeoutError)
        engine.ask(Flush(), timeout=5)  # the failed answer is handled: nothing resolved
        assert not [m for m in orders.proxy().told.get() if isinstance(m, ResolveOrders)]
        assert engine.ask(Probe(), timeout=5) is True  # healthy: asks again
        engine.ask(Flush(), timeout=5)
        orders.ask(Flush(), timeout=5)
        told = orders.proxy().told.get()
    finally:
        engine.stop()
        orders.stop()
    assert broker.asked == 2
    assert [m for m in told if isinstance(m, ResolveOrders)] == [ResolveOrders("late", ("o-1",))]


def test_a_journal_replaced_while_stuck_in_a_commit_hands_the_order_on_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stall, entered = threading.Event(), threading.Event()

    def slow_commit(name: str) -> None:  # stands for a COMMIT whose fsync hangs
        if name == "journal.orders_after_commit" and not entered.is_set():
            entered.set()
            stall.wait(10)

    monkeypatch.setattr(journal_module, "crash_point", slow_commit)
    path = tmp_path / "j.sqlite"
    directory = Directory()
    engine = _Engine.start(name="engine.x", directory=directory, journal=path)
    directory.register("engine.x", engine)
    ref, carry = _journal_actor(path, directory)
    try:
        ref.tell(ToEngine("engine.x", _order(1)))
        assert entered.wait(5)
        stuck = actor_of(ref)
        assert stuck is not None
        # What the supervisor does with a stuck actor: revoke, hand over, replace.
        stuck.revoke()
        handed = stuck.handover(stuck=True)
        stuck.release()
        replacement = JournalActor.start(
            name="journal", directory=directory, config=JournalConfig(), carry=handed
        )
        stall.set()
        ref.ask(Flush(), timeout=5)  # the stuck one has finished its commit
        replacement.ask(Flush(), timeout=5)
        engine.ask(Flush(), timeout=5)
        seen = engine.proxy().seen.get()
        rows = carry.store.conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    finally:
        stall.set()
        ref.stop()
        replacement.stop()
        engine.stop()
        carry.store.close()
    assert [coid for coid, _ in seen] == ["run-s-1"], "the order reached the engine twice"
    assert rows == 1
