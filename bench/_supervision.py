"""Supervision benchmarks: how long a strategy restart and an engine failover take.

Restart latency (:func:`run_restart`): one runtime whose only strategy,
:class:`CrashOnMarker`, raises on every *marker* bar (volume
:data:`CRASH_VOLUME`) and has an unbounded restart budget with no backoff
(``max_restarts = 1000000``, ``period_s = 3600``, ``backoff_min_s = 0``,
``jitter = 0``: the supervisor restarts it at once). One sample injects a
marker bar and, right after it, a normal bar, which the failed strategy's
address holds (or its inbox keeps) and the supervisor hands to the
replacement. The latency runs from the moment the handler raises to the
moment the replacement's handler is called with the normal bar, both stamped
by the strategy itself with ``time.perf_counter_ns``. Interleaved with the
restarts, the same strategy's ordinary per-bar latency (inject to handler)
is measured for context.

Failover latency (:func:`run_failover`): a fresh runtime per sample with two
paper engines, ``primary`` (every submit raises: ``[engines.primary.faults]
fail_every = 1``) and ``backup``, and one
:class:`~bench.strategies.BuyEveryBar`. Bars are injected one at a time
until ``failover_threshold`` orders have failed at the primary; as soon as
the listener sees ``EngineFailedOver`` the next bar is injected, and its
order must be accepted by the backup. The latency runs from the
``ts_event`` of the last ``EngineFault`` (stamped by the primary's engine
actor right after its adapter raised) to the ``ts_init`` of the backup's
ACCEPTED update (stamped by its matching engine): both ``time.time_ns``
stamps taken in the runtime's own threads.

The strategies and engines fail on purpose, and each failure is logged at
ERROR with its traceback; while these benchmarks run the log goes to
``os.devnull`` (formatted exactly as on stderr) so that the progress lines
stay readable. Benchmarks report figures; the checks here only make sure
each sample measured what it claims to.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._bars import bar_at
from bench._settings import SYMBOL
from bench._stats import Percentiles, median, percentiles
from runtime.boot import Runtime
from runtime.config import Settings
from runtime.logs import configure_logging
from runtime.messages import (
    ActorFailed,
    ActorRestarted,
    Bar,
    EngineFailedOver,
    EngineFault,
    Message,
    OrderStatus,
    OrderUpdate,
)
from runtime.names import strategy_actor
from runtime.settings import parse_settings
from strategies.base import Strategy

__all__ = [
    "CRASH_VOLUME",
    "FAILOVER_TARGET_MS",
    "RESTART_TARGET_MS",
    "CrashOnMarker",
    "FailoverResult",
    "FailoverSample",
    "RestartResult",
    "RestartSample",
    "quiet_logs",
    "run_failover",
    "run_restart",
]

RESTART_TARGET_MS = 5.0
"""Restart latency target: p50 at most this, milliseconds."""

FAILOVER_TARGET_MS = 50.0
"""Failover latency target: p50 at most this, milliseconds."""

CRASH_VOLUME = 2.0
"""Volume that marks a bar on which :class:`CrashOnMarker` raises."""

WAIT_S = 10.0
"""Longest wait for any one step before the benchmark gives up."""

STRATEGY_ID = "crash"
"""Id of the restart benchmark's strategy."""

PRIMARY, BACKUP = "primary", "backup"
"""Engine names of the failover benchmark."""

_HEAD = """
[runtime]
name = "bench"
log_level = "ERROR"
shutdown_timeout_s = 60.0

[feed]
source = "synthetic"
speed = 0

[feed.synthetic]
symbols = ["{symbol}"]
bars = 1
"""

_RESTART = """
[execution]
engines = ["paper"]
cancel_on_shutdown = false

[engines.paper]
adapter = "paper"

[[strategies]]
id = "{strategy_id}"
class = "bench._supervision:CrashOnMarker"
symbols = ["{symbol}"]

[strategies.supervision]
max_restarts = 1000000
period_s = 3600
backoff_min_s = 0
jitter = 0
"""

