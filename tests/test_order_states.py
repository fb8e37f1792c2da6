"""The order state machine: the transition table, every rule of OrderBook, and
property tests driving random and well-behaved event streams through it."""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.messages import (
    Fill,
    ModifyOrder,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RejectReason,
    Side,
    TimeInForce,
    next_id,
)
from runtime.order_states import (
    TRANSITIONS,
    DuplicateOrderError,
    IllegalTransitionError,
    OrderBook,
    OrderStateError,
    OrderView,
    UnknownOrderError,
)

S = OrderStatus
TERMINAL = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})
BUY = Side.BUY
MARKET, LIMIT, STOP, STOP_LIMIT = (
    OrderType.MARKET,
    OrderType.LIMIT,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
)
REFUSED = RejectReason.MODIFY_REFUSED
ENGINE = "engine.paper"
T = TypeVar("T")
PROFILE = settings(max_examples=200, deadline=None, derandomize=True, database=None)


def make_order(
    coid: str = "o1",
    *,
    quantity: float = 100.0,
    order_type: OrderType = LIMIT,
    limit: float | None = 99.0,
    stop: float | None = None,
    strategy: str = "s1",
    ts: int = 1_000,
) -> Order:
    return Order(
        id=next_id(),
        ts_event=ts - 500,
        ts_init=ts,
        client_order_id=coid,
        strategy_id=strategy,
        symbol="AAA",
        side=BUY,
        quantity=quantity,
        order_type=order_type,
        limit_price=limit,
        stop_price=stop,
        time_in_force=TimeInForce.GTC,
        ts_intent=ts - 500,
    )


def upd(
    coid: str,
    status: OrderStatus,
    *,
    quantity: float = 100.0,
    filled: float = 0.0,
    avg: float | None = None,
    reason: RejectReason | None = None,
    message: str = "",
    strategy: str = "s1",
    symbol: str = "AAA",
    ts: int = 5_000,
    engine: str = "paper",
) -> OrderUpdate:
    return OrderUpdate(
        id=next_id(),
        ts_event=ts,
        ts_init=ts,
        client_order_id=coid,
        strategy_id=strategy,
        symbol=symbol,
        side=BUY,
        status=status,
        quantity=quantity,
        filled_quantity=filled,
        avg_fill_price=avg if avg is not None or filled == 0 else 100.0,
        reason=reason,
        message=message,
        engine=engine,
    )


def fill(
    coid: str, fill_id: str, quantity: float, *, price: float = 100.0, ts: int = 5_000
) -> Fill:
    return Fill(
        id=next_id(),
        ts_event=ts,
        ts_init=ts,
        fill_id=fill_id,
        client_order_id=coid,
        strategy_id="s1",
        symbol="AAA",
        side=BUY,
        quantity=quantity,
        price=price,
        commission=0.0,
        slippage=0.0,
        engine="paper",
    )


def modify(
    coid: str = "o1",
    *,
    quantity: float | None = None,
    limit: float | None = None,
    stop: float | None = None,
    strategy: str = "s1",
) -> ModifyOrder:
    return ModifyOrder(
        id=next_id(),
        ts_event=0,
        ts_init=0,
        client_order_id=coid,
        strategy_id=strategy,
        quantity=quantity,
        limit_price=limit,
        stop_price=stop,
        market_price=None,
    )


def routed(
    *, order_type: OrderType = LIMIT, limit: float | None = 99.0, stop: float | None = None
) -> OrderBook:
    """A book holding order o1 (100, by default LIMIT @ 99) created at 1_000, ROUTED at 2_000."""
    book = OrderBook()
    order = make_order(order_type=order_type, limit=limit, stop=stop)
    book.route(order, ENGINE, now=2_000)
    return book


def accepted(
    *, order_type: OrderType = LIMIT, limit: float | None = 99.0, stop: float | None = None
) -> OrderBook:
    """As :func:`routed`, then ACCEPTED at 3_000."""
    book = routed(order_type=order_type, limit=limit, stop=stop)
    assert book.apply_update(upd("o1", S.ACCEPTED, ts=3_000))
    return book


def view(book: OrderBook, coid: str = "o1") -> OrderView:
    found = book.get(coid)
    assert found is not None
    return found


def statuses(book: OrderBook, coid: str = "o1") -> list[OrderStatus]:
    return [status for _, status in view(book, coid).history]


