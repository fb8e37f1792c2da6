"""The backtester: the live runtime's pieces, driven by one deterministic loop.

:func:`run_backtest` replays columnar market data (:class:`BarSeries`) through
the same code the actors host, without threads or mailboxes:

- the strategy classes, each given a context whose books are the strategy
  actor's own :class:`~actors.strategy_host.StrategyBook`;
- the risk rules (:func:`~runtime.risk_rules.check_intent`,
  :func:`~runtime.risk_rules.check_modify` and the
  :class:`~runtime.risk_rules.RiskLedger`), with the losing-streak pause and
  the daily-loss kill switch;
- the paper :class:`~runtime.matching.MatchingEngine` with the primary paper
  engine's slippage, commission and volume cap;
- the portfolio's :class:`~runtime.ledger.Ledger`,
  :class:`~runtime.pnl_guard.RoundTrips` and :class:`~runtime.pnl_guard.LossGuard`.

Each event (bar or tick, in time order; equal times in ``--data`` order) is
handled in the order the lockstep feed delivers it live: the engine matches
it first (orders working from earlier events fill at its open), what that
caused reaches the strategies, then the strategies get the event one after
the other in order of their ids, then the portfolio marks its close. What a
strategy causes (an order's ACCEPTED or REJECTED, a cancel) reaches it after
its hook returns, as a message would, never inside the hook. Fill semantics:
``docs/paper-engine.md``.

Everything is stamped with market time (no wall clock), order ids are
``bt-<strategy>-<n>``: the same settings and data give the same result,
byte for byte. The differences with a live run are listed in
``docs/backtest.md#differences-from-live``.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

from loguru import logger

from actors.risk import order_from_intent
from actors.strategy_host import StrategyBook
from runtime.backtest_types import (
    BacktestResult,
    BarSeries,
    EquityCurve,
    Metrics,
    OrderRecord,
    RoundTrip,
)
from runtime.config import DataKind, PaperConfig, RiskConfig, Settings, StrategyConfig
from runtime.errors import TradepitError
from runtime.ids import ClientOrderIds
from runtime.ledger import Ledger
from runtime.matching import MatchingEngine
from runtime.messages import (
    Bar,
    Fill,
    LossLimitBreached,
    ModifyOrder,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RejectReason,
    RuntimeState,
    Side,
    Tick,
    TimeInForce,
    next_id,
    unfilled_update,
)
from runtime.metrics import compute_metrics
from runtime.pnl_guard import LossGuard, RoundTrips
from runtime.progress import Progress
from runtime.risk_rules import RiskLedger, check_intent, check_modify
from strategies.base import Strategy

__all__ = ["RUN_TAG", "BacktestError", "StrategyFailedError", "paper_config", "run_backtest"]

RUN_TAG = "bt"
"""The run part of every backtest client order id (``bt-<strategy>-<n>``)."""

_TOTAL = "TOTAL"
_PROGRESS_EVERY = 4096
_NS_PER_S = 1e9


class BacktestError(TradepitError):
    """A backtest cannot run as asked (no strategy, a symbol the data lacks...)."""


class StrategyFailedError(BacktestError):
    """A strategy hook raised during a backtest: the run stops (there is no supervisor
    to restart it), naming the strategy, the hook and the market time."""


def paper_config(settings: Settings) -> tuple[str, PaperConfig]:
    """The engine a backtest fills with: the first paper engine in
    ``[execution] engines`` order (name, matching settings). Without any,
    an engine ``paper`` with no costs (a warning says so)."""
    for engine in settings.engines:
        if engine.adapter == "paper":
            return engine.name, engine.paper
    logger.warning(
        "{}: no paper engine in [engines]: the backtest fills without slippage or commission",
        settings.source,
    )
    return "paper", PaperConfig()


class _Context:
    """A strategy's window on the backtest (implements ``StrategyContext``)."""

    __slots__ = ("_loop", "book", "config", "ids", "strategy")

    def __init__(self, loop: _Loop, config: StrategyConfig) -> None:
        self._loop = loop
        self.config = config
        self.book = StrategyBook()
        self.ids = ClientOrderIds(RUN_TAG, config.id)
        self.strategy: Strategy | None = None

    def submit(
        self,
        *,
        symbol: str,
        side: Side,
        quantity: float,
        order_type: OrderType,
        limit_price: float | None,
        stop_price: float | None,
        time_in_force: TimeInForce,
    ) -> str:
        client_order_id = self.ids.next()
        intent = self.book.new_intent(
            strategy_id=self.config.id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            order_type=order_type,
            limit_price=limit_price,
            stop_price=stop_price,
            time_in_force=time_in_force,
            ts_init=self.book.market_time,
        )
        self._loop.on_intent(intent)
        return client_order_id

    def cancel(self, client_order_id: str) -> None:
        self._loop.on_cancel(self.config.id, client_order_id)

    def modify(
        self,
        client_order_id: str,
        *,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
    ) -> None:
        book = self.book
        symbol = book.order_symbol.get(client_order_id)
        self._loop.on_modify(
            ModifyOrder(
                id=next_id(),
                ts_event=book.market_time,
                ts_init=book.market_time,
                client_order_id=client_order_id,
                strategy_id=self.config.id,
                quantity=quantity,
                limit_price=limit_price,
                stop_price=stop_price,
                market_price=None if symbol is None else book.last_price.get(symbol),
            )
        )

    def position(self, symbol: str) -> float:
        return self.book.positions.get(symbol, 0.0)

    def open_orders(self) -> tuple[str, ...]:
        return tuple(self.book.open_orders)

    def log(self, message: str) -> None:
        logger.bind(strategy=self.config.id).info("[{}] {}", self.config.id, message)

    def now(self) -> int:
        return self.book.market_time


