"""Replay pacing and partial fills through the running actors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runtime.boot import Runtime
from runtime.messages import Fill, OrderStatus, OrderUpdate, StrategyStarted
from runtime.settings import load_settings
from support import Recorder, run_to_end


def test_paced_replay_does_not_run_ahead_of_market_time(
    write_settings: Callable[[str], Path],
) -> None:
    # One-minute bars at speed 1: the second bar is due a minute after the first.
    text = """
[runtime]
log_level = "ERROR"
[feed]
interval_s = 60
speed = 1.0
[feed.synthetic]
symbols = ["AAA"]
bars = 1000
[[strategies]]
id = "s"
class = "support:BuyEveryBar"
symbols = ["AAA"]
"""
    recorder = Recorder()
    runtime = Runtime(load_settings(write_settings(text)), listeners=[recorder])
    runtime.start()
    runtime.settle()
    summary = runtime.stop()
    assert recorder.of(StrategyStarted)
    assert summary.bars <= 2, f"{summary.bars} bars published in well under a minute"
    assert not runtime.finished.is_set()


def test_an_order_larger_than_the_volume_cap_fills_across_bars(
    write_settings: Callable[[str], Path],
) -> None:
    text = """
[runtime]
log_level = "ERROR"
[feed]
lockstep = true
[feed.synthetic]
symbols = ["AAA"]
bars = 40
volume = 1000.0
[engines.paper]
max_volume_share = 0.1
[[strategies]]
id = "big"
class = "support:BuyOnce"
symbols = ["AAA"]
[strategies.params]
quantity = 500
"""
    summary, recorder = run_to_end(write_settings(text))
    fills = recorder.of(Fill)
    assert len(fills) >= 4, "500 shares at <= ~10% of ~1000 per bar need several bars"
    assert sum(f.quantity for f in fills) == 500
    assert len({f.ts_event for f in fills}) == len(fills), "one fill per bar"
    updates = recorder.of(OrderUpdate)
    statuses = [u.status for u in updates]
    assert statuses[0] is OrderStatus.ACCEPTED
    assert statuses[-1] is OrderStatus.FILLED
    assert statuses.count(OrderStatus.PARTIALLY_FILLED) == len(fills) - 1
    filled = [u.filled_quantity for u in updates[1:]]
    assert filled == sorted(filled), "filled quantity never goes down"
    (stats,) = summary.strategies
    assert stats.positions == (("AAA", 500.0),)


def test_a_day_order_expires_at_the_first_bar_of_the_next_market_day(
    write_settings: Callable[[str], Path],
) -> None:
    # Hourly bars: 24 per day. A far-away DAY limit placed on the first bar
    # must expire on the first bar dated the next day, by market time.
    text = """
[runtime]
log_level = "ERROR"
[feed]
lockstep = true
interval_s = 3600
[feed.synthetic]
symbols = ["AAA"]
bars = 40
start = "2024-01-02T00:00:00"
[[strategies]]
id = "day"
class = "support:DayLimitOnce"
symbols = ["AAA"]
"""
    _summary, recorder = run_to_end(write_settings(text))
    updates = recorder.of(OrderUpdate)
    assert [u.status for u in updates] == [OrderStatus.ACCEPTED, OrderStatus.EXPIRED]
    assert updates[1].ts_event == 1_704_240_000_000_000_000, "2024-01-03T00:00 UTC"


def test_observers_get_every_bar_once_the_feed_settles(
    write_settings: Callable[[str], Path],
) -> None:
    from runtime.messages import Bar, GetSnapshot
    from runtime.names import PORTFOLIO

    text = """
[runtime]
log_level = "ERROR"
[feed.synthetic]
symbols = ["AAA"]
[[strategies]]
id = "once"
class = "support:BuyOnce"
symbols = ["AAA"]
[strategies.params]
quantity = 10
"""
    runtime = Runtime(load_settings(write_settings(text)), source=iter(()))
    runtime.start()
    try:
        for n, (o, c) in enumerate([(100.0, 101.0), (102.0, 104.0), (105.0, 107.5)]):
            runtime.inject(
                Bar(id=n, ts_event=n * 60_000_000_000, ts_init=0, symbol="AAA", open=o,
                    high=max(o, c) + 1, low=min(o, c) - 1, close=c, volume=0.0, interval_s=60)
            )  # fmt: skip
            runtime.settle()
        snapshot = runtime.ask(PORTFOLIO, GetSnapshot())
    finally:
        runtime.stop()
    (position,) = snapshot.total.positions
    assert position.quantity == 10
    assert position.avg_price == 102.0, "bought on bar 0, filled at bar 1's open"
    assert position.mark_price == 107.5, "marked at the last bar's close"
    assert position.unrealized_pnl == (107.5 - 102.0) * 10
