"""The ``venue`` adapter: orders go to a ``tradepit venue`` process over ZeroMQ.

All socket I/O runs in the adapter's own thread (``tradepit-venue-ENGINE``),
which alone owns the DEALER socket. The engine actor's calls only queue a
request and wake that thread through a pipe, so they return at once and
never block: ``submit`` returns ``()`` and the ACCEPTED or REJECTED update,
like every later update and fill, arrives through ``bind``'s callback.

Failure rules:

- **Heartbeats.** A ``PING`` every ``heartbeat_s``; :meth:`VenueAdapter.healthy`
  is True while the session is open and the last ``PONG`` is younger than
  3 x ``heartbeat_s``. Past that the connection counts as lost: one
  ``EngineFault``, and ``HELLO`` is sent every heartbeat until the venue
  answers. The first connection gets ``request_timeout_s`` before it is a fault.
- **Request timeouts.** A request not answered within ``request_timeout_s``
  is an ``EngineFault``; the order it carried is reported UNKNOWN (it may or
  may not have reached the venue) and stays in :meth:`working_orders` for
  :meth:`reconcile` to settle. A request that could not even be sent within
  that time (no connection) is a fault too, and its order is REJECTED with
  ``ENGINE_ERROR``: it surely never left.
- **Reconnects.** After a lost connection or a venue restart (``NO_SESSION``,
  or a new venue ``instance``), ``HELLO`` again; requests refused with
  ``NO_SESSION`` are sent again once the session is back (the venue never ran
  them). A new venue instance, or missed events (a gap in the ``EVENT``
  sequence), start a :meth:`reconcile` of the working orders.
- **Hand-over.** Events the bound callback refuses (the engine actor died)
  are held, in order, for the callback of the next :meth:`~VenueAdapter.bind`
  (the replacement actor that took the adapter over).
- **Recovery.** After a crash of the runtime, :meth:`VenueAdapter.recover`
  adopts the orders the journal had open and settles them with one
  ``STATUS``; :meth:`VenueAdapter.positions` asks ``POSITIONS``. Their
  futures fail with ``TimeoutError`` when the request is not answered (or
  cannot be sent) within ``request_timeout_s``, with
  :class:`~actors.brokers.base.PermanentBrokerError` when the venue refuses
  it, and with ``ConnectionError`` when the adapter closes first.

The wire protocol is :mod:`runtime.venue_protocol` (``docs/protocol.md``).
"""

from __future__ import annotations

import bisect
import concurrent.futures
import contextlib
import itertools
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import zmq
from loguru import logger

from actors.brokers.base import AdapterEvent, BrokerAdapter, PermanentBrokerError, resolved
from runtime.config import VenueConfig
from runtime.crashpoints import crash_point
from runtime.messages import (
    Fill,
    Order,
    OrderStatus,
    OrderToRecover,
    OrderUpdate,
    RejectReason,
    next_id,
    unfilled_update,
)
from runtime.venue_protocol import (
    PROTOCOL_VERSION,
    Ack,
    Cancel,
    CancelAllOrders,
    ErrorCode,
    ErrorReply,
    EventPush,
    Hello,
    Ping,
    Pong,
    PositionReport,
    PositionsQuery,
    ProtocolError,
    Reply,
    Request,
    StatusQuery,
    Submit,
    Welcome,
    decode_reply,
    encode,
)

__all__ = ["VenueAdapter"]

_UNHEALTHY_BEATS = 3
_MAX_HELD = 100_000
"""Most events held while the engine actor is being replaced."""
_CONNECT_RETRY_S = 0.02
"""While no connection is up, how soon a HELLO that could not be sent is tried again."""
_DRAIN = 1024
"""Most replies read before the thread looks at its other duties."""


class _Reconcile:
    """Queued by :meth:`VenueAdapter.reconcile`: ask the status of every working order."""


@dataclass(slots=True)
class _Recover:
    """Queued by :meth:`VenueAdapter.recover`: one ``STATUS`` for the adopted orders."""

    orders: tuple[OrderToRecover, ...]
    future: concurrent.futures.Future[tuple[str, ...]]


