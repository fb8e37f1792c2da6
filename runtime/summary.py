"""What a run did, and the end-of-run table printed by ``tradepit run``.

The summary is built from the actors that own each fact, never from a
strategy's own view of itself: order and rejection counts from risk and the
engines, fills, positions and P&L from the portfolio, failure from the
supervisor. A strategy that failed mid-run is therefore reported with its
real books and marked FAILED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from actors.engine_host import EngineStats
from actors.portfolio import PortfolioSnapshot
from actors.risk import RiskStats
from actors.supervisor import ChildStatus
from runtime.names import strategy_actor
from runtime.text_table import text_table

__all__ = ["RunSummary", "StrategySummary", "format_summary", "summarize"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategySummary:
    """One strategy's run."""

    strategy_id: str
    """The strategy."""
    failed: bool
    """True if its actor failed during the run."""
    orders: int
    """Orders it submitted (counted by risk)."""
    rejected: int
    """Orders refused by risk or an engine."""
    fills: int
    """Fills booked by the portfolio."""
    positions: tuple[tuple[str, float], ...]
    """(symbol, signed quantity) of every open position, from the portfolio."""
    realized_pnl: float
    """Realized P&L before fees."""
    unrealized_pnl: float
    """Open positions at their last marks."""
    fees: float
    """Commission paid."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """What a run did, read just before its actors stopped."""

    strategies: tuple[StrategySummary, ...]
    """One per strategy that ran, in the order each first ran (settings order, then
    those added while running; removed ones too), then ``manual`` when an operator
    entered orders."""
    portfolio: PortfolioSnapshot | None
    """Cash, equity and books; None if the portfolio could not answer."""
    bars: int
    """Bars the feed published."""
    ticks: int
    """Ticks the feed published."""
    stuck_threads: tuple[str, ...]
    """Actors whose thread did not end in time (empty on a clean stop)."""


def summarize(
    *,
    strategy_ids: Sequence[str],
    risk: RiskStats | None,
    engines: Sequence[EngineStats],
    portfolio: PortfolioSnapshot | None,
    children: Sequence[ChildStatus],
    bars: int,
    ticks: int,
    stuck_threads: tuple[str, ...],
) -> RunSummary:
    """Join what each owner knows into one summary."""
    intents = {s: (n, r) for s, n, r in risk.by_strategy} if risk is not None else {}
    engine_rejects: dict[str, int] = {}
    for engine in engines:
        for strategy_id, count in engine.rejected_by_strategy:
            engine_rejects[strategy_id] = engine_rejects.get(strategy_id, 0) + count
    accounts = {a.strategy_id: a for a in portfolio.accounts} if portfolio is not None else {}
    failures = {c.name: c.failures for c in children}
    rows = []
    for strategy_id in strategy_ids:
        orders, refused = intents.get(strategy_id, (0, 0))
        account = accounts.get(strategy_id)
        rows.append(
            StrategySummary(
                strategy_id=strategy_id,
                failed=failures.get(strategy_actor(strategy_id), 0) > 0,
                orders=orders,
                rejected=refused + engine_rejects.get(strategy_id, 0),
                fills=account.fills if account else 0,
                positions=tuple(
                    (p.symbol, p.quantity) for p in account.positions if p.quantity != 0
                )
                if account
                else (),
                realized_pnl=account.realized_pnl if account else 0.0,
                unrealized_pnl=account.unrealized_pnl if account else 0.0,
                fees=account.fees if account else 0.0,
            )
        )
    return RunSummary(
        strategies=tuple(rows),
        portfolio=portfolio,
        bars=bars,
        ticks=ticks,
        stuck_threads=stuck_threads,
    )


_HEADERS = ("strategy", "orders", "rejected", "fills", "position", "realized", "unrealized", "fees")


def _positions(items: tuple[tuple[str, float], ...]) -> str:
    return ", ".join(f"{symbol} {qty:+g}" for symbol, qty in items) or "flat"


def format_summary(summary: RunSummary) -> str:
    """A plain-text table: one row per strategy and a total row."""
    rows: list[tuple[str, ...]] = [
        (
            s.strategy_id + (" (FAILED)" if s.failed else ""),
            str(s.orders),
            str(s.rejected),
            str(s.fills),
            _positions(s.positions),
            f"{s.realized_pnl:,.2f}",
            f"{s.unrealized_pnl:,.2f}",
            f"{s.fees:,.2f}",
        )
        for s in summary.strategies
    ]
    rows.append(
        (
            "TOTAL",
            str(sum(s.orders for s in summary.strategies)),
            str(sum(s.rejected for s in summary.strategies)),
            str(sum(s.fills for s in summary.strategies)),
            "",
            f"{sum(s.realized_pnl for s in summary.strategies):,.2f}",
            f"{sum(s.unrealized_pnl for s in summary.strategies):,.2f}",
            f"{sum(s.fees for s in summary.strategies):,.2f}",
        )
    )
    body = [text_table(_HEADERS, rows, left=(0, 4), total=True)]
    footer = f"bars {summary.bars:,}  ticks {summary.ticks:,}"
    if summary.portfolio is not None:
        footer += f"  cash {summary.portfolio.cash:,.2f}  equity {summary.portfolio.equity:,.2f}"
    else:
        footer += "  (portfolio unavailable: books not reported)"
    return "\n".join([*body, footer])
