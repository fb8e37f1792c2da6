"""A Python client of the gateway: commands, the event stream, a mirror of the state.

The gateway (:mod:`runtime.gateway`) binds two ZeroMQ sockets; the wire
format is :mod:`runtime.gateway_protocol` (docs/protocol.md, "Gateway").

- :class:`Client`: one DEALER socket for commands. :meth:`Client.request`
  sends one request and waits for its reply; a wrapper per command
  (:meth:`Client.status`, :meth:`Client.submit_order`...) builds the
  arguments. The runtime's refusal is a :class:`RemoteError` with the
  :class:`~runtime.gateway_protocol.ErrorCode`; no answer in time is a
  :class:`ClientTimeoutError`.
- :class:`Subscription`: one SUB socket for events; iterating gives
  :class:`Event` and, where events were lost, :class:`Gap`. Losses happen:
  the stream is lossy by design (a subscriber that reads too slowly loses
  events at ZeroMQ's high-water mark, never the runtime), and the only way a
  subscriber learns of it is from the sequence numbers, checked here.
- :class:`Mirror`: the runtime's state rebuilt on the client from a
  ``snapshot`` reply plus the events after it.

A late joiner subscribes first, waits until the subscription is live, then
asks for the snapshot, and ignores the events the snapshot already holds::

    with Client(commands) as client, Subscription(events) as sub:
        sub.ready(5.0)
        snapshot = client.snapshot()
        sub.start_after(snapshot["seq"], snapshot["topics"])
        mirror = Mirror(snapshot)
        for item in sub:
            if isinstance(item, Gap):
                ...  # events were lost: take a new snapshot
            else:
                mirror.apply(item)

Sockets are not thread-safe, so neither is a :class:`Client` or a
:class:`Subscription`: each is used by one thread at a time (a second
thread calling a busy :class:`Client` gets a :class:`ClientError` at once).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import orjson
import zmq
from loguru import logger

from runtime import codec
from runtime._tables import Table
from runtime.errors import SettingsError, TradepitError
from runtime.gateway_protocol import HEARTBEAT_TYPE, PROTOCOL_VERSION, ErrorCode
from runtime.keys import load_key_pair, load_public_key
from runtime.messages import (
    ActorRestarted,
    EngineFailedBack,
    EngineFailedOver,
    Message,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    RuntimeStateChanged,
    Side,
    StrategyQuarantined,
    StrategyRemoved,
    StrategyStarted,
    TimeInForce,
    registry,
)
from runtime.names import ActorKind, strategy_actor
from runtime.topics import HEARTBEAT

__all__ = [
    "HEARTBEAT_TYPE",
    "Client",
    "ClientError",
    "ClientTimeoutError",
    "CurveKeys",
    "Event",
    "Gap",
    "Mirror",
    "RemoteError",
    "SequenceResetError",
    "Subscription",
]

"""``type`` of a heartbeat body (it carries the last ``seq`` and takes none)."""

_MESSAGE_TYPES: Final = frozenset(registry())
_OUTSTANDING_LIMIT: Final = 1024
_BATCH: Final = 1024
_POLL_SLICE_S: Final = 0.5  # waits are cut in slices so that Ctrl-C is seen promptly


class ClientError(TradepitError):
    """A transport problem: no usable answer from the runtime, or misuse of a client."""


class ClientTimeoutError(ClientError):
    """Nothing arrived in time: no reply to a request, or no heartbeat on the stream."""


class RemoteError(ClientError):
    """The runtime answered ``ok: false``: it refused the command."""

    def __init__(self, code: ErrorCode, message: str, command: str) -> None:
        super().__init__(f"{command}: {code}: {message}")
        self.code = code
        """Why, as the runtime classifies it."""
        self.message = message
        """The runtime's readable explanation (names the argument at fault)."""
        self.command = command
        """The command refused."""


