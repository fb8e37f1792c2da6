"""The actor that hosts one execution engine (a broker adapter).

It passes orders, cancels and (for adapters that match locally) market data
to its adapter, and routes every event the adapter reports: order updates
and fills to the owning strategy, fills to the portfolio, everything to the
event sink. It publishes each ``Order`` it receives, after handing it to the
adapter: an ``Order`` on the event stream means the order reached its engine.
Events the adapter learns asynchronously arrive through ``bind``'s callback as
messages, so they are routed in this actor's thread.

Failures, and what they count for:

- an adapter call that raises an ``Exception`` is an engine *fault*: the
  order it carried is REJECTED with ``ENGINE_ERROR`` (the adapter refused it
  before it left) and an ``EngineFault`` goes to the supervisor, which counts
  it toward failover. The actor lives on;
- a ``BaseException`` from the adapter fails the actor. Its replacement takes
  over the same adapter (``handover``: the broker connection and its working
  orders did not fail), and the order being submitted at that moment is
  reported UNKNOWN unless the adapter lists it as working;
- an actor stuck in its adapter is replaced with a fresh adapter (the stuck
  one is closed); the supervisor has risk report its orders UNKNOWN.

Terminal order updates also go to risk, which keeps the table of which
engine holds which open order (for cancels, and for failover).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from actors.brokers.base import AdapterEvent, BrokerAdapter
from runtime.actor import LeanActor
from runtime.directory import Directory
from runtime.messages import (
    Bar,
    CancelAll,
    CancelOrder,
    EngineFault,
    Fill,
    Flush,
    GetSnapshot,
    Order,
    OrderStatus,
    OrderUpdate,
    Reconcile,
    RejectReason,
    Tick,
    next_id,
    unfilled_update,
)
from runtime.names import EVENTS, PORTFOLIO, RISK, SUPERVISOR, ActorKind, strategy_actor

__all__ = ["EngineCarry", "EngineHost", "EngineStats"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineCarry:
    """What a failed engine actor hands to its replacement."""

    adapter: BrokerAdapter
    """The adapter, with its connection and working orders."""
    orders: int
    fills: int
    rejected: dict[str, int]
    in_flight: Order | None
    """The order being submitted when the actor failed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineStats:
    """Counters of one engine, as answered to ``GetSnapshot``."""

    engine: str
    """Engine name."""
    orders: int
    """Orders received."""
    fills: int
    """Fills reported."""
    working_orders: tuple[str, ...]
    """Client order ids still working at the adapter."""
    rejected_by_strategy: tuple[tuple[str, int], ...]
    """(strategy id, orders this engine rejected), sorted by id."""


