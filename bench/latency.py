"""Tick-to-order latency: tradepit next to a plain-thread floor doing the same work.

One sample is one bar, from the moment it is handed to the feed until the
paper engine's :class:`~runtime.matching.MatchingEngine` accepts the market
order the strategy placed on it (the ``ts_init`` of the ACCEPTED update). One
bar is in flight at a time: the injector waits for the acceptance before it
sends the next bar.

Two scenarios (:data:`SCENARIOS`), each timed on all three pipelines:

- ``signal`` (the headline, which the verdict is on): a bar that causes an
  order on an otherwise quiet runtime. The strategy is
  :class:`~bench.strategies.SignalProbe`, which buys only on bars of volume 1.
  Each sample is one such signal bar; after it, one untimed "settle" bar
  (volume 10,000, ignored by the strategy) lets the engine fill the order at
  its open, and the pipeline is brought to a complete rest
  (:meth:`~bench._pipelines.Pipeline.settle`) before the next sample. This
  isolates the per-order path.
- ``every-bar`` (stress, no verdict): :class:`~bench.strategies.BuyEveryBar`
  places an order on every bar, so each bar also fills the previous bar's
  order and carries that fill's bookkeeping (strategy, portfolio, event
  sink) on the same bar; nothing settles between samples.

The pipelines (:mod:`bench._pipelines`) run side by side: each round starts
all of them for one scenario, warms each one up, then takes its samples in
blocks, rotating the pipeline order from block to block, so that the noise
of a shared machine falls on all of them alike; a pipeline is settled after
its block, so the others are idle while one is timed. Rounds alternate which
scenario goes first. A scenario's ratio is the median over rounds of
(tradepit p50 / floor p50).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench._bars import bar_at
from bench._pipelines import (
    ActorsPipeline,
    FloorPipeline,
    Pipeline,
    Sample,
    TradepitPipeline,
)
from bench._settings import bench_settings
from bench._stats import Percentiles, median, percentiles
from bench.strategies import SIGNAL_VOLUME
from runtime.config import Settings

__all__ = [
    "EVERY_BAR",
    "HEADLINE",
    "PIPELINES",
    "SCENARIOS",
    "SIGNAL",
    "TARGET_RATIO",
    "LatencyResult",
    "LatencyRound",
    "Scenario",
    "ScenarioResult",
    "run_latency",
]

TARGET_RATIO = 1.5
"""tradepit's p50 must be within this factor of the floor's p50 (signal scenario)."""

PIPELINES: tuple[tuple[str, type[Pipeline]], ...] = (
    ("tradepit", TradepitPipeline),
    ("floor", FloorPipeline),
    ("actors", ActorsPipeline),
)
"""(key, class) of every pipeline, in report order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """What a sample is: which strategy runs and what happens between samples."""

    key: str
    """Command-line and report key."""
    title: str
    """Report heading."""
    class_path: str
    """The strategy every pipeline runs."""
    settle_each: bool
    """After each signal bar, send a settle bar and bring the pipeline to rest."""


SIGNAL = Scenario(
    key="signal",
    title="signal: one order on a quiet runtime",
    class_path="bench.strategies:SignalProbe",
    settle_each=True,
)
"""The headline scenario: the verdict against :data:`TARGET_RATIO` is on it."""

EVERY_BAR = Scenario(
    key="every-bar",
    title="every-bar: an order and the previous order's fill on every bar",
    class_path="bench.strategies:BuyEveryBar",
    settle_each=False,
)
"""The stress scenario, reported with its own ratio and no verdict."""

SCENARIOS: tuple[Scenario, ...] = (SIGNAL, EVERY_BAR)
"""Every scenario, in report order."""

HEADLINE = SIGNAL.key
"""The scenario :attr:`LatencyResult.passed` is decided on."""


def _summary(samples: Sequence[Sample]) -> Percentiles:
    return percentiles([s.total_us for s in samples])


def _segments(samples: Sequence[Sample]) -> tuple[float, ...]:
    columns = zip(*(s.segments_us for s in samples), strict=True)
    return tuple(percentiles(column).p50 for column in columns)


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyRound:
    """One round of one scenario: the same number of samples from each pipeline."""

    index: int
    """Round number, from 1."""
    samples: dict[str, tuple[Sample, ...]]
    """Timed samples per pipeline key."""

    def latency_us(self, key: str) -> Percentiles:
        """Latency of pipeline ``key``, microseconds."""
        return _summary(self.samples[key])

    def ratio(self, key: str = "tradepit", base: str = "floor") -> float:
        """p50 of ``key`` / p50 of ``base``."""
        return self.latency_us(key).p50 / self.latency_us(base).p50


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioResult:
    """Every round of one scenario."""

    scenario: Scenario
    """What was measured."""
    rounds: tuple[LatencyRound, ...]
    """In run order."""
    samples: int
    """Timed samples per pipeline per round."""
    warmup: int
    """Untimed samples per pipeline per round."""
    block: int
    """Consecutive samples a pipeline takes before the next one has its turn."""
    labels: dict[str, str]
    """Report label per pipeline key."""
    seconds: float
    """Wall time spent on this scenario."""

    def ratio(self, key: str = "tradepit") -> float:
        """Median over rounds of (p50 of ``key`` / p50 of the floor)."""
        return median([r.ratio(key) for r in self.rounds])

    def pooled(self, key: str) -> tuple[Sample, ...]:
        """Every timed sample of pipeline ``key``, all rounds together."""
        return tuple(s for r in self.rounds for s in r.samples[key])

    def latency_us(self, key: str) -> Percentiles:
        """Latency of pipeline ``key`` over all rounds, microseconds."""
        return _summary(self.pooled(key))

    def segments_us(self, key: str) -> tuple[float, ...]:
        """Median (to intent, risk, order manager, engine) of pipeline ``key``, microseconds."""
        return _segments(self.pooled(key))


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyResult:
    """The latency benchmark: one :class:`ScenarioResult` per scenario run."""

    scenarios: tuple[ScenarioResult, ...]
    """In :data:`SCENARIOS` order."""
    seconds: float
    """Wall time of the whole benchmark."""

    def get(self, key: str) -> ScenarioResult | None:
        """The result of scenario ``key``, or None when it was not run."""
        return next((r for r in self.scenarios if r.scenario.key == key), None)

    @property
    def headline(self) -> ScenarioResult | None:
        """The :data:`HEADLINE` (signal) scenario, or None when it was not run."""
        return self.get(HEADLINE)

    @property
    def passed(self) -> bool | None:
        """True when the signal scenario's ratio is within :data:`TARGET_RATIO`.

        None when the signal scenario was not run (there is no verdict then).
        """
        headline = self.headline
        return None if headline is None else headline.ratio() <= TARGET_RATIO


