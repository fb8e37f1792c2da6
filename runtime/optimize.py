"""Parameter sweeps: param specs, the grid, seeded random search, walk-forward
windows, trials and their ranking (``tradepit optimize``).

A sweep runs one strategy of a settings file (the others are removed) once
per combination of parameter values. Each run is a :class:`Trial`; a backend
(:func:`runtime.trial_pool.run_trials_local` or
:func:`runtime.ray_trials.run_trials_ray`) runs every trial in its own
process and hands back one :class:`TrialResult` per trial, in trial order.
Nothing here depends on the order trials complete in, so a sweep is
reproducible: the same inputs give the same ranked results.

- :func:`parse_param` reads ``NAME=SPEC``: ``start:stop:step`` (stop included
  when it lands on the grid), ``a,b,c`` or one value.
- :class:`Grid` enumerates every combination (the first ``--param`` varies
  slowest); :func:`sample_indices` draws distinct ones with a seed.
- :func:`plan_trials` checks each combination against ``Params.validate``;
  the invalid ones are skipped and counted, never run.
- :func:`rank` sorts results by a :class:`~runtime.backtest_types.Metrics`
  field; :func:`walk_forward_windows` and :func:`run_walk_forward` do
  rolling in-sample / out-of-sample optimisation.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Final, TypeAlias

from runtime.backtest import run_backtest
from runtime.backtest_types import BarSeries, Metrics
from runtime.config import Settings
from runtime.errors import InvalidParamsError, SettingsError, TradepitError
from runtime.progress import Progress
from runtime.settings import with_params

__all__ = [
    "ASCENDING_METRICS",
    "MAX_VALUES_PER_PARAM",
    "METRICS",
    "ORIGIN",
    "Backend",
    "Grid",
    "OptimizeError",
    "ParamSpec",
    "ParamValue",
    "Span",
    "SweepJob",
    "Trial",
    "TrialPlan",
    "TrialResult",
    "Window",
    "WindowResult",
    "check_metric",
    "choose_strategy",
    "describe",
    "evaluate",
    "failed_result",
    "metric_value",
    "parse_duration",
    "parse_param",
    "parse_specs",
    "plan_trials",
    "rank",
    "run_walk_forward",
    "sample_indices",
    "sweep_job",
    "timeline",
    "walk_forward_windows",
]

ParamValue: TypeAlias = bool | int | float | str
"""One value a ``--param`` spec can give."""

ORIGIN: Final = "--param"
"""How swept values are named in settings errors."""

METRICS: Final[tuple[str, ...]] = tuple(f.name for f in fields(Metrics))
"""Every field of :class:`Metrics`: the valid ``--metric`` names."""

ASCENDING_METRICS: Final = frozenset(
    {"max_drawdown", "max_drawdown_duration_s", "volatility", "fees"}
)
"""Metrics where smaller is better; every other metric ranks descending."""

MAX_VALUES_PER_PARAM: Final = 1_000_000
"""Most values one ``start:stop:step`` spec may expand to."""

_NS_PER_S: Final = 1_000_000_000
_UNITS: Final = {"min": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


class OptimizeError(TradepitError):
    """A sweep that cannot run as asked: a bad ``--param``, ``--train``, metric..."""


# --- param specs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One ``--param NAME=SPEC``: the parameter and the values it takes, in order."""

    name: str
    values: tuple[ParamValue, ...]