def illegal(call: object, *args: object, **kwargs: object) -> IllegalTransitionError:
    """Run ``call``, which must raise IllegalTransitionError; return the error."""
    assert callable(call)
    with pytest.raises(IllegalTransitionError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- the table ---------------------------------------------------------------------


def test_table_covers_every_status_and_terminal_states_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    for status in OrderStatus:
        assert (TRANSITIONS[status] == frozenset()) is (status in TERMINAL)


def test_table_keeps_the_front_of_the_life_cycle_one_way() -> None:
    assert TRANSITIONS[S.RECEIVED] == {S.VALIDATED, S.REJECTED}
    assert TRANSITIONS[S.VALIDATED] == {S.ROUTED, S.REJECTED, S.CANCELLED}
    entering = {target for targets in TRANSITIONS.values() for target in targets}
    assert S.RECEIVED not in entering
    assert {s for s, targets in TRANSITIONS.items() if S.VALIDATED in targets} == {S.RECEIVED}
    # Back to ROUTED only from a modify the engine refused before acknowledging it.
    assert {s for s, targets in TRANSITIONS.items() if S.ROUTED in targets} == {
        S.VALIDATED,
        S.PENDING_MODIFY,
    }


def test_a_modify_refused_before_the_ack_goes_back_to_routed() -> None:
    book = OrderBook()
    order = _order_for_drop()
    book.route(order, "engine.x", now=1)
    modify = ModifyOrder(
        id=2, ts_event=2, ts_init=2, client_order_id=order.client_order_id,
        strategy_id=order.strategy_id, quantity=20.0, limit_price=None, stop_price=None,
        market_price=None,
    )  # fmt: skip
    assert book.request_modify(modify, now=3) == "engine.x"
    assert book.drop_modify(order.client_order_id, now=4) is S.ROUTED
    assert book.drop_modify(order.client_order_id, now=5) is None, "nothing pending any more"
    view = book.get(order.client_order_id)
    assert view is not None
    assert [st for _ts, st in view.history][-2:] == [S.PENDING_MODIFY, S.ROUTED]
    assert view.quantity == 10.0


def _order_for_drop() -> Order:
    return Order(
        id=1, ts_event=0, ts_init=0, client_order_id="d-1", strategy_id="s", symbol="X",
        side=Side.BUY, quantity=10.0, order_type=OrderType.LIMIT, limit_price=9.0,
        stop_price=None, time_in_force=TimeInForce.GTC, ts_intent=0,
    )  # fmt: skip


def test_table_has_the_exchange_edges() -> None:
    assert TRANSITIONS[S.ROUTED] == {
        S.ACCEPTED,
        S.REJECTED,
        S.PARTIALLY_FILLED,
        S.FILLED,
        S.CANCELLED,
        S.EXPIRED,
        S.UNKNOWN,
        S.PENDING_CANCEL,
        S.PENDING_MODIFY,
    }
    assert TRANSITIONS[S.ACCEPTED] == {
        S.PARTIALLY_FILLED,
        S.FILLED,
        S.PENDING_CANCEL,
        S.PENDING_MODIFY,
        S.CANCELLED,
        S.EXPIRED,
        S.UNKNOWN,
    }
    assert TRANSITIONS[S.UNKNOWN] == {
        S.UNKNOWN,
        S.ACCEPTED,
        S.PARTIALLY_FILLED,
        S.FILLED,
        S.CANCELLED,
        S.EXPIRED,
        S.REJECTED,
    }
    assert S.ACCEPTED in TRANSITIONS[S.PENDING_CANCEL]  # cancel refused
    assert S.REJECTED in TRANSITIONS[S.PENDING_CANCEL]  # cancel sent before the ack
    assert S.PENDING_CANCEL in TRANSITIONS[S.PENDING_MODIFY]
    assert S.PENDING_MODIFY not in TRANSITIONS[S.PENDING_CANCEL]
    assert not TRANSITIONS[S.UNKNOWN] & {S.PENDING_CANCEL, S.PENDING_MODIFY}
    assert S.REJECTED not in TRANSITIONS[S.ACCEPTED]


def test_every_open_state_can_reach_a_terminal_state() -> None:
    for start in OrderStatus:
        seen, todo = {start}, [start]
        while todo:
            for target in TRANSITIONS[todo.pop()]:
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        assert seen & TERMINAL, start


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[S.FILLED] = frozenset({S.ACCEPTED})  # type: ignore[index]


# --- route and refuse -----------------------------------------------------------------


def test_route_records_received_validated_and_routed() -> None:
    book = OrderBook()
    book.route(make_order(ts=1_000), ENGINE, now=2_000)
    assert view(book) == OrderView(
        client_order_id="o1",
        strategy_id="s1",
        symbol="AAA",
        side=BUY,
        order_type=LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=100.0,
        filled_quantity=0.0,
        fills_quantity=0.0,
        avg_fill_price=None,
        limit_price=99.0,
        stop_price=None,
        status=S.ROUTED,
        engine=ENGINE,
        reason=None,
        message="",
        created_ns=1_000,
        updated_ns=2_000,
        history=((1_000, S.RECEIVED), (1_000, S.VALIDATED), (2_000, S.ROUTED)),
    )
    assert view(book).is_open
    assert book.engine_of("o1") == ENGINE
    assert book.open_at(ENGINE) == ("o1",)
    assert book.open_count == 1


def test_route_of_a_seen_id_raises_and_changes_nothing() -> None:
    book = routed()
    before = view(book)
    with pytest.raises(DuplicateOrderError) as caught:
        book.route(make_order(quantity=5.0, strategy="s2"), "engine.other", now=9_000)
    assert caught.value.client_order_id == "o1"
    assert view(book) == before
    assert book.counts()[S.ROUTED] == 1


def test_route_of_the_id_of_a_finished_order_raises() -> None:
    book = routed()
    book.apply_update(upd("o1", S.REJECTED, reason=RejectReason.INVALID_ORDER))
    with pytest.raises(DuplicateOrderError):
        book.route(make_order(), ENGINE, now=9_000)
    assert statuses(book) == [S.RECEIVED, S.VALIDATED, S.ROUTED, S.REJECTED]


@pytest.mark.parametrize("quantity", [0.0, -1.0, math.nan, math.inf])
def test_route_refuses_a_quantity_that_is_not_positive_and_finite(quantity: float) -> None:
    book = OrderBook()
    with pytest.raises(ValueError, match="quantity"):
        book.route(make_order(quantity=quantity), ENGINE, now=1)
    assert book.get("o1") is None
    book.route(make_order(), ENGINE, now=1)  # the id was not burnt
    assert view(book).status is S.ROUTED


def test_route_refuses_an_empty_engine() -> None:
    with pytest.raises(ValueError, match="engine"):
        OrderBook().route(make_order(), "", now=1)


def test_refuse_records_received_then_rejected_from_the_update() -> None:
    book = OrderBook()
    update = upd(
        "r1",
        S.REJECTED,
        quantity=7.0,
        reason=RejectReason.MAX_POSITION,
        message="too big",
        ts=4_000,
        engine="",
    )
    assert book.refuse(update) is True
    got = view(book, "r1")
    assert got.status is S.REJECTED
    assert got.history == ((4_000, S.RECEIVED), (4_000, S.REJECTED))
    assert (got.order_type, got.time_in_force, got.limit_price, got.stop_price) == (
        None,
        None,
        None,
        None,
    )
    assert (got.quantity, got.reason, got.message, got.engine) == (
        7.0,
        RejectReason.MAX_POSITION,
        "too big",
        "",
    )
    assert not got.is_open
    assert book.open_count == 0
    assert book.engine_of("r1") is None
    assert book.counts()[S.REJECTED] == 1


def test_refused_duplicate_does_not_touch_the_original() -> None:
    book = accepted()
    before = view(book)
    duplicate = upd("o1", S.REJECTED, reason=RejectReason.DUPLICATE_ORDER, engine="")
    assert book.refuse(duplicate) is False
    assert view(book) == before
    assert book.counts()[S.REJECTED] == 0


def test_refuse_of_a_refused_id_is_false_and_route_of_it_raises() -> None:
    book = OrderBook()
    assert book.refuse(upd("r1", S.REJECTED, engine=""))
    assert book.refuse(upd("r1", S.REJECTED, message="again", engine="")) is False
    assert view(book, "r1").message == ""
    with pytest.raises(DuplicateOrderError):
        book.route(make_order("r1"), ENGINE, now=1)


def test_refuse_requires_a_rejected_update() -> None:
    error = illegal(OrderBook().refuse, upd("r1", S.CANCELLED))
    assert (error.client_order_id, error.status, error.event) == ("r1", None, "CANCELLED")


# --- engine updates -------------------------------------------------------------------


def test_updates_walk_an_order_to_filled() -> None:
    book = accepted()
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=30.0, avg=99.0, ts=4_000))
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=60.0, avg=98.5, ts=4_500))
    assert book.apply_update(upd("o1", S.FILLED, filled=100.0, avg=98.7, ts=5_000))
    got = view(book)
    assert got.history == (
        (1_000, S.RECEIVED),
        (1_000, S.VALIDATED),
        (2_000, S.ROUTED),
        (3_000, S.ACCEPTED),
        (4_000, S.PARTIALLY_FILLED),
        (5_000, S.FILLED),
    )
    assert (got.filled_quantity, got.avg_fill_price, got.updated_ns) == (100.0, 98.7, 5_000)
    assert book.open_count == 0
    assert book.open_at(ENGINE) == ()
    assert book.counts()[S.FILLED] == 1
    assert book.counts()[S.ACCEPTED] == 0


def test_exact_repeat_is_ignored() -> None:
    book = accepted()
    before = view(book)
    assert book.apply_update(upd("o1", S.ACCEPTED, message="resent", ts=9_000)) is False
    assert view(book) == before
    book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=10.0, ts=9_100))
    before = view(book)
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=10.0, ts=9_200)) is False
    assert view(book) == before


