"""The CPU cost per order of the pure work of risk and the order manager, no actors.

One thread runs, per order, the calls the two actors make for an order that
is accepted and fully filled, timed in four pieces with
``time.perf_counter_ns``:

1. risk, pre-trade (what ``RiskActor`` does with an ``OrderIntent``):
   :func:`runtime.risk_rules.check_intent` with the strategy's
   ``StrategyExposure``, :func:`actors.risk.order_from_intent` (the ``Order``
   message) and ``StrategyExposure.order_sent``;
2. the order manager with the ``Order``: ``OrderBook.route`` (1 and 2 are
   what lies on the order's way to the engine);
3. the order manager with the engine's answers: ``apply_update`` of
   ACCEPTED, ``apply_fill``, ``apply_update`` of FILLED;
4. risk, after the fill (what ``RiskActor`` does with the fill and the
   terminal update the order manager forwards): ``RiskLedger.on_fill`` and
   ``StrategyExposure.on_update``.

The intents and the engine's answers are built before the piece that uses
them and are not timed (the strategy and the engine build them). The
garbage collector stays on, as in the actors (a collection pause lands in
whichever piece allocates at the time); a full collection runs before each
round. Nothing is sent anywhere: this is the work itself, to set against the
per-order latency through the actors (:mod:`bench._relays`).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass

from actors.risk import order_from_intent
from bench._orderstream import ENGINE, answers, intents
from bench._stats import Percentiles, percentiles
from runtime.config import RiskConfig
from runtime.messages import RuntimeState
from runtime.order_states import OrderBook
from runtime.risk_rules import RiskLedger, check_intent

__all__ = ["PIECES", "CostRound", "run_cost_round", "timer_overhead_ns"]

PIECES: tuple[tuple[str, str], ...] = (
    ("risk_pre", "1. risk, pre-trade: `check_intent`, `order_from_intent`, `order_sent`"),
    ("route", "2. order manager: `OrderBook.route`"),
    ("way", "on the order's way to the engine (1 + 2)"),
    (
        "answers",
        "3. order manager, the engine's answers: `apply_update` (ACCEPTED), `apply_fill`, "
        "`apply_update` (FILLED)",
    ),
    ("risk_post", "4. risk, after the fill: `RiskLedger.on_fill`, `on_update` (FILLED)"),
    ("risk", "risk (1 + 4)"),
    ("orders", "order manager (2 + 3)"),
    ("total", "**risk + order manager (1 + 2 + 3 + 4)**"),
)
"""(key, report label) of each figure, in report order."""

_RUNNING = RuntimeState.RUNNING


@dataclass(frozen=True, slots=True, kw_only=True)
class CostRound:
    """One round: every order's cost, per piece, in nanoseconds."""

    limits: str
    """``off`` or ``on``."""
    ns: dict[str, tuple[int, ...]]
    """Per :data:`PIECES` key, one value per order, in order."""

    def us(self, key: str) -> Percentiles:
        """Percentiles of piece ``key``, microseconds."""
        return percentiles([v / 1_000 for v in self.ns[key]])


def timer_overhead_ns(samples: int = 100_000) -> float:
    """Median of two back-to-back ``perf_counter_ns`` calls: what each timed piece
    carries on top of its work."""
    clock = time.perf_counter_ns
    gaps = []
    for _ in range(samples):
        t0 = clock()
        gaps.append(clock() - t0)
    return percentiles(gaps).p50


def run_cost_round(*, orders: int, limits: RiskConfig, label: str) -> CostRound:
    """Time ``orders`` orders through fresh risk and order-book state under ``limits``.

    Raises ``RuntimeError`` if risk refuses one or the book refuses an event:
    the figures would then not be those of the accepted, filled order.
    """
    stream = intents(orders)
    ledger = RiskLedger()
    book = OrderBook()
    clock, wall, mono = time.perf_counter_ns, time.time_ns, time.monotonic
    pre: list[int] = []
    route: list[int] = []
    back: list[int] = []
    post: list[int] = []
    gc.collect()
    for intent in stream:
        t0 = clock()
        exposure = ledger.exposure(intent.strategy_id)
        breach = check_intent(intent, limits, exposure, mode=_RUNNING, now=mono())
        order = order_from_intent(intent)
        exposure.order_sent(intent)
        t1 = clock()
        if breach is not None:
            raise RuntimeError(f"risk refused {intent.client_order_id}: {breach}")
        accepted, fill, filled = answers(order)
        t2 = clock()
        book.route(order, ENGINE, now=wall())
        t3 = clock()
        ok = book.apply_update(accepted)
        book.apply_fill(fill)
        ok = book.apply_update(filled) and ok
        t4 = clock()
        if not ok:
            raise RuntimeError(f"the order book ignored an answer for {intent.client_order_id}")
        ledger.on_fill(fill)  # the whole quantity filled: the order stops counting here
        ledger.exposure(filled.strategy_id).on_update(filled)
        t5 = clock()
        pre.append(t1 - t0)
        route.append(t3 - t2)
        back.append(t4 - t3)
        post.append(t5 - t4)
    if book.open_count or any(ledger.exposure(s).open_order_count for s in ledger.strategies()):
        raise RuntimeError("orders left open after the round")
    ns = {"risk_pre": pre, "route": route, "answers": back, "risk_post": post}
    ns["way"] = _add(pre, route)
    ns["risk"] = _add(pre, post)
    ns["orders"] = _add(route, back)
    ns["total"] = _add(ns["risk"], ns["orders"])
    return CostRound(limits=label, ns={key: tuple(ns[key]) for key, _ in PIECES})


def _add(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]
