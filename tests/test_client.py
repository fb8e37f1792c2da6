"""The Python client against a real gateway: requests, errors, the event stream, the mirror.

Every test uses real ZeroMQ sockets on 127.0.0.1 with ephemeral ports; where
a misbehaving runtime is needed (silent, answering garbage), a bare ROUTER
socket in the test plays it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import zmq

from runtime.client import (
    HEARTBEAT_TYPE,
    Client,
    ClientError,
    ClientTimeoutError,
    CurveKeys,
    Event,
    Gap,
    Mirror,
    RemoteError,
    SequenceResetError,
    Subscription,
)
from runtime.config import CurveConfig, GatewayConfig
from runtime.gateway import Gateway
from runtime.gateway_protocol import CommandError, ErrorCode, Request, Role, encode_event
from runtime.keys import KeyFileError, create_keys
from runtime.messages import (
    EngineFailedOver,
    Message,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    RuntimeState,
    RuntimeStateChanged,
    Side,
    StrategyPaused,
    StrategyQuarantined,
    StrategyRemoved,
    StrategyStarted,
    TimeInForce,
)
from runtime.topics import topic_of

WAIT_S = 5.0
"""Upper bound of every wait: a correct run never comes close."""


class Handler:
    """A command handler that records what it got; some commands misbehave on purpose."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], Role]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: Request, role: Role) -> Any:
        self.calls.append((request.cmd, request.args, role))
        if request.cmd == "halt":
            raise CommandError(ErrorCode.CONFLICT, "the runtime is already HALTED")
        if request.cmd == "restart_strategy":
            raise CommandError(ErrorCode.NOT_FOUND, f"no strategy {request.args.get('id')!r}")
        if request.cmd == "shutdown":
            raise RuntimeError("boom")
        if request.cmd == "pause" and request.args.get("reason") == "block":
            self.entered.set()
            assert self.release.wait(WAIT_S)
            return "late"
        return {"cmd": request.cmd, "args": request.args}


@pytest.fixture
def make_gateway() -> Iterator[Callable[..., Gateway]]:
    """Build and start gateways on ephemeral ports; all closed after the test."""
    made: list[Gateway] = []

    def make(
        handler: Callable[[Request, Role], Any],
        *,
        heartbeat_s: float = 0.05,
        commands: str = "tcp://127.0.0.1:*",
        events: str = "tcp://127.0.0.1:*",
        curve: CurveConfig | None = None,
    ) -> Gateway:
        config = GatewayConfig(
            enabled=True, commands=commands, events=events, heartbeat_s=heartbeat_s, curve=curve
        )
        gateway = Gateway(config, handler, name="test-runtime")
        made.append(gateway)
        gateway.start()
        return gateway

    yield make
    for gateway in made:
        gateway.close()


@pytest.fixture
def router() -> Iterator[tuple[zmq.Socket[bytes], str]]:
    """A bare ROUTER socket: a runtime that answers only what the test makes it answer."""
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind("tcp://127.0.0.1:*")
    endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    yield sock, endpoint
    sock.close(linger=0)


def paused(i: int, strategy_id: str = "s1") -> StrategyPaused:
    return StrategyPaused(id=i, ts_event=i, ts_init=i, strategy_id=strategy_id, reason=f"r{i}")


def update(
    i: int, coid: str, status: OrderStatus, filled: float = 0.0, strategy_id: str = "s1"
) -> OrderUpdate:
    return OrderUpdate(
        id=i,
        ts_event=i,
        ts_init=i,
        client_order_id=coid,
        strategy_id=strategy_id,
        symbol="AAA",
        side=Side.BUY,
        status=status,
        quantity=10.0,
        filled_quantity=filled,
        avg_fill_price=100.0 if filled else None,
        reason=None,
        message="",
        engine="paper",
    )


def next_event(sub: Subscription) -> Event | Gap:
    """The next event or gap that is not a heartbeat."""
    while True:
        item = sub.next(WAIT_S)
        assert item is not None, f"nothing from {sub.endpoint} within {WAIT_S}s"
        if isinstance(item, Gap) or item.type != HEARTBEAT_TYPE:
            return item


# --- requests ---------------------------------------------------------------------------


