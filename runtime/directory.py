"""Stable actor addresses: a name-to-current-actor map.

Actors never hold each other's references; they address each other by name
(``risk``, ``engine.paper``, ``strategy.sma``) through the :class:`Directory`.
Only the supervisor writes to it; when an actor is replaced, its name points
to the replacement and no dead reference is left behind.

The map is copy-on-write: a write builds a new dict under a lock and swaps it
in with one assignment, so readers (every message send) take no lock. It is
the one deliberately shared structure between actors, and it holds only
references to mailboxes, never trading state.
"""

from __future__ import annotations

import threading
from typing import Any

import pykka

__all__ = ["Directory"]


class Directory:
    """Name-to-``ActorRef`` map shared by the actors of one runtime."""

    def __init__(self) -> None:
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._lock = threading.Lock()
        self._version = 0

    @property
    def version(self) -> int:
        """Grows on every change; lets readers cache resolved references."""
        return self._version

    def register(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Point ``name`` at ``ref`` (replacing any previous actor)."""
        with self._lock:
            refs = dict(self._refs)
            refs[name] = ref
            self._refs = refs
            self._version += 1

    def unregister(self, name: str) -> None:
        """Forget ``name``; sends to it fail from now on."""
        with self._lock:
            if name not in self._refs:
                return
            refs = dict(self._refs)
            del refs[name]
            self._refs = refs
            self._version += 1

    def get(self, name: str) -> pykka.ActorRef[Any] | None:
        """The current actor behind ``name``, or None."""
        return self._refs.get(name)

    def names(self) -> tuple[str, ...]:
        """Every registered name, sorted."""
        return tuple(sorted(self._refs))

    def tell(self, name: str, message: object) -> bool:
        """Send without waiting; False when nobody answers to ``name`` now."""
        ref = self._refs.get(name)
        if ref is None:
            return False
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            return False
        return True

    def ask(self, name: str, message: object, timeout: float) -> Any:
        """Send and wait for the answer.

        Raises ``LookupError`` for an unknown name, ``pykka.ActorDeadError``
        when the actor stopped, ``pykka.Timeout`` after ``timeout`` seconds,
        and whatever the actor raised while handling the message.
        """
        ref = self._refs.get(name)
        if ref is None:
            raise LookupError(f"no actor named {name!r}")
        return ref.ask(message, timeout=timeout)
