"""The paper matching engine: modifying working orders (quantity, limit, stop)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.config import PaperConfig
from runtime.matching import MatchingEngine
from runtime.messages import (
    Bar,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RejectReason,
    Side,
    TimeInForce,
    next_id,
)

MINUTE = 60 * 1_000_000_000
T0 = int(datetime(2024, 1, 2, 9, 30, tzinfo=UTC).timestamp()) * 1_000_000_000
TS_INIT = 42
REFUSED = RejectReason.MODIFY_REFUSED


def make_engine(max_volume_share: float = 0.0) -> MatchingEngine:
    config = PaperConfig(max_volume_share=max_volume_share)
    return MatchingEngine(config, engine="paper", clock=lambda: TS_INIT)


def make_order(
    cid: str = "o1",
    quantity: float = 100.0,
    kind: OrderType = OrderType.LIMIT,
    *,
    side: Side = Side.BUY,
    limit: float | None = 99.0,
    stop: float | None = None,
) -> Order:
    return Order(
        id=next_id(),
        ts_event=T0,
        ts_init=T0,
        client_order_id=cid,
        strategy_id="s",
        symbol="AAA",
        side=side,
        quantity=quantity,
        order_type=kind,
        limit_price=limit,
        stop_price=stop,
        time_in_force=TimeInForce.GTC,
        ts_intent=T0,
    )


def bar(i: int, open_: float, high: float, low: float, close: float, *, volume: float = 1e3) -> Bar:
    return Bar(
        id=next_id(),
        ts_event=T0 + i * MINUTE,
        ts_init=0,
        symbol="AAA",
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        interval_s=60,
    )


def shape(update: OrderUpdate) -> tuple[OrderStatus, float, float, RejectReason | None]:
    return update.status, update.quantity, update.filled_quantity, update.reason


def fills(events: list[Fill | OrderUpdate]) -> list[tuple[float, float]]:
    return [(e.quantity, e.price) for e in events if isinstance(e, Fill)]


def test_a_working_order_can_grow_and_shrink_and_then_fills_its_new_quantity() -> None:
    engine = make_engine()
    engine.submit(make_order(quantity=100.0))
    (up,) = engine.modify("o1", 150.0, None, None, T0 + 1)
    assert shape(up) == (OrderStatus.ACCEPTED, 150.0, 0.0, None)
    assert (up.ts_event, up.message, up.engine) == (T0 + 1, "", "paper")
    (down,) = engine.modify("o1", 40.0, None, None, T0 + 2)
    assert shape(down) == (OrderStatus.ACCEPTED, 40.0, 0.0, None)
    events = engine.on_bar(bar(1, 100.0, 100.0, 98.0, 99.0))
    assert fills(events) == [(40.0, 99.0)]
    last = events[-1]
    assert isinstance(last, OrderUpdate)
    assert shape(last) == (OrderStatus.FILLED, 40.0, 40.0, None)
    assert engine.working_orders() == ()


def test_a_partly_filled_order_can_change_but_not_below_what_filled() -> None:
    engine = make_engine(max_volume_share=0.1)  # 100 of a 1000 bar: 100 per bar
    engine.submit(make_order(quantity=300.0))
    first = engine.on_bar(bar(1, 99.0, 99.0, 98.0, 99.0))
    assert fills(first) == [(100.0, 99.0)]
    (below,) = engine.modify("o1", 50.0, None, None, T0 + 5)
    assert shape(below) == (OrderStatus.PARTIALLY_FILLED, 300.0, 100.0, REFUSED)
    assert below.message == "quantity 50 is below the 100 already filled"
    assert below.avg_fill_price == 99.0
    (more,) = engine.modify("o1", 500.0, None, None, T0 + 6)
    assert shape(more) == (OrderStatus.PARTIALLY_FILLED, 500.0, 100.0, None)
    (equal,) = engine.modify("o1", 100.0, None, None, T0 + 7)
    assert shape(equal) == (OrderStatus.FILLED, 100.0, 100.0, None)
    assert equal.message == "quantity reduced to the filled quantity"
    assert engine.working_orders() == ()
    assert engine.on_bar(bar(2, 99.0, 99.0, 98.0, 99.0)) == [], "a FILLED order no longer works"


def test_a_new_limit_price_fills_on_the_next_bar_at_the_new_price() -> None:
    engine = make_engine()
    engine.submit(make_order(limit=90.0))
    assert engine.on_bar(bar(1, 100.0, 101.0, 97.0, 100.0)) == [], "97 never reaches 90"
    (moved,) = engine.modify("o1", None, 98.0, None, T0 + 3)
    assert shape(moved) == (OrderStatus.ACCEPTED, 100.0, 0.0, None)
    events = engine.on_bar(bar(2, 100.0, 101.0, 97.0, 100.0))
    assert fills(events) == [(100.0, 98.0)], "filled at the new limit, not the old one"


def test_a_new_stop_price_triggers_at_the_new_stop_until_the_stop_has_triggered() -> None:
    engine = make_engine()
    engine.submit(make_order(kind=OrderType.STOP, limit=None, stop=110.0))
    (moved,) = engine.modify("o1", None, None, 101.0, T0 + 1)
    assert shape(moved) == (OrderStatus.ACCEPTED, 100.0, 0.0, None)
    events = engine.on_bar(bar(1, 100.0, 102.0, 99.0, 101.0))
    assert fills(events) == [(100.0, 101.0)]

    engine.submit(make_order("o2", kind=OrderType.STOP_LIMIT, limit=95.0, stop=101.0))
    engine.on_bar(bar(2, 100.0, 102.0, 99.0, 101.0))  # triggers; 99 > 95 so no fill
    assert engine.working_orders() == ("o2",)
    (late,) = engine.modify("o2", None, None, 105.0, T0 + 3)
    assert late.reason is REFUSED
    assert late.message == "the stop price cannot change: the stop already triggered"
    (limit,) = engine.modify("o2", None, 99.5, None, T0 + 4)
    assert limit.reason is None, "the limit of a triggered stop-limit may still change"
    assert fills(engine.on_bar(bar(3, 100.0, 100.0, 99.0, 99.5))) == [(100.0, 99.5)]


def test_prices_an_order_type_does_not_use_and_bad_values_are_refused() -> None:
    engine = make_engine()
    engine.submit(make_order("m", kind=OrderType.MARKET, limit=None))
    engine.submit(make_order("l"))
    cases = [
        ("m", None, 99.0, None, "MARKET order has no limit_price to change"),
        ("m", None, None, 99.0, "MARKET order has no stop_price to change"),
        ("l", None, None, 99.0, "LIMIT order has no stop_price to change"),
        ("l", None, -1.0, None, "limit_price must be a finite number > 0, got -1.0"),
        ("l", None, float("nan"), None, "limit_price must be a finite number > 0, got nan"),
        ("l", 0.0, None, None, "quantity must be a finite number > 0, got 0.0"),
        ("l", float("inf"), None, None, "quantity must be a finite number > 0, got inf"),
    ]
    for cid, quantity, limit, stop, message in cases:
        (update,) = engine.modify(cid, quantity, limit, stop, T0 + 1)
        assert shape(update) == (OrderStatus.ACCEPTED, 100.0, 0.0, REFUSED), cid
        assert update.message == message
    assert engine.working_orders() == ("m", "l"), "a refused modification leaves the order working"
    events = engine.on_bar(bar(1, 100.0, 100.0, 98.0, 99.0))
    assert fills(events) == [(100.0, 100.0), (100.0, 99.0)], "both work on unchanged"


def test_modifying_an_unknown_or_ended_order_gives_no_event() -> None:
    engine = make_engine()
    assert engine.modify("nobody", 5.0, None, None, T0) == []
    engine.submit(make_order("filled", kind=OrderType.MARKET, limit=None))
    engine.on_bar(bar(1, 100.0, 100.0, 100.0, 100.0))
    assert engine.modify("filled", 5.0, None, None, T0) == []
    engine.submit(make_order("cancelled"))
    engine.cancel("cancelled", T0)
    assert engine.modify("cancelled", 5.0, None, None, T0) == []


def test_a_modified_order_keeps_its_place_in_the_volume_share() -> None:
    engine = make_engine(max_volume_share=0.1)  # 100 per 1000-volume bar, in submission order
    engine.submit(make_order("first", quantity=50.0, kind=OrderType.MARKET, limit=None))
    engine.submit(make_order("second", quantity=100.0, kind=OrderType.MARKET, limit=None))
    engine.modify("first", 80.0, None, None, T0 + 1)
    events = engine.on_bar(bar(1, 100.0, 100.0, 100.0, 100.0))
    taken = [(e.client_order_id, e.quantity) for e in events if isinstance(e, Fill)]
    assert taken == [("first", 80.0), ("second", 20.0)]


def test_a_modification_with_nothing_to_change_answers_the_order_as_it_is() -> None:
    engine = make_engine()
    engine.submit(make_order())
    (same,) = engine.modify("o1", None, None, None, T0 + 1)
    assert shape(same) == (OrderStatus.ACCEPTED, 100.0, 0.0, None)


@settings(max_examples=60, deadline=None)
@given(
    quantity=st.integers(min_value=1, max_value=1000),
    new_quantity=st.integers(min_value=1, max_value=1000),
    share=st.sampled_from([0.05, 0.1, 0.5]),
)
def test_after_any_quantity_change_the_fills_add_up_to_the_final_quantity(
    quantity: int, new_quantity: int, share: float
) -> None:
    engine = make_engine(max_volume_share=share)
    engine.submit(make_order(quantity=float(quantity), kind=OrderType.MARKET, limit=None))
    events: list[Fill | OrderUpdate] = list(engine.on_bar(bar(1, 100.0, 100.0, 100.0, 100.0)))
    filled = sum(e.quantity for e in events if isinstance(e, Fill))
    answer = engine.modify("o1", float(new_quantity), None, None, T0 + MINUTE)
    for i in range(2, 2000):
        if not engine.working_orders():
            break
        events += engine.on_bar(bar(i, 100.0, 100.0, 100.0, 100.0))
    total = sum(e.quantity for e in events if isinstance(e, Fill))
    if filled >= quantity:  # done on the first bar: nothing left to modify
        assert answer == []
        assert total == quantity
    elif new_quantity < filled:
        assert answer[0].reason is REFUSED
        assert total == quantity
    else:
        assert answer[0].reason is None
        assert answer[0].quantity == new_quantity
        assert total == new_quantity
    assert engine.working_orders() == ()
