"""The report folder of ``tradepit backtest --report DIR`` and the terminal table.

:func:`write_report` writes, from one :class:`runtime.backtest_types.BacktestResult`:

* ``summary.json``: the run (settings, data, start and end, events, starting
  cash, strategies with their params, halted) and the metrics per strategy and
  ``TOTAL``; sorted keys, indented, no wall-clock time in it.
* ``trades.csv``: the round trips; ``fills.csv``: every execution;
  ``orders.csv``: every order with how it ended; ``equity.csv``: the equity
  after every event, total and per strategy.
* ``equity.png``: the total equity and its drawdown (:mod:`runtime.png_chart`).
* ``report.html``: one self-contained page showing all of it.

Times are ISO 8601 UTC (``2024-01-02T15:30:00Z``, with a fraction of a second
only when there is one). Floats in the CSV files are written with ``repr``,
which reads back to the same float, so identical runs give byte-identical files.
:func:`format_metrics_table` is the table ``tradepit backtest`` prints.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from enum import Enum
from pathlib import Path

import orjson

from runtime.backtest_types import BacktestResult, Metrics, OrderRecord
from runtime.png_chart import equity_chart_png
from runtime.text_table import text_table

__all__ = ["HTML_TRADES_LIMIT", "format_metrics_table", "iso_utc", "write_report"]

HTML_TRADES_LIMIT = 500
"""Round trips listed in ``report.html``; the rest are only in ``trades.csv``."""

TOTAL = "TOTAL"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

TRADES_COLUMNS = (
    "strategy_id",
    "symbol",
    "side",
    "quantity",
    "opened_at",
    "closed_at",
    "pnl",
    "fees",
)
FILLS_COLUMNS = (
    "ts",
    "strategy_id",
    "client_order_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "commission",
    "slippage",
)
ORDERS_COLUMNS = tuple(f.name for f in fields(OrderRecord))


def iso_utc(ns: int) -> str:
    """``ns`` since the epoch as ISO 8601 UTC; the fraction in 3, 6 or 9 digits, if any."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = (_EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        digits = f"{fraction:09d}"
        while digits.endswith("000"):
            digits = digits[:-3]
        text += "." + digits
    return text + "Z"


# --- the terminal and HTML metrics table ---------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


_METRIC_COLUMNS: tuple[tuple[str, Callable[[Metrics], str]], ...] = (
    ("return %", lambda m: _pct(m.total_return)),
    ("CAGR %", lambda m: _pct(m.cagr)),
    ("vol %", lambda m: _pct(m.volatility)),
    ("Sharpe", lambda m: _ratio(m.sharpe)),
    ("Sortino", lambda m: _ratio(m.sortino)),
    ("max DD %", lambda m: _pct(m.max_drawdown)),
    ("DD days", lambda m: f"{m.max_drawdown_duration_s / 86_400:.1f}"),
    ("trades", lambda m: str(m.trades)),
    ("win %", lambda m: _pct(m.win_rate)),
    ("PF", lambda m: _ratio(m.profit_factor)),
    ("exposure %", lambda m: _pct(m.exposure)),
    ("fees", lambda m: f"{m.fees:,.2f}"),
)


def _metrics_rows(result: BacktestResult) -> list[tuple[str, Metrics]]:
    """(name, metrics) per strategy in settings order, then TOTAL."""
    rows = []
    for name in (*result.strategies, TOTAL):
        metrics = result.metrics.get(name)
        if metrics is None:
            have = ", ".join(sorted(result.metrics)) or "none"
            raise ValueError(f"result.metrics: no metrics for {name!r} (have: {have})")
        rows.append((name, metrics))
    return rows


def format_metrics_table(result: BacktestResult) -> str:
    """A plain-text table: one row per strategy, a rule, then TOTAL; None shows as "-"."""
    headers = ("strategy", *(title for title, _ in _METRIC_COLUMNS))
    rows = [
        (name, *(cell(metrics) for _, cell in _METRIC_COLUMNS))
        for name, metrics in _metrics_rows(result)
    ]
    return text_table(headers, rows, left=(0,), total=True)


# --- the files -------------------------------------------------------------------


