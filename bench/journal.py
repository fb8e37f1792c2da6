"""The journal benchmark (issue 6): durable events/s, and what the journal adds per order.

Three parts, each side by side with what it is compared to, in every round:

1. *Store* (:func:`bench._journal_writes.run_store_case`): records/s written
   through :class:`~runtime.journal_store.JournalStore` alone, in
   transactions of each size of :data:`STORE_BATCHES`, ``synchronous`` FULL
   and NORMAL; the cases take turns in an order rotated every round.
2. *Actor* (:func:`bench._journal_writes.run_actor_case`): events/s through
   the :class:`~actors.journal.JournalActor` (its group commit, the
   runtime's default batch settings), FULL and NORMAL, alternating which
   goes first.
3. *Per order* (:mod:`bench._journal_flow`): one order at a time through a
   whole runtime for each of :data:`~bench._journal_flow.VARIANTS` (journal
   off, FULL, NORMAL, and both again with ``batch_delay_s = 0.002``), all
   started afresh every round and taking turns in blocks of ``block``
   orders, rotating which goes first.

Every journal file is new, in a temporary folder on the repository's
filesystem (:func:`journal_folder`). Figures are medians over rounds: of
each round's rates, of each round's p50 and p99, and of each round's
differences and ratios against the journal-off runtime.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench._journal_flow import VARIANTS, FlowRuntime
from bench._journal_writes import ActorRun, StoreRun, run_actor_case, run_store_case
from bench._stats import Machine, Percentiles, machine, median, percentiles
from runtime.config import SyncMode

__all__ = [
    "BASELINE",
    "LEGS",
    "MODES",
    "STORE_BATCHES",
    "Disk",
    "FlowStats",
    "JournalResult",
    "JournalRound",
    "disk_of",
    "journal_folder",
    "run_journal",
]

MODES: tuple[SyncMode, ...] = (SyncMode.FULL, SyncMode.NORMAL)
"""The ``synchronous`` settings compared."""

STORE_BATCHES = (1, 64, 512)
"""Records per transaction in the store part."""

SINGLE_SHARE = 8
"""The 1-record cases of the store part write ``records // SINGLE_SHARE`` records
(every one of their commits syncs)."""

BASELINE = VARIANTS[0].key
"""The variant the others are compared with: the journal off."""

LEGS: tuple[tuple[str, str], ...] = (
    ("order", "order leg: submit -> ACCEPTED at the strategy"),
    ("total", "round trip: submit -> FILLED at the strategy"),
    ("fill", "fill leg: fill bar injected -> FILLED at the strategy"),
)
"""(key, label) of the latencies measured per order."""

_REPO = Path(__file__).resolve().parent.parent
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Disk:
    """The filesystem a folder lives on (from ``/proc/self/mounts``)."""

    path: str
    """The folder."""
    fstype: str
    """Filesystem type (``ext4``, ``tmpfs``, ``overlay``...); ``unknown`` if not found."""
    device: str
    """What is mounted."""
    mount: str
    """Where."""

    def describe(self) -> str:
        """``ext4 on /dev/vda (mounted at /)``."""
        return f"{self.fstype} on {self.device} (mounted at {self.mount})"


def _unescape(field: str) -> str:
    """``/proc/mounts`` writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def disk_of(path: Path) -> Disk:
    """The filesystem ``path`` is on: the mount with the longest matching mount point."""
    target = path.resolve()
    best = Disk(str(target), "unknown", "unknown", "/")
    depth = -1
    try:
        lines = Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return best
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        device, mount, fstype = _unescape(fields[0]), Path(_unescape(fields[1])), fields[2]
        if (target == mount or mount in target.parents) and len(mount.parts) >= depth:
            best, depth = Disk(str(target), fstype, device, str(mount)), len(mount.parts)
    return best


