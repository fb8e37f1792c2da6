"""Strategies added, removed and restarted while the runtime trades, and the rest of the
operator API of :class:`Runtime` (manual orders, positions, status, strategies).

Real runtimes from settings text; market data is injected bar by bar (a synthetic
feed running on its own in one test), and every check waits on ``settle`` or an
event, never on time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import support
from actors.supervisor import ChildState
from runtime._tables import Table
from runtime.boot import RemovePolicy, Runtime, RuntimeStatus, StrategyView
from runtime.config import StrategyConfig
from runtime.errors import OrderError, StartupError
from runtime.ledger import Ledger
from runtime.messages import (
    ActorRestarted,
    Bar,
    Fill,
    GetSnapshot,
    LossLimitBreached,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RejectReason,
    RuntimeState,
    Side,
    StrategyQuarantined,
    StrategyRemoved,
    StrategyStarted,
    StrategyStopped,
    TimeInForce,
)
from runtime.names import FEED, PORTFOLIO, RISK, strategy_actor
from runtime.pnl_guard import LossGuard
from runtime.settings import import_strategy, load_settings, read_strategy
from strategies.base import Strategy
from support import Recorder, make_bar

BASE = """
[runtime]
log_level = "ERROR"
shutdown_timeout_s = 5.0
[feed.synthetic]
symbols = ["AAA", "BBB"]
bars = 0
[risk]
max_order_quantity = 100
{risk}
[[strategies]]
id = "base"
class = "support:BuyEveryBar"
symbols = ["AAA"]
[strategies.params]
quantity = 5
"""


class Remembers(Strategy):
    """Buys 2 at market and rests a bid of 1 at 50, once: only while it holds nothing
    and has nothing open. Records what each instance knew when it started."""

    started: ClassVar[list[tuple[float, int]]] = []

    def on_start(self) -> None:
        Remembers.started.append((self.position("AAA"), len(self.open_orders())))

    def on_bar(self, bar: Bar) -> None:
        if self.position("AAA") == 0 and not self.open_orders():
            self.buy("AAA", 2)
            self.buy("AAA", 1, limit=50.0)


class BidsThenFailsOnce(Strategy):
    """On its first bar ever: rests a bid of 1 at 50, then raises (once per test)."""

    failed: ClassVar[bool] = False
    started: ClassVar[list[tuple[str, ...]]] = []

    def on_start(self) -> None:
        BidsThenFailsOnce.started.append(self.open_orders())

    def on_bar(self, bar: Bar) -> None:
        if not BidsThenFailsOnce.failed:
            BidsThenFailsOnce.failed = True
            self.buy("AAA", 1, limit=50.0)
            raise RuntimeError("deliberate failure after bidding")


@pytest.fixture
def make_runtime(
    write_settings: Callable[[str], Path],
) -> Iterator[Callable[..., tuple[Runtime, Recorder]]]:
    """Start a runtime on BASE (+ extra text) with injected data; stopped at the end."""
    started: list[Runtime] = []

    def make(extra: str = "", risk: str = "") -> tuple[Runtime, Recorder]:
        recorder = Recorder()
        settings = load_settings(write_settings(BASE.format(risk=risk) + extra))
        runtime = Runtime(settings, listeners=[recorder], source=iter(()))
        runtime.start()
        started.append(runtime)
        return runtime, recorder

    yield make
    for runtime in started:
        summary = runtime.stop()
        assert summary.stuck_threads == ()


def _config(runtime: Runtime, strategy_id: str, class_path: str, **keys: Any) -> StrategyConfig:
    """An ``add_strategy`` request read as the gateway reads it."""
    s = runtime.settings
    table = Table(
        "add_strategy", "", {"id": strategy_id, "class": class_path, "symbols": ["AAA"], **keys}
    )
    return read_strategy(
        table, feed=s.feed, global_risk=s.risk, supervision=s.supervision, load=import_strategy
    )


def _bars(runtime: Runtime, first: int, count: int = 1, symbol: str = "AAA") -> None:
    """Bars ``first``.. of ``symbol``, each settled (the orders it caused reach the
    engine before the next bar, which fills them at its open)."""
    for i in range(first, first + count):
        runtime.inject(make_bar(i, symbol))
        runtime.settle()


def _bar_at(i: int, close: float) -> Bar:
    return Bar(
        id=i,
        ts_event=(1_700_000_000 + 60 * i) * 10**9,
        ts_init=0,
        symbol="AAA",
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1e6,
        interval_s=60,
    )


def _of(recorder: Recorder, strategy_id: str) -> list[OrderUpdate]:
    return [u for u in recorder.of(OrderUpdate) if u.strategy_id == strategy_id]


def _fills(recorder: Recorder, strategy_id: str) -> list[tuple[str, float]]:
    return [(f.side.value, f.quantity) for f in recorder.of(Fill) if f.strategy_id == strategy_id]


def _final(recorder: Recorder, client_order_id: str) -> OrderStatus:
    updates = [u for u in recorder.of(OrderUpdate) if u.client_order_id == client_order_id]
    return updates[-1].status


# --- adding ------------------------------------------------------------------------------


def test_a_strategy_added_while_trading_gets_bars_after_its_start_and_its_orders_fill(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    runtime, recorder = make_runtime()
    _bars(runtime, 0)
    view = runtime.add_strategy(_config(runtime, "late", "support:BuyOnce", params={"quantity": 3}))
    _bars(runtime, 1, 2)
    stats = runtime.ask(strategy_actor("late"), GetSnapshot())
    assert view == StrategyView(
        id="late",
        class_path="support:BuyOnce",
        symbols=("AAA",),
        params={"quantity": 3.0},
        state="running",
        paused=False,
        failures=0,
        restarts=0,
        last_error="",
    )
    assert stats.bars == 2, "the bars after it was added, none before"
    assert _fills(recorder, "late") == [("BUY", 3.0)]
    started = [e.strategy_id for e in recorder.of(StrategyStarted)]
    assert started == ["base", "late"]
    assert _fills(recorder, "base") == [("BUY", 5.0), ("BUY", 5.0)], "base kept trading"
    assert [v.id for v in runtime.strategies()] == ["base", "late"]


def test_a_strategy_added_while_a_free_running_feed_publishes_trades(
    write_settings: Callable[[str], Path],
) -> None:
    text = BASE.format(risk="").replace("bars = 0", "bars = 300\n[feed]\nspeed = 6000.0")
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder])
    runtime.start()
    try:
        recorder.wait_for(Fill)  # base is trading: the feed is under way
        runtime.add_strategy(_config(runtime, "late", "support:BuyOnce", symbols=["AAA"]))
        assert runtime.finished.wait(60), "the data did not end"
        runtime.settle()
        late = runtime.ask(strategy_actor("late"), GetSnapshot())
        published, _ticks = runtime.ask(FEED, GetSnapshot())
    finally:
        runtime.stop()
    assert published == 600, "300 bars of each symbol"
    assert 0 < late.bars < 300
    assert _fills(recorder, "late") == [("BUY", 1.0)]


def test_adding_an_existing_id_is_refused_and_changes_nothing(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    runtime, _recorder = make_runtime()
    before = (runtime.strategies(), runtime.actors())
    with pytest.raises(ValueError, match=r"strategy id 'base' already exists"):
        runtime.add_strategy(_config(runtime, "base", "support:BuyOnce"))
    assert (runtime.strategies(), runtime.actors()) == before


def test_a_strategy_whose_on_start_raises_leaves_nothing_behind(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    runtime, recorder = make_runtime()
    names_before, actors_before = runtime.directory.names(), runtime.actors()
    with pytest.raises(StartupError, match=r"strategy\.broken \(strategy\) failed to start"):
        runtime.add_strategy(
            _config(runtime, "broken", "support:FailsToStart", risk={"max_order_quantity": 1})
        )
    assert runtime.directory.names() == names_before
    assert runtime.actors() == actors_before
    assert [v.id for v in runtime.strategies()] == ["base"]
    assert runtime.state is RuntimeState.RUNNING
    _bars(runtime, 0, 2)
    assert _fills(recorder, "base") == [("BUY", 5.0)], "the others still trade"
    # Its id was never taken: a working strategy may have it now.
    runtime.add_strategy(_config(runtime, "broken", "support:BuyOnce", params={"quantity": 4}))
    _bars(runtime, 2, 2)
    assert _fills(recorder, "broken") == [("BUY", 4.0)], "the failed add's limit was undone"


def test_an_added_strategy_has_its_own_risk_limits(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    runtime, recorder = make_runtime()
    runtime.add_strategy(
        _config(
            runtime,
            "capped",
            "support:BuyEveryBar",
            params={"quantity": 5},
            risk={"max_order_quantity": 2},
        )
    )
    _bars(runtime, 0, 2)
    refused = [u for u in _of(recorder, "capped") if u.status is OrderStatus.REJECTED]
    assert [u.reason for u in refused] == [RejectReason.MAX_ORDER_QUANTITY] * 2
    assert "exceeds max_order_quantity 2" in refused[0].message
    assert _fills(recorder, "base") == [("BUY", 5.0)], "the same quantity passes for base"
    # Removed and added again without limits of its own: [risk] applies (100).
    runtime.remove_strategy("capped")
    runtime.add_strategy(_config(runtime, "capped", "support:BuyEveryBar", params={"quantity": 5}))
    _bars(runtime, 2, 2)
    assert _fills(recorder, "capped") == [("BUY", 5.0)]


def test_an_added_strategy_keeps_its_data_and_limits_across_core_restarts(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    runtime, recorder = make_runtime()
    runtime.add_strategy(
        _config(
            runtime,
            "risky",
            "support:BuyOnce",
            params={"quantity": 10},
            risk={"max_order_quantity": 10, "daily_loss_limit": 50},
        )
    )
    for name in (FEED, RISK, PORTFOLIO):
        runtime.crash(name)
    restarted = recorder.wait_for(ActorRestarted, 3)
    runtime.inject(_bar_at(0, 100.0))  # it buys 10 at market
    runtime.settle()
    runtime.inject(_bar_at(1, 100.0))  # filled at 100
    runtime.settle()
    # Its own max_order_quantity (10, [risk] has 100) survived risk's restart.
    over = runtime.submit_order(symbol="AAA", side=Side.BUY, quantity=20, strategy_id="risky")
    runtime.inject(_bar_at(2, 94.0))  # down 60: past its 50 limit
    runtime.settle()
    stats = runtime.ask(strategy_actor("risky"), GetSnapshot())
    assert sorted(e.name for e in restarted) == [FEED, PORTFOLIO, RISK]
    assert stats.bars == 3, "its subscription survived the feed's restart"
    assert _fills(recorder, "risky") == [("BUY", 10.0)]
    refused = [u for u in _of(recorder, "risky") if u.client_order_id == over]
    assert [u.reason for u in refused] == [RejectReason.MAX_ORDER_QUANTITY]
    (breach,) = [b for b in recorder.of(LossLimitBreached) if b.strategy_id == "risky"]
    assert (breach.limit, breach.pnl) == (50.0, -60.0)
    assert runtime.state is RuntimeState.HALTED


def test_a_loss_limit_set_while_running_counts_from_then_and_a_reset_limit_keeps_the_day() -> None:
    ledger = Ledger(1_000_000.0)
    ts = 1_700_000_000 * 10**9
    for n, price in enumerate((100.0, 104.0)):
        fill = Fill(
            id=n,
            ts_event=ts,
            ts_init=ts,
            fill_id=f"f{n}",
            client_order_id=f"o{n}",
            strategy_id="late",
            symbol="AAA",
            side=Side.BUY if n == 0 else Side.SELL,
            quantity=10.0 if n == 0 else 5.0,
            price=price,
            commission=1.0,
            slippage=0.0,
            engine="paper",
        )
        ledger.apply_fill(fill)  # long 10 at 100, then 5 sold at 104: +20 realized, 2 fees
    guard = LossGuard({}, 0.0)
    assert not guard.active
    guard.set_limit("late", 30.0, ledger.account("late").positions)
    assert guard.active and guard.day_pnl("late") == 0.0, "counted from now"
    # 5 held, marked at the last fill (104): down 5 a share is -25, within the limit.
    assert guard.on_mark("AAA", 99.0, ts) == ()
    (breach,) = guard.on_mark("AAA", 97.0, ts + 1)
    assert (breach.strategy_id, breach.limit, breach.pnl) == ("late", 30.0, -35.0)
    guard.set_limit("late", 0.0)
    assert guard.active, "still tracking its books for a later limit"
    assert guard.on_mark("AAA", 50.0, ts + 2) == ()
    guard.set_limit("late", 10.0)
    # Already tracked: the day still counts from its start (5 held from 104 to 50),
    # and the latch stays: a limit set again is no fresh allowance.
    assert guard.day_pnl("late") == -270.0
    assert guard.on_mark("AAA", 47.0, ts + 3) == ()
    guard.rearm()
    (again,) = guard.on_mark("AAA", 45.0, ts + 4)
    assert again.pnl == -10.0
    with pytest.raises(ValueError, match=r"daily loss limit of late must be >= 0, got -1"):
        guard.set_limit("late", -1.0)


# --- removing ----------------------------------------------------------------------------


def _bidder(runtime: Runtime) -> list[str]:
    """Adds ``bidder`` (a bid of 1 at 50 on every bar), gives it three bars; its order ids."""
    runtime.add_strategy(
        _config(runtime, "bidder", "support:BuyEveryBar", params={"limit_offset": 50.0})
    )
    _bars(runtime, 0, 3)
    return [o.client_order_id for o in runtime.orders("bidder")]


def test_removing_with_cancel_cancels_its_working_orders(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    runtime, recorder = make_runtime()
    working = _bidder(runtime)
    removed = runtime.remove_strategy("bidder", RemovePolicy.CANCEL)
    runtime.settle()
    run = runtime.status().run
    assert working == [f"{run}-bidder-{n}" for n in (1, 2, 3)]
    assert (removed.strategy_id, removed.policy) == ("bidder", "cancel")
    assert list(removed.cancelled) == working and removed.flattening == ()
    assert recorder.of(StrategyRemoved) == [removed]
    assert [_final(recorder, c) for c in working] == [OrderStatus.CANCELLED] * 3
    assert runtime.orders("bidder") == ()
    assert [e.strategy_id for e in recorder.of(StrategyStopped)] == ["bidder"]
    (view,) = [v for v in runtime.strategies() if v.id == "bidder"]
    assert view.state == "stopped"
    assert strategy_actor("bidder") not in runtime.directory.names()
    with pytest.raises(LookupError, match=r"no strategy 'bidder'"):
        runtime.remove_strategy("bidder")
    with pytest.raises(LookupError, match=r"no strategy 'bidder'"):
        runtime.pause_strategy("bidder")
    _bars(runtime, 3)
    assert [o.client_order_id for o in runtime.orders("bidder", open_only=False)] == working
    # Its subscription went with it: added again on BBB only, it gets no AAA bar.
    runtime.add_strategy(_config(runtime, "bidder", "support:BuyOnce", symbols=["BBB"]))
    _bars(runtime, 4)
    _bars(runtime, 4, symbol="BBB")
    assert runtime.ask(strategy_actor("bidder"), GetSnapshot()).bars == 1


def test_removing_with_keep_leaves_its_orders_working_and_a_readded_id_knows_them(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    Remembers.started = []
    runtime, recorder = make_runtime()
    working = _bidder(runtime)
    removed = runtime.remove_strategy("bidder", RemovePolicy.KEEP)
    _bars(runtime, 3)
    kept = runtime.orders("bidder")
    at_engine = [
        c for c in runtime.ask("engine.paper", GetSnapshot()).working_orders if "-bidder-" in c
    ]
    # Added again, it starts knowing the orders its id kept working.
    runtime.add_strategy(_config(runtime, "bidder", "test_hot_strategies:Remembers"))
    cancelled = runtime.cancel_all("bidder")
    runtime.settle()
    host = runtime.ask(strategy_actor("bidder"), GetSnapshot())
    assert removed.cancelled == () and removed.policy == "keep"
    assert [(o.client_order_id, o.status) for o in kept] == [
        (c, OrderStatus.ACCEPTED) for c in working
    ]
    assert sorted(at_engine) == sorted(working)
    assert list(cancelled) == working
    assert [_final(recorder, c) for c in working] == [OrderStatus.CANCELLED] * 3
    assert runtime.state is RuntimeState.RUNNING, "cancel_all does not halt"
    assert Remembers.started == [(0.0, 3)]
    assert host.open_orders == (), "the cancels reached the new host"


def test_removing_with_flatten_closes_its_position_and_a_readded_id_continues_its_ids(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    runtime, recorder = make_runtime()
    runtime.add_strategy(_config(runtime, "stake", "support:StakeThenBids", params={"stake": 4.0}))
    _bars(runtime, 0, 3)  # bought 4 (filled at bar 1's open), three bids working
    held = runtime.positions("stake")
    bids = [o.client_order_id for o in runtime.orders("stake")]
    removed = runtime.remove_strategy("stake", RemovePolicy.FLATTEN)
    runtime.settle()  # the flattening order reaches the engine before the next bar
    _bars(runtime, 3)  # the flattening sell fills at this bar's open
    run = runtime.status().run
    assert [(p.symbol, p.quantity) for p in held] == [("AAA", 4.0)]
    assert bids == [f"{run}-stake-{n}" for n in (2, 3, 4)]
    assert list(removed.cancelled) == bids
    assert removed.flattening == (f"{run}-stake-5",)
    assert _fills(recorder, "stake") == [("BUY", 4.0), ("SELL", 4.0)]
    assert runtime.positions("stake") == ()
    assert [_final(recorder, c) for c in bids] == [OrderStatus.CANCELLED] * 3
    sell = [u for u in _of(recorder, "stake") if u.client_order_id == removed.flattening[0]]
    assert sell[-1].status is OrderStatus.FILLED
    # Added again (another class): its order ids continue from 5.
    runtime.add_strategy(_config(runtime, "stake", "support:BuyOnce"))
    _bars(runtime, 4)
    ids = [o.client_order_id for o in runtime.orders("stake", open_only=False)]
    assert ids == [f"{run}-stake-{n}" for n in (1, 2, 3, 4, 5, 6)]
    assert len(set(ids)) == len(ids)
    assert [v.state for v in runtime.strategies()] == ["running", "running"]


def test_removing_a_paused_strategy_with_flatten_still_closes_its_position(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    runtime, recorder = make_runtime()
    runtime.add_strategy(_config(runtime, "stake", "support:StakeThenBids", params={"stake": 4.0}))
    _bars(runtime, 0, 2)
    runtime.pause_strategy("stake", "misbehaving")  # what an operator does before removing
    removed = runtime.remove_strategy("stake", RemovePolicy.FLATTEN)
    runtime.settle()
    _bars(runtime, 2)
    sell = [u for u in _of(recorder, "stake") if u.client_order_id == removed.flattening[0]]
    assert [u.status for u in sell] == [OrderStatus.ACCEPTED, OrderStatus.FILLED]
    assert _fills(recorder, "stake") == [("BUY", 4.0), ("SELL", 4.0)]
    assert runtime.positions("stake") == ()


def _released(runtime: Runtime) -> None:
    support.START_GATE.set()
    runtime.settle()


def test_a_strategy_refused_at_start_or_removed_while_busy_never_trades_afterwards(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    support.START_GATE.clear()
    support.STARTING.clear()
    runtime, recorder = make_runtime()
    try:
        # Its on_start outlasts the start timeout: refused; when it returns, its order is not sent.
        with pytest.raises(StartupError, match="did not finish starting"):
            runtime.add_strategy(_config(runtime, "slow", "support:SlowStartThenBuys"))
        assert support.STARTING.is_set()
    finally:
        _released(runtime)
    _bars(runtime, 0, 2)
    assert runtime.orders("slow", open_only=False) == ()
    assert [v.id for v in runtime.strategies()] == ["base"]

    # Busy in on_bar past the stop timeout when removed: what it sends afterwards is dropped.
    support.START_GATE.clear()
    support.STARTING.clear()
    runtime.add_strategy(_config(runtime, "busy", "support:SlowBarThenBuys"))
    runtime.inject(make_bar(2))
    assert support.STARTING.wait(10.0)
    try:
        runtime.remove_strategy("busy", RemovePolicy.CANCEL)
    finally:
        _released(runtime)
    _bars(runtime, 3, 2)
    assert runtime.orders("busy", open_only=False) == ()
    assert _fills(recorder, "busy") == []
    assert runtime.positions("busy") == ()


# --- restarting --------------------------------------------------------------------------


def test_restarting_a_running_strategy_keeps_what_it_knows(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    Remembers.started = []
    runtime, recorder = make_runtime()
    runtime.add_strategy(_config(runtime, "mem", "test_hot_strategies:Remembers"))
    _bars(runtime, 0, 2)  # bought 2 (filled at bar 1), a bid working
    view = runtime.restart_strategy("mem")
    _bars(runtime, 2, 2)
    stats = runtime.ask(strategy_actor("mem"), GetSnapshot())
    assert Remembers.started == [(0.0, 0), (2.0, 1)]
    assert (view.state, view.restarts, view.failures, view.last_error) == ("running", 1, 0, "")
    assert _fills(recorder, "mem") == [("BUY", 2.0)], "it did not buy again"
    assert stats.bars == 4 and stats.positions == (("AAA", 2.0),)
    restarted = [e for e in recorder.of(ActorRestarted) if e.name == strategy_actor("mem")]
    assert [(e.restarts, e.delay_s) for e in restarted] == [(0, 0.0)]
    assert [e.strategy_id for e in recorder.of(StrategyStopped)] == ["mem"]
    assert [e.strategy_id for e in recorder.of(StrategyStarted)] == ["base", "mem", "mem"]
    with pytest.raises(LookupError, match=r"no strategy 'ghost'"):
        runtime.restart_strategy("ghost")


def test_restarting_a_quarantined_strategy_brings_it_back_with_its_orders(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    BidsThenFailsOnce.failed = False
    BidsThenFailsOnce.started = []
    runtime, recorder = make_runtime()
    runtime.add_strategy(
        _config(
            runtime,
            "fragile",
            "test_hot_strategies:BidsThenFailsOnce",
            supervision={"max_restarts": 0, "open_orders": "keep"},
        )
    )
    runtime.inject(make_bar(0))
    recorder.wait_for(StrategyQuarantined)
    runtime.settle()
    (bid,) = [o.client_order_id for o in runtime.orders("fragile")]
    quarantined = [v for v in runtime.strategies() if v.id == "fragile"]
    view = runtime.restart_strategy("fragile")
    _bars(runtime, 1, 2)
    stats = runtime.ask(strategy_actor("fragile"), GetSnapshot())
    assert [(v.state, v.failures) for v in quarantined] == [("quarantined", 1)]
    assert (view.state, view.restarts, view.failures) == ("running", 1, 1)
    assert "deliberate failure after bidding" in view.last_error
    assert BidsThenFailsOnce.started == [(), (bid,)], "the new instance knows its bid"
    assert stats.bars == 3 and stats.open_orders == (bid,)
    assert strategy_actor("fragile") in runtime.directory.names()
    assert runtime.orders("fragile")[0].status is OrderStatus.ACCEPTED


# --- manual orders -----------------------------------------------------------------------


def test_manual_orders_are_routed_filled_cancelled_and_judged_by_risk(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    runtime, recorder = make_runtime()
    with pytest.raises(OrderError, match=r"no market data published yet"):
        runtime.submit_order(symbol="AAA", side=Side.BUY, quantity=1)
    _bars(runtime, 0)
    run = runtime.status().run
    bought = runtime.submit_order(symbol="AAA", side=Side.BUY, quantity=2)
    resting = runtime.submit_order(
        symbol="BBB",
        side=Side.SELL,
        quantity=1,
        order_type=OrderType.LIMIT,
        limit_price=500.0,
        time_in_force=TimeInForce.GTC,
    )
    too_big = runtime.submit_order(symbol="AAA", side=Side.BUY, quantity=500)
    runtime.settle()
    working = runtime.orders("manual")
    runtime.cancel_order(resting)
    _bars(runtime, 1)
    assert (bought, resting, too_big) == tuple(f"{run}-manual-{n}" for n in (1, 2, 3))
    assert [o.client_order_id for o in working] == [bought, resting]
    assert _fills(recorder, "manual") == [("BUY", 2.0)]
    assert _final(recorder, bought) is OrderStatus.FILLED
    assert _final(recorder, resting) is OrderStatus.CANCELLED
    refused = [u for u in _of(recorder, "manual") if u.client_order_id == too_big]
    assert [(u.status, u.reason) for u in refused] == [
        (OrderStatus.REJECTED, RejectReason.MAX_ORDER_QUANTITY)
    ]
    assert [(p.strategy_id, p.symbol, p.quantity) for p in runtime.positions("manual")] == [
        ("manual", "AAA", 2.0)
    ]
    with pytest.raises(LookupError, match=r"no open order"):
        runtime.cancel_order(resting)
    with pytest.raises(LookupError, match=r"no open order 'nope'"):
        runtime.cancel_order("nope")


_BAD_ORDERS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"symbol": "ZZZ"}, OrderError, r"'ZZZ' is not published by the feed"),
    ({"quantity": 0}, OrderError, r"quantity must be a finite number > 0, got 0"),
    ({"quantity": float("nan")}, OrderError, r"quantity must be a finite number > 0, got nan"),
    ({"order_type": OrderType.LIMIT}, OrderError, r"a LIMIT order needs limit_price"),
    ({"limit_price": 99.0}, OrderError, r"a MARKET order takes no limit_price, got 99.0"),
    (
        {"order_type": OrderType.STOP_LIMIT, "limit_price": 99.0},
        OrderError,
        r"a STOP_LIMIT order needs stop_price",
    ),
    (
        {"order_type": OrderType.STOP, "stop_price": -1.0},
        OrderError,
        r"stop_price must be a finite number > 0, got -1.0",
    ),
    ({"strategy_id": "ghost"}, LookupError, r"no strategy 'ghost'"),
    ({"strategy_id": "base", "symbol": "BBB"}, OrderError, r"'BBB' is not one of strategy base's"),
    ({"side": "SIDEWAYS"}, ValueError, r"'SIDEWAYS' is not a valid Side"),
]


def test_bad_manual_orders_are_refused_before_they_are_sent(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    runtime, _recorder = make_runtime()
    _bars(runtime, 0, symbol="BBB")
    for kwargs, error, pattern in _BAD_ORDERS:
        order: dict[str, Any] = {"symbol": "AAA", "side": Side.BUY, "quantity": 1.0, **kwargs}
        with pytest.raises(error, match=pattern):
            runtime.submit_order(**order)
    runtime.settle()
    assert runtime.orders(open_only=False) == ()


# --- views -------------------------------------------------------------------------------


def test_positions_status_and_strategies_show_exact_values(
    make_runtime: Callable[..., tuple[Runtime, Recorder]],
) -> None:
    runtime, _recorder = make_runtime()
    runtime.add_strategy(
        _config(runtime, "bbb", "support:BuyOnce", symbols=["BBB"], params={"quantity": 7})
    )
    _bars(runtime, 0, 2)
    _bars(runtime, 0, 2, symbol="BBB")
    runtime.submit_order(symbol="BBB", side=Side.SELL, quantity=3, strategy_id="bbb")
    runtime.submit_order(
        symbol="AAA", side=Side.BUY, quantity=1, order_type=OrderType.LIMIT, limit_price=10.0
    )
    runtime.settle()
    _bars(runtime, 2, 1, symbol="BBB")
    runtime.pause_strategy("base", "desk review")
    positions = runtime.positions()
    status = runtime.status()
    views = runtime.strategies()
    assert [(p.strategy_id, p.symbol, p.quantity) for p in positions] == [
        ("base", "AAA", 5.0),
        ("bbb", "BBB", 4.0),
    ]
    assert runtime.positions("nobody") == ()
    assert status == RuntimeStatus(
        name=runtime.settings.runtime.name,
        run=status.run,
        state=RuntimeState.RUNNING,
        started_ns=status.started_ns,
        uptime_s=status.uptime_s,
        strategies=2,
        bars=5,
        ticks=0,
        orders=2,  # base's last order (no bar after it) and the manual bid
        fatal=None,
        engine="paper",
    )
    assert status.started_ns > 0 and status.uptime_s >= 0.0
    assert views == (
        StrategyView(
            id="base",
            class_path="support:BuyEveryBar",
            symbols=("AAA",),
            params={"quantity": 5.0, "limit_offset": 0.0},
            state=ChildState.RUNNING.value,
            paused=True,
            failures=0,
            restarts=0,
            last_error="",
        ),
        StrategyView(
            id="bbb",
            class_path="support:BuyOnce",
            symbols=("BBB",),
            params={"quantity": 7.0},
            state="running",
            paused=False,
            failures=0,
            restarts=0,
            last_error="",
        ),
    )


def test_changes_are_refused_unless_trading_and_the_summary_lists_every_strategy(
    write_settings: Callable[[str], Path],
) -> None:
    runtime = Runtime(
        load_settings(write_settings(BASE.format(risk=""))), listeners=[], source=iter(())
    )
    config = _config(runtime, "late", "support:BuyOnce")
    with pytest.raises(RuntimeError, match=r"cannot add a strategy: the runtime is STARTING"):
        runtime.add_strategy(config)
    runtime.start()
    try:
        runtime.add_strategy(config)
        _bars(runtime, 0, 2)
        runtime.remove_strategy("late")
        runtime.submit_order(symbol="AAA", side=Side.BUY, quantity=1)
        runtime.settle()
        _bars(runtime, 2)
    finally:
        summary = runtime.stop()
    with pytest.raises(RuntimeError, match=r"cannot remove a strategy: the runtime is STOPPED"):
        runtime.remove_strategy("base")
    with pytest.raises(RuntimeError, match=r"cannot submit an order: the runtime is STOPPED"):
        runtime.submit_order(symbol="AAA", side=Side.BUY, quantity=1)
    assert [(s.strategy_id, s.fills) for s in summary.strategies] == [
        ("base", 2),
        ("late", 1),
        ("manual", 1),
    ]
    assert summary.stuck_threads == ()