class SequenceResetError(ClientError):
    """Sequence numbers went back: the runtime restarted and numbers from 1 again.

    Raised once by :meth:`Subscription.next`; the subscription continues with
    the new numbering, but anything built from the old run (a :class:`Mirror`)
    must be rebuilt from a new snapshot.
    """

    def __init__(self, endpoint: str, previous: int, seq: int) -> None:
        super().__init__(
            f"event sequence from {endpoint} went back from {previous} to {seq}: "
            "the runtime restarted"
        )
        self.previous = previous
        """The last sequence number of the old run."""
        self.seq = seq
        """The first sequence number seen from the new run."""


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name}: expected a number > 0, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class CurveKeys:
    """The keys a client connects with when the gateway runs CURVE."""

    server_public: bytes
    """The runtime's Z85 public key (from its ``.key`` file)."""
    client_public: bytes
    """This client's Z85 public key (its ``.key`` file is in the runtime's
    ``control_keys`` or ``readonly_keys`` directory)."""
    client_secret: bytes = field(repr=False)
    """This client's Z85 secret key."""

    @classmethod
    def from_files(cls, server_key: Path, client_key: Path) -> CurveKeys:
        """Read the server's public-key file and this client's secret-key file.

        Raises :class:`runtime.keys.KeyFileError` naming the file that is
        missing, unreadable, not a key file, or (``client_key``) without a
        secret key.
        """
        server_public = load_public_key(Path(server_key), "server key file")
        client_public, client_secret = load_key_pair(Path(client_key), "client key file")
        return cls(server_public, client_public, client_secret)

    def apply(self, sock: zmq.Socket[bytes]) -> None:
        """Make ``sock`` a CURVE client with these keys (before it connects).

        Raises ``ValueError`` for keys that are not Z85 CURVE keys.
        """
        try:
            sock.setsockopt(zmq.CURVE_SERVERKEY, self.server_public)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, self.client_public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, self.client_secret)
        except zmq.ZMQError as exc:
            raise ValueError(f"keys: not valid Z85 CURVE keys: {exc}") from None


def _connect(sock: zmq.Socket[bytes], endpoint: str) -> None:
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        raise ValueError(f"endpoint: cannot connect to {endpoint!r}: {exc}") from None


def _context(context: zmq.Context[zmq.Socket[bytes]] | None) -> zmq.Context[zmq.Socket[bytes]]:
    return zmq.Context.instance() if context is None else context


def _put(args: dict[str, Any], key: str, value: Any) -> None:
    """Set an optional argument: only what the caller gave is sent."""
    if value is not None:
        args[key] = value


