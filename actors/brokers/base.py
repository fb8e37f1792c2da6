"""The one small interface every broker adapter implements.

An adapter is a plain class hosted by an engine actor. Each call returns the
events it caused (order updates and fills), which the engine actor routes.
Adapters that learn of events asynchronously (a real broker's socket) hand
them to the ``emit`` callback given to :meth:`BrokerAdapter.bind`; the engine
actor then receives them as messages in its own thread.

Errors, for adapter writers. A call that cannot be carried out raises; the
engine actor decides what follows from the class of the error
(:func:`is_transient`):

- *transient* (:class:`TransientBrokerError`, ``ConnectionError``,
  ``TimeoutError`` and their subclasses): the broker could not be reached or
  asked to come back later (throttled, busy). The engine retries the same
  call with the same client order id after a backoff, so raise it only when
  repeating the call is safe: the broker must refuse a client order id it
  already holds (or the adapter must list it in ``working_orders``), and
  cancels and modifications carry absolute values, so repeating them is
  harmless. Raise it also when the outcome is unknown (a request timed out
  after it was sent): before re-submitting, the engine looks for the order in
  ``working_orders``;
- *permanent* (:class:`PermanentBrokerError` and every other ``Exception``):
  repeating the call cannot help (a bad request, refused credentials, a bug).
  The order is rejected once with ``ENGINE_ERROR``;
- :class:`ModifyNotSupportedError` (permanent): the adapter cannot modify
  orders at all; the engine answers the modification as refused, and it is
  not counted as a failure.

A refusal that is part of normal trading (not enough margin, an unknown
symbol) is not an error: return a REJECTED update. A ``BaseException``
fails the engine actor, which is restarted with the same adapter.

Hierarchy::

    Exception
    +-- TransientBrokerError
    +-- PermanentBrokerError
        +-- ModifyNotSupportedError
"""

from __future__ import annotations

import abc
import concurrent.futures
import time
from collections.abc import Callable, Sequence
from typing import ClassVar, TypeVar

from runtime.messages import (
    Bar,
    EngineFault,
    Fill,
    Order,
    OrderToRecover,
    OrderUpdate,
    RejectReason,
    Tick,
    next_id,
)

__all__ = [
    "AdapterEvent",
    "BrokerAdapter",
    "ModifyNotSupportedError",
    "PermanentBrokerError",
    "TransientBrokerError",
    "is_transient",
    "resolved",
]

AdapterEvent = OrderUpdate | Fill | EngineFault
"""What an adapter reports: order updates, fills, and faults that count toward failover."""


class TransientBrokerError(Exception):
    """The call failed but may succeed if repeated unchanged (unreachable, throttled, busy)."""


class PermanentBrokerError(Exception):
    """The call failed and repeating it cannot help."""


class ModifyNotSupportedError(PermanentBrokerError):
    """The adapter cannot modify orders (raised by the default :meth:`BrokerAdapter.modify`)."""


_TRANSIENT = (TransientBrokerError, ConnectionError, TimeoutError)


def is_transient(exc: BaseException) -> bool:
    """True when the engine should retry the call that raised ``exc``.

    Transient: :class:`TransientBrokerError`, ``ConnectionError`` and
    ``TimeoutError`` (with their subclasses), unless the error is also a
    :class:`PermanentBrokerError`. Everything else is permanent.
    """
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, PermanentBrokerError)


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

    def modify(
        self,
        client_order_id: str,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
        ts_event: int,
    ) -> Sequence[AdapterEvent]:
        """Change a working order's total quantity or prices (None: unchanged).

        Returns an update with the order's current status (ACCEPTED or
        PARTIALLY_FILLED, FILLED when the new quantity equals the filled one)
        and the new quantity when done; the unchanged order with reason
        ``MODIFY_REFUSED`` and a message when refused; empty when the order is
        unknown or already ended. Default: raises
        :class:`ModifyNotSupportedError`, which the engine answers as refused.
        """
        raise ModifyNotSupportedError("this adapter cannot modify orders")

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

    def recover(
        self, orders: Sequence[OrderToRecover]
    ) -> concurrent.futures.Future[tuple[str, ...]]:
        """After a crash of the runtime: adopt ``orders`` and ask the broker about each.

        Each order comes with the journal's last update (status UNKNOWN) and the
        fill ids the journal has. The broker's answers go out through the bound
        callback as usual: the fills the journal does not have (never one of
        ``fill_ids``), then each order's current update. The future resolves,
        after every answer has been handed to the callback, with the client
        order ids the broker has no record of (no event is emitted for those).
        It fails with ``TimeoutError`` when the broker does not answer in time.

        Default: resolved with ``()`` at once: the orders stay UNKNOWN and the
        runtime reports them unresolved.
        """
        return resolved(())

    def positions(self) -> concurrent.futures.Future[dict[str, float]] | None:
        """The broker's net signed position per symbol for this engine (buys positive).

        The future fails with ``TimeoutError`` when the broker does not answer
        in time. None (the default) when the broker cannot tell: for paper, the
        runtime's own books are the record.
        """
        return None

    def knows_all_orders(self) -> bool:
        """True when the adapter *is* the book of record (paper): an order it does not
        list as working is not working anywhere, so a cancel of it can be answered
        "not found" at once. False for adapters that front a broker (default)."""
        return False

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


_R = TypeVar("_R")


def resolved(value: _R) -> concurrent.futures.Future[_R]:
    """A future already resolved with ``value`` (for adapters that answer at once)."""
    future: concurrent.futures.Future[_R] = concurrent.futures.Future()
    future.set_result(value)
    return future
