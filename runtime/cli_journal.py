"""``tradepit journal``: read the SQLite journal, export it, prune it.

``tradepit journal COMMAND [--settings FILE | --db PATH] [--json]``: the
journal is ``[journal] path`` of the settings file (default ``settings.toml``;
only its ``[journal]`` table is read) or the file ``--db`` names. Commands:
``open``, ``orders``, ``fills``, ``order COID``, ``pnl``, ``export --out DIR``
and ``prune --older-than DAYS [--yes]`` (docs/journal.md).

Everything but ``prune --yes`` opens the journal read-only (beside a running
runtime, whose writes it neither blocks nor sees half-done). Output is aligned
tables (:func:`runtime.cli_remote.render`) with times in UTC to the
millisecond, or JSON with ``--json`` (times in UTC to the nanosecond).

Exit codes: 0 done (nothing to show or delete included); 1 ``order``: no such
order; 2 a usage error, a settings problem, or a journal that cannot be opened
or trusted (one line on stderr naming the file).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from runtime._tables import Table, read_file
from runtime.cli_remote import render
from runtime.config import SyncMode
from runtime.errors import JournalError, SettingsError
from runtime.journal_query import (
    EventRow,
    FillRow,
    JournalReader,
    OrderRow,
    PnlReport,
    PruneCounts,
    count_prunable,
    prune,
)
from runtime.journal_store import open_journal
from runtime.messages import (
    CancelOrder,
    Fill,
    Message,
    ModifyOrder,
    OrderAnomaly,
    OrderReconciled,
    OrderUpdate,
)
from runtime.settings import read_journal

__all__ = [
    "DEFAULT_SETTINGS",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "JOURNAL_COMMANDS",
    "NO_UNREALIZED",
    "add_journal_command",
    "clock",
    "run_journal",
]

DEFAULT_SETTINGS: Final = "settings.toml"
"""The settings file read when neither ``--settings`` nor ``--db`` is given."""
EXIT_OK: Final = 0
"""Done."""
EXIT_NOT_FOUND: Final = 1
"""``order COID``: the journal has no such order."""
EXIT_USAGE: Final = 2
"""A usage error, a settings problem, a journal that cannot be opened or trusted."""
JOURNAL_COMMANDS: Final[tuple[str, ...]] = (
    "open",
    "orders",
    "fills",
    "order",
    "pnl",
    "export",
    "prune",
)
"""The subcommands of ``tradepit journal``."""

clock: Callable[[], int] = time.time_ns
"""Now, ns since the epoch: the ages of ``open`` and the cut-off of ``prune``
(tests replace it)."""

NO_UNREALIZED: Final = (
    "Realized P&L only: the journal holds no market prices, so open positions are not "
    "marked (last_price is the price of the position's last fill, not a market price)."
)
"""The note ``pnl`` prints under its tables (and gives as ``note`` in JSON)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS = 1_000_000_000

_OPEN_COLUMNS = (
    "client_order_id",
    "strategy_id",
    "symbol",
    "side",
    "order_type",
    "quantity",
    "filled_quantity",
    "limit_price",
    "stop_price",
    "status",
    "engine",
    "created",
    "age",
)
_ORDER_COLUMNS = (
    "client_order_id",
    "strategy_id",
    "symbol",
    "side",
    "order_type",
    "time_in_force",
    "quantity",
    "filled_quantity",
    "avg_fill_price",
    "limit_price",
    "stop_price",
    "status",
    "reason",
    "engine",
    "created",
    "updated",
)
_FILL_COLUMNS = (
    "time",
    "client_order_id",
    "fill_id",
    "strategy_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "commission",
    "engine",
)


# --- argument types (argparse turns their errors into usage errors, exit 2) -----------


