"""The ZeroMQ gateway: the runtime's event stream and command channel.

External clients attach to a running runtime through two sockets, both bound
by one thread (``tradepit-gateway``) that alone touches them (ZeroMQ sockets
are not thread-safe):

- an **XPUB** socket (``[gateway] events``) where every event is published
  as two frames, the UTF-8 topic (:mod:`runtime.topics`) and the body of
  :func:`runtime.gateway_protocol.encode_event`; a ``heartbeat`` goes out
  every ``heartbeat_s`` whether or not events flow, so a client can tell a
  dead runtime from a quiet one;
- a **ROUTER** socket (``[gateway] commands``) where DEALER or REQ clients
  send one JSON request frame and get one JSON reply frame
  (:mod:`runtime.gateway_protocol`).

Events reach the socket thread through :meth:`Gateway.publish`, callable
from any thread: it appends to a bounded deque and, only when the socket
thread is about to sleep, writes one byte to a pipe the thread polls next to
its sockets. It never blocks: when ``queue_limit`` events are waiting, new
ones are dropped and counted (:attr:`GatewayStats.dropped`). Events published
before :meth:`Gateway.start` are held (up to ``queue_limit``, the same rule)
and sent once the sockets are bound. Sequence numbers are given by
:meth:`Gateway.publish` itself, in call order: ``seq`` +1 per event, ``tseq``
+1 per event of the same topic; it returns the ``seq`` so that the journal
records each event with the number it has on the stream. A dropped event's
number is never sent: subscribers see the gap. ``Bar`` and ``Tick`` are ignored unless
``publish_bars`` is set, as are messages without a topic.

**Slow subscribers** never slow the runtime: the XPUB socket is lossy (it is
never set to NODROP); a subscriber more than ``send_hwm`` events behind
misses events. libzmq does not tell the sender which subscriber missed what,
so :class:`GatewayStats` cannot count those losses: a subscriber detects them
as a gap in ``seq`` (or in ``tseq`` of a topic it follows).

**Commands** run in a second thread (``tradepit-gateway-commands``) so that a
handler that blocks for seconds never stops the event stream. The socket
thread checks each request (frames, JSON, envelope, role) and answers
anything malformed at once; well-formed ones wait in a queue of
``max_pending_commands`` (full: ``BUSY`` at once). Replies to one client go
out in the order its requests came, refusals included. A frame larger than
``max_message_bytes`` makes libzmq drop the sender's connection: nothing can
be answered to it. No state grows with the number of clients beyond one
small queue per client that has a command waiting to run.

**CURVE** (``[gateway.curve]``): both sockets encrypt, and a ZAP handler on
the gateway's own ZeroMQ context lets in only clients whose public key is in
``control_keys`` or ``readonly_keys`` (read when :meth:`Gateway.start` runs);
others fail the handshake and get nothing, events included. A read-only
client's state-changing commands are answered ``FORBIDDEN`` without running;
a key in both directories is read-only. Without CURVE every client may do
everything, which settings allow only on loopback endpoints unless
``allow_insecure`` is set (then the gateway logs a warning at start).
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import zmq
import zmq.auth
from loguru import logger
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from runtime.config import CurveConfig, GatewayConfig
from runtime.errors import GatewayError
from runtime.gateway_protocol import (
    COMMANDS,
    CommandError,
    ErrorCode,
    Request,
    Role,
    encode_error,
    encode_event,
    encode_heartbeat,
    encode_reply,
    parse_request,
)
from runtime.messages import Bar, Message, Tick
from runtime.settings import is_loopback
from runtime.topics import HEARTBEAT, topic_of

__all__ = ["Gateway", "GatewayError", "GatewayStats", "Handler"]

Handler = Callable[[Request, Role], Any]
"""Runs one command in the gateway's command thread and returns its result
(anything :func:`runtime.gateway_protocol.encode_reply` can encode), or raises
:class:`runtime.gateway_protocol.CommandError`; any other exception is logged
and answered ``INTERNAL``."""

_EVENT_BATCH: Final = 512
"""Most events sent before the socket thread looks at its sockets again."""
_REQUEST_BATCH: Final = 256
"""Most requests read in one go."""
_SUBSCRIPTION_BATCH: Final = 1024
"""Most subscription messages read in one go."""
_HELD_REPLIES: Final = 64
"""Refusals held behind one client's running command, beyond its waiting commands."""
_TOPIC_CACHE: Final = 4096
"""Most topic names kept encoded."""
_KEEP_FRAMES: Final = 4
"""Frames of a request kept in memory; a longer message is only counted."""
_CLOSE_GRACE_S: Final = 1.0
"""How long close() waits for the socket thread beyond its timeout."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayStats:
    """Counters of one gateway, read together (:meth:`Gateway.stats`)."""

    published: int
    """Events sent on the event socket (heartbeats not included)."""
    dropped: int
    """Events not sent: ``queue_limit`` events were waiting, the gateway was
    closed, or (a bug, logged) the event could not be encoded."""
    queued: int
    """Events waiting for the socket thread now."""
    seq: int
    """The last sequence number given."""
    subscribers: int
    """Subscriptions seen: subscribe minus unsubscribe messages on the event socket."""
    commands: int
    """Requests answered (error replies included)."""
    errors: dict[str, int]
    """Error replies by ``ErrorCode`` value."""
    unanswerable: int
    """Messages dropped because they could not be answered (no request frame,
    too many refusals held for one client, the reply could not be sent)."""
    heartbeats: int
    """Heartbeats sent."""


@dataclass(slots=True)
class _Mark:
    """A marker sent through the event queue by :meth:`Gateway.mark`."""

    done: threading.Event = field(default_factory=threading.Event)
    seq: int = 0
    topics: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Slot:
    """One reply owed to a client, in the order its requests came."""

    envelope: list[bytes]
    """The identity, and the empty delimiter of a REQ client."""
    body: bytes | None = None
    """The reply; None while the command runs."""
    code: str | None = None
    """``ErrorCode`` value of an error reply."""


@dataclass(frozen=True, slots=True)
class _Keys:
    """CURVE material: the server's key pair and the clients let in."""

    public: bytes
    secret: bytes
    control: frozenset[bytes]
    readonly: frozenset[bytes]


