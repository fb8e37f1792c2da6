"""Pre-trade risk rules: the pure, single-threaded engine the risk actor runs per order.

The risk actor owns a :class:`RiskLedger` (one :class:`StrategyExposure` per
strategy, created on first use), feeds it what happens to orders (accepted,
filled, modified, finished) and asks :func:`check_intent` /
:func:`check_modify` about every new order and modification, passing the
effective limits of the strategy (its ``[strategies.risk]`` table merged over
``[risk]`` by the settings loader) and the runtime's trading state. Nothing
here does I/O, reads a clock or takes a lock: the caller passes market time
(the order's ``ts_event``) and a monotonic ``now`` for the rate limit.

Rules, in the order they are checked; the first breach is reported as
``(reason, message)``:

1. trading state: HALTED, STARTING, STOPPING, STOPPED refuse with ``HALTED``,
   PAUSED with ``PAUSED``; RUNNING and REDUCING go on;
2. the strategy paused (operator: ``PAUSED``; losing streak: ``LOSING_STREAK``);
3. ``trading_hours``, by the order's market time in the window's time zone
   (``ts_event`` 0, no market data yet, is refused);
4. a malformed order (``INVALID_ORDER``: quantity or price not finite and
   > 0, a LIMIT without limit price...) and a client order id already open
   (``DUPLICATE_ORDER``): defence in depth, the strategy API refuses them first;
5. ``max_order_quantity``; 6. ``max_order_notional``; 7. ``price_collar_pct``;
8. ``max_open_orders``; 9. ``max_position``; 10. ``max_gross_exposure``;
11. ``max_net_exposure``;
12. REDUCING state: the order must move its position toward flat without
    crossing it, other open orders on its side counted (``REDUCE_ONLY``);
13. the rate limit, last: a token is taken only by an order that passed
    everything else, so refused orders do not use up the rate.

A limit at 0 (or ``trading_hours`` None) costs one attribute test.

Prices. An order's *price* is its limit price, else its stop price, else the
*market price*: the intent's ``market_price`` (the last price its strategy
saw), else the ledger's last mark of the symbol (marks come from accepted
intents and from fills). With no price, a rule that needs one refuses with
``NO_MARKET_PRICE``. ``price_collar_pct`` compares the limit price with the
market price, both directions.

Exposure (worst case, so that no fill of the open orders can take the
strategy past a limit). Per symbol ``s``: ``V`` = position x market price,
``B`` = sum of open buy quantity x price, ``S`` = the same for open sells
(open market orders are valued at the market price). Then

- position worst case: ``max(|pos + open buys|, |pos - open sells|)``;
- gross: ``sum over s of max(|V + B|, |V - S|)``, the largest value each
  symbol can reach if all its buys or all its sells fill (partial and mixed
  fills lie in between);
- net: ``max(|sum(V + B)|, |sum(V - S)|)``: every buy fills, or every sell.

A rule refuses only an order that takes its measure past the limit *and*
raises it, so an order that reduces risk always passes these rules, even
when the strategy is already over the limit (the price moved, the limit was
lowered). Floats are compared exactly, without tolerance.

Modifications (:func:`check_modify`) are judged as if the working order were
replaced by the modified one: its own contribution is taken out before the
new one is counted, and it does not count against ``max_open_orders``. A
modification that only reduces risk (total quantity not above the current
one, prices unchanged) is never refused, in any state: like a cancel, it can
only lower exposure. Any other modification is refused while halted or
paused and otherwise goes through every rule above.

Until the engine answers, a sent modification counts the order at the worse
of its old and new values (:meth:`StrategyExposure.modify_sent`): it may be
applied or refused.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from runtime.config import RiskConfig, TradingHours
from runtime.messages import (
    Fill,
    ModifyOrder,
    OrderIntent,
    OrderType,
    OrderUpdate,
    RejectReason,
    RuntimeState,
    Side,
)
from runtime.throttle import TokenBucket

__all__ = [
    "Breach",
    "OpenOrder",
    "RiskLedger",
    "StrategyExposure",
    "check_intent",
    "check_modify",
    "outside_trading_hours",
]

Breach: TypeAlias = tuple[RejectReason, str]
"""Why an order is refused: a reason code and a message naming the limit and the values."""

_INF = math.inf
_BUY = Side.BUY
_RUNNING = RuntimeState.RUNNING
_REDUCING = RuntimeState.REDUCING
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NS_PER_MINUTE = 60_000_000_000


def _n(value: float) -> str:
    return f"{value:.12g}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenOrder:
    """A working order as the ledger counts it (a snapshot)."""

    client_order_id: str
    """The order."""
    symbol: str
    """Instrument symbol."""
    side: Side
    """BUY or SELL."""
    order_type: OrderType
    """MARKET, LIMIT, STOP or STOP_LIMIT."""
    quantity: float
    """Total quantity, as last confirmed."""
    filled: float
    """Quantity filled so far."""
    limit_price: float | None
    """Limit price, as last confirmed."""
    stop_price: float | None
    """Stop price, as last confirmed."""
    counted_quantity: float
    """Quantity counted in exposure: the remaining quantity, or the larger one
    of a modification not answered yet."""
    counted_price: float | None
    """Price counted in exposure; None: valued at the market price."""


class _Working:
    """A working order and what it adds to its symbol's totals."""

    __slots__ = (
        "client_order_id",
        "counted_price",
        "counted_qty",
        "filled",
        "limit_price",
        "order_type",
        "pending",
        "quantity",
        "side",
        "stop_price",
        "symbol",
    )

    def __init__(self, intent: OrderIntent) -> None:
        self.client_order_id = intent.client_order_id
        self.symbol = intent.symbol
        self.side = intent.side
        self.order_type = intent.order_type
        self.quantity = intent.quantity
        self.filled = 0.0
        self.limit_price = intent.limit_price
        self.stop_price = intent.stop_price
        self.pending: list[tuple[float, float | None, float | None]] = []
        self.counted_qty = 0.0
        self.counted_price: float | None = None

    def counted(self) -> tuple[float, float | None]:
        """(quantity, price) to count: the worse of the confirmed and pending versions."""
        qty = self.quantity - self.filled
        price = self.limit_price if self.limit_price is not None else self.stop_price
        for quantity, limit_price, stop_price in self.pending:
            qty = max(qty, quantity - self.filled)
            other = limit_price if limit_price is not None else stop_price
            price = None if price is None or other is None else max(price, other)
        return max(qty, 0.0), price


