"""One order at a time through a whole runtime, with the journal off and on.

Each variant (:data:`VARIANTS`) is a :class:`~runtime.boot.Runtime` built from
the benchmark settings (:func:`bench._settings.bench_settings`: one paper
engine, no risk limits) with one :class:`JournalProbe` strategy, its own
``[journal]`` table and, journal on, its own new journal file. The runtime
wires the journal as it always does: the order manager sends the order to
the journal (``ToEngine``), which hands it to the paper engine once its
transaction is committed; the event sink tells the journal every event.

One sample (:meth:`FlowRuntime.sample`): a signal bar is injected; the
probe buys (or sells: it alternates, staying flat) 1 at market and stamps
``time.time_ns()`` just before; the order goes strategy -> risk -> order
manager -> [journal] -> paper engine, whose ACCEPTED comes back through the
order manager to the strategy, which stamps it (*order leg*). The benchmark
thread then injects an ordinary bar, on which the engine fills the order at
the open; the FILLED update reaches the strategy, which stamps it (*fill
leg*, from just before the bar was injected). The runtime is then brought
to rest (:meth:`~runtime.boot.Runtime.settle`, which ends with the journal:
everything committed) before the next sample. The *round trip* is the sum of
the two legs: submit to the final update at the strategy, without the
benchmark thread's own wake-up between ACCEPTED and the fill bar.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from actors.journal import JournalStats
from bench._bars import bar_at
from bench._settings import bench_settings
from bench._stats import Percentiles, percentiles
from bench.strategies import SIGNAL_VOLUME
from runtime.boot import Runtime
from runtime.config import JournalConfig, Settings, SyncMode
from runtime.messages import Bar, Flush, GetSnapshot, OrderStatus, OrderUpdate
from runtime.names import FEED, JOURNAL, strategy_actor
from strategies.base import Strategy

__all__ = [
    "PROBE_CLASS",
    "VARIANTS",
    "WAIT_S",
    "FlowRuntime",
    "FlowSample",
    "FlowVariant",
    "JournalProbe",
    "Probe",
]

WAIT_S = 10.0
"""Longest wait for one update at the strategy."""
LINGER_S = 0.002
"""``batch_delay_s`` of the lingering variants (the default, 0, never lingers)."""

PROBE_CLASS = "bench._journal_flow:JournalProbe"
"""``class`` of the strategy the runtimes run."""


@dataclass(frozen=True, slots=True)
class FlowVariant:
    """One way of running the same order flow."""

    key: str
    """Short name (progress lines, result keys)."""
    label: str
    """Name in the report."""
    journal: JournalConfig | None
    """``[journal]`` (the path is set per runtime); None: journal off."""


_DEFAULTS = JournalConfig()

VARIANTS: tuple[FlowVariant, ...] = (
    FlowVariant("off", "journal off", None),
    FlowVariant(
        "full",
        "journal on, FULL",
        dataclasses.replace(_DEFAULTS, enabled=True, synchronous=SyncMode.FULL),
    ),
    FlowVariant(
        "normal",
        "journal on, NORMAL",
        dataclasses.replace(_DEFAULTS, enabled=True, synchronous=SyncMode.NORMAL),
    ),
    FlowVariant(
        "full-linger",
        f"journal on, FULL, `batch_delay_s = {LINGER_S:g}`",
        dataclasses.replace(
            _DEFAULTS, enabled=True, synchronous=SyncMode.FULL, batch_delay_s=LINGER_S
        ),
    ),
    FlowVariant(
        "normal-linger",
        f"journal on, NORMAL, `batch_delay_s = {LINGER_S:g}`",
        dataclasses.replace(
            _DEFAULTS, enabled=True, synchronous=SyncMode.NORMAL, batch_delay_s=LINGER_S
        ),
    ),
)
"""Every variant, in report order; the first (journal off) is the baseline. The
journal-on variants keep the runtime's defaults but ``synchronous`` (and, in
the last two, ``batch_delay_s``)."""


# --- the strategy ----------------------------------------------------------------


class Probe:
    """What one :class:`JournalProbe` saw of its current order, shared with the
    benchmark thread (each stamp is written before its event is set)."""

    def __init__(self) -> None:
        self.accepted = threading.Event()
        """Set when ACCEPTED (or an end other than FILLED) reached the strategy."""
        self.filled = threading.Event()
        """Set when FILLED (or another end) reached the strategy."""
        self.client_order_id = ""
        """The order being timed."""
        self.submitted_ns = 0
        """Just before the strategy submitted it."""
        self.accepted_ns = 0
        """ACCEPTED in the strategy's ``on_order``."""
        self.filled_ns = 0
        """FILLED in the strategy's ``on_order``."""
        self.failure = ""
        """Why the order ended otherwise than FILLED (empty: it did not)."""

    def arm(self) -> None:
        """Forget the last order (call while the runtime is at rest)."""
        self.accepted.clear()
        self.filled.clear()
        self.client_order_id = ""
        self.submitted_ns = self.accepted_ns = self.filled_ns = 0
        self.failure = ""


