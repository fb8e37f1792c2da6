"""Live parity: the same data replayed through the actor runtime (CSV feed in
lockstep, paper engine, as fast as possible) makes the same orders and fills
as the backtester.

Two symbols of real data (ORCL daily bars and the 5-minute future bars) are
merged by time; the strategies use market, limit and stop orders, cancels,
partial fills (volume cap) and meet a risk limit (max_position), with
slippage and commission on. Client order ids differ only in the run tag
(``bt-`` in a backtest), so orders are compared by ``<strategy>-<n>``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.backtest import run_backtest
from runtime.backtest_types import BacktestResult
from runtime.cli_backtest import load_data
from runtime.messages import Fill, OrderStatus, OrderUpdate, RejectReason
from runtime.settings import load_settings
from support import run_to_end

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

SETTINGS = """
[runtime]
log_level = "ERROR"
shutdown_timeout_s = 20.0

[feed]
source = "csv"
speed = 0
lockstep = true

[[feed.csv]]
path = "{data}/orcl-1995-2014.txt"
symbol = "ORCL"

[[feed.csv]]
path = "{data}/2006-min-005.txt"
symbol = "FUT"

[execution]
engines = ["paper"]
cancel_on_shutdown = false   # orders working at the end stay so, as in a backtest

[engines.paper]
adapter = "paper"
max_volume_share = 0.00002

[engines.paper.slippage]
model = "fixed_bps"
bps = 2.0

[engines.paper.commission]
model = "per_share"
per_share = 0.01
minimum = 1.0

[risk]
max_position = 250

[portfolio]
starting_cash = 1000000.0

[gateway]
enabled = false

[journal]
enabled = false

[[strategies]]
id = "sma"
class = "strategies.sma_crossover:SmaCrossover"
symbols = ["ORCL"]
[strategies.params]
fast = 10
slow = 30
quantity = 100
[strategies.risk]
max_position = 0

[[strategies]]
id = "bracket"
class = "parity_strategies:BracketTrader"
symbols = ["FUT"]
[strategies.params]
every = 4
quantity = 150
patience = 3

[[strategies]]
id = "bracket-orcl"
class = "parity_strategies:BracketTrader"
symbols = ["ORCL"]
[strategies.params]
every = 7
quantity = 200
patience = 2
"""

OrderKey = tuple[str, str, str, float, str, float, float | None]
FillKey = tuple[str, int, str, float, float, float, float, str]


def _local(client_order_id: str) -> str:
    """``<strategy>-<n>`` of ``<run>-<strategy>-<n>``."""
    return client_order_id.split("-", 1)[1]


def _live_orders(updates: list[OrderUpdate]) -> dict[str, OrderKey]:
    last: dict[str, OrderUpdate] = {}
    for update in updates:
        if update.reason is RejectReason.MODIFY_REFUSED:
            continue
        last[update.client_order_id] = update
    return {
        _local(oid): (
            u.strategy_id,
            u.symbol,
            str(u.side),
            u.quantity,
            str(u.status),
            u.filled_quantity,
            u.avg_fill_price,
        )
        for oid, u in last.items()
    }


def _backtest_orders(result: BacktestResult) -> dict[str, OrderKey]:
    return {
        _local(o.client_order_id): (
            o.strategy_id,
            o.symbol,
            str(o.side),
            o.quantity,
            str(o.status),
            o.filled_quantity,
            o.avg_fill_price,
        )
        for o in result.orders
    }


def _fills(fills: list[Fill] | tuple[Fill, ...]) -> list[FillKey]:
    return [
        (
            _local(f.client_order_id),
            f.ts_event,
            str(f.side),
            f.quantity,
            f.price,
            f.commission,
            f.slippage,
            f.fill_id,
        )
        for f in fills
    ]


@pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}")
def test_live_lockstep_replay_makes_the_backtests_orders_and_fills(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(SETTINGS.format(data=DATA.as_posix()), encoding="utf-8")
    settings = load_settings(path)

    result = run_backtest(settings, load_data(settings, [], None, None))
    _summary, recorder = run_to_end(path, timeout_s=240)

    live_fills = recorder.of(Fill)
    # The run exercises what it should: enough of each kind of outcome.
    statuses = [o.status for o in result.orders]
    assert len(result.fills) > 300
    assert statuses.count(OrderStatus.CANCELLED) > 20
    assert statuses.count(OrderStatus.REJECTED) > 5  # oversized entries over max_position 250
    assert any(f.quantity < 100 for f in result.fills if f.symbol == "ORCL")  # volume cap
    assert {f.strategy_id for f in result.fills} == {"sma", "bracket", "bracket-orcl"}

    assert _fills(live_fills) == _fills(result.fills)
    assert _live_orders(recorder.of(OrderUpdate)) == _backtest_orders(result)
