"""Fault injection around any adapter: ``[engines.NAME.faults]``.

``FaultyAdapter`` wraps a real adapter and, on the calls that carry orders
(``submit``, ``cancel``, ``modify``, ``cancel_all``), fails the way broken
brokers and libraries do:

- raise an error with probability ``fail_probability`` (seeded: the same
  ``seed`` fails the same calls), or on every ``fail_every``-th call. The
  error is :class:`InjectedError`, permanent for the engine; with
  ``transient = true`` it is :class:`InjectedTransientError`, which the
  engine retries. Either way it is raised before the wrapped adapter is
  called: the failed call never reached the broker;
- block for ``hang_s`` on every ``hang_every``-th call (a socket that never
  answers). Closing the adapter releases a blocked call;
- raise a ``BaseException`` on every ``crash_every``-th call (a library
  calling ``sys.exit()``).

Calls before ``first_call`` never fail, and after ``fault_limit`` faults
(if set) no call fails any more: a broker that recovers. Market data and
queries pass through untouched, so a drill fails orders, not the books.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence

from actors.brokers.base import AdapterEvent, BrokerAdapter, TransientBrokerError
from runtime.config import FaultConfig
from runtime.messages import Bar, Order, RejectReason, Tick

__all__ = ["FaultyAdapter", "InjectedCrashError", "InjectedError", "InjectedTransientError"]


class InjectedError(RuntimeError):
    """The error a faulty adapter raises (permanent for the engine)."""


class InjectedTransientError(InjectedError, TransientBrokerError):
    """The error a faulty adapter raises with ``transient = true`` (retried by the engine)."""


class InjectedCrashError(BaseException):
    """The BaseException a faulty adapter raises (``crash_every``)."""


class FaultyAdapter(BrokerAdapter):
    """Wraps ``inner`` and injects the faults of ``config``."""

    def __init__(self, inner: BrokerAdapter, config: FaultConfig) -> None:
        super().__init__(engine=inner.engine)
        self.inner = inner
        self.config = config
        self.calls = 0
        """Order calls seen so far."""
        self.faults = 0
        """Faults injected so far."""
        self._rng = random.Random(config.seed)
        self._released = threading.Event()

    def _maybe_fail(self, what: str) -> None:
        self.calls += 1
        n, c = self.calls, self.config
        draw = self._rng.random()  # drawn on every call: the sequence depends on the seed only
        if n < c.first_call or (c.fault_limit and self.faults >= c.fault_limit):
            return
        if c.crash_every and n % c.crash_every == 0:
            self.faults += 1
            raise InjectedCrashError(f"injected crash in {what} (call {n})")
        if c.hang_every and n % c.hang_every == 0:
            self.faults += 1
            self._released.wait(c.hang_s)
        elif (c.fail_every and n % c.fail_every == 0) or draw < c.fail_probability:
            self.faults += 1
            error = InjectedTransientError if c.transient else InjectedError
            raise error(f"injected fault in {what} (call {n})")

    def bind(self, emit: Callable[[AdapterEvent], None]) -> None:
        super().bind(emit)
        self.inner.bind(emit)

    def submit(self, order: Order) -> Sequence[AdapterEvent]:
        self._maybe_fail("submit")
        return self.inner.submit(order)

    def cancel(self, client_order_id: str, ts_event: int) -> Sequence[AdapterEvent]:
        self._maybe_fail("cancel")
        return self.inner.cancel(client_order_id, ts_event)

    def modify(
        self,
        client_order_id: str,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
        ts_event: int,
    ) -> Sequence[AdapterEvent]:
        self._maybe_fail("modify")
        return self.inner.modify(client_order_id, quantity, limit_price, stop_price, ts_event)

    def cancel_all(
        self, ts_event: int, reason: RejectReason, message: str
    ) -> Sequence[AdapterEvent]:
        self._maybe_fail("cancel_all")
        return self.inner.cancel_all(ts_event, reason, message)

    def working_orders(self) -> tuple[str, ...]:
        return self.inner.working_orders()

    def on_bar(self, bar: Bar) -> Sequence[AdapterEvent]:
        return self.inner.on_bar(bar)

    def on_tick(self, tick: Tick) -> Sequence[AdapterEvent]:
        return self.inner.on_tick(tick)

    def reconcile(self) -> Sequence[AdapterEvent]:
        return self.inner.reconcile()

    def healthy(self) -> bool:
        return self.inner.healthy()

    def knows_all_orders(self) -> bool:
        return self.inner.knows_all_orders()

    def close(self) -> None:
        self._released.set()
        self.inner.close()
