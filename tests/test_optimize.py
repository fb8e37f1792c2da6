"""``tradepit optimize``: param specs, grid, random search, invalid combinations,
ranking, walk-forward windows and the command end to end (real processes)."""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from runtime.backtest_types import BarSeries, Metrics
from runtime.cli_optimize import add_optimize_command, run_optimize
from runtime.config import DataKind
from runtime.errors import SettingsError
from runtime.optimize import (
    Grid,
    OptimizeError,
    Span,
    SweepJob,
    Trial,
    TrialResult,
    Window,
    choose_strategy,
    evaluate,
    parse_duration,
    parse_param,
    parse_specs,
    plan_trials,
    rank,
    run_walk_forward,
    sample_indices,
    sweep_job,
    walk_forward_windows,
)
from runtime.progress import Progress
from runtime.settings import load_settings

DAY_NS = 86_400 * 1_000_000_000
T0 = 1_577_836_800 * 1_000_000_000  # 2020-01-01T00:00:00Z

STRATEGY = """
[[strategies]]
id = "{id}"
class = "strategies.sma_crossover:SmaCrossover"
symbols = ["XYZ"]
[strategies.params]
fast = 5
slow = 20
quantity = 100
"""

SETTINGS = """
[feed]
source = "synthetic"
[feed.synthetic]
symbols = ["XYZ"]

[execution]
engines = ["paper"]

[engines.paper]
adapter = "paper"

[portfolio]
starting_cash = 100000.0
""" + STRATEGY.format(id="sma")


def closes(n: int) -> list[float]:
    """A wavy, rising price path: SMA crossovers happen every few dozen bars."""
    return [
        100.0 + 10.0 * math.sin(i / 15.0) + 3.0 * math.sin(i / 4.0) + 0.02 * i for i in range(n)
    ]


def series(n: int = 300, symbol: str = "XYZ") -> BarSeries:
    """``n`` daily bars from 2020-01-01."""
    close = closes(n)
    return BarSeries(
        symbol=symbol,
        kind=DataKind.BARS,
        interval_s=86_400,
        source="synthetic",
        ts=[T0 + i * DAY_NS for i in range(n)],
        open=close,
        high=[c + 1.0 for c in close],
        low=[c - 1.0 for c in close],
        close=close,
        volume=[1_000.0] * n,
    )


def write_csv(path: Path, n: int = 300) -> Path:
    """``n`` daily bars in the ORCL file's format."""
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for i, c in enumerate(closes(n)):
        day = (T0 + i * DAY_NS) // DAY_NS
        date = f"{_iso_day(day)}"
        lines.append(f"{date},{c:.6f},{c + 1:.6f},{c - 1:.6f},{c:.6f},{c:.6f},1000")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _iso_day(days: int) -> str:
    import datetime as dt

    return (dt.date(1970, 1, 1) + dt.timedelta(days=days)).isoformat()


def metrics(**values: Any) -> Metrics:
    """A Metrics with neutral values, some replaced."""
    base: dict[str, Any] = {
        "start_equity": 100.0,
        "end_equity": 100.0,
        "net_pnl": 0.0,
        "total_return": 0.0,
        "cagr": None,
        "volatility": None,
        "sharpe": None,
        "sortino": None,
        "max_drawdown": 0.0,
        "max_drawdown_duration_s": 0.0,
        "trades": 0,
        "win_rate": None,
        "profit_factor": None,
        "exposure": 0.0,
        "fees": 0.0,
    }
    return Metrics(**{**base, **values})


def result(index: int, **values: Any) -> TrialResult:
    return TrialResult(index=index, params={"i": index}, ok=True, metrics=metrics(**values))


# --- specs -----------------------------------------------------------------------------------


def test_a_range_includes_stop_when_it_lands_on_the_grid() -> None:
    assert parse_param("fast=5:30:5").values == (5, 10, 15, 20, 25, 30)
    assert parse_param("fast=5:32:5").values == (5, 10, 15, 20, 25, 30)
    assert all(type(v) is int for v in parse_param("fast=5:30:5").values)


