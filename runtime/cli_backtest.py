"""``tradepit backtest``: run the settings' strategies over historical data.

``tradepit backtest SETTINGS [--data [SYMBOL=]PATH]... [--ticks SYMBOL=PATH]...
[--from DATE] [--to DATE] [--strategy ID]... [--report DIR]``

- ``--data``: a CSV (the formats of ``docs/market-data.md``) or Parquet file
  of bars. ``SYMBOL=`` names the symbol its rows are; it may be left out when
  every strategy trades the same single symbol. Without ``--data`` and
  ``--ticks``, the settings' ``[[feed.csv]]`` files are used.
- ``--ticks``: a file of trades (price = Close, size = Volume).
- ``--from`` / ``--to``: ``YYYY-MM-DD`` (``--to`` includes that whole day) or
  ``YYYY-MM-DDTHH:MM[:SS]`` (UTC; ``--to`` includes that instant).
- ``--strategy ID``: run only this strategy (repeatable; default: all).
- ``--report DIR``: write the report folder (``docs/backtest.md#report``).

Prints the metrics table. Exit 0 after a run, 1 when a strategy raised
during the run, 2 for a bad settings file, bad data or bad arguments (the
message names which and what was expected). The progress bar is drawn on
stderr only when stderr is a terminal. :func:`load_data` is shared with
``tradepit optimize``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from runtime.backtest import BacktestError, StrategyFailedError, run_backtest
from runtime.backtest_types import BarSeries
from runtime.bar_data import load_series
from runtime.config import DataKind, Settings
from runtime.errors import DataError, SettingsError
from runtime.logs import configure_logging
from runtime.progress import Progress
from runtime.report import format_metrics_table, write_report
from runtime.settings import load_settings

__all__ = [
    "add_backtest_command",
    "add_data_arguments",
    "load_data",
    "parse_moment",
    "run_backtest_command",
    "select_strategies",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
_DAY_NS = 86_400 * 1_000_000_000


def add_backtest_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``backtest`` on ``tradepit``'s subparsers."""
    parser = subparsers.add_parser(
        "backtest", help="run the strategies of a settings file over historical data"
    )
    parser.add_argument("settings", help="path of the settings TOML file")
    add_data_arguments(parser)
    parser.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="ID",
        help="run only this strategy of the settings (repeatable; default: all)",
    )
    parser.add_argument(
        "--report", type=Path, metavar="DIR", help="write summary, trades, equity and charts here"
    )


