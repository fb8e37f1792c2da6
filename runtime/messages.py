"""Every message that crosses an actor boundary, the wire or the journal.

Messages are frozen, slotted dataclasses. Each domain message carries

- ``id``: a number unique within the process (see :func:`next_id`),
- ``ts_event``: when the thing happened, nanoseconds since the Unix epoch
  (for market data: the bar's or trade's own timestamp),
- ``ts_init``: when this object was created, nanoseconds since the epoch,

and a type tag (``TAG``, the class name) used by :mod:`runtime.codec`.
Commands are imperative (``CancelOrder``); events are past tense
(``ActorFailed``). Quantities are unsigned; direction is ``side``.

The control messages at the end (``Flush``, ``Subscribe``...) are in-process
only: they never reach the wire or the journal and carry no id.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

__all__ = [
    "ActorFailed",
    "ActorRestarted",
    "ActorStarted",
    "ActorStopped",
    "Bar",
    "CancelAll",
    "CancelNotFound",
    "CancelOrder",
    "Crash",
    "EngineFailedBack",
    "EngineFailedOver",
    "EngineFault",
    "Event",
    "FeedFinished",
    "Fill",
    "Flush",
    "GetOrders",
    "GetPositions",
    "GetSnapshot",
    "Halt",
    "Handshake",
    "Journaled",
    "LossLimitBreached",
    "Message",
    "ModifyOrder",
    "ModifyOutcome",
    "ModifyRefused",
    "Order",
    "OrderAnomaly",
    "OrderIntent",
    "OrderReconciled",
    "OrderStatus",
    "OrderToRecover",
    "OrderType",
    "OrderUpdate",
    "PauseStrategy",
    "Position",
    "Probe",
    "RearmLossGuard",
    "Reconcile",
    "RecoverOrders",
    "RecoveryReport",
    "RejectReason",
    "ResolveOrders",
    "ResumeStrategy",
    "RouteOrders",
    "RuntimeState",
    "RuntimeStateChanged",
    "SetLossLimit",
    "SetStrategyLimits",
    "SetTradingState",
    "Side",
    "StartChildren",
    "StartFeed",
    "StopChildren",
    "StopFeed",
    "StrategyPaused",
    "StrategyQuarantined",
    "StrategyRemoved",
    "StrategyResumed",
    "StrategyStarted",
    "StrategyStopped",
    "Subscribe",
    "Tick",
    "TimeInForce",
    "ToEngine",
    "TradeClosed",
    "TradingHalted",
    "Unsubscribe",
    "cancel_request",
    "next_id",
    "registry",
    "unfilled_update",
]

_ids = itertools.count(1)


def next_id() -> int:
    """A message id unique within this process (thread-safe under the GIL)."""
    return next(_ids)


class Side(StrEnum):
    """Direction of an order or fill."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL."""
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    """How an order is priced."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(StrEnum):
    """How long an order stays working."""

    GTC = "GTC"
    DAY = "DAY"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(StrEnum):
    """The states of an order's life; terminal ones are in ``TERMINAL``."""

    RECEIVED = "RECEIVED"
    VALIDATED = "VALIDATED"
    ROUTED = "ROUTED"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    PENDING_MODIFY = "PENDING_MODIFY"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """True when no further update can follow."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class RejectReason(StrEnum):
    """Why an order was refused or ended early; one enumeration for all sources."""

    INVALID_ORDER = "INVALID_ORDER"
    MAX_ORDER_QUANTITY = "MAX_ORDER_QUANTITY"
    MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"
    NO_MARKET_PRICE = "NO_MARKET_PRICE"
    NO_ENGINE = "NO_ENGINE"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    DUPLICATE_ORDER = "DUPLICATE_ORDER"
    NOT_TRADING = "NOT_TRADING"
    SHUTDOWN = "SHUTDOWN"
    TIME_IN_FORCE = "TIME_IN_FORCE"
    ENGINE_ERROR = "ENGINE_ERROR"
    FAILOVER = "FAILOVER"
    QUARANTINED = "QUARANTINED"
    HALTED = "HALTED"
    PAUSED = "PAUSED"
    REDUCE_ONLY = "REDUCE_ONLY"
    MAX_POSITION = "MAX_POSITION"
    MAX_GROSS_EXPOSURE = "MAX_GROSS_EXPOSURE"
    MAX_NET_EXPOSURE = "MAX_NET_EXPOSURE"
    MAX_OPEN_ORDERS = "MAX_OPEN_ORDERS"
    RATE_LIMIT = "RATE_LIMIT"
    PRICE_COLLAR = "PRICE_COLLAR"
    DAILY_LOSS = "DAILY_LOSS"
    LOSING_STREAK = "LOSING_STREAK"
    TRADING_HOURS = "TRADING_HOURS"
    CIRCUIT_OPEN = "CIRCUIT_OPEN"
    MODIFY_REFUSED = "MODIFY_REFUSED"
    RECOVERY = "RECOVERY"


class RuntimeState(StrEnum):
    """The runtime's own life cycle."""

    STARTING = "STARTING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    REDUCING = "REDUCING"
    HALTED = "HALTED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


