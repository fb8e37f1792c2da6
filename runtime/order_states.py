"""The order state machine: the one owner of every order's state.

:class:`OrderBook` is plain, single-threaded and pure (no threads, no I/O,
no clock: every timestamp comes in with the event). The order manager actor
hosts one and feeds it every order event in the order it receives them; the
book decides whether each event is legal, applies it, and answers queries.
Every event is O(1); views (:class:`OrderView`) are only built for queries.

Transitions (:data:`TRANSITIONS`), beyond the obvious happy path:

- ROUTED -> anything an engine may answer first. Fills and the terminal
  states may arrive before an ACCEPTED (venues that ack and fill in one
  report, IOC/FOK orders); UNKNOWN when the engine failed during the submit;
  PENDING_CANCEL / PENDING_MODIFY when a request follows before the ack.
- PENDING_CANCEL -> ACCEPTED / PARTIALLY_FILLED: the cancel was refused (or
  the order's own ack overtook it); -> PARTIALLY_FILLED / FILLED: executions
  raced the cancel; -> REJECTED: the cancel went out before the ack and the
  venue then refused the order itself (only with nothing filled).
- PENDING_MODIFY -> ACCEPTED / PARTIALLY_FILLED: the modify was done or
  refused (see below); -> ROUTED: refused before the engine had acknowledged
  the order (:meth:`OrderBook.drop_modify`: an adapter that acks later);
  -> PENDING_CANCEL: a cancel sent while the modify is pending (the modify
  stays pending); -> REJECTED: as for PENDING_CANCEL.
- UNKNOWN (the engine cannot say, e.g. on failover) -> any state a
  reconciliation can report, never PENDING_*: nothing may be modified while
  its state is unknown, and a cancel of an UNKNOWN order is sent but leaves
  it UNKNOWN until the engine answers.
- Self-edges mean "same state, more filled": PARTIALLY_FILLED, and the
  PENDING_* and UNKNOWN states (a FIX venue reports executions during a
  pending cancel/replace with the pending status, and a reconciliation may
  report fills while the state is still unknown). An ACCEPTED update with more
  filled is illegal: it must say PARTIALLY_FILLED or FILLED.
- FILLED, CANCELLED, REJECTED and EXPIRED are terminal: nothing leaves them.

Rules of :meth:`OrderBook.apply_update` besides the table: the update's
``filled_quantity`` never goes down and never exceeds its ``quantity`` (plus a
relative dust of 1e-9); FILLED means all of it filled; PARTIALLY_FILLED means
something did; REJECTED means nothing did; a terminal update must cover the
fills already received. An exact repeat of the current state (same status,
filled and quantity, answering no pending request) is ignored, also for a
terminal order (a resent final report); anything else after the end raises.

Fills and updates are two streams: the paper engine sends a ``Fill`` before
the update that counts it, a venue may send them the other way round. Each is
checked on its own (monotonic, never above the quantity); a fill that arrives
after the order ended is accepted only within the filled quantity its final
update reported (a fill owed, not a new execution).

Requests and their answers. A modify's answer is recognised, in this order,
by ``reason`` MODIFY_REFUSED (refused: the pending changes are dropped), by an
update carrying the requested new quantity (done: the record takes the new
quantity and prices), or, for a modify that leaves the quantity unchanged, by
the first ACCEPTED/PARTIALLY_FILLED update without new fills once the engine
has acknowledged the order (engines answer requests in order, and a modify
cannot be requested while a cancel is pending, so that answer is the
modify's). ``OrderUpdate`` carries no prices, so a price-only modify whose
answer is lost in a failover can be taken as done by the reconciliation's
report. While a cancel is pending (and no modify), such an update is the
cancel's refusal. A terminal state drops both pending requests.

History records changes of state only: more filled in the same state, or a
request answered without a change of state, updates the order but adds no
entry. Timestamps: history entries and ``updated_ns`` use the events' ``ts_init``
(the wall clock of the process that made them) and the ``now`` of requests;
``route`` stamps RECEIVED and VALIDATED with ``Order.ts_init``.

Memory: finished orders stay queryable until ``keep_finished`` (10,000) later orders
have finished (oldest dropped first); open orders are never dropped. The set
of client order ids ever seen (duplicate detection) lives as long as the book.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from runtime.errors import TradepitError
from runtime.messages import (
    Fill,
    ModifyOrder,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RejectReason,
    Side,
    TimeInForce,
    next_id,
)

__all__ = [
    "TRANSITIONS",
    "DuplicateOrderError",
    "IllegalTransitionError",
    "OrderBook",
    "OrderStateError",
    "OrderView",
    "UnknownOrderError",
]

_S = OrderStatus
RECEIVED, VALIDATED, ROUTED, ACCEPTED = _S.RECEIVED, _S.VALIDATED, _S.ROUTED, _S.ACCEPTED
PARTIALLY_FILLED, FILLED, PENDING_CANCEL = _S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL
PENDING_MODIFY, CANCELLED, REJECTED = _S.PENDING_MODIFY, _S.CANCELLED, _S.REJECTED
EXPIRED, UNKNOWN = _S.EXPIRED, _S.UNKNOWN

TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {
        RECEIVED: frozenset({VALIDATED, REJECTED}),
        VALIDATED: frozenset({ROUTED, REJECTED, CANCELLED}),
        ROUTED: frozenset(
            {
                ACCEPTED,
                REJECTED,
                PARTIALLY_FILLED,
                FILLED,
                CANCELLED,
                EXPIRED,
                UNKNOWN,
                PENDING_CANCEL,
                PENDING_MODIFY,
            }
        ),
        ACCEPTED: frozenset(
            {PARTIALLY_FILLED, FILLED, PENDING_CANCEL, PENDING_MODIFY, CANCELLED, EXPIRED, UNKNOWN}
        ),
        PARTIALLY_FILLED: frozenset(
            {
                PARTIALLY_FILLED,
                FILLED,
                PENDING_CANCEL,
                PENDING_MODIFY,
                CANCELLED,
                EXPIRED,
                UNKNOWN,
            }
        ),
        PENDING_CANCEL: frozenset(
            {
                PENDING_CANCEL,
                CANCELLED,
                FILLED,
                PARTIALLY_FILLED,
                EXPIRED,
                UNKNOWN,
                ACCEPTED,
                REJECTED,
            }
        ),
        PENDING_MODIFY: frozenset(
            {
                PENDING_MODIFY,
                ROUTED,
                ACCEPTED,
                PARTIALLY_FILLED,
                FILLED,
                CANCELLED,
                EXPIRED,
                PENDING_CANCEL,
                UNKNOWN,
                REJECTED,
            }
        ),
        UNKNOWN: frozenset(
            {UNKNOWN, ACCEPTED, PARTIALLY_FILLED, FILLED, CANCELLED, EXPIRED, REJECTED}
        ),
        FILLED: frozenset(),
        CANCELLED: frozenset(),
        REJECTED: frozenset(),
        EXPIRED: frozenset(),
    }
)
"""The legal moves: ``TRANSITIONS[a]`` holds every state an order in ``a`` may enter
(the module docstring explains the edges that are not obvious)."""

_TERMINAL = frozenset(s for s in OrderStatus if s.is_terminal)
_WORKING = frozenset({ACCEPTED, PARTIALLY_FILLED})
_LIMITED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_STOPPED = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
_DUST = 1e-9
"""Relative amount by which filled quantities may exceed the order's quantity."""
_MODIFY_REFUSED = RejectReason.MODIFY_REFUSED


