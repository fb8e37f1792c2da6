"""The sweep part of the backtest benchmark: trials/s of ``tradepit optimize``'s
local backend with ``-j 1`` and ``-j 2``, against the same trials in-process.

The sweep is the one the CLI runs (:func:`runtime.optimize.sweep_job`, the
grid of :func:`runtime.optimize.parse_specs`, every combination checked by
:func:`runtime.optimize.plan_trials`), run by
:func:`runtime.trial_pool.run_trials_local`: one fresh process per trial.
*In-process* is :func:`runtime.optimize.evaluate` of each trial in turn in the
benchmark's own process: the backtests alone, without processes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from runtime.backtest_types import BarSeries
from runtime.config import Settings
from runtime.optimize import (
    Grid,
    SweepJob,
    Trial,
    TrialResult,
    evaluate,
    parse_specs,
    plan_trials,
    sweep_job,
)
from runtime.trial_pool import run_trials_local

__all__ = ["MODES", "SweepRound", "SweepSetup", "prepare_sweep", "run_sweep_round"]

MODES: tuple[str, ...] = ("in-process", "-j 1", "-j 2")
"""How the trials are run, in the order of the first round."""

_JOBS = {"-j 1": 1, "-j 2": 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepSetup:
    """A sweep ready to run: the job (data loaded once) and its trials."""

    job: SweepJob
    trials: tuple[Trial, ...]
    params: tuple[str, ...]
    """The ``--param`` texts of the grid."""


def prepare_sweep(
    settings: Settings, strategy_id: str, data: Sequence[BarSeries], params: Sequence[str]
) -> SweepSetup:
    """The sweep of ``strategy_id`` over the grid of ``params`` (``--param`` texts);
    raises ``ValueError`` if the grid refuses a combination (they must all run)."""
    plan = plan_trials(settings, strategy_id, list(Grid(parse_specs(params))))
    if plan.skipped:
        raise ValueError(
            f"params: expected a grid of valid combinations, {plan.skipped} refused "
            f"({plan.first_skip})"
        )
    trials = tuple(Trial(index=i, params=p) for i, p in enumerate(plan.combinations))
    return SweepSetup(
        job=sweep_job(settings, strategy_id, data), trials=trials, params=tuple(params)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepRound:
    """One round: every mode ran the whole sweep once."""

    index: int
    """Round number, from 1."""
    order: tuple[str, ...]
    """The order the modes ran in."""
    seconds: dict[str, float]
    """Wall time of the whole sweep, per mode."""
    fills: dict[str, tuple[int, ...]]
    """Fills of each trial, per mode (all modes must agree)."""

    def rate(self, mode: str) -> float:
        """Trials per second of ``mode``."""
        return len(self.fills[mode]) / self.seconds[mode]


def _fills(results: Sequence[TrialResult]) -> tuple[int, ...]:
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"sweep trial {failed[0].index} failed: {failed[0].error}")
    return tuple(r.fills for r in results)


def _run(setup: SweepSetup, mode: str) -> tuple[float, tuple[int, ...]]:
    t0 = time.perf_counter()
    if mode == "in-process":
        results = [evaluate(setup.job, trial) for trial in setup.trials]
    else:
        results = run_trials_local(setup.job, setup.trials, jobs=_JOBS[mode])
    return time.perf_counter() - t0, _fills(results)


def run_sweep_round(setup: SweepSetup, index: int) -> SweepRound:
    """Run the sweep once in every mode of :data:`MODES`, starting with a different
    one each round; raises ``RuntimeError`` if a trial failed or the modes disagree."""
    shift = (index - 1) % len(MODES)
    order = (*MODES[shift:], *MODES[:shift])
    seconds: dict[str, float] = {}
    fills: dict[str, tuple[int, ...]] = {}
    for mode in order:
        seconds[mode], fills[mode] = _run(setup, mode)
    if len(set(fills.values())) != 1:
        raise RuntimeError(f"sweep round {index}: the modes made different fills: {fills}")
    return SweepRound(index=index, order=order, seconds=seconds, fills=fills)
