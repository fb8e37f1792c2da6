"""The actor that hosts one execution engine (a broker adapter).

It passes orders, cancels and (for adapters that match locally) market data
to its adapter, and routes every event the adapter reports: order updates
and fills to the owning strategy, fills to the portfolio, everything to the
event sink. It publishes each ``Order`` it receives, after handing it to the
adapter: an ``Order`` on the event stream means the order reached its engine.
Events the adapter learns asynchronously arrive through ``bind``'s callback as
messages, so they are routed in this actor's thread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from actors.brokers.base import AdapterEvent, BrokerAdapter
from runtime.actor import LeanActor
from runtime.directory import Directory
from runtime.messages import (
    Bar,
    CancelAll,
    CancelOrder,
    Fill,
    Flush,
    GetSnapshot,
    Order,
    OrderStatus,
    OrderUpdate,
    Tick,
)
from runtime.names import EVENTS, PORTFOLIO, ActorKind, strategy_actor

__all__ = ["EngineHost", "EngineStats"]


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

    def __init__(self, *, name: str, directory: Directory, adapter: BrokerAdapter) -> None:
        super().__init__(name=name, directory=directory)
        self.adapter = adapter
        self._orders = 0
        self._fills = 0
        self._rejected: dict[str, int] = {}

    def setup(self) -> None:
        self.adapter.bind(self.actor_ref.tell)

    def on_stop(self) -> None:
        self.adapter.close()

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        if kind is Bar:
            self._route(self.adapter.on_bar(message))
        elif kind is Order:
            self._orders += 1
            events = self.adapter.submit(message)
            # Published once the engine has it, so that the event sink's
            # thread does not compete with the engine on the way to acceptance.
            self.directory.tell(EVENTS, message)
            self._route(events)
        elif kind is Tick:
            self._route(self.adapter.on_tick(message))
        elif kind is OrderUpdate or kind is Fill:
            self._route((message,))
        elif kind is CancelOrder:
            self._route(self.adapter.cancel(message.client_order_id, message.ts_event))
        elif kind is CancelAll:
            self._route(self.adapter.cancel_all(time.time_ns(), message.reason, message.message))
            return self.adapter.working_orders()
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

    def _route(self, events: Sequence[AdapterEvent]) -> None:
        tell = self.directory.tell
        for event in events:
            tell(strategy_actor(event.strategy_id), event)
            if type(event) is Fill:
                self._fills += 1
                tell(PORTFOLIO, event)
            elif isinstance(event, OrderUpdate) and event.status is OrderStatus.REJECTED:
                self._rejected[event.strategy_id] = self._rejected.get(event.strategy_id, 0) + 1
            tell(EVENTS, event)
