"""What protects an execution engine's adapter: retry backoff and a circuit breaker.

Pure and single-threaded, as :class:`~runtime.throttle.TokenBucket` (the
third guard, the rate limit): the caller passes the time (seconds,
monotonic), so tests drive them with a fake clock and the engine actor uses
``time.monotonic()``. Nothing here sleeps; the engine actor turns a delay
into a timer message.

- :class:`RetryPolicy` (``[engines.NAME.retry]``): a call that failed with a
  transient error is made again, ``attempts`` calls in all. The n-th retry
  waits ``backoff_min_s * 2 ** (n - 1)``, at most ``backoff_max_s``, spread
  by ``jitter`` (a fraction) and kept within ``[backoff_min_s, backoff_max_s]``
  (the restart backoff's rule, :mod:`runtime.restart`).
- :class:`CircuitBreaker` (``[engines.NAME.breaker]``): CLOSED until
  ``failures`` failed calls in a row, then OPEN: calls are refused without
  reaching the adapter. ``reset_s`` after it opened it is HALF_OPEN: the next
  call is a trial; its success closes the circuit, its failure opens it again
  for another ``reset_s``. ``failures = 0`` never opens. The breaker is meant
  for one caller making one call at a time (an actor): the trial's outcome is
  recorded before the next call asks.
"""

from __future__ import annotations

import random
from enum import StrEnum

from runtime.config import BreakerConfig, RetryConfig

__all__ = ["CircuitBreaker", "CircuitState", "RetryPolicy"]


class RetryPolicy:
    """When to retry a failed call, and after how long."""

    __slots__ = ("_rng", "config")

    def __init__(self, config: RetryConfig, rng: random.Random | None = None) -> None:
        """``rng`` draws the jitter (seed it for reproducible delays)."""
        self.config = config
        self._rng = rng if rng is not None else random.Random()

    def may_retry(self, calls: int) -> bool:
        """True when, after ``calls`` failed calls (the first included), one more may be made."""
        return calls < self.config.attempts

    def delay(self, calls: int) -> float:
        """Seconds to wait after the ``calls``-th failed call before the next one (calls >= 1)."""
        low, high = self.config.backoff_min_s, self.config.backoff_max_s
        delay = min(high, low * 2.0 ** min(max(calls, 1) - 1, 64))
        jitter = self.config.jitter
        if jitter and delay:
            delay *= 1.0 + self._rng.uniform(-jitter, jitter)
        return min(high, max(low, delay))


class CircuitState(StrEnum):
    """The states of a :class:`CircuitBreaker`."""

    CLOSED = "CLOSED"
    """Calls pass; failed ones in a row are counted."""
    OPEN = "OPEN"
    """Calls are refused until ``reset_s`` has passed."""
    HALF_OPEN = "HALF_OPEN"
    """The next call is a trial: success closes, failure opens again."""


class CircuitBreaker:
    """Counts failed calls in a row and refuses calls while the circuit is open.

    >>> breaker = CircuitBreaker(BreakerConfig(failures=2, reset_s=10.0))
    >>> breaker.record_failure(0.0), breaker.record_failure(1.0)
    (False, True)
    >>> breaker.allow(5.0), breaker.state(11.0), breaker.allow(11.0)
    (False, <CircuitState.HALF_OPEN: 'HALF_OPEN'>, True)
    >>> breaker.record_success(11.0); breaker.state(11.0)
    <CircuitState.CLOSED: 'CLOSED'>
    """

    __slots__ = ("_failures", "_limit", "_opened_at", "_reset_s", "opened")

    def __init__(self, config: BreakerConfig) -> None:
        self._limit = config.failures
        self._reset_s = config.reset_s
        self._failures = 0
        self._opened_at: float | None = None
        self.opened = 0
        """Times the circuit opened (re-openings after a failed trial included)."""

    @property
    def failures(self) -> int:
        """Failed calls in a row so far (those that opened the circuit included)."""
        return self._failures

    @property
    def tripped(self) -> bool:
        """True while OPEN or HALF_OPEN: a cheap test before asking :meth:`allow`."""
        return self._opened_at is not None

    def state(self, now: float) -> CircuitState:
        """The state at ``now``."""
        opened_at = self._opened_at
        if opened_at is None:
            return CircuitState.CLOSED
        if now - opened_at < self._reset_s:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    def allow(self, now: float) -> bool:
        """True when a call may be made at ``now`` (CLOSED, or HALF_OPEN: the trial)."""
        return self._opened_at is None or now - self._opened_at >= self._reset_s

    def record_success(self, now: float) -> None:
        """A call succeeded: the count starts again and a trial closes the circuit.

        Ignored while OPEN (a call the caller let through regardless, e.g. a
        cancel, does not shorten ``reset_s``).
        """
        if self.state(now) is CircuitState.OPEN:
            return
        self._failures = 0
        self._opened_at = None

    def record_failure(self, now: float) -> bool:
        """A call failed; True when this failure opened the circuit (or re-opened it)."""
        self._failures += 1
        state = self.state(now)
        if state is CircuitState.OPEN:
            return False
        if state is CircuitState.HALF_OPEN or (self._limit > 0 and self._failures >= self._limit):
            self._opened_at = now
            self.opened += 1
            return True
        return False
