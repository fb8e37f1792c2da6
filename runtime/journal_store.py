"""The journal's SQLite file: schema, migrations, integrity checks, writes and loads.

Plain and single-threaded: the journal actor (actors/journal.py) owns the one
writing connection; recovery (runtime/recovery.py) loads from it before the
actors start; ``tradepit journal`` (runtime/journal_query.py) opens its own
read-only connection, which WAL lets run beside the writer without blocking it.

The file is SQLite in WAL mode with ``application_id`` = :data:`APPLICATION_ID`
and ``user_version`` = the schema version. :func:`open_journal` refuses
(:class:`~runtime.errors.JournalError`, naming the file and the problem) a file
that is not a tradepit journal, is truncated, fails SQLite's ``quick_check``
(a garbled page), or has a schema newer than this code; an older schema is
migrated in one transaction. A missing file is created empty.

Tables (version 1); every payload column holds :mod:`runtime.codec` bytes:

- ``meta(key, value)``: ``created_ns``;
- ``runs(run, name, started_ns, pid)``: one row per start of the runtime;
- ``events(jseq, run, seq, ts_ns, type, client_order_id, strategy_id, body)``:
  every durable event in the order the journal received it; ``seq`` is the
  event-stream sequence number it had (NULL when it was not on the stream);
- ``orders(client_order_id, ..., status, filled_quantity, ..., acked, body)``:
  the last known state of every order; ``acked`` is 1 once its engine reported
  anything of it (0: it may never have reached the engine); ``body`` is the
  ``Order`` as sent (NULL for an intent risk refused);
- ``fills(client_order_id, fill_id, ...)``: every execution, once: the key is
  (client order id, fill id), so a fill reported twice is one row.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from runtime.codec import decode, encode
from runtime.config import SyncMode
from runtime.errors import CodecError, JournalError
from runtime.messages import (
    Bar,
    Fill,
    Message,
    ModifyOutcome,
    Order,
    OrderStatus,
    OrderUpdate,
    Tick,
)
from runtime.sqlite_files import connect, file_problem

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "JournalOrder",
    "JournalState",
    "JournalStore",
    "open_journal",
]

APPLICATION_ID = 0x54505431
"""``PRAGMA application_id`` of a tradepit journal ("TPT1")."""
SCHEMA_VERSION = 1
"""``PRAGMA user_version`` this code writes."""
_M = TypeVar("_M", bound=Message)
_TERMINAL = tuple(s.value for s in OrderStatus if s.is_terminal)

_V1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE runs (
        run TEXT PRIMARY KEY, name TEXT NOT NULL, started_ns INTEGER NOT NULL,
        pid INTEGER NOT NULL)""",
    """CREATE TABLE events (
        jseq INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT NOT NULL, seq INTEGER,
        ts_ns INTEGER NOT NULL, type TEXT NOT NULL, client_order_id TEXT, strategy_id TEXT,
        body BLOB NOT NULL)""",
    "CREATE INDEX events_order ON events(client_order_id) WHERE client_order_id IS NOT NULL",
    "CREATE INDEX events_ts ON events(ts_ns)",
    """CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY, run TEXT NOT NULL, strategy_id TEXT NOT NULL,
        symbol TEXT NOT NULL, side TEXT NOT NULL, order_type TEXT, time_in_force TEXT,
        quantity REAL NOT NULL, limit_price REAL, stop_price REAL, engine TEXT NOT NULL,
        status TEXT NOT NULL, filled_quantity REAL NOT NULL, avg_fill_price REAL,
        reason TEXT, message TEXT NOT NULL, acked INTEGER NOT NULL,
        created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL, body BLOB)""",
    "CREATE INDEX orders_status ON orders(status)",
    "CREATE INDEX orders_strategy ON orders(strategy_id, created_ns)",
    """CREATE TABLE fills (
        client_order_id TEXT NOT NULL, fill_id TEXT NOT NULL, engine TEXT NOT NULL,
        strategy_id TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
        quantity REAL NOT NULL, price REAL NOT NULL, commission REAL NOT NULL,
        slippage REAL NOT NULL, ts_ns INTEGER NOT NULL, jseq INTEGER NOT NULL,
        body BLOB NOT NULL, PRIMARY KEY (client_order_id, fill_id))""",
    "CREATE INDEX fills_strategy ON fills(strategy_id, ts_ns)",
)

