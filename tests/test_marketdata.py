"""Tests of runtime.marketdata: the real sample files, bad files, synthetic data, merging."""

from __future__ import annotations

import calendar
import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from runtime import marketdata
from runtime.config import CsvSourceConfig, DataKind, FeedConfig, FeedSource, SyntheticConfig
from runtime.errors import DataError
from runtime.marketdata import (
    infer_interval_s,
    load_csv,
    market_data,
    merge_streams,
    synthetic_bars,
)
from runtime.messages import Bar, Tick

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

ORCL = "orcl-1995-2014.txt"
MIN_001 = "2006-01-02-volume-min-001.txt"
MIN_005 = "2006-min-005.txt"
TICKS = "ticksample.csv"

INTRADAY_HEADER = "Date,Time,Open,High,Low,Close,Volume,OpenInterest"


def utc_ns(*parts: int, ms: int = 0) -> int:
    """ns since the epoch of UTC (year, month, day[, hour, minute, second]), computed
    with calendar.timegm, independently of the module under test."""
    year_to_second = (*parts, 0, 0, 0)[:6]
    return calendar.timegm((*year_to_second, 0, 0, 0)) * 1_000_000_000 + ms * 1_000_000


@pytest.fixture
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"../shared/data is absent: {DATA} not found; the real-file tests need it")
    return DATA


@pytest.fixture
def logged_warnings() -> Iterator[list[str]]:
    """Messages loguru logs at WARNING or above while the test runs."""
    messages: list[str] = []
    sink = logger.add(messages.append, level="WARNING", format="{message}")
    try:
        yield messages
    finally:
        logger.remove(sink)


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def intraday(*rows: str) -> str:
    return "\n".join([INTRADAY_HEADER, *rows]) + "\n"


# --- the real files --------------------------------------------------------------


def test_all_is_sorted_and_complete() -> None:
    assert marketdata.__all__ == sorted(marketdata.__all__)
    assert set(marketdata.__all__) == {
        "ACCEPTED_HEADERS",
        "infer_interval_s",
        "load_csv",
        "market_data",
        "merge_streams",
        "synthetic_bars",
    }


def test_daily_file_loads_every_row_at_midnight_utc(data_dir: Path) -> None:
    bars = load_csv(data_dir / ORCL, symbol="ORCL")
    assert len(bars) == 5036
    first, last = bars[0], bars[-1]
    assert first.ts_event == utc_ns(1995, 1, 3)
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        2.179012,
        2.191358,
        2.117284,
        2.117284,
        36301200.0,
    )
    assert last.ts_event == utc_ns(2014, 12, 31)
    assert (last.open, last.close, last.volume) == (45.450001, 44.970001, 13269200.0)
    assert {b.interval_s for b in bars} == {86400}
    assert {b.symbol for b in bars} == {"ORCL"}
    assert all(isinstance(b, Bar) for b in bars)


def test_bars_get_distinct_ids_and_a_creation_time(data_dir: Path) -> None:
    bars = load_csv(data_dir / MIN_005, symbol="FUT")
    assert len({b.id for b in bars}) == len(bars)
    assert all(b.ts_init > utc_ns(2020, 1, 1) for b in bars)


def test_short_header_minute_file_is_read_as_date_time_with_one_warning(
    data_dir: Path, logged_warnings: list[str]
) -> None:
    bars = load_csv(data_dir / MIN_001, symbol="FUT")
    assert len(bars) == 30889
    first, last = bars[0], bars[-1]
    assert first.ts_event == utc_ns(2006, 1, 2, 9, 1)
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        3602.0,
        3603.0,
        3597.0,
        3599.0,
        5699.0,
    )
    assert last.ts_event == utc_ns(2006, 2, 27, 22, 0)
    assert (last.open, last.high, last.low, last.close, last.volume) == (
        3840.0,
        3840.0,
        3838.0,
        3838.0,
        327.0,
    )
    assert first.interval_s == 60
    assert len(logged_warnings) == 1
    assert MIN_001 in logged_warnings[0]


def test_well_formed_files_log_no_warning(data_dir: Path, logged_warnings: list[str]) -> None:
    load_csv(data_dir / ORCL, symbol="ORCL")
    load_csv(data_dir / MIN_005, symbol="FUT")
    load_csv(data_dir / TICKS, symbol="FUT", kind=DataKind.TICKS)
    assert logged_warnings == []


