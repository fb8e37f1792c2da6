"""Supervision: restart intensity and backoff, held messages, restarts, quarantine, probes."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pykka import _actor as pykka_actor
from pykka import _ref as pykka_ref
from pykka._envelope import Envelope

import support
from actors.event_sink import describe, event_level
from runtime.actor import LeanActor, actor_of, actor_thread
from runtime.boot import Runtime
from runtime.config import RestartType, SupervisionConfig
from runtime.directory import Directory
from runtime.messages import (
    ActorFailed,
    ActorRestarted,
    EngineFailedBack,
    EngineFailedOver,
    EngineFault,
    Fill,
    GetSnapshot,
    Message,
    Order,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    StrategyQuarantined,
    TradingHalted,
)
from runtime.names import ORDERS, RISK, SUPERVISOR, ActorKind, strategy_actor
from runtime.restart import GiveUp, Restart, RestartTracker
from runtime.scheduler import Scheduler
from runtime.settings import load_settings
from support import Recorder, make_bar

# --- restart intensity and backoff (pure, injected clock) -----------------------------


def _tracker(**values: Any) -> RestartTracker:
    fields: dict[str, Any] = {"backoff_min_s": 0.0, "jitter": 0.0, **values}
    return RestartTracker(SupervisionConfig(**fields), random.Random(1))


def test_restarts_are_counted_within_the_window_and_the_next_failure_gives_up() -> None:
    tracker = _tracker(max_restarts=3, period_s=10.0)
    assert [tracker.on_failure(t) for t in (0.0, 1.0, 2.0)] == [
        Restart(0.0, 1),
        Restart(0.0, 2),
        Restart(0.0, 3),
    ]
    decision = tracker.on_failure(3.0)
    assert isinstance(decision, GiveUp)
    assert "3 restarts within 10s (max_restarts = 3)" in decision.reason


def test_a_restart_exactly_period_s_old_is_still_inside_the_window() -> None:
    at_boundary = _tracker(max_restarts=1, period_s=10.0)
    assert at_boundary.on_failure(0.0) == Restart(0.0, 1)
    assert isinstance(at_boundary.on_failure(10.0), GiveUp), "OTP: age == period still counts"
    past_boundary = _tracker(max_restarts=1, period_s=10.0)
    assert past_boundary.on_failure(0.0) == Restart(0.0, 1)
    assert past_boundary.on_failure(10.001) == Restart(0.0, 1), "it left the window"


def test_backoff_doubles_per_restart_in_the_window_and_is_capped() -> None:
    tracker = _tracker(max_restarts=10, period_s=100.0, backoff_min_s=0.1, backoff_max_s=1.0)
    delays = []
    for t in range(7):
        decision = tracker.on_failure(float(t))
        assert isinstance(decision, Restart)
        delays.append(decision.delay_s)
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


def test_the_backoff_streak_starts_again_once_the_window_is_empty() -> None:
    tracker = _tracker(max_restarts=5, period_s=10.0, backoff_min_s=0.5, backoff_max_s=60.0)
    assert tracker.on_failure(0.0) == Restart(0.5, 1)
    assert tracker.on_failure(1.0) == Restart(1.0, 2)
    assert tracker.on_failure(100.0) == Restart(0.5, 1)


def test_jitter_spreads_delays_but_keeps_them_within_min_and_max() -> None:
    config = SupervisionConfig(
        max_restarts=1_000, period_s=1e9, backoff_min_s=0.1, backoff_max_s=0.4, jitter=0.5
    )
    tracker = RestartTracker(config, random.Random(7))
    delays = [tracker.delay(n) for n in range(1, 6) for _ in range(200)]
    assert min(delays) >= 0.1
    assert max(delays) <= 0.4
    first = [tracker.delay(1) for _ in range(200)]
    assert len(set(first)) > 100, "jitter spreads the delays"
    assert min(first) == 0.1, "below the minimum is clamped up"


def test_temporary_children_and_zero_intensity_never_restart() -> None:
    assert isinstance(_tracker(restart=RestartType.TEMPORARY).on_failure(0.0), GiveUp)
    assert isinstance(_tracker(max_restarts=0).on_failure(0.0), GiveUp)
    assert isinstance(_tracker(restart=RestartType.TRANSIENT).on_failure(0.0), Restart)


def test_the_scheduler_delivers_in_due_order() -> None:
    delivered: queue.SimpleQueue[object] = queue.SimpleQueue()
    scheduler = Scheduler(delivered.put, name="test-timers")
    try:
        scheduler.after(0.20, "third")
        scheduler.after(0.0, "first")
        scheduler.after(0.05, "second")
        got = [delivered.get(timeout=5) for _ in range(3)]
    finally:
        scheduler.close()
    assert got == ["first", "second", "third"]


# --- addresses: held while down, delivered in order -----------------------------------


class _Collector(LeanActor):
    kind = ActorKind.STRATEGY

    def __init__(self, *, name: str, directory: Directory) -> None:
        super().__init__(name=name, directory=directory)
        self.got: list[tuple[int, int]] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, GetSnapshot):
            return list(self.got)
        self.got.append(message)
        return None


def test_an_address_holds_messages_while_down_and_loses_none_under_concurrent_senders() -> None:
    directory = Directory()
    incarnations = [_Collector.start(name="c", directory=directory)]
    collectors = [actor_of(incarnations[0])]  # strong references: stopped ones are read later
    address = directory.register("c", incarnations[0])
    senders, per_sender = 4, 3_000

    def send(sender: int) -> None:
        for n in range(per_sender):
            assert address.tell((sender, n))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(5):  # replace the actor five times while they send
            address.hold()
            old = incarnations[-1]
            old.stop(block=True)  # handles what reached it before the hold
            incarnations.append(_Collector.start(name="c", directory=directory))
            collectors.append(actor_of(incarnations[-1]))
            address.resume(incarnations[-1], [])
        for thread in threads:
            thread.join(30)
        received: list[tuple[int, int]] = []
        for actor in collectors[:-1]:
            assert isinstance(actor, _Collector)
            received += actor.got
        received += incarnations[-1].ask(GetSnapshot(), block=True, timeout=10)
    finally:
        for ref in incarnations:
            ref.stop(block=True)
    for sender in range(senders):
        mine = [n for s, n in received if s == sender]
        assert mine == list(range(per_sender)), f"sender {sender}: lost or reordered messages"


def test_a_closed_address_refuses_and_returns_what_it_held() -> None:
    directory = Directory()
    ref = _Collector.start(name="c", directory=directory)
    try:
        address = directory.register("c", ref)
        address.hold()
        assert address.tell((0, 1)) and address.tell((0, 2))
        assert directory.unregister("c") == [(0, 1), (0, 2)]
        assert address.tell((0, 3)) is False
        assert directory.tell("c", (0, 4)) is False
    finally:
        ref.stop(block=True)


# --- the runtime --------------------------------------------------------------------


SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]

STEADY = """
[[strategies]]
id = "steady-{n}"
class = "support:TradesByCount"
symbols = ["{symbol}"]
"""

RAISES_EVERY_10TH = """
[[strategies]]
id = "faulty"
class = "support:RaisesEvery"
symbols = ["DDD"]
[strategies.params]
every = 10
[strategies.supervision]
max_restarts = 1000000
period_s = 3600.0
backoff_min_s = 0.0
"""


def _base(bars: int, lockstep: str = "false", extra: str = "") -> str:
    return f"""
