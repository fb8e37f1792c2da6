"""``venue_market_data``: the feed's source reading a venue process's PUB socket."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_venue import VenueProcess, start_venue, write_venue_config

from runtime.config import DataKind
from runtime.marketdata import load_csv, market_data
from runtime.messages import Bar, Tick
from runtime.venue import load_venue_settings
from runtime.venue_feed import venue_market_data


def collect(source: Iterator[Bar | Tick | None], timeout_s: float = 15.0) -> list[Bar | Tick]:
    """Everything until the end-of-data message; fails after ``timeout_s``."""
    items: list[Bar | Tick] = []
    deadline = time.monotonic() + timeout_s
    for item in source:
        if item is not None:
            items.append(item)
        if time.monotonic() > deadline:
            pytest.fail(f"no end of data within {timeout_s}s ({len(items)} items)")
    return items


def _values(item: Bar | Tick) -> tuple[object, ...]:
    if isinstance(item, Bar):
        return (item.symbol, item.ts_event, item.open, item.high, item.low, item.close, item.volume)
    return (item.symbol, item.ts_event, item.price, item.size)


def test_every_bar_the_venue_replays_arrives_then_the_source_ends(tmp_path: Path) -> None:
    config = write_venue_config(
        tmp_path / "venue.toml", bars=25, speed=0.0, wait_for_subscriber=True
    )
    venue = start_venue(config)
    try:
        received = collect(venue_market_data(venue.market_data))
    finally:
        venue.kill()
    expected = list(market_data(load_venue_settings(config).feed))
    assert len(expected) == 50
    assert [_values(b) for b in received] == [_values(b) for b in expected]


def test_only_the_subscribed_symbols_arrive(tmp_path: Path) -> None:
    config = write_venue_config(
        tmp_path / "venue.toml", bars=20, symbols=("SYN-A", "SYN-AB", "SYN-B"), speed=0.0,
        wait_for_subscriber=True,
    )  # fmt: skip
    venue = start_venue(config)
    try:
        received = collect(venue_market_data(venue.market_data, ("SYN-A", "SYN-B")))
    finally:
        venue.kill()
    assert [b.symbol for b in received] == ["SYN-A", "SYN-B"] * 20  # SYN-AB is not SYN-A


def test_next_yields_none_within_about_50ms_while_nothing_arrives(tmp_path: Path) -> None:
    venue = start_venue(write_venue_config(tmp_path / "venue.toml", speed=1.0))  # 1 bar a minute
    source = venue_market_data(venue.market_data)
    try:
        nones = 0
        for _ in range(10):
            started = time.monotonic()
            item = next(source)
            assert time.monotonic() - started < 0.25
            nones += item is None
        assert nones >= 8
    finally:
        source.close()
        venue.kill()


def test_a_csv_tick_file_is_replayed_tick_for_tick(tmp_path: Path, data_dir: Path) -> None:
    feed = (
        '[venue.feed]\nsource = "csv"\nspeed = 0.0\n'
        f'[[venue.feed.csv]]\npath = "{data_dir / "ticksample.csv"}"\n'
        'symbol = "FUT"\nkind = "ticks"\n'
    )
    config = write_venue_config(tmp_path / "venue.toml", wait_for_subscriber=True, feed=feed)
    venue: VenueProcess = start_venue(config)
    try:
        received = collect(venue_market_data(venue.market_data, ("FUT",)))
    finally:
        venue.kill()
    expected = load_csv(data_dir / "ticksample.csv", symbol="FUT", kind=DataKind.TICKS)
    assert len(expected) == 135
    assert all(isinstance(t, Tick) for t in received)
    assert [_values(t) for t in received] == [_values(t) for t in expected]
