"""The simulated venue's state file: what it accepted, filled and replayed, on disk.

With ``[venue] state = "PATH"`` the venue (:mod:`runtime.venue`) keeps its
record in an SQLite file (WAL, ``synchronous = FULL``) through a
:class:`VenueStore`, and commits each change before any reply or push that
reports it leaves the venue: one transaction per request, one per batch of
published market data (the fills and updates the bars caused, and the replay
position). A restarted venue reloads it (:meth:`VenueStore.load`), so it
never forgets an order it accepted or a fill it reported.

:func:`read_venue_state` opens the file read-only (it works while the venue
runs: WAL readers do not block the writer) for tests and the crash harness.

Anything that cannot be trusted (not an SQLite file, truncated, garbled, not
a venue state file, a newer schema) raises :class:`VenueStateError` naming the
file: the venue must never start empty by accident.

Tables (version 1); every ``body`` / ``last`` column holds :mod:`runtime.codec`
bytes, exactly as the venue sent them:

- ``meta(key, value)``: ``created_ns``;
- ``replay(id, bars, ticks)``: one row: market-data events published so far;
- ``submits(client_order_id, count)``: every ``SUBMIT`` received, duplicates
  included;
- ``orders(seq, client_order_id, engine, triggered, status, body, last)``:
  every order taken (accepted or rejected as invalid) in submission order:
  the owning engine, whether its stop triggered, the ``Order`` and its last
  ``OrderUpdate``;
- ``fills(seq, fill_id, client_order_id, engine, symbol, side, quantity, body)``:
  every execution, in order.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from runtime.codec import decode, encode
from runtime.errors import CodecError, TradepitError
from runtime.messages import Fill, Message, Order, OrderUpdate
from runtime.sqlite_files import connect, file_problem

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "StoredOrder",
    "VenueSnapshot",
    "VenueState",
    "VenueStateError",
    "VenueStore",
    "open_venue_store",
    "read_venue_state",
]

APPLICATION_ID = 0x54505631
"""``PRAGMA application_id`` of a venue state file ("TPV1")."""
SCHEMA_VERSION = 1
"""``PRAGMA user_version`` this code writes."""

_M = TypeVar("_M", bound=Message)
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE replay (
        id INTEGER PRIMARY KEY CHECK (id = 1), bars INTEGER NOT NULL, ticks INTEGER NOT NULL)""",
    "INSERT INTO replay VALUES (1, 0, 0)",
    "CREATE TABLE submits (client_order_id TEXT PRIMARY KEY, count INTEGER NOT NULL)",
    """CREATE TABLE orders (
        seq INTEGER PRIMARY KEY, client_order_id TEXT NOT NULL UNIQUE, engine TEXT NOT NULL,
        triggered INTEGER NOT NULL, status TEXT NOT NULL, body BLOB NOT NULL,
        last BLOB NOT NULL)""",
    """CREATE TABLE fills (
        seq INTEGER PRIMARY KEY, fill_id TEXT NOT NULL UNIQUE, client_order_id TEXT NOT NULL,
        engine TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL, quantity REAL NOT NULL,
        body BLOB NOT NULL)""",
)


class VenueStateError(TradepitError):
    """The venue's state file cannot be opened, read, trusted or written. Names the file."""


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """One order of the state file, as the venue sent its events."""

    engine: str
    """The engine (session) that owns it."""
    order: Order
    """The order as submitted."""
    last: OrderUpdate
    """Its last update."""
    fills: tuple[Fill, ...]
    """Its executions, oldest first."""
    triggered: bool
    """True once its stop triggered (orders with a stop price only)."""


@dataclass(frozen=True, slots=True)
class VenueSnapshot:
    """Everything a restarting venue reloads (:meth:`VenueStore.load`)."""

    orders: tuple[StoredOrder, ...]
    """Every order taken, in submission order."""
    fills: tuple[tuple[str, Fill], ...]
    """(owning engine, fill) of every execution, in the order reported."""
    submits: dict[str, int]
    """Client order id -> ``SUBMIT`` requests received."""
    bars: int
    """Bars published."""
    ticks: int
    """Ticks published."""


