"""Risk rules: every limit refuses a breaching order with its reason code and exact
message, lets a compliant one through, and the ledger counts what orders do."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.config import RiskConfig, TradingHours
from runtime.errors import SettingsError
from runtime.messages import (
    Fill,
    ModifyOrder,
    OrderIntent,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RejectReason,
    RuntimeState,
    Side,
    TimeInForce,
)
from runtime.risk_rules import (
    Breach,
    RiskLedger,
    StrategyExposure,
    check_intent,
    check_modify,
    outside_trading_hours,
)
from runtime.settings import parse_settings

BUY, SELL = Side.BUY, Side.SELL
RUNNING = RuntimeState.RUNNING
_ids = itertools.count(1)


def ns(utc: str) -> int:
    """A UTC time (``2024-03-06 15:00``) as ns since the epoch."""
    moment = dt.datetime.fromisoformat(utc).replace(tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1_000_000_000


WEDNESDAY = ns("2024-03-06 15:00")


def intent(
    quantity: float = 10.0,
    *,
    side: Side = BUY,
    symbol: str = "X",
    limit: float | None = None,
    stop: float | None = None,
    market: float | None = 100.0,
    ts: int = WEDNESDAY,
    order_id: str | None = None,
    order_type: OrderType | None = None,
) -> OrderIntent:
    if order_type is None:
        if stop is None:
            order_type = OrderType.MARKET if limit is None else OrderType.LIMIT
        else:
            order_type = OrderType.STOP if limit is None else OrderType.STOP_LIMIT
    n = next(_ids)
    return OrderIntent(
        id=n, ts_event=ts, ts_init=0, client_order_id=order_id or f"c-{n}", strategy_id="s",
        symbol=symbol, side=side, quantity=quantity, order_type=order_type, limit_price=limit,
        stop_price=stop, time_in_force=TimeInForce.GTC, market_price=market,
    )  # fmt: skip


def fill(
    order_id: str, quantity: float, price: float, *, side: Side = BUY, symbol: str = "X"
) -> Fill:
    n = next(_ids)
    return Fill(
        id=n, ts_event=WEDNESDAY, ts_init=0, fill_id=f"f-{n}", client_order_id=order_id,
        strategy_id="s", symbol=symbol, side=side, quantity=quantity, price=price,
        commission=0.0, slippage=0.0, engine="paper",
    )  # fmt: skip


def modify(
    order_id: str,
    *,
    quantity: float | None = None,
    limit: float | None = None,
    stop: float | None = None,
    market: float | None = 100.0,
) -> ModifyOrder:
    return ModifyOrder(
        id=next(_ids), ts_event=WEDNESDAY, ts_init=0, client_order_id=order_id, strategy_id="s",
        quantity=quantity, limit_price=limit, stop_price=stop, market_price=market,
    )  # fmt: skip


def check(
    order: OrderIntent,
    limits: RiskConfig,
    exposure: StrategyExposure | None = None,
    *,
    mode: RuntimeState = RUNNING,
    reason: str = "",
    now: float = 0.0,
) -> Breach | None:
    exposure = StrategyExposure("s") if exposure is None else exposure
    return check_intent(order, limits, exposure, mode=mode, mode_reason=reason, now=now)


def holding(position: float, symbol: str = "X", price: float = 100.0) -> StrategyExposure:
    """An exposure with ``position`` in ``symbol`` (bought or sold at ``price``)."""
    exposure = StrategyExposure("s")
    exposure.on_fill(fill("setup", abs(position), price, side=BUY if position > 0 else SELL,
                          symbol=symbol))  # fmt: skip
    return exposure


def sent(exposure: StrategyExposure, order: OrderIntent) -> OrderIntent:
    exposure.order_sent(order)
    return order


# --- trading state and pauses ---------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "reason", "expected"),
    [
        (RuntimeState.HALTED, "daily loss",
         (RejectReason.HALTED, "trading halted: daily loss")),
        (RuntimeState.HALTED, "", (RejectReason.HALTED, "trading halted")),
        (RuntimeState.PAUSED, "operator", (RejectReason.PAUSED, "trading paused: operator")),
        (RuntimeState.STOPPING, "shutdown",
         (RejectReason.HALTED, "trading halted: runtime is STOPPING: shutdown")),
        (RuntimeState.STARTING, "", (RejectReason.HALTED, "trading halted: runtime is STARTING")),
        (RuntimeState.STOPPED, "", (RejectReason.HALTED, "trading halted: runtime is STOPPED")),
    ],
)  # fmt: skip
def test_a_state_that_does_not_trade_refuses_every_order(
    mode: RuntimeState, reason: str, expected: Breach
) -> None:
    assert check(intent(), RiskConfig(), mode=mode, reason=reason) == expected


def test_running_accepts_an_order_within_every_limit() -> None:
    assert check(intent(), RiskConfig()) is None


def test_a_paused_strategy_is_refused_until_resumed() -> None:
    exposure = StrategyExposure("s")
    exposure.pause("operator asked")
    assert check(intent(), RiskConfig(), exposure) == (
        RejectReason.PAUSED,
        "strategy s paused: operator asked",
    )
    exposure.resume()
    assert check(intent(), RiskConfig(), exposure) is None


def test_a_losing_streak_pauses_with_its_own_reason_code() -> None:
    exposure = StrategyExposure("s")
    assert [exposure.trade_closed(pnl, 3) for pnl in (-1.0, -2.0)] == [False, False]
    assert exposure.trade_closed(-0.5, 3) is True
    reason = exposure.pause_losing_streak(3)
    assert reason == "3 losing trades in a row (max_consecutive_losses 3)"
    assert check(intent(), RiskConfig(), exposure) == (
        RejectReason.LOSING_STREAK,
        "strategy s paused: 3 losing trades in a row (max_consecutive_losses 3)",
    )
    assert exposure.trade_closed(-1.0, 3) is False, "already paused: no second pause"
    exposure.resume()
    assert exposure.losses == 0
    assert check(intent(), RiskConfig(), exposure) is None


def test_a_winning_or_flat_trade_resets_the_losing_streak() -> None:
    exposure = StrategyExposure("s")
    results = [exposure.trade_closed(p, 2) for p in (-1.0, 5.0, -1.0, 0.0, -1.0, -1.0)]
    assert results == [False, False, False, False, False, True]


def test_no_streak_limit_never_pauses() -> None:
    exposure = StrategyExposure("s")
    assert not any(exposure.trade_closed(-1.0, 0) for _ in range(50))
    assert exposure.losses == 50


# --- trading hours ------------------------------------------------------------

NEW_YORK = TradingHours(start=dt.time(9, 30), end=dt.time(16, 0), timezone="America/New_York")


def test_an_order_outside_trading_hours_is_refused() -> None:
    limits = RiskConfig(trading_hours=NEW_YORK)
    early = intent(ts=ns("2024-03-06 14:29"))  # 09:29 EST
    assert check(early, limits) == (
        RejectReason.TRADING_HOURS,
        "market time wed 2024-03-06 09:29 America/New_York is outside trading_hours "
        "09:30-16:00 on mon,tue,wed,thu,fri",
    )
    assert check(intent(ts=ns("2024-03-06 14:30")), limits) is None  # 09:30 EST: opens
    assert check(intent(ts=ns("2024-03-06 20:59:59")), limits) is None
    assert check(intent(ts=ns("2024-03-06 21:00")), limits) is not None  # 16:00: closed


def test_an_order_before_any_market_time_is_refused_when_hours_apply() -> None:
    assert check(intent(ts=0), RiskConfig(trading_hours=NEW_YORK)) == (
        RejectReason.TRADING_HOURS,
        "no market time yet to check trading_hours",
    )
    assert check(intent(ts=0), RiskConfig()) is None


def test_weekends_are_closed() -> None:
    saturday_noon = ns("2024-03-09 17:00")  # 12:00 EST
    assert outside_trading_hours(NEW_YORK, saturday_noon) == (
        "market time sat 2024-03-09 12:00 America/New_York is outside trading_hours "
        "09:30-16:00 on mon,tue,wed,thu,fri"
    )
    weekend = dataclasses.replace(NEW_YORK, weekdays=(5, 6))
    assert outside_trading_hours(weekend, saturday_noon) is None


def test_the_window_follows_daylight_saving_time() -> None:
    # 13:45 UTC is 08:45 EST on Friday 8 March, 09:45 EDT on Monday 11 March.
    assert outside_trading_hours(NEW_YORK, ns("2024-03-08 13:45")) is not None
    assert outside_trading_hours(NEW_YORK, ns("2024-03-11 13:45")) is None


def test_a_window_on_the_day_clocks_spring_forward() -> None:
    # Sunday 10 March 2024, New York: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    night = TradingHours(
        start=dt.time(1, 0), end=dt.time(4, 0), timezone="America/New_York", weekdays=(6,)
    )
    assert outside_trading_hours(night, ns("2024-03-10 05:59")) is not None  # 00:59 EST
    assert outside_trading_hours(night, ns("2024-03-10 06:59")) is None  # 01:59 EST
    assert outside_trading_hours(night, ns("2024-03-10 07:00")) is None  # 03:00 EDT
    assert outside_trading_hours(night, ns("2024-03-10 08:00")) == (
        "market time sun 2024-03-10 04:00 America/New_York is outside trading_hours "
        "01:00-04:00 on sun"
    )


def test_a_window_on_the_day_clocks_fall_back() -> None:
    # Sunday 3 November 2024, New York: 01:00-02:00 happens twice (EDT, then EST).
    night = TradingHours(
        start=dt.time(1, 0), end=dt.time(2, 0), timezone="America/New_York", weekdays=(6,)
    )
    assert outside_trading_hours(night, ns("2024-11-03 05:30")) is None  # 01:30 EDT
    assert outside_trading_hours(night, ns("2024-11-03 06:30")) is None  # 01:30 EST
    assert outside_trading_hours(night, ns("2024-11-03 07:00")) is not None  # 02:00 EST


def test_a_window_across_midnight_belongs_to_the_day_it_opened() -> None:
    # Futures-like: opens 18:00 Sunday to Thursday, closes 17:00 the next day.
    futures = TradingHours(
        start=dt.time(18, 0), end=dt.time(17, 0), timezone="America/Chicago",
        weekdays=(6, 0, 1, 2, 3),
    )  # fmt: skip
    chicago = {  # UTC-6 (CST) in January 2024; 7 January is a Sunday
        "sun 17:59": (ns("2024-01-07 23:59"), False),
        "sun 18:00": (ns("2024-01-08 00:00"), True),
        "mon 03:00": (ns("2024-01-08 09:00"), True),
        "mon 17:00": (ns("2024-01-08 23:00"), False),
        "mon 18:00": (ns("2024-01-09 00:00"), True),
        "fri 16:59": (ns("2024-01-12 22:59"), True),  # the window Thursday opened
        "fri 18:00": (ns("2024-01-13 00:00"), False),  # Friday opens none
        "sat 12:00": (ns("2024-01-13 18:00"), False),
    }
    got = {k: outside_trading_hours(futures, ts) is None for k, (ts, _) in chicago.items()}
    assert got == {k: inside for k, (_, inside) in chicago.items()}


def test_trading_hours_in_another_time_zone() -> None:
    tokyo = TradingHours(start=dt.time(9, 0), end=dt.time(15, 0), timezone="Asia/Tokyo")
    # Wednesday 6 March 2024, 00:30 UTC = 09:30 JST; Tuesday 23:30 UTC = Wednesday 08:30 JST.
    assert outside_trading_hours(tokyo, ns("2024-03-06 00:30")) is None
    assert outside_trading_hours(tokyo, ns("2024-03-05 23:30")) == (
        "market time wed 2024-03-06 08:30 Asia/Tokyo is outside trading_hours "
        "09:00-15:00 on mon,tue,wed,thu,fri"
    )


def test_the_cached_trading_hours_answer_changes_with_the_minute() -> None:
    exposure = StrategyExposure("s")
    limits = RiskConfig(trading_hours=NEW_YORK)
    assert check(intent(ts=ns("2024-03-06 14:29:59")), limits, exposure) is not None
    assert check(intent(ts=ns("2024-03-06 14:30")), limits, exposure) is None
    other = RiskConfig(trading_hours=dataclasses.replace(NEW_YORK, start=dt.time(10, 0)))
    assert check(intent(ts=ns("2024-03-06 14:30:01")), other, exposure) is not None


# --- malformed and duplicate orders --------------------------------------------


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (intent(float("nan")), "quantity must be finite and > 0, got nan"),
        (intent(float("inf")), "quantity must be finite and > 0, got inf"),
        (intent(0.0), "quantity must be finite and > 0, got 0.0"),
        (intent(limit=float("nan")), "limit price must be finite and > 0, got nan"),
        (intent(stop=-1.0), "stop price must be finite and > 0, got -1.0"),
        (intent(order_type=OrderType.LIMIT), "LIMIT order without a limit price"),
        (intent(limit=10.0, order_type=OrderType.STOP_LIMIT),
         "STOP_LIMIT order without a stop price"),
    ],
)  # fmt: skip
def test_a_malformed_order_is_refused(order: OrderIntent, message: str) -> None:
    assert check(order, RiskConfig()) == (RejectReason.INVALID_ORDER, message)


def test_an_order_id_already_open_is_refused() -> None:
    exposure = StrategyExposure("s")
    sent(exposure, intent(order_id="dup"))
    assert check(intent(order_id="dup"), RiskConfig(), exposure) == (
        RejectReason.DUPLICATE_ORDER,
        "order dup is already open",
    )
    with pytest.raises(ValueError, match="order dup is already open"):
        exposure.order_sent(intent(order_id="dup"))
    exposure.on_finished("dup")
    assert check(intent(order_id="dup"), RiskConfig(), exposure) is None


# --- per-order limits -------------------------------------------------------------


def test_max_order_quantity() -> None:
    limits = RiskConfig(max_order_quantity=100)
    assert check(intent(150), limits) == (
        RejectReason.MAX_ORDER_QUANTITY,
        "quantity 150 exceeds max_order_quantity 100",
    )
    assert check(intent(100), limits) is None


def test_max_order_notional_uses_limit_then_stop_then_market_price() -> None:
    limits = RiskConfig(max_order_notional=1000)
    assert check(intent(11), limits) == (
        RejectReason.MAX_ORDER_NOTIONAL,
        "notional 1,100.00 exceeds max_order_notional 1,000.00",
    )
    assert check(intent(10), limits) is None
    assert check(intent(10, limit=101.0, market=None), limits) == (
        RejectReason.MAX_ORDER_NOTIONAL,
        "notional 1,010.00 exceeds max_order_notional 1,000.00",
    )
    assert check(intent(10, stop=99.0, market=200.0), limits) is None
    assert check(intent(10, limit=99.0, stop=150.0), limits) is None


def test_max_order_notional_without_any_price_is_refused() -> None:
    limits = RiskConfig(max_order_notional=1000)
    assert check(intent(1, market=None), limits) == (
        RejectReason.NO_MARKET_PRICE,
        "no price for X yet to check max_order_notional",
    )
    marked = StrategyExposure("s")
    marked.set_mark("X", 100.0)
    assert check(intent(10, market=None), limits, marked) is None, "the last mark prices it"


def test_price_collar() -> None:
    limits = RiskConfig(price_collar_pct=5)
    assert check(intent(limit=106.0), limits) == (
        RejectReason.PRICE_COLLAR,
        "limit price 106 is 6.00% from market price 100, beyond price_collar_pct 5",
    )
    assert check(intent(side=SELL, limit=94.5), limits) == (
        RejectReason.PRICE_COLLAR,
        "limit price 94.5 is 5.50% from market price 100, beyond price_collar_pct 5",
    )
    assert check(intent(limit=105.0), limits) is None
    assert check(intent(limit=95.0, side=SELL), limits) is None
    assert check(intent(stop=150.0), limits) is None, "a stop price is not collared"
    assert check(intent(limit=100.0, market=None), limits) == (
        RejectReason.NO_MARKET_PRICE,
        "no price for X yet to check price_collar_pct",
    )


def test_max_open_orders() -> None:
    limits = RiskConfig(max_open_orders=2)
    exposure = StrategyExposure("s")
    first = sent(exposure, intent())
    assert check(intent(), limits, exposure) is None
    sent(exposure, intent())
    assert check(intent(), limits, exposure) == (
        RejectReason.MAX_OPEN_ORDERS,
        "open orders 3 would exceed max_open_orders 2",
    )
    exposure.on_finished(first.client_order_id)
    assert check(intent(), limits, exposure) is None


# --- position and exposure ------------------------------------------------------


def test_max_position_counts_open_orders_on_the_same_side() -> None:
    limits = RiskConfig(max_position=100)
    exposure = holding(80)
    sent(exposure, intent(15, limit=100.0))
    assert check(intent(10), limits, exposure) == (
        RejectReason.MAX_POSITION,
        "worst-case position +105 in X exceeds max_position 100 "
        "(position +80, other open buys 15, this order 10)",
    )
    assert check(intent(5), limits, exposure) is None


def test_max_position_refuses_a_flip_past_the_limit_and_allows_reducing() -> None:
    limits = RiskConfig(max_position=100)
    exposure = holding(80)
    assert check(intent(190, side=SELL), limits, exposure) == (
        RejectReason.MAX_POSITION,
        "worst-case position -110 in X exceeds max_position 100 "
        "(position +80, other open sells 0, this order 190)",
    )
    assert check(intent(180, side=SELL), limits, exposure) is None
    over = RiskConfig(max_position=50)  # already over it: reducing still passes
    assert check(intent(10, side=SELL), over, exposure) is None
    assert check(intent(1), over, exposure) is not None


def _two_symbols() -> StrategyExposure:
    """Long 10 X at 100 (+1,000), short 5 Y at 200 (-1,000)."""
    exposure = holding(10, "X", 100.0)
    exposure.on_fill(fill("setup-y", 5, 200.0, side=SELL, symbol="Y"))
    return exposure


def test_max_gross_exposure() -> None:
    exposure = _two_symbols()
    assert exposure.gross_exposure() == 2000.0
    limits = RiskConfig(max_gross_exposure=2500)
    assert check(intent(6), limits, exposure) == (
        RejectReason.MAX_GROSS_EXPOSURE,
        "worst-case gross exposure 2,600.00 exceeds max_gross_exposure 2,500.00 "
        "(this order 600.00)",
    )
    assert check(intent(5), limits, exposure) is None
    assert check(intent(10, symbol="Y", market=200.0), limits, exposure) is None, "covers"


def test_exposure_over_the_limit_still_allows_reducing_orders() -> None:
    exposure = _two_symbols()  # gross 2,000, net 0; the limits were lowered below that
    gross = RiskConfig(max_gross_exposure=1500)
    assert check(intent(5, side=SELL), gross, exposure) is None
    assert check(intent(1), gross, exposure) == (
        RejectReason.MAX_GROSS_EXPOSURE,
        "worst-case gross exposure 2,100.00 exceeds max_gross_exposure 1,500.00 "
        "(this order 100.00)",
    )
    long_only = holding(10)  # net +1,000
    net = RiskConfig(max_net_exposure=500)
    assert check(intent(5, side=SELL), net, long_only) is None
    assert check(intent(1), net, long_only) == (
        RejectReason.MAX_NET_EXPOSURE,
        "worst-case net exposure +1,100.00 exceeds max_net_exposure 500.00 (this order 100.00)",
    )


def test_max_gross_exposure_counts_open_orders_at_their_price() -> None:
    exposure = _two_symbols()
    sent(exposure, intent(4, limit=120.0))  # 480 more if it fills
    sent(exposure, intent(3, side=SELL, limit=90.0))  # reduces X if it fills
    assert exposure.gross_exposure() == 2480.0
    limits = RiskConfig(max_gross_exposure=2500)
    assert check(intent(1, limit=20.0), limits, exposure) is None
    assert check(intent(1, limit=21.0), limits, exposure) == (
        RejectReason.MAX_GROSS_EXPOSURE,
        "worst-case gross exposure 2,501.00 exceeds max_gross_exposure 2,500.00 (this order 21.00)",
    )


def test_max_net_exposure() -> None:
    exposure = _two_symbols()
    assert exposure.net_exposure() == 0.0
    limits = RiskConfig(max_net_exposure=500)
    assert check(intent(6), limits, exposure) == (
        RejectReason.MAX_NET_EXPOSURE,
        "worst-case net exposure +600.00 exceeds max_net_exposure 500.00 (this order 600.00)",
    )
    assert check(intent(6, side=SELL, symbol="Y", market=200.0), limits, exposure) == (
        RejectReason.MAX_NET_EXPOSURE,
        "worst-case net exposure -1,200.00 exceeds max_net_exposure 500.00 (this order 1,200.00)",
    )
    assert check(intent(5), limits, exposure) is None
    assert check(intent(5, side=SELL), limits, exposure) is None


def test_exposure_needs_a_price_for_every_open_order() -> None:
    exposure = StrategyExposure("s")
    sent(exposure, intent(5, symbol="Z", market=None))  # a market order nobody can value
    limits = RiskConfig(max_gross_exposure=1e9)
    assert check(intent(1), limits, exposure) == (
        RejectReason.NO_MARKET_PRICE,
        "no price for Z yet to value its open orders for max_gross_exposure",
    )
    assert check(intent(1, market=None), RiskConfig(max_net_exposure=1e9)) == (
        RejectReason.NO_MARKET_PRICE,
        "no price for X yet to check max_net_exposure",
    )
    assert exposure.gross_exposure() == float("inf")
    exposure.set_mark("Z", 10.0)
    assert check(intent(1), limits, exposure) is None
    assert exposure.gross_exposure() == 50.0


# --- reducing -----------------------------------------------------------------------


def test_reducing_allows_a_closing_order_and_refuses_opening_and_flipping_ones() -> None:
    exposure = holding(50)
    mode = RuntimeState.REDUCING
    limits = RiskConfig()
    assert check(intent(50, side=SELL), limits, exposure, mode=mode) is None
    assert check(intent(10), limits, exposure, mode=mode, reason="drawdown") == (
        RejectReason.REDUCE_ONLY,
        "reduce only (drawdown): BUY 10 X would add to position +50",
    )
    assert check(intent(60, side=SELL), limits, exposure, mode=mode) == (
        RejectReason.REDUCE_ONLY,
        "reduce only: SELL 60 X with other open sells 0 would cross position +50",
    )
    assert check(intent(10, side=SELL, symbol="Y"), limits, exposure, mode=mode) == (
        RejectReason.REDUCE_ONLY,
        "reduce only: SELL 10 Y would open a position",
    )


def test_reducing_counts_other_open_orders_on_the_reducing_side() -> None:
    exposure = holding(-50)
    mode = RuntimeState.REDUCING
    sent(exposure, intent(30, limit=100.0))
    assert check(intent(20), RiskConfig(), exposure, mode=mode) is None
    assert check(intent(21), RiskConfig(), exposure, mode=mode) == (
        RejectReason.REDUCE_ONLY,
        "reduce only: BUY 21 X with other open buys 30 would cross position -50",
    )


# --- rate limit ---------------------------------------------------------------------


def test_rate_limit_with_a_fake_clock() -> None:
    limits = RiskConfig(max_orders_per_s=2, order_burst=2)
    exposure = StrategyExposure("s")
    assert [check(intent(), limits, exposure, now=10.0) for _ in range(2)] == [None, None]
    assert check(intent(), limits, exposure, now=10.0) == (
        RejectReason.RATE_LIMIT,
        "order rate exceeds max_orders_per_s 2 (burst 2); next order in 0.500s",
    )
    assert check(intent(), limits, exposure, now=10.25) == (
        RejectReason.RATE_LIMIT,
        "order rate exceeds max_orders_per_s 2 (burst 2); next order in 0.250s",
    )
    assert check(intent(), limits, exposure, now=10.5) is None
    assert check(intent(), limits, exposure, now=10.5) is not None


def test_a_refused_order_does_not_use_up_the_rate() -> None:
    limits = RiskConfig(max_orders_per_s=1, max_order_quantity=100)
    exposure = StrategyExposure("s")
    for _ in range(5):
        breach = check(intent(150), limits, exposure, now=0.0)
        assert breach is not None
        assert breach[0] is RejectReason.MAX_ORDER_QUANTITY
    assert check(intent(10), limits, exposure, now=0.0) is None
    assert check(intent(10), limits, exposure, now=0.0) is not None


def test_rate_limits_are_per_strategy() -> None:
    limits = RiskConfig(max_orders_per_s=1)
    ledger = RiskLedger()
    assert check(intent(), limits, ledger.exposure("a")) is None
    assert check(intent(), limits, ledger.exposure("a")) is not None
    assert check(intent(), limits, ledger.exposure("b")) is None


# --- rule order and overrides -----------------------------------------------------


def test_the_first_breached_rule_in_order_is_reported() -> None:
    exposure = holding(80)
    sent(exposure, intent(5, limit=100.0))
    sent(exposure, intent(5, limit=100.0))
    rate = RiskConfig(max_orders_per_s=1)
    assert check(intent(1), rate, exposure, now=0.0) is None  # takes the only token
    limits = RiskConfig(
        max_order_quantity=100, max_order_notional=10_000, price_collar_pct=5,
        max_open_orders=2, max_position=100, max_gross_exposure=20_000,
        max_net_exposure=20_000, max_orders_per_s=1,
        trading_hours=dataclasses.replace(NEW_YORK, weekdays=(5,)),  # Saturdays only
    )  # fmt: skip
    breaker = intent(150, limit=120.0)  # breaks every rule
    mode = RuntimeState.HALTED
    off = dataclasses.replace
    lift: dict[RejectReason, Callable[[RiskConfig], RiskConfig]] = {
        RejectReason.TRADING_HOURS: lambda c: off(c, trading_hours=None),
        RejectReason.MAX_ORDER_QUANTITY: lambda c: off(c, max_order_quantity=0),
        RejectReason.MAX_ORDER_NOTIONAL: lambda c: off(c, max_order_notional=0),
        RejectReason.PRICE_COLLAR: lambda c: off(c, price_collar_pct=0),
        RejectReason.MAX_OPEN_ORDERS: lambda c: off(c, max_open_orders=0),
        RejectReason.MAX_POSITION: lambda c: off(c, max_position=0),
        RejectReason.MAX_GROSS_EXPOSURE: lambda c: off(c, max_gross_exposure=0),
        RejectReason.MAX_NET_EXPOSURE: lambda c: off(c, max_net_exposure=0),
    }
    exposure.pause("operator")
    reported = []
    while (breach := check(breaker, limits, exposure, mode=mode, now=0.0)) is not None:
        reason = breach[0]
        reported.append(reason)
        if reason is RejectReason.RATE_LIMIT:
            break
        if reason is RejectReason.HALTED:
            mode = RuntimeState.REDUCING
        elif reason is RejectReason.PAUSED:
            exposure.resume()
        elif reason is RejectReason.REDUCE_ONLY:
            mode = RUNNING
        else:
            limits = lift[reason](limits)
    assert reported == [
        RejectReason.HALTED, RejectReason.PAUSED, RejectReason.TRADING_HOURS,
        RejectReason.MAX_ORDER_QUANTITY, RejectReason.MAX_ORDER_NOTIONAL,
        RejectReason.PRICE_COLLAR, RejectReason.MAX_OPEN_ORDERS, RejectReason.MAX_POSITION,
        RejectReason.MAX_GROSS_EXPOSURE, RejectReason.MAX_NET_EXPOSURE,
        RejectReason.REDUCE_ONLY, RejectReason.RATE_LIMIT,
    ]  # fmt: skip
    assert check(breaker, limits, exposure, mode=mode, now=1.0) is None


def test_a_strategy_override_beats_the_global_limit() -> None:
    global_limits = RiskConfig(max_order_quantity=100, max_position=1000)
    override = dataclasses.replace(global_limits, max_order_quantity=200)
    order = intent(150)
    assert check(order, global_limits) == (
        RejectReason.MAX_ORDER_QUANTITY,
        "quantity 150 exceeds max_order_quantity 100",
    )
    assert check(order, override) is None


_FEED = """
[feed.synthetic]
symbols = ["AAA"]
bars = 10
"""
_GLOBAL_RISK = """
[risk]
max_order_quantity = 100
max_position = 500
price_collar_pct = 5
max_orders_per_s = 10
trading_hours = "09:30-16:00"
timezone = "America/New_York"
"""
_STRATEGY = """
[[strategies]]
id = "sma"
class = "strategies.sma_crossover:SmaCrossover"
symbols = ["AAA"]
[strategies.params]
fast = 3
slow = 8
"""
_SETTINGS = _FEED + _GLOBAL_RISK + _STRATEGY


def _parse(text: str) -> RiskConfig:
    settings = parse_settings(text, source="settings.toml", base_dir=Path.cwd())
    (strategy,) = settings.strategies
    return settings.risk if strategy.risk is None else strategy.risk


def test_settings_override_replaces_only_the_keys_it_sets() -> None:
    global_limits = _parse(_SETTINGS)
    assert global_limits.trading_hours == NEW_YORK
    override = _parse(_SETTINGS + "[strategies.risk]\nmax_order_quantity = 1000\n")
    assert override == dataclasses.replace(global_limits, max_order_quantity=1000)
    assert check(intent(150), global_limits) is not None
    assert check(intent(150), override) is None


def test_settings_override_can_move_or_lift_the_trading_window() -> None:
    moved = _parse(_SETTINGS + '[strategies.risk]\ntimezone = "Europe/London"\n')
    assert moved.trading_hours == dataclasses.replace(NEW_YORK, timezone="Europe/London")
    lifted = _parse(_SETTINGS + '[strategies.risk]\ntrading_hours = ""\n')
    assert lifted.trading_hours is None
    assert lifted.max_position == 500


@pytest.mark.parametrize(
    ("risk", "key", "problem"),
    [
        ('trading_hours = "9-17"', "risk.trading_hours", 'expected "HH:MM-HH:MM"'),
        ('trading_hours = "25:00-26:00"', "risk.trading_hours", 'expected "HH:MM-HH:MM"'),
        ('trading_hours = "16:00-16:00"', "risk.trading_hours",
         "start and end are the same time in '16:00-16:00'"),
        ('trading_hours = "09:30-16:00"\ntimezone = "Mars/Olympus"', "risk.timezone",
         "unknown IANA time zone 'Mars/Olympus'"),
        ('trading_hours = "09:30-16:00"\ntrading_days = ["funday"]', "risk.trading_days",
         "expected days among mon, tue, wed, thu, fri, sat, sun; got 'funday'"),
        ('timezone = "UTC"', "risk.timezone", "needs trading_hours"),
        ("max_open_orders = -1", "risk.max_open_orders", "expected an integer >= 0, got -1"),
        ("max_consecutive_losses = 1.5", "risk.max_consecutive_losses", "expected an integer"),
        ("price_collar_pct = -1", "risk.price_collar_pct", "expected a number >= 0"),
    ],
)  # fmt: skip
def test_bad_risk_settings_name_the_key(risk: str, key: str, problem: str) -> None:
    text = _FEED + "[risk]\n" + risk + "\n" + _STRATEGY
    with pytest.raises(SettingsError) as caught:
        parse_settings(text, source="settings.toml", base_dir=Path.cwd())
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_a_bad_strategy_risk_override_names_its_key() -> None:
    text = _SETTINGS + '[strategies.risk]\ntrading_days = ["mon", "someday"]\n'
    with pytest.raises(SettingsError) as caught:
        parse_settings(text, source="settings.toml", base_dir=Path.cwd())
    assert caught.value.key == "strategies[0].risk.trading_days"


# --- modifications ------------------------------------------------------------------


def check_mod(
    change: ModifyOrder,
    limits: RiskConfig,
    exposure: StrategyExposure,
    *,
    mode: RuntimeState = RUNNING,
    reason: str = "",
    now: float = 0.0,
) -> Breach | None:
    return check_modify(change, limits, exposure, mode=mode, mode_reason=reason, now=now)


def test_a_modification_is_judged_as_a_replacement_not_counted_twice() -> None:
    limits = RiskConfig(max_position=100)
    exposure = StrategyExposure("s")
    coid = sent(exposure, intent(50, limit=100.0)).client_order_id
    assert check_mod(modify(coid, quantity=100), limits, exposure) is None
    assert check_mod(modify(coid, quantity=101), limits, exposure) == (
        RejectReason.MAX_POSITION,
        "worst-case position +101 in X exceeds max_position 100 "
        "(position +0, other open buys 0, this order 101)",
    )


def test_a_modification_counts_what_already_filled() -> None:
    limits = RiskConfig(max_position=100)
    exposure = StrategyExposure("s")
    coid = sent(exposure, intent(50, limit=100.0)).client_order_id
    exposure.on_fill(fill(coid, 30, 100.0))
    assert check_mod(modify(coid, quantity=100), limits, exposure) is None  # 30 + 70 left
    assert check_mod(modify(coid, quantity=101), limits, exposure) == (
        RejectReason.MAX_POSITION,
        "worst-case position +101 in X exceeds max_position 100 "
        "(position +30, other open buys 0, this order 71)",
    )


def test_a_modification_does_not_count_as_another_open_order() -> None:
    exposure = StrategyExposure("s")
    coid = sent(exposure, intent(5, limit=100.0)).client_order_id
    change = modify(coid, quantity=8, limit=101.0)
    assert check_mod(change, RiskConfig(max_open_orders=1), exposure) is None


def test_only_risk_reducing_modifications_pass_while_halted_or_paused() -> None:
    exposure = StrategyExposure("s")
    coid = sent(exposure, intent(50, limit=100.0)).client_order_id
    halted = RuntimeState.HALTED
    for change in (modify(coid, quantity=20), modify(coid, quantity=50), modify(coid, limit=100.0)):
        assert check_mod(change, RiskConfig(), exposure, mode=halted) is None
    assert check_mod(modify(coid, limit=99.0), RiskConfig(), exposure, mode=halted,
                     reason="kill") == (RejectReason.HALTED, "trading halted: kill")  # fmt: skip
    exposure.pause("operator")
    assert check_mod(modify(coid, quantity=10), RiskConfig(), exposure) is None
    assert check_mod(modify(coid, quantity=60), RiskConfig(), exposure) == (
        RejectReason.PAUSED,
        "strategy s paused: operator",
    )


def test_a_modification_goes_through_the_price_collar_and_the_rate_limit() -> None:
    limits = RiskConfig(price_collar_pct=5, max_orders_per_s=1)
    exposure = StrategyExposure("s")
    coid = sent(exposure, intent(10, limit=100.0)).client_order_id
    assert check_mod(modify(coid, limit=110.0), limits, exposure) == (
        RejectReason.PRICE_COLLAR,
        "limit price 110 is 10.00% from market price 100, beyond price_collar_pct 5",
    )
    assert check_mod(modify(coid, limit=101.0), limits, exposure) is None
    assert check_mod(modify(coid, limit=102.0), limits, exposure) == (
        RejectReason.RATE_LIMIT,
        "order rate exceeds max_orders_per_s 1 (burst 1); next order in 1.000s",
    )
    assert check_mod(modify(coid, quantity=5), limits, exposure) is None, "reducing: no token"


def test_a_modification_in_reducing_mode_may_not_cross_the_position() -> None:
    exposure = holding(50)
    coid = sent(exposure, intent(30, side=SELL, limit=100.0)).client_order_id
    mode = RuntimeState.REDUCING
    assert check_mod(modify(coid, quantity=50), RiskConfig(), exposure, mode=mode) is None
    assert check_mod(modify(coid, quantity=51), RiskConfig(), exposure, mode=mode) == (
        RejectReason.REDUCE_ONLY,
        "reduce only: SELL 51 X with other open sells 0 would cross position +50",
    )


def test_a_modification_of_an_order_not_open_is_refused() -> None:
    other = StrategyExposure("t")
    coid = sent(other, intent(5)).client_order_id
    assert check_mod(modify(coid, quantity=1), RiskConfig(), StrategyExposure("s")) == (
        RejectReason.UNKNOWN_ORDER,
        f"order {coid} is not open for strategy s",
    )


# --- accounting ---------------------------------------------------------------------


def test_exposure_follows_fills_and_finished_orders() -> None:
    exposure = StrategyExposure("s")
    order = sent(exposure, intent(10, limit=101.0))
    assert exposure.open_quantity("X", BUY) == 10.0
    assert exposure.gross_exposure() == 1010.0
    exposure.on_fill(fill(order.client_order_id, 4, 100.0))
    assert exposure.position("X") == 4.0
    assert exposure.open_quantity("X", BUY) == 6.0
    assert exposure.mark("X") == 100.0
    assert exposure.gross_exposure() == 4 * 100.0 + 6 * 101.0
    view = exposure.open_order(order.client_order_id)
    assert view is not None
    assert (view.quantity, view.filled, view.counted_quantity) == (10.0, 4.0, 6.0)
    exposure.on_finished(order.client_order_id)
    assert exposure.open_order_count == 0
    assert exposure.open_quantity("X", BUY) == 0.0
    assert exposure.positions() == {"X": 4.0}
    exposure.on_fill(fill(order.client_order_id, 4, 90.0, side=SELL))  # a late fill still books
    assert exposure.positions() == {}
    assert exposure.gross_exposure() == 0.0


def test_a_fully_filled_order_stops_counting_at_once() -> None:
    exposure = StrategyExposure("s")
    order = sent(exposure, intent(10))
    exposure.on_fill(fill(order.client_order_id, 10, 100.0))
    assert exposure.open_order_count == 0
    assert exposure.on_finished(order.client_order_id) is False


def test_open_market_orders_are_valued_at_the_latest_mark() -> None:
    exposure = StrategyExposure("s")
    sent(exposure, intent(10, side=SELL, market=100.0))
    assert exposure.gross_exposure() == 1000.0
    assert exposure.net_exposure() == -1000.0
    exposure.set_mark("X", 120.0)
    assert exposure.gross_exposure() == 1200.0


def test_a_pending_modification_counts_the_worse_of_old_and_new() -> None:
    exposure = StrategyExposure("s")
    order = sent(exposure, intent(10, limit=100.0))
    coid = order.client_order_id
    assert exposure.modify_sent(modify(coid, quantity=20, limit=90.0)) is True
    assert exposure.open_quantity("X", BUY) == 20.0
    assert exposure.gross_exposure() == 20 * 100.0
    assert exposure.modify_refused(coid) is True
    assert exposure.open_quantity("X", BUY) == 10.0
    exposure.modify_sent(modify(coid, quantity=5))
    assert exposure.open_quantity("X", BUY) == 10.0, "a smaller size counts only once applied"
    assert exposure.on_modified(coid, 5.0, None, None) is True
    assert exposure.open_quantity("X", BUY) == 5.0
    view = exposure.open_order(coid)
    assert view is not None
    assert (view.quantity, view.limit_price) == (5.0, 100.0)
    assert exposure.modify_refused(coid) is False, "nothing pending"


def test_the_ledger_keeps_one_exposure_per_strategy() -> None:
    ledger = RiskLedger()
    assert ledger.get("a") is None
    a = ledger.exposure("a")
    assert ledger.exposure("a") is a
    order = sent(a, intent(5))
    ledger.on_fill(fill(order.client_order_id, 2, 100.0))  # strategy "s" in the fill
    assert ledger.exposure("s").position("X") == 2.0
    assert a.position("X") == 0.0
    end = OrderUpdate(
        id=1, ts_event=0, ts_init=0, client_order_id=order.client_order_id, strategy_id="a",
        symbol="X", side=BUY, status=OrderStatus.CANCELLED, quantity=5.0, filled_quantity=0.0,
        avg_fill_price=None, reason=None, message="", engine="paper",
    )  # fmt: skip
    assert ledger.on_update(dataclasses.replace(end, status=OrderStatus.ACCEPTED)) is False
    assert a.open_order_count == 1
    assert ledger.on_update(end) is True
    assert a.open_order_count == 0
    assert ledger.strategies() == ("a", "s")


def _recount(exposure: StrategyExposure, symbols: tuple[str, ...]) -> tuple[float, float]:
    """Worst-case gross and net exposure computed from scratch from the snapshots."""
    gross = longs = shorts = 0.0
    for symbol in symbols:
        mark = exposure.mark(symbol) or 0.0
        value = exposure.position(symbol) * mark
        buys = sells = value
        for order in exposure.open_orders():
            if order.symbol == symbol:
                price = mark if order.counted_price is None else order.counted_price
                if order.side is BUY:
                    buys += order.counted_quantity * price
                else:
                    sells -= order.counted_quantity * price
        gross += max(abs(buys), abs(sells))
        longs += buys
        shorts += sells
    return gross, longs if abs(longs) >= abs(shorts) else shorts


_operation = st.tuples(
    st.sampled_from(["send", "fill", "finish", "modify", "applied", "refused"]),
    st.sampled_from(["X", "Y"]),
    st.sampled_from([BUY, SELL]),
    st.integers(1, 20),
    st.one_of(st.none(), st.integers(50, 150)),
    st.integers(0, 1000),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_operation, max_size=40))
def test_running_totals_match_a_recount_after_any_sequence(
    operations: list[tuple[str, str, Side, int, int | None, int]],
) -> None:
    exposure = StrategyExposure("s")
    for kind, symbol, side, quantity, price, pick in operations:
        open_ids = [o.client_order_id for o in exposure.open_orders()]
        chosen = open_ids[pick % len(open_ids)] if open_ids else None
        if kind == "send" or chosen is None:
            limit = None if price is None else float(price)
            exposure.order_sent(intent(quantity, side=side, symbol=symbol, limit=limit,
                                       market=float(100 + pick % 7)))  # fmt: skip
            continue
        view = exposure.open_order(chosen)
        assert view is not None
        if kind == "fill":
            done = min(quantity, max(int(view.quantity - view.filled), 1))
            exposure.on_fill(fill(chosen, done, float(price or 100), side=view.side,
                                  symbol=view.symbol))  # fmt: skip
        elif kind == "finish":
            assert exposure.on_finished(chosen)
        elif kind == "modify":
            new_limit = None if price is None or view.limit_price is None else float(price)
            exposure.modify_sent(modify(chosen, quantity=view.filled + quantity, limit=new_limit))
        elif kind == "applied":
            exposure.on_modified(chosen, view.filled + quantity, None, None)
        else:
            exposure.modify_refused(chosen)
    for symbol in ("X", "Y"):
        for side in (BUY, SELL):
            expected = sum(
                o.counted_quantity
                for o in exposure.open_orders()
                if o.symbol == symbol and o.side is side
            )
            assert exposure.open_quantity(symbol, side) == pytest.approx(expected, abs=1e-9)
    gross, net = _recount(exposure, ("X", "Y"))
    assert exposure.gross_exposure() == pytest.approx(gross, abs=1e-6)
    assert exposure.net_exposure() == pytest.approx(net, abs=1e-6)
    assert all(o.counted_quantity > 0 for o in exposure.open_orders())
