"""The gateway's wire protocol: command envelopes, replies, error codes, events.

Both the gateway (:mod:`runtime.gateway`) and the client
(:mod:`runtime.client`) encode and decode here. The specification, for
clients in other languages, is the "Gateway" part of ``docs/protocol.md``.

- **Commands** (gateway ROUTER, client DEALER or REQ): one frame, a JSON
  object ``{"v": 1, "id": ..., "cmd": "status", "args": {...}}``; the reply
  is one frame ``{"v": 1, "id": ..., "ok": true, "result": ...}`` or
  ``{"v": 1, "id": ..., "ok": false, "error": {"code": ..., "message": ...}}``.
  A REQ client's empty delimiter frame is kept and echoed.
- **Events** (gateway PUB, client SUB): two frames, the UTF-8 topic
  (:mod:`runtime.topics`) and a JSON object: ``seq`` (per runtime, +1 each
  event), ``tseq`` (per topic, +1 each event of that topic), ``type`` and the
  message's fields in the :mod:`runtime.codec` encoding. Heartbeats carry the
  last ``seq`` without taking one.

Nothing from the peer is trusted: :func:`parse_request` raises
:class:`CommandError` with the code to answer for anything malformed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import orjson

from runtime.messages import Message

__all__ = [
    "COMMANDS",
    "HEARTBEAT_TYPE",
    "PROTOCOL_VERSION",
    "CommandError",
    "CommandSpec",
    "ErrorCode",
    "Request",
    "Role",
    "encode_error",
    "encode_event",
    "encode_heartbeat",
    "encode_reply",
    "parse_request",
]

PROTOCOL_VERSION: Final = 1
"""``v`` of every request, reply and event this runtime speaks."""

HEARTBEAT_TYPE: Final = "Heartbeat"
"""``type`` of a heartbeat event (it is no domain message)."""


class ErrorCode(StrEnum):
    """``error.code`` of a refused command."""

    BAD_FRAMES = "BAD_FRAMES"
    """Not one request frame (after the identity and an optional empty delimiter)."""
    TOO_LARGE = "TOO_LARGE"
    """The request is larger than ``max_message_bytes``."""
    BAD_JSON = "BAD_JSON"
    """The frame is not UTF-8 JSON."""
    NOT_AN_OBJECT = "NOT_AN_OBJECT"
    """The JSON is not an object."""
    BAD_VERSION = "BAD_VERSION"
    """``v`` is missing or not a version this runtime speaks."""
    BAD_REQUEST = "BAD_REQUEST"
    """An envelope key is missing, mistyped or unknown (``cmd``, ``id``, ``args``)."""
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    """``cmd`` names no command."""
    BAD_ARGUMENT = "BAD_ARGUMENT"
    """An argument is missing, mistyped, out of range or unknown; the message names it."""
    FORBIDDEN = "FORBIDDEN"
    """A read-only client sent a command that changes state."""
    NOT_FOUND = "NOT_FOUND"
    """The strategy, order or engine named does not exist."""
    CONFLICT = "CONFLICT"
    """The command cannot apply now: a duplicate id, a state that does not allow it."""
    NOT_ALLOWED = "NOT_ALLOWED"
    """``add_strategy`` named a module or path outside what settings allow."""
    LOAD_ERROR = "LOAD_ERROR"
    """The strategy's code failed to import, or the class is not a strategy."""
    BUSY = "BUSY"
    """Too many commands are waiting to run; try again."""
    UNAVAILABLE = "UNAVAILABLE"
    """The runtime is stopping, or an actor did not answer in time."""
    INTERNAL = "INTERNAL"
    """An unexpected error; the runtime logged it and keeps serving."""