@dataclass(frozen=True, slots=True)
class VenueState:
    """The record of a venue state file, for tests and the crash harness.

    In ``orders`` and ``fills`` the ``engine`` field is the owning engine's
    name (the name its client gave in ``HELLO``, which the runtime's adapter
    stamps on the events it reports), not the venue's ``NAME-INSTANCE``.
    """

    path: Path
    """The file read."""
    orders: dict[str, OrderUpdate]
    """Client order id -> the order's last update, in submission order."""
    fills: tuple[Fill, ...]
    """Every execution, in the order the venue reported them."""
    submits: dict[str, int]
    """Client order id -> ``SUBMIT`` requests the venue handled, duplicates included
    (not those refused before reading the order: ``NO_SESSION``, malformed frames)."""
    positions: dict[tuple[str, str], float]
    """(engine, symbol) -> signed net quantity of the fills (buys positive)."""
    bars: int
    """Bars published."""
    ticks: int
    """Ticks published."""

    @property
    def published(self) -> int:
        """Market-data events published: where a restarted venue resumes its replay."""
        return self.bars + self.ticks


# --- opening ---------------------------------------------------------------------


def _error(path: Path, problem: str) -> VenueStateError:
    return VenueStateError(f"venue state {path}: {problem}")


def _check_file(path: Path) -> None:
    """Refuse files SQLite would take for an empty database or read only in part."""
    problem = file_problem(path)
    if problem is not None:
        raise _error(path, f"{problem}; refusing to start without a record")


def _verify(conn: sqlite3.Connection, path: Path) -> None:
    """Integrity, identity and schema version of an existing file."""
    result = conn.execute("PRAGMA quick_check").fetchall()
    if result != [("ok",)]:
        detail = "; ".join(str(row[0]) for row in result[:3])
        raise _error(path, f"integrity check failed ({detail})")
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    if app != APPLICATION_ID:
        raise _error(path, f"not a venue state file (application_id {app:#x})")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        raise _error(
            path, f"schema version {version}; this tradepit reads version {SCHEMA_VERSION}"
        )


