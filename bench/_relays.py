"""Two hops from an ``OrderIntent`` to an engine: risk and the order manager, and their floors.

Every pair takes intents from the benchmark thread (:meth:`Pair.inject`) and
delivers an order for each to the same engine stand-in
(:class:`EngineStandIn`), which stamps its arrival with ``time.time_ns``
(the clock of the messages' own ``ts_init`` and of the order book's
history, so the real pair's hops can be told apart) and answers it the way
an engine that accepts and fills at once does
(:func:`bench._orderstream.answers`: ACCEPTED, a fill, FILLED), to the
second hop. The answers keep the order manager's book
flowing (orders end, finished orders are retired) and risk's exposure too
(the order manager forwards fills and ends of orders to risk), as in the
runtime.

- :class:`ActorPair`: the real ``RiskActor`` (name ``risk``) and
  ``OrderManager`` (name ``orders``), started with their own constructors in
  a :class:`~runtime.directory.Directory`, as ``runtime.boot`` starts them.
  The other names the order manager tells (the strategies, the portfolio,
  the event sink) belong to one actor that drops what it gets, so those tells
  cost what they cost in the runtime, without the receivers' work.
- :class:`RelayPair`: two bare tradepit actors (the same ``LeanActor`` base,
  inbox and directory) under the same names, doing no work: the first tells
  each intent to the second, the second to the engine; the engine's answers
  reach the second hop and are dropped. The floor of two actor hops.
- :class:`ThreadPair`: the same two hops as plain threads joined by
  ``queue.SimpleQueue`` (the engine stand-in is a third thread): the floor
  of two hops without pykka.

:meth:`Pair.settle` brings a pair to rest (every answer handled); while one
pair is timed the others are idle, their threads blocked on empty queues.
"""

from __future__ import annotations

import abc
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

from actors.orders import OrderManager, OrdersStats
from actors.risk import RiskActor, RiskStats
from bench._orderstream import ENGINE, answers, strategy_ids
from bench._pipelines import routed_stamps
from runtime.actor import LeanActor
from runtime.config import RiskConfig
from runtime.directory import Directory
from runtime.messages import Flush, GetOrders, GetSnapshot, Handshake, Order, OrderIntent
from runtime.names import EVENTS, ORDERS, PORTFOLIO, RISK, ActorKind, strategy_actor
from runtime.order_states import OrderView

__all__ = ["WAIT_S", "ActorPair", "EngineStandIn", "Pair", "RelayPair", "ThreadPair"]

WAIT_S = 60.0
"""Longest wait for an order (or a burst's last order), or for a pair to settle."""


class EngineStandIn:
    """Counts the orders that reach the engine, stamps the awaited one, answers each."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        """Set once the awaited number of orders arrived (after their answers were sent)."""
        self.last_ns = 0
        """``time_ns`` when the awaited order arrived."""
        self.last: Order | OrderIntent | None = None
        """The awaited order."""
        self.total = 0
        """Orders received since the pair started."""
        self._count = 0
        self._expected = 1

    def arm(self, expected: int) -> None:
        """Await ``expected`` more orders (call while the pair is at rest)."""
        self._count = 0
        self._expected = expected
        self.last_ns = 0
        self.last = None
        self.arrived.clear()

    def wait(self) -> int:
        """Wait for the awaited orders; return the last one's arrival, ``time_ns``."""
        if not self.arrived.wait(WAIT_S):
            raise TimeoutError(f"{self._count} of {self._expected} orders arrived in {WAIT_S}s")
        return self.last_ns

    def receive(self, order: Order | OrderIntent, send: Callable[[object], object]) -> None:
        """Handle one order: stamp it, ``send`` its three answers, wake the waiter."""
        now = time.time_ns()
        self.total += 1
        self._count += 1
        last = self._count == self._expected
        if last:
            self.last_ns = now
            self.last = order
        for answer in answers(order):
            send(answer)
        if last:
            self.arrived.set()


