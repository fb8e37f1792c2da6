"""Risk plus order manager: their cost per order, and orders/s through the two actors.

Every order a strategy places passes two actors before an engine sees it:
risk (``RiskActor``: the pre-trade rules) and the order manager
(``OrderManager``: the order state machine and the router). This benchmark
measures what they add, in two ways, in the same run:

1. *Work* (:mod:`bench._order_cost`): the CPU time of their pure calls per
   order, timed one order at a time on one thread over ``orders`` orders,
   with every risk limit off and with every limit on
   (:data:`bench._orderstream.ALL_LIMITS`).
2. *Through the actors* (:mod:`bench._relays`): from an ``OrderIntent`` told
   to ``risk`` until the ``Order`` reaches an engine stand-in, for the real
   pair (limits off, and every limit on), for two bare actors that only pass
   the intent on (the floor of two actor hops), and for two plain threads
   joined by ``queue.SimpleQueue``. *Latency*: one intent at a time on an
   idle pair (it is brought to rest after each). *Throughput*: a burst of
   ``burst`` intents told back to back, from one strategy and from several,
   timed until the last order arrives.

Each round runs both parts, with every pair started afresh; within a round
the pairs take turns in blocks (latency) and in rotation (bursts), so the
noise of a shared machine falls on all of them alike. Figures are medians
over rounds: of each round's p50 and p99, of each round's orders/s, and of
each round's ratio real / bare relay.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench._order_cost import CostRound, run_cost_round, timer_overhead_ns
from bench._orderstream import ALL_LIMITS, NO_LIMITS, intents
from bench._relays import ActorPair, Pair, RelayPair, ThreadPair
from bench._stats import Percentiles, median, percentiles
from runtime.messages import Order, OrderIntent

__all__ = [
    "BASE",
    "PAIRS",
    "STRATEGY_COUNTS",
    "Burst",
    "FlowRound",
    "OrderflowResult",
    "Trip",
    "run_orderflow",
]

PAIRS: tuple[tuple[str, str], ...] = (
    ("real-off", "risk + order manager, limits off"),
    ("real-on", "risk + order manager, every limit on"),
    ("relay", "bare actor relay (2 hops, no work)"),
    ("threads", "plain threads + SimpleQueue (2 hops, no work)"),
)
"""(key, report label) of every pair, in report order."""

REAL = ("real-off", "real-on")
"""The pairs made of the real actors."""

BASE = "relay"
"""The pair the ratios divide by: the floor of two actor hops."""

STRATEGY_COUNTS = (1, 10)
"""Strategies the intents of a burst are dealt to."""


@dataclass(frozen=True, slots=True)
class Trip:
    """One intent's trip through a pair, ``time_ns`` stamps."""

    client_order_id: str
    """The order."""
    injected: int
    """Just before the intent was told to the first hop."""
    order: int
    """``Order.ts_init``: risk built the order (0 for the bare pairs)."""
    routed: int
    """ROUTED in the order manager's book (0 for the bare pairs)."""
    arrived: int
    """The engine stand-in has it."""

    @property
    def total_us(self) -> float:
        """Intent told to order at the engine, microseconds."""
        return (self.arrived - self.injected) / 1_000

    @property
    def segments_us(self) -> tuple[float, float, float]:
        """(to risk's order, to ROUTED, to the engine), microseconds (real pairs only)."""
        return (
            (self.order - self.injected) / 1_000,
            (self.routed - self.order) / 1_000,
            (self.arrived - self.routed) / 1_000,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Burst:
    """One burst through one pair."""

    orders: int
    """Intents told back to back."""
    strategies: int
    """Strategies they were dealt to."""
    told_ns: int
    """From the first tell until the benchmark thread had told the last intent."""
    last_ns: int
    """From the first tell until the last order reached the engine."""

    @property
    def rate(self) -> float:
        """Orders per second through the pair."""
        return self.orders / (self.last_ns / 1e9)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowRound:
    """One round of both parts."""

    index: int
    """Round number, from 1."""
    cost: dict[str, CostRound]
    """Pure work, by limits (``off``, ``on``)."""
    trips: dict[str, tuple[Trip, ...]]
    """Timed latency samples per pair key."""
    bursts: dict[tuple[str, int], Burst]
    """Per (pair key, strategies)."""
    side_tells: dict[str, float]
    """Per real pair: messages per order the order manager told the strategies, the
    portfolio and the event sink (counted by the actor that answers to those names)."""

    def latency_us(self, key: str) -> Percentiles:
        """Latency through pair ``key``, microseconds."""
        return percentiles([t.total_us for t in self.trips[key]])

    def latency_ratio(self, key: str) -> float:
        """p50 of ``key`` / p50 of :data:`BASE`."""
        return self.latency_us(key).p50 / self.latency_us(BASE).p50

    def burst_ratio(self, key: str, strategies: int) -> float:
        """Burst time of ``key`` / burst time of :data:`BASE`."""
        return self.bursts[key, strategies].last_ns / self.bursts[BASE, strategies].last_ns


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderflowResult:
    """Every round of the order-flow benchmark."""

    rounds: tuple[FlowRound, ...]
    """In run order."""
    orders: int
    """Orders timed per pure-work round and limits setting."""
    samples: int
    """Timed latency samples per pair per round."""
    warmup: int
    """Untimed latency samples per pair per round."""
    block: int
    """Consecutive latency samples a pair takes before the next one has its turn."""
    burst: int
    """Intents per burst."""
    timer_ns: float
    """Median cost of one ``perf_counter_ns`` pair (in every pure-work figure)."""
    seconds: float
    """Wall time of the benchmark."""

    def cost_us(self, key: str, limits: str) -> tuple[float, float]:
        """Median over rounds of (p50, p99) of pure-work piece ``key``, microseconds."""
        summaries = [r.cost[limits].us(key) for r in self.rounds]
        return median([s.p50 for s in summaries]), median([s.p99 for s in summaries])

    def latency_us(self, key: str) -> tuple[float, float]:
        """Median over rounds of (p50, p99) of pair ``key``, microseconds."""
        summaries = [r.latency_us(key) for r in self.rounds]
        return median([s.p50 for s in summaries]), median([s.p99 for s in summaries])

    def latency_ratio(self, key: str) -> float:
        """Median over rounds of p50 of ``key`` / p50 of :data:`BASE`."""
        return median([r.latency_ratio(key) for r in self.rounds])

    def rate(self, key: str, strategies: int) -> float:
        """Median over rounds of orders/s through pair ``key``."""
        return median([r.bursts[key, strategies].rate for r in self.rounds])

    def rate_range(self, key: str, strategies: int) -> tuple[float, float]:
        """Lowest and highest orders/s over rounds."""
        rates = [r.bursts[key, strategies].rate for r in self.rounds]
        return min(rates), max(rates)

    def told_ms(self, key: str, strategies: int) -> float:
        """Median over rounds of the time the benchmark thread spent telling a burst, ms."""
        return median([r.bursts[key, strategies].told_ns / 1e6 for r in self.rounds])

    def burst_ratio(self, key: str, strategies: int) -> float:
        """Median over rounds of burst time of ``key`` / burst time of :data:`BASE`."""
        return median([r.burst_ratio(key, strategies) for r in self.rounds])

    def side_tells(self, key: str) -> float:
        """Median over rounds of :attr:`FlowRound.side_tells` of real pair ``key``."""
        return median([r.side_tells[key] for r in self.rounds])

    def segments_us(self, key: str) -> tuple[float, ...]:
        """Medians of :attr:`Trip.segments_us` of a real pair, all rounds pooled."""
        trips = [t for r in self.rounds for t in r.trips[key]]
        columns = zip(*(t.segments_us for t in trips), strict=True)
        return tuple(percentiles(column).p50 for column in columns)


def _trip(pair: Pair, intent: OrderIntent) -> Trip:
    engine = pair.engine
    engine.arm(1)
    injected = time.time_ns()
    pair.inject(intent)
    arrived = engine.wait()
    order = engine.last
    pair.settle()
    if order is None or order.client_order_id != intent.client_order_id:
        raise RuntimeError(f"expected {intent.client_order_id} at the engine, got {order!r}")
    stamp = order.ts_init if type(order) is Order else 0
    return Trip(intent.client_order_id, injected, stamp, 0, arrived)


def _burst(pair: Pair, stream: Sequence[OrderIntent], strategies: int) -> Burst:
    engine, inject = pair.engine, pair.inject
    gc.collect()
    engine.arm(len(stream))
    t0 = time.time_ns()
    for intent in stream:
        inject(intent)
    told = time.time_ns()
    last = engine.wait()
    pair.settle()
    return Burst(orders=len(stream), strategies=strategies, told_ns=told - t0, last_ns=last - t0)


def _with_routed(trips: list[Trip], routed: dict[str, int]) -> tuple[Trip, ...]:
    missing = [t.client_order_id for t in trips if t.client_order_id not in routed]
    if missing:
        raise RuntimeError(
            f"the order manager no longer keeps {len(missing)} of the timed orders "
            "(fewer samples per round, or a larger keep_finished)"
        )
    return tuple(dataclasses.replace(t, routed=routed[t.client_order_id]) for t in trips)


def _pairs() -> dict[str, Pair]:
    strategies = max(STRATEGY_COUNTS)
    return {
        "real-off": ActorPair(NO_LIMITS, strategies),
        "real-on": ActorPair(ALL_LIMITS, strategies),
        "relay": RelayPair(),
        "threads": ThreadPair(),
    }


def _actor_round(
    index: int, *, samples: int, warmup: int, block: int, burst: int
) -> tuple[dict[str, tuple[Trip, ...]], dict[tuple[str, int], Burst], dict[str, float]]:
    pairs = _pairs()
    shift = (index - 1) % len(pairs)
    keys = list(pairs)[shift:] + list(pairs)[:shift]
    stream = intents(warmup + samples)
    trips: dict[str, list[Trip]] = {key: [] for key in pairs}
    bursts: dict[tuple[str, int], Burst] = {}
    started: list[Pair] = []
    try:
        for key in keys:
            pairs[key].start()
            started.append(pairs[key])
        for key in keys:
            for intent in stream[:warmup]:
                _trip(pairs[key], intent)
        gc.collect()
        taken = 0
        while taken < samples:
            count = min(block, samples - taken)
            for key in keys:
                for intent in stream[warmup + taken : warmup + taken + count]:
                    trips[key].append(_trip(pairs[key], intent))
            taken += count
            keys = keys[1:] + keys[:1]
        # The ROUTED stamps now: the book keeps a bounded number of finished orders
        # and the bursts would retire these.
        done: dict[str, tuple[Trip, ...]] = {}
        for key, pair in pairs.items():
            if isinstance(pair, ActorPair):
                done[key] = _with_routed(trips[key], pair.routed())
            else:
                done[key] = tuple(trips[key])
        for strategies in STRATEGY_COUNTS:
            load = intents(burst, strategies=strategies)
            for key in keys:
                bursts[key, strategies] = _burst(pairs[key], load, strategies)
            keys = keys[1:] + keys[:1]
        side_tells: dict[str, float] = {}
        for key, pair in pairs.items():
            pair.check()
            if isinstance(pair, ActorPair):
                side_tells[key] = pair.dropped / pair.injected
    finally:
        for pair in started:
            pair.stop()
    return done, bursts, side_tells


def run_orderflow(
    *,
    rounds: int,
    orders: int,
    samples: int,
    warmup: int,
    block: int,
    burst: int,
    progress: Callable[[str], None],
) -> OrderflowResult:
    """Run ``rounds`` rounds of both parts (see the module docstring)."""
    t0 = time.perf_counter()
    timer = timer_overhead_ns()
    done: list[FlowRound] = []
    for index in range(1, rounds + 1):
        settings = [("off", NO_LIMITS), ("on", ALL_LIMITS)]
        if index % 2 == 0:
            settings.reverse()
        cost = {
            label: run_cost_round(orders=orders, limits=limits, label=label)
            for label, limits in settings
        }
        trips, bursts, side_tells = _actor_round(
            index, samples=samples, warmup=warmup, block=block, burst=burst
        )
        result = FlowRound(
            index=index, cost=cost, trips=trips, bursts=bursts, side_tells=side_tells
        )
        done.append(result)
        progress(
            f"orderflow round {index}/{rounds}: work p50 "
            f"{result.cost['off'].us('total').p50:.1f} / {result.cost['on'].us('total').p50:.1f}"
            " us (limits off / on); latency p50 "
            + ", ".join(f"{key} {result.latency_us(key).p50:.1f}" for key, _ in PAIRS)
            + " us; orders/s "
            + ", ".join(f"{key} {bursts[key, 1].rate:,.0f}" for key, _ in PAIRS)
        )
    return OrderflowResult(
        rounds=tuple(done),
        orders=orders,
        samples=samples,
        warmup=warmup,
        block=block,
        burst=burst,
        timer_ns=timer,
        seconds=time.perf_counter() - t0,
    )
