"""The runtime boots from a TOML file, trades on paper end to end, and stops clean."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.boot import Runtime
from runtime.marketdata import load_csv
from runtime.messages import Fill, OrderStatus, OrderUpdate, Position
from runtime.settings import load_settings
from runtime.summary import RunSummary
from support import Recorder, run_to_end

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

ORCL_SETTINGS = """
[runtime]
log_level = "WARNING"
shutdown_timeout_s = 20.0

[feed]
source = "csv"
speed = 0
lockstep = true

[[feed.csv]]
path = "{data}/orcl-1995-2014.txt"
symbol = "ORCL"

[execution]
engines = ["paper"]

[engines.paper]
adapter = "paper"

[engines.paper.commission]
model = "per_share"
per_share = 0.01
minimum = 1.0

[portfolio]
starting_cash = 100000.0

[[strategies]]
id = "sma"
class = "strategies.sma_crossover:SmaCrossover"
symbols = ["ORCL"]
[strategies.params]
fast = 10
slow = 30
quantity = 100
"""


@pytest.fixture(scope="module")
def orcl_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunSummary, Recorder]:
    """One lockstep replay of ORCL 1995-2014 through the whole runtime, shared by
    the tests that only read its results."""
    if not DATA.is_dir():
        pytest.skip(f"../shared/data is absent (looked in {DATA}); real market data needed")
    path = tmp_path_factory.mktemp("orcl") / "settings.toml"
    path.write_text(ORCL_SETTINGS.format(data=DATA), encoding="utf-8")
    return run_to_end(path, timeout_s=120)


def test_sma_strategy_trades_orcl_and_books_equal_what_fills_imply(
    orcl_run: tuple[RunSummary, Recorder],
) -> None:
    summary, recorder = orcl_run

    fills = recorder.of(Fill)
    assert summary.bars == 5036
    assert len(fills) >= 20, "the SMA crossover should trade many times over 20 years"
    assert all(f.strategy_id == "sma" and f.symbol == "ORCL" for f in fills)

    quantity = sum(f.side.sign * f.quantity for f in fills)
    cash = 100_000.0 - sum(f.side.sign * f.quantity * f.price + f.commission for f in fills)
    fees = sum(f.commission for f in fills)

    assert summary.portfolio is not None
    (account,) = summary.portfolio.accounts
    (position,) = account.positions
    assert position.quantity == quantity
    assert abs(summary.portfolio.cash - cash) < 1e-6
    assert abs(account.fees - fees) < 1e-9
    (stats,) = summary.strategies
    assert stats.fills == len(fills)
    assert dict(stats.positions).get("ORCL", 0.0) == quantity
    # Long-only crossover: position alternates 0 -> 100 -> 0; each sell closes
    # the buy before it, so realized P&L is the sum of (sell - buy) x 100.
    running = 0.0
    realized = 0.0
    entry = 0.0
    for fill in fills:
        running += fill.side.sign * fill.quantity
        assert running in (0.0, 100.0)
        if fill.side.sign > 0:
            entry = fill.price
        else:
            realized += (fill.price - entry) * fill.quantity
    last_close = load_csv(DATA / "orcl-1995-2014.txt", symbol="ORCL")[-1].close
    unrealized = (last_close - entry) * quantity
    assert account.realized_pnl == pytest.approx(realized, abs=1e-6)
    assert account.unrealized_pnl == pytest.approx(unrealized, abs=1e-6)
    assert summary.portfolio.equity == pytest.approx(cash + quantity * last_close, abs=1e-6)
    assert stats.realized_pnl == account.realized_pnl
    assert summary.stuck_threads == ()


def _expected_crossover_trades(closes: list[float], fast: int, slow: int) -> list[tuple[int, int]]:
    """(bar index of the fill, +1 buy / -1 sell) of a long-only 100-share crossover."""
    trades = []
    held = 0
    previous = None
    for i in range(slow - 1, len(closes)):
        diff = (
            math.fsum(closes[i - fast + 1 : i + 1]) / fast
            - math.fsum(closes[i - slow + 1 : i + 1]) / slow
        )
        if previous is not None and i + 1 < len(closes):
            if previous <= 0 < diff and held == 0:
                trades.append((i + 1, 1))
                held = 100
            elif previous >= 0 > diff and held == 100:
                trades.append((i + 1, -1))
                held = 0
        previous = diff
    return trades


def test_orders_fill_at_the_next_bar_open_after_the_signal_in_lockstep(
    orcl_run: tuple[RunSummary, Recorder],
) -> None:
    bars = load_csv(DATA / "orcl-1995-2014.txt", symbol="ORCL")
    index_of = {b.ts_event: i for i, b in enumerate(bars)}
    expected = _expected_crossover_trades([b.close for b in bars], 10, 30)
    _, recorder = orcl_run
    fills = recorder.of(Fill)
    actual = [(index_of[f.ts_event], f.side.sign) for f in fills]
    assert actual == expected
    for fill in fills:
        assert fill.price == bars[index_of[fill.ts_event]].open  # no slippage configured


def test_every_order_ends_accepted_then_filled_and_positions_are_published(
    orcl_run: tuple[RunSummary, Recorder],
) -> None:
    _, recorder = orcl_run
    updates = recorder.of(OrderUpdate)
    by_order: dict[str, list[OrderStatus]] = {}
    for update in updates:
        by_order.setdefault(update.client_order_id, []).append(update.status)
    assert by_order
    for statuses in by_order.values():
        assert statuses[0] is OrderStatus.ACCEPTED
        assert statuses[-1] in (OrderStatus.FILLED, OrderStatus.CANCELLED)
    positions = recorder.of(Position)
    assert len(positions) == len(recorder.of(Fill))


def test_no_actor_thread_is_left_running_after_stop(
    data_dir: Path, write_settings: Callable[[str], Path]
) -> None:
    before = {t.ident for t in threading.enumerate()}
    runtime = Runtime(load_settings(write_settings(ORCL_SETTINGS.format(data=data_dir))))
    runtime.start()
    assert runtime.finished.wait(120), "the feed did not finish the file"
    during = [t for t in threading.enumerate() if t.ident not in before]
    assert len(during) >= 7, "supervisor, events, portfolio, engine, risk, strategy, feed"
    summary = runtime.stop()
    assert summary.stuck_threads == ()
    after = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert after == []
    assert runtime.stop() is summary, "stop is idempotent"