def test_five_minute_file_loads_with_unknown_volume(data_dir: Path) -> None:
    path = data_dir / MIN_005
    rows_in_file = len(path.read_text().splitlines()) - 1
    bars = load_csv(path, symbol="FUT")
    assert len(bars) == rows_in_file == 2142
    first, last = bars[0], bars[-1]
    assert first.ts_event == utc_ns(2006, 1, 2, 9, 5)
    assert (first.open, first.high, first.low, first.close) == (3578.73, 3587.88, 3578.73, 3582.99)
    assert last.ts_event == utc_ns(2006, 1, 30, 17, 30)
    assert (last.open, last.high, last.low, last.close) == (3679.29, 3679.40, 3676.31, 3677.52)
    assert {b.volume for b in bars} == {0.0}
    assert first.interval_s == 300


def test_tick_file_loads_as_ticks_with_millisecond_timestamps(data_dir: Path) -> None:
    ticks = load_csv(data_dir / TICKS, symbol="FUT", kind=DataKind.TICKS)
    assert len(ticks) == 135
    assert all(isinstance(t, Tick) for t in ticks)
    first, last = ticks[0], ticks[-1]
    assert first.ts_event == utc_ns(2015, 9, 23, 20, 57, 42, ms=146)
    assert (first.price, first.size) == (3067.0, 180.0)
    assert last.ts_event == utc_ns(2015, 9, 23, 21, 0, 0, ms=238)
    assert (last.price, last.size) == (3069.0, 1.0)


def test_ticks_may_share_a_timestamp(data_dir: Path) -> None:
    # Lines 23 and 24 of the sample are two trades in the same millisecond.
    ticks = load_csv(data_dir / TICKS, symbol="FUT", kind=DataKind.TICKS)
    assert ticks[21].ts_event == ticks[22].ts_event
    assert (ticks[21].price, ticks[22].price) == (3068.0, 3069.0)


def test_tick_file_read_as_bars_rejects_the_repeated_timestamp(data_dir: Path) -> None:
    with pytest.raises(DataError, match=r"ticksample\.csv: line 24: timestamp .* is not after"):
        load_csv(data_dir / TICKS, symbol="FUT", kind=DataKind.BARS, interval_s=1)


# --- layouts ---------------------------------------------------------------------


def test_datetime_file_loads_as_bars(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Datetime,Open,High,Low,Close,Volume,OpenInterest\n"
        "2024-03-01T14:30:00,10,11,9,10.5,100,0\n"
        "2024-03-01T14:30:30.000,10.5,10.5,10,10,0,0\n",
    )
    bars = load_csv(path, symbol="X")
    assert [b.ts_event for b in bars] == [
        utc_ns(2024, 3, 1, 14, 30),
        utc_ns(2024, 3, 1, 14, 30, 30),
    ]
    assert [b.interval_s for b in bars] == [30, 30]
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close) == (10.0, 11.0, 9.0, 10.5)