class OrderStateError(TradepitError):
    """Base of the order book's errors.

    Hierarchy::

        OrderStateError
        ├── IllegalTransitionError  an event or request the state machine refuses
        ├── DuplicateOrderError     a client order id routed a second time
        └── UnknownOrderError       a request for an order the book never had
    """


class IllegalTransitionError(OrderStateError):
    """An event or request that would break the state machine; nothing was changed."""

    def __init__(
        self,
        client_order_id: str,
        status: OrderStatus | None,
        event: str,
        detail: str,
        *,
        discard: bool = False,
    ) -> None:
        self.discard = discard
        """For a fill: it must not be booked at all (a repeated ``fill_id``, a
        quantity or price that is not a number). Other refused fills are
        executions that happened, which the books must still show."""
        self.client_order_id = client_order_id
        """The order."""
        self.status = status
        """Its state when the event came; None when the book does not have it."""
        self.event = str(event)
        """What came: a status, ``Fill``, or the state a request asked for."""
        self.detail = detail
        """What is wrong with it."""
        where = status.value if status is not None else "not in the book"
        super().__init__(f"order {client_order_id!r} ({where}): {event}: {detail}")


class DuplicateOrderError(OrderStateError):
    """A client order id that this book has seen before (open or finished)."""

    def __init__(self, client_order_id: str) -> None:
        self.client_order_id = client_order_id
        """The reused id."""
        super().__init__(f"order {client_order_id!r} was seen before")


