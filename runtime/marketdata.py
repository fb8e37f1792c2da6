"""Market data sources: CSV files, a seeded synthetic walk, and their merge.

Every source yields :class:`~runtime.messages.Bar` or :class:`~runtime.messages.Tick`
objects in time order. Timestamps are nanoseconds since the Unix epoch, UTC:
the files carry no timezone, so a date is read as 00:00 UTC that day and a
date with a time as that wall-clock time in UTC. See ``docs/market-data.md``.

CSV files are checked row by row; anything that is not what the header
promises raises :class:`~runtime.errors.DataError` naming the file, the line
and the value. The one tolerated defect is a header one column short of rows
that carry a ``Time`` after the ``Date`` (a known real-world export bug): it is
read as ``Date,Time,...`` with one warning, never by shifting columns silently.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import math
import operator
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal, overload

from loguru import logger

from runtime.config import DataKind, FeedConfig, FeedSource, SyntheticConfig
from runtime.errors import DataError
from runtime.messages import Bar, Tick, next_id

__all__ = [
    "ACCEPTED_HEADERS",
    "infer_interval_s",
    "load_csv",
    "market_data",
    "merge_streams",
    "synthetic_bars",
]

ACCEPTED_HEADERS: tuple[str, ...] = (
    "Date,Open,High,Low,Close,Adj Close,Volume",
    "Date,Open,High,Low,Close,Volume,OpenInterest",
    "Date,Time,Open,High,Low,Close,Volume,OpenInterest",
    "Datetime,Open,High,Low,Close,Volume,OpenInterest",
)
"""CSV headers :func:`load_csv` reads (matched case-insensitively, cells stripped)."""

_LAYOUTS = frozenset(tuple(c.lower() for c in h.split(",")) for h in ACCEPTED_HEADERS)
_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_S = 1_000_000_000
_DAY_NS = 86_400 * _NS_PER_S
_REL_TOL = 1e-9
_INFER_SAMPLE = 10
_SYNTHETIC_VOLUME_SIGMA = 0.25

_Row = tuple[int, float, float, float, float, float]
"""One validated CSV row: ts_event ns, open, high, low, close, volume."""


def _datetime_ns(moment: datetime) -> int:
    """Exact ns since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _hms_seconds(text: str) -> int | None:
    """Seconds since midnight of an ``HH:MM:SS`` string, or None if it is not one."""
    text = text.strip()
    if len(text) != 8 or text[2] != ":" or text[5] != ":":
        return None
    hh, mm, ss = text[0:2], text[3:5], text[6:8]
    if not (hh.isdigit() and mm.isdigit() and ss.isdigit()):
        return None
    h, m, s = int(hh), int(mm), int(ss)
    if h > 23 or m > 59 or s > 59:
        return None
    return h * 3600 + m * 60 + s


def _fail(path: Path, line: int, problem: str) -> DataError:
    return DataError(f"{path}: line {line}: {problem}")


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Every non-empty CSV row of the file with its line number."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: is not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(text.splitlines())
    return [(reader.line_num, row) for row in reader if row]


def _resolve_layout(path: Path, line: int, header: list[str], first: list[str]) -> tuple[str, ...]:
    """The column names the rows really have, repairing only the short ``Date`` header."""
    names = tuple(c.strip().lower() for c in header)
    short = (
        len(first) == len(names) + 1 and names[0] == "date" and _hms_seconds(first[1]) is not None
    )
    columns = ("date", "time", *names[1:]) if short else names
    if columns not in _LAYOUTS:
        read_as = f" (read as {','.join(columns)!r}, rows having a Time column)" if short else ""
        accepted = "; ".join(ACCEPTED_HEADERS)
        raise _fail(
            path, line, f"unknown header {','.join(header)!r}{read_as}; accepted: {accepted}"
        )
    if short:
        logger.warning(
            "{}: header {!r} is one column short of the rows, whose second field is a "
            "time; reading the file as {!r}",
            path,
            ",".join(header),
            ",".join(columns),
        )
    return columns


