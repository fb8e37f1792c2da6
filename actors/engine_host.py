"""The actor that hosts one execution engine (a broker adapter).

It passes orders, cancels, modifications and (for adapters that match
locally) market data to its adapter, and hands every order update and fill
the adapter reports to the order manager, which checks it against the order
state machine and routes it on (strategy, portfolio, risk, event sink). It
publishes each ``Order`` once the adapter took it: an ``Order`` on the event
stream means the order reached its engine. Events the adapter learns
asynchronously arrive through ``bind``'s callback as messages, so they are
routed in this actor's thread.

Adapter errors on the order calls (``submit``, ``cancel``, ``modify``,
``cancel_all``), classified by :func:`~actors.brokers.base.is_transient`:

- a *transient* error is retried (:class:`~runtime.engine_guard.RetryPolicy`:
  ``[engines.NAME.retry]``, ``attempts`` calls in all, exponential backoff
  with jitter) with the same request, so the same client order id. Before a
  submit is repeated, an order the adapter lists in ``working_orders`` reached
  the broker before the call failed: it is reported ACCEPTED, not sent again;
- a *permanent* error, or a transient one on its last attempt, is final: the
  order is REJECTED once with ``ENGINE_ERROR`` and the error (a cancel is
  not; a modification is answered as refused, reason ``MODIFY_REFUSED``) and
  one ``EngineFault`` goes to the supervisor, which counts it toward failover;
- ``ModifyNotSupportedError``: the modification is answered as refused; not
  a failure.

The circuit breaker (:class:`~runtime.engine_guard.CircuitBreaker`,
``[engines.NAME.breaker]``) counts each transient failure; a permanent error
is the broker (or the adapter) answering that one call, which says nothing
about the next, so it counts toward failover only. When the circuit opens
an ``EngineFault`` says so. While it is open, orders and modifications are
refused at once without calling the adapter (REJECTED ``CIRCUIT_OPEN``, or a
refused modification), each with an ``EngineFault`` so that the supervisor
fails over quickly, and the engine answers its health probe unhealthy (no
failback to it before its trial is due). Cancels still go to the adapter:
they only lower risk. ``reset_s`` later the next call is a trial.

The rate limit (a :class:`~runtime.throttle.TokenBucket`,
``[engines.NAME.rate_limit]``) covers the order calls, retries included; a
call beyond it waits its turn. Market data is not limited, and neither is
``CancelAll`` (the kill switch and the shutdown): it is made at once.

Waiting calls (for a rate-limit slot or for a retry) sit in one FIFO queue.
A call may go when it is due, a token is free, and no earlier call *for the
same order* is still waiting: a retry keeps its place, so a cancel or a
modification sent after a submit is never made before it, while calls for
other orders go on. A waiting ``CancelAll`` retry holds back every call
behind it. Once anything waits, new calls join the queue. Timers are
messages this actor sends itself through a
:class:`~runtime.scheduler.Scheduler` (started the first time something
waits): the actor never sleeps, and its mailbox and probe keep moving. A
``CancelAll`` answers the orders still waiting (REJECTED with its reason;
they never left) rather than sending them; so does stopping the actor
(reason SHUTDOWN). The queue, the breaker and the bucket are handed to a
replacement after a crash and resumed there.

Failures of the actor:

- a ``BaseException`` from the adapter fails the actor. Its replacement takes
  over the same adapter (``handover``: the broker connection and its working
  orders did not fail) and the waiting calls, and the order being submitted
  at that moment is reported UNKNOWN unless the adapter lists it as working;
- an actor stuck in its adapter is replaced with a fresh adapter (the stuck
  one is closed); the supervisor has the order manager report its orders
  UNKNOWN, those that were waiting in the engine included.

The order manager keeps the table of which engine holds which open order
(for cancels, and for failover). The engine keeps the last update of each
order still open at its adapter, to answer a refused modification with the
order's status as it was.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import pykka
from loguru import logger

from actors.brokers.base import AdapterEvent, BrokerAdapter, ModifyNotSupportedError, is_transient
from runtime.actor import LeanActor
from runtime.config import BreakerConfig, RateLimitConfig, RetryConfig
from runtime.crashpoints import crash_point
from runtime.directory import Directory
from runtime.engine_guard import CircuitBreaker, CircuitState, RetryPolicy
from runtime.messages import (
    Bar,
    CancelAll,
    CancelNotFound,
    CancelOrder,
    EngineFault,
    Fill,
    Flush,
    GetPositions,
    GetSnapshot,
    ModifyOrder,
    ModifyRefused,
    Order,
    OrderStatus,
    OrderToRecover,
    OrderUpdate,
    Reconcile,
    RecoverOrders,
    RejectReason,
    ResolveOrders,
    Tick,
    next_id,
    unfilled_update,
)
from runtime.names import EVENTS, ORDERS, SUPERVISOR, ActorKind
from runtime.scheduler import Scheduler
from runtime.throttle import TokenBucket

__all__ = ["EngineCarry", "EngineHost", "EngineStats", "WaitingCall"]

Request = Order | CancelOrder | ModifyOrder | CancelAll
"""What an order call to the adapter carries."""

_DEFAULT_RETRY = RetryConfig()
_DEFAULT_BREAKER = BreakerConfig()
_DEFAULT_RATE_LIMIT = RateLimitConfig()
_CALL_NAMES: dict[type[Any], str] = {
    Order: "submit",
    CancelOrder: "cancel",
    ModifyOrder: "modify",
    CancelAll: "cancel_all",
}


@dataclass(frozen=True, slots=True)
class WaitingCall:
    """An order call waiting in the engine: for a rate-limit slot, or for its retry."""

    request: Request
    """What the call carries (the same object on every attempt)."""
    calls: int
    """Attempts already made (and failed); 0 when it waits for its first."""
    not_before: float
    """``time.monotonic()`` before which it must not be made (0: at its turn)."""


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
    in_flight_call: CancelOrder | ModifyOrder | None = None
    """The cancel or modify being made when the actor failed: made again (both are
    idempotent: a modify carries absolute values)."""
    waiting: tuple[WaitingCall, ...] = ()
    """Calls waiting for a rate-limit slot or a retry, in queue order."""
    breaker: CircuitBreaker | None = None
    """The circuit breaker, as it was."""
    bucket: TokenBucket | None = None
    """The rate limit's bucket, as it was (a restart grants no fresh burst)."""
    live: dict[str, OrderUpdate] = field(default_factory=dict)
    """The last update of each order open at the adapter."""
    retries: int = 0
    """Retries made so far."""
    retrying: dict[str, bool] = field(default_factory=dict)
    """Orders whose submit waits for a retry, and whether the adapter has reported
    anything of them since (then the failed submit reached the broker)."""


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
    breaker: CircuitState = CircuitState.CLOSED
    """State of the circuit breaker."""
    breaker_opened: int = 0
    """Times the circuit opened."""
    retries: int = 0
    """Calls retried after a transient error."""
    waiting: int = 0
    """Calls waiting in the engine (rate limit or retry)."""


