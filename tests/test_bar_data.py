"""Tests of runtime.bar_data: bulk CSV (pyarrow and row-parser paths) and Parquet."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from loguru import logger

from runtime import bar_data
from runtime.backtest_types import BarSeries
from runtime.config import DataKind
from runtime.errors import DataError
from runtime.marketdata import load_csv
from runtime.messages import Bar, Tick

ORCL = "orcl-1995-2014.txt"
MIN_001 = "2006-01-02-volume-min-001.txt"
MIN_005 = "2006-min-005.txt"
TICKS = "ticksample.csv"

INTRADAY_HEADER = "Date,Time,Open,High,Low,Close,Volume,OpenInterest"
TICK_HEADER = "Datetime,Open,High,Low,Close,Volume,OpenInterest"
READERS = ("pyarrow", "row parser")


def utc_ns(*parts: int, ms: int = 0) -> int:
    """ns since the epoch of a UTC (year, month, day[, hour, minute, second]),
    computed with calendar.timegm, independently of the code under test."""
    year_to_second = (*parts, 0, 0, 0)[:6]
    return calendar.timegm((*year_to_second, 0, 0, 0)) * 1_000_000_000 + ms * 1_000_000


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def intraday(*rows: str) -> str:
    return "\n".join([INTRADAY_HEADER, *rows]) + "\n"


def no_row_parser(*_args: object) -> NoReturn:
    raise AssertionError("the bulk reader fell back to the row-by-row parser")


def use_reader(monkeypatch: pytest.MonkeyPatch, reader: str) -> None:
    """Select the CSV path: pyarrow (skipped when it is not installed) or the
    row-by-row fallback (pyarrow hidden from the module)."""
    if reader == "pyarrow":
        pytest.importorskip("pyarrow", reason="the bulk path needs pyarrow")
    else:
        monkeypatch.setattr(bar_data, "pa", None)


def load_both(
    monkeypatch: pytest.MonkeyPatch, path: Path, kind: DataKind = DataKind.BARS
) -> tuple[Any, Any]:
    """The outcome (a series or the DataError text) of each path on one file."""
    outcomes: list[Any] = []
    for reader in READERS:
        with monkeypatch.context() as patch:
            use_reader(patch, reader)
            try:
                outcomes.append(bar_data.load_series(path, symbol="X", kind=kind))
            except DataError as exc:
                outcomes.append(str(exc))
    return outcomes[0], outcomes[1]


def as_rows(series: BarSeries) -> list[tuple[int, float, float, float, float, float]]:
    return list(
        zip(
            series.ts,
            series.open,
            series.high,
            series.low,
            series.close,
            series.volume,
            strict=True,
        )
    )


@pytest.fixture(params=READERS)
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    use_reader(monkeypatch, name)
    return name


@pytest.fixture
def arrow() -> Any:
    return pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")


@pytest.fixture
def logged_warnings() -> Iterator[list[str]]:
    messages: list[str] = []
    sink = logger.add(messages.append, level="WARNING", format="{message}")
    try:
        yield messages
    finally:
        logger.remove(sink)


def test_all_is_sorted() -> None:
    assert bar_data.__all__ == sorted(bar_data.__all__)


# --- the shared files ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "rows", "interval_s"),
    [
        (ORCL, DataKind.BARS, 5036, 86_400),
        (MIN_001, DataKind.BARS, 30_889, 60),
        (MIN_005, DataKind.BARS, 2142, 300),
        (TICKS, DataKind.TICKS, 135, 0),
    ],
)
def test_both_paths_give_identical_series_equal_to_load_csv(
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    name: str,
    kind: DataKind,
    rows: int,
    interval_s: int,
) -> None:
    pytest.importorskip("pyarrow", reason="comparing the two paths needs pyarrow")
    path = data_dir / name
    with monkeypatch.context() as patch:
        patch.setattr(bar_data, "_parse_rows", no_row_parser)
        bulk = bar_data.load_series(path, symbol="X", kind=kind)
    with monkeypatch.context() as patch:
        patch.setattr(bar_data, "pa", None)
        fallback = bar_data.load_series(path, symbol="X", kind=kind)
    assert bulk == fallback
    assert type(bulk.ts) is list and type(bulk.close) is list
    assert all(type(t) is int for t in bulk.ts) and all(type(x) is float for x in bulk.open)
    assert (len(bulk), bulk.interval_s, bulk.kind, bulk.source) == (
        rows,
        interval_s,
        kind,
        str(path),
    )
    messages = load_csv(path, symbol="X", kind=kind)
    if kind is DataKind.TICKS:
        ticks = [m for m in messages if isinstance(m, Tick)]
        assert list(zip(bulk.ts, bulk.close, bulk.volume, strict=True)) == [
            (t.ts_event, t.price, t.size) for t in ticks
        ]
    else:
        bars = [m for m in messages if isinstance(m, Bar)]
        assert as_rows(bulk) == [
            (b.ts_event, b.open, b.high, b.low, b.close, b.volume) for b in bars
        ]


def test_short_header_file_is_read_with_the_repaired_layout(
    data_dir: Path, reader: str, logged_warnings: list[str]
) -> None:
    series = bar_data.load_series(data_dir / MIN_001, symbol="FUT")
    assert len(series) == 30_889
    assert series.ts[0] == utc_ns(2006, 1, 2, 9, 1)
    assert as_rows(series)[0][1:] == (3602.0, 3603.0, 3597.0, 3599.0, 5699.0)
    assert series.interval_s == 60
    assert len(logged_warnings) == 1
    assert MIN_001 in logged_warnings[0] and "one column short" in logged_warnings[0]


# --- bad CSV files: the same message on both paths as marketdata's -------------------


def test_a_header_the_checker_refuses_names_it(tmp_path: Path, reader: str) -> None:
    path = write(tmp_path, "Day,Open,High,Low,Close\n2006-01-02,1,2,0.5,1.5\n")
    with pytest.raises(DataError, match=r"line 1: unknown header 'Day,Open,High,Low,Close'"):
        bar_data.load_series(path, symbol="X")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ["2006-01-02,09:01:00,1,2,0.5,1.5,10,0", "2006-01-02,09:02:00,1,abc,0.5,1.5,10,0"],
            "line 3: High 'abc' is not a number",
        ),
        (
            ["2006-01-02,09:01:00,1,2,0.5,1.5,10,0", "2006-01-02,09:02:00,10,9,11,10,10,0"],
            "line 3: High 9.0 is below Low 11.0",
        ),
        (
            ["2006-01-02,09:01:00,1,2,0.5,1.5,10,0", "2006-01-02,09:02:00,1,2,0.5,2.5,1,0"],
            "line 3: Close 2.5 is outside [Low 0.5, High 2.0]",
        ),
        (
            ["2006-01-02,09:01:00,1,2,0.5,1.5,nan,0"],
            "line 2: Volume 'nan' is not finite",
        ),
        (
            ["2006-01-02,09:01:00,1,2,0.5,1.5,-1,0"],
            "line 2: Volume -1.0 is negative",
        ),
        (
            [
                "2006-01-02,09:01:00,1,2,0.5,1.5,10,0",
                "",
                "2006-01-02,09:02:00,1,2,0.5,1.5,10,0",
                "2006-01-02,09:02:00,1,2,0.5,1.5,10,0",
            ],
            "line 5: timestamp 2006-01-02,09:02:00 is not after the previous 2006-01-02,09:02:00",
        ),
        (
            ["2006-01-02,09:01:00,1,2,0.5,1.5,10,0", "2006-01-02,9:02:00,1,2,0.5,1.5,10,0"],
            "line 3: Time '9:02:00' is not HH:MM:SS",
        ),
        (
            ["2006-01-02,09:01:00,1,2,0.5,1.5,10,0", "2006-02-30,09:02:00,1,2,0.5,1.5,10,0"],
            "line 3: Date '2006-02-30' is not an ISO date",
        ),
        (
            ["2006-01-02,09:01:00,1,2,0.5,1.5,10,0", "2006-01-02,09:02:00,1,2,0.5,1.5,10"],
            "line 3: expected 8 fields",
        ),
    ],
)
def test_a_bad_row_raises_marketdatas_message_with_the_line(
    tmp_path: Path, reader: str, rows: list[str], message: str
) -> None:
    path = write(tmp_path, intraday(*rows))
    with pytest.raises(DataError) as caught:
        load_csv(path, symbol="X")
    expected = str(caught.value)
    assert f"{path}: {message}" in expected
    with pytest.raises(DataError) as got:
        bar_data.load_series(path, symbol="X")
    assert str(got.value) == expected


@pytest.mark.parametrize(
    "cell", ["+2", " 2", "2 ", "1_0", "2.", ".5", "1e400", "", '"2"', "0x2", "Infinity"]
)
def test_odd_number_cells_give_the_same_outcome_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cell: str
) -> None:
    path = write(
        tmp_path,
        intraday(
            f"2006-01-02,09:01:00,1,3,0.5,{cell},10,0",
            "2006-01-02,09:02:00,1,3,0.5,1,10,0",
        ),
    )
    bulk, fallback = load_both(monkeypatch, path)
    assert bulk == fallback


@pytest.mark.parametrize(
    "stamp",
    [
        "2015-09-23T20:57:42.146",
        "2015-09-23 20:57:42.5",
        "2015-09-23T20:57:42.123456789",
        "2015-09-23T20:57:42Z",
        "2015-09-23T22:57:42+02:00",
        "2015-09-23T20:57",
        "20150923T205742",
        "2015-02-30T00:00:00",
        "2300-01-01T00:00:00",
        " 2015-09-23T20:57:42",
        "yesterday",
    ],
)
def test_odd_datetimes_give_the_same_outcome_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stamp: str
) -> None:
    path = write(
        tmp_path,
        f"{TICK_HEADER}\n{stamp},5,5,5,5,1,0\n2015-09-24T00:00:00,5,5,5,5,1,0\n",
    )
    bulk, fallback = load_both(monkeypatch, path, DataKind.TICKS)
    assert bulk == fallback


@pytest.mark.parametrize(
    "text",
    [
        "\ufeffDate,Open,High,Low,Close,Adj Close,Volume\n2006-01-02,1,2,0.5,1.5,1.4,7\n"
        "2006-01-03,1,2,0.5,1.5,1.4,7\n",
        "\nDate,Open,High,Low,Close,Adj Close,Volume\n2006-01-02,1,2,0.5,1.5,1.4,7\n",
        "Date,Open,High,Low,Close,Adj Close,Volume\r\n\r\n2006-01-02,1,2,0.5,1.5,1.4,7\r\n"
        "2006-01-03,1,2,0.5,1.5,1.4,7\r\n",
        "Date,Open,High,Low,Close,Adj Close,Volume\n20060102,1,2,0.5,1.5,1.4,7\n"
        "2006-01-03,1,2,0.5,1.5,1.4,7\n",
        "Date,Open,High,Low,Close,Adj Close,Volume\n",
        "",
    ],
    ids=["bom", "blank-first-line", "crlf-blank", "basic-date", "no-rows", "empty"],
)
def test_file_shapes_give_the_same_outcome_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    path = tmp_path / "daily.csv"
    path.write_bytes(text.encode("utf-8"))
    bulk, fallback = load_both(monkeypatch, path)
    assert bulk == fallback


def test_a_missing_csv_file_is_a_data_error(tmp_path: Path, reader: str) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        bar_data.load_series(tmp_path / "nope.csv", symbol="X")


# --- interval -----------------------------------------------------------------------


def test_interval_is_used_as_given_inferred_or_zero_for_ticks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        intraday("2006-01-02,09:01:00,1,2,0.5,1.5,10,0", "2006-01-02,09:03:00,1,2,0.5,1.5,10,0"),
    )
    assert bar_data.load_series(path, symbol="X").interval_s == 120
    assert bar_data.load_series(path, symbol="X", interval_s=60).interval_s == 60
    ticks = bar_data.load_series(path, symbol="X", kind=DataKind.TICKS, interval_s=60)
    assert ticks.interval_s == 0
    with pytest.raises(DataError, match=r"interval_s must be >= 0, got -1"):
        bar_data.load_series(path, symbol="X", interval_s=-1)


def test_one_bar_needs_an_interval(tmp_path: Path, reader: str) -> None:
    path = write(tmp_path, intraday("2006-01-02,09:01:00,1,2,0.5,1.5,10,0"))
    with pytest.raises(DataError, match=r"cannot infer the bar interval.*set its interval_s"):
        bar_data.load_series(path, symbol="X")
    assert bar_data.load_series(path, symbol="X", interval_s=60).ts == [utc_ns(2006, 1, 2, 9, 1)]


# --- Parquet ------------------------------------------------------------------------


def small_series(kind: DataKind = DataKind.BARS) -> BarSeries:
    return BarSeries(
        symbol="X",
        kind=kind,
        interval_s=60 if kind is DataKind.BARS else 0,
        source="memory",
        ts=[utc_ns(2024, 1, 2, 9, 30), utc_ns(2024, 1, 2, 9, 31), utc_ns(2024, 1, 2, 9, 33)],
        open=[10.0, 10.5, 11.25],
        high=[11.0, 11.0, 11.5],
        low=[9.5, 10.0, 11.0],
        close=[10.5, 10.75, 11.0],
        volume=[100.0, 0.0, 12.5],
    )


def test_parquet_round_trip_of_a_shared_file(data_dir: Path, arrow: Any, tmp_path: Path) -> None:
    series = bar_data.load_series(data_dir / MIN_005, symbol="FUT")
    target = tmp_path / "min5.parquet"
    bar_data.write_parquet(series, target)
    back = bar_data.load_series(target, symbol="FUT")
    assert back.source == str(target)
    assert (back.interval_s, back.kind, back.symbol) == (300, DataKind.BARS, "FUT")
    assert as_rows(back) == as_rows(series)


def test_parquet_round_trip_of_ticks_with_equal_timestamps(arrow: Any, tmp_path: Path) -> None:
    ticks = small_series(DataKind.TICKS)
    ticks = BarSeries(
        **{f: getattr(ticks, f) for f in ("symbol", "kind", "interval_s", "source")},
        ts=[1, 1, 2],
        open=ticks.close,
        high=ticks.close,
        low=ticks.close,
        close=ticks.close,
        volume=ticks.volume,
    )
    target = tmp_path / "ticks.PQ"
    bar_data.write_parquet(ticks, target)
    back = bar_data.load_series(target, symbol="X", kind=DataKind.TICKS)
    assert (as_rows(back), back.interval_s) == (as_rows(ticks), 0)
    with pytest.raises(
        DataError, match=r"ticks\.PQ: row 2: timestamp .* is not after the previous"
    ):
        bar_data.load_series(target, symbol="X")


def test_parquet_columns_in_any_case_and_other_timestamp_forms(arrow: Any, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    series = small_series()
    values = {
        "Open": series.open,
        "HIGH": series.high,
        "low": series.low,
        "Close": series.close,
        "Volume": [int(v) for v in series.volume[:2]] + [12.5],
        "OpenInterest": [0, 0, 0],
    }
    forms = {
        "int-ns": {"TS": arrow.array(series.ts, arrow.int64())},
        "ms-stamp": {"ts": arrow.array([t // 1_000_000 for t in series.ts], arrow.timestamp("ms"))},
        "iso-text": {
            "Datetime": ["2024-01-02T09:30:00", "2024-01-02 09:31:00", "2024-01-02T09:33Z"]
        },
        "date-time-text": {
            "Date": ["2024-01-02"] * 3,
            "Time": ["09:30:00", "09:31:00", "09:33:00"],
        },
        "date32-time64": {
            "date": arrow.array([19724] * 3, arrow.date32()),
            "time": arrow.array([(570 + m) * 60 * 10**9 for m in (0, 1, 3)], arrow.time64("ns")),
        },
    }
    for form, stamps in forms.items():
        target = tmp_path / f"{form}.parquet"
        pq.write_table(arrow.table({**stamps, **values}), target)
        back = bar_data.load_series(target, symbol="X")
        assert as_rows(back) == as_rows(series), form
        assert back.interval_s == 60


def test_parquet_missing_column_is_named_with_the_columns_found(arrow: Any, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    target = tmp_path / "thin.parquet"
    pq.write_table(arrow.table({"ts": [1, 2], "Open": [1.0, 1.0], "high": [1.0, 1.0]}), target)
    with pytest.raises(DataError) as caught:
        bar_data.load_series(target, symbol="X")
    message = str(caught.value)
    assert "missing column(s) 'low', 'close', 'volume'" in message
    assert "columns found: 'ts', 'Open', 'high'" in message
    pq.write_table(arrow.table({"when": [1], **{k: [1.0] for k in "ohlc"}}), target)
    with pytest.raises(DataError, match=r"missing column\(s\) ts \(or datetime, or date"):
        bar_data.load_series(target, symbol="X")


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("high", [2.0, 0.25], r"row 2: High 0.25 is below Low 0.5"),
        ("close", [1.5, float("inf")], r"row 2: Close inf is not finite"),
        ("volume", [1.0, None], r"row 2: 'volume' is missing \(null\)"),
        ("open", ["1", "2"], r"column 'open' has type string; expected numbers"),
        ("ts", [5, 5], r"row 2: timestamp .* is not after the previous"),
        ("ts", ["2024-01-02T09:30:00", "soon"], r"row 2: ts 'soon' is not an ISO timestamp"),
        ("ts", [1.5, 2.5], r"column 'ts' has type double; expected a timestamp or int64 ns"),
    ],
)
def test_parquet_bad_rows_name_the_row_and_value(
    arrow: Any, tmp_path: Path, column: str, values: list[Any], message: str
) -> None:
    import pyarrow.parquet as pq

    data: dict[str, list[Any]] = {
        "ts": [1, 2],
        "open": [1.0, 1.0],
        "high": [2.0, 2.0],
        "low": [0.5, 0.5],
        "close": [1.5, 1.5],
        "volume": [1.0, 1.0],
    }
    data[column] = values
    target = tmp_path / "bad.parquet"
    pq.write_table(arrow.table(data), target)
    with pytest.raises(DataError, match=message):
        bar_data.load_series(target, symbol="X", interval_s=60)


def test_a_file_that_is_not_parquet_is_a_data_error(arrow: Any, tmp_path: Path) -> None:
    target = write(tmp_path, "Date,Open\n", "fake.parquet")
    with pytest.raises(DataError, match=r"fake\.parquet: is not a readable Parquet file"):
        bar_data.load_series(target, symbol="X")
    with pytest.raises(DataError, match=r"gone\.parquet: no such file"):
        bar_data.load_series(tmp_path / "gone.parquet", symbol="X")


def test_parquet_without_pyarrow_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bar_data, "pa", None)
    target = tmp_path / "any.parquet"
    with pytest.raises(DataError) as caught:
        bar_data.load_series(target, symbol="X")
    assert str(caught.value) == (
        f"{target}: reading Parquet needs pyarrow: pip install 'tradepit[parquet]'"
    )
    with pytest.raises(DataError, match=r"writing Parquet needs pyarrow: pip install"):
        bar_data.write_parquet(small_series(), target)
    assert not target.exists()


def test_the_bulk_path_applies_marketdatas_tolerance_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pyarrow", reason="the bulk path needs pyarrow")
    inside = write(
        tmp_path,
        intraday(
            "2006-01-02,09:01:00,99.99999999,101,100,100.00000001,10,0",
            "2006-01-02,09:02:00,101,101,101.00000001,101,10,0",
        ),
    )
    monkeypatch.setattr(bar_data, "_parse_rows", no_row_parser)
    series = bar_data.load_series(inside, symbol="X")
    assert series.open[0] == 99.99999999 and series.low[1] == 101.00000001
    outside = write(
        tmp_path, intraday("2006-01-02,09:01:00,99.9999,101,100,100,10,0"), "outside.csv"
    )
    with pytest.raises(AssertionError, match="fell back"):
        bar_data.load_series(outside, symbol="X", interval_s=60)