def test_datetime_with_an_offset_is_converted_to_utc(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(
        b"\xef\xbb\xbfDatetime,Open,High,Low,Close,Volume,OpenInterest\n"
        b"2024-03-01T15:30:00+01:00,1,1,1,1,1,0\n"
        b"2024-03-01T14:30:01Z,1,1,1,1,1,0\n"
    )
    ticks = load_csv(path, symbol="X", kind=DataKind.TICKS)
    assert [t.ts_event for t in ticks] == [
        utc_ns(2024, 3, 1, 14, 30),
        utc_ns(2024, 3, 1, 14, 30, 1),
    ]


def test_daily_file_can_be_read_as_ticks_of_its_close(tmp_path: Path) -> None:
    path = write(tmp_path, "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,1,3,1,2,2,7\n")
    (tick,) = load_csv(path, symbol="X", kind=DataKind.TICKS)
    assert (tick.ts_event, tick.price, tick.size) == (utc_ns(2024, 1, 2), 2.0, 7.0)


def test_header_matching_ignores_case_and_whitespace(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        " date , TIME,open,High ,LOW,close,volume, openinterest\r\n"
        "2006-01-02,09:01:00,1,2,1,2,3,0\r\n"
        "2006-01-02,09:02:00,2,2,1,1,3,0\r\n",
    )
    bars = load_csv(path, symbol="X")
    assert [b.close for b in bars] == [2.0, 1.0]


def test_explicit_interval_overrides_inference(tmp_path: Path) -> None:
    path = write(tmp_path, intraday("2006-01-02,09:01:00,1,1,1,1,0,0"))
    (bar,) = load_csv(path, symbol="X", interval_s=60)
    assert bar.interval_s == 60


def test_interval_cannot_be_inferred_from_one_bar(tmp_path: Path) -> None:
    path = write(tmp_path, intraday("2006-01-02,09:01:00,1,1,1,1,0,0"))
    with pytest.raises(DataError, match=r"cannot infer the bar interval.*set its interval_s"):
        load_csv(path, symbol="X")


def test_infer_interval_ignores_weekend_gaps() -> None:
    day = 86_400 * 10**9
    fri, mon, tue = utc_ns(2024, 1, 5), utc_ns(2024, 1, 8), utc_ns(2024, 1, 9)
    assert infer_interval_s([fri, mon, tue]) == 86400
    assert infer_interval_s([fri, fri + 3 * day]) == 3 * 86400


def test_infer_interval_rejects_sub_second_gaps() -> None:
    with pytest.raises(ValueError, match="not a whole number of seconds"):
        infer_interval_s([0, 1_500_000_000, 2_000_000_000])


def test_short_header_without_a_time_in_the_rows_is_rejected(
    tmp_path: Path, logged_warnings: list[str]
) -> None:
    path = write(
        tmp_path,
        "Date,Open,High,Low,Close,Volume,OpenInterest\n2006-01-02,3602,3603,3597,3599,5699,0,0\n",
    )
    with pytest.raises(DataError, match=r"data\.csv: line 2: expected 7 fields .* got 8"):
        load_csv(path, symbol="X")
    assert logged_warnings == []


def test_short_header_repair_still_needs_a_known_layout(tmp_path: Path) -> None:
    path = write(
        tmp_path, "Date,Open,High,Low,Close,Volume\n2006-01-02,09:01:00,1,1,1,1,5\n", name="odd.csv"
    )
    with pytest.raises(DataError, match=r"odd\.csv: line 1: unknown header .*read as"):
        load_csv(path, symbol="X")


def test_unknown_header_lists_the_accepted_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "When,Price,Qty\n2024-01-02,1,2\n")
    with pytest.raises(DataError) as caught:
        load_csv(path, symbol="X")
    for header in marketdata.ACCEPTED_HEADERS:
        assert header in str(caught.value)


# --- bad files -------------------------------------------------------------------


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        load_csv(tmp_path / "nope.csv", symbol="X")


def test_empty_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.csv: empty file"):
        load_csv(write(tmp_path, ""), symbol="X")


def test_header_without_rows_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data rows"):
        load_csv(write(tmp_path, INTRADAY_HEADER + "\n"), symbol="X")


GOOD = "2006-01-02,09:01:00,10,11,9,10,5,0"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("2006-01-02,09:02:00,abc,11,9,10,5,0", "Open 'abc' is not a number"),
        ("2006-01-02,09:02:00,10,11,9,,5,0", "Close '' is not a number"),
        ("2006-01-02,09:02:00,10,nan,9,10,5,0", "High 'nan' is not finite"),
        ("2006-01-02,09:02:00,10,11,-inf,10,5,0", "Low '-inf' is not finite"),
        ("2006-01-02,09:02:00,10,11,9,10,inf,0", "Volume 'inf' is not finite"),
        ("2006-01-02,09:02:00,10,9,11,10,5,0", "High 9.0 is below Low 11.0"),
        ("2006-01-02,09:02:00,12,11,9,10,5,0", r"Open 12.0 is outside \[Low 9.0, High 11.0\]"),
        ("2006-01-02,09:02:00,10,11,9,8.5,5,0", r"Close 8.5 is outside \[Low 9.0, High 11.0\]"),
        ("2006-01-02,09:02:00,10,11,9,10,-1,0", "Volume -1.0 is negative"),
        ("2006-01-02,09:00:00,10,11,9,10,5,0", "timestamp 2006-01-02,09:00:00 is not after"),
        ("2006-01-02,09:01:00,10,11,9,10,5,0", "timestamp 2006-01-02,09:01:00 is not after"),
        ("2006-13-02,09:02:00,10,11,9,10,5,0", "Date '2006-13-02' is not an ISO date"),
        ("2006-01-02,9:02,10,11,9,10,5,0", "Time '9:02' is not HH:MM:SS"),
        ("2006-01-02,09:02:00,10,11,9,10,5", "expected 8 fields"),
    ],
)
def test_bad_row_names_file_line_and_value(tmp_path: Path, row: str, problem: str) -> None:
    path = write(tmp_path, intraday(GOOD, row, GOOD.replace("09:01", "09:03")))
    with pytest.raises(DataError, match=rf"data\.csv: line 3: {problem}"):
        load_csv(path, symbol="X")


