"""The paper adapter: fills orders locally against the runtime's market data.

All matching, slippage and commission logic is :class:`runtime.matching.MatchingEngine`,
the same code the simulated venue and the backtester use. See
``docs/paper-engine.md`` for the fill semantics.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence

from actors.brokers.base import AdapterEvent, BrokerAdapter, resolved
from runtime.config import PaperConfig
from runtime.matching import MatchingEngine
from runtime.messages import Bar, Order, OrderToRecover, RejectReason, Tick

__all__ = ["PaperAdapter"]


class PaperAdapter(BrokerAdapter):
    """Simulated execution inside the runtime process."""

    wants_market_data = True

    def __init__(self, *, engine: str, config: PaperConfig, clock: Callable[[], int]) -> None:
        super().__init__(engine=engine)
        self._matcher = MatchingEngine(config, engine=engine, clock=clock)

    def submit(self, order: Order) -> Sequence[AdapterEvent]:
        return self._matcher.submit(order)

    def knows_all_orders(self) -> bool:
        return True

    def recover(
        self, orders: Sequence[OrderToRecover]
    ) -> concurrent.futures.Future[tuple[str, ...]]:
        """In-process matching dies with the runtime: every order it does not list as
        working (after a crash: all of them) is unknown to it. No event."""
        working = set(self._matcher.working_orders())
        return resolved(
            tuple(
                o.update.client_order_id for o in orders if o.update.client_order_id not in working
            )
        )

    def cancel(self, client_order_id: str, ts_event: int) -> Sequence[AdapterEvent]:
        return self._matcher.cancel(client_order_id, ts_event)

    def modify(
        self,
        client_order_id: str,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
        ts_event: int,
    ) -> Sequence[AdapterEvent]:
        return self._matcher.modify(client_order_id, quantity, limit_price, stop_price, ts_event)

    def cancel_all(
        self, ts_event: int, reason: RejectReason, message: str
    ) -> Sequence[AdapterEvent]:
        return self._matcher.cancel_all(ts_event, reason, message)

    def working_orders(self) -> tuple[str, ...]:
        return self._matcher.working_orders()

    def on_bar(self, bar: Bar) -> Sequence[AdapterEvent]:
        return self._matcher.on_bar(bar)

    def on_tick(self, tick: Tick) -> Sequence[AdapterEvent]:
        return self._matcher.on_tick(tick)