def test_a_float_range_does_not_drift() -> None:
    assert parse_param("w=0.1:0.5:0.1").values == (0.1, 0.2, 0.3, 0.4, 0.5)
    assert parse_param("w=1:2:0.25").values == (1.0, 1.25, 1.5, 1.75, 2.0)
    assert all(type(v) is float for v in parse_param("w=1:2:0.25").values)
    assert parse_param("w=0:1:0.1").values[-1] == 1.0


def test_lists_and_single_values_keep_their_types() -> None:
    spec = parse_param(" mode = 1, 2.5, true, fast ")
    assert spec.name == "mode"
    assert spec.values == (1, 2.5, True, "fast")
    assert [type(v) for v in spec.values] == [int, float, bool, str]
    assert parse_param("slow=7").values == (7,)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("fast", "expected NAME=SPEC"),
        ("=5", "expected NAME=SPEC"),
        ("fast=", "no value"),
        ("fast=5:1:1", "below start"),
        ("fast=1:5:0", "step must be > 0"),
        ("fast=1:5:-1", "step must be > 0"),
        ("fast=1:5", "expected start:stop:step"),
        ("fast=a:b:c", "three numbers"),
        ("fast=1,,2", "empty value"),
        ("fast=1,1", "listed twice"),
        ("fast=0:10000000:1", "at most"),
        ("fast=0:1:1e-999999999", "too large to expand"),
        ("fast=1e999999:1e999999999:1e-999999", "too large to expand"),
        ("x=1e400:1e400:1", "values must be finite"),
    ],
)
def test_a_bad_spec_names_the_param_and_the_text(text: str, problem: str) -> None:
    with pytest.raises(OptimizeError) as caught:
        parse_param(text)
    message = str(caught.value)
    assert "--param" in message
    assert text in message
    assert problem in message


def test_a_param_given_twice_is_refused() -> None:
    with pytest.raises(OptimizeError, match="--param fast is given more than once"):
        parse_specs(["fast=1,2", "slow=5", "fast=3"])


# --- grid and random search ------------------------------------------------------------------


def test_the_grid_varies_the_last_param_fastest() -> None:
    grid = Grid(parse_specs(["a=1:2:1", "b=x,y,z"]))
    assert len(grid) == 6
    assert list(grid) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 1, "b": "z"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
        {"a": 2, "b": "z"},
    ]
    assert grid.combination(4) == {"a": 2, "b": "y"}
    with pytest.raises(IndexError):
        grid.combination(6)


def test_random_search_is_seeded_distinct_and_inside_the_grid() -> None:
    first = sample_indices(1_000, 20, seed=3)
    assert first == sample_indices(1_000, 20, seed=3)
    assert len(set(first)) == 20
    assert all(0 <= i < 1_000 for i in first)
    assert first == sorted(first)
    assert sample_indices(1_000, 20, seed=4) != first
    assert sample_indices(5, 10, seed=0) == [0, 1, 2, 3, 4]


def test_a_huge_grid_is_sampled_without_being_built() -> None:
    grid = Grid(parse_specs(["a=1:100000:1", "b=1:100000:1"]))
    assert grid.size == 10_000_000_000
    picks = [grid.combination(i) for i in sample_indices(grid.size, 5, seed=1)]
    assert len({(p["a"], p["b"]) for p in picks}) == 5


# --- strategy, plan ----------------------------------------------------------------------------


def test_invalid_combinations_are_skipped_and_counted(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SETTINGS, encoding="utf-8")
    settings = load_settings(tmp_path / "s.toml")
    grid = Grid(parse_specs(["fast=5:20:5", "slow=10,20"]))
    plan = plan_trials(settings, "sma", list(grid))
    assert plan.combinations == (
        {"fast": 5, "slow": 10},
        {"fast": 5, "slow": 20},
        {"fast": 10, "slow": 20},
        {"fast": 15, "slow": 20},
    )
    assert plan.skipped == 4
    assert plan.first_skip.startswith("fast=10 slow=10: ")
    assert "slow must be greater than fast" in plan.first_skip


@pytest.mark.parametrize(
    ("values", "problem"),
    [({"fsat": 3}, "unknown parameter"), ({"fast": 1.5}, "fast")],
)
def test_unknown_names_and_wrong_types_stop_the_sweep(
    tmp_path: Path, values: dict[str, Any], problem: str
) -> None:
    (tmp_path / "s.toml").write_text(SETTINGS, encoding="utf-8")
    settings = load_settings(tmp_path / "s.toml")
    with pytest.raises(SettingsError) as caught:
        plan_trials(settings, "sma", [values])
    assert "--param" in str(caught.value)
    assert problem in str(caught.value)


