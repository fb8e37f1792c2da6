"""Recovery: the runtime's state rebuilt from its journal, before any actor starts.

:func:`restore` turns a :class:`~runtime.journal_store.JournalState` into the
state each core actor starts from (its ``carry``) and each strategy host's
seed:

- the order book: every order the journal had open comes back UNKNOWN
  (nobody can say what happened to it while the runtime was down) with its
  filled quantity, its fills (their repeats are refused) and whether its
  engine had acknowledged it; one :class:`~runtime.messages.OrderToRecover`
  per order is kept for its engine to answer;
- the portfolio: every fill replayed, in journal order, through the same
  ledger, round trips and daily loss guard the portfolio actor runs, so cash,
  positions, realized P&L and the day's loss count come back exactly;
- risk: open orders counted as working, then every fill (positions);
- strategies: their positions and open orders, so that ``position()`` and
  ``open_orders`` are right before their first new bar.

What happens next (asking each engine, resolving what it does not know, the
report) is the runtime's job (runtime/boot.py) once the actors run; the pure
helpers for it are here: :func:`reconciled` and :func:`position_differences`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from actors.orders import OrdersCarry
from actors.portfolio import PortfolioCarry
from actors.risk import RiskBook
from actors.strategy_host import StrategyBook, seed_book
from runtime.config import RiskConfig
from runtime.journal_store import JournalOrder, JournalState
from runtime.ledger import Ledger
from runtime.messages import (
    LossLimitBreached,
    OrderIntent,
    OrderReconciled,
    OrderStatus,
    OrderToRecover,
    RuntimeState,
    next_id,
)
from runtime.names import ORDERS, PORTFOLIO, RISK
from runtime.order_states import OrderBook, OrderView
from runtime.pnl_guard import LossGuard, RoundTrips

__all__ = ["FirstStart", "Restored", "position_differences", "reconciled", "restore"]


@dataclass(slots=True, kw_only=True)
class Restored:
    """The state the actors start from after a crash, and what recovery must ask."""

    state: JournalState
    """What the journal held."""
    orders: OrdersCarry
    """The order manager's book (restored orders UNKNOWN)."""
    portfolio: PortfolioCarry
    """Ledger, round trips and loss guard with every fill replayed."""
    risk: RiskBook
    """Risk's books: working orders and positions."""
    strategies: dict[str, StrategyBook]
    """Per strategy id: positions and open orders."""
    to_recover: dict[str, list[OrderToRecover]] = field(default_factory=dict)
    """Per engine directory name: the orders it must answer for."""
    breaches: tuple[LossLimitBreached, ...] = ()
    """Daily loss limits the replay found breached on its last market day (to be
    reported to risk again: the kill switch holds across a crash)."""
    before: dict[str, JournalOrder] = field(default_factory=dict)
    """The journal's open orders by client order id (the report compares)."""


def restore(
    state: JournalState,
    *,
    engine: str,
    starting_cash: float,
    risk: RiskConfig,
    overrides: Mapping[str, RiskConfig],
    loss_limits: Mapping[str, float],
    now: int | None = None,
) -> Restored:
    """Rebuild every core actor's state from ``state``; see the module docstring.

    ``engine``: directory name of the engine new orders go to; the risk and
    loss-limit arguments are the effective settings of this start.
    """
    now = time.time_ns() if now is None else now
    fill_qty: dict[tuple[str, str], float] = {
        (f.client_order_id, f.fill_id): f.quantity for f in state.fills
    }
    book = OrderBook()
    to_recover: dict[str, list[OrderToRecover]] = {}
    # Paused until every engine has answered (the runtime moves it to RUNNING then):
    # nothing may trade on books that are not settled yet.
    riskbook = RiskBook(
        overrides=dict(overrides),
        state=RuntimeState.PAUSED,
        state_reason="recovering from the journal",
    )
    for jo in (*state.open_orders, *state.short_orders):
        order = jo.order
        if order is None or not jo.engine:
            continue  # a refusal never works: only routed orders can be open
        fills = tuple((fid, fill_qty.get((jo.client_order_id, fid), 0.0)) for fid in jo.fill_ids)
        update = book.restore(
            order,
            jo.engine,
            quantity=jo.quantity,
            limit_price=jo.limit_price,
            stop_price=jo.stop_price,
            filled_quantity=jo.filled_quantity,
            avg_fill_price=jo.avg_fill_price,
            fills=fills,
            acked=jo.acked or bool(jo.fill_ids),
            now=now,
            status=jo.status if jo.status.is_terminal else OrderStatus.UNKNOWN,
        )
        to_recover.setdefault(jo.engine, []).append(OrderToRecover(update, jo.fill_ids))
        if jo.status.is_terminal:
            continue  # ended: only its missing fills are asked for
        riskbook.ledger.exposure(order.strategy_id).order_sent(
            OrderIntent(
                id=next_id(),
                ts_event=order.ts_event,
                ts_init=order.ts_init,
                client_order_id=order.client_order_id,
                strategy_id=order.strategy_id,
                symbol=order.symbol,
                side=order.side,
                quantity=jo.quantity,
                order_type=order.order_type,
                limit_price=jo.limit_price,
                stop_price=jo.stop_price,
                time_in_force=order.time_in_force,
                market_price=None,
            )
        )
    ledger = Ledger(starting_cash)
    trips = RoundTrips()
    guard = LossGuard(loss_limits, risk.daily_loss_limit)
    breaches: list[LossLimitBreached] = []
    for fill in state.fills:
        position = ledger.apply_fill(fill)
        trips.on_fill(fill, position)
        if guard.active:
            breaches.extend(guard.on_fill(position))
        riskbook.ledger.on_fill(fill)
    # What each strategy starts knowing, as a re-added strategy does: its open
    # orders (the book's) and positions (the ledger's), and the price of its last fill.
    strategies: dict[str, StrategyBook] = {}
    for sid in {a.strategy_id for a in ledger.accounts()} | {v.strategy_id for v in book.orders()}:
        account = ledger.account(sid)
        seed = seed_book(StrategyBook(), book.orders(sid), account.positions)
        seed.last_price = {p.symbol: p.mark_price for p in account.positions}
        seed.fills = account.fills
        strategies[sid] = seed
    return Restored(
        state=state,
        orders=OrdersCarry(engine=engine, book=book),
        portfolio=PortfolioCarry(ledger=ledger, trips=trips, guard=guard),
        risk=riskbook,
        strategies=strategies,
        to_recover=to_recover,
        breaches=tuple(b for b in breaches if b.day == guard.day),
        before={jo.client_order_id: jo for jo in (*state.open_orders, *state.short_orders)},
    )