class _KeyRing:
    """ZAP credentials provider: lets in the z85 public keys given."""

    def __init__(self, allowed: frozenset[bytes]) -> None:
        self._allowed = allowed

    def callback(self, domain: str, key: bytes) -> bool:
        """Whether the client with z85 public ``key`` may connect."""
        return key in self._allowed


def _valid_key(key: bytes) -> bool:
    if len(key) != 40:
        return False
    try:
        z85.decode(key)
    except (ValueError, KeyError, TypeError):
        return False
    return True


def _load_keys(curve: CurveConfig) -> _Keys:
    path = curve.server_secret_key
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise GatewayError(f"cannot read the server key file {str(path)!r}: {exc}") from None
    if secret is None:
        raise GatewayError(
            f"the server key file {str(path)!r} holds no secret key "
            "(give the .key_secret file 'tradepit keys' wrote)"
        )
    if not _valid_key(public) or not _valid_key(secret):
        raise GatewayError(f"the server key file {str(path)!r} does not hold 40-character z85 keys")
    control = _client_keys(curve.control_keys)
    readonly = _client_keys(curve.readonly_keys) if curve.readonly_keys else frozenset()
    if not control and not readonly:
        logger.warning(
            "gateway: no client key in {} (nor a read-only one): no client can connect",
            curve.control_keys,
        )
    return _Keys(public=public, secret=secret, control=control, readonly=readonly)


