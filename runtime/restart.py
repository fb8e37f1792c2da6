"""Restart intensity and backoff, as in Erlang/OTP supervisors.

A child may fail at most ``max_restarts`` times within any ``period_s``
seconds; the failure that goes past that gives up on it (a strategy is then
quarantined). Between failures and restarts the delay grows exponentially,
``backoff_min_s * 2**(n-1)`` for the n-th failure in the window, capped at
``backoff_max_s``, then spread by +/- ``jitter`` (a fraction) so that many
children failing together do not restart in lock-step.

Pure logic: the clock and the random source are injected, so tests drive
time by hand and never sleep.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

from runtime.config import RestartType, SupervisionConfig

__all__ = ["RestartTracker"]


class RestartTracker:
    """Decides, for one child, whether and when a failure is followed by a restart."""

    def __init__(
        self,
        config: SupervisionConfig,
        *,
        clock: Callable[[], float],
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._rng = rng or random.Random()
        self._failures: deque[float] = deque()
        self.restarts = 0
        """Restarts granted so far (scheduled; the supervisor counts those performed)."""

    def failures_in_window(self) -> int:
        """Failures within the last ``period_s`` seconds."""
        self._forget_old(self._clock())
        return len(self._failures)

    def _forget_old(self, now: float) -> None:
        horizon = now - self.config.period_s
        while self._failures and self._failures[0] <= horizon:
            self._failures.popleft()

    def on_failure(self) -> float | None:
        """Record a failure: the delay before restarting, or None to give up."""
        config = self.config
        if config.restart is RestartType.TEMPORARY:
            return None
        now = self._clock()
        self._forget_old(now)
        self._failures.append(now)
        count = len(self._failures)
        if count > config.max_restarts:
            return None
        self.restarts += 1
        base = min(config.backoff_max_s, config.backoff_min_s * float(2 ** (count - 1)))
        spread = 1.0 + self._rng.uniform(-config.jitter, config.jitter)
        return max(0.0, min(config.backoff_max_s, base * spread))