[runtime]
log_level = "ERROR"
shutdown_timeout_s = 10.0
[feed]
lockstep = {lockstep}
[feed.synthetic]
symbols = {SYMBOLS!r}
bars = {bars}
{extra}
""".replace("'", '"')


def _orders_and_bars(
    path: Path, strategy_ids: list[str], restarts: int = 0
) -> tuple[dict[str, list[tuple[str, str, float, int]]], dict[str, int], Recorder]:
    recorder = Recorder()
    runtime = Runtime(load_settings(path), listeners=[recorder])
    runtime.start()
    try:
        assert runtime.finished.wait(120), "the data did not end"
        if restarts:
            recorder.wait_for(ActorRestarted, restarts, timeout_s=240)
        runtime.settle()
        bars = {s: runtime.ask(strategy_actor(s), GetSnapshot()).bars for s in strategy_ids}
    finally:
        summary = runtime.stop()
    assert summary.stuck_threads == ()
    orders: dict[str, list[tuple[str, str, float, int]]] = {s: [] for s in strategy_ids}
    for order in recorder.of(Order):
        if order.strategy_id in orders:
            sequence = order.client_order_id.rsplit("-", 1)[1]
            orders[order.strategy_id].append(
                (sequence, order.side.value, order.quantity, order.ts_event)
            )
    return orders, bars, recorder


def test_a_thousand_failures_leave_three_other_strategies_exactly_as_without_them(
    write_settings: Callable[[str], Path],
) -> None:
    steady = "".join(STEADY.format(n=i, symbol=s) for i, s in enumerate(SYMBOLS[:3]))
    ids = [f"steady-{i}" for i in range(3)]
    bars = 10_000
    alone, alone_bars, _ = _orders_and_bars(write_settings(_base(bars) + steady), ids)
    together, together_bars, recorder = _orders_and_bars(
        write_settings(_base(bars) + steady + RAISES_EVERY_10TH), ids, 1_000
    )
    assert alone_bars == dict.fromkeys(ids, bars)
    assert together_bars == alone_bars, "every other strategy handled every bar"
    assert all(len(o) > 2_000 for o in alone.values())
    assert together == alone, "the same orders, in the same order, at the same bars"
    failures = [f for f in recorder.of(ActorFailed) if f.name == "strategy.faulty"]
    assert len(failures) == 1_000
    assert len(recorder.of(ActorRestarted)) == 1_000
    assert recorder.of(StrategyQuarantined) == []


def test_messages_sent_while_a_strategy_restarts_reach_its_replacement(
    write_settings: Callable[[str], Path],
) -> None:
    text = _base(0) + (
        '[[strategies]]\nid = "s"\nclass = "support:BuyEveryBar"\nsymbols = ["AAA"]\n'
        "[strategies.supervision]\nbackoff_min_s = 0.3\n"
    )
    recorder = Recorder()
    settings = load_settings(write_settings(text))
    runtime = Runtime(settings, listeners=[recorder], source=iter(()))
    runtime.start()
    bars = [make_bar(i) for i in range(10)]
    try:
        for bar in bars[:3]:
            runtime.inject(bar)
            runtime.settle()
        runtime.crash(strategy_actor("s"))
        # Told while it is down: the bars, and the fill of its third order at the
        # first of them, are held for the replacement.
        for bar in bars[3:7]:
            runtime.inject(bar)
        (restarted,) = recorder.wait_for(ActorRestarted)
        runtime.settle()
        for bar in bars[7:]:
            runtime.inject(bar)
            runtime.settle()
        stats = runtime.ask(strategy_actor("s"), GetSnapshot())
        books = runtime.ask("portfolio", GetSnapshot())
    finally:
        summary = runtime.stop()
    assert summary.stuck_threads == ()
    assert restarted.delay_s >= 0.3
    assert restarted.redelivered >= 4, "the four bars sent while it was down"
    assert stats.bars == 10, "no bar lost: three before the crash, seven after"
    fills = [f for f in recorder.of(Fill) if f.strategy_id == "s"]
    assert stats.fills == len(fills) >= 6, "every fill booked once, those during the restart too"
    (account,) = books.accounts
    (position,) = account.positions
    assert stats.positions == (("AAA", position.quantity),), "the books agree"


def test_a_late_failure_report_about_a_replaced_actor_is_ignored(
    write_settings: Callable[[str], Path],
) -> None:
    text = _base(0) + STEADY.format(n=0, symbol="AAA")
    runtime = Runtime(load_settings(write_settings(text)), source=iter(()))
    runtime.start()
    try:
        runtime.directory.tell(
            SUPERVISOR,
            ActorFailed(
                id=1,
                ts_event=0,
                ts_init=0,
                name="strategy.steady-0",
                kind="strategy",
                error="RuntimeError: from an incarnation long gone",
                actor_urn="urn:uuid:not-the-current-one",
            ),
        )
        runtime.crash(strategy_actor("steady-0"))
        runtime.settle()
        rows = {row.name: row for row in runtime.actors()}
    finally:
        runtime.stop()
    row = rows["strategy.steady-0"]
    assert (row.failures, row.restarts) == (1, 1), "only the real failure counted"
    assert row.last_error == "RuntimeError: crash requested in strategy.steady-0"


@pytest.mark.parametrize(("policy", "reason"), [("cancel", None), ("keep", "SHUTDOWN")])
def test_quarantine_applies_the_open_order_policy(
    policy: str, reason: str | None, write_settings: Callable[[str], Path]
) -> None:
    text = _base(60, lockstep="true") + (
        '[[strategies]]\nid = "bad"\nclass = "support:LimitThenRaises"\nsymbols = ["AAA"]\n'
        f'[strategies.supervision]\nmax_restarts = 0\nopen_orders = "{policy}"\n'
    )
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder])
    runtime.start()
    try:
        (quarantined,) = recorder.wait_for(StrategyQuarantined)
        assert runtime.finished.wait(60)
        runtime.settle()
        rows = {row.name: row for row in runtime.actors()}
    finally:
        runtime.stop()
    assert quarantined.open_orders == policy
    assert rows["strategy.bad"].state == "quarantined"
    assert runtime.fatal is None, "a quarantined strategy does not stop the runtime"
    (final,) = {u.client_order_id: u for u in recorder.of(OrderUpdate)}.values()
    assert final.status is OrderStatus.CANCELLED
    assert (final.reason.value if final.reason else None) == reason


def test_a_crashed_risk_actor_is_restarted_with_its_books(
    write_settings: Callable[[str], Path],
) -> None:
    text = _base(40, lockstep="true") + STEADY.format(n=0, symbol="AAA")
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder])
    runtime.start()
    try:
        recorder.wait_for(Order, 3)
        runtime.crash(RISK)
        recorder.wait_for(ActorRestarted)
        assert runtime.finished.wait(60)
        runtime.settle()
        risk = runtime.ask(RISK, GetSnapshot())
    finally:
        summary = runtime.stop()
    (row,) = summary.strategies
    assert risk.accepted == row.orders, "counters survived the restart"
    intents = {o.client_order_id for o in recorder.of(Order)}
    assert len(intents) == row.orders, "every order reached the engine once"
    finals = {u.client_order_id: u for u in recorder.of(OrderUpdate)}
    assert all(u.status.is_terminal for u in finals.values())
    assert not any(u.reason is RejectReason.NO_ENGINE for u in finals.values())


def test_a_hung_strategy_is_replaced_within_the_probe_timeout_plus_one_interval(
    write_settings: Callable[[str], Path],
) -> None:
    interval, timeout = 0.2, 0.5
    text = _base(0) + (
        STEADY.format(n=0, symbol="AAA")
        + f"[strategies.supervision]\nhealth_interval_s = {interval}\n"
        + f"health_timeout_s = {timeout}\n"
    )
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder], source=iter(()))
    runtime.start()
    try:
        hung_at = time.monotonic()
        runtime.crash(strategy_actor("steady-0"), "hang", hang_s=60.0)
        (failed,) = recorder.wait_for(ActorFailed)
        detected = time.monotonic() - hung_at
        (restarted,) = recorder.wait_for(ActorRestarted)
        rows = {row.name: row for row in runtime.actors()}
    finally:
        summary = runtime.stop()
    assert failed.error == f"no answer to a health probe within {timeout:g}s"
    assert restarted.name == "strategy.steady-0"
    assert rows["strategy.steady-0"].alive
    # generous slack for a loaded machine; the bound itself is timeout + interval
    assert detected < timeout + interval + 2.0
    assert summary.stuck_threads == (), "the hung thread was released when it was revoked"


def test_supervision_events_are_logged_at_their_level_with_a_readable_line() -> None:
    common: dict[str, Any] = {"id": 1, "ts_event": 0, "ts_init": 0}
    cases: list[tuple[Message, str, str]] = [
        (
            ActorRestarted(
                **common, name="risk", kind="risk", restarts=2, delay_s=0.5, redelivered=3
            ),
            "WARNING",
            "actor risk (risk) restarted: restart 2 in window, after 0.500s, 3 messages",
        ),
        (
            StrategyQuarantined(
                **common, strategy_id="s", failures=6, error="ValueError: x", open_orders="cancel"
            ),
            "ERROR",
            "strategy s QUARANTINED after 6 failures (last: ValueError: x); open orders: cancel",
        ),
        (EngineFault(**common, engine="p", error="lost"), "WARNING", "engine p fault: lost"),
        (
            EngineFailedOver(**common, previous="p", engine="b", failures=5, reason="boom"),
            "ERROR",
            "engine FAILOVER p -> b after 5 failures (last: boom)",
        ),
        (EngineFailedBack(**common, previous="b", engine="p"), "WARNING", "FAILBACK b -> p"),
        (TradingHalted(**common, actor="risk", reason="why"), "ERROR", "TRADING HALTED: why"),
    ]
    for event, level, text in cases:
        assert event_level(event) == level, event
        assert text in describe(event)


def test_risk_failing_for_good_halts_trading_and_strategies_get_rejections_not_crashes(
    write_settings: Callable[[str], Path],
) -> None:
    text = _base(0, lockstep="true", extra="[supervision]\nmax_restarts = 0\n") + (
        '[[strategies]]\nid = "s"\nclass = "support:BuyEveryBar"\nsymbols = ["AAA"]\n'
    )
    recorder = Recorder()
    reasons: list[str] = []
    runtime = Runtime(
        load_settings(write_settings(text)), listeners=[recorder], on_fatal=reasons.append
    )
    runtime.start()
    try:
        recorder.wait_for(Order, 3)
        runtime.crash(RISK)
        (halted,) = recorder.wait_for(TradingHalted)
        halted_at = len(recorder.events)
        recorder.wait_for(OrderUpdate, len(recorder.of(OrderUpdate)) + 3)
        rows = {row.name: row for row in runtime.actors()}
    finally:
        runtime.stop()
    assert halted.actor == "risk"
    assert reasons == [halted.reason]
    assert rows["risk"].state == "failed"
    assert rows["strategy.s"].failures == 0, "the strategy kept running"
    refused = [
        e
        for e in recorder.events[halted_at:]
        if isinstance(e, OrderUpdate) and e.status is OrderStatus.REJECTED
    ]
    assert refused, "orders kept coming and were answered"
    assert all(u.reason is RejectReason.HALTED for u in refused)


def test_a_restart_that_does_not_start_in_time_is_retired_and_cannot_trade(
    write_settings: Callable[[str], Path],
) -> None:
    text = _base(0).replace("shutdown_timeout_s = 10.0", "shutdown_timeout_s = 0.5") + (
        '[[strategies]]\nid = "s"\nclass = "support:HangsOnRestart"\nsymbols = ["AAA"]\n'
        "[strategies.supervision]\nmax_restarts = 1\n"
    )
    support.HangsOnRestart.starts = 0
    support.RELEASE.clear()
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder], source=iter(()))
    runtime.start()
    try:
        runtime.crash(strategy_actor("s"))
        (quarantined,) = recorder.wait_for(StrategyQuarantined)
        rows = {row.name: row for row in runtime.actors()}
        support.RELEASE.set()  # the retired attempt wakes up and tries to buy
        runtime.settle()
    finally:
        support.RELEASE.set()
        summary = runtime.stop()
    row = rows["strategy.s"]
    assert (row.failures, row.restarts, row.state) == (2, 0, "quarantined")
    assert row.last_error.startswith("restart failed: not started within 0.5s")
    assert quarantined.failures == 2
    assert recorder.of(Order) == [], "the retired attempt could not send its order"
    assert summary.stuck_threads == ()


def test_a_switch_caused_by_an_engine_crash_reconciles_with_its_replacement(
    write_settings: Callable[[str], Path],
) -> None:
    text = f"""
