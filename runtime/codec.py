"""One codec for the wire and the journal: orjson, with a type tag.

A message encodes as a flat JSON object whose first key is ``type`` (the
message's ``TAG``) followed by its fields; enums encode as their string value,
tuples as arrays. :func:`decode` turns that back into the identical frozen
object. Floats must be finite (JSON has no NaN); the edges that build
messages from outside data check that.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import orjson

from runtime.errors import CodecError
from runtime.messages import Message, registry

__all__ = ["decode", "decode_object", "encode"]

_Converter = Callable[[Any], Any]


def _optional(inner: _Converter) -> _Converter:
    def convert(value: Any) -> Any:
        return None if value is None else inner(value)

    return convert


def _converter_for(hint: Any) -> _Converter | None:
    """How to turn a decoded JSON value back into the field's declared type."""
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    origin = typing.get_origin(hint)
    if origin is tuple:
        return tuple
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            inner = _converter_for(args[0])
            if inner is None:
                return None
            return _optional(inner)
    if hint is float:
        return float
    return None


def _build_decoders() -> dict[
    str, tuple[type[Message], frozenset[str], list[tuple[str, _Converter]]]
]:
    table = {}
    for tag, cls in registry().items():
        hints = typing.get_type_hints(cls)
        names = frozenset(f.name for f in fields(cls))  # type: ignore[arg-type]
        convs = []
        for name in sorted(names):
            conv = _converter_for(hints[name])
            if conv is not None:
                convs.append((name, conv))
        table[tag] = (cls, names, convs)
    return table


_DECODERS = _build_decoders()


def encode(message: Message) -> bytes:
    """Serialize a domain message to JSON bytes with its type tag first."""
    body = orjson.dumps(message)
    return b'{"type":"' + message.TAG.encode() + b'",' + body[1:]


def decode(data: bytes | str) -> Message:
    """Parse bytes made by :func:`encode` back into the message object.

    Raises :class:`CodecError` naming what is wrong for anything else.
    """
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise CodecError(f"expected a JSON object, got {type(obj).__name__}")
    return decode_object(obj)


def decode_object(obj: dict[str, Any]) -> Message:
    """Build a message from an already parsed JSON object."""
    obj = dict(obj)
    tag = obj.pop("type", None)
    if not isinstance(tag, str) or tag not in _DECODERS:
        raise CodecError(f"unknown message type {tag!r}")
    cls, names, convs = _DECODERS[tag]
    missing = names - obj.keys()
    extra = obj.keys() - names
    if missing or extra:
        raise CodecError(f"{tag}: missing fields {sorted(missing)}, unknown fields {sorted(extra)}")
    try:
        for name, conv in convs:
            obj[name] = conv(obj[name])
        return cls(**obj)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"{tag}: {exc}") from None
