"""The simulated venue as a real process: its settings file, its wire protocol, its matching.

The helpers at the top (:func:`write_venue_config`, :func:`start_venue`,
:class:`RawClient`) are shared by the other ``test_venue_*`` modules.
"""

from __future__ import annotations

import itertools
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import zmq

from runtime.errors import SettingsError
from runtime.marketdata import market_data
from runtime.matching import MatchingEngine
from runtime.messages import (
    Bar,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RejectReason,
    Side,
    TimeInForce,
)
from runtime.venue import VenueSettings, load_venue_settings, parse_venue_settings
from runtime.venue_protocol import (
    PROTOCOL_VERSION,
    Ack,
    Cancel,
    CancelAllOrders,
    ErrorCode,
    ErrorReply,
    EventPush,
    Hello,
    Ping,
    Pong,
    Reply,
    Request,
    StatusQuery,
    Submit,
    Welcome,
    decode_reply,
    encode,
)

REPO = Path(__file__).resolve().parent.parent
START_NS = 1_704_187_800_000_000_000
"""2024-01-02T09:30:00Z, the synthetic feed's default start."""

# --- helpers shared by the test_venue_* modules ----------------------------------


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on right now (bound to port 0, then released)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def write_venue_config(
    path: Path,
    *,
    bars: int = 0,
    speed: float = 1200.0,
    symbols: tuple[str, ...] = ("SYN-A", "SYN-B"),
    wait_for_subscriber: bool = False,
    feed: str = "",
) -> Path:
    """A venue file on two free ports: synthetic one-minute bars, the paper cost models."""
    orders, md = free_ports(2)
    if not feed:
        feed = (
            f"[venue.feed]\ninterval_s = 60\nspeed = {speed}\n"
            f"[venue.feed.synthetic]\nsymbols = {list(symbols)!r}\nbars = {bars}\n"
        ).replace("'", '"')
    path.write_text(
        f"""
[venue]
name = "sim"
orders = "tcp://127.0.0.1:{orders}"
market_data = "tcp://127.0.0.1:{md}"
log_level = "WARNING"
wait_for_subscriber = {str(wait_for_subscriber).lower()}
{feed}
[venue.matching]
max_volume_share = 0.1
[venue.matching.slippage]
model = "fixed_bps"
bps = 1.0
[venue.matching.commission]
model = "per_share"
per_share = 0.005
minimum = 1.0
""",
        encoding="utf-8",
    )
    return path


@dataclass
class VenueProcess:
    """A running ``tradepit venue`` process."""

    proc: subprocess.Popen[bytes]
    config: Path
    orders: str
    market_data: str
    log: Path

    def stop(self, signum: signal.Signals = signal.SIGTERM) -> int:
        """Signal it and return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stderr(self) -> str:
        """What it logged."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def _spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "venue", "--config", str(config)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err,
        )  # fmt: skip


def start_venue(config: Path, *, timeout_s: float = 15.0) -> VenueProcess:
    """Start a venue on ``config`` and wait for its READY line."""
    log = config.with_suffix(".log")
    proc = _spawn(config, log)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while selector.select(timeout=max(0.0, deadline - time.monotonic())):
            line = proc.stdout.readline().decode()
            if line.startswith("VENUE READY "):
                endpoints = orjson.loads(line.removeprefix("VENUE READY "))
                return VenueProcess(
                    proc, config, endpoints["orders"], endpoints["market_data"], log
                )
            if not line:
                break
    proc.kill()
    proc.wait()
    pytest.fail(f"the venue did not print READY within {timeout_s}s:\n{log.read_text()}")


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[VenueProcess]:
    """A venue publishing SYN-A and SYN-B at 20 bars/s, stopped after the test."""
    process = start_venue(write_venue_config(tmp_path / "venue.toml"))
    yield process
    process.kill()