def _scalar(text: str) -> ParamValue:
    """``true``/``false``, an int, a finite float, else the text itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _is_int(text: str) -> bool:
    return re.fullmatch(r"[+-]?\d+", text) is not None


def _range(text: str, parts: list[str]) -> tuple[ParamValue, ...]:
    def bad(problem: str) -> OptimizeError:
        return OptimizeError(f"--param {text}: {problem}")

    numbers = [_decimal(p) for p in parts]
    if any(n is None for n in numbers):
        raise bad("expected start:stop:step with three numbers")
    start, stop, step = (n for n in numbers if n is not None)
    if not step > 0:
        raise bad(f"step must be > 0, got {parts[2]}")
    if stop < start:
        raise bad(f"stop ({parts[1]}) is below start ({parts[0]})")
    try:
        count = int((stop - start) / step) + 1
    except ArithmeticError:  # decimal overflow: absurd exponents
        raise bad("the range is too large to expand") from None
    if count > MAX_VALUES_PER_PARAM:
        raise bad(f"expands to {count:,} values; at most {MAX_VALUES_PER_PARAM:,} per param")
    # Decimal arithmetic is exact, so there is no drift and stop is included
    # exactly when it lands on the grid.
    if all(_is_int(p) for p in parts):
        return tuple(int(start + i * step) for i in range(count))
    values = tuple(float(start + i * step) for i in range(count))
    if not all(math.isfinite(v) for v in values):
        raise bad("values must be finite numbers")
    return values


def parse_param(text: str) -> ParamSpec:
    """Read one ``--param NAME=SPEC``.

    SPEC is ``start:stop:step`` (ints when all three are ints, else floats;
    stop included when it lands on the grid), a comma list ``a,b,c`` of ints,
    floats, ``true``/``false`` or strings, or a single value. Raises
    :class:`OptimizeError` naming the ``--param`` and its text.
    """
    name, sep, spec = text.partition("=")
    name = name.strip()
    spec = spec.strip()
    if not sep or not name:
        raise OptimizeError(f"--param {text!r}: expected NAME=SPEC (e.g. fast=5:30:5 or fast=5,10)")
    if not spec:
        raise OptimizeError(f"--param {text}: no value after '='")
    if ":" in spec:
        parts = [p.strip() for p in spec.split(":")]
        if len(parts) != 3:
            raise OptimizeError(f"--param {text}: expected start:stop:step, got {spec!r}")
        return ParamSpec(name, _range(text, parts))
    items = [item.strip() for item in spec.split(",")]
    if any(not item for item in items):
        raise OptimizeError(f"--param {text}: empty value in the list {spec!r}")
    values = tuple(_scalar(item) for item in items)
    seen: set[tuple[type, ParamValue]] = set()
    for value in values:
        key = (type(value), value)
        if key in seen:
            raise OptimizeError(f"--param {text}: {value!r} is listed twice")
        seen.add(key)
    return ParamSpec(name, values)


def parse_specs(texts: Sequence[str]) -> tuple[ParamSpec, ...]:
    """Read every ``--param``; a name given twice is an :class:`OptimizeError`."""
    specs = tuple(parse_param(t) for t in texts)
    names = [s.name for s in specs]
    for name in names:
        if names.count(name) > 1:
            raise OptimizeError(f"--param {name} is given more than once")
    if not specs:
        raise OptimizeError("--param: give at least one NAME=SPEC to sweep")
    return specs


# --- grid and random search ------------------------------------------------------------------


class Grid:
    """Every combination of the specs' values, addressable by index.

    The order is that of nested loops over the specs in the order given: the
    first spec varies slowest, the last fastest. Combinations are computed
    on demand, so a huge grid costs nothing until it is walked.
    """

    __slots__ = ("size", "specs")

    def __init__(self, specs: Sequence[ParamSpec]) -> None:
        self.specs = tuple(specs)
        self.size = math.prod(len(s.values) for s in self.specs)

    def __len__(self) -> int:
        return self.size

    def combination(self, index: int) -> dict[str, ParamValue]:
        """The ``index``-th combination (``0 <= index < size``), as name -> value."""
        if not 0 <= index < self.size:
            raise IndexError(f"combination {index} of a grid of {self.size}")
        values: dict[str, ParamValue] = {}
        for spec in reversed(self.specs):
            index, digit = divmod(index, len(spec.values))
            values[spec.name] = spec.values[digit]
        return {s.name: values[s.name] for s in self.specs}

    def __iter__(self) -> Iterator[dict[str, ParamValue]]:
        return (self.combination(i) for i in range(self.size))


def sample_indices(size: int, count: int, seed: int) -> list[int]:
    """``count`` distinct indices in ``range(size)`` (all of them if count >= size),
    drawn with ``random.Random(seed)`` and returned in grid order."""
    if count >= size:
        return list(range(size))
    return sorted(random.Random(seed).sample(range(size), count))


# --- trials ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepJob:
    """What every trial of a sweep shares: the settings (only the swept strategy
    left in them) and the data. Loaded once, in the parent process."""

    settings: Settings
    strategy_id: str
    data: tuple[BarSeries, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Trial:
    """One backtest of a sweep: parameter values, optionally on a time window."""

    index: int
    """Position in the sweep; ties in ranking are broken by it."""
    params: Mapping[str, ParamValue]
    start_ns: int | None = None
    """Only data with ``ts >= start_ns`` (None: from the start)."""
    end_ns: int | None = None
    """Only data with ``ts < end_ns`` (None: to the end)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialResult:
    """What a trial sends back to the parent: small and picklable."""

    index: int
    params: Mapping[str, ParamValue]
    ok: bool
    """False when the trial raised or its process died."""
    error: str = ""
    """Why it failed (empty when ok)."""
    metrics: Metrics | None = None
    """The swept strategy's metrics."""
    total: Metrics | None = None
    """The account's metrics (``"TOTAL"``)."""
    orders: int = 0
    fills: int = 0

    @property
    def status(self) -> str:
        """``ok`` or ``failed``."""
        return "ok" if self.ok else "failed"


