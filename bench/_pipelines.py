"""The pipelines the latency benchmark times: five hops from a bar to an accepted order.

The hops are those of the runtime: feed, strategy, risk, order manager,
engine.

Each pipeline takes bars one at a time (:meth:`Pipeline.send` returns once the
paper engine accepted the order the bar caused; :meth:`Pipeline.push` hands
over a bar that causes no order and does not wait), can be brought to a
complete rest (:meth:`Pipeline.settle`), and turns what it saw into
:class:`Sample` objects when it stops. Every stamp is ``time.time_ns``, the
clock the strategy host and the risk actor already use for ``ts_init``.

- :class:`TradepitPipeline`: the whole runtime (:class:`~runtime.boot.Runtime`:
  supervisor, feed, strategy host, risk, order manager, paper engine,
  portfolio, event sink), fed with :meth:`~runtime.boot.Runtime.inject`; an event-sink
  listener wakes the injector on ACCEPTED.
- :class:`ActorsPipeline`: the same five tradepit actor classes wired by
  hand and nothing else (no supervisor, portfolio or event sink); the feed
  sends each bar to the engine (stage 0) before the strategy (stage 1), as
  in the runtime and the floor: what pykka and the actors cost on their own.
- :class:`FloorPipeline`: five plain threads joined by ``queue.SimpleQueue``
  doing each hop's work (see :class:`~bench._floor.Floor`).

Besides the stamps the messages carry (the intent's and the order's
``ts_init``, the ACCEPTED update's ``ts_init``), each sample has the time the
order manager recorded the order ROUTED (its ``OrderBook`` history, stamped
just before it tells the engine), read from the book when the pipeline stops,
so the order manager's hop is a segment of its own.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pykka

from actors.brokers.base import AdapterEvent
from actors.brokers.paper import PaperAdapter
from actors.engine_host import EngineHost
from actors.feed import FeedActor
from actors.orders import OrderManager
from actors.risk import RiskActor
from actors.strategy_host import StrategyHost
from bench._floor import Floor
from runtime.actor import LeanActor
from runtime.boot import Runtime
from runtime.config import Settings
from runtime.directory import Directory
from runtime.ids import ClientOrderIds, run_tag
from runtime.messages import (
    Bar,
    Flush,
    GetOrders,
    Handshake,
    Message,
    Order,
    OrderStatus,
    OrderUpdate,
    Subscribe,
)
from runtime.names import FEED, ORDERS, RISK, engine_actor, strategy_actor
from runtime.order_states import OrderView

__all__ = [
    "ActorsPipeline",
    "FloorPipeline",
    "Pipeline",
    "Sample",
    "TradepitPipeline",
    "routed_stamps",
]

WAIT_S = 10.0
"""Longest wait for one acceptance before the benchmark gives up."""


@dataclass(frozen=True, slots=True)
class Sample:
    """The five stamps of one bar's trip, ns (``time.time_ns``)."""

    injected: int
    """Just before the bar was handed to the feed."""
    intent: int
    """``OrderIntent.ts_init``: the strategy built the intent."""
    order: int
    """``Order.ts_init``: risk built the order."""
    routed: int
    """ROUTED in the order manager's book: it is about to tell the engine."""
    accepted: int
    """``OrderUpdate.ts_init`` of ACCEPTED: the engine accepted it."""

    @property
    def total_us(self) -> float:
        """Tick-to-order latency, microseconds."""
        return (self.accepted - self.injected) / 1_000

    @property
    def segments_us(self) -> tuple[float, float, float, float]:
        """(feed + strategy up to the intent, risk, order manager, engine), microseconds."""
        return (
            (self.intent - self.injected) / 1_000,
            (self.order - self.intent) / 1_000,
            (self.routed - self.order) / 1_000,
            (self.accepted - self.routed) / 1_000,
        )


def _sample(injected: int, order: Order, update: OrderUpdate, routed: dict[str, int]) -> Sample:
    coid = order.client_order_id
    if update.status is not OrderStatus.ACCEPTED or update.client_order_id != coid:
        raise RuntimeError(f"unexpected engine answer {update!r} to {coid}")
    if coid not in routed:
        raise RuntimeError(f"the order manager has no ROUTED stamp for {coid}")
    return Sample(injected, order.ts_intent, order.ts_init, routed[coid], update.ts_init)


def routed_stamps(views: Iterable[OrderView]) -> dict[str, int]:
    """Client order id -> time the order entered ROUTED, from order-book views."""
    stamps: dict[str, int] = {}
    for view in views:
        for ts, status in view.history:
            if status is OrderStatus.ROUTED:
                stamps[view.client_order_id] = ts
                break
    return stamps


