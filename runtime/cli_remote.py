"""``tradepit`` subcommands that talk to a running runtime, and ``tradepit keys``.

Each command subcommand sends one request to the gateway
(:class:`runtime.client.Client`) and prints the result, as a table or lines,
or as JSON with ``--json``; ``tail`` prints the event stream; ``keys``
writes a CURVE key pair. :func:`add_remote_commands` registers them all on
the ``tradepit`` parser and :func:`run_remote` runs the one chosen.

Exit codes: 0 done; 1 the runtime refused (``tradepit: CODE: message`` on
stderr); 2 a usage error or an unusable key file; 3 no answer (the runtime
is not running, its gateway is off, or it did not answer in time).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, TextIO

import orjson

from actors.event_sink import describe
from runtime.client import (
    HEARTBEAT_TYPE,
    Client,
    ClientError,
    ClientTimeoutError,
    CurveKeys,
    Event,
    Gap,
    RemoteError,
    SequenceResetError,
    Subscription,
)
from runtime.errors import CodecError
from runtime.gateway_protocol import COMMANDS
from runtime.keys import KeyFileError, create_keys
from runtime.messages import OrderType, Side, TimeInForce
from runtime.text_table import text_table

__all__ = [
    "DEFAULT_COMMANDS",
    "DEFAULT_EVENTS",
    "EXIT_NO_ANSWER",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "REMOTE_COMMANDS",
    "add_remote_commands",
    "event_line",
    "render",
    "run_remote",
]

DEFAULT_COMMANDS: Final = "tcp://127.0.0.1:5600"
"""Where ``[gateway] commands`` binds by default."""
DEFAULT_EVENTS: Final = "tcp://127.0.0.1:5601"
"""Where ``[gateway] events`` binds by default."""

EXIT_OK: Final = 0
"""Done."""
EXIT_REFUSED: Final = 1
"""The runtime refused the command (``tradepit: CODE: message`` on stderr)."""
EXIT_USAGE: Final = 2
"""A usage error, an unusable endpoint or key file, a key file that exists already."""
EXIT_NO_ANSWER: Final = 3
"""No (usable) answer: nothing in time, no heartbeat in time, or a broken reply."""

_WIRE: Final[dict[str, str]] = {
    "status": "status",
    "actors": "actors",
    "engines": "engines",
    "strategies": "strategies",
    "positions": "positions",
    "orders": "orders",
    "add-strategy": "add_strategy",
    "remove-strategy": "remove_strategy",
    "restart-strategy": "restart_strategy",
    "pause": "pause",
    "resume": "resume",
    "reduce": "reduce",
    "reset": "reset",
    "halt": "halt",
    "set-engine": "set_engine",
    "submit": "submit_order",
    "cancel": "cancel_order",
    "cancel-all": "cancel_all",
    "shutdown": "shutdown",
}
"""Subcommand -> command of :data:`runtime.gateway_protocol.COMMANDS`."""

REMOTE_COMMANDS: Final[tuple[str, ...]] = (*_WIRE, "tail", "keys")
"""Every subcommand this module adds."""

_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "actors": ("name", "kind", "state", "alive", "failures", "restarts", "last_error"),
    "strategies": (
        "id",
        "class_path",
        "symbols",
        "state",
        "paused",
        "failures",
        "restarts",
        "last_error",
    ),
    "positions": (
        "strategy_id",
        "symbol",
        "quantity",
        "avg_price",
        "mark_price",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
    ),
    "orders": (
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
        "engine",
        "reason",
    ),
}
"""Columns shown by the table commands (those the rows have, in this order)."""


# --- argument types (argparse turns their errors into usage errors, exit 2) -----------


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _not_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _symbols(text: str) -> list[str]:
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError(f"expected symbols separated by commas, got {text!r}")
    return symbols


def _json_value(text: str) -> Any:
    """JSON when ``text`` is JSON (numbers, true, lists...), else the string itself."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, _json_value(value)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _choice(enum: type[Side | OrderType | TimeInForce]) -> list[str]:
    return [m.value.lower() for m in enum]


# --- the parsers ------------------------------------------------------------------------


def _parents() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    keys = argparse.ArgumentParser(add_help=False)
    keys.add_argument(
        "--server-key",
        type=Path,
        metavar="FILE",
        help="the runtime's public-key file (CURVE; with --client-key)",
    )
    keys.add_argument(
        "--client-key",
        type=Path,
        metavar="FILE",
        help="this client's secret-key file, NAME.key_secret (CURVE; with --server-key)",
    )
    keys.add_argument("--json", action="store_true", help="print raw JSON")
    request = argparse.ArgumentParser(add_help=False, parents=[keys])
    request.add_argument(
        "--endpoint",
        default=DEFAULT_COMMANDS,
        help=f"the gateway's command endpoint (default {DEFAULT_COMMANDS})",
    )
    request.add_argument(
        "--timeout",
        type=_positive,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the answer (default 10)",
    )
    return keys, request