def journal_folder(requested: Path | None = None) -> Path:
    """Where the benchmark's journal files go: ``requested`` if given, else the
    temporary folder if it is on the repository's filesystem, else the repository."""
    if requested is not None:
        return requested
    tmp = Path(tempfile.gettempdir())
    return tmp if tmp.stat().st_dev == _REPO.stat().st_dev else _REPO


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowStats:
    """One variant's orders in one round."""

    legs: dict[str, Percentiles]
    """Per key of :data:`LEGS`, microseconds."""
    orders: int
    """Orders timed (and counted in ``records`` and ``commits``)."""
    records: int
    """Records the journal committed meanwhile (0: journal off)."""
    commits: int
    """Transactions it committed meanwhile."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalRound:
    """One round of the three parts."""

    index: int
    """Round number, from 1."""
    store: dict[tuple[SyncMode, int], StoreRun]
    """Per (mode, records per transaction)."""
    actor: dict[SyncMode, ActorRun]
    """Per mode."""
    flow: dict[str, FlowStats]
    """Per variant key."""

    def added_us(self, key: str, leg: str) -> tuple[float, float]:
        """(p50, p99) of ``key`` minus those of the journal off, microseconds."""
        mine, base = self.flow[key].legs[leg], self.flow[BASELINE].legs[leg]
        return mine.p50 - base.p50, mine.p99 - base.p99

    def ratio(self, key: str, leg: str) -> tuple[float, float]:
        """(p50, p99) of ``key`` over those of the journal off."""
        mine, base = self.flow[key].legs[leg], self.flow[BASELINE].legs[leg]
        return mine.p50 / base.p50, mine.p99 / base.p99


def _median_pair(pairs: Sequence[tuple[float, float]]) -> tuple[float, float]:
    return median([p[0] for p in pairs]), median([p[1] for p in pairs])


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalResult:
    """Every round of the journal benchmark, and where it ran."""

    rounds: tuple[JournalRound, ...]
    """In run order."""
    records: int
    """Records per batched case of the store part (a 1-record case writes an eighth)."""
    events: int
    """Events per run of the actor part."""
    samples: int
    """Timed orders per variant per round."""
    warmup: int
    """Untimed orders per variant per round."""
    block: int
    """Consecutive orders a variant takes before the next one has its turn."""
    folder: Disk
    """Where the journal files were."""
    repo: Disk
    """Where the repository is."""
    same_filesystem: bool
    """Both on the same device."""
    tmp: Disk
    """Where the system's temporary folder is."""
    machine: Machine
    """The machine, at the start of this benchmark."""
    load_after: tuple[float, float, float]
    """Load average at its end."""
    seconds: float
    """Wall time of the benchmark."""

    def store_rate(self, mode: SyncMode, batch: int) -> float:
        """Median records/s of the store part."""
        return median([r.store[mode, batch].rate for r in self.rounds])

    def store_commit_us(self, mode: SyncMode, batch: int) -> float:
        """Median mean time per transaction of the store part, microseconds."""
        return median([r.store[mode, batch].commit_us for r in self.rounds])

    def store_ratio(self, batch: int) -> float:
        """Median over rounds of NORMAL records/s over FULL records/s."""
        return median(
            [
                r.store[SyncMode.NORMAL, batch].rate / r.store[SyncMode.FULL, batch].rate
                for r in self.rounds
            ]
        )

    def actor_rate(self, mode: SyncMode) -> float:
        """Median events/s through the journal actor."""
        return median([r.actor[mode].rate for r in self.rounds])

    def actor_range(self, mode: SyncMode) -> tuple[float, float]:
        """Lowest and highest events/s over rounds."""
        rates = [r.actor[mode].rate for r in self.rounds]
        return min(rates), max(rates)

    def actor_commits(self, mode: SyncMode) -> float:
        """Median transactions per run of the actor part."""
        return median([float(r.actor[mode].stats.commits) for r in self.rounds])

    def actor_largest(self, mode: SyncMode) -> int:
        """Largest transaction of any run of the actor part."""
        return max(r.actor[mode].stats.largest_batch for r in self.rounds)

    def actor_told_ms(self, mode: SyncMode) -> float:
        """Median time the benchmark thread took to tell the events, ms."""
        return median([r.actor[mode].told_ns / 1e6 for r in self.rounds])

    def actor_ratio(self) -> float:
        """Median over rounds of NORMAL events/s over FULL events/s."""
        return median(
            [r.actor[SyncMode.NORMAL].rate / r.actor[SyncMode.FULL].rate for r in self.rounds]
        )

    def flow_us(self, key: str, leg: str) -> tuple[float, float]:
        """Median over rounds of (p50, p99) of variant ``key``, microseconds."""
        return _median_pair([(s.p50, s.p99) for s in (r.flow[key].legs[leg] for r in self.rounds)])

    def added_us(self, key: str, leg: str) -> tuple[float, float]:
        """Median over rounds of (p50, p99) of ``key`` minus the journal off's."""
        return _median_pair([r.added_us(key, leg) for r in self.rounds])

    def ratio(self, key: str, leg: str) -> tuple[float, float]:
        """Median over rounds of (p50, p99) of ``key`` over the journal off's."""
        return _median_pair([r.ratio(key, leg) for r in self.rounds])

    def per_order(self, key: str) -> tuple[float, float]:
        """(records, commits) per order of variant ``key``, all rounds together."""
        flows = [r.flow[key] for r in self.rounds]
        orders = sum(f.orders for f in flows)
        return sum(f.records for f in flows) / orders, sum(f.commits for f in flows) / orders


