"""The supervisor: parent of every actor of the runtime, modelled on Erlang/OTP.

It starts its children in order, gives each its stable name in the
:class:`~runtime.directory.Directory`, restarts those that fail, and stops
them in reverse order, joining every thread.

pykka's failure rules, and how each is handled here:

- an exception while handling a ``tell`` stops the actor and calls its
  ``on_failure``: :class:`~runtime.actor.LeanActor` reports it here as
  ``ActorFailed`` (with the failed incarnation's URN);
- the same exception while handling an ``ask`` goes back to the caller and
  the actor lives on: data and orders are therefore always *told*, and asks
  are kept for control messages (``Flush``, ``GetSnapshot``, ``Probe``);
- an exception in ``on_start`` stops the actor *without* ``on_failure``:
  ``LeanActor.on_start`` reports it before re-raising, and a replacement that
  fails to start is one failed restart attempt;
- a ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``) in any actor
  would make pykka stop *every* actor: ``LeanActor`` turns it into
  ``ActorCrashError`` so only that actor fails, and a strategy calling
  ``sys.exit()`` is restarted like any other failure.

What a failure leads to (``[supervision]``, per child overrides):

1. The child's address *holds* every message sent to it from that moment.
   Once its thread has ended, the messages it had not handled and its
   :meth:`~runtime.actor.LeanActor.handover` state (a strategy's positions
   and open orders, an engine's adapter...) are taken for the replacement.
2. Its :class:`~runtime.restart.RestartTracker` decides: restart after an
   exponential backoff with jitter, or give up (past ``max_restarts`` within
   ``period_s``, or ``restart = "temporary"``). ``permanent`` and
   ``transient`` children are both restarted after a failure; they differ
   only for a child that stops by itself, which no tradepit actor does.
3. A restart starts the replacement from the handover state, then delivers
   the unhandled and held messages before anything newer: only the message
   that caused the failure is lost to the failed actor. ``ActorRestarted``.
4. Giving up depends on the kind: a strategy is **quarantined** (stopped,
   its working orders cancelled or kept per ``open_orders``, messages for it
   dropped, ``StrategyQuarantined``; no other strategy is touched); an engine
   is marked down and, if active, **failed over**; a core actor (feed, risk, order
   manager, portfolio, event sink) **halts trading**: risk refuses new orders, every
   engine cancels its working orders, ``TradingHalted``, and ``on_escalate``
   tells the runtime.

Hung actors: every ``health_interval_s`` each child is asked a ``Probe``.
One that has not answered within ``health_timeout_s`` is stuck in a handler:
it is revoked (it must not act again), its waiting messages are taken and a
copy of its state handed over, and it is replaced as if it had failed. An
engine that answers unhealthy (its broker is unreachable) counts one engine
failure but keeps running.

Engines: every engine failure (crash, stuck, unhealthy probe, ``EngineFault``
from its adapter) goes to :class:`~runtime.failover.Failover`. At
``failover_threshold`` failures of the active engine, the order manager is
told to route new orders to the next engine; the old engine is asked to
reconcile its working orders, and if it does not answer in
``health_timeout_s`` (or answers that it cannot reach its broker) the order
manager reports those orders UNKNOWN.
``failback_after_s`` later the primary is probed and restored once healthy.
``force`` pins an engine.

Operators change the children while the runtime runs (asked, answered or
raised to the caller): :class:`AddChild` starts one more (a strategy added;
a stopped or quarantined child's name may be reused), :class:`RemoveChild`
stops one for good (its record stays, STOPPED), and :class:`RestartChild`
restarts one now: a running child through the failure-restart path (its
state and unhandled messages to a fresh instance) without backoff and
without counting a failure; a quarantined strategy from its last state, with
a fresh restart history.

Everything the supervisor does runs in its own thread; its timers (backoff,
probes, failback) are messages it sends itself through a
:class:`~runtime.scheduler.Scheduler`.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pykka
from loguru import logger

from runtime.actor import LeanActor, actor_of, actor_thread
from runtime.config import ExecutionConfig, OpenOrderPolicy, SupervisionConfig
from runtime.directory import Address, Directory
from runtime.errors import StartupError
from runtime.failover import ExecutionStatus, Failover
from runtime.messages import (
    ActorFailed,
    ActorRestarted,
    ActorStarted,
    ActorStopped,
    CancelAll,
    Crash,
    EngineFailedBack,
    EngineFailedOver,
    EngineFault,
    Flush,
    GetSnapshot,
    Halt,
    Handshake,
    Order,
    OrderIntent,
    OrderStatus,
    Probe,
    Reconcile,
    RejectReason,
    RouteOrders,
    StartChildren,
    StopChildren,
    StrategyQuarantined,
    TradingHalted,
    cancel_request,
    next_id,
    unfilled_update,
)
from runtime.names import EVENTS, ORDER_PATH, ORDERS, RISK, ActorKind, engine_actor, strategy_actor
from runtime.restart import Restart, RestartTracker
from runtime.scheduler import Scheduler

__all__ = [
    "AddChild",
    "ChildSpec",
    "ChildState",
    "ChildStatus",
    "GetExecutionStatus",
    "PinEngine",
    "RemoveChild",
    "RestartChild",
    "Supervisor",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildSpec:
    """How to start one child."""

    name: str
    """Stable directory name."""
    kind: ActorKind
    """Actor kind: decides what giving up on it means."""
    start: Callable[[Any], pykka.ActorRef[Any]]
    """Starts the actor from a handover state (None the first time)."""
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    """Restart type, intensity, backoff, probes."""
    engine: str = ""
    """For engines: the ``[engines.NAME]`` name."""


class ChildState(StrEnum):
    """Where a child is in its life."""

    RUNNING = "running"
    RESTARTING = "restarting"
    """Failed; waiting out its backoff. Messages to it are held."""
    QUARANTINED = "quarantined"
    """A strategy past its restart intensity: stopped for good."""
    FAILED = "failed"
    """A core actor or engine past its restart intensity: stopped for good."""
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildStatus:
    """One child as answered to ``GetSnapshot``: a row of ``tradepit actors``."""

    name: str
    """Stable directory name."""
    kind: ActorKind
    """Actor kind."""
    state: ChildState
    """Running, restarting, quarantined, failed or stopped."""
    alive: bool
    """Whether it is processing messages."""
    failures: int
    """Failures since start (crashes, failed restarts, unanswered probes)."""
    restarts: int
    """Successful restarts since start."""
    last_error: str
    """The last failure, empty if none."""


@dataclass(frozen=True, slots=True)
class GetExecutionStatus:
    """Asked of the supervisor: answered with the :class:`ExecutionStatus`."""


@dataclass(frozen=True, slots=True)
class PinEngine:
    """Asked of the supervisor: pin ``engine`` and switch to it (empty: automatic again).

    Answered with the :class:`ExecutionStatus` after the change; raises
    ``ValueError`` for an engine that is not configured.
    """

    engine: str


@dataclass(frozen=True, slots=True)
class AddChild:
    """Asked of the supervisor: start one more child while running (a strategy an
    operator adds).

    It starts as at start-up (handshake, name registered, ``ActorStarted``,
    health probes) and is answered with its :class:`ChildStatus`. Raises
    :class:`~runtime.errors.StartupError` if it did not start (nothing of it is
    left: no name, no record), ``ValueError`` if a child of that name is
    running, restarting or failed (the name of a stopped or quarantined one is
    reused: its record is replaced), or for an engine (the failover list is
    fixed).
    """

    spec: ChildSpec


@dataclass(frozen=True, slots=True)
class RemoveChild:
    """Asked of the supervisor: stop one child for good (an operator removes a strategy).

    It stops as at shutdown (its ``on_stop`` runs; orders it was holding while
    restarting are answered); its record stays, STOPPED, for the status views.
    Answered with True when its thread ended, False when it did not in
    ``timeout_s``. Raises ``LookupError`` for a name the supervisor never started.
    """

    name: str
    """The child's directory name."""
    timeout_s: float | None = None
    """How long to wait for it; None: its ``shutdown_timeout_s``."""