class Pair(abc.ABC):
    """Two hops between the benchmark thread and an :class:`EngineStandIn`."""

    def __init__(self) -> None:
        self.engine = EngineStandIn()
        """Where the orders arrive."""
        self.injected = 0
        """Intents handed to hop 1."""

    @abc.abstractmethod
    def start(self) -> None:
        """Start the threads; return when the pair is idle and ready."""

    @abc.abstractmethod
    def inject(self, intent: OrderIntent) -> None:
        """Hand ``intent`` to hop 1 without waiting (add 1 to :attr:`injected`)."""

    @abc.abstractmethod
    def settle(self) -> None:
        """Return once everything sent so far (answers included) was handled."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop every thread of the pair."""

    def check(self) -> None:
        """Raise unless every intent injected reached the engine (call when settled)."""
        if self.engine.total != self.injected:
            raise RuntimeError(f"{self.injected} intents sent, {self.engine.total} orders arrived")


# --- actors -------------------------------------------------------------------


class _EngineActor(LeanActor):
    """The engine stand-in as an actor: answers go to whatever is named ``orders``."""

    kind = ActorKind.ENGINE

    def __init__(self, *, name: str, directory: Directory, stand_in: EngineStandIn) -> None:
        super().__init__(name=name, directory=directory)
        self._stand_in = stand_in
        self._send = lambda message: directory.tell(ORDERS, message)

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        if kind is Order or kind is OrderIntent:
            self._stand_in.receive(message, self._send)
        return None


class _Drop(LeanActor):
    """Takes whatever is told to it and counts it (the names nobody benchmarks)."""

    kind = ActorKind.EVENTS

    def __init__(self, *, name: str, directory: Directory) -> None:
        super().__init__(name=name, directory=directory)
        self._count = 0

    def on_receive(self, message: Any) -> Any:
        if type(message) is GetSnapshot:
            return self._count
        if type(message) is not Flush:
            self._count += 1
        return None


class _Relay(LeanActor):
    """Tells every intent to ``to``; drops anything else."""

    def __init__(self, *, name: str, directory: Directory, to: str) -> None:
        super().__init__(name=name, directory=directory)
        self._tell = directory.tell
        self._to = to

    def on_receive(self, message: Any) -> Any:
        if type(message) is OrderIntent:
            self._tell(self._to, message)
        return None


