"""The simulated venue's wire protocol: frames of its two ZeroMQ sockets.

Both the venue (:mod:`runtime.venue`) and its clients (the ``venue`` broker
adapter, the venue market-data source) encode and decode here, so the two
sides cannot drift apart. The full specification, for clients in other
languages, is ``docs/protocol.md``. In short:

- **Orders socket** (venue ROUTER, client DEALER). Every message is
  ``[kind, meta]`` or ``[kind, meta, body...]``: ``kind`` is an ASCII word
  (:class:`Kind`), ``meta`` a JSON object, and each ``body`` frame one domain
  message in the :mod:`runtime.codec` encoding (an ``Order``, ``OrderUpdate``
  or ``Fill``). Requests carry a client-chosen integer ``req`` that the
  answer echoes.
- **Market-data socket** (venue PUB, client SUB). ``[topic, body]``: the topic
  is the UTF-8 symbol followed by one NUL byte (:func:`market_topic`) and the
  body a codec-encoded ``Bar`` or ``Tick``; the control topic ``b"\\x00"``
  carries the end-of-data message.

Decoding never trusts the peer: anything malformed raises
:class:`ProtocolError` with the :class:`ErrorCode` to answer and, when it
could be read, the request id.
"""

from __future__ import annotations

import enum
import math
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar

import orjson

from runtime import codec
from runtime.errors import CodecError
from runtime.messages import Bar, Fill, Order, OrderUpdate, RejectReason, Tick

__all__ = [
    "CONTROL_TOPIC",
    "PROTOCOL_VERSION",
    "Ack",
    "Cancel",
    "CancelAllOrders",
    "EndOfData",
    "ErrorCode",
    "ErrorReply",
    "EventPush",
    "Hello",
    "Kind",
    "Ping",
    "Pong",
    "PositionReport",
    "PositionsQuery",
    "ProtocolError",
    "Reply",
    "Request",
    "StatusQuery",
    "Submit",
    "Welcome",
    "decode_market",
    "decode_reply",
    "decode_request",
    "encode",
    "encode_market",
    "market_topic",
]

PROTOCOL_VERSION = 1
"""Version a client states in ``HELLO``; the venue refuses any other."""

CONTROL_TOPIC = b"\x00"
"""PUB topic of venue control messages (end of data); no symbol topic starts with NUL."""


class Kind(StrEnum):
    """The first frame of every orders-socket message."""

    HELLO = "HELLO"
    SUBMIT = "SUBMIT"
    CANCEL = "CANCEL"
    CANCEL_ALL = "CANCEL_ALL"
    STATUS = "STATUS"
    PING = "PING"
    POSITIONS = "POSITIONS"
    WELCOME = "WELCOME"
    ACK = "ACK"
    PONG = "PONG"
    ERROR = "ERROR"
    EVENT = "EVENT"
    POSITION_REPORT = "POSITION_REPORT"


class ErrorCode(StrEnum):
    """Why the venue refused a request (the ``code`` of an ``ERROR`` reply)."""

    BAD_FRAMES = "BAD_FRAMES"
    """Wrong number of frames, or a kind that is not ASCII."""
    UNKNOWN_KIND = "UNKNOWN_KIND"
    """The kind is not a request the venue knows."""
    BAD_JSON = "BAD_JSON"
    """The meta frame is not a JSON object."""
    BAD_REQUEST = "BAD_REQUEST"
    """A meta field is missing, unknown or of the wrong type."""
    BAD_ORDER = "BAD_ORDER"
    """The body of ``SUBMIT`` is not a valid encoded ``Order``."""
    VERSION = "VERSION"
    """``HELLO`` asked for a protocol version the venue does not speak."""
    NO_SESSION = "NO_SESSION"
    """No ``HELLO`` on this connection, or another connection took the engine over."""
    INTERNAL = "INTERNAL"
    """The venue failed while handling the request (a venue bug); it keeps serving."""


