"""Topic names of the event stream: the one place they are defined.

ZeroMQ subscriptions match topic prefixes, so the names are hierarchical:
subscribing to ``order.`` gets every order event, ``strategy.`` every
strategy life-cycle event, ``""`` everything. The topic frame of every
event is one of these names as UTF-8 (``bar.<SYMBOL>`` for bars).
docs/protocol.md lists them with the message each carries.
"""

from __future__ import annotations

from typing import Final

from runtime.messages import (
    ActorFailed,
    ActorRestarted,
    ActorStarted,
    ActorStopped,
    Bar,
    EngineFailedBack,
    EngineFailedOver,
    EngineFault,
    FeedFinished,
    Fill,
    LossLimitBreached,
    Message,
    Order,
    OrderAnomaly,
    OrderReconciled,
    OrderStatus,
    OrderUpdate,
    Position,
    RecoveryReport,
    RuntimeStateChanged,
    StrategyPaused,
    StrategyQuarantined,
    StrategyRemoved,
    StrategyResumed,
    StrategyStarted,
    StrategyStopped,
    Tick,
    TradeClosed,
    TradingHalted,
)

__all__ = ["ALL_TOPICS", "BAR_PREFIX", "HEARTBEAT", "TICK_PREFIX", "topic_of"]

HEARTBEAT: Final = "heartbeat"
"""Published every ``heartbeat_s``; carries the last sequence number, takes none."""
BAR_PREFIX: Final = "bar."
"""``bar.<SYMBOL>``: one bar (only with ``publish_bars``)."""
TICK_PREFIX: Final = "tick."
"""``tick.<SYMBOL>``: one tick (only with ``publish_bars``)."""

_BY_TYPE: Final[dict[type[Message], str]] = {
    Order: "order.new",
    OrderUpdate: "order.update",
    Fill: "order.fill",
    OrderAnomaly: "order.anomaly",
    Position: "position",
    TradeClosed: "trade.closed",
    StrategyStarted: "strategy.started",
    StrategyStopped: "strategy.stopped",
    StrategyPaused: "strategy.paused",
    StrategyResumed: "strategy.resumed",
    StrategyQuarantined: "strategy.quarantined",
    StrategyRemoved: "strategy.removed",
    ActorStarted: "actor.started",
    ActorStopped: "actor.stopped",
    ActorFailed: "actor.failed",
    ActorRestarted: "actor.restarted",
    EngineFault: "engine.fault",
    EngineFailedOver: "engine.failover",
    EngineFailedBack: "engine.failback",
    RuntimeStateChanged: "runtime.state",
    TradingHalted: "runtime.halted",
    FeedFinished: "runtime.feed_finished",
    LossLimitBreached: "risk.loss_limit",
    OrderReconciled: "recovery.order",
    RecoveryReport: "recovery.report",
}

REJECTED: Final = "order.rejected"
"""An ``OrderUpdate`` with status REJECTED (risk's refusals among them): its own
topic, still under ``order.``."""

ALL_TOPICS: Final[tuple[str, ...]] = (
    HEARTBEAT,
    REJECTED,
    *sorted(set(_BY_TYPE.values())),
)
"""Every fixed topic name (``bar.``/``tick.`` topics add the symbol)."""


def topic_of(message: Message) -> str | None:
    """The topic ``message`` is published on; None for messages not streamed."""
    kind = type(message)
    if kind is OrderUpdate:
        assert isinstance(message, OrderUpdate)
        return REJECTED if message.status is OrderStatus.REJECTED else "order.update"
    if kind is Bar:
        assert isinstance(message, Bar)
        return BAR_PREFIX + message.symbol
    if kind is Tick:
        assert isinstance(message, Tick)
        return TICK_PREFIX + message.symbol
    return _BY_TYPE.get(kind)
