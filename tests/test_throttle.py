"""The token bucket shared by risk's order rate limit and the engines' call rate limit."""

from __future__ import annotations

import pytest

from runtime.throttle import TokenBucket


def test_starts_full_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=4.0, burst=2, now=10.0)
    assert [bucket.take(10.0) for _ in range(3)] == [True, True, False]
    assert bucket.wait(10.0) == pytest.approx(0.25)
    assert bucket.take(10.2) is False  # 0.8 of a token
    assert bucket.take(10.25) is True
    assert bucket.take(10.25) is False


def test_never_holds_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=1.0, burst=3, now=0.0)
    assert [bucket.take(1_000.0) for _ in range(4)] == [True, True, True, False]


def test_default_burst_is_the_rate_rounded_up() -> None:
    assert TokenBucket(rate=2.5, now=0.0).burst == 3
    assert TokenBucket(rate=0.2, now=0.0).burst == 1


def test_a_clock_going_backwards_adds_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=5.0)
    assert bucket.take(5.0) is True
    assert bucket.take(4.0) is False
    assert bucket.wait(4.0) == pytest.approx(1.0)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        TokenBucket(rate=0.0, now=0.0)
