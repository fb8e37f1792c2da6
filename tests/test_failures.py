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
from runtime.messages import ActorFailed, Bar, Fill, OrderStatus, OrderUpdate, RejectReason
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
[[strategies]]
id = "s"
class = "support:{cls}"
symbols = ["AAA"]
"""


def _settings(write_settings: Callable[[str], Path], **values: object) -> Path:
    fields: dict[str, object] = {
        "timeout": 10.0,
        "lockstep": "true",
        "bars": 20,
        "cls": "BuyEveryBar",
        **values,
    }
    return write_settings(ONE_STRATEGY.format(**fields))


@pytest.mark.parametrize("lockstep", ["true", "false"])
def test_an_engine_failing_on_a_bar_is_escalated_in_both_replay_modes(
    lockstep: str, write_settings: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = MatchingEngine.on_bar

    def failing_on_bar(self: MatchingEngine, bar: Bar) -> list[Fill | OrderUpdate]:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("matching blew up")
        return original(self, bar)

    monkeypatch.setattr(MatchingEngine, "on_bar", failing_on_bar)
    fatal = threading.Event()
    recorder = Recorder()
    path = _settings(write_settings, lockstep=lockstep, bars=100_000)
    runtime = Runtime(load_settings(path), listeners=[recorder], on_fatal=lambda _r: fatal.set())
    runtime.start()
    try:
        assert fatal.wait(30), "the engine failure was not escalated"
    finally:
        summary = runtime.stop()
    assert runtime.fatal is not None
    assert runtime.fatal.startswith("core actor engine.paper (engine) failed: RuntimeError")
    assert [f.name for f in recorder.of(ActorFailed)] == ["engine.paper"]
    assert summary.stuck_threads == ()


def test_a_dead_portfolio_does_not_stop_the_shutdown(
    write_settings: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Ledger, fill: Fill) -> None:
        raise RuntimeError("books broken")

    monkeypatch.setattr(Ledger, "apply_fill", broken)
    fatal = threading.Event()
    path = _settings(write_settings, bars=100_000)
    runtime = Runtime(load_settings(path), on_fatal=lambda _r: fatal.set())
    runtime.start()
    assert fatal.wait(30)
    summary = runtime.stop()
    assert summary.portfolio is None, "no books to report once the portfolio died"
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
    summary, recorder = run_to_end(_settings(write_settings, cls="BuysThenRaises"))
    (row,) = summary.strategies
    assert row.failed
    assert row.orders == 1
    assert row.fills == 1
    assert row.positions == (("AAA", 7.0),)
    assert [f.name for f in recorder.of(ActorFailed)] == ["strategy.s"]
