"""The codec round-trips every message type exactly and refuses bad input."""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.codec import decode, encode
from runtime.errors import CodecError
from runtime.messages import Bar, Message, Side, next_id, registry

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_FLOAT = st.floats(allow_nan=False, allow_infinity=False)


def _strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return st.sampled_from(list(hint))
    if hint is int:
        return _INT64
    if hint is float:
        return _FLOAT
    if hint is str:
        return st.text(max_size=40)
    if hint is bool:
        return st.booleans()
    origin = typing.get_origin(hint)
    if origin is tuple:
        return st.lists(st.text(max_size=10), max_size=5).map(tuple)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_strategy_for(a) for a in typing.get_args(hint)))
    if hint is type(None):
        return st.none()
    raise AssertionError(f"no strategy for {hint!r}")


def _messages() -> st.SearchStrategy[Message]:
    builders = []
    for cls in registry().values():
        hints = typing.get_type_hints(cls)
        kwargs = {f.name: _strategy_for(hints[f.name]) for f in fields(cls)}  # type: ignore[arg-type]
        builders.append(st.builds(cls, **kwargs))
    return st.one_of(*builders)


def test_registry_holds_every_domain_message_type() -> None:
    tags = set(registry())
    assert {"Bar", "Tick", "OrderIntent", "Order", "OrderUpdate", "Fill", "Position"} <= tags
    assert {"ActorStarted", "ActorFailed", "StrategyStarted", "RuntimeStateChanged"} <= tags


@settings(max_examples=600, deadline=None)
@given(_messages())
def test_every_message_type_round_trips_exactly(message: Message) -> None:
    data = encode(message)
    back = decode(data)
    assert type(back) is type(message)
    assert back == message
    for f in fields(message):  # type: ignore[arg-type]
        assert type(getattr(back, f.name)) is type(getattr(message, f.name)) or (
            isinstance(getattr(message, f.name), float)
        )
    assert encode(back) == data


def test_encoded_message_starts_with_its_type_tag() -> None:
    bar = Bar(
        id=next_id(),
        ts_event=1,
        ts_init=2,
        symbol="X",
        open=1.0,
        high=2.0,
        low=0.5,
        close=1.5,
        volume=10.0,
        interval_s=60,
    )
    assert encode(bar).startswith(b'{"type":"Bar","id":')


def test_enum_fields_decode_to_enum_members() -> None:
    from runtime.messages import Fill

    fill = Fill(
        id=1,
        ts_event=1,
        ts_init=1,
        fill_id="f",
        client_order_id="c",
        strategy_id="s",
        symbol="X",
        side=Side.SELL,
        quantity=1.0,
        price=2.0,
        commission=0.0,
        slippage=0.0,
        engine="paper",
    )
    back = decode(encode(fill))
    assert isinstance(back, Fill)
    assert back.side is Side.SELL


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"type": "Nope"}', "unknown message type"),
        (b'{"id": 1}', "unknown message type"),
        (b'{"type": "Tick", "id": 1}', "missing fields"),
        (
            b'{"type":"Tick","id":1,"ts_event":1,"ts_init":1,"symbol":"X","price":1.0,'
            b'"size":1.0,"extra":2}',
            "unknown fields ['extra']",
        ),
        (
            b'{"type":"Fill","id":1,"ts_event":1,"ts_init":1,"fill_id":"f","client_order_id":"c",'
            b'"strategy_id":"s","symbol":"X","side":"UP","quantity":1.0,"price":1.0,'
            b'"commission":0.0,"slippage":0.0,"engine":"p"}',
            "Fill",
        ),
    ],
)
def test_bad_input_raises_codec_error_saying_what_is_wrong(data: bytes, fragment: str) -> None:
    with pytest.raises(CodecError, match=None) as info:
        decode(data)
    assert fragment in str(info.value)
