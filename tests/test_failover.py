"""Engine failover and failback, pinning, hung engines and fault injection."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from actors.brokers.base import AdapterEvent, BrokerAdapter
from actors.brokers.faulty import FaultyAdapter, InjectedCrashError, InjectedError
from runtime.boot import Runtime
from runtime.config import FaultConfig
from runtime.failover import Failover
from runtime.messages import (
    ActorFailed,
    ActorRestarted,
    EngineFailedBack,
    EngineFailedOver,
    EngineFault,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RejectReason,
    Side,
    Tick,
    TimeInForce,
)
from runtime.settings import load_settings
from support import Recorder, make_bar

# --- the active-engine state (pure) -----------------------------------------------


def test_failover_happens_at_exactly_the_threshold_and_only_for_the_active_engine() -> None:
    failover = Failover(("a", "b", "c"), threshold=3, failback_after_s=10.0)
    assert failover.record_failure("b") is None, "a backup's failures do not switch"
    assert [failover.record_failure("a") for _ in range(3)] == [None, None, "b"]
    failover.switch("b", now=100.0, wall_ns=1)
    assert failover.active == "b"
    assert failover.failback_at() == 110.0
    status = failover.status()
    assert status.failures == (("a", 3), ("b", 1), ("c", 0))
    assert (status.since_active, status.recovery, status.switches) == (0, "failed over", 1)
    assert [failover.record_failure("b") for _ in range(3)] == [None, None, "c"]


def test_an_engine_down_for_good_is_skipped_and_switched_from_at_once() -> None:
    failover = Failover(("a", "b", "c"), threshold=5, failback_after_s=10.0)
    assert failover.mark_down("b") is None
    assert failover.mark_down("a") == "c", "b is down, so a's successor is c"
    failover.switch("c", now=0.0, wall_ns=1)
    assert failover.failback_at() is None, "no failback to a primary that is down"
    failover.mark_up("a")
    assert failover.failback_at() == 10.0


def test_a_pinned_engine_never_switches_by_itself() -> None:
    failover = Failover(("a", "b"), threshold=1, failback_after_s=10.0, force="b")
    assert failover.active == "b"
    assert failover.record_failure("b") is None
    assert failover.mark_down("b") is None
    assert failover.status().recovery == "pinned"
    with pytest.raises(ValueError, match="unknown engine 'z'"):
        failover.pin("z")
    failover.pin("")
    assert failover.record_failure("b") == "a"


# --- fault injection ----------------------------------------------------------------


class _Counting(BrokerAdapter):
    def __init__(self) -> None:
        super().__init__(engine="inner")
        self.submitted: list[str] = []

    def submit(self, order: Order) -> list[AdapterEvent]:
        self.submitted.append(order.client_order_id)
        return []

    def cancel(self, client_order_id: str, ts_event: int) -> list[AdapterEvent]:
        return []

    def cancel_all(self, ts_event: int, reason: RejectReason, message: str) -> list[AdapterEvent]:
        return []

    def working_orders(self) -> tuple[str, ...]:
        return ()


def _order(n: int) -> Order:
    return Order(
        id=n,
        ts_event=0,
        ts_init=0,
        client_order_id=f"o-{n}",
        strategy_id="s",
        symbol="AAA",
        side=Side.BUY,
        quantity=1.0,
        order_type=OrderType.MARKET,
        limit_price=None,
        stop_price=None,
        time_in_force=TimeInForce.GTC,
        ts_intent=0,
    )


def _outcomes(config: FaultConfig, calls: int) -> str:
    adapter = FaultyAdapter(_Counting(), config)
    result = ""
    for n in range(1, calls + 1):
        try:
            adapter.submit(_order(n))
            result += "."
        except InjectedError:
            result += "F"
        except InjectedCrashError:
            result += "C"
    return result


def test_fault_injection_is_seeded_and_follows_its_schedule() -> None:
    assert _outcomes(FaultConfig(fail_every=3), 9) == "..F..F..F"
    assert _outcomes(FaultConfig(fail_every=1, first_call=3, fault_limit=2), 6) == "..FF.."
    assert _outcomes(FaultConfig(crash_every=4), 8) == "...C...C"
    seeded = _outcomes(FaultConfig(seed=3, fail_probability=0.3), 200)
    assert seeded == _outcomes(FaultConfig(seed=3, fail_probability=0.3), 200)
    assert 30 < seeded.count("F") < 90
    assert seeded != _outcomes(FaultConfig(seed=4, fail_probability=0.3), 200)


def test_a_hanging_call_is_released_by_close() -> None:
    adapter = FaultyAdapter(_Counting(), FaultConfig(hang_every=1, hang_s=60.0))
    adapter.close()  # as the supervisor does when it abandons a stuck engine
    started = time.monotonic()
    adapter.submit(_order(1))
    assert time.monotonic() - started < 30.0


# --- the runtime: two paper engines ------------------------------------------------

TWO_ENGINES = """
[runtime]
log_level = "ERROR"
shutdown_timeout_s = 5.0
[feed.synthetic]
symbols = ["AAA"]
bars = 0
[execution]
engines = ["primary", "backup"]
failover_threshold = 5
failback_after_s = {failback}
{force}
[engines.primary]
adapter = "paper"
[engines.primary.faults]
fail_every = 1
first_call = 3
fault_limit = {faults}
[engines.primary.supervision]
health_interval_s = 0.1
health_timeout_s = 2.0
[engines.backup]
adapter = "paper"
[[strategies]]
id = "s"
class = "support:BuyEveryBar"
symbols = ["AAA"]
"""


def _accepted_by(recorder: Recorder) -> dict[str, list[str]]:
    accepted: dict[str, list[str]] = {}
    for update in recorder.of(OrderUpdate):
        if update.status is OrderStatus.ACCEPTED:
            accepted.setdefault(update.client_order_id, []).append(update.engine)
    return accepted


def test_failover_after_exactly_the_threshold_then_failback_loses_and_duplicates_nothing(
    write_settings: Callable[[str], Path],
) -> None:
    text = TWO_ENGINES.format(failback=0.5, force="", faults=5)
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder], source=iter(()))
    runtime.start()
    sequence: list[tuple[str, str]] = []  # (client order id, engine that accepted it)
    try:
        bar = 0

        def trade(count: int) -> None:
            nonlocal bar
            for _ in range(count):
                runtime.inject(make_bar(bar))
                bar += 1
                runtime.settle()

        trade(7)  # orders 1-2 accepted by primary, 3-7 fail there: 5 faults
        (over,) = recorder.wait_for(EngineFailedOver)
        trade(3)  # go to the backup
        (back,) = recorder.wait_for(EngineFailedBack, timeout_s=30)
        trade(3)  # the primary again (its faults are over)
        status = runtime.execution_status()
    finally:
        summary = runtime.stop()
    assert summary.stuck_threads == ()
    assert (over.previous, over.engine, over.failures) == ("primary", "backup", 5)
    assert (back.previous, back.engine) == ("backup", "primary")
    assert len(recorder.of(EngineFault)) == 5
    assert status is not None
    assert (status.active, status.recovery, status.switches) == ("primary", "primary active", 2)
    accepted = _accepted_by(recorder)
    assert all(len(engines) == 1 for engines in accepted.values()), "no order sent twice"
    sequence = [(c, e[0]) for c, e in accepted.items()]
    engines = [e for _, e in sequence]
    assert engines[:2] == ["primary", "primary"]
    assert engines[2:5] == ["backup"] * 3
    assert engines[5:] == ["primary"] * 3
    rejected = [
        u
        for u in recorder.of(OrderUpdate)
        if u.status is OrderStatus.REJECTED and u.reason is RejectReason.ENGINE_ERROR
    ]
    assert len(rejected) == 5, "the five orders the primary failed were answered, not dropped"
    intents = {o.client_order_id for o in recorder.of(Order)}
    assert intents == set(accepted), "every order that reached an engine was accepted once"
    assert len(intents) + len(rejected) == 13, "thirteen bars, thirteen orders, none lost"


def test_a_pinned_engine_takes_every_order_and_can_be_moved_at_run_time(
    write_settings: Callable[[str], Path],
) -> None:
    text = TWO_ENGINES.format(failback=0.5, force='force = "backup"', faults=0)
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder], source=iter(()))
    runtime.start()
    try:
        for i in range(3):
            runtime.inject(make_bar(i))
            runtime.settle()
        pinned = runtime.execution_status()
        moved = runtime.pin_engine("primary")  # primary fails from its 3rd call on
        for i in range(3, 6):
            runtime.inject(make_bar(i))
            runtime.settle()
        with pytest.raises(ValueError, match="unknown engine 'nope'"):
            runtime.pin_engine("nope")
    finally:
        runtime.stop()
    assert pinned is not None and (pinned.active, pinned.pinned) == ("backup", "backup")
    assert (moved.active, moved.pinned, moved.recovery) == ("primary", "primary", "pinned")
    engines = [e[0] for e in _accepted_by(recorder).values()]
    assert engines == ["backup"] * 3 + ["primary"] * 2
    (back,) = recorder.of(EngineFailedBack)
    assert (back.previous, back.engine) == ("backup", "primary")
    assert recorder.of(EngineFailedOver) == [], "pinned: its faults never switch it away"
    assert len(recorder.of(EngineFault)) >= 1


HUNG = """
[runtime]
log_level = "ERROR"
shutdown_timeout_s = 5.0
[feed.synthetic]
symbols = ["AAA"]
bars = 0
[engines.paper]
adapter = "paper"
[engines.paper.faults]
hang_every = 3
hang_s = 60.0
fault_limit = 1
[engines.paper.supervision]
health_interval_s = {interval}
health_timeout_s = {timeout}
[[strategies]]
id = "s"
class = "support:BuyEveryBar"
symbols = ["AAA"]
"""


def test_a_hung_engine_is_replaced_within_the_probe_timeout_plus_one_interval(
    write_settings: Callable[[str], Path],
) -> None:
    interval, timeout = 0.2, 0.5
    text = HUNG.format(interval=interval, timeout=timeout)
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder], source=iter(()))
    runtime.start()
    try:
        runtime.inject(make_bar(0))
        runtime.settle()
        runtime.inject(make_bar(1))  # its order is the adapter's 2nd call...
        runtime.settle()
        runtime.inject(make_bar(2))  # ...and this one's the 3rd: it hangs
        hung_at = time.monotonic()
        (failed,) = recorder.wait_for(ActorFailed)
        detected = time.monotonic() - hung_at
        (restarted,) = recorder.wait_for(ActorRestarted)
        for i in range(3, 5):  # two orders: the fresh adapter's 1st and 2nd calls
            runtime.inject(make_bar(i))
            runtime.settle()
    finally:
        summary = runtime.stop()
    assert (failed.name, failed.error) == (
        "engine.paper",
        f"no answer to a health probe within {timeout:g}s",
    )
    assert restarted.name == "engine.paper"
    assert detected < timeout + interval + 2.0, "bound: timeout + one interval (plus slack)"
    orders = [o.client_order_id for o in recorder.of(Order)]
    statuses: dict[str, list[OrderStatus]] = {}
    for update in recorder.of(OrderUpdate):
        statuses.setdefault(update.client_order_id, []).append(update.status)
    ids = sorted(statuses, key=lambda c: int(c.rsplit("-", 1)[1]))
    assert len(ids) == 5
    assert statuses[ids[2]] == [OrderStatus.UNKNOWN], "the one it hung on: never accepted"
    accepted = [c for c in ids if OrderStatus.ACCEPTED in statuses[c]]
    assert accepted == [ids[0], ids[1], ids[3], ids[4]], "the fresh adapter accepts again"
    assert ids[2] not in orders, "the hung submit never reported the order as received"
    assert summary.stuck_threads == (), "closing the abandoned adapter released its thread"


def test_market_data_passes_through_the_fault_wrapper_uncounted() -> None:
    adapter = FaultyAdapter(_Counting(), FaultConfig(fail_every=1))
    tick = Tick(id=1, ts_event=0, ts_init=0, symbol="AAA", price=1.0, size=1.0)
    assert tuple(adapter.on_tick(tick)) == ()
    assert tuple(adapter.on_bar(make_bar(0))) == ()
    assert adapter.calls == 0, "market data never counts as an order call"