class ProtocolError(CodecError):
    """Frames that are not a valid protocol message."""

    def __init__(self, code: ErrorCode, message: str, req: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        """What to answer."""
        self.req = req
        """The request id, when it could be read."""


# --- requests: client -> venue -----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """Open (or take over) the session of engine ``engine``."""

    KIND: ClassVar[Kind] = Kind.HELLO
    req: int
    """Request id, echoed by the answer."""
    version: int
    """Protocol version the client speaks (:data:`PROTOCOL_VERSION`)."""
    engine: str
    """Name of the client's engine: owner of the orders it submits."""
    session: str
    """Client-chosen id of this client incarnation (a UUID)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Submit:
    """Submit an order; answered with ``ACK`` carrying ACCEPTED or REJECTED."""

    KIND: ClassVar[Kind] = Kind.SUBMIT
    req: int
    """Request id, echoed by the answer."""
    order: Order
    """The order (body frame)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel:
    """Cancel one working order of the session's engine."""

    KIND: ClassVar[Kind] = Kind.CANCEL
    req: int
    """Request id, echoed by the answer."""
    client_order_id: str
    """The order."""
    ts_event: int
    """When the cancel was asked for, ns since the epoch."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAllOrders:
    """Cancel every working order of the session's engine."""

    KIND: ClassVar[Kind] = Kind.CANCEL_ALL
    req: int
    """Request id, echoed by the answer."""
    ts_event: int
    """When the cancel was asked for, ns since the epoch."""
    reason: RejectReason
    """Reason carried by the cancellations."""
    message: str
    """Readable detail carried by the cancellations."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusQuery:
    """Ask for the current state of orders (reconciliation)."""

    KIND: ClassVar[Kind] = Kind.STATUS
    req: int
    """Request id, echoed by the answer."""
    client_order_ids: tuple[str, ...]
    """The orders asked about."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    """Heartbeat; answered with ``PONG``."""

    KIND: ClassVar[Kind] = Kind.PING
    req: int
    """Request id, echoed by the answer."""
    ts: int
    """Client time, ns since the epoch; echoed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionsQuery:
    """Ask for the net position per symbol of the session's engine; answered with
    ``POSITION_REPORT``."""

    KIND: ClassVar[Kind] = Kind.POSITIONS
    req: int
    """Request id, echoed by the answer."""


# --- replies and pushes: venue -> client -------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    """The answer to ``HELLO``: the session is open."""

    KIND: ClassVar[Kind] = Kind.WELCOME
    req: int
    """The HELLO's request id."""
    version: int
    """Protocol version of the venue."""
    venue: str
    """The venue's name."""
    instance: str
    """Id of this venue process; a new value means the venue restarted."""
    session: str
    """The session id the client sent."""
    resumed: bool
    """True when the engine's previous session had the same session id."""
    seq: int
    """Sequence number of the last ``EVENT`` issued to this engine (0: none)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """A request was done; carries the events it caused at once."""

    KIND: ClassVar[Kind] = Kind.ACK
    req: int
    """The request's id."""
    events: tuple[OrderUpdate | Fill, ...] = ()
    """Body frames: order updates (and for ``STATUS``, each order's fills first)."""
    unknown: tuple[str, ...] = ()
    """For ``STATUS``: the asked ids the venue has no record of for this engine."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    """The answer to ``PING``."""

    KIND: ClassVar[Kind] = Kind.PONG
    req: int
    """The PING's request id."""
    ts: int
    """The PING's ``ts``."""
    venue_ts: int
    """Venue time, ns since the epoch."""
    instance: str
    """Id of this venue process (see :class:`Welcome`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionReport:
    """The answer to ``POSITIONS``."""

    KIND: ClassVar[Kind] = Kind.POSITION_REPORT
    req: int
    """The request's id."""
    positions: dict[str, float]
    """Symbol -> signed net quantity of the engine's fills (buys positive); every
    symbol the engine has traded, flat ones included."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorReply:
    """A request was refused; the venue keeps serving."""

    KIND: ClassVar[Kind] = Kind.ERROR
    req: int | None
    """The request's id, or None when it could not be read."""
    code: ErrorCode
    """Why."""
    message: str
    """Readable detail."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventPush:
    """An order update or fill the venue learned later (a bar filled an order)."""

    KIND: ClassVar[Kind] = Kind.EVENT
    seq: int
    """Per-engine sequence number: 1, 2, 3... within one venue instance."""
    event: OrderUpdate | Fill
    """The event (body frame)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfData:
    """Published on :data:`CONTROL_TOPIC` when the venue's market data has ended."""

    ts: int
    """Venue time, ns since the epoch."""
    bars: int
    """Bars published."""
    ticks: int
    """Ticks published."""


Request = Hello | Submit | Cancel | CancelAllOrders | StatusQuery | Ping | PositionsQuery
"""What a client sends."""
Reply = Welcome | Ack | Pong | ErrorReply | EventPush | PositionReport
"""What the venue sends on the orders socket."""

_BODY_FIELDS = frozenset({"order", "events", "event"})
_REQUESTS: dict[bytes, type[Request]] = {
    c.KIND.encode(): c
    for c in (Hello, Submit, Cancel, CancelAllOrders, StatusQuery, Ping, PositionsQuery)
}
_REPLIES: dict[bytes, type[Reply]] = {
    c.KIND.encode(): c for c in (Welcome, Ack, Pong, ErrorReply, EventPush, PositionReport)
}

_Check = Callable[[Any], Any]
"""Validate and convert one decoded JSON value; raise ValueError if it is wrong."""


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"expected an array of strings, got {value!r}")
    return tuple(_text(v) for v in value)


