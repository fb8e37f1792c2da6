"""Bulk, columnar loading of market data for backtests and sweeps: CSV and Parquet.

:func:`load_series` reads a whole file into a :class:`~runtime.backtest_types.BarSeries`
(one plain Python list per field) instead of one message object per row.

CSV files accept exactly what :func:`runtime.marketdata.load_csv` accepts, with the
same header check (and the same repair of the ``Date`` header one column short)
and the same checks of every row. With ``pyarrow`` installed the file is parsed
and checked column by column in C++, several times faster than row by row; when a
vectorised check fails (or pyarrow cannot parse a cell) the file is read again by
the row-by-row parser of :mod:`runtime.marketdata`, which raises the
:class:`~runtime.errors.DataError` naming the file, the line and the value. Without
pyarrow that row-by-row parser does all the work; the results are identical.

Parquet files need pyarrow (``pip install 'tradepit[parquet]'``). Column names are
matched without regard to case: the timestamp is ``ts`` (a timestamp, or int64
nanoseconds since the epoch), or ``datetime``, or ``date`` with an optional
``time``; then ``open``, ``high``, ``low``, ``close``, ``volume``. Rows get the
same checks as CSV rows; errors name the row (1 = the first row). Timestamps
without a timezone are read as UTC, as in CSV files. See ``docs/market-data.md``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runtime.backtest_types import BarSeries
from runtime.config import DataKind
from runtime.errors import DataError
from runtime.marketdata import (
    _check_bar,
    _hms_seconds,
    _parse_rows,
    _resolve_layout,
    _timestamp_parser,
    infer_interval_s,
)

try:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq
except ImportError:  # pragma: no cover - exercised by monkeypatching ``pa`` to None
    pa = pc = pa_csv = pq = None

__all__ = ["PARQUET_SUFFIXES", "load_series", "write_parquet"]

PARQUET_SUFFIXES: frozenset[str] = frozenset({".parquet", ".pq"})
"""File suffixes (any case) :func:`load_series` reads as Parquet; anything else is CSV."""

_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
_NS_PER_S = 1_000_000_000
_REL_TOL = 1e-9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INSTALL = "pip install 'tradepit[parquet]'"

# The ISO forms on which pyarrow's cast to timestamp[ns] gives exactly what
# datetime.fromisoformat gives (no offset, at most microseconds); other forms are
# parsed by marketdata's own parser, once per distinct value.
_PLAIN_ISO_DATETIME = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,6})?$"
)

_Columns = tuple[list[int], list[float], list[float], list[float], list[float], list[float]]
"""ts (ns), open, high, low, close, volume."""


class _UnparsedError(Exception):
    """A cell the columnar reader does not take as it is; carries that cell."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def load_series(
    path: Path, *, symbol: str, kind: DataKind = DataKind.BARS, interval_s: int = 0
) -> BarSeries:
    """Load a whole CSV or Parquet file as one columnar series of ``symbol``.

    A suffix in :data:`PARQUET_SUFFIXES` is read as Parquet (needs pyarrow), anything
    else as CSV with the headers of :data:`runtime.marketdata.ACCEPTED_HEADERS`. Rows
    are checked as :func:`runtime.marketdata.load_csv` checks them: finite numbers,
    ``High >= Low``, ``Open`` and ``Close`` within ``[Low, High]`` (relative tolerance
    1e-9), ``Volume >= 0``, timestamps strictly increasing for bars and
    non-decreasing for ticks. With ``kind=BARS`` and ``interval_s=0`` the bar length
    is inferred (:func:`~runtime.marketdata.infer_interval_s`); ticks get interval 0.

    Raises :class:`DataError` naming the file (and the line or row and the value).
    """
    path = Path(path)
    if interval_s < 0:
        raise DataError(f"{path}: interval_s must be >= 0, got {interval_s}")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        ts, o, h, lo, c, v = _read_parquet(path, kind)
    else:
        ts, o, h, lo, c, v = _read_csv(path, kind)
    if kind is DataKind.TICKS:
        interval_s = 0
    elif interval_s == 0:
        try:
            interval_s = infer_interval_s(ts)
        except ValueError as exc:
            raise DataError(
                f"{path}: cannot infer the bar interval: {exc}; set its interval_s in [[feed.csv]]"
            ) from None
    return BarSeries(
        symbol=symbol,
        kind=kind,
        interval_s=interval_s,
        source=str(path),
        ts=ts,
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=v,
    )