_FAILOVER = """
[execution]
engines = ["{primary}", "{backup}"]
failover_threshold = 5
cancel_on_shutdown = false

[engines.{primary}]
adapter = "paper"

[engines.{primary}.faults]
fail_every = 1

[engines.{backup}]
adapter = "paper"

[[strategies]]
id = "buyer"
class = "bench.strategies:BuyEveryBar"
symbols = ["{symbol}"]
"""


def _settings(body: str) -> Settings:
    text = (_HEAD + body).format(
        symbol=SYMBOL, strategy_id=STRATEGY_ID, primary=PRIMARY, backup=BACKUP
    )
    return parse_settings(text, source="bench", base_dir=Path("."))


@contextlib.contextmanager
def quiet_logs(level: str) -> Iterator[None]:
    """Send the log to ``os.devnull`` (same level and format), then back to stderr.

    ``configure_logging`` adds whatever ``sys.stderr`` is at the time of the
    call, so swapping it for that one call keeps the sink's formatting (the
    failure tracebacks are still rendered and written) while the progress
    lines, printed to the real stderr, stay readable.
    """
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        real, sys.stderr = sys.stderr, devnull
        try:
            configure_logging(level)
        finally:
            sys.stderr = real
        try:
            yield
        finally:
            configure_logging(level)


def _start(runtime: Runtime) -> None:
    """Start ``runtime`` (empty source) and wait until it is idle."""
    runtime.start()
    if not runtime.finished.wait(WAIT_S):  # the empty source ran dry: feed idle
        raise TimeoutError("the feed did not report its empty source")
    runtime.settle()


def _stop(runtime: Runtime) -> None:
    summary = runtime.stop()
    if summary.stuck_threads:
        raise RuntimeError(f"threads did not stop: {summary.stuck_threads}")


def _get(source: queue.SimpleQueue[Any], what: str) -> Any:
    try:
        return source.get(timeout=WAIT_S)
    except queue.Empty:
        raise TimeoutError(f"no {what} within {WAIT_S}s") from None


# --- restart ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stamp:
    """What :class:`CrashOnMarker` did and when (both clocks, ns)."""

    what: str
    """``started``, ``raised`` or ``handled``."""
    perf: int
    """``time.perf_counter_ns``."""
    wall: int
    """``time.time_ns``: the clock the runtime stamps its events with."""


_STAMPS: queue.SimpleQueue[_Stamp] = queue.SimpleQueue()
"""Written by :class:`CrashOnMarker` in its actor thread, read by the benchmark."""


def _stamp(what: str) -> None:
    _STAMPS.put(_Stamp(what, time.perf_counter_ns(), time.time_ns()))


class _CrashError(RuntimeError):
    """What :class:`CrashOnMarker` raises on a marker bar."""


class CrashOnMarker(Strategy):
    """Raises on marker bars (volume :data:`CRASH_VOLUME`); stamps every start and bar.

    Each stamp is taken first thing in the hook, so ``raised`` is the moment
    the handler fails and ``handled`` the moment a handler is called.
    """

    def on_start(self) -> None:
        """Stamp ``started``: this incarnation runs (the first one or a replacement)."""
        _stamp("started")

    def on_bar(self, bar: Bar) -> None:
        """Stamp ``raised`` and raise on a marker bar; stamp ``handled`` on any other."""
        if bar.volume == CRASH_VOLUME:
            _stamp("raised")
            raise _CrashError("raised on purpose by the restart benchmark")
        _stamp("handled")


def _expect(what: str) -> _Stamp:
    stamp: _Stamp = _get(_STAMPS, f"{what!r} from the strategy")
    if stamp.what != what:
        raise RuntimeError(f"expected the strategy to report {what!r}, got {stamp.what!r}")
    return stamp


