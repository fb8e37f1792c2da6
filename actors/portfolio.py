"""The portfolio actor: positions, cash and P&L, per strategy and in total.

The accounting is :class:`runtime.ledger.Ledger` (shared with the backtester);
this actor feeds it fills and marks it to market on every bar or tick, and
publishes a ``Position`` event after each fill.

Next to the ledger it keeps, from the ledger's own results
(:mod:`runtime.pnl_guard`):

- :class:`~runtime.pnl_guard.RoundTrips`: a fill that closes or flips a
  round trip sends a ``TradeClosed`` to risk (losing streaks) and to the
  event sink;
- :class:`~runtime.pnl_guard.LossGuard`: a fill or mark that takes a
  strategy's, or the account's, P&L of the market day to ``-daily_loss_limit``
  or below sends one ``LossLimitBreached`` to risk (the kill switch) and to
  the event sink. ``RearmLossGuard`` (an operator's reset) restarts every
  day's count from the P&L at that moment, each scope with a fresh allowance
  of its full limit. With no limit configured the guard is never called.
  ``SetLossLimit`` (a strategy added while running) gives one strategy a
  limit from now on, or lifts it (0).

The three are handed together (:class:`PortfolioCarry`) to a replacement when
the actor fails, so a restart loses no booking, no open trip and no latch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runtime.actor import LeanActor
from runtime.directory import Directory
from runtime.ledger import Ledger, StrategyAccount
from runtime.messages import (
    Bar,
    Fill,
    Flush,
    GetSnapshot,
    LossLimitBreached,
    RearmLossGuard,
    SetLossLimit,
    Tick,
)
from runtime.names import EVENTS, RISK, ActorKind
from runtime.pnl_guard import LossGuard, RoundTrips

__all__ = ["PortfolioActor", "PortfolioCarry", "PortfolioSnapshot"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioSnapshot:
    """The portfolio at one moment, as answered to ``GetSnapshot``."""

    cash: float
    """Starting cash plus every cash flow."""
    equity: float
    """Cash plus positions at their marks."""
    accounts: tuple[StrategyAccount, ...]
    """One per strategy that traded, sorted by id."""
    total: StrategyAccount
    """All strategies together."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioCarry:
    """What a failed portfolio actor hands to its replacement (its ``handover``).

    The objects inside are mutable and belong to one actor at a time.
    """

    ledger: Ledger
    """The books."""
    trips: RoundTrips
    """Open round trips."""
    guard: LossGuard
    """Daily loss baselines and latches, with the limits they were built with."""


class PortfolioActor(LeanActor):
    """Keeps the books, reports closed round trips and breached daily loss limits.

    Args:
        name: directory name.
        directory: where ``RISK`` and ``EVENTS`` are found.
        ledger: the books to start from, with no fill booked yet (ignored
            with ``carry``).
        loss_limits: effective ``daily_loss_limit`` per strategy id (0 or
            absent: none; ignored with ``carry``).
        account_loss_limit: the ``[risk]`` daily loss limit of the whole
            account (0: none; ignored with ``carry``).
        carry: what the failed predecessor handed over; its guard keeps the
            limits it was built with.

    Raises:
        ValueError: neither ``ledger`` nor ``carry``, a ``ledger`` with fills
            already booked (its round trips and day P&L would start wrong:
            pass its carry instead), or a bad limit.
    """

    kind = ActorKind.PORTFOLIO

    def __init__(
        self,
        *,
        name: str,
        directory: Directory,
        ledger: Ledger | None = None,
        loss_limits: Mapping[str, float] | None = None,
        account_loss_limit: float = 0.0,
        carry: PortfolioCarry | None = None,
    ) -> None:
        super().__init__(name=name, directory=directory)
        if carry is None:
            if ledger is None:
                raise ValueError(f"{name}: needs a ledger or a carry")
            if ledger.totals().fills:
                raise ValueError(f"{name}: a ledger with fills booked needs its carry")
            carry = PortfolioCarry(
                ledger=ledger,
                trips=RoundTrips(),
                guard=LossGuard(loss_limits or {}, account_loss_limit),
            )
        self._carry = carry
        self._ledger = carry.ledger
        self._trips = carry.trips
        self._guard = carry.guard
        self._guarded = carry.guard.active
        self._told_risk = False

    def handover(self, stuck: bool) -> PortfolioCarry:
        return copy.deepcopy(self._carry) if stuck else self._carry

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        if kind is Bar:
            self._ledger.mark(message.symbol, message.close, ts_event=message.ts_event)
            if self._guarded:
                self._report(self._guard.on_mark(message.symbol, message.close, message.ts_event))
        elif kind is Fill:
            self._on_fill(message)
        elif kind is Tick:
            self._ledger.mark(message.symbol, message.price, ts_event=message.ts_event)
            if self._guarded:
                self._report(self._guard.on_mark(message.symbol, message.price, message.ts_event))
        elif kind is GetSnapshot:
            return self.snapshot()
        elif kind is RearmLossGuard:
            self._guard.rearm()
        elif kind is SetLossLimit:
            self._set_loss_limit(message.strategy_id, message.limit)
        elif kind is Flush:
            # True when risk was told something since the last flush: a lockstep
            # feed then lets risk act on it before the next event.
            told, self._told_risk = self._told_risk, False
            return told
        else:
            raise TypeError(f"{self.name} cannot handle {kind.__name__}")
        return None

    def _set_loss_limit(self, strategy_id: str, limit: float) -> None:
        guard = self._guard
        # A strategy the guard did not track starts from its books as they are now.
        guard.set_limit(strategy_id, limit, self._ledger.account(strategy_id).positions)
        self._guarded = guard.active

    def snapshot(self) -> PortfolioSnapshot:
        """The books now."""
        ledger = self._ledger
        return PortfolioSnapshot(
            cash=ledger.cash,
            equity=ledger.equity,
            accounts=ledger.accounts(),
            total=ledger.totals(),
        )

    def _on_fill(self, fill: Fill) -> None:
        position = self._ledger.apply_fill(fill)
        tell = self.directory.tell
        tell(EVENTS, position)
        closed = self._trips.on_fill(fill, position)
        if closed is not None:
            self._told_risk = True
            tell(RISK, closed)
            tell(EVENTS, closed)
        if self._guarded:
            self._report(self._guard.on_fill(position))

    def _report(self, breaches: tuple[LossLimitBreached, ...]) -> None:
        for breach in breaches:
            self._told_risk = True
            self.directory.tell(RISK, breach)
            self.directory.tell(EVENTS, breach)