class Message:
    """Base of every domain message; ``TAG`` names the type on the wire."""

    __slots__ = ()
    TAG: ClassVar[str] = ""


_REGISTRY: dict[str, type[Message]] = {}


def registry() -> dict[str, type[Message]]:
    """A copy of the tag-to-class map of every domain message."""
    return dict(_REGISTRY)


_M = TypeVar("_M", bound=type[Message])


def _register(cls: _M) -> _M:
    cls.TAG = cls.__name__
    _REGISTRY[cls.TAG] = cls
    return cls


# --- market data -------------------------------------------------------------


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Bar(Message):
    """An OHLCV bar.

    ``ts_event`` is the bar's timestamp as its source gives it: the open time
    for synthetic bars; data files keep their own convention (the intraday
    sample files stamp a bar with its close time). Ordering is all the
    runtime relies on.
    """

    id: int
    """Process-unique message id."""
    ts_event: int
    """Bar timestamp, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    symbol: str
    """Instrument symbol."""
    open: float
    """First traded price of the interval."""
    high: float
    """Highest traded price."""
    low: float
    """Lowest traded price."""
    close: float
    """Last traded price."""
    volume: float
    """Traded quantity; 0 means unknown (some data sets carry none)."""
    interval_s: int
    """Bar length in seconds (86400 for daily bars)."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(Message):
    """One trade."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """Trade time, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    symbol: str
    """Instrument symbol."""
    price: float
    """Trade price."""
    size: float
    """Trade quantity; 0 means unknown."""


