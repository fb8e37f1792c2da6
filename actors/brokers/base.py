"""The one small interface every broker adapter implements.

An adapter is a plain class hosted by an engine actor. Each call returns the
events it caused (order updates and fills), which the engine actor routes.
Adapters that learn of events asynchronously (a real broker's socket) hand
them to the ``emit`` callback given to :meth:`BrokerAdapter.bind`; the engine
actor then receives them as messages in its own thread.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from runtime.messages import Bar, EngineFault, Fill, Order, OrderUpdate, RejectReason, Tick, next_id

__all__ = ["AdapterEvent", "BrokerAdapter"]

AdapterEvent = OrderUpdate | Fill | EngineFault
"""What an adapter reports: order updates, fills, and faults that count toward failover."""


class BrokerAdapter(abc.ABC):
    """Base class of broker adapters (paper, simulated venue, real brokers)."""

    wants_market_data: ClassVar[bool] = False
    """True when the runtime must route market data to adapters of this class
    (they match locally). A class attribute: the runtime wires subscriptions
    before any adapter exists."""

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

    def reconcile(self) -> Sequence[AdapterEvent]:
        """Bring the working orders up to date with the broker (on an engine switch).

        Returns (or emits, for answers that come later) an update for each
        order whose state the adapter did not know. Default: nothing, for
        adapters that are their own source of truth (paper).
        """
        return ()

    def healthy(self) -> bool:
        """Answered to the supervisor's health probe; must never block.

        An adapter that talks to a broker answers False while its connection
        is down. Each unhealthy answer counts toward failover.
        """
        return True

    def report_fault(self, error: str) -> None:
        """Report a fault learnt asynchronously (through ``bind``'s callback)."""
        if self._emit is not None:
            now = time.time_ns()
            self._emit(
                EngineFault(
                    id=next_id(), ts_event=now, ts_init=now, engine=self.engine, error=error
                )
            )

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called when the engine actor stops."""
