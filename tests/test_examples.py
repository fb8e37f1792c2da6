"""Every example strategy runs in the real runtime and trades."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.messages import Fill, StrategyStarted, StrategyStopped
from support import run_to_end

TEMPLATE = """
[runtime]
log_level = "ERROR"
[feed]
source = "synthetic"
lockstep = {lockstep}
[feed.synthetic]
symbols = ["AAA"]
bars = 600
volatility = 0.01
[engines.paper.slippage]
model = "fixed_bps"
bps = 2.0
[engines.paper.commission]
model = "per_share"
per_share = 0.01
minimum = 1.0
[[strategies]]
id = "example"
class = "{cls}"
symbols = ["AAA"]
"""


@pytest.mark.parametrize(
    "cls", ["strategies.sma_crossover:SmaCrossover", "strategies.bollinger:BollingerReversion"]
)
@pytest.mark.parametrize("lockstep", ["true", "false"])
def test_example_strategy_runs_and_trades_with_costs(
    cls: str, lockstep: str, write_settings: Callable[[str], Path]
) -> None:
    summary, recorder = run_to_end(write_settings(TEMPLATE.format(cls=cls, lockstep=lockstep)))
    fills = recorder.of(Fill)
    # Free-running at full speed, the feed may run up to max_in_flight bars ahead
    # of an order's round trip, so how many orders fill before the data ends
    # depends on thread scheduling; in lockstep every signal fills.
    (row,) = summary.strategies
    if lockstep == "true":
        assert len(fills) >= 4
    else:
        assert row.orders >= 1
    assert all(f.commission >= 1.0 for f in fills)
    assert all(f.slippage > 0 for f in fills)
    assert len(recorder.of(StrategyStarted)) == 1
    assert len(recorder.of(StrategyStopped)) == 1
    assert summary.portfolio is not None
    fees = sum(a.fees for a in summary.portfolio.accounts)
    assert fees == pytest.approx(sum(f.commission for f in fills))
    assert summary.bars == 600
