"""The ZeroMQ gateway with real sockets on 127.0.0.1: events, heartbeats, commands, CURVE.

Clients are plain pyzmq sockets (SUB, DEALER, REQ) speaking the wire format
of :mod:`runtime.gateway_protocol`. A subscriber is known to be subscribed
once it has received a heartbeat (its ``heartbeat`` subscription is sent
last), so no test sleeps for correctness.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import zmq
import zmq.auth
from loguru import logger

from runtime.codec import decode_object
from runtime.config import CurveConfig, GatewayConfig
from runtime.gateway import Gateway, GatewayError
from runtime.gateway_protocol import CommandError, ErrorCode, Request, Role
from runtime.messages import (
    Message,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    Side,
    StrategyPaused,
)
from support import make_bar

Ctx = zmq.Context[zmq.Socket[bytes]]
Sock = zmq.Socket[bytes]
MakeGateway = Callable[..., Gateway]
Keys = tuple[bytes, bytes]
"""A client's (public, secret) z85 keys."""

WAIT_S = 5.0
"""Longest wait for something that must happen."""
WAIT_MS = 5000
SILENCE_MS = 600
"""How long a refused client is watched for a reply that must not come."""


# --- helpers ----------------------------------------------------------------


def _config(**overrides: Any) -> GatewayConfig:
    values: dict[str, Any] = {
        "enabled": True,
        "commands": "tcp://127.0.0.1:*",
        "events": "tcp://127.0.0.1:*",
        "heartbeat_s": 0.05,
        "send_hwm": 100_000,
    }
    values.update(overrides)
    return GatewayConfig(**values)


def _paused(i: int, strategy: str = "s1") -> StrategyPaused:
    return StrategyPaused(
        id=i, ts_event=1_700_000 + i, ts_init=1_700_001 + i, strategy_id=strategy, reason="r"
    )


def _update(i: int, status: OrderStatus = OrderStatus.ACCEPTED) -> OrderUpdate:
    return OrderUpdate(
        id=i,
        ts_event=1_700_000_000 + i,
        ts_init=1_700_000_001 + i,
        client_order_id=f"s1-{i}",
        strategy_id="s1",
        symbol="AAA",
        side=Side.BUY,
        status=status,
        quantity=10.0,
        filled_quantity=0.0,
        avg_fill_price=None,
        reason=RejectReason.INVALID_ORDER if status is OrderStatus.REJECTED else None,
        message="",
        engine="paper",
    )


def _curve(sock: Sock, keys: Keys | None, server: bytes | None) -> None:
    if keys is not None:
        assert server is not None
        sock.curve_publickey, sock.curve_secretkey = keys
        sock.curve_serverkey = server


def _subscriber(
    ctx: Ctx,
    gateway: Gateway,
    *prefixes: str,
    hwm: int = 1_000_000,
    keys: Keys | None = None,
) -> Sock:
    """A SUB connected and subscribed to ``prefixes`` (and ``heartbeat``): ready once returned."""
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, hwm)
    _curve(sub, keys, gateway.server_public_key)
    for prefix in (*prefixes, "heartbeat"):
        sub.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    sub.connect(gateway.events_endpoint)
    assert sub.poll(WAIT_MS), "no heartbeat reached the new subscriber"
    topic, _ = sub.recv_multipart()
    assert topic == b"heartbeat"
    return sub


def _events(sub: Sock, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The next ``count`` events (heartbeats skipped) as (topic, body)."""
    out: list[tuple[str, dict[str, Any]]] = []
    while len(out) < count:
        assert sub.poll(WAIT_MS), f"only {len(out)} of {count} events arrived"
        topic, body = sub.recv_multipart()
        if topic != b"heartbeat":
            out.append((topic.decode(), orjson.loads(body)))
    return out


def _decoded(body: dict[str, Any]) -> Message:
    rest = dict(body)
    del rest["seq"], rest["tseq"]
    return decode_object(rest)


def _dealer(ctx: Ctx, gateway: Gateway, keys: Keys | None = None) -> Sock:
    sock = ctx.socket(zmq.DEALER)
    _curve(sock, keys, gateway.server_public_key)
    sock.connect(gateway.commands_endpoint)
    return sock


def _request(cmd: str, request_id: Any = 1, **args: Any) -> bytes:
    return orjson.dumps({"v": 1, "id": request_id, "cmd": cmd, "args": args})


def _reply(sock: Sock) -> dict[str, Any]:
    assert sock.poll(WAIT_MS), "no reply"
    frames = sock.recv_multipart()
    assert len(frames) == 1, frames
    reply: dict[str, Any] = orjson.loads(frames[0])
    return reply


def _error(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    code: str = reply["error"]["code"]
    return code


def _wait_until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for a condition another thread makes true."""
    pause = threading.Event()
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        pause.wait(0.005)


def _gateway_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("tradepit-gateway")]


