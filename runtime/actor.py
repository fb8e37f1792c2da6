"""The base class of every tradepit actor.

It is a pykka ``ThreadingActor`` with three changes:

- the inbox is a ``queue.SimpleQueue`` (no lock and condition per message as
  in ``queue.Queue``): the market-data hot path goes through several
  mailboxes, and this roughly halves the per-hop cost;
- the thread is kept (``thread``, and :func:`actor_thread` by reference) so the
  runtime can join every actor thread
  on shutdown and prove that none outlives it;
- a ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``) raised while
  handling a message or in ``on_start`` is re-raised as
  :class:`~runtime.errors.ActorCrashError`. pykka would otherwise stop *every*
  actor; this way only the offending actor fails;
- messages still in the inbox when the actor stops are kept in
  ``leftovers`` instead of being dropped: the supervisor hands them to the
  replacement of a failed actor, so a crash loses only the message that
  caused it.

Failures are reported to the supervisor (name ``supervisor`` in the
:class:`~runtime.directory.Directory`) as an ``ActorFailed`` message carrying
the actor's URN, so that a report about an incarnation already replaced is
recognised as late. Every actor answers the supervisor's ``Probe`` from its
mailbox with :meth:`LeanActor.healthy`; one stuck in a handler does not answer.

What survives a restart is explicit: :meth:`LeanActor.handover` returns the
state the replacement starts from (a strategy host's books, an engine's
adapter...); each actor kind's constructor takes it back as ``carry``.
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from types import TracebackType
from typing import Any, ClassVar

import pykka
from loguru import logger
from pykka.messages import _ActorStop

from runtime.directory import Directory
from runtime.errors import ActorCrashError
from runtime.messages import ActorFailed, Crash, Handshake, Probe, next_id
from runtime.names import SUPERVISOR, ActorKind

__all__ = ["LeanActor", "actor_of", "actor_thread"]

_THREADS: weakref.WeakValueDictionary[str, threading.Thread] = weakref.WeakValueDictionary()
_ACTORS: weakref.WeakValueDictionary[str, LeanActor] = weakref.WeakValueDictionary()


def actor_thread(ref: pykka.ActorRef[Any]) -> threading.Thread | None:
    """The thread running the actor behind ``ref`` (None once it is gone)."""
    return _THREADS.get(ref.actor_urn)


def actor_of(ref: pykka.ActorRef[Any]) -> LeanActor | None:
    """The actor object behind ``ref``, for its supervisor (None once collected)."""
    return _ACTORS.get(ref.actor_urn)


class LeanActor(pykka.ThreadingActor):
    """A named actor with a lean inbox that reports its failures."""

    kind: ClassVar[ActorKind]
    """The actor's kind, as shown in events and status views."""

    def __init__(self, *, name: str, directory: Directory) -> None:
        super().__init__()
        self.name = name
        self.directory = directory
        self.thread: threading.Thread | None = None
        self.leftovers: list[Any] = []
        """Messages told to it that it had not handled when it stopped."""
        self.revoked = False
        """Set when the supervisor replaced it while it was stuck: it must not act."""
        self.late: list[Any] = []
        """Messages it took from its inbox after it was revoked (for the replacement)."""
        self._unhang = threading.Event()
        self.start_error = ""
        """Why :meth:`setup` failed (``Type: message``), for the supervisor's report."""
        _ACTORS[self.actor_urn] = self

    @staticmethod
    def _create_actor_inbox() -> Any:
        return queue.SimpleQueue()

    def _start_actor_loop(self) -> None:
        self.thread = threading.Thread(
            target=self._actor_loop, name=f"tradepit-{self.name}", daemon=False
        )
        _THREADS[self.actor_urn] = self.thread
        self.thread.start()

    def _handle_receive(self, message: Any) -> Any:
        kind = type(message)
        if self.revoked and not kind.__module__.startswith("pykka"):
            # Replaced while stuck: whatever it still takes belongs to the replacement.
            self.late.append(message)
            return None
        if kind is Handshake:
            self.started()
            return None
        if kind is Probe:
            return self.healthy()
        try:
            if kind is Crash:
                return self._crash(message)
            return super()._handle_receive(message)
        except Exception:
            raise
        except BaseException as exc:
            raise ActorCrashError(f"{type(exc).__name__} raised in actor {self.name}") from exc

    def _actor_loop_teardown(self) -> None:
        # pykka's own teardown drops the told messages left in the inbox: it is not
        # called. One pass keeps every told message for a replacement and answers
        # the asks as pykka does. One pass, because ActorRef.tell checks is_alive()
        # and then puts: a sender that passed the check before the actor stopped
        # puts later, and a message put between two drains was lost. One put after
        # this pass stays in the inbox, for the supervisor's take_inbox().
        inbox: queue.SimpleQueue[Any] = self.actor_inbox  # type: ignore[assignment]
        while True:
            try:
                envelope = inbox.get_nowait()
            except queue.Empty:
                return
            if envelope.reply_to is None:
                self.leftovers.append(envelope.message)
            elif isinstance(envelope.message, _ActorStop):
                envelope.reply_to.set(None)
            else:
                dead = pykka.ActorDeadError(
                    f"{self.name} ({self.actor_ref}) stopped before handling the message"
                )
                envelope.reply_to.set_exception(exc_info=(pykka.ActorDeadError, dead, None))

    def take_inbox(self) -> list[Any]:
        """Remove and return the told messages waiting in the inbox (supervisor only,
        once the actor is stopped or stuck); asks waiting there are left in place."""
        taken: list[Any] = []
        kept: list[Any] = []
        inbox: queue.SimpleQueue[Any] = self.actor_inbox  # type: ignore[assignment]
        while True:
            try:
                envelope = inbox.get_nowait()
            except queue.Empty:
                break
            if envelope.reply_to is None:
                taken.append(envelope.message)
            else:
                kept.append(envelope)
        for envelope in kept:
            inbox.put(envelope)
        return taken

    def started(self) -> None:
        """Subclass hook: runs when the supervisor's start handshake arrives, i.e.
        as the first message, once the actor is registered and before any other."""

    def healthy(self) -> bool:
        """Answer to the supervisor's health probe; True unless a subclass knows better."""
        return True

    def handover(self, stuck: bool) -> Any:
        """State a replacement starts from (None: start fresh).

        Called by the supervisor after this actor failed: once its thread has
        ended (``stuck`` False: the state is the replacement's alone), or while
        its thread is stuck in a handler (``stuck`` True: return a copy, never
        objects the stuck thread may still change).
        """
        return None

    def revoke(self) -> None:
        """The supervisor is replacing this actor while it is stuck: it must not act
        again. From now on every message it takes goes to ``late``, unhandled."""
        self.revoked = True

    def release(self) -> None:
        """After :meth:`revoke` and the handover: free what may keep it stuck."""
        self._unhang.set()

    def _crash(self, crash: Crash) -> None:
        if crash.mode == "hang":
            self._unhang.wait(crash.hang_s)
            return
        if crash.mode == "exit":
            raise SystemExit(f"crash requested in {self.name}")
        raise RuntimeError(f"crash requested in {self.name}")

    def on_start(self) -> None:
        """Run :meth:`setup`, containing any BaseException and reporting failure."""
        try:
            self.setup()
        except BaseException as exc:
            self.start_error = f"{type(exc).__name__}: {exc}"
            self._report_failure(exc)
            if isinstance(exc, Exception):
                raise
            raise ActorCrashError(f"{type(exc).__name__} raised in actor {self.name}") from exc

    def setup(self) -> None:
        """Subclass hook: runs in the actor's thread before the first message."""

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """pykka calls this after an exception in a ``tell``: report it."""
        if exception_value is not None:
            self._report_failure(exception_value)

    def _report_failure(self, exc: BaseException) -> None:
        cause = exc.__cause__ if isinstance(exc, ActorCrashError) and exc.__cause__ else exc
        now = time.time_ns()
        # The supervisor first: formatting the traceback must not delay the restart.
        self.directory.tell(
            SUPERVISOR,
            ActorFailed(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                name=self.name,
                kind=self.kind,
                error=f"{type(cause).__name__}: {cause}",
                actor_urn=self.actor_urn,
            ),
        )
        logger.opt(exception=exc).error("actor {} ({}) failed: {!r}", self.name, self.kind, cause)