@dataclass(slots=True)
class _OrderState:
    """What the backtest knows of one order (becomes an :class:`OrderRecord`)."""

    intent: OrderIntent
    status: OrderStatus = OrderStatus.RECEIVED
    quantity: float = 0.0
    limit_price: float | None = None
    stop_price: float | None = None
    filled: float = 0.0
    avg: float | None = None
    reason: RejectReason | None = None
    message: str = ""

    def record(self) -> OrderRecord:
        intent = self.intent
        return OrderRecord(
            client_order_id=intent.client_order_id,
            strategy_id=intent.strategy_id,
            symbol=intent.symbol,
            side=intent.side,
            order_type=intent.order_type,
            quantity=self.quantity,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            time_in_force=intent.time_in_force,
            ts_event=intent.ts_event,
            status=self.status,
            filled_quantity=self.filled,
            avg_fill_price=self.avg,
            reason=self.reason,
            message=self.message,
        )


class _Loop:
    """The state of one backtest run and the handling of each kind of event."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock_ns = 0
        engine, paper = paper_config(settings)
        self.matcher = MatchingEngine(paper, engine=engine, clock=self._clock)
        self.ledger = Ledger(settings.portfolio.starting_cash, clock=self._clock)
        self.trips = RoundTrips(clock=self._clock)
        limits = {s.id: (s.risk or settings.risk).daily_loss_limit for s in settings.strategies}
        self.guard = LossGuard(limits, settings.risk.daily_loss_limit, clock=self._clock)
        self.risk = RiskLedger()
        self.limits: dict[str, RiskConfig] = {
            s.id: s.risk or settings.risk for s in settings.strategies
        }
        self.contexts: dict[str, _Context] = {}
        self.subscribers: dict[str, list[_Context]] = {}
        for config in settings.strategies:
            self.contexts[config.id] = _Context(self, config)
        # The live feed delivers an event to its strategies in order of their ids
        # (one at a time in lockstep): the same order here.
        for sid in sorted(self.contexts):
            context = self.contexts[sid]
            for symbol in context.config.symbols:
                self.subscribers.setdefault(symbol, []).append(context)
        self.queue: deque[tuple[_Context, OrderUpdate | Fill]] = deque()
        self.orders: dict[str, _OrderState] = {}
        self.fills: list[Fill] = []
        self.closed: list[RoundTrip] = []
        self.breaches: list[LossLimitBreached] = []
        self.halted = ""

    def _clock(self) -> int:
        return self.clock_ns

    def trading(self) -> tuple[RuntimeState, str]:
        """The state risk judges orders in, and why: HALTED once the kill switch fired."""
        return (RuntimeState.HALTED, self.halted) if self.halted else (_RUNNING, "")

    # --- what strategies ask -------------------------------------------------

    def on_intent(self, intent: OrderIntent) -> None:
        """Risk judges the intent; an accepted order goes to the matcher."""
        exposure = self.risk.exposure(intent.strategy_id)
        state = _OrderState(
            intent,
            quantity=intent.quantity,
            limit_price=intent.limit_price,
            stop_price=intent.stop_price,
        )
        self.orders[intent.client_order_id] = state
        mode, why = self.trading()
        breach = check_intent(
            intent,
            self.limits[intent.strategy_id],
            exposure,
            mode=mode,
            mode_reason=why,
            now=intent.ts_event / _NS_PER_S,
        )
        if breach is not None:
            update = unfilled_update(intent, OrderStatus.REJECTED, *breach, ts=intent.ts_event)
            self.on_update(update)
            return
        order: Order = order_from_intent(intent)
        exposure.order_sent(intent)
        for update in self.matcher.submit(order):
            self.on_update(update)

    def on_cancel(self, strategy_id: str, client_order_id: str) -> None:
        state = self.orders.get(client_order_id)
        if state is None or state.intent.strategy_id != strategy_id:
            return  # not this strategy's order: nothing to cancel (as live)
        for update in self.matcher.cancel(client_order_id, self.clock_ns):
            self.on_update(update)

    def on_modify(self, modify: ModifyOrder) -> None:
        """Judge a modification as risk does, then let the matcher apply or refuse it."""
        oid = modify.client_order_id
        state = self.orders.get(oid)
        exposure = self.risk.exposure(modify.strategy_id)
        # The matcher answers at once, so a modification is never pending here.
        mode, why = self.trading()
        breach = check_modify(
            modify,
            self.limits[modify.strategy_id],
            exposure,
            mode=mode,
            mode_reason=why,
            now=modify.ts_event / _NS_PER_S,
        )
        if breach is not None:
            # As the order manager: reason MODIFY_REFUSED with the rule in the text,
            # to the owner only, and nothing for an order that already ended.
            owner = state is not None and state.intent.strategy_id == modify.strategy_id
            if state is not None and owner and not state.status.is_terminal:
                reason, text = breach
                self._refuse_modify(state, f"{reason.value}: {text}")
            return
        exposure.modify_sent(modify)
        updates = self.matcher.modify(
            oid, modify.quantity, modify.limit_price, modify.stop_price, self.clock_ns
        )
        refused = not updates or updates[0].reason is RejectReason.MODIFY_REFUSED
        if refused:
            exposure.modify_refused(oid)
        else:
            exposure.on_modified(oid, updates[0].quantity, modify.limit_price, modify.stop_price)
            if state is not None:
                state.quantity = updates[0].quantity
                if modify.limit_price is not None:
                    state.limit_price = modify.limit_price
                if modify.stop_price is not None:
                    state.stop_price = modify.stop_price
        for update in updates:
            self.on_update(update)

    def _refuse_modify(self, state: _OrderState, message: str) -> None:
        intent = state.intent
        update = OrderUpdate(
            id=next_id(),
            ts_event=self.clock_ns,
            ts_init=self.clock_ns,
            client_order_id=intent.client_order_id,
            strategy_id=intent.strategy_id,
            symbol=intent.symbol,
            side=intent.side,
            status=state.status,
            quantity=state.quantity,
            filled_quantity=state.filled,
            avg_fill_price=state.avg,
            reason=RejectReason.MODIFY_REFUSED,
            message=message,
            engine="",
        )
        self.queue.append((self.contexts[intent.strategy_id], update))

    # --- what the matcher reports ----------------------------------------------

    def on_update(self, update: OrderUpdate) -> None:
        state = self.orders.get(update.client_order_id)
        ended = state is not None and state.status.is_terminal
        if state is not None and update.reason is not RejectReason.MODIFY_REFUSED and not ended:
            state.status = update.status
            state.filled = update.filled_quantity
            state.avg = update.avg_fill_price
            if update.reason is not None:
                state.reason, state.message = update.reason, update.message
        if update.status.is_terminal:
            self.risk.on_update(update)
        context = self.contexts.get(update.strategy_id)
        if context is not None:
            self.queue.append((context, update))

    def on_fill(self, fill: Fill) -> None:
        """Book a fill as the portfolio and risk do, then queue it for its strategy."""
        self.fills.append(fill)
        self.risk.on_fill(fill)
        position = self.ledger.apply_fill(fill)
        closed = self.trips.on_fill(fill, position)
        if closed is not None:
            self.closed.append(
                RoundTrip(
                    strategy_id=closed.strategy_id,
                    symbol=closed.symbol,
                    side=closed.side,
                    quantity=closed.quantity,
                    opened_at=closed.opened_at,
                    closed_at=closed.ts_event,
                    pnl=closed.pnl,
                    fees=closed.fees,
                )
            )
            limit = self.limits[closed.strategy_id].max_consecutive_losses
            exposure = self.risk.exposure(closed.strategy_id)
            if exposure.trade_closed(closed.pnl, limit):
                text = exposure.pause_losing_streak(limit)
                logger.warning("backtest: strategy {} paused: {}", closed.strategy_id, text)
        if self.guard.active:
            # acted on once the engine's whole batch is booked (engine_events):
            # live, the fill's own updates are sent before risk's cancels
            self.breaches.extend(self.guard.on_fill(position))
        context = self.contexts.get(fill.strategy_id)
        if context is not None:
            self.queue.append((context, fill))

    def kill_switch(self, breaches: tuple[LossLimitBreached, ...]) -> None:
        """A daily loss limit was reached: refuse every order from now on and
        cancel the working ones (the risk actor's kill switch)."""
        if not breaches or self.halted:
            return
        breach = breaches[0]
        who = f"strategy {breach.strategy_id}" if breach.strategy_id else "the account"
        self.halted = (
            f"kill switch: daily P&L of {who} {breach.pnl:,.2f} on {breach.day}"
            f" reached the loss limit -{breach.limit:,.2f}"
        )
        logger.warning("backtest: {}", self.halted)
        for update in self.matcher.cancel_all(
            self.clock_ns, RejectReason.HALTED, f"trading halted: {self.halted}"
        ):
            self.on_update(update)

    def drain(self) -> None:
        """Deliver what strategies caused and were caused, in order, until nothing is left."""
        queue = self.queue
        while queue:
            context, message = queue.popleft()
            strategy = context.strategy
            assert strategy is not None
            if type(message) is Fill:
                context.book.book_fill(message)
                _call(context, strategy.on_fill, message)
            else:
                assert isinstance(message, OrderUpdate)
                context.book.book_update(message)
                _call(context, strategy.on_order, message)

    def engine_events(self, events: list[Fill | OrderUpdate]) -> None:
        """Book what the matcher reported on one event, then act on a breached
        loss limit, then deliver it all to the strategies."""
        for event in events:
            if type(event) is Fill:
                self.on_fill(event)
            else:
                assert isinstance(event, OrderUpdate)
                self.on_update(event)
        if self.breaches:
            breaches, self.breaches = tuple(self.breaches), []
            self.kill_switch(breaches)
        self.drain()


_RUNNING = RuntimeState.RUNNING


def _failed(context: _Context, hook: Callable[..., None], exc: Exception) -> StrategyFailedError:
    return StrategyFailedError(
        f"strategy {context.config.id} failed in {hook.__name__} at market time "
        f"{_iso(context.book.market_time)}: {type(exc).__name__}: {exc}"
    )


def _call(context: _Context, hook: Callable[..., None], *argument: Any) -> None:
    """Run a strategy hook; a failure ends the backtest with the strategy and time named."""
    try:
        hook(*argument)
    except Exception as exc:
        raise _failed(context, hook, exc) from exc


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts / 1e9, dt.UTC).isoformat() if ts else "(before any data)"


