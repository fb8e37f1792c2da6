"""The journal benchmark (`python -m bench.run --only journal`) on tiny sizes: every
part measures what it claims, and the report section shows it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import run as bench_run
from bench._journal_flow import VARIANTS
from bench._journal_writes import STORE_RECORDS_PER_ORDER
from bench._stats import machine
from bench.journal import (
    BASELINE,
    LEGS,
    MODES,
    STORE_BATCHES,
    JournalResult,
    disk_of,
    journal_folder,
    run_journal,
)
from bench.report import Report, render
from runtime.config import SyncMode

RECORDS = 64
EVENTS = 200
SAMPLES = 4


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[JournalResult, Path, list[str]]:
    folder = tmp_path_factory.mktemp("journal-bench")
    lines: list[str] = []
    done = run_journal(
        rounds=1,
        records=RECORDS,
        events=EVENTS,
        samples=SAMPLES,
        warmup=1,
        block=2,
        progress=lines.append,
        folder=folder,
    )
    return done, folder, lines


def test_store_part_writes_every_case_in_whole_transactions(
    result: tuple[JournalResult, Path, list[str]],
) -> None:
    done, _, _ = result
    (only,) = done.rounds
    assert set(only.store) == {(mode, batch) for mode in MODES for batch in STORE_BATCHES}
    for (mode, batch), case in only.store.items():
        assert case.mode is mode and case.batch == batch
        assert case.records == case.commits * batch
        assert case.records >= (RECORDS // 8 if batch == 1 else RECORDS)
        assert case.rate > 0
    assert only.store[SyncMode.FULL, 1].commits == RECORDS // 8
    assert done.store_ratio(64) > 0


def test_actor_part_commits_every_event(result: tuple[JournalResult, Path, list[str]]) -> None:
    done, _, _ = result
    (only,) = done.rounds
    assert set(only.actor) == set(MODES)
    for mode, case in only.actor.items():
        assert case.events == EVENTS
        assert case.stats.records == EVENTS and case.stats.pending == 0
        assert 1 <= case.stats.commits <= EVENTS
        assert case.stats.largest_batch <= 512
        assert 0 < case.told_ns < case.ns
        assert done.actor_rate(mode) == pytest.approx(case.rate)


def test_flow_part_times_every_variant_against_the_journal_off(
    result: tuple[JournalResult, Path, list[str]],
) -> None:
    done, _, _ = result
    (only,) = done.rounds
    assert list(only.flow) == [v.key for v in VARIANTS]
    for key, flow in only.flow.items():
        assert flow.orders == SAMPLES
        assert {leg for leg, _ in LEGS} == set(flow.legs)
        for stats in flow.legs.values():
            assert stats.n == SAMPLES and stats.p50 > 0
        if key == BASELINE:
            assert flow.records == flow.commits == 0
        else:
            # at least the order handed over, its Order event, ACCEPTED, the fill, FILLED
            assert flow.records >= STORE_RECORDS_PER_ORDER * SAMPLES
            assert 1 <= flow.commits <= flow.records
            p50, _ = done.added_us(key, "order")
            assert p50 == pytest.approx(
                only.flow[key].legs["order"].p50 - only.flow[BASELINE].legs["order"].p50
            )


def test_journal_files_are_removed_and_progress_is_reported(
    result: tuple[JournalResult, Path, list[str]],
) -> None:
    done, folder, lines = result
    assert list(folder.iterdir()) == []
    assert len(lines) == 1 and lines[0].startswith("journal round 1/1:")
    assert done.folder.path == str(folder.resolve())
    assert done.folder.fstype != "unknown"


def test_report_has_the_journal_section(result: tuple[JournalResult, Path, list[str]]) -> None:
    done, _, _ = result
    text = render(
        Report(
            command="python -m bench.run --only journal",
            started=datetime.now(UTC),
            seconds=done.seconds,
            machine=machine(),
            latency=None,
            fanout=None,
            journal=done,
        )
    )
    assert "## Journal: durable events/s and added latency per order" in text
    assert "### The store alone" in text and "### Through the journal actor" in text
    for variant in VARIANTS:
        assert f"| {variant.label} |" in text
    assert f"{EVENTS:,} `Journaled` events" in text


def test_bench_run_offers_journal() -> None:
    assert "journal" in bench_run.BENCHMARKS
    with pytest.raises(SystemExit):
        bench_run.main(["--only", "journalx"])


def test_sizes_out_of_range_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"samples: expected an integer >= 1, got 0"):
        run_journal(
            rounds=1,
            records=1,
            events=1,
            samples=0,
            warmup=0,
            block=1,
            progress=print,
            folder=tmp_path,
        )


def test_default_folder_is_on_the_repository_filesystem() -> None:
    repo = Path(bench_run.__file__).resolve().parent.parent
    assert journal_folder().stat().st_dev == repo.stat().st_dev
    assert disk_of(repo).mount in {str(repo), *(str(p) for p in repo.parents)}