MIGRATIONS: dict[int, tuple[str, ...]] = {1: _V1}
"""Statements taking the schema from version ``n - 1`` to ``n`` (1: from nothing)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalOrder:
    """An order as the journal last knew it."""

    client_order_id: str
    strategy_id: str
    symbol: str
    engine: str
    """Directory name of its engine (``engine.NAME``); empty for a risk refusal."""
    status: OrderStatus
    quantity: float
    filled_quantity: float
    avg_fill_price: float | None
    limit_price: float | None
    stop_price: float | None
    acked: bool
    """The engine reported something of it (else it may never have got there)."""
    order: Order | None
    """As sent (prices as first sent); None for a risk refusal."""
    fill_ids: tuple[str, ...]
    """Fills journaled for it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalState:
    """What recovery needs from a journal."""

    runs: int
    """Runs recorded before this one."""
    orders: int
    """Orders recorded."""
    open_orders: tuple[JournalOrder, ...]
    """Orders not in a terminal state, oldest first."""
    short_orders: tuple[JournalOrder, ...]
    """Finished orders whose journaled fills sum to less than the filled quantity of
    their last update (the runtime went down between the two): their engine is
    asked for the missing fills."""
    fills: tuple[Fill, ...]
    """Every fill, in the order the journal received them."""
    last_seq: int
    """Highest journal sequence number (``jseq``); 0 for an empty journal."""


def _fail(path: Path, problem: str) -> JournalError:
    return JournalError(f"journal {path}: {problem}")


def _check_file(path: Path) -> None:
    """Refuse what SQLite would silently take for an empty or whole database."""
    problem = file_problem(path)
    if problem is not None:
        raise _fail(path, problem)


def open_journal(
    path: Path,
    *,
    synchronous: SyncMode = SyncMode.FULL,
    readonly: bool = False,
    check: bool = True,
    lock: bool = True,
) -> JournalStore:
    """Open (or, writable and missing, create) the journal at ``path``, checked and
    migrated; raises :class:`JournalError` for anything it cannot trust.
    ``check`` False skips the integrity check (a second connection to a journal
    this process has just checked). A writer takes the journal's lock (one
    runtime per journal: a second one is refused); ``lock`` False writes beside
    the runtime (``tradepit journal prune``, in short transactions)."""
    path = Path(path)
    exists = path.exists()
    if exists:
        _check_file(path)
    elif readonly:
        raise _fail(path, "no such file")
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _fail(path, f"cannot create its folder: {exc}") from None
    held = _lock(path) if lock and not readonly else None
    try:
        conn = connect(path, readonly=readonly)
    except sqlite3.Error as exc:
        if held is not None:
            os.close(held)
        raise _fail(path, f"cannot open: {exc}") from None
    store = JournalStore(path, conn, readonly=readonly, lock=held)
    try:
        store._prepare(exists=exists and check, synchronous=synchronous)
    except sqlite3.DatabaseError as exc:
        store.close()
        raise _fail(path, f"unreadable ({exc})") from None
    except JournalError:
        store.close()
        raise
    return store