def test_request_returns_the_result_and_wrappers_send_the_arguments(
    make_gateway: Callable[..., Gateway],
) -> None:
    handler = Handler()
    gateway = make_gateway(handler)
    with Client(gateway.commands_endpoint, timeout_s=WAIT_S) as client:
        assert client.status() == {"cmd": "status", "args": {}}
        assert client.request("orders", {"strategy": "s1"}) == {
            "cmd": "orders",
            "args": {"strategy": "s1"},
        }
        client.submit_order(
            "AAA", "buy", 10, order_type="limit", limit_price=99.5, time_in_force=TimeInForce.GTC
        )
        client.add_strategy("s9", "strategies:SmaCrossover", ["AAA", "BBB"], params={"fast": 5})
        client.remove_strategy("s9", "flatten")
        client.pause("s1", "lunch")
        client.set_engine("")
        client.cancel_all()
        client.orders(open_only=False)
        client.cancel_order("s1-000001")
    assert [(cmd, args) for cmd, args, _ in handler.calls[2:]] == [
        (
            "submit_order",
            {
                "symbol": "AAA",
                "side": "BUY",
                "quantity": 10.0,
                "type": "LIMIT",
                "time_in_force": "GTC",
                "limit_price": 99.5,
            },
        ),
        (
            "add_strategy",
            {
                "id": "s9",
                "class": "strategies:SmaCrossover",
                "symbols": ["AAA", "BBB"],
                "params": {"fast": 5},
            },
        ),
        ("remove_strategy", {"id": "s9", "policy": "flatten"}),
        ("pause", {"strategy": "s1", "reason": "lunch"}),
        ("set_engine", {"engine": ""}),
        ("cancel_all", {}),
        ("orders", {"open_only": False}),
        ("cancel_order", {"client_order_id": "s1-000001"}),
    ]
    assert {role for _, _, role in handler.calls} == {Role.CONTROL}


def test_refusals_are_remote_errors_with_the_runtime_code(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway(Handler())
    with Client(gateway.commands_endpoint, timeout_s=WAIT_S) as client:
        with pytest.raises(RemoteError) as refused:
            client.halt()
        assert refused.value.code is ErrorCode.CONFLICT
        assert refused.value.message == "the runtime is already HALTED"
        assert refused.value.command == "halt"
        with pytest.raises(RemoteError) as missing:
            client.restart_strategy("ghost")
        assert missing.value.code is ErrorCode.NOT_FOUND
        assert missing.value.message == "no strategy 'ghost'"
        with pytest.raises(RemoteError) as unknown:
            client.request("launch_rockets")
        assert unknown.value.code is ErrorCode.UNKNOWN_COMMAND
        with pytest.raises(RemoteError) as crashed:
            client.shutdown()
        assert crashed.value.code is ErrorCode.INTERNAL
        assert client.status() == {"cmd": "status", "args": {}}  # still served


def test_bad_arguments_are_refused_before_anything_is_sent(
    make_gateway: Callable[..., Gateway],
) -> None:
    handler = Handler()
    gateway = make_gateway(handler)
    with Client(gateway.commands_endpoint, timeout_s=WAIT_S) as client:
        with pytest.raises(ValueError, match="side: expected one of BUY, SELL; got 'hold'"):
            client.submit_order("AAA", "hold", 1)
        with pytest.raises(ValueError, match="quantity: expected a finite number"):
            client.submit_order("AAA", Side.SELL, float("nan"))
        with pytest.raises(ValueError, match="order_type: expected one of"):
            client.submit_order("AAA", "sell", 1, order_type="ICEBERG")
        with pytest.raises(ValueError, match="symbols: expected a list"):
            client.add_strategy("s2", "strategies:SmaCrossover", "AAA")
        with pytest.raises(ValueError, match="cannot be sent as JSON"):
            client.request("status", {"when": object()})
        with pytest.raises(ValueError, match="timeout_s: expected a number > 0"):
            client.request("status", timeout_s=0)
        assert client.submit_order("AAA", Side.SELL, 2, order_type=OrderType.STOP, stop_price=9)
    assert [cmd for cmd, _, _ in handler.calls] == ["submit_order"]


def test_no_listener_is_a_timeout_naming_the_endpoint() -> None:
    probe: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.ROUTER)
    probe.bind("tcp://127.0.0.1:*")
    endpoint = probe.getsockopt_string(zmq.LAST_ENDPOINT)
    probe.close(linger=0)  # the port is free now: nobody listens there
    with Client(endpoint, timeout_s=0.2) as client, pytest.raises(ClientTimeoutError) as timeout:
        client.status()
    assert str(timeout.value) == f"no answer from {endpoint} in 0.2s"
    assert isinstance(timeout.value, ClientError)