_Hook = tuple[_Context, Callable[[Any], None], Callable[[Any], None]]


def _hooks(contexts: Sequence[_Context], tick: bool) -> tuple[_Hook, ...]:
    """(context, book update, strategy hook) of each subscriber of a series."""
    hooks: list[_Hook] = []
    for context in contexts:
        strategy = context.strategy
        assert strategy is not None
        if tick:
            hooks.append((context, context.book.saw_tick, strategy.on_tick))
        else:
            hooks.append((context, context.book.saw_bar, strategy.on_bar))
    return tuple(hooks)


# Bars and ticks are built by setting their slots directly: the frozen dataclass
# __init__ (one object.__setattr__ per field) would cost a third of a backtest.
# The result is the same object, equal to one made by the constructor.
_new = object.__new__
_BAR_SLOTS = tuple(
    Bar.__dict__[name].__set__
    for name in ("id", "ts_event", "ts_init", "symbol", "open", "high", "low", "close")
)
_set_bar_volume = Bar.__dict__["volume"].__set__
_set_bar_interval = Bar.__dict__["interval_s"].__set__
_TICK_SLOTS = tuple(
    Tick.__dict__[name].__set__ for name in ("id", "ts_event", "ts_init", "symbol", "price", "size")
)


def _bar(  # noqa: PLR0917 (positional: a call per event)
    ts: int,
    symbol: str,
    open_: float,
    high: float,
    low: float,
    close: float,
    volume: float,
    interval_s: int,
) -> Bar:
    """``Bar(id=next_id(), ts_event=ts, ts_init=ts, ...)``, built fast."""
    bar = _new(Bar)
    s_id, s_ts, s_init, s_symbol, s_open, s_high, s_low, s_close = _BAR_SLOTS
    s_id(bar, next_id())
    s_ts(bar, ts)
    s_init(bar, ts)
    s_symbol(bar, symbol)
    s_open(bar, open_)
    s_high(bar, high)
    s_low(bar, low)
    s_close(bar, close)
    _set_bar_volume(bar, volume)
    _set_bar_interval(bar, interval_s)
    return bar


