"""Working orders are cancelled at shutdown; tick data trades end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runtime.messages import Fill, OrderStatus, OrderUpdate, RejectReason
from support import run_to_end


def test_working_limit_orders_are_cancelled_with_reason_shutdown(
    write_settings: Callable[[str], Path],
) -> None:
    text = """
[runtime]
log_level = "ERROR"
[feed]
lockstep = true
[feed.synthetic]
symbols = ["AAA"]
bars = 15
volatility = 0.0001
[[strategies]]
id = "low"
class = "support:BuyEveryBar"
symbols = ["AAA"]
[strategies.params]
limit_offset = 50.0
"""
    summary, recorder = run_to_end(write_settings(text))
    updates = recorder.of(OrderUpdate)
    cancelled = [u for u in updates if u.status is OrderStatus.CANCELLED]
    assert len(cancelled) == 15
    assert all(u.reason is RejectReason.SHUTDOWN for u in cancelled)
    assert recorder.of(Fill) == []
    (row,) = summary.strategies
    assert (row.orders, row.fills, row.positions) == (15, 0, ())


def test_tick_data_fills_at_the_next_tick(
    data_dir: Path, write_settings: Callable[[str], Path]
) -> None:
    from runtime.config import DataKind
    from runtime.marketdata import load_csv

    text = f"""
[runtime]
log_level = "ERROR"
[feed]
source = "csv"
lockstep = true
[[feed.csv]]
path = "{data_dir}/ticksample.csv"
symbol = "FUT"
kind = "ticks"
[[strategies]]
id = "ticker"
class = "support:BuyOnTick"
symbols = ["FUT"]
"""
    ticks = load_csv(data_dir / "ticksample.csv", symbol="FUT", kind=DataKind.TICKS)
    summary, recorder = run_to_end(write_settings(text))
    fills = recorder.of(Fill)
    assert summary.ticks == len(ticks) == 135
    assert len(fills) == 134, "every tick but the last is followed by one that fills it"
    prices = [t.price for t in ticks]
    assert [f.price for f in fills] == prices[1:]