# --- orders ------------------------------------------------------------------


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderIntent(Message):
    """A strategy's request to trade, before risk has looked at it."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """Market time of the latest data the strategy had seen, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    client_order_id: str
    """Unique, stable id of the order for its whole life."""
    strategy_id: str
    """The strategy that owns the order."""
    symbol: str
    """Instrument symbol."""
    side: Side
    """BUY or SELL."""
    quantity: float
    """Quantity wanted, > 0."""
    order_type: OrderType
    """MARKET, LIMIT, STOP or STOP_LIMIT."""
    limit_price: float | None
    """Limit price for LIMIT and STOP_LIMIT, else None."""
    stop_price: float | None
    """Trigger price for STOP and STOP_LIMIT, else None."""
    time_in_force: TimeInForce
    """How long the order works."""
    market_price: float | None
    """Last price of ``symbol`` the strategy's host had seen when it asked
    (None before any data); risk judges market orders against it."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Order(Message):
    """An order that passed risk and is routed to an execution engine."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """Market time of the data the strategy decided on, ns since the epoch
    (the intent's ``ts_event``; DAY orders expire by this date)."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    client_order_id: str
    """Unique, stable id of the order for its whole life."""
    strategy_id: str
    """The strategy that owns the order."""
    symbol: str
    """Instrument symbol."""
    side: Side
    """BUY or SELL."""
    quantity: float
    """Quantity, > 0."""
    order_type: OrderType
    """MARKET, LIMIT, STOP or STOP_LIMIT."""
    limit_price: float | None
    """Limit price for LIMIT and STOP_LIMIT, else None."""
    stop_price: float | None
    """Trigger price for STOP and STOP_LIMIT, else None."""
    time_in_force: TimeInForce
    """How long the order works."""
    ts_intent: int
    """``ts_event`` of the intent it came from (for latency accounting)."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder(Message):
    """Ask for a working order to be cancelled."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When the cancel was asked for, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    client_order_id: str
    """The order to cancel."""
    strategy_id: str
    """The strategy that owns the order."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyOrder(Message):
    """Ask for a working order's quantity or prices to change (``None``: unchanged)."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When the change was asked for, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    client_order_id: str
    """The order to change."""
    strategy_id: str
    """The strategy that owns the order."""
    quantity: float | None
    """New total quantity (not below what already filled); None keeps it."""
    limit_price: float | None
    """New limit price; None keeps it."""
    stop_price: float | None
    """New stop price; None keeps it."""
    market_price: float | None
    """Last price of the order's symbol the strategy's host had seen (for risk)."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdate(Message):
    """An order changed state."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When the change happened, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    client_order_id: str
    """The order."""
    strategy_id: str
    """The strategy that owns the order."""
    symbol: str
    """Instrument symbol."""
    side: Side
    """BUY or SELL."""
    status: OrderStatus
    """The order's new state."""
    quantity: float
    """The order's total quantity."""
    filled_quantity: float
    """Quantity filled so far (never decreases)."""
    avg_fill_price: float | None
    """Volume-weighted fill price so far, None before the first fill."""
    reason: RejectReason | None
    """Why, for REJECTED, CANCELLED and EXPIRED when the system ended it."""
    message: str
    """Readable detail; empty when there is nothing to add."""
    engine: str
    """Engine that reported it; empty when risk or the runtime did."""


def cancel_request(client_order_id: str, strategy_id: str) -> CancelOrder:
    """A cancel of order ``client_order_id`` on behalf of its owner, stamped now
    (the runtime's own: a quarantine, a removal, an operator)."""
    now = time.time_ns()
    return CancelOrder(
        id=next_id(),
        ts_event=now,
        ts_init=now,
        client_order_id=client_order_id,
        strategy_id=strategy_id,
    )


def unfilled_update(
    order: OrderIntent | Order,
    status: OrderStatus,
    reason: RejectReason | None,
    message: str,
    *,
    engine: str = "",
    ts: int | None = None,
) -> OrderUpdate:
    """An update of ``order`` before anything of it filled (REJECTED, UNKNOWN...),
    stamped ``ts`` (default: now); ``engine`` empty when the runtime itself reports it."""
    now = time.time_ns() if ts is None else ts
    return OrderUpdate(
        id=next_id(),
        ts_event=now,
        ts_init=now,
        client_order_id=order.client_order_id,
        strategy_id=order.strategy_id,
        symbol=order.symbol,
        side=order.side,
        status=status,
        quantity=order.quantity,
        filled_quantity=0.0,
        avg_fill_price=None,
        reason=reason,
        message=message,
        engine=engine,
    )


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Fill(Message):
    """Part or all of an order was executed."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """Execution time (market time of the bar or tick), ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    fill_id: str
    """Engine-unique execution id."""
    client_order_id: str
    """The order."""
    strategy_id: str
    """The strategy that owns the order."""
    symbol: str
    """Instrument symbol."""
    side: Side
    """BUY or SELL."""
    quantity: float
    """Executed quantity, > 0."""
    price: float
    """Execution price, slippage included."""
    commission: float
    """Fees charged for this execution, >= 0."""
    slippage: float
    """Price moved against the order by the slippage model, per unit, >= 0."""
    engine: str
    """Engine that executed it."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Position(Message):
    """A strategy's position in one symbol after a fill or a mark."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """Time of the fill or bar that changed it, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    strategy_id: str
    """The strategy that holds it."""
    symbol: str
    """Instrument symbol."""
    quantity: float
    """Signed: > 0 long, < 0 short."""
    avg_price: float
    """Average entry price of the open quantity; 0 when flat."""
    mark_price: float
    """Last market price used for unrealized P&L."""
    realized_pnl: float
    """P&L of closed quantity, before fees."""
    unrealized_pnl: float
    """P&L of open quantity at ``mark_price``."""
    fees: float
    """Commission paid in this symbol."""


# --- lifecycle -----------------------------------------------------------------


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class ActorStarted(Message):
    """An actor began processing messages."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When it started, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    name: str
    """The actor's stable name (e.g. ``strategy.sma``)."""
    kind: str
    """The actor's kind (feed, strategy, risk, engine, portfolio, events)."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class ActorStopped(Message):
    """An actor stopped cleanly."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When it stopped, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    name: str
    """The actor's stable name."""
    kind: str
    """The actor's kind."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class ActorFailed(Message):
    """An actor raised and stopped."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When it failed, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    name: str
    """The actor's stable name."""
    kind: str
    """The actor's kind."""
    error: str
    """The exception, as ``Type: message`` (or why a probe went unanswered)."""
    actor_urn: str
    """Which incarnation failed: a late report about a replaced actor is ignored."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class ActorRestarted(Message):
    """The supervisor replaced a failed actor; its name now reaches the new one."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When the replacement was running, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    name: str
    """The actor's stable name."""
    kind: str
    """The actor's kind."""
    restarts: int
    """Restarts within the intensity window, this one included."""
    delay_s: float
    """Backoff waited before this restart."""
    redelivered: int
    """Messages sent while it was down, delivered to the replacement."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyQuarantined(Message):
    """A strategy failed past its restart intensity (or may not restart): it stays stopped."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When it was quarantined, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    strategy_id: str
    """The strategy."""
    failures: int
    """Failures in its life."""
    error: str
    """The last failure."""
    open_orders: str
    """What happened to its working orders (``cancel`` or ``keep``)."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class EngineFault(Message):
    """An engine's adapter failed a call or lost its broker: counts toward failover."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When it happened, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    engine: str
    """The engine (``[engines.NAME]``)."""
    error: str
    """What went wrong."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class EngineFailedOver(Message):
    """New orders now go to a backup engine."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When the switch happened, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    previous: str
    """The engine that failed."""
    engine: str
    """The engine now active."""
    failures: int
    """Failures of the previous engine that triggered the switch."""
    reason: str
    """The last failure, or ``forced``."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class EngineFailedBack(Message):
    """The primary engine recovered and is active again."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When the switch happened, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    previous: str
    """The backup that was active."""
    engine: str
    """The primary, active again."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class TradingHalted(Message):
    """A core actor failed past its intensity: new orders are refused, open ones cancelled."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When trading halted, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    actor: str
    """The core actor that failed."""
    reason: str
    """Its last failure."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAnomaly(Message):
    """An order event broke the order state machine: it was refused, not applied."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When it was seen, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    client_order_id: str
    """The order."""
    strategy_id: str
    """The strategy that owns the order (empty when the order is unknown)."""
    status: str
    """The order's state when the event came (empty when unknown)."""
    event: str
    """What came: a status, or ``Fill``."""
    detail: str
    """What is wrong with it."""
    engine: str
    """Engine that reported it; empty when the runtime did."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class TradeClosed(Message):
    """A round trip ended: a strategy's position in a symbol went back to flat (or flipped)."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """Time of the fill that closed it, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    strategy_id: str
    """The strategy."""
    symbol: str
    """Instrument symbol."""
    side: Side
    """Side of the opening: BUY for a long round trip, SELL for a short one."""
    quantity: float
    """Largest absolute position held during the trip."""
    opened_at: int
    """Time of the fill that opened it, ns since the epoch."""
    pnl: float
    """Realized P&L of the trip, fees deducted."""
    fees: float
    """Commission paid during the trip."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class LossLimitBreached(Message):
    """P&L of the market day fell to or below a daily loss limit (the kill switch)."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """Market time of the mark or fill that breached it, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    strategy_id: str
    """The strategy whose limit it is; empty for the whole account."""
    pnl: float
    """Realized plus unrealized P&L since the day began (or since the last reset)."""
    limit: float
    """The limit, a positive amount."""
    day: str
    """Market day, ``YYYY-MM-DD`` (UTC)."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyPaused(Message):
    """A strategy may send no new orders (an operator, or its losing streak)."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    strategy_id: str
    """The strategy."""
    reason: str
    """Why."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyResumed(Message):
    """A paused strategy may send orders again."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    strategy_id: str
    """The strategy."""
    reason: str
    """Why."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyStarted(Message):
    """A strategy's ``on_start`` ran and it is receiving data."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When it started, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    strategy_id: str
    """The strategy."""
    class_path: str
    """``module:Class`` of the strategy."""
    symbols: tuple[str, ...]
    """Symbols it subscribed to."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyStopped(Message):
    """A strategy's ``on_stop`` ran."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When it stopped, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    strategy_id: str
    """The strategy."""
    orders: int
    """Orders it submitted in its life."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyRemoved(Message):
    """An operator removed a strategy while the runtime runs (``remove_strategy``)."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When it was removed, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    strategy_id: str
    """The strategy."""
    policy: str
    """What was done with its orders and position: ``cancel``, ``keep`` or ``flatten``."""
    cancelled: tuple[str, ...]
    """Client order ids of the working orders a cancel was sent for."""
    flattening: tuple[str, ...]
    """Client order ids of the market orders sent to flatten its positions."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeStateChanged(Message):
    """The runtime moved from one state to another."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When it moved, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    previous: RuntimeState
    """State before."""
    state: RuntimeState
    """State after."""
    reason: str
    """Why it moved."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class FeedFinished(Message):
    """The market-data source has no more data."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When the feed ran dry, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    bars: int
    """Bars published."""
    ticks: int
    """Ticks published."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderReconciled(Message):
    """Recovery found an order's state at its engine different from the journal's,
    and applied the engine's (or resolved an order the engine never had)."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When recovery applied it, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    client_order_id: str
    """The order."""
    strategy_id: str
    """The strategy that owns it."""
    symbol: str
    """Instrument symbol."""
    engine: str
    """The engine asked (bare name)."""
    before: OrderStatus
    """Its state in the journal when the runtime went down."""
    after: OrderStatus
    """Its state after recovery."""
    filled_before: float
    """Filled quantity in the journal."""
    filled_after: float
    """Filled quantity after recovery."""
    fills_recovered: int
    """Executions the engine reported that the journal did not have."""
    detail: str
    """What happened while the runtime was down, readably."""


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryReport(Message):
    """What the runtime rebuilt from its journal and how its engines answered."""

    id: int
    """Process-unique message id."""
    ts_event: int
    """When recovery ended, ns since the epoch."""
    ts_init: int
    """When this object was created, ns since the epoch."""
    journal: str
    """Path of the journal file."""
    previous_runs: int
    """Runs recorded in the journal before this one."""
    orders: int
    """Orders in the journal."""
    open_orders: int
    """Orders the journal had open (working or in flight) when the runtime went down."""
    fills: int
    """Fills in the journal before recovery."""
    fills_recovered: int
    """Fills the engines reported that the journal did not have."""
    reconciled: int
    """Orders whose state recovery changed (each has an ``OrderReconciled``)."""
    unsent: int
    """Orders journaled but never received by their engine: ended REJECTED (RECOVERY)."""
    unresolved: tuple[str, ...]
    """Client order ids still UNKNOWN (their engine did not answer, or is not configured)."""
    positions: tuple[str, ...]
    """Readable differences between the runtime's positions and an engine's, if any."""
    halted: bool
    """True when recovery left trading HALTED (differences an operator must look at)."""
    duration_ms: float
    """How long recovery took."""


Event = (
    Bar
    | Tick
    | OrderIntent
    | Order
    | CancelOrder
    | ModifyOrder
    | OrderUpdate
    | Fill
    | Position
    | ActorStarted
    | ActorStopped
    | ActorFailed
    | ActorRestarted
    | StrategyQuarantined
    | EngineFault
    | EngineFailedOver
    | EngineFailedBack
    | TradingHalted
    | OrderAnomaly
    | TradeClosed
    | LossLimitBreached
    | StrategyPaused
    | StrategyResumed
    | StrategyStarted
    | StrategyStopped
    | StrategyRemoved
    | RuntimeStateChanged
    | FeedFinished
    | OrderReconciled
    | RecoveryReport
)
"""Any domain message."""


# --- in-process control ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flush:
    """Asked of an actor: answered once every message sent before it is handled."""


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Route market data of ``symbols`` (``*`` for all) to the actor ``name``.

    ``stage`` orders delivery of each bar: stage 0 (execution engines: they
    fill working orders at this bar first), then 1 (strategies), then 2
    (observers such as the portfolio, whose bookkeeping can wait).
    """

    name: str
    """Directory name of the subscriber."""
    symbols: tuple[str, ...]
    """Symbols wanted; ``("*",)`` for every symbol."""
    stage: int
    """0 engines, 1 strategies, 2 observers."""


@dataclass(frozen=True, slots=True)
class StartFeed:
    """Told to the feed: begin publishing market data."""


@dataclass(frozen=True, slots=True)
class StopFeed:
    """Asked of the feed: publish nothing more; answered with (bars, ticks) published."""


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Asked of an engine: cancel every working order (e.g. at shutdown)."""

    reason: RejectReason
    """Reason carried by the cancellations."""
    message: str
    """Readable detail."""


@dataclass(frozen=True, slots=True)
class GetSnapshot:
    """Asked of an actor: answered with its kind-specific frozen snapshot."""


@dataclass(frozen=True, slots=True)
class StartChildren:
    """Asked of the supervisor: start every child in order."""


@dataclass(frozen=True, slots=True)
class StopChildren:
    """Asked of the supervisor: stop children in reverse start order.

    Answered with the names of those whose thread did not end in time.
    """

    timeout_s: float
    """How long to wait for each child."""
    names: tuple[str, ...] | None = None
    """Only these children; None stops every child."""


@dataclass(frozen=True, slots=True)
class Handshake:
    """Asked of a newly started actor: answered once its ``on_start`` has run."""


@dataclass(frozen=True, slots=True)
class Probe:
    """Asked by the supervisor's health check: answered with True when healthy.

    Every actor answers it from its mailbox (an actor stuck in a handler does
    not); an engine answers its adapter's ``healthy()``.
    """


@dataclass(frozen=True, slots=True)
class RouteOrders:
    """Told to the order manager on failover/failback: send new orders to ``engine``.

    With ``unknown_at`` set, the orders open at that engine (which did not
    answer) are reported UNKNOWN to their strategies.
    """

    engine: str
    """Directory name of the engine to route to."""
    unknown_at: str = ""
    """Directory name of an engine whose open orders are now UNKNOWN."""
    keep: tuple[str, ...] = ()
    """Client order ids at ``unknown_at`` not to report: it has not received them yet."""


@dataclass(frozen=True, slots=True)
class Reconcile:
    """Asked of an engine on a switch: bring its working orders up to date with the
    broker (updates go out as usual); answered with their client order ids."""


@dataclass(frozen=True, slots=True)
class Crash:
    """Told to any actor, to make it fail on purpose (tests, drills).

    ``mode``: ``raise`` (an exception), ``exit`` (``SystemExit``, as a
    strategy calling ``sys.exit()``) or ``hang`` (block for ``hang_s``).
    """

    mode: str = "raise"
    """How to fail."""
    hang_s: float = 0.0
    """For ``hang``: how long to block."""


@dataclass(frozen=True, slots=True)
class Halt:
    """Told to risk: refuse every new order from now on (``TradingHalted``)."""

    reason: str
    """Why, as shown in each rejection."""


@dataclass(frozen=True, slots=True)
class SetTradingState:
    """Told to risk by the runtime: the trading state is now ``state``.

    ``version`` grows with every transition of the runtime's state machine;
    risk ignores a state older than the one it has (its own kill switch may
    have moved the machine meanwhile).
    """

    state: RuntimeState
    """RUNNING, PAUSED, REDUCING or HALTED (others refuse orders as HALTED does)."""
    version: int
    """The state machine's transition count."""
    reason: str
    """Why, as shown in each refusal."""


@dataclass(frozen=True, slots=True)
class PauseStrategy:
    """Told to risk: refuse new orders of one strategy (cancels still pass)."""

    strategy_id: str
    """The strategy."""
    reason: str
    """Why, as shown in each refusal."""


@dataclass(frozen=True, slots=True)
class ResumeStrategy:
    """Told to risk: a paused strategy may send orders again (its losing streak restarts at 0)."""

    strategy_id: str
    """The strategy."""
    reason: str
    """Why."""


@dataclass(frozen=True, slots=True)
class GetOrders:
    """Asked of the order manager: the orders of one strategy (empty: all), open or all."""

    strategy_id: str = ""
    """Only this strategy's orders; empty for every strategy."""
    open_only: bool = True
    """Only orders not yet in a terminal state."""


@dataclass(frozen=True, slots=True)
class RearmLossGuard:
    """Told to the portfolio on an operator reset: daily P&L is counted afresh from now."""


@dataclass(frozen=True, slots=True)
class ModifyRefused:
    """Told to the order manager: a modification was refused without an update to say
    so (by risk, which did not send it; or by an engine that has no update of the
    order to answer with, e.g. not acknowledged yet).

    The order manager answers the strategy with the order's unchanged state and
    reason ``MODIFY_REFUSED``.
    """

    modify: ModifyOrder
    """The refused request."""
    reason: RejectReason
    """The rule it broke."""
    message: str
    """Readable detail."""
    by_engine: bool = False
    """True when the engine refused it (it was sent: the order leaves
    PENDING_MODIFY); False when risk did (it never left risk)."""


@dataclass(frozen=True, slots=True)
class ModifyOutcome:
    """Told to risk by the order manager: how a modification risk let through ended.

    ``applied`` False: refused (by the order manager or the engine); the order
    keeps its old values. True: the order now has the values given.
    """

    client_order_id: str
    """The order."""
    strategy_id: str
    """Its strategy."""
    applied: bool
    """Whether the engine applied it."""
    quantity: float
    """The order's total quantity now."""
    limit_price: float | None
    """Its limit price now."""
    stop_price: float | None
    """Its stop price now."""


@dataclass(frozen=True, slots=True)
class CancelNotFound:
    """Told to the order manager by an engine whose adapter is the book of record
    (paper): a cancelled order is not working there (it was lost with a replaced
    adapter, or it ended and its final update is already on its way)."""

    client_order_id: str
    """The order."""
    engine: str
    """The engine's name (``[engines.NAME]``)."""


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Told to the feed: stop routing market data to the actor ``name``."""

    name: str
    """Directory name of the subscriber."""


@dataclass(frozen=True, slots=True)
class SetStrategyLimits:
    """Asked of risk: the limits of one strategy (a strategy added while running).

    ``limits`` None: the global ``[risk]`` limits apply to it.
    """

    strategy_id: str
    """The strategy."""
    limits: Any
    """Its :class:`~runtime.config.RiskConfig`, or None."""


@dataclass(frozen=True, slots=True)
class SetLossLimit:
    """Asked of the portfolio: the daily loss limit of one strategy (0: none)."""

    strategy_id: str
    """The strategy."""
    limit: float
    """Its ``daily_loss_limit``."""


@dataclass(frozen=True, slots=True)
class ToEngine:
    """Told to the journal by the order manager: record ``request``, and once that
    record is committed hand the request to the engine ``engine`` (write-ahead).
    Requests are handed on in the order they came."""

    engine: str
    """Directory name of the engine (``engine.NAME``)."""
    request: Order | CancelOrder | ModifyOrder | CancelAll
    """What the engine must receive."""


@dataclass(frozen=True, slots=True)
class Journaled:
    """Told to the journal by the event sink: one event, with the ``seq`` the event
    stream gave it (None: not on the stream, or no stream)."""

    seq: int | None
    """Sequence number on the event stream."""
    event: Message
    """The event."""


@dataclass(frozen=True, slots=True)
class OrderToRecover:
    """One order an engine held when the runtime went down, as the journal knew it."""

    update: OrderUpdate
    """Its last state in the journal (status UNKNOWN: nobody knows it now)."""
    fill_ids: tuple[str, ...]
    """Fills of it the journal has: the adapter need not report them again."""


@dataclass(frozen=True, slots=True)
class RecoverOrders:
    """Asked of an engine at start after a crash: adopt these orders (their last state
    in the journal) and ask the broker about each. Answered with a
    ``concurrent.futures.Future`` of the ids the broker has no record of; the
    broker's answers (missed fills, current states) go out as usual first."""

    orders: tuple[OrderToRecover, ...]
    """Each order the engine held."""


@dataclass(frozen=True, slots=True)
class GetPositions:
    """Asked of an engine: answered with a ``concurrent.futures.Future`` of the
    broker's net position per symbol for this engine, or None when the broker
    cannot tell (paper: the runtime's own books are the record)."""


@dataclass(frozen=True, slots=True)
class ResolveOrders:
    """Told to the order manager by recovery: the engine ``engine`` has no record of
    these recovered (UNKNOWN) orders. One never acknowledged with nothing filled
    ends REJECTED (it never got there), any other CANCELLED; reason RECOVERY."""

    engine: str
    """The engine's bare name."""
    missing: tuple[str, ...]
    """Client order ids."""
