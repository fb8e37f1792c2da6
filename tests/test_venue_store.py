"""The durable venue: ``[venue] state``, its SQLite file, a restart that forgets nothing.

The venues here run in-process (a :class:`Venue` serving in a thread, on
ephemeral ports) so that a test can stop one and build the next on the same
state file; the exit code of ``tradepit venue`` is checked on the real process.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import zmq
from test_venue import REPO, START_NS, RawClient, make_order

from runtime.config import PaperConfig
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
from runtime.venue import Venue, VenueSettings, parse_venue_settings
from runtime.venue_protocol import (
    Ack,
    Cancel,
    CancelAllOrders,
    EndOfData,
    PositionReport,
    PositionsQuery,
    StatusQuery,
    Submit,
    decode_market,
)
from runtime.venue_store import VenueStateError, open_venue_store, read_venue_state

STATE = "state/venue.db"


def venue_settings(folder: Path, *, state: str | None = STATE, bars: int = 400) -> VenueSettings:
    """SYN-A one-minute bars at 20 bars/s, held until someone subscribes; ephemeral ports."""
    state_line = "" if state is None else f'state = "{state}"'
    text = f"""
[venue]
name = "sim"
orders = "tcp://127.0.0.1:0"
market_data = "tcp://127.0.0.1:0"
log_level = "WARNING"
wait_for_subscriber = true
{state_line}
[venue.feed]
interval_s = 60
speed = 1200.0
[venue.feed.synthetic]
symbols = ["SYN-A"]
bars = {bars}
[venue.matching]
max_volume_share = 0.1
"""
    return parse_venue_settings(text, source="venue.toml", base_dir=folder)


@dataclasses.dataclass
class Serving:
    """A venue serving in a thread, and its endpoints."""

    venue: Venue
    orders: str
    market_data: str


@contextmanager
def serving(settings: VenueSettings) -> Iterator[Serving]:
    """Run a :class:`Venue` in a thread until the block ends; then stop and close it."""
    venue = Venue(settings)
    orders, md = venue.bind()
    stop = threading.Event()
    thread = threading.Thread(target=venue.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        yield Serving(venue, orders, md)
    finally:
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive()
        venue.close()


class Tape:
    """A market-data subscriber (subscribing starts a ``wait_for_subscriber`` replay)."""

    def __init__(self, endpoint: str) -> None:
        self.sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(endpoint)

    def bar(self, timeout_s: float = 5.0) -> Bar:
        """The next bar published."""
        while True:
            if not self.sock.poll(int(timeout_s * 1000)):
                pytest.fail(f"no bar within {timeout_s}s")
            item = decode_market(self.sock.recv_multipart())
            if not isinstance(item, EndOfData):
                assert isinstance(item, Bar)
                return item

    def close(self) -> None:
        """Close the socket."""
        self.sock.close(linger=0)


def submit(client: RawClient, order: Order) -> OrderUpdate:
    """Submit and return the one update of the ACK."""
    ack = client.request(Submit(req=client.next_req(), order=order))
    assert isinstance(ack, Ack), ack
    (update,) = ack.events
    assert isinstance(update, OrderUpdate)
    return update


def pushed_until(
    client: RawClient, done: Callable[[list[OrderUpdate | Fill]], bool]
) -> list[OrderUpdate | Fill]:
    """Pushed events, read until ``done(events)``."""
    events: list[OrderUpdate | Fill] = []
    while not done(events):
        events.append(client.push().event)
    return events


def partial_fills(events: list[OrderUpdate | Fill], oid: str) -> int:
    """PARTIALLY_FILLED updates of ``oid`` among ``events``."""
    return sum(
        1
        for e in events
        if isinstance(e, OrderUpdate)
        and e.client_order_id == oid
        and e.status is OrderStatus.PARTIALLY_FILLED
    )


# --- the matcher's restore API ------------------------------------------------------


def _bar(minute: int, o: float, h: float, low: float, volume: float = 1000.0) -> Bar:
    ts = START_NS + minute * 60_000_000_000
    return Bar(
        id=minute,
        ts_event=ts,
        ts_init=ts,
        symbol="SYN-A",
        open=o,
        high=h,
        low=low,
        close=o,
        volume=volume,
        interval_s=60,
    )


def _stop_limit(oid: str) -> Order:
    return dataclasses.replace(
        make_order(oid, quantity=10.0),
        order_type=OrderType.STOP_LIMIT,
        stop_price=100.5,
        limit_price=99.0,
        time_in_force=TimeInForce.GTC,
    )


def _execution(event: OrderUpdate | Fill) -> tuple[object, ...]:
    if isinstance(event, Fill):
        return ("fill", event.client_order_id, event.quantity, event.price, event.commission)
    return ("update", event.client_order_id, event.status, event.filled_quantity)


def test_a_restored_order_matches_on_exactly_like_one_that_never_stopped() -> None:
    config = PaperConfig(max_volume_share=0.1)
    first = MatchingEngine(config, engine="a")
    big, stop = make_order("big", quantity=250.0), _stop_limit("stop")
    first.submit(big)
    first.submit(stop)
    # Bar 1: 100 of the 250 fill; the stop triggers at 100.5 but its limit 99 is not reached.
    events = first.on_bar(_bar(1, 100.0, 101.0, 99.5))
    last = [e for e in events if isinstance(e, OrderUpdate)][-1]
    assert (last.status, last.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 100.0)
    assert first.triggered("stop") is True

    again = MatchingEngine(config, engine="b")
    again.restore(big, filled_quantity=last.filled_quantity, avg_fill_price=last.avg_fill_price)
    again.restore(stop, triggered=True)
    again.restore_submitted(["ended-before"])
    untriggered = MatchingEngine(config, engine="c")
    untriggered.restore(stop)

    # Bar 2 stays below the stop: only a triggered stop fills (at its limit).
    bar2 = _bar(2, 99.2, 99.5, 98.9, volume=10_000.0)
    expected = [_execution(e) for e in first.on_bar(bar2)]
    assert [_execution(e) for e in again.on_bar(bar2)] == expected
    assert ("fill", "stop", 10.0, 99.0, 0.0) in expected
    assert untriggered.on_bar(bar2) == []
    assert again.working_orders() == first.working_orders() == ()

    for oid in ("big", "stop", "ended-before"):
        (refused,) = again.submit(make_order(oid))
        assert refused.reason is RejectReason.DUPLICATE_ORDER
    with pytest.raises(ValueError, match="already submitted"):
        again.restore(make_order("ended-before"))
    with pytest.raises(ValueError, match="filled_quantity"):
        again.restore(make_order("over"), filled_quantity=100.0, avg_fill_price=1.0)


# --- restart --------------------------------------------------------------------------


def test_a_restarted_venue_keeps_orders_fills_and_submits_and_resumes_the_replay(
    tmp_path: Path,
) -> None:
    settings = venue_settings(tmp_path)
    path = tmp_path / STATE
    assert settings.state == path
    with serving(settings) as first:
        client = RawClient(first.orders)
        first_instance = client.hello("e1", "s1").instance
        assert submit(client, make_order("big", quantity=1e6)).status is OrderStatus.ACCEPTED
        assert submit(client, make_order("far", limit=1.0)).status is OrderStatus.ACCEPTED
        bad = submit(client, make_order("bad", quantity=-5.0))
        assert bad.reason is RejectReason.INVALID_ORDER
        assert submit(client, make_order("gone", limit=1.0)).status is OrderStatus.ACCEPTED
        cancel = Cancel(req=client.next_req(), client_order_id="gone", ts_event=START_NS)
        assert isinstance(client.request(cancel), Ack)
        assert submit(client, make_order("far", limit=1.0)).reason is RejectReason.DUPLICATE_ORDER
        tape = Tape(first.market_data)
        seen = pushed_until(client, lambda es: partial_fills(es, "big") >= 2)
        live = read_venue_state(path)  # while the venue runs
        tape.close()
        client.close()
    assert {f.fill_id for f in seen if isinstance(f, Fill)} <= {f.fill_id for f in live.fills}
    assert live.submits == {"big": 1, "far": 2, "bad": 1, "gone": 1}

    before = read_venue_state(path)
    statuses = {oid: u.status for oid, u in before.orders.items()}
    assert statuses == {
        "big": OrderStatus.PARTIALLY_FILLED,
        "far": OrderStatus.ACCEPTED,
        "bad": OrderStatus.REJECTED,
        "gone": OrderStatus.CANCELLED,
    }
    assert before.submits == {"big": 1, "far": 2, "bad": 1, "gone": 1}
    filled = before.orders["big"].filled_quantity
    assert filled == pytest.approx(sum(f.quantity for f in before.fills))
    assert before.positions == {("e1", "SYN-A"): pytest.approx(filled)}
    assert all(f.engine == "e1" for f in before.fills)
    assert before.bars == before.published >= 2
    data = list(market_data(settings.feed))

    with serving(settings) as second:
        client = RawClient(second.orders)
        welcome = client.hello("e1", "s2")
        assert welcome.instance != first_instance
        asked = ("big", "far", "gone", "bad", "never")
        status = client.request(StatusQuery(req=client.next_req(), client_order_ids=asked))
        assert isinstance(status, Ack)
        assert status.unknown == ("never",)
        fills = [e for e in status.events if isinstance(e, Fill)]
        assert [f.fill_id for f in fills] == [f.fill_id for f in before.fills]
        lasts = {e.client_order_id: e for e in status.events if isinstance(e, OrderUpdate)}
        assert {oid: u.status for oid, u in lasts.items()} == statuses
        assert lasts["big"].filled_quantity == filled

        dup = submit(client, make_order("far", limit=1.0))
        assert dup.reason is RejectReason.DUPLICATE_ORDER
        report = client.request(PositionsQuery(req=client.next_req()))
        assert isinstance(report, PositionReport)
        assert report.positions == {"SYN-A": pytest.approx(filled)}

        tape = Tape(second.market_data)
        resumed, expected = tape.bar(), data[before.published]
        assert isinstance(expected, Bar)
        assert (resumed.ts_event, resumed.open) == (expected.ts_event, expected.open)
        fill, update = pushed_until(client, lambda es: len(es) == 2)
        assert isinstance(fill, Fill)
        assert fill.fill_id.startswith(f"sim-{welcome.instance}-")
        assert fill.ts_event == resumed.ts_event  # the restored order matched the first bar
        assert isinstance(update, OrderUpdate)
        assert update.filled_quantity == pytest.approx(filled + fill.quantity)
        cancel_all = CancelAllOrders(
            req=client.next_req(), ts_event=START_NS, reason=RejectReason.SHUTDOWN, message="bye"
        )
        cancelled = client.request(cancel_all)
        assert isinstance(cancelled, Ack)
        assert [e.client_order_id for e in cancelled.events] == ["big", "far"]
        tape.close()
        client.close()

    after = read_venue_state(path)
    assert after.submits == {"big": 1, "far": 3, "bad": 1, "gone": 1}
    assert after.orders["far"].status is OrderStatus.CANCELLED
    assert after.orders["big"].status is OrderStatus.CANCELLED
    assert len(after.fills) > len(before.fills)
    assert after.published > before.published


def test_read_venue_state_sees_a_submit_while_the_venue_runs(tmp_path: Path) -> None:
    settings = venue_settings(tmp_path)
    with serving(settings) as running:
        client = RawClient(running.orders)
        client.hello("e1", "s1")
        submit(client, make_order("o-1", limit=1.0, side=Side.BUY))
        state = read_venue_state(tmp_path / STATE)
        client.close()
    assert state.submits == {"o-1": 1}
    assert state.orders["o-1"].status is OrderStatus.ACCEPTED
    assert state.orders["o-1"].engine == "e1"
    assert (state.fills, state.positions, state.published) == ((), {}, 0)


def test_without_a_state_key_the_venue_writes_no_file(tmp_path: Path) -> None:
    settings = venue_settings(tmp_path, state=None)
    assert settings.state is None
    with serving(settings) as running:
        client = RawClient(running.orders)
        client.hello("e1", "s1")
        submit(client, make_order("o-1", limit=1.0))
        client.close()
    assert list(tmp_path.iterdir()) == []


def test_an_empty_state_path_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"venue\.state: expected a non-empty"):
        venue_settings(tmp_path, state="")
    (tmp_path / "folder").mkdir()
    with pytest.raises(SettingsError, match=r"venue\.state: .*exists and is not a file"):
        venue_settings(tmp_path, state="folder")


# --- files that cannot be trusted ---------------------------------------------------


def _written_state(folder: Path) -> Path:
    """A real state file with a few hundred orders (several pages), closed cleanly."""
    path = folder / STATE
    store = open_venue_store(path)
    for i in range(300):
        order = make_order(f"o-{i}", limit=1.0)
        update = MatchingEngine(PaperConfig(), engine="x").submit(order)[0]
        store.record_submit("e1", order, update, taken=True)
    store.close()
    return path


def _sqlite_without_our_id(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2 + 100]), "truncated"),
        (
            lambda p: p.write_bytes(
                p.read_bytes()[:4096] + b"\xa5" * 8192 + p.read_bytes()[12288:]
            ),
            "malformed|integrity",
        ),
        (lambda p: p.write_text("order o-1 accepted\n" * 500), "not an SQLite database"),
        (_sqlite_without_our_id, "not a venue state file"),
    ],
    ids=["empty", "truncated", "garbled", "text", "other-sqlite"],
)
def test_a_state_file_that_cannot_be_trusted_is_refused_naming_it(
    tmp_path: Path, damage: Callable[[Path], None], problem: str
) -> None:
    path = _written_state(tmp_path)
    assert len(read_venue_state(path).orders) == 300
    damage(path)
    settings = venue_settings(tmp_path)
    with pytest.raises(VenueStateError, match=problem) as caught:
        Venue(settings)
    assert str(path) in str(caught.value)
    with pytest.raises(VenueStateError, match=problem):
        read_venue_state(path)


def test_tradepit_venue_exits_2_on_a_truncated_state_file(tmp_path: Path) -> None:
    path = _written_state(tmp_path)
    path.write_bytes(path.read_bytes()[:5000])
    config = tmp_path / "venue.toml"
    config.write_text(
        f'[venue]\norders = "tcp://127.0.0.1:0"\nmarket_data = "tcp://127.0.0.1:0"\n'
        f'state = "{STATE}"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "venue", "--config", str(config)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"tradepit: {config}: venue state {path}: ")
    assert "truncated" in line