_PROBES: dict[str, Probe] = {}
_PROBES_LOCK = threading.Lock()


def _probe_of(strategy_id: str) -> Probe:
    with _PROBES_LOCK:
        probe = _PROBES.get(strategy_id)
    if probe is None:
        raise LookupError(f"no benchmark probe registered for strategy {strategy_id!r}")
    return probe


class JournalProbe(Strategy):
    """Submits a market order of 1 on each signal bar (alternately a buy and a
    sell) and stamps its ACCEPTED and FILLED updates into the :class:`Probe`
    the benchmark registered under the strategy's id."""

    def on_start(self) -> None:
        """Find the probe; start with a buy."""
        self._probe = _probe_of(self.id)
        self._buy = True

    def on_bar(self, bar: Bar) -> None:
        """On a signal bar (volume :data:`~bench.strategies.SIGNAL_VOLUME`), submit."""
        if bar.volume != SIGNAL_VOLUME:
            return
        probe = self._probe
        probe.submitted_ns = time.time_ns()
        side = self.buy if self._buy else self.sell
        probe.client_order_id = side(bar.symbol, 1)
        self._buy = not self._buy

    def on_order(self, update: OrderUpdate) -> None:
        """Stamp ACCEPTED and FILLED of the current order; note any other end."""
        now = time.time_ns()
        probe = self._probe
        if update.client_order_id != probe.client_order_id:
            return
        status = update.status
        if status is OrderStatus.ACCEPTED:
            probe.accepted_ns = now
            probe.accepted.set()
        elif status is OrderStatus.FILLED:
            probe.filled_ns = now
            probe.filled.set()
        elif status.is_terminal:
            probe.failure = f"{status.value}: {update.message}"
            probe.accepted.set()
            probe.filled.set()


# --- one runtime -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowSample:
    """The stamps of one order, ``time.time_ns``."""

    submitted: int
    """Just before the strategy submitted the order."""
    accepted: int
    """ACCEPTED at the strategy."""
    fill_bar: int
    """Just before the bar that fills it was injected."""
    filled: int
    """FILLED at the strategy."""

    @property
    def order_us(self) -> float:
        """Order leg: submit to ACCEPTED at the strategy, microseconds."""
        return (self.accepted - self.submitted) / 1_000

    @property
    def fill_us(self) -> float:
        """Fill leg: fill bar injected to FILLED at the strategy, microseconds."""
        return (self.filled - self.fill_bar) / 1_000

    @property
    def total_us(self) -> float:
        """Round trip: the two legs, microseconds."""
        return self.order_us + self.fill_us


def flow_settings(variant: FlowVariant, strategy_id: str, journal_path: Path) -> Settings:
    """The benchmark settings with one probe strategy named ``strategy_id`` and the
    variant's ``[journal]`` writing ``journal_path``."""
    settings = bench_settings(class_path=PROBE_CLASS)
    strategy = dataclasses.replace(settings.strategies[0], id=strategy_id)
    journal = (
        dataclasses.replace(variant.journal, path=journal_path)
        if variant.journal is not None
        else JournalConfig()
    )
    return dataclasses.replace(settings, strategies=(strategy,), journal=journal)


