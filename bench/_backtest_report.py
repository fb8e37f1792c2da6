"""The ``BENCHMARKS.md`` section of the backtest benchmark (:mod:`bench.backtest`)."""

from __future__ import annotations

from pathlib import Path

from bench._backtest_contenders import FAST, QUANTITY, SLOW
from bench._backtest_data import HEADER, SHIFT
from bench._backtest_sweep import MODES
from bench.backtest import TARGET_RATIO, BacktestBenchResult, SweepPart

__all__ = ["backtest_section"]


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _load(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def _ratios(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}x" for x in values)


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _headline(result: BacktestBenchResult) -> list[str]:
    rounds = len(result.rounds)
    lines = [
        f"**SMA {FAST}/{SLOW} crossover on {result.bars:,} 1-minute bars: tradepit"
        f" {_rate(result.rate('tradepit'))} bars/s, backtrader"
        f" {_rate(result.rate('backtrader'))} bars/s: {result.ratio():.2f}x** (median of the"
        f" per-round ratios, {rounds} round{'' if rounds == 1 else 's'});"
        f" target >= {TARGET_RATIO:g}x:"
        f" **{_verdict(result.passed)}**.",
        "",
    ]
    if result.sweep is not None:
        sweep = result.sweep
        lines += [
            f"**Sweep of {sweep.trials} trials: -j 1 {sweep.rate('-j 1'):.2f} trials/s, -j 2"
            f" {sweep.rate('-j 2'):.2f} trials/s ({sweep.speedup():.2f}x)**; a process per"
            f" trial costs {sweep.overhead_ms():,.0f} ms against a {sweep.trial_ms():,.0f} ms"
            " backtest. No target is set for the sweep.",
            "",
        ]
    first = result.rounds[0]
    if result.same_executions:
        lines += [
            f"Both made the very same {first.tradepit_executions:,} executions (time, side,"
            " size, price) in every round.",
            "",
        ]
    else:
        lines += ["**The contenders' executions differ:**", ""]
        lines += [
            f"- round {r.index}: tradepit {r.tradepit_executions:,}, backtrader"
            f" {r.backtrader_executions:,}; first difference: {r.first_difference}"
            for r in result.rounds
            if r.first_difference
        ]
        lines.append("")
    return lines


def _where(result: BacktestBenchResult) -> list[str]:
    m = result.machine
    return [
        f"Machine: {m.cpus} CPUs ({m.cpu_model}), {m.python}; load average (1, 5, 15 min)"
        f" {_load(m.load_before)} when this benchmark started, {_load(result.load_after)}"
        f" when it ended. backtrader {result.backtrader}, pyarrow"
        f" {result.pyarrow or 'not installed'}.",
        "",
    ]


def _bars(result: BacktestBenchResult) -> list[str]:
    ratios = _ratios(result.ratios())
    lines = [
        "### Bars/s of the SMA crossover",
        "",
        "| contender | bars | median s | median bars/s | per-round ratios | median ratio "
        "| verdict |",
        "|---|---:|---:|---:|---|---:|---|",
        f"| tradepit `run_backtest` | {result.bars:,} | {result.median_s('tradepit'):.2f}"
        f" | {_rate(result.rate('tradepit'))} | {ratios} | {result.ratio():.2f}x"
        f" | {_verdict(result.passed)} (>= {TARGET_RATIO:g}x) |",
        f"| backtrader `cerebro.run()` | {result.bars:,} | {result.median_s('backtrader'):.2f}"
        f" | {_rate(result.rate('backtrader'))} | | 1x | |",
        "",
        "| per round | first | tradepit s | backtrader s | ratio | tradepit executions"
        " | backtrader executions |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.index} | {r.first} | {r.tradepit_s:.2f} | {r.backtrader_s:.2f} | {r.ratio:.2f}x"
        f" | {r.tradepit_executions:,} | {r.backtrader_executions:,} |"
        for r in result.rounds
    ]
    lines += ["", *_loading(result), *_how(result)]
    return lines


def _loading(result: BacktestBenchResult) -> list[str]:
    load = result.load_s()
    lines = [
        "Loading the data. tradepit's time above is the backtest alone; backtrader's",
        "includes parsing the CSV (it preloads inside `cerebro.run()`). tradepit's",
        f"`load_series` of the same CSV takes {load:.2f} s"
        + (" with pyarrow" if result.pyarrow else "")
        + f" ({_rate(result.bars / load)} bars/s)",
    ]
    plain = result.load_plain_s()
    if plain is not None:
        lines.append(
            f"and {plain:.2f} s without pyarrow (row by row, {_rate(result.bars / plain)} bars/s)"
        )
    lines.append(
        f"(medians). Counting the load in, tradepit is {result.ratio_with_load():.2f}x"
        " backtrader (median of the rounds' ratios)."
    )
    empty = result.backtrader_empty
    if empty is not None:
        share = empty.seconds / result.rounds[0].backtrader_s
        lines.append(
            f"backtrader with a strategy that does nothing (no indicators, no orders) took"
            f" {empty.seconds:.2f} s in round 1, {share:.0%} of its crossover run in that"
            " round: that much is its CSV parsing and bar loop."
        )
    return [*" ".join(lines).split("\n"), ""]


def _how(result: BacktestBenchResult) -> list[str]:
    return [
        f"How measured. The shared file `{Path(result.source).name}` (30,889 bars, one"
        f" column short in its header) is written {result.copies} times into one CSV with"
        f" the header `{','.join(HEADER)}`, each copy {SHIFT.days} days (nine weeks, the same"
        " weekdays) after the one before, so timestamps strictly increase. Both contenders"
        f" trade the same SMA {FAST}/{SLOW} crossover: buy {QUANTITY} at market when the"
        " fast average crosses above the slow one and nothing is held, close on the cross"
        " below; market orders fill at the next bar's open; no costs. tradepit:"
        " `runtime.backtest.run_backtest` with `strategies.sma_crossover:SmaCrossover`, a"
        " paper engine with slippage and commission `none` and `max_volume_share = 0`,"
        " no gateway or journal, `starting_cash = 1e7`, on the series `load_series` loaded"
        " beforehand. backtrader: `Cerebro(stdstats=False)` with its defaults (`preload`,"
        " `runonce`), `GenericCSVData` (`timeframe=Minutes`), a strategy with"
        f" `CrossOver(SMA({FAST}), SMA({SLOW}))` buying `size={QUANTITY}` when flat and the"
        " cross is up, `close()` when it is down. Each round runs both, alternating which"
        " goes first, with a `gc.collect()` before each; the ratio of a round is"
        " backtrader's time over tradepit's. Every round checks that both saw every bar"
        " and compares their executions (bar time, side, size, price).",
        "",
    ]


def _sweep(sweep: SweepPart) -> list[str]:
    lines = [
        "### Sweep throughput",
        "",
        "| mode | trials | median s | median trials/s | per-round s |",
        "|---|---:|---:|---:|---|",
    ]
    for mode in MODES:
        per_round = ", ".join(f"{r.seconds[mode]:.2f}" for r in sweep.rounds)
        lines.append(
            f"| {mode} | {sweep.trials} | {sweep.seconds(mode):.2f} | {sweep.rate(mode):.2f}"
            f" | {per_round} |"
        )
    lines += [
        "",
        f"-j 2 / -j 1: {sweep.speedup():.2f}x (median of the rounds' ratios:"
        f" {_ratios(sweep.speedups())}). Process overhead per trial: {sweep.overhead_ms():,.0f}"
        " ms (median over rounds of the -j 1 sweep time minus the in-process one, per"
        " trial).",
        "",
        f"How measured. The grid `{' '.join('--param ' + p for p in sweep.params)}` of the"
        f" same strategy over {sweep.bars:,} bars of the 1-minute file, prepared as"
        " `tradepit optimize` prepares it (`runtime.optimize.sweep_job`, `plan_trials`),"
        " the data loaded once. *-j 1* and *-j 2* are `runtime.trial_pool.run_trials_local`"
        " (a fresh process per trial, forked, at most N at once); *in-process* is"
        " `runtime.optimize.evaluate` of every trial in turn in the benchmark's process."
        " Each round runs all three, rotating which goes first, and checks that every"
        " trial succeeded with the same fills in all three.",
        "",
    ]
    return lines


def backtest_section(result: BacktestBenchResult) -> list[str]:
    """The lines of the section."""
    lines = [
        "## Backtest: bars/s against backtrader, and sweep throughput",
        "",
        *_headline(result),
        *_where(result),
        *_bars(result),
    ]
    if result.sweep is not None:
        lines += _sweep(result.sweep)
    lines.append(f"The backtest benchmark took {result.seconds:.0f} s.")
    lines.append("")
    return lines