def _strategy_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--strategy", metavar="ID", default=None, help=help_text)


def _reason_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", metavar="TEXT", default=None, help="why (logged and published)")


def add_remote_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register every subcommand of :data:`REMOTE_COMMANDS` on ``tradepit``'s subparsers."""
    keys_parent, request = _parents()

    def add(name: str, help_text: str | None = None) -> argparse.ArgumentParser:
        text = help_text if help_text is not None else COMMANDS[_WIRE[name]].summary
        return subparsers.add_parser(name, help=text, description=text, parents=[request])

    for name in ("status", "actors", "engines", "strategies"):
        add(name)
    _strategy_option(add("positions"), "only this strategy's positions")
    orders = add("orders")
    _strategy_option(orders, "only this strategy's orders")
    orders.add_argument(
        "--all", action="store_true", help="finished orders too, not only open ones"
    )

    add_strategy = add("add-strategy")
    add_strategy.add_argument("id", metavar="ID", help="the new strategy's id")
    add_strategy.add_argument(
        "class_path", metavar="CLASS", help="module:Class or file.py:Class (as settings allow)"
    )
    add_strategy.add_argument(
        "--symbols", type=_symbols, required=True, metavar="A,B", help="symbols it trades"
    )
    add_strategy.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter (repeatable); VALUE is read as JSON when it is JSON, else as text",
    )
    add_strategy.add_argument(
        "--params-json", type=_json_object, metavar="JSON", help="parameters as a JSON object"
    )
    add_strategy.add_argument(
        "--risk-json", type=_json_object, metavar="JSON", help="per-strategy risk limits (object)"
    )
    add_strategy.add_argument(
        "--supervision-json", type=_json_object, metavar="JSON", help="supervision (object)"
    )
    remove = add("remove-strategy")
    remove.add_argument("id", metavar="ID", help="the strategy to stop")
    remove.add_argument(
        "--policy",
        choices=("cancel", "keep", "flatten"),
        default="cancel",
        help="its working orders: cancel them (default), keep them, or cancel and flatten",
    )
    add("restart-strategy").add_argument("id", metavar="ID", help="the strategy to restart")
    for name in ("pause", "resume"):
        parser = add(name)
        _strategy_option(parser, "only this strategy (default: the whole runtime)")
        _reason_option(parser)
    for name in ("reduce", "reset", "halt"):
        _reason_option(add(name))
    engine = add("set-engine")
    choice = engine.add_mutually_exclusive_group(required=True)
    choice.add_argument("name", nargs="?", metavar="NAME", help="the engine to pin")
    choice.add_argument("--auto", action="store_true", help="unpin: automatic failover again")

    submit = add("submit")
    submit.add_argument("symbol", metavar="SYMBOL", help="what to trade")
    submit.add_argument("side", type=str.lower, choices=_choice(Side), help="buy or sell")
    submit.add_argument("quantity", type=_positive, metavar="QTY", help="how much (> 0)")
    submit.add_argument(
        "--type",
        type=str.lower,
        choices=_choice(OrderType),
        default="market",
        help="order type (default market)",
    )
    submit.add_argument("--limit", type=_number, metavar="PRICE", help="limit price")
    submit.add_argument("--stop", type=_number, metavar="PRICE", help="stop price")
    submit.add_argument(
        "--tif",
        type=str.lower,
        choices=_choice(TimeInForce),
        default="day",
        help="time in force (default day)",
    )
    _strategy_option(submit, "the strategy it counts for (default: manual)")
    add("cancel").add_argument("client_order_id", metavar="CLIENT_ORDER_ID")
    _strategy_option(add("cancel-all"), "only this strategy's orders")
    _reason_option(add("shutdown"))

    tail = subparsers.add_parser(
        "tail",
        help="print the event stream",
        description="Print events as they are published; lost events show as '!!' lines.",
        parents=[keys_parent],
    )
    tail.add_argument(
        "topics",
        nargs="*",
        metavar="TOPIC",
        help="topic prefixes, e.g. order. strategy. (default: everything)",
    )
    tail.add_argument(
        "--events",
        default=DEFAULT_EVENTS,
        help=f"the gateway's event endpoint (default {DEFAULT_EVENTS})",
    )
    tail.add_argument("--heartbeats", action="store_true", help="show heartbeats too")
    tail.add_argument("--count", type=_count, metavar="N", help="stop after N events")
    tail.add_argument(
        "--timeout",
        type=_not_negative,
        default=10.0,
        metavar="SECONDS",
        help="exit 3 after this long without a heartbeat (default 10; 0: wait forever)",
    )

    keys = subparsers.add_parser(
        "keys",
        help="write a CURVE key pair for the gateway or a client",
        description="Write NAME.key (public) and NAME.key_secret (secret) into DIR.",
    )
    keys.add_argument("--dir", required=True, type=Path, metavar="DIR", help="where to write")
    keys.add_argument("--name", default="client", help="file name stem (default client)")