def _client_keys(directory: Path) -> frozenset[bytes]:
    """The public keys of the key files in ``directory``; other files are skipped."""
    try:
        files = sorted(p for p in directory.iterdir() if p.is_file())
    except OSError as exc:
        raise GatewayError(
            f"cannot read the client key directory {str(directory)!r}: {exc}"
        ) from None
    keys: set[bytes] = set()
    for path in files:
        try:
            public, _ = zmq.auth.load_certificate(path)
        except (OSError, ValueError, UnicodeDecodeError):
            logger.debug("gateway: {} is not a key file; skipped", path)
            continue
        if _valid_key(public):
            keys.add(public)
        else:
            logger.warning("gateway: {} holds no valid z85 public key; skipped", path)
    return frozenset(keys)


def _endpoint(sock: zmq.Socket[bytes]) -> str:
    value = sock.getsockopt(zmq.LAST_ENDPOINT)
    return value.decode() if isinstance(value, bytes) else str(value)


class Gateway:
    """The event stream and the command channel of one runtime.

    Build it, :meth:`start` it (binds both sockets), :meth:`publish` events
    from any thread, :meth:`close` it. ``handler`` runs each well-formed,
    permitted command in the command thread. ``state`` is called by the
    socket thread for every heartbeat: it must be cheap and never block.
    """

    def __init__(
        self,
        config: GatewayConfig,
        handler: Handler,
        *,
        name: str = "tradepit",
        state: Callable[[], str] = lambda: "RUNNING",
    ) -> None:
        self._config = config
        self._handler = handler
        self._name = name
        self._state = state
        self._limit = config.queue_limit
        self._ignored: frozenset[type] = (
            frozenset() if config.publish_bars else frozenset({Bar, Tick})
        )
        self._held_limit = config.max_pending_commands + _HELD_REPLIES
        # Handed to the socket thread by publishers and the command thread.
        self._events: deque[tuple[str | None, Any, int, int]] = deque()
        """(topic, event, seq, tseq); topic None for a ``_Mark``."""
        self._number_lock = threading.Lock()
        self._numbered = 0
        self._numbered_topics: dict[str, int] = {}
        self._replies: deque[tuple[_Slot, bytes, str | None]] = deque()
        self._commands: queue.Queue[tuple[_Slot, Request, Role] | None] = queue.Queue(
            config.max_pending_commands
        )
        self._wake_lock = threading.Lock()
        self._wake_r = -1
        self._wake_w = -1
        self._signalled = False
        self._refusing = False
        self._drop_lock = threading.Lock()
        self._dropped = 0
        # Owned by the socket thread; read by others under _lock.
        self._lock = threading.Lock()
        self._seq = 0
        self._tseq: dict[str, int] = {}
        self._topic_bytes: dict[str, bytes] = {}
        self._published = 0
        self._subscriptions = 0
        self._answered = 0
        self._errors: dict[str, int] = {}
        self._unanswerable = 0
        self._heartbeats = 0
        self._lines: dict[bytes, deque[_Slot]] = {}
        # Life cycle.
        self._lifecycle = threading.Lock()
        self._started = False
        self._closed = False
        self._closing = False
        self._deadline = 0.0
        self._worker_done = False
        self._keys: _Keys | None = None
        self._ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self._auth: ThreadAuthenticator | None = None
        self._endpoints: tuple[str, str] | None = None
        self._start_error: GatewayError | None = None
        self._ready = threading.Event()
        self._socket_thread: threading.Thread | None = None
        self._worker: threading.Thread | None = None

    # --- public API -------------------------------------------------------------

    def start(self) -> None:
        """Load the CURVE keys, bind both sockets and start both threads.

        Returns once the sockets are bound. Raises :class:`GatewayError`
        naming the endpoint (or key file) and the reason; the gateway is then
        closed.
        """
        with self._lifecycle:
            if self._closed:
                raise GatewayError("the gateway is closed; build a new one")
            if self._started:
                raise GatewayError("the gateway is already started")
            self._started = True
            try:
                self._start()
            except BaseException:
                self._closed = True
                self._refusing = True
                raise

    def _start(self) -> None:
        config = self._config
        keys = _load_keys(config.curve) if config.curve is not None else None
        self._keys = keys
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._ctx = ctx
        try:
            if keys is not None:
                auth = ThreadAuthenticator(ctx)
                self._auth = auth
                auth.start()
                auth.configure_curve_callback(
                    domain="*", credentials_provider=_KeyRing(keys.control | keys.readonly)
                )
            wake_r, wake_w = os.pipe()
            os.set_blocking(wake_r, False)
            os.set_blocking(wake_w, False)
            with self._wake_lock:
                self._wake_r, self._wake_w = wake_r, wake_w
            thread = threading.Thread(
                target=self._run_sockets, name="tradepit-gateway", daemon=False
            )
            self._socket_thread = thread
            thread.start()
            self._ready.wait()
            if self._start_error is not None:
                thread.join()
                raise self._start_error
        except BaseException:
            self._release()
            raise
        self._worker = threading.Thread(
            target=self._run_commands, name="tradepit-gateway-commands", daemon=False
        )
        self._worker.start()
        assert self._endpoints is not None
        commands, events = self._endpoints
        if keys is None:
            for what, endpoint in (("commands", commands), ("events", events)):
                if not is_loopback(endpoint):
                    logger.warning(
                        "gateway: the {} endpoint {} is reachable from other machines "
                        "WITHOUT encryption or authentication (allow_insecure = true): "
                        "anyone who can reach it can {}",
                        what,
                        endpoint,
                        "control the runtime" if what == "commands" else "read every event",
                    )
        logger.info(
            "gateway {}: commands on {}, events on {} ({})",
            self._name,
            commands,
            events,
            "CURVE" if keys is not None else "no CURVE",
        )

    @property
    def commands_endpoint(self) -> str:
        """The command socket's bound endpoint (a ``*`` port resolved)."""
        return self._bound()[0]

    @property
    def events_endpoint(self) -> str:
        """The event socket's bound endpoint (a ``*`` port resolved)."""
        return self._bound()[1]

    @property
    def server_public_key(self) -> bytes | None:
        """The server's z85 public key with CURVE (once started); None without."""
        return self._keys.public if self._keys is not None else None

    def publish(self, message: Message) -> int | None:
        """Number ``message`` and queue it for the event stream; from any thread.

        Returns the ``seq`` it was given, None when it takes none. Never blocks
        and never raises. Messages without a topic (and bars and ticks without
        ``publish_bars``) are ignored and take no number; when ``queue_limit``
        events are waiting, or once :meth:`close` was called, the message is
        dropped and counted: its number is then never sent, so subscribers see
        the gap.
        """
        try:
            if type(message) in self._ignored:
                return None
            topic = topic_of(message)
            if topic is None:
                return None
            with self._number_lock:
                self._numbered += 1
                seq = self._numbered
                tseq = self._numbered_topics.get(topic, 0) + 1
                self._numbered_topics[topic] = tseq
                if self._refusing or len(self._events) >= self._limit:
                    with self._drop_lock:
                        self._dropped += 1
                    return seq
                self._events.append((topic, message, seq, tseq))
            if not self._signalled:
                self._signal()
            return seq
        except Exception:
            logger.exception("gateway: cannot queue a {} event", type(message).__name__)
            return None

    def mark(self, timeout: float) -> int:
        """The ``seq`` of the last event published (by :meth:`publish`) before this call.

        Waits until the socket thread has numbered every event queued before
        it. Raises :class:`TimeoutError` if that takes more than ``timeout``
        seconds (or the gateway is closed).
        """
        return self.mark_topics(timeout)[0]

    def mark_topics(self, timeout: float) -> tuple[int, dict[str, int]]:
        """:meth:`mark`, with the last ``tseq`` of each topic at that same ``seq``
        (taken together by the socket thread: a snapshot's numbering)."""
        if self._closed:
            raise TimeoutError("the gateway is closed: no event will be numbered")
        mark = _Mark()
        self._events.append((None, mark, 0, 0))
        self._signal()
        if not mark.done.wait(timeout):
            raise TimeoutError(f"the gateway did not number the queued events within {timeout}s")
        return mark.seq, mark.topics

    def topic_seqs(self) -> dict[str, int]:
        """The last ``tseq`` given on each topic (a copy)."""
        with self._lock:
            return dict(self._tseq)

    def stats(self) -> GatewayStats:
        """The gateway's counters, read together."""
        with self._lock:
            return GatewayStats(
                published=self._published,
                dropped=self._dropped,
                queued=len(self._events),
                seq=self._seq,
                subscribers=self._subscriptions,
                commands=self._answered,
                errors=dict(self._errors),
                unanswerable=self._unanswerable,
                heartbeats=self._heartbeats,
            )

    def close(self, timeout: float = 5.0) -> None:
        """Stop: send what is ready, close the sockets, join the threads.

        Events published before this call and replies already computed are
        sent within ``timeout`` seconds; commands still waiting to run are
        answered ``UNAVAILABLE``; a command running now gets ``timeout``
        seconds to finish. Events published from now on are dropped.
        Idempotent: a later call returns once the first one is done. Called
        by a command handler, it does not wait for that handler, whose reply
        is then never sent.
        """
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
            self._refusing = True
            if self._socket_thread is None:
                return
            worker = self._worker
            if worker is threading.current_thread():
                worker = None
                self._worker_done = True  # its reply would come after close
            deadline = time.monotonic() + max(0.0, timeout)
            self._deadline = deadline
            self._closing = True
            self._signal()
            self._socket_thread.join(max(0.0, deadline - time.monotonic()) + _CLOSE_GRACE_S)
            if worker is not None:
                worker.join(max(0.0, deadline - time.monotonic()))
                if worker.is_alive():
                    logger.error(
                        "gateway: a command handler did not return within {}s; thread {} "
                        "is left running",
                        timeout,
                        worker.name,
                    )
            self._release()
            logger.info("gateway {}: closed", self._name)

    # --- life cycle -------------------------------------------------------------

    def _bound(self) -> tuple[str, str]:
        if self._endpoints is None:
            raise GatewayError("the gateway is not started: no endpoint is bound")
        return self._endpoints

    def _release(self) -> None:
        """Stop the authenticator, end the context, close the wake-up pipe."""
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        thread = self._socket_thread
        if thread is not None and thread.is_alive():
            logger.error("gateway: thread {} did not stop; its sockets stay open", thread.name)
            return
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None
        with self._wake_lock:
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    os.close(fd)
            self._wake_r = self._wake_w = -1

    def _signal(self) -> None:
        """Wake the socket thread (at most one byte while it has not slept)."""
        with self._wake_lock:
            if self._signalled or self._wake_w < 0:
                return
            self._signalled = True
            with contextlib.suppress(BlockingIOError):  # full of wake-ups already
                os.write(self._wake_w, b"\x01")

    # --- the socket thread ------------------------------------------------------

    def _run_sockets(self) -> None:
        try:
            xpub, router = self._open_sockets()
        except GatewayError as exc:
            self._start_error = exc
            self._ready.set()
            return
        except BaseException as exc:
            self._start_error = GatewayError(f"cannot open the gateway's sockets: {exc!r}")
            self._ready.set()
            return
        self._ready.set()
        try:
            self._serve(xpub, router)
        except BaseException:
            logger.exception("gateway: the socket thread failed; events and commands stop")
        finally:
            linger = 0
            if self._closing:
                linger = max(0, math.floor((self._deadline - time.monotonic()) * 1000))
            self._refusing = True
            xpub.close(linger=linger)
            router.close(linger=min(linger, 100))
            self._stop_worker()

    def _open_sockets(self) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
        config = self._config
        ctx = self._ctx
        assert ctx is not None
        xpub = ctx.socket(zmq.XPUB)
        router = ctx.socket(zmq.ROUTER)
        try:
            xpub.setsockopt(zmq.LINGER, 0)
            xpub.setsockopt(zmq.SNDHWM, config.send_hwm)
            xpub.setsockopt(zmq.XPUB_VERBOSER, 1)
            router.setsockopt(zmq.LINGER, 0)
            router.setsockopt(zmq.MAXMSGSIZE, config.max_message_bytes)
            router.setsockopt(zmq.ROUTER_MANDATORY, 0)
            if self._keys is not None:
                for sock in (router, xpub):
                    sock.curve_secretkey = self._keys.secret
                    sock.curve_publickey = self._keys.public
                    sock.curve_server = True
            for sock, endpoint, what in (
                (router, config.commands, "commands"),
                (xpub, config.events, "events"),
            ):
                try:
                    sock.bind(endpoint)
                except zmq.ZMQError as exc:
                    raise GatewayError(
                        f"cannot bind the {what} socket to {endpoint!r}: {exc}"
                    ) from None
            self._endpoints = (_endpoint(router), _endpoint(xpub))
        except BaseException:
            xpub.close(linger=0)
            router.close(linger=0)
            raise
        return xpub, router

    def _serve(self, xpub: zmq.Socket[bytes], router: zmq.Socket[bytes]) -> None:
        """Poll the sockets and the wake-up pipe until closing is done."""
        poller = zmq.Poller()
        poller.register(xpub, zmq.POLLIN)
        poller.register(router, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        interval = self._config.heartbeat_s
        next_beat = time.monotonic() + interval
        reading = True
        while True:
            with self._lock:
                if self._replies:
                    self._deliver_replies(router)
                more = self._send_events(xpub)
                now = time.monotonic()
                if now >= next_beat:
                    self._beat(xpub)
                    next_beat += interval
                    if next_beat <= now:
                        next_beat = now + interval
                if self._closing:
                    if reading:
                        reading = False
                        poller.unregister(router)
                        self._cancel_waiting(router)
                    if (self._worker_done and not self._events and not self._replies) or (
                        now >= self._deadline
                    ):
                        return
            if not more and not self._replies:
                # Sleep only after the flag is down and nothing arrived meanwhile:
                # a producer that sees the flag down writes to the pipe.
                self._signalled = False
                more = bool(self._events or self._replies) or (
                    self._closing and (reading or self._worker_done)
                )
            else:
                more = True
            if more:
                timeout = 0
            else:
                until = next_beat if not self._closing else min(next_beat, self._deadline)
                timeout = max(0, math.ceil((until - time.monotonic()) * 1000))
            ready = dict(poller.poll(timeout))
            if self._wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)
            if xpub in ready:
                with self._lock:
                    self._read_subscriptions(xpub)
            if reading and router in ready:
                with self._lock:
                    self._read_requests(router)

    def _send_events(self, xpub: zmq.Socket[bytes]) -> bool:
        """Number and send up to a batch of queued events; True if more wait."""
        events = self._events
        send = xpub.send
        tseqs = self._tseq
        for _ in range(_EVENT_BATCH):
            try:
                topic, item, seq, tseq = events.popleft()
            except IndexError:
                return False
            if topic is None:
                item.seq = self._seq
                item.topics = dict(self._tseq)
                item.done.set()
                continue
            try:
                body = encode_event(seq, tseq, item)
            except Exception:
                logger.exception("gateway: cannot encode a {} event; dropped", type(item).__name__)
                with self._drop_lock:
                    self._dropped += 1
                continue
            self._seq = seq
            tseqs[topic] = tseq
            name = self._topic_bytes.get(topic)
            if name is None:
                name = topic.encode()
                if len(self._topic_bytes) < _TOPIC_CACHE:
                    self._topic_bytes[topic] = name
            send(name, zmq.SNDMORE)
            send(body)
            self._published += 1
        return bool(events)

    def _beat(self, xpub: zmq.Socket[bytes]) -> None:
        try:
            state = str(self._state())
        except Exception:
            logger.exception("gateway: the runtime state could not be read for the heartbeat")
            state = "UNKNOWN"
        body = encode_heartbeat(
            self._seq,
            time.time_ns(),
            runtime=self._name,
            state=state,
            interval_s=self._config.heartbeat_s,
            dropped=self._dropped,
        )
        xpub.send_multipart([HEARTBEAT.encode(), body])
        self._heartbeats += 1

    def _read_subscriptions(self, xpub: zmq.Socket[bytes]) -> None:
        """Count (un)subscriptions; never blocks, reads at most a batch."""
        for _ in range(_SUBSCRIPTION_BATCH):
            try:
                frame = xpub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if xpub.rcvmore:  # not a subscription: a data message from an XSUB peer
                while xpub.rcvmore:
                    xpub.recv()
                continue
            if frame[:1] == b"\x01":
                self._subscriptions += 1
            elif frame[:1] == b"\x00" and self._subscriptions > 0:
                self._subscriptions -= 1

    # --- commands: socket-thread side -------------------------------------------

    def _read_requests(self, router: zmq.Socket[bytes]) -> None:
        for _ in range(_REQUEST_BATCH):
            try:
                first = router.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            frames = [first]
            count = 1
            more = first.more
            while more:
                part = router.recv(copy=False)
                count += 1
                if len(frames) < _KEEP_FRAMES:
                    frames.append(part)
                more = part.more
            try:
                self._on_request(router, frames, count)
            except Exception:
                logger.exception("gateway: a request could not be handled")
                self._unanswerable += 1

    def _on_request(self, router: zmq.Socket[bytes], frames: list[zmq.Frame], count: int) -> None:
        identity = frames[0].bytes
        if count < 2:
            self._unanswerable += 1
            logger.debug("gateway: dropped a message without a request frame")
            return
        req_style = count >= 3 and len(frames[1].bytes) == 0
        envelope = [identity, b""] if req_style else [identity]
        if count != (3 if req_style else 2):
            self._refuse(
                router,
                envelope,
                None,
                ErrorCode.BAD_FRAMES,
                f"expected one request frame (after an optional empty delimiter), "
                f"got {count - 1} frames",
            )
            return
        frame = frames[-1]
        try:
            request = parse_request(frame.bytes, self._config.max_message_bytes)
        except CommandError as exc:
            self._refuse(router, envelope, exc.request_id, exc.code, exc.message)
            return
        role = self._role_of(frame)
        if role is Role.READ_ONLY and COMMANDS[request.cmd].mutating:
            self._refuse(
                router,
                envelope,
                request.id,
                ErrorCode.FORBIDDEN,
                f"{request.cmd!r} changes state; this client's key is read-only",
            )
            return
        slot = _Slot(envelope)
        if COMMANDS[request.cmd].immediate:
            # The emergency stop does not wait behind a slow command; its reply still
            # goes out in this client's order.
            body, code = self._execute(request, role)
            self._replies.append((slot, body, code))
            line = self._lines.get(identity)
            if line is None:
                line = self._lines[identity] = deque()
            line.append(slot)
            return
        try:
            self._commands.put_nowait((slot, request, role))
        except queue.Full:
            self._refuse(
                router,
                envelope,
                request.id,
                ErrorCode.BUSY,
                f"{self._config.max_pending_commands} commands are waiting to run; try again",
            )
            return
        line = self._lines.get(identity)
        if line is None:
            line = self._lines[identity] = deque()
        line.append(slot)

    def _role_of(self, frame: zmq.Frame) -> Role:
        keys = self._keys
        if keys is None:
            return Role.CONTROL
        try:
            user = frame.get("User-Id")
        except zmq.ZMQError:
            return Role.READ_ONLY
        key = user.encode() if isinstance(user, str) else bytes(user)
        if key in keys.control and key not in keys.readonly:
            return Role.CONTROL
        return Role.READ_ONLY

    def _refuse(
        self,
        router: zmq.Socket[bytes],
        envelope: list[bytes],
        request_id: Any,
        code: ErrorCode,
        message: str,
    ) -> None:
        logger.debug("gateway: refused a request: {}: {}", code.value, message)
        self._answer(router, envelope, encode_error(request_id, code, message), code.value)

    def _answer(
        self, router: zmq.Socket[bytes], envelope: list[bytes], body: bytes, code: str | None
    ) -> None:
        """Send a reply now, or after the client's earlier commands are answered."""
        line = self._lines.get(envelope[0])
        if line is None:
            self._send_reply(router, envelope, body, code)
        elif len(line) >= self._held_limit:
            self._unanswerable += 1
            logger.debug("gateway: too many replies held for one client; one dropped")
        else:
            line.append(_Slot(envelope, body, code))

    def _deliver_replies(self, router: zmq.Socket[bytes]) -> None:
        replies = self._replies
        for _ in range(len(replies)):
            slot, body, code = replies.popleft()
            slot.body, slot.code = body, code
            self._flush(router, slot.envelope[0])

    def _flush(self, router: zmq.Socket[bytes], identity: bytes) -> None:
        """Send the client's replies that are ready and not behind a running command."""
        line = self._lines.get(identity)
        if line is None:
            return
        while line and line[0].body is not None:
            slot = line.popleft()
            assert slot.body is not None
            self._send_reply(router, slot.envelope, slot.body, slot.code)
        if not line:
            del self._lines[identity]

    def _send_reply(
        self, router: zmq.Socket[bytes], envelope: list[bytes], body: bytes, code: str | None
    ) -> None:
        try:
            router.send_multipart([*envelope, body], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            self._unanswerable += 1
            logger.debug("gateway: a reply could not be sent: {}", exc)
            return
        self._answered += 1
        if code is not None:
            self._errors[code] = self._errors.get(code, 0) + 1

    def _cancel_waiting(self, router: zmq.Socket[bytes]) -> None:
        """At close: answer the commands not started ``UNAVAILABLE``; stop the worker."""
        while True:
            try:
                item = self._commands.get_nowait()
            except queue.Empty:
                break
            if item is None:
                continue
            slot, request, _ = item
            slot.body = encode_error(
                request.id,
                ErrorCode.UNAVAILABLE,
                "the runtime is stopping; the command did not run",
            )
            slot.code = ErrorCode.UNAVAILABLE.value
            self._flush(router, slot.envelope[0])
        self._stop_worker()

    def _stop_worker(self) -> None:
        """Queue the command thread's stop (dropping a waiting command if the queue is full)."""
        while True:
            try:
                self._commands.put_nowait(None)
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._commands.get_nowait()
            else:
                return

    # --- commands: the command thread -------------------------------------------

    def _run_commands(self) -> None:
        try:
            while True:
                item = self._commands.get()
                if item is None:
                    return
                slot, request, role = item
                body, code = self._execute(request, role)
                self._replies.append((slot, body, code))
                self._signal()
        finally:
            self._worker_done = True
            self._signal()

    def _execute(self, request: Request, role: Role) -> tuple[bytes, str | None]:
        """Run the handler; the reply and its error code. Never raises."""
        try:
            try:
                result = self._handler(request, role)
                return encode_reply(request.id, result), None
            except CommandError as exc:
                code = ErrorCode(exc.code)
                return encode_error(request.id, code, str(exc.message)), code.value
        except BaseException as exc:
            logger.exception("gateway: command {!r} (id {!r}) failed", request.cmd, request.id)
            message = f"{request.cmd!r} failed ({type(exc).__name__}); see the runtime's log"
            return encode_error(request.id, ErrorCode.INTERNAL, message), ErrorCode.INTERNAL.value
