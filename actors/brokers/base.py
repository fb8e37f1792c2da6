"""The one small interface every broker adapter implements.

An adapter is a plain class hosted by an engine actor. Each call returns the
events it caused (order updates and fills), which the engine actor routes.
Adapters that learn of events asynchronously (a real broker's socket) hand
them to the ``emit`` callback given to :meth:`BrokerAdapter.bind`; the engine
actor then receives them as messages in its own thread.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

from runtime.messages import Bar, Fill, Order, OrderUpdate, RejectReason, Tick

__all__ = ["AdapterEvent", "BrokerAdapter"]

AdapterEvent = OrderUpdate | Fill
"""What an adapter reports."""


class BrokerAdapter(abc.ABC):
    """Base class of broker adapters (paper, simulated venue, real brokers)."""

    def __init__(self, *, engine: str) -> None:
        self.engine = engine
        self._emit: Callable[[AdapterEvent], None] | None = None

    def bind(self, emit: Callable[[AdapterEvent], None]) -> None:
        """Give the adapter a thread-safe way to report events it learns later."""
        self._emit = emit

    @abc.abstractmethod
    def submit(self, order: Order) -> Sequence[AdapterEvent]:
        """Send an order; return the immediate updates (accepted or rejected)."""

    @abc.abstractmethod
    def cancel(self, client_order_id: str, ts_event: int) -> Sequence[AdapterEvent]:
        """Cancel a working order; empty when it is unknown or already done."""

    @abc.abstractmethod
    def cancel_all(
        self, ts_event: int, reason: RejectReason, message: str
    ) -> Sequence[AdapterEvent]:
        """Cancel every working order."""

    @abc.abstractmethod
    def working_orders(self) -> tuple[str, ...]:
        """Client order ids of the orders still working at this adapter."""

    def on_bar(self, bar: Bar) -> Sequence[AdapterEvent]:
        """Market data, for adapters that match locally (paper); default: nothing."""
        return ()

    def on_tick(self, tick: Tick) -> Sequence[AdapterEvent]:
        """Market data, for adapters that match locally (paper); default: nothing."""
        return ()

    def wants_market_data(self) -> bool:
        """True when the runtime must route market data to this adapter."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called when the engine actor stops."""