def test_a_runtime_that_does_not_answer_is_a_timeout(
    router: tuple[zmq.Socket[bytes], str],
) -> None:
    sock, endpoint = router
    with Client(endpoint, timeout_s=0.2) as client, pytest.raises(ClientTimeoutError):
        client.status()
    assert sock.poll(int(WAIT_S * 1000))
    _identity, body = sock.recv_multipart()
    assert orjson.loads(body) == {"v": 1, "id": 1, "cmd": "status", "args": {}}


def test_a_late_reply_is_discarded_not_returned_for_the_next_request(
    make_gateway: Callable[..., Gateway],
) -> None:
    handler = Handler()
    gateway = make_gateway(handler)
    with Client(gateway.commands_endpoint, timeout_s=WAIT_S) as client:
        with pytest.raises(ClientTimeoutError):
            client.request("pause", {"reason": "block"}, timeout_s=0.2)
        assert handler.entered.wait(WAIT_S)
        handler.release.set()  # request 1 is answered now, after its timeout
        assert client.request("status", {"n": 2}) == {"cmd": "status", "args": {"n": 2}}
        assert client.request("status", {"n": 3}) == {"cmd": "status", "args": {"n": 3}}


def test_a_client_is_thread_confined(make_gateway: Callable[..., Gateway]) -> None:
    handler = Handler()
    gateway = make_gateway(handler)
    results: list[Any] = []
    with Client(gateway.commands_endpoint, timeout_s=WAIT_S) as client:
        worker = threading.Thread(
            target=lambda: results.append(client.pause(reason="block")),
            name="test-client-user",
        )
        worker.start()
        assert handler.entered.wait(WAIT_S)
        with pytest.raises(ClientError, match="thread-confined"):
            client.status()
        handler.release.set()
        worker.join(WAIT_S)
        assert results == ["late"]
        assert client.status() == {"cmd": "status", "args": {}}


def _serve(sock: zmq.Socket[bytes], replies: list[Callable[[dict[str, Any]], bytes]]) -> None:
    for make_reply in replies:
        assert sock.poll(int(WAIT_S * 1000))
        identity, body = sock.recv_multipart()
        sock.send_multipart([identity, make_reply(orjson.loads(body))])


def test_replies_that_break_the_protocol_are_client_errors(
    router: tuple[zmq.Socket[bytes], str],
) -> None:
    sock, endpoint = router
    replies: list[Callable[[dict[str, Any]], bytes]] = [
        lambda req: b"not json",
        lambda req: orjson.dumps({"v": 1, "id": req["id"], "ok": "yes"}),
        lambda req: orjson.dumps(
            {"v": 1, "id": req["id"], "ok": False, "error": {"code": "NOPE", "message": "m"}}
        ),
        lambda req: orjson.dumps({"v": 2, "id": req["id"], "ok": True, "result": 1}),
        # The runtime could not read the id: the answer is the oldest request's.
        lambda req: orjson.dumps(
            {"v": 1, "id": None, "ok": False, "error": {"code": "BAD_JSON", "message": "m"}}
        ),
    ]
    server = threading.Thread(target=_serve, args=(sock, replies), name="test-router")
    server.start()
    try:
        with Client(endpoint, timeout_s=WAIT_S) as client:
            with pytest.raises(ClientError, match=r"bad reply from .*: not JSON"):
                client.status()
            with pytest.raises(ClientError, match="'ok' must be true or false, got 'yes'"):
                client.status()
            with pytest.raises(ClientError, match="unknown error code 'NOPE'"):
                client.status()
            with pytest.raises(ClientError, match="'v' is 2, expected 1"):
                client.status()
            with pytest.raises(RemoteError) as refused:
                client.status()
            assert refused.value.code is ErrorCode.BAD_JSON
    finally:
        server.join(WAIT_S)
    assert not server.is_alive()


