"""Restart intensity and backoff of one supervised child, as in Erlang/OTP.

Pure logic, driven by the time it is given (tests inject a clock):

- a child may be restarted at most ``max_restarts`` times within any
  ``period_s`` window; the failure past that gives up (the supervisor then
  quarantines, fails over or halts). As in OTP, a restart exactly
  ``period_s`` old is still inside the window, and ``max_restarts = 0``
  means the first failure gives up;
- ``restart = "temporary"`` gives up at the first failure;
- the n-th restart within the window waits ``backoff_min_s * 2 ** (n - 1)``,
  at most ``backoff_max_s``, spread by ``jitter`` (a fraction) and kept within
  ``[backoff_min_s, backoff_max_s]``. When the window empties the streak,
  and so the delay, starts again from ``backoff_min_s``.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from runtime.config import RestartType, SupervisionConfig

__all__ = ["GiveUp", "Restart", "RestartTracker"]


@dataclass(frozen=True, slots=True)
class Restart:
    """Restart the child after ``delay_s``."""

    delay_s: float
    """Backoff before the restart, seconds."""
    restarts: int
    """Restarts within the window, this one included."""


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Do not restart: the child failed past its intensity (or is temporary)."""

    reason: str
    """Readable explanation, for the event and the log."""


class RestartTracker:
    """The restart history of one child."""

    def __init__(self, config: SupervisionConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng if rng is not None else random.Random()
        self._restarts: deque[float] = deque()

    def on_failure(self, now: float) -> Restart | GiveUp:
        """The child failed at ``now`` (seconds, any monotonic origin): what to do."""
        config = self.config
        if config.restart is RestartType.TEMPORARY:
            return GiveUp('restart = "temporary": never restarted')
        window = self._restarts
        while window and now - window[0] > config.period_s:
            window.popleft()
        if len(window) >= config.max_restarts:
            return GiveUp(
                f"failed after {len(window)} restarts within {config.period_s:g}s "
                f"(max_restarts = {config.max_restarts})"
            )
        window.append(now)
        return Restart(delay_s=self.delay(len(window)), restarts=len(window))

    def delay(self, restarts: int) -> float:
        """Backoff before the ``restarts``-th restart of a streak (1-based)."""
        low, high = self.config.backoff_min_s, self.config.backoff_max_s
        delay = min(high, low * 2.0 ** min(restarts - 1, 64))
        if self.config.jitter and delay:
            delay *= 1.0 + self._rng.uniform(-self.config.jitter, self.config.jitter)
        return min(high, max(low, delay))