def test_repeat_of_a_terminal_state_is_ignored_anything_else_raises() -> None:
    book = accepted()
    book.apply_update(upd("o1", S.CANCELLED, ts=4_000))
    before = view(book)
    assert book.apply_update(upd("o1", S.CANCELLED, ts=4_100)) is False
    for late in (
        upd("o1", S.ACCEPTED),
        upd("o1", S.FILLED, filled=100.0),
        upd("o1", S.EXPIRED),
        upd("o1", S.CANCELLED, filled=1.0),
    ):
        error = illegal(book.apply_update, late)
        assert (error.status, error.detail) == (S.CANCELLED, "the order has already ended")
    assert view(book) == before


def test_update_of_an_unknown_order_raises_with_no_status() -> None:
    error = illegal(OrderBook().apply_update, upd("ghost", S.ACCEPTED))
    assert (error.client_order_id, error.status, error.event, error.detail) == (
        "ghost",
        None,
        "ACCEPTED",
        "no such order",
    )
    assert str(error) == "order 'ghost' (not in the book): ACCEPTED: no such order"


@pytest.mark.parametrize(
    ("start", "status"),
    [
        (S.ACCEPTED, S.REJECTED),
        (S.ACCEPTED, S.ROUTED),
        (S.ACCEPTED, S.RECEIVED),
        (S.ACCEPTED, S.VALIDATED),
        (S.ROUTED, S.VALIDATED),
    ],
)
def test_move_the_table_forbids_raises(start: OrderStatus, status: OrderStatus) -> None:
    book = routed() if start is S.ROUTED else accepted()
    before = view(book)
    error = illegal(book.apply_update, upd("o1", status))
    assert (error.status, error.event) == (start, status.value)
    assert error.detail == f"{start} cannot become {status}"
    assert view(book) == before


def test_accepted_cannot_report_more_filled() -> None:
    book = accepted()
    error = illegal(book.apply_update, upd("o1", S.ACCEPTED, filled=5.0))
    assert error.detail == "more filled (5.0) cannot stay ACCEPTED"
    assert view(book).filled_quantity == 0.0


def test_filled_quantity_may_not_go_down() -> None:
    book = accepted()
    book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=40.0))
    error = illegal(book.apply_update, upd("o1", S.PARTIALLY_FILLED, filled=39.0))
    assert error.detail == "filled quantity went down from 40.0 to 39.0"
    illegal(book.apply_update, upd("o1", S.CANCELLED, filled=20.0))
    assert view(book).filled_quantity == 40.0
    assert view(book).status is S.PARTIALLY_FILLED


def test_filled_quantity_may_exceed_the_quantity_by_dust_only() -> None:
    book = accepted()
    error = illegal(book.apply_update, upd("o1", S.FILLED, filled=100.001))
    assert error.detail == "filled quantity 100.001 exceeds the quantity 100.0"
    assert book.apply_update(upd("o1", S.FILLED, filled=100.0 * (1 + 5e-10)))
    assert view(book).status is S.FILLED


@pytest.mark.parametrize("filled", [math.nan, -1.0, math.inf])
def test_filled_quantity_must_be_finite_and_not_negative(filled: float) -> None:
    book = accepted()
    illegal(book.apply_update, upd("o1", S.PARTIALLY_FILLED, filled=filled, avg=1.0))
    assert view(book).status is S.ACCEPTED


def test_filled_means_everything_filled() -> None:
    book = accepted()
    error = illegal(book.apply_update, upd("o1", S.FILLED, filled=99.0))
    assert error.detail == "only 99.0 of 100.0 filled"


def test_partially_filled_means_something_filled() -> None:
    book = accepted()
    error = illegal(book.apply_update, upd("o1", S.PARTIALLY_FILLED, filled=0.0))
    assert error.detail == "nothing filled"


def test_rejected_after_an_execution_raises() -> None:
    book = routed()
    book.apply_fill(fill("o1", "f1", 5.0))
    error = illegal(book.apply_update, upd("o1", S.REJECTED))
    assert error.detail == "part of the order was executed"
    assert view(book).status is S.ROUTED


def test_quantity_may_not_change_without_a_modify() -> None:
    book = accepted()
    error = illegal(book.apply_update, upd("o1", S.ACCEPTED, quantity=50.0))
    assert error.detail == "quantity changed from 100.0 to 50.0 without a modify asking for it"
    assert view(book).quantity == 100.0


def test_update_for_another_symbol_raises() -> None:
    book = accepted()
    error = illegal(book.apply_update, upd("o1", S.CANCELLED, symbol="BBB"))
    assert error.detail == "s1/BBB/BUY does not match the order's s1/AAA/BUY"
    assert view(book).status is S.ACCEPTED


def test_engine_reports_straight_from_routed() -> None:
    for status, filled in ((S.FILLED, 100.0), (S.EXPIRED, 0.0), (S.CANCELLED, 0.0)):
        book = routed()
        assert book.apply_update(upd("o1", status, filled=filled))
        assert statuses(book)[-2:] == [S.ROUTED, status]


def test_engine_may_report_pending_cancel_and_fills_during_it() -> None:
    book = accepted()
    assert book.apply_update(upd("o1", S.PENDING_CANCEL))
    assert book.apply_update(upd("o1", S.PENDING_CANCEL, filled=10.0))
    assert book.apply_update(upd("o1", S.CANCELLED, filled=10.0))
    assert statuses(book)[3:] == [S.ACCEPTED, S.PENDING_CANCEL, S.CANCELLED]
    assert view(book).filled_quantity == 10.0


# --- fills ----------------------------------------------------------------------------


def test_paper_order_fill_then_update() -> None:
    book = accepted()
    book.apply_fill(fill("o1", "f1", 40.0))
    assert (view(book).fills_quantity, view(book).filled_quantity) == (40.0, 0.0)
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=40.0))
    book.apply_fill(fill("o1", "f2", 60.0, ts=6_000))
    assert book.apply_update(upd("o1", S.FILLED, filled=100.0, ts=6_000))
    got = view(book)
    assert (got.status, got.fills_quantity, got.filled_quantity, got.updated_ns) == (
        S.FILLED,
        100.0,
        100.0,
        6_000,
    )


def test_venue_order_update_then_fill_even_after_filled() -> None:
    book = accepted()
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=40.0))
    book.apply_fill(fill("o1", "f1", 40.0))
    assert book.apply_update(upd("o1", S.FILLED, filled=100.0))
    book.apply_fill(fill("o1", "f2", 60.0, ts=7_000))
    got = view(book)
    assert (got.status, got.fills_quantity, got.updated_ns) == (S.FILLED, 100.0, 7_000)
    error = illegal(book.apply_fill, fill("o1", "f3", 1.0))
    assert error.detail == "fills would sum to 101.0 but the order ended with 100.0 filled"


def test_fill_owed_after_cancel_is_accepted_up_to_the_reported_filled() -> None:
    book = accepted()
    assert book.apply_update(upd("o1", S.CANCELLED, filled=30.0))
    book.apply_fill(fill("o1", "f1", 30.0))
    assert view(book).fills_quantity == 30.0
    error = illegal(book.apply_fill, fill("o1", "f2", 1.0))
    assert error.status is S.CANCELLED
    assert view(book).fills_quantity == 30.0


@pytest.mark.parametrize("status", [S.REJECTED, S.EXPIRED])
def test_fill_after_an_end_with_nothing_filled_raises(status: OrderStatus) -> None:
    book = routed()
    book.apply_update(upd("o1", status))
    error = illegal(book.apply_fill, fill("o1", "f1", 1.0))
    assert (error.status, error.event) == (status, "Fill")
    assert view(book).fills_quantity == 0.0