def _quantities(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object of numbers, got {value!r}")
    out = {}
    for key, number in value.items():
        try:
            out[_text(key)] = _number(number)
        except ValueError as exc:
            raise ValueError(f"[{key!r}]: {exc}") from None
    return out


def _choice(kind: type[enum.Enum]) -> _Check:
    def check(value: Any) -> Any:
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"expected one of {[m.value for m in kind]}, got {value!r}") from None

    return check


def _optional(inner: _Check) -> _Check:
    def check(value: Any) -> Any:
        return None if value is None else inner(value)

    return check


def _check_for(hint: Any) -> _Check:
    """The validator of a field declared with type ``hint``."""
    if hint is int:
        return _integer
    if hint is str:
        return _text
    if hint is bool:
        return _flag
    if hint is float:
        return _number
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _choice(hint)
    if typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, ...):
        return _texts
    if typing.get_origin(hint) is dict and typing.get_args(hint) == (str, float):
        return _quantities
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return _optional(_check_for(args[0]))
    raise TypeError(f"no wire check for {hint!r}")


def _checks(cls: type[Any], skip: frozenset[str]) -> dict[str, tuple[_Check, bool]]:
    """Field name -> (validator, required) of a dataclass, without ``skip``."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in fields(cls):
        if f.name not in skip:
            required = f.default is MISSING and f.default_factory is MISSING
            out[f.name] = (_check_for(hints[f.name]), required)
    return out


_META = {cls: _checks(cls, _BODY_FIELDS) for cls in (*_REQUESTS.values(), *_REPLIES.values())}
_DOMAIN = {cls: _checks(cls, frozenset()) for cls in (Order, OrderUpdate, Fill, Bar, Tick)}


# --- encoding ----------------------------------------------------------------


def encode(message: Request | Reply) -> list[bytes]:
    """The frames of one orders-socket message (without the ROUTER identity)."""
    meta = {name: getattr(message, name) for name in _META[type(message)]}
    frames = [message.KIND.encode(), orjson.dumps(meta)]
    if isinstance(message, Submit):
        frames.append(codec.encode(message.order))
    elif isinstance(message, Ack):
        frames.extend(codec.encode(e) for e in message.events)
    elif isinstance(message, EventPush):
        frames.append(codec.encode(message.event))
    return frames


def market_topic(symbol: str) -> bytes:
    """The PUB topic of ``symbol``: its UTF-8 bytes and a NUL, so ``A`` never matches ``AB``."""
    return symbol.encode() + b"\x00"


def encode_market(item: Bar | Tick | EndOfData) -> list[bytes]:
    """The frames of one market-data socket message."""
    if isinstance(item, EndOfData):
        body = {"type": "EndOfData", "ts": item.ts, "bars": item.bars, "ticks": item.ticks}
        return [CONTROL_TOPIC, orjson.dumps(body)]
    return [market_topic(item.symbol), codec.encode(item)]


# --- decoding ----------------------------------------------------------------


def decode_request(frames: Sequence[bytes]) -> Request:
    """Parse the frames a client sent (without the ROUTER identity).

    Raises :class:`ProtocolError` with the code to answer.
    """
    cls, meta, req = _head(frames, _REQUESTS, "request")
    values = _meta_values(cls, meta, req, strict=True)
    if cls is Submit:
        _frame_count(frames, 3, req)
        values["order"] = _body(frames[2], Order, ErrorCode.BAD_ORDER, req)
    else:
        _frame_count(frames, 2, req)
    return cls(**values)


def decode_reply(frames: Sequence[bytes]) -> Reply:
    """Parse the frames the venue sent; unknown meta fields are ignored.

    Raises :class:`ProtocolError` naming what is wrong.
    """
    cls, meta, _req = _head(frames, _REPLIES, "reply")
    values = _meta_values(cls, meta, None, strict=False)
    bad = ErrorCode.BAD_FRAMES
    if cls is Ack:
        values["events"] = tuple(_event(frame, bad) for frame in frames[2:])
    elif cls is EventPush:
        _frame_count(frames, 3, None)
        values["event"] = _event(frames[2], bad)
    else:
        _frame_count(frames, 2, None)
    return cls(**values)


def decode_market(frames: Sequence[bytes]) -> Bar | Tick | EndOfData:
    """Parse one market-data socket message; raises :class:`ProtocolError`."""
    if len(frames) != 2:
        raise ProtocolError(ErrorCode.BAD_FRAMES, f"expected 2 frames, got {len(frames)}")
    topic, body = frames
    if topic == CONTROL_TOPIC:
        obj = _json_object(body, None)
        if obj.get("type") != "EndOfData":
            raise ProtocolError(ErrorCode.UNKNOWN_KIND, f"unknown control message {obj!r}")
        try:
            return EndOfData(
                ts=_integer(obj.get("ts")),
                bars=_integer(obj.get("bars")),
                ticks=_integer(obj.get("ticks")),
            )
        except ValueError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"EndOfData: {exc}") from None
    item = typing.cast(Bar | Tick, _body(body, Bar | Tick, ErrorCode.BAD_FRAMES, None))
    if topic != market_topic(item.symbol):
        raise ProtocolError(ErrorCode.BAD_FRAMES, f"topic {topic!r} does not match {item.symbol!r}")
    return item


_W = typing.TypeVar("_W")


def _head(
    frames: Sequence[bytes], table: dict[bytes, type[_W]], what: str
) -> tuple[type[_W], dict[str, Any], int | None]:
    """The message class, the meta object and the request id (when readable)."""
    if len(frames) < 2:
        raise ProtocolError(
            ErrorCode.BAD_FRAMES, f"expected [kind, meta, body...], got {len(frames)} frame(s)"
        )
    meta = _json_object(frames[1], None)
    req = meta.get("req")
    req = req if isinstance(req, int) and not isinstance(req, bool) else None
    kind = frames[0]
    cls = table.get(kind)
    if cls is None:
        if not (kind.isascii() and kind.replace(b"_", b"").isalnum()):
            raise ProtocolError(
                ErrorCode.BAD_FRAMES, f"the kind frame {kind[:40]!r} is not a word", req
            )
        known = ", ".join(k.decode() for k in table)
        raise ProtocolError(
            ErrorCode.UNKNOWN_KIND,
            f"{kind.decode()!r} is not a {what}; expected one of: {known}",
            req,
        )
    return cls, meta, req


def _json_object(frame: bytes, req: int | None) -> dict[str, Any]:
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"meta is not valid JSON: {exc}", req) from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, f"meta must be a JSON object, got {obj!r}", req)
    return obj


def _meta_values(
    cls: type[Any], meta: dict[str, Any], req: int | None, *, strict: bool
) -> dict[str, Any]:
    checks = _META[cls]
    name = cls.KIND.value
    if strict:
        extra = sorted(set(meta) - set(checks))
        if extra:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                f"{name}: unknown field {extra[0]!r}; expected: {', '.join(checks)}",
                req,
            )
    values: dict[str, Any] = {}
    for field, (check, required) in checks.items():
        if field not in meta:
            if required:
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name}: missing field {field!r}", req)
            continue
        try:
            values[field] = check(meta[field])
        except ValueError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"{name}.{field}: {exc}", req) from None
    return values


def _frame_count(frames: Sequence[bytes], expected: int, req: int | None) -> None:
    if len(frames) != expected:
        raise ProtocolError(
            ErrorCode.BAD_FRAMES, f"expected {expected} frames, got {len(frames)}", req
        )


def _event(frame: bytes, code: ErrorCode) -> OrderUpdate | Fill:
    return typing.cast(OrderUpdate | Fill, _body(frame, OrderUpdate | Fill, code, None))


def _body(frame: bytes, kind: Any, code: ErrorCode, req: int | None) -> Any:
    """Decode a codec frame, insist on ``kind`` and check every field's type."""
    try:
        message = codec.decode(frame)
    except CodecError as exc:
        raise ProtocolError(code, f"body: {exc}", req) from None
    if not isinstance(message, kind):
        raise ProtocolError(code, f"body: unexpected {message.TAG}", req)
    for name, (check, _required) in _DOMAIN[type(message)].items():
        try:
            check(getattr(message, name))
        except ValueError as exc:
            raise ProtocolError(code, f"body: {message.TAG}.{name}: {exc}", req) from None
    return message