@dataclass(frozen=True, slots=True)
class RestartChild:
    """Asked of the supervisor: restart one child now (an operator's decision).

    - RUNNING: it is stopped (its ``on_stop`` runs), its state
      (``handover(stuck=False)``, or a copy if it does not stop in time) and the
      messages it had not handled go to a fresh instance, as after a failure
      but without backoff and without counting a failure;
    - RESTARTING: the restart waiting out its backoff happens now;
    - QUARANTINED: it starts again from its last handed-over state (passed
      through ``revise`` first, when given), under a new name registration and
      with a fresh restart history.

    ``ActorRestarted`` is published and counted in ``restarts``. Answered with
    its :class:`ChildStatus` afterwards (RESTARTING or QUARANTINED again if the
    new instance failed to start). Raises ``LookupError`` for an unknown name
    and ``ValueError`` for a child that is stopped or failed for good.
    """

    name: str
    """The child's directory name."""
    revise: Callable[[Any], Any] | None = None
    """For a quarantined child: turns its last state (None if it had none) into
    the state the new instance starts from (brought up to date by the caller)."""


@dataclass(frozen=True, slots=True)
class _RestartDue:
    name: str
    attempt: int


@dataclass(frozen=True, slots=True)
class _ProbeDue:
    name: str
    urn: str


@dataclass(frozen=True, slots=True)
class _FailbackDue:
    switches: int


@dataclass(frozen=True, slots=True)
class _FailbackCheck:
    switches: int
    future: pykka.Future[Any] | None
    deadline: float


@dataclass(frozen=True, slots=True)
class _ReconcileDue:
    engine: str
    future: pykka.Future[Any] | None
    attempts: int = 1


_RECONCILE_ATTEMPTS = 3
"""Checks of an engine that is restarting before its orders are reported UNKNOWN."""


_POLL_S = 0.02
"""How often a pending failback probe is looked at."""


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    tracker: RestartTracker
    address: Address | None = None
    ref: pykka.ActorRef[Any] | None = None
    actor: LeanActor | None = None
    thread: threading.Thread | None = None
    state: ChildState = ChildState.RUNNING
    failures: int = 0
    restarts: int = 0
    last_error: str = ""
    carry: Any = None
    pending: list[Any] = field(default_factory=list)
    attempt: int = 0
    delay_s: float = 0.0
    restarts_in_window: int = 0
    probe: pykka.Future[Any] | None = None
    probe_sent: float = 0.0
    abandoned: list[threading.Thread] = field(default_factory=list)
    retired: list[LeanActor] = field(default_factory=list)

    @property
    def urn(self) -> str:
        return self.ref.actor_urn if self.ref is not None else ""