def test_duplicate_fill_id_raises() -> None:
    book = accepted()
    book.apply_fill(fill("o1", "f1", 10.0))
    error = illegal(book.apply_fill, fill("o1", "f1", 10.0))
    assert error.detail == "fill 'f1' was received before"
    assert view(book).fills_quantity == 10.0


def test_fills_beyond_the_quantity_raise() -> None:
    book = accepted()
    book.apply_fill(fill("o1", "f1", 70.0))
    error = illegal(book.apply_fill, fill("o1", "f2", 31.0))
    assert error.detail == "fills would sum to 101.0, above 100.0"
    book.apply_fill(fill("o1", "f3", 30.0))
    assert view(book).fills_quantity == 100.0


@pytest.mark.parametrize(("quantity", "price"), [(0.0, 1.0), (-1.0, 1.0), (math.nan, 1.0)])
def test_fill_quantity_must_be_positive(quantity: float, price: float) -> None:
    book = accepted()
    illegal(book.apply_fill, fill("o1", "f1", quantity, price=price))
    assert view(book).fills_quantity == 0.0


def test_fill_price_must_be_finite() -> None:
    book = accepted()
    error = illegal(book.apply_fill, fill("o1", "f1", 1.0, price=math.nan))
    assert error.detail == "price nan"


def test_fill_of_an_unknown_order_raises() -> None:
    error = illegal(OrderBook().apply_fill, fill("ghost", "f1", 1.0))
    assert (error.status, error.event, error.detail) == (None, "Fill", "no such order")


def test_terminal_update_must_cover_the_fills_received() -> None:
    book = accepted()
    book.apply_fill(fill("o1", "f1", 50.0))
    error = illegal(book.apply_update, upd("o1", S.CANCELLED, filled=40.0))
    assert error.detail == "fills of 50.0 were received but it reports 40.0 filled"
    assert book.apply_update(upd("o1", S.CANCELLED, filled=50.0))


# --- cancel ---------------------------------------------------------------------------


def test_cancel_goes_pending_and_returns_the_engine() -> None:
    book = accepted()
    assert book.request_cancel("o1", now=4_000) == ENGINE
    assert view(book).history[-1] == (4_000, S.PENDING_CANCEL)
    assert book.apply_update(upd("o1", S.CANCELLED, ts=4_100))
    assert statuses(book)[3:] == [S.ACCEPTED, S.PENDING_CANCEL, S.CANCELLED]


def test_cancel_of_a_finished_order_is_too_late() -> None:
    book = accepted()
    book.apply_update(upd("o1", S.FILLED, filled=100.0))
    before = view(book)
    assert book.request_cancel("o1", now=9_000) is None
    assert view(book) == before


def test_cancel_of_an_unknown_id_raises() -> None:
    with pytest.raises(UnknownOrderError) as caught:
        OrderBook().request_cancel("ghost", now=1)
    assert caught.value.client_order_id == "ghost"


def test_cancel_of_another_strategys_order_raises() -> None:
    book = accepted()
    error = illegal(book.request_cancel, "o1", now=1, strategy_id="s2")
    assert error.detail == "the order belongs to strategy 's1'"
    assert view(book).status is S.ACCEPTED
    assert book.request_cancel("o1", now=1, strategy_id="s1") == ENGINE


def test_second_cancel_is_resent_without_a_new_state() -> None:
    book = accepted()
    book.request_cancel("o1", now=4_000)
    before = view(book)
    assert book.request_cancel("o1", now=4_500) == ENGINE
    assert view(book) == before


def test_cancel_refused_goes_back_to_working() -> None:
    book = accepted()
    book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=10.0))
    book.request_cancel("o1", now=4_000)
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=10.0, message="too late"))
    assert statuses(book)[-2:] == [S.PENDING_CANCEL, S.PARTIALLY_FILLED]
    # the cancel is answered: a modify may follow
    assert book.request_modify(modify(limit=98.0), now=5_000) == ENGINE


def test_fill_racing_a_cancel_then_the_cancel_lands() -> None:
    book = accepted()
    book.request_cancel("o1", now=4_000)
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=20.0))
    # the cancel is still in flight: no modify meanwhile
    error = illegal(book.request_modify, modify(limit=98.0), now=4_100)
    assert error.detail == "a cancel is pending"
    assert book.apply_update(upd("o1", S.CANCELLED, filled=20.0))
    assert statuses(book)[3:] == [
        S.ACCEPTED,
        S.PENDING_CANCEL,
        S.PARTIALLY_FILLED,
        S.CANCELLED,
    ]


def test_cancel_refused_in_the_state_a_racing_fill_left_is_applied_not_ignored() -> None:
    book = accepted()
    book.request_cancel("o1", now=4_000)
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=20.0))
    before = view(book)
    # same status and filled as now, but it answers the pending cancel
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=20.0, message="refused"))
    assert view(book).history == before.history
    assert view(book).message == "refused"
    assert book.request_modify(modify(limit=98.0), now=4_200) == ENGINE
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=20.0))
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=20.0)) is False


def test_cancel_before_the_ack_then_the_order_is_rejected() -> None:
    book = routed()
    book.request_cancel("o1", now=2_500)
    assert book.apply_update(upd("o1", S.REJECTED, reason=RejectReason.INVALID_ORDER))
    assert statuses(book)[2:] == [S.ROUTED, S.PENDING_CANCEL, S.REJECTED]
    assert view(book).reason is RejectReason.INVALID_ORDER


def test_ack_overtaking_a_cancel_is_not_a_refusal() -> None:
    book = routed()
    book.request_cancel("o1", now=2_500)
    assert book.apply_update(upd("o1", S.ACCEPTED))
    assert view(book).status is S.ACCEPTED
    illegal(book.request_modify, modify(limit=98.0), now=2_600)  # the cancel still pends
    assert book.apply_update(upd("o1", S.CANCELLED))


def test_cancel_of_an_unknown_state_order_is_sent_and_the_state_kept() -> None:
    book = accepted()
    book.mark_unknown("o1", now=4_000, message="engine lost")
    before = view(book)
    assert book.request_cancel("o1", now=4_100) == ENGINE
    assert view(book) == before
    assert book.apply_update(upd("o1", S.CANCELLED))
    assert statuses(book)[-2:] == [S.UNKNOWN, S.CANCELLED]


# --- modify ---------------------------------------------------------------------------


def test_modify_done_takes_the_new_quantity_and_price() -> None:
    book = accepted()
    assert book.request_modify(modify(quantity=150.0, limit=98.0), now=4_000) == ENGINE
    pending = view(book)
    assert (pending.status, pending.quantity, pending.limit_price) == (
        S.PENDING_MODIFY,
        100.0,
        99.0,
    )
    assert book.apply_update(upd("o1", S.ACCEPTED, quantity=150.0, ts=4_100))
    got = view(book)
    assert (got.status, got.quantity, got.limit_price) == (S.ACCEPTED, 150.0, 98.0)
    assert statuses(book)[3:] == [S.ACCEPTED, S.PENDING_MODIFY, S.ACCEPTED]
    assert book.apply_update(upd("o1", S.FILLED, quantity=150.0, filled=150.0))