def select_strategies(settings: Settings, wanted: Sequence[str]) -> Settings:
    """``settings`` with only the strategies ``wanted`` (all when empty).

    Raises :class:`SettingsError` naming an unknown id and the known ones.
    """
    if not wanted:
        return settings
    known = [s.id for s in settings.strategies]
    for sid in wanted:
        if sid not in known:
            raise SettingsError(
                settings.source,
                "--strategy",
                f"no strategy {sid!r}; the settings have {', '.join(known) or 'none'}",
            )
    kept = tuple(s for s in settings.strategies if s.id in wanted)
    return dataclasses.replace(settings, strategies=kept)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data``, ``--ticks``, ``--from`` and ``--to`` (shared with ``optimize``)."""
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="[SYMBOL=]PATH",
        help="bars to replay (CSV or Parquet); repeat for more symbols",
    )
    parser.add_argument(
        "--ticks",
        action="append",
        default=[],
        metavar="SYMBOL=PATH",
        help="trades to replay (CSV or Parquet); repeat for more symbols",
    )
    parser.add_argument(
        "--from", dest="start", metavar="DATE", help="first day (or instant, UTC) to replay"
    )
    parser.add_argument(
        "--to", dest="end", metavar="DATE", help="last day (or instant, UTC) to replay"
    )


def parse_moment(text: str, option: str, *, end: bool) -> int:
    """ns since the epoch of ``--from``/``--to`` text; an end date covers its whole day.

    Raises :class:`DataError` naming the option and the value.
    """
    value = text.strip()
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            ns = _ns(start)
            return ns + _DAY_NS if end else ns
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise DataError(
            f"{option} {text!r}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (UTC)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    ns = _ns(moment)
    return ns + 1 if end else ns


def _ns(moment: dt.datetime) -> int:
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _sources(
    settings: Settings, data: Sequence[str], ticks: Sequence[str]
) -> list[tuple[str, Path, DataKind, int]]:
    """(symbol, path, kind, interval_s) of every file to replay."""
    if not data and not ticks:
        if not settings.feed.csv:
            raise DataError(
                "no data: give --data [SYMBOL=]PATH (or --ticks SYMBOL=PATH), or list "
                "files in the settings' [[feed.csv]]"
            )
        return [(c.symbol, c.path, c.kind, c.interval_s) for c in settings.feed.csv]
    symbols = sorted({s for strategy in settings.strategies for s in strategy.symbols})
    found: list[tuple[str, Path, DataKind, int]] = []
    for option, kind, values in (
        ("--data", DataKind.BARS, data),
        ("--ticks", DataKind.TICKS, ticks),
    ):
        for text in values:
            symbol, sep, path = text.partition("=")
            if not sep:
                if option == "--ticks" or len(symbols) != 1:
                    raise DataError(
                        f"{option} {text!r}: name the symbol as SYMBOL=PATH (the strategies "
                        f"trade {', '.join(symbols) or 'no symbol'})"
                    )
                symbol, path = symbols[0], text
            symbol, path = symbol.strip(), path.strip()
            if not symbol or not path:
                raise DataError(f"{option} {text!r}: expected [SYMBOL=]PATH")
            found.append((symbol, Path(path), kind, 0))
    return found


def load_data(
    settings: Settings,
    data: Sequence[str],
    start: str | None,
    end: str | None,
    *,
    ticks: Sequence[str] = (),
) -> list[BarSeries]:
    """Load and window the market data named by ``--data``/``--ticks`` (or the settings'
    ``[[feed.csv]]``), checked as ``docs/market-data.md`` says.

    Raises :class:`DataError` for a bad file, option or window (naming which).
    """
    start_ns = None if start is None else parse_moment(start, "--from", end=False)
    end_ns = None if end is None else parse_moment(end, "--to", end=True)
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        raise DataError(f"--to {end!r} is not after --from {start!r}")
    loaded: list[BarSeries] = []
    for symbol, path, kind, interval_s in _sources(settings, data, ticks):
        series = load_series(path, symbol=symbol, kind=kind, interval_s=interval_s)
        window = series.window(start_ns, end_ns)
        if not len(window):
            raise DataError(
                f"{path}: no rows between --from {start or '(start)'} and --to {end or '(end)'}"
            )
        loaded.append(window)
    return loaded


def run_backtest_command(args: argparse.Namespace) -> int | None:
    """Run ``tradepit backtest`` if ``args`` is that; its exit code, else None."""
    if getattr(args, "command", None) != "backtest":
        return None
    try:
        settings = select_strategies(load_settings(args.settings), args.strategy)
        configure_logging(settings.runtime.log_level)
        data = load_data(settings, args.data, args.start, args.end, ticks=args.ticks)
    except SettingsError as exc:
        print(f"tradepit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DataError as exc:
        print(f"tradepit: data: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.report is not None and args.report.exists() and not args.report.is_dir():
        print(
            f"tradepit: --report {args.report}: expected a folder (new or existing), got a file",
            file=sys.stderr,
        )
        return EXIT_USAGE
    events = sum(len(s) for s in data)
    began = time.perf_counter()
    try:
        with Progress(events, "backtest") as progress:
            result = run_backtest(settings, data, progress=progress)
    except StrategyFailedError as exc:
        print(f"tradepit: backtest stopped: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except BacktestError as exc:
        hint = "" if args.strategy else " (--strategy ID runs only some strategies)"
        print(f"tradepit: {exc}{hint}", file=sys.stderr)
        return EXIT_USAGE
    elapsed = time.perf_counter() - began
    print(format_metrics_table(result))
    if result.halted:
        print(f"trading halted during the run: {result.halted}")
    rate = events / elapsed if elapsed > 0 else 0.0
    print(
        f"{events:,} events, {len(result.orders):,} orders, {len(result.fills):,} fills "
        f"in {elapsed:.2f} s ({rate:,.0f} events/s)"
    )
    if args.report is not None:
        try:
            write_report(result, args.report)
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            print(f"tradepit: --report {args.report}: {why}", file=sys.stderr)
            return EXIT_USAGE
        print(f"report: {args.report / 'report.html'}")
    return EXIT_OK
