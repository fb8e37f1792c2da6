"""The ``BENCHMARKS.md`` section of the journal benchmark (:mod:`bench.journal`)."""

from __future__ import annotations

from bench._journal_flow import VARIANTS
from bench._journal_writes import ACTOR_RECORDS_PER_ORDER, STORE_RECORDS_PER_ORDER
from bench.journal import BASELINE, LEGS, MODES, SINGLE_SHARE, STORE_BATCHES, JournalResult
from runtime.config import JournalConfig, SyncMode

__all__ = ["journal_section"]

_FULL, _NORMAL = SyncMode.FULL, SyncMode.NORMAL


def _us(value: float) -> str:
    return f"{value:,.0f}"


def _signed(value: float) -> str:
    return f"{value:+,.0f}"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _load(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def _headline(result: JournalResult) -> list[str]:
    full, normal = VARIANTS[1].key, VARIANTS[2].key
    off = result.flow_us(BASELINE, "order")
    added_full, added_normal = result.added_us(full, "order"), result.added_us(normal, "order")
    return [
        f"**Durable events/s through the journal actor: FULL {_rate(result.actor_rate(_FULL))},"
        f" NORMAL {_rate(result.actor_rate(_NORMAL))}** ({result.events:,} events told at once;"
        f" {result.actor_commits(_FULL):,.0f} and {result.actor_commits(_NORMAL):,.0f}"
        " commits). **Added latency per order, journal on (runtime defaults) against off:"
        f" FULL p50 {_signed(added_full[0])} us, p99 {_signed(added_full[1])} us; NORMAL p50"
        f" {_signed(added_normal[0])} us, p99 {_signed(added_normal[1])} us** on the way to"
        f" the engine and back (journal off: p50 {_us(off[0])} us, p99 {_us(off[1])} us).",
        "",
        "The issue sets no target for this benchmark: the figures are reported, not judged.",
        "",
    ]


def _where(result: JournalResult) -> list[str]:
    m = result.machine
    same = "the same filesystem" if result.same_filesystem else "a different filesystem"
    return [
        f"Machine: {m.cpus} CPUs ({m.cpu_model}); load average (1, 5, 15 min)"
        f" {_load(m.load_before)} when this benchmark started, {_load(result.load_after)}"
        f" when it ended. Journal files: a new temporary folder in `{result.folder.path}`,"
        f" {result.folder.describe()}; the repository `{result.repo.path}` is on"
        f" {result.repo.describe()} ({same}); the system's temporary folder"
        f" `{result.tmp.path}` is on {result.tmp.describe()}. What a sync costs depends"
        " on that filesystem and the disk under it.",
        "",
    ]


def _store(result: JournalResult) -> list[str]:
    rounds = len(result.rounds)
    lines = [
        "### The store alone",
        "",
        f"`JournalStore` on one thread, median of {rounds} rounds:",
        "",
        "| records per transaction | FULL records/s | NORMAL records/s | NORMAL / FULL "
        "| FULL us per commit | NORMAL us per commit |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for batch in STORE_BATCHES:
        lines.append(
            f"| {batch} | {_rate(result.store_rate(_FULL, batch))} "
            f"| {_rate(result.store_rate(_NORMAL, batch))} | {result.store_ratio(batch):.2f}x "
            f"| {_us(result.store_commit_us(_FULL, batch))} "
            f"| {_us(result.store_commit_us(_NORMAL, batch))} |"
        )
    lines += [
        "",
        f"Each case writes {result.records:,} records (the 1-record cases"
        f" {max(1, result.records // SINGLE_SHARE):,}: each of their commits is a sync),"
        " rounded up to whole transactions of the given size (`BEGIN IMMEDIATE` ..."
        " `COMMIT`, as the journal actor does), into a new journal file. The records are"
        " those of real orders:"
        f" {STORE_RECORDS_PER_ORDER} per order, the order as the order manager hands it over"
        " (`record_order`), then its `Order` event, ACCEPTED `OrderUpdate`, `Fill` and FILLED"
        " `OrderUpdate` (`record_event`), built up front from the order-flow benchmark's"
        " intents and answers (`runtime.messages` types); encoding them is part of the"
        " time. The cases take turns, the order rotated every round.",
        "",
    ]
    return lines


def _actor(result: JournalResult) -> list[str]:
    defaults = JournalConfig()
    lines = [
        "### Through the journal actor",
        "",
        f"{result.events:,} `Journaled` events told to a `JournalActor` as fast as one thread"
        f" can, timed until a `Flush` asked after the last one returns; median of"
        f" {len(result.rounds)} rounds:",
        "",
        "| synchronous | events/s | range over rounds | commits | events per commit "
        "| largest commit | telling took (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        low, high = result.actor_range(mode)
        commits = result.actor_commits(mode)
        lines.append(
            f"| {mode.value} | {_rate(result.actor_rate(mode))} | {_rate(low)} - {_rate(high)} "
            f"| {commits:,.0f} | {result.events / commits:,.0f} | {result.actor_largest(mode)} "
            f"| {result.actor_told_ms(mode):,.1f} |"
        )
    lines += [
        "",
        f"NORMAL / FULL: {result.actor_ratio():.2f}x (median of the rounds' ratios). The actor is"
        " started with pykka in its own `Directory` as the runtime starts it, with the"
        f" runtime's defaults (`batch_max = {defaults.batch_max}`, `batch_delay_s ="
        f" {defaults.batch_delay_s:g}`); its group commit decides the transactions (commits"
        " and the largest one are its `GetSnapshot` counters). The events are those of real"
        f" orders, {ACTOR_RECORDS_PER_ORDER} per order (`Order`, ACCEPTED, `Fill`, FILLED),"
        " built up front, with increasing sequence numbers. FULL and NORMAL alternate which"
        " goes first.",
        "",
    ]
    return lines


def _latency(result: JournalResult) -> list[str]:
    rounds = len(result.rounds)
    lines = [
        "### Added latency per order",
        "",
        f"One order at a time through a whole runtime, {result.samples:,} timed orders per"
        f" variant per round, {rounds} rounds; medians over rounds of each round's p50 and"
        " p99, of each round's difference from the journal off (*added*) and of each round's"
        " ratio to it (microseconds):",
        "",
    ]
    for leg, label in LEGS:
        lines += [
            f"*{label}*",
            "",
            "| runtime | p50 | p99 | added p50 | added p99 | p50 / off | p99 / off |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for variant in VARIANTS:
            p50, p99 = result.flow_us(variant.key, leg)
            if variant.key == BASELINE:
                lines.append(f"| {variant.label} | {_us(p50)} | {_us(p99)} | | | | |")
                continue
            added, ratio = result.added_us(variant.key, leg), result.ratio(variant.key, leg)
            lines.append(
                f"| {variant.label} | {_us(p50)} | {_us(p99)} | {_signed(added[0])} "
                f"| {_signed(added[1])} | {ratio[0]:.2f}x | {ratio[1]:.2f}x |"
            )
        lines.append("")
    lines += [
        "What the journal wrote meanwhile, per timed order (its `GetSnapshot` counters):",
        "",
        "| runtime | records per order | commits per order |",
        "|---|---:|---:|",
    ]
    for variant in VARIANTS[1:]:
        records, commits = result.per_order(variant.key)
        lines.append(f"| {variant.label} | {records:.2f} | {commits:.2f} |")
    defaults = JournalConfig()
    lines += [
        "",
        "How measured. Each variant is a `Runtime` (supervisor, feed, strategy host, risk,"
        " order manager, paper engine, portfolio, event sink and, journal on, the journal)"
        " with the benchmark settings (one paper engine without costs, no risk limits) and"
        " one `bench._journal_flow:JournalProbe` strategy, started with an empty source and"
        " fed with `Runtime.inject`; journal on, it writes a new file and keeps the"
        f" runtime's defaults (`batch_max = {defaults.batch_max}`, `batch_delay_s ="
        f" {defaults.batch_delay_s:g}`) but `synchronous` and, where the label says so,"
        " `batch_delay_s`. One order: a signal bar is injected; the strategy stamps"
        " `time.time_ns()` and buys (or sells: it alternates) 1 at market; the order goes"
        " risk -> order manager -> (journal: recorded, committed, then handed on) -> paper"
        " engine, whose ACCEPTED comes back through the order manager to the strategy,"
        " which stamps it in `on_order` (*order leg*). The benchmark then injects an"
        " ordinary bar, on which the engine fills the order at the open, and the strategy"
        " stamps FILLED (*fill leg*, from just before that bar was injected: the journal is"
        " not on this path, but records the events it causes meanwhile). The *round trip*"
        " is the sum of the two legs: submit to the final update, without the benchmark's"
        " own wake-up in between. After each order the runtime is brought to rest"
        " (`Runtime.settle()`, which ends with the journal: everything committed), so the"
        " orders do not overlap. Every round starts all five runtimes afresh, sends"
        f" {result.warmup:,} untimed orders through each, then {result.samples:,} timed ones"
        f" in blocks of {result.block:,}, rotating which runtime goes first.",
        "",
        f"With the default `batch_delay_s` ({defaults.batch_delay_s:g} s) the journal commits as"
        " soon as nothing else waits in its mailbox: the rows show its own cost (the"
        " commit, and its sync with FULL). With `batch_delay_s` set, an idle journal holds"
        " the order's record waiting for company until that delay has passed, so an order"
        " on an idle runtime waits about that long more before it reaches the engine.",
        f"The journal benchmark took {result.seconds:.0f} s.",
        "",
    ]
    return lines


def journal_section(result: JournalResult) -> list[str]:
    """The lines of the section."""
    return [
        "## Journal: durable events/s and added latency per order",
        "",
        *_headline(result),
        *_where(result),
        *_store(result),
        *_actor(result),
        *_latency(result),
    ]
