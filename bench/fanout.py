"""Bar fan-out throughput: one symbol's bars delivered to 1, 10 and 100 strategies.

Every strategy is a :class:`~bench.strategies.CountBars` subscribed to the
same symbol: it counts bars and places no orders, so the figure is the cost
of moving bars, not of trading. The whole runtime runs (feed, strategies,
risk, order manager, paper engine, portfolio, event sink); the feed replays
a list of bars built in memory up front, at full speed (``speed = 0``) with
the default ``max_in_flight``, or in lockstep.

Timing: from the moment the feed pulls the first bar until
``Runtime.finished`` is set and ``Runtime.settle()`` returned (every
subscriber handled every bar). ``Runtime.start()`` is timed apart: it starts
one actor thread per strategy, and folding it in would make the figure
depend on the bar count. After the run, every strategy's bar counter (asked
of its host with ``GetSnapshot`` before the runtime stops) is checked against
the number of bars published.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from actors.strategy_host import StrategyStats
from bench._bars import bars as make_bars
from bench._settings import bench_settings
from bench._stats import median
from runtime.boot import Runtime
from runtime.messages import Bar, GetSnapshot, Tick
from runtime.names import strategy_actor

__all__ = ["CLASS_PATH", "FanoutCase", "FanoutResult", "FanoutRun", "run_fanout"]

CLASS_PATH = "bench.strategies:CountBars"
"""The strategy every subscriber runs."""

_WAIT_S = 600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FanoutRun:
    """One run: a fresh runtime replaying ``bars`` bars to ``strategies`` strategies."""

    strategies: int
    """Strategy actors subscribed to the symbol."""
    bars: int
    """Bars published."""
    start_s: float
    """Duration of ``Runtime.start()`` (actor threads starting)."""
    data_s: float
    """From the first bar pulled until finished and settled."""

    @property
    def published_per_s(self) -> float:
        """Bars published per second."""
        return self.bars / self.data_s

    @property
    def delivered_per_s(self) -> float:
        """Bars delivered to strategies per second (bars x strategies / s)."""
        return self.bars * self.strategies / self.data_s

    @property
    def delivered_per_s_with_start(self) -> float:
        """As :attr:`delivered_per_s`, with ``Runtime.start()`` counted in."""
        return self.bars * self.strategies / (self.start_s + self.data_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class FanoutCase:
    """Repeated runs of one configuration; figures are medians over runs."""

    strategies: int
    """Strategy actors."""
    bars: int
    """Bars per run."""
    lockstep: bool
    """Whether the feed ran in lockstep."""
    runs: tuple[FanoutRun, ...]
    """Every run, in order."""

    @property
    def delivered_per_s(self) -> float:
        """Median bars delivered per second."""
        return median([r.delivered_per_s for r in self.runs])

    @property
    def published_per_s(self) -> float:
        """Median bars published per second."""
        return median([r.published_per_s for r in self.runs])

    @property
    def delivered_per_s_with_start(self) -> float:
        """Median bars delivered per second, start-up included."""
        return median([r.delivered_per_s_with_start for r in self.runs])

    @property
    def start_s(self) -> float:
        """Median ``Runtime.start()`` duration."""
        return median([r.start_s for r in self.runs])

    @property
    def data_s(self) -> float:
        """Median replay duration."""
        return median([r.data_s for r in self.runs])

    @property
    def spread(self) -> tuple[float, float]:
        """(lowest, highest) bars delivered per second over runs."""
        rates = [r.delivered_per_s for r in self.runs]
        return min(rates), max(rates)


@dataclass(frozen=True, slots=True, kw_only=True)
class FanoutResult:
    """Every case of the fan-out benchmark."""

    cases: tuple[FanoutCase, ...]
    """Free-running cases, then lockstep ones."""
    seconds: float
    """Wall time of the whole benchmark."""


def _stamped(data: Sequence[Bar], first: list[int]) -> Iterator[Bar | Tick]:
    """Yield ``data``; note the time the first bar is pulled."""
    first.append(time.perf_counter_ns())
    yield from data


def _run(strategies: int, bars: int, *, lockstep: bool) -> FanoutRun:
    settings = bench_settings(class_path=CLASS_PATH, strategies=strategies, lockstep=lockstep)
    data = make_bars(bars)
    first: list[int] = []
    runtime = Runtime(settings, source=_stamped(data, first))
    gc.collect()
    t0 = time.perf_counter_ns()
    runtime.start()
    t1 = time.perf_counter_ns()
    seen: list[StrategyStats] = []
    try:
        if not runtime.finished.wait(_WAIT_S):
            raise TimeoutError(f"{bars} bars to {strategies} strategies took over {_WAIT_S}s")
        runtime.settle()
        t2 = time.perf_counter_ns()
        # the run summary no longer carries the hosts' bar counters: ask each host
        seen = [runtime.ask(strategy_actor(c.id), GetSnapshot()) for c in settings.strategies]
    finally:
        summary = runtime.stop()
    counts = {s.bars for s in seen}
    if summary.bars != bars or counts != {bars} or len(seen) != strategies:
        raise RuntimeError(
            f"fan-out lost bars: published {summary.bars} of {bars}, "
            f"strategies saw {sorted(counts)}"
        )
    if summary.stuck_threads:
        raise RuntimeError(f"threads did not stop: {summary.stuck_threads}")
    return FanoutRun(
        strategies=strategies,
        bars=bars,
        start_s=(t1 - t0) / 1e9,
        data_s=(t2 - first[0]) / 1e9,
    )


def run_fanout(
    *,
    cases: Sequence[tuple[int, int, bool]],
    repeats: int,
    progress: Callable[[str], None],
) -> FanoutResult:
    """Run each (strategies, bars, lockstep) case ``repeats`` times, rotating the cases."""
    started = time.perf_counter()
    runs: dict[tuple[int, int, bool], list[FanoutRun]] = {case: [] for case in cases}
    for repeat in range(1, repeats + 1):
        for case in cases:
            strategies, bars, lockstep = case
            run = _run(strategies, bars, lockstep=lockstep)
            runs[case].append(run)
            mode = "lockstep" if lockstep else "free"
            progress(
                f"fan-out {mode} {strategies:>3} strategies, run {repeat}/{repeats}: "
                f"{run.delivered_per_s:,.0f} bars/s delivered "
                f"({run.data_s:.2f} s, start {run.start_s * 1000:.0f} ms)"
            )
    return FanoutResult(
        cases=tuple(
            FanoutCase(strategies=s, bars=b, lockstep=lock, runs=tuple(runs[(s, b, lock)]))
            for s, b, lock in cases
        ),
        seconds=time.perf_counter() - started,
    )
