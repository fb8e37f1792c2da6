"""The journal actor: writes everything durable to the SQLite journal, write-ahead.

Two streams come in:

- from the order manager, ``ToEngine``: every request bound for an engine
  (orders, cancels, modifications, cancel-alls). The request is recorded and
  handed to its engine only once the transaction holding the record is
  committed: an order is in the journal before any engine can see it. Requests
  are handed on in the order they came. ``ModifyOutcome`` (a modification an
  engine did) updates the order's prices;
- from the event sink, ``Journaled``: every event but market data, with the
  sequence number the event stream gave it.

Group commit: records wait in a batch, which is committed when nothing more
is waiting in the mailbox (so a burst shares one transaction and one sync),
when it holds ``batch_max`` records, or, with ``batch_delay_s`` > 0, once the
oldest record has waited that long for company. A record therefore waits at
most for the commit in progress plus its own (plus ``batch_delay_s``).

A failed write fails the actor; the batch not yet committed (and the requests
held for it) is handed to the replacement, which writes it again. The journal
is a core actor: failing past the restart intensity halts trading.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from pykka.messages import _ActorStop

from runtime.actor import LeanActor
from runtime.config import JournalConfig
from runtime.crashpoints import crash_point
from runtime.directory import Directory
from runtime.journal_store import JournalStore
from runtime.messages import (
    CancelAll,
    Flush,
    GetSnapshot,
    Journaled,
    Message,
    ModifyOutcome,
    Order,
    OrderStatus,
    RejectReason,
    ToEngine,
    unfilled_update,
)
from runtime.names import ORDERS, ActorKind

__all__ = ["JournalActor", "JournalCarry", "JournalStats"]

_Record = ToEngine | Journaled | ModifyOutcome


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalStats:
    """Counters of the journal actor, as answered to ``GetSnapshot``."""

    path: str
    """The journal file."""
    records: int
    """Records committed by this run."""
    commits: int
    """Transactions committed by this run."""
    pending: int
    """Records waiting for their transaction."""
    largest_batch: int
    """Most records one transaction held."""


@dataclass(slots=True)
class _Token:
    """Shared by a stuck journal actor and its replacement: whether the batch they
    both hold was committed (then the replacement only hands it on)."""

    committed: bool = False


@dataclass(slots=True)
class JournalCarry:
    """What a failed journal actor hands its replacement: the store and the batch
    it had not committed (the requests in it were not handed on). ``lock`` is held
    over a commit and its hand-on, also across a stuck actor and its replacement,
    so that a batch is written once and its requests reach the engines once."""

    store: JournalStore
    batch: list[_Record] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    token: _Token = field(default_factory=_Token)
    records: int = 0
    commits: int = 0
    largest_batch: int = 0


class JournalActor(LeanActor):
    """Records every durable event; hands requests to engines once recorded."""

    kind = ActorKind.JOURNAL

    def __init__(
        self,
        *,
        name: str,
        directory: Directory,
        config: JournalConfig,
        carry: JournalCarry,
    ) -> None:
        super().__init__(name=name, directory=directory)
        self._config = config
        self.carry = carry
        self._oldest = 0.0

    def handover(self, stuck: bool) -> JournalCarry:
        # A stuck actor may still write through the connection: nothing better can
        # be handed over than the connection itself and a copy of the batch.
        carry = self.carry
        if stuck:
            return JournalCarry(
                store=carry.store,
                batch=list(carry.batch),
                lock=carry.lock,
                token=carry.token,
                records=carry.records,
                commits=carry.commits,
                largest_batch=carry.largest_batch,
            )
        return carry

    def setup(self) -> None:
        if self.carry.batch:
            logger.warning(
                "{}: writing the {} records its predecessor had not committed",
                self.name,
                len(self.carry.batch),
            )
            self._commit()

    def on_stop(self) -> None:
        if self.carry.batch and not self.revoked:
            self._commit()

    def _handle_receive(self, message: Any) -> Any:
        # After every message, records included or not (a health probe, a snapshot):
        # a batch waits only while more messages do.
        result = super()._handle_receive(message)
        if self.carry.batch and not self.revoked and self._idle():
            self._commit()
        return result

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        if kind is Journaled or kind is ToEngine or kind is ModifyOutcome:
            self._take(message)
            if len(self.carry.batch) >= self._config.batch_max:
                self._commit()
            return None
        if kind is Flush:
            self._commit()
            return None
        if kind is GetSnapshot:
            carry = self.carry
            return JournalStats(
                path=str(carry.store.path),
                records=carry.records,
                commits=carry.commits,
                pending=len(carry.batch),
                largest_batch=carry.largest_batch,
            )
        raise TypeError(f"{self.name} cannot handle {kind.__name__}")

    def _take(self, record: _Record) -> None:
        batch = self.carry.batch
        if not batch:
            self._oldest = time.monotonic()
        batch.append(record)  # the event sink sends no market data (NOT_JOURNALED)

    def _idle(self) -> bool:
        """True when the batch should be committed now: nothing else waits (after
        lingering up to ``batch_delay_s`` for more told records)."""
        inbox: queue.SimpleQueue[Any] = self.actor_inbox  # type: ignore[assignment]
        delay = self._config.batch_delay_s
        if delay <= 0.0:
            return inbox.empty()
        if not inbox.empty():
            return False
        batch = self.carry.batch
        deadline = self._oldest + delay
        while len(batch) < self._config.batch_max:
            remaining = deadline - time.monotonic()
            if remaining <= 0.0:
                break
            try:
                envelope = inbox.get(timeout=remaining)
            except queue.Empty:
                break
            message = envelope.message
            if envelope.reply_to is not None or isinstance(message, _ActorStop):
                inbox.put(envelope)  # answered by the loop, after this commit
                break
            if type(message) in (Journaled, ToEngine, ModifyOutcome):
                self._take(message)
            else:
                inbox.put(envelope)
                break
        return True

    def _commit(self) -> None:
        carry = self.carry
        with carry.lock:
            batch = carry.batch
            if not batch:
                return
            token = carry.token
            if not token.committed:
                self._write(carry, batch)
                token.committed = True
            if self.revoked:
                return  # replaced while stuck: the replacement hands the batch on
            carry.records += len(batch)
            carry.commits += 1
            carry.largest_batch = max(carry.largest_batch, len(batch))
            carry.batch = []
            carry.token = _Token()
            for record in batch:
                if type(record) is ToEngine:
                    self._hand_on(record)

    @staticmethod
    def _write(carry: JournalCarry, batch: list[_Record]) -> None:
        store = carry.store
        orders = any(type(r) is ToEngine and type(r.request) is Order for r in batch)
        if orders:
            crash_point("journal.orders_before_commit")
        with store.transaction():
            for record in batch:
                kind = type(record)
                if kind is Journaled:
                    store.record_event(record.seq, record.event)  # type: ignore[union-attr]
                elif kind is ToEngine:
                    JournalActor._record_request(store, record)  # type: ignore[arg-type]
                else:
                    store.record_modify(record)  # type: ignore[arg-type]
        if orders:
            crash_point("journal.orders_after_commit")

    @staticmethod
    def _record_request(store: JournalStore, record: ToEngine) -> None:
        request = record.request
        if type(request) is Order:
            store.record_order(request, record.engine)
        elif isinstance(request, Message):
            store.record_event(None, request)
        else:
            assert isinstance(request, CancelAll)

    def _hand_on(self, record: ToEngine) -> None:
        request = record.request
        if self.directory.tell(record.engine, request):
            return
        if type(request) is Order:
            update = unfilled_update(
                request,
                OrderStatus.REJECTED,
                RejectReason.NO_ENGINE,
                f"engine {record.engine!r} is not running",
            )
            self.directory.tell(ORDERS, update)
        else:
            logger.error("{}: {} is not running: {} lost", self.name, record.engine, request)