def _tick(ts: int, symbol: str, price: float, size: float) -> Tick:
    """``Tick(id=next_id(), ts_event=ts, ts_init=ts, ...)``, built fast."""
    tick = _new(Tick)
    s_id, s_ts, s_init, s_symbol, s_price, s_size = _TICK_SLOTS
    s_id(tick, next_id())
    s_ts(tick, ts)
    s_init(tick, ts)
    s_symbol(tick, symbol)
    s_price(tick, price)
    s_size(tick, size)
    return tick


def _events(data: Sequence[BarSeries]) -> Iterator[tuple[int, int, int]]:
    """(ts, series index, row) of every row of every series, in time order (ties: series order)."""
    if len(data) == 1:
        return zip(data[0].ts, itertools.repeat(0), itertools.count(), strict=False)
    return heapq.merge(
        *(
            zip(s.ts, itertools.repeat(k), itertools.count(), strict=False)
            for k, s in enumerate(data)
        )
    )


def _check(settings: Settings, data: Sequence[BarSeries]) -> None:
    if not settings.strategies:
        raise BacktestError(f"{settings.source}: no [[strategies]] to backtest")
    symbols = [s.symbol for s in data]
    repeated = sorted({s for s in symbols if symbols.count(s) > 1})
    if repeated:
        raise BacktestError(f"data: symbol {repeated[0]!r} is given more than once")
    for config in settings.strategies:
        missing = [s for s in config.symbols if s not in symbols]
        if missing:
            raise BacktestError(
                f"strategy {config.id} trades {', '.join(missing)} but the data has "
                f"{', '.join(symbols) or 'no symbol'}"
            )


