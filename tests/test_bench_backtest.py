"""The backtest benchmark (`python -m bench.run --only backtest`) on its quick sizes:
both contenders see every bar and trade alike, the sweep runs in every mode, and
the report section shows it."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import importlib.util
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import run as bench_run
from bench._backtest_data import HEADER, MINUTE_FILE, SHIFT, write_repeated
from bench._backtest_sweep import MODES
from bench._stats import machine
from bench.backtest import QUICK, TARGET_RATIO, BacktestBenchResult, run_backtest_bench
from bench.report import Report, render

needs_data = pytest.mark.skipif(
    not MINUTE_FILE.is_file(), reason=f"shared market data not found at {MINUTE_FILE}"
)
needs_backtrader = pytest.mark.skipif(
    importlib.util.find_spec("backtrader") is None,
    reason="backtrader is a dev dependency (pip install -e '.[dev]')",
)

QUICK_BARS = QUICK.copies * (QUICK.bars_per_copy or 0)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[BacktestBenchResult, Path, list[str]]:
    if not MINUTE_FILE.is_file():
        pytest.skip(f"shared market data not found at {MINUTE_FILE}")
    if importlib.util.find_spec("backtrader") is None:
        pytest.skip("backtrader is a dev dependency (pip install -e '.[dev]')")
    folder = tmp_path_factory.mktemp("backtest-bench")
    lines: list[str] = []
    done = run_backtest_bench(QUICK, progress=lines.append, folder=folder)
    return done, folder, lines


@needs_data
def test_repeated_data_has_the_full_header_and_increasing_shifted_times(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    assert write_repeated(MINUTE_FILE, path, copies=3, bars_per_copy=5) == 15
    with path.open(encoding="utf-8", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    assert tuple(header) == HEADER
    assert len(rows) == 15 and all(len(row) == len(HEADER) for row in rows)
    stamps = [dt.datetime.fromisoformat(f"{row[0]}T{row[1]}") for row in rows]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert stamps[5] - stamps[0] == stamps[10] - stamps[5] == SHIFT
    assert stamps[5].weekday() == stamps[0].weekday()
    assert rows[5][1:] == rows[0][1:]  # only the date moves


def test_repeated_data_refuses_bad_counts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"copies: expected an integer >= 1, got 0"):
        write_repeated(MINUTE_FILE, tmp_path / "x.csv", copies=0)
    with pytest.raises(ValueError, match=r"bars_per_copy: expected an integer >= 1 or None"):
        write_repeated(MINUTE_FILE, tmp_path / "x.csv", copies=1, bars_per_copy=0)


@needs_data
@needs_backtrader
def test_both_contenders_see_every_bar_and_trade_alike(
    result: tuple[BacktestBenchResult, Path, list[str]],
) -> None:
    done, _, _ = result
    (only,) = done.rounds
    assert done.bars == QUICK_BARS
    assert only.tradepit_s > 0 and only.backtrader_s > 0 and only.load_s > 0
    assert only.load_plain_s is not None and only.load_plain_s > 0
    assert only.tradepit_executions > 10
    assert only.tradepit_executions == only.backtrader_executions
    assert only.first_difference == "" and done.same_executions
    assert done.ratio() == pytest.approx(only.backtrader_s / only.tradepit_s)
    assert done.rate("tradepit") == pytest.approx(QUICK_BARS / only.tradepit_s)
    assert done.passed is (done.ratio() >= TARGET_RATIO)
    assert done.backtrader_empty is not None and done.backtrader_empty.bars == QUICK_BARS
    assert done.backtrader_empty.executions == ()


@needs_data
@needs_backtrader
def test_sweep_runs_every_mode_with_the_same_fills(
    result: tuple[BacktestBenchResult, Path, list[str]],
) -> None:
    done, _, _ = result
    sweep = done.sweep
    assert sweep is not None
    assert sweep.trials == 2 and sweep.bars == QUICK.sweep_bars_per_copy
    (only,) = sweep.rounds
    assert set(only.seconds) == set(MODES)
    assert len({only.fills[m] for m in MODES}) == 1 and len(only.fills["-j 1"]) == 2
    for mode in MODES:
        assert sweep.rate(mode) > 0
    assert sweep.speedup() == pytest.approx(only.seconds["-j 1"] / only.seconds["-j 2"])


@needs_data
@needs_backtrader
def test_files_are_removed_and_progress_is_reported(
    result: tuple[BacktestBenchResult, Path, list[str]],
) -> None:
    _, folder, lines = result
    assert list(folder.iterdir()) == []
    assert lines[0].startswith(f"backtest: {QUICK_BARS:,} bars")
    assert any(line.startswith("backtest round 1/1:") for line in lines)
    assert lines[-1].startswith("backtest sweep round 1/1: 2 trials")


@needs_data
@needs_backtrader
def test_report_has_the_backtest_section(
    result: tuple[BacktestBenchResult, Path, list[str]],
) -> None:
    done, _, _ = result
    text = render(
        Report(
            command="python -m bench.run --only backtest",
            started=datetime.now(UTC),
            seconds=done.seconds,
            machine=machine(),
            latency=None,
            fanout=None,
            backtest=done,
        )
    )
    assert "## Backtest: bars/s against backtrader, and sweep throughput" in text
    assert "### Bars/s of the SMA crossover" in text and "### Sweep throughput" in text
    assert f"on {QUICK_BARS:,} 1-minute bars: tradepit {done.rate('tradepit'):,.0f} bars/s" in text
    assert f"| {done.ratio():.2f}x | {'PASS' if done.passed else 'FAIL'} (>= 10x) |" in text
    (only,) = done.rounds
    assert f"very same {only.tradepit_executions:,} executions" in text
    for mode in MODES:
        assert f"| {mode} | 2 |" in text


@needs_data
@needs_backtrader
def test_report_shows_differing_executions(
    result: tuple[BacktestBenchResult, Path, list[str]],
) -> None:
    done, _, _ = result
    (only,) = done.rounds
    broken = dataclasses.replace(
        done,
        rounds=(
            dataclasses.replace(only, backtrader_executions=7, first_difference="execution 3"),
        ),
    )
    text = render(
        Report(
            command="x",
            started=datetime.now(UTC),
            seconds=1.0,
            machine=machine(),
            latency=None,
            fanout=None,
            backtest=broken,
        )
    )
    assert not broken.same_executions
    assert "**The contenders' executions differ:**" in text
    assert "backtrader 7; first difference: execution 3" in text


def test_bench_run_offers_backtest() -> None:
    assert "backtest" in bench_run.BENCHMARKS
    with pytest.raises(SystemExit):
        bench_run.main(["--only", "backtestx"])


def test_sizes_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match=r"rounds: expected an integer >= 1, got 0"):
        run_backtest_bench(dataclasses.replace(QUICK, rounds=0), progress=print)
