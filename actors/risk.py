"""The risk actor: every order intent passes here before it reaches an engine.

Checks, with the global limits of ``[risk]``; a strategy with its own
``[strategies.risk]`` table gets the merged limits built by the settings
loader (each limit it sets replaces the global one):

- ``max_order_quantity``: quantity of one order;
- ``max_order_notional``: quantity x price, where price is the limit price,
  else the stop price, else the intent's ``market_price`` (the last price the
  strategy's host saw; an order with no price to judge is refused with
  ``NO_MARKET_PRICE``).

Risk is not sent market data: every intent carries the price it needs, so
bars never wake this actor (one thread wake less per bar on the hot path).

A refused intent becomes an ``OrderUpdate`` with status REJECTED and a reason
code, sent to the owning strategy and to the event sink. An accepted one is
forwarded to the active engine as an ``Order``.

Routing: risk is the single entry of orders into execution, so it keeps the
table of open orders and the engine each was sent to (engines tell it their
terminal updates). A cancel goes to the engine that holds the order. The
supervisor's ``RouteOrders`` switches the engine new orders go to (failover
and failback) and, when an engine cannot tell what is working there, has the
orders open at it reported UNKNOWN. After ``Halt`` every new order is
refused with ``HALTED``. All of this survives a restart of the risk actor
(``handover``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.actor import LeanActor
from runtime.config import RiskConfig
from runtime.directory import Directory
from runtime.messages import (
    CancelOrder,
    Flush,
    GetSnapshot,
    Halt,
    Order,
    OrderIntent,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    RouteOrders,
    next_id,
    unfilled_update,
)
from runtime.names import EVENTS, ActorKind, strategy_actor

__all__ = ["RiskActor", "RiskBook", "RiskStats", "check_intent", "order_from_intent"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskStats:
    """Counters of the risk actor, as answered to ``GetSnapshot``."""

    accepted: int
    """Intents forwarded to an engine."""
    rejected: int
    """Intents refused."""
    engine: str
    """Directory name of the engine orders are routed to."""
    by_strategy: tuple[tuple[str, int, int], ...]
    """(strategy id, intents received, intents refused), sorted by id."""
    open_orders: tuple[tuple[str, str], ...] = ()
    """(client order id, engine) of every order sent and not finished, sorted."""
    halted: str = ""
    """Why trading is halted; empty while orders are accepted."""


@dataclass(slots=True)
class RiskBook:
    """The risk actor's state, handed from a failed risk actor to its replacement."""

    engine: str
    """Directory name of the engine new orders go to."""
    accepted: int = 0
    rejected: int = 0
    intents: dict[str, list[int]] = field(default_factory=dict)
    """Per strategy: [received, refused]."""
    open_orders: dict[str, Order] = field(default_factory=dict)
    """Orders sent and not finished, by client order id."""
    routed_to: dict[str, str] = field(default_factory=dict)
    """Engine directory name of each open order."""
    unknown: set[str] = field(default_factory=set)
    """Open orders already reported UNKNOWN (reported once)."""
    halted: str = ""


def check_intent(intent: OrderIntent, limits: RiskConfig) -> tuple[RejectReason, str] | None:
    """The first rule ``intent`` breaks, as (reason, message); None when it passes."""
    if limits.max_order_quantity and intent.quantity > limits.max_order_quantity:
        return (
            RejectReason.MAX_ORDER_QUANTITY,
            f"quantity {intent.quantity:g} exceeds max_order_quantity "
            f"{limits.max_order_quantity:g}",
        )
    if limits.max_order_notional:
        price = intent.limit_price or intent.stop_price or intent.market_price
        if price is None:
            return (
                RejectReason.NO_MARKET_PRICE,
                f"no price for {intent.symbol} yet to check max_order_notional",
            )
        notional = intent.quantity * price
        if notional > limits.max_order_notional:
            return (
                RejectReason.MAX_ORDER_NOTIONAL,
                f"notional {notional:,.2f} exceeds max_order_notional "
                f"{limits.max_order_notional:,.2f}",
            )
    return None


