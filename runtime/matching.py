"""Paper order matching against bars and ticks.

:class:`MatchingEngine` is plain, single-threaded and pure: no threads, no I/O
and no wall clock except the injected ``clock`` (used for ``ts_init`` only).
The paper-engine actor, the simulated venue process and the backtester all
host the same class, so a fill means the same thing everywhere. The rules are
in the class docstring and, with examples, in ``docs/paper-engine.md``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from runtime.config import PaperConfig
from runtime.costs import Commission, Slippage
from runtime.messages import (
    Bar,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RejectReason,
    Side,
    Tick,
    TimeInForce,
    next_id,
)

__all__ = ["MatchingEngine"]

_NS_PER_DAY = 86_400 * 1_000_000_000
_DUST = 1e-9
"""Relative size below which a fractional remainder counts as filled."""

_LIMITED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_STOPPED = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
_IMMEDIATE = {
    TimeInForce.IOC: "IOC: the unfilled quantity is cancelled",
    TimeInForce.FOK: "FOK: the whole quantity could not fill on the first bar",
}
_CANCELLED = OrderStatus.CANCELLED
_REJECTED = OrderStatus.REJECTED
_TIF = RejectReason.TIME_IN_FORCE


class _Quote(NamedTuple):
    """The prices of one bar (or one tick: open = high = low) seen by the matcher."""

    ts: int
    open: float
    high: float
    low: float
    volume: float


class _Working:
    """Mutable matching state of one working order."""

    __slots__ = (
        "buy",
        "day",
        "done",
        "filled",
        "fresh",
        "integral",
        "limit",
        "notional",
        "order",
        "stop",
        "triggered",
    )

    def __init__(self, order: Order) -> None:
        self.order = order
        self.buy = order.side is Side.BUY
        self.limit = order.limit_price if order.limit_price is not None else math.nan
        self.stop = order.stop_price if order.stop_price is not None else math.nan
        self.triggered = order.order_type not in _STOPPED
        self.integral = float(order.quantity).is_integer()
        self.day = order.ts_event // _NS_PER_DAY
        self.filled = 0.0
        self.notional = 0.0
        self.fresh = True
        self.done = False

    @property
    def avg(self) -> float | None:
        return self.notional / self.filled if self.filled > 0 else None


class MatchingEngine:
    """Fills paper orders against the bars and ticks it is shown.

    Rules (``o h l`` are the bar's open, high and low; a tick is treated as a
    bar with ``o = h = l =`` its price and volume = its size):

    - **Never on the submission bar.** An order works from the next bar or
      tick of its symbol passed to :meth:`on_bar` / :meth:`on_tick` after
      :meth:`submit`.
    - **Prices.** MARKET fills at ``o``. LIMIT buy fills when ``l <= limit`` at
      ``min(o, limit)``; LIMIT sell when ``h >= limit`` at ``max(o, limit)``
      (an open through the limit is price improvement). STOP buy triggers when
      ``h >= stop`` and fills at ``max(o, stop)``; STOP sell when ``l <= stop``
      at ``min(o, stop)``. STOP_LIMIT triggers like STOP and then is a LIMIT;
      on the trigger bar it fills if the bar's range also reaches the limit
      (buy: ``l <= limit``, at ``min(trigger, limit)``; sell: ``h >= limit``,
      at ``max(trigger, limit)``), assuming that the part of the range
      needed may come after the trigger, as the path inside a bar is unknown.
    - **Slippage** ``s`` (:class:`~runtime.costs.Slippage`, computed from the
      unslipped price, the fill quantity and the bar volume) is added to buys
      and subtracted from sells; LIMIT and STOP_LIMIT fills are clamped to
      their limit. ``Fill.slippage`` is the move actually applied.
      ``Fill.commission`` comes from :class:`~runtime.costs.Commission`.
    - **Volume cap.** With ``max_volume_share > 0`` and bar volume ``V > 0``,
      the orders of a symbol share ``max_volume_share * V`` per bar in
      submission order. Orders with an integral quantity fill in whole units
      (rounded down; 0 means no fill on that bar). The remainder carries to
      the next bar, where a MARKET or triggered STOP order fills at ``o``.
      ``V == 0`` means unknown volume: no cap.
    - **Time in force.** GTC works until filled or cancelled. IOC fills what it
      can on its first bar and the rest is CANCELLED; FOK fills entirely on
      its first bar or is CANCELLED with nothing filled (both with reason
      TIME_IN_FORCE, also when the price was not reached). DAY is EXPIRED
      (reason TIME_IN_FORCE, before matching) by the first bar of its symbol
      whose UTC date is after the UTC date of ``Order.ts_event``.
    - **Events.** :meth:`submit` answers ACCEPTED or REJECTED, stamped with
      the order's ``ts_event``: INVALID_ORDER for a quantity that is not a
      finite number > 0, a missing or non-positive price the type needs, or a
      price it does not use; DUPLICATE_ORDER for a reused id (even if that
      order ended). Each execution yields a
      :class:`Fill` (``fill_id`` ``"{engine}-{n}"``) then an
      :class:`OrderUpdate` (PARTIALLY_FILLED or FILLED with the cumulative
      quantity and volume-weighted average price), stamped with the bar's
      ``ts_event``. Terminal orders leave the working state.
    - **Modify.** :meth:`modify` changes a working order's total quantity,
      limit price or stop price (None keeps it), stamped with the ``ts_event``
      given. The new quantity must be a finite number not below the filled
      quantity; equal to it, the order is FILLED (and ends). A limit price is
      accepted for LIMIT and STOP_LIMIT only, a stop price for STOP and
      STOP_LIMIT only, and not once the stop has triggered; prices must be
      finite and > 0. Done: an ACCEPTED (nothing filled yet) or
      PARTIALLY_FILLED update with the new quantity. Refused: the same
      status and the old quantity, reason MODIFY_REFUSED and why; the order
      works on unchanged. An unknown or ended order gives no event. The order
      keeps its place in its symbol's submission order (the volume cap's
      sharing), its time in force and its DAY date; the change applies from
      the next bar or tick.

    Bars of a symbol without working orders cost one dict lookup.
    """

    __slots__ = (
        "_books",
        "_clock",
        "_commission",
        "_engine",
        "_fill_seq",
        "_max_share",
        "_orders",
        "_seen",
        "_slippage",
    )

    def __init__(
        self, config: PaperConfig, *, engine: str, clock: Callable[[], int] = time.time_ns
    ) -> None:
        if not math.isfinite(config.max_volume_share) or config.max_volume_share < 0:
            raise ValueError(f"max_volume_share must be >= 0, got {config.max_volume_share!r}")
        self._engine = engine
        self._clock = clock
        self._max_share = config.max_volume_share
        self._slippage = Slippage(config.slippage)
        self._commission = Commission(config.commission)
        self._fill_seq = itertools.count(1)
        self._orders: dict[str, _Working] = {}
        self._books: dict[str, list[_Working]] = {}
        self._seen: set[str] = set()

    def submit(self, order: Order) -> list[OrderUpdate]:
        """Accept ``order`` for matching from the next bar or tick of its symbol.

        Returns ``[ACCEPTED]``, or ``[REJECTED]`` with reason DUPLICATE_ORDER
        (the id was submitted before) or INVALID_ORDER and a message.
        """
        oid = order.client_order_id
        if oid in self._seen:
            reason, problem = RejectReason.DUPLICATE_ORDER, f"{oid!r} was already submitted"
        else:
            self._seen.add(oid)
            reason, problem = RejectReason.INVALID_ORDER, _validate(order)
        if problem:
            return [self._update(order, _REJECTED, order.ts_event, reason=reason, message=problem)]
        working = _Working(order)
        self._orders[oid] = working
        self._books.setdefault(order.symbol, []).append(working)
        return [self._update(order, OrderStatus.ACCEPTED, order.ts_event)]

    def cancel(self, client_order_id: str, ts_event: int) -> list[OrderUpdate]:
        """Cancel a working order: ``[CANCELLED]``, or ``[]`` if unknown or already ended."""
        working = self._orders.get(client_order_id)
        if working is None:
            return []
        self._remove(working)
        return [self._ended(working, _CANCELLED, ts_event, None, "")]

    def modify(
        self,
        client_order_id: str,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
        ts_event: int,
    ) -> list[OrderUpdate]:
        """Change a working order (None keeps a value): see **Modify** in the class docstring.

        Returns ``[ACCEPTED | PARTIALLY_FILLED | FILLED]`` with the new quantity,
        ``[update]`` with reason MODIFY_REFUSED when refused, ``[]`` when the
        order is unknown or already ended.
        """
        w = self._orders.get(client_order_id)
        if w is None:
            return []
        problem = _modify_problem(w, quantity, limit_price, stop_price)
        if problem:
            return [
                self._update(
                    w.order,
                    _open_status(w),
                    ts_event,
                    filled=w.filled,
                    avg=w.avg,
                    reason=RejectReason.MODIFY_REFUSED,
                    message=problem,
                )
            ]
        order = w.order
        if quantity is not None:
            w.integral = float(quantity).is_integer()
        else:
            quantity = order.quantity
        if limit_price is not None:
            w.limit = limit_price
        else:
            limit_price = order.limit_price
        if stop_price is not None:
            w.stop = stop_price
        else:
            stop_price = order.stop_price
        w.order = dataclasses.replace(
            order, quantity=quantity, limit_price=limit_price, stop_price=stop_price
        )
        if quantity - w.filled <= _DUST * quantity:
            w.filled = float(quantity)
            self._remove(w)
            return [
                self._ended(
                    w, OrderStatus.FILLED, ts_event, None, "quantity reduced to the filled quantity"
                )
            ]
        return [self._update(w.order, _open_status(w), ts_event, filled=w.filled, avg=w.avg)]

    def cancel_all(self, ts_event: int, reason: RejectReason, message: str) -> list[OrderUpdate]:
        """Cancel every working order, in submission order, with ``reason`` and ``message``."""
        updates = [
            self._ended(w, _CANCELLED, ts_event, reason, message) for w in self._orders.values()
        ]
        self._orders.clear()
        self._books.clear()
        return updates

    def on_bar(self, bar: Bar) -> list[Fill | OrderUpdate]:
        """Match the working orders of ``bar.symbol`` against ``bar``."""
        book = self._books.get(bar.symbol)
        if book is None:
            return []
        return self._match(
            bar.symbol, book, _Quote(bar.ts_event, bar.open, bar.high, bar.low, bar.volume)
        )

    def on_tick(self, tick: Tick) -> list[Fill | OrderUpdate]:
        """Match the working orders of ``tick.symbol`` against one trade at ``tick.price``."""
        book = self._books.get(tick.symbol)
        if book is None:
            return []
        p = tick.price
        return self._match(tick.symbol, book, _Quote(tick.ts_event, p, p, p, tick.size))

    def working_orders(self) -> tuple[str, ...]:
        """Client order ids of the working orders, in submission order."""
        return tuple(self._orders)

    def triggered(self, client_order_id: str) -> bool | None:
        """Whether a working order's stop has triggered (True for orders without a stop);
        None when the order is not working."""
        working = self._orders.get(client_order_id)
        return None if working is None else working.triggered

    # --- restoring (a host that persists its orders, after a restart) -----------

    def restore(
        self,
        order: Order,
        *,
        filled_quantity: float = 0.0,
        avg_fill_price: float | None = None,
        triggered: bool = False,
    ) -> None:
        """Put back an order that was working when the host stopped; no event.

        It goes behind the working orders of its symbol (restore in the original
        submission order), keeps matching from the next bar or tick with
        ``filled_quantity`` already done at ``avg_fill_price``, and its id counts
        as submitted. ``triggered``: a stop that had triggered (ignored for
        orders without a stop). Raises ValueError for an id already submitted,
        an order :meth:`submit` would reject, or a filled quantity that is not
        in ``[0, quantity)`` or comes without an average price.
        """
        oid = order.client_order_id
        if oid in self._seen:
            raise ValueError(f"order {oid!r} was already submitted")
        problem = _validate(order)
        if problem:
            raise ValueError(f"order {oid!r}: {problem}")
        if not math.isfinite(filled_quantity) or not 0 <= filled_quantity < order.quantity:
            raise ValueError(
                f"order {oid!r}: filled_quantity must be in [0, {order.quantity:g}), "
                f"got {filled_quantity!r}"
            )
        if filled_quantity > 0 and (avg_fill_price is None or not math.isfinite(avg_fill_price)):
            raise ValueError(f"order {oid!r}: a filled order needs a finite avg_fill_price")
        working = _Working(order)
        working.filled = float(filled_quantity)
        working.notional = filled_quantity * avg_fill_price if avg_fill_price is not None else 0.0
        working.triggered = working.triggered or triggered
        self._seen.add(oid)
        self._orders[oid] = working
        self._books.setdefault(order.symbol, []).append(working)

    def restore_submitted(self, client_order_ids: Iterable[str]) -> None:
        """Count these ids as submitted before: :meth:`submit` refuses them as
        DUPLICATE_ORDER (ended orders of a host that restarted)."""
        self._seen.update(client_order_ids)

    # --- internals -------------------------------------------------------------

    def _remove(self, working: _Working) -> None:
        """Take a working order out of the working state (it ended outside matching)."""
        del self._orders[working.order.client_order_id]
        symbol = working.order.symbol
        book = self._books[symbol]
        book.remove(working)
        if not book:
            del self._books[symbol]

    def _match(self, symbol: str, book: list[_Working], q: _Quote) -> list[Fill | OrderUpdate]:
        events: list[Fill | OrderUpdate] = []
        share = self._max_share
        available = share * q.volume if share > 0 and q.volume > 0 else math.inf
        ended = False
        for w in book:
            taken = self._step(w, q, available, events)
            # max(): a fractional order may round up to its whole remainder
            available = max(0.0, available - taken)
            ended = ended or w.done
        if ended:
            for w in book:
                if w.done:
                    del self._orders[w.order.client_order_id]
            book[:] = [w for w in book if not w.done]
            if not book:
                del self._books[symbol]
        return events

    def _step(
        self, w: _Working, q: _Quote, available: float, events: list[Fill | OrderUpdate]
    ) -> float:
        """Match one order against one bar; return the quantity it took."""
        order = w.order
        tif = order.time_in_force
        if tif is TimeInForce.DAY and q.ts // _NS_PER_DAY > w.day:
            msg = "DAY order expired: its trading date ended"
            events.append(self._ended(w, OrderStatus.EXPIRED, q.ts, _TIF, msg))
            return 0.0
        take = 0.0
        base = _base_price(w, q)
        if base is not None:
            quantity = order.quantity
            remaining = quantity - w.filled
            if available >= remaining:
                take = remaining
            elif w.integral:
                take = float(math.floor(available + 1e-9))  # 0.29 * 100 is 28.999...96
            else:
                take = available if remaining - available > _DUST * quantity else remaining
                if take <= _DUST * quantity:
                    take = 0.0
            if tif is TimeInForce.FOK and take < remaining:
                take = 0.0
            if take > 0:
                self._fill(w, take, base, q, events)
        fresh, w.fresh = w.fresh, False
        if fresh and not w.done and tif in _IMMEDIATE:
            msg = _IMMEDIATE[tif]
            events.append(self._ended(w, _CANCELLED, q.ts, _TIF, msg))
        return take

    def _fill(
        self, w: _Working, take: float, base: float, q: _Quote, events: list[Fill | OrderUpdate]
    ) -> None:
        order = w.order
        slip = self._slippage.per_unit(base, take, q.volume)
        limited = order.order_type in _LIMITED
        if w.buy:
            price = base + slip
            if limited and price > w.limit:
                price, slip = w.limit, w.limit - base
        else:
            price = base - slip
            if limited and price < w.limit:
                price, slip = w.limit, base - w.limit
        complete = take == order.quantity - w.filled
        w.filled = float(order.quantity) if complete else w.filled + take
        w.notional += take * price
        w.done = complete
        fill_id = f"{self._engine}-{next(self._fill_seq)}"
        events.append(
            Fill(
                id=next_id(),
                ts_event=q.ts,
                ts_init=self._clock(),
                fill_id=fill_id,
                client_order_id=order.client_order_id,
                strategy_id=order.strategy_id,
                symbol=order.symbol,
                side=order.side,
                quantity=take,
                price=price,
                commission=self._commission.fee(take, price),
                slippage=slip,
                engine=self._engine,
            )
        )
        status = OrderStatus.FILLED if complete else OrderStatus.PARTIALLY_FILLED
        events.append(self._update(order, status, q.ts, filled=w.filled, avg=w.avg))

    def _ended(
        self, w: _Working, status: OrderStatus, ts: int, reason: RejectReason | None, msg: str
    ) -> OrderUpdate:
        w.done = True
        return self._update(
            w.order, status, ts, filled=w.filled, avg=w.avg, reason=reason, message=msg
        )

    def _update(
        self,
        order: Order,
        status: OrderStatus,
        ts: int,
        *,
        filled: float = 0.0,
        avg: float | None = None,
        reason: RejectReason | None = None,
        message: str = "",
    ) -> OrderUpdate:
        return OrderUpdate(
            id=next_id(),
            ts_event=ts,
            ts_init=self._clock(),
            client_order_id=order.client_order_id,
            strategy_id=order.strategy_id,
            symbol=order.symbol,
            side=order.side,
            status=status,
            quantity=order.quantity,
            filled_quantity=filled,
            avg_fill_price=avg,
            reason=reason,
            message=message,
            engine=self._engine,
        )


def _base_price(w: _Working, q: _Quote) -> float | None:
    """The unslipped fill price of ``w`` on a bar, or None if it does not fill.

    Marks a stop order triggered when the bar reaches its stop price.
    """
    kind = w.order.order_type
    o, h, low = q.open, q.high, q.low
    if kind is OrderType.MARKET:
        return o
    if not w.triggered:
        if w.buy:
            if h < w.stop:
                return None
            trigger = max(o, w.stop)
        else:
            if low > w.stop:
                return None
            trigger = min(o, w.stop)
        w.triggered = True
        if kind is OrderType.STOP:
            return trigger
        o = trigger  # STOP_LIMIT: the limit is checked from the trigger price on
    elif kind is OrderType.STOP:
        return o
    limit = w.limit
    if w.buy:
        return min(o, limit) if low <= limit else None
    return max(o, limit) if h >= limit else None


def _open_status(w: _Working) -> OrderStatus:
    """The status of a working order: ACCEPTED until something filled."""
    return OrderStatus.PARTIALLY_FILLED if w.filled > 0 else OrderStatus.ACCEPTED


def _modify_problem(
    w: _Working, quantity: float | None, limit_price: float | None, stop_price: float | None
) -> str:
    """Why a modification of ``w`` is refused, or "" when it can be done."""
    kind = w.order.order_type
    if quantity is not None:
        if not math.isfinite(quantity) or quantity <= 0:
            return f"quantity must be a finite number > 0, got {quantity!r}"
        if quantity < w.filled and w.filled - quantity > _DUST * w.filled:
            return f"quantity {quantity:g} is below the {w.filled:g} already filled"
    for name, price, used in (
        ("limit_price", limit_price, kind in _LIMITED),
        ("stop_price", stop_price, kind in _STOPPED),
    ):
        if price is None:
            continue
        if not used:
            return f"{kind} order has no {name} to change"
        if not math.isfinite(price) or price <= 0:
            return f"{name} must be a finite number > 0, got {price!r}"
    if stop_price is not None and w.triggered:
        return "the stop price cannot change: the stop already triggered"
    return ""


def _validate(order: Order) -> str:
    """Why ``order`` cannot be matched, or "" when it can."""
    quantity = order.quantity
    if not math.isfinite(quantity) or quantity <= 0:
        return f"quantity must be a finite number > 0, got {quantity!r}"
    kind = order.order_type
    for name, price, needed in (
        ("limit_price", order.limit_price, kind in _LIMITED),
        ("stop_price", order.stop_price, kind in _STOPPED),
    ):
        if needed and (price is None or not math.isfinite(price) or price <= 0):
            return f"{kind} order needs a finite {name} > 0, got {price!r}"
        if not needed and price is not None:
            return f"{kind} order must not have a {name}, got {price!r}"
    return ""
