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
"""

from __future__ import annotations

import contextlib
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
from actors.engine_host import EngineHost
from actors.event_sink import EventListener, EventSink
from actors.feed import FeedActor
from actors.orders import OrderManager
from actors.portfolio import PortfolioActor
from actors.risk import RiskActor
from actors.strategy_host import StrategyHost
from actors.supervisor import ChildSpec, ChildStatus, GetExecutionStatus, PinEngine, Supervisor
from runtime.actor import actor_thread
from runtime.config import EngineConfig, FeedSource, Settings
from runtime.directory import Directory
from runtime.failover import ExecutionStatus
from runtime.ids import ClientOrderIds, run_tag
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
    PauseStrategy,
    RearmLossGuard,
    RejectReason,
    ResumeStrategy,
    RuntimeState,
    RuntimeStateChanged,
    SetTradingState,
    StartChildren,
    StartFeed,
    StopChildren,
    StopFeed,
    Subscribe,
    Tick,
)
from runtime.names import (
    EVENTS,
    FEED,
    ORDERS,
    PORTFOLIO,
    RISK,
    SUPERVISOR,
    ActorKind,
    engine_actor,
    strategy_actor,
)
from runtime.order_states import OrderView
from runtime.summary import RunSummary, summarize
from runtime.venue_feed import venue_market_data

__all__ = ["Runtime"]


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
    ) -> None:
        """``source`` replaces the configured market data (benchmarks pass an
        empty iterator and inject data themselves); ``on_finished`` is called,
        in the feed's thread, when the data runs out; ``on_fatal`` is called
        with a reason when an actor the runtime cannot run without fails."""
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

    # --- wiring ----------------------------------------------------------------

    def _children(self) -> list[ChildSpec]:
        s = self.settings
        d = self.directory
        core = s.supervision
        active = engine_actor(s.execution.force or s.engines[0].name)
        specs = [
            ChildSpec(
                name=EVENTS,
                kind=ActorKind.EVENTS,
                supervision=core,
                start=lambda carry: EventSink.start(
                    name=EVENTS,
                    directory=d,
                    listeners=self._listeners,
                    log_level=s.runtime.log_level,
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
                    if carry is not None
                    else Ledger(s.portfolio.starting_cash, clock=self._clock),
                    loss_limits={c.id: (c.risk or s.risk).daily_loss_limit for c in s.strategies},
                    account_loss_limit=s.risk.daily_loss_limit,
                    carry=carry,
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
                    carry=carry,
                ),
            )
        )
        subscriptions = [Subscribe(PORTFOLIO, ("*",), 2)]
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
            if _ADAPTER_CLASSES[engine.adapter].wants_market_data:
                subscriptions.append(Subscribe(name, ("*",), 0))
        overrides = {c.id: c.risk for c in s.strategies if c.risk is not None}
        specs.append(
            ChildSpec(
                name=RISK,
                kind=ActorKind.RISK,
                supervision=core,
                start=lambda carry: RiskActor.start(
                    name=RISK,
                    directory=d,
                    limits=s.risk,
                    overrides=overrides,
                    on_halt=self._kill_switch,
                    carry=carry,
                ),
            )
        )
        for strategy in s.strategies:
            name = strategy_actor(strategy.id)
            # Made once per run, outside the start function, so that a restarted
            # host continues the same sequence and never reuses an order id.
            ids = ClientOrderIds(self._run, strategy.id)
            specs.append(
                ChildSpec(
                    name=name,
                    kind=ActorKind.STRATEGY,
                    supervision=strategy.supervision,
                    start=lambda carry, n=name, c=strategy, i=ids: StrategyHost.start(  # type: ignore[misc]
                        name=n, directory=d, config=c, order_ids=i, carry=carry
                    ),
                )
            )
            subscriptions.append(Subscribe(name, strategy.symbols, 1))
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
                    subscriptions=subscriptions,
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

    def _market_data(self) -> Iterator[Bar | Tick | None]:
        feed = self.settings.feed
        if feed.source is FeedSource.VENUE:
            symbols = tuple(sorted({x for c in self.settings.strategies for x in c.symbols}))
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
                if not (self.directory.tell(RISK, cancel) or self.directory.tell(ORDERS, cancel)):
                    for engine in self.settings.engines:
                        self.directory.tell(engine_actor(engine.name), cancel)
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
        if command.strategy_id not in {c.id for c in self.settings.strategies}:
            raise LookupError(f"no strategy {command.strategy_id!r}")
        self.ask(RISK, command)

    def orders(self, strategy_id: str = "", *, open_only: bool = True) -> tuple[OrderView, ...]:
        """Orders of one strategy (empty: all) from the order manager, in creation order."""
        result: tuple[OrderView, ...] = self.ask(ORDERS, GetOrders(strategy_id, open_only))
        return result

    def start(self) -> None:
        """Start every actor, then the feed. Raises if any actor fails to start."""
        if self._supervisor is not None:
            raise RuntimeError("runtime already started")
        timeout = self.settings.runtime.shutdown_timeout_s
        ref = Supervisor.start(
            name=SUPERVISOR,
            directory=self.directory,
            children=self._children(),
            start_timeout_s=timeout,
            on_escalate=self._escalated,
            execution=self.settings.execution,
        )
        self._supervisor = ref
        ref.ask(Handshake(), block=True, timeout=timeout)
        self._supervisor_thread = actor_thread(ref)
        self.directory.register(SUPERVISOR, ref)
        try:
            ref.ask(StartChildren(), timeout=timeout * (len(self.settings.strategies) + 8))
        except Exception:
            self._stop_supervisor(timeout)
            raise
        self._move(RuntimeState.RUNNING, f"{self.settings.runtime.name} started run {self._run}")
        self.directory.tell(FEED, StartFeed())

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
        timeout = self.settings.runtime.shutdown_timeout_s
        strategies = [strategy_actor(c.id) for c in self.settings.strategies]
        order = [FEED, *strategies, RISK, ORDERS]
        order += [engine_actor(e.name) for e in self.settings.engines]
        order += [ORDERS, *strategies, PORTFOLIO, RISK, ORDERS]
        order += [engine_actor(e.name) for e in self.settings.engines]
        order += [ORDERS, EVENTS]
        for name in order:
            try:
                self.directory.ask(name, Flush(), timeout=timeout)
            except (LookupError, pykka.ActorDeadError):
                continue
            except pykka.Timeout:
                logger.error("{} did not settle within {}s", name, timeout)

    def _ask_or_none(self, name: str, message: object) -> Any:
        """Ask ``name``; None (logged) when it is gone, failed or does not answer."""
        try:
            return self.ask(name, message)
        except (LookupError, pykka.ActorDeadError, pykka.Timeout) as exc:
            logger.error("{} did not answer {}: {!r}", name, type(message).__name__, exc)
            return None

    def stop(self) -> RunSummary:
        """Shut down in order and return the run's summary. Safe to call twice.

        Whatever fails along the way (an actor dead or hung), the remaining
        steps still run and every actor is stopped.
        """
        if self._summary is not None:
            return self._summary
        if self._supervisor is None:
            raise RuntimeError("runtime was not started")
        timeout = self.settings.runtime.shutdown_timeout_s
        strategies = tuple(strategy_actor(c.id) for c in self.settings.strategies)
        engines = tuple(engine_actor(e.name) for e in self.settings.engines)
        stuck: tuple[str, ...] = ()
        summary: RunSummary | None = None
        self._quietly(RuntimeState.STOPPING, "stop requested")
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
                self.settle()
            summary = summarize(
                strategy_ids=[c.id for c in self.settings.strategies],
                risk=self._ask_or_none(RISK, GetSnapshot()),
                engines=[e for e in (self._ask_or_none(n, GetSnapshot()) for n in engines) if e],
                portfolio=self._ask_or_none(PORTFOLIO, GetSnapshot()),
                children=self._ask_or_none(SUPERVISOR, GetSnapshot()) or (),
                bars=bars,
                ticks=ticks,
                stuck_threads=(),
            )
            self._quietly(RuntimeState.STOPPED, "all actors stopping")
        finally:
            stuck += self._stop_supervisor(timeout)
        self._summary = replace(summary, stuck_threads=stuck)
        return self._summary

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
