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
  actor; this way only the offending actor fails.

Failures are reported to the supervisor (name ``supervisor`` in the
:class:`~runtime.directory.Directory`) as an ``ActorFailed`` message.
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

from runtime.directory import Directory
from runtime.errors import ActorCrashError
from runtime.messages import ActorFailed, Handshake, next_id
from runtime.names import SUPERVISOR, ActorKind

__all__ = ["LeanActor", "actor_thread"]

_THREADS: weakref.WeakValueDictionary[str, threading.Thread] = weakref.WeakValueDictionary()


def actor_thread(ref: pykka.ActorRef[Any]) -> threading.Thread | None:
    """The thread running the actor behind ``ref`` (None once it is gone)."""
    return _THREADS.get(ref.actor_urn)


class LeanActor(pykka.ThreadingActor):
    """A named actor with a lean inbox that reports its failures."""

    kind: ClassVar[ActorKind]
    """The actor's kind, as shown in events and status views."""

    def __init__(self, *, name: str, directory: Directory) -> None:
        super().__init__()
        self.name = name
        self.directory = directory
        self.thread: threading.Thread | None = None

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
        if type(message) is Handshake:
            return None
        try:
            return super()._handle_receive(message)
        except Exception:
            raise
        except BaseException as exc:
            raise ActorCrashError(f"{type(exc).__name__} raised in actor {self.name}") from exc

    def on_start(self) -> None:
        """Run :meth:`setup`, containing any BaseException and reporting failure."""
        try:
            self.setup()
        except BaseException as exc:
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
        logger.opt(exception=exc).error("actor {} ({}) failed: {!r}", self.name, self.kind, cause)
        self.directory.tell(
            SUPERVISOR,
            ActorFailed(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                name=self.name,
                kind=self.kind,
                error=f"{type(cause).__name__}: {cause}",
            ),
        )