def open_venue_store(path: Path) -> VenueStore:
    """Open the state file at ``path`` for writing, creating it (and its folder) when
    missing; raises :class:`VenueStateError` for a file it cannot trust."""
    path = Path(path)
    exists = path.exists()
    if exists:
        if not path.is_file():
            raise _error(path, "exists and is not a file")
        _check_file(path)
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _error(path, f"cannot create its folder: {exc}") from None
    conn: sqlite3.Connection | None = None
    try:
        conn = connect(path, readonly=False)
        if exists:
            _verify(conn, path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        if not exists:
            _create(conn)
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise _error(path, f"unreadable ({exc}); refusing to start without a record") from None
    except VenueStateError:
        if conn is not None:
            conn.close()
        raise
    return VenueStore(path, conn)


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO meta VALUES ('created_ns', ?)", (str(time.time_ns()),))
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# --- the writer ---------------------------------------------------------------------


class VenueStore:
    """The venue's one writing connection; see the module docstring. One thread at a
    time (the venue's). Every write method is one committed transaction and raises
    :class:`VenueStateError` when it cannot be done."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    def close(self) -> None:
        """Close the connection (every commit is already durable)."""
        self._conn.close()

    def load(self) -> VenueSnapshot:
        """Everything recorded, the events exactly as the venue sent them."""
        return _guarded(self.path, lambda: _load(self._conn, self.path))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _error(self.path, f"cannot record: {exc}") from None

    def record_submit(self, engine: str, order: Order, update: OrderUpdate, *, taken: bool) -> None:
        """A ``SUBMIT`` of ``engine`` answered with ``update``; ``taken``: the venue
        kept a record of it (False for a duplicate, which is only counted)."""
        oid = order.client_order_id
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO submits VALUES (?, 1) "
                "ON CONFLICT(client_order_id) DO UPDATE SET count = count + 1",
                (oid,),
            )
            if taken:
                conn.execute(
                    "INSERT INTO orders (client_order_id, engine, triggered, status, body, last) "
                    "VALUES (?, ?, 0, ?, ?, ?)",
                    (oid, engine, update.status.value, encode(order), encode(update)),
                )

    def record_updates(self, updates: Sequence[OrderUpdate]) -> None:
        """Orders changed by a request (cancels)."""
        if not updates:
            return
        with self._transaction() as conn:
            for update in updates:
                _set_last(conn, update)

    def record_market(
        self,
        events: Sequence[tuple[str, Fill | OrderUpdate]],
        triggered: Sequence[str],
        *,
        bars: int,
        ticks: int,
    ) -> None:
        """The results of publishing market data, and the replay position after it.

        ``events``: (owning engine, event) in the order they happened;
        ``triggered``: orders whose stop triggered.
        """
        with self._transaction() as conn:
            for engine, event in events:
                if isinstance(event, Fill):
                    conn.execute(
                        "INSERT INTO fills (fill_id, client_order_id, engine, symbol, side, "
                        "quantity, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            event.fill_id,
                            event.client_order_id,
                            engine,
                            event.symbol,
                            event.side.value,
                            event.quantity,
                            encode(event),
                        ),
                    )
                else:
                    _set_last(conn, event)
            for oid in triggered:
                conn.execute("UPDATE orders SET triggered = 1 WHERE client_order_id = ?", (oid,))
            conn.execute("UPDATE replay SET bars = ?, ticks = ? WHERE id = 1", (bars, ticks))


def _set_last(conn: sqlite3.Connection, update: OrderUpdate) -> None:
    cursor = conn.execute(
        "UPDATE orders SET status = ?, last = ? WHERE client_order_id = ?",
        (update.status.value, encode(update), update.client_order_id),
    )
    if cursor.rowcount != 1:
        raise sqlite3.IntegrityError(f"no order {update.client_order_id!r} to update")


# --- reading ------------------------------------------------------------------------

_T = TypeVar("_T")


def _guarded(path: Path, read: Callable[[], _T]) -> _T:
    try:
        return read()
    except sqlite3.Error as exc:
        raise _error(path, f"unreadable ({exc})") from None


def _decode(path: Path, body: bytes, kind: type[_M], where: str) -> _M:
    try:
        message = decode(body)
    except CodecError as exc:
        raise _error(path, f"{where}: undecodable ({exc})") from None
    if not isinstance(message, kind):
        raise _error(path, f"{where}: expected a {kind.__name__}, got a {message.TAG}")
    return message


def _load(conn: sqlite3.Connection, path: Path) -> VenueSnapshot:
    conn.execute("BEGIN")  # one snapshot of the file for every query
    try:
        bars, ticks = conn.execute("SELECT bars, ticks FROM replay WHERE id = 1").fetchone()
        submits = dict(conn.execute("SELECT client_order_id, count FROM submits"))
        fills: list[tuple[str, Fill]] = []
        by_order: dict[str, list[Fill]] = {}
        for oid, engine, body in conn.execute(
            "SELECT client_order_id, engine, body FROM fills ORDER BY seq"
        ):
            fill = _decode(path, body, Fill, f"fill of {oid!r}")
            fills.append((engine, fill))
            by_order.setdefault(oid, []).append(fill)
        orders = tuple(
            StoredOrder(
                engine=engine,
                order=_decode(path, body, Order, f"order {oid!r}"),
                last=_decode(path, last, OrderUpdate, f"last update of {oid!r}"),
                fills=tuple(by_order.get(oid, ())),
                triggered=bool(triggered),
            )
            for oid, engine, triggered, body, last in conn.execute(
                "SELECT client_order_id, engine, triggered, body, last FROM orders ORDER BY seq"
            )
        )
    finally:
        conn.execute("COMMIT")
    return VenueSnapshot(orders=orders, fills=tuple(fills), submits=submits, bars=bars, ticks=ticks)


def read_venue_state(path: str | Path) -> VenueState:
    """Read a venue state file without changing it (safe while the venue runs).

    Raises :class:`VenueStateError` when the file is missing or cannot be trusted.
    """
    path = Path(path)
    if not path.is_file():
        raise _error(path, "no such file")
    _check_file(path)
    try:
        conn = connect(path, readonly=True)
    except sqlite3.Error as exc:
        raise _error(path, f"cannot open: {exc}") from None
    try:
        _guarded(path, lambda: _verify(conn, path))
        snapshot = _guarded(path, lambda: _load(conn, path))
    finally:
        conn.close()
    positions: dict[tuple[str, str], float] = {}
    for engine, fill in snapshot.fills:
        key = (engine, fill.symbol)
        positions[key] = positions.get(key, 0.0) + fill.side.sign * fill.quantity
    return VenueState(
        path=path,
        orders={s.order.client_order_id: replace(s.last, engine=s.engine) for s in snapshot.orders},
        fills=tuple(replace(fill, engine=engine) for engine, fill in snapshot.fills),
        submits=snapshot.submits,
        positions=positions,
        bars=snapshot.bars,
        ticks=snapshot.ticks,
    )
