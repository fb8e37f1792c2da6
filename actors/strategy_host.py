"""The actor that runs one strategy.

It owns the strategy object and gives it a :class:`_Context`: orders go to
risk as ``OrderIntent`` messages, positions and open orders are tracked here
from the strategy's own fills and updates, so the strategy never waits on
another actor and never sees shared state.

The host's books (:class:`StrategyBook`) are updated *before* the strategy's
hook runs, so they are exact even when the hook raises. When the strategy
fails, the books are handed to the replacement host: a restarted strategy
knows its positions and working orders, and a fill that arrived while it was
down (held by its address, delivered after the restart) is booked exactly
once. Only the strategy object itself (its indicators) starts afresh.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from runtime.actor import LeanActor
from runtime.config import StrategyConfig
from runtime.directory import Directory
from runtime.errors import OrderError
from runtime.ids import ClientOrderIds
from runtime.messages import (
    Bar,
    CancelOrder,
    Fill,
    Flush,
    GetSnapshot,
    ModifyOrder,
    OrderIntent,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    RejectReason,
    Side,
    StrategyStarted,
    StrategyStopped,
    Tick,
    TimeInForce,
    next_id,
    unfilled_update,
)
from runtime.names import EVENTS, RISK, ActorKind
from runtime.order_states import OrderView
from strategies.base import Strategy

__all__ = ["StrategyBook", "StrategyHost", "StrategyStats", "seed_book"]

_FLAT = 1e-9
"""A position smaller than this is flat (float residue of fractional fills)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyStats:
    """Counters of one strategy host, as answered to ``GetSnapshot``."""

    strategy_id: str
    """The strategy."""
    orders: int
    """Orders submitted."""
    rejected: int
    """Orders rejected by risk or an engine."""
    fills: int
    """Fills received."""
    bars: int
    """Bars handled."""
    ticks: int
    """Ticks handled."""
    positions: tuple[tuple[str, float], ...]
    """(symbol, signed quantity) of every non-flat position."""
    open_orders: tuple[str, ...]
    """Client order ids still working."""


@dataclass(slots=True)
class StrategyBook:
    """What a strategy host knows, handed from a failed host to its replacement."""

    positions: dict[str, float] = field(default_factory=dict)
    """Signed quantity per symbol, from the strategy's fills."""
    open_orders: dict[str, OrderStatus] = field(default_factory=dict)
    """Working orders by client order id, with their last status."""
    order_symbol: dict[str, str] = field(default_factory=dict)
    """Symbol of each working order."""
    last_price: dict[str, float] = field(default_factory=dict)
    """Last price seen per symbol."""
    market_time: int = 0
    """ts_event of the last bar or tick."""
    orders: int = 0
    rejected: int = 0
    fills: int = 0
    bars: int = 0
    ticks: int = 0

    # The bookkeeping below is shared by the strategy actor and the backtester
    # (runtime/backtest.py): a strategy sees the same positions and open orders
    # in both.

    def saw_bar(self, bar: Bar) -> None:
        """Count a bar and take its time and close."""
        self.bars += 1
        self.market_time = bar.ts_event
        self.last_price[bar.symbol] = bar.close

    def saw_tick(self, tick: Tick) -> None:
        """Count a trade and take its time and price."""
        self.ticks += 1
        self.market_time = tick.ts_event
        self.last_price[tick.symbol] = tick.price

    def book_fill(self, fill: Fill) -> None:
        """Add a fill of one of the strategy's orders to its position."""
        self.fills += 1
        held = self.positions.get(fill.symbol, 0.0) + fill.side.sign * fill.quantity
        self.positions[fill.symbol] = 0.0 if abs(held) < _FLAT else held

    def book_update(self, update: OrderUpdate) -> None:
        """Track an order's status; a terminal one is no longer open."""
        open_orders = self.open_orders
        if update.reason is RejectReason.DUPLICATE_ORDER:
            # A second submission under an id in use was refused: the order that
            # owns the id is untouched.
            self.rejected += 1
        elif update.status.is_terminal:
            open_orders.pop(update.client_order_id, None)
            self.order_symbol.pop(update.client_order_id, None)
            if update.status is OrderStatus.REJECTED:
                self.rejected += 1
        elif update.client_order_id in open_orders:
            open_orders[update.client_order_id] = update.status

    def new_intent(
        self,
        *,
        strategy_id: str,
        client_order_id: str,
        symbol: str,
        side: Side,
        quantity: float,
        order_type: OrderType,
        limit_price: float | None,
        stop_price: float | None,
        time_in_force: TimeInForce,
        ts_init: int,
    ) -> OrderIntent:
        """The intent of a new order, dated and priced from this book, which
        tracks it as open (RECEIVED) from now on."""
        self.open_orders[client_order_id] = OrderStatus.RECEIVED
        self.order_symbol[client_order_id] = symbol
        self.orders += 1
        return OrderIntent(
            id=next_id(),
            ts_event=self.market_time,
            ts_init=ts_init,
            client_order_id=client_order_id,
            strategy_id=strategy_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            order_type=order_type,
            limit_price=limit_price,
            stop_price=stop_price,
            time_in_force=time_in_force,
            market_price=self.last_price.get(symbol),
        )


