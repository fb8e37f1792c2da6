"""``tradepit optimize``: sweep one strategy's parameters over historical data.

``tradepit optimize SETTINGS [--data PATH] --param NAME=SPEC [--param ...]``
runs one backtest per combination of the ``--param`` values (the grid, or
``--random N`` combinations of it drawn with ``--seed``), each in its own
process (``-j N`` at once, default one per CPU; or as Ray tasks with
``--ray``), ranks them by ``--metric`` and prints the best ``--top K`` as a
table; ``--csv FILE`` writes every trial. Only the swept strategy
(``--strategy ID``, or the only one in the settings) runs in the trials: the
other strategies of the settings file are left out, and so is data for
symbols it does not trade. ``--data``, ``--ticks``, ``--from`` and ``--to``
mean what they mean for ``tradepit backtest``.

``--train DURATION --test DURATION`` does walk-forward optimisation instead:
for each rolling window, the grid is run on the train span, the best
combination is run on the test span that follows, and one row per window is
printed (and written to ``--csv``).

Exit codes: 0 the sweep ran (some trials may have failed: they are counted
and their errors shown); 1 every trial failed; 2 a usage error, a settings
or data problem, or a missing Ray for ``--ray``; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import csv
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Final

from runtime.backtest_types import Metrics
from runtime.cli_backtest import add_data_arguments, load_data
from runtime.cli_remote import render
from runtime.errors import DataError, SettingsError
from runtime.optimize import (
    ASCENDING_METRICS,
    METRICS,
    Backend,
    Grid,
    OptimizeError,
    ParamValue,
    Span,
    Trial,
    TrialResult,
    WindowResult,
    check_metric,
    choose_strategy,
    describe,
    metric_value,
    parse_duration,
    parse_specs,
    plan_trials,
    rank,
    run_walk_forward,
    sample_indices,
    sweep_job,
    timeline,
    walk_forward_windows,
)
from runtime.progress import Progress
from runtime.ray_trials import RayBackend, RayMissingError
from runtime.settings import load_settings
from runtime.trial_pool import local_backend

__all__ = [
    "DEFAULT_METRIC",
    "DEFAULT_TOP",
    "EXIT_ALL_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_optimize_command",
    "run_optimize",
]

EXIT_OK: Final = 0
"""The sweep ran (failed trials, if any, are reported)."""
EXIT_ALL_FAILED: Final = 1
"""Every trial failed."""
EXIT_USAGE: Final = 2
"""A usage, settings or data problem, or ``--ray`` without Ray installed."""
EXIT_INTERRUPTED: Final = 130
"""Ctrl-C."""
DEFAULT_METRIC: Final = "sharpe"
DEFAULT_TOP: Final = 20

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_DAY = 86_400 * 1_000_000_000
# Table columns: heading and Metrics field.
_SHOWN: Final = (
    ("return", "total_return"),
    ("sharpe", "sharpe"),
    ("max_dd", "max_drawdown"),
    ("trades", "trades"),
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def add_optimize_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register ``optimize`` on ``tradepit``'s subparsers."""
    parser = subparsers.add_parser(
        "optimize",
        help="sweep a strategy's parameters over historical data",
        description=(
            "Run one backtest per combination of --param values, each in its own process, "
            "and rank them. Only the swept strategy runs; the settings' other strategies "
            "are left out (docs/backtest.md#parameter-sweeps)."
        ),
    )
    parser.add_argument("settings", help="path of the settings TOML file")
    add_data_arguments(parser)
    parser.add_argument(
        "--param",
        action="append",
        required=True,
        metavar="NAME=SPEC",
        help="values to sweep: start:stop:step (stop included), a,b,c or one value; repeat",
    )
    parser.add_argument(
        "--strategy", metavar="ID", help="strategy to sweep (default: the only one)"
    )
    parser.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help=f"Metrics field to rank by (default {DEFAULT_METRIC}); "
        f"ascending for {', '.join(sorted(ASCENDING_METRICS))}",
    )
    parser.add_argument(
        "--random",
        type=_positive_int,
        metavar="N",
        help="run N distinct combinations drawn from the grid instead of all",
    )
    parser.add_argument(
        "--seed", type=_int, default=None, metavar="S", help="seed of --random (default 0)"
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="trials at once, one process each (default: the number of CPUs)",
    )
    parser.add_argument(
        "--train", metavar="DURATION", help="walk-forward train span: 365d, 4w, 12h, 90min or bars"
    )
    parser.add_argument("--test", metavar="DURATION", help="walk-forward test span (with --train)")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write every trial (or window)")
    parser.add_argument(
        "--top",
        type=_positive_int,
        default=DEFAULT_TOP,
        metavar="K",
        help=f"rows in the table (default {DEFAULT_TOP})",
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run trials on Ray: a cluster ADDRESS, 'auto' (the cluster of this machine) "
        "or 'local' (start Ray here); needs tradepit[ray]",
    )


