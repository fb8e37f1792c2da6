"""Directory names of the runtime's actors: the one place they are spelled."""

from __future__ import annotations

__all__ = [
    "EVENTS",
    "FEED",
    "PORTFOLIO",
    "RISK",
    "SUPERVISOR",
    "engine_actor",
    "strategy_actor",
]

SUPERVISOR = "supervisor"
"""The supervisor: parent of all, receives failure reports."""
FEED = "feed"
"""The market-data feed."""
RISK = "risk"
"""The risk actor: the single entry of orders into execution."""
PORTFOLIO = "portfolio"
"""The portfolio (positions, cash, P&L)."""
EVENTS = "events"
"""The event sink: every event the runtime publishes goes here."""


def strategy_actor(strategy_id: str) -> str:
    """Name of the actor hosting strategy ``strategy_id``."""
    return f"strategy.{strategy_id}"


def engine_actor(engine: str) -> str:
    """Name of the actor hosting execution engine ``engine``."""
    return f"engine.{engine}"
