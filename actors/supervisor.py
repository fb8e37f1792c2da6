"""The supervisor: parent of every actor of the runtime.

It starts its children in order, registers each under its stable name in the
:class:`~runtime.directory.Directory`, and stops them in reverse order,
joining every thread. It receives every child's failure report.

pykka's failure rules, which this supervisor is built on:

- an exception while handling a ``tell`` stops the actor and calls its
  ``on_failure``; :class:`~runtime.actor.LeanActor` reports it here as
  ``ActorFailed``;
- the same exception while handling an ``ask`` goes back to the caller and
  the actor lives on;
- an exception in ``on_start`` stops the actor without ``on_failure``;
  ``LeanActor.on_start`` reports it before re-raising;
- a ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``) would make pykka
  stop every actor; ``LeanActor`` turns it into ``ActorCrashed`` so only that
  actor fails.

In this version a failed child is reported (log and ``ActorFailed`` event)
and stays stopped. A failed strategy stops alone. Any other failed child (feed,
risk, engine, portfolio, event sink) is escalated through ``on_escalate``: the
runtime cannot trade correctly without it, so it is stopped in order. Restart
policies, quarantine and engine failover build on the same report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pykka
from loguru import logger

from runtime.actor import LeanActor
from runtime.directory import Directory
from runtime.messages import (
    ActorFailed,
    ActorStarted,
    ActorStopped,
    Flush,
    GetSnapshot,
    Handshake,
    next_id,
)
from runtime.names import EVENTS

__all__ = [
    "ChildSpec",
    "ChildStatus",
    "StartChildren",
    "StartupError",
    "StopChildren",
    "Supervisor",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildSpec:
    """How to start one child."""

    name: str
    """Stable directory name."""
    kind: str
    """Actor kind, for events and status."""
    start: Callable[[], pykka.ActorRef[Any]]
    """Starts the actor and returns its reference."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildStatus:
    """One child as answered to ``GetSnapshot``."""

    name: str
    """Stable directory name."""
    kind: str
    """Actor kind."""
    alive: bool
    """Whether it is processing messages."""
    failures: int
    """Failures reported since start."""
    last_error: str
    """The last failure, empty if none."""


@dataclass(frozen=True, slots=True)
class StartChildren:
    """Asked of the supervisor: start every child in order."""


@dataclass(frozen=True, slots=True)
class StopChildren:
    """Asked of the supervisor: stop every child in reverse order."""

    timeout_s: float
    """How long to wait for each child."""


class StartupError(RuntimeError):
    """A child failed to start; the ones already started were stopped."""


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    ref: pykka.ActorRef[Any]
    thread: threading.Thread | None
    failures: int = 0
    last_error: str = ""


class Supervisor(LeanActor):
    """Starts, watches and stops the runtime's actors."""

    kind = "supervisor"

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
        self._on_escalate = on_escalate
        self._children: dict[str, _Child] = {}
        self._start_timeout_s = start_timeout_s

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ActorFailed):
            self._on_failed(message)
        elif isinstance(message, StartChildren):
            self._start_all()
        elif isinstance(message, StopChildren):
            return self._stop_all(message.timeout_s)
        elif isinstance(message, GetSnapshot):
            return self.status()
        elif not isinstance(message, Flush):
            raise TypeError(f"{self.name} cannot handle {type(message).__name__}")
        return None

    def status(self) -> tuple[ChildStatus, ...]:
        """Every child, in start order."""
        return tuple(
            ChildStatus(
                name=c.spec.name,
                kind=c.spec.kind,
                alive=c.ref.is_alive(),
                failures=c.failures,
                last_error=c.last_error,
            )
            for c in self._children.values()
        )

    def _publish(self, event: object) -> None:
        self.directory.tell(EVENTS, event)

    def _start_all(self) -> None:
        for spec in self._specs:
            ref = spec.start()
            try:
                thread: threading.Thread = ref.ask(
                    Handshake(), block=True, timeout=self._start_timeout_s
                )
            except Exception as exc:
                self._stop_all(self._start_timeout_s)
                raise StartupError(f"{spec.name} ({spec.kind}) failed to start: {exc}") from exc
            self.directory.register(spec.name, ref)
            self._children[spec.name] = _Child(spec=spec, ref=ref, thread=thread)
            now = time.time_ns()
            self._publish(
                ActorStarted(
                    id=next_id(), ts_event=now, ts_init=now, name=spec.name, kind=spec.kind
                )
            )

    def _stop_all(self, timeout_s: float) -> tuple[str, ...]:
        """Stop children in reverse start order; return names whose thread did not end."""
        stuck = []
        for name in reversed(list(self._children)):
            child = self._children.pop(name)
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
        if child is not None:
            child.failures += 1
            child.last_error = event.error
        self._publish(event)
        if event.kind != "strategy" and self._on_escalate is not None:
            self._on_escalate(event)