def _params(params: Any) -> dict[str, object]:
    return {f.name: getattr(params, f.name) for f in fields(params)}


def run_backtest(
    settings: Settings, data: Sequence[BarSeries], *, progress: Progress | None = None
) -> BacktestResult:
    """Replay ``data`` through every strategy of ``settings``; see the module docstring.

    Raises :class:`BacktestError` when a strategy trades a symbol the data lacks,
    a symbol is given twice, or a strategy hook raises (naming the strategy and
    the market time).
    """
    _check(settings, data)
    loop = _Loop(settings)
    contexts = loop.contexts
    for context in contexts.values():
        config = context.config
        strategy: Strategy = config.strategy_class(
            strategy_id=config.id, params=config.params, symbols=config.symbols, context=context
        )
        context.strategy = strategy
        _call(context, strategy.on_start)
    loop.drain()

    ids = tuple(contexts)
    ticks = [s.kind is DataKind.TICKS for s in data]
    hooks = [
        _hooks(loop.subscribers.get(s.symbol, ()), tick)
        for s, tick in zip(data, ticks, strict=True)
    ]
    starting = settings.portfolio.starting_cash
    ledger, matcher, guard = loop.ledger, loop.matcher, loop.guard
    guarded = guard.active
    total_ts: list[int] = []
    total_eq: list[float] = []
    curves: dict[str, list[float]] = {sid: [] for sid in ids}
    held: dict[str, list[bool]] = {sid: [] for sid in (*ids, _TOTAL)}
    held_total = held[_TOTAL]
    books = [(contexts[sid].book, curves[sid], held[sid], sid) for sid in ids]
    contribution = ledger.contribution
    drain, engine_events, queue = loop.drain, loop.engine_events, loop.queue
    count = 0
    fills = loop.fills
    fills_seen = 0
    last = [0.0] * len(books)
    for ts, k, i in _events(data):
        series = data[k]
        loop.clock_ns = ts
        price = series.close[i]
        if ticks[k]:
            tick = _tick(ts, series.symbol, price, series.volume[i])
            event: Bar | Tick = tick
            found = matcher.on_tick(tick)
        else:
            event = _bar(
                ts,
                series.symbol,
                series.open[i],
                series.high[i],
                series.low[i],
                price,
                series.volume[i],
                series.interval_s,
            )
            found = matcher.on_bar(event)
        if found:
            engine_events(found)
        for context, saw, hook in hooks[k]:
            saw(event)
            try:
                hook(event)
            except Exception as exc:
                raise _failed(context, hook, exc) from exc
            if queue:
                drain()
        ledger.mark(series.symbol, price, ts_event=ts)
        if guarded:
            breaches = guard.on_mark(series.symbol, price, ts)
            if breaches:
                loop.kill_switch(breaches)
                drain()
        equity = starting
        anything = False
        filled = len(fills) != fills_seen
        fills_seen = len(fills)
        for j, (book, curve, flags, sid) in enumerate(books):
            flag = any(book.positions.values())
            # Flat and nothing filled since the last event: the contribution is
            # the same cash flow as before.
            if flag or filled:
                last[j] = contribution(sid)
            value = last[j]
            equity += value
            curve.append(starting + value)
            flags.append(flag)
            anything = anything or flag
        total_ts.append(ts)
        total_eq.append(equity)
        held_total.append(anything)
        count += 1
        if progress is not None and count % _PROGRESS_EVERY == 0:
            progress.advance(_PROGRESS_EVERY)
    if progress is not None:
        progress.advance(count % _PROGRESS_EVERY)

    for context in contexts.values():
        assert context.strategy is not None
        _call(context, context.strategy.on_stop)
    loop.drain()
    return _result(settings, data, loop, ts=total_ts, total=total_eq, curves=curves, held=held)