class Pipeline(abc.ABC):
    """Five hops from a bar to an accepted order, one bar in flight at a time."""

    label: str = ""
    """Name in the report."""

    def __init__(self, settings: Settings) -> None:
        self._timed: list[tuple[int, Order | None, OrderUpdate]] = []

    @abc.abstractmethod
    def start(self) -> None:
        """Start the threads; return when the pipeline is idle and ready."""

    @abc.abstractmethod
    def _inject(self, bar: Bar) -> None:
        """Hand ``bar`` to hop 1."""

    @abc.abstractmethod
    def _wait(self) -> tuple[Order | None, OrderUpdate]:
        """Wait for the acceptance of the order caused by the last bar."""

    @abc.abstractmethod
    def _arm(self) -> None:
        """Prepare to wait for the next acceptance."""

    @abc.abstractmethod
    def _stop(self) -> dict[str, int]:
        """Stop every thread of the pipeline; return the ROUTED stamp of every order
        (:func:`routed_stamps` of the order manager's book)."""

    @abc.abstractmethod
    def settle(self) -> None:
        """Return once everything sent so far was handled and every thread is idle."""

    def _order(self, client_order_id: str) -> Order:
        """The order of ``client_order_id`` when :meth:`_wait` did not return it."""
        raise LookupError(client_order_id)

    def send(self, bar: Bar, *, timed: bool) -> None:
        """Inject ``bar`` and wait until the engine accepted the resulting order."""
        self._arm()
        injected = time.time_ns()
        self._inject(bar)
        order, update = self._wait()
        if timed:
            self._timed.append((injected, order, update))

    def push(self, bar: Bar) -> None:
        """Hand over ``bar``, which causes no order, without waiting for anything."""
        self._inject(bar)

    def stop(self) -> list[Sample]:
        """Stop, and return the timed samples in the order they were taken."""
        routed = self._stop()
        return [
            _sample(t, o if o is not None else self._order(u.client_order_id), u, routed)
            for t, o, u in self._timed
        ]


# --- tradepit -----------------------------------------------------------------