def _sample(pipeline: Pipeline, scenario: Scenario, seq: int, *, timed: bool) -> int:
    """Take one sample of ``scenario`` from ``pipeline``; return the next bar number."""
    if scenario.settle_each:
        pipeline.send(bar_at(seq, volume=SIGNAL_VOLUME), timed=timed)
        pipeline.push(bar_at(seq + 1))
        pipeline.settle()
        return seq + 2
    pipeline.send(bar_at(seq), timed=timed)
    return seq + 1


def _round(
    index: int,
    scenario: Scenario,
    *,
    samples: int,
    warmup: int,
    block: int,
    settings: Settings,
) -> LatencyRound:
    pipelines = {key: cls(settings) for key, cls in PIPELINES}
    started: list[Pipeline] = []
    results: dict[str, tuple[Sample, ...]] = {}
    seq = 0
    completed = False
    try:
        for pipeline in pipelines.values():
            pipeline.start()
            started.append(pipeline)
        for pipeline in pipelines.values():
            for _ in range(warmup):
                seq = _sample(pipeline, scenario, seq, timed=False)
            pipeline.settle()
        gc.collect()
        order = list(pipelines.values())
        taken = 0
        while taken < samples:
            count = min(block, samples - taken)
            for pipeline in order:
                for _ in range(count):
                    seq = _sample(pipeline, scenario, seq, timed=True)
                pipeline.settle()  # idle before the next pipeline's turn
            taken += count
            order = order[1:] + order[:1]
        completed = True
    finally:
        errors: list[Exception] = []
        for key, pipeline in zip(pipelines, started, strict=False):
            try:
                results[key] = tuple(pipeline.stop())
            except Exception as exc:
                errors.append(exc)
        if completed and errors:
            raise errors[0]
    return LatencyRound(index=index, samples=results)


def run_latency(
    *,
    scenarios: Sequence[str],
    rounds: int,
    samples: int,
    warmup: int,
    block: int,
    progress: Callable[[str], None],
) -> LatencyResult:
    """Run ``rounds`` rounds of each scenario in ``scenarios`` (keys of :data:`SCENARIOS`).

    Each round of a scenario takes ``samples`` timed samples per pipeline
    after ``warmup`` untimed ones; rounds alternate which scenario runs first.
    """
    chosen = [s for s in SCENARIOS if s.key in scenarios]
    unknown = set(scenarios) - {s.key for s in SCENARIOS}
    if unknown or not chosen:
        raise ValueError(f"unknown or no scenarios: {sorted(scenarios)}")
    settings = {s.key: bench_settings(class_path=s.class_path) for s in chosen}
    started = time.perf_counter()
    done: dict[str, list[LatencyRound]] = {s.key: [] for s in chosen}
    spent: dict[str, float] = {s.key: 0.0 for s in chosen}
    for index in range(1, rounds + 1):
        shift = (index - 1) % len(chosen)
        for scenario in chosen[shift:] + chosen[:shift]:
            t0 = time.perf_counter()
            latency = _round(
                index,
                scenario,
                samples=samples,
                warmup=warmup,
                block=block,
                settings=settings[scenario.key],
            )
            spent[scenario.key] += time.perf_counter() - t0
            done[scenario.key].append(latency)
            progress(
                f"latency {scenario.key} round {index}/{rounds}: "
                + ", ".join(
                    f"{key} p50 {latency.latency_us(key).p50:.1f} us" for key, _ in PIPELINES
                )
                + f"; ratio {latency.ratio():.2f}"
            )
    labels = {key: cls.label for key, cls in PIPELINES}
    return LatencyResult(
        scenarios=tuple(
            ScenarioResult(
                scenario=s,
                rounds=tuple(done[s.key]),
                samples=samples,
                warmup=warmup,
                block=block,
                labels=labels,
                seconds=spent[s.key],
            )
            for s in chosen
        ),
        seconds=time.perf_counter() - started,
    )