def write_parquet(series: BarSeries, path: Path) -> None:
    """Write ``series`` as Parquet: ``ts`` (timestamp[ns, UTC]) and the five value
    columns as float64, readable by :func:`load_series`. Needs pyarrow.

    Raises :class:`DataError` when pyarrow is missing or the file cannot be written.
    """
    path = Path(path)
    if pa is None:
        raise DataError(f"{path}: writing Parquet needs pyarrow: {_INSTALL}")
    columns = (series.open, series.high, series.low, series.close, series.volume)
    table = pa.table(
        {
            "ts": pa.array(series.ts, pa.timestamp("ns", tz="UTC")),
            **{
                name: pa.array(values, pa.float64())
                for name, values in zip(_VALUE_COLUMNS, columns, strict=True)
            },
        }
    )
    try:
        pq.write_table(table, path)
    except OSError as exc:
        raise DataError(f"{path}: cannot be written: {exc}") from None


# --- CSV ---------------------------------------------------------------------------


def _read_csv(path: Path, kind: DataKind) -> _Columns:
    """The file's columns: in bulk with pyarrow when it reads the file cleanly, else
    (and always without pyarrow) through marketdata's row-by-row parser."""
    if pa is not None:
        columns = _read_csv_arrow(path, kind)
        if columns is not None:
            return columns
    rows = _parse_rows(path, kind)
    ts, o, h, lo, c, v = zip(*rows, strict=True)
    return list(ts), list(o), list(h), list(lo), list(c), list(v)


def _csv_head(path: Path) -> tuple[list[str], list[str]] | None:
    """The header (on line 1) and the first data row, read from the first lines only;
    None when the file does not start that way (the row parser then explains)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.reader(stream)
            header = next(reader, [])
            if not header or reader.line_num != 1:
                return None
            for row in reader:
                if row:
                    return header, row
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return None


def _read_csv_arrow(path: Path, kind: DataKind) -> _Columns | None:
    """The file's columns read and checked in bulk; None when anything is not clean."""
    head = _csv_head(path)
    if head is None:
        return None
    try:
        layout = _resolve_layout(path, 1, *head)
    except DataError:
        return None  # the row parser raises it, from exactly the same text
    time_columns = [name for name in layout if name in ("date", "time", "datetime")]
    options = pa_csv.ConvertOptions(
        column_types={
            **dict.fromkeys(time_columns, pa.string()),
            **dict.fromkeys(_VALUE_COLUMNS, pa.float64()),
        },
        include_columns=[*time_columns, *_VALUE_COLUMNS],
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(column_names=list(layout), skip_rows=1),
            convert_options=options,
        ).combine_chunks()
        if table.num_rows == 0:
            return None
        ts = _csv_timestamps(path, table, layout)
        values = [table.column(name).chunk(0) for name in _VALUE_COLUMNS]
        ok = _rows_ok(ts, values, strict=kind is DataKind.BARS)
    except (pa.ArrowException, OverflowError, _UnparsedError):
        return None
    if not pc.all(ok).as_py():
        return None
    return _to_lists(ts, values)


def _csv_timestamps(path: Path, table: Any, layout: Sequence[str]) -> Any:
    """int64 ns of every row, parsed as marketdata parses them; raises ``_UnparsedError``."""
    if layout[0] == "datetime":
        return _datetime_column(path, table.column("datetime").chunk(0))
    days = _date_column(path, table.column("date").chunk(0))
    if layout[1] != "time":
        return days
    return pc.add_checked(days, _time_column(table.column("time").chunk(0)))


def _cell_parser(path: Path, column: str) -> Callable[[str], int]:
    """marketdata's parser of one ``date`` or ``datetime`` cell, as text -> ns."""
    parse_row = _timestamp_parser(path, (column, "open"))  # reads only the first field

    def parse(text: str) -> int:
        try:
            return parse_row([text], 0)
        except DataError:
            raise _UnparsedError(text) from None

    return parse


def _parse_time(text: str) -> int:
    seconds = _hms_seconds(text)
    if seconds is None:
        raise _UnparsedError(text)
    return seconds * _NS_PER_S


