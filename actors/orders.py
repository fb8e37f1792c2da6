"""The order manager actor: the one owner of every order's state, and its router.

Where it sits::

    strategy --intent--> risk --Order / refusal--> orders --Order--> active engine
    engine --OrderUpdate / Fill--> orders --> strategy, portfolio (fills),
                                              risk (fills, ends, modifies), event sink

Every order event passes through :class:`runtime.order_states.OrderBook`,
which checks it against the one transition table. An event that breaks it
(an illegal transition, a filled quantity that goes down or past the
order's quantity, anything after a terminal state, an update for an order
nobody sent) is refused: it is not applied, not forwarded, logged as an
error and published as an ``OrderAnomaly``. A fill is an execution that
happened whatever the order's state says, so a fill the book refuses for
any reason but a repeated ``fill_id`` is still booked by the strategy and
the portfolio (and reported as an anomaly).

Routing: new orders go to the active engine; the supervisor's
``RouteOrders`` switches it (failover, failback) and, when an engine cannot
say what is working there, has its open orders reported UNKNOWN (once each,
except those it has not received yet). Cancels and modifications go to the
engine that holds the order, and only the strategy that owns an order may
cancel or modify it. A ``CancelAll`` (a halt) goes to every engine, behind
every order routed before it.

Risk learns from here how each modification it let through ended
(``ModifyOutcome``), so that its exposure follows the engine's.

Requests are published too: PENDING_CANCEL and PENDING_MODIFY updates go to
the strategy and the event stream when a cancel or modify is sent.

A client order id the book has seen before is refused with
``DUPLICATE_ORDER``; the order that owns the id is untouched.

State survives a restart (``handover``): the book, the active engine, the
counters.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from typing import Any

from loguru import logger

from runtime.actor import LeanActor
from runtime.crashpoints import crash_point
from runtime.directory import Directory
from runtime.messages import (
    CancelAll,
    CancelNotFound,
    CancelOrder,
    Fill,
    Flush,
    GetOrders,
    GetSnapshot,
    ModifyOrder,
    ModifyOutcome,
    ModifyRefused,
    Order,
    OrderAnomaly,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    ResolveOrders,
    RouteOrders,
    ToEngine,
    next_id,
    unfilled_update,
)
from runtime.names import EVENTS, JOURNAL, PORTFOLIO, RISK, ActorKind, strategy_actor
from runtime.order_states import (
    DuplicateOrderError,
    IllegalTransitionError,
    OrderBook,
    UnknownOrderError,
)

__all__ = ["OrderManager", "OrdersCarry", "OrdersStats"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrdersStats:
    """Counters of the order manager, as answered to ``GetSnapshot``."""

    engine: str
    """Directory name of the engine new orders go to."""
    routed: int
    """Orders sent to an engine."""
    refused: int
    """Orders refused before reaching an engine (by risk, or as duplicates)."""
    anomalies: int
    """Order events refused by the state machine."""
    open_orders: tuple[tuple[str, str], ...]
    """(client order id, engine directory name) of every open order, sorted."""


@dataclass(slots=True)
class OrdersCarry:
    """The order manager's state, handed from a failed actor to its replacement."""

    engine: str
    book: OrderBook
    routed: int = 0
    refused: int = 0
    anomalies: int = 0