MAX_GRID = 100_000
"""Largest grid run whole; a larger one must be sampled (``--random N``)."""


class _TerminatedError(Exception):
    """SIGTERM or SIGHUP reached the sweep: stop the trials, as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise _TerminatedError(signum)


def _error(text: str) -> None:
    print(f"tradepit: {text}", file=sys.stderr, flush=True)


def run_optimize(args: argparse.Namespace) -> int | None:
    """Run ``tradepit optimize`` if ``args`` is that; returns its exit code, or
    None for any other subcommand."""
    if getattr(args, "command", None) != "optimize":
        return None
    # A plain kill (SIGTERM), a closed terminal (SIGHUP): the trial pool's cleanup
    # must run as on Ctrl-C, or the trials would go on as orphans.
    previous = (
        {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
        if threading.current_thread() is threading.main_thread()
        else {}
    )
    try:
        return _optimize(args, sys.stdout)
    except _TerminatedError as exc:
        _error(f"optimize: {exc}; the trials still running were stopped")
        return 128 + exc.signum
    except (OptimizeError, RayMissingError, SettingsError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except DataError as exc:
        _error(f"{args.settings}: data: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("optimize: interrupted; the trials still running were stopped")
        return EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True, slots=True)
class _Options:
    metric: str
    train: Span | None
    test: Span | None


def _options(args: argparse.Namespace) -> _Options:
    metric = check_metric(args.metric)
    if args.seed is not None and args.random is None:
        raise OptimizeError("--seed: only meaningful with --random N")
    if (args.train is None) != (args.test is None):
        raise OptimizeError("--train and --test go together: give both for walk-forward")
    if args.train is None:
        return _Options(metric, None, None)
    return _Options(
        metric, parse_duration("--train", args.train), parse_duration("--test", args.test)
    )


def _optimize(args: argparse.Namespace, out: Any) -> int:
    specs = parse_specs(args.param)
    options = _options(args)
    backend: Backend
    ray: RayBackend | None = None
    if args.ray is not None:
        backend = ray = RayBackend(args.ray)  # fails now, before any work, without Ray
    else:
        backend = local_backend(args.jobs)
    try:
        return _sweep(args, specs_grid=Grid(specs), options=options, backend=backend, out=out)
    finally:
        if ray is not None:
            ray.close()


def _sweep(
    args: argparse.Namespace, *, specs_grid: Grid, options: _Options, backend: Backend, out: Any
) -> int:
    settings = load_settings(args.settings)
    strategy_id = choose_strategy(settings, args.strategy)
    seed = 0 if args.seed is None else args.seed
    if args.random is None and specs_grid.size > MAX_GRID:
        raise OptimizeError(
            f"--param: the grid has {specs_grid.size:,} combinations, more than "
            f"{MAX_GRID:,}; narrow the ranges or sample it with --random N"
        )
    indices = (
        sample_indices(specs_grid.size, args.random, seed)
        if args.random is not None
        else range(specs_grid.size)
    )
    empty = sweep_job(settings, strategy_id, ())
    plan = plan_trials(empty.settings, strategy_id, [specs_grid.combination(i) for i in indices])
    if plan.skipped:
        _error(f"skipped {plan.skipped} invalid combinations (first: {plan.first_skip})")
    if not plan.combinations:
        raise OptimizeError("--param: every combination is invalid; nothing to run")
    data = load_data(empty.settings, args.data, args.start, args.end, ticks=args.ticks)
    job = sweep_job(settings, strategy_id, data)
    names = [s.name for s in specs_grid.specs]
    started = time.monotonic()
    if options.train is not None and options.test is not None:
        windows = walk_forward_windows(timeline(job.data), options.train, options.test)
        total = len(windows) * (len(plan.combinations) + 1)
        with Progress(total, "optimize") as progress:
            rows = run_walk_forward(
                job,
                plan.combinations,
                windows,
                options.metric,
                backend=backend,
                progress=progress,
            )
        return _report_walk_forward(
            args,
            rows,
            names=names,
            metric=options.metric,
            skipped=plan.skipped,
            started=started,
            out=out,
        )
    trials = [Trial(index=i, params=values) for i, values in enumerate(plan.combinations)]
    with Progress(len(trials), "optimize") as progress:
        results = backend(job, trials, progress)
    return _report_sweep(
        args,
        results,
        names=names,
        metric=options.metric,
        skipped=plan.skipped,
        started=started,
        out=out,
    )


# --- formatting ------------------------------------------------------------------------------


def _when(ns: int) -> str:
    moment = _EPOCH + timedelta(microseconds=ns // 1000)
    if ns % _NS_PER_DAY == 0:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _short(value: float | int | None) -> float | int | None:
    if isinstance(value, float):
        return round(value, 4)
    return value


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _metrics_cells(metrics: Metrics | None) -> list[str]:
    if metrics is None:
        return ["" for _ in METRICS]
    return [_csv_cell(getattr(metrics, name)) for name in METRICS]


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    try:
        with path.open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
    except OSError as exc:
        raise OptimizeError(f"--csv {path}: cannot write: {exc}") from None


def _param_cells(params: Mapping[str, ParamValue], names: Sequence[str]) -> list[str]:
    return [_csv_cell(params.get(n)) for n in names]


def _first_failure(results: Sequence[TrialResult]) -> TrialResult | None:
    return next((r for r in results if not r.ok), None)


def _footer(out: Any, *, done: int, failed: int, skipped: int, started: float) -> None:
    elapsed = time.monotonic() - started
    rate = done / elapsed if elapsed > 0 else 0.0
    print(
        f"{done} trials ({failed} failed, {skipped} invalid skipped) in {elapsed:.1f}s, "
        f"{rate:.1f} trials/s",
        file=out,
    )


def _report_sweep(
    args: argparse.Namespace,
    results: Sequence[TrialResult],
    *,
    names: Sequence[str],
    metric: str,
    skipped: int,
    started: float,
    out: Any,
) -> int:
    ranked = rank(results, metric)
    shown_fields = {f for _, f in _SHOWN}
    any_failed = any(not r.ok for r in ranked[: args.top])
    rows: list[dict[str, Any]] = []
    for position, result in enumerate(ranked[: args.top], 1):
        row: dict[str, Any] = {"rank": position}
        row.update({n: result.params.get(n) for n in names})
        if metric not in shown_fields:
            row[metric] = _short(metric_value(result, metric))
        m = result.metrics
        for heading, name in _SHOWN:
            row[heading] = None if m is None else _short(getattr(m, name))
        if any_failed:
            row["status"] = result.status
        rows.append(row)
    order = "ascending" if metric in ASCENDING_METRICS else "descending"
    print(f"ranked by {metric} ({order}); top {len(rows)} of {len(ranked)}", file=out)
    print(render("optimize", rows), file=out)
    failed = [r for r in results if not r.ok]
    _footer(out, done=len(results), failed=len(failed), skipped=skipped, started=started)
    if failed:
        first = failed[0]
        _error(f"{len(failed)} trials failed; first: {describe(first.params)}: {first.error}")
    if args.csv is not None:
        header = ["rank", "trial", *names, *METRICS, "orders", "fills", "status", "error"]
        _write_csv(
            args.csv,
            header,
            [
                [
                    str(position),
                    str(r.index),
                    *_param_cells(r.params, names),
                    *_metrics_cells(r.metrics),
                    str(r.orders),
                    str(r.fills),
                    r.status,
                    r.error,
                ]
                for position, r in enumerate(ranked, 1)
            ],
        )
    if results and len(failed) == len(results):
        _error("every trial failed")
        return EXIT_ALL_FAILED
    return EXIT_OK


def _window_status(row: WindowResult) -> str:
    if row.best is None:
        return "no valid trial"
    if row.test is None or not row.test.ok:
        return "test failed"
    return "ok"


def _report_walk_forward(
    args: argparse.Namespace,
    rows: Sequence[WindowResult],
    *,
    names: Sequence[str],
    metric: str,
    skipped: int,
    started: float,
    out: Any,
) -> int:
    table: list[dict[str, Any]] = []
    value: Callable[[TrialResult | None], float | None] = lambda r: (  # noqa: E731
        None if r is None else metric_value(r, metric)
    )
    for row in rows:
        w = row.window
        line: dict[str, Any] = {
            "window": w.index,
            "train": f"{_when(w.train_start)} .. {_when(w.train_end)}",
            "test": f"{_when(w.test_start)} .. {_when(w.test_end)}",
        }
        params: Mapping[str, ParamValue] = {} if row.best is None else row.best.params
        line.update({n: params.get(n) for n in names})
        line[f"is_{metric}"] = _short(value(row.best))
        line[f"oos_{metric}"] = _short(value(row.test))
        oos = None if row.test is None or row.test.metrics is None else row.test.metrics
        line["oos_return"] = None if oos is None else _short(oos.total_return)
        line["status"] = _window_status(row)
        table.append(line)
    print(f"walk-forward by {metric}; ranges are [from .. to), UTC", file=out)
    print(render("optimize", table), file=out)
    trials = sum(r.trials for r in rows) + sum(r.test is not None for r in rows)
    failed = sum(r.failed for r in rows) + sum(r.test is not None and not r.test.ok for r in rows)
    _footer(out, done=trials, failed=failed, skipped=skipped, started=started)
    if args.csv is not None:
        header = [
            "window",
            "train_from",
            "train_to",
            "test_from",
            "test_to",
            *names,
            f"is_{metric}",
            "trials",
            "failed",
            *(f"oos_{m}" for m in METRICS),
            "oos_orders",
            "oos_fills",
            "status",
            "error",
        ]
        lines: list[list[str]] = []
        for row in rows:
            w = row.window
            test = row.test
            lines.append(
                [
                    str(w.index),
                    _when(w.train_start),
                    _when(w.train_end),
                    _when(w.test_start),
                    _when(w.test_end),
                    *_param_cells({} if row.best is None else row.best.params, names),
                    _csv_cell(value(row.best)),
                    str(row.trials),
                    str(row.failed),
                    *_metrics_cells(None if test is None else test.metrics),
                    str(0 if test is None else test.orders),
                    str(0 if test is None else test.fills),
                    _window_status(row),
                    "" if test is None else test.error,
                ]
            )
        _write_csv(args.csv, header, lines)
    if all(r.best is None for r in rows):
        _error("no window had a successful trial")
        return EXIT_ALL_FAILED
    return EXIT_OK