class _Symbol:
    """One symbol of one strategy: position, last mark, totals of its open orders."""

    __slots__ = (
        "buy_notional",
        "buy_qty",
        "buy_unpriced",
        "mark",
        "orders",
        "position",
        "sell_notional",
        "sell_qty",
        "sell_unpriced",
    )

    def __init__(self) -> None:
        self.position = 0.0
        self.mark: float | None = None
        self.orders = 0
        self.buy_qty = 0.0
        self.sell_qty = 0.0
        self.buy_notional = 0.0
        self.sell_notional = 0.0
        self.buy_unpriced = 0.0
        self.sell_unpriced = 0.0

    def add(self, order: _Working, sign: float) -> None:
        qty, price = order.counted_qty * sign, order.counted_price
        if order.side is _BUY:
            self.buy_qty += qty
            if price is None:
                self.buy_unpriced += qty
            else:
                self.buy_notional += qty * price
        else:
            self.sell_qty += qty
            if price is None:
                self.sell_unpriced += qty
            else:
                self.sell_notional += qty * price

    def clear_orders(self) -> None:
        """Exact zeros once no order is open (no float residue from adds and removes)."""
        self.buy_qty = self.sell_qty = 0.0
        self.buy_notional = self.sell_notional = 0.0
        self.buy_unpriced = self.sell_unpriced = 0.0