def seed_book(
    book: StrategyBook, orders: Iterable[OrderView], positions: Iterable[Position]
) -> StrategyBook:
    """Give ``book`` the open ``orders`` (the order manager's views) and the non-flat
    ``positions`` (the portfolio's) a strategy (re)starts knowing; returns ``book``."""
    working = tuple(orders)
    book.open_orders = {o.client_order_id: o.status for o in working}
    book.order_symbol = {o.client_order_id: o.symbol for o in working}
    book.positions = {p.symbol: p.quantity for p in positions if p.quantity != 0.0}
    return book


class _Context:
    """The strategy's window on the runtime (implements ``StrategyContext``)."""

    def __init__(self, host: StrategyHost) -> None:
        self._host = host

    def submit(
        self,
        *,
        symbol: str,
        side: Side,
        quantity: float,
        order_type: OrderType,
        limit_price: float | None,
        stop_price: float | None,
        time_in_force: TimeInForce,
    ) -> str:
        return self._host.send_intent(
            symbol=symbol,
            side=side,
            quantity=quantity,
            order_type=order_type,
            limit_price=limit_price,
            stop_price=stop_price,
            time_in_force=time_in_force,
        )

    def cancel(self, client_order_id: str) -> None:
        self._host.send_cancel(client_order_id)

    def modify(
        self,
        client_order_id: str,
        *,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
    ) -> None:
        self._host.send_modify(client_order_id, quantity, limit_price, stop_price)

    def position(self, symbol: str) -> float:
        return self._host.book.positions.get(symbol, 0.0)

    def open_orders(self) -> tuple[str, ...]:
        return tuple(self._host.book.open_orders)

    def log(self, message: str) -> None:
        logger.bind(strategy=self._host.config.id).info("[{}] {}", self._host.config.id, message)

    def now(self) -> int:
        return self._host.book.market_time


