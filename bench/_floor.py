"""The latency floor: tradepit's five hops built from plain threads and ``queue.SimpleQueue``.

Each hop does the work of the actor it stands for, with the same message
classes, and nothing else:

1. feed: receives the bar and puts it on the engine hop's queue first, then
   on the strategy hop's queue (the runtime's feed publishes to engines,
   stage 0, before strategies, stage 1);
2. strategy: books the bar in a :class:`~actors.strategy_host.StrategyBook`
   (count, market time, last price) and calls the strategy's ``on_bar``
   through :class:`_Context`, which builds the ``OrderIntent`` with the
   book's ``new_intent``, as :meth:`actors.strategy_host.StrategyHost.send_intent`
   does (``market_price`` included);
3. risk: :func:`runtime.risk_rules.check_intent` with the strategy's
   exposure, then :func:`actors.risk.order_from_intent` and
   ``StrategyExposure.order_sent``, the calls ``RiskActor`` makes;
4. orders: ``OrderBook.route``, as the order manager records an order
   (RECEIVED, VALIDATED, ROUTED) before sending it to the engine; the
   book's ROUTED stamps (:meth:`Floor.routed_orders`, read once the threads
   stopped) time this hop as the order manager's own book times it;
5. engine: ``MatchingEngine.on_bar(bar)`` for bars, so orders working from
   earlier bars fill as they do in the paper engine (the floor has no
   portfolio or event sink: the fills and updates are counted and dropped),
   and ``MatchingEngine.submit(order)`` for orders; the ACCEPTED update's
   ``ts_init`` is the acceptance time. It then wakes the injector.

The floor routes nothing back: the strategy's context sees no fills and no
order updates, so its positions stay flat (``position()`` is 0, looked up in
an empty map as the host looks up its own) and ``open_orders()`` lists every
order it ever submitted.

:meth:`Floor.settle` pushes a barrier through hops 1 -> 2 -> ... -> 5 and waits
until hop 5 has it: every bar hop 1 put straight on the engine queue, and
every intent and order the earlier bars caused, was handled by then.

What it leaves out is what the runtime adds around the hops: pykka's
envelopes and actor loop, the directory, fan-out of the bar to the
portfolio, routing of updates and fills back to the strategy, the portfolio
and the event sink, and supervision.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from actors.risk import order_from_intent
from actors.strategy_host import StrategyBook
from runtime.config import PaperConfig, RiskConfig
from runtime.ids import ClientOrderIds, run_tag
from runtime.matching import MatchingEngine
from runtime.messages import (
    Bar,
    Fill,
    Order,
    OrderIntent,
    OrderType,
    OrderUpdate,
    RuntimeState,
    Side,
    TimeInForce,
)
from runtime.order_states import OrderBook, OrderView
from runtime.risk_rules import StrategyExposure, check_intent
from strategies.base import Strategy

__all__ = ["Floor"]

_HOPS = 5
_FEED, _STRATEGY, _RISK, _ORDERS, _ENGINE = range(_HOPS)


class _Stop:
    """Tells a stage to pass the stop on and end its thread."""


_STOP = _Stop()


class _Barrier:
    """Passed from hop to hop; the last hop sets :attr:`reached`."""

    __slots__ = ("reached",)

    def __init__(self) -> None:
        self.reached = threading.Event()


class _Context:
    """The strategy's context in the floor (implements ``StrategyContext``)."""

    def __init__(self, strategy_id: str, out: queue.SimpleQueue[Any]) -> None:
        self.strategy_id = strategy_id
        self.order_ids = ClientOrderIds(run_tag(), strategy_id)
        self.book = StrategyBook()
        """The strategy actor's own books; positions stay empty (the floor routes no fills)."""
        self._out = out

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
        """Build the intent, track it as open, pass it to the risk hop."""
        client_order_id = self.order_ids.next()
        self._out.put(
            self.book.new_intent(
                strategy_id=self.strategy_id,
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
        )
        return client_order_id

    def cancel(self, client_order_id: str) -> None:
        """Not supported: the floor only measures the path of new orders."""
        raise NotImplementedError("the floor does not cancel")

    def modify(
        self,
        client_order_id: str,
        *,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
    ) -> None:
        """Not supported: the floor only measures the path of new orders."""
        raise NotImplementedError("the floor does not modify")

    def position(self, symbol: str) -> float:
        """Always flat: the floor routes no fills, so positions stay as they started."""
        return self.book.positions.get(symbol, 0.0)

    def open_orders(self) -> tuple[str, ...]:
        """Client order ids submitted (the floor routes no updates, so all of them)."""
        return tuple(self.book.open_orders)

    def log(self, message: str) -> None:
        """Dropped: the benchmark strategies do not log."""

    def now(self) -> int:
        """Market time of the latest bar."""
        return self.book.market_time


class Floor:
    """Five plain threads joined by ``queue.SimpleQueue``, doing tradepit's per-hop work."""

    def __init__(
        self,
        *,
        strategy_class: type[Strategy],
        strategy_id: str,
        params: Any,
        symbols: tuple[str, ...],
        paper: PaperConfig,
        limits: RiskConfig,
    ) -> None:
        self._queues: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(_HOPS)]
        self.done = threading.Event()
        """Set by the engine hop when it accepted an order (or by any hop that failed)."""
        self.result: tuple[Order, OrderUpdate] | None = None
        """The last order accepted and the engine's ACCEPTED update."""
        self.error: BaseException | None = None
        """The first exception a hop raised; the hop's thread then ends."""
        self.orders = 0
        """Orders the engine hop received (as ``EngineHost`` counts them)."""
        self.fills = 0
        """Fills the engine hop's matcher reported (and dropped)."""
        self._context = _Context(strategy_id, self._queues[_RISK])
        self._strategy = strategy_class(
            strategy_id=strategy_id, params=params, symbols=symbols, context=self._context
        )
        self._limits = limits
        self._overrides: dict[str, RiskConfig] = {}
        self._matcher = MatchingEngine(paper, engine="paper", clock=time.time_ns)
        self._exposure = StrategyExposure(strategy_id)
        self._book = OrderBook()
        work: tuple[Callable[[Any], None], ...] = (
            self._feed,
            self._strategy_hop,
            self._risk,
            self._orders,
            self._engine,
        )
        self._threads = [
            threading.Thread(
                target=self._stage, args=(i, step), name=f"floor-hop{i + 1}", daemon=True
            )
            for i, step in enumerate(work)
        ]

    def start(self) -> None:
        """Run the strategy's ``on_start`` and start the threads."""
        self._strategy.on_start()
        for thread in self._threads:
            thread.start()

    def inject(self, bar: Bar) -> None:
        """Hand a bar to hop 1."""
        self._queues[_FEED].put(bar)

    def settle(self, timeout_s: float) -> None:
        """Wait until every hop handled everything sent so far (a barrier through 1..5)."""
        barrier = _Barrier()
        self._queues[_FEED].put(barrier)
        if not barrier.reached.wait(timeout_s):
            self.raise_error()
            raise TimeoutError(f"floor: the barrier did not reach hop 5 within {timeout_s}s")

    def routed_orders(self) -> tuple[OrderView, ...]:
        """Every order the orders hop routed, as its book has them (call after :meth:`stop`)."""
        return self._book.orders(open_only=False)

    def raise_error(self) -> None:
        """Raise the first exception a hop raised, if any."""
        if self.error is not None:
            raise RuntimeError("a floor hop failed") from self.error

    def stop(self, timeout_s: float) -> None:
        """Stop the threads in pipeline order and join them."""
        self._queues[_FEED].put(_STOP)
        for thread in self._threads:
            thread.join(timeout_s)
            if thread.is_alive():
                raise RuntimeError(f"{thread.name} did not stop within {timeout_s}s")

    def _stage(self, index: int, step: Callable[[Any], None]) -> None:
        inbox = self._queues[index]
        following = self._queues[index + 1] if index + 1 < _HOPS else None
        while True:
            message = inbox.get()
            if message is _STOP:
                if following is not None:
                    following.put(_STOP)
                return
            if type(message) is _Barrier:
                if following is not None:
                    following.put(message)
                else:
                    message.reached.set()
                continue
            try:
                step(message)
            except BaseException as exc:
                self.error = exc
                self.done.set()
                raise

    def _feed(self, bar: Bar) -> None:
        self._queues[_ENGINE].put(bar)
        self._queues[_STRATEGY].put(bar)

    def _strategy_hop(self, bar: Bar) -> None:
        context = self._context
        context.book.saw_bar(bar)
        self._strategy.on_bar(bar)

    def _risk(self, intent: OrderIntent) -> None:
        limits = self._overrides.get(intent.strategy_id, self._limits)
        breach = check_intent(
            intent,
            limits,
            self._exposure,
            mode=RuntimeState.RUNNING,
            now=time.monotonic(),
        )
        if breach is not None:
            raise RuntimeError(f"risk refused a benchmark order: {breach}")
        self._queues[_ORDERS].put(order_from_intent(intent))
        self._exposure.order_sent(intent)

    def _orders(self, order: Order) -> None:
        self._book.route(order, "engine.paper", now=time.time_ns())
        self._queues[_ENGINE].put(order)

    def _engine(self, message: Bar | Order) -> None:
        if type(message) is Bar:
            for event in self._matcher.on_bar(message):
                if type(event) is Fill:
                    self.fills += 1
            return
        assert type(message) is Order
        self.orders += 1
        (update,) = self._matcher.submit(message)
        self.result = (message, update)
        self.done.set()
