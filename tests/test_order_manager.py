"""The order manager in the running runtime: one owner of order state, duplicates
refused, anomalies refused and reported, modifications, queries, restarts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from runtime.boot import Runtime
from runtime.messages import (
    ActorRestarted,
    CancelNotFound,
    CancelOrder,
    Fill,
    GetSnapshot,
    ModifyOrder,
    ModifyRefused,
    Order,
    OrderAnomaly,
    OrderIntent,
    OrderStatus,
    OrderUpdate,
    RejectReason,
)
from runtime.names import ORDERS, RISK
from runtime.settings import load_settings
from support import Recorder, make_bar

S = OrderStatus


def _runtime(
    write_settings: Callable[[str], Path], recorder: Recorder, strategy: str, params: str = ""
) -> Runtime:
    text = f"""
[runtime]
log_level = "ERROR"
[feed.synthetic]
symbols = ["AAA"]
bars = 0
[[strategies]]
id = "s"
class = "support:{strategy}"
symbols = ["AAA"]
{params}
"""
    return Runtime(load_settings(write_settings(text)), listeners=[recorder], source=iter(()))


def _statuses(view_history: tuple[tuple[int, OrderStatus], ...]) -> list[OrderStatus]:
    return [status for _ts, status in view_history]


def test_every_order_has_its_whole_history_and_queries_split_open_from_finished(
    write_settings: Callable[[str], Path],
) -> None:
    recorder = Recorder()
    runtime = _runtime(write_settings, recorder, "BuyEveryBar", "[strategies.params]\n")
    runtime.start()
    try:
        for i in range(3):
            runtime.inject(make_bar(i))
            runtime.settle()
        open_orders = runtime.orders("s")
        everything = runtime.orders(open_only=False)
        nobody = runtime.orders("nobody", open_only=False)
    finally:
        runtime.stop()
    assert [o.status for o in open_orders] == [S.ACCEPTED], "the last bar's order still works"
    assert len(everything) == 3
    first = everything[0]
    assert _statuses(first.history) == [S.RECEIVED, S.VALIDATED, S.ROUTED, S.ACCEPTED, S.FILLED]
    assert (first.filled_quantity, first.engine, first.strategy_id) == (1.0, "engine.paper", "s")
    assert nobody == ()


def test_a_reused_client_order_id_is_refused_and_the_order_owning_it_is_untouched(
    write_settings: Callable[[str], Path],
) -> None:
    recorder = Recorder()
    params = "[strategies.params]\nlimit_offset = 50.0\n"  # rests far below the market
    runtime = _runtime(write_settings, recorder, "BuyEveryBar", params)
    runtime.start()
    try:
        runtime.inject(make_bar(0))
        runtime.settle()
        (order,) = recorder.wait_for(Order)
        # Straight to the order manager (as a resend would arrive), and through risk.
        runtime.directory.tell(ORDERS, replace(order, id=order.id + 1_000))
        intent = OrderIntent(
            id=1,
            ts_event=order.ts_event,
            ts_init=order.ts_init,
            client_order_id=order.client_order_id,
            strategy_id="s",
            symbol="AAA",
            side=order.side,
            quantity=5.0,
            order_type=order.order_type,
            limit_price=order.limit_price,
            stop_price=None,
            time_in_force=order.time_in_force,
            market_price=100.0,
        )
        runtime.directory.tell(RISK, intent)
        runtime.settle()
        view = runtime.orders("s")
    finally:
        runtime.stop()
    refusals = [u for u in recorder.of(OrderUpdate) if u.reason is RejectReason.DUPLICATE_ORDER]
    assert len(refusals) == 2
    assert all(u.client_order_id == order.client_order_id for u in refusals)
    (working,) = view
    assert (working.client_order_id, working.status, working.quantity) == (
        order.client_order_id,
        S.ACCEPTED,
        order.quantity,
    )
    assert len(recorder.of(Order)) == 1, "the engine got the order once"


def test_an_update_that_breaks_the_state_machine_is_refused_and_reported(
    write_settings: Callable[[str], Path],
) -> None:
    recorder = Recorder()
    runtime = _runtime(write_settings, recorder, "BuyEveryBar", "[strategies.params]\n")
    runtime.start()
    try:
        for i in range(2):
            runtime.inject(make_bar(i))
            runtime.settle()
        filled = next(u for u in recorder.of(OrderUpdate) if u.status is S.FILLED)
        published = len(recorder.of(OrderUpdate))
        # A late ACCEPTED after FILLED, and a fill beyond the quantity.
        runtime.directory.tell(ORDERS, replace(filled, id=9_001, status=S.ACCEPTED))
        fill = recorder.of(Fill)[0]
        runtime.directory.tell(ORDERS, replace(fill, id=9_002, fill_id="extra-1"))
        runtime.settle()
        view = runtime.orders(open_only=False)[0]
        stats = runtime.ask(ORDERS, GetSnapshot())
    finally:
        runtime.stop()
    anomalies = recorder.of(OrderAnomaly)
    assert [(a.status, a.event) for a in anomalies] == [("FILLED", "ACCEPTED"), ("FILLED", "Fill")]
    assert all(a.client_order_id == filled.client_order_id for a in anomalies)
    assert stats.anomalies == 2
    assert view.status is S.FILLED and view.filled_quantity == 1.0
    late = [u for u in recorder.of(OrderUpdate)[published:] if u.id == 9_001]
    assert late == [], "the refused update went nowhere"


def test_a_strategy_modifies_a_resting_order_and_it_fills_at_the_new_price(
    write_settings: Callable[[str], Path],
) -> None:
    recorder = Recorder()
    runtime = _runtime(write_settings, recorder, "ModifiesResting")
    runtime.start()
    try:
        for i in range(4):
            runtime.inject(make_bar(i))
            runtime.settle()
        (view,) = runtime.orders(open_only=False)
    finally:
        runtime.stop()
    fills = [(f.quantity, f.price) for f in recorder.of(Fill)]
    assert fills == [(20.0, 99.5)]
    assert (view.quantity, view.limit_price, view.status) == (20.0, 99.5, S.FILLED)
    assert _statuses(view.history) == [
        S.RECEIVED,
        S.VALIDATED,
        S.ROUTED,
        S.ACCEPTED,
        S.PENDING_MODIFY,
        S.ACCEPTED,
        S.FILLED,
    ]


def test_a_crashed_order_manager_comes_back_with_every_order(
    write_settings: Callable[[str], Path],
) -> None:
    recorder = Recorder()
    params = "[strategies.params]\nlimit_offset = 50.0\n"
    runtime = _runtime(write_settings, recorder, "BuyEveryBar", params)
    runtime.start()
    try:
        for i in range(2):
            runtime.inject(make_bar(i))
            runtime.settle()
        runtime.crash(ORDERS)
        recorder.wait_for(ActorRestarted)
        runtime.inject(make_bar(2))
        runtime.settle()
        working = runtime.orders("s")
    finally:
        summary = runtime.stop()
    assert [o.status for o in working] == [S.ACCEPTED] * 3
    cancelled = [u for u in recorder.of(OrderUpdate) if u.status is S.CANCELLED]
    assert sorted(u.client_order_id for u in cancelled) == sorted(
        o.client_order_id for o in working
    )
    assert recorder.of(OrderAnomaly) == []
    assert summary.stuck_threads == ()


def test_a_second_modify_while_one_is_pending_is_refused_and_the_books_agree(
    write_settings: Callable[[str], Path],
) -> None:
    recorder = Recorder()
    runtime = _runtime(write_settings, recorder, "ModifiesTwice")
    runtime.start()
    try:
        for i in range(3):
            runtime.inject(make_bar(i))
            runtime.settle()
        (view,) = runtime.orders()
        working = runtime.ask("engine.paper", GetSnapshot()).working_orders
    finally:
        runtime.stop()
    refused = [u for u in recorder.of(OrderUpdate) if u.reason is RejectReason.MODIFY_REFUSED]
    assert len(refused) == 1
    assert "a modify of this order is still pending" in refused[0].message
    assert (view.quantity, view.limit_price, view.status) == (30.0, 60.0, S.ACCEPTED)
    assert working == (view.client_order_id,)
    assert recorder.of(OrderAnomaly) == []


def test_only_the_owner_may_cancel_and_a_lost_order_is_resolved_by_its_engine(
    write_settings: Callable[[str], Path],
) -> None:
    recorder = Recorder()
    params = "[strategies.params]\nlimit_offset = 50.0\n"
    runtime = _runtime(write_settings, recorder, "BuyEveryBar", params)
    runtime.start()
    try:
        for i in range(2):
            runtime.inject(make_bar(i))
            runtime.settle()
        first, second = runtime.orders("s")
        now = first.created_ns
        runtime.directory.tell(
            ORDERS,
            CancelOrder(
                id=1,
                ts_event=now,
                ts_init=now,
                client_order_id=first.client_order_id,
                strategy_id="intruder",
            ),
        )
        # The paper engine (the book of record) says it does not have the second.
        runtime.directory.tell(ORDERS, CancelNotFound(second.client_order_id, "paper"))
        runtime.settle()
        after = {o.client_order_id: o for o in runtime.orders(open_only=False)}
    finally:
        runtime.stop()
    assert after[first.client_order_id].status is S.ACCEPTED, "the intruder's cancel was refused"
    assert S.PENDING_CANCEL not in _statuses(after[first.client_order_id].history)
    lost = after[second.client_order_id]
    assert (lost.status, lost.reason) == (S.CANCELLED, RejectReason.UNKNOWN_ORDER)


def test_a_modify_the_engine_crashed_in_is_made_again_by_its_replacement(
    write_settings: Callable[[str], Path],
) -> None:
    recorder = Recorder()
    crash = "[engines.paper.faults]\ncrash_every = 2\nfault_limit = 1\n"  # the 2nd call: the modify
    text = f"""