def _now_ns() -> int:
    return time.time_ns()


def _start_error(actor: LeanActor | None, exc: Exception) -> str:
    """Why an actor did not start: what its ``on_start`` raised when the actor
    recorded it (``start_error``), else what the handshake got (the actor had
    stopped before answering it)."""
    cause = getattr(actor, "start_error", "")
    return cause if isinstance(cause, str) and cause else str(exc)


class Supervisor(LeanActor):
    """Starts, watches, restarts and stops the runtime's actors."""

    kind = ActorKind.SUPERVISOR

    def __init__(
        self,
        *,
        name: str,
        directory: Directory,
        children: Sequence[ChildSpec],
        start_timeout_s: float = 10.0,
        on_escalate: Callable[[str], None] | None = None,
        execution: ExecutionConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(name=name, directory=directory)
        self._specs = tuple(children)
        self._rng = rng if rng is not None else random.Random()
        self._children = {
            s.name: _Child(spec=s, tracker=RestartTracker(s.supervision, self._rng))
            for s in self._specs
        }
        self._started: list[str] = []
        self._unstarted: list[tuple[str, threading.Thread]] = []
        """Threads of actors refused at start that did not stop (joined at the end)."""
        self._start_timeout_s = start_timeout_s
        self._on_escalate = on_escalate
        engines = tuple(s.engine for s in self._specs if s.kind is ActorKind.ENGINE)
        execution = execution or ExecutionConfig(engines=engines)
        self._failover = (
            Failover(
                engines,
                threshold=execution.failover_threshold,
                failback_after_s=execution.failback_after_s,
                force=execution.force,
            )
            if engines
            else None
        )
        self._halted = ""
        self._scheduler: Scheduler | None = None

    # --- messages ------------------------------------------------------------------

    def setup(self) -> None:
        self._scheduler = Scheduler(self.actor_ref.tell, name=f"tradepit-{self.name}-timers")

    def on_stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.close()

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        if kind is StopChildren:
            return self._stop_some(message.timeout_s, message.names)
        if kind is StartChildren:
            self._start_all()
            return None
        if kind is GetSnapshot:
            return self.status()
        if kind is GetExecutionStatus:
            return self.execution_status()
        if kind is PinEngine:
            return self._pin(message.engine)
        # Operator requests: what goes wrong is answered to the one who asked.
        if kind is AddChild:
            return self._add_child(message.spec)
        if kind is RemoveChild:
            return self._remove_child(message.name, message.timeout_s)
        if kind is RestartChild:
            return self._restart_child(message.name, message.revise)
        # Failure handling must never take the supervisor down: whatever goes
        # wrong in it is logged and the supervisor keeps serving.
        try:
            if kind is ActorFailed:
                self._on_failed(message)
            elif kind is EngineFault:
                self._publish(message)
                self._engine_failure(message.engine, message.error)
            elif kind is _RestartDue:
                self._restart_due(message)
            elif kind is _ProbeDue:
                self._probe_due(message)
            elif kind is _FailbackDue:
                self._failback_due(message)
            elif kind is _FailbackCheck:
                self._failback_check(message)
            elif kind is _ReconcileDue:
                self._reconcile_due(message)
            elif kind is not Flush:
                logger.error("supervisor: ignored a {} it cannot handle", kind.__name__)
        except Exception:
            logger.exception("supervisor: error while handling {}", kind.__name__)
        return None

    def _crash(self, crash: Crash) -> None:
        # The supervisor is the root: nobody would restart it.
        logger.error("supervisor: refused a request to crash ({})", crash.mode)

    # --- views ---------------------------------------------------------------------

    def status(self) -> tuple[ChildStatus, ...]:
        """Every child ever started, in start order (one added while running: just
        before the feed)."""
        return tuple(self._status_of(self._children[n]) for n in self._started)

    @staticmethod
    def _status_of(child: _Child) -> ChildStatus:
        return ChildStatus(
            name=child.spec.name,
            kind=child.spec.kind,
            state=child.state,
            alive=child.ref is not None and child.ref.is_alive(),
            failures=child.failures,
            restarts=child.restarts,
            last_error=child.last_error,
        )

    def execution_status(self) -> ExecutionStatus | None:
        """Active engine, backups, failure counts, recovery state; None without engines."""
        return self._failover.status() if self._failover is not None else None

    # --- start and stop ------------------------------------------------------------

    def _publish(self, event: object) -> None:
        self.directory.tell(EVENTS, event)

    def _start_all(self) -> None:
        for spec in self._specs:
            try:
                ref, address = self._start_child(spec)
            except StartupError:
                self._stop_some(self._start_timeout_s, None)
                raise
            child = self._children[spec.name]
            child.address = address
            self._attach(child, ref)
            self._started.append(spec.name)
            self._announce_started(spec)

    def _announce_started(self, spec: ChildSpec) -> None:
        now = _now_ns()
        self._publish(
            ActorStarted(id=next_id(), ts_event=now, ts_init=now, name=spec.name, kind=spec.kind)
        )

    def _start_child(self, spec: ChildSpec) -> tuple[pykka.ActorRef[Any], Address]:
        """Start ``spec`` from nothing and give it its name; on any failure stop it,
        take the name back and raise :class:`StartupError`.

        The handshake is asked before the name is registered (so it is the first
        message), and the name registered before the start completes (so that
        nothing told to it once its ``on_start`` has run, such as an update of an
        order it sent there, is lost).
        """
        what = f"{spec.name} ({spec.kind})"
        try:
            ref = spec.start(None)
        except Exception as exc:
            raise StartupError(f"{what} failed to start: {exc}") from exc
        actor = actor_of(ref)  # kept alive here: it may know why it did not start
        handshake = ref.ask(Handshake(), block=False)
        address = self.directory.register(spec.name, ref)
        try:
            handshake.get(timeout=self._start_timeout_s)
        except Exception as exc:
            held = self.directory.unregister(spec.name)
            if actor is not None:  # refused: nothing it does once its start returns counts
                actor.revoke()
                actor.release()
            stuck = self._abandon(ref)
            thread = actor_thread(ref)
            if stuck and thread is not None:
                self._unstarted.append((spec.name, thread))
            if held:
                self._bounce(held, RejectReason.SHUTDOWN, f"{spec.name} failed to start")
            if isinstance(exc, pykka.Timeout):
                raise StartupError(
                    f"{what} did not finish starting within {self._start_timeout_s:g}s"
                    + (" and did not stop" if stuck else "")
                ) from None
            raise StartupError(f"{what} failed to start: {_start_error(actor, exc)}") from exc
        return ref, address

    # --- operator requests: add, remove, restart one child -----------------------

    def _add_child(self, spec: ChildSpec) -> ChildStatus:
        if spec.kind is ActorKind.ENGINE:
            raise ValueError(f"{spec.name}: engines cannot be added while running")
        old = self._children.get(spec.name)
        if old is not None and old.state not in (ChildState.STOPPED, ChildState.QUARANTINED):
            raise ValueError(f"{spec.name} already exists ({old.state.value})")
        ref, address = self._start_child(spec)
        child = _Child(spec=spec, tracker=RestartTracker(spec.supervision, self._rng))
        if old is not None:
            # Threads of earlier incarnations are still joined at stop, and restart
            # timers of the old record (numbered by attempt) can never match this one.
            child.abandoned = old.abandoned
            child.attempt = old.attempt
        child.address = address
        self._children[spec.name] = child
        self._attach(child, ref)
        if spec.name not in self._started:
            feeds = [i for i, n in enumerate(self._started) if self._is_feed(n)]
            self._started.insert(feeds[0] if feeds else len(self._started), spec.name)
        self._announce_started(spec)
        return self._status_of(child)

    def _is_feed(self, name: str) -> bool:
        return self._children[name].spec.kind is ActorKind.FEED

    def _remove_child(self, name: str, timeout_s: float | None) -> bool:
        child = self._children.get(name)
        if child is None or name not in self._started:
            raise LookupError(f"no actor named {name!r}")
        timeout = child.spec.supervision.shutdown_timeout_s if timeout_s is None else timeout_s
        return not self._stop_some(timeout, (name,))

    def _restart_child(self, name: str, revise: Callable[[Any], Any] | None) -> ChildStatus:
        child = self._children.get(name)
        if child is None or name not in self._started:
            raise LookupError(f"no actor named {name!r}")
        state = child.state
        if state is ChildState.RUNNING:
            self._restart_now(child)
        elif state is ChildState.RESTARTING:
            child.attempt += 1  # the restart scheduled after its backoff becomes stale
            child.delay_s = 0.0
            self._restart_due(_RestartDue(name, child.attempt))
        elif state is ChildState.QUARANTINED:
            self._revive(child, revise)
        else:
            raise ValueError(
                f"{name} is {state.value}: only a running, restarting or quarantined "
                "actor can be restarted"
            )
        return self._status_of(child)

    def _restart_now(self, child: _Child) -> None:
        """Stop a running child and start a fresh instance from its state and messages."""
        spec = child.spec
        assert child.address is not None and child.ref is not None
        child.address.hold()  # from now on messages wait for the new instance
        actor, thread, ref = child.actor, child.thread, child.ref
        timeout = spec.supervision.shutdown_timeout_s
        try:
            ref.stop(block=True, timeout=timeout)
        except pykka.Timeout:  # stuck in a handler: replaced as a stuck actor is
            logger.error("{} did not stop within {:g}s for its restart", spec.name, timeout)
        except pykka.ActorDeadError:
            pass  # it failed a moment ago: that report is now late, and ignored
        except Exception as exc:  # its on_stop raised: it stopped all the same
            logger.error("{} failed while stopping for its restart: {!r}", spec.name, exc)
        if thread is not None and not ref.is_alive():
            thread.join(timeout)
        taken: list[Any] = []
        carry: Any = None
        if actor is not None:
            if thread is not None and thread.is_alive():
                taken, carry = self._retire(child, actor, ref, thread)
            else:
                taken = [*actor.leftovers, *actor.take_inbox()]
                actor.leftovers.clear()
                carry = self._handover(child, actor, stuck=False)
        child.ref = child.actor = child.thread = None
        child.probe = None
        child.carry = carry
        child.pending = taken + child.pending
        child.state = ChildState.RESTARTING
        child.attempt += 1
        child.delay_s = 0.0
        self._restart_due(_RestartDue(spec.name, child.attempt))

    def _revive(self, child: _Child, revise: Callable[[Any], Any] | None) -> None:
        """Start a quarantined child again from its last state, with a fresh history."""
        carry = revise(child.carry) if revise is not None else child.carry
        child.carry = carry
        child.pending = []
        child.tracker = RestartTracker(child.spec.supervision, self._rng)
        child.state = ChildState.RESTARTING
        child.attempt += 1
        child.delay_s = 0.0
        child.restarts_in_window = 0
        self._restart_due(_RestartDue(child.spec.name, child.attempt))

    def _attach(self, child: _Child, ref: pykka.ActorRef[Any]) -> None:
        child.ref = ref
        child.actor = actor_of(ref)
        child.thread = actor_thread(ref)
        child.state = ChildState.RUNNING
        child.probe = None
        self._schedule_probe(child, child.spec.supervision.health_interval_s)

    def _abandon(self, ref: pykka.ActorRef[Any]) -> bool:
        """Stop an actor that failed its start; True if its thread is still running."""
        thread = actor_thread(ref)
        with contextlib.suppress(pykka.ActorDeadError):
            ref.stop(block=False)
        if thread is None:
            return False
        thread.join(self._start_timeout_s)
        return thread.is_alive()

    def _stop_some(self, timeout_s: float, names: tuple[str, ...] | None) -> tuple[str, ...]:
        """Stop children in reverse start order; return names whose thread did not end."""
        stuck = []
        for name in reversed(self._started):
            if names is not None and name not in names:
                continue
            child = self._children[name]
            if child.state is ChildState.STOPPED:
                continue
            was_running = child.state is ChildState.RUNNING and child.ref is not None
            child.state = ChildState.STOPPED  # cancels a pending restart
            if was_running and child.ref is not None:
                now = _now_ns()
                self._publish(
                    ActorStopped(
                        id=next_id(), ts_event=now, ts_init=now, name=name, kind=child.spec.kind
                    )
                )
                try:
                    child.ref.stop(block=True, timeout=timeout_s)
                except pykka.Timeout:
                    logger.error("{} did not stop within {}s", name, timeout_s)
                except pykka.ActorDeadError:
                    pass
                except Exception as exc:  # its on_stop raised (even SystemExit): go on
                    logger.error("{} failed while stopping: {!r}", name, exc)
            held = self._take_late(child) + self.directory.unregister(name) + child.pending
            child.pending = []
            if held:
                # Orders waiting for a replacement that will not come are answered.
                self._bounce(held, RejectReason.SHUTDOWN, f"{name} stopped while restarting")
                logger.warning("{} stopped with {} messages undelivered", name, len(held))
            if child.thread is not None:
                child.thread.join(timeout_s)
                if child.thread.is_alive() and child.actor is not None:
                    # Still in a handler: whatever it does when it returns (an order of a
                    # removed strategy) must not count.
                    child.actor.revoke()
                    child.actor.release()
            # Abandoned threads were stuck and have been released: a short wait
            # each, so that many of them cannot make the whole stop time out.
            for thread in child.abandoned:
                thread.join(min(timeout_s, 1.0))
            threads = [t for t in (child.thread, *child.abandoned) if t is not None]
            if any(t.is_alive() for t in threads):
                stuck.append(name)
            child.ref = child.actor = None
        if names is None:
            for name, thread in self._unstarted:
                thread.join(min(timeout_s, 1.0))
                if thread.is_alive():
                    stuck.append(name)
        return tuple(stuck)

    # --- failures ------------------------------------------------------------------

    def _on_failed(self, event: ActorFailed) -> None:
        child = self._children.get(event.name)
        if child is None or child.state is not ChildState.RUNNING or child.urn != event.actor_urn:
            # About an incarnation already replaced (or a failed restart attempt,
            # counted when it happened): counting it again would be wrong.
            logger.debug("supervisor: late failure report of {} ignored", event.name)
            return
        self._fail(child, event.error, stuck=False, event=event)

    def _fail(self, child: _Child, error: str, *, stuck: bool, event: ActorFailed | None) -> None:
        """Take the failed child's messages and state, then restart or give up."""
        now = time.monotonic()
        spec = child.spec
        assert child.address is not None
        child.address.hold()
        actor, thread, urn = child.actor, child.thread, child.urn
        if not stuck and thread is not None:
            thread.join(spec.supervision.shutdown_timeout_s)
            stuck = thread.is_alive()
        taken: list[Any] = []
        carry: Any = None
        if actor is not None and child.ref is not None:
            if stuck:
                taken, carry = self._retire(child, actor, child.ref, thread)
            else:
                taken.extend(actor.leftovers)
                taken.extend(actor.take_inbox())
                carry = self._handover(child, actor, stuck=False)
        child.ref = child.actor = child.thread = None
        child.probe = None
        child.carry = carry
        child.pending = taken + child.pending
        child.failures += 1
        child.last_error = error
        child.state = ChildState.RESTARTING
        if event is None:
            wall = _now_ns()
            event = ActorFailed(
                id=next_id(),
                ts_event=wall,
                ts_init=wall,
                name=spec.name,
                kind=spec.kind,
                error=error,
                actor_urn=urn,
            )
        self._publish(event)  # logged by the event sink
        if spec.kind is ActorKind.ENGINE:
            if stuck and carry is None:
                # A fresh adapter will replace the stuck one: what was working
                # there can no longer be known from here.
                self._mark_unknown(spec.name, child)
            self._engine_failure(spec.engine, error)
        self._decide(child, now)

    def _handover(self, child: _Child, actor: LeanActor, *, stuck: bool) -> Any:
        try:
            return actor.handover(stuck)
        except Exception:
            logger.exception("supervisor: {} could not hand over its state", child.spec.name)
            return None

    def _retire(
        self,
        child: _Child,
        actor: LeanActor,
        ref: pykka.ActorRef[Any],
        thread: threading.Thread | None,
    ) -> tuple[list[Any], Any]:
        """Take a stuck actor's place: revoke it first (whatever it takes from now on
        is kept for the replacement), take its messages and a copy of its state,
        then release what keeps it stuck and ask it to stop."""
        actor.revoke()
        taken = actor.take_inbox()
        carry = self._handover(child, actor, stuck=True)
        actor.release()
        with contextlib.suppress(pykka.ActorDeadError):
            ref.stop(block=False)
        if thread is not None:
            child.abandoned.append(thread)
        child.retired.append(actor)
        return taken, carry

    def _decide(self, child: _Child, now: float, *, inline: bool = True) -> None:
        """Restart (after the backoff) or give up. A restart without backoff runs at
        once when ``inline``, else through the mailbox (never recursively)."""
        decision = child.tracker.on_failure(now)
        if isinstance(decision, Restart):
            child.attempt += 1
            child.delay_s = decision.delay_s
            child.restarts_in_window = decision.restarts
            due = _RestartDue(child.spec.name, child.attempt)
            if decision.delay_s <= 0 and inline:
                self._restart_due(due)
            elif decision.delay_s <= 0:
                self.actor_ref.tell(due)
            else:
                assert self._scheduler is not None
                self._scheduler.after(decision.delay_s, due)
        else:
            self._give_up(child, decision.reason)

    def _restart_due(self, due: _RestartDue) -> None:
        child = self._children.get(due.name)
        if (
            child is None
            or child.state is not ChildState.RESTARTING
            or child.attempt != due.attempt
        ):
            return
        spec = child.spec
        ref: pykka.ActorRef[Any] | None = None
        attempt: LeanActor | None = None
        try:
            ref = spec.start(child.carry)
            attempt = actor_of(ref)
            handshake = ref.ask(Handshake(), block=False)
            if child.address is None or child.address.closed:
                # A quarantined child revived: its name was given up. It is registered
                # again before its start completes, so that nothing sent to it after
                # its on_start is lost.
                child.address = self.directory.register(spec.name, ref)
            handshake.get(timeout=self._start_timeout_s)
        except Exception as exc:
            # One failed attempt: counted once (its own report is ignored as late).
            error = f"restart failed: {type(exc).__name__}: {exc}"
            if isinstance(exc, pykka.Timeout):
                error = f"restart failed: not started within {self._start_timeout_s:g}s"
            if ref is not None:
                if child.address is not None and child.address.ref is ref:
                    child.address.hold()
                self._drop_attempt(child, ref)
                if attempt is not None and attempt not in child.retired and attempt.leftovers:
                    # Told to it through its new registration before it died.
                    child.pending = [*attempt.leftovers, *child.pending]
                    attempt.leftovers.clear()
            child.failures += 1
            child.last_error = error
            logger.error("{} ({}) {}", spec.name, spec.kind, error)
            self._decide(child, time.monotonic(), inline=False)
            return
        assert child.address is not None
        self._attach(child, ref)
        delivered = child.address.resume(ref, self._take_late(child) + child.pending)
        child.pending = []
        child.carry = None
        child.restarts += 1
        now = _now_ns()
        self._publish(
            ActorRestarted(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                name=spec.name,
                kind=spec.kind,
                restarts=child.restarts_in_window,
                delay_s=child.delay_s,
                redelivered=delivered,
            )
        )

    @staticmethod
    def _take_late(child: _Child) -> list[Any]:
        """Messages retired incarnations took after they were revoked, oldest first;
        a retired actor is forgotten once its thread has ended."""
        late: list[Any] = []
        for actor in child.retired:
            late += actor.late
            actor.late.clear()
        child.retired = [a for a in child.retired if a.thread is not None and a.thread.is_alive()]
        return late

    def _drop_attempt(self, child: _Child, ref: pykka.ActorRef[Any]) -> None:
        """A replacement that did not start: if its thread still runs (stuck in its
        start), it is retired like a stuck actor, since it holds the handed state."""
        actor, thread = actor_of(ref), actor_thread(ref)
        if thread is not None:
            thread.join(min(1.0, self._start_timeout_s))
        if actor is None or thread is None or not thread.is_alive():
            return  # it ended: the handed state is as it left it
        taken, carry = self._retire(child, actor, ref, thread)
        child.pending = taken + child.pending
        child.carry = carry
        if child.spec.kind is ActorKind.ENGINE and carry is None:
            self._mark_unknown(child.spec.name, child)

    def _give_up(self, child: _Child, reason: str) -> None:
        spec = child.spec
        held = self._take_late(child) + self.directory.unregister(spec.name)
        error = child.last_error
        child.last_error = f"{error} ({reason})" if error else reason
        logger.error("{} ({}) given up: {}", spec.name, spec.kind, reason)
        if spec.kind is ActorKind.STRATEGY:
            child.state = ChildState.QUARANTINED
            self._quarantine(child, error, len(held))
        elif spec.kind is ActorKind.ENGINE:
            child.state = ChildState.FAILED
            self._bounce(
                held + child.pending, RejectReason.NO_ENGINE, f"engine {spec.engine!r} is down"
            )
            child.pending = []
            self._mark_unknown(spec.name, child)
            assert self._failover is not None
            target = self._failover.mark_down(spec.engine)
            if target is not None:
                self._switch(target, f"{spec.name} down: {reason}")
        else:
            child.state = ChildState.FAILED
            self._bounce(
                held + child.pending, RejectReason.HALTED, f"trading halted: {spec.name} failed"
            )
            child.pending = []
            self._halt(spec.name, f"{spec.name} ({spec.kind}) failed: {error} ({reason})")

    def _quarantine(self, child: _Child, error: str, dropped: int) -> None:
        spec = child.spec
        strategy_id = spec.name.removeprefix(strategy_actor(""))
        policy = spec.supervision.open_orders
        open_orders: tuple[str, ...] = ()
        book = child.carry
        if book is not None:
            open_orders = tuple(getattr(book, "open_orders", ()))
        if policy is OpenOrderPolicy.CANCEL:
            engines = tuple(c.spec.name for c in self._engine_children())
            for client_order_id in open_orders:
                # Through risk, behind any intent of the strategy still on its way;
                # then the order manager; if both are gone (trading halted), every
                # engine gets the cancel and the one holding the order acts on it.
                cancel = cancel_request(client_order_id, strategy_id)
                self.directory.tell_along(ORDER_PATH, cancel, engines)
        if dropped:
            logger.warning(
                "{}: {} messages for the quarantined strategy dropped", spec.name, dropped
            )
        now = _now_ns()
        self._publish(
            StrategyQuarantined(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                strategy_id=strategy_id,
                failures=child.failures,
                error=error,
                open_orders=policy.value,
            )
        )
        # The carry is kept: an operator may start the strategy again from it.
        child.pending = []

    def _bounce(self, held: list[Any], reason: RejectReason, text: str) -> None:
        """Answer the orders an actor given up on was holding: none is dropped silently.

        The answer goes through the order manager (the owner of order state);
        if that is what was given up on, straight to the strategy and the stream.
        """
        for message in held:
            if type(message) is OrderIntent or type(message) is Order:
                update = unfilled_update(message, OrderStatus.REJECTED, reason, text)
                if not self.directory.tell(ORDERS, update):
                    self.directory.tell(strategy_actor(message.strategy_id), update)
                    self._publish(update)

    def _halt(self, actor: str, reason: str) -> None:
        if self._halted:
            return
        self._halted = reason
        now = _now_ns()
        self._publish(
            TradingHalted(id=next_id(), ts_event=now, ts_init=now, actor=actor, reason=reason)
        )
        self.directory.tell(RISK, Halt(reason))
        cancel = CancelAll(RejectReason.HALTED, f"trading halted: {reason}")
        for child in self._engine_children():
            if child.address is not None:
                child.address.tell(cancel)
        if self._on_escalate is not None:
            self._on_escalate(reason)

    def _engine_children(self) -> list[_Child]:
        return [c for c in self._children.values() if c.spec.kind is ActorKind.ENGINE]

    # --- health probes ---------------------------------------------------------------

    def _schedule_probe(self, child: _Child, delay_s: float) -> None:
        if self._scheduler is not None and child.ref is not None:
            self._scheduler.after(delay_s, _ProbeDue(child.spec.name, child.ref.actor_urn))

    def _probe_due(self, due: _ProbeDue) -> None:
        child = self._children.get(due.name)
        if child is None or child.state is not ChildState.RUNNING or child.urn != due.urn:
            return
        config = child.spec.supervision
        now = time.monotonic()
        if child.probe is None:
            assert child.address is not None
            child.probe = child.address.ask_later(Probe())
            child.probe_sent = now
            self._schedule_probe(child, min(config.health_interval_s, config.health_timeout_s))
            return
        try:
            healthy = child.probe.get(timeout=0)
        except pykka.Timeout:
            waited = now - child.probe_sent
            if waited >= config.health_timeout_s:
                self._fail(
                    child,
                    f"no answer to a health probe within {config.health_timeout_s:g}s",
                    stuck=True,
                    event=None,
                )
            else:
                self._schedule_probe(child, config.health_timeout_s - waited)
            return
        except pykka.ActorDeadError:  # it failed meanwhile: its failure report is on its way
            return
        except Exception as exc:  # healthy() itself raised: unhealthy, keep probing
            logger.warning("{}: health probe raised {!r}", child.spec.name, exc)
            healthy = False
        child.probe = None
        if healthy is False and child.spec.kind is ActorKind.ENGINE:
            self._engine_failure(child.spec.engine, "unhealthy: its broker is unreachable")
        self._schedule_probe(
            child, max(0.0, child.probe_sent + config.health_interval_s - time.monotonic())
        )

    # --- engines: failover and failback --------------------------------------------

    def _engine_failure(self, engine: str, error: str) -> None:
        if self._failover is None or engine not in self._failover.engines:
            return
        target = self._failover.record_failure(engine)
        if target is not None:
            self._switch(target, error)

    def _switch(self, engine: str, reason: str) -> None:
        failover = self._failover
        assert failover is not None
        now = time.monotonic()
        previous = failover.switch(engine, now=now, wall_ns=_now_ns())
        self.directory.tell(ORDERS, RouteOrders(engine_actor(engine)))
        # Reconcile what is working at the previous engine, where it answers.
        old = self.directory.get(engine_actor(previous))
        future = old.ask_later(Reconcile()) if old is not None else None
        timeout = self._children[engine_actor(previous)].spec.supervision.health_timeout_s
        assert self._scheduler is not None
        self._scheduler.after(timeout, _ReconcileDue(previous, future))
        wall = _now_ns()
        status = failover.status()
        if engine == failover.primary:
            event: object = EngineFailedBack(
                id=next_id(), ts_event=wall, ts_init=wall, previous=previous, engine=engine
            )
        else:
            failures = dict(status.failures)[previous]
            event = EngineFailedOver(
                id=next_id(),
                ts_event=wall,
                ts_init=wall,
                previous=previous,
                engine=engine,
                failures=failures,
                reason=reason,
            )
        self._publish(event)
        when = failover.failback_at()
        if when is not None:
            self._scheduler.at(when, _FailbackDue(status.switches))

    def _reconcile_due(self, due: _ReconcileDue) -> None:
        child = self._children[engine_actor(due.engine)]
        if due.future is None and due.attempts < _RECONCILE_ATTEMPTS:
            # It was down when asked (restarting after a crash, with its adapter):
            # ask again once it runs, rather than declare its orders unknown.
            future = None
            if child.state is ChildState.RUNNING and child.address is not None:
                future = child.address.ask_later(Reconcile())
            if future is not None or child.state is ChildState.RESTARTING:
                assert self._scheduler is not None
                self._scheduler.after(
                    child.spec.supervision.health_timeout_s,
                    _ReconcileDue(due.engine, future, due.attempts + 1),
                )
                return
        if due.future is not None:
            try:
                healthy, _working = due.future.get(timeout=0)
            except Exception as exc:
                logger.warning("engine {} did not reconcile: {!r}", due.engine, exc)
            else:
                if healthy:
                    return
                logger.warning("engine {} cannot reach its broker to reconcile", due.engine)
        self._mark_unknown(engine_actor(due.engine), child)

    def _mark_unknown(self, engine_name: str, child: _Child) -> None:
        """Tell the order manager that what is working at ``engine_name`` is unknown now, except
        the orders it has not received yet (held or taken for its replacement)."""
        if self._failover is None:
            return
        waiting = [*child.pending, *(child.address.held_messages() if child.address else [])]
        keep = tuple(m.client_order_id for m in waiting if type(m) is Order)
        self.directory.tell(
            ORDERS,
            RouteOrders(engine_actor(self._failover.active), unknown_at=engine_name, keep=keep),
        )

    def _failback_due(self, due: _FailbackDue) -> None:
        failover = self._failover
        if failover is None or failover.status().switches != due.switches:
            return
        if failover.failback_at() is None:
            return
        primary = self._children[engine_actor(failover.primary)]
        future = (
            primary.address.ask_later(Probe())
            if primary.address is not None and primary.state is ChildState.RUNNING
            else None
        )
        deadline = time.monotonic() + primary.spec.supervision.health_timeout_s
        self._failback_check(_FailbackCheck(due.switches, future, deadline))

    def _failback_check(self, check: _FailbackCheck) -> None:
        failover = self._failover
        assert failover is not None and self._scheduler is not None
        if failover.status().switches != check.switches:
            return
        healthy = False
        if check.future is not None:
            try:
                healthy = check.future.get(timeout=0) is True
            except pykka.Timeout:
                if time.monotonic() < check.deadline:
                    self._scheduler.after(_POLL_S, check)
                    return
            except Exception:
                healthy = False
        if healthy and failover.failback_at() is not None:
            self._switch(failover.primary, "primary healthy again")
            return
        now = time.monotonic()
        failover.failback_failed(now)
        logger.info("failback: primary {} not healthy yet", failover.primary)
        when = failover.failback_at()
        if when is not None:
            self._scheduler.at(when, _FailbackDue(check.switches))

    def _pin(self, engine: str) -> ExecutionStatus:
        failover = self._failover
        if failover is None:
            raise ValueError("this runtime has no engines")
        if engine and engine in failover.status().down:
            raise ValueError(f"engine {engine!r} is down (failed past its restarts)")
        failover.pin(engine)
        if engine and engine != failover.active:
            self._switch(engine, "forced")
        elif not engine:
            when = failover.failback_at()
            if when is not None and self._scheduler is not None:
                self._scheduler.at(when, _FailbackDue(failover.status().switches))
        return failover.status()