class Commands:
    """A command handler for tests: records calls; ``args.do`` picks what it does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Role]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.on_shutdown: Callable[[], None] | None = None

    def __call__(self, request: Request, role: Role) -> Any:
        self.calls.append((request.cmd, request.id, role))
        what = request.args.get("do")
        if what == "block":
            self.entered.set()
            assert self.release.wait(WAIT_S * 2)
        elif what == "not_found":
            raise CommandError(ErrorCode.NOT_FOUND, "no strategy 'x'")
        elif what == "crash":
            raise RuntimeError("boom")
        elif what == "exit":
            raise SystemExit(3)
        if request.cmd == "shutdown" and self.on_shutdown is not None:
            self.on_shutdown()
        return {"cmd": request.cmd, "role": role.value, "args": request.args}


@pytest.fixture
def ctx() -> Iterator[Ctx]:
    context: Ctx = zmq.Context()
    context.setsockopt(zmq.LINGER, 0)  # sockets closed when collected must not linger
    yield context
    context.destroy(linger=0)


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
def open_gateway(commands: Commands) -> Iterator[MakeGateway]:
    """Builds (and starts) gateways with the ``commands`` handler; closes them all."""
    made: list[Gateway] = []

    def make(
        *, start: bool = True, state: Callable[[], str] = lambda: "RUNNING", **config: Any
    ) -> Gateway:
        gateway = Gateway(_config(**config), commands, name="test-rt", state=state)
        made.append(gateway)
        if start:
            gateway.start()
        return gateway

    yield make
    commands.release.set()
    for gateway in made:
        gateway.close()
    assert _gateway_threads() == []


# --- events -------------------------------------------------------------------


def test_events_from_two_threads_arrive_numbered_in_order_and_decode(
    ctx: Ctx, open_gateway: MakeGateway
) -> None:
    gateway = open_gateway()
    sub = _subscriber(ctx, gateway, "")
    per_thread = 1500
    sent: dict[int, Message] = {}

    def produce(first_id: int) -> None:
        for i in range(first_id, first_id + per_thread):
            message: Message
            if i % 3 == 0:
                message = _paused(i)
            elif i % 7 == 0:
                message = _update(i, OrderStatus.REJECTED)
            else:
                message = _update(i)
            sent[i] = message
            gateway.publish(message)

    threads = [threading.Thread(target=produce, args=(base,)) for base in (0, 100_000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = 2 * per_thread
    received = _events(sub, total)

    assert [body["seq"] for _, body in received] == list(range(1, total + 1))
    by_topic: dict[str, list[int]] = {}
    for topic, body in received:
        by_topic.setdefault(topic, []).append(body["tseq"])
    for topic, tseqs in by_topic.items():
        assert tseqs == list(range(1, len(tseqs) + 1)), topic
    decoded = [_decoded(body) for _, body in received]
    assert sorted(m.id for m in decoded) == sorted(sent)  # type: ignore[attr-defined]
    for (topic, _), message in zip(received, decoded, strict=True):
        assert message == sent[message.id]  # type: ignore[attr-defined]
        if isinstance(message, StrategyPaused):
            assert topic == "strategy.paused"
        else:
            assert isinstance(message, OrderUpdate)
            rejected = message.status is OrderStatus.REJECTED
            assert topic == ("order.rejected" if rejected else "order.update")
    for base in (0, 100_000):  # each thread's events keep their order
        ids = [m.id for m in decoded if base <= m.id < base + per_thread]  # type: ignore[attr-defined]
        assert ids == list(range(base, base + per_thread))
    counts = Counter(topic for topic, _ in received)
    assert gateway.mark(WAIT_S) == total
    assert gateway.topic_seqs() == dict(counts)
    stats = gateway.stats()
    assert (stats.published, stats.seq, stats.dropped, stats.queued) == (total, total, 0, 0)
    assert stats.subscribers == 2  # "" and "heartbeat"


def test_topic_prefix_subscription_gets_only_those_topics(
    ctx: Ctx, open_gateway: MakeGateway
) -> None:
    gateway = open_gateway()
    sub = _subscriber(ctx, gateway, "order.")
    for message in (
        _paused(1),
        _update(2),
        _update(3, OrderStatus.REJECTED),
        _paused(4),
        _update(5),
    ):
        gateway.publish(message)
    received = _events(sub, 3)
    assert [(topic, body["seq"], body["tseq"]) for topic, body in received] == [
        ("order.update", 2, 1),
        ("order.rejected", 3, 1),
        ("order.update", 5, 2),
    ]


def test_bars_are_published_only_with_publish_bars(ctx: Ctx, open_gateway: MakeGateway) -> None:
    quiet = open_gateway()
    quiet.publish(make_bar(1))
    quiet.publish(_paused(2))
    assert quiet.mark(WAIT_S) == 1
    assert quiet.topic_seqs() == {"strategy.paused": 1}

    loud = open_gateway(publish_bars=True)
    sub = _subscriber(ctx, loud, "bar.")
    loud.publish(make_bar(1, "BBB"))
    [(topic, body)] = _events(sub, 1)
    assert (topic, body["seq"], body["tseq"]) == ("bar.BBB", 1, 1)
    assert _decoded(body) == make_bar(1, "BBB")


def test_heartbeat_on_a_quiet_gateway_carries_the_last_seq_and_state(
    ctx: Ctx, open_gateway: MakeGateway
) -> None:
    gateway = open_gateway(state=lambda: "HALTED")
    sub = _subscriber(ctx, gateway)
    for i in range(3):
        gateway.publish(_paused(i))
    assert gateway.mark(WAIT_S) == 3
    for _ in range(100):  # heartbeats come every 0.05 s
        assert sub.poll(WAIT_MS), "no heartbeat"
        topic, raw = sub.recv_multipart()
        assert topic == b"heartbeat"  # only heartbeats are subscribed
        body = orjson.loads(raw)
        if body["seq"] == 3:
            break
        assert body["seq"] == 0  # sent before the events were numbered
    assert body.pop("ts") > 0
    assert body == {
        "seq": 3,
        "type": "Heartbeat",
        "runtime": "test-rt",
        "state": "HALTED",
        "interval_s": 0.05,
        "dropped": 0,
    }
    assert gateway.stats().heartbeats >= 2


def test_mark_returns_the_seq_of_the_last_event_published_before_it(
    open_gateway: MakeGateway,
) -> None:
    gateway = open_gateway()
    assert gateway.mark(WAIT_S) == 0
    for i in range(37):
        gateway.publish(_update(i) if i % 2 else _paused(i))
    gateway.publish(make_bar(99))  # ignored: publish_bars is off
    assert gateway.mark(WAIT_S) == 37
    assert gateway.topic_seqs() == {"order.update": 18, "strategy.paused": 19}
    stats = gateway.stats()
    assert (stats.seq, stats.published, stats.dropped) == (37, 37, 0)


def test_events_beyond_queue_limit_before_start_are_dropped_and_counted(
    open_gateway: MakeGateway,
) -> None:
    # Before start() nothing drains the queue: events are held up to queue_limit.
    gateway = open_gateway(start=False, queue_limit=10)
    for i in range(15):
        gateway.publish(_paused(i))
    stats = gateway.stats()
    assert (stats.queued, stats.dropped, stats.published, stats.seq) == (10, 5, 0, 0)
    gateway.start()
    assert gateway.mark(WAIT_S) == 10
    stats = gateway.stats()
    assert (stats.queued, stats.dropped, stats.published, stats.seq) == (0, 5, 10, 10)
    assert gateway.topic_seqs() == {"strategy.paused": 10}


def test_a_subscriber_that_never_reads_does_not_stop_the_others(
    ctx: Ctx, open_gateway: MakeGateway
) -> None:
    gateway = open_gateway(send_hwm=100, queue_limit=1_000_000)
    stuck = _subscriber(ctx, gateway, "", hwm=10)  # reads one heartbeat, then nothing
    reader = _subscriber(ctx, gateway, "order.")
    total, every = 200_000, 1000
    got: list[int] = []

    def read() -> None:
        got.extend(body["seq"] for _, body in _events(reader, total // every))

    thread = threading.Thread(target=read)
    thread.start()
    paused, update = _paused(1), _update(2)
    for i in range(1, total + 1):
        gateway.publish(update if i % every == 0 else paused)
    final = gateway.mark(30.0)
    thread.join()
    assert final == total
    assert got == list(range(every, total + 1, every))
    stats = gateway.stats()
    assert (stats.published, stats.dropped) == (total, 0)
    stuck_count = 0
    while True:  # until a heartbeat sent after the last event
        assert stuck.poll(WAIT_MS)
        topic, raw = stuck.recv_multipart()
        if topic != b"heartbeat":
            stuck_count += 1
        elif orjson.loads(raw)["seq"] == final:
            break
    assert stuck_count < total  # it lost events instead of holding the gateway back


# --- commands -----------------------------------------------------------------


def test_dealer_and_req_clients_get_replies_with_their_ids(
    ctx: Ctx, open_gateway: MakeGateway, commands: Commands
) -> None:
    gateway = open_gateway()
    dealer = _dealer(ctx, gateway)
    dealer.send(_request("status", 41, verbose=True))
    assert _reply(dealer) == {
        "v": 1,
        "id": 41,
        "ok": True,
        "result": {"cmd": "status", "role": "control", "args": {"verbose": True}},
    }
    req = ctx.socket(zmq.REQ)
    req.connect(gateway.commands_endpoint)
    req.send(_request("positions", "abc"))
    assert _reply(req) == {
        "v": 1,
        "id": "abc",
        "ok": True,
        "result": {"cmd": "positions", "role": "control", "args": {}},
    }
    req.send(_request("halt", None))  # a REQ socket alternates: a second request works
    assert _reply(req)["id"] is None
    assert commands.calls == [
        ("status", 41, Role.CONTROL),
        ("positions", "abc", Role.CONTROL),
        ("halt", None, Role.CONTROL),
    ]
    stats = gateway.stats()
    assert (stats.commands, stats.errors, stats.unanswerable) == (3, {}, 0)


def test_malformed_requests_get_the_matching_error_codes(
    ctx: Ctx, open_gateway: MakeGateway, commands: Commands
) -> None:
    gateway = open_gateway()
    dealer = _dealer(ctx, gateway)
    cases: list[tuple[list[bytes], Any, ErrorCode]] = [
        ([b"a", b"b", b"c"], None, ErrorCode.BAD_FRAMES),
        ([b"{not json"], None, ErrorCode.BAD_JSON),
        ([b"\xff\xfe"], None, ErrorCode.BAD_JSON),
        ([b"[1, 2]"], None, ErrorCode.NOT_AN_OBJECT),
        ([orjson.dumps({"v": 2, "id": 5, "cmd": "status"})], 5, ErrorCode.BAD_VERSION),
        ([orjson.dumps({"v": 1, "id": 6, "cmd": "status", "x": 1})], 6, ErrorCode.BAD_REQUEST),
        ([orjson.dumps({"v": 1, "id": 7, "cmd": "status", "args": []})], 7, ErrorCode.BAD_REQUEST),
        ([orjson.dumps({"v": 1, "id": 8, "cmd": "launch"})], 8, ErrorCode.UNKNOWN_COMMAND),
    ]
    for frames, request_id, code in cases:
        dealer.send_multipart(frames)
        reply = _reply(dealer)
        assert (_error(reply), reply["id"], reply["v"]) == (code.value, request_id, 1), frames
        assert reply["error"]["message"]
    req = ctx.socket(zmq.REQ)  # a REQ client's malformed request is answered REQ-style
    req.connect(gateway.commands_endpoint)
    req.send_multipart([_request("status"), b"extra"])
    assert _error(_reply(req)) == "BAD_FRAMES"
    assert commands.calls == []
    stats = gateway.stats()
    assert stats.commands == len(cases) + 1
    assert stats.errors == {
        "BAD_FRAMES": 2,
        "BAD_JSON": 2,
        "NOT_AN_OBJECT": 1,
        "BAD_VERSION": 1,
        "BAD_REQUEST": 2,
        "UNKNOWN_COMMAND": 1,
    }


def test_handler_errors_are_replied_and_the_worker_keeps_serving(
    ctx: Ctx, open_gateway: MakeGateway
) -> None:
    gateway = open_gateway()
    dealer = _dealer(ctx, gateway)
    dealer.send(_request("strategies", 1, do="not_found"))
    reply = _reply(dealer)
    assert reply == {
        "v": 1,
        "id": 1,
        "ok": False,
        "error": {"code": "NOT_FOUND", "message": "no strategy 'x'"},
    }
    for request_id, what in ((2, "crash"), (3, "exit")):
        dealer.send(_request("status", request_id, do=what))
        reply = _reply(dealer)
        assert (_error(reply), reply["id"]) == ("INTERNAL", request_id)
        assert "see the runtime's log" in reply["error"]["message"]
    dealer.send(_request("status", 4))
    reply = _reply(dealer)
    assert (reply["ok"], reply["id"]) == (True, 4)
    assert gateway.stats().errors == {"NOT_FOUND": 1, "INTERNAL": 2}


def _fill_queue(ctx: Ctx, gateway: Gateway) -> tuple[Sock, int]:
    """With the handler blocked and one free queue place: two clients each send a
    command; one is queued, the other is answered BUSY at once. The queued one's
    socket and request id."""
    clients = {2: _dealer(ctx, gateway), 3: _dealer(ctx, gateway)}
    for request_id, sock in clients.items():
        sock.send(_request("status", request_id))
    poller = zmq.Poller()
    for sock in clients.values():
        poller.register(sock, zmq.POLLIN)
    [(busy, _)] = poller.poll(WAIT_MS)
    reply = _reply(busy)
    busy_id = 2 if busy is clients[2] else 3
    assert (_error(reply), reply["id"]) == ("BUSY", busy_id)
    queued_id = 5 - busy_id
    return clients[queued_id], queued_id


def test_busy_at_once_when_the_command_queue_is_full(
    ctx: Ctx, open_gateway: MakeGateway, commands: Commands
) -> None:
    gateway = open_gateway(max_pending_commands=1)
    running = _dealer(ctx, gateway)
    running.send(_request("status", 1, do="block"))
    assert commands.entered.wait(WAIT_S)
    queued, queued_id = _fill_queue(ctx, gateway)
    assert not commands.release.is_set()  # answered while the handler is still blocked
    assert not queued.poll(0)
    commands.release.set()
    assert _reply(running)["id"] == 1
    assert _reply(queued)["id"] == queued_id
    assert [request_id for _, request_id, _ in commands.calls] == [1, queued_id]
    assert gateway.stats().errors == {"BUSY": 1}


def test_a_refusal_waits_behind_the_same_clients_running_command(
    ctx: Ctx, open_gateway: MakeGateway, commands: Commands
) -> None:
    gateway = open_gateway(max_pending_commands=1)
    dealer = _dealer(ctx, gateway)
    dealer.send(_request("status", 1, do="block"))
    assert commands.entered.wait(WAIT_S)
    garbage = 100
    for _ in range(garbage):
        dealer.send(b"garbage")
    # One running command holds 1 + 64 replies for its client; the rest are dropped.
    _wait_until(lambda: gateway.stats().unanswerable == garbage - 64)
    assert not dealer.poll(0)
    commands.release.set()
    assert _reply(dealer)["id"] == 1
    assert [_error(_reply(dealer)) for _ in range(64)] == ["BAD_JSON"] * 64
    assert not dealer.poll(100)
    stats = gateway.stats()
    assert (stats.commands, stats.errors, stats.unanswerable) == (65, {"BAD_JSON": 64}, 36)


def test_an_oversized_request_drops_its_sender_and_others_are_served(
    ctx: Ctx, open_gateway: MakeGateway, commands: Commands
) -> None:
    gateway = open_gateway(max_message_bytes=2048)
    big = _dealer(ctx, gateway)
    big.send(_request("status", 1, pad="x" * 4096))
    assert not big.poll(SILENCE_MS)
    small = _dealer(ctx, gateway)
    small.send(_request("status", 2, pad="x" * 1500))
    assert _reply(small)["id"] == 2
    assert [request_id for _, request_id, _ in commands.calls] == [2]


def test_a_slow_handler_does_not_hold_back_events(
    ctx: Ctx, open_gateway: MakeGateway, commands: Commands
) -> None:
    gateway = open_gateway()
    sub = _subscriber(ctx, gateway, "strategy.")
    dealer = _dealer(ctx, gateway)
    dealer.send(_request("snapshot", 9, do="block"))
    assert commands.entered.wait(WAIT_S)
    for i in range(5):
        gateway.publish(_paused(i))
    assert [body["seq"] for _, body in _events(sub, 5)] == [1, 2, 3, 4, 5]
    assert not dealer.poll(0)
    commands.release.set()
    assert _reply(dealer)["id"] == 9


# --- CURVE ----------------------------------------------------------------------


@pytest.fixture
def curve_dirs(tmp_path: Path) -> dict[str, Path]:
    """server/, control/, readonly/ and rogue/ key directories made by pyzmq."""
    dirs = {name: tmp_path / name for name in ("server", "control", "readonly", "rogue")}
    for name, path in dirs.items():
        path.mkdir()
        zmq.auth.create_certificates(path, name)
    (dirs["control"] / "README.txt").write_text("not a key\n", encoding="utf-8")
    return dirs


def _keys(path: Path) -> Keys:
    public, secret = zmq.auth.load_certificate(path)
    assert secret is not None
    return public, secret


def _curve_config(dirs: dict[str, Path]) -> CurveConfig:
    return CurveConfig(
        server_secret_key=dirs["server"] / "server.key_secret",
        control_keys=dirs["control"],
        readonly_keys=dirs["readonly"],
    )


def test_curve_roles_come_from_the_key_directories(
    ctx: Ctx, open_gateway: MakeGateway, commands: Commands, curve_dirs: dict[str, Path]
) -> None:
    gateway = open_gateway(curve=_curve_config(curve_dirs))
    assert gateway.server_public_key == _keys(curve_dirs["server"] / "server.key_secret")[0]
    control = _dealer(ctx, gateway, _keys(curve_dirs["control"] / "control.key_secret"))
    readonly = _dealer(ctx, gateway, _keys(curve_dirs["readonly"] / "readonly.key_secret"))

    control.send(_request("halt", 1))
    assert _reply(control)["result"]["role"] == "control"
    readonly.send(_request("status", 2))
    assert _reply(readonly)["result"]["role"] == "read-only"
    readonly.send(_request("halt", 3))
    reply = _reply(readonly)
    assert (_error(reply), reply["id"]) == ("FORBIDDEN", 3)
    assert commands.calls == [("halt", 1, Role.CONTROL), ("status", 2, Role.READ_ONLY)]


def test_curve_refuses_clients_without_an_allowed_key(
    ctx: Ctx, open_gateway: MakeGateway, commands: Commands, curve_dirs: dict[str, Path]
) -> None:
    gateway = open_gateway(curve=_curve_config(curve_dirs))
    rogue_keys = _keys(curve_dirs["rogue"] / "rogue.key_secret")
    rogue = _dealer(ctx, gateway, rogue_keys)
    plain = _dealer(ctx, gateway)
    rogue.send(_request("status", 1))
    plain.send(_request("status", 2))
    rogue_sub = ctx.socket(zmq.SUB)
    _curve(rogue_sub, rogue_keys, gateway.server_public_key)
    rogue_sub.setsockopt(zmq.SUBSCRIBE, b"")
    rogue_sub.connect(gateway.events_endpoint)
    reader = _subscriber(
        ctx, gateway, "", keys=_keys(curve_dirs["readonly"] / "readonly.key_secret")
    )
    gateway.publish(_paused(1))
    assert [body["seq"] for _, body in _events(reader, 1)] == [1]
    assert not rogue_sub.poll(SILENCE_MS)  # not even heartbeats
    assert not rogue.poll(0)
    assert not plain.poll(0)
    assert commands.calls == []
    assert gateway.stats().subscribers == 2  # only the allowed subscriber's two


def test_curve_key_problems_name_the_file(
    open_gateway: MakeGateway, curve_dirs: dict[str, Path]
) -> None:
    public_only = CurveConfig(
        server_secret_key=curve_dirs["server"] / "server.key",
        control_keys=curve_dirs["control"],
    )
    gateway = open_gateway(start=False, curve=public_only)
    with pytest.raises(GatewayError, match=r"server\.key' holds no secret key"):
        gateway.start()
    missing_dir = CurveConfig(
        server_secret_key=curve_dirs["server"] / "server.key_secret",
        control_keys=curve_dirs["control"] / "absent",
    )
    gateway = open_gateway(start=False, curve=missing_dir)
    with pytest.raises(GatewayError, match=r"client key directory '.*absent'"):
        gateway.start()
    garbage = curve_dirs["server"] / "garbage.key_secret"
    garbage.write_text("nothing here\n", encoding="utf-8")
    gateway = open_gateway(
        start=False,
        curve=CurveConfig(server_secret_key=garbage, control_keys=curve_dirs["control"]),
    )
    with pytest.raises(GatewayError, match=r"garbage\.key_secret'.*No public key"):
        gateway.start()


# --- life cycle -------------------------------------------------------------------


def test_an_endpoint_in_use_is_a_gateway_error_naming_it(
    ctx: Ctx, open_gateway: MakeGateway
) -> None:
    holder = ctx.socket(zmq.PUB)
    port = holder.bind_to_random_port("tcp://127.0.0.1")
    endpoint = f"tcp://127.0.0.1:{port}"
    gateway = open_gateway(start=False, events=endpoint)
    with pytest.raises(GatewayError, match=f"events socket to '{endpoint}'.*in use"):
        gateway.start()
    assert _gateway_threads() == []
    with pytest.raises(GatewayError, match="closed"):
        gateway.start()


def test_an_insecure_public_endpoint_is_logged_as_a_warning(open_gateway: MakeGateway) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")
    try:
        gateway = open_gateway(events="tcp://0.0.0.0:*", allow_insecure=True)
    finally:
        logger.remove(sink)
    endpoint = gateway.events_endpoint
    assert endpoint.startswith("tcp://0.0.0.0:")
    assert len(lines) == 1
    assert endpoint in lines[0]
    assert "WITHOUT encryption" in lines[0]


def test_close_answers_waiting_commands_and_sends_computed_replies(
    ctx: Ctx, open_gateway: MakeGateway, commands: Commands
) -> None:
    gateway = open_gateway(max_pending_commands=1)
    running = _dealer(ctx, gateway)
    running.send(_request("status", 1, do="block"))
    assert commands.entered.wait(WAIT_S)
    waiting, waiting_id = _fill_queue(ctx, gateway)
    closer = threading.Thread(target=gateway.close, kwargs={"timeout": WAIT_S})
    closer.start()
    reply = _reply(waiting)
    assert (_error(reply), reply["id"]) == ("UNAVAILABLE", waiting_id)
    commands.release.set()
    assert _reply(running)["id"] == 1  # computed before the deadline: still sent
    closer.join()
    assert _gateway_threads() == []
    assert [request_id for _, request_id, _ in commands.calls] == [1]


def test_close_from_a_command_handler_does_not_wait_for_itself(
    ctx: Ctx, open_gateway: MakeGateway, commands: Commands
) -> None:
    gateway = open_gateway()
    closed = threading.Event()

    def shutdown() -> None:
        gateway.close(timeout=WAIT_S)
        closed.set()

    commands.on_shutdown = shutdown
    dealer = _dealer(ctx, gateway)
    dealer.send(_request("shutdown", 1))
    assert closed.wait(WAIT_S)
    _wait_until(lambda: _gateway_threads() == [])
    assert not dealer.poll(0)  # its reply was computed after the sockets closed


def test_close_is_idempotent_and_later_calls_are_harmless(open_gateway: MakeGateway) -> None:
    gateway = open_gateway()
    gateway.publish(_paused(1))
    gateway.close()
    assert _gateway_threads() == []
    gateway.close()
    gateway.publish(_paused(2))  # never raises: dropped and counted
    stats = gateway.stats()
    assert (stats.published, stats.dropped) == (1, 1)
    with pytest.raises(TimeoutError, match="closed"):
        gateway.mark(1.0)
    with pytest.raises(GatewayError, match="closed"):
        gateway.start()
    never_started = open_gateway(start=False)
    never_started.close()
    never_started.close()
    with pytest.raises(GatewayError, match="not started"):
        _ = never_started.commands_endpoint