def _lock(path: Path) -> int:
    """Take the writer's lock (``PATH.lock``, ``flock``): one runtime per journal. The
    kernel releases it when the process ends, ``kill -9`` included."""
    lock_path = Path(f"{path}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _fail(path, f"cannot create its lock file {lock_path}: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise _fail(path, f"in use by another process (pid {holder})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


class JournalStore:
    """One connection to a journal file; see the module docstring. Not thread-safe:
    one thread at a time (the journal actor's, or a reader's)."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, *, readonly: bool, lock: int | None = None
    ) -> None:
        self.path = path
        self.conn = conn
        self.readonly = readonly
        self._lock = lock
        self.run = ""
        """The run rows are written for (:meth:`begin_run`)."""

    # --- opening -----------------------------------------------------------------

    def _prepare(self, *, exists: bool, synchronous: SyncMode) -> None:
        conn = self.conn
        if exists:
            result = conn.execute("PRAGMA quick_check").fetchall()
            if result != [("ok",)]:
                lines = "; ".join(str(r[0]) for r in result[:3])
                raise _fail(self.path, f"integrity check failed ({lines})")
            app = conn.execute("PRAGMA application_id").fetchone()[0]
            if app != APPLICATION_ID:
                raise _fail(self.path, f"not a tradepit journal (application_id {app:#x})")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise _fail(
                self.path,
                f"schema version {version} is newer than this tradepit ({SCHEMA_VERSION}); "
                "upgrade tradepit",
            )
        if self.readonly:
            if version < SCHEMA_VERSION:
                raise _fail(
                    self.path,
                    f"schema version {version} needs a migration: open it "
                    "writable (start the runtime) first",
                )
            return
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous.value}")
        if version < SCHEMA_VERSION:
            self._migrate(version)

    def _migrate(self, version: int) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
            if version == 0:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute("INSERT INTO meta VALUES ('created_ns', ?)", (str(time.time_ns()),))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the connection (a writer's last commit is already durable) and
        release the writer's lock."""
        self.conn.close()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # --- writing -----------------------------------------------------------------

    def begin_run(self, run: str, name: str, started_ns: int) -> None:
        """Record the start of run ``run``; later rows belong to it."""
        self.run = run
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?)",
                (run, name, started_ns, os.getpid()),
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed (durably, per ``synchronous``) on exit."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise _fail(self.path, f"write failed: {exc}") from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # SQLite may have rolled back already (disk full): only roll back what is open.
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def record_order(self, order: Order, engine: str) -> None:
        """An order about to be sent to ``engine`` (inside a transaction)."""
        self.conn.execute(
            "INSERT OR IGNORE INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                order.client_order_id,
                self.run,
                order.strategy_id,
                order.symbol,
                order.side.value,
                order.order_type.value,
                order.time_in_force.value,
                order.quantity,
                order.limit_price,
                order.stop_price,
                engine,
                OrderStatus.ROUTED.value,
                0.0,
                None,
                None,
                "",
                0,
                order.ts_init,
                order.ts_init,
                encode(order),
            ),
        )

    def record_modify(self, outcome: ModifyOutcome) -> None:
        """A modification the engine did: the order's new quantity and prices."""
        if outcome.applied:
            self.conn.execute(
                "UPDATE orders SET quantity = ?, limit_price = ?, stop_price = ? "
                "WHERE client_order_id = ?",
                (
                    outcome.quantity,
                    outcome.limit_price,
                    outcome.stop_price,
                    outcome.client_order_id,
                ),
            )

    def record_event(self, seq: int | None, event: Message) -> int:
        """One event (inside a transaction); returns its ``jseq``. Orders, updates and
        fills also update ``orders`` and ``fills``."""
        body = encode(event)
        coid = getattr(event, "client_order_id", None)
        strategy = getattr(event, "strategy_id", None)
        ts = getattr(event, "ts_event", 0)
        cur = self.conn.execute(
            "INSERT INTO events (run, seq, ts_ns, type, client_order_id, strategy_id, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.run, seq, ts, event.TAG, coid, strategy, body),
        )
        jseq = cur.lastrowid
        assert jseq is not None
        kind = type(event)
        if kind is OrderUpdate:
            self._update(event)  # type: ignore[arg-type]
        elif kind is Fill:
            self._fill(event, jseq, body)  # type: ignore[arg-type]
        return jseq

    def _update(self, u: OrderUpdate) -> None:
        acked = 1 if u.engine and u.status is not OrderStatus.UNKNOWN else 0
        cur = self.conn.execute(
            "UPDATE orders SET status = ?, quantity = ?, filled_quantity = ?, "
            "avg_fill_price = ?, reason = ?, message = ?, updated_ns = ?, "
            "acked = MAX(acked, ?) WHERE client_order_id = ?",
            (
                u.status.value,
                u.quantity,
                u.filled_quantity,
                u.avg_fill_price,
                u.reason.value if u.reason is not None else None,
                u.message,
                u.ts_init,
                acked,
                u.client_order_id,
            ),
        )
        if cur.rowcount:
            return
        # Never routed: an intent risk refused (or an update of an order unknown here).
        self.conn.execute(
            "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                u.client_order_id,
                self.run,
                u.strategy_id,
                u.symbol,
                u.side.value,
                None,
                None,
                u.quantity,
                None,
                None,
                "",
                u.status.value,
                u.filled_quantity,
                u.avg_fill_price,
                u.reason.value if u.reason is not None else None,
                u.message,
                acked,
                u.ts_init,
                u.ts_init,
                None,
            ),
        )

    def _fill(self, f: Fill, jseq: int, body: bytes) -> None:
        # A fill shows its engine had the order, even if no update of it was journaled.
        self.conn.execute(
            "UPDATE orders SET acked = 1 WHERE client_order_id = ?", (f.client_order_id,)
        )
        self.conn.execute(
            "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                f.client_order_id,
                f.fill_id,
                f.engine,
                f.strategy_id,
                f.symbol,
                f.side.value,
                f.quantity,
                f.price,
                f.commission,
                f.slippage,
                f.ts_event,
                jseq,
                body,
            ),
        )

    # --- loading -----------------------------------------------------------------

    def load(self) -> JournalState:
        """Everything recovery needs; raises :class:`JournalError` for rows that do
        not decode (a journal written by something else, or damaged)."""
        conn = self.conn
        try:
            runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            orders = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
            last = conn.execute("SELECT COALESCE(MAX(jseq), 0) FROM events").fetchone()[0]
            fills = tuple(
                self._decode(body, Fill)
                for (body,) in conn.execute("SELECT body FROM fills ORDER BY jseq, rowid")
            )
            by_order: dict[str, list[str]] = {}
            marks = ",".join("?" * len(_TERMINAL))
            # Open orders, and finished ones whose fills fall short of what their last
            # update reported filled (the update was journaled, a fill was not).
            wanted = (
                f"status NOT IN ({marks}) OR (status IN ({marks}) AND engine != '' "
                "AND filled_quantity > 1e-9 * quantity + COALESCE((SELECT SUM(f.quantity) "
                "FROM fills f WHERE f.client_order_id = orders.client_order_id), 0))"
            )
            rows = conn.execute(
                "SELECT client_order_id, strategy_id, symbol, engine, status, quantity, "
                "filled_quantity, avg_fill_price, limit_price, stop_price, acked, body "
                f"FROM orders WHERE {wanted} ORDER BY created_ns, rowid",
                _TERMINAL + _TERMINAL,
            ).fetchall()
            for coid, fill_id in conn.execute(
                "SELECT client_order_id, fill_id FROM fills WHERE client_order_id IN "
                f"(SELECT client_order_id FROM orders WHERE {wanted}) ORDER BY jseq",
                _TERMINAL + _TERMINAL,
            ):
                by_order.setdefault(coid, []).append(fill_id)
        except sqlite3.DatabaseError as exc:
            raise _fail(self.path, f"unreadable ({exc})") from None
        open_orders: list[JournalOrder] = []
        short_orders: list[JournalOrder] = []
        for row in rows:
            coid, strategy, symbol, engine, status, qty, filled, avg, limit, stop, acked, body = row
            try:
                state = OrderStatus(status)
            except ValueError:
                raise _fail(self.path, f"order {coid!r} has an unknown status {status!r}") from None
            (short_orders if state.is_terminal else open_orders).append(
                JournalOrder(
                    client_order_id=coid,
                    strategy_id=strategy,
                    symbol=symbol,
                    engine=engine,
                    status=state,
                    quantity=qty,
                    filled_quantity=filled,
                    avg_fill_price=avg,
                    limit_price=limit,
                    stop_price=stop,
                    acked=bool(acked),
                    order=self._decode(body, Order) if body is not None else None,
                    fill_ids=tuple(by_order.get(coid, ())),
                )
            )
        return JournalState(
            runs=runs,
            orders=orders,
            open_orders=tuple(open_orders),
            short_orders=tuple(short_orders),
            fills=fills,
            last_seq=last,
        )

    def fill_counts(self) -> dict[str, int]:
        """Fills journaled per client order id."""
        rows = self.conn.execute("SELECT client_order_id, COUNT(*) FROM fills GROUP BY 1")
        return {coid: n for coid, n in rows}

    def net_positions(self, engine: str) -> dict[str, float]:
        """Net signed quantity per symbol of the fills made at ``engine`` (bare name)."""
        rows = self.conn.execute(
            "SELECT symbol, SUM(CASE side WHEN 'BUY' THEN quantity ELSE -quantity END) "
            "FROM fills WHERE engine = ? GROUP BY symbol",
            (engine,),
        )
        return {symbol: float(qty) for symbol, qty in rows}

    def _decode(self, body: bytes, kind: type[_M]) -> _M:
        try:
            message = decode(body)
        except CodecError as exc:
            raise _fail(self.path, f"a record does not decode: {exc}") from None
        if not isinstance(message, kind):
            raise _fail(self.path, f"expected a {kind.__name__} record, got {message.TAG}")
        return message


NOT_JOURNALED: frozenset[type[Message]] = frozenset({Bar, Tick})
"""Event types the journal skips (market data: the feed's files are its record)."""