def test_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path, INTRADAY_HEADER + "\n\n" + GOOD + "\n\n2006-01-02,09:02:00,x,1,1,1,0,0\n"
    )
    with pytest.raises(DataError, match=r"line 5: Open 'x'"):
        load_csv(path, symbol="X")


def test_bad_tick_row_is_rejected_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Datetime,Open,High,Low,Close,Volume,OpenInterest\n"
        "2015-09-23T20:57:42.146,1,1,1,1,1,0\n"
        "2015-09-23T20:57:42.145,1,1,1,1,1,0\n",
    )
    with pytest.raises(DataError, match=r"line 3: timestamp .* is not at or after"):
        load_csv(path, symbol="X", kind=DataKind.TICKS)


def test_rounding_noise_within_tolerance_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, intraday("2006-01-02,09:01:00,100.0000000000001,100,99,99.5,0,0"))
    (bar,) = load_csv(path, symbol="X", interval_s=60)
    assert bar.open > bar.high


# --- synthetic -------------------------------------------------------------------


def values(bars: list[Bar]) -> list[tuple[object, ...]]:
    return [(b.ts_event, b.symbol, b.open, b.high, b.low, b.close, b.volume) for b in bars]


def test_synthetic_is_deterministic_for_a_seed() -> None:
    config = SyntheticConfig(seed=42, bars=200)
    assert values(list(synthetic_bars(config, interval_s=60))) == values(
        list(synthetic_bars(config, interval_s=60))
    )


def test_synthetic_differs_for_another_seed() -> None:
    one = list(synthetic_bars(SyntheticConfig(seed=1, bars=50), interval_s=60))
    two = list(synthetic_bars(SyntheticConfig(seed=2, bars=50), interval_s=60))
    assert [b.close for b in one] != [b.close for b in two]


def test_synthetic_bars_are_consistent_walks() -> None:
    config = SyntheticConfig(symbols=("A", "B"), seed=3, bars=500, volatility=0.01, volume=1000)
    bars = list(synthetic_bars(config, interval_s=60))
    assert len(bars) == 1000
    last_close = {"A": 100.0, "B": 100.0}
    for bar in bars:
        assert bar.open == last_close[bar.symbol]
        assert bar.high >= max(bar.open, bar.close)
        assert bar.low <= min(bar.open, bar.close)
        assert bar.low > 0
        assert bar.volume > 0
        assert math.isfinite(bar.close)
        last_close[bar.symbol] = bar.close
    mean_volume = sum(b.volume for b in bars) / len(bars)
    assert 900 < mean_volume < 1100
    assert len({b.close for b in bars}) == len(bars)


def test_synthetic_timestamps_are_shared_and_in_symbol_order() -> None:
    config = SyntheticConfig(symbols=("C", "A", "B"), bars=4, start="2024-01-02T09:30:00")
    bars = list(synthetic_bars(config, interval_s=300))
    start = utc_ns(2024, 1, 2, 9, 30)
    assert [b.symbol for b in bars] == ["C", "A", "B"] * 4
    assert [b.ts_event for b in bars] == [start + i * 300 * 10**9 for i in range(4) for _ in "CAB"]
    assert {b.interval_s for b in bars} == {300}


def test_synthetic_with_zero_bars_never_ends() -> None:
    stream = synthetic_bars(SyntheticConfig(bars=0), interval_s=1)
    assert not isinstance(stream, list)
    taken = list(itertools.islice(stream, 10_000))
    assert len(taken) == 10_000
    # Three symbols per timestamp: bar 10,000 is the first symbol of step 3,333.
    assert taken[-1].ts_event == utc_ns(2024, 1, 2, 9, 30) + 3_333 * 10**9
    assert (next(stream).symbol, next(stream).symbol, next(stream).symbol) == (
        "SYN-B",
        "SYN-C",
        "SYN-A",
    )