def _by_distinct_value(values: Any, parse: Callable[[str], int]) -> Any:
    """``parse`` applied to each distinct string of ``values`` once, spread back to
    every row as int64; raises ``_UnparsedError`` with the first cell it refuses."""
    distinct = pc.unique(values)
    parsed = pa.array([parse(text) for text in distinct.to_pylist()], pa.int64())
    return pc.take(parsed, pc.index_in(values, value_set=distinct))


def _date_column(path: Path, values: Any) -> Any:
    return _by_distinct_value(values, _cell_parser(path, "date"))


def _time_column(values: Any) -> Any:
    return _by_distinct_value(values, _parse_time)


def _datetime_column(path: Path, values: Any) -> Any:
    """ISO datetimes as int64 ns: in C++ for the plain form, else by marketdata's parser."""
    if pc.all(pc.match_substring_regex(values, _PLAIN_ISO_DATETIME)).as_py():
        try:
            return pc.cast(values, pa.timestamp("ns")).cast(pa.int64())
        except pa.ArrowInvalid:
            pass  # e.g. 2015-02-30 or beyond year 2262: let the exact parser decide
    return _by_distinct_value(values, _cell_parser(path, "datetime"))


# --- checks shared by both formats -------------------------------------------------


def _rows_ok(ts: Any, values: Sequence[Any], *, strict: bool) -> Any:
    """Per row: every value finite, the bar consistent (marketdata's tolerance),
    volume >= 0, and the timestamp after (bars) or not before (ticks) the previous."""
    o, h, lo, c, v = values
    ok = pc.is_finite(o)
    for column in (h, lo, c, v):
        ok = pc.and_(ok, pc.is_finite(column))
    tol = pc.multiply(pc.max_element_wise(pc.abs(h), pc.abs(lo)), _REL_TOL)
    floor, ceiling = pc.subtract(lo, tol), pc.add(h, tol)
    for check in (
        pc.greater_equal(h, floor),
        pc.greater_equal(o, floor),
        pc.less_equal(o, ceiling),
        pc.greater_equal(c, floor),
        pc.less_equal(c, ceiling),
        pc.greater_equal(v, 0.0),
    ):
        ok = pc.and_(ok, check)
    later = pc.greater if strict else pc.greater_equal
    in_order = pa.concat_arrays([pa.array([True]), later(ts.slice(1), ts.slice(0, len(ts) - 1))])
    return pc.and_(ok, in_order)


def _to_lists(ts: Any, values: Sequence[Any]) -> _Columns:
    o, h, lo, c, v = (column.to_pylist() for column in values)
    return ts.to_pylist(), o, h, lo, c, v


# --- Parquet -----------------------------------------------------------------------


def _read_parquet(path: Path, kind: DataKind) -> _Columns:
    if pa is None:
        raise DataError(f"{path}: reading Parquet needs pyarrow: {_INSTALL}")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        names = list(pq.read_schema(path).names)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: is not a readable Parquet file: {exc}") from None
    found = _names_by_lower_case(path, names)
    time_columns = _parquet_time_columns(found)
    missing = [name for name in _VALUE_COLUMNS if name not in found]
    if not time_columns or missing:
        wanted = ([] if time_columns else ["ts (or datetime, or date [+ time])"]) + [
            repr(name) for name in missing
        ]
        raise DataError(
            f"{path}: missing column(s) {', '.join(wanted)} (names match in any case); "
            f"columns found: {', '.join(map(repr, names)) or 'none'}"
        )
    try:
        table = pq.read_table(
            path, columns=[found[name] for name in (*time_columns, *_VALUE_COLUMNS)]
        ).combine_chunks()
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: is not a readable Parquet file: {exc}") from None
    if table.num_rows == 0:
        raise DataError(f"{path}: has no rows")
    columns = {
        name: table.column(found[name]).chunk(0) for name in (*time_columns, *_VALUE_COLUMNS)
    }
    for name in (*time_columns, *_VALUE_COLUMNS):
        if columns[name].null_count:
            row = pc.index(pc.is_null(columns[name]), True).as_py() + 1
            raise DataError(f"{path}: row {row}: {found[name]!r} is missing (null)")
    ts = _parquet_timestamps(path, columns, time_columns, found)
    values = [_parquet_numbers(path, columns[name], found[name]) for name in _VALUE_COLUMNS]
    strict = kind is DataKind.BARS
    ok = _rows_ok(ts, values, strict=strict)
    if not pc.all(ok).as_py():
        _raise_first_bad_row(path, pc.index(ok, False).as_py(), ts, values, strict=strict)
    return _to_lists(ts, values)