class StrategyExposure:
    """One strategy's positions, working orders, marks, order rate and pause state.

    Fed by the risk actor: :meth:`order_sent` for each accepted intent,
    :meth:`on_fill`, :meth:`on_finished` for terminal updates, and
    :meth:`modify_sent` / :meth:`on_modified` / :meth:`modify_refused` for
    modifications.
    """

    __slots__ = (
        "_bucket",
        "_bucket_burst",
        "_hours",
        "_losses",
        "_orders",
        "_paused",
        "_symbols",
        "strategy_id",
    )

    def __init__(self, strategy_id: str) -> None:
        self.strategy_id = strategy_id
        self._symbols: dict[str, _Symbol] = {}
        self._orders: dict[str, _Working] = {}
        self._bucket: TokenBucket | None = None
        self._bucket_burst = 0
        self._hours: tuple[TradingHours, int, str | None] | None = None
        self._losses = 0
        self._paused: Breach | None = None

    # --- what happened -------------------------------------------------------

    def _symbol(self, symbol: str) -> _Symbol:
        book = self._symbols.get(symbol)
        if book is None:
            book = self._symbols[symbol] = _Symbol()
        return book

    def _recount(self, order: _Working) -> None:
        book = self._symbols[order.symbol]
        book.add(order, -1.0)
        order.counted_qty, order.counted_price = order.counted()
        book.add(order, 1.0)
        if order.counted_qty <= 0.0:
            self._drop(order.client_order_id)

    def _drop(self, client_order_id: str) -> bool:
        order = self._orders.pop(client_order_id, None)
        if order is None:
            return False
        book = self._symbols[order.symbol]
        book.orders -= 1
        if book.orders == 0:
            book.clear_orders()
        else:
            book.add(order, -1.0)
        return True

    def order_sent(self, intent: OrderIntent) -> None:
        """Count an accepted intent as a working order (and its market price as the mark).

        Raises ``ValueError`` for a client order id already open (``check_intent``
        refuses those)."""
        if intent.client_order_id in self._orders:
            raise ValueError(f"order {intent.client_order_id} is already open")
        book = self._symbol(intent.symbol)
        price = intent.market_price
        if price is not None and 0.0 < price < _INF:
            book.mark = price
        order = _Working(intent)
        order.counted_qty, order.counted_price = order.counted()
        self._orders[order.client_order_id] = order
        book.orders += 1
        book.add(order, 1.0)

    def on_fill(self, fill: Fill) -> None:
        """Book an execution: position, mark, and what remains of the order.

        A fill of an order the ledger does not hold still moves the position.
        An order with nothing left to fill stops counting at once."""
        book = self._symbol(fill.symbol)
        book.position += fill.quantity if fill.side is _BUY else -fill.quantity
        book.mark = fill.price
        order = self._orders.get(fill.client_order_id)
        if order is not None:
            order.filled += fill.quantity
            self._recount(order)

    def on_finished(self, client_order_id: str) -> bool:
        """The order reached a terminal state: it no longer counts. False if unknown."""
        return self._drop(client_order_id)

    def on_update(self, update: OrderUpdate) -> bool:
        """Apply an order update: a terminal one ends the order. True if it changed anything."""
        return update.status.is_terminal and self._drop(update.client_order_id)

    def modify_sent(self, modify: ModifyOrder) -> bool:
        """A modification passed risk: count the worse of old and new until it is answered."""
        order = self._orders.get(modify.client_order_id)
        if order is None:
            return False
        order.pending.append(
            (
                order.quantity if modify.quantity is None else modify.quantity,
                order.limit_price if modify.limit_price is None else modify.limit_price,
                order.stop_price if modify.stop_price is None else modify.stop_price,
            )
        )
        self._recount(order)
        return True

    def on_modified(
        self,
        client_order_id: str,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
    ) -> bool:
        """The engine applied a modification (``None`` keeps a value): the oldest
        pending one is resolved. False if the order is not open."""
        order = self._orders.get(client_order_id)
        if order is None:
            return False
        if quantity is not None:
            order.quantity = quantity
        if limit_price is not None:
            order.limit_price = limit_price
        if stop_price is not None:
            order.stop_price = stop_price
        if order.pending:
            del order.pending[0]
        self._recount(order)
        return True

    def modify_refused(self, client_order_id: str) -> bool:
        """The engine refused the oldest pending modification: the order keeps its values."""
        order = self._orders.get(client_order_id)
        if order is None or not order.pending:
            return False
        del order.pending[0]
        self._recount(order)
        return True

    def limits_changed(self) -> None:
        """Its limits were replaced (an operator set them): the order rate starts from
        a full bucket of the new limits and the trading-hours answer is recomputed."""
        self._bucket = None
        self._bucket_burst = 0
        self._hours = None

    def set_mark(self, symbol: str, price: float) -> None:
        """Record the last market price of ``symbol`` (ignored unless finite and > 0)."""
        if 0.0 < price < _INF:
            self._symbol(symbol).mark = price

    # --- pause and losing streak -------------------------------------------

    @property
    def paused(self) -> Breach | None:
        """(reason code, message) while paused; None while the strategy may trade."""
        return self._paused

    @property
    def losses(self) -> int:
        """Losing round trips in a row."""
        return self._losses

    def pause(self, reason: str, *, code: RejectReason = RejectReason.PAUSED) -> None:
        """Refuse its new orders with ``code`` (PAUSED, or LOSING_STREAK) from now on."""
        self._paused = (code, f"strategy {self.strategy_id} paused: {reason}")

    def resume(self) -> None:
        """Accept its orders again; the losing streak restarts at 0."""
        self._paused = None
        self._losses = 0

    def trade_closed(self, pnl: float, max_consecutive_losses: int) -> bool:
        """Count a closed round trip (a loss is ``pnl`` < 0; a win or flat trade
        resets the count). True when the count reaches the limit (> 0) and the
        strategy is not paused yet: the caller then pauses it
        (:meth:`pause_losing_streak`)."""
        if pnl < 0.0:
            self._losses += 1
        else:
            self._losses = 0
        return 0 < max_consecutive_losses <= self._losses and self._paused is None

    def pause_losing_streak(self, max_consecutive_losses: int) -> str:
        """Pause with ``LOSING_STREAK``; returns the reason (for ``StrategyPaused``)."""
        reason = (
            f"{self._losses} losing trades in a row "
            f"(max_consecutive_losses {max_consecutive_losses})"
        )
        self.pause(reason, code=RejectReason.LOSING_STREAK)
        return reason

    # --- queries -------------------------------------------------------------

    def position(self, symbol: str) -> float:
        """Signed position in ``symbol`` from fills: > 0 long, < 0 short."""
        book = self._symbols.get(symbol)
        return 0.0 if book is None else book.position

    def positions(self) -> dict[str, float]:
        """Every non-flat position, by symbol."""
        return {s: b.position for s, b in self._symbols.items() if b.position != 0.0}

    def mark(self, symbol: str) -> float | None:
        """Last known price of ``symbol``."""
        book = self._symbols.get(symbol)
        return None if book is None else book.mark

    @property
    def open_order_count(self) -> int:
        """Working orders."""
        return len(self._orders)

    def open_quantity(self, symbol: str, side: Side) -> float:
        """Quantity of working orders on one side of ``symbol``, as counted."""
        book = self._symbols.get(symbol)
        if book is None:
            return 0.0
        return book.buy_qty if side is _BUY else book.sell_qty

    def open_order(self, client_order_id: str) -> OpenOrder | None:
        """A working order, or None."""
        order = self._orders.get(client_order_id)
        return None if order is None else _snapshot(order)

    def open_orders(self) -> tuple[OpenOrder, ...]:
        """Every working order, by client order id."""
        return tuple(_snapshot(self._orders[k]) for k in sorted(self._orders))

    def gross_exposure(self) -> float:
        """Worst-case gross exposure now (see the module docstring); inf when an
        open order cannot be valued (no price for its symbol)."""
        worst = _worst(self, "", None, replaced=None, side=_BUY, qty=0.0, price=0.0)
        return _INF if isinstance(worst, str) else worst[0]

    def net_exposure(self) -> float:
        """Worst-case net exposure now, signed (< 0: short); inf when unknown."""
        worst = _worst(self, "", None, replaced=None, side=_BUY, qty=0.0, price=0.0)
        return _INF if isinstance(worst, str) else worst[3]

    def _outside_hours(self, hours: TradingHours, ts_event: int) -> str | None:
        # Windows are whole minutes and UTC offsets whole minutes: one answer per minute.
        minute = ts_event // _NS_PER_MINUTE
        cached = self._hours
        if cached is not None and cached[0] is hours and cached[1] == minute and ts_event > 0:
            return cached[2]
        text = outside_trading_hours(hours, ts_event)
        self._hours = (hours, minute, text)
        return text