class RawClient:
    """A bare DEALER speaking the protocol, for tests that poke the venue directly."""

    def __init__(self, endpoint: str) -> None:
        self.sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.pushes: list[EventPush] = []
        self._reqs = itertools.count(1)

    def next_req(self) -> int:
        """A fresh request id."""
        return next(self._reqs)

    def recv(self, timeout_s: float = 5.0) -> list[bytes]:
        """The next message's frames; fails the test after ``timeout_s``."""
        if not self.sock.poll(int(timeout_s * 1000)):
            pytest.fail(f"no message from the venue within {timeout_s}s")
        return self.sock.recv_multipart()

    def reply(self, timeout_s: float = 5.0) -> Reply:
        """The next reply that is not a push (pushes are kept in ``pushes``)."""
        while True:
            reply = decode_reply(self.recv(timeout_s))
            if not isinstance(reply, EventPush):
                return reply
            self.pushes.append(reply)

    def request(self, message: Request) -> Reply:
        """Send a request and return its answer."""
        self.sock.send_multipart(encode(message))
        reply = self.reply()
        assert getattr(reply, "req", None) == message.req, reply
        return reply

    def hello(self, engine: str = "e1", session: str = "s1") -> Welcome:
        """Open the session of ``engine``."""
        reply = self.request(
            Hello(req=self.next_req(), version=PROTOCOL_VERSION, engine=engine, session=session)
        )
        assert isinstance(reply, Welcome), reply
        return reply

    def push(self, timeout_s: float = 5.0) -> EventPush:
        """The next pushed event."""
        if not self.pushes:
            reply = decode_reply(self.recv(timeout_s))
            assert isinstance(reply, EventPush), reply
            return reply
        return self.pushes.pop(0)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close(linger=0)


@pytest.fixture
def client(venue: VenueProcess) -> Iterator[RawClient]:
    """A raw client connected to ``venue``."""
    c = RawClient(venue.orders)
    yield c
    c.close()


def make_order(
    client_order_id: str,
    *,
    quantity: float = 100.0,
    symbol: str = "SYN-A",
    side: Side = Side.BUY,
    limit: float | None = None,
) -> Order:
    """A GTC market order, or a limit order when ``limit`` is given."""
    return Order(
        id=1,
        ts_event=START_NS,
        ts_init=START_NS,
        client_order_id=client_order_id,
        strategy_id="strat",
        symbol=symbol,
        side=side,
        quantity=quantity,
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        limit_price=limit,
        stop_price=None,
        time_in_force=TimeInForce.GTC,
        ts_intent=START_NS,
    )


# --- the process and its settings ---------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_venue_prints_ready_and_stops_cleanly_on_a_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    config = write_venue_config(tmp_path / "venue.toml")
    process = start_venue(config)
    settings = load_venue_settings(config)
    assert (process.orders, process.market_data) == (settings.orders, settings.market_data)
    assert process.stop(signum) == 0, process.stderr()


