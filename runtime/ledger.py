"""Portfolio accounting: positions, P&L, fees and cash, per strategy and in total.

:class:`Ledger` is plain and single-threaded; the portfolio actor owns one and
feeds it every :class:`~runtime.messages.Fill` and a mark price per bar. It
hands out immutable snapshots (:class:`~runtime.messages.Position`,
:class:`StrategyAccount`), never its own state.

Average-price accounting, with ``q`` the signed position, ``a`` its average
entry price and a fill of signed quantity ``f`` at price ``p``:

- same direction (or from flat): ``a = (a * |q| + p * |f|) / |q + f|``;
- against the position: ``(p - a) * min(|f|, |q|) * sign(q)`` is realized;
  if the fill flips the position, the remainder opens at ``a = p``;
- flat: ``a = 0``. Quantities with ``|q| < 1e-9`` are snapped to exactly 0.

Realized P&L is before fees; fees are kept apart. Unrealized P&L is
``(mark - a) * q``. For every strategy and in total,
``realized + unrealized - fees == cash_flow + sum(q * mark)`` (up to rounding).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from runtime.messages import Fill, Position, next_id

__all__ = ["Ledger", "StrategyAccount"]

_FLAT = 1e-9
"""Positions smaller than this (in absolute quantity) are flat."""

_TOTAL = "TOTAL"


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyAccount:
    """A snapshot of one strategy's account (or of all, as ``TOTAL``)."""

    strategy_id: str
    """The strategy, or ``"TOTAL"`` for :meth:`Ledger.totals`."""
    fills: int
    """Fills applied."""
    cash_flow: float
    """``-(sum of signed fill notionals) - fees``: what trading did to cash."""
    realized_pnl: float
    """P&L of closed quantity, before fees."""
    unrealized_pnl: float
    """P&L of open quantity at the mark prices."""
    fees: float
    """Commission paid."""
    positions: tuple[Position, ...]
    """Every symbol it ever traded (flat ones included), sorted by symbol;
    for ``TOTAL`` every strategy's, sorted by strategy then symbol."""

    @property
    def market_value(self) -> float:
        """``sum(quantity * mark_price)`` of the positions."""
        return math.fsum(p.quantity * p.mark_price for p in self.positions)

    @property
    def equity_contribution(self) -> float:
        """``cash_flow + market_value``: this account's share of equity above starting cash."""
        return self.cash_flow + self.market_value


class _Book:
    """Mutable state of one strategy's position in one symbol."""

    __slots__ = (
        "avg",
        "fees",
        "mark",
        "marked",
        "quantity",
        "realized",
        "strategy_id",
        "symbol",
        "ts_event",
    )

    def __init__(self, strategy_id: str, symbol: str) -> None:
        self.strategy_id = strategy_id
        self.symbol = symbol
        self.quantity = 0.0
        self.avg = 0.0
        self.mark = 0.0
        self.marked = False
        self.realized = 0.0
        self.fees = 0.0
        self.ts_event = 0


class _Account:
    """Mutable state of one strategy."""

    __slots__ = ("books", "cash_flow", "fills")

    def __init__(self) -> None:
        self.fills = 0
        self.cash_flow = 0.0
        self.books: dict[str, _Book] = {}


