"""The risk actor: every order intent passes here before it reaches an engine.

The rules are :mod:`runtime.risk_rules` (pure; their reference is
``docs/risk.md``), judged with each strategy's effective limits: its
``[strategies.risk]`` table merged over ``[risk]`` by the settings loader.
An accepted intent becomes an ``Order`` for the order manager, which routes
it; a refused one becomes a REJECTED ``OrderUpdate`` with a reason code and
a readable message, which the order manager records and passes to the
strategy (``on_order``) and the event sink. Cancels are never judged: they
go on to the order manager in order behind the strategy's intents.
Modifications are judged as the order they would make.

What risk knows, it learns from the order manager (fills, ends of orders,
applied modifications) and the portfolio (closed round trips, loss-limit
breaches); bars never wake it (every intent carries the price it needs).

Trading state: the runtime tells risk its state (``SetTradingState``:
RUNNING, PAUSED, REDUCING, HALTED), versioned so that a state told before
risk's own kill switch fired is ignored. Per strategy, an operator's
``PauseStrategy`` or ``max_consecutive_losses`` losing round trips in a row
pause it until ``ResumeStrategy``.

The kill switch: a ``LossLimitBreached`` from the portfolio halts trading at
once (the next intent is refused), sends a cancel-all down the order path
(behind every order already accepted, so none of them can start working
after it) and asks the runtime to enter HALTED. After ``Halt`` (a core actor
failed past its intensity) every new order is refused for the rest of the
run: no reset lifts it.

Modifications: one at a time per order; risk holds the one it let through
until the order manager says how it ended (``ModifyOutcome``).

Per-strategy limits change while running: ``SetStrategyLimits`` (asked when
an operator adds a strategy) sets or clears one strategy's override; its
rate-limit bucket starts afresh under the new limits.

Everything survives a restart of the risk actor (``handover``), the
per-strategy limits included.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from runtime.actor import LeanActor
from runtime.config import RiskConfig
from runtime.directory import Directory
from runtime.messages import (
    CancelAll,
    CancelOrder,
    Fill,
    Flush,
    GetSnapshot,
    Halt,
    LossLimitBreached,
    ModifyOrder,
    ModifyOutcome,
    ModifyRefused,
    Order,
    OrderIntent,
    OrderStatus,
    OrderUpdate,
    PauseStrategy,
    RejectReason,
    ResumeStrategy,
    RuntimeState,
    SetStrategyLimits,
    SetTradingState,
    StrategyPaused,
    StrategyResumed,
    TradeClosed,
    next_id,
    unfilled_update,
)
from runtime.names import EVENTS, ORDERS, ActorKind, strategy_actor
from runtime.risk_rules import RiskLedger, check_intent, check_modify

__all__ = ["RiskActor", "RiskBook", "RiskStats", "order_from_intent"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskStats:
    """Counters of the risk actor, as answered to ``GetSnapshot``."""

    accepted: int
    """Intents forwarded to the order manager."""
    rejected: int
    """Intents refused."""
    by_strategy: tuple[tuple[str, int, int], ...]
    """(strategy id, intents received, intents refused), sorted by id."""
    state: RuntimeState = RuntimeState.RUNNING
    """The trading state risk enforces."""
    halted: str = ""
    """Why trading is halted; empty while orders are accepted."""
    paused: tuple[tuple[str, str], ...] = ()
    """(strategy id, why) of every paused strategy, sorted."""


@dataclass(slots=True)
class RiskBook:
    """The risk actor's state, handed from a failed risk actor to its replacement."""

    ledger: RiskLedger = field(default_factory=RiskLedger)
    """Per strategy: positions, open orders, marks, rate bucket, streak, pause."""
    accepted: int = 0
    rejected: int = 0
    intents: dict[str, list[int]] = field(default_factory=dict)
    """Per strategy: [received, refused]."""
    state: RuntimeState = RuntimeState.RUNNING
    state_version: int = 0
    state_reason: str = ""
    halted: str = ""
    """Why the kill switch halted trading; empty otherwise (an operator's reset clears it)."""
    core_failure: str = ""
    """Why a core actor's failure halted trading for good (``Halt``); empty otherwise."""
    modifies: dict[str, ModifyOrder] = field(default_factory=dict)
    """Accepted modifications not yet answered by the engine, by client order id."""
    overrides: dict[str, RiskConfig] = field(default_factory=dict)
    """Effective limits of the strategies that have their own (``[strategies.risk]``,
    or set while running); the others use ``[risk]``."""

    def trading(self) -> tuple[RuntimeState, str]:
        """The state risk enforces and why; a core actor's failure overrides all."""
        if self.core_failure:
            return RuntimeState.HALTED, self.core_failure
        return self.state, self.halted or self.state_reason


