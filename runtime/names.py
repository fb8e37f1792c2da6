"""Directory names and kinds of the runtime's actors: the one place they are spelled."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "EVENTS",
    "FEED",
    "JOURNAL",
    "ORDERS",
    "ORDER_PATH",
    "PORTFOLIO",
    "RISK",
    "SUPERVISOR",
    "ActorKind",
    "engine_actor",
    "strategy_actor",
]


class ActorKind(StrEnum):
    """What an actor is; decides how the supervisor treats its failure."""

    SUPERVISOR = "supervisor"
    FEED = "feed"
    STRATEGY = "strategy"
    RISK = "risk"
    ORDERS = "orders"
    ENGINE = "engine"
    PORTFOLIO = "portfolio"
    EVENTS = "events"
    JOURNAL = "journal"

    @property
    def is_core(self) -> bool:
        """True for the actors the runtime cannot trade correctly without."""
        return self is not ActorKind.STRATEGY


SUPERVISOR = "supervisor"
"""The supervisor: parent of all, receives failure reports."""
FEED = "feed"
"""The market-data feed."""
RISK = "risk"
"""The risk actor: every order intent is judged here before it reaches the order manager."""
ORDERS = "orders"
"""The order manager: owner of every order's state, routes orders to the active engine."""
ORDER_PATH = (RISK, ORDERS)
"""Where an order's cancel enters, behind the orders on their way: risk, else (risk
gone) the order manager; with both gone, every engine (the one holding it acts)."""
PORTFOLIO = "portfolio"
"""The portfolio (positions, cash, P&L)."""
EVENTS = "events"
"""The event sink: every event the runtime publishes goes here."""
JOURNAL = "journal"
"""The journal: every durable event, and every request bound for an engine (write-ahead)."""


def strategy_actor(strategy_id: str) -> str:
    """Name of the actor hosting strategy ``strategy_id``."""
    return f"strategy.{strategy_id}"


def engine_actor(engine: str) -> str:
    """Name of the actor hosting execution engine ``engine``."""
    return f"engine.{engine}"