def _result(
    settings: Settings,
    data: Sequence[BarSeries],
    loop: _Loop,
    *,
    ts: list[int],
    total: list[float],
    curves: dict[str, list[float]],
    held: dict[str, list[bool]],
) -> BacktestResult:
    starting = settings.portfolio.starting_cash
    trips = tuple(loop.closed)
    fills = tuple(loop.fills)
    metrics: dict[str, Metrics] = {}
    for sid in (*curves, _TOTAL):
        mine = trips if sid == _TOTAL else tuple(t for t in trips if t.strategy_id == sid)
        fees = math.fsum(f.commission for f in fills if sid in (_TOTAL, f.strategy_id))
        metrics[sid] = compute_metrics(
            ts,
            total if sid == _TOTAL else curves[sid],
            starting=starting,
            trips=mine,
            fees=fees,
            in_market=held[sid],
        )
    return BacktestResult(
        settings=settings.source,
        data=tuple(f"{s.symbol}={s.source}" for s in data),
        start_ns=ts[0] if ts else 0,
        end_ns=ts[-1] if ts else 0,
        events=len(ts),
        starting_cash=starting,
        strategies=tuple(curves),
        params={s.id: _params(s.params) for s in settings.strategies},
        orders=tuple(state.record() for state in loop.orders.values()),
        fills=fills,
        trips=trips,
        equity=EquityCurve(ts=ts, total=total, by_strategy=curves, in_market=held),
        metrics=metrics,
        halted=loop.halted,
    )