class StrategyHost(LeanActor):
    """Runs one :class:`~strategies.base.Strategy`; one actor per strategy."""

    kind = ActorKind.STRATEGY

    def __init__(
        self,
        *,
        name: str,
        directory: Directory,
        config: StrategyConfig,
        order_ids: ClientOrderIds,
        carry: StrategyBook | None = None,
    ) -> None:
        super().__init__(name=name, directory=directory)
        self.config = config
        self._order_ids = order_ids
        self.book = carry if carry is not None else StrategyBook()
        self._strategy: Strategy | None = None

    def handover(self, stuck: bool) -> StrategyBook:
        return copy.deepcopy(self.book) if stuck else self.book

    def setup(self) -> None:
        cls = self.config.strategy_class
        strategy: Strategy = cls(
            strategy_id=self.config.id,
            params=self.config.params,
            symbols=self.config.symbols,
            context=_Context(self),
        )
        strategy.on_start()
        self._strategy = strategy
        now = time.time_ns()
        self.directory.tell(
            EVENTS,
            StrategyStarted(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                strategy_id=self.config.id,
                class_path=self.config.class_path,
                symbols=self.config.symbols,
            ),
        )

    def on_stop(self) -> None:
        if self.revoked:  # replaced while stuck: its replacement owns the strategy's books
            return
        if self._strategy is not None:
            self._strategy.on_stop()
        now = time.time_ns()
        self.directory.tell(
            EVENTS,
            StrategyStopped(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                strategy_id=self.config.id,
                orders=self.book.orders,
            ),
        )

    def on_receive(self, message: Any) -> Any:
        strategy = self._strategy
        assert strategy is not None
        book = self.book
        if type(message) is Bar:
            book.saw_bar(message)
            strategy.on_bar(message)
        elif type(message) is OrderUpdate:
            book.book_update(message)
            strategy.on_order(message)
        elif type(message) is Fill:
            book.book_fill(message)
            strategy.on_fill(message)
        elif type(message) is Tick:
            book.saw_tick(message)
            strategy.on_tick(message)
        elif isinstance(message, GetSnapshot):
            return self.stats()
        elif not isinstance(message, Flush):
            raise TypeError(f"{self.name} cannot handle {type(message).__name__}")
        return None

    def stats(self) -> StrategyStats:
        """Counters and positions of this strategy."""
        book = self.book
        return StrategyStats(
            strategy_id=self.config.id,
            orders=book.orders,
            rejected=book.rejected,
            fills=book.fills,
            bars=book.bars,
            ticks=book.ticks,
            positions=tuple(sorted((s, q) for s, q in book.positions.items() if q != 0)),
            open_orders=tuple(book.open_orders),
        )

    def send_intent(
        self,
        *,
        symbol: str,
        side: Side,
        quantity: float,
        order_type: OrderType,
        limit_price: float | None,
        stop_price: float | None,
        time_in_force: TimeInForce,
    ) -> str:
        """Build an intent, track it as open and tell risk."""
        if self.revoked:
            raise OrderError(f"{self.name} was replaced: the order was not sent")
        client_order_id = self._order_ids.next()
        intent = self.book.new_intent(
            strategy_id=self.config.id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            order_type=order_type,
            limit_price=limit_price,
            stop_price=stop_price,
            time_in_force=time_in_force,
            ts_init=time.time_ns(),
        )
        if not self.directory.tell(RISK, intent):
            # Risk is gone for good (trading halted): answer the order here, through
            # on_order like any rejection, rather than fail the strategy.
            update = unfilled_update(
                intent,
                OrderStatus.REJECTED,
                RejectReason.HALTED,
                "the risk actor is not running: the order was not sent",
            )
            self.actor_ref.tell(update)
            self.directory.tell(EVENTS, update)
        return client_order_id

    def send_modify(
        self,
        client_order_id: str,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
    ) -> None:
        """Tell risk to change one of this strategy's working orders."""
        if self.revoked:
            raise OrderError(f"{self.name} was replaced: the modify was not sent")
        symbol = self.book.order_symbol.get(client_order_id)
        now = time.time_ns()
        self.directory.tell(
            RISK,
            ModifyOrder(
                id=next_id(),
                ts_event=self.book.market_time,
                ts_init=now,
                client_order_id=client_order_id,
                strategy_id=self.config.id,
                quantity=quantity,
                limit_price=limit_price,
                stop_price=stop_price,
                market_price=None if symbol is None else self.book.last_price.get(symbol),
            ),
        )

    def send_cancel(self, client_order_id: str) -> None:
        """Tell risk to cancel one of this strategy's orders."""
        if self.revoked:
            raise OrderError(f"{self.name} was replaced: the cancel was not sent")
        now = time.time_ns()
        self.directory.tell(
            RISK,
            CancelOrder(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                client_order_id=client_order_id,
                strategy_id=self.config.id,
            ),
        )
