"""The portfolio actor: positions, cash and P&L, per strategy and in total.

The accounting is :class:`runtime.ledger.Ledger` (shared with the backtester);
this actor feeds it fills and marks it to market on every bar or tick, and
publishes a ``Position`` event after each fill. The ledger is handed to a
replacement when the actor fails, so a restart loses no booking.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from runtime.actor import LeanActor
from runtime.directory import Directory
from runtime.ledger import Ledger, StrategyAccount
from runtime.messages import Bar, Fill, Flush, GetSnapshot, Tick
from runtime.names import EVENTS, ActorKind

__all__ = ["PortfolioActor", "PortfolioSnapshot"]


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


class PortfolioActor(LeanActor):
    """Keeps the books."""

    kind = ActorKind.PORTFOLIO

    def __init__(self, *, name: str, directory: Directory, ledger: Ledger) -> None:
        super().__init__(name=name, directory=directory)
        self._ledger = ledger

    def handover(self, stuck: bool) -> Ledger:
        return copy.deepcopy(self._ledger) if stuck else self._ledger

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        if kind is Bar:
            self._ledger.mark(message.symbol, message.close, ts_event=message.ts_event)
        elif kind is Fill:
            self.directory.tell(EVENTS, self._ledger.apply_fill(message))
        elif kind is Tick:
            self._ledger.mark(message.symbol, message.price, ts_event=message.ts_event)
        elif kind is GetSnapshot:
            return self.snapshot()
        elif kind is not Flush:
            raise TypeError(f"{self.name} cannot handle {kind.__name__}")
        return None

    def snapshot(self) -> PortfolioSnapshot:
        """The books now."""
        ledger = self._ledger
        return PortfolioSnapshot(
            cash=ledger.cash,
            equity=ledger.equity,
            accounts=ledger.accounts(),
            total=ledger.totals(),
        )
