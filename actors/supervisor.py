"""The supervisor: parent of every actor of the runtime.

It starts its children in order, registers each under its stable name in the
:class:`~runtime.directory.Directory`, and stops them in reverse order,
joining every thread. It receives every child's failure report.

pykka's failure rules, which this supervisor is built on:

- an exception while handling a ``tell`` stops the actor and calls its
  ``on_failure``; :class:`~runtime.actor.LeanActor` reports it here as
  ``ActorFailed``;
- the same exception while handling an ``ask`` goes back to the caller and
  the actor lives on (so data and orders are *told*; asks are kept for
  control messages such as ``Flush`` and ``GetSnapshot``);
- an exception in ``on_start`` stops the actor without ``on_failure``;
  ``LeanActor.on_start`` reports it before re-raising;
- a ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``) would make pykka
  stop every actor; ``LeanActor`` turns it into ``ActorCrashError`` so only
  that actor fails.

What a failure leads to:

- a child with a restart policy (``ChildSpec.supervision``: every strategy)
  is removed from the directory and, per :class:`~runtime.restart.RestartTracker`,
  started again after an exponential backoff with jitter, under the same name
  (``ActorRestarted``); the backoff runs on a timer, never in this mailbox.
  ``ChildSpec.restart`` builds the replacement (a strategy gets its positions
  and open orders back from the portfolio and the engines). Past its intensity,
  or for a ``temporary`` child, a strategy is quarantined
  (``StrategyQuarantined``): it stays stopped, the others are untouched;
- a core actor (feed, risk, engine, portfolio, event sink) is escalated through
  ``on_escalate``: the runtime cannot trade correctly without it, so it is
  stopped in order. (Restarting core actors and engine failover come next.)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pykka
from loguru import logger

from runtime.actor import LeanActor, actor_thread
from runtime.config import SupervisionConfig
from runtime.directory import Directory
from runtime.errors import StartupError
from runtime.messages import (
    ActorFailed,
    ActorRestarted,
    ActorStarted,
    ActorStopped,
    Flush,
    GetSnapshot,
    Handshake,
    RestartChild,
    StartChildren,
    StopChildren,
    StrategyQuarantined,
    next_id,
)
from runtime.names import EVENTS, ActorKind
from runtime.restart import RestartTracker

__all__ = ["ChildSpec", "ChildStatus", "Supervisor"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildSpec:
    """How to start one child."""

    name: str
    """Stable directory name."""
    kind: ActorKind
    """Actor kind: decides what its failure means."""
    start: Callable[[], pykka.ActorRef[Any]]
    """Starts the actor and returns its reference."""
    supervision: SupervisionConfig | None = None
    """Restart policy; None: a failure is not restarted (core actors escalate)."""
    restart: Callable[[], pykka.ActorRef[Any]] | None = None
    """Starts a replacement after a failure (default: ``start``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildStatus:
    """One child as answered to ``GetSnapshot``."""

    name: str
    """Stable directory name."""
    kind: ActorKind
    """Actor kind."""
    alive: bool
    """Whether it is processing messages."""
    failures: int
    """Failures reported since start."""
    restarts: int
    """Restarts after failures."""
    quarantined: bool
    """Failed past its intensity (or temporary) and stays stopped."""
    last_error: str
    """The last failure, empty if none."""


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    ref: pykka.ActorRef[Any]
    thread: threading.Thread | None
    tracker: RestartTracker | None
    failures: int = 0
    restarts: int = 0
    quarantined: bool = False
    last_error: str = ""
    delay_s: float = 0.0


class Supervisor(LeanActor):
    """Starts, watches and stops the runtime's actors."""

    kind = ActorKind.SUPERVISOR

    def __init__(
        self,
        *,
        name: str,
        directory: Directory,
        children: Sequence[ChildSpec],
        start_timeout_s: float = 10.0,
        on_escalate: Callable[[ActorFailed], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name=name, directory=directory)
        self._specs = tuple(children)
        self._children: dict[str, _Child] = {}
        self._stopped: dict[str, _Child] = {}
        self._start_timeout_s = start_timeout_s
        self._on_escalate = on_escalate
        self._clock = clock
        self._timers: dict[str, threading.Timer] = {}
        self._stopping = False

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ActorFailed):
            self._on_failed(message)
        elif isinstance(message, RestartChild):
            self._restart(message.name)
        elif isinstance(message, StartChildren):
            self._start_all()
        elif isinstance(message, StopChildren):
            return self._stop_some(message.timeout_s, message.names)
        elif isinstance(message, GetSnapshot):
            return self.status()
        elif not isinstance(message, Flush):
            raise TypeError(f"{self.name} cannot handle {type(message).__name__}")
        return None

    def status(self) -> tuple[ChildStatus, ...]:
        """Every child ever started, in start order."""
        children = {**self._stopped, **self._children}
        return tuple(
            ChildStatus(
                name=c.spec.name,
                kind=c.spec.kind,
                alive=c.ref.is_alive(),
                failures=c.failures,
                restarts=c.restarts,
                quarantined=c.quarantined,
                last_error=c.last_error,
            )
            for c in sorted(children.values(), key=lambda c: self._specs.index(c.spec))
        )

    def _publish(self, event: object) -> None:
        self.directory.tell(EVENTS, event)

    def _start_all(self) -> None:
        for spec in self._specs:
            ref = spec.start()
            try:
                ref.ask(Handshake(), block=True, timeout=self._start_timeout_s)
            except pykka.Timeout:
                stuck = self._abandon(ref)
                self._stop_some(self._start_timeout_s, None)
                raise StartupError(
                    f"{spec.name} ({spec.kind}) did not finish starting within "
                    f"{self._start_timeout_s:g}s" + (" and did not stop" if stuck else "")
                ) from None
            except Exception as exc:
                self._abandon(ref)
                self._stop_some(self._start_timeout_s, None)
                raise StartupError(f"{spec.name} ({spec.kind}) failed to start: {exc}") from exc
            self.directory.register(spec.name, ref)
            tracker = (
                RestartTracker(spec.supervision, clock=self._clock)
                if spec.supervision is not None
                else None
            )
            self._children[spec.name] = _Child(
                spec=spec, ref=ref, thread=actor_thread(ref), tracker=tracker
            )
            now = time.time_ns()
            self._publish(
                ActorStarted(
                    id=next_id(), ts_event=now, ts_init=now, name=spec.name, kind=spec.kind
                )
            )

    def _abandon(self, ref: pykka.ActorRef[Any]) -> bool:
        """Stop an actor that failed its start; True if its thread is still running."""
        thread = actor_thread(ref)
        ref.stop(block=False)
        if thread is None:
            return False
        thread.join(self._start_timeout_s)
        return thread.is_alive()

    def _stop_some(self, timeout_s: float, names: tuple[str, ...] | None) -> tuple[str, ...]:
        """Stop children in reverse start order; return names whose thread did not end."""
        if names is None:
            self._stopping = True
        for name in [n for n in self._timers if names is None or n in names]:
            timer = self._timers.pop(name)
            timer.cancel()
            timer.join(timeout_s)
        stuck = []
        for name in reversed(list(self._children)):
            if names is not None and name not in names:
                continue
            child = self._children.pop(name)
            self._stopped[name] = child
            now = time.time_ns()
            self._publish(
                ActorStopped(
                    id=next_id(), ts_event=now, ts_init=now, name=name, kind=child.spec.kind
                )
            )
            try:
                child.ref.stop(block=True, timeout=timeout_s)
            except pykka.Timeout:
                logger.error("{} did not stop within {}s", name, timeout_s)
            self.directory.unregister(name)
            if child.thread is not None:
                child.thread.join(timeout_s)
                if child.thread.is_alive():
                    stuck.append(name)
        return tuple(stuck)

    def _on_failed(self, event: ActorFailed) -> None:
        child = self._children.get(event.name)
        self._publish(event)
        if child is None:
            return
        child.failures += 1
        child.last_error = event.error
        if not child.ref.is_alive():
            self.directory.unregister(event.name)
        if child.tracker is not None:
            self._after_failure(child)
        elif child.spec.kind.is_core and self._on_escalate is not None:
            self._on_escalate(event)

    def _after_failure(self, child: _Child) -> None:
        """Schedule the restart of a supervised child, or quarantine it."""
        assert child.tracker is not None
        name = child.spec.name
        if self._stopping or name in self._timers:
            return
        delay = child.tracker.on_failure()
        if delay is None:
            child.quarantined = True
            now = time.time_ns()
            self._publish(
                StrategyQuarantined(
                    id=next_id(),
                    ts_event=now,
                    ts_init=now,
                    strategy_id=name.removeprefix("strategy."),
                    failures=max(child.tracker.failures_in_window(), 1),
                    error=child.last_error,
                )
            )
            return
        child.delay_s = delay
        if delay <= 0:
            self.actor_ref.tell(RestartChild(name))
            return
        timer = threading.Timer(delay, self._restart_due, args=(name,))
        timer.name = f"tradepit-restart-{name}"
        self._timers[name] = timer
        timer.start()

    def _restart_due(self, name: str) -> None:
        """Timer thread: hand the restart to the supervisor's own thread."""
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(RestartChild(name))

    def _restart(self, name: str) -> None:
        self._timers.pop(name, None)
        child = self._children.get(name)
        if self._stopping or child is None or child.ref.is_alive():
            return
        spec = child.spec
        ref = (spec.restart or spec.start)()
        try:
            ref.ask(Handshake(), block=True, timeout=self._start_timeout_s)
        except pykka.Timeout:
            self._abandon(ref)
            self._on_failed(
                ActorFailed(
                    id=next_id(),
                    ts_event=time.time_ns(),
                    ts_init=time.time_ns(),
                    name=name,
                    kind=spec.kind,
                    error=f"TimeoutError: restart did not finish within {self._start_timeout_s:g}s",
                )
            )
            return
        except Exception:
            self._abandon(ref)  # its on_start reported the failure; that report decides
            return
        child.ref = ref
        child.thread = actor_thread(ref)
        child.restarts += 1
        self.directory.register(name, ref)
        now = time.time_ns()
        self._publish(
            ActorRestarted(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                name=name,
                kind=spec.kind,
                restarts=child.restarts,
                delay_s=child.delay_s,
            )
        )