def _since(text: str) -> int:
    """A date or date-time, UTC unless it names an offset, as ns since the epoch."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected a date YYYY-MM-DD or a date-time YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM] "
            f"(UTC unless it says), got {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(microseconds=1) * 1000


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days >= 0, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number of days >= 0, got {text!r}")
    return value


# --- the parser --------------------------------------------------------------------------


def add_journal_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register ``journal`` and its subcommands on ``tradepit``'s subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument(
        "--settings",
        metavar="FILE",
        default=None,
        help=f"settings file whose [journal] path to read (default {DEFAULT_SETTINGS})",
    )
    where.add_argument("--db", type=Path, metavar="PATH", help="the journal file itself")
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")

    journal = subparsers.add_parser(
        "journal",
        help="read, export or prune the journal (works while the runtime runs)",
        description="Read, export or prune the SQLite journal (docs/journal.md).",
    )
    commands = journal.add_subparsers(dest="journal_command", required=True, metavar="COMMAND")

    def add(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, description=text, parents=[common])

    def filters(parser: argparse.ArgumentParser, since: str) -> None:
        parser.add_argument("--strategy", metavar="ID", help="only this strategy's")
        parser.add_argument("--since", type=_since, metavar="DATE|DATETIME", help=since)
        parser.add_argument(
            "--limit", type=_limit, metavar="N", help="only the most recent N (still oldest first)"
        )

    add("open", "open orders (not in a terminal state), oldest first")
    filters(
        add("orders", "every order, oldest first"),
        "only orders made at or after this time (UTC unless it says)",
    )
    filters(
        add("fills", "every execution, in the order the journal received them"),
        "only fills executed at or after this time (UTC unless it says)",
    )
    order = add("order", "one order's last state and every event about it, oldest first")
    order.add_argument("client_order_id", metavar="COID", help="the client order id")
    pnl = add("pnl", "realized P&L, fees and positions per strategy, replayed from the fills")
    pnl.add_argument("--strategy", metavar="ID", help="only this strategy")
    export = add("export", "write orders.csv, fills.csv and events.csv")
    export.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder to write (created)"
    )
    export.add_argument(
        "--since",
        type=_since,
        metavar="DATE|DATETIME",
        help="only orders made and fills and events dated at or after this time",
    )
    prune_cmd = add("prune", "delete finished orders and events older than DAYS (fills are kept)")
    prune_cmd.add_argument(
        "--older-than", type=_days, required=True, metavar="DAYS", help="age in days (>= 0)"
    )
    prune_cmd.add_argument(
        "--yes", action="store_true", help="really delete (without it: only say what would go)"
    )


# --- formatting ---------------------------------------------------------------------------


def _iso(ns: int, digits: int) -> str:
    """``ns`` since the epoch as UTC ISO-8601 with ``digits`` fractional digits."""
    seconds, fraction = divmod(ns, _NS)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction // 10 ** (9 - digits):0{digits}d}Z"


def _age(ns: int) -> str:
    rest = max(0, ns) // _NS
    days, rest = divmod(rest, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


class _Out:
    """Where and how a command prints: a table or JSON on stdout."""

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        self.digits = 9 if as_json else 3

    def time(self, ns: int) -> str:
        return _iso(ns, self.digits)

    def emit(self, value: Any) -> None:
        if self.json:
            text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
        elif isinstance(value, list):
            text = render("journal", value)
        else:
            text = str(value)
        print(text, flush=True)

    def rows(self, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
        self.emit(rows if self.json else [{c: r.get(c) for c in columns} for r in rows])


def _order_dict(row: OrderRow, out: _Out) -> dict[str, Any]:
    data = asdict(row)
    data["created"] = out.time(data.pop("created_ns"))
    data["updated"] = out.time(data.pop("updated_ns"))
    return data


def _fill_dict(row: FillRow, out: _Out) -> dict[str, Any]:
    data = asdict(row)
    return {"time": out.time(data.pop("ts_ns")), **data}


def _event_summary(message: Message) -> dict[str, Any]:
    """The columns of one event in ``order COID``'s table."""
    status: str | None = None
    quantity: float | None = None
    filled: float | None = None
    price: float | None = None
    detail = ""
    if isinstance(message, OrderUpdate):
        status, quantity, filled = message.status.value, message.quantity, message.filled_quantity
        price = message.avg_fill_price
        parts = [message.reason.value if message.reason is not None else "", message.message]
        detail = ": ".join(p for p in parts if p)
    elif isinstance(message, Fill):
        quantity, price = message.quantity, message.price
        detail = f"fill {message.fill_id}, commission {message.commission:.10g}"
    elif isinstance(message, CancelOrder):
        detail = "cancel requested"
    elif isinstance(message, ModifyOrder):
        quantity, price = message.quantity, message.limit_price
        asked = {"quantity": message.quantity, "limit": message.limit_price}
        asked["stop"] = message.stop_price
        detail = "modify requested: " + ", ".join(
            f"{k} {v:.10g}" for k, v in asked.items() if v is not None
        )
    elif isinstance(message, OrderReconciled):
        status, filled, detail = message.after.value, message.filled_after, message.detail
    elif isinstance(message, OrderAnomaly):
        detail = f"anomaly: {message.event}: {message.detail}"
    return {
        "status": status,
        "quantity": quantity,
        "filled_quantity": filled,
        "price": price,
        "detail": detail,
    }