class EngineHost(LeanActor):
    """Hosts one :class:`~actors.brokers.base.BrokerAdapter`."""

    kind = ActorKind.ENGINE

    def __init__(
        self,
        *,
        name: str,
        directory: Directory,
        adapter: Callable[[], BrokerAdapter],
        carry: EngineCarry | None = None,
    ) -> None:
        """``adapter`` makes a fresh adapter; a ``carry`` brings the previous one."""
        super().__init__(name=name, directory=directory)
        self.adapter = carry.adapter if carry is not None else adapter()
        self._orders = carry.orders if carry is not None else 0
        self._fills = carry.fills if carry is not None else 0
        self._rejected: dict[str, int] = dict(carry.rejected) if carry is not None else {}
        self._resumed = carry.in_flight if carry is not None else None
        self._in_flight: Order | None = None

    def setup(self) -> None:
        self.adapter.bind(self.actor_ref.tell)
        order, self._resumed = self._resumed, None
        if order is not None and order.client_order_id not in self.adapter.working_orders():
            self._route(
                (self._update(order, OrderStatus.UNKNOWN, None, "engine failed during submit"),)
            )

    def on_stop(self) -> None:
        if not self.revoked:  # a revoked engine's adapter was closed on release
            self.adapter.close()

    def healthy(self) -> bool:
        return self.adapter.healthy()

    def handover(self, stuck: bool) -> EngineCarry | None:
        if stuck:
            return None
        return EngineCarry(
            adapter=self.adapter,
            orders=self._orders,
            fills=self._fills,
            rejected=self._rejected,
            in_flight=self._in_flight,
        )

    def release(self) -> None:
        super().release()
        try:
            self.adapter.close()
        except Exception:
            logger.exception("{}: closing the abandoned adapter failed", self.name)

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        adapter = self.adapter
        if kind is Bar:
            self._call(adapter.on_bar, message)
        elif kind is Order:
            self._orders += 1
            self._in_flight = message
            try:
                events = adapter.submit(message)
            except Exception as exc:
                self._in_flight = None
                error = f"submit failed: {type(exc).__name__}: {exc}"
                self._fault(error)
                reason = RejectReason.ENGINE_ERROR
                self._route((self._update(message, OrderStatus.REJECTED, reason, error),))
                return None
            self._in_flight = None
            if self.revoked:
                return None
            # Published once the engine has it, so that the event sink's
            # thread does not compete with the engine on the way to acceptance.
            self.directory.tell(EVENTS, message)
            self._route(events)
        elif kind is Tick:
            self._call(adapter.on_tick, message)
        elif kind is OrderUpdate or kind is Fill:
            self._route((message,))
        elif kind is EngineFault:
            self.directory.tell(SUPERVISOR, message)
        elif kind is CancelOrder:
            self._call(adapter.cancel, message.client_order_id, message.ts_event)
        elif kind is CancelAll:
            self._call(adapter.cancel_all, time.time_ns(), message.reason, message.message)
            return adapter.working_orders()
        elif kind is Reconcile:
            # Answered at once; an adapter that cannot reach its broker says so,
            # and the supervisor then has risk report the orders UNKNOWN.
            self._call(adapter.reconcile)
            return adapter.healthy(), adapter.working_orders()
        elif kind is GetSnapshot:
            return EngineStats(
                engine=self.adapter.engine,
                orders=self._orders,
                fills=self._fills,
                working_orders=self.adapter.working_orders(),
                rejected_by_strategy=tuple(sorted(self._rejected.items())),
            )
        elif kind is not Flush:
            raise TypeError(f"{self.name} cannot handle {kind.__name__}")
        return None

    def _call(self, call: Callable[..., Sequence[AdapterEvent]], *args: Any) -> None:
        """Run an adapter call and route its events; an exception is a fault."""
        try:
            events = call(*args)
        except Exception as exc:
            self._fault(f"{getattr(call, '__name__', 'call')} failed: {type(exc).__name__}: {exc}")
            return
        self._route(events)

    def _fault(self, error: str) -> None:
        if self.revoked:  # replaced while stuck: its adapter is closed and counts no more
            return
        logger.error("{}: {}", self.name, error)
        now = time.time_ns()
        self.directory.tell(
            SUPERVISOR,
            EngineFault(
                id=next_id(), ts_event=now, ts_init=now, engine=self.adapter.engine, error=error
            ),
        )

    def _update(
        self, order: Order, status: OrderStatus, reason: RejectReason | None, text: str
    ) -> OrderUpdate:
        return unfilled_update(order, status, reason, text, engine=self.adapter.engine)

    def _route(self, events: Sequence[AdapterEvent]) -> None:
        if self.revoked:  # from an adapter abandoned while stuck: its orders are UNKNOWN
            return
        tell = self.directory.tell
        for event in events:
            if type(event) is EngineFault:
                tell(SUPERVISOR, event)
                continue
            assert not isinstance(event, EngineFault)
            tell(strategy_actor(event.strategy_id), event)
            if type(event) is Fill:
                self._fills += 1
                tell(PORTFOLIO, event)
            elif type(event) is OrderUpdate and event.status.is_terminal:
                if event.status is OrderStatus.REJECTED:
                    self._rejected[event.strategy_id] = self._rejected.get(event.strategy_id, 0) + 1
                tell(RISK, event)
            tell(EVENTS, event)