def _snapshot(order: _Working) -> OpenOrder:
    return OpenOrder(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        order_type=order.order_type,
        quantity=order.quantity,
        filled=order.filled,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        counted_quantity=order.counted_qty,
        counted_price=order.counted_price,
    )


class RiskLedger:
    """One :class:`StrategyExposure` per strategy, created on first use.

    The trading state is not kept here: the actor passes it to each check."""

    __slots__ = ("_strategies",)

    def __init__(self) -> None:
        self._strategies: dict[str, StrategyExposure] = {}

    def exposure(self, strategy_id: str) -> StrategyExposure:
        """The strategy's exposure, created empty on first use."""
        exposure = self._strategies.get(strategy_id)
        if exposure is None:
            exposure = self._strategies[strategy_id] = StrategyExposure(strategy_id)
        return exposure

    def get(self, strategy_id: str) -> StrategyExposure | None:
        """The strategy's exposure if it has one."""
        return self._strategies.get(strategy_id)

    def strategies(self) -> tuple[str, ...]:
        """Ids of the strategies seen, sorted."""
        return tuple(sorted(self._strategies))

    def on_fill(self, fill: Fill) -> None:
        """Book a fill in its strategy's exposure."""
        self.exposure(fill.strategy_id).on_fill(fill)

    def on_update(self, update: OrderUpdate) -> bool:
        """Apply an order update to its strategy's exposure (terminal: the order ends)."""
        exposure = self._strategies.get(update.strategy_id)
        return exposure is not None and exposure.on_update(update)