# --- the commands --------------------------------------------------------------------------


@contextmanager
def _reading(path: Path) -> Iterator[JournalReader]:
    store = open_journal(path, readonly=True)
    try:
        yield JournalReader(store)
    finally:
        store.close()


def _open(args: argparse.Namespace, path: Path, out: _Out) -> int:
    now = clock()
    with _reading(path) as reader:
        orders = reader.open_orders()
    rows = []
    for order in orders:
        row = _order_dict(order, out)
        age = now - order.created_ns
        if out.json:
            row["age_s"] = age / _NS
        else:
            row["age"] = _age(age)
        rows.append(row)
    out.rows(rows, _OPEN_COLUMNS)
    return EXIT_OK


def _orders(args: argparse.Namespace, path: Path, out: _Out) -> int:
    with _reading(path) as reader:
        orders = reader.orders(strategy=args.strategy, since_ns=args.since, limit=args.limit)
    out.rows([_order_dict(o, out) for o in orders], _ORDER_COLUMNS)
    return EXIT_OK


def _fills(args: argparse.Namespace, path: Path, out: _Out) -> int:
    with _reading(path) as reader:
        fills = reader.fills(strategy=args.strategy, since_ns=args.since, limit=args.limit)
    out.rows([_fill_dict(f, out) for f in fills], _FILL_COLUMNS)
    return EXIT_OK


def _order(args: argparse.Namespace, path: Path, out: _Out) -> int:
    coid: str = args.client_order_id
    with _reading(path) as reader:
        history = reader.order(coid)
    if history is None:
        _error(f"journal {path}: no order {coid!r}")
        return EXIT_NOT_FOUND
    order = _order_dict(history.order, out) if history.order is not None else None
    events = []
    for event, message in zip(history.events, history.messages, strict=True):
        head = {"jseq": event.jseq, "seq": event.seq, "time": out.time(event.ts_ns)}
        if out.json:
            events.append({**head, "run": event.run, "type": event.type, "message": event.data()})
        else:
            events.append({**head, "type": event.type, **_event_summary(message)})
    if out.json:
        out.emit({"order": order, "events": events})
        return EXIT_OK
    head_text = render("journal", order) if order is not None else "(no orders row: pruned?)"
    events_text = render("journal", events)
    out.emit(f"order {coid}\n{head_text}\n\nevents ({len(events)}):\n{events_text}")
    return EXIT_OK


def _pnl_dicts(report: PnlReport) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    strategies = [{**asdict(s), "net_pnl": s.net_pnl} for s in (*report.strategies, report.total)]
    return strategies, [asdict(p) for p in report.positions]


def _pnl(args: argparse.Namespace, path: Path, out: _Out) -> int:
    with _reading(path) as reader:
        report = reader.pnl(strategy=args.strategy)
    strategies, positions = _pnl_dicts(report)
    if out.json:
        out.emit(
            {
                "strategies": strategies[:-1],
                "total": strategies[-1],
                "positions": positions,
                "unrealized_pnl": None,
                "note": NO_UNREALIZED,
            }
        )
        return EXIT_OK
    if not report.strategies:
        out.emit("(no fills)")
        return EXIT_OK
    out.emit(
        f"{render('journal', strategies)}\n\n{render('journal', positions)}\n\n{NO_UNREALIZED}"
    )
    return EXIT_OK


