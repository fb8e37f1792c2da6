"""Stable actor addresses: a name-to-current-actor map.

Actors never hold each other's references; they address each other by name
(``risk``, ``engine.paper``, ``strategy.sma``) through the :class:`Directory`.
Each name is an :class:`Address`, a stable object that forwards to the actor
currently behind the name. Only the supervisor changes where an address
points.

While the actor behind an address is down (it failed and the supervisor has
not decided yet, or it is waiting out its restart backoff) the address
*holds* every message told to it, in order. The supervisor then either hands
the held messages to the replacement before anything newer
(:meth:`Address.resume`), or closes the address and answers each held
message itself (:meth:`Address.close`): nothing told to a name is dropped
silently. Asks are never held: an ask to an actor that is down raises
``pykka.ActorDeadError`` at once, so a caller never waits on a restart.

The map itself is copy-on-write: a write builds a new dict under a lock and
swaps it in with one assignment, so resolving a name takes no lock. Each
address has its own lock, taken for the length of one ``tell``: it is what
makes "held or delivered" exact when an actor fails while others are sending
to it. The directory is the one deliberately shared structure between
actors, and it holds only mailboxes, never trading state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import pykka
from loguru import logger

__all__ = ["Address", "Directory"]


class Address:
    """One stable name: forwards to the current actor, or holds messages while it is down."""

    __slots__ = ("_changed", "_closed", "_held", "_lock", "_ref", "name")

    def __init__(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._ref: pykka.ActorRef[Any] | None = ref
        self._held: list[Any] = []
        self._closed = False

    @property
    def ref(self) -> pykka.ActorRef[Any] | None:
        """The actor behind the name now; None while it is down or once closed."""
        return self._ref

    @property
    def closed(self) -> bool:
        """True once the name is gone for good: tells fail."""
        return self._closed

    def tell(self, message: object) -> bool:
        """Deliver or hold ``message``; False only once the address is closed."""
        with self._lock:
            ref = self._ref
            if ref is not None:
                try:
                    ref.tell(message)
                except pykka.ActorDeadError:
                    # It failed a moment ago: hold until the supervisor decides.
                    self._ref = None
                else:
                    return True
            if self._closed:
                return False
            self._held.append(message)
            return True

    def ask(self, message: object, timeout: float) -> Any:
        """Send and wait; ``ActorDeadError`` when the actor is down or gone."""
        ref = self._ref
        if ref is None:
            raise pykka.ActorDeadError(f"{self.name} is not running")
        return ref.ask(message, timeout=timeout)

    def wait_running(self, timeout: float) -> bool:
        """Wait until an actor is behind the name again (or it is closed); True if one is."""
        with self._changed:
            self._changed.wait_for(lambda: self._ref is not None or self._closed, timeout)
            return self._ref is not None

    def ask_later(self, message: object) -> pykka.Future[Any] | None:
        """Send an ask without waiting; None when the actor is down or gone."""
        ref = self._ref
        if ref is None:
            return None
        try:
            return ref.ask(message, block=False)
        except pykka.ActorDeadError:
            return None

    # --- the supervisor's side ---------------------------------------------------

    def hold(self) -> None:
        """Stop forwarding: from now on messages are held (the actor failed)."""
        with self._lock:
            self._ref = None

    def held_messages(self) -> list[Any]:
        """A copy of the messages held now, oldest first."""
        with self._lock:
            return list(self._held)

    def resume(self, ref: pykka.ActorRef[Any], first: list[Any]) -> int:
        """Point at ``ref``: deliver ``first`` (the failed actor's unhandled
        messages), then everything held, then new messages. Returns how many
        messages were delivered here.

        If ``ref`` fails while the backlog is being delivered, the rest stays
        held (in order) for the next replacement.
        """
        with self._lock:
            backlog = [*first, *self._held]
            for i, message in enumerate(backlog):
                try:
                    ref.tell(message)
                except pykka.ActorDeadError:
                    self._held = backlog[i:]
                    self._ref = None
                    return i
            self._held = []
            self._ref = ref
            self._closed = False
            self._changed.notify_all()
            return len(backlog)

    def close(self) -> list[Any]:
        """Gone for good: tells fail from now on. Returns the held messages."""
        with self._lock:
            self._closed = True
            self._ref = None
            held, self._held = self._held, []
            self._changed.notify_all()
            return held


class Directory:
    """Name-to-:class:`Address` map shared by the actors of one runtime."""

    def __init__(self) -> None:
        self._addresses: dict[str, Address] = {}
        self._lock = threading.Lock()
        self._version = 0

    @property
    def version(self) -> int:
        """Grows when a name is added or removed; lets readers cache addresses."""
        return self._version

    def register(self, name: str, ref: pykka.ActorRef[Any]) -> Address:
        """Give ``name`` to ``ref``: a new address, or the existing one resumed at ``ref``."""
        with self._lock:
            address = self._addresses.get(name)
            if address is not None:
                address.resume(ref, [])
                return address
            address = Address(name, ref)
            addresses = dict(self._addresses)
            addresses[name] = address
            self._addresses = addresses
            self._version += 1
            return address

    def unregister(self, name: str) -> list[Any]:
        """Forget ``name`` (its address closes); returns messages it still held."""
        with self._lock:
            address = self._addresses.get(name)
            if address is None:
                return []
            addresses = dict(self._addresses)
            del addresses[name]
            self._addresses = addresses
            self._version += 1
        return address.close()

    def get(self, name: str) -> Address | None:
        """The address of ``name``, or None."""
        return self._addresses.get(name)

    def names(self) -> tuple[str, ...]:
        """Every registered name, sorted."""
        return tuple(sorted(self._addresses))

    def tell(self, name: str, message: object) -> bool:
        """Send without waiting; False when nobody answers to ``name``."""
        address = self._addresses.get(name)
        if address is None:
            return False
        return address.tell(message)

    def tell_along(self, path: Sequence[str], message: object, fallback: Iterable[str]) -> None:
        """Tell the first name of ``path`` that answers; when none does, every name
        in ``fallback`` (a cancel on the orders' path: risk, the order manager, else
        each engine)."""
        if not any(self.tell(name, message) for name in path):
            for name in fallback:
                self.tell(name, message)

    def ask(self, name: str, message: object, timeout: float) -> Any:
        """Send and wait for the answer.

        Raises ``LookupError`` for an unknown name, ``pykka.ActorDeadError``
        when the actor is down or stopped, ``pykka.Timeout`` after ``timeout``
        seconds, and whatever the actor raised while handling the message.
        """
        address = self._addresses.get(name)
        if address is None:
            raise LookupError(f"no actor named {name!r}")
        return address.ask(message, timeout)

    def ask_or_none(self, name: str, message: object, timeout: float) -> Any:
        """:meth:`ask`, but None (logged as an error) when ``name`` is unknown, down,
        stopped or does not answer within ``timeout`` seconds."""
        try:
            return self.ask(name, message, timeout)
        except (LookupError, pykka.ActorDeadError, pykka.Timeout) as exc:
            logger.error("{} did not answer {}: {!r}", name, type(message).__name__, exc)
            return None
