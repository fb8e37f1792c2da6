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
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runtime.actor import LeanActor
from runtime.config import RiskConfig
from runtime.directory import Directory
from runtime.messages import (
    CancelOrder,
    Flush,
    GetSnapshot,
    Order,
    OrderIntent,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    next_id,
)
from runtime.names import EVENTS, ActorKind, strategy_actor

__all__ = ["RiskActor", "RiskStats", "check_intent", "order_from_intent"]


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
    ) -> None:
        super().__init__(name=name, directory=directory)
        self._limits = limits
        self._overrides = dict(overrides)
        self._engine = engine
        self._accepted = 0
        self._rejected = 0
        self._intents: dict[str, list[int]] = {}

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        if kind is OrderIntent:
            self._on_intent(message)
        elif kind is CancelOrder:
            self.directory.tell(self._engine, message)
        elif kind is GetSnapshot:
            return RiskStats(
                accepted=self._accepted,
                rejected=self._rejected,
                engine=self._engine,
                by_strategy=tuple(sorted((s, n, r) for s, (n, r) in self._intents.items())),
            )
        elif kind is not Flush:
            raise TypeError(f"{self.name} cannot handle {kind.__name__}")
        return None

    def _on_intent(self, intent: OrderIntent) -> None:
        counts = self._intents.setdefault(intent.strategy_id, [0, 0])
        counts[0] += 1
        limits = self._overrides.get(intent.strategy_id, self._limits)
        breach = check_intent(intent, limits)
        if breach is None:
            if self.directory.tell(self._engine, order_from_intent(intent)):
                self._accepted += 1
                return
            breach = (RejectReason.NO_ENGINE, f"engine {self._engine!r} is not running")
        self._rejected += 1
        counts[1] += 1
        self._reject(intent, *breach)

    def _reject(self, intent: OrderIntent, reason: RejectReason, text: str) -> None:
        now = time.time_ns()
        update = OrderUpdate(
            id=next_id(),
            ts_event=now,
            ts_init=now,
            client_order_id=intent.client_order_id,
            strategy_id=intent.strategy_id,
            symbol=intent.symbol,
            side=intent.side,
            status=OrderStatus.REJECTED,
            quantity=intent.quantity,
            filled_quantity=0.0,
            avg_fill_price=None,
            reason=reason,
            message=text,
            engine="",
        )
        self.directory.tell(strategy_actor(intent.strategy_id), update)
        self.directory.tell(EVENTS, update)
