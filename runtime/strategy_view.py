"""What the operator API of :class:`~runtime.boot.Runtime` answers: strategy views,
the runtime's status, and what to do with a removed strategy's orders.

Plain frozen dataclasses (and one enumeration), so that the gateway can send
them as they are (``dataclasses.asdict``) and tests can compare them whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from runtime.messages import RuntimeState

__all__ = ["RemovePolicy", "RuntimeStatus", "StrategyView"]


class RemovePolicy(StrEnum):
    """What :meth:`~runtime.boot.Runtime.remove_strategy` does with the strategy's
    working orders and positions."""

    CANCEL = "cancel"
    """Cancel its working orders; positions stay."""
    KEEP = "keep"
    """Leave its orders working (their fills are still booked); positions stay."""
    FLATTEN = "flatten"
    """Cancel its working orders, then close every position at market."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyView:
    """One strategy of this run, as ``strategies`` shows it."""

    id: str
    """Strategy id."""
    class_path: str
    """``module:Class`` or ``file.py:Class`` it was loaded from."""
    symbols: tuple[str, ...]
    """Symbols it receives."""
    params: dict[str, Any]
    """Its parameters (``dataclasses.asdict`` of its ``Params``)."""
    state: str
    """Its actor's state: ``running``, ``restarting``, ``quarantined``, ``stopped``
    (removed, or the runtime stopped) or ``failed``."""
    paused: bool
    """Whether risk refuses its new orders (paused by an operator or a losing streak)."""
    failures: int
    """Failures of its current incarnation's actor (since it was added)."""
    restarts: int
    """Restarts of its actor (after failures, or by an operator)."""
    last_error: str
    """Its last failure; empty if none."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeStatus:
    """The runtime at a glance (``status``)."""

    name: str
    """``[runtime] name``."""
    run: str
    """Run tag: the first part of every client order id of this run."""
    state: RuntimeState
    """Trading state (RUNNING, PAUSED, REDUCING, HALTED...)."""
    started_ns: int
    """When it started trading, ns since the epoch (0: not started)."""
    uptime_s: float
    """Seconds since then (0 before the start)."""
    strategies: int
    """Strategies running now (not removed)."""
    bars: int
    """Bars the feed has published."""
    ticks: int
    """Ticks the feed has published."""
    orders: int
    """Orders open now (not in a terminal state)."""
    fatal: str | None
    """Why the runtime must be restarted (a core actor failed for good); None if fine."""
    engine: str
    """Engine new orders go to (empty without engines)."""