Backend: TypeAlias = Callable[[SweepJob, Sequence[Trial], Progress | None], list[TrialResult]]
"""Runs every trial in its own process; returns one result per trial, in trial order."""


def choose_strategy(settings: Settings, requested: str | None) -> str:
    """The id of the strategy to sweep: ``requested``, or the only one in the settings."""
    ids = [s.id for s in settings.strategies]
    if requested is not None:
        if requested not in ids:
            raise OptimizeError(
                f"--strategy {requested}: no such strategy in {settings.source}; "
                f"strategies: {', '.join(ids) or 'none'}"
            )
        return requested
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise OptimizeError(f"{settings.source}: has no [[strategies]] to optimize")
    raise OptimizeError(
        f"--strategy: {settings.source} has {len(ids)} strategies ({', '.join(ids)}); "
        "give --strategy ID to choose the one to sweep"
    )


def sweep_job(settings: Settings, strategy_id: str, data: Sequence[BarSeries]) -> SweepJob:
    """The job of a sweep of ``strategy_id``: the other strategies are removed, and
    so are series of symbols it does not trade."""
    only = tuple(s for s in settings.strategies if s.id == strategy_id)
    symbols = {symbol for s in only for symbol in s.symbols}
    return SweepJob(
        settings=dataclasses.replace(settings, strategies=only),
        strategy_id=strategy_id,
        data=tuple(s for s in data if s.symbol in symbols),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialPlan:
    """The combinations to run, and those skipped because ``Params.validate`` refused them."""

    combinations: tuple[dict[str, ParamValue], ...]
    skipped: int
    first_skip: str
    """The first refusal, ``fast=10 slow=5: why`` (empty if none was skipped)."""


def _is_invalid_combination(exc: SettingsError) -> bool:
    # A Params.validate (or constructor) refusal; anything else (unknown name,
    # wrong type) is wrong for the whole sweep.
    return isinstance(exc, InvalidParamsError)


def describe(params: Mapping[str, ParamValue]) -> str:
    """``fast=5 slow=20``."""
    return " ".join(f"{k}={v}" for k, v in params.items())


def plan_trials(
    settings: Settings, strategy_id: str, combinations: Sequence[dict[str, ParamValue]]
) -> TrialPlan:
    """Check every combination with :func:`runtime.settings.with_params`.

    Unknown names and wrong types raise :class:`SettingsError` (the whole
    sweep is wrong); combinations refused by ``Params.validate`` are skipped
    and counted.
    """
    keep: list[dict[str, ParamValue]] = []
    skipped = 0
    first = ""
    for values in combinations:
        try:
            with_params(settings, strategy_id, values, origin=ORIGIN)
        except SettingsError as exc:
            if not _is_invalid_combination(exc):
                raise
            skipped += 1
            if not first:
                first = f"{describe(values)}: {exc.problem}"
            continue
        keep.append(values)
    return TrialPlan(combinations=tuple(keep), skipped=skipped, first_skip=first)


def evaluate(job: SweepJob, trial: Trial) -> TrialResult:
    """Run one trial's backtest (in the calling process) and summarise it."""
    settings = with_params(job.settings, job.strategy_id, trial.params, origin=ORIGIN)
    data = job.data
    if trial.start_ns is not None or trial.end_ns is not None:
        data = tuple(s.window(trial.start_ns, trial.end_ns) for s in data)
    result = run_backtest(settings, data)
    return TrialResult(
        index=trial.index,
        params=dict(trial.params),
        ok=True,
        metrics=result.metrics.get(job.strategy_id),
        total=result.metrics.get("TOTAL"),
        orders=len(result.orders),
        fills=len(result.fills),
    )


def failed_result(trial: Trial, error: str) -> TrialResult:
    """The result of a trial that raised or whose process died."""
    return TrialResult(index=trial.index, params=dict(trial.params), ok=False, error=error)


# --- ranking ---------------------------------------------------------------------------------


def check_metric(metric: str) -> str:
    """``metric`` if it is a :class:`Metrics` field; else an :class:`OptimizeError` listing them."""
    if metric not in METRICS:
        raise OptimizeError(
            f"--metric {metric}: unknown metric; expected one of: {', '.join(METRICS)}"
        )
    return metric


def metric_value(result: TrialResult, metric: str) -> float | None:
    """The result's ``metric`` (None when the trial failed or the metric is undefined)."""
    if result.metrics is None:
        return None
    value: float | int | None = getattr(result.metrics, metric)
    return None if value is None else float(value)


def rank(results: Sequence[TrialResult], metric: str) -> list[TrialResult]:
    """``results`` best first by ``metric``: descending, except ascending for
    :data:`ASCENDING_METRICS`; None (and failed trials) last; ties by trial index."""
    check_metric(metric)
    sign = 1.0 if metric in ASCENDING_METRICS else -1.0

    def key(result: TrialResult) -> tuple[bool, float, int]:
        value = metric_value(result, metric)
        return (value is None, 0.0 if value is None else sign * value, result.index)

    return sorted(results, key=key)


# --- walk-forward ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    """A ``--train``/``--test`` length: a number of bars, or a duration in ns."""

    bars: int = 0
    ns: int = 0

    def __str__(self) -> str:
        return f"{self.bars} bars" if self.bars else f"{self.ns / _NS_PER_S / 86_400:g}d"


def parse_duration(option: str, text: str) -> Span:
    """``365d``, ``2w``, ``12h``, ``90min`` or a bare integer (bars)."""
    match = re.fullmatch(r"\s*(\d+)\s*(min|h|d|w)?\s*", text)
    if match is None or int(match.group(1)) <= 0:
        raise OptimizeError(
            f"{option} {text!r}: expected a positive duration like 365d, 4w, 12h, 90min, "
            "or a number of bars"
        )
    amount = int(match.group(1))
    unit = match.group(2)
    if unit is None:
        return Span(bars=amount)
    return Span(ns=amount * _UNITS[unit] * _NS_PER_S)


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """One walk-forward step: optimise on ``[train_start, train_end)``, then
    test the winner on ``[test_start, test_end)`` (ns, UTC)."""

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


def timeline(data: Sequence[BarSeries]) -> list[int]:
    """Every distinct timestamp of the data, in order."""
    stamps: set[int] = set()
    for series in data:
        stamps.update(series.ts)
    return sorted(stamps)


def walk_forward_windows(stamps: Sequence[int], train: Span, test: Span) -> list[Window]:
    """Rolling windows over ``stamps`` (sorted timestamps of the data).

    Window ``k`` trains on ``[t0 + k*test, +train)`` and tests on the ``test``
    span that follows. With bar counts, ``t0 + n`` means ``n`` timestamps
    later. Only complete windows are made: the last one's test span must end
    within the data. Raises :class:`OptimizeError` when not even one fits.
    """
    if (train.bars > 0) != (test.bars > 0):
        raise OptimizeError("--train and --test must both be bar counts or both be durations")
    windows: list[Window] = []
    if not stamps:
        raise OptimizeError("walk-forward: the data is empty")
    if train.bars:
        k = 0
        while k * test.bars + train.bars + test.bars <= len(stamps):
            first = k * test.bars
            cut = first + train.bars
            last = cut + test.bars
            windows.append(
                Window(
                    index=k,
                    train_start=stamps[first],
                    train_end=stamps[cut],
                    test_start=stamps[cut],
                    test_end=stamps[last] if last < len(stamps) else stamps[-1] + 1,
                )
            )
            k += 1
    else:
        t0, end = stamps[0], stamps[-1] + 1
        k = 0
        while t0 + k * test.ns + train.ns + test.ns <= end:
            start = t0 + k * test.ns
            cut = start + train.ns
            windows.append(
                Window(
                    index=k,
                    train_start=start,
                    train_end=cut,
                    test_start=cut,
                    test_end=cut + test.ns,
                )
            )
            k += 1
    if not windows:
        raise OptimizeError(
            f"walk-forward: the data ({len(stamps)} timestamps) is too short for "
            f"--train {train} plus --test {test}"
        )
    return windows


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowResult:
    """One walk-forward window: the in-sample winner and how it did out of sample."""

    window: Window
    best: TrialResult | None
    """The best in-sample trial (None: no trial succeeded with a defined metric)."""
    test: TrialResult | None
    """The winner's run on the test span (None when there was no winner)."""
    trials: int
    """In-sample trials run in this window."""
    failed: int
    """In-sample trials that failed."""


def run_walk_forward(
    job: SweepJob,
    combinations: Sequence[dict[str, ParamValue]],
    windows: Sequence[Window],
    metric: str,
    *,
    backend: Backend,
    progress: Progress | None = None,
) -> list[WindowResult]:
    """Optimise on every window's train span, then run each window's best on its
    test span. All in-sample trials run in one batch, then all out-of-sample ones,
    each trial in its own process."""
    check_metric(metric)
    n = len(combinations)
    train_trials = [
        Trial(
            index=w.index * n + i,
            params=values,
            start_ns=w.train_start,
            end_ns=w.train_end,
        )
        for w in windows
        for i, values in enumerate(combinations)
    ]
    train_results = backend(job, train_trials, progress)
    winners: list[TrialResult | None] = []
    for k in range(len(windows)):
        chunk = train_results[k * n : (k + 1) * n]
        ranked = rank(chunk, metric)
        best = ranked[0] if ranked and metric_value(ranked[0], metric) is not None else None
        winners.append(best)
    test_trials = [
        Trial(index=w.index, params=best.params, start_ns=w.test_start, end_ns=w.test_end)
        for w, best in zip(windows, winners, strict=True)
        if best is not None
    ]
    tested = {r.index: r for r in backend(job, test_trials, progress)}
    return [
        WindowResult(
            window=w,
            best=best,
            test=tested.get(w.index),
            trials=n,
            failed=sum(not r.ok for r in train_results[k * n : (k + 1) * n]),
        )
        for k, (w, best) in enumerate(zip(windows, winners, strict=True))
    ]