class FlowRuntime:
    """One variant's runtime and probe (see the module docstring)."""

    def __init__(self, variant: FlowVariant, folder: Path, tag: str) -> None:
        self.variant = variant
        self.strategy_id = f"journal-{variant.key}-{tag}"
        self.path = folder / f"{self.strategy_id}.sqlite"
        """Its journal file (unused with the journal off)."""
        self.settings = flow_settings(variant, self.strategy_id, self.path)
        self.probe = Probe()
        self.samples: list[FlowSample] = []
        """Timed samples, in order."""
        self.stats: JournalStats | None = None
        """The journal actor's counters at the end (journal on only)."""
        self.timed_orders = 0
        """Orders placed from :meth:`start_timing` on."""
        self._runtime = Runtime(self.settings, source=iter(()), clock=time.time_ns)
        self._seq = 0
        self._started = False
        self._records_before = 0
        self._commits_before = 0

    def start(self) -> None:
        """Register the probe, start the runtime, wait until it is at rest."""
        with _PROBES_LOCK:
            if self.strategy_id in _PROBES:
                raise RuntimeError(f"probe {self.strategy_id!r} is already registered")
            _PROBES[self.strategy_id] = self.probe
        self._started = True
        self._runtime.start()
        if not self._runtime.finished.wait(WAIT_S):  # the empty source ran dry: feed idle
            raise TimeoutError(f"{self.strategy_id}: the feed did not report its empty source")
        self.settle()

    def settle(self) -> None:
        """:meth:`Runtime.settle`, after the feed and before the strategy once more
        (the engine routes the last updates back to it after its first flush)."""
        runtime = self._runtime
        runtime.ask(FEED, Flush())
        runtime.settle()
        runtime.ask(strategy_actor(self.strategy_id), Flush())

    def start_timing(self) -> None:
        """Count orders, and the journal's records and commits, from here on (call
        at rest)."""
        self.timed_orders = 0
        if self.variant.journal is not None:
            stats: JournalStats = self._runtime.ask(JOURNAL, GetSnapshot())
            self._records_before, self._commits_before = stats.records, stats.commits

    def sample(self, *, timed: bool) -> FlowSample:
        """One order, submitted and filled; the runtime is at rest again on return."""
        probe = self.probe
        probe.arm()
        self._seq += 2
        self._runtime.inject(bar_at(self._seq, volume=SIGNAL_VOLUME))
        self._wait(probe.accepted, "ACCEPTED")
        fill_bar = time.time_ns()
        self._runtime.inject(bar_at(self._seq + 1))
        self._wait(probe.filled, "FILLED")
        self.settle()
        sample = FlowSample(probe.submitted_ns, probe.accepted_ns, fill_bar, probe.filled_ns)
        if timed:
            self.samples.append(sample)
        self.timed_orders += 1
        return sample

    def _wait(self, event: threading.Event, what: str) -> None:
        if not event.wait(WAIT_S):
            where = ""
            if self.variant.journal is not None:
                stats: JournalStats = self._runtime.ask(JOURNAL, GetSnapshot())
                where = f" (the journal holds {stats.pending} records not committed)"
            raise TimeoutError(
                f"{self.strategy_id}: no {what} at the strategy within {WAIT_S}s{where}"
            )
        if self.probe.failure:
            raise RuntimeError(f"{self.strategy_id}: the order ended {self.probe.failure}")

    def order_us(self) -> Percentiles:
        """Order leg of the timed samples, microseconds."""
        return percentiles([s.order_us for s in self.samples])

    def total_us(self) -> Percentiles:
        """Round trip of the timed samples, microseconds."""
        return percentiles([s.total_us for s in self.samples])

    def stop(self) -> None:
        """Keep the journal's counters (journal on), stop the runtime, drop the probe."""
        try:
            if self._started:
                if self.variant.journal is not None:
                    stats: JournalStats = self._runtime.ask(JOURNAL, GetSnapshot())
                    self.stats = dataclasses.replace(
                        stats,
                        records=stats.records - self._records_before,
                        commits=stats.commits - self._commits_before,
                    )
                summary = self._runtime.stop()
                if summary.stuck_threads:
                    raise RuntimeError(f"threads did not stop: {summary.stuck_threads}")
        finally:
            with _PROBES_LOCK:
                _PROBES.pop(self.strategy_id, None)