def test_a_closed_client_refuses_requests(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(Handler())
    client = Client(gateway.commands_endpoint)
    client.close()
    client.close()
    with pytest.raises(ClientError, match="the client is closed"):
        client.status()


# --- CURVE ------------------------------------------------------------------------------


def test_curve_keys_from_files_let_a_client_in_and_no_keys_get_nothing(
    tmp_path: Path, make_gateway: Callable[..., Gateway]
) -> None:
    server = create_keys(tmp_path / "server", "server")
    create_keys(tmp_path / "control", "alice")
    mine = tmp_path / "control" / "alice.key_secret"
    curve = CurveConfig(server_secret_key=server.secret, control_keys=tmp_path / "control")
    handler = Handler()
    gateway = make_gateway(handler, curve=curve)
    keys = CurveKeys.from_files(server.public, mine)
    assert keys.server_public == gateway.server_public_key
    assert "client_secret" not in repr(keys)
    with Client(gateway.commands_endpoint, keys=keys, timeout_s=WAIT_S) as client:
        assert client.status() == {"cmd": "status", "args": {}}
    with Subscription(gateway.events_endpoint, keys=keys) as sub:
        assert sub.ready(WAIT_S)
    with (
        Client(gateway.commands_endpoint, timeout_s=0.3) as stranger,
        pytest.raises(ClientTimeoutError),
    ):
        stranger.status()
    assert len(handler.calls) == 1


def test_curve_key_file_errors_name_the_file(tmp_path: Path) -> None:
    files = create_keys(tmp_path, "bob")
    missing = tmp_path / "nope.key"
    with pytest.raises(KeyFileError, match=f"server key file {missing}: no such file"):
        CurveKeys.from_files(missing, files.secret)
    with pytest.raises(KeyFileError, match=f"client key file {files.public}: holds no secret key"):
        CurveKeys.from_files(files.public, files.public)
    garbage = tmp_path / "garbage.key"
    garbage.write_text("hello\n", encoding="utf-8")
    with pytest.raises(KeyFileError, match=f"server key file {garbage}: not a ZeroMQ key file"):
        CurveKeys.from_files(garbage, files.secret)
    short = tmp_path / "short.key"
    short.write_text('curve\n    public-key = "abc"\n', encoding="utf-8")
    with pytest.raises(KeyFileError, match="not a 40-character Z85 CURVE key"):
        CurveKeys.from_files(short, files.secret)


# --- the event stream ---------------------------------------------------------------------


def test_subscription_receives_every_event_in_order_and_decodes_it(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway(Handler())
    with Subscription(gateway.events_endpoint) as sub:
        assert sub.ready(WAIT_S)
        sent: list[Message] = []
        for i in range(1, 101):
            message: Message = paused(i) if i % 2 else update(i, f"o{i}", OrderStatus.ACCEPTED)
            sent.append(message)
            gateway.publish(message)
        received = [next_event(sub) for _ in sent]
    assert all(isinstance(e, Event) for e in received)
    events = [e for e in received if isinstance(e, Event)]
    assert [e.seq for e in events] == list(range(1, 101))
    assert [e.message() for e in events] == sent
    assert [e.topic for e in events] == [topic_of(m) for m in sent]
    assert [e.tseq for e in events if e.topic == "strategy.paused"] == list(range(1, 51))
    assert [e.tseq for e in events if e.topic == "order.update"] == list(range(1, 51))
    assert sub.missed == 0
    assert sub.last_seq >= 100


def test_a_topic_subscription_gets_those_topics_and_heartbeats_only(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway(Handler())
    with Subscription(gateway.events_endpoint, ("strategy.",)) as sub:
        assert sub.ready(WAIT_S)
        gateway.publish(update(1, "o1", OrderStatus.ACCEPTED))
        gateway.publish(paused(2))
        gateway.publish(update(3, "o1", OrderStatus.FILLED, 10.0))
        gateway.publish(paused(4))
        first, second = next_event(sub), next_event(sub)
        heartbeat = sub.next(WAIT_S)
        while heartbeat is not None and (
            isinstance(heartbeat, Gap) or heartbeat.type != HEARTBEAT_TYPE
        ):
            heartbeat = sub.next(WAIT_S)
    assert isinstance(first, Event) and isinstance(second, Event)
    assert [(e.topic, e.seq, e.tseq) for e in (first, second)] == [
        ("strategy.paused", 2, 1),
        ("strategy.paused", 4, 2),
    ]
    assert heartbeat is not None and not isinstance(heartbeat, Gap)
    assert heartbeat.message() is None
    assert heartbeat.data["runtime"] == "test-runtime"
    assert sub.missed == 0


def test_a_jump_in_a_topic_sequence_is_a_gap(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(Handler())
    gateway.publish(paused(1))  # sent before anyone subscribed: invisible
    assert gateway.mark(WAIT_S) == 1
    with Subscription(gateway.events_endpoint, ("strategy.",)) as sub:
        assert sub.ready(WAIT_S)
        sub.start_after(0, {})  # a snapshot from before any event
        gateway.publish(paused(2))
        gateway.publish(paused(3))
        items = [next_event(sub) for _ in range(3)]
    assert items[0] == Gap("strategy.paused", 1, 2)
    assert [(e.seq, e.tseq) for e in items[1:] if isinstance(e, Event)] == [(2, 2), (3, 3)]
    assert sub.missed == 1


def test_a_heartbeat_past_the_last_event_reveals_a_gap(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway(Handler())
    gateway.publish(paused(1))
    gateway.publish(paused(2))
    assert gateway.mark(WAIT_S) == 2
    with Subscription(gateway.events_endpoint) as sub:
        assert sub.ready(WAIT_S)
        sub.start_after(0)  # as if the snapshot was taken before both events
        gap = sub.next(WAIT_S)
        heartbeat = sub.next(WAIT_S)
        gateway.publish(paused(3))
        third = next_event(sub)
    assert gap == Gap(None, 1, 3)
    assert gap.missed == 2
    assert isinstance(heartbeat, Event) and heartbeat.type == HEARTBEAT_TYPE
    assert heartbeat.seq == 2
    assert isinstance(third, Event) and (third.seq, third.tseq) == (3, 3)
    assert sub.missed == 2


def test_start_after_skips_what_the_snapshot_holds(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(Handler())
    with Subscription(gateway.events_endpoint) as sub:
        assert sub.ready(WAIT_S)
        for i in range(1, 4):
            gateway.publish(paused(i))
        assert gateway.mark(WAIT_S) == 3
        sub.start_after(2)  # events 1 and 2 are in the snapshot
        gateway.publish(paused(4))
        items = [next_event(sub) for _ in range(2)]
    assert [(e.seq, e.message()) for e in items if isinstance(e, Event)] == [
        (3, paused(3)),
        (4, paused(4)),
    ]
    assert sub.missed == 0


def test_silence_past_the_heartbeat_timeout_raises(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(Handler())
    with Subscription(gateway.events_endpoint, heartbeat_timeout_s=0.3) as sub:
        assert sub.ready(WAIT_S)
        assert sub.next(WAIT_S) is not None  # heartbeats flow
        gateway.close()  # the runtime dies
        with pytest.raises(ClientTimeoutError) as dead:
            for _ in range(10_000):
                sub.next(WAIT_S)
    assert str(dead.value) == (
        f"no heartbeat from {gateway.events_endpoint} in 0.3s: runtime dead or unreachable"
    )


def test_a_restarted_runtime_is_a_sequence_reset(make_gateway: Callable[..., Gateway]) -> None:
    first = make_gateway(Handler())
    with Subscription(first.events_endpoint) as sub:
        assert sub.ready(WAIT_S)
        for i in range(1, 4):
            first.publish(paused(i))
        assert [e.seq for e in (next_event(sub) for _ in range(3)) if isinstance(e, Event)] == [
            1,
            2,
            3,
        ]
        first.close()
        second = make_gateway(Handler(), events=first.events_endpoint)
        with pytest.raises(SequenceResetError) as reset:
            for _ in range(10_000):
                sub.next(WAIT_S)
        assert (reset.value.previous, reset.value.seq) == (3, 0)
        second.publish(paused(1, "s2"))
        event = next_event(sub)
    assert isinstance(event, Event)
    assert (event.seq, event.message()) == (1, paused(1, "s2"))
    assert sub.missed == 0


def test_malformed_events_are_counted_and_skipped() -> None:
    pub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind("tcp://127.0.0.1:*")
    try:
        with Subscription(pub.getsockopt_string(zmq.LAST_ENDPOINT)) as sub:
            assert pub.poll(int(WAIT_S * 1000))
            assert pub.recv() == b"\x01"  # subscribed to everything
            pub.send_multipart([b"strategy.paused", b"{nope"])
            pub.send_multipart([b"strategy.paused", b'{"seq": 1, "type": "StrategyPaused"}'])
            pub.send_multipart([b"only-one-frame"])
            pub.send_multipart([b"strategy.paused", encode_event(1, 1, paused(1))])
            event = sub.next(WAIT_S)
            assert sub.malformed == 3
    finally:
        pub.close(linger=0)
    assert isinstance(event, Event) and event.message() == paused(1)


# --- the mirror ---------------------------------------------------------------------------


def as_event(seq: int, message: Message) -> Event:
    """The event a subscriber receives for ``message`` published as number ``seq``."""
    topic = topic_of(message)
    assert topic is not None
    body = orjson.loads(encode_event(seq, seq, message))
    return Event(topic, seq, seq, message.TAG, body)


def position(i: int, strategy_id: str, symbol: str, quantity: float, realized: float) -> Position:
    return Position(
        id=i,
        ts_event=i,
        ts_init=i,
        strategy_id=strategy_id,
        symbol=symbol,
        quantity=quantity,
        avg_price=100.0 if quantity else 0.0,
        mark_price=101.0,
        realized_pnl=realized,
        unrealized_pnl=quantity * 1.0,
        fees=1.5,
    )


SNAPSHOT: dict[str, Any] = {
    "seq": 10,
    "state": "RUNNING",
    "positions": [
        {
            "strategy_id": "s1",
            "symbol": "AAA",
            "quantity": 10.0,
            "avg_price": 100.0,
            "mark_price": 100.5,
            "realized_pnl": 0.0,
            "unrealized_pnl": 5.0,
            "fees": 1.0,
        }
    ],
    "orders": [
        {"client_order_id": "o1", "status": "ACCEPTED", "filled_quantity": 0.0},
        {"client_order_id": "o2", "status": "PARTIALLY_FILLED", "filled_quantity": 5.0},
    ],
    "strategies": [{"id": "s1", "state": "running"}, {"id": "s2", "state": "running"}],
    "engines": {"active": "paper"},
    "topics": {"order.update": 4},
}


def test_mirror_follows_the_events_after_its_snapshot() -> None:
    mirror = Mirror(SNAPSHOT)
    order = Order(
        id=13,
        ts_event=13,
        ts_init=13,
        client_order_id="o3",
        strategy_id="s2",
        symbol="BBB",
        side=Side.SELL,
        quantity=5.0,
        order_type=OrderType.LIMIT,
        limit_price=50.0,
        stop_price=None,
        time_in_force=TimeInForce.GTC,
        ts_intent=13,
    )
    events = [
        as_event(9, update(9, "o1", OrderStatus.FILLED, 10.0)),  # in the snapshot already
        as_event(11, update(11, "o1", OrderStatus.PARTIALLY_FILLED, 3.0)),
        as_event(12, update(12, "o2", OrderStatus.FILLED, 10.0)),
        as_event(13, order),
        as_event(14, position(14, "s1", "AAA", 0.0, 12.5)),
        as_event(15, position(15, "s2", "BBB", -5.0, 0.0)),
        as_event(
            16,
            RuntimeStateChanged(
                id=16,
                ts_event=16,
                ts_init=16,
                previous=RuntimeState.RUNNING,
                state=RuntimeState.HALTED,
                reason="operator",
            ),
        ),
        as_event(
            17,
            StrategyQuarantined(
                id=17,
                ts_event=17,
                ts_init=17,
                strategy_id="s2",
                failures=3,
                error="x",
                open_orders="",
            ),
        ),
        as_event(
            18,
            StrategyStarted(
                id=18, ts_event=18, ts_init=18, strategy_id="s3", class_path="m:C", symbols=("A",)
            ),
        ),
        as_event(
            19,
            StrategyRemoved(
                id=19,
                ts_event=19,
                ts_init=19,
                strategy_id="s1",
                policy="cancel",
                cancelled=("o1",),
                flattening=(),
            ),
        ),
        as_event(
            20,
            EngineFailedOver(
                id=20,
                ts_event=20,
                ts_init=20,
                previous="paper",
                engine="backup",
                failures=3,
                reason="x",
            ),
        ),
        Event("heartbeat", 20, None, HEARTBEAT_TYPE, {"seq": 20, "type": HEARTBEAT_TYPE}),
    ]
    for event in events:
        mirror.apply(event)
    assert mirror.state() == {
        "state": "HALTED",
        "positions": {("s2", "BBB"): (-5.0, 100.0, 0.0, 1.5)},
        "orders": {"o1": ("PARTIALLY_FILLED", 3.0), "o3": ("ROUTED", 0.0)},
        "strategies": {"s1": "stopped", "s2": "quarantined", "s3": "running"},
    }
    assert (mirror.seq, mirror.applied, mirror.active_engine) == (20, 10, "backup")


def test_mirror_refuses_a_bad_snapshot_naming_the_key() -> None:
    with pytest.raises(ClientError, match="bad snapshot: snapshot: orders: missing"):
        Mirror({k: v for k, v in SNAPSHOT.items() if k != "orders"})
    broken = dict(SNAPSHOT, positions=[dict(SNAPSHOT["positions"][0], quantity="ten")])
    with pytest.raises(ClientError, match=r"positions\[0\]\.quantity: expected a number"):
        Mirror(broken)
    wrong = dict(SNAPSHOT, orders=[{"client_order_id": "o1", "status": "DONE"}])
    with pytest.raises(ClientError, match=r"orders\[0\]\.status: expected one of"):
        Mirror(wrong)


def test_a_late_joiner_mirror_matches_the_runtime(make_gateway: Callable[..., Gateway]) -> None:
    """Subscribe, wait until live, take the snapshot, skip what it holds, apply the rest."""
    gateway_box: list[Gateway] = []
    orders: dict[str, tuple[str, float]] = {}

    def handler(request: Request, role: Role) -> Any:
        if request.cmd != "snapshot":
            return None
        seq = gateway_box[0].mark(WAIT_S)
        rows = [
            {"client_order_id": k, "status": s, "filled_quantity": f}
            for k, (s, f) in orders.items()
        ]
        return {
            "seq": seq,
            "state": "RUNNING",
            "positions": [],
            "orders": rows,
            "strategies": [],
            "topics": gateway_box[0].topic_seqs(),
        }

    gateway = make_gateway(handler)
    gateway_box.append(gateway)

    def publish(message: OrderUpdate) -> None:
        orders[message.client_order_id] = (message.status.value, message.filled_quantity)
        gateway.publish(message)

    publish(update(1, "o1", OrderStatus.ACCEPTED))
    publish(update(2, "o2", OrderStatus.ACCEPTED))
    with (
        Client(gateway.commands_endpoint, timeout_s=WAIT_S) as client,
        Subscription(gateway.events_endpoint, ("order.",)) as sub,
    ):
        assert sub.ready(WAIT_S)
        snapshot = client.snapshot()
        assert snapshot["seq"] == 2
        sub.start_after(snapshot["seq"], snapshot["topics"])
        mirror = Mirror(snapshot)
        publish(update(3, "o1", OrderStatus.PARTIALLY_FILLED, 4.0))
        publish(update(4, "o2", OrderStatus.FILLED, 10.0))
        publish(update(5, "o3", OrderStatus.ACCEPTED))
        while mirror.seq < 5:
            item = next_event(sub)
            assert isinstance(item, Event), item
            mirror.apply(item)
    open_orders = {k: v for k, v in orders.items() if not OrderStatus(v[0]).is_terminal}
    assert mirror.state()["orders"] == open_orders
    assert open_orders == {"o1": ("PARTIALLY_FILLED", 4.0), "o3": ("ACCEPTED", 0.0)}
    assert sub.missed == 0
