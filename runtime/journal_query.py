"""Read-only queries of a journal, and ``prune``: what ``tradepit journal`` shows.

:class:`JournalReader` wraps a :class:`~runtime.journal_store.JournalStore`
opened read-only (``open_journal(path, readonly=True)``): WAL lets it read
beside the runtime's writing connection without blocking it, and each query is
one short statement (:meth:`JournalReader.snapshot` groups several into one
consistent read). Rows come back as frozen dataclasses with the journal's own
column names; times stay nanoseconds since the epoch (UTC).

Orders and fills are listed oldest first; ``limit`` keeps the most recent
``limit`` rows (still oldest first). ``since`` compares with an order's
``created_ns`` (when it was made, wall clock), a fill's or an event's ``ts_ns``
(its ``ts_event``: wall clock when trading live, market time in a replay).

:func:`prune` is the one writer. It deletes, in short transactions of at most
:data:`PRUNE_BATCH` rows (a live runtime's journal actor waits for each at most
that long), finished orders last updated before the cut-off with their events,
and other events older than the cut-off. It never deletes an open order or its
events, a fill (recovery rebuilds positions, cash and P&L from every fill), a
run, or the newest event (its ``jseq`` keeps the numbering of later events
above every fill's).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from runtime.codec import decode
from runtime.errors import CodecError, JournalError
from runtime.journal_store import JournalStore
from runtime.ledger import Ledger
from runtime.messages import Fill, Message, OrderStatus, Side

__all__ = [
    "PRUNE_BATCH",
    "TERMINAL_STATUSES",
    "EventRow",
    "FillRow",
    "JournalReader",
    "OrderHistory",
    "OrderRow",
    "PnlReport",
    "PositionPnl",
    "PruneCounts",
    "StrategyPnl",
    "count_prunable",
    "prune",
]

TERMINAL_STATUSES: tuple[str, ...] = tuple(sorted(s.value for s in OrderStatus if s.is_terminal))
"""Statuses of finished orders (the ``status`` column's values)."""
PRUNE_BATCH = 500
"""Most rows one prune transaction deletes."""

_T = ",".join("?" * len(TERMINAL_STATUSES))
_ORDER_COLUMNS = (
    "client_order_id, run, strategy_id, symbol, side, order_type, time_in_force, quantity, "
    "limit_price, stop_price, engine, status, filled_quantity, avg_fill_price, reason, "
    "message, acked, created_ns, updated_ns"
)
_FILL_COLUMNS = (
    "client_order_id, fill_id, engine, strategy_id, symbol, side, quantity, price, "
    "commission, slippage, ts_ns, jseq"
)
_EVENT_COLUMNS = "jseq, run, seq, ts_ns, type, client_order_id, strategy_id, body"

# Finished orders last updated before the cut-off (parameters: terminal statuses, cut-off).
_DOOMED_ORDERS = f"SELECT client_order_id FROM orders WHERE status IN ({_T}) AND updated_ns < ?"
# Events prune deletes (parameters: terminal statuses, cut-off, cut-off, terminal statuses):
# those of a doomed order, and old ones not of an open order; never the newest event.
_DOOMED_EVENTS = (
    "FROM events WHERE jseq < (SELECT MAX(jseq) FROM events) AND ("
    f"client_order_id IN ({_DOOMED_ORDERS}) OR (ts_ns < ? AND (client_order_id IS NULL OR "
    f"client_order_id NOT IN (SELECT client_order_id FROM orders WHERE status NOT IN ({_T})))))"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRow:
    """One row of ``orders``: an order's last known state."""

    client_order_id: str
    """The order."""
    run: str
    """The run that recorded it first."""
    strategy_id: str
    """The strategy that owns it."""
    symbol: str
    """Instrument symbol."""
    side: str
    """BUY or SELL."""
    order_type: str | None
    """MARKET, LIMIT...; None for an intent risk refused (never sent)."""
    time_in_force: str | None
    """DAY, GTC...; None for a risk refusal."""
    quantity: float
    """Total quantity (after modifications)."""
    limit_price: float | None
    """Limit price, if any."""
    stop_price: float | None
    """Stop price, if any."""
    engine: str
    """Directory name of its engine; empty for a risk refusal."""
    status: str
    """Last known :class:`~runtime.messages.OrderStatus` value."""
    filled_quantity: float
    """Quantity filled."""
    avg_fill_price: float | None
    """Volume-weighted fill price, None before a fill."""
    reason: str | None
    """:class:`~runtime.messages.RejectReason` value, when the system ended it."""
    message: str
    """Readable detail of its last update."""
    acked: bool
    """Its engine reported something of it."""
    created_ns: int
    """When it was made (wall clock)."""
    updated_ns: int
    """When its last update was made (wall clock)."""

    @property
    def is_open(self) -> bool:
        """Not in a terminal state."""
        return self.status not in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class FillRow:
    """One row of ``fills``: an execution."""

    client_order_id: str
    """The order."""
    fill_id: str
    """Engine-unique execution id."""
    engine: str
    """Engine that executed it."""
    strategy_id: str
    """The strategy that owns the order."""
    symbol: str
    """Instrument symbol."""
    side: str
    """BUY or SELL."""
    quantity: float
    """Executed quantity."""
    price: float
    """Execution price."""
    commission: float
    """Fees charged."""
    slippage: float
    """Slippage per unit."""
    ts_ns: int
    """Execution time (``ts_event``)."""
    jseq: int
    """Journal sequence number of the event that brought it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRow:
    """One row of ``events``: a journaled event or request."""

    jseq: int
    """Journal sequence number (the order the journal received it)."""
    run: str
    """The run that recorded it."""
    seq: int | None
    """Its sequence number on the event stream; None when it was not on it."""
    ts_ns: int
    """Its ``ts_event``."""
    type: str
    """Message type tag (``OrderUpdate``, ``Fill``, ``CancelOrder``...)."""
    client_order_id: str | None
    """The order it is about, if any."""
    strategy_id: str | None
    """The strategy it is about, if any."""
    body: bytes
    """The message, :mod:`runtime.codec` bytes (JSON)."""

    def data(self) -> dict[str, Any]:
        """The body as a JSON object (fields by name, ``type`` first)."""
        value = orjson.loads(self.body)
        if not isinstance(value, dict):
            raise ValueError(f"event {self.jseq}: body is not a JSON object")
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderHistory:
    """One order's row (None when only events of it are left) and its events."""

    order: OrderRow | None
    """Its row in ``orders``."""
    events: tuple[EventRow, ...]
    """Every event about it, oldest first."""
    messages: tuple[Message, ...]
    """``events`` decoded, in the same order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionPnl:
    """One strategy's trading in one symbol, from its fills."""

    strategy_id: str
    """The strategy."""
    symbol: str
    """Instrument symbol."""
    fills: int
    """Fills."""
    bought: float
    """Quantity bought."""
    sold: float
    """Quantity sold."""
    position: float
    """Signed position left (> 0 long)."""
    avg_price: float
    """Average entry price of the position; 0 when flat."""
    last_price: float
    """Price of the last fill."""
    realized_pnl: float
    """P&L of closed quantity, before fees."""
    fees: float
    """Commission paid."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyPnl:
    """One strategy's (or ``TOTAL``'s) realized result, from its fills."""

    strategy_id: str
    """The strategy, or ``TOTAL``."""
    fills: int
    """Fills."""
    realized_pnl: float
    """P&L of closed quantity, before fees."""
    fees: float
    """Commission paid."""

    @property
    def net_pnl(self) -> float:
        """``realized_pnl - fees``."""
        return self.realized_pnl - self.fees


@dataclass(frozen=True, slots=True, kw_only=True)
class PnlReport:
    """Realized P&L per strategy and position per symbol, replayed from the fills
    through :class:`~runtime.ledger.Ledger`. No unrealized P&L: the journal holds
    no market prices."""

    strategies: tuple[StrategyPnl, ...]
    """Per strategy, sorted by id."""
    total: StrategyPnl
    """All of them together."""
    positions: tuple[PositionPnl, ...]
    """Per strategy and symbol, sorted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneCounts:
    """What a prune deletes (or would) and keeps."""

    cutoff_ns: int
    """Older than this goes."""
    orders: int
    """Finished orders deleted."""
    events: int
    """Events deleted."""
    open_orders: int
    """Open orders kept (whatever their age)."""
    fills: int
    """Fills kept (all of them)."""


def _order(row: tuple[Any, ...]) -> OrderRow:
    (coid, run, strategy, symbol, side, otype, tif, qty, limit, stop, engine, status) = row[:12]
    filled, avg, reason, message, acked, created, updated = row[12:]
    return OrderRow(
        client_order_id=coid,
        run=run,
        strategy_id=strategy,
        symbol=symbol,
        side=side,
        order_type=otype,
        time_in_force=tif,
        quantity=qty,
        limit_price=limit,
        stop_price=stop,
        engine=engine,
        status=status,
        filled_quantity=filled,
        avg_fill_price=avg,
        reason=reason,
        message=message,
        acked=bool(acked),
        created_ns=created,
        updated_ns=updated,
    )


def _fill(row: tuple[Any, ...]) -> FillRow:
    coid, fill_id, engine, strategy, symbol, side, qty, price, commission, slip, ts, jseq = row
    return FillRow(
        client_order_id=coid,
        fill_id=fill_id,
        engine=engine,
        strategy_id=strategy,
        symbol=symbol,
        side=side,
        quantity=qty,
        price=price,
        commission=commission,
        slippage=slip,
        ts_ns=ts,
        jseq=jseq,
    )


def _event(row: tuple[Any, ...]) -> EventRow:
    jseq, run, seq, ts, kind, coid, strategy, body = row
    return EventRow(
        jseq=jseq,
        run=run,
        seq=seq,
        ts_ns=ts,
        type=kind,
        client_order_id=coid,
        strategy_id=strategy,
        body=bytes(body),
    )


def _filters(strategy: str | None, since_ns: int | None, time_column: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if strategy is not None:
        clauses.append("strategy_id = ?")
        params.append(strategy)
    if since_ns is not None:
        clauses.append(f"{time_column} >= ?")
        params.append(since_ns)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class JournalReader:
    """Queries of one journal; see the module docstring. Not thread-safe."""

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        self.path = store.path

    def _fail(self, problem: str) -> JournalError:
        return JournalError(f"journal {self.path}: {problem}")

    def _rows(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.store.conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._fail(f"unreadable ({exc})") from None

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Run the queries inside in one read transaction: they see one state of
        the journal, whatever a writer commits meanwhile. Not nestable (and
        :meth:`order` opens its own)."""
        conn = self.store.conn
        try:
            conn.execute("BEGIN")
        except sqlite3.DatabaseError as exc:
            raise self._fail(f"unreadable ({exc})") from None
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def open_orders(self) -> tuple[OrderRow, ...]:
        """Orders not in a terminal state, oldest first."""
        rows = self._rows(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status NOT IN ({_T}) "
            "ORDER BY created_ns, rowid",
            TERMINAL_STATUSES,
        )
        return tuple(_order(r) for r in rows)

    def orders(
        self, *, strategy: str | None = None, since_ns: int | None = None, limit: int | None = None
    ) -> tuple[OrderRow, ...]:
        """Every order (optionally one strategy's, made since ``since_ns``), oldest
        first; with ``limit``, only the most recent ``limit``."""
        where, params = _filters(strategy, since_ns, "created_ns")
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders{where} ORDER BY created_ns DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return tuple(_order(r) for r in reversed(self._rows(sql, params)))

    def fills(
        self, *, strategy: str | None = None, since_ns: int | None = None, limit: int | None = None
    ) -> tuple[FillRow, ...]:
        """Every fill (optionally one strategy's, executed since ``since_ns``) in the
        order the journal received them; with ``limit``, only the last ``limit``."""
        where, params = _filters(strategy, since_ns, "ts_ns")
        sql = f"SELECT {_FILL_COLUMNS} FROM fills{where} ORDER BY jseq DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return tuple(_fill(r) for r in reversed(self._rows(sql, params)))

    def events(self, *, since_ns: int | None = None) -> tuple[EventRow, ...]:
        """Every event (since ``since_ns``) in the order the journal received them."""
        where, params = _filters(None, since_ns, "ts_ns")
        rows = self._rows(f"SELECT {_EVENT_COLUMNS} FROM events{where} ORDER BY jseq", params)
        return tuple(_event(r) for r in rows)

    def order(self, client_order_id: str) -> OrderHistory | None:
        """One order's row and events; None when the journal has neither."""
        with self.snapshot():
            rows = self._rows(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?",
                (client_order_id,),
            )
            events = tuple(
                _event(r)
                for r in self._rows(
                    f"SELECT {_EVENT_COLUMNS} FROM events WHERE client_order_id = ? ORDER BY jseq",
                    (client_order_id,),
                )
            )
        if not rows and not events:
            return None
        messages = tuple(self._decode(e) for e in events)
        return OrderHistory(
            order=_order(rows[0]) if rows else None, events=events, messages=messages
        )

    def _decode(self, event: EventRow) -> Message:
        try:
            return decode(event.body)
        except CodecError as exc:
            raise self._fail(f"event {event.jseq} does not decode: {exc}") from None

    def pnl(self, *, strategy: str | None = None) -> PnlReport:
        """Replay the fills (optionally one strategy's) through a fresh ledger."""
        where, params = _filters(strategy, None, "ts_ns")
        rows = self._rows(f"SELECT body FROM fills{where} ORDER BY jseq, rowid", params)
        ledger = Ledger(0.0, clock=lambda: 0)
        counts: dict[tuple[str, str], list[float]] = {}
        for (body,) in rows:
            fill = self._fill_message(bytes(body))
            try:
                ledger.apply_fill(fill)
            except ValueError as exc:
                raise self._fail(str(exc)) from None
            tally = counts.setdefault((fill.strategy_id, fill.symbol), [0.0, 0.0, 0.0, 0.0])
            tally[0] += 1
            tally[1 if fill.side is Side.BUY else 2] += fill.quantity
            tally[3] = fill.price
        positions = []
        for account in ledger.accounts():
            for p in account.positions:
                fills, bought, sold, last = counts[(p.strategy_id, p.symbol)]
                positions.append(
                    PositionPnl(
                        strategy_id=p.strategy_id,
                        symbol=p.symbol,
                        fills=int(fills),
                        bought=bought,
                        sold=sold,
                        position=p.quantity,
                        avg_price=p.avg_price,
                        last_price=last,
                        realized_pnl=p.realized_pnl,
                        fees=p.fees,
                    )
                )
        strategies = tuple(
            StrategyPnl(
                strategy_id=a.strategy_id, fills=a.fills, realized_pnl=a.realized_pnl, fees=a.fees
            )
            for a in ledger.accounts()
        )
        total = ledger.totals()
        return PnlReport(
            strategies=strategies,
            total=StrategyPnl(
                strategy_id=total.strategy_id,
                fills=total.fills,
                realized_pnl=total.realized_pnl,
                fees=total.fees,
            ),
            positions=tuple(positions),
        )

    def _fill_message(self, body: bytes) -> Fill:
        try:
            message = decode(body)
        except CodecError as exc:
            raise self._fail(f"a fill does not decode: {exc}") from None
        if not isinstance(message, Fill):
            raise self._fail(f"expected a Fill record, got {message.TAG}")
        return message


def _count(conn: sqlite3.Connection, cutoff_ns: int) -> PruneCounts:
    t = TERMINAL_STATUSES
    orders = conn.execute(f"SELECT COUNT(*) FROM ({_DOOMED_ORDERS})", (*t, cutoff_ns)).fetchone()
    events = conn.execute(
        f"SELECT COUNT(*) {_DOOMED_EVENTS}", (*t, cutoff_ns, cutoff_ns, *t)
    ).fetchone()
    open_orders = conn.execute(
        f"SELECT COUNT(*) FROM orders WHERE status NOT IN ({_T})", t
    ).fetchone()
    fills = conn.execute("SELECT COUNT(*) FROM fills").fetchone()
    return PruneCounts(
        cutoff_ns=cutoff_ns,
        orders=orders[0],
        events=events[0],
        open_orders=open_orders[0],
        fills=fills[0],
    )


def count_prunable(store: JournalStore, cutoff_ns: int) -> PruneCounts:
    """What :func:`prune` would delete now (read only; one read transaction)."""
    reader = JournalReader(store)
    with reader.snapshot():
        try:
            return _count(store.conn, cutoff_ns)
        except sqlite3.DatabaseError as exc:
            raise reader._fail(f"unreadable ({exc})") from None


def prune(store: JournalStore, cutoff_ns: int, *, batch: int = PRUNE_BATCH) -> PruneCounts:
    """Delete what the module docstring says from the writable ``store``, ``batch``
    rows per transaction, then checkpoint the WAL (PASSIVE: never waits for readers).
    Safe beside a live runtime; an interrupted prune leaves a consistent journal
    (run it again to finish). Returns what was deleted."""
    if store.readonly:
        raise ValueError("prune needs a writable journal store")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    t = TERMINAL_STATUSES
    conn = store.conn
    # Events first, while the orders they belong to are still there to select them.
    steps = (
        (
            f"DELETE FROM events WHERE jseq IN (SELECT jseq {_DOOMED_EVENTS} LIMIT ?)",
            (*t, cutoff_ns, cutoff_ns, *t, batch),
        ),
        (
            f"DELETE FROM orders WHERE client_order_id IN ({_DOOMED_ORDERS} LIMIT ?)",
            (*t, cutoff_ns, batch),
        ),
    )
    deleted = [0, 0]
    try:
        for i, (sql, params) in enumerate(steps):
            while True:
                with store.transaction():
                    gone = conn.execute(sql, params).rowcount
                deleted[i] += gone
                if gone < batch:
                    break
        kept = _count(conn, cutoff_ns)
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"journal {store.path}: prune failed ({exc})") from None
    return PruneCounts(
        cutoff_ns=cutoff_ns,
        orders=deleted[1],
        events=deleted[0],
        open_orders=kept.open_orders,
        fills=kept.fills,
    )