def _finite(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def _enum_value(name: str, enum: type[Side | OrderType | TimeInForce], value: object) -> str:
    try:
        return enum(str(value).upper()).value
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise ValueError(f"{name}: expected one of {allowed}; got {value!r}") from None


class Client:
    """Commands to one runtime over a DEALER socket.

    Requests are numbered 1, 2, 3...; a reply whose id is not the one
    awaited (the late answer to a request that timed out) is discarded, never
    returned for a later request. The socket only sends once connected (and,
    with CURVE, authenticated), so a runtime that is down gets nothing queued
    to run later; a request it did receive may still run after its timeout.

    Thread-confined: one thread at a time (see the module docstring).
    Wrappers send only the arguments given; the argument names are those of
    the command layer (docs/protocol.md, "Gateway"). An endpoint ZeroMQ
    cannot use raises ``ValueError`` here; nothing is sent until a request.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        keys: CurveKeys | None = None,
        timeout_s: float = 10.0,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        self.endpoint = endpoint
        """The gateway's command endpoint."""
        self.timeout_s = _positive("timeout_s", timeout_s)
        """Default time to wait for a reply."""
        sock = _context(context).socket(zmq.DEALER)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IMMEDIATE, 1)  # queue nothing for a runtime that is not there
            sock.setsockopt(zmq.RECONNECT_IVL, 100)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            if keys is not None:
                keys.apply(sock)
            _connect(sock, endpoint)
        except BaseException:
            sock.close(linger=0)
            raise
        self._sock = sock
        self._next_id = 1
        self._outstanding: deque[int] = deque(maxlen=_OUTSTANDING_LIMIT)
        self._busy = threading.Lock()
        self._closed = False

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket (idempotent). Replies still on their way are lost."""
        with self._busy:
            if not self._closed:
                self._closed = True
                self._sock.close(linger=0)

    def request(
        self, cmd: str, args: Mapping[str, Any] | None = None, *, timeout_s: float | None = None
    ) -> Any:
        """Send ``cmd`` with ``args``; return the reply's ``result``.

        Raises :class:`RemoteError` when the runtime refuses,
        :class:`ClientTimeoutError` when no reply came within ``timeout_s``
        (default: the client's), :class:`ClientError` for a reply that breaks
        the protocol, ``ValueError`` for arguments that are not JSON.
        """
        if not isinstance(cmd, str) or not cmd:
            raise ValueError(f"cmd: expected a command name, got {cmd!r}")
        wait = self.timeout_s if timeout_s is None else _positive("timeout_s", timeout_s)
        if not self._busy.acquire(blocking=False):
            raise ClientError(
                "this Client is being used by another thread; a Client is thread-confined "
                "(use one per thread)"
            )
        try:
            if self._closed:
                raise ClientError("the client is closed")
            return self._exchange(cmd, dict(args or {}), wait)
        finally:
            self._busy.release()

    def _no_answer(self, wait: float) -> ClientTimeoutError:
        return ClientTimeoutError(f"no answer from {self.endpoint} in {wait:g}s")

    def _exchange(self, cmd: str, args: dict[str, Any], wait: float) -> Any:
        request_id = self._next_id
        self._next_id += 1
        try:
            frame = orjson.dumps(
                {"v": PROTOCOL_VERSION, "id": request_id, "cmd": cmd, "args": args}
            )
        except TypeError as exc:  # orjson.JSONEncodeError
            raise ValueError(f"arguments of {cmd!r} cannot be sent as JSON: {exc}") from None
        deadline = time.monotonic() + wait
        while True:
            try:
                self._sock.send(frame, zmq.NOBLOCK)
                break
            except zmq.Again:
                if not self._wait(zmq.POLLOUT, deadline):
                    raise self._no_answer(wait) from None
        self._outstanding.append(request_id)
        while True:
            try:
                frames = self._sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                if not self._wait(zmq.POLLIN, deadline):
                    raise self._no_answer(wait) from None
                continue
            reply = self._decode(frames)
            if self._answered(reply) == request_id:
                return self._result(cmd, reply)
            logger.debug("client {}: discarded a stale reply {!r}", self.endpoint, reply.get("id"))

    def _wait(self, event: int, deadline: float) -> bool:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ms = max(1, math.ceil(min(remaining, _POLL_SLICE_S) * 1000))
            if self._sock.poll(ms, event):
                return True

    def _bad(self, problem: str) -> ClientError:
        return ClientError(f"bad reply from {self.endpoint}: {problem}")

    def _decode(self, frames: list[bytes]) -> dict[str, Any]:
        if len(frames) != 1:
            raise self._bad(f"{len(frames)} frames; a reply is one frame")
        try:
            reply = orjson.loads(frames[0])
        except orjson.JSONDecodeError as exc:
            raise self._bad(f"not JSON: {exc}") from None
        if not isinstance(reply, dict):
            raise self._bad(f"expected a JSON object, got {type(reply).__name__}")
        return reply

    def _answered(self, reply: dict[str, Any]) -> int | None:
        """The id of the request ``reply`` answers; replies come in request order."""
        reply_id = reply.get("id")
        outstanding = self._outstanding
        if reply_id is None:
            # The runtime could not read the request's id: it answers the oldest one.
            return outstanding.popleft() if outstanding else None
        if isinstance(reply_id, bool) or not isinstance(reply_id, int):
            return None
        if reply_id not in outstanding:
            return None
        while outstanding and outstanding[0] <= reply_id:
            outstanding.popleft()  # older ones will never be answered now
        return reply_id

    def _result(self, cmd: str, reply: dict[str, Any]) -> Any:
        if reply.get("v") != PROTOCOL_VERSION or isinstance(reply.get("v"), bool):
            raise self._bad(f"'v' is {reply.get('v')!r}, expected {PROTOCOL_VERSION}")
        ok = reply.get("ok")
        if ok is True:
            if "result" not in reply:
                raise self._bad("'ok' is true but there is no 'result'")
            return reply["result"]
        if ok is not False:
            raise self._bad(f"'ok' must be true or false, got {ok!r}")
        error = reply.get("error")
        if not isinstance(error, dict):
            raise self._bad("'ok' is false but 'error' is not an object")
        code, message = error.get("code"), error.get("message")
        if not isinstance(code, str) or not isinstance(message, str):
            raise self._bad("'error' must have a string 'code' and a string 'message'")
        try:
            known = ErrorCode(code)
        except ValueError:
            raise self._bad(f"unknown error code {code!r} ({message})") from None
        raise RemoteError(known, message, cmd)

    # --- one wrapper per command (runtime.gateway_protocol.COMMANDS) -----------------

    def status(self) -> Any:
        """Runtime state, counters, gateway statistics."""
        return self.request("status")

    def actors(self) -> Any:
        """Every actor with its state, failures and restarts."""
        return self.request("actors")

    def engines(self) -> Any:
        """Active engine, backups, failures, last switch."""
        return self.request("engines")

    def strategies(self) -> Any:
        """Every strategy of this run with its state and class."""
        return self.request("strategies")

    def positions(self, strategy: str | None = None) -> Any:
        """Non-flat positions, of one strategy or all."""
        args: dict[str, Any] = {}
        _put(args, "strategy", strategy)
        return self.request("positions", args)

    def orders(self, strategy: str | None = None, *, open_only: bool | None = None) -> Any:
        """Orders with their history (the runtime's default: open ones only)."""
        args: dict[str, Any] = {}
        _put(args, "strategy", strategy)
        _put(args, "open_only", open_only)
        return self.request("orders", args)

    def snapshot(self) -> Any:
        """State, positions, open orders, strategies, engines and the ``seq`` they are at."""
        return self.request("snapshot")

    def add_strategy(
        self,
        id: str,
        class_path: str,
        symbols: Sequence[str],
        *,
        params: Mapping[str, Any] | None = None,
        risk: Mapping[str, Any] | None = None,
        supervision: Mapping[str, Any] | None = None,
    ) -> Any:
        """Start a strategy: the arguments are a ``[[strategies]]`` table's keys."""
        if isinstance(symbols, str):
            raise ValueError(f"symbols: expected a list of symbols, got the string {symbols!r}")
        args: dict[str, Any] = {"id": id, "class": class_path, "symbols": list(symbols)}
        _put(args, "params", None if params is None else dict(params))
        _put(args, "risk", None if risk is None else dict(risk))
        _put(args, "supervision", None if supervision is None else dict(supervision))
        return self.request("add_strategy", args)

    def remove_strategy(self, id: str, policy: str = "cancel") -> Any:
        """Stop a strategy; its working orders: ``cancel``, ``keep`` or ``flatten``."""
        return self.request("remove_strategy", {"id": id, "policy": policy})

    def restart_strategy(self, id: str) -> Any:
        """Restart a strategy's actor (also a quarantined one)."""
        return self.request("restart_strategy", {"id": id})

    def pause(self, strategy: str | None = None, reason: str | None = None) -> Any:
        """Pause one strategy, or (no strategy) the whole runtime."""
        args: dict[str, Any] = {}
        _put(args, "strategy", strategy)
        _put(args, "reason", reason)
        return self.request("pause", args)

    def resume(self, strategy: str | None = None, reason: str | None = None) -> Any:
        """Resume one strategy, or (no strategy) the whole runtime."""
        args: dict[str, Any] = {}
        _put(args, "strategy", strategy)
        _put(args, "reason", reason)
        return self.request("resume", args)

    def reduce(self, reason: str | None = None) -> Any:
        """Reduce-only: only orders that bring positions towards flat."""
        args: dict[str, Any] = {}
        _put(args, "reason", reason)
        return self.request("reduce", args)

    def reset(self, reason: str | None = None) -> Any:
        """Leave HALTED, back to RUNNING."""
        args: dict[str, Any] = {}
        _put(args, "reason", reason)
        return self.request("reset", args)

    def halt(self, reason: str | None = None) -> Any:
        """Emergency stop: no new orders, working orders cancelled."""
        args: dict[str, Any] = {}
        _put(args, "reason", reason)
        return self.request("halt", args)

    def set_engine(self, engine: str) -> Any:
        """Pin ``engine``; the empty string returns to automatic failover."""
        return self.request("set_engine", {"engine": engine})

    def cancel_all(self, strategy: str | None = None) -> Any:
        """Cancel working orders, of one strategy or all; answers the ids cancelled."""
        args: dict[str, Any] = {}
        _put(args, "strategy", strategy)
        return self.request("cancel_all", args)

    def submit_order(
        self,
        symbol: str,
        side: Side | str,
        quantity: float,
        *,
        order_type: OrderType | str = OrderType.MARKET,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: TimeInForce | str = TimeInForce.DAY,
        strategy: str | None = None,
    ) -> Any:
        """Submit an order through risk; answers its client order id.

        Enumerations are case-insensitive; numbers must be finite. Whether the
        order is valid (quantity, prices for its type, symbol) is for the
        runtime to answer.
        """
        args: dict[str, Any] = {
            "symbol": symbol,
            "side": _enum_value("side", Side, side),
            "quantity": _finite("quantity", quantity),
            "type": _enum_value("order_type", OrderType, order_type),
            "time_in_force": _enum_value("time_in_force", TimeInForce, time_in_force),
        }
        _put(args, "limit_price", _finite("limit_price", limit_price))
        _put(args, "stop_price", _finite("stop_price", stop_price))
        _put(args, "strategy", strategy)
        return self.request("submit_order", args)

    def cancel_order(self, client_order_id: str) -> Any:
        """Cancel one working order."""
        return self.request("cancel_order", {"client_order_id": client_order_id})

    def shutdown(self, reason: str | None = None) -> Any:
        """Stop the runtime gracefully (after answering)."""
        args: dict[str, Any] = {}
        _put(args, "reason", reason)
        return self.request("shutdown", args)


# --- the event stream ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One message of the event stream (a heartbeat too)."""

    topic: str
    """Its topic (:mod:`runtime.topics`)."""
    seq: int
    """Runtime-wide sequence number; for a heartbeat, the last one published."""
    tseq: int | None
    """Sequence number within its topic; None for a heartbeat."""
    type: str
    """The message type (``OrderUpdate``...), or :data:`HEARTBEAT_TYPE`."""
    data: dict[str, Any]
    """The whole body as received (``seq``, ``tseq``, ``type`` and the fields); read-only."""

    def message(self) -> Message | None:
        """The domain message; None for a heartbeat or a type this client does not know.

        Raises :class:`runtime.errors.CodecError` if a known type's fields do not match.
        """
        if self.type not in _MESSAGE_TYPES:
            return None
        return codec.decode_object({k: v for k, v in self.data.items() if k not in {"seq", "tseq"}})


@dataclass(frozen=True, slots=True)
class Gap:
    """Events lost before the next one: sequence numbers ``expected`` to ``got - 1``."""

    topic: str | None
    """The topic whose ``tseq`` jumped; None when the runtime-wide ``seq`` did."""
    expected: int
    """The number that should have come next."""
    got: int
    """The number that came (for a heartbeat: its ``seq`` + 1)."""

    @property
    def missed(self) -> int:
        """How many events were lost."""
        return self.got - self.expected


@dataclass(frozen=True, slots=True)
class _Reset:
    previous: int
    seq: int


class Subscription:
    """A SUB socket on the event stream: an iterator of :class:`Event` and :class:`Gap`.

    ``topics`` are prefixes (``""``: everything). Heartbeats are always
    subscribed to and returned (type :data:`HEARTBEAT_TYPE`).

    Loss detection: subscribed to everything, the runtime-wide ``seq`` must
    go up by one, and a heartbeat whose ``seq`` is past the last event
    received reveals events lost after it. Subscribed to some topics, each
    topic's ``tseq`` must go up by one from the first event of that topic
    seen (or from the bases given to :meth:`start_after`). A loss is returned
    as a :class:`Gap` before the event that revealed it. Numbers going back
    mean a restarted runtime: :class:`SequenceResetError` is raised once.

    With ``heartbeat_timeout_s``, waiting longer than that without receiving
    anything raises :class:`ClientTimeoutError`: the runtime is dead or unreachable.
    An endpoint ZeroMQ cannot use raises ``ValueError``. Thread-confined.
    """

    def __init__(
        self,
        endpoint: str,
        topics: Sequence[str] = ("",),
        *,
        keys: CurveKeys | None = None,
        rcvhwm: int = 100_000,
        heartbeat_timeout_s: float | None = None,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        if isinstance(topics, str) or not topics:
            raise ValueError(f"topics: expected a non-empty list of topic prefixes, got {topics!r}")
        for topic in topics:
            if not isinstance(topic, str):
                raise ValueError(f"topics: expected strings, got {topic!r}")
        if isinstance(rcvhwm, bool) or not isinstance(rcvhwm, int) or rcvhwm < 0:
            raise ValueError(f"rcvhwm: expected an integer >= 0, got {rcvhwm!r}")
        self.endpoint = endpoint
        """The gateway's event endpoint."""
        self.topics = tuple(topics)
        """The topic prefixes subscribed to (heartbeats come in any case)."""
        self.heartbeat_timeout_s = (
            None
            if heartbeat_timeout_s is None
            else _positive("heartbeat_timeout_s", heartbeat_timeout_s)
        )
        """Longest silence tolerated while waiting; None: no limit."""
        self.missed = 0
        """Events lost so far (the sum of the gaps returned)."""
        self.last_seq = 0
        """The last runtime-wide ``seq`` received (events and heartbeats)."""
        self.dropped = 0
        """Events the runtime itself dropped (its queue was full), as the last heartbeat
        received says (each heartbeat's own count is in its ``data``). Those never
        got a sequence number: no gap shows them."""
        self.malformed = 0
        """Messages that were not events of this protocol (skipped and logged)."""
        self._everything = "" in self.topics
        self._based = False
        self._catching_up = False
        self._tseqs: dict[str, int] = {}
        self._topic_bases: dict[str, int] | None = None
        self._pending: deque[Event | Gap | _Reset] = deque()
        self._received = 0
        self._last_rx = time.monotonic()
        self._closed = False
        sock = _context(context).socket(zmq.SUB)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVHWM, rcvhwm)
            sock.setsockopt(zmq.RECONNECT_IVL, 100)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            if keys is not None:
                keys.apply(sock)
            subscribed = set(self.topics)
            if not self._everything:
                subscribed.add(HEARTBEAT)
            for topic in sorted(subscribed):
                sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
            _connect(sock, endpoint)
        except BaseException:
            sock.close(linger=0)
            raise
        self._sock = sock

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket (idempotent); iteration then stops."""
        if not self._closed:
            self._closed = True
            self._sock.close(linger=0)

    def __iter__(self) -> Iterator[Event | Gap]:
        return self

    def __next__(self) -> Event | Gap:
        if self._closed and not self._pending:
            raise StopIteration
        item = self.next(None)
        assert item is not None
        return item

    def ready(self, timeout_s: float) -> bool:
        """Wait until something arrived (a heartbeat or an event): the subscription is live.

        ZeroMQ connects and subscribes in the background; events published
        before that are not received. What arrives meanwhile is kept for
        :meth:`next`. False if nothing arrived within ``timeout_s``.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        while not self._received:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed:
                return False
            self._pump(remaining)
        return True

    def next(self, timeout_s: float | None) -> Event | Gap | None:
        """The next event or gap; None if nothing came within ``timeout_s`` (None: wait).

        Raises :class:`ClientTimeoutError` past ``heartbeat_timeout_s`` of silence,
        :class:`SequenceResetError` once when the runtime restarted,
        :class:`ClientError` once closed.
        """
        deadline = None if timeout_s is None else time.monotonic() + max(0.0, timeout_s)
        silence = self.heartbeat_timeout_s
        while True:
            if self._pending:
                item = self._pending.popleft()
                if isinstance(item, _Reset):
                    raise SequenceResetError(self.endpoint, item.previous, item.seq)
                return item
            if self._closed:
                raise ClientError(f"the subscription to {self.endpoint} is closed")
            now = time.monotonic()
            if silence is not None and now - self._last_rx >= silence:
                raise ClientTimeoutError(
                    f"no heartbeat from {self.endpoint} in {silence:g}s: "
                    "runtime dead or unreachable"
                )
            if deadline is not None and now >= deadline:
                return None
            wait = math.inf if deadline is None else deadline - now
            if silence is not None:
                wait = min(wait, self._last_rx + silence - now)
            self._pump(wait)

    def start_after(self, seq: int, topics: Mapping[str, int] | None = None) -> None:
        """Join late: events with ``seq`` up to this one are in a snapshot; ``seq + 1`` is next.

        ``topics`` (a snapshot's ``topics``: the last ``tseq`` of every topic
        at ``seq``) are the bases of per-topic loss detection when not
        subscribed to everything; a topic missing from it has had no event.
        What was received and not yet returned is checked again.
        """
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError(f"seq: expected an integer >= 0, got {seq!r}")
        bases: dict[str, int] | None = None
        if topics is not None:
            bases = {}
            for name, tseq in topics.items():
                if isinstance(tseq, bool) or not isinstance(tseq, int) or tseq < 0:
                    raise ValueError(f"topics[{name!r}]: expected an integer >= 0, got {tseq!r}")
                bases[str(name)] = tseq
        held = [item for item in self._pending if isinstance(item, Event)]
        self.missed -= sum(item.missed for item in self._pending if isinstance(item, Gap))
        self._pending.clear()
        self.last_seq = seq
        self._based = True
        self._catching_up = True
        self._tseqs.clear()
        self._topic_bases = bases
        for event in held:
            self._sequence(event)

    # --- receiving ----------------------------------------------------------------

    def _pump(self, wait_s: float) -> None:
        """Wait up to ``wait_s`` (in slices) for messages; take what is there."""
        ms = max(0, math.ceil(min(wait_s, _POLL_SLICE_S) * 1000))
        if not self._sock.poll(ms, zmq.POLLIN):
            return
        for _ in range(_BATCH):
            try:
                frames = self._sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._last_rx = time.monotonic()
            event = self._parse(frames)
            if event is not None:
                self._received += 1
                self._sequence(event)

    def _parse(self, frames: list[bytes]) -> Event | None:
        problem = ""
        body: Any = None
        topic = ""
        if len(frames) != 2:
            problem = f"{len(frames)} frames; an event is a topic and a body"
        else:
            try:
                topic = frames[0].decode("utf-8")
                body = orjson.loads(frames[1])
            except (UnicodeDecodeError, orjson.JSONDecodeError) as exc:
                problem = f"not UTF-8 JSON: {exc}"
        if not problem and not isinstance(body, dict):
            problem = "the body is not a JSON object"
        if not problem:
            seq, kind, tseq = body.get("seq"), body.get("type"), body.get("tseq")
            if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
                problem = f"'seq' is {seq!r}"
            elif not isinstance(kind, str) or not kind:
                problem = f"'type' is {kind!r}"
            elif kind == HEARTBEAT_TYPE:
                return Event(topic, seq, None, kind, body)
            elif isinstance(tseq, bool) or not isinstance(tseq, int) or tseq < 1:
                problem = f"'tseq' is {tseq!r}"
            else:
                return Event(topic, seq, tseq, kind, body)
        self.malformed += 1
        logger.warning("subscription {}: skipped a malformed event: {}", self.endpoint, problem)
        return None

    def _gap(self, topic: str | None, expected: int, got: int) -> None:
        self.missed += got - expected
        self._pending.append(Gap(topic, expected, got))

    def _reset(self, event: Event) -> None:
        self._pending.append(_Reset(self.last_seq, event.seq))
        self._based = False
        self._catching_up = False
        self._tseqs.clear()
        self._topic_bases = None
        self._sequence(event)

    def _sequence(self, event: Event) -> None:
        """Check ``event`` against the numbers so far; queue gaps, then the event."""
        seq = event.seq
        if self._catching_up:
            if event.tseq is None and seq < self.last_seq:
                self._pending.append(event)  # a heartbeat from before the snapshot
                return
            if event.tseq is not None and seq <= self.last_seq:
                return  # already in the snapshot
            self._catching_up = False
        if event.tseq is None:
            dropped = event.data.get("dropped")
            if isinstance(dropped, int) and not isinstance(dropped, bool):
                self.dropped = dropped
            if self._based:
                if seq < self.last_seq:
                    self._reset(event)
                    return
                if self._everything and seq > self.last_seq:
                    self._gap(None, self.last_seq + 1, seq + 1)
            self.last_seq = seq
            self._based = True
            self._pending.append(event)
            return
        if self._based and seq <= self.last_seq:
            self._reset(event)
            return
        if self._everything:
            if self._based and seq != self.last_seq + 1:
                self._gap(None, self.last_seq + 1, seq)
        else:
            tseq = event.tseq
            base = self._tseqs.get(event.topic)
            if base is None and self._topic_bases is not None:
                base = self._topic_bases.get(event.topic, 0)
            if base is not None and tseq > base + 1:
                self._gap(event.topic, base + 1, tseq)
            self._tseqs[event.topic] = tseq if base is None else max(base, tseq)
        self.last_seq = seq
        self._based = True
        self._pending.append(event)


# --- a client-side copy of the state --------------------------------------------------


_SNAPSHOT_KEYS: Final = ("seq", "state", "positions", "orders", "strategies")


class Mirror:
    """The runtime's state on the client: a snapshot, then the events after it.

    The snapshot is the ``snapshot`` command's result, with these keys (others
    are ignored): ``seq`` (the last event it includes), ``state`` (the
    runtime state), ``positions`` (objects with at least ``strategy_id``,
    ``symbol``, ``quantity``, ``avg_price``, ``realized_pnl``, ``fees``),
    ``orders`` (open orders: ``client_order_id``, ``status``,
    ``filled_quantity``), ``strategies`` (``id``, ``state``), and optionally
    ``engines`` (``active``). Events with ``seq`` up to the snapshot's are
    ignored. Apply every event after it, in order, without gaps: after a
    :class:`Gap`, build a new mirror from a new snapshot.
    """

    def __init__(self, snapshot: Mapping[str, Any]) -> None:
        try:
            root = Table("snapshot", "", dict(snapshot))
            for key in _SNAPSHOT_KEYS:
                if not root.has(key):
                    raise root.error(key, f"missing; a snapshot has {', '.join(_SNAPSHOT_KEYS)}")
            self.seq: int = root.integer("seq", minimum=0)
            """The last event applied (the snapshot's ``seq`` at first)."""
            self.runtime_state: str = root.string("state")
            """The runtime state (``RUNNING``, ``HALTED``...)."""
            self.active_engine = ""
            """The engine receiving new orders, if the snapshot says."""
            if root.has("engines") and isinstance(root.raw("engines"), dict):
                active = root.raw("engines").get("active")
                self.active_engine = active if isinstance(active, str) else ""
            self._positions: dict[tuple[str, str], tuple[float, float, float, float]] = {}
            for row in root.tables("positions"):
                owner = (row.string("strategy_id"), row.string("symbol"))
                self._positions[owner] = (
                    row.number("quantity"),
                    row.number("avg_price"),
                    row.number("realized_pnl"),
                    row.number("fees"),
                )
            self._orders: dict[str, tuple[OrderStatus, float]] = {}
            for row in root.tables("orders"):
                status = OrderStatus(row.string("status", choices=[s.value for s in OrderStatus]))
                if not status.is_terminal:
                    self._orders[row.string("client_order_id")] = (
                        status,
                        row.number("filled_quantity", minimum=0),
                    )
            self._strategies: dict[str, str] = {}
            for row in root.tables("strategies"):
                self._strategies[row.string("id")] = row.string("state")
        except SettingsError as exc:
            raise ClientError(f"bad snapshot: {exc}") from None
        self.applied = 0
        """Events applied since the snapshot."""

    def apply(self, event: Event) -> None:
        """Bring the state up to ``event`` (ignored if the snapshot already holds it).

        OrderUpdate: status and filled quantity (an order leaves the open set
        at a terminal status); Order: a new open order, ROUTED; Position:
        replaces the position (fills are not needed: positions are absolute);
        RuntimeStateChanged: the state; StrategyStarted / ActorRestarted of a
        strategy: running; StrategyQuarantined: quarantined; StrategyRemoved:
        stopped; EngineFailedOver / EngineFailedBack: the active engine.
        """
        if event.type == HEARTBEAT_TYPE or event.seq <= self.seq:
            return
        self.seq = event.seq
        self.applied += 1
        message = event.message()
        if isinstance(message, OrderUpdate):
            if message.status.is_terminal:
                self._orders.pop(message.client_order_id, None)
            else:
                self._orders[message.client_order_id] = (message.status, message.filled_quantity)
        elif isinstance(message, Order):
            self._orders.setdefault(message.client_order_id, (OrderStatus.ROUTED, 0.0))
        elif isinstance(message, Position):
            self._positions[(message.strategy_id, message.symbol)] = (
                message.quantity,
                message.avg_price,
                message.realized_pnl,
                message.fees,
            )
        elif isinstance(message, RuntimeStateChanged):
            self.runtime_state = message.state.value
        elif isinstance(message, StrategyStarted):
            self._strategies[message.strategy_id] = "running"
        elif isinstance(message, StrategyQuarantined):
            self._strategies[message.strategy_id] = "quarantined"
        elif isinstance(message, StrategyRemoved):
            self._strategies[message.strategy_id] = "stopped"
        elif isinstance(message, ActorRestarted):
            if message.kind == ActorKind.STRATEGY.value:
                strategy_id = message.name.removeprefix(strategy_actor(""))
                self._strategies[strategy_id] = "running"
        elif isinstance(message, EngineFailedOver | EngineFailedBack):
            self.active_engine = message.engine

    def state(self) -> dict[str, Any]:
        """A comparable copy: ``state``; ``positions`` {(strategy, symbol): (quantity,
        avg_price, realized_pnl, fees)}, flat ones left out as the runtime's
        ``positions`` leaves them out; ``orders`` {client_order_id: (status,
        filled_quantity)}, open ones; ``strategies`` {id: state}."""
        return {
            "state": self.runtime_state,
            "positions": {k: v for k, v in self._positions.items() if v[0] != 0},
            "orders": dict(self._orders),
            "strategies": dict(self._strategies),
        }
