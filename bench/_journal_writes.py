"""Durable writes per second: the journal's store alone, and through the journal actor.

Both parts write the records an order leaves in the journal, built up front
from the order-flow benchmark's intents (:func:`bench._orderstream.intents`,
turned into orders by risk's own :func:`actors.risk.order_from_intent`, and
:func:`bench._orderstream.answers`: ACCEPTED, a fill, FILLED):

- *store* (:func:`run_store_case`): :class:`~runtime.journal_store.JournalStore`
  on its own, one thread, transactions of a fixed number of records; per
  order five records: the order as the order manager hands it over
  (``record_order``), the ``Order`` event, ACCEPTED, the fill, FILLED;
- *actor* (:func:`run_actor_case`): :class:`~actors.journal.JournalActor`
  started with pykka as the runtime starts it; ``Journaled`` events (the
  ``Order`` event, ACCEPTED, the fill, FILLED of each order) told as fast as
  the benchmark thread can, timed until a ``Flush`` asked after the last one
  returns (everything committed); its own group commit decides the batches.

Every case writes into a journal file of its own, created (empty, checked,
migrated) before the clock starts.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from actors.journal import JournalActor, JournalCarry, JournalStats
from actors.risk import order_from_intent
from bench._orderstream import ENGINE, answers, intents
from runtime.config import JournalConfig, SyncMode
from runtime.directory import Directory
from runtime.journal_store import JournalStore, open_journal
from runtime.messages import Flush, GetSnapshot, Handshake, Journaled, Message, Order
from runtime.names import JOURNAL

__all__ = [
    "ACTOR_RECORDS_PER_ORDER",
    "STORE_RECORDS_PER_ORDER",
    "WAIT_S",
    "ActorRun",
    "StoreRun",
    "order_events",
    "run_actor_case",
    "run_store_case",
]

WAIT_S = 60.0
"""Longest wait for the journal actor to start, commit or stop."""

STORE_RECORDS_PER_ORDER = 5
"""Records one order makes in the store part: ``record_order`` and four events."""

ACTOR_RECORDS_PER_ORDER = 4
"""``Journaled`` events one order makes in the actor part."""


def order_events(orders: int) -> list[tuple[Order, tuple[Message, ...]]]:
    """``orders`` fresh orders (unique client order ids), each with its four events:
    the ``Order`` itself, ACCEPTED, the fill and FILLED."""
    made: list[tuple[Order, tuple[Message, ...]]] = []
    for intent in intents(orders):
        order = order_from_intent(intent)
        made.append((order, (order, *answers(order))))
    return made


def _open(path: Path, mode: SyncMode) -> JournalStore:
    store = open_journal(path, synchronous=mode)
    store.begin_run(f"bench-{path.stem}", "bench", time.time_ns())
    return store


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreRun:
    """One case of the store part."""

    mode: SyncMode
    """``synchronous`` of the file."""
    batch: int
    """Records per transaction."""
    records: int
    """Records written."""
    commits: int
    """Transactions committed."""
    ns: int
    """From the first ``BEGIN`` to the last ``COMMIT`` returning."""

    @property
    def rate(self) -> float:
        """Durable records per second."""
        return self.records / (self.ns / 1e9)

    @property
    def commit_us(self) -> float:
        """Mean time per transaction, microseconds."""
        return self.ns / self.commits / 1_000


def _store_records(
    orders: Sequence[tuple[Order, tuple[Message, ...]]],
) -> Iterator[tuple[Order | None, Message]]:
    for order, events in orders:
        yield order, order
        for event in events:
            yield None, event


def run_store_case(path: Path, *, mode: SyncMode, batch: int, records: int) -> StoreRun:
    """Write ``records`` records (rounded up to whole orders and whole transactions
    of ``batch``) into a new journal at ``path``; time it."""
    if batch < 1 or records < 1:
        raise ValueError(f"batch and records must be >= 1, got {batch!r} and {records!r}")
    commits = -(-records // batch)
    total = commits * batch
    orders = order_events(-(-total // STORE_RECORDS_PER_ORDER))
    pending = list(_store_records(orders))[:total]
    chunks = [pending[i : i + batch] for i in range(0, total, batch)]
    store = _open(path, mode)
    try:
        gc.collect()
        t0 = time.perf_counter_ns()
        for chunk in chunks:
            with store.transaction():
                for order, event in chunk:
                    if order is not None:
                        store.record_order(order, ENGINE)
                    else:
                        store.record_event(None, event)
        ns = time.perf_counter_ns() - t0
        written = store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        routed = store.conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    finally:
        store.close()
    if written + routed != total:
        raise RuntimeError(f"{path}: {total} records written, the file holds {written + routed}")
    return StoreRun(mode=mode, batch=batch, records=total, commits=len(chunks), ns=ns)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorRun:
    """One case of the actor part."""

    mode: SyncMode
    """``synchronous`` of the file."""
    events: int
    """``Journaled`` events told."""
    told_ns: int
    """From the first tell until the benchmark thread had told the last one."""
    ns: int
    """From the first tell until the ``Flush`` asked after the last one returned."""
    stats: JournalStats
    """The actor's counters at the end."""

    @property
    def rate(self) -> float:
        """Durable events per second."""
        return self.events / (self.ns / 1e9)

    @property
    def per_commit(self) -> float:
        """Mean records per transaction."""
        return self.stats.records / self.stats.commits


def run_actor_case(
    path: Path, *, mode: SyncMode, events: int, config: JournalConfig | None = None
) -> ActorRun:
    """Tell ``events`` events (rounded up to whole orders) to a journal actor writing
    a new journal at ``path`` with ``config`` (default: the runtime's defaults)."""
    if events < 1:
        raise ValueError(f"events must be >= 1, got {events!r}")
    base = config if config is not None else JournalConfig()
    settings = JournalConfig(
        enabled=True,
        path=path,
        synchronous=mode,
        batch_max=base.batch_max,
        batch_delay_s=base.batch_delay_s,
    )
    orders = order_events(-(-events // ACTOR_RECORDS_PER_ORDER))
    told = [
        Journaled(seq, event)
        for seq, event in enumerate((e for _, es in orders for e in es), start=1)
    ][:events]
    store = _open(path, mode)
    ref = JournalActor.start(
        name=JOURNAL, directory=Directory(), config=settings, carry=JournalCarry(store=store)
    )
    try:
        ref.ask(Handshake(), timeout=WAIT_S)
        gc.collect()
        tell = ref.tell
        t0 = time.perf_counter_ns()
        for message in told:
            tell(message)
        t1 = time.perf_counter_ns()
        ref.ask(Flush(), timeout=WAIT_S)
        t2 = time.perf_counter_ns()
        stats: JournalStats = ref.ask(GetSnapshot(), block=True, timeout=WAIT_S)
    finally:
        ref.stop(block=True, timeout=WAIT_S)
        store.close()
    if stats.records != len(told) or stats.pending:
        raise RuntimeError(f"{len(told)} events told, the journal actor committed {stats}")
    return ActorRun(mode=mode, events=len(told), told_ns=t1 - t0, ns=t2 - t0, stats=stats)