class CommandError(Exception):
    """A command refused with an :class:`ErrorCode` and a readable message."""

    def __init__(self, code: ErrorCode, message: str, request_id: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


class Role(StrEnum):
    """What a client may do, from the CURVE key it connected with."""

    CONTROL = "control"
    """Every command (without CURVE, every client on the loopback endpoint)."""
    READ_ONLY = "read-only"
    """Subscribe and query; every state-changing command is ``FORBIDDEN``."""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command: whether it changes state, and a line of help."""

    mutating: bool
    """Refused to read-only clients."""
    summary: str
    """What it does (``tradepit --help``, docs)."""
    immediate: bool = False
    """Run at once on the gateway thread, ahead of the commands waiting: only for a
    command that never waits on an actor (``halt``: it only sends messages)."""


COMMANDS: Final[dict[str, CommandSpec]] = {
    "status": CommandSpec(False, "runtime state, counters, gateway statistics"),
    "actors": CommandSpec(False, "every actor with state, failures and restarts"),
    "engines": CommandSpec(False, "active engine, backups, failures, last switch"),
    "strategies": CommandSpec(False, "every strategy with its state and class"),
    "positions": CommandSpec(False, "positions per strategy and symbol"),
    "orders": CommandSpec(False, "orders with their history (open only by default)"),
    "snapshot": CommandSpec(False, "state, positions, open orders, strategies, engines, seq"),
    "add_strategy": CommandSpec(True, "start a new strategy actor"),
    "remove_strategy": CommandSpec(True, "stop a strategy: cancel, keep or flatten"),
    "restart_strategy": CommandSpec(True, "restart a strategy actor (also a quarantined one)"),
    "pause": CommandSpec(True, "pause one strategy, or the whole runtime"),
    "resume": CommandSpec(True, "resume one strategy, or the whole runtime"),
    "reduce": CommandSpec(True, "reduce-only: only orders that bring positions to flat"),
    "reset": CommandSpec(True, "leave HALTED, back to RUNNING"),
    "halt": CommandSpec(True, "emergency stop: no orders, working orders cancelled", True),
    "set_engine": CommandSpec(True, "pin an engine (empty: automatic failover again)"),
    "cancel_all": CommandSpec(True, "cancel working orders (of one strategy, or all)"),
    "submit_order": CommandSpec(True, "submit an order through risk"),
    "cancel_order": CommandSpec(True, "cancel one working order"),
    "shutdown": CommandSpec(True, "stop the runtime gracefully"),
}
"""Every command, by name."""

_ENVELOPE_KEYS: Final = frozenset({"v", "id", "cmd", "args"})


@dataclass(frozen=True, slots=True)
class Request:
    """A well-formed command request."""

    id: Any
    """The client's request id (an integer, a string or null), echoed in the reply."""
    cmd: str
    """A key of :data:`COMMANDS`."""
    args: dict[str, Any]
    """The arguments object (empty when absent)."""


def parse_request(frame: bytes, max_bytes: int) -> Request:
    """Decode and check one request frame.

    Raises :class:`CommandError` (with the request id once it could be read)
    for anything that is not a well-formed request of a known command.
    """
    if len(frame) > max_bytes:
        raise CommandError(
            ErrorCode.TOO_LARGE, f"request of {len(frame)} bytes; the limit is {max_bytes}"
        )
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise CommandError(ErrorCode.BAD_JSON, f"not valid UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise CommandError(
            ErrorCode.NOT_AN_OBJECT, f"expected a JSON object, got {type(obj).__name__}"
        )
    request_id = obj.get("id")
    if request_id is not None and (
        isinstance(request_id, bool) or not isinstance(request_id, int | str)
    ):
        raise CommandError(
            ErrorCode.BAD_REQUEST,
            f"'id' must be an integer, a string or null, got {type(request_id).__name__}",
        )
    if isinstance(request_id, str) and len(request_id) > 256:
        raise CommandError(ErrorCode.BAD_REQUEST, "'id' is longer than 256 characters")
    version = obj.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise CommandError(
            ErrorCode.BAD_VERSION,
            f"'v' must be {PROTOCOL_VERSION}, got {version!r}"[:200],
            request_id,
        )
    unknown = sorted(str(k) for k in obj.keys() - _ENVELOPE_KEYS)
    if unknown:
        raise CommandError(
            ErrorCode.BAD_REQUEST,
            f"unknown key {unknown[0][:64]!r}; a request has v, id, cmd, args",
            request_id,
        )
    cmd = obj.get("cmd")
    if not isinstance(cmd, str):
        raise CommandError(
            ErrorCode.BAD_REQUEST,
            f"'cmd' must be a string, got {type(cmd).__name__}",
            request_id,
        )
    if cmd not in COMMANDS:
        raise CommandError(
            ErrorCode.UNKNOWN_COMMAND,
            f"unknown command {cmd[:64]!r}; expected one of: {', '.join(COMMANDS)}",
            request_id,
        )
    args = obj.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise CommandError(
            ErrorCode.BAD_REQUEST,
            f"'args' must be an object, got {type(args).__name__}",
            request_id,
        )
    return Request(id=request_id, cmd=cmd, args=args)


def _default(value: Any) -> Any:
    """orjson fallback: paths, sets and other plain values a result may hold."""
    if isinstance(value, frozenset | set):
        return sorted(value)
    return str(value)


def encode_reply(request_id: Any, result: Any) -> bytes:
    """A success reply; ``result`` may hold dataclasses, enums, tuples and dicts."""
    return orjson.dumps(
        {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result},
        default=_default,
        option=orjson.OPT_NON_STR_KEYS,
    )


def encode_error(request_id: Any, code: ErrorCode, message: str) -> bytes:
    """An error reply."""
    return orjson.dumps(
        {
            "v": PROTOCOL_VERSION,
            "id": request_id,
            "ok": False,
            "error": {"code": code.value, "message": message},
        }
    )


_TYPE_KEYS: dict[type[Message], bytes] = {}
"""``"type":"<TAG>",`` of each message class, made once."""


def encode_event(seq: int, tseq: int, message: Message) -> bytes:
    """The body frame of one event: ``seq``, ``tseq``, then the codec encoding
    (``type`` and the fields: the bytes of :func:`runtime.codec.encode` after its
    opening brace), spliced once."""
    kind = type(message)
    type_key = _TYPE_KEYS.get(kind)
    if type_key is None:
        type_key = _TYPE_KEYS[kind] = b'"type":"' + kind.TAG.encode() + b'",'
    return b'{"seq":%d,"tseq":%d,%s' % (seq, tseq, type_key) + orjson.dumps(message)[1:]


def encode_heartbeat(
    seq: int, ts: int, *, runtime: str, state: str, interval_s: float, dropped: int
) -> bytes:
    """The body frame of a heartbeat: the last ``seq`` published, and the state."""
    return orjson.dumps(
        {
            "seq": seq,
            "type": HEARTBEAT_TYPE,
            "ts": ts,
            "runtime": runtime,
            "state": state,
            "interval_s": interval_s,
            "dropped": dropped,
        }
    )