class Ledger:
    """Positions and P&L per strategy and symbol, cash and equity in total.

    The mark price of a position is the price of its last fill until
    :meth:`mark` is called for its symbol; from then on only marks move it.

    Raises:
        ValueError: from :meth:`apply_fill`, for a fill whose quantity is not
            > 0 or whose price, quantity or commission is not finite.
    """

    __slots__ = ("_accounts", "_clock", "_holders", "_starting_cash")

    def __init__(self, starting_cash: float, *, clock: Callable[[], int] = time.time_ns) -> None:
        if not math.isfinite(starting_cash):
            raise ValueError(f"starting_cash must be finite, got {starting_cash!r}")
        self._starting_cash = starting_cash
        self._clock = clock
        self._accounts: dict[str, _Account] = {}
        self._holders: dict[str, list[_Book]] = {}

    @property
    def starting_cash(self) -> float:
        """Cash before any fill."""
        return self._starting_cash

    def apply_fill(self, fill: Fill) -> Position:
        """Book ``fill`` and return the updated position of its strategy in its symbol."""
        quantity, price, commission = fill.quantity, fill.price, fill.commission
        if not (math.isfinite(quantity) and quantity > 0):
            raise ValueError(f"fill {fill.fill_id}: quantity must be > 0, got {quantity!r}")
        if not (math.isfinite(price) and math.isfinite(commission)):
            raise ValueError(f"fill {fill.fill_id}: price and commission must be finite")
        account = self._accounts.get(fill.strategy_id)
        if account is None:
            account = self._accounts[fill.strategy_id] = _Account()
        book = account.books.get(fill.symbol)
        if book is None:
            book = account.books[fill.symbol] = _Book(fill.strategy_id, fill.symbol)
            self._holders.setdefault(fill.symbol, []).append(book)

        signed = quantity * fill.side.sign
        held = book.quantity
        new = held + signed
        if held != 0 and (held > 0) != (signed > 0):
            closed = min(quantity, abs(held))
            book.realized += (price - book.avg) * closed * (1.0 if held > 0 else -1.0)
        if abs(new) < _FLAT:
            new, book.avg = 0.0, 0.0
        elif held == 0 or (held > 0) == (signed > 0):
            book.avg = (book.avg * abs(held) + price * quantity) / abs(new)
        elif (new > 0) != (held > 0):
            book.avg = price
        book.quantity = new
        book.fees += commission
        book.ts_event = fill.ts_event
        if not book.marked:
            book.mark = price
        account.fills += 1
        account.cash_flow -= signed * price + commission
        return self._snapshot(book)

    def mark(self, symbol: str, price: float, *, ts_event: int | None = None) -> None:
        """Mark every strategy's position in ``symbol`` at ``price``.

        ``ts_event`` (the bar's time), when given, becomes the positions'
        ``ts_event``. A symbol nobody traded costs one dict lookup. A price
        that is not finite (a bad print) is ignored: the previous mark stands.
        """
        books = self._holders.get(symbol)
        if books is None or not math.isfinite(price):
            return
        for book in books:
            book.mark = price
            book.marked = True
            if ts_event is not None:
                book.ts_event = ts_event

    def position(self, strategy_id: str, symbol: str) -> Position:
        """The position of ``strategy_id`` in ``symbol``; flat and zero if it never traded it."""
        account = self._accounts.get(strategy_id)
        book = account.books.get(symbol) if account is not None else None
        return self._snapshot(book if book is not None else _Book(strategy_id, symbol))

    def account(self, strategy_id: str) -> StrategyAccount:
        """A snapshot of one strategy's account; all zero if it never traded."""
        account = self._accounts.get(strategy_id)
        if account is None:
            return self._summarize(strategy_id, 0, 0.0, ())
        positions = tuple(self._snapshot(account.books[s]) for s in sorted(account.books))
        return self._summarize(strategy_id, account.fills, account.cash_flow, positions)

    def accounts(self) -> tuple[StrategyAccount, ...]:
        """Snapshots of every strategy that traded, sorted by strategy id."""
        return tuple(self.account(sid) for sid in sorted(self._accounts))

    def totals(self) -> StrategyAccount:
        """All strategies together, as an account named ``"TOTAL"``."""
        accounts = self.accounts()
        return self._summarize(
            _TOTAL,
            sum(a.fills for a in accounts),
            math.fsum(a.cash_flow for a in accounts),
            tuple(p for a in accounts for p in a.positions),
        )

    @property
    def cash(self) -> float:
        """``starting_cash + sum of every strategy's cash_flow``."""
        return self._starting_cash + math.fsum(a.cash_flow for a in self._accounts.values())

    @property
    def equity(self) -> float:
        """``cash + sum(quantity * mark_price)`` over every position."""
        return self.cash + math.fsum(
            b.quantity * b.mark for books in self._holders.values() for b in books
        )

    def contribution(self, strategy_id: str) -> float:
        """``cash_flow + sum(quantity * mark)`` of one strategy (0 if it never traded),
        without building snapshots: the backtester samples it after every event."""
        account = self._accounts.get(strategy_id)
        if account is None:
            return 0.0
        value = account.cash_flow
        for book in account.books.values():
            value += book.quantity * book.mark
        return value

    # --- internals -------------------------------------------------------------

    def _snapshot(self, book: _Book) -> Position:
        return Position(
            id=next_id(),
            ts_event=book.ts_event,
            ts_init=self._clock(),
            strategy_id=book.strategy_id,
            symbol=book.symbol,
            quantity=book.quantity,
            avg_price=book.avg,
            mark_price=book.mark,
            realized_pnl=book.realized,
            unrealized_pnl=(book.mark - book.avg) * book.quantity,
            fees=book.fees,
        )

    @staticmethod
    def _summarize(
        strategy_id: str, fills: int, cash_flow: float, positions: tuple[Position, ...]
    ) -> StrategyAccount:
        return StrategyAccount(
            strategy_id=strategy_id,
            fills=fills,
            cash_flow=cash_flow,
            realized_pnl=math.fsum(p.realized_pnl for p in positions),
            unrealized_pnl=math.fsum(p.unrealized_pnl for p in positions),
            fees=math.fsum(p.fees for p in positions),
            positions=positions,
        )