def test_modify_refused_drops_the_pending_changes() -> None:
    book = accepted()
    book.request_modify(modify(quantity=150.0, limit=98.0), now=4_000)
    assert book.apply_update(upd("o1", S.ACCEPTED, reason=REFUSED))
    got = view(book)
    assert (got.status, got.quantity, got.limit_price, got.reason) == (
        S.ACCEPTED,
        100.0,
        99.0,
        REFUSED,
    )
    # nothing pends any more: the requested quantity is now a change without a modify
    illegal(book.apply_update, upd("o1", S.ACCEPTED, quantity=150.0))
    assert book.request_modify(modify(limit=97.0), now=5_000) == ENGINE


def test_refusal_carrying_a_new_quantity_raises() -> None:
    book = accepted()
    book.request_modify(modify(quantity=150.0), now=4_000)
    error = illegal(book.apply_update, upd("o1", S.ACCEPTED, quantity=150.0, reason=REFUSED))
    assert error.detail == "a refused modify cannot change the quantity"
    assert view(book).status is S.PENDING_MODIFY


def test_answer_with_a_quantity_nobody_asked_for_raises() -> None:
    book = accepted()
    book.request_modify(modify(quantity=150.0), now=4_000)
    illegal(book.apply_update, upd("o1", S.ACCEPTED, quantity=120.0))
    assert view(book).quantity == 100.0


def test_price_only_modify_done_by_the_next_working_update() -> None:
    book = accepted(order_type=STOP_LIMIT, limit=99.0, stop=101.0)
    book.request_modify(modify(stop=102.0), now=4_000)
    assert book.apply_update(upd("o1", S.ACCEPTED, ts=4_100))
    got = view(book)
    assert (got.status, got.limit_price, got.stop_price) == (S.ACCEPTED, 99.0, 102.0)


def test_fill_during_a_modify_keeps_it_pending_until_answered() -> None:
    book = accepted()
    book.request_modify(modify(limit=98.0), now=4_000)
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=10.0))
    assert view(book).limit_price == 99.0
    # the answer repeats the state: it is not ignored, it answers the modify
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=10.0))
    assert view(book).limit_price == 98.0
    assert statuses(book)[3:] == [S.ACCEPTED, S.PENDING_MODIFY, S.PARTIALLY_FILLED]
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=10.0)) is False


def test_modify_before_the_ack_is_not_answered_by_the_ack() -> None:
    book = routed()
    book.request_modify(modify(limit=98.0), now=2_500)
    assert book.apply_update(upd("o1", S.ACCEPTED))
    assert view(book).limit_price == 99.0
    error = illegal(book.request_modify, modify(limit=97.0), now=2_600)
    assert error.detail == "a modify is already pending"
    assert book.apply_update(upd("o1", S.ACCEPTED))
    assert view(book).limit_price == 98.0


def test_modify_that_reduces_to_the_filled_quantity_ends_filled() -> None:
    book = accepted()
    book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=40.0))
    book.request_modify(modify(quantity=40.0), now=4_000)
    assert book.apply_update(upd("o1", S.FILLED, quantity=40.0, filled=40.0))
    got = view(book)
    assert (got.status, got.quantity) == (S.FILLED, 40.0)


def test_modify_answer_below_the_fills_received_raises() -> None:
    book = accepted()
    book.request_modify(modify(quantity=50.0), now=4_000)
    book.apply_fill(fill("o1", "f1", 60.0))
    error = illegal(book.apply_update, upd("o1", S.ACCEPTED, quantity=50.0))
    assert error.detail == "fills of 60.0 exceed the quantity 50.0"


def test_cancel_during_a_modify_keeps_the_modify_pending() -> None:
    book = accepted()
    book.request_modify(modify(quantity=150.0), now=4_000)
    assert book.request_cancel("o1", now=4_100) == ENGINE
    assert book.apply_update(upd("o1", S.ACCEPTED, quantity=150.0))
    assert view(book).quantity == 150.0
    assert book.apply_update(upd("o1", S.CANCELLED, quantity=150.0))
    assert statuses(book)[3:] == [
        S.ACCEPTED,
        S.PENDING_MODIFY,
        S.PENDING_CANCEL,
        S.ACCEPTED,
        S.CANCELLED,
    ]


def test_terminal_state_drops_a_pending_modify() -> None:
    book = accepted()
    book.request_modify(modify(quantity=150.0), now=4_000)
    assert book.apply_update(upd("o1", S.FILLED, filled=100.0))
    got = view(book)
    assert (got.status, got.quantity) == (S.FILLED, 100.0)


@pytest.mark.parametrize(
    ("order_type", "limit", "stop", "change", "detail"),
    [
        (MARKET, None, None, (None, 98.0, None), "a MARKET order has no limit price"),
        (STOP, None, 101.0, (None, 98.0, None), "a STOP order has no limit price"),
        (MARKET, None, None, (None, None, 98.0), "a MARKET order has no stop price"),
        (LIMIT, 99.0, None, (None, None, 98.0), "a LIMIT order has no stop price"),
        (LIMIT, 99.0, None, (None, -1.0, None), "limit price -1.0"),
        (LIMIT, 99.0, None, (None, math.inf, None), "limit price inf"),
        (LIMIT, 99.0, None, (0.0, None, None), "quantity 0.0"),
        (LIMIT, 99.0, None, (math.nan, None, None), "quantity nan"),
        (LIMIT, 99.0, None, (None, None, None), "nothing to change"),
    ],
)
def test_modify_that_cannot_be_valid_raises(
    order_type: OrderType,
    limit: float | None,
    stop: float | None,
    change: tuple[float | None, float | None, float | None],
    detail: str,
) -> None:
    book = accepted(order_type=order_type, limit=limit, stop=stop)
    before = view(book)
    quantity, new_limit, new_stop = change
    request = modify(quantity=quantity, limit=new_limit, stop=new_stop)
    error = illegal(book.request_modify, request, now=4_000)
    assert (error.status, error.event, error.detail) == (S.ACCEPTED, "PENDING_MODIFY", detail)
    assert view(book) == before


def test_modify_below_the_filled_quantity_raises() -> None:
    book = accepted()
    book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=40.0))
    error = illegal(book.request_modify, modify(quantity=39.0), now=4_000)
    assert error.detail == "quantity 39.0 is below the 40.0 already filled"
    book.apply_fill(fill("o1", "f1", 45.0))  # fills ahead of the updates count too
    error = illegal(book.request_modify, modify(quantity=44.0), now=4_000)
    assert error.detail == "quantity 44.0 is below the 45.0 already filled"
    assert view(book).status is S.PARTIALLY_FILLED


def test_modify_of_an_unknown_state_or_pending_cancel_order_raises() -> None:
    book = accepted()
    book.request_cancel("o1", now=4_000)
    error = illegal(book.request_modify, modify(limit=98.0), now=4_100)
    assert error.detail == "a cancel is pending"
    other = accepted()
    other.mark_unknown("o1", now=4_000, message="lost")
    error = illegal(other.request_modify, modify(limit=98.0), now=4_100)
    assert error.detail == "UNKNOWN cannot be modified"


def test_modify_of_another_strategys_order_raises() -> None:
    book = accepted()
    error = illegal(book.request_modify, modify(limit=98.0, strategy="s2"), now=4_000)
    assert error.detail == "the order belongs to strategy 's1'"


