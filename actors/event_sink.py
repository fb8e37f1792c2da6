"""The event sink: every event the runtime publishes ends here.

It logs each event readably through loguru (orders and fills at INFO,
rejections and failures at WARNING/ERROR, the rest at DEBUG), counts them by
type, hands each one to the event stream (the ZeroMQ gateway's ``publish``,
which numbers it), then to the listeners given at start (tests use this), and,
with a journal, tells the journal every event but market data together with
the number the stream gave it. Listeners run in this actor's thread; one that
raises is logged and kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from runtime.actor import LeanActor
from runtime.directory import Directory
from runtime.journal_store import NOT_JOURNALED
from runtime.messages import (
    ActorFailed,
    ActorRestarted,
    ActorStarted,
    ActorStopped,
    EngineFailedBack,
    EngineFailedOver,
    EngineFault,
    FeedFinished,
    Fill,
    Flush,
    GetSnapshot,
    Journaled,
    LossLimitBreached,
    Message,
    Order,
    OrderAnomaly,
    OrderReconciled,
    OrderStatus,
    OrderUpdate,
    RecoveryReport,
    RuntimeStateChanged,
    StrategyPaused,
    StrategyQuarantined,
    StrategyResumed,
    StrategyStarted,
    StrategyStopped,
    TradeClosed,
    TradingHalted,
)
from runtime.names import JOURNAL, ActorKind

__all__ = [
    "EventListener",
    "EventSink",
    "EventStats",
    "EventStream",
    "describe",
    "event_level",
    "recovery_text",
]

EventListener = Callable[[Message], None]
"""Called with every event, in the event sink's thread."""
EventStream = Callable[[Message], int | None]
"""Numbers and publishes an event; returns the ``seq`` it gave (None: none)."""

_QUIET = {OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED}


@dataclass(frozen=True, slots=True, kw_only=True)
class EventStats:
    """Counters of the event sink, as answered to ``GetSnapshot``."""

    counts: tuple[tuple[str, int], ...]
    """(message type, count), sorted by type."""
    listener_errors: int
    """Exceptions raised by listeners."""