# --- the rules -------------------------------------------------------------------


def outside_trading_hours(hours: TradingHours, ts_event: int) -> str | None:
    """Why market time ``ts_event`` (ns since the epoch) is outside ``hours``; None inside.

    The window is in local time of ``hours.timezone`` (daylight saving time
    included). A window whose end is not after its start runs across
    midnight and belongs to the weekday it opened on."""
    if ts_event <= 0:
        return "no market time yet to check trading_hours"
    local = dt.datetime.fromtimestamp(ts_event // 1_000_000_000, zoneinfo.ZoneInfo(hours.timezone))
    now, day = local.time(), local.weekday()
    start, end, days = hours.start, hours.end, hours.weekdays
    if start < end:
        inside = start <= now < end and day in days
    else:
        inside = (now >= start and day in days) or (now < end and (day - 1) % 7 in days)
    if inside:
        return None
    return (
        f"market time {_DAYS[day]} {local:%Y-%m-%d %H:%M} {hours.timezone} is outside "
        f"trading_hours {start:%H:%M}-{end:%H:%M} on {','.join(_DAYS[d] for d in days)}"
    )


def _mode_breach(mode: RuntimeState, reason: str) -> Breach:
    if mode is RuntimeState.PAUSED:
        return RejectReason.PAUSED, f"trading paused: {reason}" if reason else "trading paused"
    if mode is not RuntimeState.HALTED:
        reason = f"runtime is {mode.value}: {reason}" if reason else f"runtime is {mode.value}"
    return RejectReason.HALTED, f"trading halted: {reason}" if reason else "trading halted"


def check_intent(
    intent: OrderIntent,
    limits: RiskConfig,
    exposure: StrategyExposure,
    *,
    mode: RuntimeState,
    mode_reason: str = "",
    now: float,
) -> Breach | None:
    """The first rule ``intent`` breaks, as (reason, message); None when it passes.

    ``limits`` are the strategy's effective limits, ``exposure`` its ledger
    entry, ``mode`` the trading state and ``mode_reason`` why the runtime is
    in it (shown in refusals); ``now`` is monotonic seconds for the rate
    limit. A passing intent has taken a rate token: the caller then sends it
    and calls ``exposure.order_sent(intent)``."""
    if mode is not _RUNNING and mode is not _REDUCING:
        return _mode_breach(mode, mode_reason)
    if exposure._paused is not None:
        return exposure._paused
    return _judge(intent, limits, exposure, mode=mode, mode_reason=mode_reason, now=now)


def check_modify(
    modify: ModifyOrder,
    limits: RiskConfig,
    exposure: StrategyExposure,
    *,
    mode: RuntimeState,
    mode_reason: str = "",
    now: float,
) -> Breach | None:
    """The first rule the modified order breaks, judged as if it replaced the
    working one; None when it passes (the caller then calls
    ``exposure.modify_sent(modify)``).

    A modification that only reduces risk (total quantity not above the
    current one, limit and stop unchanged) always passes and takes no rate
    token. An order the strategy has not open is refused with ``UNKNOWN_ORDER``."""
    order = exposure._orders.get(modify.client_order_id)
    if order is None:
        return (
            RejectReason.UNKNOWN_ORDER,
            f"order {modify.client_order_id} is not open for strategy {exposure.strategy_id}",
        )
    quantity = order.quantity if modify.quantity is None else modify.quantity
    limit_price = order.limit_price if modify.limit_price is None else modify.limit_price
    stop_price = order.stop_price if modify.stop_price is None else modify.stop_price
    if (
        quantity <= order.quantity
        and limit_price == order.limit_price
        and stop_price == order.stop_price
    ):
        return None
    if mode is not _RUNNING and mode is not _REDUCING:
        return _mode_breach(mode, mode_reason)
    if exposure._paused is not None:
        return exposure._paused
    modified = _Modified(order, quantity, limit_price, stop_price, modify)
    return _judge(
        modified, limits, exposure, mode=mode, mode_reason=mode_reason, now=now, replaced=order
    )


class _OrderLike(Protocol):
    """What the rules read of an order: an ``OrderIntent`` or a ``_Modified``."""

    @property
    def client_order_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def quantity(self) -> float: ...
    @property
    def limit_price(self) -> float | None: ...
    @property
    def stop_price(self) -> float | None: ...
    @property
    def market_price(self) -> float | None: ...
    @property
    def ts_event(self) -> int: ...


class _Modified:
    """A working order as a modification would leave it."""

    __slots__ = (
        "client_order_id",
        "limit_price",
        "market_price",
        "order_type",
        "quantity",
        "side",
        "stop_price",
        "symbol",
        "ts_event",
    )

    def __init__(
        self,
        order: _Working,
        quantity: float,
        limit_price: float | None,
        stop_price: float | None,
        modify: ModifyOrder,
    ) -> None:
        self.client_order_id = order.client_order_id
        self.symbol = order.symbol
        self.side = order.side
        self.order_type = order.order_type
        self.quantity = quantity
        self.limit_price = limit_price
        self.stop_price = stop_price
        self.market_price = modify.market_price
        self.ts_event = modify.ts_event


def _judge(
    order: _OrderLike,
    limits: RiskConfig,
    ex: StrategyExposure,
    *,
    mode: RuntimeState,
    mode_reason: str,
    now: float,
    replaced: _Working | None = None,
) -> Breach | None:
    """Rules 3 to 13 for a new order, or one replacing the working order ``replaced``."""
    symbol, side, quantity = order.symbol, order.side, order.quantity
    limit_price, stop_price = order.limit_price, order.stop_price
    hours = limits.trading_hours
    if hours is not None:
        outside = ex._outside_hours(hours, order.ts_event)
        if outside is not None:
            return RejectReason.TRADING_HOURS, outside
    invalid = _invalid(order.order_type, quantity, limit_price, stop_price)
    if invalid is not None:
        return RejectReason.INVALID_ORDER, invalid
    if replaced is None and order.client_order_id in ex._orders:
        return RejectReason.DUPLICATE_ORDER, f"order {order.client_order_id} is already open"

    cap = limits.max_order_quantity
    if cap and quantity > cap:
        return (
            RejectReason.MAX_ORDER_QUANTITY,
            f"quantity {_n(quantity)} exceeds max_order_quantity {_n(cap)}",
        )
    book = ex._symbols.get(symbol)
    mark = order.market_price
    if mark is None or not 0.0 < mark < _INF:
        mark = None if book is None else book.mark
    price = limit_price if limit_price is not None else stop_price
    if price is None:
        price = mark
    cap = limits.max_order_notional
    if cap:
        if price is None:
            return (
                RejectReason.NO_MARKET_PRICE,
                f"no price for {symbol} yet to check max_order_notional",
            )
        notional = quantity * price
        if notional > cap:
            return (
                RejectReason.MAX_ORDER_NOTIONAL,
                f"notional {notional:,.2f} exceeds max_order_notional {cap:,.2f}",
            )
    cap = limits.price_collar_pct
    if cap and limit_price is not None:
        if mark is None:
            return (
                RejectReason.NO_MARKET_PRICE,
                f"no price for {symbol} yet to check price_collar_pct",
            )
        away = abs(limit_price - mark) / mark * 100.0
        if away > cap:
            return (
                RejectReason.PRICE_COLLAR,
                f"limit price {_n(limit_price)} is {away:.2f}% from market price {_n(mark)}, "
                f"beyond price_collar_pct {_n(cap)}",
            )
    count = limits.max_open_orders
    if count and replaced is None and len(ex._orders) >= count:
        return (
            RejectReason.MAX_OPEN_ORDERS,
            f"open orders {len(ex._orders) + 1} would exceed max_open_orders {count}",
        )

    qty = quantity if replaced is None else max(quantity - replaced.filled, 0.0)
    buy = side is _BUY
    cap = limits.max_position
    if cap:
        position = 0.0 if book is None else book.position
        buys = 0.0 if book is None else book.buy_qty
        sells = 0.0 if book is None else book.sell_qty
        before = max(abs(position + buys), abs(position - sells))
        if replaced is not None:
            if buy:
                buys -= replaced.counted_qty
            else:
                sells -= replaced.counted_qty
        worst = position + buys + qty if buy else position - sells - qty
        if abs(worst) > cap and abs(worst) > before:
            return (
                RejectReason.MAX_POSITION,
                f"worst-case position {worst:+.12g} in {symbol} exceeds max_position {_n(cap)} "
                f"(position {position:+.12g}, other open {'buys' if buy else 'sells'} "
                f"{_n(buys if buy else sells)}, this order {_n(qty)})",
            )
    if limits.max_gross_exposure or limits.max_net_exposure:
        name = "max_gross_exposure" if limits.max_gross_exposure else "max_net_exposure"
        if price is None:
            return RejectReason.NO_MARKET_PRICE, f"no price for {symbol} yet to check {name}"
        worst_case = _worst(ex, symbol, mark, replaced=replaced, side=side, qty=qty, price=price)
        if isinstance(worst_case, str):
            return (
                RejectReason.NO_MARKET_PRICE,
                f"no price for {worst_case} yet to value its open orders for {name}",
            )
        gross_before, gross_after, net_before, net_after = worst_case
        cap = limits.max_gross_exposure
        if cap and gross_after > cap and gross_after > gross_before:
            return (
                RejectReason.MAX_GROSS_EXPOSURE,
                f"worst-case gross exposure {gross_after:,.2f} exceeds max_gross_exposure "
                f"{cap:,.2f} (this order {qty * price:,.2f})",
            )
        cap = limits.max_net_exposure
        if cap and abs(net_after) > cap and abs(net_after) > abs(net_before):
            return (
                RejectReason.MAX_NET_EXPOSURE,
                f"worst-case net exposure {net_after:+,.2f} exceeds max_net_exposure "
                f"{cap:,.2f} (this order {qty * price:,.2f})",
            )
    if mode is _REDUCING:
        refusal = _not_reducing(book, symbol, side, qty, replaced)
        if refusal is not None:
            why = f" ({mode_reason})" if mode_reason else ""
            return RejectReason.REDUCE_ONLY, f"reduce only{why}: {refusal}"
    rate = limits.max_orders_per_s
    if rate:
        bucket = ex._bucket
        if bucket is None or bucket.rate != rate or ex._bucket_burst != limits.order_burst:
            bucket = ex._bucket = TokenBucket(rate=rate, burst=limits.order_burst, now=now)
            ex._bucket_burst = limits.order_burst
        if not bucket.take(now):
            return (
                RejectReason.RATE_LIMIT,
                f"order rate exceeds max_orders_per_s {_n(rate)} (burst {bucket.burst}); "
                f"next order in {bucket.wait(now):.3f}s",
            )
    return None


def _invalid(
    order_type: OrderType, quantity: float, limit_price: float | None, stop_price: float | None
) -> str | None:
    if not 0.0 < quantity < _INF:
        return f"quantity must be finite and > 0, got {quantity!r}"
    if limit_price is None:
        if order_type is OrderType.LIMIT or order_type is OrderType.STOP_LIMIT:
            return f"{order_type.value} order without a limit price"
    elif not 0.0 < limit_price < _INF:
        return f"limit price must be finite and > 0, got {limit_price!r}"
    if stop_price is None:
        if order_type is OrderType.STOP or order_type is OrderType.STOP_LIMIT:
            return f"{order_type.value} order without a stop price"
    elif not 0.0 < stop_price < _INF:
        return f"stop price must be finite and > 0, got {stop_price!r}"
    return None


def _not_reducing(
    book: _Symbol | None, symbol: str, side: Side, qty: float, replaced: _Working | None
) -> str | None:
    """Why the order does not move the position toward flat without crossing it."""
    position = 0.0 if book is None else book.position
    order = f"{side.value} {_n(qty)} {symbol}"
    if position == 0.0:
        return f"{order} would open a position"
    if (position > 0.0) == (side is _BUY):
        return f"{order} would add to position {position:+.12g}"
    assert book is not None
    others = book.buy_qty if side is _BUY else book.sell_qty
    if replaced is not None:
        others -= replaced.counted_qty
    if others + qty > abs(position):
        kind = "buys" if side is _BUY else "sells"
        return f"{order} with other open {kind} {_n(others)} would cross position {position:+.12g}"
    return None


def _worst(
    ex: StrategyExposure,
    symbol: str,
    mark: float | None,
    *,
    replaced: _Working | None,
    side: Side,
    qty: float,
    price: float,
) -> tuple[float, float, float, float] | str:
    """(gross before, gross after, net before, net after) with ``qty`` at
    ``price`` added on ``side`` of ``symbol`` (``replaced`` taken out), ``mark``
    valuing that symbol; net values are signed. A symbol whose open orders or
    position cannot be valued (no mark) is returned instead."""
    gross = longs = shorts = 0.0
    target: _Symbol | None = None
    for name, book in ex._symbols.items():
        if name == symbol:
            target = book
            continue
        m = book.mark
        if m is None:
            if book.position or book.buy_unpriced or book.sell_unpriced:
                return name
            m = 0.0
        value = book.position * m
        buys = value + book.buy_notional + book.buy_unpriced * m
        sells = value - book.sell_notional - book.sell_unpriced * m
        # max(|buys|, |sells|), and buys >= sells: inlined, this loop is on the hot path
        gross += buys if buys >= -sells else -sells
        longs += buys
        shorts += sells
    buys = sells = 0.0
    if target is not None:
        if mark is None:
            if target.position or target.buy_unpriced or target.sell_unpriced:
                return symbol
            mark = 0.0
        value = target.position * mark
        buys = value + target.buy_notional + target.buy_unpriced * mark
        sells = value - target.sell_notional - target.sell_unpriced * mark
    gross_before = gross + max(abs(buys), abs(sells))
    net_before = _signed_max(longs + buys, shorts + sells)
    if replaced is not None:
        assert mark is not None  # the replaced order's symbol is ``target``
        old = replaced.counted_qty * (
            mark if replaced.counted_price is None else replaced.counted_price
        )
        if replaced.side is _BUY:
            buys -= old
        else:
            sells += old
    if side is _BUY:
        buys += qty * price
    else:
        sells -= qty * price
    gross_after = gross + max(abs(buys), abs(sells))
    return gross_before, gross_after, net_before, _signed_max(longs + buys, shorts + sells)


def _signed_max(a: float, b: float) -> float:
    return a if abs(a) >= abs(b) else b
