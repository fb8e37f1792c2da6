"""The runtime's state machine: one table of valid transitions, the last 100 kept.

States (``RuntimeState``) and what each lets through (risk enforces it):

- ``STARTING``: actors are starting; no market data yet.
- ``RUNNING``: every order that passes the risk rules.
- ``PAUSED``: no new orders (``PAUSED``); cancels pass, working orders stay.
- ``REDUCING``: only orders that bring a position closer to flat (``REDUCE_ONLY``).
- ``HALTED``: no orders (``HALTED``); what was working is cancelled on entry.
  Only an operator's reset leaves it (to ``RUNNING``).
- ``STOPPING``, ``STOPPED``: shutting down, and down.

Thread-safe: the runtime's methods and the risk actor's kill switch move it
from different threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from runtime.messages import RuntimeState, RuntimeStateChanged, next_id

__all__ = ["HISTORY", "TRANSITIONS", "IllegalTransitionError", "StateMachine"]

_S = RuntimeState

TRANSITIONS: Mapping[RuntimeState, frozenset[RuntimeState]] = {
    _S.STARTING: frozenset({_S.RUNNING, _S.HALTED, _S.STOPPING}),
    _S.RUNNING: frozenset({_S.PAUSED, _S.REDUCING, _S.HALTED, _S.STOPPING}),
    _S.PAUSED: frozenset({_S.RUNNING, _S.REDUCING, _S.HALTED, _S.STOPPING}),
    _S.REDUCING: frozenset({_S.RUNNING, _S.PAUSED, _S.HALTED, _S.STOPPING}),
    _S.HALTED: frozenset({_S.RUNNING, _S.STOPPING}),
    _S.STOPPING: frozenset({_S.STOPPED}),
    _S.STOPPED: frozenset(),
}
"""The valid moves: ``TRANSITIONS[from]`` is the set of states it may go to."""

HISTORY = 100
"""Transitions kept for queries."""


class IllegalTransitionError(ValueError):
    """A move the table does not allow; the state is unchanged."""


class StateMachine:
    """The runtime's trading state, its transition count and recent history."""

    def __init__(self, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._state = RuntimeState.STARTING
        self._version = 0
        self._history: deque[RuntimeStateChanged] = deque(maxlen=HISTORY)

    @property
    def state(self) -> RuntimeState:
        """The current state."""
        return self._state

    @property
    def version(self) -> int:
        """Transitions so far (grows by one with each)."""
        return self._version

    def move(
        self,
        state: RuntimeState,
        reason: str,
        *,
        allowed_from: frozenset[RuntimeState] | None = None,
    ) -> tuple[RuntimeStateChanged, int]:
        """Go to ``state``; the transition event and the new version.

        Raises :class:`IllegalTransitionError` (naming both states and the
        states allowed) when the table forbids it, or when the current state
        is not in ``allowed_from`` (a command valid only from some states,
        checked under the same lock as the move, so that no other move can
        come in between).
        """
        with self._lock:
            previous = self._state
            if allowed_from is not None and previous not in allowed_from:
                raise IllegalTransitionError(
                    f"cannot go to {state} from {previous} by this command"
                    f" (allowed from: {', '.join(sorted(allowed_from))})"
                )
            if state not in TRANSITIONS[previous]:
                allowed = ", ".join(sorted(TRANSITIONS[previous])) or "none"
                raise IllegalTransitionError(
                    f"cannot go from {previous} to {state} (from {previous}: {allowed})"
                )
            now = self._clock()
            event = RuntimeStateChanged(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                previous=previous,
                state=state,
                reason=reason,
            )
            self._state = state
            self._version += 1
            self._history.append(event)
            return event, self._version

    def history(self) -> tuple[RuntimeStateChanged, ...]:
        """The last :data:`HISTORY` transitions, oldest first."""
        with self._lock:
            return tuple(self._history)
