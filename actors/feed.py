"""The market-data feed actor: publishes bars and ticks to subscribers.

Each event goes to its symbol's subscribers in stage order: execution engines
first (stage 0, so orders working from earlier bars fill at this bar's
open), then strategies (stage 1), then observers (stage 2: the portfolio's
marks). Observers get each event when the feed next handles a message (the
next event, the next pump slice at most 50 ms later, a ``Flush``, a stop):
bookkeeping never wakes a thread while a strategy is deciding on that event.
The order of messages an observer receives is unchanged (event t still
arrives before anything caused by event t+1), so lockstep stays
deterministic.

Replay modes (``[feed]``):

- ``speed = 0``: as fast as possible. Every ``max_in_flight`` events the feed
  waits until every subscriber has handled what it was sent (back-pressure:
  mailboxes stay bounded however slow a strategy is).
- ``speed > 0``: market time runs ``speed`` times wall time; the feed waits
  between events in slices of at most 50 ms so its mailbox keeps moving.
- ``lockstep = true``: one event at a time, and the next one only after the
  engines matched this one (and the order manager passed on what they
  reported), every strategy handled it (one after the other, in subscription
  order) and every order it caused reached the engine (through risk and the
  order manager). Results are deterministic, the same as the backtester's,
  whatever the thread scheduling.

The feed works by sending itself a ``_Pump`` message per slice of work, so
``Subscribe``, ``Unsubscribe``, ``StopFeed`` and health probes are answered
between slices.

Subscriptions change while it runs (strategies added and removed by an
operator) and survive a restart of the feed (its :class:`FeedCarry`). The feed
also remembers the last bar or tick of each symbol (one dict store per event)
and answers :class:`GetMarket` with it: operators' orders are priced and dated
from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pykka
from loguru import logger

from runtime.actor import LeanActor
from runtime.config import FeedConfig
from runtime.directory import Address, Directory
from runtime.messages import (
    Bar,
    FeedFinished,
    Flush,
    GetSnapshot,
    StartFeed,
    StopFeed,
    Subscribe,
    Tick,
    Unsubscribe,
    next_id,
)
from runtime.names import EVENTS, ActorKind

__all__ = ["FeedActor", "FeedCarry", "GetMarket", "MarketView"]

_STAGES = 3
_PACING_SLICE_S = 0.05
_FREE_BATCH = 64

_Ref = Address
_Targets = tuple[tuple[_Ref, ...], tuple[_Ref, ...], tuple[_Ref, ...]]


class _Pump:
    """Self-addressed: publish the next slice of market data."""


class _End:
    """The source is exhausted."""


_END = _End()


@dataclass(frozen=True, slots=True)
class GetMarket:
    """Asked of the feed: what it last published of ``symbol``; a :class:`MarketView`."""

    symbol: str
    """Instrument symbol."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketView:
    """The feed's answer to :class:`GetMarket`."""

    last: Bar | Tick | None
    """The last bar or tick of the symbol published; None before any."""
    market_time: int
    """The latest ``ts_event`` of anything published, ns since the epoch (0 before any)."""


@dataclass(slots=True)
class FeedCarry:
    """Where a failed feed was: its replacement continues from there."""

    source: Iterator[Bar | Tick | None]
    subs: dict[str, dict[str, int]]
    running: bool
    done: bool
    bars: int
    ticks: int
    pending: Bar | Tick | None
    backlog: list[tuple[tuple[Address, ...], Bar | Tick]]
    wall0: float
    ts0: int
    last: dict[str, Bar | Tick] = field(default_factory=dict)


