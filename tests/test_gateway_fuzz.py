"""Fuzzing the command socket of a running runtime (issue 4 acceptance).

Hypothesis sends more than 10,000 random messages to the command socket of
a real runtime: random bytes, random JSON, envelopes with random fields,
known commands with random arguments, and a wrong number of frames. Every
one gets exactly one error or result reply with a known shape; afterwards
the runtime still answers ``status`` correctly, and the memory it took for
the second half of the flood is not more than for the first.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.gateway_protocol import COMMANDS, PROTOCOL_VERSION, ErrorCode
from runtime.messages import RuntimeState
from runtime.service import Service
from runtime.settings import parse_settings

_SETTINGS = """
[runtime]
name = "fuzzed"
shutdown_timeout_s = 10.0
[feed]
source = "synthetic"
[feed.synthetic]
symbols = ["AAA"]
[gateway]
enabled = true
commands = "tcp://127.0.0.1:*"
events = "tcp://127.0.0.1:*"
heartbeat_s = 0.5
max_message_bytes = 4096
[[strategies]]
id = "buyer"
class = "support:BuyEveryBar"
symbols = ["AAA"]
"""

# shutdown would end the test's runtime: everything else may be drawn.
_COMMANDS = sorted(c for c in COMMANDS if c != "shutdown")
_CODES = {c.value for c in ErrorCode}

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_arg_names = st.sampled_from(
    [
        "id",
        "class",
        "symbols",
        "params",
        "strategy",
        "policy",
        "reason",
        "engine",
        "symbol",
        "side",
        "quantity",
        "type",
        "limit_price",
        "client_order_id",
        "open_only",
        "x",
    ]
)
_envelopes = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([PROTOCOL_VERSION, 0, 2, "1", None, True]),
        "id": st.integers() | st.text(max_size=10) | st.none() | st.floats(),
        "cmd": st.sampled_from(_COMMANDS) | st.text(max_size=12) | st.integers(),
        "args": st.dictionaries(_arg_names, _json, max_size=4) | _json,
        "extra": _json,
    },
)


def _encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):  # NaN, huge ints: send its repr instead
        return repr(value).encode()


_bodies = st.one_of(
    st.binary(max_size=200),
    _json.map(_encode),
    _envelopes.map(_encode),
    _envelopes.map(lambda e: _encode({**e, "v": PROTOCOL_VERSION})),
)
_messages = st.one_of(
    _bodies.map(lambda b: [b]),
    st.lists(st.binary(max_size=40), min_size=2, max_size=4),  # wrong number of frames
)


def _rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    path = tmp_path_factory.mktemp("fuzz")
    shutdowns: list[str] = []
    svc = Service(
        parse_settings(_SETTINGS, source="fuzz.toml", base_dir=Path(path)),
        source=iter(()),
        on_shutdown=shutdowns.append,
    )
    svc.start()
    yield svc
    svc.stop()
    assert shutdowns == []


@pytest.fixture(scope="module")
def dealer(service: Service) -> Iterator[zmq.Socket[bytes]]:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    assert service.gateway is not None
    sock.connect(service.gateway.commands_endpoint)
    yield sock
    sock.close()
    ctx.term()


_sent = {"messages": 0}


def _exchange(sock: zmq.Socket[bytes], frames: list[bytes]) -> dict[str, Any]:
    sock.send_multipart(frames)
    assert sock.poll(10_000), f"no reply to {frames!r}"
    reply = sock.recv_multipart()
    if len(frames) >= 2 and frames[0] == b"":  # a REQ client's delimiter: it comes back
        assert reply[0] == b"", reply
        reply = reply[1:]
    assert len(reply) == 1, reply
    body: dict[str, Any] = orjson.loads(reply[0])
    assert body["v"] == PROTOCOL_VERSION
    if body["ok"]:
        assert set(body) == {"v", "id", "ok", "result"}
    else:
        assert set(body) == {"v", "id", "ok", "error"}
        assert body["error"]["code"] in _CODES, body
        assert body["error"]["code"] != ErrorCode.INTERNAL.value, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    _sent["messages"] += 1
    return body


def _flood(sock: zmq.Socket[bytes], batch: list[list[bytes]]) -> None:
    for frames in batch:
        _exchange(sock, frames)


@settings(
    max_examples=110,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batch=st.lists(_messages, min_size=50, max_size=50))
def _fuzz(sock: zmq.Socket[bytes], batch: list[list[bytes]]) -> None:
    _flood(sock, batch)


def test_ten_thousand_random_messages_leave_the_runtime_serving(
    service: Service, dealer: zmq.Socket[bytes]
) -> None:
    gateway = service.gateway
    assert gateway is not None
    before = gateway.stats().commands

    # First half: warms every code path and allocator pool.
    _fuzz(dealer)
    gc.collect()
    rss_half = _rss_bytes()
    _fuzz(dealer)
    gc.collect()
    rss_end = _rss_bytes()

    assert _sent["messages"] >= 10_000
    # Bounded memory: the second half, as large as the first, may not keep
    # what it allocated (a leak of even 1 KiB a message would show 5 MiB).
    assert rss_end - rss_half < 4 * 1024 * 1024, (rss_half, rss_end)
    stats = gateway.stats()
    assert stats.commands - before == _sent["messages"]
    assert stats.queued == 0

    status = _exchange(dealer, [orjson.dumps({"v": 1, "id": "last", "cmd": "status"})])
    assert status["ok"] and status["id"] == "last"
    result = status["result"]
    assert result["state"] == service.runtime.state.value
    assert result["state"] in {s.value for s in RuntimeState}
    assert result["name"] == "fuzzed"
    assert result["gateway"]["commands"] == stats.commands
