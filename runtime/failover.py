"""Which execution engine is active: failover through the backups, failback to the primary.

Pure bookkeeping, driven by the times it is given; the supervisor acts on
its answers (routes orders, reconciles, publishes the events):

- every failure of an engine is counted (actor crash, unanswered or
  unhealthy probe, adapter fault); when the *active* engine reaches
  ``failover_threshold`` failures since it became active, the next engine of
  the list (after it, wrapping around) that is not down becomes active;
- an engine whose actor failed past its restart intensity is *down*: if it
  was active the switch is immediate;
- ``failback_after_s`` after a failover, and as often again while it fails,
  the supervisor probes the primary and restores it when it answers healthy;
- ``force`` pins one engine: no automatic switch while pinned.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExecutionStatus", "Failover"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionStatus:
    """The execution view: what ``tradepit engines`` shows."""

    active: str
    """Engine receiving new orders."""
    primary: str
    """First engine of ``[execution] engines``."""
    backups: tuple[str, ...]
    """The others, in failover order."""
    failures: tuple[tuple[str, int], ...]
    """(engine, failures since start), in list order."""
    since_active: int
    """Failures of the active engine since it became active."""
    down: tuple[str, ...]
    """Engines whose actor failed past its restart intensity."""
    pinned: str
    """Engine pinned by ``force`` (empty: automatic)."""
    recovery: str
    """``primary active``, ``failed over``, ``pinned`` or ``no engine available``."""
    switches: int
    """Switches since start."""
    last_switch_ns: int
    """Wall time of the last switch, ns since the epoch (0: never)."""


class Failover:
    """Active-engine state of one runtime."""

    def __init__(
        self, engines: tuple[str, ...], *, threshold: int, failback_after_s: float, force: str = ""
    ) -> None:
        if not engines:
            raise ValueError("at least one engine is needed")
        if force and force not in engines:
            raise ValueError(f"cannot pin unknown engine {force!r}")
        self.engines = engines
        self.threshold = threshold
        self.failback_after_s = failback_after_s
        self.active = force or engines[0]
        self.pinned = force
        self._failures = dict.fromkeys(engines, 0)
        self._since_active = 0
        self._down: set[str] = set()
        self._switches = 0
        self._last_switch_ns = 0
        self._failback_at: float | None = None

    @property
    def primary(self) -> str:
        """The first engine of the list."""
        return self.engines[0]

    def record_failure(self, engine: str) -> str | None:
        """Count one failure; the engine to switch to when this one reached the threshold."""
        self._failures[engine] += 1
        if engine != self.active:
            return None
        self._since_active += 1
        if self.pinned or self._since_active < self.threshold:
            return None
        return self._next_after(engine)

    def mark_down(self, engine: str) -> str | None:
        """The engine's actor is gone for good; the engine to switch to if it was active."""
        self._down.add(engine)
        if engine != self.active or self.pinned:
            return None
        return self._next_after(engine)

    def mark_up(self, engine: str) -> None:
        """The engine's actor runs again (restarted by hand)."""
        self._down.discard(engine)

    def _next_after(self, engine: str) -> str | None:
        i = self.engines.index(engine)
        for candidate in self.engines[i + 1 :] + self.engines[:i]:
            if candidate not in self._down:
                return candidate
        return None

    def switch(self, engine: str, *, now: float, wall_ns: int) -> str:
        """Make ``engine`` active; returns the previous one."""
        previous, self.active = self.active, engine
        self._since_active = 0
        self._switches += 1
        self._last_switch_ns = wall_ns
        self._failback_at = None if engine == self.primary else now + self.failback_after_s
        return previous

    def failback_at(self) -> float | None:
        """When the primary should next be probed for failback (None: not now)."""
        if self.pinned or self.active == self.primary or self.primary in self._down:
            return None
        return self._failback_at

    def failback_failed(self, now: float) -> None:
        """The primary did not answer healthy: probe again ``failback_after_s`` later."""
        self._failback_at = now + self.failback_after_s

    def pin(self, engine: str) -> None:
        """Pin ``engine`` (empty string: automatic again). Does not switch by itself."""
        if engine and engine not in self.engines:
            raise ValueError(f"unknown engine {engine!r}; engines: {', '.join(self.engines)}")
        self.pinned = engine

    def status(self) -> ExecutionStatus:
        """The view of ``tradepit engines``."""
        if self.pinned:
            recovery = "pinned"
        elif self.active in self._down:
            recovery = "no engine available"
        elif self.active == self.primary:
            recovery = "primary active"
        else:
            recovery = "failed over"
        return ExecutionStatus(
            active=self.active,
            primary=self.primary,
            backups=self.engines[1:],
            failures=tuple((e, self._failures[e]) for e in self.engines),
            since_active=self._since_active,
            down=tuple(e for e in self.engines if e in self._down),
            pinned=self.pinned,
            recovery=recovery,
            switches=self._switches,
            last_switch_ns=self._last_switch_ns,
        )
