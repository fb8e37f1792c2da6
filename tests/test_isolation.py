"""A failing strategy never takes the runtime or the other strategies down."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.boot import Runtime
from runtime.errors import StartupError
from runtime.messages import ActorFailed, ActorRestarted, Fill, StrategyQuarantined
from runtime.settings import load_settings
from support import Recorder, run_to_end

BASE = """
[runtime]
log_level = "ERROR"
[feed]
source = "synthetic"
lockstep = true
[feed.synthetic]
symbols = ["AAA", "BBB"]
bars = {bars}
[[strategies]]
id = "steady"
class = "strategies.sma_crossover:SmaCrossover"
symbols = ["AAA"]
[strategies.params]
fast = 3
slow = 10
"""

FAULTY = """
[[strategies]]
id = "faulty"
class = "support:{cls}"
symbols = ["BBB"]
[strategies.params]
at_bar = 20
"""


def _fills_of(
    text: str, write_settings: Callable[[str], Path]
) -> tuple[list[tuple[int, str, float, float]], Recorder]:
    summary, recorder = run_to_end(write_settings(text))
    assert summary.stuck_threads == ()
    fills = [
        (f.ts_event, f.side.value, f.quantity, f.price)
        for f in recorder.of(Fill)
        if f.strategy_id == "steady"
    ]
    return fills, recorder


@pytest.mark.parametrize("cls", ["RaisesOnBar", "ExitsOnBar"])
def test_a_failing_strategy_leaves_the_others_trading_exactly_as_without_it(
    cls: str, write_settings: Callable[[str], Path]
) -> None:
    alone, _ = _fills_of(BASE.format(bars=400), write_settings)
    together, recorder = _fills_of(BASE.format(bars=400) + FAULTY.format(cls=cls), write_settings)
    assert alone, "the steady strategy should trade on 400 bars"
    assert together == alone
    # It fails on every 20th bar of each incarnation: five restarts (the
    # default intensity), then quarantine on the sixth failure.
    failures = recorder.of(ActorFailed)
    assert [f.name for f in failures] == ["strategy.faulty"] * 6
    expected = "ValueError" if cls == "RaisesOnBar" else "SystemExit"
    assert all(f.error.startswith(expected) for f in failures)
    assert len(recorder.of(ActorRestarted)) == 5
    (quarantined,) = recorder.of(StrategyQuarantined)
    assert quarantined.strategy_id == "faulty"


def test_a_strategy_that_fails_to_start_stops_startup_cleanly(
    write_settings: Callable[[str], Path],
) -> None:
    text = BASE.format(bars=10) + (
        '\n[[strategies]]\nid = "broken"\nclass = "support:FailsToStart"\nsymbols = ["BBB"]\n'
    )
    runtime = Runtime(load_settings(write_settings(text)))
    with pytest.raises(StartupError, match=r"strategy\.broken \(strategy\) failed to start"):
        runtime.start()
    # the autouse fixture asserts that no actor thread was left behind
