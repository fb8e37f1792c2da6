"""The runtime state machine end to end: the kill switch on replayed data, REDUCING,
PAUSED, per-strategy pauses, and an operator's reset."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from actors.portfolio import PortfolioActor
from runtime.boot import Runtime
from runtime.lifecycle import IllegalTransitionError
from runtime.messages import (
    Bar,
    Fill,
    GetSnapshot,
    LossLimitBreached,
    Order,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    RuntimeState,
    RuntimeStateChanged,
    StrategyPaused,
    TradingHalted,
)
from runtime.settings import load_settings
from support import Recorder, Scripted

_DAY = 86_400 * 10**9
_T0 = 1_700_006_400 * 10**9  # 2023-11-15 00:00 UTC


def _csv(path: Path, rows: list[tuple[str, float, float, float, float]]) -> Path:
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    lines += [f"{d},{o},{h},{lo},{c},{c},1000000" for d, o, h, lo, c in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _kill_switch_settings(tmp_path: Path) -> str:
    """Daily bars: bought 100 at 100 on day 2's open; day 4 closes at 90, a loss of
    1,000 on the day, past the 500 limit. A resting bid every day."""
    data = _csv(
        tmp_path / "drop.csv",
        [
            ("2024-03-04", 100, 101, 99, 100),
            ("2024-03-05", 100, 101, 99, 100),
            ("2024-03-06", 100, 101, 99, 100),
            ("2024-03-07", 100, 100, 89, 90),
            ("2024-03-08", 90, 91, 89, 90),
            ("2024-03-11", 90, 91, 89, 90),
        ],
    )
    text = f"""
[runtime]
log_level = "ERROR"
[feed]
source = "csv"
lockstep = true
[[feed.csv]]
path = "{data}"
symbol = "DROP"
[risk]
daily_loss_limit = 500.0
[[strategies]]
id = "loser"
class = "support:StakeThenBids"
symbols = ["DROP"]
"""
    return text


def _updates(recorder: Recorder, status: OrderStatus) -> list[OrderUpdate]:
    return [u for u in recorder.of(OrderUpdate) if u.status is status]


def test_kill_switch_halts_cancels_refuses_and_an_operator_reset_resumes(
    write_settings: Callable[[str], Path], tmp_path: Path
) -> None:
    # Daily bars: bought 100 at 100 on day 2's open; day 4 closes at 90, a loss of
    # 1,000 on the day, past the 500 limit.
    text = _kill_switch_settings(tmp_path)
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder])
    runtime.start()
    try:
        assert runtime.finished.wait(60), "the data did not end"
        runtime.settle()
        breaches = recorder.wait_for(LossLimitBreached, 2)
        halted_at = runtime.state
        working_while_halted = runtime.orders("loser")
        refused = [
            u for u in _updates(recorder, OrderStatus.REJECTED) if u.reason is RejectReason.HALTED
        ]
        accepted_before = len(_updates(recorder, OrderStatus.ACCEPTED))
        cancelled = _updates(recorder, OrderStatus.CANCELLED)
        runtime.reset("limit reviewed")
        runtime.inject(
            Bar(
                id=1,
                ts_event=_T0 + 400 * _DAY,
                ts_init=0,
                symbol="DROP",
                open=90.0,
                high=91.0,
                low=89.0,
                close=90.0,
                volume=1e6,
                interval_s=86_400,
            )
        )
        runtime.settle()
        accepted_after = len(_updates(recorder, OrderStatus.ACCEPTED))
        history = runtime.state_history()
    finally:
        runtime.stop()
    # The strategy's own limit and the account's (the [risk] value) on the same mark.
    assert sorted((b.strategy_id, b.limit, b.day) for b in breaches) == [
        ("", 500.0, "2024-03-07"),
        ("loser", 500.0, "2024-03-07"),
    ]
    assert [b.pnl for b in breaches] == pytest.approx([-1_000.0, -1_000.0])
    assert sum(f.commission for f in recorder.of(Fill)) == 0.0
    assert halted_at is RuntimeState.HALTED
    # Every resting bid was cancelled at the engine when trading halted.
    assert len(cancelled) == 4, "the bids of the four days before the breach"
    assert all(u.reason is RejectReason.HALTED for u in cancelled)
    assert {u.engine for u in cancelled} == {"paper"}
    assert working_while_halted == ()
    # The two bars after the breach each brought a bid: both refused, none reached the engine.
    assert len(refused) == 2
    assert all(not u.engine and "kill switch" in u.message for u in refused)
    states = [(e.previous, e.state) for e in history]
    assert (RuntimeState.RUNNING, RuntimeState.HALTED) in states
    assert states[-1] == (RuntimeState.HALTED, RuntimeState.RUNNING)
    assert history[-1].reason == "limit reviewed"
    # After the reset the next bid was accepted by the engine.
    assert accepted_after == accepted_before + 1
    assert recorder.of(RuntimeStateChanged)[-1].state is RuntimeState.STOPPED


def _scripted_runtime(
    write_settings: Callable[[str], Path], recorder: Recorder, extra: str = ""
) -> Runtime:
    text = f"""