def _names_by_lower_case(path: Path, names: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in names:
        other = found.setdefault(name.lower(), name)
        if other != name:
            raise DataError(f"{path}: columns {other!r} and {name!r} differ only in case")
    return found


def _parquet_time_columns(found: dict[str, str]) -> tuple[str, ...]:
    for choice in ("ts", "datetime"):
        if choice in found:
            return (choice,)
    if "date" in found:
        return ("date", "time") if "time" in found else ("date",)
    return ()


def _parquet_numbers(path: Path, column: Any, name: str) -> Any:
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        raise DataError(f"{path}: column {name!r} has type {kind}; expected numbers")
    return pc.cast(column, pa.float64())


def _parquet_timestamps(
    path: Path, columns: dict[str, Any], time_columns: Sequence[str], found: dict[str, str]
) -> Any:
    """int64 ns of every row from ``ts``, ``datetime`` or ``date`` [+ ``time``]."""
    main = time_columns[0]
    column, name = columns[main], found[main]
    kind = column.type
    try:
        if pa.types.is_timestamp(kind):
            return pc.cast(column, pa.timestamp("ns", tz=kind.tz)).cast(pa.int64())
        if pa.types.is_integer(kind) and main == "ts":
            return pc.cast(column, pa.int64())
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            parsed = _parquet_strings(path, column, name, main)
        elif pa.types.is_date(kind) and main == "date":
            parsed = pc.cast(column, pa.timestamp("ns")).cast(pa.int64())
        else:
            expected = {
                "ts": "a timestamp or int64 ns since the epoch",
                "datetime": "a timestamp or ISO text",
                "date": "a date or YYYY-MM-DD text",
            }[main]
            raise DataError(f"{path}: column {name!r} has type {kind}; expected {expected}")
        if len(time_columns) == 2:
            parsed = pc.add_checked(parsed, _parquet_time_of_day(path, columns["time"], found))
    except (pa.ArrowInvalid, OverflowError) as exc:
        raise DataError(f"{path}: column {name!r}: timestamps out of range: {exc}") from None
    return parsed


def _parquet_time_of_day(path: Path, column: Any, found: dict[str, str]) -> Any:
    kind = column.type
    if pa.types.is_time(kind):
        return pc.cast(pc.cast(column, pa.time64("ns")), pa.int64())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _parquet_strings(path, column, found["time"], "time")
    raise DataError(
        f"{path}: column {found['time']!r} has type {kind}; expected a time or HH:MM:SS text"
    )


def _parquet_strings(path: Path, column: Any, name: str, role: str) -> Any:
    """Text dates, times or datetimes parsed as in CSV files; a bad one names its row."""
    try:
        if role == "time":
            return _time_column(column)
        if role == "date":
            return _date_column(path, column)
        return _datetime_column(path, column)
    except _UnparsedError as exc:
        row = pc.index(column, exc.text).as_py() + 1
        expected = {"time": "HH:MM:SS", "date": "an ISO date (YYYY-MM-DD)"}.get(
            role, "an ISO timestamp"
        )
        raise DataError(f"{path}: row {row}: {name} {exc.text!r} is not {expected}") from None


def _raise_first_bad_row(
    path: Path, index: int, ts: Any, values: Sequence[Any], *, strict: bool
) -> None:
    """Raise the DataError of row ``index`` (0-based), which ``_rows_ok`` refused."""
    row = [column[index].as_py() for column in values]
    where = f"{path}: row {index + 1}"
    for name, value in zip(_VALUE_COLUMNS, row, strict=True):
        if not math.isfinite(value):
            raise DataError(f"{where}: {name.capitalize()} {value} is not finite")
    try:
        _check_bar(path, 0, tuple(row))
    except DataError as exc:
        problem = str(exc).removeprefix(f"{path}: line 0: ")
        raise DataError(f"{where}: {problem}") from None
    now, before = ts[index].as_py(), ts[index - 1].as_py()
    order = "after" if strict else "at or after"
    raise DataError(f"{where}: timestamp {_iso(now)} is not {order} the previous {_iso(before)}")


def _iso(ns: int) -> str:
    """ns since the epoch as ISO text in UTC (the bare number when out of range)."""
    try:
        return (_EPOCH + timedelta(microseconds=ns // 1000)).isoformat().replace("+00:00", "Z")
    except OverflowError:
        return f"{ns} ns"