# --- running them ----------------------------------------------------------------------


def _error(text: str) -> None:
    print(f"tradepit: {text}", file=sys.stderr, flush=True)


def _keys(args: argparse.Namespace) -> CurveKeys | None:
    if (args.server_key is None) != (args.client_key is None):
        raise KeyFileError("--server-key and --client-key go together (CURVE); give both or none")
    if args.server_key is None:
        return None
    return CurveKeys.from_files(args.server_key, args.client_key)


def _params(args: argparse.Namespace) -> dict[str, Any] | None:
    params: dict[str, Any] | None = None
    if args.params_json is not None:
        params = dict(args.params_json)
    for key, value in args.param:
        params = {} if params is None else params
        if key in params:
            raise ValueError(f"--param {key}: given twice (or also in --params-json)")
        params[key] = value
    return params


def _call(client: Client, args: argparse.Namespace) -> Any:
    command: str = args.command
    if command == "positions":
        return client.positions(args.strategy)
    if command == "orders":
        return client.orders(args.strategy, open_only=False if args.all else None)
    if command == "add-strategy":
        return client.add_strategy(
            args.id,
            args.class_path,
            args.symbols,
            params=_params(args),
            risk=args.risk_json,
            supervision=args.supervision_json,
        )
    if command == "remove-strategy":
        return client.remove_strategy(args.id, args.policy)
    if command == "restart-strategy":
        return client.restart_strategy(args.id)
    if command in ("pause", "resume"):
        call = client.pause if command == "pause" else client.resume
        return call(args.strategy, args.reason)
    if command in ("reduce", "reset", "halt", "shutdown"):
        calls = {
            "reduce": client.reduce,
            "reset": client.reset,
            "halt": client.halt,
            "shutdown": client.shutdown,
        }
        return calls[command](args.reason)
    if command == "set-engine":
        return client.set_engine("" if args.auto else args.name)
    if command == "submit":
        return client.submit_order(
            args.symbol,
            args.side,
            args.quantity,
            order_type=args.type,
            limit_price=args.limit,
            stop_price=args.stop,
            time_in_force=args.tif,
            strategy=args.strategy,
        )
    if command == "cancel":
        return client.cancel_order(args.client_order_id)
    if command == "cancel-all":
        return client.cancel_all(args.strategy)
    return client.request(_WIRE[command])


def _request(args: argparse.Namespace) -> int:
    try:
        keys = _keys(args)
        with Client(args.endpoint, keys=keys, timeout_s=args.timeout) as client:
            result = _call(client, args)
    except (KeyFileError, ValueError) as exc:
        _error(f"{args.command}: {exc}")
        return EXIT_USAGE
    except RemoteError as exc:
        _error(f"{exc.code}: {exc.message}")
        return EXIT_REFUSED
    except ClientTimeoutError:
        _error(
            f"no answer from {args.endpoint} in {args.timeout:g}s; "
            "is the runtime running with [gateway] enabled?"
        )
        return EXIT_NO_ANSWER
    except ClientError as exc:
        _error(str(exc))
        return EXIT_NO_ANSWER
    if args.json:
        print(_json(result), flush=True)
    else:
        print(render(args.command, result), flush=True)
    return EXIT_OK


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


def _table(rows: list[dict[str, Any]], preferred: Sequence[str]) -> str:
    present = {key for row in rows for key in row}
    columns = [c for c in preferred if c in present] or list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    numeric = [
        all(
            isinstance(row.get(c), int | float) and not isinstance(row.get(c), bool)
            for row in rows
            if row.get(c) is not None
        )
        for c in columns
    ]
    left = {i for i, is_number in enumerate(numeric) if not is_number}
    return text_table(columns, cells, left=left)


