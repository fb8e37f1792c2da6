"""Events/s through the gateway's event stream, next to raw pyzmq PUB/SUB.

One round times three runs back to back (:data:`SIDES`), the first one
rotating from round to round:

- *gateway*: a started :class:`runtime.gateway.Gateway` (the socket thread
  and its idle command thread) and a SUB socket in a receiver thread; the
  calling thread hands ``count`` prebuilt events to :meth:`Gateway.publish`
  one after the other, as the event sink does, and the receiver counts the
  events (heartbeats apart) until it has them all.
- *raw*: one XPUB socket used by the calling thread, which sends
  ``[topic, orjson.dumps(payload)]`` for ``count`` payloads, and the same
  receiver. Each payload is a plain dict holding the very JSON object the
  gateway sends for the event in the same position (``seq`` and ``tseq``
  fixed at a typical value of the run), so the bodies are the same size
  within a byte or two; every receiver adds up the bytes it got and the
  report shows the means. XPUB rather than PUB only so that the sender can
  wait for the subscription instead of sleeping: sending is the same.
- *encoded*: as *raw*, but the sender encodes the very messages the gateway
  gets with the gateway's encoder (``gateway_protocol.encode_event``),
  numbering them itself: the transfer without the gateway's machinery (the
  queue, the wake-up, the socket thread), for information.

The rate is ``count`` over the time from just before the first publish (or
send) to the receiver's last receive. No event may be lost: the high-water
marks are above ``count`` on both sides and the gateway's ``queue_limit``
too; a receiver that hears nothing for :data:`QUIET_S` stops and the loss is
reported (and the round fails).

The events cycle through one order's life: its ACCEPTED ``OrderUpdate``, its
``Fill`` and its FILLED ``OrderUpdate`` (a pool of :data:`POOL_ORDERS`
orders, built up front, published over and over; the gateway numbers each
publication afresh).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import zmq

from bench._settings import SYMBOL
from runtime.config import GatewayConfig
from runtime.gateway import Gateway
from runtime.gateway_protocol import CommandError, ErrorCode, Request, Role, encode_event
from runtime.messages import Fill, Message, OrderStatus, OrderUpdate, Side, next_id
from runtime.topics import HEARTBEAT, topic_of

__all__ = [
    "POOL_ORDERS",
    "QUIET_S",
    "SIDES",
    "StreamRound",
    "StreamRun",
    "event_pool",
    "run_stream_round",
]

POOL_ORDERS = 1_000
"""Orders in the event pool (three events each)."""

QUIET_S = 5.0
"""A receiver that hears nothing for this long stops: events were lost."""

_WAIT_S = 10.0
"""Longest wait for a subscription to be live."""

_SLOWEST = 1_000.0
"""Events/s below which a receiver is taken for stuck."""

SIDES: tuple[tuple[str, str], ...] = (
    ("gateway", "through the gateway"),
    ("raw", "raw pyzmq, orjson of a dict (the floor)"),
    ("encoded", "raw pyzmq, the gateway's encoder"),
)
"""(key, report label) of every side of a round, in report order."""

_SOCKET_THREAD = "tradepit-gateway"
"""Name of the gateway's socket thread (runtime.gateway), whose CPU time is read."""