@pytest.mark.parametrize(
    ("config", "interval_s", "problem"),
    [
        (SyntheticConfig(), 0, "interval_s"),
        (SyntheticConfig(symbols=()), 60, "symbols must not be empty"),
        (SyntheticConfig(symbols=("A", "A")), 60, "symbols repeat"),
        (SyntheticConfig(start_price=0.0), 60, "start_price"),
        (SyntheticConfig(volatility=-0.1), 60, "volatility"),
        (SyntheticConfig(volume=0.0), 60, "volume"),
        (SyntheticConfig(bars=-1), 60, "bars"),
        (SyntheticConfig(start="yesterday"), 60, "start"),
    ],
)
def test_synthetic_rejects_impossible_settings_at_once(
    config: SyntheticConfig, interval_s: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        synthetic_bars(config, interval_s=interval_s)


# --- merging and the feed --------------------------------------------------------


def bar(ts: int, symbol: str) -> Bar:
    return Bar(
        id=0,
        ts_event=ts,
        ts_init=0,
        symbol=symbol,
        open=1.0,
        high=1.0,
        low=1.0,
        close=1.0,
        volume=0.0,
        interval_s=1,
    )


def test_merge_orders_by_time_then_stream_order() -> None:
    first = [bar(1, "A"), bar(3, "A"), bar(5, "A")]
    second = [bar(1, "B"), bar(2, "B"), bar(5, "B"), bar(6, "B")]
    merged = [(m.ts_event, m.symbol) for m in merge_streams([first, second])]
    assert merged == [(1, "A"), (1, "B"), (2, "B"), (3, "A"), (5, "A"), (5, "B"), (6, "B")]
    swapped = [(m.ts_event, m.symbol) for m in merge_streams([second, first])]
    assert swapped[:2] == [(1, "B"), (1, "A")]


def test_merge_is_lazy_over_infinite_streams() -> None:
    odd = (bar(t, "O") for t in itertools.count(1, 2))
    even = (bar(t, "E") for t in itertools.count(0, 2))
    merged = merge_streams([odd, even])
    assert [m.ts_event for m in itertools.islice(merged, 6)] == [0, 1, 2, 3, 4, 5]


def test_merge_rejects_a_stream_that_goes_back_in_time() -> None:
    merged = merge_streams([[bar(1, "A"), bar(0, "A")], [bar(5, "B")]])
    with pytest.raises(DataError, match="stream 0 goes back in time"):
        list(merged)


def test_market_data_synthetic_follows_the_feed_settings() -> None:
    feed = FeedConfig(interval_s=30, synthetic=SyntheticConfig(symbols=("S",), bars=3))
    items = list(market_data(feed))
    bars = [b for b in items if isinstance(b, Bar)]
    assert bars == items
    assert [b.symbol for b in bars] == ["S"] * 3
    assert {b.interval_s for b in bars} == {30}


def test_market_data_merges_every_csv_in_time_order(tmp_path: Path) -> None:
    a = write(tmp_path, intraday(GOOD, GOOD.replace("09:01", "09:03")), name="a.csv")
    b = write(tmp_path, intraday(GOOD.replace("09:01", "09:02")), name="b.csv")
    feed = FeedConfig(
        source=FeedSource.CSV,
        csv=(
            CsvSourceConfig(path=a, symbol="A"),
            CsvSourceConfig(path=b, symbol="B", interval_s=60),
        ),
    )
    merged = [(m.symbol, m.ts_event) for m in market_data(feed)]
    t0 = utc_ns(2006, 1, 2, 9, 1)
    assert merged == [("A", t0), ("B", t0 + 60 * 10**9), ("A", t0 + 120 * 10**9)]


def test_market_data_with_real_files_mixes_bars_and_ticks(data_dir: Path) -> None:
    feed = FeedConfig(
        source=FeedSource.CSV,
        csv=(
            CsvSourceConfig(path=data_dir / TICKS, symbol="T", kind=DataKind.TICKS),
            CsvSourceConfig(path=data_dir / MIN_005, symbol="F"),
        ),
    )
    items = list(market_data(feed))
    assert len(items) == 135 + 2142
    assert [m.ts_event for m in items] == sorted(m.ts_event for m in items)
    assert isinstance(items[0], Bar)
    assert isinstance(items[-1], Tick)


def test_market_data_checks_csv_files_before_returning(tmp_path: Path) -> None:
    feed = FeedConfig(
        source=FeedSource.CSV, csv=(CsvSourceConfig(path=tmp_path / "gone.csv", symbol="X"),)
    )
    with pytest.raises(DataError, match=r"gone\.csv: no such file"):
        market_data(feed)


def test_market_data_without_csv_entries_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"\[\[feed\.csv\]\]"):
        market_data(FeedConfig(source=FeedSource.CSV))


def test_dates_before_1970_load_as_negative_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "1969-12-30,10,11,9,10,10,100\n"
        "1969-12-31,10,11,9,10,10,100\n"
        "1970-01-01,10,11,9,10,10,100\n",
        encoding="utf-8",
    )
    bars = load_csv(path, symbol="OLD")
    day = 86_400 * 10**9
    assert [b.ts_event for b in bars] == [-2 * day, -day, 0]