def write_report(result: BacktestResult, folder: Path) -> tuple[Path, ...]:
    """Write the report files into ``folder`` (created if missing); their paths, in order."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"folder: expected a directory, got the file {str(folder)!r}")
    folder.mkdir(parents=True, exist_ok=True)
    rows = _metrics_rows(result)
    png = equity_chart_png(result.equity.ts, result.equity.total, starting=result.starting_cash)
    contents: tuple[tuple[str, bytes], ...] = (
        ("summary.json", _summary_json(result, rows)),
        ("trades.csv", _trades_csv(result)),
        ("fills.csv", _fills_csv(result)),
        ("orders.csv", _orders_csv(result)),
        ("equity.csv", _equity_csv(result)),
        ("equity.png", png),
        ("report.html", _html(result, rows, png).encode("utf-8")),
    )
    paths = []
    for name, data in contents:
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return tuple(paths)


def _metrics_dict(metrics: Metrics) -> dict[str, object]:
    return {f.name: getattr(metrics, f.name) for f in fields(Metrics)}


def _json_default(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)


def _summary_json(result: BacktestResult, rows: list[tuple[str, Metrics]]) -> bytes:
    has_data = result.events > 0
    summary = {
        "settings": result.settings,
        "data": list(result.data),
        "start": iso_utc(result.start_ns) if has_data else None,
        "end": iso_utc(result.end_ns) if has_data else None,
        "start_ns": result.start_ns,
        "end_ns": result.end_ns,
        "events": result.events,
        "starting_cash": result.starting_cash,
        "strategies": [
            {"id": sid, "params": dict(result.params.get(sid, {}))} for sid in result.strategies
        ],
        "halted": result.halted,
        "orders": len(result.orders),
        "fills": len(result.fills),
        "trades": len(result.trips),
        "metrics": {name: _metrics_dict(metrics) for name, metrics in rows},
    }
    option = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    return orjson.dumps(summary, option=option, default=_json_default)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue().encode("utf-8")


def _trades_csv(result: BacktestResult) -> bytes:
    return _csv(
        TRADES_COLUMNS,
        (
            (
                t.strategy_id,
                t.symbol,
                t.side,
                t.quantity,
                iso_utc(t.opened_at),
                iso_utc(t.closed_at),
                t.pnl,
                t.fees,
            )
            for t in result.trips
        ),
    )


def _fills_csv(result: BacktestResult) -> bytes:
    return _csv(
        FILLS_COLUMNS,
        (
            (
                iso_utc(f.ts_event),
                f.strategy_id,
                f.client_order_id,
                f.symbol,
                f.side,
                f.quantity,
                f.price,
                f.commission,
                f.slippage,
            )
            for f in result.fills
        ),
    )


def _orders_csv(result: BacktestResult) -> bytes:
    def row(order: OrderRecord) -> list[object]:
        values: list[object] = [getattr(order, name) for name in ORDERS_COLUMNS]
        values[ORDERS_COLUMNS.index("ts_event")] = iso_utc(order.ts_event)
        return values

    return _csv(ORDERS_COLUMNS, (row(o) for o in result.orders))


def _equity_csv(result: BacktestResult) -> bytes:
    curve = result.equity
    n = len(curve.ts)
    columns = [curve.total]
    for sid in result.strategies:
        values = curve.by_strategy.get(sid)
        if values is None or len(values) != n:
            got = "none" if values is None else f"{len(values)} values"
            raise ValueError(
                f"result.equity.by_strategy[{sid!r}]: expected {n} values (one per event), "
                f"got {got}"
            )
        columns.append(values)
    if len(curve.total) != n:
        raise ValueError(
            f"result.equity.total: expected {n} values (one per event), got {len(curve.total)}"
        )
    rows = ((iso_utc(t), *(c[i] for c in columns)) for i, t in enumerate(curve.ts))
    return _csv(("ts", "total", *result.strategies), rows)


# --- the HTML page ---------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.halted { color: #b00; font-weight: bold; }
img { max-width: 100%; border: 1px solid #ddd; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: int = 1) -> str:
    """An HTML table of already-escaped cells; columns from ``numeric`` on are right-aligned."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i >= numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>\n"
        for row in rows
    )
    return f"<table>\n<tr>{head}</tr>\n{body}</table>"


def _html(result: BacktestResult, rows: list[tuple[str, Metrics]], png: bytes) -> str:
    has_data = result.events > 0
    params = [
        f"{_e(sid)}: "
        + (
            ", ".join(f"{_e(k)}={_e(v)}" for k, v in sorted(result.params.get(sid, {}).items()))
            or "no params"
        )
        for sid in result.strategies
    ]
    info = [
        ("settings", _e(result.settings)),
        ("data", "<br>".join(_e(d) for d in result.data) or "-"),
        ("start", _e(iso_utc(result.start_ns)) if has_data else "-"),
        ("end", _e(iso_utc(result.end_ns)) if has_data else "-"),
        ("events", _e(f"{result.events:,}")),
        ("starting cash", _e(f"{result.starting_cash:,.2f}")),
        ("strategies", "<br>".join(params) or "-"),
        (
            "orders / fills / round trips",
            _e(f"{len(result.orders):,} / {len(result.fills):,} / {len(result.trips):,}"),
        ),
    ]
    if result.halted:
        info.append(("halted", f'<span class="halted">{_e(result.halted)}</span>'))
    info_table = _table(("run", ""), info, numeric=2)
    metrics_table = _table(
        ("strategy", *(title for title, _ in _METRIC_COLUMNS)),
        ((_e(name), *(_e(cell(m)) for _, cell in _METRIC_COLUMNS)) for name, m in rows),
    )
    shown = result.trips[:HTML_TRADES_LIMIT]
    trades_table = _table(
        TRADES_COLUMNS,
        (
            (
                _e(t.strategy_id),
                _e(t.symbol),
                _e(t.side.value),
                _e(f"{t.quantity:g}"),
                _e(iso_utc(t.opened_at)),
                _e(iso_utc(t.closed_at)),
                _e(f"{t.pnl:,.2f}"),
                _e(f"{t.fees:,.2f}"),
            )
            for t in shown
        ),
        numeric=3,
    )
    more = len(result.trips) - len(shown)
    more_line = f"<p>{more:,} more round trips in trades.csv.</p>\n" if more > 0 else ""
    links = " · ".join(
        f'<a href="{name}">{name}</a>'
        for name in ("summary.json", "trades.csv", "fills.csv", "orders.csv", "equity.csv")
    )
    image = base64.b64encode(png).decode("ascii")
    title = _e(f"tradepit backtest: {result.settings}")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{title}</h1>\n{info_table}\n"
        f"<h2>Metrics</h2>\n{metrics_table}\n"
        "<h2>Equity and drawdown</h2>\n"
        f'<img src="data:image/png;base64,{image}" alt="total equity and drawdown">\n'
        f"<h2>Round trips ({len(result.trips):,})</h2>\n{trades_table}\n{more_line}"
        f"<h2>Files</h2>\n<p>{links}</p>\n</body>\n</html>\n"
    )