class _Probe:
    """Event-sink listener: keeps orders, wakes the injector on ACCEPTED."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.accepted: OrderUpdate | None = None
        self.event = threading.Event()

    def __call__(self, event: Message) -> None:
        if isinstance(event, OrderUpdate):
            if event.status is OrderStatus.ACCEPTED:
                self.accepted = event
                self.event.set()
        elif isinstance(event, Order):
            self.orders[event.client_order_id] = event


class TradepitPipeline(Pipeline):
    """The whole runtime, fed through :meth:`Runtime.inject`."""

    label = "tradepit (full runtime)"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._probe = _Probe()
        self._runtime = Runtime(
            settings, source=iter(()), listeners=[self._probe], clock=time.time_ns
        )
        self._strategies = [strategy_actor(c.id) for c in settings.strategies]

    def start(self) -> None:
        self._runtime.start()
        if not self._runtime.finished.wait(WAIT_S):  # the empty source ran dry: feed idle
            raise TimeoutError("the feed did not report its empty source")
        self._runtime.settle()

    def _arm(self) -> None:
        self._probe.event.clear()

    def _inject(self, bar: Bar) -> None:
        self._runtime.inject(bar)

    def _wait(self) -> tuple[Order | None, OrderUpdate]:
        if not self._probe.event.wait(WAIT_S):
            raise TimeoutError(f"tradepit: no acceptance within {WAIT_S}s")
        update = self._probe.accepted
        assert update is not None
        return None, update

    def _order(self, client_order_id: str) -> Order:
        return self._probe.orders[client_order_id]

    def settle(self) -> None:
        """:meth:`Runtime.settle`, bracketed so that nothing is left in flight.

        ``Runtime.settle`` starts at the strategies: the feed is flushed
        first so that the last injected bar has reached every subscriber,
        and the strategies once more at the end, since the engine routes
        fills and updates back to them after their first flush.
        """
        runtime = self._runtime
        runtime.ask(FEED, Flush())
        runtime.settle()
        for strategy in self._strategies:
            runtime.ask(strategy, Flush())

    def _stop(self) -> dict[str, int]:
        self.settle()  # the event sink has seen every Order
        views: tuple[OrderView, ...] = self._runtime.ask(ORDERS, GetOrders(open_only=False))
        summary = self._runtime.stop()
        if summary.stuck_threads:
            raise RuntimeError(f"threads did not stop: {summary.stuck_threads}")
        return routed_stamps(views)


# --- bare actors --------------------------------------------------------------


class _ProbeAdapter(PaperAdapter):
    """A paper adapter that wakes the injector when it accepts an order.

    It matches bars like any paper adapter: the feed sends it every bar.
    """

    def __init__(self, settings: Settings) -> None:
        engine = settings.engines[0]
        super().__init__(engine=engine.name, config=engine.paper, clock=time.time_ns)
        self.done = threading.Event()
        self.result: tuple[Order, OrderUpdate] | None = None

    def submit(self, order: Order) -> Sequence[AdapterEvent]:
        events = super().submit(order)
        update = events[0]
        assert isinstance(update, OrderUpdate)
        self.result = (order, update)
        self.done.set()
        return events


class ActorsPipeline(Pipeline):
    """feed -> strategy host -> risk -> order manager -> engine host, wired by hand."""

    label = "tradepit actors, 5 hops only"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._settings = settings
        self._adapter = _ProbeAdapter(settings)
        self._refs: list[pykka.ActorRef[Any]] = []
        self._flush_order: tuple[pykka.ActorRef[Any], ...] = ()

    def start(self) -> None:
        s = self._settings
        d = Directory()
        engine = engine_actor(s.engines[0].name)
        strategy = s.strategies[0]
        strategy_name = strategy_actor(strategy.id)
        starts: list[tuple[str, type[LeanActor], dict[str, Any]]] = [
            # EngineHost takes an adapter factory (a replacement host would build a
            # fresh adapter); here there is no replacement: always the probe adapter.
            (engine, EngineHost, {"adapter": lambda: self._adapter}),
            (ORDERS, OrderManager, {"engine": engine}),
            (RISK, RiskActor, {"limits": s.risk, "overrides": {}, "on_halt": None}),
            (
                strategy_name,
                StrategyHost,
                {"config": strategy, "order_ids": ClientOrderIds(run_tag(), strategy.id)},
            ),
            (
                FEED,
                FeedActor,
                {
                    "source": iter(()),
                    "config": s.feed,
                    "subscriptions": [
                        Subscribe(engine, ("*",), 0),
                        Subscribe(strategy_name, strategy.symbols, 1),
                    ],
                },
            ),
        ]
        try:
            for name, cls, kwargs in starts:
                ref = cls.start(name=name, directory=d, **kwargs)
                self._refs.append(ref)
                ref.ask(Handshake(), timeout=WAIT_S)
                d.register(name, ref)
        except BaseException:
            self._stop_refs()
            raise
        engine_ref, orders_ref, risk_ref, strategy_ref, feed_ref = self._refs
        # pipeline order, then the way back: the engine sends the updates and
        # fills of its orders to the order manager, which routes them to the
        # strategy and (fills, ends of orders) to risk
        self._flush_order = (
            feed_ref,
            strategy_ref,
            risk_ref,
            orders_ref,
            engine_ref,
            orders_ref,
            strategy_ref,
            risk_ref,
        )

    def settle(self) -> None:
        """Ask ``Flush`` of feed, strategy, risk, orders, engine, then of orders,
        strategy and risk again."""
        for ref in self._flush_order:
            ref.ask(Flush(), timeout=WAIT_S)

    def _arm(self) -> None:
        self._adapter.done.clear()

    def _inject(self, bar: Bar) -> None:
        self._refs[-1].tell(bar)

    def _wait(self) -> tuple[Order | None, OrderUpdate]:
        if not self._adapter.done.wait(WAIT_S):
            raise TimeoutError(f"actors: no acceptance within {WAIT_S}s")
        result = self._adapter.result
        assert result is not None
        return result

    def _stop(self) -> dict[str, int]:
        orders_ref = self._refs[1]
        views: tuple[OrderView, ...] = orders_ref.ask(
            GetOrders(open_only=False), block=True, timeout=WAIT_S
        )
        self._stop_refs()
        return routed_stamps(views)

    def _stop_refs(self) -> None:
        for ref in reversed(self._refs):
            ref.stop(block=True, timeout=WAIT_S)


# --- plain threads ------------------------------------------------------------


class FloorPipeline(Pipeline):
    """Five plain threads and ``queue.SimpleQueue`` (see :class:`~bench._floor.Floor`)."""

    label = "floor (plain threads + SimpleQueue)"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        strategy = settings.strategies[0]
        self._floor = Floor(
            strategy_class=strategy.strategy_class,
            strategy_id=strategy.id,
            params=strategy.params,
            symbols=strategy.symbols,
            paper=settings.engines[0].paper,
            limits=settings.risk,
        )

    def start(self) -> None:
        self._floor.start()

    def _arm(self) -> None:
        self._floor.done.clear()

    def _inject(self, bar: Bar) -> None:
        self._floor.inject(bar)

    def _wait(self) -> tuple[Order | None, OrderUpdate]:
        if not self._floor.done.wait(WAIT_S):
            raise TimeoutError(f"floor: no acceptance within {WAIT_S}s")
        self._floor.raise_error()
        result = self._floor.result
        assert result is not None
        return result

    def settle(self) -> None:
        """Push a barrier through hops 1 -> ... -> 5 and wait until hop 5 has it."""
        self._floor.settle(WAIT_S)

    def _stop(self) -> dict[str, int]:
        self._floor.stop(WAIT_S)
        self._floor.raise_error()
        return routed_stamps(self._floor.routed_orders())