def _timestamp_parser(path: Path, columns: tuple[str, ...]) -> Callable[[list[str], int], int]:
    """A function (row, line) -> ts_event ns for this layout; dates and times are cached."""
    if columns[0] == "datetime":

        def parse_datetime(row: list[str], line: int) -> int:
            try:
                return _datetime_ns(datetime.fromisoformat(row[0].strip()))
            except ValueError:
                raise _fail(path, line, f"Datetime {row[0]!r} is not an ISO timestamp") from None

        return parse_datetime

    midnights: dict[str, int] = {}
    clock: dict[str, int] = {}

    def midnight(text: str, line: int) -> int:
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise _fail(path, line, f"Date {text!r} is not an ISO date (YYYY-MM-DD)") from None
        ns = midnights[text] = (day.toordinal() - _EPOCH.toordinal()) * _DAY_NS
        return ns

    def time_of_day(text: str, line: int) -> int:
        seconds = _hms_seconds(text)
        if seconds is None:
            raise _fail(path, line, f"Time {text!r} is not HH:MM:SS")
        ns = clock[text] = seconds * _NS_PER_S
        return ns

    def parse_date(row: list[str], line: int) -> int:
        day = midnights.get(row[0])
        return midnight(row[0], line) if day is None else day

    def parse_date_time(row: list[str], line: int) -> int:
        day = midnights.get(row[0])
        if day is None:
            day = midnight(row[0], line)
        since = clock.get(row[1])
        return day + (time_of_day(row[1], line) if since is None else since)

    return parse_date_time if columns[1] == "time" else parse_date


def _first_bad_number(
    path: Path, line: int, row: list[str], fields: Sequence[tuple[str, int]]
) -> DataError | None:
    for name, i in fields:
        text = row[i]
        try:
            value = float(text)
        except ValueError:
            return _fail(path, line, f"{name} {text!r} is not a number")
        if not math.isfinite(value):
            return _fail(path, line, f"{name} {text!r} is not finite")
    return None


def _check_bar(path: Path, line: int, values: tuple[float, ...]) -> None:
    """Raise unless high >= low, open and close within [low, high] (relative
    tolerance ``_REL_TOL`` for rounding in the source) and volume >= 0."""
    o, h, lo, c, v = values
    tol = _REL_TOL * max(abs(h), abs(lo))
    if h < lo - tol:
        raise _fail(path, line, f"High {h} is below Low {lo}")
    for name, value in (("Open", o), ("Close", c)):
        if not lo - tol <= value <= h + tol:
            raise _fail(path, line, f"{name} {value} is outside [Low {lo}, High {h}]")
    if v < 0:
        raise _fail(path, line, f"Volume {v} is negative")


def _parse_rows(path: Path, kind: DataKind) -> list[_Row]:
    """Read, check and convert every data row of the file."""
    rows = _read_rows(path)
    if not rows:
        raise DataError(f"{path}: empty file")
    if len(rows) == 1:
        raise DataError(f"{path}: has a header but no data rows")
    (header_line, header), first = rows[0], rows[1][1]
    columns = _resolve_layout(path, header_line, header, first)
    width = len(columns)
    expected = ",".join(columns)
    fields = [(name.capitalize(), columns.index(name)) for name in _VALUE_COLUMNS]
    pick = operator.itemgetter(*(i for _, i in fields))
    timestamp = _timestamp_parser(path, columns)
    time_width = 2 if "time" in columns else 1
    strict = kind is DataKind.BARS
    out: list[_Row] = []
    prev_ts: int | None = None  # dates before 1970 are negative
    prev_row = first
    for line, row in rows[1:]:
        if len(row) != width:
            raise _fail(path, line, f"expected {width} fields ({expected}), got {len(row)}")
        ts = timestamp(row, line)
        try:
            o, h, lo, c, v = map(float, pick(row))
            bad = not math.isfinite(o + h + lo + c + v)
        except ValueError:
            bad = True
        # The sum can overflow with every value finite: then no error is found.
        if bad and (error := _first_bad_number(path, line, row, fields)) is not None:
            raise error
        if not (lo <= o <= h and lo <= c <= h and v >= 0):
            _check_bar(path, line, (o, h, lo, c, v))
        if prev_ts is not None and (ts < prev_ts or (strict and ts == prev_ts)):
            now, before = ",".join(row[:time_width]), ",".join(prev_row[:time_width])
            order = "after" if strict else "at or after"
            raise _fail(path, line, f"timestamp {now} is not {order} the previous {before}")
        prev_ts, prev_row = ts, row
        out.append((ts, o, h, lo, c, v))
    return out