class OrderManager(LeanActor):
    """Owns order state; routes orders to engines and their events to everyone else."""

    kind = ActorKind.ORDERS

    def __init__(
        self,
        *,
        name: str,
        directory: Directory,
        engine: str,
        engines: tuple[str, ...] = (),
        carry: OrdersCarry | None = None,
        journal: bool = False,
    ) -> None:
        """``engine``: directory name of the engine new orders go to at first;
        ``engines``: every engine's directory name (a cancel-all reaches them all);
        ``journal``: requests for engines go through the journal (write-ahead)."""
        super().__init__(name=name, directory=directory)
        self.carry = carry if carry is not None else OrdersCarry(engine=engine, book=OrderBook())
        self._engines = engines or (engine,)
        self._journal = journal

    def handover(self, stuck: bool) -> OrdersCarry:
        return copy.deepcopy(self.carry) if stuck else self.carry

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        if kind is Order:
            self._route(message)
        elif kind is OrderUpdate:
            self._on_update(message)
        elif kind is Fill:
            self._on_fill(message)
        elif kind is CancelOrder:
            self._on_cancel(message)
        elif kind is ModifyOrder:
            self._on_modify(message)
        elif kind is ModifyRefused:
            self._modify_refused(
                message.modify,
                f"{message.reason.value}: {message.message}",
                sent=message.by_engine,
                tell_risk=False,
            )
        elif kind is CancelNotFound:
            self._cancel_not_found(message)
        elif kind is CancelAll:
            for engine in self._engines:
                self._to_engine(engine, message)
        elif kind is ResolveOrders:
            self._resolve(message)
        elif kind is RouteOrders:
            self._route_orders(message)
        elif kind is GetOrders:
            return self.carry.book.orders(message.strategy_id, open_only=message.open_only)
        elif kind is GetSnapshot:
            carry = self.carry
            return OrdersStats(
                engine=carry.engine,
                routed=carry.routed,
                refused=carry.refused,
                anomalies=carry.anomalies,
                open_orders=tuple(
                    sorted((v.client_order_id, v.engine) for v in carry.book.orders())
                ),
            )
        elif kind is not Flush:
            raise TypeError(f"{self.name} cannot handle {kind.__name__}")
        return None

    # --- orders in -----------------------------------------------------------

    def _route(self, order: Order) -> None:
        carry = self.carry
        engine = carry.engine
        try:
            carry.book.route(order, engine, now=time.time_ns())
        except DuplicateOrderError as exc:
            carry.refused += 1
            update = unfilled_update(
                order, OrderStatus.REJECTED, RejectReason.DUPLICATE_ORDER, str(exc)
            )
            logger.error("{}: {}", self.name, exc)
            self._forward(update, to_risk=True)
            return
        if self._to_engine(engine, order):
            carry.routed += 1
            return
        update = unfilled_update(
            order,
            OrderStatus.REJECTED,
            RejectReason.NO_ENGINE,
            f"engine {engine!r} is not running",
        )
        self._on_update(update)

    def _on_cancel(self, cancel: CancelOrder) -> None:
        book = self.carry.book
        try:
            before = book.status(cancel.client_order_id)
            engine = book.request_cancel(
                cancel.client_order_id, now=time.time_ns(), strategy_id=cancel.strategy_id
            )
        except (UnknownOrderError, IllegalTransitionError) as exc:
            logger.warning("{}: cancel from {} refused: {}", self.name, cancel.strategy_id, exc)
            return
        if engine is None:
            return
        if before is not OrderStatus.PENDING_CANCEL:
            self._announce(cancel.client_order_id, OrderStatus.PENDING_CANCEL)
        self._to_engine(engine, cancel)

    def _on_modify(self, modify: ModifyOrder) -> None:
        book = self.carry.book
        try:
            engine = book.request_modify(modify, now=time.time_ns())
        except (UnknownOrderError, IllegalTransitionError) as exc:
            self._modify_refused(modify, str(exc))
            return
        if engine is None:
            self._modify_refused(modify, "the order is no longer working")
            return
        self._announce(modify.client_order_id, OrderStatus.PENDING_MODIFY)
        self._to_engine(engine, modify)

    def _to_engine(
        self, engine: str, request: Order | CancelOrder | ModifyOrder | CancelAll
    ) -> bool:
        """Send ``request`` to ``engine``, through the journal when there is one (it
        hands the request on once recorded). False when it cannot be sent."""
        if self._journal:
            return self.directory.tell(JOURNAL, ToEngine(engine, request))
        return self.directory.tell(engine, request)

    def _announce(self, client_order_id: str, status: OrderStatus) -> None:
        """Publish a request's state (PENDING_CANCEL, PENDING_MODIFY) as the book has it."""
        update = self._view_update(client_order_id, None, "")
        if update is not None and update.status is status:
            self._forward(update, to_risk=False)

    def _view_update(
        self,
        client_order_id: str,
        reason: RejectReason | None,
        text: str,
        status: OrderStatus | None = None,
    ) -> OrderUpdate | None:
        """An update carrying the book's view of an order (``status`` to override)."""
        view = self.carry.book.get(client_order_id)
        if view is None:
            return None
        now = time.time_ns()
        return OrderUpdate(
            id=next_id(),
            ts_event=now,
            ts_init=now,
            client_order_id=view.client_order_id,
            strategy_id=view.strategy_id,
            symbol=view.symbol,
            side=view.side,
            status=view.status if status is None else status,
            quantity=view.quantity,
            filled_quantity=view.filled_quantity,
            avg_fill_price=view.avg_fill_price,
            reason=reason,
            message=text,
            engine="",
        )

    def _modify_refused(
        self, modify: ModifyOrder, text: str, *, sent: bool = False, tell_risk: bool = True
    ) -> None:
        """A modification refused without an engine's update: by risk (never sent), by
        the book (risk let it through), or, ``sent``, by an engine with no update of
        the order to answer with (not acknowledged yet, or ended). The order keeps
        its values; risk is told unless the refusal is its own."""
        book = self.carry.book
        coid = modify.client_order_id
        if sent:
            after = book.drop_modify(coid, now=time.time_ns())
            if after is not None:
                update = self._view_update(coid, RejectReason.MODIFY_REFUSED, text)
                assert update is not None
                self._forward(update, to_risk=False)
            tell_risk = True
        else:
            status = book.status(coid)
            update = self._view_update(coid, RejectReason.MODIFY_REFUSED, text)
            if status is None or status.is_terminal or update is None:
                # Ended (its final update has told everyone) or unknown here.
                logger.info("{}: modify of {} refused: {}", self.name, coid, text)
            elif update.strategy_id != modify.strategy_id:
                logger.warning(
                    "{}: modify of {} from {} refused: {}",
                    self.name,
                    coid,
                    modify.strategy_id,
                    text,
                )
            else:
                self._forward(update, to_risk=False)
        if tell_risk:
            self.directory.tell(
                RISK, ModifyOutcome(coid, modify.strategy_id, False, 0.0, None, None)
            )

    def _cancel_not_found(self, message: CancelNotFound) -> None:
        """The engine (the book of record) does not have the order: it is not working."""
        book = self.carry.book
        status = book.status(message.client_order_id)
        if status is None or status.is_terminal:
            return  # its final update came first
        update = self._view_update(
            message.client_order_id,
            RejectReason.UNKNOWN_ORDER,
            f"engine {message.engine} no longer has this order",
            OrderStatus.CANCELLED,
        )
        assert update is not None
        self._on_update(update)

    # --- events from engines (and refusals from risk) ------------------------------

    def _on_update(self, update: OrderUpdate) -> None:
        crash_point("orders.update_before_journal")
        book = self.carry.book
        if not update.engine and update.status is OrderStatus.REJECTED:
            if update.reason is RejectReason.DUPLICATE_ORDER:
                # Risk refused a second submission under an id still open: the
                # order that owns the id is untouched; only the sender hears of it.
                self.carry.refused += 1
                self._forward(update, to_risk=False)
                return
            if book.refuse(update):
                # Refused before it became an order (by risk, or held for an
                # actor given up on): recorded RECEIVED -> REJECTED.
                self.carry.refused += 1
                self._forward(update, to_risk=False)
                return
        try:
            applied = book.apply_update(update)
        except IllegalTransitionError as exc:
            self._refused(exc, update.strategy_id, update.status.value, update.engine)
            return
        if not applied:
            return
        self._forward(update, to_risk=update.status.is_terminal)
        answer = book.modify_answer
        if answer:
            view = book.get(update.client_order_id)
            assert view is not None
            outcome = ModifyOutcome(
                view.client_order_id,
                view.strategy_id,
                answer == "done",
                view.quantity,
                view.limit_price,
                view.stop_price,
            )
            self.directory.tell(RISK, outcome)
            if self._journal and outcome.applied:
                self.directory.tell(JOURNAL, outcome)

    def _on_fill(self, fill: Fill) -> None:
        crash_point("orders.fill_before_journal")
        try:
            self.carry.book.apply_fill(fill)
        except IllegalTransitionError as exc:
            self._refused(exc, fill.strategy_id, "Fill", fill.engine)
            if exc.discard:
                return  # the same execution twice, or garbage: booking it would be wrong
        tell = self.directory.tell
        tell(strategy_actor(fill.strategy_id), fill)
        tell(PORTFOLIO, fill)
        tell(RISK, fill)
        tell(EVENTS, fill)

    def _forward(self, update: OrderUpdate, *, to_risk: bool) -> None:
        tell = self.directory.tell
        tell(strategy_actor(update.strategy_id), update)
        if to_risk:
            tell(RISK, update)
        tell(EVENTS, update)

    def _refused(
        self, exc: IllegalTransitionError, strategy_id: str, event: str, engine: str
    ) -> None:
        status = "" if exc.status is None else exc.status.value
        self._anomaly(
            exc.client_order_id,
            strategy_id,
            status=status,
            event=event,
            detail=exc.detail,
            engine=engine,
        )

    def _anomaly(
        self,
        client_order_id: str,
        strategy_id: str,
        *,
        status: str,
        event: str,
        detail: str,
        engine: str,
    ) -> None:
        self.carry.anomalies += 1
        logger.error(
            "{}: order {} ({}) refused {}: {}",
            self.name,
            client_order_id,
            status or "unknown",
            event,
            detail,
        )
        now = time.time_ns()
        self.directory.tell(
            EVENTS,
            OrderAnomaly(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                client_order_id=client_order_id,
                strategy_id=strategy_id,
                status=status,
                event=event,
                detail=detail,
                engine=engine,
            ),
        )

    # --- failover ------------------------------------------------------------

    def _route_orders(self, route: RouteOrders) -> None:
        carry = self.carry
        carry.engine = route.engine
        if not route.unknown_at:
            return
        keep = set(route.keep)
        now = time.time_ns()
        for client_order_id in carry.book.open_at(route.unknown_at):
            if client_order_id in keep:
                continue
            update = carry.book.mark_unknown(
                client_order_id,
                now=now,
                message=f"{route.unknown_at} cannot tell whether this order is still working",
            )
            if update is not None:
                self._forward(update, to_risk=False)

    # --- recovery --------------------------------------------------------------

    def _resolve(self, message: ResolveOrders) -> None:
        """End the recovered orders an engine has no record of: never acknowledged and
        nothing filled, it never got them (REJECTED); else it lost them (CANCELLED)."""
        book = self.carry.book
        for client_order_id in message.missing:
            view = book.get(client_order_id)
            if view is None or view.status is not OrderStatus.UNKNOWN:
                continue
            never = (
                not book.acknowledged(client_order_id)
                and view.filled_quantity == 0.0
                and view.fills_quantity == 0.0
            )
            status = OrderStatus.REJECTED if never else OrderStatus.CANCELLED
            text = (
                f"{message.engine} never received it before the runtime went down; not sent again"
                if never
                else f"{message.engine} has no record of it after the runtime went down"
            )
            update = self._view_update(client_order_id, RejectReason.RECOVERY, text, status)
            assert update is not None
            self._on_update(replace(update, engine=message.engine))
