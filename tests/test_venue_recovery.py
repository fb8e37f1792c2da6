"""Adapter recovery hooks: ``recover`` and ``positions`` against a real venue (and paper)."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from test_venue import RawClient, free_ports, make_order
from test_venue_adapter import HEARTBEAT_S, TIMEOUT_S, AdapterFactory, Emitted
from test_venue_store import Tape, serving, venue_settings

from actors.brokers.paper import PaperAdapter
from actors.brokers.venue import VenueAdapter
from runtime.config import PaperConfig, VenueConfig
from runtime.messages import (
    EngineFault,
    Fill,
    OrderStatus,
    OrderToRecover,
    OrderUpdate,
    RejectReason,
    Side,
)
from runtime.venue_protocol import (
    Ack,
    ErrorCode,
    ErrorReply,
    PositionReport,
    PositionsQuery,
    StatusQuery,
)

ENGINE = "venue-a"
"""The engine of every adapter here (one runtime's engine, before and after its crash)."""


@pytest.fixture
def adapters() -> Iterator[AdapterFactory]:
    """Bound venue adapters of engine :data:`ENGINE`; all closed after the test."""
    made: list[VenueAdapter] = []

    def make(orders: str) -> tuple[VenueAdapter, Emitted]:
        config = VenueConfig(
            orders=orders,
            market_data="tcp://127.0.0.1:1",
            request_timeout_s=TIMEOUT_S,
            heartbeat_s=HEARTBEAT_S,
        )
        adapter = VenueAdapter(engine=ENGINE, config=config, clock=time.time_ns)
        emitted = Emitted()
        adapter.bind(emitted)
        made.append(adapter)
        return adapter, emitted

    yield make
    for adapter in made:
        adapter.close()


def _lost(update: OrderUpdate) -> OrderUpdate:
    """The journal's view of an order after a crash: its last update, status UNKNOWN."""
    return replace(update, status=OrderStatus.UNKNOWN)


def _filled(events: list[OrderUpdate | Fill]) -> bool:
    last = events[-1] if events else None
    return isinstance(last, OrderUpdate) and last.status is OrderStatus.FILLED


def test_recover_emits_the_missed_fills_once_then_each_current_update(
    tmp_path: Path, adapters: AdapterFactory
) -> None:
    with serving(venue_settings(tmp_path, state=None)) as venue:
        before, emitted = adapters(venue.orders)
        before.submit(make_order("big", quantity=2500.0))  # ~10% of a bar's volume: 3 fills
        before.submit(make_order("rest", limit=1.0))  # never fills
        accepted = {oid: emitted.wait_status(oid, OrderStatus.ACCEPTED) for oid in ("big", "rest")}
        before.close()  # the runtime is down from here on

        # Someone else holds the engine's session while the bars fill the order.
        watcher = RawClient(venue.orders)
        watcher.hello(ENGINE, "watcher")
        tape = Tape(venue.market_data)
        pushed: list[OrderUpdate | Fill] = []
        while not _filled(pushed):
            pushed.append(watcher.push().event)
        watcher.close()
        venue_fills = [e for e in pushed if isinstance(e, Fill)]
        assert len(venue_fills) == 3
        # The journal got the first fill (and its update) before the crash.
        journal_update = next(e for e in pushed if isinstance(e, OrderUpdate))
        assert journal_update.status is OrderStatus.PARTIALLY_FILLED

        after, recovered = adapters(venue.orders)
        orders = [
            OrderToRecover(update=_lost(journal_update), fill_ids=(venue_fills[0].fill_id,)),
            OrderToRecover(update=_lost(accepted["rest"]), fill_ids=()),
            OrderToRecover(update=_lost(replace(accepted["rest"], client_order_id="never")),
                           fill_ids=()),
        ]  # fmt: skip
        future = after.recover(orders)
        assert set(after.working_orders()) == {"big", "rest", "never"}
        handed_before_result: list[int] = []
        future.add_done_callback(lambda _f: handed_before_result.append(len(recovered.events)))
        assert future.result(timeout=5) == ("never",)

        events = [e for e in recovered.events if not isinstance(e, EngineFault)]
        assert handed_before_result == [len(recovered.events)] == [len(events)]
        fills = [e for e in events if isinstance(e, Fill)]
        assert [f.fill_id for f in fills] == [f.fill_id for f in venue_fills[1:]]
        assert all(f.engine == ENGINE for f in fills)
        updates = {e.client_order_id: e for e in events if isinstance(e, OrderUpdate)}
        assert set(updates) == {"big", "rest"}  # nothing for the id the venue never saw
        assert (updates["big"].status, updates["big"].filled_quantity) == (
            OrderStatus.FILLED,
            2500.0,
        )
        assert updates["rest"].status is OrderStatus.ACCEPTED
        last_fill = events.index(fills[-1])
        assert events.index(updates["big"]) > last_fill  # fills first, then the update
        assert after.working_orders() == ("rest",)

        # The adopted working order is the adapter's own now: later answers reach it.
        after.cancel("rest", time.time_ns())
        recovered.wait_status("rest", OrderStatus.CANCELLED)
        assert after.working_orders() == ()
        tape.close()


def test_recover_fails_with_timeout_error_when_no_venue_answers(
    adapters: AdapterFactory,
) -> None:
    (port,) = free_ports(1)
    adapter, emitted = adapters(f"tcp://127.0.0.1:{port}")
    update = _lost(
        OrderUpdate(
            id=1,
            ts_event=1,
            ts_init=1,
            client_order_id="o-1",
            strategy_id="s",
            symbol="SYN-A",
            side=Side.BUY,
            status=OrderStatus.ACCEPTED,
            quantity=1.0,
            filled_quantity=0.0,
            avg_fill_price=None,
            reason=None,
            message="",
            engine=ENGINE,
        )
    )
    future = adapter.recover([OrderToRecover(update=update, fill_ids=())])
    positions = adapter.positions()
    for asked in (future, positions):
        assert isinstance(asked.exception(timeout=5), TimeoutError)
    assert adapter.working_orders() == ("o-1",)  # still unresolved, still watched
    assert not [e for e in emitted.events if isinstance(e, OrderUpdate)]
    assert adapter.recover([]).result(timeout=0) == ()


def test_positions_are_the_net_fills_of_the_asking_engine_only(
    tmp_path: Path, adapters: AdapterFactory
) -> None:
    with serving(venue_settings(tmp_path)) as venue:
        adapter, emitted = adapters(venue.orders)
        assert adapter.positions().result(timeout=5) == {}
        adapter.submit(make_order("buy", quantity=100.0))
        adapter.submit(make_order("sell", quantity=30.0, side=Side.SELL))
        emitted.wait_status("sell", OrderStatus.ACCEPTED)
        tape = Tape(venue.market_data)
        for oid in ("buy", "sell"):
            emitted.wait_status(oid, OrderStatus.FILLED)
        assert adapter.positions().result(timeout=5) == {"SYN-A": 70.0}

        other = RawClient(venue.orders)
        other.hello("someone-else", "s")
        asked = PositionsQuery(req=other.next_req())
        assert other.request(asked) == PositionReport(req=asked.req, positions={})
        for frames, code in (
            ([b"POSITIONS", b'{"req": 90, "engine": "venue-a"}'], ErrorCode.BAD_REQUEST),
            ([b"POSITIONS", b'{"req": 91}', b"{}"], ErrorCode.BAD_FRAMES),
            ([b"POSITIONS", b"{}"], ErrorCode.BAD_REQUEST),
        ):
            other.sock.send_multipart(frames)
            refused = other.reply()
            assert isinstance(refused, ErrorReply), frames
            assert refused.code is code, (frames, refused)
        still = other.request(StatusQuery(req=other.next_req(), client_order_ids=("buy",)))
        assert isinstance(still, Ack)
        assert still.unknown == ("buy",)  # another engine's order
        other.close()
        tape.close()


def test_paper_recover_answers_every_order_it_does_not_hold_as_unknown() -> None:
    paper = PaperAdapter(engine="paper", config=PaperConfig(), clock=time.time_ns)
    (accepted,) = paper.submit(make_order("working", limit=1.0))
    assert isinstance(accepted, OrderUpdate)
    orders = [
        OrderToRecover(update=_lost(replace(accepted, client_order_id=oid)), fill_ids=("f-1",))
        for oid in ("a", "working", "b")
    ]
    future: concurrent.futures.Future[tuple[str, ...]] = paper.recover(orders)
    assert future.done()
    assert future.result() == ("a", "b")
    assert paper.positions() is None
    (refused,) = paper.submit(make_order("working", limit=1.0))
    assert isinstance(refused, OrderUpdate)
    assert refused.reason is RejectReason.DUPLICATE_ORDER  # untouched by recover