def test_modify_of_a_finished_order_is_too_late_and_of_an_unknown_id_raises() -> None:
    book = accepted()
    book.apply_update(upd("o1", S.EXPIRED, reason=RejectReason.TIME_IN_FORCE))
    assert book.request_modify(modify(limit=98.0), now=4_000) is None
    assert view(book).status is S.EXPIRED
    with pytest.raises(UnknownOrderError):
        book.request_modify(modify("ghost", limit=98.0), now=4_000)


# --- unknown --------------------------------------------------------------------------


def test_mark_unknown_returns_the_update_to_send() -> None:
    book = accepted()
    book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=30.0, avg=99.5))
    update = book.mark_unknown("o1", now=8_000, message="engine.paper does not answer")
    assert update is not None
    assert replace(update, id=0) == OrderUpdate(
        id=0,
        ts_event=8_000,
        ts_init=8_000,
        client_order_id="o1",
        strategy_id="s1",
        symbol="AAA",
        side=BUY,
        status=S.UNKNOWN,
        quantity=100.0,
        filled_quantity=30.0,
        avg_fill_price=99.5,
        reason=RejectReason.ENGINE_ERROR,
        message="engine.paper does not answer",
        engine="",
    )
    got = view(book)
    assert (got.status, got.reason, got.updated_ns) == (S.UNKNOWN, RejectReason.ENGINE_ERROR, 8_000)
    assert book.open_at(ENGINE) == ("o1",)
    assert book.mark_unknown("o1", now=8_100, message="again") is None
    assert view(book) == got


def test_mark_unknown_of_a_finished_order_is_none_and_of_an_unknown_id_raises() -> None:
    book = accepted()
    book.apply_update(upd("o1", S.CANCELLED))
    assert book.mark_unknown("o1", now=1, message="x") is None
    assert view(book).status is S.CANCELLED
    with pytest.raises(UnknownOrderError):
        book.mark_unknown("ghost", now=1, message="x")


def test_unknown_is_reconciled_by_the_engine() -> None:
    book = accepted()
    book.mark_unknown("o1", now=4_000, message="lost")
    assert book.apply_update(upd("o1", S.UNKNOWN, filled=5.0))  # fills while unknown
    assert book.apply_update(upd("o1", S.PARTIALLY_FILLED, filled=5.0))
    assert statuses(book)[-3:] == [S.ACCEPTED, S.UNKNOWN, S.PARTIALLY_FILLED]


def test_unknown_after_a_failed_submit_is_rejected_on_reconciliation() -> None:
    book = routed()
    assert book.apply_update(upd("o1", S.UNKNOWN, message="engine failed during submit"))
    assert book.apply_update(upd("o1", S.REJECTED, reason=RejectReason.ENGINE_ERROR))
    assert statuses(book)[2:] == [S.ROUTED, S.UNKNOWN, S.REJECTED]


def test_modify_pending_through_unknown_is_answered_by_its_quantity() -> None:
    book = accepted()
    book.request_modify(modify(quantity=150.0), now=4_000)
    book.mark_unknown("o1", now=4_100, message="lost")
    # the reconciliation reports the old quantity: the modify has not landed yet
    assert book.apply_update(upd("o1", S.ACCEPTED))
    assert view(book).quantity == 100.0
    assert book.apply_update(upd("o1", S.ACCEPTED, quantity=150.0))
    assert view(book).quantity == 150.0


# --- queries and memory -------------------------------------------------------------


def test_orders_in_creation_order_by_strategy_open_or_all() -> None:
    book = OrderBook()
    book.route(make_order("a", strategy="s1"), ENGINE, now=1)
    book.refuse(upd("b", S.REJECTED, strategy="s2", engine=""))
    book.route(make_order("c", strategy="s2"), "engine.backup", now=2)
    book.route(make_order("d", strategy="s1"), ENGINE, now=3)
    book.apply_update(upd("a", S.ACCEPTED))
    book.apply_update(upd("d", S.CANCELLED))
    assert [v.client_order_id for v in book.orders()] == ["a", "c"]
    assert [v.client_order_id for v in book.orders(open_only=False)] == ["a", "b", "c", "d"]
    assert [v.client_order_id for v in book.orders("s2", open_only=False)] == ["b", "c"]
    assert [v.client_order_id for v in book.orders("s1")] == ["a"]
    assert book.orders("nobody") == ()
    assert book.open_at(ENGINE) == ("a",)
    assert book.open_at("engine.backup") == ("c",)
    assert book.engine_of("c") == "engine.backup"
    assert book.engine_of("b") is None
    assert book.engine_of("ghost") is None
    assert book.get("ghost") is None
    counts = book.counts()
    assert counts == {
        **dict.fromkeys(OrderStatus, 0),
        S.ACCEPTED: 1,
        S.REJECTED: 1,
        S.ROUTED: 1,
        S.CANCELLED: 1,
    }
    assert book.open_count == 2


def test_finished_orders_are_dropped_oldest_first_but_ids_stay_seen() -> None:
    book = OrderBook(keep_finished=2)
    for coid in ("a", "b", "c", "d"):
        book.route(make_order(coid), ENGINE, now=1)
    book.route(make_order("open"), ENGINE, now=1)
    for coid in ("b", "a", "c"):
        book.apply_update(upd(coid, S.CANCELLED))
    assert book.get("b") is None
    assert [v.client_order_id for v in book.orders(open_only=False)] == ["a", "c", "d", "open"]
    book.refuse(upd("r", S.REJECTED, engine=""))
    assert [v.client_order_id for v in book.orders(open_only=False)] == ["c", "d", "open", "r"]
    with pytest.raises(DuplicateOrderError):
        book.route(make_order("b"), ENGINE, now=2)
    assert book.refuse(upd("a", S.REJECTED)) is False
    error = illegal(book.apply_fill, fill("b", "f1", 1.0))
    assert (error.status, error.detail) == (None, "the order ended and is no longer kept")
    assert book.counts()[S.CANCELLED] == 3  # the life of the book, forgotten ones too
    assert [v.client_order_id for v in book.orders()] == ["d", "open"]


def test_keep_finished_zero_keeps_only_open_orders() -> None:
    book = OrderBook(keep_finished=0)
    book.route(make_order(), ENGINE, now=1)
    book.apply_update(upd("o1", S.CANCELLED))
    assert book.get("o1") is None
    assert book.orders(open_only=False) == ()


def test_keep_finished_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="keep_finished"):
        OrderBook(keep_finished=-1)


def test_errors_share_a_base_and_carry_their_fields() -> None:
    error = IllegalTransitionError("o1", S.ACCEPTED, S.REJECTED, "why")
    assert (error.client_order_id, error.status, error.event, error.detail) == (
        "o1",
        S.ACCEPTED,
        "REJECTED",
        "why",
    )
    assert type(error.event) is str
    assert str(error) == "order 'o1' (ACCEPTED): REJECTED: why"
    for cls in (IllegalTransitionError, DuplicateOrderError, UnknownOrderError):
        assert issubclass(cls, OrderStateError)


# --- property: random event streams never break the machine --------------------------

COIDS = ("a", "b", "c", "d", "ghost")


def _snapshot(book: OrderBook) -> dict[str, OrderView]:
    return {v.client_order_id: v for v in book.orders(open_only=False)}