def _price(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def event_level(event: Message) -> str:
    """The loguru level an event is logged at."""
    if isinstance(event, OrderUpdate):
        if event.status is OrderStatus.REJECTED or event.status is OrderStatus.UNKNOWN:
            return "WARNING"
        return "DEBUG" if event.status in _QUIET else "INFO"
    if isinstance(event, LossLimitBreached):
        return "CRITICAL"
    if isinstance(
        event, ActorFailed | StrategyQuarantined | EngineFailedOver | TradingHalted | OrderAnomaly
    ):
        return "ERROR"
    if isinstance(event, ActorRestarted | EngineFault | EngineFailedBack | StrategyPaused):
        return "WARNING"
    if isinstance(event, OrderReconciled):
        return "WARNING"
    if isinstance(event, RecoveryReport):
        trouble = event.halted or event.unresolved or event.positions
        return "ERROR" if trouble else "WARNING" if event.reconciled else "INFO"
    if isinstance(event, TradeClosed | StrategyResumed):
        return "INFO"
    if isinstance(event, Order | Fill | StrategyStarted | StrategyStopped):
        return "INFO"
    if isinstance(event, RuntimeStateChanged | FeedFinished):
        return "INFO"
    return "DEBUG"


def describe(event: Message) -> str:
    """One readable line for an event."""
    if isinstance(event, Order):
        price = ""
        if event.limit_price is not None:
            price += f" limit {_price(event.limit_price)}"
        if event.stop_price is not None:
            price += f" stop {_price(event.stop_price)}"
        return (
            f"ORDER {event.strategy_id} {event.side} {event.quantity:g} {event.symbol} "
            f"{event.order_type}{price} {event.time_in_force} [{event.client_order_id}]"
        )
    if isinstance(event, Fill):
        return (
            f"FILL  {event.strategy_id} {event.side} {event.quantity:g} {event.symbol} "
            f"@ {_price(event.price)} fee {event.commission:.2f} [{event.client_order_id}]"
        )
    if isinstance(event, OrderUpdate):
        reason = f" {event.reason}: {event.message}" if event.reason else ""
        return (
            f"{event.status} {event.strategy_id} {event.side} {event.quantity:g} "
            f"{event.symbol} filled {event.filled_quantity:g}{reason} [{event.client_order_id}]"
        )
    if isinstance(event, ActorFailed):
        return f"actor {event.name} ({event.kind}) failed: {event.error}"
    if isinstance(event, ActorRestarted):
        return (
            f"actor {event.name} ({event.kind}) restarted: restart {event.restarts} in window, "
            f"after {event.delay_s:.3f}s, {event.redelivered} messages redelivered"
        )
    if isinstance(event, StrategyQuarantined):
        return (
            f"strategy {event.strategy_id} QUARANTINED after {event.failures} failures "
            f"(last: {event.error}); open orders: {event.open_orders}"
        )
    if isinstance(event, EngineFault):
        return f"engine {event.engine} fault: {event.error}"
    if isinstance(event, EngineFailedOver):
        return (
            f"engine FAILOVER {event.previous} -> {event.engine} after {event.failures} "
            f"failures (last: {event.reason})"
        )
    if isinstance(event, EngineFailedBack):
        return f"engine FAILBACK {event.previous} -> {event.engine}"
    if isinstance(event, TradingHalted):
        return f"TRADING HALTED: {event.reason}"
    if isinstance(event, OrderAnomaly):
        return (
            f"order {event.client_order_id} ({event.status or 'unknown'}) refused "
            f"{event.event} from {event.engine or 'the runtime'}: {event.detail}"
        )
    if isinstance(event, TradeClosed):
        return (
            f"TRADE {event.strategy_id} {event.side} {event.quantity:g} {event.symbol} "
            f"closed, P&L {event.pnl:,.2f} (fees {event.fees:,.2f})"
        )
    if isinstance(event, LossLimitBreached):
        who = f"strategy {event.strategy_id}" if event.strategy_id else "account"
        return (
            f"DAILY LOSS LIMIT: {who} P&L {event.pnl:,.2f} on {event.day} "
            f"reached -{event.limit:,.2f}"
        )
    if isinstance(event, StrategyPaused):
        return f"strategy {event.strategy_id} PAUSED: {event.reason}"
    if isinstance(event, StrategyResumed):
        return f"strategy {event.strategy_id} resumed: {event.reason}"
    if isinstance(event, ActorStarted | ActorStopped):
        verb = "started" if isinstance(event, ActorStarted) else "stopped"
        return f"actor {event.name} ({event.kind}) {verb}"
    if isinstance(event, StrategyStarted):
        return (
            f"strategy {event.strategy_id} started ({event.class_path} "
            f"on {', '.join(event.symbols)})"
        )
    if isinstance(event, StrategyStopped):
        return f"strategy {event.strategy_id} stopped after {event.orders} orders"
    if isinstance(event, RuntimeStateChanged):
        return f"runtime {event.previous} -> {event.state}: {event.reason}"
    if isinstance(event, FeedFinished):
        return f"feed finished: {event.bars} bars, {event.ticks} ticks"
    if isinstance(event, OrderReconciled):
        return (
            f"RECONCILED {event.client_order_id} ({event.strategy_id} {event.symbol}) at "
            f"{event.engine}: {event.before} filled {event.filled_before:g} -> {event.after} "
            f"filled {event.filled_after:g}, {event.fills_recovered} fills recovered: "
            f"{event.detail}"
        )
    if isinstance(event, RecoveryReport):
        return recovery_text(event)
    return f"{event.TAG} {event}"


def recovery_text(report: RecoveryReport) -> str:
    """The recovery report as the log shows it (one line per problem)."""
    lines = [
        f"RECOVERY from {report.journal} ({report.previous_runs} earlier runs) in "
        f"{report.duration_ms:.0f} ms: {report.orders} orders, {report.open_orders} open, "
        f"{report.fills} fills; {report.reconciled} orders reconciled, "
        f"{report.fills_recovered} fills recovered, {report.unsent} never sent"
    ]
    if report.unresolved:
        lines.append(
            f"  still UNKNOWN (no answer from their engine): {', '.join(report.unresolved)}"
        )
    lines.extend(f"  position differs: {line}" for line in report.positions)
    if report.halted:
        lines.append("  trading HALTED until an operator resets it")
    return "\n".join(lines)


class EventSink(LeanActor):
    """Logs, counts and fans out every published event."""

    kind = ActorKind.EVENTS

    def __init__(
        self,
        *,
        name: str,
        directory: Directory,
        listeners: Sequence[EventListener] = (),
        log_level: str = "INFO",
        stream: EventStream | None = None,
        journal: bool = False,
    ) -> None:
        """``stream`` numbers and publishes each event (returns its ``seq``, or None);
        ``journal``: tell the journal every event but market data."""
        super().__init__(name=name, directory=directory)
        self._stream = stream
        self._journal = journal
        self._min_level = logger.level(log_level).no
        self._level_no = {
            lvl: logger.level(lvl).no for lvl in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        }
        self._listeners = tuple(listeners)
        self._counts: Counter[str] = Counter()
        self._listener_errors = 0
        self._log = logger.bind(actor=name)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Message):
            self._counts[message.TAG] += 1
            level = event_level(message)
            if self._level_no[level] >= self._min_level:
                self._log.log(level, describe(message))
            seq = self._stream(message) if self._stream is not None else None
            for listener in self._listeners:
                try:
                    listener(message)
                except Exception:
                    self._listener_errors += 1
                    logger.exception("event listener {!r} raised", listener)
            if self._journal and type(message) not in NOT_JOURNALED:
                self.directory.tell(JOURNAL, Journaled(seq, message))
            return None
        if isinstance(message, GetSnapshot):
            return EventStats(
                counts=tuple(sorted(self._counts.items())),
                listener_errors=self._listener_errors,
            )
        if not isinstance(message, Flush):
            raise TypeError(f"{self.name} cannot handle {type(message).__name__}")
        return None
