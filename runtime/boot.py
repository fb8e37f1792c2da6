"""Build, start and stop a runtime from validated settings.

Start order (the supervisor starts children in this order and stops them in
reverse): event sink, portfolio, order manager, engines, risk, strategies,
feed. The feed starts publishing only once every actor is up.

The runtime's trading state (:class:`~runtime.lifecycle.StateMachine`:
RUNNING, PAUSED, REDUCING, HALTED...) lives here; every transition is an
event, and risk is told the new state (versioned, so that a state risk's
own kill switch moved past is never applied late). Operators move it with
:meth:`Runtime.pause`, :meth:`Runtime.resume`, :meth:`Runtime.reduce`,
:meth:`Runtime.halt` and :meth:`Runtime.reset`.

Shutdown, whatever triggers it (end of data, duration, Ctrl-C, SIGTERM):

1. the feed stops publishing;
2. in-flight work settles: every strategy handles what it was sent, then
   risk and the order manager forward what they hold, then the engines
   handle every order;
3. with ``execution.cancel_on_shutdown`` the engines cancel working orders;
4. the books and counters are read for the summary;
5. actors stop in reverse start order and every actor thread is joined.

The operator API (what the gateway's commands call): the set of strategies
changes while the runtime trades (:meth:`Runtime.add_strategy`,
:meth:`Runtime.remove_strategy`, :meth:`Runtime.restart_strategy`), operators
enter and cancel orders (:meth:`Runtime.submit_order`,
:meth:`Runtime.cancel_order`, :meth:`Runtime.cancel_all`; orders entered for
no strategy belong to the reserved strategy id ``manual``) and read the state
(:meth:`Runtime.strategies`, :meth:`Runtime.positions`,
:meth:`Runtime.status`). Every strategy that ran during the run is kept
(removed ones as ``stopped``), and each strategy id has one client order id
sequence for the whole run: an id added again continues it, so no client
order id ever repeats. Operator changes run one at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import pykka
from loguru import logger

from actors.brokers.base import BrokerAdapter
from actors.brokers.faulty import FaultyAdapter
from actors.brokers.paper import PaperAdapter
from actors.brokers.venue import VenueAdapter
from actors.engine_host import EngineHost, EngineStats
from actors.event_sink import EventListener, EventSink, EventStream
from actors.feed import FeedActor, GetMarket, MarketView
from actors.journal import JournalActor, JournalCarry
from actors.orders import OrderManager, OrdersStats
from actors.portfolio import PortfolioActor, PortfolioSnapshot
from actors.risk import RiskActor, RiskStats
from actors.strategy_host import StrategyBook, StrategyHost, seed_book
from actors.supervisor import (
    AddChild,
    ChildSpec,
    ChildState,
    ChildStatus,
    GetExecutionStatus,
    PinEngine,
    RemoveChild,
    RestartChild,
    Supervisor,
)
from runtime.actor import actor_thread
from runtime.config import EngineConfig, FeedSource, Settings, StrategyConfig
from runtime.directory import Directory
from runtime.errors import OrderError
from runtime.failover import ExecutionStatus
from runtime.ids import ClientOrderIds, run_tag
from runtime.journal_store import JournalStore, open_journal
from runtime.ledger import Ledger
from runtime.lifecycle import IllegalTransitionError, StateMachine
from runtime.marketdata import market_data
from runtime.messages import (
    Bar,
    CancelAll,
    Crash,
    Flush,
    GetOrders,
    GetSnapshot,
    Handshake,
    OrderIntent,
    OrderStatus,
    OrderType,
    PauseStrategy,
    Position,
    RearmLossGuard,
    RecoveryReport,
    RejectReason,
    ResumeStrategy,
    RuntimeState,
    RuntimeStateChanged,
    SetLossLimit,
    SetStrategyLimits,
    SetTradingState,
    Side,
    StartChildren,
    StartFeed,
    StopChildren,
    StopFeed,
    StrategyRemoved,
    Subscribe,
    Tick,
    TimeInForce,
    Unsubscribe,
    cancel_request,
    next_id,
    unfilled_update,
)
from runtime.names import (
    EVENTS,
    FEED,
    JOURNAL,
    ORDER_PATH,
    ORDERS,
    PORTFOLIO,
    RISK,
    SUPERVISOR,
    ActorKind,
    engine_actor,
    strategy_actor,
)
from runtime.order_states import OrderView
from runtime.reconcile import reconcile_engines
from runtime.recovery import FirstStart, Restored, restore
from runtime.settings import RESERVED_STRATEGY_IDS
from runtime.strategy_view import RemovePolicy, RuntimeStatus, StrategyView
from runtime.summary import RunSummary, summarize
from runtime.venue_feed import venue_market_data

__all__ = ["MANUAL", "RemovePolicy", "Runtime", "RuntimeStatus", "StrategyView"]

MANUAL = "manual"
"""Strategy id of the orders an operator enters (:meth:`Runtime.submit_order`)."""
assert MANUAL in RESERVED_STRATEGY_IDS


_ADAPTER_CLASSES: dict[str, type[BrokerAdapter]] = {"paper": PaperAdapter, "venue": VenueAdapter}
"""Adapter class of each ``[engines.NAME] adapter`` kind."""

_TRADING_STATES = frozenset(
    {RuntimeState.RUNNING, RuntimeState.PAUSED, RuntimeState.REDUCING, RuntimeState.HALTED}
)
"""States risk is told about (it keeps its last one while the runtime stops)."""
_OPEN_STATES = frozenset({RuntimeState.RUNNING, RuntimeState.PAUSED, RuntimeState.REDUCING})
"""States an operator may pause, reduce or halt from."""


def make_adapter(config: EngineConfig, clock: Callable[[], int]) -> BrokerAdapter:
    """A fresh adapter for ``[engines.NAME]``, wrapped in fault injection if configured."""
    adapter: BrokerAdapter
    if config.adapter == "paper":
        adapter = PaperAdapter(engine=config.name, config=config.paper, clock=clock)
    elif config.adapter == "venue":
        assert config.venue is not None
        adapter = VenueAdapter(engine=config.name, config=config.venue, clock=clock)
    else:
        raise ValueError(f"unknown adapter {config.adapter!r}")  # settings already refuse it
    if config.faults is not None:
        adapter = FaultyAdapter(adapter, config.faults)
    return adapter


class Runtime:
    """One running instance: its actors, its directory and its life cycle."""

    def __init__(
        self,
        settings: Settings,
        *,
        listeners: Sequence[EventListener] = (),
        clock: Callable[[], int] = time.time_ns,
        source: Iterator[Bar | Tick] | None = None,
        on_finished: Callable[[], None] | None = None,
        on_fatal: Callable[[str], None] | None = None,
        stream: EventStream | None = None,
    ) -> None:
        """``source`` replaces the configured market data (benchmarks pass an
        empty iterator and inject data themselves); ``on_finished`` is called,
        in the feed's thread, when the data runs out; ``on_fatal`` is called
        with a reason when an actor the runtime cannot run without fails;
        ``stream`` numbers and publishes every event (the gateway's ``publish``)."""
        self.settings = settings
        self.directory = Directory()
        self.finished = threading.Event()
        """Set when the feed has no more data."""
        self._machine = StateMachine(clock=clock)
        self._moving = threading.RLock()
        """Held over a transition and the messages it sends, so that two transitions
        (an operator's and the kill switch's) reach risk and the engines in the
        order they were made."""
        self._listeners = tuple(listeners)
        self._stream = stream
        self._store: JournalStore | None = None
        self._restored: Restored | None = None
        self.recovery: RecoveryReport | None = None
        """What recovery from the journal found at start (None: nothing to recover)."""
        self._clock = clock
        self._source = source
        self._on_finished = on_finished
        self._on_fatal = on_fatal
        self.fatal: str | None = None
        """Why the runtime must stop, once a core actor failed; else None."""
        self._run = run_tag(clock())
        self._supervisor: pykka.ActorRef[Any] | None = None
        self._supervisor_thread: threading.Thread | None = None
        self._summary: RunSummary | None = None
        self._started_ns = 0
        self._stopped_ns = 0
        self._lock = threading.Lock()
        """Guards the strategy registry below (held briefly, never over a message)."""
        self._ops = threading.RLock()
        """Held over one operator change (add, remove, restart) and over entering
        STOPPING: changes run one at a time and never while the runtime stops."""
        self._strategies: dict[str, StrategyConfig] = {c.id: c for c in settings.strategies}
        """Every strategy of this run, in the order it first ran (removed ones too)."""
        self._removed: set[str] = set()
        """Ids of the strategies removed (and not added again)."""
        # One sequence per strategy id for the whole run, never recreated: a
        # restarted host, or an id added again, continues it.
        self._order_ids: dict[str, ClientOrderIds] = {
            sid: ClientOrderIds(self._run, sid) for sid in (*self._strategies, MANUAL)
        }

    # --- wiring ----------------------------------------------------------------

    def _children(self) -> list[ChildSpec]:
        s = self.settings
        d = self.directory
        core = s.supervision
        active = engine_actor(s.execution.force or s.engines[0].name)
        journal = self._store is not None
        restored = self._restored
        specs = []
        if self._store is not None:
            # First: it stops last, after everything that writes to it.
            store = self._store
            specs.append(
                ChildSpec(
                    name=JOURNAL,
                    kind=ActorKind.JOURNAL,
                    supervision=core,
                    start=lambda carry: JournalActor.start(
                        name=JOURNAL,
                        directory=d,
                        config=s.journal,
                        carry=carry if carry is not None else JournalCarry(store=store),
                    ),
                )
            )
        first = FirstStart(restored)
        specs += [
            ChildSpec(
                name=EVENTS,
                kind=ActorKind.EVENTS,
                supervision=core,
                start=lambda carry: EventSink.start(
                    name=EVENTS,
                    directory=d,
                    listeners=self._listeners,
                    log_level=s.runtime.log_level,
                    stream=self._stream,
                    journal=journal,
                ),
            ),
            ChildSpec(
                name=PORTFOLIO,
                kind=ActorKind.PORTFOLIO,
                supervision=core,
                start=lambda carry: PortfolioActor.start(
                    name=PORTFOLIO,
                    directory=d,
                    ledger=None
                    if carry is not None or first.has(PORTFOLIO)
                    else Ledger(s.portfolio.starting_cash, clock=self._clock),
                    loss_limits={c.id: self._loss_limit(c) for c in self._live()},
                    account_loss_limit=s.risk.daily_loss_limit,
                    carry=first.carry(PORTFOLIO, carry),
                ),
            ),
        ]
        # Before the engines, so that it stops after them: what an engine reports
        # while it stops (orders it never sent) still reaches the owners.
        specs.append(
            ChildSpec(
                name=ORDERS,
                kind=ActorKind.ORDERS,
                supervision=core,
                start=lambda carry: OrderManager.start(
                    name=ORDERS,
                    directory=d,
                    engine=active,
                    engines=tuple(engine_actor(e.name) for e in s.engines),
                    carry=first.carry(ORDERS, carry),
                    journal=journal,
                ),
            )
        )
        for engine in s.engines:
            name = engine_actor(engine.name)
            specs.append(
                ChildSpec(
                    name=name,
                    kind=ActorKind.ENGINE,
                    supervision=engine.supervision,
                    engine=engine.name,
                    start=lambda carry, n=name, e=engine: EngineHost.start(  # type: ignore[misc]
                        name=n,
                        directory=d,
                        adapter=lambda: make_adapter(e, self._clock),
                        carry=carry,
                        retry=e.retry,
                        breaker=e.breaker,
                        rate_limit=e.rate_limit,
                    ),
                )
            )
        specs.append(
            ChildSpec(
                name=RISK,
                kind=ActorKind.RISK,
                supervision=core,
                start=lambda carry: RiskActor.start(
                    name=RISK,
                    directory=d,
                    limits=s.risk,
                    overrides={c.id: c.risk for c in self._live() if c.risk is not None},
                    on_halt=self._kill_switch,
                    carry=first.carry(RISK, carry),
                ),
            )
        )
        seeds = restored.strategies if restored is not None else {}
        specs.extend(self._strategy_spec(c, seeds.get(c.id)) for c in self._live())
        source = self._source if self._source is not None else self._market_data()
        engines = tuple(engine_actor(e.name) for e in s.engines)
        # The feed may legitimately wait up to shutdown_timeout_s for a slow
        # subscriber in one handler (lockstep, back-pressure): it must not be
        # taken for stuck meanwhile, or a hung strategy would cost the feed too.
        feed_timeout = max(
            core.health_timeout_s, 2 * s.runtime.shutdown_timeout_s + core.health_interval_s
        )
        specs.append(
            ChildSpec(
                name=FEED,
                kind=ActorKind.FEED,
                supervision=replace(core, health_timeout_s=feed_timeout),
                start=lambda carry: FeedActor.start(
                    name=FEED,
                    directory=d,
                    source=source,
                    config=s.feed,
                    subscriptions=self._subscriptions(),
                    flush_chain=(RISK, ORDERS, *engines),
                    relay=(ORDERS,),
                    guard=(RISK, ORDERS, *engines),
                    on_finished=self._feed_finished,
                    sync_timeout_s=s.runtime.shutdown_timeout_s,
                    carry=carry,
                ),
            )
        )
        return specs

    def _strategy_spec(self, config: StrategyConfig, seed: StrategyBook | None = None) -> ChildSpec:
        """How to start (and restart) the host of one strategy; ``seed`` is the book
        its first start begins from (later starts get their predecessor's)."""
        name = strategy_actor(config.id)
        with self._lock:
            ids = self._order_ids.setdefault(config.id, ClientOrderIds(self._run, config.id))
        directory = self.directory
        seeds = [seed] if seed is not None else []

        def start(carry: Any) -> pykka.ActorRef[Any]:
            if carry is None and seeds:
                carry = seeds.pop()
            return StrategyHost.start(
                name=name, directory=directory, config=config, order_ids=ids, carry=carry
            )

        return ChildSpec(
            name=name, kind=ActorKind.STRATEGY, supervision=config.supervision, start=start
        )

    def _subscriptions(self) -> list[Subscribe]:
        """Who gets market data, read when the feed starts (a feed that starts
        from a failed one's state keeps that one's subscriptions instead)."""
        subscriptions = [Subscribe(PORTFOLIO, ("*",), 2)]
        for engine in self.settings.engines:
            if _ADAPTER_CLASSES[engine.adapter].wants_market_data:
                subscriptions.append(Subscribe(engine_actor(engine.name), ("*",), 0))
        for config in self._live():
            subscriptions.append(Subscribe(strategy_actor(config.id), config.symbols, 1))
        return subscriptions

    def _live(self) -> list[StrategyConfig]:
        """The strategies of the run that are not removed, in the order they first ran."""
        with self._lock:
            return [c for sid, c in self._strategies.items() if sid not in self._removed]

    def _live_config(self, strategy_id: str) -> StrategyConfig | None:
        with self._lock:
            if strategy_id in self._removed:
                return None
            return self._strategies.get(strategy_id)

    def _loss_limit(self, config: StrategyConfig) -> float:
        """A strategy's effective ``daily_loss_limit``."""
        return (config.risk or self.settings.risk).daily_loss_limit

    def _market_data(self) -> Iterator[Bar | Tick | None]:
        feed = self.settings.feed
        if feed.source is FeedSource.VENUE:
            symbols = tuple(sorted({x for c in self._live() for x in c.symbols}))
            return venue_market_data(feed.venue, symbols or None)
        return market_data(feed)

    def _escalated(self, reason: str) -> None:
        if self.fatal is None:
            self.fatal = reason
        self._quietly(RuntimeState.HALTED, f"core actor failed: {reason}")
        if self._on_fatal is not None:
            self._on_fatal(reason)

    def _kill_switch(self, reason: str) -> int:
        """Risk's kill switch fired (in risk's thread): HALTED, and the version risk
        must hold so that an older state told to it is ignored."""
        self._quietly(RuntimeState.HALTED, reason)
        return self._machine.version

    def _feed_finished(self) -> None:
        self.finished.set()
        if self._on_finished is not None:
            self._on_finished()

    # --- life cycle -------------------------------------------------------------

    @property
    def state(self) -> RuntimeState:
        """The runtime's state (STARTING until :meth:`start` has finished)."""
        return self._machine.state

    def state_history(self) -> tuple[RuntimeStateChanged, ...]:
        """The last 100 state transitions, oldest first, with time and reason."""
        return self._machine.history()

    def _move(
        self,
        state: RuntimeState,
        reason: str,
        allowed_from: frozenset[RuntimeState] | None = None,
    ) -> RuntimeStateChanged:
        """Transition (raises ``IllegalTransitionError``), publish it, tell risk the
        trading state, and on entering HALTED cancel what is working at every engine.

        The cancel-all travels the orders' own path (risk, the order manager,
        each engine), behind every order risk accepted before it knew: nothing
        already on its way can start working after the cancel. If risk (or the
        order manager) is gone, it starts further down the path.
        """
        with self._moving:  # tells only: never blocks on another actor
            event, version = self._machine.move(state, reason, allowed_from=allowed_from)
            if not self.directory.tell(EVENTS, event):
                logger.info("runtime {} -> {}: {}", event.previous, state, reason)
            if state in _TRADING_STATES:
                self.directory.tell(RISK, SetTradingState(state, version, reason))
            if state is RuntimeState.HALTED:
                cancel = CancelAll(RejectReason.HALTED, f"trading halted: {reason}")
                self.directory.tell_along(ORDER_PATH, cancel, self._engine_names())
        return event

    def _quietly(self, state: RuntimeState, reason: str) -> None:
        """Move if the table allows it (a step that may already have happened: a
        second halt, a shutdown step)."""
        with contextlib.suppress(IllegalTransitionError):
            self._move(state, reason)

    def pause(self, reason: str = "paused by operator") -> RuntimeStateChanged:
        """PAUSED: no new orders; cancels pass and working orders stay."""
        return self._move(RuntimeState.PAUSED, reason, _OPEN_STATES)

    def reduce(self, reason: str = "reduce-only by operator") -> RuntimeStateChanged:
        """REDUCING: only orders that bring a position closer to flat."""
        return self._move(RuntimeState.REDUCING, reason, _OPEN_STATES)

    def resume(self, reason: str = "resumed by operator") -> RuntimeStateChanged:
        """Back to RUNNING from PAUSED or REDUCING (HALTED needs :meth:`reset`)."""
        return self._move(
            RuntimeState.RUNNING, reason, frozenset({RuntimeState.PAUSED, RuntimeState.REDUCING})
        )

    def halt(self, reason: str = "halted by operator") -> RuntimeStateChanged:
        """HALTED (the emergency stop): no orders, every working order cancelled."""
        return self._move(RuntimeState.HALTED, reason, _OPEN_STATES)

    def reset(self, reason: str = "reset by operator") -> RuntimeStateChanged:
        """From HALTED back to RUNNING. The daily loss limits count afresh from the
        P&L at this moment (a new allowance of each limit).

        Refused after a core actor failed past its restart intensity (the
        runtime must be restarted): trading without it would be unprotected.
        """
        if self.fatal is not None:
            raise IllegalTransitionError(
                f"cannot reset: a core actor failed ({self.fatal}); restart the runtime"
            )
        event = self._move(RuntimeState.RUNNING, reason, frozenset({RuntimeState.HALTED}))
        self.directory.tell(PORTFOLIO, RearmLossGuard())
        return event

    def pause_strategy(self, strategy_id: str, reason: str = "paused by operator") -> None:
        """Refuse new orders of one strategy (``PAUSED``); it still receives data."""
        self._strategy_command(PauseStrategy(strategy_id, reason))

    def resume_strategy(self, strategy_id: str, reason: str = "resumed by operator") -> None:
        """Let a paused strategy (by an operator or its losing streak) send orders again."""
        self._strategy_command(ResumeStrategy(strategy_id, reason))

    def _strategy_command(self, command: PauseStrategy | ResumeStrategy) -> None:
        if self._live_config(command.strategy_id) is None:
            raise LookupError(f"no strategy {command.strategy_id!r}")
        self.ask(RISK, command)

    def orders(self, strategy_id: str = "", *, open_only: bool = True) -> tuple[OrderView, ...]:
        """Orders of one strategy (empty: all) from the order manager, in creation order."""
        result: tuple[OrderView, ...] = self.ask(ORDERS, GetOrders(strategy_id, open_only))
        return result

    # --- operator API: strategies ------------------------------------------------

    def _require_open(self, action: str) -> pykka.ActorRef[Any]:
        """The supervisor, when the runtime trades (RUNNING, PAUSED, REDUCING or
        HALTED); else RuntimeError (not started yet, or stopping)."""
        state = self.state
        if self._supervisor is None or state not in _TRADING_STATES:
            raise RuntimeError(f"cannot {action}: the runtime is {state.value}")
        return self._supervisor

    def _operation_timeout(self) -> float:
        """How long to wait for the supervisor to start or stop one actor: its own
        waits (the start handshake, then stopping a failed start) and the backlog
        of its mailbox."""
        return 3 * self.settings.runtime.shutdown_timeout_s + 5.0

    def _apply_limits(self, strategy_id: str, config: StrategyConfig | None) -> None:
        """Tell risk and the portfolio the limits of ``strategy_id`` under ``config``
        (None: none of its own, and no daily loss limit)."""
        limits = None if config is None else config.risk
        self._ask_live(RISK, SetStrategyLimits(strategy_id, limits))
        loss = 0.0 if config is None else self._loss_limit(config)
        self._ask_live(PORTFOLIO, SetLossLimit(strategy_id, loss))

    def add_strategy(self, config: StrategyConfig) -> StrategyView:
        """Start one more strategy while the runtime trades; returns its view.

        Its own risk limits (``config.risk``) and daily loss limit are in force
        before it starts; its host starts (``on_start`` runs) and only then does
        the feed send it data, so its first bar comes after ``on_start``. An id
        that was removed earlier may be added again (any class): it continues
        that id's client order ids, and starts knowing the positions and open
        orders the id still has (from the portfolio and the order manager).

        Raises:
            RuntimeError: the runtime is not trading (not started, or stopping).
            ValueError: a strategy with this id is running (not removed), or the
                id is reserved.
            StartupError: it failed to start (its ``on_start`` raised or hung);
                nothing of it is left and the runtime is untouched.
        """
        with self._ops:
            supervisor = self._require_open("add a strategy")
            strategy_id = config.id
            if strategy_id in RESERVED_STRATEGY_IDS:
                raise ValueError(
                    f"strategy id {strategy_id!r} is reserved for orders entered by an operator"
                )
            with self._lock:
                if strategy_id in self._strategies and strategy_id not in self._removed:
                    raise ValueError(f"strategy id {strategy_id!r} already exists")
                previous = self._strategies.get(strategy_id)
            # An id added again owns what it left: positions, and orders kept working.
            seed = self._reviser(strategy_id)(None) if previous is not None else None
            spec = self._strategy_spec(config, seed)
            try:
                self._apply_limits(strategy_id, config)
            except BaseException:
                self._restore_limits(strategy_id, previous)
                raise
            try:
                supervisor.ask(AddChild(spec), block=True, timeout=self._operation_timeout())
            except pykka.Timeout:
                # The supervisor may yet start it: keep it on record (and limited),
                # so that it shows and can be removed.
                logger.error("supervisor did not answer adding strategy {}", strategy_id)
                self._record(config)
                raise
            except BaseException:
                self._restore_limits(strategy_id, previous)
                raise
            self._record(config)
            # Last: its first bar comes after its on_start (and a feed restarting
            # holds the subscription for its replacement).
            self.directory.tell(FEED, Subscribe(spec.name, config.symbols, 1))
        return self._view(strategy_id)

    def _restore_limits(self, strategy_id: str, previous: StrategyConfig | None) -> None:
        """Undo :meth:`_apply_limits` of a failed add (best effort: it is failing already)."""
        try:
            self._apply_limits(strategy_id, previous)
        except Exception as exc:
            logger.error("limits of {} not restored after a failed add: {!r}", strategy_id, exc)

    def _record(self, config: StrategyConfig) -> None:
        with self._lock:
            self._strategies[config.id] = config
            self._removed.discard(config.id)

    def remove_strategy(
        self, strategy_id: str, policy: RemovePolicy = RemovePolicy.CANCEL
    ) -> StrategyRemoved:
        """Stop a strategy for good while the runtime trades.

        In order: the feed stops sending it data; its host stops (``on_stop`` runs
        and may still send orders); risk is flushed so that orders on their way
        reach the order manager; then its open orders are, per ``policy``,
        cancelled (``cancel``), left working (``keep``), or cancelled and every
        position closed by a MARKET DAY order (``flatten``; after the cancels
        have been handled, so that fills they raced with count). The orders go
        through risk like the strategy's own. It stays in :meth:`strategies` as
        ``stopped``; its id may be added again. Publishes and returns
        ``StrategyRemoved``.

        Raises:
            RuntimeError: the runtime is not trading.
            LookupError: no running (not removed) strategy has this id.
        """
        policy = RemovePolicy(policy)
        with self._ops:
            supervisor = self._require_open("remove a strategy")
            if self._live_config(strategy_id) is None:
                raise LookupError(f"no strategy {strategy_id!r}")
            name = strategy_actor(strategy_id)
            try:
                self._ask_live(FEED, Unsubscribe(name))
            except (LookupError, pykka.ActorDeadError, pykka.Timeout):
                # Restarting (held for its replacement) or gone: its carry keeps no
                # address of a removed actor anyway.
                self.directory.tell(FEED, Unsubscribe(name))
            try:
                stopped = supervisor.ask(
                    RemoveChild(name, self.settings.runtime.shutdown_timeout_s),
                    block=True,
                    timeout=self._operation_timeout(),
                )
            except LookupError:
                stopped = True  # the supervisor never started it
            if not stopped:
                logger.error("{}: its thread did not end when removed", name)
            with self._lock:
                self._removed.add(strategy_id)
            cancelled: tuple[str, ...] = ()
            flattening: tuple[str, ...] = ()
            try:
                if policy is not RemovePolicy.KEEP:
                    cancelled = self._cancel_open(strategy_id)
                if policy is RemovePolicy.FLATTEN:
                    # A paused strategy (operators pause one before removing it) would
                    # have its closing orders refused; it is stopped, so lifting the
                    # pause lets only those through.
                    self._ask_live(
                        RISK, ResumeStrategy(strategy_id, "removed with flatten: closing out")
                    )
                    flattening = self._flatten(strategy_id)
            except (LookupError, pykka.ActorDeadError, pykka.Timeout) as exc:
                # The order manager or the portfolio is gone for good (trading is
                # halted and the engines cancelled what was working): the removal
                # stands, and the event says what was done.
                logger.error("strategy {} removed; {} not done: {!r}", strategy_id, policy, exc)
            now = time.time_ns()
            event = StrategyRemoved(
                id=next_id(),
                ts_event=now,
                ts_init=now,
                strategy_id=strategy_id,
                policy=policy.value,
                cancelled=cancelled,
                flattening=flattening,
            )
            if not self.directory.tell(EVENTS, event):
                logger.info("strategy {} removed ({})", strategy_id, policy.value)
        return event

    def restart_strategy(self, strategy_id: str) -> StrategyView:
        """Restart a strategy now; returns its view afterwards.

        A running one is stopped (``on_stop`` runs) and a fresh instance of its
        class starts from its host's books (positions, open orders) and the
        messages it had not handled: not counted as a failure. A quarantined one
        starts again from its last books, brought up to date from the order
        manager (its open orders) and the portfolio (its positions), with a fresh
        restart history. One restarting after a failure restarts now. If the new
        instance fails to start, the view shows it restarting or quarantined.

        Raises:
            RuntimeError: the runtime is not trading.
            LookupError: no running (not removed) strategy has this id.
        """
        with self._ops:
            supervisor = self._require_open("restart a strategy")
            if self._live_config(strategy_id) is None:
                raise LookupError(f"no strategy {strategy_id!r}")
            name = strategy_actor(strategy_id)
            children: tuple[ChildStatus, ...] = self.ask(SUPERVISOR, GetSnapshot())
            state = next((c.state for c in children if c.name == name), None)
            revise = self._reviser(strategy_id) if state is ChildState.QUARANTINED else None
            supervisor.ask(
                RestartChild(name, revise), block=True, timeout=self._operation_timeout()
            )
        return self._view(strategy_id)

    def _reviser(self, strategy_id: str) -> Callable[[Any], StrategyBook]:
        """What a quarantined (or re-added) strategy starts from: its last books (or
        new ones), with its open orders (order manager) and positions (portfolio)
        as they are now: what happened to them meanwhile never reached it."""
        engines = [engine_actor(e.name) for e in self.settings.engines]
        self._flush(RISK, ORDERS, *engines, ORDERS, PORTFOLIO)
        orders: tuple[OrderView, ...] = self._ask_live(ORDERS, GetOrders(strategy_id, True))
        positions = self.positions(strategy_id)

        def revise(carry: Any) -> StrategyBook:
            book = carry if isinstance(carry, StrategyBook) else StrategyBook()
            return seed_book(book, orders, positions)

        return revise

    def strategies(self) -> tuple[StrategyView, ...]:
        """Every strategy of this run, in the order it first ran; removed ones
        ``stopped``."""
        children = {c.name: c for c in (self._query(SUPERVISOR, GetSnapshot()) or ())}
        risk: RiskStats | None = self._query(RISK, GetSnapshot())
        paused = {sid for sid, _why in risk.paused} if risk is not None else set()
        with self._lock:
            configs = list(self._strategies.values())
            removed = set(self._removed)
        views = []
        for config in configs:
            child = children.get(strategy_actor(config.id))
            state = ChildState.STOPPED if child is None or config.id in removed else child.state
            views.append(
                StrategyView(
                    id=config.id,
                    class_path=config.class_path,
                    symbols=config.symbols,
                    params=_params(config.params),
                    state=state.value,
                    paused=config.id in paused,
                    failures=child.failures if child is not None else 0,
                    restarts=child.restarts if child is not None else 0,
                    last_error=child.last_error if child is not None else "",
                )
            )
        return tuple(views)

    def _view(self, strategy_id: str) -> StrategyView:
        return next(v for v in self.strategies() if v.id == strategy_id)

    def _ask_live(self, name: str, message: object) -> Any:
        """Ask ``name``, first waiting (up to the shutdown timeout) for it to be running
        again if it is restarting: an operator's request is not refused for a restart
        in progress. Raises as :meth:`ask` does once it is gone for good."""
        timeout = self.settings.runtime.shutdown_timeout_s
        address = self.directory.get(name)
        if address is None:  # a core actor given up on: the runtime, not the request, is at fault
            raise pykka.ActorDeadError(f"{name} is not running")
        address.wait_running(timeout)
        return address.ask(message, timeout)

    def _query(self, name: str, message: object) -> Any:
        """Ask ``name`` for a view; None when it is not running (a timeout is logged)."""
        try:
            return self.ask(name, message)
        except (LookupError, pykka.ActorDeadError):
            return None
        except pykka.Timeout:
            logger.warning("{} did not answer {} in time", name, type(message).__name__)
            return None

    # --- operator API: positions, orders, status ---------------------------------

    def positions(self, strategy_id: str = "") -> tuple[Position, ...]:
        """Open (non-flat) positions from the portfolio, of one strategy (empty: all,
        ``manual`` included), sorted by strategy then symbol; () for an unknown id."""
        snapshot: PortfolioSnapshot = self._ask_live(PORTFOLIO, GetSnapshot())
        found = [
            p
            for account in snapshot.accounts
            if not strategy_id or account.strategy_id == strategy_id
            for p in account.positions
            if p.quantity != 0.0
        ]
        return tuple(sorted(found, key=lambda p: (p.strategy_id, p.symbol)))

    def cancel_all(self, strategy_id: str = "") -> tuple[str, ...]:
        """Cancel the open orders of one strategy (empty: every strategy, ``manual``
        included; a removed strategy's kept orders too). Returns the client order
        ids a cancel was sent for. The runtime's state does not change (that is
        :meth:`halt`).

        Raises:
            RuntimeError: the runtime is not trading.
        """
        self._require_open("cancel orders")
        return self._cancel_open(strategy_id)

    def _cancel_open(self, strategy_id: str) -> tuple[str, ...]:
        """Cancel, through risk, what the order manager has open for ``strategy_id``
        (empty: all) once risk has passed on every order it was holding."""
        self._flush(RISK)
        orders: tuple[OrderView, ...] = self._ask_live(ORDERS, GetOrders(strategy_id, True))
        for order in orders:
            self._send_cancel(order.client_order_id, order.strategy_id)
        return tuple(o.client_order_id for o in orders)

    def _engine_names(self) -> tuple[str, ...]:
        return tuple(engine_actor(e.name) for e in self.settings.engines)

    def _send_cancel(self, client_order_id: str, strategy_id: str) -> None:
        """A cancel on the orders' own path (:data:`~runtime.names.ORDER_PATH`)."""
        cancel = cancel_request(client_order_id, strategy_id)
        self.directory.tell_along(ORDER_PATH, cancel, self._engine_names())

    def _flatten(self, strategy_id: str) -> tuple[str, ...]:
        """Close every position of ``strategy_id`` at market once the cancels sent
        for it have been handled (fills they raced with are in the books)."""
        engines = [engine_actor(e.name) for e in self.settings.engines]
        self._flush(RISK, ORDERS, *engines, ORDERS, PORTFOLIO)
        ids = self._order_ids[strategy_id]
        sent = []
        for position in self.positions(strategy_id):
            market = self._market(position.symbol)
            last = market.last if market is not None else None
            ts_event = market.market_time if market is not None and market.market_time else 0
            intent = OrderIntent(
                id=next_id(),
                ts_event=ts_event or position.ts_event,
                ts_init=time.time_ns(),
                client_order_id=ids.next(),
                strategy_id=strategy_id,
                symbol=position.symbol,
                side=Side.SELL if position.quantity > 0 else Side.BUY,
                quantity=abs(position.quantity),
                order_type=OrderType.MARKET,
                limit_price=None,
                stop_price=None,
                time_in_force=TimeInForce.DAY,
                market_price=_price(last) if last is not None else position.mark_price,
            )
            if self.directory.tell(RISK, intent):
                sent.append(intent.client_order_id)
                continue
            update = unfilled_update(
                intent,
                OrderStatus.REJECTED,
                RejectReason.HALTED,
                "the risk actor is not running: the flattening order was not sent",
            )
            logger.error("{}: {}", strategy_id, update.message)
            self.directory.tell(EVENTS, update)
        return tuple(sent)

    def _market(self, symbol: str) -> MarketView | None:
        """What the feed last published of ``symbol``; None if it does not answer."""
        result: MarketView | None = self._query(FEED, GetMarket(symbol))
        return result

    def _published(self) -> tuple[str, ...] | None:
        """Symbols the configured feed publishes; None when only the venue knows."""
        feed = self.settings.feed
        if feed.source is FeedSource.CSV:
            return tuple(c.symbol for c in feed.csv)
        if feed.source is FeedSource.VENUE:
            return None
        return feed.synthetic.symbols

    def submit_order(
        self,
        *,
        symbol: str,
        side: Side,
        quantity: float,
        order_type: OrderType = OrderType.MARKET,
        limit_price: float | None = None,
        stop_price: float | None = None,
        time_in_force: TimeInForce = TimeInForce.DAY,
        strategy_id: str = MANUAL,
    ) -> str:
        """Enter an order as an operator; returns its client order id.

        It goes to risk exactly as a strategy's order does: every risk rule
        applies (``manual`` has the ``[risk]`` limits; a strategy its own), and
        a refusal comes back as a REJECTED ``OrderUpdate`` on the event stream.
        It is dated and priced (for risk) by the feed's last data of the
        symbol. ``strategy_id`` is ``manual`` or a running strategy (the order,
        its updates and fills are then that strategy's).

        Raises:
            RuntimeError: the runtime is not trading, or risk is not running.
            LookupError: ``strategy_id`` is neither ``manual`` nor a running strategy.
            OrderError: a symbol the feed does not publish (or not the strategy's),
                a quantity not > 0, prices missing, extra or not > 0 for the
                order type, or no market data published yet.
            ValueError: ``side``, ``order_type`` or ``time_in_force`` not valid.
        """
        self._require_open("submit an order")
        side, order_type = Side(side), OrderType(order_type)
        time_in_force = TimeInForce(time_in_force)
        if strategy_id != MANUAL:
            config = self._live_config(strategy_id)
            if config is None:
                raise LookupError(
                    f"no strategy {strategy_id!r}: orders are entered for {MANUAL!r} "
                    "or a running strategy"
                )
            if symbol not in config.symbols:
                raise OrderError(
                    f"{symbol!r} is not one of strategy {strategy_id}'s symbols {config.symbols}"
                )
        published = self._published()
        if published is not None and symbol not in published:
            raise OrderError(
                f"{symbol!r} is not published by the feed (it publishes: {', '.join(published)})"
            )
        if isinstance(quantity, bool) or not (math.isfinite(quantity) and quantity > 0):
            raise OrderError(f"quantity must be a finite number > 0, got {quantity!r}")
        _check_prices(order_type, limit_price, stop_price)
        market = self._market(symbol)
        if market is None:
            raise RuntimeError("the feed did not answer: the order cannot be dated")
        ts_event = market.last.ts_event if market.last is not None else market.market_time
        if ts_event <= 0:
            raise OrderError("no market data published yet: the order cannot be dated")
        intent = OrderIntent(
            id=next_id(),
            ts_event=ts_event,
            ts_init=time.time_ns(),
            client_order_id=self._order_ids[strategy_id].next(),
            strategy_id=strategy_id,
            symbol=symbol,
            side=side,
            quantity=float(quantity),
            order_type=order_type,
            limit_price=limit_price,
            stop_price=stop_price,
            time_in_force=time_in_force,
            market_price=_price(market.last) if market.last is not None else None,
        )
        if not self.directory.tell(RISK, intent):
            raise RuntimeError("the risk actor is not running: the order was not sent")
        return intent.client_order_id

    def cancel_order(self, client_order_id: str) -> None:
        """Cancel one open order (any strategy's, or ``manual``), through risk.

        Raises:
            RuntimeError: the runtime is not trading.
            LookupError: the order manager has no open order with this id.
        """
        self._require_open("cancel an order")
        self._flush(RISK)  # an order entered a moment ago has reached the order manager
        orders: tuple[OrderView, ...] = self._ask_live(ORDERS, GetOrders("", True))
        order = next((o for o in orders if o.client_order_id == client_order_id), None)
        if order is None:
            raise LookupError(f"no open order {client_order_id!r}")
        self._send_cancel(client_order_id, order.strategy_id)

    def status(self) -> RuntimeStatus:
        """The runtime at a glance: state, uptime, strategies, data and open orders."""
        published = self._query(FEED, GetSnapshot())
        bars, ticks = published if published is not None else (0, 0)
        orders: OrdersStats | None = self._query(ORDERS, GetSnapshot())
        execution: ExecutionStatus | None = self._query(SUPERVISOR, GetExecutionStatus())
        started = self._started_ns
        end = self._stopped_ns or self._clock()
        return RuntimeStatus(
            name=self.settings.runtime.name,
            run=self._run,
            state=self.state,
            started_ns=started,
            uptime_s=max(0.0, (end - started) / 1e9) if started else 0.0,
            strategies=len(self._live()),
            bars=bars,
            ticks=ticks,
            orders=len(orders.open_orders) if orders is not None else 0,
            fatal=self.fatal,
            engine=execution.active if execution is not None else "",
        )

    def start(self) -> None:
        """Start every actor, then the feed. Raises if any actor fails to start.

        With ``[journal] enabled``: the journal is opened first (a journal that
        cannot be trusted raises :class:`~runtime.errors.JournalError` before
        anything starts), the actors start from the state it holds, and every
        engine answers for the orders it held (runtime/reconcile.py) before the
        first bar.
        """
        if self._supervisor is not None:
            raise RuntimeError("runtime already started")
        timeout = self.settings.runtime.shutdown_timeout_s
        recovering = time.monotonic()
        if self.settings.journal.enabled:
            self._open_journal()
        try:
            ref = Supervisor.start(
                name=SUPERVISOR,
                directory=self.directory,
                children=self._children(),
                start_timeout_s=timeout,
                on_escalate=self._escalated,
                execution=self.settings.execution,
            )
        except BaseException:
            self._close_journal()
            raise
        self._supervisor = ref
        ref.ask(Handshake(), block=True, timeout=timeout)
        self._supervisor_thread = actor_thread(ref)
        self.directory.register(SUPERVISOR, ref)
        try:
            ref.ask(StartChildren(), timeout=timeout * (len(self.settings.strategies) + 8))
        except Exception:
            self._stop_supervisor(timeout)
            self._close_journal()
            raise
        if self._restored is not None:
            # Risk starts PAUSED from a journal: nothing trades before every engine
            # has answered for the orders it held.
            try:
                self._reconcile(recovering)
            except BaseException:
                self._stop_supervisor(timeout)
                self._close_journal()
                raise
        self._move(RuntimeState.RUNNING, f"{self.settings.runtime.name} started run {self._run}")
        if self.recovery is not None and self.recovery.halted:
            self.halt("recovery: positions differ from the engine's; check, then reset")
        self._started_ns = self._clock()
        self.directory.tell(FEED, StartFeed())

    def _open_journal(self) -> None:
        """Open the journal, rebuild the actors' state from it, record this run."""
        s = self.settings
        store = open_journal(s.journal.path, synchronous=s.journal.synchronous)
        try:
            state = store.load()
            if state.runs:
                self._restored = restore(
                    state,
                    engine=engine_actor(s.execution.force or s.engines[0].name),
                    starting_cash=s.portfolio.starting_cash,
                    risk=s.risk,
                    overrides={c.id: c.risk for c in self._live() if c.risk is not None},
                    loss_limits={c.id: self._loss_limit(c) for c in self._live()},
                    now=self._clock(),
                )
            store.begin_run(self._run, s.runtime.name, self._clock())
        except BaseException:
            store.close()
            raise
        self._store = store

    def _reconcile(self, began: float) -> None:
        """Have every engine answer for its restored orders; publish the outcome."""
        restored = self._restored
        assert restored is not None
        report, events = reconcile_engines(
            self.directory, self.settings, restored, settle=self.settle, started=began
        )
        for event in events:
            self.directory.tell(EVENTS, event)
        self.directory.tell(EVENTS, report)
        self.recovery = report
        for breach in restored.breaches:
            # The day's loss limit was breached before the crash: the kill switch holds.
            self.directory.tell(RISK, breach)
        self._restored = None  # the books now live in the actors

    def _close_journal(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def inject(self, event: Bar | Tick) -> None:
        """Publish one bar or tick through the feed (benchmarks, tests, remote feeds)."""
        if not self.directory.tell(FEED, event):
            raise RuntimeError("the feed is not running")

    def ask(self, name: str, message: object) -> Any:
        """Ask actor ``name`` (``GetSnapshot``, ``Flush``...) and wait for the answer."""
        return self.directory.ask(name, message, timeout=self.settings.runtime.shutdown_timeout_s)

    def actors(self) -> tuple[ChildStatus, ...]:
        """Every actor, its state, failures and restarts (``tradepit actors``)."""
        result: tuple[ChildStatus, ...] = self.ask(SUPERVISOR, GetSnapshot())
        return result

    def execution_status(self) -> ExecutionStatus | None:
        """Active engine, primary, backups, failures per engine, recovery state,
        last switch (``tradepit engines``)."""
        result: ExecutionStatus | None = self.ask(SUPERVISOR, GetExecutionStatus())
        return result

    def pin_engine(self, engine: str) -> ExecutionStatus:
        """Pin ``engine`` (an ``[engines.NAME]`` name) and route new orders to it at
        once; an empty name returns to automatic failover and failback."""
        result: ExecutionStatus = self.ask(SUPERVISOR, PinEngine(engine))
        return result

    def crash(self, name: str, mode: str = "raise", hang_s: float = 0.0) -> None:
        """Make actor ``name`` fail on purpose (drills and tests): ``raise``,
        ``exit`` (``SystemExit``) or ``hang`` for ``hang_s`` seconds."""
        if mode not in ("raise", "exit", "hang"):
            raise ValueError(f"mode must be raise, exit or hang; got {mode!r}")
        if not self.directory.tell(name, Crash(mode, hang_s)):
            raise LookupError(f"no actor named {name!r}")

    def settle(self) -> None:
        """Wait until everything sent so far has been handled downstream.

        Flushes along the flow: the feed (injected data), strategies, risk, the
        order manager, engines, the order manager and strategies again (the
        updates and fills engines sent back), the portfolio, risk (what the
        portfolio told it: a kill switch), the order manager and the engines
        again (its cancels), and the event sink.
        """
        strategies = [strategy_actor(c.id) for c in self._live()]
        engines = [engine_actor(e.name) for e in self.settings.engines]
        chain = [
            FEED,
            *strategies,
            RISK,
            ORDERS,
            *engines,
            ORDERS,
            *strategies,
            PORTFOLIO,
            RISK,
            ORDERS,
            *engines,
            ORDERS,
            EVENTS,
        ]
        if self.settings.journal.enabled:
            # Requests reach the engines through the journal; it also ends the chain.
            chain = [n for name in chain for n in ((name, JOURNAL) if name == ORDERS else (name,))]
            chain.append(JOURNAL)
        self._flush(*chain)

    def _flush(self, *names: str) -> None:
        """Flush the named actors one after the other (those gone are skipped)."""
        timeout = self.settings.runtime.shutdown_timeout_s
        for name in names:
            try:
                self.directory.ask(name, Flush(), timeout=timeout)
            except (LookupError, pykka.ActorDeadError):
                continue
            except pykka.Timeout:
                logger.error("{} did not settle within {}s", name, timeout)

    def _ask_or_none(self, name: str, message: object) -> Any:
        """Ask ``name``; None (logged) when it is gone, failed or does not answer."""
        return self.directory.ask_or_none(
            name, message, timeout=self.settings.runtime.shutdown_timeout_s
        )

    def stop(self) -> RunSummary:
        """Shut down in order and return the run's summary. Safe to call twice.

        Whatever fails along the way (an actor dead or hung), the remaining
        steps still run and every actor is stopped.
        """
        with self._ops:  # after any operator change under way; none starts after this
            if self._summary is not None:
                return self._summary
            if self._supervisor is None:
                raise RuntimeError("runtime was not started")
            self._quietly(RuntimeState.STOPPING, "stop requested")
        timeout = self.settings.runtime.shutdown_timeout_s
        strategies = tuple(strategy_actor(c.id) for c in self._live())
        engines = tuple(engine_actor(e.name) for e in self.settings.engines)
        stuck: tuple[str, ...] = ()
        summary: RunSummary | None = None
        try:
            published = self._ask_or_none(FEED, StopFeed())
            bars, ticks = published if published is not None else (0, 0)
            self.settle()
            # Strategies stop first: their on_stop may still send orders, and no
            # order may enter once the engines have cancelled what is working.
            stuck += self._stop_children(strategies, timeout)
            self.settle()
            if self.settings.execution.cancel_on_shutdown:
                cancel = CancelAll(RejectReason.SHUTDOWN, "runtime shutting down")
                for engine in engines:
                    self._ask_or_none(engine, cancel)
                self._await_cancels(engines, timeout)
                self.settle()
            risk: RiskStats | None = self._ask_or_none(RISK, GetSnapshot())
            portfolio: PortfolioSnapshot | None = self._ask_or_none(PORTFOLIO, GetSnapshot())
            summary = summarize(
                strategy_ids=self._summary_ids(risk, portfolio),
                risk=risk,
                engines=[e for e in (self._ask_or_none(n, GetSnapshot()) for n in engines) if e],
                portfolio=portfolio,
                children=self._ask_or_none(SUPERVISOR, GetSnapshot()) or (),
                bars=bars,
                ticks=ticks,
                stuck_threads=(),
            )
            self._quietly(RuntimeState.STOPPED, "all actors stopping")
        finally:
            stuck += self._stop_supervisor(timeout)
            self._close_journal()
            self._stopped_ns = self._clock()
        self._summary = replace(summary, stuck_threads=stuck)
        return self._summary

    def _await_cancels(self, engines: tuple[str, ...], timeout: float) -> None:
        """Wait (up to ``timeout``) until no engine lists a working order: a broker
        adapter answers a cancel-all later, and its answers must reach the order
        manager (and the journal) before the actors stop."""
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        for engine in engines:
            while True:
                stats: EngineStats | None = self._ask_or_none(engine, GetSnapshot())
                if stats is None or not stats.working_orders:
                    break
                if time.monotonic() >= deadline:
                    logger.warning(
                        "{}: {} orders still working after the shutdown cancel",
                        engine,
                        len(stats.working_orders),
                    )
                    return
                pause.wait(0.01)  # the broker's answers come on the adapter's thread

    def _summary_ids(
        self, risk: RiskStats | None, portfolio: PortfolioSnapshot | None
    ) -> list[str]:
        """Every strategy that ran this run (removed ones too), then ``manual`` if an
        operator entered orders."""
        with self._lock:
            ids = list(self._strategies)
        manual = (risk is not None and any(s == MANUAL for s, _n, _r in risk.by_strategy)) or (
            portfolio is not None and any(a.strategy_id == MANUAL for a in portfolio.accounts)
        )
        return [*ids, MANUAL] if manual else ids

    def _stop_children(self, names: tuple[str, ...], timeout: float) -> tuple[str, ...]:
        """Stop some children now (reverse start order); names whose thread hangs."""
        if not names or self._supervisor is None:
            return ()
        try:
            stuck: tuple[str, ...] = self._supervisor.ask(
                StopChildren(timeout_s=timeout, names=names),
                block=True,
                timeout=timeout * (len(names) + 1),
            )
        except Exception as exc:
            logger.error("the supervisor did not stop {}: {!r}", ", ".join(names), exc)
            return tuple(n for n in names if self._thread_alive(n))
        return stuck

    @staticmethod
    def _thread_alive(name: str) -> bool:
        """Whether a thread of actor ``name`` (any incarnation) still runs."""
        thread_name = f"tradepit-{name}"
        return any(t.name == thread_name and t.is_alive() for t in threading.enumerate())

    def _stop_orphans(self, timeout: float) -> tuple[str, ...]:
        """Stop whatever actors are still registered, without the supervisor."""
        stuck = []
        for name in reversed(self.directory.names()):
            address = self.directory.get(name)
            ref = address.ref if address is not None else None
            if name == SUPERVISOR or ref is None:
                continue
            thread = actor_thread(ref)
            with contextlib.suppress(pykka.Timeout, pykka.ActorDeadError):
                ref.stop(block=True, timeout=timeout)
            if thread is not None:
                thread.join(timeout)
                if thread.is_alive():
                    stuck.append(name)
        return tuple(stuck)

    def _stop_supervisor(self, timeout: float) -> tuple[str, ...]:
        ref = self._supervisor
        assert ref is not None
        stuck: tuple[str, ...] = ()
        try:
            stopped: tuple[str, ...] = ref.ask(
                StopChildren(timeout_s=timeout), block=True, timeout=timeout * 20
            )
            stuck = stopped
        except Exception as exc:
            logger.error("the supervisor did not stop its children: {!r}", exc)
            stuck = self._stop_orphans(timeout)
        finally:
            self.directory.unregister(SUPERVISOR)
            with contextlib.suppress(Exception):
                ref.stop(block=True, timeout=timeout)
            if self._supervisor_thread is not None:
                self._supervisor_thread.join(timeout)
                if self._supervisor_thread.is_alive():
                    stuck += (SUPERVISOR,)
        self._quietly(RuntimeState.STOPPING, "stopping after a failed start")
        self._quietly(RuntimeState.STOPPED, "all actors stopped")
        if stuck:
            logger.error("threads still running after stop: {}", ", ".join(stuck))
        return stuck


def _params(params: Any) -> dict[str, Any]:
    """A strategy's parameters as a dict (an instance of its ``Params`` dataclass)."""
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        return dataclasses.asdict(params)
    return {}


def _price(event: Bar | Tick) -> float:
    """The price of a bar (its close) or a tick."""
    return event.close if isinstance(event, Bar) else event.price


def _check_prices(
    order_type: OrderType, limit_price: float | None, stop_price: float | None
) -> None:
    """The prices an order of ``order_type`` needs, and no others, each finite and > 0."""
    needs_limit = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    for label, price, needed in (
        ("limit_price", limit_price, needs_limit),
        ("stop_price", stop_price, needs_stop),
    ):
        if price is None:
            if needed:
                raise OrderError(f"a {order_type.value} order needs {label}")
        elif not needed:
            raise OrderError(f"a {order_type.value} order takes no {label}, got {price!r}")
        elif isinstance(price, bool) or not (math.isfinite(price) and price > 0):
            raise OrderError(f"{label} must be a finite number > 0, got {price!r}")