_HEARTBEAT = HEARTBEAT.encode()
_T0 = 1_704_187_800_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamRun:
    """One side of a round: ``count`` events sent, what arrived and when."""

    count: int
    """Events handed over (to ``publish`` or ``send``)."""
    received: int
    """Events the receiver got (heartbeats not counted)."""
    body_bytes: int
    """Bytes of the body frames received (topics not counted)."""
    handover_s: float
    """How long the calling thread took to hand all events over."""
    elapsed_s: float
    """From just before the first hand-over to the last receive."""
    cpu_s: dict[str, float]
    """CPU time of each thread at work over :attr:`elapsed_s`, by its role:
    ``publisher``, ``socket thread`` and ``receiver`` (gateway); ``sender`` and
    ``receiver`` (raw and encoded)."""

    @property
    def lost(self) -> int:
        """Events sent and never received."""
        return self.count - self.received

    @property
    def rate(self) -> float:
        """Events delivered per second (:attr:`received` / :attr:`elapsed_s`)."""
        return self.received / self.elapsed_s

    @property
    def body_size(self) -> float:
        """Mean body frame size, bytes."""
        return self.body_bytes / self.received if self.received else 0.0

    @property
    def handover_ns(self) -> float:
        """Mean cost of one hand-over call to the calling thread, ns."""
        return self.handover_s * 1e9 / self.count

    def cpu_us(self) -> dict[str, float]:
        """CPU time per event of each thread (and ``total``), microseconds."""
        per = {role: seconds * 1e6 / self.count for role, seconds in self.cpu_s.items()}
        per["total"] = sum(per.values())
        return per


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamRound:
    """Every side's run of one round."""

    index: int
    """Round number, from 1."""
    runs: dict[str, StreamRun]
    """By side (a key of :data:`SIDES`)."""
    order: tuple[str, ...]
    """The order the sides ran in."""

    @property
    def gateway(self) -> StreamRun:
        """Through :class:`~runtime.gateway.Gateway`."""
        return self.runs["gateway"]

    @property
    def raw(self) -> StreamRun:
        """Raw pyzmq, orjson of a dict (the floor of the verdict)."""
        return self.runs["raw"]

    def ratio(self, side: str = "raw") -> float:
        """Gateway rate / the rate of ``side``."""
        return self.gateway.rate / self.runs[side].rate


def event_pool(orders: int = POOL_ORDERS) -> list[Message]:
    """``orders`` orders' ACCEPTED update, fill and FILLED update, in that order."""
    pool: list[Message] = []
    for i in range(orders):
        coid = f"r7f3a9c2e-s001-{i + 1:08d}"
        ts = _T0 + i * 60_000_000_000
        price = 100.0 + (i % 100) * 0.01
        common: dict[str, Any] = {
            "client_order_id": coid,
            "strategy_id": "s001",
            "symbol": SYMBOL,
            "side": Side.BUY if i % 2 == 0 else Side.SELL,
        }
        pool.append(
            OrderUpdate(
                id=next_id(),
                ts_event=ts,
                ts_init=ts + 41_000,
                status=OrderStatus.ACCEPTED,
                quantity=10.0,
                filled_quantity=0.0,
                avg_fill_price=None,
                reason=None,
                message="",
                engine="paper",
                **common,
            )
        )
        pool.append(
            Fill(
                id=next_id(),
                ts_event=ts + 60_000_000_000,
                ts_init=ts + 60_000_052_000,
                fill_id=f"paper-{i + 1:08d}",
                quantity=10.0,
                price=price,
                commission=0.0,
                slippage=0.0,
                engine="paper",
                **common,
            )
        )
        pool.append(
            OrderUpdate(
                id=next_id(),
                ts_event=ts + 60_000_000_000,
                ts_init=ts + 60_000_061_000,
                status=OrderStatus.FILLED,
                quantity=10.0,
                filled_quantity=10.0,
                avg_fill_price=price,
                reason=None,
                message="",
                engine="paper",
                **common,
            )
        )
    return pool


def _topic(message: Message) -> str:
    topic = topic_of(message)
    if topic is None:
        raise ValueError(f"{type(message).__name__} has no topic: it would not be published")
    return topic


