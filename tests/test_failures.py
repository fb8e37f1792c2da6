"""Failure paths: core actors failing, actors hanging, orders at shutdown."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.boot import Runtime
from runtime.errors import StartupError
from runtime.ledger import Ledger
from runtime.matching import MatchingEngine
from runtime.messages import (
    ActorFailed,
    ActorRestarted,
    Bar,
    EngineFault,
    Fill,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    StrategyQuarantined,
    TradingHalted,
)
from runtime.settings import load_settings
from support import Recorder, run_to_end

REPO = Path(__file__).resolve().parent.parent

ONE_STRATEGY = """
[runtime]
log_level = "ERROR"
shutdown_timeout_s = {timeout}
[feed]
lockstep = {lockstep}
[feed.synthetic]
symbols = ["AAA"]
bars = {bars}
{extra}
[[strategies]]
id = "s"
class = "support:{cls}"
symbols = ["AAA"]
"""

NO_RESTARTS = "[supervision]\nmax_restarts = 0\n"


def _settings(write_settings: Callable[[str], Path], **values: object) -> Path:
    fields: dict[str, object] = {
        "timeout": 10.0,
        "lockstep": "true",
        "bars": 20,
        "cls": "BuyEveryBar",
        "extra": "",
        **values,
    }
    return write_settings(ONE_STRATEGY.format(**fields))


def test_an_adapter_error_is_an_engine_fault_and_the_engine_keeps_matching(
    write_settings: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = MatchingEngine.on_bar

    def failing_on_bar(self: MatchingEngine, bar: Bar) -> list[Fill | OrderUpdate]:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("matching blew up")
        return original(self, bar)

    monkeypatch.setattr(MatchingEngine, "on_bar", failing_on_bar)
    summary, recorder = run_to_end(_settings(write_settings, bars=20))
    (fault,) = recorder.of(EngineFault)
    assert (fault.engine, fault.error) == ("paper", "on_bar failed: RuntimeError: matching blew up")
    assert recorder.of(ActorFailed) == [], "an Exception from the adapter is not an actor crash"
    (row,) = summary.strategies
    assert row.orders == 20
    assert row.fills >= 18, "matching went on after the faulty bar"


def test_an_engine_crashing_is_restarted_with_its_adapter_and_working_orders(
    write_settings: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = MatchingEngine.on_bar

    def crashing_on_bar(self: MatchingEngine, bar: Bar) -> list[Fill | OrderUpdate]:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("a library gave up")
        return original(self, bar)

    monkeypatch.setattr(MatchingEngine, "on_bar", crashing_on_bar)
    summary, recorder = run_to_end(_settings(write_settings, bars=20))
    (failed,) = recorder.of(ActorFailed)
    assert (failed.name, failed.error) == ("engine.paper", "KeyboardInterrupt: a library gave up")
    (restarted,) = recorder.of(ActorRestarted)
    assert restarted.name == "engine.paper"
    (row,) = summary.strategies
    assert row.orders == 20
    # Every order reached a final state at the one adapter, which survived the crash:
    # the order working when it failed filled at a later bar, none was lost.
    final = {u.client_order_id: u.status for u in recorder.of(OrderUpdate)}
    assert len(final) == 20
    assert sum(s is OrderStatus.FILLED for s in final.values()) == row.fills
    assert row.fills >= 18


def test_a_dead_portfolio_does_not_stop_the_shutdown(
    write_settings: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Ledger, fill: Fill) -> None:
        raise RuntimeError("books broken")

    monkeypatch.setattr(Ledger, "apply_fill", broken)
    fatal = threading.Event()
    recorder = Recorder()
    path = _settings(write_settings, bars=100_000, extra=NO_RESTARTS)
    runtime = Runtime(load_settings(path), listeners=[recorder], on_fatal=lambda _r: fatal.set())
    runtime.start()
    assert fatal.wait(30)
    summary = runtime.stop()
    assert summary.portfolio is None, "no books to report once the portfolio died"
    (halted,) = recorder.of(TradingHalted)
    assert halted.actor == "portfolio"
    assert halted.reason.startswith("portfolio (portfolio) failed: RuntimeError: books broken")
    assert summary.stuck_threads == ()
    (row,) = summary.strategies
    assert row.orders >= 1


def test_an_actor_that_does_not_finish_starting_is_stopped_and_named(
    write_settings: Callable[[str], Path],
) -> None:
    path = _settings(write_settings, timeout=0.5, cls="SlowToStart")
    runtime = Runtime(load_settings(path))
    with pytest.raises(StartupError, match=r"strategy\.s \(strategy\) did not finish starting"):
        runtime.start()
    # the autouse fixture asserts that no actor thread is left, the slow one included


def test_a_hung_strategy_cannot_keep_the_process_alive(
    write_settings: Callable[[str], Path],
) -> None:
    path = _settings(write_settings, timeout=0.5, lockstep="false", bars=0, cls="HangsOnBar")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}"}
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "run", str(path), "--duration", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert "some actor threads did not stop: strategy.s" in done.stderr
    assert "TOTAL" in done.stdout


def test_orders_sent_from_on_stop_are_cancelled_not_left_working(
    write_settings: Callable[[str], Path],
) -> None:
    _, recorder = run_to_end(_settings(write_settings, cls="FlattenOnStop"))
    updates = recorder.of(OrderUpdate)
    last = {u.client_order_id: u for u in updates}
    flatten = [u for u in last.values() if u.side.value == "SELL"]
    assert len(flatten) == 1, "on_stop sent one closing order"
    assert flatten[0].status is OrderStatus.CANCELLED
    assert flatten[0].reason is RejectReason.SHUTDOWN
    assert all(u.status.is_terminal for u in last.values()), "nothing left working"


def test_a_failed_strategy_is_reported_as_failed_with_its_real_books(
    write_settings: Callable[[str], Path],
) -> None:
    summary, recorder = run_to_end(
        _settings(write_settings, cls="BuysThenRaises", extra=NO_RESTARTS)
    )
    (row,) = summary.strategies
    assert row.failed
    assert row.orders == 1
    assert row.fills == 1
    assert row.positions == (("AAA", 7.0),)
    assert [f.name for f in recorder.of(ActorFailed)] == ["strategy.s"]
    (quarantined,) = recorder.of(StrategyQuarantined)
    assert quarantined.strategy_id == "s"


def test_a_restarted_strategy_keeps_its_books_across_every_restart(
    write_settings: Callable[[str], Path],
) -> None:
    # Each incarnation buys 7 on its first bar and raises on its third: five
    # restarts (the default intensity), then quarantine on the sixth failure.
    summary, recorder = run_to_end(_settings(write_settings, cls="BuysThenRaises", bars=40))
    (row,) = summary.strategies
    assert (row.orders, row.fills) == (6, 6)
    assert row.positions == (("AAA", 42.0),), "no fill lost or booked twice across restarts"
    assert [f.name for f in recorder.of(ActorFailed)] == ["strategy.s"] * 6
    assert [r.restarts for r in recorder.of(ActorRestarted)] == [1, 2, 3, 4, 5]
    assert len(recorder.of(StrategyQuarantined)) == 1