class UnknownOrderError(OrderStateError):
    """A request for an order this book never had (or has forgotten)."""

    def __init__(self, client_order_id: str) -> None:
        self.client_order_id = client_order_id
        """The id asked for."""
        super().__init__(f"order {client_order_id!r} is not in the book")


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderView:
    """A snapshot of one order, as answered to queries."""

    client_order_id: str
    """The order's id."""
    strategy_id: str
    """The strategy that owns it."""
    symbol: str
    """Instrument symbol."""
    side: Side
    """BUY or SELL."""
    order_type: OrderType | None
    """Its type; None for an order refused by risk before it became an ``Order``."""
    time_in_force: TimeInForce | None
    """Its time in force; None as for ``order_type``."""
    quantity: float
    """Total quantity (the new one once a modify is done)."""
    filled_quantity: float
    """Filled so far, as the engine's updates report it."""
    fills_quantity: float
    """Sum of the ``Fill`` messages received; runs ahead of or behind
    ``filled_quantity`` while the two streams cross."""
    avg_fill_price: float | None
    """Volume-weighted fill price the updates report; None before a fill."""
    limit_price: float | None
    """Limit price (the new one once a modify is done)."""
    stop_price: float | None
    """Stop price (the new one once a modify is done)."""
    status: OrderStatus
    """Current state."""
    engine: str
    """Directory name of the engine actor it was routed to (``engine.NAME``; updates
    and fills carry the bare ``NAME``); empty for an order refused by risk."""
    reason: RejectReason | None
    """Reason of the last update (why it was refused or ended), if any."""
    message: str
    """Readable detail of the last update."""
    created_ns: int
    """When the book first recorded it, ns since the epoch."""
    updated_ns: int
    """When it last changed, ns since the epoch."""
    history: tuple[tuple[int, OrderStatus], ...]
    """Every state it entered, with the time it did, oldest first."""

    @property
    def is_open(self) -> bool:
        """True until it reaches a terminal state."""
        return self.status not in _TERMINAL


class _Modify(NamedTuple):
    """A modify sent and not yet answered (``None``: unchanged)."""

    quantity: float | None
    limit_price: float | None
    stop_price: float | None


class _Record:
    """Mutable state of one order, owned by the book."""

    __slots__ = (
        "acked",
        "avg",
        "cancel_pending",
        "created",
        "engine",
        "fill_ids",
        "fill_qty",
        "filled",
        "history",
        "id",
        "limit",
        "message",
        "modify",
        "order_type",
        "quantity",
        "reason",
        "side",
        "status",
        "stop",
        "strategy_id",
        "symbol",
        "tif",
        "updated",
    )

    def __init__(
        self,
        *,
        client_order_id: str,
        strategy_id: str,
        symbol: str,
        side: Side,
        order_type: OrderType | None,
        tif: TimeInForce | None,
        quantity: float,
        limit: float | None,
        stop: float | None,
        engine: str,
        history: list[tuple[int, OrderStatus]],
    ) -> None:
        self.id = client_order_id
        self.strategy_id = strategy_id
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.tif = tif
        self.quantity = quantity
        self.limit = limit
        self.stop = stop
        self.engine = engine
        self.history = history
        self.created = history[0][0]
        self.updated = history[-1][0]
        self.status = history[-1][1]
        self.filled = 0.0
        self.avg: float | None = None
        self.fill_qty = 0.0
        self.fill_ids: set[str] | None = None
        self.reason: RejectReason | None = None
        self.message = ""
        self.modify: _Modify | None = None
        self.cancel_pending = False
        # The engine has shown it holds the order (an update other than UNKNOWN, or a fill).
        self.acked = False