def _check_invariants(
    book: OrderBook, before: dict[str, OrderView], after: dict[str, OrderView]
) -> None:
    for coid, got in after.items():
        history = got.history
        assert history[0][1] is S.RECEIVED
        for (_, a), (_, b) in itertools.pairwise(history):
            assert b in TRANSITIONS[a], (coid, a, b)
        assert got.status is history[-1][1]
        tol = 1e-9 * got.quantity
        assert got.filled_quantity <= got.quantity + tol
        assert got.fills_quantity <= got.quantity + tol
        old = before.get(coid)
        if old is not None:
            assert got.filled_quantity >= old.filled_quantity
            assert got.fills_quantity >= old.fills_quantity
            assert got.history[: len(old.history)] == old.history
            if old.status in TERMINAL:
                assert (got.status, got.history, got.quantity, got.filled_quantity) == (
                    old.status,
                    old.history,
                    old.quantity,
                    old.filled_quantity,
                )
    open_views = [v for v in after.values() if v.status not in TERMINAL]
    assert [v.client_order_id for v in book.orders()] == [v.client_order_id for v in open_views]
    assert book.open_count == len(open_views)
    counts = book.counts()
    assert sum(counts.values()) == len(after)
    for status in OrderStatus:
        assert counts[status] == sum(v.status is status for v in after.values())


class _Dice:
    """The choices of one step, seeded by one drawn integer: a single hypothesis draw
    per step keeps the property tests fast, and every step stays reproducible."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def pick(self, options: Sequence[T]) -> T:
        return options[self._rng.randrange(len(options))]


STEPS = st.lists(st.integers(0, 2**62), min_size=10, max_size=80)


def _chaos_step(dice: _Dice, book: OrderBook, now: int) -> tuple[str, object]:
    """One random event or request, often close to legal, sometimes garbage."""
    coid = dice.pick(COIDS)
    current = book.get(coid)
    base = current.quantity if current is not None else 10.0
    done = current.filled_quantity if current is not None else 0.0
    if current is None and dice.pick((True, True, True, False)):
        kind = dice.pick(("route",) * 6 + ("refuse",))
    else:
        kinds = ("update",) * 6 + ("fill",) * 3 + ("route", "refuse")
        kind = dice.pick((*kinds, "cancel", "modify", "unknown"))
    if kind == "route":
        order_type = dice.pick(list(OrderType))
        limit = 99.0 if order_type in (LIMIT, STOP_LIMIT) else None
        stop = 101.0 if order_type in (STOP, STOP_LIMIT) else None
        quantity = dice.pick((1.0, 10.0, 100.0, 2.5))
        order = make_order(coid, quantity=quantity, order_type=order_type, limit=limit, stop=stop)
        return kind, order
    if kind == "refuse":
        return kind, upd(coid, S.REJECTED, quantity=base, engine="")
    if kind == "update":
        quantity = dice.pick((base, base, base, base * 2, base / 2))
        filled = dice.pick(
            (0.0, done, done, done + 1, quantity / 2, quantity, quantity + 1, quantity * 1.1)
        )
        near = [*TRANSITIONS[current.status], current.status] if current is not None else []
        status = dice.pick(list(OrderStatus) + sorted(near) * 3)
        reason = dice.pick((None, None, REFUSED, RejectReason.TIME_IN_FORCE))
        symbol = dice.pick(("AAA",) * 9 + ("ZZZ",))
        update = upd(
            coid, status, quantity=quantity, filled=filled, reason=reason, symbol=symbol, ts=now
        )
        return kind, update
    if kind == "fill":
        fill_id = dice.pick(("f1", "f2", "f3", "f4", "f5"))
        quantity = dice.pick((base / 4, base / 2, base, 1.0, 0.0, -1.0, math.nan))
        return kind, fill(coid, fill_id, quantity, ts=now)
    if kind == "modify":
        size = dice.pick((None, None, base * 2, base / 2, done, 0.0))
        limit = dice.pick((None, 98.0, -1.0))
        stop = dice.pick((None, 102.0))
        strategy = dice.pick(("s1",) * 5 + ("s2",))
        change = modify(coid, quantity=size, limit=limit, stop=stop, strategy=strategy)
        return kind, change
    return kind, coid


def _run(book: OrderBook, kind: str, arg: object, now: int) -> None:
    if kind == "route":
        assert isinstance(arg, Order)
        book.route(arg, ENGINE, now=now)
    elif kind == "refuse":
        assert isinstance(arg, OrderUpdate)
        book.refuse(arg)
    elif kind == "update":
        assert isinstance(arg, OrderUpdate)
        book.apply_update(arg)
    elif kind == "fill":
        assert isinstance(arg, Fill)
        book.apply_fill(arg)
    elif kind == "modify":
        assert isinstance(arg, ModifyOrder)
        book.request_modify(arg, now=now)
    elif kind == "cancel":
        assert isinstance(arg, str)
        book.request_cancel(arg, now=now)
    else:
        assert isinstance(arg, str)
        book.mark_unknown(arg, now=now, message="engine lost")


@PROFILE
@given(steps=STEPS, keep=st.sampled_from([100_000, 2]))
def test_random_event_streams_never_enter_an_illegal_state(steps: list[int], keep: int) -> None:
    book = OrderBook(keep_finished=keep)
    forgotten: set[str] = set()
    for now, step in enumerate(steps, start=1_000):
        kind, arg = _chaos_step(_Dice(step), book, now)
        before = _snapshot(book)
        counts = book.counts()
        try:
            _run(book, kind, arg, now)
        except OrderStateError:
            assert _snapshot(book) == before, kind
            assert book.counts() == counts
            continue
        after = _snapshot(book)
        forgotten |= before.keys() - after.keys()
        if keep == 100_000:
            _check_invariants(book, before, after)
        else:
            assert all(v.status in TERMINAL for k, v in before.items() if k not in after)
            kept = {k: v for k, v in before.items() if k in after}
            for coid, got in after.items():
                assert got.filled_quantity <= got.quantity * (1 + 1e-9)
                old = kept.get(coid)
                if old is not None and old.status in TERMINAL:
                    assert got.history == old.history
    for coid in forgotten:
        with pytest.raises(DuplicateOrderError):
            book.route(make_order(coid), ENGINE, now=0)


# --- property: a well-behaved engine ends every order exactly once --------------------


@dataclass
class _VenueOrder:
    """The simulated venue's side of one order; it answers requests in order."""

    order: Order
    quantity: float
    limit: float | None
    stop: float | None
    fill_first: bool
    filled: float = 0.0
    acked: bool = False
    ended: OrderStatus | None = None
    inbox: deque[ModifyOrder | None] = field(default_factory=deque)
    """Requests received: a ModifyOrder, or None for a cancel."""
    outbox: deque[Fill | OrderUpdate] = field(default_factory=deque)
    """Events sent and not yet delivered to the book (in order)."""
    fill_seq: int = 0

    @property
    def working(self) -> OrderStatus:
        return S.PARTIALLY_FILLED if self.filled > 0 else S.ACCEPTED

    def send(self, status: OrderStatus, reason: RejectReason | None = None) -> None:
        if status in TERMINAL:
            self.ended = status
        self.outbox.append(
            upd(
                self.order.client_order_id,
                status,
                quantity=self.quantity,
                filled=self.filled,
                avg=100.0 if self.filled > 0 else None,
                reason=reason,
            )
        )

    def execute(self, take: float) -> None:
        self.fill_seq += 1
        self.filled += take
        done = fill(
            self.order.client_order_id, f"{self.order.client_order_id}-{self.fill_seq}", take
        )
        status = S.FILLED if self.filled == self.quantity else S.PARTIALLY_FILLED
        if self.fill_first:
            self.outbox.append(done)
            self.send(status)
        else:
            self.send(status)
            self.outbox.append(done)

    def answer_next(self, cancel_refused: bool) -> None:
        request = self.inbox.popleft()
        if self.ended is not None:
            return  # too late: the end was reported already
        if request is None:
            if cancel_refused:
                self.send(self.working, None)
            else:
                self.send(S.CANCELLED)
            return
        quantity = request.quantity if request.quantity is not None else self.quantity
        if quantity < self.filled:
            self.send(self.working, REFUSED)
            return
        self.quantity = quantity
        if request.limit_price is not None:
            self.limit = request.limit_price
        if request.stop_price is not None:
            self.stop = request.stop_price
        self.send(S.FILLED if self.filled == quantity else self.working)