class FeedActor(LeanActor):
    """Replays a market-data iterator to subscribers."""

    kind = ActorKind.FEED

    def __init__(
        self,
        *,
        name: str,
        directory: Directory,
        source: Iterator[Bar | Tick | None],
        config: FeedConfig,
        subscriptions: Sequence[Subscribe] = (),
        flush_chain: Sequence[str] = (),
        relay: Sequence[str] = (),
        guard: Sequence[str] = (),
        on_finished: Callable[[], None] | None = None,
        sync_timeout_s: float = 30.0,
        carry: FeedCarry | None = None,
    ) -> None:
        super().__init__(name=name, directory=directory)
        self._source = source
        self._config = config
        self._subs: dict[str, dict[str, int]] = {}
        self._flush_chain = tuple(flush_chain)
        self._relay = tuple(relay)
        self._guard = tuple(guard)
        self._on_finished = on_finished
        self._sync_timeout_s = sync_timeout_s
        self._pump_token = _Pump()
        self._cache: dict[str, _Targets] = {}
        self._cache_version = -1
        self._running = False
        self._done = False
        self._bars = 0
        self._ticks = 0
        self._since_sync = 0
        self._pending: Bar | Tick | None = None
        self._backlog: list[tuple[tuple[_Ref, ...], Bar | Tick]] = []
        self._wall0 = 0.0
        self._ts0 = 0
        self._last: dict[str, Bar | Tick] = {}
        for sub in subscriptions:
            self._subscribe(sub)
        if carry is not None:
            self._source = carry.source
            self._subs = carry.subs
            self._running, self._done = carry.running, carry.done
            self._bars, self._ticks = carry.bars, carry.ticks
            self._pending, self._backlog = carry.pending, carry.backlog
            self._wall0, self._ts0 = carry.wall0, carry.ts0
            self._last = carry.last

    def started(self) -> None:
        if self._running:  # a replacement: carry on publishing
            self.actor_ref.tell(self._pump_token)

    def handover(self, stuck: bool) -> FeedCarry:
        # A stuck feed's thread is not inside the source (each next() is
        # bounded), so the replacement can go on reading it.
        return FeedCarry(
            source=self._source,
            subs={symbol: dict(names) for symbol, names in self._subs.items()},
            running=self._running,
            done=self._done,
            bars=self._bars,
            ticks=self._ticks,
            pending=self._pending,
            backlog=list(self._backlog),
            wall0=self._wall0,
            ts0=self._ts0,
            last=dict(self._last),
        )

    def on_stop(self) -> None:
        close = getattr(self._source, "close", None)
        if callable(close) and not self.revoked:
            close()

    # --- messages -----------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if self._backlog:
            self._deliver_backlog()
        if message is self._pump_token:
            self._pump()
        elif type(message) is _Pump:
            pass  # a failed predecessor's token, redelivered: this feed has its own
        elif type(message) is Bar or type(message) is Tick:
            self._publish(message)
        elif isinstance(message, Subscribe):
            self._subscribe(message)
        elif isinstance(message, Unsubscribe):
            self._unsubscribe(message.name)
        elif isinstance(message, GetMarket):
            last = self._last
            return MarketView(
                last=last.get(message.symbol),
                market_time=max((e.ts_event for e in last.values()), default=0),
            )
        elif isinstance(message, StartFeed):
            if not self._running and not self._done:
                self._running = True
                self.actor_ref.tell(self._pump_token)
        elif isinstance(message, StopFeed):
            self._running = False
            self._done = True
            return self._bars, self._ticks
        elif isinstance(message, GetSnapshot):
            return self._bars, self._ticks
        elif not isinstance(message, Flush):
            raise TypeError(f"{self.name} cannot handle {type(message).__name__}")
        return None

    def _subscribe(self, sub: Subscribe) -> None:
        if not 0 <= sub.stage < _STAGES:
            raise ValueError(f"subscription stage must be 0..{_STAGES - 1}, got {sub.stage}")
        for symbol in sub.symbols:
            self._subs.setdefault(symbol, {})[sub.name] = sub.stage
        self._cache.clear()

    def _unsubscribe(self, name: str) -> None:
        """Route nothing more to ``name`` (it is being removed)."""
        for symbol in list(self._subs):
            names = self._subs[symbol]
            if names.pop(name, None) is not None and not names:
                del self._subs[symbol]
        self._cache.clear()

    # --- publishing -----------------------------------------------------------

    def _targets(self, symbol: str) -> _Targets:
        version = self.directory.version
        if version != self._cache_version:
            self._cache.clear()
            self._cache_version = version
        targets = self._cache.get(symbol)
        if targets is None:
            staged: list[list[_Ref]] = [[] for _ in range(_STAGES)]
            names = {**self._subs.get("*", {}), **self._subs.get(symbol, {})}
            for name, stage in sorted(names.items()):
                ref = self.directory.get(name)
                if ref is not None:
                    staged[stage].append(ref)
            targets = (tuple(staged[0]), tuple(staged[1]), tuple(staged[2]))
            self._cache[symbol] = targets
        return targets

    def _publish(self, event: Bar | Tick) -> None:
        if type(event) is Bar:
            self._bars += 1
        else:
            self._ticks += 1
        self._last[event.symbol] = event
        if self._backlog:
            self._deliver_backlog()
        engines, strategies, observers = self._targets(event.symbol)
        if self._config.lockstep:
            self._publish_lockstep(event, engines, strategies)
        else:
            for group in (engines, strategies):
                for ref in group:
                    self._tell(ref, event)
        if observers:
            self._backlog.append((observers, event))
            if self._config.lockstep and not self.revoked:
                self._settle_observers()

    def _deliver_backlog(self) -> None:
        """Hand observers the events they have not had yet, in order."""
        backlog, self._backlog = self._backlog, []
        for observers, event in backlog:
            for ref in observers:
                self._tell(ref, event)

    def _settle_observers(self) -> None:
        """Lockstep: observers handle the previous event before the next one is published.

        An observer answers its ``Flush`` with True when handling it made it tell
        risk something (the portfolio's kill switch, a closed round trip); the
        ``guard`` chain (risk, the order manager, the engines) is then flushed
        too, so that a halt and its cancels take effect before the next event
        reaches the engines, whatever the thread timing.
        """
        observers = {id(ref): ref for refs, _event in self._backlog for ref in refs}
        self._deliver_backlog()
        deadline = time.monotonic() + self._sync_timeout_s
        answers = self._wait_all(
            [self._ask(ref, Flush(), deadline) for ref in observers.values()], deadline
        )
        if any(answers):
            self._flush_in_turn(self._guard, deadline)

    def _publish_lockstep(
        self, event: Bar | Tick, engines: tuple[_Ref, ...], strategies: tuple[_Ref, ...]
    ) -> None:
        # Data is told, never asked: an exception while handling a tell fails the
        # actor and reaches the supervisor; one in an ask would come back here.
        # One deadline for the whole event, however many subscribers are slow or
        # restarting: the feed stays within its own health probe's timeout.
        deadline = time.monotonic() + self._sync_timeout_s
        for ref in engines:
            self._tell(ref, event)
        self._wait_all([self._ask(ref, Flush(), deadline) for ref in engines], deadline)
        # What the engines reported on this event (fills at its open) passes the
        # order manager on its way to the strategies: it is in their mailboxes
        # before the event itself.
        self._flush_in_turn(self._relay, deadline)
        # One strategy at a time, in subscription order: each one's orders and
        # cancels are in risk's mailbox before the next strategy sees the event,
        # so the engine gets them in the same order in every run (and in the
        # backtester's order): fill ids and volume sharing are deterministic.
        for ref in strategies:
            if self.revoked:
                return
            self._tell(ref, event)
            self._wait_all([self._ask(ref, Flush(), deadline)], deadline)
        self._flush_in_turn(self._flush_chain, deadline)

    def _flush_in_turn(self, names: Sequence[str], deadline: float) -> None:
        """Flush the named actors one after the other (each passes on what it holds
        to the next before it is flushed)."""
        for name in names:
            target = self.directory.get(name)
            if target is not None:
                self._wait_all([self._ask(target, Flush(), deadline)], deadline)

    def _tell(self, ref: _Ref, message: object) -> None:
        if not ref.tell(message):
            self._cache_version = -1

    def _ask(self, ref: _Ref, message: object, deadline: float) -> pykka.Future[Any] | None:
        future = ref.ask_later(message)
        # The subscriber is restarting: what it was told is held for its
        # replacement. Lockstep waits for it (until the event's deadline), so
        # that results stay the same as without the failure.
        if (
            future is None
            and self._config.lockstep
            and not ref.closed
            and ref.wait_running(max(0.0, deadline - time.monotonic()))
        ):
            future = ref.ask_later(message)
        return future

    def _wait_all(self, futures: Sequence[pykka.Future[Any] | None], deadline: float) -> list[Any]:
        """Wait for each answer until ``deadline``; the answers (None where none came)."""
        answers: list[Any] = []
        for future in futures:
            answer = None
            if future is not None:
                try:
                    answer = future.get(timeout=max(0.0, deadline - time.monotonic()))
                except pykka.Timeout:
                    logger.warning(
                        "feed: a subscriber did not answer within {}s", self._sync_timeout_s
                    )
                except Exception as exc:  # the subscriber failed; its supervisor is told
                    logger.debug("feed: subscriber failed while handling data: {!r}", exc)
                    self._cache_version = -1
            answers.append(answer)
        return answers

    def _sync_all(self) -> None:
        """Wait until every subscriber has handled everything sent so far."""
        self._deliver_backlog()
        deadline = time.monotonic() + self._sync_timeout_s
        futures = []
        seen: set[str] = set()
        for names in self._subs.values():
            for name in names:
                if name in seen:
                    continue
                seen.add(name)
                ref = self.directory.get(name)
                if ref is not None:
                    futures.append(self._ask(ref, Flush(), deadline))
        self._wait_all(futures, deadline)

    # --- pumping ------------------------------------------------------------

    def _next(self) -> Bar | Tick | _End | None:
        if self._pending is not None:
            event, self._pending = self._pending, None
            return event
        return next(self._source, _END)

    def _pump(self) -> None:
        if not self._running or self.revoked:
            return
        config = self._config
        budget = 1 if config.lockstep or config.speed > 0 else _FREE_BATCH
        for _ in range(budget):
            event = self._next()
            if event is None:  # a live source with nothing right now
                break
            if isinstance(event, _End):
                self._finish()
                return
            if config.speed > 0 and not self._due(event):
                self._pending = event
                break
            self._publish(event)
            self._since_sync += 1
            if not config.lockstep and self._since_sync >= config.max_in_flight:
                self._since_sync = 0
                self._sync_all()
        self.actor_ref.tell(self._pump_token)

    def _due(self, event: Bar | Tick) -> bool:
        """Pace by market time; wait at most one slice. True when it is time."""
        now = time.monotonic()
        if self._wall0 == 0.0:
            self._wall0, self._ts0 = now, event.ts_event
            return True
        due = self._wall0 + (event.ts_event - self._ts0) / 1e9 / self._config.speed
        remaining = due - now
        if remaining <= 0:
            return True
        time.sleep(min(remaining, _PACING_SLICE_S))
        return time.monotonic() >= due

    def _finish(self) -> None:
        self._running = False
        self._done = True
        self._deliver_backlog()
        if not self._config.lockstep:
            self._sync_all()
        now = time.time_ns()
        self.directory.tell(
            EVENTS,
            FeedFinished(
                id=next_id(), ts_event=now, ts_init=now, bars=self._bars, ticks=self._ticks
            ),
        )
        if self._on_finished is not None:
            self._on_finished()