def order_from_intent(intent: OrderIntent) -> Order:
    """The order an approved intent becomes (same client order id, market time)."""
    return Order(
        id=next_id(),
        ts_event=intent.ts_event,
        ts_init=time.time_ns(),
        client_order_id=intent.client_order_id,
        strategy_id=intent.strategy_id,
        symbol=intent.symbol,
        side=intent.side,
        quantity=intent.quantity,
        order_type=intent.order_type,
        limit_price=intent.limit_price,
        stop_price=intent.stop_price,
        time_in_force=intent.time_in_force,
        ts_intent=intent.ts_init,
    )


class RiskActor(LeanActor):
    """Pre-trade risk checks between the strategies and the order manager."""

    kind = ActorKind.RISK

    def __init__(
        self,
        *,
        name: str,
        directory: Directory,
        limits: RiskConfig,
        overrides: Mapping[str, RiskConfig],
        on_halt: Callable[[str], int] | None = None,
        carry: RiskBook | None = None,
    ) -> None:
        """``on_halt(reason)`` is called (in this thread) when the kill switch fires;
        it moves the runtime to HALTED and returns the state machine's version.
        ``overrides`` are ignored with a ``carry``, which has its own."""
        super().__init__(name=name, directory=directory)
        self._limits = limits
        self._on_halt = on_halt
        if carry is None:
            carry = RiskBook(overrides=dict(overrides))
        self.book = carry
        self._overrides = carry.overrides

    def handover(self, stuck: bool) -> RiskBook:
        return copy.deepcopy(self.book) if stuck else self.book

    def limits_of(self, strategy_id: str) -> RiskConfig:
        """The effective limits of one strategy."""
        return self._overrides.get(strategy_id, self._limits)

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        book = self.book
        if kind is OrderIntent:
            self._on_intent(message)
        elif kind is Fill:
            book.ledger.on_fill(message)
        elif kind is OrderUpdate:
            self._on_update(message)
        elif kind is CancelOrder or kind is CancelAll:
            if not self.directory.tell(ORDERS, message):
                logger.error("{}: the order manager is not running: {} lost", self.name, message)
        elif kind is ModifyOrder:
            self._on_modify(message)
        elif kind is TradeClosed:
            self._on_trade_closed(message)
        elif kind is LossLimitBreached:
            self._kill_switch(message)
        elif kind is ModifyOutcome:
            self._modify_answered(message)
        elif kind is SetTradingState:
            if message.version >= book.state_version:
                book.state, book.state_version = message.state, message.version
                book.state_reason = message.reason
                if message.state is not RuntimeState.HALTED:
                    book.halted = ""
        elif kind is Halt:
            # A core actor is gone for good: only a new runtime lifts this.
            book.core_failure = message.reason
        elif kind is PauseStrategy:
            self._pause(message.strategy_id, RejectReason.PAUSED, message.reason)
        elif kind is ResumeStrategy:
            self._resume(message.strategy_id, message.reason)
        elif kind is SetStrategyLimits:
            self._set_limits(message.strategy_id, message.limits)
        elif kind is GetSnapshot:
            return self.stats()
        elif kind is not Flush:
            raise TypeError(f"{self.name} cannot handle {kind.__name__}")
        return None

    def stats(self) -> RiskStats:
        """Counters, state and paused strategies."""
        book = self.book
        return RiskStats(
            accepted=book.accepted,
            rejected=book.rejected,
            by_strategy=tuple(sorted((s, n, r) for s, (n, r) in book.intents.items())),
            state=book.trading()[0],
            halted=book.core_failure or book.halted,
            paused=tuple(
                sorted(
                    (sid, pause[1])
                    for sid in book.ledger.strategies()
                    if (pause := book.ledger.exposure(sid).paused) is not None
                )
            ),
        )

    # --- orders --------------------------------------------------------------

    def _on_intent(self, intent: OrderIntent) -> None:
        book = self.book
        counts = book.intents.setdefault(intent.strategy_id, [0, 0])
        counts[0] += 1
        exposure = book.ledger.exposure(intent.strategy_id)
        mode, mode_reason = book.trading()
        breach = check_intent(
            intent,
            self.limits_of(intent.strategy_id),
            exposure,
            mode=mode,
            mode_reason=mode_reason,
            now=time.monotonic(),
        )
        if breach is None:
            order = order_from_intent(intent)
            if self.directory.tell(ORDERS, order):
                exposure.order_sent(intent)
                book.accepted += 1
                return
            breach = (RejectReason.HALTED, "the order manager is not running")
        book.rejected += 1
        counts[1] += 1
        update = unfilled_update(intent, OrderStatus.REJECTED, *breach)
        if not self.directory.tell(ORDERS, update):
            self.directory.tell(strategy_actor(intent.strategy_id), update)
            self.directory.tell(EVENTS, update)

    def _on_update(self, update: OrderUpdate) -> None:
        """The order manager passes terminal updates only: the order no longer counts."""
        if update.status.is_terminal:
            self.book.modifies.pop(update.client_order_id, None)
            self.book.ledger.exposure(update.strategy_id).on_update(update)

    def _modify_answered(self, outcome: ModifyOutcome) -> None:
        if self.book.modifies.pop(outcome.client_order_id, None) is None:
            return
        exposure = self.book.ledger.exposure(outcome.strategy_id)
        if outcome.applied:
            exposure.on_modified(
                outcome.client_order_id,
                outcome.quantity,
                outcome.limit_price,
                outcome.stop_price,
            )
        else:
            exposure.modify_refused(outcome.client_order_id)

    def _on_modify(self, modify: ModifyOrder) -> None:
        book = self.book
        if modify.client_order_id in book.modifies:
            text = "a modify of this order is still pending"
            self.directory.tell(ORDERS, ModifyRefused(modify, RejectReason.MODIFY_REFUSED, text))
            return
        mode, mode_reason = book.trading()
        breach = check_modify(
            modify,
            self.limits_of(modify.strategy_id),
            book.ledger.exposure(modify.strategy_id),
            mode=mode,
            mode_reason=mode_reason,
            now=time.monotonic(),
        )
        if breach is None:
            book.ledger.exposure(modify.strategy_id).modify_sent(modify)
            book.modifies[modify.client_order_id] = modify
            self.directory.tell(ORDERS, modify)
        else:
            self.directory.tell(ORDERS, ModifyRefused(modify, *breach))

    # --- state ---------------------------------------------------------------

    def _kill_switch(self, breach: LossLimitBreached) -> None:
        book = self.book
        who = f"strategy {breach.strategy_id}" if breach.strategy_id else "the account"
        reason = (
            f"kill switch: daily P&L of {who} {breach.pnl:,.2f} on {breach.day}"
            f" reached the loss limit -{breach.limit:,.2f}"
        )
        if book.halted:
            return  # already halted; the portfolio published the breach itself
        logger.critical("{}: {}", self.name, reason)
        book.halted = reason
        book.state, book.state_reason = RuntimeState.HALTED, reason
        # Cancel at once, behind every order accepted so far (the runtime's own
        # cancel-all, on entering HALTED, follows; a second one finds nothing).
        self.directory.tell(ORDERS, CancelAll(RejectReason.HALTED, f"trading halted: {reason}"))
        if self._on_halt is not None:
            version = self._on_halt(reason)
            book.state_version = max(book.state_version, version)

    def _on_trade_closed(self, trade: TradeClosed) -> None:
        limits = self.limits_of(trade.strategy_id)
        exposure = self.book.ledger.exposure(trade.strategy_id)
        if exposure.trade_closed(trade.pnl, limits.max_consecutive_losses):
            text = exposure.pause_losing_streak(limits.max_consecutive_losses)
            self._announce_pause(trade.strategy_id, text)

    def _set_limits(self, strategy_id: str, limits: object) -> None:
        if limits is None:
            self._overrides.pop(strategy_id, None)
        elif isinstance(limits, RiskConfig):
            self._overrides[strategy_id] = limits
        else:
            raise TypeError(
                f"limits of strategy {strategy_id!r} must be a RiskConfig or None, "
                f"got {type(limits).__name__}"
            )
        exposure = self.book.ledger.get(strategy_id)
        if exposure is not None:
            exposure.limits_changed()

    def _pause(self, strategy_id: str, reason: RejectReason, text: str) -> None:
        self.book.ledger.exposure(strategy_id).pause(text, code=reason)
        self._announce_pause(strategy_id, text)

    def _announce_pause(self, strategy_id: str, text: str) -> None:
        now = time.time_ns()
        logger.warning("{}: strategy {} paused: {}", self.name, strategy_id, text)
        self.directory.tell(
            EVENTS,
            StrategyPaused(
                id=next_id(), ts_event=now, ts_init=now, strategy_id=strategy_id, reason=text
            ),
        )

    def _resume(self, strategy_id: str, text: str) -> None:
        self.book.ledger.exposure(strategy_id).resume()
        now = time.time_ns()
        self.directory.tell(
            EVENTS,
            StrategyResumed(
                id=next_id(), ts_event=now, ts_init=now, strategy_id=strategy_id, reason=text
            ),
        )