def _check_sizes(**sizes: tuple[int, int]) -> None:
    for name, (value, least) in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name}: expected an integer >= {least}, got {value!r}")


def _rotated(items: Sequence[_T], shift: int) -> list[_T]:
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def _store_part(folder: Path, index: int, records: int) -> dict[tuple[SyncMode, int], StoreRun]:
    cases = [(mode, batch) for batch in STORE_BATCHES for mode in MODES]
    done: dict[tuple[SyncMode, int], StoreRun] = {}
    for mode, batch in _rotated(cases, index - 1):
        count = records if batch > 1 else max(1, records // SINGLE_SHARE)
        path = folder / f"store-{index}-{mode.value.lower()}-{batch}.sqlite"
        done[mode, batch] = run_store_case(path, mode=mode, batch=batch, records=count)
    return done


def _actor_part(folder: Path, index: int, events: int) -> dict[SyncMode, ActorRun]:
    done: dict[SyncMode, ActorRun] = {}
    for mode in _rotated(MODES, index - 1):
        path = folder / f"actor-{index}-{mode.value.lower()}.sqlite"
        done[mode] = run_actor_case(path, mode=mode, events=events)
    return done


def _flow_part(
    folder: Path, index: int, *, samples: int, warmup: int, block: int
) -> dict[str, FlowStats]:
    runtimes = [FlowRuntime(v, folder, str(index)) for v in VARIANTS]
    started: list[FlowRuntime] = []
    try:
        for runtime in runtimes:
            runtime.start()
            started.append(runtime)
        order = _rotated(runtimes, index - 1)
        for runtime in order:
            for _ in range(warmup):
                runtime.sample(timed=False)
            runtime.start_timing()
        gc.collect()
        taken = 0
        while taken < samples:
            count = min(block, samples - taken)
            for runtime in order:
                for _ in range(count):
                    runtime.sample(timed=True)
            taken += count
            order = _rotated(order, 1)
    finally:
        for runtime in started:
            runtime.stop()
    flows: dict[str, FlowStats] = {}
    for runtime in runtimes:
        stats = runtime.stats
        flows[runtime.variant.key] = FlowStats(
            legs={
                "order": percentiles([s.order_us for s in runtime.samples]),
                "total": percentiles([s.total_us for s in runtime.samples]),
                "fill": percentiles([s.fill_us for s in runtime.samples]),
            },
            orders=runtime.timed_orders,
            records=stats.records if stats is not None else 0,
            commits=stats.commits if stats is not None else 0,
        )
    return flows


def run_journal(
    *,
    rounds: int,
    records: int,
    events: int,
    samples: int,
    warmup: int,
    block: int,
    progress: Callable[[str], None],
    folder: Path | None = None,
) -> JournalResult:
    """Run ``rounds`` rounds of the three parts (see the module docstring), with the
    journal files in a new temporary folder inside :func:`journal_folder`.

    Raises ``ValueError`` naming a size out of range, ``RuntimeError`` if a part
    did not write or deliver what it should have.
    """
    _check_sizes(
        rounds=(rounds, 1),
        records=(records, 1),
        events=(events, 1),
        samples=(samples, 1),
        warmup=(warmup, 0),
        block=(block, 1),
    )
    facts = machine()
    t0 = time.perf_counter()
    base = journal_folder(folder)
    done: list[JournalRound] = []
    with tempfile.TemporaryDirectory(prefix="tradepit-bench-journal-", dir=base) as name:
        work = Path(name)
        for index in range(1, rounds + 1):
            store = _store_part(work, index, records)
            actor = _actor_part(work, index, events)
            flow = _flow_part(work, index, samples=samples, warmup=warmup, block=block)
            result = JournalRound(index=index, store=store, actor=actor, flow=flow)
            done.append(result)
            progress(
                f"journal round {index}/{rounds}: store x{max(STORE_BATCHES)} records/s "
                + ", ".join(f"{m.value} {store[m, max(STORE_BATCHES)].rate:,.0f}" for m in MODES)
                + "; actor events/s "
                + ", ".join(f"{m.value} {actor[m].rate:,.0f}" for m in MODES)
                + "; order leg p50 "
                + ", ".join(f"{v.key} {flow[v.key].legs['order'].p50:,.0f}" for v in VARIANTS)
                + " us"
            )
        seconds = time.perf_counter() - t0
    return JournalResult(
        rounds=tuple(done),
        records=records,
        events=events,
        samples=samples,
        warmup=warmup,
        block=block,
        folder=disk_of(base),
        repo=disk_of(_REPO),
        same_filesystem=base.stat().st_dev == _REPO.stat().st_dev,
        tmp=disk_of(Path(tempfile.gettempdir())),
        machine=facts,
        load_after=os.getloadavg(),
        seconds=seconds,
    )
