"""Restart intensity and backoff, driven by an injected clock (no sleeps)."""

from __future__ import annotations

import random

import pytest

from runtime.config import RestartType, SupervisionConfig
from runtime.restart import RestartTracker


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tracker(clock: Clock, **values: object) -> RestartTracker:
    config = SupervisionConfig(**{"jitter": 0.0, **values})  # type: ignore[arg-type]
    return RestartTracker(config, clock=clock, rng=random.Random(1))


def test_backoff_doubles_per_failure_in_the_window_and_is_capped() -> None:
    clock = Clock()
    tracker = _tracker(clock, max_restarts=10, backoff_min_s=0.1, backoff_max_s=1.0)
    delays = [tracker.on_failure() for _ in range(6)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert tracker.restarts == 6


def test_one_failure_more_than_max_restarts_within_the_period_gives_up() -> None:
    clock = Clock()
    tracker = _tracker(clock, max_restarts=3, period_s=60.0)
    for _ in range(3):
        assert tracker.on_failure() is not None
        clock.now += 10
    assert tracker.failures_in_window() == 3
    assert tracker.on_failure() is None


def test_failures_older_than_the_period_leave_the_window() -> None:
    clock = Clock()
    tracker = _tracker(clock, max_restarts=2, period_s=60.0, backoff_min_s=1.0)
    assert tracker.on_failure() == 1.0
    clock.now += 30
    assert tracker.on_failure() == 2.0
    clock.now += 31  # the first failure is now 61 s old
    assert tracker.failures_in_window() == 1
    assert tracker.on_failure() == 2.0, "second failure in the window again"
    clock.now += 0.5
    assert tracker.on_failure() is None, "three failures within 60 s"


def test_jitter_spreads_delays_within_its_fraction() -> None:
    clock = Clock()
    config = SupervisionConfig(max_restarts=1000, backoff_min_s=1.0, backoff_max_s=1.0, jitter=0.2)
    tracker = RestartTracker(config, clock=clock, rng=random.Random(7))
    delays = []
    for _ in range(200):
        delay = tracker.on_failure()
        assert delay is not None
        delays.append(delay)
    assert all(0.8 <= d <= 1.0 for d in delays), "capped at backoff_max_s"
    assert len({round(d, 6) for d in delays}) > 50, "jitter actually varies the delay"


def test_a_temporary_child_is_never_restarted() -> None:
    tracker = _tracker(Clock(), restart=RestartType.TEMPORARY)
    assert tracker.on_failure() is None
    assert tracker.restarts == 0