[runtime]
log_level = "ERROR"
[feed.synthetic]
symbols = ["AAA"]
bars = 0
{crash}
[[strategies]]
id = "s"
class = "support:ModifiesResting"
symbols = ["AAA"]
"""
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder], source=iter(()))
    runtime.start()
    try:
        for i in range(2):
            runtime.inject(make_bar(i))
            runtime.settle()
        recorder.wait_for(ActorRestarted)
        runtime.settle()
        for i in range(2, 4):
            runtime.inject(make_bar(i))
            runtime.settle()
        (view,) = runtime.orders(open_only=False)
    finally:
        runtime.stop()
    (restarted,) = recorder.of(ActorRestarted)
    assert restarted.name == "engine.paper"
    assert [(f.quantity, f.price) for f in recorder.of(Fill)] == [(20.0, 99.5)]
    assert (view.quantity, view.status) == (20.0, S.FILLED)
    assert recorder.of(OrderAnomaly) == []


def test_an_engine_refusing_a_modify_of_an_ended_order_publishes_nothing_more(
    write_settings: Callable[[str], Path],
) -> None:
    recorder = Recorder()
    runtime = _runtime(write_settings, recorder, "BuyEveryBar", "[strategies.params]\n")
    runtime.start()
    try:
        for i in range(2):
            runtime.inject(make_bar(i))
            runtime.settle()
        filled = next(u for u in recorder.of(OrderUpdate) if u.status is S.FILLED)
        before = len(recorder.of(OrderUpdate))
        modify = ModifyOrder(
            id=1, ts_event=0, ts_init=0, client_order_id=filled.client_order_id,
            strategy_id="s", quantity=5.0, limit_price=None, stop_price=None,
            market_price=None,
        )  # fmt: skip
        runtime.directory.tell(
            ORDERS, ModifyRefused(modify, RejectReason.MODIFY_REFUSED, "ended", by_engine=True)
        )
        runtime.settle()
        after = len(recorder.of(OrderUpdate))
    finally:
        runtime.stop()
    assert after == before, "its final update already told everyone"