def _raw_payloads(pool: list[Message], count: int) -> list[tuple[bytes, dict[str, Any]]]:
    """(topic, dict) per pool message: the gateway's body for it, as a dict.

    ``seq`` and ``tseq`` are fixed at the value they have two thirds into a
    run of ``count`` events, so the sizes match the gateway's within a byte or
    two on average (the receivers measure both).
    """
    share: dict[str, int] = {}
    for message in pool:
        topic = _topic(message)
        share[topic] = share.get(topic, 0) + 1
    seq = max(1, count * 2 // 3)
    payloads = []
    for message in pool:
        topic = _topic(message)
        tseq = max(1, seq * share[topic] // len(pool))
        body = encode_event(seq, tseq, message)
        payload = orjson.loads(body)
        if len(orjson.dumps(payload)) != len(body):
            raise RuntimeError(f"the raw payload of a {type(message).__name__} is not its size")
        payloads.append((topic.encode(), payload))
    return payloads


class _Receiver:
    """A SUB socket in its own thread that counts events until it has ``count``.

    It sets :attr:`live` at the first heartbeat (the gateway's subscription is
    then live); a raw sender finds that out on its side, from its XPUB.
    """

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, count: int) -> None:
        self._ctx = ctx
        self._endpoint = endpoint
        self._count = count
        self.live = threading.Event()
        """Set once a heartbeat arrived (the gateway's subscription is live)."""
        self.connected = threading.Event()
        """Set once the socket is connected (the raw side then waits on its XPUB)."""
        self.received = 0
        self.body_bytes = 0
        self.last_ns = 0
        self.cpu_s = 0.0
        """CPU time of this thread while it counted (waiting for the first event costs none)."""
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bench-gateway-receiver")
        self._thread.start()

    def _run(self) -> None:
        try:
            sock = self._ctx.socket(zmq.SUB)
            try:
                sock.setsockopt(zmq.LINGER, 0)
                sock.setsockopt(zmq.RCVHWM, 0)  # no limit: nothing may be lost here
                sock.setsockopt(zmq.RCVTIMEO, int(QUIET_S * 1000))
                sock.setsockopt(zmq.SUBSCRIBE, b"")
                sock.connect(self._endpoint)
                self.connected.set()
                self._count_events(sock)
            finally:
                sock.close(linger=0)
        except BaseException as exc:
            self.error = exc
            self.connected.set()
            self.live.set()

    def _count_events(self, sock: zmq.Socket[bytes]) -> None:
        recv = sock.recv_multipart
        wanted = self._count
        received = body_bytes = 0
        cpu0 = time.thread_time()
        try:
            while received < wanted:
                frames = recv()
                if frames[0] == _HEARTBEAT:
                    self.live.set()
                    continue
                received += 1
                body_bytes += len(frames[-1])
        except zmq.Again:
            pass  # quiet for QUIET_S: the rest was lost
        self.last_ns = time.perf_counter_ns()
        self.cpu_s = time.thread_time() - cpu0
        self.received = received
        self.body_bytes = body_bytes

    def join(self) -> None:
        """Wait for the receiver to have everything (or to give up); raise what it raised."""
        limit = _WAIT_S + QUIET_S + self._count / _SLOWEST
        self._thread.join(limit)
        if self._thread.is_alive():
            raise RuntimeError(f"the receiver did not get {self._count} events in {limit:.0f}s")
        if self.error is not None:
            raise RuntimeError(f"the receiver failed: {self.error!r}") from self.error


def _wait(event: threading.Event, what: str) -> None:
    if not event.wait(_WAIT_S):
        raise TimeoutError(f"no {what} within {_WAIT_S}s")


def _cpu_clock(name: str) -> int:
    """The CPU-time clock of the live thread called ``name`` (exactly one must exist)."""
    found = [t for t in threading.enumerate() if t.name == name and t.ident is not None]
    if len(found) != 1:
        raise RuntimeError(f"expected one thread named {name!r}, found {len(found)}")
    ident = found[0].ident
    assert ident is not None
    return time.pthread_getcpuclockid(ident)


def _refuse(request: Request, role: Role) -> Any:
    raise CommandError(ErrorCode.UNAVAILABLE, "the stream benchmark takes no commands")


def _gateway_run(stream: list[Message], count: int) -> StreamRun:
    config = GatewayConfig(
        enabled=True,
        commands="tcp://127.0.0.1:*",
        events="tcp://127.0.0.1:*",
        heartbeat_s=0.05,
        send_hwm=count + 1_000,
        queue_limit=count + 1_000,
    )
    gateway = Gateway(config, _refuse, name="bench")
    gateway.start()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        receiver = _Receiver(ctx, gateway.events_endpoint, count)
        try:
            _wait(receiver.live, "heartbeat on the gateway's event socket")
            socket_clock = _cpu_clock(_SOCKET_THREAD)
            publish = gateway.publish
            gc.collect()
            socket0 = time.clock_gettime(socket_clock)
            cpu0 = time.thread_time()
            t0 = time.perf_counter_ns()
            for message in stream:
                publish(message)
            t1 = time.perf_counter_ns()
            publisher_cpu = time.thread_time() - cpu0
        finally:
            receiver.join()
        socket_cpu = time.clock_gettime(socket_clock) - socket0
        stats = gateway.stats()
    finally:
        gateway.close()
        ctx.term()
    if stats.dropped:
        raise RuntimeError(f"the gateway dropped {stats.dropped} events (queue_limit)")
    return StreamRun(
        count=count,
        received=receiver.received,
        body_bytes=receiver.body_bytes,
        handover_s=(t1 - t0) / 1e9,
        elapsed_s=(receiver.last_ns - t0) / 1e9,
        cpu_s={
            "publisher": publisher_cpu,
            "socket thread": socket_cpu,
            "receiver": receiver.cpu_s,
        },
    )


def _raw_run(items: list[tuple[bytes, Any]], *, encoded: bool) -> StreamRun:
    """Send ``items`` (topic, payload) from this thread: ``orjson.dumps`` of the dict
    payloads, or (``encoded``) ``encode_event`` of the message payloads."""
    count = len(items)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    try:
        pub.setsockopt(zmq.LINGER, 0)
        pub.setsockopt(zmq.SNDHWM, count + 1_000)
        pub.setsockopt(zmq.RCVTIMEO, int(_WAIT_S * 1000))
        pub.bind("tcp://127.0.0.1:*")
        endpoint = pub.getsockopt(zmq.LAST_ENDPOINT)
        assert isinstance(endpoint, bytes)
        receiver = _Receiver(ctx, endpoint.decode(), count)
        try:
            _wait(receiver.connected, "connection of the raw receiver")
            if pub.recv()[:1] != b"\x01":  # its subscription: from now on it gets everything
                raise RuntimeError("the raw receiver's first message is not a subscription")
            send = pub.send
            gc.collect()
            cpu0 = time.thread_time()
            t0 = time.perf_counter_ns()
            if encoded:
                encode = encode_event
                for seq, (topic, message) in enumerate(items, 1):
                    send(topic, zmq.SNDMORE)
                    send(encode(seq, seq, message))
            else:
                dumps = orjson.dumps
                for topic, payload in items:
                    send(topic, zmq.SNDMORE)
                    send(dumps(payload))
            t1 = time.perf_counter_ns()
            sender_cpu = time.thread_time() - cpu0
        finally:
            receiver.join()
    finally:
        pub.close(linger=0)
        ctx.term()
    return StreamRun(
        count=count,
        received=receiver.received,
        body_bytes=receiver.body_bytes,
        handover_s=(t1 - t0) / 1e9,
        elapsed_s=(receiver.last_ns - t0) / 1e9,
        cpu_s={"sender": sender_cpu, "receiver": receiver.cpu_s},
    )


def run_stream_round(
    index: int, *, count: int, pool: list[Message], progress: Callable[[str], None]
) -> StreamRound:
    """Round ``index`` (from 1): a run of every side of :data:`SIDES`, the first side
    rotating from round to round."""
    stream = [pool[i % len(pool)] for i in range(count)]
    payloads = _raw_payloads(pool, count)
    dicts = [payloads[i % len(payloads)] for i in range(count)]
    topics = {id(m): _topic(m).encode() for m in pool}
    messages = [(topics[id(m)], m) for m in stream]
    keys = tuple(key for key, _ in SIDES)
    shift = (index - 1) % len(keys)
    order = keys[shift:] + keys[:shift]
    runs: dict[str, StreamRun] = {}
    for side in order:
        if side == "gateway":
            runs[side] = _gateway_run(stream, count)
        else:
            runs[side] = _raw_run(dicts if side == "raw" else messages, encoded=side == "encoded")
        if runs[side].lost:
            raise RuntimeError(
                f"stream round {index}: {side} lost {runs[side].lost} of {count} events"
            )
    result = StreamRound(index=index, runs=runs, order=order)
    progress(
        f"gateway stream round {index}: gateway {result.gateway.rate:,.0f} events/s, "
        f"raw {result.raw.rate:,.0f} events/s (ratio {result.ratio():.2f}), raw with the "
        f"gateway's encoder {runs['encoded'].rate:,.0f} events/s; bodies "
        f"{result.gateway.body_size:.0f} / {result.raw.body_size:.0f} bytes, CPU "
        f"{result.gateway.cpu_us()['total']:.1f} / {result.raw.cpu_us()['total']:.1f} us per event"
    )
    return result
