"""The backtest benchmark (issue 7): bars/s of an SMA crossover, tradepit against
backtrader, and sweep throughput with ``-j 1`` and ``-j 2``.

Two parts, run side by side in one run:

1. *Bars/s* (:mod:`bench._backtest_contenders`): the shared 1-minute file
   repeated (:func:`bench._backtest_data.write_repeated`, 10 copies: 308,890
   bars) into one CSV, backtested by tradepit (:func:`runtime.backtest.run_backtest`
   on a series loaded beforehand, the load timed apart, with pyarrow and, if
   asked, without) and by backtrader (``cerebro.run()``, which parses the file
   itself). The contenders alternate which goes first every round; each round's
   ratio is backtrader's time over tradepit's (= tradepit's bars/s over
   backtrader's). Both must make the same executions: counts and the trades
   themselves are compared and reported, never hidden.
2. *Sweep* (:mod:`bench._backtest_sweep`): a grid of the same strategy over the
   1-minute file, run in-process, with ``-j 1`` and with ``-j 2`` (one process
   per trial), rotating which goes first every round.

Figures are medians over rounds, and medians of the rounds' ratios.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench._backtest_contenders import (
    STRATEGY_ID,
    SYMBOL,
    BacktraderRun,
    Execution,
    TradepitRun,
    backtrader_version,
    run_backtrader,
    run_tradepit,
    tradepit_settings,
)
from bench._backtest_data import MINUTE_FILE, write_repeated
from bench._backtest_sweep import MODES, SweepRound, prepare_sweep, run_sweep_round
from bench._stats import Machine, machine, median
from runtime import bar_data
from runtime.backtest_types import BarSeries
from runtime.bar_data import load_series

__all__ = [
    "CONTENDERS",
    "FULL",
    "QUICK",
    "TARGET_RATIO",
    "BacktestBenchResult",
    "BacktestRound",
    "BacktestSizes",
    "SweepPart",
    "run_backtest_bench",
]

TARGET_RATIO = 10.0
"""tradepit must backtest at least this many times as many bars/s as backtrader."""

CONTENDERS = ("tradepit", "backtrader")
"""The contenders, in the order of the first round."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestSizes:
    """How much the benchmark does."""

    rounds: int
    """Rounds of the bars/s part."""
    copies: int
    """Copies of the 1-minute file in the bars/s part."""
    bars_per_copy: int | None
    """Bars taken from the file per copy (None: all 30,889)."""
    sweep_rounds: int
    """Rounds of the sweep part (0: no sweep)."""
    sweep_copies: int
    """Copies of the 1-minute file in the sweep's data."""
    sweep_bars_per_copy: int | None
    """Bars per copy in the sweep's data (None: all)."""
    sweep_params: tuple[str, ...]
    """The grid, as ``--param`` texts."""
    plain_load: bool = True
    """Also time the CSV load without pyarrow (row by row)."""
    backtrader_empty: bool = True
    """Also time one backtrader run with a strategy that does nothing (in round 1)."""


FULL = BacktestSizes(
    rounds=3,
    copies=10,
    bars_per_copy=None,
    sweep_rounds=3,
    sweep_copies=1,
    sweep_bars_per_copy=None,
    sweep_params=("fast=5:20:5", "slow=30:60:10"),
)
"""What ``make bench`` runs: 308,890 bars, a 16-trial sweep over 30,889 bars."""