def _lines(value: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            out.extend(_lines(item, f"{name}."))
        else:
            out.append(f"{name}: {_cell(item)}")
    return out


def render(command: str, result: Any) -> str:
    """The readable form of ``command``'s result: a table, ``key: value`` lines or a value."""
    if result is None:
        return "ok"
    if isinstance(result, list):
        if not result:
            return "(none)"
        if all(isinstance(row, dict) for row in result):
            return _table(result, _COLUMNS.get(command, ()))
        return "\n".join(_cell(item) for item in result)
    if isinstance(result, dict):
        return "\n".join(_lines(result)) or "ok"
    return _cell(result)


# --- tail --------------------------------------------------------------------------------


def _gap_line(gap: Gap) -> str:
    where = "seq" if gap.topic is None else f"{gap.topic} tseq"
    return f"!! missed {gap.missed} events ({where} {gap.expected}..{gap.got - 1})"


def event_line(event: Event) -> str:
    """One readable line for an event: ``#SEQ`` and the event sink's description."""
    if event.type == HEARTBEAT_TYPE:
        data = event.data
        return (
            f"#{event.seq} heartbeat {data.get('runtime', '?')} {data.get('state', '?')} "
            f"dropped {data.get('dropped', 0)}"
        )
    try:
        message = event.message()
    except CodecError as exc:
        return f"#{event.seq} {event.type} (undecodable: {exc}) {orjson.dumps(event.data).decode()}"
    if message is None:
        return f"#{event.seq} {event.type} {orjson.dumps(event.data).decode()}"
    return f"#{event.seq} {describe(message)}"


def _tail(args: argparse.Namespace, out: TextIO) -> int:
    silence = args.timeout if args.timeout > 0 else None
    as_json: bool = args.json

    def write(text: str) -> None:
        print(text, file=out, flush=True)

    def note(text: str) -> None:
        """A '!!' line: with the events, or on stderr when stdout is JSON lines."""
        if as_json:
            _error(text)
        else:
            write(f"!! {text}")

    shown = 0
    dropped: int | None = None  # the runtime's drop count when tail started
    try:
        sub = Subscription(
            args.events, args.topics or ("",), keys=_keys(args), heartbeat_timeout_s=silence
        )
    except (KeyFileError, ValueError) as exc:
        _error(f"tail: {exc}")
        return EXIT_USAGE
    try:
        with sub:
            while args.count is None or shown < args.count:
                try:
                    item = sub.next(None)
                except SequenceResetError as exc:
                    note(f"{exc}; numbering starts again")
                    dropped = None
                    continue
                if item is None:
                    continue
                if isinstance(item, Gap):
                    if as_json:
                        gap = {"type": "Gap", "topic": item.topic, "expected": item.expected}
                        write(_json_line({**gap, "got": item.got, "missed": item.missed}))
                    else:
                        write(_gap_line(item))
                    continue
                if item.type == HEARTBEAT_TYPE:
                    now = item.data.get("dropped")
                    if isinstance(now, int):
                        if dropped is not None and now > dropped:
                            note(f"the runtime dropped {now - dropped} events (queue full)")
                        dropped = now
                    if not args.heartbeats:
                        continue
                write(_json_line(item.data) if as_json else event_line(item))
                shown += 1
    except (KeyboardInterrupt, BrokenPipeError):
        return EXIT_OK
    except ClientError as exc:  # no heartbeat in time, most likely
        _error(str(exc))
        return EXIT_NO_ANSWER
    return EXIT_OK


def _json_line(value: Any) -> str:
    return orjson.dumps(value).decode()


def _write_keys(args: argparse.Namespace) -> int:
    try:
        files = create_keys(args.dir, args.name)
    except KeyFileError as exc:
        _error(f"keys: {exc}")
        return EXIT_USAGE
    print(
        f"wrote {files.public} (public key: give it out)\n"
        f"  and {files.secret} (secret key: keep it private)\n"
        f'For the runtime: [gateway.curve] server_secret_key = "{files.secret}"; '
        f"clients pass --server-key {files.public}.\n"
        f"For a client: copy {files.public} into the runtime's control_keys (or readonly_keys) "
        f"directory; pass --client-key {files.secret}.",
        flush=True,
    )
    return EXIT_OK


def run_remote(args: argparse.Namespace) -> int | None:
    """Run the subcommand in ``args`` if it is one of :data:`REMOTE_COMMANDS`.

    Returns its exit code, or None for any other subcommand.
    """
    command = getattr(args, "command", None)
    if command not in REMOTE_COMMANDS:
        return None
    try:
        if command == "keys":
            return _write_keys(args)
        if command == "tail":
            return _tail(args, sys.stdout)
        return _request(args)
    except KeyboardInterrupt:
        return EXIT_OK if command == "tail" else 130
