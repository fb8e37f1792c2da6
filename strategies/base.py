"""The class users subclass to write a strategy.

A strategy is a plain object with hooks and helpers. It never sees threads,
sockets, brokers or actors: the host that runs it (an actor in the live
runtime, an event loop in a backtest) gives it a :class:`StrategyContext`,
and the helpers below go through that context. The same class therefore
runs live, on paper, in a backtest and in a parameter sweep.

Parameters are a frozen dataclass named ``Params`` on the class; the
settings loader validates the ``[strategies.params]`` table against its
fields and types, then calls ``Params.validate()`` if it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from runtime.errors import OrderError
from runtime.messages import Bar, Fill, OrderType, OrderUpdate, Side, Tick, TimeInForce

__all__ = ["NoParams", "Strategy", "StrategyContext"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NoParams:
    """Parameters of a strategy that takes none."""


class StrategyContext(Protocol):
    """What a strategy host provides to the strategy it runs."""

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
        """Send an order intent to risk; return its client order id."""
        ...

    def cancel(self, client_order_id: str) -> None:
        """Ask for a working order to be cancelled."""
        ...

    def modify(
        self,
        client_order_id: str,
        *,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
    ) -> None:
        """Ask for a working order's quantity or prices to change (None: unchanged)."""
        ...

    def position(self, symbol: str) -> float:
        """Signed quantity held in ``symbol`` (from this strategy's fills)."""
        ...

    def open_orders(self) -> tuple[str, ...]:
        """Client order ids of this strategy's orders that are not terminal."""
        ...

    def log(self, message: str) -> None:
        """Write a line to the runtime log, tagged with the strategy id."""
        ...

    def now(self) -> int:
        """Market time of the latest data the strategy saw, ns since the epoch."""
        ...


class Strategy:
    """Base class of every strategy.

    Subclasses override any of the ``on_*`` hooks and may declare a nested
    frozen ``Params`` dataclass. Hooks run one at a time, in the order the
    events happened; a hook that raises fails the strategy (the supervisor
    decides what happens next), never the runtime.
    """

    Params: ClassVar[type[Any]] = NoParams
    """The frozen dataclass of this strategy's parameters."""

    def __init__(
        self,
        *,
        strategy_id: str,
        params: Any,
        symbols: tuple[str, ...],
        context: StrategyContext,
    ) -> None:
        self.id = strategy_id
        self.params = params
        self.symbols = symbols
        self._context = context

    # --- hooks -----------------------------------------------------------

    def on_start(self) -> None:
        """Called once before the first event."""

    def on_bar(self, bar: Bar) -> None:
        """Called for every bar of a subscribed symbol."""

    def on_tick(self, tick: Tick) -> None:
        """Called for every trade of a subscribed symbol."""

    def on_order(self, update: OrderUpdate) -> None:
        """Called when one of this strategy's orders changes state (incl. rejections)."""

    def on_fill(self, fill: Fill) -> None:
        """Called when one of this strategy's orders is (partly) executed."""

    def on_stop(self) -> None:
        """Called once after the last event."""

    # --- helpers -----------------------------------------------------------

    def buy(
        self,
        symbol: str,
        quantity: float,
        *,
        limit: float | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
    ) -> str:
        """Buy ``quantity``: at market, or at ``limit`` or better. Returns the order id."""
        return self.submit(symbol, Side.BUY, quantity, limit=limit, time_in_force=time_in_force)

    def sell(
        self,
        symbol: str,
        quantity: float,
        *,
        limit: float | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
    ) -> str:
        """Sell ``quantity``: at market, or at ``limit`` or better. Returns the order id."""
        return self.submit(symbol, Side.SELL, quantity, limit=limit, time_in_force=time_in_force)

    def submit(
        self,
        symbol: str,
        side: Side,
        quantity: float,
        *,
        limit: float | None = None,
        stop: float | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
    ) -> str:
        """Submit any order; its type follows from ``limit`` and ``stop``.

        Raises :class:`~runtime.errors.OrderError` for a request that can
        never be valid (non-positive quantity or price, unknown symbol).
        """
        if not quantity > 0:
            raise OrderError(f"quantity must be > 0, got {quantity!r}")
        if symbol not in self.symbols:
            raise OrderError(f"{symbol!r} is not one of this strategy's symbols {self.symbols}")
        for label, price in (("limit", limit), ("stop", stop)):
            if price is not None and not price > 0:
                raise OrderError(f"{label} price must be > 0, got {price!r}")
        if stop is None:
            order_type = OrderType.MARKET if limit is None else OrderType.LIMIT
        else:
            order_type = OrderType.STOP if limit is None else OrderType.STOP_LIMIT
        return self._context.submit(
            symbol=symbol,
            side=side,
            quantity=float(quantity),
            order_type=order_type,
            limit_price=limit,
            stop_price=stop,
            time_in_force=time_in_force,
        )

    def cancel(self, client_order_id: str) -> None:
        """Ask for a working order to be cancelled."""
        self._context.cancel(client_order_id)

    def modify(
        self,
        client_order_id: str,
        *,
        quantity: float | None = None,
        limit: float | None = None,
        stop: float | None = None,
    ) -> None:
        """Ask for a working order's total quantity, limit or stop price to change.

        Arguments left None stay as they are. The answer comes through
        ``on_order``: the order's status with the new quantity once the
        engine applied it, or its old status with reason ``MODIFY_REFUSED``
        (or ``REJECTED`` reasons from risk, which judges the modified order).
        Raises :class:`~runtime.errors.OrderError` for a request that can
        never be valid.
        """
        if quantity is None and limit is None and stop is None:
            raise OrderError("modify needs a new quantity, limit or stop")
        if quantity is not None and not quantity > 0:
            raise OrderError(f"quantity must be > 0, got {quantity!r}")
        for label, price in (("limit", limit), ("stop", stop)):
            if price is not None and not price > 0:
                raise OrderError(f"{label} price must be > 0, got {price!r}")
        self._context.modify(
            client_order_id,
            quantity=None if quantity is None else float(quantity),
            limit_price=limit,
            stop_price=stop,
        )

    def position(self, symbol: str) -> float:
        """Signed quantity held in ``symbol``: > 0 long, < 0 short."""
        return self._context.position(symbol)

    def open_orders(self) -> tuple[str, ...]:
        """Client order ids of this strategy's working orders."""
        return self._context.open_orders()

    def log(self, message: str) -> None:
        """Write ``message`` to the runtime log, tagged with this strategy's id."""
        self._context.log(message)

    def now(self) -> int:
        """Market time of the latest event seen, ns since the epoch."""
        return self._context.now()