QUICK = BacktestSizes(
    rounds=1,
    copies=2,
    bars_per_copy=1_500,
    sweep_rounds=1,
    sweep_copies=1,
    sweep_bars_per_copy=1_000,
    sweep_params=("fast=5:10:5", "slow=30"),
)
"""A smoke test: 3,000 bars, a 2-trial sweep over 1,000 bars."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestRound:
    """One round of the bars/s part."""

    index: int
    """Round number, from 1."""
    first: str
    """The contender that ran first."""
    tradepit_s: float
    """``run_backtest`` wall time."""
    backtrader_s: float
    """``cerebro.run()`` wall time (its CSV parsing included)."""
    load_s: float
    """``load_series`` of the CSV (with pyarrow if installed)."""
    load_plain_s: float | None
    """``load_series`` without pyarrow (None: not measured)."""
    tradepit_executions: int
    """Fills tradepit made."""
    backtrader_executions: int
    """Executions backtrader made."""
    first_difference: str
    """Empty if both made the very same executions, else the first that differs."""

    @property
    def ratio(self) -> float:
        """tradepit bars/s over backtrader bars/s (backtrader's time over tradepit's)."""
        return self.backtrader_s / self.tradepit_s

    @property
    def ratio_with_load(self) -> float:
        """The same with tradepit's CSV load added to its time."""
        return self.backtrader_s / (self.tradepit_s + self.load_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepPart:
    """Every round of the sweep part."""

    bars: int
    """Bars in the sweep's data."""
    params: tuple[str, ...]
    """The grid, as ``--param`` texts."""
    trials: int
    """Trials per sweep."""
    rounds: tuple[SweepRound, ...]
    """In run order."""

    def seconds(self, mode: str) -> float:
        """Median wall time of the whole sweep in ``mode``."""
        return median([r.seconds[mode] for r in self.rounds])

    def rate(self, mode: str) -> float:
        """Median trials/s in ``mode``."""
        return median([r.rate(mode) for r in self.rounds])

    def speedups(self) -> list[float]:
        """Per round, ``-j 2`` trials/s over ``-j 1`` trials/s."""
        return [r.seconds["-j 1"] / r.seconds["-j 2"] for r in self.rounds]

    def speedup(self) -> float:
        """Median of :meth:`speedups`."""
        return median(self.speedups())

    def overhead_ms(self) -> float:
        """Median over rounds of (``-j 1`` sweep time minus the in-process one) per
        trial: what a process per trial costs, in milliseconds."""
        return median(
            [
                (r.seconds["-j 1"] - r.seconds["in-process"]) * 1000 / self.trials
                for r in self.rounds
            ]
        )

    def trial_ms(self) -> float:
        """Median in-process time of one trial, milliseconds."""
        return self.seconds("in-process") * 1000 / self.trials


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestBenchResult:
    """Everything the backtest benchmark measured, and where it ran."""

    source: str
    """The 1-minute file repeated."""
    copies: int
    """Copies of it."""
    bars: int
    """Bars in the CSV of the bars/s part."""
    rounds: tuple[BacktestRound, ...]
    """In run order."""
    backtrader_empty: BacktraderRun | None
    """One backtrader run with a strategy that does nothing (None: not measured)."""
    sweep: SweepPart | None
    """The sweep part (None: not run)."""
    backtrader: str
    """backtrader's version."""
    pyarrow: str | None
    """pyarrow's version (None: not installed)."""
    machine: Machine
    """The machine, at the start of this benchmark."""
    load_after: tuple[float, float, float]
    """Load average at its end."""
    seconds: float
    """Wall time of the benchmark."""

    def median_s(self, contender: str) -> float:
        """Median wall time of ``contender``'s run (key of :data:`CONTENDERS`)."""
        if contender == "tradepit":
            return median([r.tradepit_s for r in self.rounds])
        if contender == "backtrader":
            return median([r.backtrader_s for r in self.rounds])
        raise ValueError(f"contender: expected one of {', '.join(CONTENDERS)}, got {contender!r}")

    def rate(self, contender: str) -> float:
        """Median bars/s of ``contender``."""
        return median([self.bars / s for s in self._times(contender)])

    def _times(self, contender: str) -> list[float]:
        if contender == "tradepit":
            return [r.tradepit_s for r in self.rounds]
        return [r.backtrader_s for r in self.rounds]

    def ratios(self) -> list[float]:
        """Each round's tradepit bars/s over backtrader bars/s."""
        return [r.ratio for r in self.rounds]

    def ratio(self) -> float:
        """Median of :meth:`ratios`: the verdict's figure."""
        return median(self.ratios())

    def ratio_with_load(self) -> float:
        """Median of each round's ratio with tradepit's CSV load counted in."""
        return median([r.ratio_with_load for r in self.rounds])

    def load_s(self) -> float:
        """Median CSV load time (pyarrow if installed)."""
        return median([r.load_s for r in self.rounds])

    def load_plain_s(self) -> float | None:
        """Median CSV load time without pyarrow (None: not measured)."""
        plain = [r.load_plain_s for r in self.rounds if r.load_plain_s is not None]
        return median(plain) if plain else None

    @property
    def passed(self) -> bool:
        """Whether the median ratio reaches :data:`TARGET_RATIO`."""
        return self.ratio() >= TARGET_RATIO

    @property
    def same_executions(self) -> bool:
        """Whether both contenders made the very same executions in every round."""
        return all(not r.first_difference for r in self.rounds)


def _check_sizes(sizes: BacktestSizes) -> None:
    for name in ("rounds", "copies", "sweep_rounds", "sweep_copies"):
        value = getattr(sizes, name)
        least = 0 if name == "sweep_rounds" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name}: expected an integer >= {least}, got {value!r}")


def _first_difference(ours: tuple[Execution, ...], theirs: tuple[Execution, ...]) -> str:
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if a != b:
            return f"execution {i + 1}: tradepit {a}, backtrader {b}"
    if len(ours) != len(theirs):
        return f"tradepit made {len(ours)} executions, backtrader {len(theirs)}"
    return ""


@contextlib.contextmanager
def _without_pyarrow() -> Iterator[None]:
    """``load_series`` as without pyarrow installed (its documented fallback)."""
    names = vars(bar_data)  # the module's globals: its optional ``pa`` import
    saved = names["pa"]
    names["pa"] = None
    try:
        yield
    finally:
        names["pa"] = saved


def _timed_load(path: Path) -> tuple[float, BarSeries]:
    gc.collect()
    t0 = time.perf_counter()
    series = load_series(path, symbol=SYMBOL)
    return time.perf_counter() - t0, series