[runtime]
log_level = "ERROR"
[feed.synthetic]
symbols = ["AAA"]
bars = 0
{extra}
[[strategies]]
id = "scripted"
class = "support:Scripted"
symbols = ["AAA"]
"""
    return Runtime(load_settings(write_settings(text)), listeners=[recorder], source=iter(()))


def _bar(i: int) -> Bar:
    return Bar(
        id=i,
        ts_event=_T0 + i * 60 * 10**9,
        ts_init=0,
        symbol="AAA",
        open=100.0,
        high=101.0,
        low=99.0,
        close=100.0,
        volume=1e6,
        interval_s=60,
    )


def test_reducing_lets_a_closing_order_through_and_refuses_an_opening_one(
    write_settings: Callable[[str], Path],
) -> None:
    Scripted.script["scripted"] = [
        [("BUY", 10, None)],  # bar 0: long 10 (fills at bar 1's open)
        [],
        [("BUY", 5, None), ("SELL", 4, None), ("SELL", 20, None)],  # bar 2, REDUCING
    ]
    recorder = Recorder()
    runtime = _scripted_runtime(write_settings, recorder)
    runtime.start()
    try:
        for i in range(2):
            runtime.inject(_bar(i))
            runtime.settle()
        runtime.reduce("risk off")
        for i in (2, 3):
            runtime.inject(_bar(i))
            runtime.settle()
        state = runtime.state
    finally:
        runtime.stop()
    assert state is RuntimeState.REDUCING
    rejected = {(u.side.value, u.quantity): u for u in _updates(recorder, OrderStatus.REJECTED)}
    assert set(rejected) == {("BUY", 5.0), ("SELL", 20.0)}
    assert rejected["BUY", 5.0].reason is RejectReason.REDUCE_ONLY
    assert rejected["SELL", 20.0].reason is RejectReason.REDUCE_ONLY, "would flip to short"
    fills = [(f.side.value, f.quantity) for f in recorder.of(Fill)]
    assert fills == [("BUY", 10.0), ("SELL", 4.0)]


def test_paused_refuses_new_orders_until_resumed_and_a_strategy_pause_is_its_own(
    write_settings: Callable[[str], Path],
) -> None:
    Scripted.script["scripted"] = [[("BUY", 1, None)]] * 5
    recorder = Recorder()
    runtime = _scripted_runtime(write_settings, recorder)
    runtime.start()
    try:
        runtime.inject(_bar(0))
        runtime.settle()
        runtime.pause()
        runtime.inject(_bar(1))
        runtime.settle()
        with pytest.raises(IllegalTransitionError, match="cannot go to RUNNING from PAUSED"):
            runtime.reset()
        runtime.resume()
        runtime.pause_strategy("scripted", "desk review")
        runtime.inject(_bar(2))
        runtime.settle()
        runtime.resume_strategy("scripted")
        runtime.inject(_bar(3))
        runtime.settle()
        with pytest.raises(LookupError, match="no strategy 'nobody'"):
            runtime.pause_strategy("nobody")
        orders = runtime.orders(open_only=False)
    finally:
        runtime.stop()
    reasons = [u.reason for u in _updates(recorder, OrderStatus.REJECTED)]
    assert reasons == [RejectReason.PAUSED, RejectReason.PAUSED]
    messages = [u.message for u in _updates(recorder, OrderStatus.REJECTED)]
    assert "paused by operator" in messages[0]
    assert "desk review" in messages[1]
    (paused,) = recorder.of(StrategyPaused)
    assert paused.reason == "desk review"
    statuses = [o.status for o in orders]
    assert statuses.count(OrderStatus.REJECTED) == 2
    assert len(orders) == 4


def test_a_halt_cancels_the_orders_already_on_their_way(
    write_settings: Callable[[str], Path],
) -> None:
    Scripted.script["scripted"] = [[("BUY", 1, 50.0)] * 200]  # 200 bids far below
    recorder = Recorder()
    runtime = _scripted_runtime(write_settings, recorder)
    runtime.start()
    try:
        runtime.inject(_bar(0))
        recorder.wait_for(Order)  # the first has reached the engine; the rest are on their way
        runtime.halt("desk emergency")
        runtime.settle()
        working = runtime.orders()
        at_engine = runtime.ask("engine.paper", GetSnapshot()).working_orders
    finally:
        runtime.stop()
    assert working == () and at_engine == ()
    finals = {u.client_order_id: u for u in recorder.of(OrderUpdate) if u.status.is_terminal}
    assert len(finals) == 200
    assert {u.reason for u in finals.values()} <= {RejectReason.HALTED}
    assert recorder.of(Fill) == []


def test_only_reset_leaves_halted_and_not_after_a_core_actor_is_gone(
    write_settings: Callable[[str], Path],
) -> None:
    Scripted.script["scripted"] = []
    recorder = Recorder()
    runtime = _scripted_runtime(write_settings, recorder, "[supervision]\nmax_restarts = 0\n")
    runtime.start()
    try:
        runtime.halt("drill")
        with pytest.raises(IllegalTransitionError, match="cannot go to RUNNING from HALTED"):
            runtime.resume()
        runtime.reset("drill over")
        seen = [runtime.state]
        runtime.crash("portfolio")
        recorder.wait_for(TradingHalted)
        seen.append(runtime.state)
        with pytest.raises(IllegalTransitionError, match="a core actor failed"):
            runtime.reset("try anyway")
        seen.append(runtime.state)
    finally:
        runtime.stop()
    assert seen == [RuntimeState.RUNNING, RuntimeState.HALTED, RuntimeState.HALTED]


def test_lockstep_acts_on_the_kill_switch_at_the_same_bar_however_slow_the_portfolio(
    write_settings: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The portfolio takes 20 ms per bar (a stand-in for a loaded machine): the
    # breach must still be acted on before the next bar, as with a fast one.
    original = PortfolioActor.on_receive

    def slow(self: PortfolioActor, message: object) -> object:
        if type(message) is Bar:
            threading.Event().wait(0.02)
        return original(self, message)

    monkeypatch.setattr(PortfolioActor, "on_receive", slow)
    recorder = Recorder()
    runtime = Runtime(
        load_settings(write_settings(_kill_switch_settings(tmp_path))), listeners=[recorder]
    )
    runtime.start()
    try:
        assert runtime.finished.wait(60), "the data did not end"
        runtime.settle()
    finally:
        runtime.stop()
    refused = [
        u for u in _updates(recorder, OrderStatus.REJECTED) if u.reason is RejectReason.HALTED
    ]
    cancelled = [
        u for u in _updates(recorder, OrderStatus.CANCELLED) if u.reason is RejectReason.HALTED
    ]
    assert (len(refused), len(cancelled)) == (2, 4)