class OrderBook:
    """Every order's state, from routing to its end; see the module docstring for the rules.

    Events that break a rule raise :class:`IllegalTransitionError` and change
    nothing; the caller reports them (``OrderAnomaly``) and forwards nothing.
    """

    __slots__ = ("_counts", "_finished", "_keep", "_open", "_records", "_seen", "modify_answer")

    def __init__(self, *, keep_finished: int = 10_000) -> None:
        """``keep_finished``: how many finished orders stay queryable (>= 0)."""
        if keep_finished < 0:
            raise ValueError(f"keep_finished must be >= 0, got {keep_finished!r}")
        self._keep = keep_finished
        self._records: dict[str, _Record] = {}
        self._open: dict[str, _Record] = {}
        self._finished: deque[str] = deque()
        self._seen: set[str] = set()
        self._counts: dict[OrderStatus, int] = dict.fromkeys(OrderStatus, 0)
        self.modify_answer = ""
        """What the last applied update did to a pending modify: ``done``,
        ``refused``, or empty (none was pending, or it is still pending; an
        order that ended drops its pending modify with it)."""

    # --- orders coming in --------------------------------------------------------

    def route(self, order: Order, engine: str, *, now: int) -> None:
        """Record a risk-validated ``order`` as RECEIVED, VALIDATED (at ``order.ts_init``)
        and ROUTED to ``engine`` (at ``now``).

        Raises :class:`DuplicateOrderError` for an id seen before, and
        ``ValueError`` for an empty engine or a quantity that is not a finite
        number > 0; nothing is recorded then.
        """
        ts = order.ts_init
        self._admit(
            order,
            engine,
            quantity=order.quantity,
            limit=order.limit_price,
            stop=order.stop_price,
            history=[(ts, RECEIVED), (ts, VALIDATED), (now, ROUTED)],
        )

    def _admit(
        self,
        order: Order,
        engine: str,
        *,
        quantity: float,
        limit: float | None,
        stop: float | None,
        history: list[tuple[int, OrderStatus]],
    ) -> _Record:
        """Check and record a routed order in the last state of ``history`` (see
        :meth:`route` for what raises; nothing is recorded then)."""
        coid = order.client_order_id
        if coid in self._seen:
            raise DuplicateOrderError(coid)
        if not engine:
            raise ValueError(f"order {coid!r}: engine must not be empty")
        if not (quantity > 0 and math.isfinite(quantity)):
            raise ValueError(f"order {coid!r}: quantity must be finite and > 0")
        record = _Record(
            client_order_id=coid,
            strategy_id=order.strategy_id,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            tif=order.time_in_force,
            quantity=quantity,
            limit=limit,
            stop=stop,
            engine=engine,
            history=history,
        )
        status = record.status
        self._seen.add(coid)
        self._records[coid] = record
        self._counts[status] += 1
        if status in _TERMINAL:
            self._retire(coid)
        else:
            self._open[coid] = record
        return record

    def refuse(self, update: OrderUpdate) -> bool:
        """Record an intent that risk refused (``update.status`` REJECTED) as RECEIVED ->
        REJECTED, both at ``update.ts_init``.

        Returns False, recording nothing, when the id was seen before: a
        refused duplicate must not touch the original. Raises
        :class:`IllegalTransitionError` if the update is not a REJECTED one.
        """
        coid = update.client_order_id
        if update.status != REJECTED:
            raise IllegalTransitionError(coid, None, update.status, "a refusal must be REJECTED")
        if coid in self._seen:
            return False
        ts = update.ts_init
        record = _Record(
            client_order_id=coid,
            strategy_id=update.strategy_id,
            symbol=update.symbol,
            side=update.side,
            order_type=None,
            tif=None,
            quantity=update.quantity,
            limit=None,
            stop=None,
            engine=update.engine,
            history=[(ts, RECEIVED), (ts, REJECTED)],
        )
        record.reason = update.reason
        record.message = update.message
        self._seen.add(coid)
        self._records[coid] = record
        self._counts[REJECTED] += 1
        self._retire(coid)
        return True

    def restore(
        self,
        order: Order,
        engine: str,
        *,
        quantity: float,
        limit_price: float | None,
        stop_price: float | None,
        filled_quantity: float,
        avg_fill_price: float | None,
        fills: tuple[tuple[str, float], ...],
        acked: bool,
        now: int,
        status: OrderStatus = UNKNOWN,
    ) -> OrderUpdate:
        """Bring back an order the journal had open when the runtime went down: recorded
        ROUTED to ``engine`` and then UNKNOWN (at ``now``), since nobody can say what
        happened to it meanwhile until its engine answers. With a terminal ``status``:
        an order that ended but whose fills the journal lacks, so that the fills
        its engine reports again are taken as fills owed. ``fills`` are the
        (fill id, quantity) the journal has (their repeats are refused); ``acked``
        whether the engine had reported anything of it. Returns the UNKNOWN
        update (to hand the engine for its reconciliation).

        Raises :class:`DuplicateOrderError` for an id the book has, ``ValueError``
        for an empty engine or a quantity that is not a finite number > 0.
        """
        ts = order.ts_init
        record = self._admit(
            order,
            engine,
            quantity=quantity,
            limit=limit_price,
            stop=stop_price,
            history=[(ts, RECEIVED), (ts, VALIDATED), (ts, ROUTED), (now, status)],
        )
        record.filled = filled_quantity
        record.avg = avg_fill_price
        record.fill_qty = sum(q for _, q in fills)
        record.fill_ids = {f for f, _ in fills} if fills else None
        record.acked = acked
        record.message = "restored from the journal: its engine has not answered yet"
        return OrderUpdate(
            id=next_id(),
            ts_event=now,
            ts_init=now,
            client_order_id=order.client_order_id,
            strategy_id=order.strategy_id,
            symbol=order.symbol,
            side=order.side,
            status=status,
            quantity=quantity,
            filled_quantity=filled_quantity,
            avg_fill_price=avg_fill_price,
            reason=None,
            message=record.message,
            engine="",
        )

    def acknowledged(self, client_order_id: str) -> bool:
        """True once the order's engine has shown it holds the order (an update other
        than UNKNOWN, or a fill); False for an order the book does not have."""
        rec = self._records.get(client_order_id)
        return rec is not None and rec.acked

    # --- engine events -------------------------------------------------------------

    def apply_update(self, update: OrderUpdate) -> bool:
        """Apply an engine's update: True if applied (forward it), False if it exactly
        repeats the current state (ignore it).

        Raises :class:`IllegalTransitionError`, changing nothing, for an
        unknown order or an update that breaks a rule of the module docstring.
        """
        coid = update.client_order_id
        status = update.status
        rec = self._records.get(coid)
        if rec is None:
            raise self._missing(coid, status)
        current = rec.status
        _check_identity(rec, update.strategy_id, update.symbol, update.side, status)
        quantity = update.quantity
        filled = update.filled_quantity
        if current in _TERMINAL:
            if status == current and filled == rec.filled and quantity == rec.quantity:
                return False
            raise _bad(rec, status, "the order has already ended")
        if not (filled >= 0.0 and math.isfinite(filled)):
            raise _bad(rec, status, f"filled quantity {filled!r}")
        if filled < rec.filled:
            raise _bad(rec, status, f"filled quantity went down from {rec.filled} to {filled}")
        grew = filled > rec.filled
        modify = rec.modify
        done = refused = False
        if quantity != rec.quantity:
            if modify is None or modify.quantity is None or quantity != modify.quantity:
                raise _bad(
                    rec,
                    status,
                    f"quantity changed from {rec.quantity} to {quantity} without a modify "
                    "asking for it",
                )
            if update.reason is _MODIFY_REFUSED:
                raise _bad(rec, status, "a refused modify cannot change the quantity")
            done = True
        elif modify is not None:
            if update.reason is _MODIFY_REFUSED:
                refused = True
            elif (
                status in _WORKING
                and not grew
                and rec.acked
                and (modify.quantity is None or modify.quantity == quantity)
            ):
                done = True
        cancel_refused = (
            rec.cancel_pending
            and not (done or refused)
            and status in _WORKING
            and not grew
            and rec.acked
        )
        tol = _DUST * quantity
        if filled > quantity + tol:
            raise _bad(rec, status, f"filled quantity {filled} exceeds the quantity {quantity}")
        if rec.fill_qty > quantity + tol:
            raise _bad(rec, status, f"fills of {rec.fill_qty} exceed the quantity {quantity}")
        if status == FILLED and filled < quantity - tol:
            raise _bad(rec, status, f"only {filled} of {quantity} filled")
        if status == PARTIALLY_FILLED and filled <= 0.0:
            raise _bad(rec, status, "nothing filled")
        if status == REJECTED and (filled > 0.0 or rec.fill_qty > 0.0):
            raise _bad(rec, status, "part of the order was executed")
        if status in _TERMINAL and rec.fill_qty > filled + tol:
            raise _bad(
                rec,
                status,
                f"fills of {rec.fill_qty} were received but it reports {filled} filled",
            )
        if status == current:
            if not (grew or done or refused or cancel_refused):
                return False
            if grew and status not in TRANSITIONS[current]:
                raise _bad(rec, status, f"more filled ({filled}) cannot stay {status}")
        elif status not in TRANSITIONS[current]:
            raise _bad(rec, status, f"{current} cannot become {status}")
        # Every check passed: commit.
        self.modify_answer = "done" if done else "refused" if refused else ""
        if done:
            assert modify is not None
            rec.quantity = quantity
            if modify.limit_price is not None:
                rec.limit = modify.limit_price
            if modify.stop_price is not None:
                rec.stop = modify.stop_price
        if done or refused or status in _TERMINAL:
            rec.modify = None
        if cancel_refused or status in _TERMINAL:
            rec.cancel_pending = False
        elif status == PENDING_CANCEL:
            rec.cancel_pending = True
        if status != UNKNOWN:
            rec.acked = True
        rec.filled = filled
        if update.avg_fill_price is not None:
            rec.avg = update.avg_fill_price
        rec.reason = update.reason
        rec.message = update.message
        if status == current:
            rec.updated = update.ts_init
        else:
            self._move(rec, status, update.ts_init)
        return True

    def apply_fill(self, fill: Fill) -> None:
        """Add an execution to its order's fills.

        Raises :class:`IllegalTransitionError`, changing nothing, for an
        unknown order, a reused ``fill_id``, a quantity that is not > 0, a
        price that is not finite, fills summing beyond the quantity, or a fill
        after the order ended beyond the filled quantity its final update
        reported (nothing at all after REJECTED).
        """
        coid = fill.client_order_id
        rec = self._records.get(coid)
        if rec is None:
            raise self._missing(coid, "Fill")
        current = rec.status
        _check_identity(rec, fill.strategy_id, fill.symbol, fill.side, "Fill")
        quantity = fill.quantity
        if not (quantity > 0.0 and math.isfinite(quantity)):
            raise _bad(rec, "Fill", f"quantity {quantity!r}", discard=True)
        if not math.isfinite(fill.price):
            raise _bad(rec, "Fill", f"price {fill.price!r}", discard=True)
        ids = rec.fill_ids
        if ids is not None and fill.fill_id in ids:
            raise _bad(rec, "Fill", f"fill {fill.fill_id!r} was received before", discard=True)
        total = rec.fill_qty + quantity
        tol = _DUST * rec.quantity
        if current in _TERMINAL:
            if current == REJECTED or total > rec.filled + tol:
                raise _bad(
                    rec,
                    "Fill",
                    f"fills would sum to {total} but the order ended with {rec.filled} filled",
                )
        elif total > rec.quantity + tol:
            raise _bad(rec, "Fill", f"fills would sum to {total}, above {rec.quantity}")
        if ids is None:
            rec.fill_ids = {fill.fill_id}
        else:
            ids.add(fill.fill_id)
        rec.fill_qty = total
        rec.acked = True
        rec.updated = fill.ts_init

    # --- requests --------------------------------------------------------------------

    def request_cancel(
        self, client_order_id: str, *, now: int, strategy_id: str = ""
    ) -> str | None:
        """A cancel is being sent: the order goes PENDING_CANCEL; returns its engine.

        None when the order already ended (too late; nothing changes). An
        order already PENDING_CANCEL or UNKNOWN keeps its state and the engine
        is still returned, so the cancel is (re)sent. With ``strategy_id``
        given, cancelling another strategy's order raises
        :class:`IllegalTransitionError`; an unknown id raises
        :class:`UnknownOrderError`.
        """
        rec = self._records.get(client_order_id)
        if rec is None:
            raise UnknownOrderError(client_order_id)
        current = rec.status
        _check_owner(rec, strategy_id, PENDING_CANCEL)
        if current in _TERMINAL:
            return None
        rec.cancel_pending = True
        if PENDING_CANCEL in TRANSITIONS[current] and current != PENDING_CANCEL:
            self._move(rec, PENDING_CANCEL, now)
        return rec.engine

    def request_modify(self, modify: ModifyOrder, *, now: int) -> str | None:
        """A modify is being sent: the order goes PENDING_MODIFY with the changes kept
        pending until the engine answers; returns its engine.

        None when the order already ended. Raises :class:`UnknownOrderError`
        for an unknown id and :class:`IllegalTransitionError`, changing
        nothing, when: another strategy owns it; a modify or a cancel is
        already pending; its state allows no modify (UNKNOWN, PENDING_*);
        nothing would change; the new quantity is not finite and > 0 or is
        below what already filled; a price is not finite and > 0, or the order
        type has no such price.
        """
        coid = modify.client_order_id
        rec = self._records.get(coid)
        if rec is None:
            raise UnknownOrderError(coid)
        current = rec.status
        _check_owner(rec, modify.strategy_id, PENDING_MODIFY)
        if current in _TERMINAL:
            return None
        pm = PENDING_MODIFY
        if rec.modify is not None:
            raise _bad(rec, pm, "a modify is already pending")
        if rec.cancel_pending:
            raise _bad(rec, pm, "a cancel is pending")
        if PENDING_MODIFY not in TRANSITIONS[current]:
            raise _bad(rec, pm, f"{current} cannot be modified")
        quantity, limit, stop = modify.quantity, modify.limit_price, modify.stop_price
        if quantity is None and limit is None and stop is None:
            raise _bad(rec, pm, "nothing to change")
        if quantity is not None:
            if not (quantity > 0.0 and math.isfinite(quantity)):
                raise _bad(rec, pm, f"quantity {quantity!r}")
            filled = max(rec.filled, rec.fill_qty)
            if quantity < filled - _DUST * rec.quantity:
                raise _bad(rec, pm, f"quantity {quantity} is below the {filled} already filled")
        for name, price, kinds in (("limit", limit, _LIMITED), ("stop", stop, _STOPPED)):
            if price is None:
                continue
            if rec.order_type not in kinds:
                raise _bad(rec, pm, f"a {rec.order_type} order has no {name} price")
            if not (price > 0.0 and math.isfinite(price)):
                raise _bad(rec, pm, f"{name} price {price!r}")
        rec.modify = _Modify(quantity, limit, stop)
        self._move(rec, PENDING_MODIFY, now)
        return rec.engine

    def mark_unknown(self, client_order_id: str, *, now: int, message: str) -> OrderUpdate | None:
        """Its engine cannot say what became of the order (failover): it goes UNKNOWN.

        Returns the update to send (UNKNOWN, reason ENGINE_ERROR, the filled
        quantity and average price last reported, empty ``engine``: the
        runtime reports it), or None when the order already ended or is
        UNKNOWN already. Pending requests stay pending. Raises
        :class:`UnknownOrderError` for an unknown id.
        """
        rec = self._records.get(client_order_id)
        if rec is None:
            raise UnknownOrderError(client_order_id)
        current = rec.status
        if current in _TERMINAL or current == UNKNOWN:
            return None
        rec.reason = RejectReason.ENGINE_ERROR
        rec.message = message
        self._move(rec, UNKNOWN, now)
        return OrderUpdate(
            id=next_id(),
            ts_event=now,
            ts_init=now,
            client_order_id=client_order_id,
            strategy_id=rec.strategy_id,
            symbol=rec.symbol,
            side=rec.side,
            status=UNKNOWN,
            quantity=rec.quantity,
            filled_quantity=rec.filled,
            avg_fill_price=rec.avg,
            reason=RejectReason.ENGINE_ERROR,
            message=message,
            engine="",
        )

    # --- queries -----------------------------------------------------------------------

    def drop_modify(self, client_order_id: str, *, now: int) -> OrderStatus | None:
        """The engine refused a pending modify without an update of the order to say so
        (it had none yet, e.g. an adapter that acknowledges later): drop it.

        An order still PENDING_MODIFY goes back to where it was: PARTIALLY_FILLED
        if something filled, ACCEPTED once acknowledged, else ROUTED. Returns
        the order's state after; None (nothing changed) when no modify was
        pending (unknown order, ended, or already answered).
        """
        rec = self._records.get(client_order_id)
        if rec is None or rec.modify is None or rec.status in _TERMINAL:
            return None
        rec.modify = None
        if rec.status == PENDING_MODIFY:
            acked = ACCEPTED if rec.acked else ROUTED
            self._move(rec, PARTIALLY_FILLED if rec.filled > 0.0 else acked, now)
        else:
            rec.updated = now
        return rec.status

    def status(self, client_order_id: str) -> OrderStatus | None:
        """The order's state, or None if the book does not have it (cheap: no snapshot)."""
        rec = self._records.get(client_order_id)
        return None if rec is None else rec.status

    def get(self, client_order_id: str) -> OrderView | None:
        """The order's snapshot, or None if the book does not have it (or forgot it)."""
        rec = self._records.get(client_order_id)
        return None if rec is None else _view(rec)

    def orders(self, strategy_id: str = "", *, open_only: bool = True) -> tuple[OrderView, ...]:
        """Snapshots of the orders of ``strategy_id`` (empty: every strategy), in the order
        they were created; only open ones unless ``open_only`` is False (finished
        ones as far as they are still kept)."""
        records = self._open if open_only else self._records
        return tuple(
            _view(rec)
            for rec in records.values()
            if not strategy_id or rec.strategy_id == strategy_id
        )

    def open_at(self, engine: str) -> tuple[str, ...]:
        """Client order ids of the open orders routed to ``engine``, oldest first."""
        return tuple(coid for coid, rec in self._open.items() if rec.engine == engine)

    def engine_of(self, client_order_id: str) -> str | None:
        """The engine the order was routed to; None if never routed or not in the book."""
        rec = self._records.get(client_order_id)
        return (rec.engine or None) if rec is not None else None

    def counts(self) -> dict[OrderStatus, int]:
        """How many orders of this book's life are in each state now (forgotten ones too)."""
        return dict(self._counts)

    @property
    def open_count(self) -> int:
        """Number of open orders."""
        return len(self._open)

    # --- internals ---------------------------------------------------------------------

    def _move(self, rec: _Record, status: OrderStatus, ts: int) -> None:
        counts = self._counts
        counts[rec.status] -= 1
        counts[status] += 1
        rec.status = status
        rec.history.append((ts, status))
        rec.updated = ts
        if status in _TERMINAL:
            del self._open[rec.id]
            self._retire(rec.id)

    def _retire(self, client_order_id: str) -> None:
        finished = self._finished
        finished.append(client_order_id)
        records = self._records
        while len(finished) > self._keep:
            del records[finished.popleft()]

    def _missing(self, client_order_id: str, event: str) -> IllegalTransitionError:
        if client_order_id in self._seen:
            detail = "the order ended and is no longer kept"
        else:
            detail = "no such order"
        return IllegalTransitionError(client_order_id, None, event, detail)


