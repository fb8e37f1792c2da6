"""A core actor failing mid-run stops the runtime in order; a strategy failing does not."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

import pytest

import runtime.boot
from runtime.boot import Runtime
from runtime.cli import main
from runtime.config import SyntheticConfig
from runtime.errors import DataError
from runtime.marketdata import synthetic_bars
from runtime.messages import Bar, Tick
from runtime.settings import load_settings

SETTINGS = """
[runtime]
log_level = "INFO"
[supervision]
max_restarts = 0
[feed]
lockstep = true
[feed.synthetic]
symbols = ["AAA"]
[[strategies]]
id = "s"
class = "support:BuyEveryBar"
symbols = ["AAA"]
"""


def _failing_source(after: int) -> Iterator[Bar | Tick]:
    yield from islice(synthetic_bars(SyntheticConfig(symbols=("AAA",)), interval_s=60), after)
    raise DataError("line 11: price is not a number")


def test_a_feed_failure_mid_run_is_escalated_as_fatal(
    write_settings: Callable[[str], Path],
) -> None:
    reasons: list[str] = []
    escalated = threading.Event()

    def on_fatal(reason: str) -> None:
        reasons.append(reason)
        escalated.set()

    settings = load_settings(write_settings(SETTINGS))
    rt = Runtime(settings, source=_failing_source(10), on_fatal=on_fatal)
    rt.start()
    assert escalated.wait(30)
    summary = rt.stop()
    assert rt.fatal is not None
    assert rt.fatal.startswith("feed (feed) failed: DataError: line 11")
    assert reasons == [rt.fatal]
    (row,) = summary.strategies
    assert (row.orders, row.fills) == (10, 9), "ten bars, each order fills on the next"
    assert summary.stuck_threads == ()


def test_tradepit_run_exits_1_when_a_core_actor_fails(
    write_settings: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(runtime.boot, "market_data", lambda _feed: _failing_source(5))
    assert main(["run", str(write_settings(SETTINGS))]) == 1
    captured = capsys.readouterr()
    assert "TOTAL" in captured.out
    assert "stopped because feed (feed) failed" in captured.err