[runtime]
log_level = "ERROR"
[feed.synthetic]
symbols = ["AAA"]
bars = 0
[execution]
engines = ["primary", "backup"]
failover_threshold = 1
[engines.primary]
adapter = "paper"
[engines.backup]
adapter = "paper"
{STEADY.format(n=0, symbol="AAA").replace("TradesByCount", "DayLimitOnce")}
"""
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder], source=iter(()))
    runtime.start()
    try:
        runtime.inject(make_bar(0))
        runtime.settle()
        (resting,) = recorder.wait_for(Order)
        runtime.crash("engine.primary")
        (over,) = recorder.wait_for(EngineFailedOver)
        recorder.wait_for(ActorRestarted)
        runtime.settle()
        working = runtime.ask("engine.primary", GetSnapshot()).working_orders
        orders = runtime.ask(ORDERS, GetSnapshot())
    finally:
        runtime.stop()
    assert (over.previous, over.engine) == ("primary", "backup")
    assert working == (resting.client_order_id,), "the replacement kept the adapter's order"
    assert (resting.client_order_id, "engine.primary") in orders.open_orders
    statuses = [u.status for u in recorder.of(OrderUpdate)]
    assert OrderStatus.UNKNOWN not in statuses, "it answered the reconcile: nothing is unknown"


def test_orders_held_for_an_actor_still_in_backoff_at_shutdown_are_answered(
    write_settings: Callable[[str], Path],
) -> None:
    text = _base(0, extra="[supervision]\nbackoff_min_s = 30.0\nbackoff_max_s = 30.0\n") + (
        '[[strategies]]\nid = "s"\nclass = "support:BuyEveryBar"\nsymbols = ["AAA"]\n'
    )
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder], source=iter(()))
    runtime.start()
    try:
        runtime.crash(RISK)
        recorder.wait_for(ActorFailed)
        for i in range(3):  # each bar makes an order, held for risk's replacement
            runtime.inject(make_bar(i))
    finally:
        runtime.stop()
    answered = [
        u
        for u in recorder.of(OrderUpdate)
        if u.status is OrderStatus.REJECTED and u.reason is RejectReason.SHUTDOWN
    ]
    assert len(answered) == 3, "no order waiting for risk was dropped silently"


class _FailsOnBoom(LeanActor):
    kind = ActorKind.STRATEGY

    def on_receive(self, message: Any) -> Any:
        if message == "boom":
            _CHECKED.wait(5)
            raise RuntimeError("deliberate")
        return None


_CHECKED = threading.Event()


def test_a_message_put_while_a_failing_actor_tears_down_reaches_its_replacement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pykka's ``tell`` checks ``is_alive()`` and then puts: a sender that passed the
    check just before the actor failed puts while it tears down. That message
    must be kept for the replacement, wherever in the teardown it lands."""
    drained, put_done = threading.Event(), threading.Event()
    pykka_teardown = pykka_actor.Actor._actor_loop_teardown

    def teardown(self: pykka_actor.Actor) -> None:  # pykka's own drain (drops tells)
        drained.set()
        put_done.wait(5)
        pykka_teardown(self)

    real_tell = pykka_ref.ActorRef.tell

    def tell(self: pykka_ref.ActorRef[Any], message: Any) -> None:
        if message != "late":
            real_tell(self, message)
            return
        assert self.is_alive()
        _CHECKED.set()  # the actor now fails and stops; this sender is descheduled
        drained.wait(2)  # until the teardown runs (or, with no pykka drain, 2 s)
        self.actor_inbox.put(Envelope(message))
        put_done.set()

    monkeypatch.setattr(pykka_actor.Actor, "_actor_loop_teardown", teardown)
    monkeypatch.setattr(pykka_ref.ActorRef, "tell", tell)
    _CHECKED.clear()
    directory = Directory()
    ref = _FailsOnBoom.start(name="strategy.boom", directory=directory)
    actor, thread = actor_of(ref), actor_thread(ref)
    assert actor is not None and thread is not None
    address = directory.register("strategy.boom", ref)
    ref.tell("boom")
    address.tell("late")  # what the feed does with the next bar
    address.hold()  # what the supervisor does on the failure report...
    thread.join(10)
    kept = [*actor.leftovers, *actor.take_inbox(), *address.held_messages()]
    assert kept == ["late"]  # ...and what it hands to the replacement
