"""The orders the order-flow benchmark sends, the limits it judges them by, the engine's answers.

Intents (:func:`intents`) rotate over four symbols at different prices; each
symbol alternates a buy and a sell of :data:`QUANTITY`, and every other pair
of orders is a LIMIT order 0.1% through the market instead of a MARKET order,
so positions go up and back down as fills come back and both price paths of
the rules (market price, limit price with its collar) are taken. Market times
step one second per order from 09:30 UTC on Tuesday 2 January 2024, inside
:data:`ALL_LIMITS`' trading hours.

:func:`answers` is what an engine that accepts and fully fills an order at
once sends back: an ACCEPTED ``OrderUpdate``, a ``Fill`` and a FILLED
``OrderUpdate``, in the paper engine's order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

from runtime.config import RiskConfig, TradingHours
from runtime.ids import ClientOrderIds, run_tag
from runtime.messages import (
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
    next_id,
    unfilled_update,
)

__all__ = [
    "ALL_LIMITS",
    "ENGINE",
    "NO_LIMITS",
    "PRICES",
    "QUANTITY",
    "answers",
    "intents",
    "strategy_ids",
]

ENGINE = "engine.bench"
"""Directory name of the engine stand-in; also the ``engine`` of its answers."""

PRICES: dict[str, float] = {"OF-A": 100.0, "OF-B": 25.0, "OF-C": 250.0, "OF-D": 60.0}
"""Reference price of each symbol the intents trade."""

QUANTITY = 10.0
"""Quantity of every order."""

_SYMBOLS = tuple(PRICES)
_T0 = 1_704_187_800_000_000_000
"""2024-01-02T09:30:00Z (a Tuesday), ns: market time of the first intent."""
_STEP = 1_000_000_000
_WRAP = 36_000
"""Market time wraps after this many orders (ten hours), staying inside the trading hours."""

NO_LIMITS = RiskConfig()
"""Every limit off (the runtime's default ``[risk]``)."""

ALL_LIMITS = RiskConfig(
    max_order_quantity=1_000.0,
    max_order_notional=100_000.0,
    max_position=100_000.0,
    max_gross_exposure=50_000_000.0,
    max_net_exposure=50_000_000.0,
    max_open_orders=50_000,
    max_orders_per_s=1_000_000.0,
    price_collar_pct=5.0,
    daily_loss_limit=1_000_000.0,
    max_consecutive_losses=100,
    trading_hours=TradingHours(start=dt.time(8, 0), end=dt.time(20, 0), timezone="UTC"),
)
"""Every limit on. No order of the benchmark breaks one: the caps that count
open orders (open orders, worst-case position, gross and net exposure) are
sized for a burst of tens of thousands of orders in flight at once, and the
rate limit's bucket holds a million orders. A rule costs the same whatever
its cap (it is compared, not iterated), so the sizes do not change the
figures; ``daily_loss_limit`` and ``max_consecutive_losses`` are judged by
the portfolio and on closed trades, not per order."""


def strategy_ids(count: int) -> tuple[str, ...]:
    """The ids of ``count`` benchmark strategies."""
    return tuple(f"flow{i:02d}" for i in range(count))


def intents(count: int, *, strategies: int = 1) -> list[OrderIntent]:
    """``count`` intents with unique client order ids, dealt round-robin to
    ``strategies`` strategies (each strategy's own sequence follows the
    pattern of the module docstring)."""
    run = run_tag()
    ids = [(sid, ClientOrderIds(run, sid)) for sid in strategy_ids(strategies)]
    made: list[OrderIntent] = []
    for i in range(count):
        strategy_id, order_ids = ids[i % strategies]
        n = i // strategies  # this strategy's own order number
        symbol = _SYMBOLS[n % len(_SYMBOLS)]
        side = Side.BUY if (n // len(_SYMBOLS)) % 2 == 0 else Side.SELL
        market = PRICES[symbol] * (1.0 + 0.0001 * (n % 50))
        limit: float | None = None
        order_type = OrderType.MARKET
        if (n // (2 * len(_SYMBOLS))) % 2:
            order_type = OrderType.LIMIT
            limit = round(market * (1.001 if side is Side.BUY else 0.999), 4)
        made.append(
            OrderIntent(
                id=next_id(),
                ts_event=_T0 + (i % _WRAP) * _STEP,
                ts_init=time.time_ns(),
                client_order_id=order_ids.next(),
                strategy_id=strategy_id,
                symbol=symbol,
                side=side,
                quantity=QUANTITY,
                order_type=order_type,
                limit_price=limit,
                stop_price=None,
                time_in_force=TimeInForce.DAY,
                market_price=market,
            )
        )
    return made


def answers(order: Order | OrderIntent) -> tuple[OrderUpdate, Fill, OrderUpdate]:
    """ACCEPTED, a fill of the whole quantity (at the limit price, else the symbol's
    reference price) and FILLED, as :data:`ENGINE` would send them now."""
    now = time.time_ns()
    price = order.limit_price if order.limit_price is not None else PRICES[order.symbol]
    coid, qty = order.client_order_id, order.quantity
    accepted = unfilled_update(order, OrderStatus.ACCEPTED, None, "", engine=ENGINE, ts=now)
    fill = Fill(
        id=next_id(),
        ts_event=now,
        ts_init=now,
        fill_id=f"{coid}-1",
        client_order_id=coid,
        strategy_id=order.strategy_id,
        symbol=order.symbol,
        side=order.side,
        quantity=qty,
        price=price,
        commission=0.0,
        slippage=0.0,
        engine=ENGINE,
    )
    filled = dataclasses.replace(
        accepted,
        id=next_id(),
        status=OrderStatus.FILLED,
        filled_quantity=qty,
        avg_fill_price=price,
    )
    return accepted, fill, filled