def reconciled(
    before: Mapping[str, JournalOrder],
    after: Iterable[OrderView],
    fills_after: Mapping[str, int],
    *,
    now: int | None = None,
) -> tuple[OrderReconciled, ...]:
    """One event per restored order whose state or filled quantity recovery changed.

    ``after``: the order manager's views of the restored orders once the engines
    answered; ``fills_after``: fills the journal holds per order by then.
    """
    now = time.time_ns() if now is None else now
    out = []
    for view in after:
        jo = before.get(view.client_order_id)
        if jo is None or view.status is OrderStatus.UNKNOWN:
            continue
        recovered = max(0, fills_after.get(view.client_order_id, 0) - len(jo.fill_ids))
        if (
            view.status is jo.status
            and view.filled_quantity == jo.filled_quantity
            and not recovered
        ):
            continue
        detail = _story(jo, view, recovered)
        out.append(
            OrderReconciled(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                client_order_id=view.client_order_id,
                strategy_id=view.strategy_id,
                symbol=view.symbol,
                engine=view.engine.removeprefix("engine."),
                before=jo.status,
                after=view.status,
                filled_before=jo.filled_quantity,
                filled_after=view.filled_quantity,
                fills_recovered=recovered,
                detail=detail,
            )
        )
    return tuple(out)


def _story(jo: JournalOrder, view: OrderView, recovered: int) -> str:
    parts = []
    if recovered:
        parts.append(f"{recovered} fill(s) made while the runtime was down")
    if view.message:
        parts.append(view.message)
    elif view.status is not jo.status:
        parts.append(f"the engine reports it {view.status}")
    return "; ".join(parts) or "the engine's state applied"


def position_differences(
    engine: str, runtime: Mapping[str, float], broker: Mapping[str, float]
) -> tuple[str, ...]:
    """Readable lines for each symbol where the runtime's net position at ``engine``
    (from its fills there) differs from the broker's."""
    lines = []
    for symbol in sorted(set(runtime) | set(broker)):
        mine, theirs = runtime.get(symbol, 0.0), broker.get(symbol, 0.0)
        if not math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-9):
            lines.append(f"{engine} {symbol}: runtime {mine:g}, engine {theirs:g}")
    return tuple(lines)


class FirstStart:
    """Hands each core actor its restored state on its first start only (a restart
    after a failure starts from the failed actor's own hand-over)."""

    def __init__(self, restored: Restored | None) -> None:
        self._left: dict[str, Any] = (
            {}
            if restored is None
            else {PORTFOLIO: restored.portfolio, ORDERS: restored.orders, RISK: restored.risk}
        )

    def has(self, name: str) -> bool:
        """True while ``name`` has not taken its restored state."""
        return name in self._left

    def carry(self, name: str, carry: Any) -> Any:
        """``carry`` when there is one (a restart), else the restored state, once."""
        restored = self._left.pop(name, None)
        return carry if carry is not None else restored