class _RestartEvents:
    """Event-sink listener: passes on the strategy's ``ActorFailed`` and ``ActorRestarted``."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[Message] = queue.SimpleQueue()

    def __call__(self, event: Message) -> None:
        if isinstance(event, ActorFailed | ActorRestarted):
            self.events.put(event)


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartSample:
    """One restart: the strategy's own stamps and the supervisor's events."""

    raised_perf: int
    """``perf_counter_ns`` when the failing handler raised."""
    handled_perf: int
    """``perf_counter_ns`` when the replacement's handler got the held bar."""
    raised: int
    """``time_ns`` when the handler raised."""
    reported: int
    """``ActorFailed.ts_event``: the failed actor starts reporting its failure (pykka's
    failure handling is done; its ERROR log with the traceback and its message to the
    supervisor come after this stamp)."""
    started: int
    """``time_ns`` of the replacement strategy's ``on_start`` (its host's ``setup``
    in the new actor thread)."""
    restarted: int
    """``ActorRestarted.ts_event``: the supervisor attached the replacement and
    delivered the held messages to it."""
    handled: int
    """``time_ns`` when the replacement's handler got the held bar."""
    delay_s: float
    """Backoff the supervisor waited (0 in this benchmark)."""

    @property
    def latency_ms(self) -> float:
        """Raised to handled by the replacement, milliseconds (``perf_counter_ns``)."""
        return (self.handled_perf - self.raised_perf) / 1e6

    @property
    def segments_ms(self) -> tuple[float, float, float, float]:
        """(raised -> reported, -> replacement started, -> restarted, -> handled), ms."""
        return (
            (self.reported - self.raised) / 1e6,
            (self.started - self.reported) / 1e6,
            (self.restarted - self.started) / 1e6,
            (self.handled - self.restarted) / 1e6,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartResult:
    """Every restart and ordinary bar timed."""

    restarts: tuple[RestartSample, ...]
    """Timed restarts, in order."""
    normal_ms: tuple[float, ...]
    """Ordinary bars, inject to handler, milliseconds, in order."""
    warmup: int
    """Untimed samples (a restart and a bar each) before the timed ones."""
    seconds: float
    """Wall time of the benchmark."""

    def latency_ms(self) -> Percentiles:
        """Restart latency, milliseconds."""
        return percentiles([s.latency_ms for s in self.restarts])

    def normal(self) -> Percentiles:
        """Ordinary per-bar latency, milliseconds."""
        return percentiles(self.normal_ms)

    def segments_ms(self) -> tuple[float, ...]:
        """Median of each of :attr:`RestartSample.segments_ms`."""
        columns = zip(*(s.segments_ms for s in self.restarts), strict=True)
        return tuple(percentiles(c).p50 for c in columns)

    @property
    def passed(self) -> bool:
        """p50 within :data:`RESTART_TARGET_MS`."""
        return self.latency_ms().p50 <= RESTART_TARGET_MS


def _normal_sample(runtime: Runtime, seq: int) -> float:
    """Inject an ordinary bar; milliseconds until the strategy's handler has it."""
    injected = time.perf_counter_ns()
    runtime.inject(bar_at(seq))
    return (_expect("handled").perf - injected) / 1e6


def _restart_sample(runtime: Runtime, events: _RestartEvents, seq: int) -> RestartSample:
    """Inject a marker bar and an ordinary bar right behind it; time the restart."""
    runtime.inject(bar_at(seq, volume=CRASH_VOLUME))
    runtime.inject(bar_at(seq + 1))
    raised = _expect("raised")
    started = _expect("started")
    handled = _expect("handled")
    failed = _get(events.events, "ActorFailed")
    restarted = _get(events.events, "ActorRestarted")
    if not isinstance(failed, ActorFailed) or not isinstance(restarted, ActorRestarted):
        raise RuntimeError(f"unexpected supervision events {failed!r}, {restarted!r}")
    return RestartSample(
        raised_perf=raised.perf,
        handled_perf=handled.perf,
        raised=raised.wall,
        reported=failed.ts_event,
        started=started.wall,
        restarted=restarted.ts_event,
        handled=handled.wall,
        delay_s=restarted.delay_s,
    )


def run_restart(*, samples: int, warmup: int, progress: Callable[[str], None]) -> RestartResult:
    """Time ``samples`` restarts (after ``warmup`` untimed ones), each next to an ordinary bar."""
    t0 = time.perf_counter()
    events = _RestartEvents()
    runtime = Runtime(_settings(_RESTART), source=iter(()), listeners=[events])
    restarts: list[RestartSample] = []
    normal: list[float] = []
    seq = 0
    try:
        _start(runtime)
        _expect("started")
        gc.collect()
        for i in range(warmup + samples):
            bar_ms = _normal_sample(runtime, seq)
            runtime.settle()
            restart = _restart_sample(runtime, events, seq + 1)
            runtime.settle()
            seq += 3
            if i >= warmup:
                normal.append(bar_ms)
                restarts.append(restart)
        (status,) = (a for a in runtime.actors() if a.name == strategy_actor(STRATEGY_ID))
    finally:
        _stop(runtime)
    if status.restarts != warmup + samples or any(s.delay_s for s in restarts):
        raise RuntimeError(f"expected {warmup + samples} immediate restarts, got {status}")
    result = RestartResult(
        restarts=tuple(restarts),
        normal_ms=tuple(normal),
        warmup=warmup,
        seconds=time.perf_counter() - t0,
    )
    p = result.latency_ms()
    progress(
        f"restart: p50 {p.p50:.3f} ms, p90 {p.p90:.3f} ms, p99 {p.p99:.3f} ms "
        f"({len(restarts)} restarts; ordinary bar p50 {result.normal().p50:.3f} ms)"
    )
    return result


# --- failover --------------------------------------------------------------------


class _FailoverProbe:
    """Event-sink listener of one failover sample; stamps what it sees (``perf_counter_ns``)."""

    def __init__(self) -> None:
        self.faults: list[tuple[EngineFault, int]] = []
        """The primary's faults, with when the listener saw each."""
        self.switch: EngineFailedOver | None = None
        self.switched = threading.Event()
        self.accepted: tuple[OrderUpdate, int] | None = None
        self.accepted_seen = threading.Event()
        self.others: list[str] = []
        """Anything unexpected: orders accepted by the primary, a second switch..."""

    def __call__(self, event: Message) -> None:
        seen = time.perf_counter_ns()
        if isinstance(event, EngineFault):
            if event.engine == PRIMARY:
                self.faults.append((event, seen))
            else:
                self.others.append(repr(event))
        elif isinstance(event, EngineFailedOver):
            if self.switch is not None or event.engine != BACKUP:
                self.others.append(repr(event))
            self.switch = event
            self.switched.set()
        elif isinstance(event, OrderUpdate) and event.status is OrderStatus.ACCEPTED:
            if event.engine != BACKUP or self.accepted is not None:
                self.others.append(repr(event))
            self.accepted = (event, seen)
            self.accepted_seen.set()


@dataclass(frozen=True, slots=True, kw_only=True)
class FailoverSample:
    """One failover, from the last fault to the backup's first acceptance."""

    fault: int
    """``EngineFault.ts_event`` of the fault that reached the threshold (``time_ns``,
    stamped by the primary's engine actor right after its adapter raised)."""
    switched: int
    """``EngineFailedOver.ts_event``: the supervisor told the order manager to route
    to the backup."""
    injected: int
    """``time_ns`` just before the benchmark injected the next bar (on seeing the switch)."""
    accepted: int
    """``OrderUpdate.ts_init`` of the backup's ACCEPTED (its matching engine's stamp)."""
    fault_seen: int
    """``perf_counter_ns`` when the listener received that fault."""
    accepted_seen: int
    """``perf_counter_ns`` when the listener received the ACCEPTED update."""

    @property
    def latency_ms(self) -> float:
        """Fault to acceptance by the backup, milliseconds (the runtime's stamps)."""
        return (self.accepted - self.fault) / 1e6

    @property
    def seen_ms(self) -> float:
        """The same span as the event-sink listener saw it, milliseconds."""
        return (self.accepted_seen - self.fault_seen) / 1e6

    @property
    def segments_ms(self) -> tuple[float, float, float]:
        """(fault -> switch, switch -> next bar injected, injected -> accepted), ms."""
        return (
            (self.switched - self.fault) / 1e6,
            (self.injected - self.switched) / 1e6,
            (self.accepted - self.injected) / 1e6,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FailoverResult:
    """Every failover timed."""

    samples: tuple[FailoverSample, ...]
    """In order; one fresh runtime each."""
    threshold: int
    """``failover_threshold``: faults of the primary that make it switch."""
    start_ms: float
    """Median ``Runtime.start()`` of the sample runtimes, milliseconds (not timed in)."""
    seconds: float
    """Wall time of the benchmark."""

    def latency_ms(self) -> Percentiles:
        """Failover latency, milliseconds (the runtime's own stamps)."""
        return percentiles([s.latency_ms for s in self.samples])

    def seen_ms(self) -> Percentiles:
        """Failover latency as the event-sink listener saw it, milliseconds."""
        return percentiles([s.seen_ms for s in self.samples])

    def segments_ms(self) -> tuple[float, ...]:
        """Median of each of :attr:`FailoverSample.segments_ms`."""
        columns = zip(*(s.segments_ms for s in self.samples), strict=True)
        return tuple(percentiles(c).p50 for c in columns)

    @property
    def passed(self) -> bool:
        """p50 within :data:`FAILOVER_TARGET_MS`."""
        return self.latency_ms().p50 <= FAILOVER_TARGET_MS


def _wait(event: threading.Event, what: str) -> None:
    if not event.wait(WAIT_S):
        raise TimeoutError(f"no {what} within {WAIT_S}s")


def _failover_sample(settings: Settings) -> tuple[FailoverSample, float]:
    """One fresh runtime, failed over once; the sample and its ``start()`` in ms."""
    threshold = settings.execution.failover_threshold
    probe = _FailoverProbe()
    runtime = Runtime(settings, source=iter(()), listeners=[probe], clock=time.time_ns)
    t0 = time.perf_counter()
    try:
        _start(runtime)
        start_ms = (time.perf_counter() - t0) * 1000
        for seq in range(threshold - 1):
            runtime.inject(bar_at(seq))
            runtime.settle()
        if len(probe.faults) != threshold - 1 or probe.switch is not None:
            raise RuntimeError(f"expected {threshold - 1} faults and no switch: {probe.faults}")
        gc.collect()
        runtime.inject(bar_at(threshold - 1))  # its order is the fault that reaches the threshold
        _wait(probe.switched, "EngineFailedOver")
        injected = time.time_ns()
        runtime.inject(bar_at(threshold))  # its order must go to the backup
        _wait(probe.accepted_seen, "acceptance by the backup")
        runtime.settle()
        status = runtime.execution_status()
    finally:
        _stop(runtime)
    if probe.others or status is None or status.active != BACKUP:
        raise RuntimeError(f"the failover went otherwise: {probe.others}, {status}")
    if len(probe.faults) != threshold or probe.switch is None or probe.accepted is None:
        raise RuntimeError(f"expected {threshold} faults, a switch and an acceptance")
    fault, fault_seen = probe.faults[-1]
    update, accepted_seen = probe.accepted
    sample = FailoverSample(
        fault=fault.ts_event,
        switched=probe.switch.ts_event,
        injected=injected,
        accepted=update.ts_init,
        fault_seen=fault_seen,
        accepted_seen=accepted_seen,
    )
    return sample, start_ms


def run_failover(*, samples: int, progress: Callable[[str], None]) -> FailoverResult:
    """Time ``samples`` failovers, each in a fresh runtime."""
    t0 = time.perf_counter()
    settings = _settings(_FAILOVER)
    taken: list[FailoverSample] = []
    starts: list[float] = []
    for _ in range(samples):
        sample, start_ms = _failover_sample(settings)
        taken.append(sample)
        starts.append(start_ms)
    result = FailoverResult(
        samples=tuple(taken),
        threshold=settings.execution.failover_threshold,
        start_ms=median(starts),
        seconds=time.perf_counter() - t0,
    )
    p = result.latency_ms()
    progress(
        f"failover: p50 {p.p50:.3f} ms, p90 {p.p90:.3f} ms, max {p.max:.3f} ms "
        f"({len(taken)} failovers, one runtime each)"
    )
    return result