class _Simulation:
    """A strategy, a venue and the book between them."""

    def __init__(self) -> None:
        self.book = OrderBook()
        self.venue: dict[str, _VenueOrder] = {}
        self.now = 10_000

    def tick(self) -> int:
        self.now += 1
        return self.now

    def route(self, quantity: float, order_type: OrderType, fill_first: bool) -> None:
        coid = f"o{len(self.venue)}"
        limit = 99.0 if order_type in (LIMIT, STOP_LIMIT) else None
        stop = 101.0 if order_type in (STOP, STOP_LIMIT) else None
        order = make_order(coid, quantity=quantity, order_type=order_type, limit=limit, stop=stop)
        self.book.route(order, ENGINE, now=self.tick())
        self.venue[coid] = _VenueOrder(order, quantity, limit, stop, fill_first)

    def ack(self, v: _VenueOrder, reject: bool) -> None:
        if reject:
            v.send(S.REJECTED, RejectReason.INVALID_ORDER)
            v.inbox.clear()
        else:
            v.acked = True
            v.send(S.ACCEPTED)

    def cancel(self, coid: str) -> None:
        if self.book.request_cancel(coid, now=self.tick()) is not None:
            self.venue[coid].inbox.append(None)

    def modify(self, change: ModifyOrder) -> None:
        try:
            engine = self.book.request_modify(change, now=self.tick())
        except IllegalTransitionError:
            return  # a request the book refuses never reaches the venue
        if engine is not None:
            self.venue[change.client_order_id].inbox.append(change)

    def lose(self, coid: str) -> None:
        """Failover: the order goes UNKNOWN, the venue reconciles if it holds it."""
        v = self.venue[coid]
        if self.book.mark_unknown(coid, now=self.tick(), message="lost") is None:
            return
        if v.acked and v.ended is None:
            v.send(v.working)

    def deliver(self, v: _VenueOrder) -> None:
        event = v.outbox.popleft()
        if isinstance(event, Fill):
            self.book.apply_fill(event)
        else:
            self.book.apply_update(event)

    def finish(self) -> None:
        """Drive every order to an end and deliver everything."""
        for v in self.venue.values():
            if v.ended is None and not v.acked:
                self.ack(v, reject=False)
            while v.inbox:
                v.answer_next(cancel_refused=False)
            if v.ended is None:
                v.send(S.CANCELLED)
            while v.outbox:
                self.deliver(v)


@PROFILE
@given(steps=st.lists(st.integers(0, 2**62), min_size=20, max_size=100))
def test_well_behaved_engine_ends_every_order_in_one_terminal_state(steps: list[int]) -> None:
    sim = _Simulation()
    for step in steps:
        dice = _Dice(step)
        venue = list(sim.venue.values())
        unacked = [v for v in venue if not v.acked and v.ended is None]
        working = [v for v in venue if v.acked and v.ended is None]
        answering = [v for v in venue if v.inbox and (v.acked or v.ended is not None)]
        sending = [v for v in venue if v.outbox]
        choices = ["route"] if len(venue) < 16 else []
        choices += ["ack", "ack"] * bool(unacked) + ["fill"] * 3 * bool(working)
        choices += ["expire"] * bool(working) + ["answer"] * 2 * bool(answering)
        choices += ["deliver"] * 4 * bool(sending)
        choices += ["cancel", "modify", "modify", "lose"] * bool(venue)
        action = dice.pick(choices)
        if action == "route":
            sim.route(
                dice.pick((1.0, 7.0, 50.0)), dice.pick(list(OrderType)), dice.pick((True, False))
            )
        elif action == "ack":
            sim.ack(dice.pick(unacked), reject=dice.pick((True, False, False)))
        elif action == "fill":
            v = dice.pick(working)
            v.execute(float(1 + dice.pick(range(int(v.quantity - v.filled)))))
        elif action == "expire":
            dice.pick(working).send(S.EXPIRED, RejectReason.TIME_IN_FORCE)
        elif action == "answer":
            dice.pick(answering).answer_next(cancel_refused=dice.pick((True, False, False)))
        elif action == "deliver":
            sim.deliver(dice.pick(sending))
        else:
            live = [got.client_order_id for got in sim.book.orders()]
            coid = dice.pick(live * 9 + sorted(sim.venue))
            if action == "cancel":
                sim.cancel(coid)
            elif action == "lose":
                sim.lose(coid)
            else:
                current = view(sim.book, coid)
                filled = current.filled_quantity
                sizes = (None, current.quantity + 5, current.quantity + 5, filled or 2.0, 1.0)
                change = modify(
                    coid,
                    quantity=dice.pick(sizes),
                    limit=dice.pick((None, 98.0)),
                    stop=dice.pick((None, 102.0)),
                )
                sim.modify(change)
    sim.finish()
    book = sim.book
    assert book.open_count == 0
    assert book.orders() == ()
    for coid, v in sim.venue.items():
        got = view(book, coid)
        ends = [status for _, status in got.history if status in TERMINAL]
        assert ends == [v.ended]
        assert got.status is v.ended
        assert (got.quantity, got.filled_quantity, got.fills_quantity) == (
            v.quantity,
            v.filled,
            v.filled,
        )
        for (_, a), (_, b) in itertools.pairwise(got.history):
            assert b in TRANSITIONS[a]
    counts = book.counts()
    assert sum(counts[s] for s in TERMINAL) == len(sim.venue)


def test_a_modify_dropped_while_a_cancel_is_pending_leaves_the_cancel_pending() -> None:
    book = OrderBook()
    order = _order_for_drop()
    book.route(order, "engine.x", now=1)
    modify = ModifyOrder(
        id=2, ts_event=2, ts_init=2, client_order_id=order.client_order_id,
        strategy_id=order.strategy_id, quantity=None, limit_price=9.5, stop_price=None,
        market_price=None,
    )  # fmt: skip
    book.request_modify(modify, now=3)
    assert book.request_cancel(order.client_order_id, now=4) == "engine.x"
    assert book.drop_modify(order.client_order_id, now=5) is S.PENDING_CANCEL
    assert book.drop_modify(order.client_order_id, now=6) is None
    view = book.get(order.client_order_id)
    assert view is not None and view.limit_price == 9.0, "the modify was not applied"