def test_the_swept_strategy_is_the_only_one_or_the_chosen_one(tmp_path: Path) -> None:
    (tmp_path / "one.toml").write_text(SETTINGS, encoding="utf-8")
    (tmp_path / "two.toml").write_text(SETTINGS + STRATEGY.format(id="other"), encoding="utf-8")
    one = load_settings(tmp_path / "one.toml")
    two = load_settings(tmp_path / "two.toml")
    assert choose_strategy(one, None) == "sma"
    assert choose_strategy(two, "other") == "other"
    with pytest.raises(OptimizeError, match=r"2 strategies \(sma, other\).*--strategy"):
        choose_strategy(two, None)
    with pytest.raises(OptimizeError, match="--strategy nope: no such strategy"):
        choose_strategy(two, "nope")
    job = sweep_job(two, "other", [series(10)])
    assert [s.id for s in job.settings.strategies] == ["other"]


# --- ranking ---------------------------------------------------------------------------------


def test_ranking_is_descending_with_none_and_failures_last_and_ties_by_index() -> None:
    failed = TrialResult(index=0, params={}, ok=False, error="boom")
    results = [
        failed,
        result(1, sharpe=None),
        result(2, sharpe=0.5),
        result(3, sharpe=2.0),
        result(4, sharpe=0.5),
        result(5, sharpe=-1.0),
    ]
    assert [r.index for r in rank(results, "sharpe")] == [3, 2, 4, 5, 0, 1]
    assert [r.index for r in rank(list(reversed(results)), "sharpe")] == [3, 2, 4, 5, 0, 1]


@pytest.mark.parametrize(
    "metric", ["max_drawdown", "max_drawdown_duration_s", "volatility", "fees"]
)
def test_risk_and_cost_metrics_rank_ascending(metric: str) -> None:
    results = [result(0, **{metric: 0.3}), result(1, **{metric: 0.1}), result(2, **{metric: 0.2})]
    assert [r.index for r in rank(results, metric)] == [1, 2, 0]


def test_an_unknown_metric_lists_the_valid_ones() -> None:
    with pytest.raises(OptimizeError) as caught:
        rank([result(0)], "shrape")
    assert "--metric shrape" in str(caught.value)
    assert "sharpe" in str(caught.value)
    assert "max_drawdown_duration_s" in str(caught.value)


# --- walk-forward ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("365d", Span(ns=365 * DAY_NS)),
        ("2w", Span(ns=14 * DAY_NS)),
        ("90min", Span(ns=5400 * 10**9)),
    ],
)
def test_durations_parse(text: str, span: Span) -> None:
    assert parse_duration("--train", text) == span
    assert parse_duration("--train", "250") == Span(bars=250)
    assert parse_duration("--test", "12h") == Span(ns=12 * 3600 * 10**9)