def _bad(rec: _Record, event: str, detail: str, *, discard: bool = False) -> IllegalTransitionError:
    return IllegalTransitionError(rec.id, rec.status, event, detail, discard=discard)


def _check_identity(rec: _Record, strategy_id: str, symbol: str, side: Side, event: str) -> None:
    if strategy_id != rec.strategy_id or symbol != rec.symbol or side != rec.side:
        raise IllegalTransitionError(
            rec.id,
            rec.status,
            event,
            f"{strategy_id}/{symbol}/{side} does not match the order's "
            f"{rec.strategy_id}/{rec.symbol}/{rec.side}",
        )


def _check_owner(rec: _Record, strategy_id: str, event: str) -> None:
    if strategy_id and strategy_id != rec.strategy_id:
        raise IllegalTransitionError(
            rec.id, rec.status, event, f"the order belongs to strategy {rec.strategy_id!r}"
        )


def _view(rec: _Record) -> OrderView:
    return OrderView(
        client_order_id=rec.id,
        strategy_id=rec.strategy_id,
        symbol=rec.symbol,
        side=rec.side,
        order_type=rec.order_type,
        time_in_force=rec.tif,
        quantity=rec.quantity,
        filled_quantity=rec.filled,
        fills_quantity=rec.fill_qty,
        avg_fill_price=rec.avg,
        limit_price=rec.limit,
        stop_price=rec.stop,
        status=rec.status,
        engine=rec.engine,
        reason=rec.reason,
        message=rec.message,
        created_ns=rec.created,
        updated_ns=rec.updated,
        history=tuple(rec.history),
    )