def order_from_intent(intent: OrderIntent) -> Order:
    """The order an approved intent becomes (same client order id, market time)."""
    return Order(
        id=next_id(),
        ts_event=intent.ts_event,
        ts_init=time.time_ns(),
        client_order_id=intent.client_order_id,
        strategy_id=intent.strategy_id,
        symbol=intent.symbol,
        side=intent.side,
        quantity=intent.quantity,
        order_type=intent.order_type,
        limit_price=intent.limit_price,
        stop_price=intent.stop_price,
        time_in_force=intent.time_in_force,
        ts_intent=intent.ts_init,
    )


class RiskActor(LeanActor):
    """Pre-trade risk checks between the strategies and the engines."""

    kind = ActorKind.RISK

    def __init__(
        self,
        *,
        name: str,
        directory: Directory,
        limits: RiskConfig,
        overrides: Mapping[str, RiskConfig],
        engine: str,
        carry: RiskBook | None = None,
    ) -> None:
        super().__init__(name=name, directory=directory)
        self._limits = limits
        self._overrides = dict(overrides)
        self.book = carry if carry is not None else RiskBook(engine=engine)

    def handover(self, stuck: bool) -> RiskBook:
        return copy.deepcopy(self.book) if stuck else self.book

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        book = self.book
        if kind is OrderIntent:
            self._on_intent(message)
        elif kind is OrderUpdate:
            if message.status.is_terminal:
                book.open_orders.pop(message.client_order_id, None)
                book.routed_to.pop(message.client_order_id, None)
                book.unknown.discard(message.client_order_id)
        elif kind is CancelOrder:
            self.directory.tell(book.routed_to.get(message.client_order_id, book.engine), message)
        elif kind is RouteOrders:
            self._route_orders(message)
        elif kind is Halt:
            book.halted = message.reason
        elif kind is GetSnapshot:
            return RiskStats(
                accepted=book.accepted,
                rejected=book.rejected,
                engine=book.engine,
                by_strategy=tuple(sorted((s, n, r) for s, (n, r) in book.intents.items())),
                open_orders=tuple(sorted(book.routed_to.items())),
                halted=book.halted,
            )
        elif kind is not Flush:
            raise TypeError(f"{self.name} cannot handle {kind.__name__}")
        return None

    def _on_intent(self, intent: OrderIntent) -> None:
        book = self.book
        counts = book.intents.setdefault(intent.strategy_id, [0, 0])
        counts[0] += 1
        breach: tuple[RejectReason, str] | None
        if book.halted:
            breach = (RejectReason.HALTED, f"trading halted: {book.halted}")
        else:
            breach = check_intent(intent, self._overrides.get(intent.strategy_id, self._limits))
        if breach is None:
            order = order_from_intent(intent)
            book.open_orders[order.client_order_id] = order
            book.routed_to[order.client_order_id] = book.engine
            if self.directory.tell(book.engine, order):
                book.accepted += 1
                return
            del book.open_orders[order.client_order_id]
            del book.routed_to[order.client_order_id]
            breach = (RejectReason.NO_ENGINE, f"engine {book.engine!r} is not running")
        book.rejected += 1
        counts[1] += 1
        self._send_update(intent, OrderStatus.REJECTED, *breach)

    def _route_orders(self, route: RouteOrders) -> None:
        book = self.book
        book.engine = route.engine
        if route.unknown_at:
            for client_order_id, engine in book.routed_to.items():
                if (
                    engine == route.unknown_at
                    and client_order_id not in route.keep
                    and client_order_id not in book.unknown
                ):
                    book.unknown.add(client_order_id)
                    self._send_update(
                        book.open_orders[client_order_id],
                        OrderStatus.UNKNOWN,
                        RejectReason.ENGINE_ERROR,
                        f"{engine} cannot tell whether this order is still working",
                    )

    def _send_update(
        self, order: OrderIntent | Order, status: OrderStatus, reason: RejectReason, text: str
    ) -> None:
        update = unfilled_update(order, status, reason, text)
        self.directory.tell(strategy_actor(order.strategy_id), update)
        self.directory.tell(EVENTS, update)