def infer_interval_s(timestamps_ns: Sequence[int], *, sample: int = _INFER_SAMPLE) -> int:
    """The bar length in seconds: the smallest positive gap among the first ``sample``
    timestamps (so weekends and session breaks in daily or intraday data do not count).

    Raises ``ValueError`` when there are fewer than two distinct timestamps or the
    gap is not a whole number of seconds (irregular data such as trades).
    """
    head = timestamps_ns[: max(sample, 2)]
    gaps = [b - a for a, b in itertools.pairwise(head) if b > a]
    if not gaps:
        raise ValueError("needs at least two increasing timestamps")
    gap = min(gaps)
    if gap % _NS_PER_S:
        raise ValueError(f"smallest gap {gap / _NS_PER_S:g} s is not a whole number of seconds")
    return gap // _NS_PER_S


@overload
def load_csv(
    path: Path, *, symbol: str, kind: Literal[DataKind.BARS] = ..., interval_s: int = 0
) -> list[Bar]: ...
@overload
def load_csv(
    path: Path, *, symbol: str, kind: Literal[DataKind.TICKS], interval_s: int = 0
) -> list[Tick]: ...
@overload
def load_csv(
    path: Path, *, symbol: str, kind: DataKind = ..., interval_s: int = 0
) -> list[Bar] | list[Tick]: ...
def load_csv(
    path: Path, *, symbol: str, kind: DataKind = DataKind.BARS, interval_s: int = 0
) -> list[Bar] | list[Tick]:
    """Load a whole CSV file as bars or ticks of ``symbol``, in file order.

    The header must be one of :data:`ACCEPTED_HEADERS`. With ``kind=TICKS`` each row
    becomes ``Tick(price=Close, size=Volume)`` and ``interval_s`` is ignored; with
    ``BARS`` and ``interval_s=0`` the interval is inferred (:func:`infer_interval_s`).
    Bar timestamps must strictly increase; tick timestamps must not decrease (trades
    in the same millisecond are real). Volume 0 is accepted and means unknown.

    Raises :class:`DataError` naming the file (and line and value where there is one).
    """
    path = Path(path)
    if interval_s < 0:
        raise DataError(f"{path}: interval_s must be >= 0, got {interval_s}")
    rows = _parse_rows(path, kind)
    if kind is DataKind.TICKS:
        return [
            Tick(id=next_id(), ts_event=ts, ts_init=time.time_ns(), symbol=symbol, price=c, size=v)
            for ts, _o, _h, _l, c, v in rows
        ]
    if interval_s == 0:
        try:
            interval_s = infer_interval_s([r[0] for r in rows])
        except ValueError as exc:
            raise DataError(
                f"{path}: cannot infer the bar interval: {exc}; set its interval_s in [[feed.csv]]"
            ) from None
    return [
        Bar(
            id=next_id(),
            ts_event=ts,
            ts_init=time.time_ns(),
            symbol=symbol,
            open=o,
            high=h,
            low=lo,
            close=c,
            volume=v,
            interval_s=interval_s,
        )
        for ts, o, h, lo, c, v in rows
    ]


