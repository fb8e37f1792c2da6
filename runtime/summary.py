"""The end-of-run table printed by ``tradepit run``."""

from __future__ import annotations

from runtime.boot import RunSummary

__all__ = ["format_summary"]

_HEADERS = ("strategy", "orders", "rejected", "fills", "position", "realized", "unrealized", "fees")


def _positions(items: tuple[tuple[str, float], ...]) -> str:
    return ", ".join(f"{symbol} {qty:+g}" for symbol, qty in items) or "flat"


def format_summary(summary: RunSummary) -> str:
    """A plain-text table: one row per strategy and a total row."""
    accounts = {a.strategy_id: a for a in summary.portfolio.accounts}
    rows: list[tuple[str, ...]] = []
    for stats in summary.strategies:
        account = accounts.get(stats.strategy_id)
        rows.append(
            (
                stats.strategy_id,
                str(stats.orders),
                str(stats.rejected),
                str(stats.fills),
                _positions(stats.positions),
                f"{account.realized_pnl:,.2f}" if account else "0.00",
                f"{account.unrealized_pnl:,.2f}" if account else "0.00",
                f"{account.fees:,.2f}" if account else "0.00",
            )
        )
    total = summary.portfolio.total
    rows.append(
        (
            "TOTAL",
            str(sum(s.orders for s in summary.strategies)),
            str(sum(s.rejected for s in summary.strategies)),
            str(total.fills),
            "",
            f"{total.realized_pnl:,.2f}",
            f"{total.unrealized_pnl:,.2f}",
            f"{total.fees:,.2f}",
        )
    )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADERS)]

    def line(cells: tuple[str, ...]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.ljust(widths[i]) if i in (0, 4) else cell.rjust(widths[i]))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = [line(_HEADERS), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1])]
    footer = (
        f"bars {summary.bars:,}  ticks {summary.ticks:,}  cash {summary.portfolio.cash:,.2f}  "
        f"equity {summary.portfolio.equity:,.2f}"
    )
    return "\n".join([*body, footer])
