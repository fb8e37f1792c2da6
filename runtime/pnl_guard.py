"""Round trips and the daily loss guard, computed from the ledger's own numbers.

Both classes are plain and single-threaded; the portfolio actor owns one of
each next to its :class:`~runtime.ledger.Ledger` and feeds them what the
ledger returns, so they never disagree with the books.

:class:`RoundTrips` turns fills into :class:`~runtime.messages.TradeClosed`.
A round trip of a strategy in a symbol opens with the fill that takes the
position away from flat and closes with the fill that brings it back to flat
or flips its sign (a flip closes one trip and opens the next with the
remaining quantity). Its P&L is the realized P&L of its closing fills, each
``(price - avg) * closed * sign(held)`` with ``avg`` the ledger's average
entry price before the fill (the ledger's own rule, so the same floats),
minus every commission paid during the trip. The fill that flips pays its
commission to the two trips in proportion to quantity: the closed trip gets
``commission * |held| / quantity``, the new one the rest. One dict lookup per
fill.

:class:`LossGuard` is the kill switch of ``daily_loss_limit``. The P&L of a
scope (one strategy, or the whole account) is realized plus unrealized P&L
minus fees, i.e. its equity contribution. Its *day* P&L is that minus a
baseline taken when the market day began: the market day is the UTC date of
the market time (``ts_event``) of the bars, ticks and fills fed in, and at the
first event of a new day every scope's baseline becomes the P&L it had just
before that event. A scope whose day P&L is at or below ``-limit`` produces
one :class:`~runtime.messages.LossLimitBreached` and is latched until the next
day or :meth:`LossGuard.rearm`, which gives every scope a fresh allowance of
``limit`` counted from its P&L at that moment. An event stamped earlier than
the current day counts in the current day (the day never goes back).

A strategy's limit can be set or lifted while running
(:meth:`LossGuard.set_limit`, a strategy added by an operator): from that
moment its day P&L counts from its P&L then, with the full allowance of the
new limit.

Cost: the guard keeps, per symbol, the tracked positions that are open; a
mark updates only those (the strategies holding the symbol) and the account,
incrementally, and only scopes whose P&L moved are checked. Incremental sums
drift by rounding, so each day roll and each rearm recomputes every scope
exactly (``math.fsum``) from its positions. A guard with no limit is
:attr:`LossGuard.active` False and the portfolio does not call it at all.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from runtime.messages import Fill, LossLimitBreached, Position, Side, TradeClosed, next_id

__all__ = ["LossGuard", "OpenTrip", "RoundTrips"]

_NS_PER_DAY = 86_400 * 10**9
_EPOCH = date(1970, 1, 1)


# --- round trips ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenTrip:
    """A round trip not closed yet, as :meth:`RoundTrips.open_trip` reports it."""

    strategy_id: str
    """The strategy."""
    symbol: str
    """Instrument symbol."""
    side: Side
    """Side of the opening fill."""
    position: float
    """Signed position now."""
    quantity: float
    """Largest absolute position so far."""
    opened_at: int
    """Time of the opening fill, ns since the epoch."""
    realized: float
    """Realized P&L of its partial closes so far, before fees."""
    fees: float
    """Commission paid so far (its share of the opening fill's, if that flipped)."""


class _Trip:
    """Mutable state of one open round trip."""

    __slots__ = ("avg", "fees", "opened_at", "peak", "quantity", "realized", "side")

    def __init__(self, fill: Fill, position: Position, fees: float) -> None:
        self.side = fill.side
        self.opened_at = fill.ts_event
        self.quantity = position.quantity
        self.avg = position.avg_price
        self.peak = abs(position.quantity)
        self.realized = 0.0
        self.fees = fees


class RoundTrips:
    """Fills in, :class:`~runtime.messages.TradeClosed` out (see the module docstring).

    It must see every fill the ledger books, in the ledger's order, from the
    ledger's first fill on: the position before a fill is the one it saw last.
    """

    __slots__ = ("_clock", "_trips")

    def __init__(self, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._trips: dict[tuple[str, str], _Trip] = {}

    def on_fill(self, fill: Fill, position: Position) -> TradeClosed | None:
        """Account for ``fill``; ``position`` is what ``Ledger.apply_fill(fill)`` returned.

        Returns the trip the fill closed (on a flip: the one it closed, the
        next one is open), or None.

        Raises:
            ValueError: ``position`` is not of the fill's strategy and symbol.
        """
        if position.strategy_id != fill.strategy_id or position.symbol != fill.symbol:
            raise ValueError(
                f"fill {fill.fill_id} is {fill.strategy_id}/{fill.symbol}, "
                f"its position {position.strategy_id}/{position.symbol}"
            )
        key = (fill.strategy_id, fill.symbol)
        trip = self._trips.get(key)
        after = position.quantity
        if trip is None:
            if after != 0.0:
                self._trips[key] = _Trip(fill, position, fill.commission)
            return None
        held = trip.quantity
        if (held > 0.0) == (fill.side.sign > 0):
            trip.quantity = after
            trip.avg = position.avg_price
            trip.fees += fill.commission
            trip.peak = max(trip.peak, abs(after))
            return None
        closed = min(fill.quantity, abs(held))
        trip.realized += (fill.price - trip.avg) * closed * (1.0 if held > 0.0 else -1.0)
        if after != 0.0 and (after > 0.0) == (held > 0.0):
            trip.quantity = after
            trip.avg = position.avg_price
            trip.fees += fill.commission
            return None
        if after == 0.0:
            trip.fees += fill.commission
            del self._trips[key]
        else:
            share = fill.commission * closed / fill.quantity
            trip.fees += share
            self._trips[key] = _Trip(fill, position, fill.commission - share)
        return TradeClosed(
            id=next_id(),
            ts_event=fill.ts_event,
            ts_init=self._clock(),
            strategy_id=fill.strategy_id,
            symbol=fill.symbol,
            side=trip.side,
            quantity=trip.peak,
            opened_at=trip.opened_at,
            pnl=trip.realized - trip.fees,
            fees=trip.fees,
        )

    def open_trip(self, strategy_id: str, symbol: str) -> OpenTrip | None:
        """The trip open in ``symbol`` for ``strategy_id``; None when it is flat."""
        trip = self._trips.get((strategy_id, symbol))
        if trip is None:
            return None
        return OpenTrip(
            strategy_id=strategy_id,
            symbol=symbol,
            side=trip.side,
            position=trip.quantity,
            quantity=trip.peak,
            opened_at=trip.opened_at,
            realized=trip.realized,
            fees=trip.fees,
        )


# --- the daily loss guard ------------------------------------------------------------


class _Scope:
    """P&L of one strategy, or of the account (``strategy_id`` empty)."""

    __slots__ = ("baseline", "books", "latched", "limit", "pnl", "strategy_id")

    def __init__(self, strategy_id: str, limit: float) -> None:
        self.strategy_id = strategy_id
        self.limit = limit
        self.pnl = 0.0
        self.baseline = 0.0
        self.latched = False
        self.books: dict[str, _Held] = {}


class _Held:
    """What the guard knows of one strategy's position in one symbol."""

    __slots__ = ("avg", "base", "quantity", "scope", "value")

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope
        self.quantity = 0.0
        self.avg = 0.0
        self.base = 0.0
        """Realized P&L minus fees."""
        self.value = 0.0
        """``base`` plus unrealized P&L at the last mark: this position's P&L."""


class LossGuard:
    """Daily loss limits per strategy and for the account (see the module docstring).

    Args:
        limits: each strategy's effective ``daily_loss_limit`` (0 or absent: none).
        account_limit: the global ``[risk] daily_loss_limit``, applied to the
            sum over every strategy (0: none).
        clock: ``ts_init`` of the messages.

    Raises:
        ValueError: a limit is negative or not finite.
    """

    __slots__ = (
        "_account",
        "_clock",
        "_day_end",
        "_day_label",
        "_limits",
        "_open",
        "_scopes",
    )

    def __init__(
        self,
        limits: Mapping[str, float],
        account_limit: float,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        for who, limit in (*limits.items(), ("the account", account_limit)):
            if not (math.isfinite(limit) and limit >= 0.0):
                raise ValueError(f"daily loss limit of {who} must be >= 0, got {limit!r}")
        self._limits = {sid: float(limit) for sid, limit in limits.items() if limit > 0.0}
        self._account = _Scope("", float(account_limit))
        self._clock = clock
        self._scopes: dict[str, _Scope] = {}
        self._open: dict[str, dict[str, _Held]] = {}
        self._day_end = -(1 << 80)  # before any market time: the first event starts a day
        self._day_label = ""

    @property
    def active(self) -> bool:
        """False when no limit is set and nothing is tracked: feeding the guard would
        do nothing. Once it tracks a strategy it stays active (its books must stay
        current for a limit set again later)."""
        return bool(self._limits) or self._account.limit > 0.0 or bool(self._scopes)

    @property
    def day(self) -> str:
        """The current market day, ``YYYY-MM-DD``; empty before the first event."""
        return self._day_label

    def day_pnl(self, strategy_id: str = "") -> float:
        """P&L of ``strategy_id`` (empty: the account) since its baseline.

        0 for a strategy the guard does not track (no limit of its own and no
        account limit).
        """
        scope = self._account if strategy_id == "" else self._scopes.get(strategy_id)
        return 0.0 if scope is None else scope.pnl - scope.baseline

    def on_fill(self, position: Position) -> tuple[LossLimitBreached, ...]:
        """Take the position ``Ledger.apply_fill`` returned; its ``ts_event`` (the
        fill's) is the market time. Returns the limits this fill breached."""
        if position.ts_event >= self._day_end:
            self._roll(position.ts_event)
        strategy_id = position.strategy_id
        scope = self._scopes.get(strategy_id)
        if scope is None:
            limit = self._limits.get(strategy_id, 0.0)
            if limit == 0.0 and self._account.limit == 0.0:
                return ()
            # First fill of this strategy: its P&L before it was 0, so is its baseline.
            scope = self._scopes[strategy_id] = _Scope(strategy_id, limit)
        symbol = position.symbol
        book = scope.books.get(symbol)
        if book is None:
            book = scope.books[symbol] = _Held(scope)
        book.quantity = position.quantity
        book.avg = position.avg_price
        book.base = position.realized_pnl - position.fees
        holders = self._open.get(symbol)
        if position.quantity != 0.0:
            if holders is None:
                holders = self._open[symbol] = {}
            holders[strategy_id] = book
        elif holders is not None:
            holders.pop(strategy_id, None)
            if not holders:
                del self._open[symbol]
        value = book.base + position.unrealized_pnl
        delta = value - book.value
        if delta == 0.0:
            return ()
        book.value = value
        scope.pnl += delta
        self._account.pnl += delta
        found: list[LossLimitBreached] = []
        self._check(scope, position.ts_event, found)
        self._check(self._account, position.ts_event, found)
        return tuple(found)

    def on_mark(self, symbol: str, price: float, ts_event: int) -> tuple[LossLimitBreached, ...]:
        """Take a mark (bar close or trade price) at market time ``ts_event``, after
        the ledger took it. A price that is not finite is ignored, as the ledger
        does. Returns the limits it breached."""
        if ts_event >= self._day_end:
            self._roll(ts_event)
        books = self._open.get(symbol)
        if books is None or not math.isfinite(price):
            return ()
        found: list[LossLimitBreached] = []
        moved = 0.0
        for book in books.values():
            value = book.base + (price - book.avg) * book.quantity
            delta = value - book.value
            if delta != 0.0:
                book.value = value
                scope = book.scope
                scope.pnl += delta
                moved += delta
                if scope.limit > 0.0 and not scope.latched:
                    self._check(scope, ts_event, found)
        if moved != 0.0:
            self._account.pnl += moved
            self._check(self._account, ts_event, found)
        return tuple(found)

    def set_limit(self, strategy_id: str, limit: float, positions: Iterable[Position] = ()) -> None:
        """Give ``strategy_id`` a daily loss limit from now on (0: none).

        A strategy the guard was not tracking counts its day P&L from its P&L at
        this moment; one already tracked (an account limit, or an earlier limit
        of its own: a strategy removed and added back) keeps its day's baseline
        and latch, so a new limit is no new allowance. The account's count is
        not touched. ``positions`` are its positions in the ledger now
        (``Ledger.account(strategy_id).positions``): when the guard was not
        tracking the strategy (no limit of its own and no account limit), it
        starts from them.

        Raises:
            ValueError: ``limit`` is negative or not finite.
        """
        if not (math.isfinite(limit) and limit >= 0.0):
            raise ValueError(f"daily loss limit of {strategy_id} must be >= 0, got {limit!r}")
        limit = float(limit)
        if limit > 0.0:
            self._limits[strategy_id] = limit
        else:
            self._limits.pop(strategy_id, None)
        scope = self._scopes.get(strategy_id)
        if scope is None:
            if limit == 0.0:
                return  # not tracked, and nothing to track it for
            scope = self._scopes[strategy_id] = _Scope(strategy_id, limit)
            for position in positions:
                if position.strategy_id != strategy_id:
                    raise ValueError(
                        f"a position of {position.strategy_id} given for {strategy_id}"
                    )
                book = scope.books[position.symbol] = _Held(scope)
                book.quantity = position.quantity
                book.avg = position.avg_price
                book.base = position.realized_pnl - position.fees
                book.value = book.base + position.unrealized_pnl
                if position.quantity != 0.0:
                    self._open.setdefault(position.symbol, {})[strategy_id] = book
            pnl = math.fsum(book.value for book in scope.books.values())
            # The account now includes it: its P&L so far is not the account's day move.
            self._account.pnl += pnl
            self._account.baseline += pnl
            scope.pnl = pnl
            scope.baseline = pnl
        # A scope already tracked keeps its day: its P&L still counts from the start
        # of the market day, and a latch stays (a strategy removed and added back
        # gets no fresh allowance; only rearm() and the next day give one).
        scope.limit = limit

    def rearm(self) -> None:
        """The operator's reset: every scope's baseline becomes its P&L now and
        every latch clears, so each scope has a fresh allowance of its full
        limit counted from this moment (the rest of the day included)."""
        self._rebase()

    # --- internals -------------------------------------------------------------------

    def _check(self, scope: _Scope, ts_event: int, found: list[LossLimitBreached]) -> None:
        if scope.limit == 0.0 or scope.latched:
            return
        pnl = scope.pnl - scope.baseline
        if pnl <= -scope.limit:
            scope.latched = True
            found.append(
                LossLimitBreached(
                    id=next_id(),
                    ts_event=ts_event,
                    ts_init=self._clock(),
                    strategy_id=scope.strategy_id,
                    pnl=pnl,
                    limit=scope.limit,
                    day=self._day_label,
                )
            )

    def _roll(self, ts_event: int) -> None:
        day = ts_event // _NS_PER_DAY
        self._day_end = (day + 1) * _NS_PER_DAY
        self._day_label = (_EPOCH + timedelta(days=day)).isoformat()
        self._rebase()

    def _rebase(self) -> None:
        for scope in self._scopes.values():
            scope.pnl = math.fsum(book.value for book in scope.books.values())
            scope.baseline = scope.pnl
            scope.latched = False
        account = self._account
        account.pnl = math.fsum(
            book.value for scope in self._scopes.values() for book in scope.books.values()
        )
        account.baseline = account.pnl
        account.latched = False