@pytest.mark.parametrize("text", ["", "0", "-5d", "3y", "d", "1.5d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(OptimizeError, match="--test"):
        parse_duration("--test", text)


def test_windows_roll_by_the_test_span_in_bars_and_in_time() -> None:
    stamps = [T0 + i * DAY_NS for i in range(10)]
    by_bars = walk_forward_windows(stamps, Span(bars=4), Span(bars=2))
    assert [(w.train_start, w.train_end, w.test_start, w.test_end) for w in by_bars] == [
        (stamps[0], stamps[4], stamps[4], stamps[6]),
        (stamps[2], stamps[6], stamps[6], stamps[8]),
        (stamps[4], stamps[8], stamps[8], stamps[9] + 1),
    ]
    by_time = walk_forward_windows(stamps, Span(ns=4 * DAY_NS), Span(ns=2 * DAY_NS))
    assert [w.index for w in by_time] == [0, 1]
    assert by_time[1] == Window(
        index=1,
        train_start=stamps[2],
        train_end=stamps[6],
        test_start=stamps[6],
        test_end=stamps[8],
    )
    with pytest.raises(OptimizeError, match="too short"):
        walk_forward_windows(stamps, Span(bars=9), Span(bars=2))
    with pytest.raises(OptimizeError, match="both be bar counts"):
        walk_forward_windows(stamps, Span(bars=4), Span(ns=DAY_NS))


def test_walk_forward_tests_each_windows_in_sample_winner_out_of_sample() -> None:
    windows = walk_forward_windows([T0 + i * DAY_NS for i in range(8)], Span(bars=4), Span(bars=2))
    seen: list[Trial] = []

    def backend(
        job: SweepJob, trials: Sequence[Trial], progress: Progress | None
    ) -> list[TrialResult]:
        seen.extend(trials)
        # In sample, "a" wins in window 0 and "b" in window 1: score depends on the window.
        out = []
        for t in trials:
            day = ((t.start_ns or 0) - T0) // DAY_NS
            score = {"a": 2.0, "b": 1.0}[str(t.params["p"])] * (1 if day < 2 else -1)
            out.append(
                TrialResult(index=t.index, params=t.params, ok=True, metrics=metrics(sharpe=score))
            )
        return out

    job = SweepJob(settings=None, strategy_id="x", data=())  # type: ignore[arg-type]
    rows = run_walk_forward(job, [{"p": "a"}, {"p": "b"}], windows, "sharpe", backend=backend)
    assert [r.best.params["p"] if r.best else None for r in rows] == ["a", "b"]
    tests = seen[4:]
    assert [(t.params["p"], t.start_ns, t.end_ns) for t in tests] == [
        ("a", windows[0].test_start, windows[0].test_end),
        ("b", windows[1].test_start, windows[1].test_end),
    ]
    assert all(r.test is not None and r.test.ok for r in rows)


# --- trials and the command --------------------------------------------------------------------


def test_a_trial_runs_only_the_swept_strategy_with_its_params(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SETTINGS + STRATEGY.format(id="other"), encoding="utf-8")
    job = sweep_job(load_settings(tmp_path / "s.toml"), "sma", [series()])
    fast = evaluate(job, Trial(index=0, params={"fast": 3, "slow": 10}))
    slow = evaluate(job, Trial(index=1, params={"fast": 10, "slow": 40}))
    assert fast.ok and fast.metrics is not None and slow.metrics is not None
    assert fast.metrics.trades > slow.metrics.trades > 0
    assert fast.total is not None
    assert fast.total.net_pnl == pytest.approx(fast.metrics.net_pnl)
    windowed = evaluate(
        job, Trial(index=2, params={"fast": 3, "slow": 10}, end_ns=T0 + 100 * DAY_NS)
    )
    assert windowed.metrics is not None
    assert windowed.metrics.trades < fast.metrics.trades


def optimize(argv: list[str]) -> int | None:
    """``tradepit optimize ARGV`` in this process, through our own parser."""
    parser = argparse.ArgumentParser(prog="tradepit")
    add_optimize_command(parser.add_subparsers(dest="command", required=True))
    return run_optimize(parser.parse_args(["optimize", *argv]))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    settings = tmp_path / "settings.toml"
    settings.write_text(SETTINGS, encoding="utf-8")
    return settings, write_csv(tmp_path / "xyz.csv")


def test_the_command_ranks_trials_and_two_runs_write_identical_csvs(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, data = files
    argv = [str(settings), "--data", str(data), "--param", "fast=2:8:3", "--param", "slow=5,10"]
    argv += ["-j", "2", "--top", "3"]
    assert optimize([*argv, "--csv", str(tmp_path / "a.csv")]) == 0
    out, err = capsys.readouterr()
    assert "skipped 2 invalid combinations (first: fast=5 slow=5: " in err
    lines = out.splitlines()
    assert lines[0] == "ranked by sharpe (descending); top 3 of 4"
    assert lines[1].split() == ["rank", "fast", "slow", "return", "sharpe", "max_dd", "trades"]
    assert len(lines) == 2 + 1 + 3 + 1
    assert lines[-1].startswith("4 trials (0 failed, 2 invalid skipped) in ")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "a.csv").read_text(encoding="utf-8"))))
    sharpes = [float(r["sharpe"]) for r in rows]
    assert sharpes == sorted(sharpes, reverse=True)
    assert sorted((r["fast"], r["slow"]) for r in rows) == [
        ("2", "10"),
        ("2", "5"),
        ("5", "10"),
        ("8", "10"),
    ]
    assert {r["status"] for r in rows} == {"ok"}
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    assert int(rows[0]["trades"]) > 0
    assert optimize([*argv, "--csv", str(tmp_path / "b.csv"), "-j", "1"]) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_the_command_runs_a_seeded_random_sweep(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, data = files
    argv = [str(settings), "--data", str(data), "--param", "fast=2:6:1", "--param", "slow=10:30:10"]
    argv += ["--random", "4", "--seed", "7", "-j", "2", "--metric", "max_drawdown"]
    assert optimize([*argv, "--csv", str(tmp_path / "a.csv")]) == 0
    out = capsys.readouterr().out
    assert "ranked by max_drawdown (ascending); top 4 of 4" in out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "a.csv").read_text(encoding="utf-8"))))
    assert len({(r["fast"], r["slow"]) for r in rows}) == 4
    drawdowns = [float(r["max_drawdown"]) for r in rows]
    assert drawdowns == sorted(drawdowns)
    assert optimize([*argv, "--csv", str(tmp_path / "b.csv")]) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_the_command_walks_forward(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, data = files
    argv = [str(settings), "--data", str(data), "--param", "fast=2,4", "--param", "slow=10,20"]
    argv += ["--train", "100", "--test", "50", "-j", "2", "--csv", str(tmp_path / "wf.csv")]
    assert optimize(argv) == 0
    out = capsys.readouterr().out
    assert "walk-forward by sharpe" in out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "wf.csv").read_text(encoding="utf-8"))))
    # 300 bars, train 100, test 50: windows start at bars 0, 50, 100, 150.
    assert [r["window"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["train_from"] for r in rows] == [
        "2020-01-01",
        "2020-02-20",
        "2020-04-10",
        "2020-05-30",
    ]
    assert rows[0]["test_from"] == rows[0]["train_to"] == "2020-04-10"
    assert all(r["trials"] == "4" for r in rows)
    assert all(r["fast"] in ("2", "4") and r["slow"] in ("10", "20") for r in rows)
    assert {r["status"] for r in rows} <= {"ok", "no valid trial"}


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (["--param", "fast=9:1:1"], "--param fast=9:1:1: stop (1) is below start (9)"),
        (["--param", "fsat=3"], "--param: strategies[sma].params.fsat: unknown parameter"),
        (["--param", "fast=5", "--metric", "shrape"], "--metric shrape: unknown metric"),
        (["--param", "fast=30", "--param", "slow=10"], "every combination is invalid"),
        (["--param", "fast=5", "--train", "10"], "--train and --test go together"),
        (["--param", "fast=5", "--seed", "3"], "--seed: only meaningful with --random"),
        (["--param", "fast=5", "--strategy", "zzz"], "--strategy zzz: no such strategy"),
        (
            ["--param", "fast=1:400:1", "--param", "slow=1:400:1"],
            "the grid has 160,000 combinations, more than 100,000; narrow the ranges "
            "or sample it with --random N",
        ),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(
    files: tuple[Path, Path], extra: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, data = files
    assert optimize([str(settings), "--data", str(data), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tradepit: ")
    assert problem in err


def test_several_strategies_need_strategy(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = files
    settings = tmp_path / "two.toml"
    settings.write_text(SETTINGS + STRATEGY.format(id="other"), encoding="utf-8")
    argv = [str(settings), "--data", str(data), "--param", "fast=3,4"]
    assert optimize(argv) == 2
    assert "give --strategy ID" in capsys.readouterr().err
    assert optimize([*argv, "--strategy", "other", "-j", "2"]) == 0
    assert "top 2 of 2" in capsys.readouterr().out


def test_ray_without_ray_installed_says_how_to_get_it(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    settings, data = files
    argv = [str(settings), "--data", str(data), "--param", "fast=3", "--ray", "auto"]
    assert optimize(argv) == 2
    assert capsys.readouterr().err == "tradepit: --ray needs Ray: pip install 'tradepit[ray]'\n"


def test_other_commands_are_not_ours() -> None:
    assert run_optimize(argparse.Namespace(command="backtest")) is None