def synthetic_bars(config: SyntheticConfig, *, interval_s: int) -> Iterator[Bar]:
    """Bars of a seeded geometric random walk, one per symbol per ``interval_s``.

    Each bar's log return is drawn from N(``drift``, ``volatility``); its open is the
    previous close (the first is ``start_price``); high and low reach beyond the body
    by half-normal amounts of scale ``volatility / 2``; volume is log-normal with mean
    ``config.volume``. Timestamps start at ``config.start`` (ISO, naive = UTC); every
    timestamp carries one bar per symbol, in ``config.symbols`` order. ``bars=0``
    never ends. The same config gives the same values (ids and ``ts_init`` differ).

    Raises ``ValueError`` at once for settings that cannot produce bars.
    """
    symbols = tuple(config.symbols)
    problems = [
        (interval_s <= 0, f"interval_s must be > 0, got {interval_s}"),
        (not symbols, "symbols must not be empty"),
        (len(set(symbols)) != len(symbols), f"symbols repeat: {symbols}"),
        (not config.start_price > 0, f"start_price must be > 0, got {config.start_price}"),
        (not config.volatility >= 0, f"volatility must be >= 0, got {config.volatility}"),
        (not math.isfinite(config.drift), f"drift must be finite, got {config.drift}"),
        (not config.volume > 0, f"volume must be > 0, got {config.volume}"),
        (config.bars < 0, f"bars must be >= 0, got {config.bars}"),
    ]
    for failed, problem in problems:
        if failed:
            raise ValueError(f"synthetic feed: {problem}")
    try:
        start_ns = _datetime_ns(datetime.fromisoformat(config.start))
    except ValueError:
        raise ValueError(f"synthetic feed: start {config.start!r} is not ISO") from None
    return _walk(config, symbols, start_ns, interval_s)


def _walk(
    config: SyntheticConfig, symbols: tuple[str, ...], start_ns: int, interval_s: int
) -> Iterator[Bar]:
    rng = random.Random(config.seed)
    gauss = rng.gauss
    vol, drift = config.volatility, config.drift
    wick = vol / 2
    sigma = _SYNTHETIC_VOLUME_SIGMA
    volume_mu = math.log(config.volume) - sigma * sigma / 2
    closes = [config.start_price] * len(symbols)
    step_ns = interval_s * _NS_PER_S
    steps = itertools.count() if config.bars == 0 else range(config.bars)
    for step in steps:
        ts = start_ns + step * step_ns
        for k, symbol in enumerate(symbols):
            o = closes[k]
            c = o * math.exp(gauss(drift, vol))
            h = max(o, c) * math.exp(abs(gauss(0.0, wick)))
            lo = min(o, c) * math.exp(-abs(gauss(0.0, wick)))
            v = math.exp(gauss(volume_mu, sigma))
            closes[k] = c
            yield Bar(
                id=next_id(),
                ts_event=ts,
                ts_init=time.time_ns(),
                symbol=symbol,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=v,
                interval_s=interval_s,
            )


def _checked(stream: Iterable[Bar | Tick], index: int) -> Iterator[Bar | Tick]:
    prev = None
    for item in stream:
        if prev is not None and item.ts_event < prev:
            raise DataError(
                f"stream {index} goes back in time: {item.ts_event} after {prev} ({item.symbol})"
            )
        prev = item.ts_event
        yield item


def merge_streams(streams: Sequence[Iterable[Bar | Tick]]) -> Iterator[Bar | Tick]:
    """Lazily merge time-ordered streams by ``ts_event``; ties go in stream order.

    Streams may be infinite. A stream that goes back in time raises
    :class:`DataError` when the merge reaches that item.
    """
    checked = [_checked(s, i) for i, s in enumerate(streams)]
    return heapq.merge(*checked, key=lambda m: m.ts_event)


def market_data(feed: FeedConfig) -> Iterator[Bar | Tick]:
    """The feed's data in time order: the synthetic walk, or every CSV merged.

    CSV files are loaded (and checked) before this returns, so a bad file fails
    here, not half-way through a run. Raises :class:`DataError` when
    ``source = "csv"`` lists no files.
    """
    if feed.source is FeedSource.SYNTHETIC:
        return synthetic_bars(feed.synthetic, interval_s=feed.interval_s)
    if not feed.csv:
        raise DataError('[feed] source = "csv" but there is no [[feed.csv]] entry')
    loaded = [
        load_csv(src.path, symbol=src.symbol, kind=src.kind, interval_s=src.interval_s)
        for src in feed.csv
    ]
    return merge_streams(loaded)
