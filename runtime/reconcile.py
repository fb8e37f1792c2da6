"""Reconciliation after a crash: each engine answers for the orders it held.

Runs once at start, after every actor is up and before the feed publishes a
bar (runtime/boot.py calls :func:`reconcile_engines`):

1. each engine is asked (``RecoverOrders``) about the restored orders it held;
   its adapter asks the broker, and the answers (fills the journal missed,
   current states) flow through the order manager like any other update: to
   the strategies, the portfolio, risk, the event stream and the journal;
2. orders an engine has no record of are ended by the order manager
   (``ResolveOrders``): never acknowledged and nothing filled, REJECTED (the
   order never got there and is not sent again); else CANCELLED;
3. each engine that can tell (``GetPositions``) has its positions compared with
   the runtime's fills at that engine;
4. the actors settle, and the differences become ``OrderReconciled`` events
   and one ``RecoveryReport``, logged and published.

An engine that does not answer within ``recovery_timeout_s`` leaves its
orders UNKNOWN (the report lists them); a position difference halts trading
until an operator looks (the report says so).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from typing import Any

from loguru import logger

from runtime.config import Settings
from runtime.directory import Directory
from runtime.journal_store import open_journal
from runtime.messages import (
    GetOrders,
    GetPositions,
    OrderReconciled,
    OrderStatus,
    RecoverOrders,
    RecoveryReport,
    RejectReason,
    ResolveOrders,
    next_id,
)
from runtime.names import ORDERS, engine_actor
from runtime.order_states import OrderView
from runtime.recovery import Restored, position_differences, reconciled

__all__ = ["reconcile_engines"]

_POSITION_ATTEMPTS = 3


def reconcile_engines(
    directory: Directory,
    settings: Settings,
    restored: Restored,
    *,
    settle: Callable[[], None],
    started: float,
) -> tuple[RecoveryReport, tuple[OrderReconciled, ...]]:
    """Ask every engine about its restored orders and positions; see the module
    docstring. ``settle`` flushes the actors (the journal last); ``started`` is
    the ``time.monotonic()`` recovery began at."""
    timeout = settings.journal.recovery_timeout_s
    engines = {engine_actor(e.name): e.name for e in settings.engines}
    unresolved: list[str] = []
    asked: dict[str, Any] = {}
    for engine, items in restored.to_recover.items():
        ids = [item.update.client_order_id for item in items]
        if engine not in engines:
            logger.error("recovery: {} orders at {}, which is not configured", len(ids), engine)
            unresolved.extend(ids)
            continue
        asked[engine] = directory.ask_or_none(engine, RecoverOrders(tuple(items)), timeout)
    for engine, future in asked.items():
        missing = _result(future, timeout, f"{engine} about its orders")
        if missing:
            directory.tell(ORDERS, ResolveOrders(engines[engine], tuple(missing)))
    counts: dict[str, int] = {}
    differences: list[str] = []
    for attempt in range(_POSITION_ATTEMPTS):
        # The venue keeps matching meanwhile: a fill between its answer and the
        # journal's count is a difference for a moment only. Asked again after a
        # settle, only a real difference stays. The settle also lets the answers
        # and resolutions above reach the order manager and the journal.
        broker_positions: dict[str, dict[str, float]] = {}
        for engine, name in engines.items():
            answer = _result(
                directory.ask_or_none(engine, GetPositions(), timeout),
                timeout,
                f"{engine} positions",
            )
            if isinstance(answer, dict):
                broker_positions[name] = answer
        settle()
        store = open_journal(settings.journal.path, readonly=True, check=False)
        try:
            counts = store.fill_counts()
            ours = {name: store.net_positions(name) for name in broker_positions}
        finally:
            store.close()
        differences = []
        for name, theirs in broker_positions.items():
            differences.extend(position_differences(name, ours[name], theirs))
        if not differences:
            break
        logger.warning("recovery: positions differ (attempt {}): {}", attempt + 1, differences)
    views: tuple[OrderView, ...] = directory.ask(
        ORDERS, GetOrders("", open_only=False), timeout=timeout
    )
    before = restored.before
    mine = [v for v in views if v.client_order_id in before]
    events = reconciled(before, mine, counts)
    unresolved.extend(v.client_order_id for v in mine if v.status is OrderStatus.UNKNOWN)
    state = restored.state
    now = time.time_ns()
    report = RecoveryReport(
        id=next_id(),
        ts_event=now,
        ts_init=now,
        journal=str(settings.journal.path),
        previous_runs=state.runs,
        orders=state.orders,
        open_orders=len(state.open_orders),
        fills=len(state.fills),
        fills_recovered=max(0, sum(counts.values()) - len(state.fills)),
        reconciled=len(events),
        unsent=sum(
            1
            for v in mine
            if v.status is OrderStatus.REJECTED and v.reason is RejectReason.RECOVERY
        ),
        unresolved=tuple(sorted(set(unresolved))),
        positions=tuple(differences),
        halted=bool(differences),
        duration_ms=(time.monotonic() - started) * 1000.0,
    )
    return report, events


def _result(future: Any, timeout: float, what: str) -> Any:
    if not isinstance(future, concurrent.futures.Future):
        return future
    try:
        return future.result(timeout=timeout)
    except Exception as exc:  # the broker did not answer: the orders stay UNKNOWN
        logger.error("recovery: no answer from {}: {!r}", what, exc)
        return None