def _write_csv(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Write ``rows`` (header first) to a temporary file renamed to ``path``."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, path)


def _csv_order(row: OrderRow) -> dict[str, Any]:
    data = asdict(row)
    data["acked"] = int(row.acked)
    return {**data, "created": _iso(row.created_ns, 9), "updated": _iso(row.updated_ns, 9)}


def _csv_fill(row: FillRow) -> dict[str, Any]:
    return {**asdict(row), "time": _iso(row.ts_ns, 9)}


def _csv_event(row: EventRow) -> dict[str, Any]:
    data = asdict(row)
    del data["body"]
    try:
        text = row.body.decode("utf-8")
    except UnicodeDecodeError:
        text = row.body.hex()
    return {**data, "time": _iso(row.ts_ns, 9), "json": text}


def _export(args: argparse.Namespace, path: Path, out: _Out) -> int:
    folder: Path = args.out
    with _reading(path) as reader, reader.snapshot():
        orders = reader.orders(since_ns=args.since)
        fills = reader.fills(since_ns=args.since)
        events = reader.events(since_ns=args.since)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _error(f"export: --out {folder}: cannot create the folder: {exc}")
        return EXIT_USAGE
    tables: list[tuple[str, list[dict[str, Any]]]] = [
        ("orders.csv", [_csv_order(o) for o in orders]),
        ("fills.csv", [_csv_fill(f) for f in fills]),
        ("events.csv", [_csv_event(e) for e in events]),
    ]
    columns = {
        "orders.csv": [*(n for n in OrderRow.__dataclass_fields__), "created", "updated"],
        "fills.csv": [*(n for n in FillRow.__dataclass_fields__), "time"],
        "events.csv": [*(n for n in EventRow.__dataclass_fields__ if n != "body"), "time", "json"],
    }
    written = []
    for name, rows in tables:
        target = folder / name
        try:
            _write_csv(target, rows, columns[name])
        except OSError as exc:
            _error(f"export: cannot write {target}: {exc}")
            return EXIT_USAGE
        written.append({"path": str(target), "rows": len(rows)})
    if out.json:
        out.emit(written)
    else:
        out.emit("\n".join(f"wrote {w['path']} ({w['rows']} rows)" for w in written))
    return EXIT_OK


def _prune(args: argparse.Namespace, target: _Target, out: _Out) -> int:
    cutoff = clock() - int(args.older_than * 86_400 * _NS)
    if args.yes:
        if not target.path.exists():  # open_journal would create it
            raise JournalError(f"journal {target.path}: no such file")
        store = open_journal(target.path, synchronous=target.synchronous, lock=False)
        try:
            counts = prune(store, cutoff)
        finally:
            store.close()
    else:
        with _reading(target.path) as reader:
            counts = count_prunable(reader.store, cutoff)
    out.emit(_prune_report(counts, deleted=args.yes, out=out))
    return EXIT_OK


def _prune_report(counts: PruneCounts, *, deleted: bool, out: _Out) -> Any:
    when = out.time(counts.cutoff_ns)
    if out.json:
        return {
            "cutoff": when,
            "deleted": deleted,
            "orders": counts.orders,
            "events": counts.events,
            "open_orders_kept": counts.open_orders,
            "fills_kept": counts.fills,
        }
    what = f"{counts.orders} finished orders and {counts.events} events older than {when}"
    kept = f"kept: {counts.open_orders} open orders, {counts.fills} fills (fills are never pruned)"
    if deleted:
        return f"deleted {what}; {kept}"
    return f"would delete {what}; {kept}.\nNothing was changed: run again with --yes to delete."


_READERS: Final[dict[str, Callable[[argparse.Namespace, Path, _Out], int]]] = {
    "open": _open,
    "orders": _orders,
    "fills": _fills,
    "order": _order,
    "pnl": _pnl,
    "export": _export,
}


def _error(text: str) -> None:
    print(f"tradepit: {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class _Target:
    """The journal a command works on."""

    path: Path
    synchronous: SyncMode
    """``[journal] synchronous`` (what ``prune --yes`` commits with)."""


def _locate(args: argparse.Namespace) -> _Target:
    """The journal ``--db`` names, or the one of the settings file's ``[journal]``."""
    if args.db is not None:
        return _Target(args.db, SyncMode.FULL)
    source = args.settings if args.settings is not None else DEFAULT_SETTINGS
    text = read_file(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(source, "", f"not valid TOML: {exc}") from None
    config = read_journal(Table(source, "", data).table("journal"), Path(source).resolve().parent)
    if not config.path.exists() and not config.enabled:
        raise JournalError(
            f"journal {config.path}: no such file ([journal] enabled is false in {source})"
        )
    return _Target(config.path, config.synchronous)


def run_journal(args: argparse.Namespace) -> int | None:
    """Run ``tradepit journal ...`` if ``args`` is that; returns its exit code, or
    None for any other subcommand."""
    if getattr(args, "command", None) != "journal":
        return None
    out = _Out(args.json)
    try:
        target = _locate(args)
        if args.journal_command == "prune":
            return _prune(args, target, out)
        return _READERS[args.journal_command](args, target.path, out)
    except SettingsError as exc:
        hint = "" if args.settings is not None else " (give --settings FILE or --db PATH)"
        _error(f"{exc}{hint}")
        return EXIT_USAGE
    except JournalError as exc:
        _error(str(exc))
        return EXIT_USAGE