def test_bad_venue_file_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    config = write_venue_config(tmp_path / "venue.toml")
    config.write_text(config.read_text().replace("bps = 1.0", 'bps = "one"'))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "venue", "--config", str(config)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"tradepit: {config}: venue.matching.slippage.bps: expected a number, got 'one'"
    ]


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[venue]\nbogus = 1\n", "venue.bogus", "unknown key"),
        ("[exchange]\n", "exchange", "unknown section"),
        ("[venue]\norders = 5701\n", "venue.orders", "expected a non-empty string"),
        ('[venue]\norders = "localhost:5701"\n', "venue.orders", "expected an endpoint"),
        ('[venue]\nname = "a b"\n', "venue.name", "letters, digits"),
        ("[venue]\nwait_for_subscriber = 1\n", "venue.wait_for_subscriber", "true or false"),
        ("[venue.feed]\nlockstep = true\n", "venue.feed.lockstep", "lockstep"),
        ("[venue.feed]\nspeed = -1\n", "venue.feed.speed", "expected a number >= 0"),
        ('[venue.feed]\nsource = "csv"\n', "venue.feed.csv", "needs at least one"),
        ("[venue.matching]\nmax_volume_share = 2\n", "venue.matching.max_volume_share", "<= 1"),
        ("[venue.matching]\nslippage = 1\n", "venue.matching.slippage", "expected a table"),
        ("[venue.matching]\nfoo = 1\n", "venue.matching.foo", "unknown key"),
    ],
)
def test_venue_settings_are_checked_strictly(text: str, key: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_venue_settings(text, source="v.toml", base_dir=REPO)
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_an_empty_venue_file_takes_the_documented_defaults() -> None:
    settings = parse_venue_settings("", source="v.toml", base_dir=REPO)
    assert settings == VenueSettings(source="v.toml")
    assert settings.orders == "tcp://127.0.0.1:5701"
    assert settings.market_data == "tcp://127.0.0.1:5702"


def test_example_venue_toml_is_valid() -> None:
    settings = load_venue_settings(REPO / "venue.toml")
    assert settings.feed.speed > 0


def test_a_venue_restarts_on_the_same_ports_right_after_sigkill(tmp_path: Path) -> None:
    config = write_venue_config(tmp_path / "venue.toml")
    first = start_venue(config)
    first.kill()
    second = start_venue(config)
    try:
        assert (second.orders, second.market_data) == (first.orders, first.market_data)
        c = RawClient(second.orders)
        try:
            assert c.hello().instance
        finally:
            c.close()
    finally:
        assert second.stop() == 0, second.stderr()


# --- the protocol against the real process ------------------------------------------


def test_market_order_is_accepted_then_filled_like_the_paper_matcher(
    venue: VenueProcess, client: RawClient
) -> None:
    welcome = client.hello()
    assert (welcome.venue, welcome.version, welcome.seq, welcome.resumed) == (
        "sim",
        PROTOCOL_VERSION,
        0,
        False,
    )
    order = make_order("o-1", quantity=1500.0)  # > 10% of a bar's volume: fills over bars
    ack = client.request(Submit(req=client.next_req(), order=order))
    assert isinstance(ack, Ack)
    (accepted,) = ack.events
    assert isinstance(accepted, OrderUpdate)
    assert accepted.status is OrderStatus.ACCEPTED
    venue_events: list[OrderUpdate | Fill] = []
    seqs = []
    while not venue_events or not _is_filled(venue_events[-1]):
        push = client.push()
        seqs.append(push.seq)
        venue_events.append(push.event)
    assert seqs == list(range(1, len(seqs) + 1))
    fills = [e for e in venue_events if isinstance(e, Fill)]
    assert len(fills) >= 2

    # The same order, the same bars, the same matcher: the same executions.
    settings = load_venue_settings(venue.config)
    reference = MatchingEngine(settings.matching, engine="ref")
    reference.submit(order)
    expected: list[OrderUpdate | Fill] = []
    for bar in market_data(settings.feed):
        assert isinstance(bar, Bar)
        if bar.ts_event >= fills[0].ts_event:
            expected.extend(reference.on_bar(bar))
        if expected and _is_filled(expected[-1]):
            break
    assert [_execution(e) for e in venue_events] == [_execution(e) for e in expected]
    assert all(f.fill_id.startswith(f"sim-{welcome.instance}-") for f in fills)


def _is_filled(event: OrderUpdate | Fill) -> bool:
    return isinstance(event, OrderUpdate) and event.status is OrderStatus.FILLED


def _execution(event: OrderUpdate | Fill) -> tuple[object, ...]:
    if isinstance(event, Fill):
        return (
            "fill",
            event.ts_event,
            event.quantity,
            event.price,
            event.commission,
            event.slippage,
        )
    return ("update", event.ts_event, event.status, event.filled_quantity, event.avg_fill_price)


def test_malformed_messages_get_error_replies_and_the_venue_keeps_serving(
    venue: VenueProcess, client: RawClient
) -> None:
    client.hello()
    order = orjson.loads(encode(Submit(req=0, order=make_order("x")))[2])
    bad: list[tuple[list[bytes], ErrorCode, int | None]] = [
        ([b"SUBMIT"], ErrorCode.BAD_FRAMES, None),
        ([b"\xff\xfe", b"{}"], ErrorCode.BAD_FRAMES, None),
        ([b"LAUNCH", b'{"req": 7}'], ErrorCode.UNKNOWN_KIND, 7),
        ([b"WELCOME", b'{"req": 8}'], ErrorCode.UNKNOWN_KIND, 8),
        ([b"PING", b"not json"], ErrorCode.BAD_JSON, None),
        ([b"PING", b"[1, 2]"], ErrorCode.BAD_JSON, None),
        ([b"PING", b'{"req": "nine", "ts": 1}'], ErrorCode.BAD_REQUEST, None),
        ([b"PING", b'{"req": 10}'], ErrorCode.BAD_REQUEST, 10),
        ([b"PING", b'{"req": 11, "ts": 1, "extra": 0}'], ErrorCode.BAD_REQUEST, 11),
        ([b"PING", b'{"req": 12, "ts": 1}', b"body"], ErrorCode.BAD_FRAMES, 12),
        ([b"SUBMIT", b'{"req": 13}'], ErrorCode.BAD_FRAMES, 13),
        ([b"SUBMIT", b'{"req": 14}', b"{"], ErrorCode.BAD_ORDER, 14),
        ([b"SUBMIT", b'{"req": 15}', encode(Ping(req=1, ts=1))[1]], ErrorCode.BAD_ORDER, 15),
        (
            [b"SUBMIT", b'{"req": 16}', orjson.dumps({**order, "client_order_id": [1]})],
            ErrorCode.BAD_ORDER,
            16,
        ),
        (
            [b"SUBMIT", b'{"req": 17}', orjson.dumps({**order, "side": "UP"})],
            ErrorCode.BAD_ORDER,
            17,
        ),
        (
            [b"CANCEL", b'{"req": 18, "client_order_id": 5, "ts_event": 1}'],
            ErrorCode.BAD_REQUEST,
            18,
        ),
        ([b"STATUS", b'{"req": 19, "client_order_ids": "x"}'], ErrorCode.BAD_REQUEST, 19),
        (
            [b"HELLO", b'{"req": 20, "version": 99, "engine": "e1", "session": "s"}'],
            ErrorCode.VERSION,
            20,
        ),
        ([b"PING", os.urandom(4096)], ErrorCode.BAD_JSON, None),
    ]
    for frames, code, req in bad:
        client.sock.send_multipart(frames)
        reply = client.reply()
        assert isinstance(reply, ErrorReply), (frames, reply)
        assert (reply.code, reply.req) == (code, req), (frames, reply)
        assert reply.message
    pong = client.request(Ping(req=client.next_req(), ts=123))
    assert isinstance(pong, Pong)
    assert pong.ts == 123
    ack = client.request(Submit(req=client.next_req(), order=make_order("after-garbage")))
    assert isinstance(ack, Ack)
    assert [e.status for e in ack.events if isinstance(e, OrderUpdate)] == [OrderStatus.ACCEPTED]
    assert venue.proc.poll() is None


def test_requests_before_hello_are_refused_with_no_session(client: RawClient) -> None:
    for request in (
        Ping(req=1, ts=1),
        Submit(req=2, order=make_order("early")),
        StatusQuery(req=3, client_order_ids=("early",)),
    ):
        reply = client.request(request)
        assert isinstance(reply, ErrorReply)
        assert reply.code is ErrorCode.NO_SESSION
    client.hello()
    status = client.request(StatusQuery(req=4, client_order_ids=("early",)))
    assert status == Ack(req=4, events=(), unknown=("early",))


def test_a_reused_client_order_id_is_rejected_as_duplicate(client: RawClient) -> None:
    client.hello()
    first = client.request(Submit(req=1, order=make_order("dup", limit=1.0)))
    second = client.request(Submit(req=2, order=make_order("dup", limit=1.0)))
    assert isinstance(first, Ack)
    assert isinstance(second, Ack)
    (update,) = second.events
    assert isinstance(update, OrderUpdate)
    assert (update.status, update.reason) == (OrderStatus.REJECTED, RejectReason.DUPLICATE_ORDER)
    status = client.request(StatusQuery(req=3, client_order_ids=("dup",)))
    assert isinstance(status, Ack)
    assert [e.status for e in status.events if isinstance(e, OrderUpdate)] == [OrderStatus.ACCEPTED]


def test_cancel_status_and_cancel_all_only_touch_the_sessions_own_orders(
    venue: VenueProcess,
) -> None:
    a, b = RawClient(venue.orders), RawClient(venue.orders)
    try:
        a.hello(engine="a", session="sa")
        b.hello(engine="b", session="sb")
        for i in range(3):
            a.request(Submit(req=a.next_req(), order=make_order(f"a{i}", limit=1.0)))
        b.request(Submit(req=b.next_req(), order=make_order("b0", limit=1.0)))

        foreign = b.request(Cancel(req=b.next_req(), client_order_id="a0", ts_event=START_NS))
        assert isinstance(foreign, Ack)
        assert foreign.events == ()
        hidden = b.request(StatusQuery(req=b.next_req(), client_order_ids=("a0", "b0")))
        assert isinstance(hidden, Ack)
        assert hidden.unknown == ("a0",)
        assert [e.client_order_id for e in hidden.events] == ["b0"]

        one = a.request(Cancel(req=a.next_req(), client_order_id="a0", ts_event=START_NS))
        assert isinstance(one, Ack)
        assert [
            (e.client_order_id, e.status) for e in one.events if isinstance(e, OrderUpdate)
        ] == [("a0", OrderStatus.CANCELLED)]
        again = a.request(Cancel(req=a.next_req(), client_order_id="a0", ts_event=START_NS))
        assert isinstance(again, Ack)
        assert again.events == ()  # no longer working

        everything = a.request(
            CancelAllOrders(
                req=a.next_req(), ts_event=START_NS, reason=RejectReason.SHUTDOWN, message="bye"
            )
        )
        assert isinstance(everything, Ack)
        cancelled = [e for e in everything.events if isinstance(e, OrderUpdate)]
        assert [(e.client_order_id, e.status, e.reason, e.message) for e in cancelled] == [
            ("a1", OrderStatus.CANCELLED, RejectReason.SHUTDOWN, "bye"),
            ("a2", OrderStatus.CANCELLED, RejectReason.SHUTDOWN, "bye"),
        ]
        status = a.request(StatusQuery(req=a.next_req(), client_order_ids=("a0", "a1", "zz")))
        assert isinstance(status, Ack)
        assert status.unknown == ("zz",)
        assert [
            (e.client_order_id, e.status) for e in status.events if isinstance(e, OrderUpdate)
        ] == [
            ("a0", OrderStatus.CANCELLED),
            ("a1", OrderStatus.CANCELLED),
        ]
        still = b.request(StatusQuery(req=b.next_req(), client_order_ids=("b0",)))
        assert isinstance(still, Ack)
        assert [e.status for e in still.events if isinstance(e, OrderUpdate)] == [
            OrderStatus.ACCEPTED
        ]
    finally:
        a.close()
        b.close()


def test_a_new_connection_takes_over_the_engine_and_is_told_what_it_missed(
    venue: VenueProcess,
) -> None:
    first, second = RawClient(venue.orders), RawClient(venue.orders)
    try:
        first.hello(engine="e1", session="one")
        first.request(Submit(req=first.next_req(), order=make_order("m1")))
        assert isinstance(first.push().event, Fill)
        welcome = second.hello(engine="e1", session="two")
        assert not welcome.resumed
        assert welcome.seq >= 1  # the events already issued to engine e1
        reply = first.request(Ping(req=first.next_req(), ts=1))
        assert isinstance(reply, ErrorReply)
        assert reply.code is ErrorCode.NO_SESSION
        status = second.request(StatusQuery(req=second.next_req(), client_order_ids=("m1",)))
        assert isinstance(status, Ack)
        assert status.unknown == ()
        assert isinstance(status.events[0], Fill)
        assert isinstance(status.events[-1], OrderUpdate)
        again = first.hello(engine="e1", session="one")
        assert again.instance == welcome.instance
    finally:
        first.close()
        second.close()
