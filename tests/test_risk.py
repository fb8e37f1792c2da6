"""Risk: limits block breaching orders with a reason code and let others through."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.config import RiskConfig
from runtime.messages import (
    Fill,
    OrderIntent,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RejectReason,
    RuntimeState,
    Side,
    TimeInForce,
)
from runtime.risk_rules import StrategyExposure, check_intent
from support import run_to_end


def _intent(
    quantity: float = 10.0, limit: float | None = None, market: float | None = 10.0
) -> OrderIntent:
    return OrderIntent(
        id=1, ts_event=0, ts_init=0, client_order_id="c-1", strategy_id="s", symbol="X",
        side=Side.BUY, quantity=quantity,
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        limit_price=limit, stop_price=None, time_in_force=TimeInForce.GTC,
        market_price=market,
    )  # fmt: skip


def _check(intent: OrderIntent, limits: RiskConfig) -> tuple[RejectReason, str] | None:
    return check_intent(intent, limits, StrategyExposure("s"), mode=RuntimeState.RUNNING, now=0.0)


@pytest.mark.parametrize(
    ("limits", "intent", "reason"),
    [
        (RiskConfig(max_order_quantity=100), _intent(101), RejectReason.MAX_ORDER_QUANTITY),
        (RiskConfig(max_order_notional=1000), _intent(101), RejectReason.MAX_ORDER_NOTIONAL),
        (RiskConfig(max_order_notional=1000), _intent(10, 101.0, None),
         RejectReason.MAX_ORDER_NOTIONAL),
        (RiskConfig(max_order_notional=1000), _intent(10, market=None),
         RejectReason.NO_MARKET_PRICE),
    ],
)  # fmt: skip
def test_a_breaching_intent_is_refused_with_its_reason_code(
    limits: RiskConfig, intent: OrderIntent, reason: RejectReason
) -> None:
    breach = _check(intent, limits)
    assert breach is not None
    assert breach[0] is reason
    assert breach[1]


@pytest.mark.parametrize(
    ("limits", "intent"),
    [
        (RiskConfig(max_order_quantity=100), _intent(100)),
        (RiskConfig(max_order_notional=1000), _intent(100)),
        (RiskConfig(max_order_notional=1000), _intent(10, 100.0, None)),
        (RiskConfig(), _intent(1e9, market=None)),
    ],
)
def test_a_compliant_intent_passes(limits: RiskConfig, intent: OrderIntent) -> None:
    assert _check(intent, limits) is None


SETTINGS = """
[runtime]
log_level = "ERROR"
[feed]
source = "synthetic"
lockstep = true
[feed.synthetic]
symbols = ["AAA"]
bars = 20
start_price = 50.0
[risk]
max_order_quantity = 5
[[strategies]]
id = "big"
class = "support:BuyEveryBar"
symbols = ["AAA"]
[strategies.params]
quantity = 10
[[strategies]]
id = "allowed"
class = "support:BuyEveryBar"
symbols = ["AAA"]
[strategies.params]
quantity = 10
[strategies.risk]
max_order_quantity = 50
"""


def test_rejections_reach_the_strategy_and_per_strategy_limits_override_global(
    write_settings: Callable[[str], Path],
) -> None:
    summary, recorder = run_to_end(write_settings(SETTINGS))
    updates = recorder.of(OrderUpdate)
    big = [u for u in updates if u.strategy_id == "big"]
    assert len(big) == 20
    assert all(u.status is OrderStatus.REJECTED for u in big)
    assert all(u.reason is RejectReason.MAX_ORDER_QUANTITY for u in big)
    assert "exceeds max_order_quantity 5" in big[0].message
    fills = recorder.of(Fill)
    assert {f.strategy_id for f in fills} == {"allowed"}
    stats = {s.strategy_id: s for s in summary.strategies}
    assert stats["big"].rejected == 20
    assert stats["big"].orders == 20
    assert stats["allowed"].rejected == 0
    assert stats["allowed"].fills == 19, "the order of the last bar is cancelled at shutdown"


def test_market_orders_are_judged_at_the_last_close_the_strategy_saw(
    write_settings: Callable[[str], Path],
) -> None:
    text = """
[runtime]
log_level = "ERROR"
[feed]
lockstep = true
[feed.synthetic]
symbols = ["AAA"]
bars = 3
start_price = 50.0
volatility = 0.0
[risk]
max_order_notional = 400.0
[[strategies]]
id = "s"
class = "support:BuyEveryBar"
symbols = ["AAA"]
[strategies.params]
quantity = 10
"""
    _summary, recorder = run_to_end(write_settings(text))
    updates = recorder.of(OrderUpdate)
    assert len(updates) == 3
    assert {u.reason for u in updates} == {RejectReason.MAX_ORDER_NOTIONAL}
    assert "notional 500.00 exceeds max_order_notional 400.00" in updates[0].message
