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

In this version a failed child is reported (log and ``ActorFailed`` event),
removed from the directory and stays stopped. A failed strategy stops alone.
A failed core actor (feed, risk, engine, portfolio, event sink) is escalated
through ``on_escalate``: the runtime cannot trade correctly without it, so it
is stopped in order. Restart policies, quarantine and engine failover build
on the same report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pykka
from loguru import logger

from runtime.actor import LeanActor, actor_thread
from runtime.directory import Directory
from runtime.errors import StartupError
from runtime.messages import (
    ActorFailed,
    ActorStarted,
    ActorStopped,
    Flush,
    GetSnapshot,
    Handshake,
    StartChildren,
    StopChildren,
    next_id,
)
from runtime.names import EVENTS, ActorKind

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
    last_error: str
    """The last failure, empty if none."""


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    ref: pykka.ActorRef[Any]
    thread: threading.Thread | None
    failures: int = 0
    last_error: str = ""


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
    ) -> None:
        super().__init__(name=name, directory=directory)
        self._specs = tuple(children)
        self._children: dict[str, _Child] = {}
        self._stopped: dict[str, _Child] = {}
        self._start_timeout_s = start_timeout_s
        self._on_escalate = on_escalate

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ActorFailed):
            self._on_failed(message)
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
            self._children[spec.name] = _Child(spec=spec, ref=ref, thread=actor_thread(ref))
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
        if child.spec.kind.is_core and self._on_escalate is not None:
            self._on_escalate(event)
