"""The paper matching engine: prices, partial fills, time in force, events."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import matching
from runtime.config import (
    CommissionConfig,
    CommissionModel,
    PaperConfig,
    SlippageConfig,
    SlippageModel,
)
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
    Tick,
    TimeInForce,
    next_id,
)

BUY, SELL = Side.BUY, Side.SELL
MARKET, LIMIT, STOP, STOP_LIMIT = (
    OrderType.MARKET,
    OrderType.LIMIT,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
)
MINUTE = 60 * 1_000_000_000
T0 = int(datetime(2024, 1, 2, 9, 30, tzinfo=UTC).timestamp()) * 1_000_000_000
"""2024-01-02 09:30 UTC: when test orders are validated."""
TS_INIT = 42


def make_engine(
    max_volume_share: float = 0.0,
    slippage: SlippageConfig | None = None,
    commission: CommissionConfig | None = None,
    name: str = "paper",
) -> MatchingEngine:
    config = PaperConfig(
        max_volume_share=max_volume_share,
        slippage=slippage or SlippageConfig(),
        commission=commission or CommissionConfig(),
    )
    return MatchingEngine(config, engine=name, clock=lambda: TS_INIT)


def make_order(
    cid: str = "o1",
    side: Side = BUY,
    quantity: float = 100.0,
    kind: OrderType = MARKET,
    *,
    limit: float | None = None,
    stop: float | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    symbol: str = "AAA",
    ts: int = T0,
) -> Order:
    return Order(
        id=next_id(),
        ts_event=ts,
        ts_init=ts,
        client_order_id=cid,
        strategy_id="s1",
        symbol=symbol,
        side=side,
        quantity=quantity,
        order_type=kind,
        limit_price=limit,
        stop_price=stop,
        time_in_force=tif,
        ts_intent=ts,
    )


def make_bar(
    o: float,
    h: float,
    low: float,
    c: float,
    volume: float = 0.0,
    *,
    n: int = 1,
    symbol: str = "AAA",
    ts: int | None = None,
) -> Bar:
    return Bar(
        id=next_id(),
        ts_event=T0 + n * MINUTE if ts is None else ts,
        ts_init=0,
        symbol=symbol,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=volume,
        interval_s=60,
    )


def make_tick(
    price: float, size: float = 0.0, *, n: int = 1, symbol: str = "AAA", ts: int | None = None
) -> Tick:
    ts_event = T0 + n * MINUTE if ts is None else ts
    return Tick(id=next_id(), ts_event=ts_event, ts_init=0, symbol=symbol, price=price, size=size)


def fills(events: Sequence[Fill | OrderUpdate]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def updates(events: Sequence[Fill | OrderUpdate]) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate)]


def fill_prices(events: Sequence[Fill | OrderUpdate]) -> list[float]:
    return [f.price for f in fills(events)]


def statuses(events: Sequence[Fill | OrderUpdate]) -> list[OrderStatus]:
    return [u.status for u in updates(events)]


def test_matching_exports_exactly_its_public_names() -> None:
    assert matching.__all__ == ["MatchingEngine"]


# --- when and at what price ---------------------------------------------------


def test_order_is_only_accepted_on_submit_and_fills_on_the_next_bar() -> None:
    engine = make_engine()
    assert engine.on_bar(make_bar(100, 101, 99, 100, n=0)) == []
    (accepted,) = engine.submit(make_order())
    assert accepted.status is OrderStatus.ACCEPTED
    assert accepted.ts_event == T0
    assert accepted.filled_quantity == 0.0
    assert accepted.avg_fill_price is None
    events = engine.on_bar(make_bar(101, 103, 100, 102, n=1))
    assert fill_prices(events) == [101.0]
    assert statuses(events) == [OrderStatus.FILLED]


def test_market_order_fills_at_the_next_bar_open() -> None:
    engine = make_engine()
    engine.submit(make_order(side=SELL, quantity=30))
    fill, update = engine.on_bar(make_bar(50.5, 51, 49, 50))
    assert isinstance(fill, Fill)
    assert (fill.quantity, fill.price, fill.side, fill.slippage) == (30, 50.5, SELL, 0.0)
    assert isinstance(update, OrderUpdate)
    assert (update.filled_quantity, update.avg_fill_price) == (30, 50.5)
    assert engine.working_orders() == ()


def test_market_order_fills_at_the_tick_price() -> None:
    engine = make_engine()
    engine.submit(make_order())
    assert fill_prices(engine.on_tick(make_tick(99.5))) == [99.5]


def test_bars_and_ticks_of_other_symbols_do_not_touch_an_order() -> None:
    engine = make_engine()
    engine.submit(make_order(symbol="AAA"))
    assert engine.on_bar(make_bar(10, 11, 9, 10, symbol="BBB")) == []
    assert engine.on_tick(make_tick(10, symbol="BBB")) == []
    assert engine.working_orders() == ("o1",)


@pytest.mark.parametrize(
    ("side", "limit", "bar", "expected"),
    [
        (BUY, 100.0, (101, 102, 100.5, 101), None),  # low above the limit
        (BUY, 100.0, (101, 102, 99, 101), 100.0),  # trades through: at the limit
        (BUY, 100.0, (100, 102, 100, 101), 100.0),  # touches exactly
        (BUY, 100.0, (98, 99, 97, 98), 98.0),  # opens below: price improvement
        (SELL, 105.0, (103, 104.9, 102, 104), None),
        (SELL, 105.0, (103, 106, 102, 104), 105.0),
        (SELL, 105.0, (107, 108, 106, 107), 107.0),  # opens above: improvement
    ],
)
def test_limit_order_fills_on_bars(
    side: Side, limit: float, bar: tuple[float, float, float, float], expected: float | None
) -> None:
    engine = make_engine()
    engine.submit(make_order(side=side, kind=LIMIT, limit=limit))
    events = engine.on_bar(make_bar(*bar))
    assert fill_prices(events) == ([] if expected is None else [expected])
    assert engine.working_orders() == (("o1",) if expected is None else ())


def test_limit_order_on_ticks_fills_at_the_first_tick_at_or_through_the_limit() -> None:
    engine = make_engine()
    engine.submit(make_order(kind=LIMIT, limit=100.0))
    assert engine.on_tick(make_tick(100.2, n=1)) == []
    assert fill_prices(engine.on_tick(make_tick(99.9, n=2))) == [99.9]


@pytest.mark.parametrize(
    ("side", "stop", "bar", "expected"),
    [
        (BUY, 105.0, (103, 104.9, 102, 104), None),
        (BUY, 105.0, (103, 106, 102, 104), 105.0),  # triggers inside the bar
        (BUY, 105.0, (107, 108, 106, 107), 107.0),  # gaps over: at the open
        (SELL, 95.0, (97, 98, 95.1, 97), None),
        (SELL, 95.0, (97, 98, 94, 96), 95.0),
        (SELL, 95.0, (93, 94, 92, 93), 93.0),
    ],
)
def test_stop_order_fills_on_bars(
    side: Side, stop: float, bar: tuple[float, float, float, float], expected: float | None
) -> None:
    engine = make_engine()
    engine.submit(make_order(side=side, kind=STOP, stop=stop))
    assert fill_prices(engine.on_bar(make_bar(*bar))) == ([] if expected is None else [expected])


def test_stop_order_on_ticks_fills_at_the_triggering_tick() -> None:
    engine = make_engine()
    engine.submit(make_order(side=SELL, kind=STOP, stop=95.0))
    assert engine.on_tick(make_tick(95.2, n=1)) == []
    assert fill_prices(engine.on_tick(make_tick(94.7, n=2))) == [94.7]


def test_stop_limit_triggered_inside_the_bar_fills_at_the_stop() -> None:
    engine = make_engine()
    engine.submit(make_order(kind=STOP_LIMIT, stop=105.0, limit=106.0))
    assert fill_prices(engine.on_bar(make_bar(103, 107, 102, 106))) == [105.0]


def test_stop_limit_with_limit_below_stop_fills_on_the_trigger_bar_if_the_range_reaches_it() -> (
    None
):
    engine = make_engine()
    engine.submit(make_order(kind=STOP_LIMIT, stop=105.0, limit=104.0))
    assert fill_prices(engine.on_bar(make_bar(103, 106, 102, 105))) == [104.0]


def test_sell_stop_limit_fills_at_the_stop_when_the_limit_is_below_it() -> None:
    engine = make_engine()
    engine.submit(make_order(side=SELL, kind=STOP_LIMIT, stop=95.0, limit=94.0))
    assert fill_prices(engine.on_bar(make_bar(97, 98, 93, 94))) == [95.0]


def test_triggered_stop_limit_keeps_working_as_a_limit_order() -> None:
    engine = make_engine()
    engine.submit(make_order(kind=STOP_LIMIT, stop=105.0, limit=106.0))
    # gaps to 108 (triggered) but never trades back to 106
    assert engine.on_bar(make_bar(108, 109, 107, 108, n=1)) == []
    # does not reach the stop again, but is now a limit buy at 106
    assert fill_prices(engine.on_bar(make_bar(104, 104.5, 103, 104, n=2))) == [104.0]


def test_stop_limit_on_ticks_triggers_then_waits_for_the_limit() -> None:
    engine = make_engine()
    engine.submit(make_order(kind=STOP_LIMIT, stop=105.0, limit=106.0))
    assert engine.on_tick(make_tick(104.0, n=1)) == []
    assert engine.on_tick(make_tick(107.0, n=2)) == []
    assert fill_prices(engine.on_tick(make_tick(105.8, n=3))) == [105.8]


# --- slippage and commission --------------------------------------------------

TEN_BPS = SlippageConfig(model=SlippageModel.FIXED_BPS, bps=10.0)


@pytest.mark.parametrize(("side", "price"), [(BUY, 100.1), (SELL, 99.9)])
def test_slippage_moves_market_fills_against_the_order(side: Side, price: float) -> None:
    engine = make_engine(slippage=TEN_BPS)
    engine.submit(make_order(side=side))
    (fill,) = fills(engine.on_bar(make_bar(100, 101, 99, 100)))
    assert fill.price == pytest.approx(price)
    assert fill.slippage == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("bar_open", "price", "slippage"),
    [
        (101.0, 100.0, 0.0),  # at the limit: slippage fully clamped
        (99.95, 100.0, 0.05),  # improvement partly eaten by slippage
        (99.5, 99.5995, 0.0995),  # improvement larger than slippage
    ],
)
def test_slippage_never_pushes_a_limit_buy_through_its_limit(
    bar_open: float, price: float, slippage: float
) -> None:
    engine = make_engine(slippage=TEN_BPS)
    engine.submit(make_order(kind=LIMIT, limit=100.0))
    (fill,) = fills(engine.on_bar(make_bar(bar_open, 102, 99, 101)))
    assert fill.price == pytest.approx(price)
    assert fill.slippage == pytest.approx(slippage)


def test_slippage_never_pushes_a_stop_limit_sell_through_its_limit() -> None:
    engine = make_engine(slippage=TEN_BPS)
    engine.submit(make_order(side=SELL, kind=STOP_LIMIT, stop=95.0, limit=94.98))
    # triggers at 95, 10 bps = 0.095 -> 94.905, clamped to 94.98
    (fill,) = fills(engine.on_bar(make_bar(97, 98, 93, 94)))
    assert fill.price == pytest.approx(94.98)
    assert fill.slippage == pytest.approx(0.02)


def test_stop_fills_are_slipped_without_a_clamp() -> None:
    engine = make_engine(slippage=TEN_BPS)
    engine.submit(make_order(kind=STOP, stop=105.0))
    (fill,) = fills(engine.on_bar(make_bar(103, 106, 102, 104)))
    assert fill.price == pytest.approx(105.105)


def test_volume_share_slippage_uses_fill_quantity_and_bar_volume() -> None:
    slippage = SlippageConfig(model=SlippageModel.VOLUME_SHARE, impact_bps=100.0, exponent=0.5)
    engine = make_engine(slippage=slippage)
    engine.submit(make_order(quantity=100))
    # sqrt(100 / 10_000) * 100 = 10 bps of 200 = 0.2
    (fill,) = fills(engine.on_bar(make_bar(200, 201, 199, 200, volume=10_000)))
    assert fill.price == pytest.approx(200.2)


def test_commission_is_charged_on_each_fill() -> None:
    commission = CommissionConfig(model=CommissionModel.PER_SHARE, per_share=0.01, minimum=1.0)
    engine = make_engine(max_volume_share=0.1, commission=commission)
    engine.submit(make_order(quantity=250))
    first = fills(engine.on_bar(make_bar(50, 51, 49, 50, volume=2_000, n=1)))
    second = fills(engine.on_bar(make_bar(50, 51, 49, 50, volume=500, n=2)))
    # 200 * 0.01 = 2.0; then 50 * 0.01 = 0.5 -> minimum 1.0
    assert [f.commission for f in first + second] == pytest.approx([2.0, 1.0])


# --- partial fills ------------------------------------------------------------


def test_volume_cap_spreads_a_market_order_over_bars_at_each_open() -> None:
    engine = make_engine(max_volume_share=0.1)
    engine.submit(make_order(quantity=250))
    events = [engine.on_bar(make_bar(10 + n, 13, 9, 11, volume=1_000, n=n)) for n in (0, 1, 2)]
    assert [[(f.quantity, f.price) for f in fills(e)] for e in events] == [
        [(100, 10)],
        [(100, 11)],
        [(50, 12)],
    ]
    last = updates(events[-1])[-1]
    assert [statuses(e) for e in events] == [
        [OrderStatus.PARTIALLY_FILLED],
        [OrderStatus.PARTIALLY_FILLED],
        [OrderStatus.FILLED],
    ]
    assert [updates(e)[0].filled_quantity for e in events] == [100, 200, 250]
    # (100 * 10 + 100 * 11 + 50 * 12) / 250
    assert last.avg_fill_price == pytest.approx(10.8)


def test_capped_limit_order_carries_its_limit_to_the_next_bar() -> None:
    engine = make_engine(max_volume_share=0.5)
    engine.submit(make_order(quantity=150, kind=LIMIT, limit=100.0))
    assert fill_prices(engine.on_bar(make_bar(99, 100, 98, 99, volume=200, n=1))) == [99]
    assert engine.on_bar(make_bar(101, 102, 100.5, 101, volume=200, n=2)) == []
    events = engine.on_bar(make_bar(101, 102, 99.5, 101, volume=200, n=3))
    assert [(f.quantity, f.price) for f in fills(events)] == [(50, 100.0)]


def test_integral_orders_fill_in_whole_units_and_fractional_ones_do_not() -> None:
    engine = make_engine(max_volume_share=0.1)
    engine.submit(make_order("whole", quantity=150))
    assert [f.quantity for f in fills(engine.on_bar(make_bar(10, 11, 9, 10, volume=995)))] == [99]
    engine = make_engine(max_volume_share=0.1)
    engine.submit(make_order("part", quantity=150.5))
    (fill,) = fills(engine.on_bar(make_bar(10, 11, 9, 10, volume=995)))
    assert fill.quantity == pytest.approx(99.5)


def test_integral_order_gets_nothing_when_its_share_is_under_one_unit() -> None:
    engine = make_engine(max_volume_share=0.001)
    engine.submit(make_order(quantity=5))
    assert engine.on_bar(make_bar(10, 11, 9, 10, volume=500, n=1)) == []
    assert [f.quantity for f in fills(engine.on_bar(make_bar(10, 11, 9, 10, 2_000, n=2)))] == [2]


def test_orders_on_one_symbol_share_the_bar_volume_in_submission_order() -> None:
    engine = make_engine(max_volume_share=0.1)
    engine.submit(make_order("a", quantity=80))
    engine.submit(make_order("b", quantity=80))
    first = engine.on_bar(make_bar(10, 11, 9, 10, volume=1_000, n=1))
    assert [(f.client_order_id, f.quantity) for f in fills(first)] == [("a", 80), ("b", 20)]
    second = engine.on_bar(make_bar(10, 11, 9, 10, volume=1_000, n=2))
    assert [(f.client_order_id, f.quantity) for f in fills(second)] == [("b", 60)]


def test_unknown_volume_means_no_cap() -> None:
    engine = make_engine(max_volume_share=0.01)
    engine.submit(make_order(quantity=1_000_000))
    assert [f.quantity for f in fills(engine.on_bar(make_bar(10, 11, 9, 10, volume=0)))] == [
        1_000_000
    ]


def test_tick_size_caps_a_fill_like_bar_volume() -> None:
    engine = make_engine(max_volume_share=0.5)
    engine.submit(make_order(quantity=8))
    assert [f.quantity for f in fills(engine.on_tick(make_tick(10, size=10, n=1)))] == [5]
    assert [f.quantity for f in fills(engine.on_tick(make_tick(10, size=10, n=2)))] == [3]


# --- time in force ----------------------------------------------------------------


def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    engine = make_engine(max_volume_share=0.1)
    engine.submit(make_order(quantity=250, tif=TimeInForce.IOC))
    events = engine.on_bar(make_bar(10, 11, 9, 10, volume=1_000))
    assert [f.quantity for f in fills(events)] == [100]
    partial, cancelled = updates(events)
    assert partial.status is OrderStatus.PARTIALLY_FILLED
    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.reason is RejectReason.TIME_IN_FORCE
    assert (cancelled.filled_quantity, cancelled.avg_fill_price) == (100, 10)
    assert engine.working_orders() == ()


def test_ioc_limit_that_does_not_reach_its_price_is_cancelled() -> None:
    engine = make_engine()
    engine.submit(make_order(kind=LIMIT, limit=90.0, tif=TimeInForce.IOC))
    (cancelled,) = engine.on_bar(make_bar(100, 101, 99, 100))
    assert isinstance(cancelled, OrderUpdate)
    assert (cancelled.status, cancelled.reason) == (
        OrderStatus.CANCELLED,
        RejectReason.TIME_IN_FORCE,
    )
    assert cancelled.filled_quantity == 0.0


def test_ioc_that_fills_entirely_is_only_filled() -> None:
    engine = make_engine()
    engine.submit(make_order(tif=TimeInForce.IOC))
    assert statuses(engine.on_bar(make_bar(10, 11, 9, 10))) == [OrderStatus.FILLED]


def test_fok_that_cannot_fill_entirely_is_cancelled_and_leaves_the_volume() -> None:
    engine = make_engine(max_volume_share=0.1)
    engine.submit(make_order("fok", quantity=250, tif=TimeInForce.FOK))
    engine.submit(make_order("gtc", quantity=80))
    events = engine.on_bar(make_bar(10, 11, 9, 10, volume=1_000))
    assert [(f.client_order_id, f.quantity) for f in fills(events)] == [("gtc", 80)]
    fok = [u for u in updates(events) if u.client_order_id == "fok"]
    assert [(u.status, u.reason, u.filled_quantity) for u in fok] == [
        (OrderStatus.CANCELLED, RejectReason.TIME_IN_FORCE, 0.0)
    ]


def test_fok_that_can_fill_entirely_fills() -> None:
    engine = make_engine(max_volume_share=0.1)
    engine.submit(make_order(quantity=100, tif=TimeInForce.FOK))
    events = engine.on_bar(make_bar(10, 11, 9, 10, volume=1_000))
    assert [f.quantity for f in fills(events)] == [100]
    assert statuses(events) == [OrderStatus.FILLED]


def test_day_order_expires_on_the_first_bar_of_a_later_date() -> None:
    engine = make_engine()
    engine.submit(make_order(kind=LIMIT, limit=90.0, tif=TimeInForce.DAY))
    late_same_day = T0 + (14 * 60 + 29) * MINUTE  # 2024-01-02 23:59 UTC
    assert engine.on_bar(make_bar(100, 101, 99, 100, ts=late_same_day)) == []
    next_day = T0 + (14 * 60 + 30) * MINUTE  # 2024-01-03 00:00 UTC
    # the bar reaches the limit, but the order has expired before matching
    (expired,) = engine.on_bar(make_bar(89, 90, 88, 89, ts=next_day))
    assert isinstance(expired, OrderUpdate)
    assert (expired.status, expired.reason) == (OrderStatus.EXPIRED, RejectReason.TIME_IN_FORCE)
    assert expired.ts_event == next_day
    assert engine.working_orders() == ()


def test_day_order_fills_on_its_own_date() -> None:
    engine = make_engine()
    engine.submit(make_order(tif=TimeInForce.DAY))
    assert statuses(engine.on_bar(make_bar(10, 11, 9, 10))) == [OrderStatus.FILLED]


def test_gtc_order_works_across_dates() -> None:
    engine = make_engine()
    engine.submit(make_order(kind=LIMIT, limit=90.0))
    for day in range(1, 4):
        assert engine.on_bar(make_bar(100, 101, 99, 100, ts=T0 + day * 1440 * MINUTE)) == []
    assert fill_prices(engine.on_bar(make_bar(89, 90, 88, 89, ts=T0 + 5 * 1440 * MINUTE))) == [89]


# --- cancel ---------------------------------------------------------------------


def test_cancel_ends_a_partly_filled_order_and_keeps_its_fills() -> None:
    engine = make_engine(max_volume_share=0.1)
    engine.submit(make_order(quantity=250))
    engine.on_bar(make_bar(10, 11, 9, 10, volume=1_000, n=1))
    (cancelled,) = engine.cancel("o1", ts_event=T0 + 5 * MINUTE)
    assert (cancelled.status, cancelled.reason, cancelled.message) == (
        OrderStatus.CANCELLED,
        None,
        "",
    )
    assert (cancelled.filled_quantity, cancelled.avg_fill_price) == (100, 10)
    assert cancelled.ts_event == T0 + 5 * MINUTE
    assert engine.on_bar(make_bar(10, 11, 9, 10, volume=1_000, n=2)) == []
    assert engine.cancel("o1", ts_event=T0) == []


def test_cancel_of_an_unknown_or_filled_order_is_a_no_op() -> None:
    engine = make_engine()
    assert engine.cancel("nope", ts_event=T0) == []
    engine.submit(make_order())
    engine.on_bar(make_bar(10, 11, 9, 10))
    assert engine.cancel("o1", ts_event=T0) == []


def test_cancel_leaves_other_orders_of_the_symbol_working() -> None:
    engine = make_engine()
    engine.submit(make_order("a", kind=LIMIT, limit=50.0))
    engine.submit(make_order("b", kind=LIMIT, limit=50.0))
    engine.cancel("a", ts_event=T0)
    assert engine.working_orders() == ("b",)
    assert [f.client_order_id for f in fills(engine.on_bar(make_bar(49, 50, 48, 49)))] == ["b"]


def test_cancel_all_cancels_every_working_order_in_submission_order() -> None:
    engine = make_engine()
    engine.submit(make_order("a", kind=LIMIT, limit=50.0, symbol="AAA"))
    engine.submit(make_order("b", kind=STOP, stop=150.0, symbol="BBB"))
    engine.submit(make_order("c", kind=LIMIT, limit=50.0, symbol="AAA"))
    assert engine.working_orders() == ("a", "b", "c")
    events = engine.cancel_all(T0 + MINUTE, RejectReason.SHUTDOWN, "runtime stopping")
    assert [(u.client_order_id, u.status, u.reason, u.message) for u in events] == [
        (cid, OrderStatus.CANCELLED, RejectReason.SHUTDOWN, "runtime stopping")
        for cid in ("a", "b", "c")
    ]
    assert engine.working_orders() == ()
    assert engine.on_bar(make_bar(10, 200, 9, 10)) == []
    assert engine.cancel_all(T0, RejectReason.SHUTDOWN, "again") == []


# --- validation and ids ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "quantity", "limit", "stop", "needle"),
    [
        (MARKET, 0.0, None, None, "quantity"),
        (MARKET, -5.0, None, None, "quantity"),
        (MARKET, math.nan, None, None, "quantity"),
        (MARKET, math.inf, None, None, "quantity"),
        (LIMIT, 10.0, None, None, "limit_price"),
        (LIMIT, 10.0, 0.0, None, "limit_price"),
        (LIMIT, 10.0, -1.0, None, "limit_price"),
        (LIMIT, 10.0, math.nan, None, "limit_price"),
        (STOP, 10.0, None, None, "stop_price"),
        (STOP, 10.0, None, -3.0, "stop_price"),
        (STOP_LIMIT, 10.0, None, 100.0, "limit_price"),
        (STOP_LIMIT, 10.0, 100.0, None, "stop_price"),
        (MARKET, 10.0, 100.0, None, "limit_price"),
        (MARKET, 10.0, None, 100.0, "stop_price"),
        (LIMIT, 10.0, 100.0, 99.0, "stop_price"),
        (STOP, 10.0, 101.0, 100.0, "limit_price"),
    ],
)
def test_invalid_orders_are_rejected_with_a_reason_and_message(
    kind: OrderType, quantity: float, limit: float | None, stop: float | None, needle: str
) -> None:
    engine = make_engine()
    (rejected,) = engine.submit(make_order(quantity=quantity, kind=kind, limit=limit, stop=stop))
    assert (rejected.status, rejected.reason) == (OrderStatus.REJECTED, RejectReason.INVALID_ORDER)
    assert needle in rejected.message
    assert engine.working_orders() == ()
    assert engine.on_bar(make_bar(100, 200, 1, 100)) == []


def test_duplicate_client_order_ids_are_rejected_even_after_the_first_ended() -> None:
    engine = make_engine()
    assert [u.status for u in engine.submit(make_order("o1"))] == [OrderStatus.ACCEPTED]
    (dup,) = engine.submit(make_order("o1"))
    assert (dup.status, dup.reason) == (OrderStatus.REJECTED, RejectReason.DUPLICATE_ORDER)
    assert "o1" in dup.message
    engine.on_bar(make_bar(10, 11, 9, 10))
    assert engine.submit(make_order("o1"))[0].reason is RejectReason.DUPLICATE_ORDER
    engine.submit(make_order("bad", quantity=-1))
    assert engine.submit(make_order("bad"))[0].reason is RejectReason.DUPLICATE_ORDER
    assert engine.working_orders() == ()


def test_fill_ids_are_unique_and_numbered_per_engine() -> None:
    engine = make_engine(max_volume_share=0.1, name="sim")
    engine.submit(make_order("a", quantity=300))
    engine.submit(make_order("b", quantity=300, symbol="BBB"))
    seen: list[Fill] = []
    for n in range(1, 4):
        seen += fills(engine.on_bar(make_bar(10, 11, 9, 10, volume=1_000, n=n)))
        seen += fills(engine.on_bar(make_bar(10, 11, 9, 10, volume=1_000, n=n, symbol="BBB")))
    assert [f.fill_id for f in seen] == [f"sim-{i}" for i in range(1, 7)]
    assert len({f.id for f in seen}) == 6


def test_events_carry_engine_times_and_ids() -> None:
    engine = make_engine(name="paper-2")
    (accepted,) = engine.submit(make_order())
    bar = make_bar(10, 11, 9, 10)
    fill, filled = engine.on_bar(bar)
    for event in (accepted, fill, filled):
        assert event.engine == "paper-2"
        assert event.ts_init == TS_INIT
    assert fill.ts_event == filled.ts_event == bar.ts_event
    assert len({accepted.id, fill.id, filled.id}) == 3
    assert isinstance(filled, OrderUpdate)
    assert (filled.message, filled.reason, filled.strategy_id) == ("", None, "s1")


def test_engine_refuses_a_negative_volume_share() -> None:
    with pytest.raises(ValueError, match="max_volume_share"):
        make_engine(max_volume_share=-0.1)


# --- properties -----------------------------------------------------------------

SYMBOLS = ("AAA", "AAA", "BBB")
half_steps = st.integers(-8, 8).map(lambda n: n / 2)
"""Prices on a 0.5 grid around 100, so that bars often touch limits and stops exactly."""
order_steps = st.tuples(
    st.just("order"),
    st.sampled_from(SYMBOLS),
    st.sampled_from(Side),
    st.one_of(st.integers(1, 400).map(float), st.floats(0.01, 400.0)),
    st.sampled_from(OrderType),
    half_steps,
    half_steps,
    st.sampled_from(TimeInForce),
)
bar_steps = st.tuples(
    st.just("bar"),
    st.sampled_from(SYMBOLS),
    half_steps,
    st.integers(0, 8).map(lambda n: n / 2),
    st.floats(0.0, 1.0),
    st.sampled_from([0.0, 1.0, 50.0, 1_000.0]),
    st.integers(0, 5).map(lambda n: n == 0),  # now and then a new date
)
tick_steps = st.tuples(
    st.just("tick"),
    st.sampled_from(SYMBOLS),
    half_steps,
    st.sampled_from([0.0, 3.0, 100.0]),
)
cancel_steps = st.tuples(st.just("cancel"), st.integers(0, 30))


@settings(max_examples=300, deadline=None)
@given(
    max_share=st.sampled_from([0.0, 0.05, 0.3, 1.0]),
    bps=st.sampled_from([0.0, 7.0, 30.0]),
    steps=st.lists(
        st.one_of(order_steps, order_steps, bar_steps, bar_steps, tick_steps, cancel_steps),
        min_size=5,
        max_size=80,
    ),
)
def test_random_orders_and_bars_keep_the_matching_invariants(
    max_share: float, bps: float, steps: list[tuple[Any, ...]]
) -> None:
    engine = make_engine(
        max_volume_share=max_share,
        slippage=SlippageConfig(model=SlippageModel.FIXED_BPS, bps=bps),
        commission=CommissionConfig(model=CommissionModel.BPS, bps=1.0),
    )
    now = T0
    orders: dict[str, Order] = {}
    submitted_at: dict[str, int] = {}
    filled: dict[str, float] = {}
    ended: set[str] = set()
    for step in steps:
        events: list[Fill | OrderUpdate] = []
        low = high = 0.0
        volume = 0.0
        if step[0] == "order":
            _, symbol, side, quantity, kind, a, b, tif = step
            cid = f"o{len(orders)}"
            limit = 100.0 + a if kind in (LIMIT, STOP_LIMIT) else None
            stop = 100.0 + b if kind in (STOP, STOP_LIMIT) else None
            order = make_order(
                cid, side, quantity, kind, limit=limit, stop=stop, tif=tif, symbol=symbol, ts=now
            )
            (accepted,) = engine.submit(order)
            assert accepted.status is OrderStatus.ACCEPTED, accepted.message
            orders[cid], submitted_at[cid], filled[cid] = order, now, 0.0
            continue
        if step[0] == "cancel":
            cid = f"o{step[1]}"
            result = engine.cancel(cid, ts_event=now)
            assert len(result) == (1 if cid in orders and cid not in ended else 0)
            events = list(result)
        elif step[0] == "bar":
            _, symbol, offset, height, at, volume, new_day = step
            now += 1440 * MINUTE if new_day else MINUTE
            low = 99.0 + offset
            high = low + height
            bar = make_bar(low + at * height, high, low, low, volume, symbol=symbol, ts=now)
            events = engine.on_bar(bar)
        else:
            _, symbol, offset, volume = step
            now += MINUTE
            low = high = 100.0 + offset
            events = engine.on_tick(make_tick(low, volume, symbol=symbol, ts=now))
        taken = 0.0
        for i, event in enumerate(events):
            cid = event.client_order_id
            order = orders[cid]
            assert cid not in ended, "an event after a terminal state"
            if isinstance(event, Fill):
                taken += event.quantity
                assert event.ts_event == now > submitted_at[cid]
                assert event.symbol == order.symbol
                assert 0.0 <= event.slippage <= high * bps / 10_000 + 1e-9
                assert low - event.slippage - 1e-9 <= event.price <= high + event.slippage + 1e-9
                if order.limit_price is not None:
                    assert event.side.sign * (event.price - order.limit_price) <= 1e-9
                if order.time_in_force is TimeInForce.FOK:
                    assert event.quantity == order.quantity
                following = events[i + 1]
                assert isinstance(following, OrderUpdate)
                assert following.client_order_id == cid
                assert following.filled_quantity == pytest.approx(filled[cid] + event.quantity)
                continue
            assert event.filled_quantity >= filled[cid]
            assert event.filled_quantity <= order.quantity
            filled[cid] = event.filled_quantity
            if event.status.is_terminal:
                ended.add(cid)
        if max_share > 0 and volume > 0:
            assert taken <= max_share * volume * (1 + 1e-9)
        if step[0] != "cancel":
            # IOC and FOK orders of the symbol end on the first bar or tick they see
            assert not [
                cid
                for cid, order in orders.items()
                if order.symbol == symbol
                and order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
                and cid not in ended
            ]
    assert engine.working_orders() == tuple(c for c in orders if c not in ended)


def test_volume_cap_is_not_shaved_by_float_noise() -> None:
    # 0.29 * 100 is 28.999999999999996 in binary floating point: the cap is 29.
    engine = make_engine(max_volume_share=0.29)
    engine.submit(make_order(quantity=100))
    (fill,) = fills(engine.on_bar(make_bar(10, 11, 9, 10, volume=100)))
    assert fill.quantity == 29