@dataclass(frozen=True, slots=True)
class _Wake:
    """Told by the engine's own timer: waiting calls may be due."""


_WAKE = _Wake()


@dataclass(frozen=True, slots=True)
class _Recovered:
    """Told by the adapter's thread: its answer to ``recover`` came (or failed)."""

    future: concurrent.futures.Future[tuple[str, ...]]


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
        retry: RetryConfig = _DEFAULT_RETRY,
        breaker: BreakerConfig = _DEFAULT_BREAKER,
        rate_limit: RateLimitConfig = _DEFAULT_RATE_LIMIT,
    ) -> None:
        """``adapter`` makes a fresh adapter; a ``carry`` brings the previous one and
        the previous actor's waiting calls, breaker and bucket."""
        super().__init__(name=name, directory=directory)
        self.adapter = carry.adapter if carry is not None else adapter()
        self._orders = carry.orders if carry is not None else 0
        self._fills = carry.fills if carry is not None else 0
        self._rejected: dict[str, int] = dict(carry.rejected) if carry is not None else {}
        self._resumed = carry.in_flight if carry is not None else None
        self._in_flight: Order | None = None
        self._in_flight_call: CancelOrder | ModifyOrder | None = None
        self._resumed_call = carry.in_flight_call if carry is not None else None
        self._policy = RetryPolicy(retry)
        self._breaker = (
            carry.breaker
            if carry is not None and carry.breaker is not None
            else CircuitBreaker(breaker)
        )
        self._bucket: TokenBucket | None = None
        if carry is not None and carry.bucket is not None:
            self._bucket = carry.bucket
        elif rate_limit.calls_per_s > 0:
            self._bucket = TokenBucket(
                rate=rate_limit.calls_per_s, burst=rate_limit.burst, now=time.monotonic()
            )
        self._waiting: deque[WaitingCall] = deque(carry.waiting if carry is not None else ())
        self._unrecovered: tuple[OrderToRecover, ...] = ()
        """Orders restored from the journal this engine has not answered for yet."""
        self._recovering = False
        self._live: dict[str, OrderUpdate] = dict(carry.live) if carry is not None else {}
        self._retries = carry.retries if carry is not None else 0
        self._retrying: dict[str, bool] = dict(carry.retrying) if carry is not None else {}
        self._timers: Scheduler | None = None
        self._timers_closed = False
        self._timers_lock = threading.Lock()
        self._wake_at: float | None = None

    def setup(self) -> None:
        self.adapter.bind(self.actor_ref.tell)
        order, self._resumed = self._resumed, None
        if order is not None and order.client_order_id not in self.adapter.working_orders():
            self._route(
                (self._update(order, OrderStatus.UNKNOWN, None, "engine failed during submit"),)
            )
        call, self._resumed_call = self._resumed_call, None
        if call is not None:
            self.actor_ref.tell(call)
        if self._waiting:  # resumed from a failed actor: its timers died with it
            self.actor_ref.tell(_WAKE)

    def on_stop(self) -> None:
        self._stop_timers()
        if self.revoked:  # a revoked engine's adapter was closed on release
            return
        if self._waiting:
            self._abandon_waiting(RejectReason.SHUTDOWN, "engine stopped")
        self.adapter.close()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().on_failure(exception_type, exception_value, traceback)
        self._stop_timers()  # the waiting calls go to the replacement, which has its own

    def healthy(self) -> bool:
        breaker = self._breaker
        if breaker.tripped and not breaker.allow(time.monotonic()):
            return False
        ok = self.adapter.healthy()
        if ok and self._unrecovered and not self._recovering:
            # Recovery got no answer at start: ask again now that the broker is up.
            self._recover()
        return ok

    def _recover(self) -> concurrent.futures.Future[tuple[str, ...]]:
        """Ask the adapter about the restored orders; its answer comes back as
        ``_Recovered``, which ends the orders the broker has no record of."""
        self._recovering = True
        future = self.adapter.recover(self._unrecovered)
        ref = self.actor_ref

        def answered(done: concurrent.futures.Future[tuple[str, ...]]) -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(_Recovered(done))

        future.add_done_callback(answered)
        return future

    def _recovered(self, future: concurrent.futures.Future[tuple[str, ...]]) -> None:
        self._recovering = False
        error = future.exception()
        if error is not None:
            logger.warning(
                "{}: no answer about {} restored orders ({!r}); asking again when healthy",
                self.name,
                len(self._unrecovered),
                error,
            )
            return
        missing = future.result()
        self._unrecovered = ()
        if missing:
            # Recovery at start sends the same when the answer came in time: the order
            # manager ends only orders still UNKNOWN, so the second is a no-op.
            self.directory.tell(ORDERS, ResolveOrders(self.adapter.engine, tuple(missing)))

    def handover(self, stuck: bool) -> EngineCarry | None:
        if stuck:
            return None
        return EngineCarry(
            adapter=self.adapter,
            orders=self._orders,
            fills=self._fills,
            rejected=self._rejected,
            in_flight=self._in_flight,
            in_flight_call=self._in_flight_call,
            waiting=tuple(self._waiting),
            breaker=self._breaker,
            bucket=self._bucket,
            live=self._live,
            retries=self._retries,
            retrying=self._retrying,
        )

    def release(self) -> None:
        super().release()
        self._stop_timers()
        # Submits still waiting for their first call never reached any adapter:
        # they are refused, not left UNKNOWN with the rest of this engine's orders.
        try:
            unsent = [c.request for c in list(self._waiting) if c.calls == 0]
        except RuntimeError:  # the stuck thread moved the queue meanwhile
            unsent = []
        for request in unsent:
            if type(request) is Order:
                text = "engine replaced while stuck: the order was not sent"
                update = self._update(
                    request, OrderStatus.REJECTED, RejectReason.ENGINE_ERROR, text
                )
                self.directory.tell(ORDERS, update)
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
            self._send(message)
        elif kind is Tick:
            self._call(adapter.on_tick, message)
        elif kind is OrderUpdate or kind is Fill:
            self._route((message,))
        elif kind is EngineFault:
            self.directory.tell(SUPERVISOR, message)
        elif kind is CancelOrder or kind is ModifyOrder:
            self._send(message)
        elif kind is _Wake:
            self._wake_at = None
            self._drain()
        elif kind is CancelAll:
            self._abandon_waiting(message.reason, message.message)
            retry_in = self._attempt(message, 0)
            if retry_in is not None:
                self._wait(WaitingCall(message, 1, time.monotonic() + retry_in))
            return adapter.working_orders()
        elif kind is Reconcile:
            # Answered at once; an adapter that cannot reach its broker says so,
            # and the supervisor then has the order manager report the orders UNKNOWN.
            self._call(adapter.reconcile)
            return adapter.healthy(), adapter.working_orders()
        elif kind is RecoverOrders:
            # Answered with the adapter's future: the broker's answers come later.
            self._unrecovered = message.orders
            return self._recover()
        elif kind is _Recovered:
            self._recovered(message.future)
        elif kind is GetPositions:
            return adapter.positions()
        elif kind is GetSnapshot:
            return EngineStats(
                engine=self.adapter.engine,
                orders=self._orders,
                fills=self._fills,
                working_orders=self.adapter.working_orders(),
                rejected_by_strategy=tuple(sorted(self._rejected.items())),
                breaker=self._breaker.state(time.monotonic()),
                breaker_opened=self._breaker.opened,
                retries=self._retries,
                waiting=len(self._waiting),
            )
        elif kind is not Flush:
            raise TypeError(f"{self.name} cannot handle {kind.__name__}")
        return None

    # --- order calls: queue, rate limit, breaker, retries ------------------------------

    def _send(self, request: Order | CancelOrder | ModifyOrder) -> None:
        """Make the call now when nothing waits and a token is free; else queue it."""
        if self._waiting:
            self._wait(WaitingCall(request, 0, 0.0))
            return
        if self._breaker.tripped and self._refused(request):
            return
        bucket = self._bucket
        if bucket is not None and not bucket.take(time.monotonic()):
            self._wait(WaitingCall(request, 0, 0.0))
            return
        retry_in = self._attempt(request, 0)
        if retry_in is not None:
            self._wait(WaitingCall(request, 1, time.monotonic() + retry_in))

    def _wait(self, call: WaitingCall) -> None:
        self._waiting.append(call)
        self._drain()

    def _drain(self) -> None:
        """Make the waiting calls that may go now, in queue order; time the next wake."""
        waiting = self._waiting
        if self.revoked or not waiting:
            return
        bucket = self._bucket
        now = time.monotonic()
        blocked: set[str] = set()  # orders with an earlier call still waiting
        due = math.inf
        i = 0
        while i < len(waiting):
            call = waiting[i]
            request = call.request
            key = "" if isinstance(request, CancelAll) else request.client_order_id
            if key in blocked:
                i += 1
                continue
            if call.not_before > now:
                due = min(due, call.not_before)
                if not key:
                    break  # a cancel-all waiting for its retry holds everything back
                blocked.add(key)
                i += 1
                continue
            if type(request) is not CancelAll:
                if type(request) is Order and call.calls:
                    try:
                        settled = self._retry_settled(request)
                    except Exception:  # cannot tell: the attempt decides
                        settled = False
                    if settled:
                        del waiting[i]
                        continue
                if self._refused(request):
                    del waiting[i]
                    continue
                if bucket is not None and not bucket.take(now):
                    due = min(due, now + bucket.wait(now))
                    break
            del waiting[i]
            retry_in = self._attempt(request, call.calls)
            if self.revoked:  # it was stuck in that call and has been replaced meanwhile
                return
            now = time.monotonic()
            if retry_in is not None:
                waiting.insert(i, WaitingCall(request, call.calls + 1, now + retry_in))
                due = min(due, now + retry_in)
                if not key:
                    break
                blocked.add(key)
                i += 1
        if waiting and due < math.inf:
            self._schedule(due)

    def _retry_settled(self, request: Order) -> bool:
        """A submit to retry whose order reached the broker after all: the adapter
        reported it since the failed call (it filled, or was refused), or lists it
        working (then it is reported accepted). True when nothing is left to send."""
        if self._retrying.pop(request.client_order_id, False):
            return True
        if request.client_order_id in self.adapter.working_orders():
            self._reached(request)
            return True
        return False

    def _refused(self, request: Request) -> bool:
        """Refuse an order or a modification while the circuit is open (True if refused)."""
        breaker = self._breaker
        if not breaker.tripped or not (type(request) is Order or type(request) is ModifyOrder):
            return False
        if breaker.allow(time.monotonic()):
            return False
        text = (
            f"circuit open ({breaker.failures} failed calls in a row): "
            f"{_CALL_NAMES[type(request)]} refused without calling the adapter"
        )
        self._fault(f"{text} ({request.client_order_id})")
        if isinstance(request, ModifyOrder):
            self._refuse_modify(request, text)
        else:
            self._retrying.pop(request.client_order_id, None)
            reason = RejectReason.CIRCUIT_OPEN
            self._route((self._update(request, OrderStatus.REJECTED, reason, text),))
        return True

    def _attempt(self, request: Request, calls: int) -> float | None:
        """Make one call; None when it is over, else seconds until its retry."""
        adapter = self.adapter
        try:
            if type(request) is Order:
                if calls and self._retry_settled(request):
                    return None
                self._in_flight = request
                events = adapter.submit(request)
                crash_point("engine.after_submit")
                self._in_flight = None
            elif type(request) is CancelOrder:
                self._in_flight_call = request
                events = adapter.cancel(request.client_order_id, request.ts_event)
                self._in_flight_call = None
                if (
                    not events
                    and not self.revoked
                    and adapter.knows_all_orders()
                    and request.client_order_id not in adapter.working_orders()
                ):
                    self.directory.tell(
                        ORDERS, CancelNotFound(request.client_order_id, adapter.engine)
                    )
            elif type(request) is ModifyOrder:
                self._in_flight_call = request
                events = adapter.modify(
                    request.client_order_id,
                    request.quantity,
                    request.limit_price,
                    request.stop_price,
                    request.ts_event,
                )
                self._in_flight_call = None
            else:
                assert type(request) is CancelAll
                events = adapter.cancel_all(time.time_ns(), request.reason, request.message)
        except ModifyNotSupportedError as exc:
            self._in_flight_call = None
            assert type(request) is ModifyOrder
            self._refuse_modify(request, str(exc))
            return None
        except Exception as exc:
            self._in_flight = None
            self._in_flight_call = None
            return self._failed(request, calls + 1, exc)
        breaker = self._breaker
        if breaker.failures or breaker.tripped:
            self._succeeded()
        if self.revoked:
            return None
        if type(request) is Order:
            # Published once the engine has it, so that the event sink's
            # thread does not compete with the engine on the way to acceptance.
            self.directory.tell(EVENTS, request)
        self._route(events)
        return None

    def _failed(self, request: Request, calls: int, exc: Exception) -> float | None:
        """The ``calls``-th attempt raised ``exc``: retry it, or answer the request."""
        what = _CALL_NAMES[type(request)]
        detail = f"{type(exc).__name__}: {exc}"
        error = f"{what} failed: {detail}"
        opened = False
        if is_transient(exc):
            opened = self._breaker.record_failure(time.monotonic())
            if self._policy.may_retry(calls):
                delay = self._policy.delay(calls)
                self._retries += 1
                if type(request) is Order:
                    self._retrying[request.client_order_id] = False
                logger.warning(
                    "{}: {} (attempt {} of {}); retrying in {:.3f}s",
                    self.name,
                    error,
                    calls,
                    self._policy.config.attempts,
                    delay,
                )
                if opened:
                    self._circuit_opened(error)
                return delay
            if calls > 1:
                error = f"{what} failed after {calls} attempts: {detail}"
        self._fault(error)
        if type(request) is Order:
            self._retrying.pop(request.client_order_id, None)
            reason = RejectReason.ENGINE_ERROR
            self._route((self._update(request, OrderStatus.REJECTED, reason, error),))
        elif type(request) is ModifyOrder:
            self._refuse_modify(request, error)
        elif type(request) is CancelOrder:
            # The order keeps working: its owner hears that the cancel failed.
            self._answer_unchanged(request.client_order_id, RejectReason.ENGINE_ERROR, error)
        if opened:
            self._circuit_opened(error)
        return None

    def _circuit_opened(self, error: str) -> None:
        failures = self._breaker.failures
        self._fault(f"circuit open after {failures} failed calls in a row (last: {error})")

    def _succeeded(self) -> None:
        breaker = self._breaker
        tripped = breaker.tripped
        breaker.record_success(time.monotonic())
        if tripped and not breaker.tripped:
            logger.info("{}: circuit closed: the trial call succeeded", self.name)

    def _reached(self, order: Order) -> None:
        """A submit that failed had reached the broker: report it accepted, never resend."""
        logger.warning(
            "{}: {} reached the broker before its submit failed; not sent again",
            self.name,
            order.client_order_id,
        )
        if self.revoked:
            return
        self.directory.tell(EVENTS, order)
        text = "accepted by the broker before the failed submit returned"
        self._route((self._update(order, OrderStatus.ACCEPTED, None, text),))

    def _answer_unchanged(self, client_order_id: str, reason: RejectReason, text: str) -> bool:
        """Answer a request the adapter did not carry out with the order's last update
        (its state unchanged), now, with ``reason``; False when there is none."""
        last = self._live.get(client_order_id)
        if last is None:
            return False
        now = time.time_ns()
        answer = dataclasses.replace(
            last, id=next_id(), ts_event=now, ts_init=now, reason=reason, message=text
        )
        self._route((answer,))
        return True

    def _refuse_modify(self, request: ModifyOrder, text: str) -> None:
        """Answer a modification as refused: the order's last update, reason MODIFY_REFUSED."""
        if not self._answer_unchanged(request.client_order_id, RejectReason.MODIFY_REFUSED, text):
            # Not acknowledged yet (an adapter that answers later), or ended: the
            # order manager answers it from its own book.
            logger.info("{}: modify of {} refused: {}", self.name, request.client_order_id, text)
            if not self.revoked:
                self.directory.tell(
                    ORDERS,
                    ModifyRefused(request, RejectReason.MODIFY_REFUSED, text, by_engine=True),
                )

    def _abandon_waiting(self, reason: RejectReason, text: str) -> None:
        """Answer the waiting calls instead of making them (cancel-all, stop)."""
        waiting, self._waiting = self._waiting, deque()
        if not waiting:
            return
        known = True
        working: frozenset[str] = frozenset()
        if any(type(c.request) is Order and c.calls for c in waiting):
            try:
                working = frozenset(self.adapter.working_orders())
            except Exception:
                logger.exception("{}: cannot list the working orders", self.name)
                known = False
        for call in waiting:
            request = call.request
            if type(request) is Order:
                if self._retrying.pop(request.client_order_id, False):
                    continue  # reported by the adapter since: it reached the broker
                if call.calls and request.client_order_id in working:
                    self._reached(request)  # at the broker: a cancel-all that follows ends it
                elif call.calls and not known:
                    text_unknown = f"{text}: its failed submit may have reached the broker"
                    self._route((self._update(request, OrderStatus.UNKNOWN, None, text_unknown),))
                else:
                    unsent = f"{text}: not sent"
                    self._route((self._update(request, OrderStatus.REJECTED, reason, unsent),))
            elif type(request) is ModifyOrder:
                self._refuse_modify(request, f"{text}: modification not sent")
            # A waiting cancel (or an earlier cancel-all's retry) is covered by the cancel-all.

    def _schedule(self, due: float) -> None:
        """Have a wake delivered at ``due`` unless one is already on its way by then."""
        if self.revoked or (self._wake_at is not None and self._wake_at <= due):
            return
        with self._timers_lock:
            if self._timers_closed:
                return
            if self._timers is None:
                self._timers = Scheduler(self.actor_ref.tell, name=f"tradepit-{self.name}-timers")
            timers = self._timers
        self._wake_at = due
        timers.at(due, _WAKE)

    def _stop_timers(self) -> None:
        with self._timers_lock:
            self._timers_closed = True
            timers, self._timers = self._timers, None
        if timers is not None:
            timers.close()

    # --- events --------------------------------------------------------------------

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
        live = self._live
        for event in events:
            if type(event) is EngineFault:
                tell(SUPERVISOR, event)
                continue
            assert not isinstance(event, EngineFault)
            retrying = self._retrying
            if retrying and event.client_order_id in retrying:
                retrying[event.client_order_id] = True
            if type(event) is Fill:
                self._fills += 1
            else:
                assert isinstance(event, OrderUpdate)
                status = event.status
                if status.is_terminal:
                    live.pop(event.client_order_id, None)
                    if status is OrderStatus.REJECTED:
                        strategy = event.strategy_id
                        self._rejected[strategy] = self._rejected.get(strategy, 0) + 1
                else:
                    live[event.client_order_id] = event
            tell(ORDERS, event)
