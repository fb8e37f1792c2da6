"""A token bucket: the one rate limiter (risk's order rate, engines' call rate).

Pure and single-threaded: the caller passes the time (seconds, monotonic), so
tests drive it with a fake clock and actors use ``time.monotonic()``.
"""

from __future__ import annotations

import math

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` held; starts full.

    >>> bucket = TokenBucket(rate=2.0, burst=2, now=0.0)
    >>> bucket.take(0.0), bucket.take(0.0), bucket.take(0.0)
    (True, True, False)
    >>> bucket.wait(0.0)
    0.5
    >>> bucket.take(0.5)
    True
    """

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, *, rate: float, burst: int = 0, now: float) -> None:
        """``burst`` 0 means ``ceil(rate)`` (at least 1)."""
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        self._rate = rate
        self._burst = float(burst if burst > 0 else max(1, math.ceil(rate)))
        self._tokens = self._burst
        self._stamp = now

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self._rate

    @property
    def burst(self) -> int:
        """Most tokens held at once."""
        return int(self._burst)

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now

    def take(self, now: float) -> bool:
        """Take one token if there is one; False (nothing taken) otherwise."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0 when one is)."""
        self._refill(now)
        missing = 1.0 - self._tokens
        return 0.0 if missing <= 0 else missing / self._rate
