"""The venue wire protocol: every message round-trips; bad frames are named, never trusted."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from test_venue import START_NS, make_order

from runtime import codec
from runtime.messages import (
    Bar,
    Fill,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    Side,
    Tick,
)
from runtime.venue_protocol import (
    CONTROL_TOPIC,
    PROTOCOL_VERSION,
    Ack,
    Cancel,
    CancelAllOrders,
    EndOfData,
    ErrorCode,
    ErrorReply,
    EventPush,
    Hello,
    Kind,
    Ping,
    Pong,
    ProtocolError,
    Reply,
    Request,
    StatusQuery,
    Submit,
    Welcome,
    decode_market,
    decode_reply,
    decode_request,
    encode,
    encode_market,
    market_topic,
)

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"

UPDATE = OrderUpdate(
    id=3, ts_event=START_NS, ts_init=START_NS, client_order_id="o-1", strategy_id="s",
    symbol="SYN-A", side=Side.SELL, status=OrderStatus.PARTIALLY_FILLED, quantity=10.0,
    filled_quantity=4.0, avg_fill_price=99.5, reason=None, message="", engine="sim-1",
)  # fmt: skip
FILL = Fill(
    id=4, ts_event=START_NS, ts_init=START_NS, fill_id="sim-1-1", client_order_id="o-1",
    strategy_id="s", symbol="SYN-A", side=Side.SELL, quantity=4.0, price=99.5,
    commission=1.0, slippage=0.01, engine="sim-1",
)  # fmt: skip
BAR = Bar(
    id=5, ts_event=START_NS, ts_init=START_NS, symbol="SYN-A", open=1.0, high=2.0, low=0.5,
    close=1.5, volume=0.0, interval_s=60,
)  # fmt: skip

REQUESTS: list[Request] = [
    Hello(req=1, version=PROTOCOL_VERSION, engine="venue-a", session="abc"),
    Submit(req=2, order=make_order("o-1", limit=99.0)),
    Cancel(req=3, client_order_id="o-1", ts_event=START_NS),
    CancelAllOrders(req=4, ts_event=START_NS, reason=RejectReason.SHUTDOWN, message="bye"),
    StatusQuery(req=5, client_order_ids=("o-1", "o-2")),
    StatusQuery(req=6, client_order_ids=()),
    Ping(req=7, ts=START_NS),
]
REPLIES: list[Reply] = [
    Welcome(
        req=1,
        version=PROTOCOL_VERSION,
        venue="sim",
        instance="ab12",
        session="abc",
        resumed=True,
        seq=9,
    ),
    Ack(req=2),
    Ack(req=5, events=(FILL, UPDATE), unknown=("o-2",)),
    Pong(req=7, ts=START_NS, venue_ts=START_NS + 1, instance="ab12"),
    ErrorReply(req=None, code=ErrorCode.BAD_JSON, message="meta is not valid JSON"),
    ErrorReply(req=8, code=ErrorCode.NO_SESSION, message="send HELLO first"),
    EventPush(seq=3, event=FILL),
    EventPush(seq=4, event=UPDATE),
]


@pytest.mark.parametrize("message", REQUESTS, ids=lambda m: type(m).__name__)
def test_every_request_round_trips(message: Request) -> None:
    frames = encode(message)
    assert frames[0] == message.KIND.encode()
    assert orjson.loads(frames[1])["req"] == message.req
    assert decode_request(frames) == message


@pytest.mark.parametrize("message", REPLIES, ids=lambda m: type(m).__name__)
def test_every_reply_round_trips(message: Reply) -> None:
    assert decode_reply(encode(message)) == message


def test_body_frames_use_the_runtime_codec() -> None:
    order = make_order("o-9")
    assert encode(Submit(req=1, order=order))[2] == codec.encode(order)
    assert encode(Ack(req=1, events=(FILL, UPDATE)))[2:] == [
        codec.encode(FILL),
        codec.encode(UPDATE),
    ]


@pytest.mark.parametrize(
    ("frames", "code", "req"),
    [
        ([], ErrorCode.BAD_FRAMES, None),
        ([b"PING"], ErrorCode.BAD_FRAMES, None),
        ([b"", b"{}"], ErrorCode.BAD_FRAMES, None),
        ([b"P I N G", b'{"req": 1}'], ErrorCode.BAD_FRAMES, 1),
        ([b"ping", b'{"req": 1}'], ErrorCode.UNKNOWN_KIND, 1),
        ([b"PONG", b'{"req": 1}'], ErrorCode.UNKNOWN_KIND, 1),
        ([b"PING", b"\xff"], ErrorCode.BAD_JSON, None),
        ([b"PING", b'"text"'], ErrorCode.BAD_JSON, None),
        ([b"PING", b'{"req": true, "ts": 1}'], ErrorCode.BAD_REQUEST, None),
        ([b"PING", b'{"req": 1, "ts": 1.5}'], ErrorCode.BAD_REQUEST, 1),
        ([b"PING", b'{"req": 1, "ts": 1, "tz": 0}'], ErrorCode.BAD_REQUEST, 1),
        ([b"HELLO", b'{"req": 2, "version": 1, "engine": "e"}'], ErrorCode.BAD_REQUEST, 2),
        ([b"STATUS", b'{"req": 3, "client_order_ids": [1]}'], ErrorCode.BAD_REQUEST, 3),
        ([b"CANCEL_ALL", b'{"req": 4, "ts_event": 1, "reason": "BORED", "message": ""}'],
         ErrorCode.BAD_REQUEST, 4),
        ([b"SUBMIT", b'{"req": 5}', codec.encode(FILL)], ErrorCode.BAD_ORDER, 5),
        ([b"SUBMIT", b'{"req": 6}', b'{"type": "Order"}'], ErrorCode.BAD_ORDER, 6),
    ],
)  # fmt: skip
def test_malformed_requests_raise_the_code_to_answer(
    frames: list[bytes], code: ErrorCode, req: int | None
) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_request(frames)
    assert (caught.value.code, caught.value.req) == (code, req)


def test_order_fields_of_the_wrong_type_are_refused() -> None:
    body = orjson.loads(codec.encode(make_order("o-1")))
    for field, value in [("symbol", 7), ("client_order_id", None), ("id", True), ("ts_event", 1.5)]:
        frames = [b"SUBMIT", b'{"req": 1}', orjson.dumps({**body, field: value})]
        with pytest.raises(ProtocolError, match=field) as caught:
            decode_request(frames)
        assert caught.value.code is ErrorCode.BAD_ORDER


def test_replies_tolerate_unknown_meta_fields_but_requests_do_not() -> None:
    pong = [b"PONG", b'{"req": 1, "ts": 2, "venue_ts": 3, "instance": "x", "load": 0.5}']
    assert decode_reply(pong) == Pong(req=1, ts=2, venue_ts=3, instance="x")
    with pytest.raises(ProtocolError, match="load"):
        decode_request([b"PING", b'{"req": 1, "ts": 2, "load": 0.5}'])


def test_market_data_round_trips_under_symbol_topics() -> None:
    tick = Tick(id=6, ts_event=START_NS, ts_init=START_NS, symbol="ES", price=1.0, size=2.0)
    end = EndOfData(ts=START_NS, bars=1, ticks=1)
    for item in (BAR, tick, end):
        assert decode_market(encode_market(item)) == item
    assert encode_market(BAR)[0] == b"SYN-A\x00"
    assert encode_market(end)[0] == CONTROL_TOPIC
    assert not market_topic("SYN-AB").startswith(market_topic("SYN-A"))
    assert not market_topic("X").startswith(CONTROL_TOPIC)


@pytest.mark.parametrize(
    "frames",
    [
        [b"SYN-A\x00"],
        [b"SYN-B\x00", codec.encode(BAR)],
        [b"SYN-A\x00", codec.encode(FILL)],
        [CONTROL_TOPIC, b'{"type": "Restart"}'],
        [CONTROL_TOPIC, b'{"type": "EndOfData", "ts": 1, "bars": "2", "ticks": 0}'],
    ],
)
def test_bad_market_data_frames_raise(frames: list[bytes]) -> None:
    with pytest.raises(ProtocolError):
        decode_market(frames)


def test_the_protocol_document_covers_every_kind_and_error_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{3,4} `([A-Z_]+)`", text, flags=re.MULTILINE))
    assert {k.value for k in Kind} <= headings
    for code in ErrorCode:
        assert f"`{code.value}`" in text
    assert f"version `{PROTOCOL_VERSION}`" in text