def _round(path: Path, index: int, bars: int, *, plain_load: bool) -> BacktestRound:
    first = CONTENDERS[(index - 1) % 2]
    settings = tradepit_settings(path)
    ours: TradepitRun | None = None
    theirs: BacktraderRun | None = None
    load_s, load_plain_s = 0.0, None
    for contender in (first, *(c for c in CONTENDERS if c != first)):
        if contender == "tradepit":
            load_s, series = _timed_load(path)
            if plain_load:
                with _without_pyarrow():
                    load_plain_s, plain = _timed_load(path)
                if plain.ts != series.ts or plain.close != series.close:
                    raise RuntimeError(f"{path}: loads with and without pyarrow differ")
                del plain
            if len(series.ts) != bars:
                raise RuntimeError(f"{path}: loaded {len(series.ts)} bars, expected {bars}")
            gc.collect()
            ours = run_tradepit(settings, series)
            del series
        else:
            gc.collect()
            theirs = run_backtrader(path)
            if theirs.bars != bars:
                raise RuntimeError(f"backtrader saw {theirs.bars} bars, expected {bars}")
    assert ours is not None and theirs is not None
    return BacktestRound(
        index=index,
        first=first,
        tradepit_s=ours.seconds,
        backtrader_s=theirs.seconds,
        load_s=load_s,
        load_plain_s=load_plain_s,
        tradepit_executions=len(ours.executions),
        backtrader_executions=len(theirs.executions),
        first_difference=_first_difference(ours.executions, theirs.executions),
    )


def _sweep(work: Path, sizes: BacktestSizes, progress: Callable[[str], None]) -> SweepPart:
    path = work / "sweep.csv"
    bars = write_repeated(
        MINUTE_FILE, path, copies=sizes.sweep_copies, bars_per_copy=sizes.sweep_bars_per_copy
    )
    setup = prepare_sweep(
        tradepit_settings(path),
        STRATEGY_ID,
        [load_series(path, symbol=SYMBOL)],
        sizes.sweep_params,
    )
    done: list[SweepRound] = []
    for index in range(1, sizes.sweep_rounds + 1):
        gc.collect()
        result = run_sweep_round(setup, index)
        done.append(result)
        progress(
            f"backtest sweep round {index}/{sizes.sweep_rounds}: {len(setup.trials)} trials, "
            + ", ".join(f"{m} {result.rate(m):.2f} trials/s" for m in MODES)
        )
    return SweepPart(bars=bars, params=setup.params, trials=len(setup.trials), rounds=tuple(done))


def _pyarrow_version() -> str | None:
    try:
        return importlib.metadata.version("pyarrow")
    except importlib.metadata.PackageNotFoundError:
        return None


def run_backtest_bench(
    sizes: BacktestSizes,
    *,
    progress: Callable[[str], None],
    folder: Path | None = None,
) -> BacktestBenchResult:
    """Run both parts (see the module docstring) with the CSVs in a new temporary
    folder inside ``folder`` (default: the system's).

    Raises ``ValueError`` naming a size out of range, ``FileNotFoundError`` if the
    shared 1-minute file is missing, ``ImportError`` if backtrader is not installed,
    ``RuntimeError`` if a contender did not see every bar or a sweep trial failed.
    """
    _check_sizes(sizes)
    if not MINUTE_FILE.is_file():
        raise FileNotFoundError(
            f"backtest benchmark: shared market data not found at {MINUTE_FILE}"
        )
    version = backtrader_version()
    facts = machine()
    t0 = time.perf_counter()
    done: list[BacktestRound] = []
    empty: BacktraderRun | None = None
    sweep: SweepPart | None = None
    with tempfile.TemporaryDirectory(prefix="tradepit-bench-backtest-", dir=folder) as name:
        work = Path(name)
        path = work / "bars.csv"
        bars = write_repeated(
            MINUTE_FILE, path, copies=sizes.copies, bars_per_copy=sizes.bars_per_copy
        )
        progress(f"backtest: {bars:,} bars ({sizes.copies} copies of {MINUTE_FILE.name})")
        for index in range(1, sizes.rounds + 1):
            result = _round(path, index, bars, plain_load=sizes.plain_load)
            done.append(result)
            progress(
                f"backtest round {index}/{sizes.rounds}: tradepit {result.tradepit_s:.2f} s, "
                f"backtrader {result.backtrader_s:.2f} s, ratio {result.ratio:.2f}x; "
                f"executions {result.tradepit_executions} / {result.backtrader_executions}"
                + (f" DIFFER: {result.first_difference}" if result.first_difference else "")
            )
            if index == 1 and sizes.backtrader_empty:
                gc.collect()
                empty = run_backtrader(path, empty=True)
                progress(f"backtest: backtrader with an empty strategy {empty.seconds:.2f} s")
        if sizes.sweep_rounds:
            sweep = _sweep(work, sizes, progress)
    return BacktestBenchResult(
        source=str(MINUTE_FILE),
        copies=sizes.copies,
        bars=bars,
        rounds=tuple(done),
        backtrader_empty=empty,
        sweep=sweep,
        backtrader=version,
        pyarrow=_pyarrow_version(),
        machine=facts,
        load_after=os.getloadavg(),
        seconds=time.perf_counter() - t0,
    )