class _ActorsBase(Pair):
    """Actors in a directory, the engine stand-in under :data:`ENGINE`."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Directory()
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._tell = self.directory.tell

    def _start(self, name: str, cls: type[LeanActor], **kwargs: Any) -> pykka.ActorRef[Any]:
        ref = cls.start(name=name, directory=self.directory, **kwargs)
        self._refs[name] = ref
        ref.ask(Handshake(), timeout=WAIT_S)
        self.directory.register(name, ref)
        return ref

    def _start_all(self, starts: list[tuple[str, type[LeanActor], dict[str, Any]]]) -> None:
        try:
            self._start(ENGINE, _EngineActor, stand_in=self.engine)
            for name, cls, kwargs in starts:
                self._start(name, cls, **kwargs)
        except BaseException:
            self.stop()
            raise

    def inject(self, intent: OrderIntent) -> None:
        self.injected += 1
        self._tell(RISK, intent)

    def _flush(self, *names: str) -> None:
        for name in names:
            self.directory.ask(name, Flush(), timeout=WAIT_S)

    def stop(self) -> None:
        for ref in reversed(list(self._refs.values())):
            ref.stop(block=True, timeout=WAIT_S)
        self._refs.clear()


class ActorPair(_ActorsBase):
    """The real ``RiskActor`` and ``OrderManager``."""

    def __init__(self, limits: RiskConfig, strategies: int) -> None:
        super().__init__()
        self._limits = limits
        self._drops = (EVENTS, PORTFOLIO, *(strategy_actor(s) for s in strategy_ids(strategies)))
        self.dropped = 0
        """Messages the order manager told the strategies, the portfolio and the event
        sink (set by :meth:`check`)."""

    def start(self) -> None:
        self._start_all(
            [
                (EVENTS, _Drop, {}),
                (ORDERS, OrderManager, {"engine": ENGINE}),
                (RISK, RiskActor, {"limits": self._limits, "overrides": {}, "on_halt": None}),
            ]
        )
        drop = self._refs[EVENTS]
        for name in self._drops[1:]:  # one dropping actor answers to all these names
            self.directory.register(name, drop)

    def settle(self) -> None:
        """Flush the order manager (the engine's answers), risk (the fills and ends it
        was told), then the dropping actor."""
        self._flush(ORDERS, RISK, EVENTS)

    def check(self) -> None:
        """Also: risk refused nothing, the book routed every order and none is open;
        sets :attr:`dropped`."""
        super().check()
        risk: RiskStats = self.directory.ask(RISK, GetSnapshot(), timeout=WAIT_S)
        orders: OrdersStats = self.directory.ask(ORDERS, GetSnapshot(), timeout=WAIT_S)
        if risk.rejected or risk.accepted != self.injected:
            raise RuntimeError(f"risk accepted {risk.accepted} of {self.injected}: {risk}")
        if orders.refused or orders.anomalies or orders.routed != self.injected:
            raise RuntimeError(f"the order manager routed {orders.routed}: {orders}")
        if orders.open_orders:
            raise RuntimeError(f"{len(orders.open_orders)} orders still open")
        self.dropped = self.directory.ask(EVENTS, GetSnapshot(), timeout=WAIT_S)

    def routed(self) -> dict[str, int]:
        """When the order manager routed each order it still keeps (``time_ns``)."""
        views: tuple[OrderView, ...] = self.directory.ask(
            ORDERS, GetOrders(open_only=False), timeout=WAIT_S
        )
        return routed_stamps(views)


class _RelayRisk(_Relay):
    kind = ActorKind.RISK


class _RelayOrders(_Relay):
    kind = ActorKind.ORDERS


class RelayPair(_ActorsBase):
    """Two bare actors that pass each intent on and do nothing else."""

    def start(self) -> None:
        self._start_all(
            [
                (ORDERS, _RelayOrders, {"to": ENGINE}),
                (RISK, _RelayRisk, {"to": ORDERS}),
            ]
        )

    def settle(self) -> None:
        """Flush the second hop (where the engine's answers go)."""
        self._flush(ORDERS)


# --- plain threads ------------------------------------------------------------


class _Stop:
    """Tells a thread to pass the stop on and end."""


_STOP = _Stop()


class _Barrier:
    """Set by the thread it is put to once everything before it was handled."""

    __slots__ = ("reached",)

    def __init__(self) -> None:
        self.reached = threading.Event()


class ThreadPair(Pair):
    """Two plain threads and ``queue.SimpleQueue``; the engine stand-in is a third."""

    def __init__(self) -> None:
        super().__init__()
        self._first: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._second: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._engine: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=target, name=f"relay-{name}", daemon=True)
            for name, target in (
                ("hop1", self._hop1),
                ("hop2", self._hop2),
                ("engine", self._engine_loop),
            )
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def inject(self, intent: OrderIntent) -> None:
        self.injected += 1
        self._first.put(intent)

    def settle(self) -> None:
        """Put a barrier to the second hop (where the engine's answers go) and wait."""
        barrier = _Barrier()
        self._second.put(barrier)
        if not barrier.reached.wait(WAIT_S):
            raise TimeoutError(f"threads: the second hop did not settle in {WAIT_S}s")

    def stop(self) -> None:
        self._first.put(_STOP)
        for thread in self._threads:
            thread.join(WAIT_S)
            if thread.is_alive():
                raise RuntimeError(f"{thread.name} did not stop within {WAIT_S}s")

    def _hop1(self) -> None:
        inbox, out = self._first, self._second
        while True:
            message = inbox.get()
            out.put(message)
            if message is _STOP:
                return

    def _hop2(self) -> None:
        inbox, out = self._second, self._engine
        while True:
            message = inbox.get()
            kind = type(message)
            if kind is OrderIntent:
                out.put(message)
            elif kind is _Barrier:
                message.reached.set()
            elif message is _STOP:
                out.put(message)
                return

    def _engine_loop(self) -> None:
        inbox, send, receive = self._engine, self._second.put, self.engine.receive
        while True:
            message = inbox.get()
            if message is _STOP:
                return
            receive(message, send)
