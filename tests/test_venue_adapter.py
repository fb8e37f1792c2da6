"""The ``venue`` broker adapter against a real venue process (and a scripted fake)."""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pykka
import pytest
import zmq
from test_venue import (
    START_NS,
    VenueProcess,
    free_ports,
    make_order,
    start_venue,
    write_venue_config,
)

from actors.brokers.base import AdapterEvent
from actors.brokers.venue import VenueAdapter
from runtime.config import VenueConfig
from runtime.messages import EngineFault, Fill, OrderStatus, OrderUpdate, RejectReason
from runtime.venue_protocol import (
    PROTOCOL_VERSION,
    Ack,
    ErrorCode,
    ErrorReply,
    EventPush,
    Hello,
    Ping,
    Pong,
    Reply,
    StatusQuery,
    Submit,
    Welcome,
    decode_request,
    encode,
)

HEARTBEAT_S = 0.1
TIMEOUT_S = 0.5


class Emitted:
    """The adapter's emit callback: records events, lets a test wait for them."""

    def __init__(self) -> None:
        self.events: list[AdapterEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: AdapterEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[list[AdapterEvent]], bool], timeout_s: float = 5.0
    ) -> list[AdapterEvent]:
        """Wait until ``predicate(events)`` holds; fail after ``timeout_s``."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.events), timeout_s):
                pytest.fail(f"not seen within {timeout_s}s; events: {self.events}")
            return list(self.events)

    def statuses(self, client_order_id: str) -> list[OrderStatus]:
        """Statuses reported for one order, in order."""
        with self._cond:
            return [
                e.status
                for e in self.events
                if isinstance(e, OrderUpdate) and e.client_order_id == client_order_id
            ]

    def wait_status(
        self, client_order_id: str, status: OrderStatus, timeout_s: float = 5.0
    ) -> OrderUpdate:
        """The first update of the order with ``status``."""
        events = self.wait_for(
            lambda es: any(_is(e, client_order_id, status) for e in es), timeout_s
        )
        return next(
            e for e in events if isinstance(e, OrderUpdate) and _is(e, client_order_id, status)
        )

    def faults(self) -> list[EngineFault]:
        """Faults reported so far."""
        with self._cond:
            return [e for e in self.events if isinstance(e, EngineFault)]


def _is(event: AdapterEvent, client_order_id: str, status: OrderStatus) -> bool:
    return (
        isinstance(event, OrderUpdate)
        and event.client_order_id == client_order_id
        and event.status is status
    )


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    """Poll a condition that has no event to wait on (``healthy()``) until a deadline."""
    deadline = time.monotonic() + timeout_s
    tick = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s}s")
        tick.wait(0.01)


AdapterFactory = Callable[..., tuple[VenueAdapter, Emitted]]


@pytest.fixture
def make_adapter() -> Iterator[AdapterFactory]:
    """Build bound adapters (fast heartbeats and timeouts); all closed after the test."""
    made: list[VenueAdapter] = []

    def make(orders: str, heartbeat_s: float = HEARTBEAT_S) -> tuple[VenueAdapter, Emitted]:
        config = VenueConfig(
            orders=orders,
            market_data="tcp://127.0.0.1:1",
            request_timeout_s=TIMEOUT_S,
            heartbeat_s=heartbeat_s,
        )
        adapter = VenueAdapter(engine="venue-a", config=config, clock=time.time_ns)
        emitted = Emitted()
        adapter.bind(emitted)
        made.append(adapter)
        return adapter, emitted

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[VenueProcess]:
    """A venue publishing SYN-A and SYN-B at 20 bars/s."""
    process = start_venue(write_venue_config(tmp_path / "venue.toml"))
    yield process
    process.proc.send_signal(signal.SIGCONT)
    process.kill()


def test_submit_returns_at_once_and_the_venue_events_arrive_through_emit(
    venue: VenueProcess, make_adapter: AdapterFactory
) -> None:
    adapter, emitted = make_adapter(venue.orders)
    wait_until(adapter.healthy, "healthy after HELLO")
    assert adapter.submit(make_order("m-1", quantity=50.0)) == ()
    filled = emitted.wait_status("m-1", OrderStatus.FILLED)
    assert emitted.statuses("m-1") == [OrderStatus.ACCEPTED, OrderStatus.FILLED]
    (fill,) = [e for e in emitted.events if isinstance(e, Fill)]
    assert (fill.quantity, fill.engine, filled.engine) == (50.0, "venue-a", "venue-a")
    assert fill.ts_event == filled.ts_event > START_NS
    assert adapter.working_orders() == ()
    assert emitted.faults() == []
    assert adapter.healthy()


def test_cancel_cancel_all_and_reconcile(venue: VenueProcess, make_adapter: AdapterFactory) -> None:
    adapter, emitted = make_adapter(venue.orders)
    for oid in ("l-1", "l-2", "l-3"):
        adapter.submit(make_order(oid, limit=1.0))  # far below the market: works until cancelled
    emitted.wait_status("l-3", OrderStatus.ACCEPTED)
    assert adapter.working_orders() == ("l-1", "l-2", "l-3")

    assert adapter.reconcile() == ()
    emitted.wait_for(lambda es: emitted.statuses("l-3").count(OrderStatus.ACCEPTED) == 2)
    assert adapter.working_orders() == ("l-1", "l-2", "l-3")

    assert adapter.cancel("l-1", START_NS) == ()
    emitted.wait_status("l-1", OrderStatus.CANCELLED)
    assert adapter.working_orders() == ("l-2", "l-3")

    assert adapter.cancel_all(START_NS, RejectReason.SHUTDOWN, "stopping") == ()
    last = emitted.wait_status("l-3", OrderStatus.CANCELLED)
    assert (last.reason, last.message) == (RejectReason.SHUTDOWN, "stopping")
    assert adapter.working_orders() == ()
    assert emitted.faults() == []


def test_a_hung_venue_turns_a_request_into_a_fault_and_its_order_unknown(
    venue: VenueProcess, make_adapter: AdapterFactory
) -> None:
    adapter, emitted = make_adapter(venue.orders)
    wait_until(adapter.healthy, "healthy after HELLO")
    venue.proc.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    adapter.submit(make_order("h-1", limit=1.0))
    assert time.monotonic() - started < 0.05  # the engine actor never waits for the venue
    unknown = emitted.wait_status("h-1", OrderStatus.UNKNOWN)
    assert "may or may not" in unknown.message
    assert any("unanswered" in f.error and "SUBMIT" in f.error for f in emitted.faults())
    assert not adapter.healthy()
    assert adapter.working_orders() == ("h-1",)  # left for reconciliation

    venue.proc.send_signal(signal.SIGCONT)
    emitted.wait_status("h-1", OrderStatus.ACCEPTED)  # the late answer settles it
    wait_until(adapter.healthy, "healthy again once the venue answers")
    assert adapter.working_orders() == ("h-1",)


def test_sigkill_with_a_request_pending_then_restart_on_the_same_ports(
    venue: VenueProcess, make_adapter: AdapterFactory
) -> None:
    # Slower heartbeats here: the venue is declared lost (3 periods) well after
    # k-1 has left, however loaded the machine, so k-1 is unanswered, not unsent.
    adapter, emitted = make_adapter(venue.orders, 0.6)
    adapter.submit(make_order("k-0", limit=1.0))
    emitted.wait_status("k-0", OrderStatus.ACCEPTED)
    venue.proc.send_signal(signal.SIGSTOP)
    adapter.submit(make_order("k-1", limit=1.0))  # sent, never answered
    venue.kill()

    wait_until(lambda: not adapter.healthy(), "unhealthy after SIGKILL")
    emitted.wait_status("k-1", OrderStatus.UNKNOWN)
    faults = emitted.wait_for(lambda es: len([e for e in es if isinstance(e, EngineFault)]) >= 2)
    errors = [e.error for e in faults if isinstance(e, EngineFault)]
    assert any("lost the venue" in e for e in errors), errors
    assert any("unanswered" in e for e in errors), errors
    assert set(adapter.working_orders()) == {"k-0", "k-1"}

    restarted = start_venue(venue.config)
    try:
        assert restarted.orders == venue.orders
        wait_until(adapter.healthy, "healthy after the venue restarted")
        # A new venue instance knows none of them: reconciled to UNKNOWN and forgotten.
        emitted.wait_for(lambda es: emitted.statuses("k-0")[-1:] == [OrderStatus.UNKNOWN])
        wait_until(lambda: adapter.working_orders() == (), "working orders reconciled")
        last = [e for e in emitted.events if isinstance(e, OrderUpdate)][-1]
        assert "no record" in last.message
        adapter.submit(make_order("k-2", quantity=10.0))
        emitted.wait_status("k-2", OrderStatus.FILLED)
    finally:
        restarted.kill()


def test_orders_that_cannot_be_sent_are_rejected_and_reported_as_faults(
    make_adapter: AdapterFactory,
) -> None:
    (port,) = free_ports(1)  # nobody listens there
    adapter, emitted = make_adapter(f"tcp://127.0.0.1:{port}")
    adapter.submit(make_order("u-1"))
    rejected = emitted.wait_status("u-1", OrderStatus.REJECTED)
    assert rejected.reason is RejectReason.ENGINE_ERROR
    assert "not sent" in rejected.message
    emitted.wait_for(lambda es: len([e for e in es if isinstance(e, EngineFault)]) >= 2)
    errors = sorted(f.error for f in emitted.faults())
    assert errors[0].startswith("0 request(s) unanswered and 1 unsent within 0.5s"), errors
    assert errors[1].startswith("cannot reach the venue"), errors
    assert not adapter.healthy()
    assert adapter.working_orders() == ()


def test_close_stops_the_io_thread_and_is_idempotent(make_adapter: AdapterFactory) -> None:
    (port,) = free_ports(1)
    adapter, _emitted = make_adapter(f"tcp://127.0.0.1:{port}")
    thread = next(t for t in threading.enumerate() if t.name == "tradepit-venue-venue-a")
    adapter.close()
    assert not thread.is_alive()
    adapter.close()
    assert adapter.submit(make_order("late")) == ()  # dropped with a warning, no error


# --- against a scripted fake venue ---------------------------------------------


class FakeVenue:
    """A ROUTER that answers like the venue, with hooks to script the unusual."""

    def __init__(self) -> None:
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind("tcp://127.0.0.1:0")
        endpoint = self._sock.getsockopt(zmq.LAST_ENDPOINT)
        assert isinstance(endpoint, bytes)
        self.endpoint = endpoint.decode()
        self.pushes: queue.SimpleQueue[EventPush] = queue.SimpleQueue()
        self.status_answer: tuple[OrderUpdate | Fill, ...] = ()
        self.refuse_submits = 0
        self.received: list[str] = []
        self._identity = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-venue")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._sock.poll(10):
                identity, *frames = self._sock.recv_multipart()
                request = decode_request(frames)
                self.received.append(request.KIND)
                reply = self._answer(request)
                self._sock.send_multipart([identity, *encode(reply)])
                self._identity = identity
            while self._identity and not self.pushes.empty():
                push = encode(self.pushes.get())
                self._sock.send_multipart([self._identity, *push])
        self._sock.close(linger=0)

    def _answer(self, request: object) -> Reply:
        if isinstance(request, Hello):
            return Welcome(
                req=request.req,
                version=PROTOCOL_VERSION,
                venue="fake",
                instance="i1",
                session=request.session,
                resumed=False,
                seq=0,
            )
        if isinstance(request, Ping):
            return Pong(req=request.req, ts=request.ts, venue_ts=0, instance="i1")
        if isinstance(request, Submit):
            if self.refuse_submits:
                self.refuse_submits -= 1
                return ErrorReply(req=request.req, code=ErrorCode.NO_SESSION, message="who?")
            return Ack(req=request.req, events=(accepted(request.order.client_order_id),))
        assert isinstance(request, StatusQuery)
        return Ack(req=request.req, events=self.status_answer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def accepted(client_order_id: str) -> OrderUpdate:
    """The ACCEPTED update the fake venue answers with."""
    order = make_order(client_order_id, quantity=3.0, limit=1.0)
    return OrderUpdate(
        id=1,
        ts_event=START_NS,
        ts_init=START_NS,
        client_order_id=order.client_order_id,
        strategy_id=order.strategy_id,
        symbol=order.symbol,
        side=order.side,
        status=OrderStatus.ACCEPTED,
        quantity=order.quantity,
        filled_quantity=0.0,
        avg_fill_price=None,
        reason=None,
        message="",
        engine="fake",
    )


def fill(n: int) -> Fill:
    """The ``n``-th fill of one unit of order ``f-1``."""
    return Fill(
        id=n,
        ts_event=START_NS + n,
        ts_init=START_NS,
        fill_id=f"fake-{n}",
        client_order_id="f-1",
        strategy_id="strat",
        symbol="SYN-A",
        side=accepted("f-1").side,
        quantity=1.0,
        price=1.0,
        commission=0.0,
        slippage=0.0,
        engine="fake",
    )


@pytest.fixture
def fake() -> Iterator[FakeVenue]:
    """A scripted fake venue."""
    venue = FakeVenue()
    yield venue
    venue.close()


def test_a_gap_in_event_sequence_reconciles_and_emits_each_missed_fill_once(
    fake: FakeVenue, make_adapter: AdapterFactory
) -> None:
    adapter, emitted = make_adapter(fake.endpoint)
    adapter.submit(make_order("f-1", quantity=3.0, limit=1.0))
    emitted.wait_status("f-1", OrderStatus.ACCEPTED)
    partial = replace(accepted("f-1"), status=OrderStatus.PARTIALLY_FILLED)
    fake.status_answer = (fill(1), fill(2), fill(3), replace(partial, filled_quantity=3.0))
    fake.pushes.put(EventPush(seq=1, event=fill(1)))
    fake.pushes.put(EventPush(seq=3, event=fill(3)))  # seq 2 (fill 2) never arrives
    emitted.wait_for(lambda es: any(isinstance(e, Fill) and e.fill_id == "fake-2" for e in es))
    update = emitted.wait_status("f-1", OrderStatus.PARTIALLY_FILLED)
    fills = [e.fill_id for e in emitted.events if isinstance(e, Fill)]
    assert fills == ["fake-1", "fake-3", "fake-2"]
    assert update.filled_quantity == 3.0
    assert "STATUS" in fake.received
    assert adapter.working_orders() == ("f-1",)


def test_a_request_refused_for_lack_of_session_is_sent_again_after_a_new_hello(
    fake: FakeVenue, make_adapter: AdapterFactory
) -> None:
    fake.refuse_submits = 1
    adapter, emitted = make_adapter(fake.endpoint)
    wait_until(adapter.healthy, "healthy after HELLO")
    adapter.submit(make_order("r-1", limit=1.0))
    emitted.wait_status("r-1", OrderStatus.ACCEPTED)
    kinds = [k for k in fake.received if k != "PING"]
    assert kinds == ["HELLO", "SUBMIT", "HELLO", "SUBMIT"]
    assert emitted.faults() == []


def test_events_refused_by_a_dead_engine_actor_go_to_the_one_that_binds_next(
    fake: FakeVenue,
) -> None:
    config = VenueConfig(
        orders=fake.endpoint,
        market_data="tcp://127.0.0.1:1",
        request_timeout_s=TIMEOUT_S,
        heartbeat_s=HEARTBEAT_S,
    )
    adapter = VenueAdapter(engine="venue-a", config=config, clock=time.time_ns)
    refused = threading.Event()

    def dead_actor(event: AdapterEvent) -> None:
        refused.set()
        raise pykka.ActorDeadError("engine actor is gone")

    try:
        adapter.bind(dead_actor)
        adapter.submit(make_order("d-1", limit=1.0))
        adapter.submit(make_order("d-2", limit=1.0))
        assert refused.wait(5)
        wait_until(lambda: adapter.working_orders() == ("d-1", "d-2"), "both accepted")
        replacement = Emitted()
        adapter.bind(replacement)
        replacement.wait_status("d-2", OrderStatus.ACCEPTED)
        assert replacement.statuses("d-1") == [OrderStatus.ACCEPTED]
        assert [e.client_order_id for e in replacement.events if isinstance(e, OrderUpdate)] == [
            "d-1",
            "d-2",
        ]
    finally:
        adapter.close()