@dataclass(slots=True)
class _AskPositions:
    """Queued by :meth:`VenueAdapter.positions`."""

    future: concurrent.futures.Future[dict[str, float]]


_RECONCILE = _Reconcile()
_E = TypeVar("_E", OrderUpdate, Fill)
_Op = Request | _Reconcile | _Recover | _AskPositions | None
"""What the engine's thread hands the I/O thread; None stops it."""


@dataclass(slots=True)
class _Pending:
    """A request waiting to be sent or answered."""

    request: Request
    deadline: float
    """time.monotonic() by which it must be sent (then: answered)."""


class VenueAdapter(BrokerAdapter):
    """Executes at a simulated venue process; see the module docstring."""

    def __init__(self, *, engine: str, config: VenueConfig, clock: Callable[[], int]) -> None:
        super().__init__(engine=engine)
        self.config = config
        self.session = uuid.uuid4().hex
        """This adapter's session id, sent in every ``HELLO``."""
        self._clock = clock
        self._reqs = itertools.count(1)
        self._ops: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._wake_r = self._wake_w = -1  # the wake-up pipe, made with the thread
        self._post_lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        # Shared with other threads: single reads and writes, or under a lock.
        self._out_lock = threading.RLock()
        self._target: Callable[[AdapterEvent], None] | None = None
        self._held: list[AdapterEvent] = []
        self._lock = threading.Lock()
        self._working: dict[str, OrderUpdate] = {}
        self._up = False
        self._last_pong = -float("inf")
        # Owned by the I/O thread.
        self._outbox: list[_Pending] = []
        self._inflight: dict[int, _Pending] = {}
        """Sent, by request id; deadlines never decrease in insertion order."""
        self._fills_seen: dict[str, set[str]] = {}
        self._recoveries: dict[int, concurrent.futures.Future[tuple[str, ...]]] = {}
        """Futures of :meth:`recover`, by the request id of their ``STATUS``."""
        self._position_asks: dict[int, concurrent.futures.Future[dict[str, float]]] = {}
        """Futures of :meth:`positions`, by request id."""
        self._hello: _Pending | None = None
        self._instance: str | None = None
        self._seq = 0
        self._next_beat = 0.0
        self._outage_fault_at: float | None = None

    # --- BrokerAdapter ------------------------------------------------------------

    def bind(self, emit: Callable[[AdapterEvent], None]) -> None:
        """Set the event callback; the first call starts the I/O thread.

        Events the previous callback refused (its actor had died) go to the
        new one first, in order: an engine actor's replacement re-binds the
        adapter it took over.
        """
        with self._out_lock:
            self._target = emit
            held, self._held = self._held, []
            for event in held:
                self._out(event)
        super().bind(self._out)
        with self._post_lock:
            if self._thread is None and not self._closed:
                self._wake_r, self._wake_w = os.pipe()
                os.set_blocking(self._wake_r, False)
                os.set_blocking(self._wake_w, False)
                self._thread = threading.Thread(
                    target=self._run, name=f"tradepit-venue-{self.engine}", daemon=True
                )
                self._thread.start()

    def submit(self, order: Order) -> Sequence[AdapterEvent]:
        self._post(Submit(req=next(self._reqs), order=order))
        return ()

    def cancel(self, client_order_id: str, ts_event: int) -> Sequence[AdapterEvent]:
        self._post(Cancel(req=next(self._reqs), client_order_id=client_order_id, ts_event=ts_event))
        return ()

    def cancel_all(
        self, ts_event: int, reason: RejectReason, message: str
    ) -> Sequence[AdapterEvent]:
        self._post(
            CancelAllOrders(req=next(self._reqs), ts_event=ts_event, reason=reason, message=message)
        )
        return ()

    def working_orders(self) -> tuple[str, ...]:
        """Orders last reported working (or UNKNOWN), from the updates seen so far."""
        with self._lock:
            return tuple(self._working)

    def reconcile(self) -> Sequence[AdapterEvent]:
        """Ask the venue for the state of every working order; the answers are emitted.

        Missed fills are emitted (never one twice), then each order's current
        update; an order the venue has no record of is reported UNKNOWN and
        leaves :meth:`working_orders`.
        """
        self._post(_RECONCILE)
        return ()

    def recover(
        self, orders: Sequence[OrderToRecover]
    ) -> concurrent.futures.Future[tuple[str, ...]]:
        """Adopt ``orders`` (they join :meth:`working_orders` at once) and send one
        ``STATUS`` for them; see :meth:`BrokerAdapter.recover`.

        The journal's fill ids count as seen. The answer's fills not seen are
        emitted, then each order's current update; the ids the venue has no
        record of leave the working orders without an event and are the
        future's result.
        """
        adopted = tuple(orders)
        if not adopted:
            return resolved(())
        future: concurrent.futures.Future[tuple[str, ...]] = concurrent.futures.Future()
        with self._lock:
            for o in adopted:
                self._working.setdefault(o.update.client_order_id, o.update)
        if not self._post(_Recover(adopted, future)):
            future.set_exception(ConnectionError(f"venue adapter {self.engine} is closed"))
        return future

    def positions(self) -> concurrent.futures.Future[dict[str, float]]:
        """Ask the venue (``POSITIONS``) for this engine's net position per symbol."""
        future: concurrent.futures.Future[dict[str, float]] = concurrent.futures.Future()
        if not self._post(_AskPositions(future)):
            future.set_exception(ConnectionError(f"venue adapter {self.engine} is closed"))
        return future

    def healthy(self) -> bool:
        """Session open and the last PONG younger than 3 heartbeats; never blocks."""
        limit = _UNHEALTHY_BEATS * self.config.heartbeat_s
        return self._up and time.monotonic() - self._last_pong < limit

    def close(self) -> None:
        """Stop the I/O thread (it closes the socket, LINGER 0) and wait for it."""
        with self._post_lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._ops.put(None)
                self._wake()
        if thread is not None:
            thread.join(timeout=max(2.0, 2 * self.config.heartbeat_s))
            if thread.is_alive():
                logger.error("venue adapter {}: I/O thread did not stop", self.engine)
                return  # it still polls the pipe: leave the descriptors open
            os.close(self._wake_r)
            os.close(self._wake_w)

    # --- hand-over to the I/O thread ------------------------------------------------

    def _post(self, op: _Op) -> bool:
        """Hand ``op`` to the I/O thread; False (and dropped) once closed."""
        with self._post_lock:
            if self._closed:
                logger.warning("venue adapter {}: closed; {!r} dropped", self.engine, op)
                return False
            self._ops.put(op)
            if self._thread is not None:
                self._wake()
            return True

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # full: the thread is awake anyway
            os.write(self._wake_w, b"\x00")

    # --- the I/O thread ---------------------------------------------------------------

    def _run(self) -> None:
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)  # never queue for a connection that is not there
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        self._outage_fault_at = time.monotonic() + self.config.request_timeout_s
        try:
            sock.connect(self.config.orders)
            while True:
                ready = dict(poller.poll(self._poll_ms()))
                if self._wake_r in ready:
                    _drain_pipe(self._wake_r)
                if not self._take_ops():
                    return
                if sock in ready:
                    self._receive(sock)
                self._tick(sock)
        except Exception as exc:
            logger.exception("venue adapter {}: I/O thread failed", self.engine)
            self._up = False
            self.report_fault(f"venue adapter I/O failed: {type(exc).__name__}: {exc}")
        finally:
            sock.close(linger=0)
            self._fail_asks(ConnectionError(f"venue adapter {self.engine} closed"))

    def _poll_ms(self) -> int:
        due = [self._next_beat, *(p.deadline for p in self._outbox)]
        if self._inflight:
            due.append(next(iter(self._inflight.values())).deadline)
        if self._outage_fault_at is not None:
            due.append(self._outage_fault_at)
        wait = min(due) - time.monotonic()
        return max(0, int(wait * 1000) + 1)

    def _take_ops(self) -> bool:
        """Move queued requests to the outbox; False when asked to stop."""
        while True:
            try:
                op = self._ops.get_nowait()
            except queue.Empty:
                return True
            if op is None:
                return False
            if isinstance(op, _Reconcile):
                self._reconcile_now()
            elif isinstance(op, _Recover):
                self._recover_now(op)
            elif isinstance(op, _AskPositions):
                ask = PositionsQuery(req=next(self._reqs))
                self._position_asks[ask.req] = op.future
                self._queue(ask)
            else:
                self._queue(op)

    def _queue(self, request: Request) -> None:
        self._outbox.append(_Pending(request, time.monotonic() + self.config.request_timeout_s))

    def _reconcile_now(self) -> None:
        with self._lock:
            ids = tuple(self._working)
        if ids:
            self._queue(StatusQuery(req=next(self._reqs), client_order_ids=ids))

    def _recover_now(self, op: _Recover) -> None:
        for o in op.orders:
            if o.fill_ids:
                self._fills_seen.setdefault(o.update.client_order_id, set()).update(o.fill_ids)
        ids = tuple(dict.fromkeys(o.update.client_order_id for o in op.orders))
        query = StatusQuery(req=next(self._reqs), client_order_ids=ids)
        self._recoveries[query.req] = op.future
        self._queue(query)

    def _fail_ask(self, req: int, error: BaseException) -> None:
        """Fail the future of a recovery or positions request, if it is one."""
        future: concurrent.futures.Future[Any] | None = self._recoveries.pop(req, None)
        if future is None:
            future = self._position_asks.pop(req, None)
        if future is not None:
            _settle(future, error=error)

    def _fail_asks(self, error: BaseException) -> None:
        for req in [*self._recoveries, *self._position_asks]:
            self._fail_ask(req, error)

    def _tick(self, sock: zmq.Socket[bytes]) -> None:
        now = time.monotonic()
        if now >= self._next_beat:
            self._next_beat = now + self.config.heartbeat_s
            self._beat(sock, now)
        if self._up:
            self._flush(sock, now)
        self._expire(now)

    def _beat(self, sock: zmq.Socket[bytes], now: float) -> None:
        limit = _UNHEALTHY_BEATS * self.config.heartbeat_s
        if self._up and now - self._last_pong >= limit:
            self._lose(f"no PONG for {now - self._last_pong:.2f}s")
        if self._up:
            self._send(sock, Ping(req=next(self._reqs), ts=self._clock()))
        elif self._hello is None or now >= self._hello.deadline:
            hello = Hello(
                req=next(self._reqs),
                version=PROTOCOL_VERSION,
                engine=self.engine,
                session=self.session,
            )
            if self._send(sock, hello):
                self._hello = _Pending(hello, now + self.config.request_timeout_s)
            else:
                self._next_beat = min(self._next_beat, now + _CONNECT_RETRY_S)
        if not self._up and self._outage_fault_at is not None and now >= self._outage_fault_at:
            self._outage_fault_at = None
            self.report_fault(f"cannot reach the venue at {self.config.orders}")

    def _lose(self, why: str) -> None:
        logger.warning("venue adapter {}: lost the venue: {}", self.engine, why)
        self._up = False
        self._hello = None
        self._outage_fault_at = None
        self.report_fault(f"lost the venue at {self.config.orders}: {why}")

    def _flush(self, sock: zmq.Socket[bytes], now: float) -> None:
        while self._outbox:
            pending = self._outbox[0]
            if not self._send(sock, pending.request):
                return
            self._outbox.pop(0)
            pending.deadline = now + self.config.request_timeout_s
            self._inflight[pending.request.req] = pending
            if type(pending.request) is Submit:
                crash_point("venue.submit_sent")

    def _send(self, sock: zmq.Socket[bytes], request: Request) -> bool:
        try:
            sock.send_multipart(encode(request), zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def _expire(self, now: float) -> None:
        lost = list(itertools.takewhile(lambda p: now >= p.deadline, self._inflight.values()))
        unsent = [p for p in self._outbox if now >= p.deadline]
        if not lost and not unsent:
            return
        timeout = self.config.request_timeout_s
        for p in lost:
            del self._inflight[p.request.req]
            self._unknown(p.request, f"no answer from the venue within {timeout:g}s")
            self._fail_ask(
                p.request.req,
                TimeoutError(f"{p.request.KIND}: no answer from the venue within {timeout:g}s"),
            )
        for p in unsent:
            self._outbox.remove(p)
            self._fail_ask(
                p.request.req,
                TimeoutError(f"{p.request.KIND}: not connected to the venue within {timeout:g}s"),
            )
            if type(p.request) is Submit:
                self._apply(
                    unfilled_update(
                        p.request.order,
                        OrderStatus.REJECTED,
                        RejectReason.ENGINE_ERROR,
                        f"not connected to the venue within {timeout:g}s; not sent",
                        engine=self.engine,
                        ts=self._clock(),
                    )
                )
        kinds = ", ".join(p.request.KIND for p in lost + unsent)
        self.report_fault(
            f"{len(lost)} request(s) unanswered and {len(unsent)} unsent within "
            f"{timeout:g}s ({kinds})"
        )

    def _unknown(self, request: Request, why: str) -> None:
        """The order a lost request carried is UNKNOWN: it may or may not have arrived."""
        now = self._clock()
        message = f"{why}; the order may or may not have reached it"
        if type(request) is Submit:
            unknown = OrderStatus.UNKNOWN
            self._apply(
                unfilled_update(request.order, unknown, None, message, engine=self.engine, ts=now)
            )
        elif type(request) is Cancel:
            with self._lock:
                last = self._working.get(request.client_order_id)
            if last is not None:
                update = self._restamp(last)
                self._apply(replace(update, status=OrderStatus.UNKNOWN, message=message))

    # --- replies ------------------------------------------------------------------

    def _receive(self, sock: zmq.Socket[bytes]) -> None:
        for _ in range(_DRAIN):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                reply = decode_reply(frames)
            except ProtocolError as exc:
                logger.warning("venue adapter {}: bad frames from the venue: {}", self.engine, exc)
                continue
            self._on_reply(reply)

    def _on_reply(self, reply: Reply) -> None:
        if type(reply) is EventPush:
            gap = reply.seq != self._seq + 1
            self._seq = reply.seq
            self._deliver(reply.event)
            if gap:
                logger.warning("venue adapter {}: events were missed; reconciling", self.engine)
                self._reconcile_now()
        elif type(reply) is Pong:
            self._inflight.pop(reply.req, None)
            if reply.instance == self._instance:
                self._last_pong = time.monotonic()
        elif type(reply) is Ack:
            pending = self._inflight.pop(reply.req, None)
            status = pending is not None and type(pending.request) is StatusQuery
            for event in reply.events:
                self._deliver(event, reconciling=status)
            recovery = self._recoveries.pop(reply.req, None) if pending is not None else None
            if recovery is None:
                for oid in reply.unknown:
                    self._forget(oid)
                return
            for oid in reply.unknown:
                with self._lock:
                    self._working.pop(oid, None)
                self._fills_seen.pop(oid, None)
            _settle(recovery, result=tuple(reply.unknown))
        elif type(reply) is PositionReport:
            self._inflight.pop(reply.req, None)
            asked = self._position_asks.pop(reply.req, None)
            if asked is not None:
                _settle(asked, result=dict(reply.positions))
        elif type(reply) is Welcome:
            self._welcome(reply)
        else:
            assert type(reply) is ErrorReply
            self._error(reply)

    def _welcome(self, welcome: Welcome) -> None:
        if self._hello is None or welcome.req != self._hello.request.req:
            return  # the answer to an abandoned HELLO
        first = self._instance is None
        missed = not first and (welcome.instance != self._instance or welcome.seq != self._seq)
        self._hello = None
        self._instance = welcome.instance
        self._seq = welcome.seq
        self._last_pong = time.monotonic()
        self._outage_fault_at = None
        self._up = True
        logger.info(
            "venue adapter {}: session open at {} (instance {})",
            self.engine,
            welcome.venue,
            welcome.instance,
        )
        if missed:
            self._reconcile_now()

    def _error(self, error: ErrorReply) -> None:
        pending = self._inflight.pop(error.req, None) if error.req is not None else None
        if error.code is ErrorCode.NO_SESSION:
            if pending is not None and type(pending.request) not in (Ping, Hello):
                bisect.insort(self._outbox, pending, key=lambda p: p.request.req)
            if self._up:
                logger.info("venue adapter {}: session gone; saying HELLO again", self.engine)
                self._up = False
                self._hello = None
                self._next_beat = 0.0  # HELLO at once
            return
        logger.error(
            "venue adapter {}: venue refused request {}: {}: {}",
            self.engine,
            error.req,
            error.code,
            error.message,
        )
        if pending is not None:
            refused = PermanentBrokerError(f"the venue refused it: {error.code}: {error.message}")
            self._fail_ask(pending.request.req, refused)
        if pending is not None and type(pending.request) is Submit:
            reason = (
                RejectReason.INVALID_ORDER
                if error.code is ErrorCode.BAD_ORDER
                else RejectReason.ENGINE_ERROR
            )
            update = unfilled_update(
                pending.request.order,
                OrderStatus.REJECTED,
                reason,
                f"venue refused it: {error.code}: {error.message}",
                engine=self.engine,
                ts=self._clock(),
            )
            self._apply(update)

    # --- events -------------------------------------------------------------------

    def _deliver(self, event: OrderUpdate | Fill, *, reconciling: bool = False) -> None:
        oid = event.client_order_id
        if reconciling:
            with self._lock:
                working = oid in self._working
            # An order that ended meanwhile was reported by a push already.
            if not working:
                return
        if type(event) is Fill:
            seen = self._fills_seen.setdefault(oid, set())
            if event.fill_id in seen:
                return
            seen.add(event.fill_id)
            self._out(self._restamp(event))
        else:
            assert type(event) is OrderUpdate
            self._apply(self._restamp(event))

    def _forget(self, client_order_id: str) -> None:
        """The venue has no record of an order it was believed to hold."""
        with self._lock:
            last = self._working.get(client_order_id)
        if last is None:
            return
        message = "the venue has no record of this order (it may have restarted)"
        update = replace(self._restamp(last), status=OrderStatus.UNKNOWN, message=message)
        with self._lock:
            self._working.pop(client_order_id, None)
        self._fills_seen.pop(client_order_id, None)
        self._out(update)

    def _apply(self, update: OrderUpdate) -> None:
        """Track whether the order still works, then report the update."""
        oid = update.client_order_id
        with self._lock:
            if update.status.is_terminal:
                self._working.pop(oid, None)
            else:
                self._working[oid] = update
        if update.status.is_terminal:
            self._fills_seen.pop(oid, None)
        self._out(update)

    def _restamp(self, event: _E) -> _E:
        """A copy owned by this process: fresh id and ts_init, this engine's name."""
        return replace(event, id=next_id(), ts_init=self._clock(), engine=self.engine)

    def _out(self, event: AdapterEvent) -> None:
        """Hand an event to the bound callback, or hold it until the next ``bind``."""
        with self._out_lock:
            if not self._held and self._target is not None:
                try:
                    self._target(event)
                    return
                except Exception as exc:  # the engine actor died; a replacement will bind
                    logger.warning("venue adapter {}: events held: {!r}", self.engine, exc)
            if len(self._held) >= _MAX_HELD:
                logger.error("venue adapter {}: {} dropped (too many held)", self.engine, event)
                return
            self._held.append(event)


def _settle(
    future: concurrent.futures.Future[Any],
    *,
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    """Resolve ``future`` unless its caller cancelled it."""
    if not future.set_running_or_notify_cancel():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _drain_pipe(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 4096):
            pass
