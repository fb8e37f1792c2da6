"""Acceptance: kill -9 loses nothing (issue 6).

A ``tradepit venue`` process (durable: ``[venue] state``) and a runtime
process trading at random through it (tests/crash_harness.py). The runtime is
killed with SIGKILL at 30 seeded points across the order flow, then started
again; after each restart the journal and the venue must agree exactly (every
venue fill journaled once, the same positions, no client order id sent twice)
and trading must resume. Then the venue and the runtime are killed together
and both restarted: the same checks hold. A truncated or garbled journal
makes the runtime exit 2 with a clear message instead of starting flat.

Each case trades under its own engine name, so that one venue serves them
all and its positions per engine belong to one case each.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_harness import REPO, CrashCase, check_consistent
from test_venue import VenueProcess, start_venue, write_venue_config

SEED = 20261122
POINTS = {
    # an order batched, its transaction not committed: it was never recorded.
    "journal.orders_before_commit": (1, 3, 7, 12),
    # committed, not yet handed to the engine: between the journal write and the send.
    "journal.orders_after_commit": (1, 2, 5, 9, 14),
    # handed to the broker adapter, maybe not yet on the wire.
    "engine.after_submit": (2, 6, 11),
    # on the wire to the venue, its answer not yet journaled.
    "venue.submit_sent": (1, 4, 8, 13),
    # a fill received, not yet journaled: between the fill and the journal write.
    "orders.fill_before_journal": (1, 3, 6, 10),
    # an update received (an ack, a fill's state, a cancel), not yet journaled.
    "orders.update_before_journal": (2, 7),
}
RANDOM_MOMENTS = 9
"""SIGKILL from outside once the journal holds a seeded number of orders."""


def _cases() -> list[tuple[int, str, int]]:
    """(case number, crash point or "", orders journaled before the outside SIGKILL)."""
    cases = [(f"{point}:{n}", 0) for point, counts in POINTS.items() for n in counts]
    rng = random.Random(SEED)
    cases += [("", rng.randint(3, 40)) for _ in range(RANDOM_MOMENTS)]
    return [(i, point, orders) for i, (point, orders) in enumerate(cases)]


CASES = _cases()
assert len(CASES) >= 30


def _venue_file(path: Path) -> Path:
    write_venue_config(path, speed=3000.0, symbols=("SYN-A",))
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('name = "sim"', f'name = "sim"\nstate = "{path.parent / "venue.sqlite"}"'),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VenueProcess]:
    """One durable venue for the single-kill cases."""
    folder = tmp_path_factory.mktemp("venue")
    process = start_venue(_venue_file(folder / "venue.toml"))
    yield process
    process.stop()


@pytest.mark.parametrize(
    ("index", "crash_at", "after_orders"),
    CASES,
    ids=[point or f"after-{orders}-orders" for _, point, orders in CASES],
)
def test_sigkill_at_a_seeded_point_loses_nothing(
    venue: VenueProcess, tmp_path: Path, index: int, crash_at: str, after_orders: int
) -> None:
    case = CrashCase(
        tmp_path / "runtime",
        engine=f"v{index:02d}",
        orders=venue.orders,
        market_data=venue.market_data,
        seed=SEED + index,
    )
    if crash_at:
        case.start(crash_at)
        case.wait_killed()
    else:
        case.start()
        case.wait_until(f"{after_orders} orders", lambda: case.orders_journaled() >= after_orders)
        case.kill()
    case.restart_and_resume()
    check_consistent(case, venue.config.parent / "venue.sqlite")


@pytest.mark.parametrize("after_orders", [6, 19])
def test_sigkill_of_venue_and_runtime_together(tmp_path: Path, after_orders: int) -> None:
    config = _venue_file(tmp_path / "venue.toml")
    venue = start_venue(config)
    case = CrashCase(
        tmp_path / "runtime",
        engine="together",
        orders=venue.orders,
        market_data=venue.market_data,
        seed=SEED - after_orders,
    )
    try:
        case.start()
        case.wait_until(f"{after_orders} orders", lambda: case.orders_journaled() >= after_orders)
        venue.proc.kill()
        case.kill()
        venue.proc.wait(timeout=10)
        venue = start_venue(config)  # the same ports and the same state file
        case.restart_and_resume()
        check_consistent(case, tmp_path / "venue.sqlite")
    finally:
        case.close()
        venue.stop()


def _run_on(journal: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    settings = tmp_path / "settings.toml"
    settings.write_text(
        '[runtime]\nlog_level = "WARNING"\n'
        '[feed]\nspeed = 0\n[feed.synthetic]\nsymbols = ["SYN-A"]\nbars = 80\n'
        f'[journal]\nenabled = true\npath = "{journal}"\n'
        '[[strategies]]\nid = "sma"\nclass = "strategies.sma_crossover:SmaCrossover"\n'
        'symbols = ["SYN-A"]\n[strategies.params]\nfast = 2\nslow = 5\nquantity = 10\n',
        encoding="utf-8",
    )
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "run", str(settings)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    """A real journal with a finished run in it (orders, fills, events)."""
    journal = tmp_path / "journal.sqlite"
    done = _run_on(journal, tmp_path)
    assert done.returncode == 0, done.stderr
    assert journal.stat().st_size > 8192
    return journal


def test_a_truncated_journal_stops_the_start(journal_file: Path, tmp_path: Path) -> None:
    size = journal_file.stat().st_size
    with journal_file.open("r+b") as fh:
        fh.truncate(size // 2 + 100)
    done = _run_on(journal_file, tmp_path)
    assert done.returncode == 2, done.stderr
    assert str(journal_file) in done.stderr
    assert "truncated" in done.stderr or "integrity" in done.stderr
    assert "refusing to start" in done.stderr


def test_an_empty_journal_file_stops_the_start(journal_file: Path, tmp_path: Path) -> None:
    journal_file.write_bytes(b"")
    done = _run_on(journal_file, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "empty" in done.stderr and str(journal_file) in done.stderr
    assert "refusing to start" in done.stderr


def test_a_garbled_page_stops_the_start(journal_file: Path, tmp_path: Path) -> None:
    data = bytearray(journal_file.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for i in range(page + 8, 2 * page):  # page 2: a b-tree page of a table
        data[i] = (data[i] * 31 + 7) & 0xFF
    journal_file.write_bytes(bytes(data))
    done = _run_on(journal_file, tmp_path)
    assert done.returncode == 2, done.stderr
    assert str(journal_file) in done.stderr
    assert "refusing to start" in done.stderr
