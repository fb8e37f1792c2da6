"""The crash harness: a runtime subprocess against a ``tradepit venue`` subprocess.

:class:`CrashCase` writes a settings file (one strategy, :class:`crash_trader.SeededTrader`,
trading through a ``venue`` engine, journal on with ``synchronous = FULL``),
runs ``python -m runtime.cli run`` on it, and kills it with SIGKILL: either at
a named crash point (``TRADEPIT_CRASH_AT``, runtime/crashpoints.py: the process
kills itself there) or once the journal holds a given number of orders. Then
it starts the runtime again, waits until the recovery report is journaled and
the new run has orders filled, stops it (SIGTERM), and :func:`check_consistent`
compares the journal with the venue's own durable record.

Waiting is on conditions with deadlines: the process's exit, or a query on
the journal (opened read-only beside the writer, as ``tradepit journal`` does).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from runtime.venue_store import read_venue_state

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
WAIT_S = 30.0
"""Deadline of every wait: far above what each step takes (about a second)."""

SETTINGS = """
[runtime]
name = "crash-{engine}"
log_level = "WARNING"
shutdown_timeout_s = 5.0

[feed]
source = "synthetic"
interval_s = 60
speed = 3000.0
[feed.synthetic]
symbols = ["SYN-A"]
bars = 0

[execution]
engines = ["{engine}"]
cancel_on_shutdown = true

[engines.{engine}]
adapter = "venue"
[engines.{engine}.venue]
orders = "{orders}"
market_data = "{market_data}"
heartbeat_s = 0.2
request_timeout_s = 1.0

[risk]
max_order_quantity = 100
max_position = 1000
max_open_orders = 50
max_orders_per_s = 1000.0
price_collar_pct = 50.0
daily_loss_limit = 0.0

[journal]
enabled = true
path = "journal.sqlite"
synchronous = "FULL"

[[strategies]]
id = "trader"
class = "crash_trader:SeededTrader"
symbols = ["SYN-A"]
[strategies.params]
seed = {seed}
"""


def query(journal: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Rows of ``sql`` on the journal, read-only (empty while the file does not exist)."""
    if not journal.exists():
        return []
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []  # not created yet (the first run is still migrating)
    finally:
        conn.close()


@dataclass
class CrashCase:
    """One runtime (its folder, settings and process) trading at ``venue_orders``."""

    folder: Path
    engine: str
    orders: str
    market_data: str
    seed: int
    proc: subprocess.Popen[bytes] | None = None
    runs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.settings = self.folder / "settings.toml"
        self.settings.write_text(
            SETTINGS.format(
                engine=self.engine,
                orders=self.orders,
                market_data=self.market_data,
                seed=self.seed,
            ),
            encoding="utf-8",
        )
        self.journal = self.folder / "journal.sqlite"
        self.log = self.folder / "runtime.log"

    def start(self, crash_at: str = "") -> subprocess.Popen[bytes]:
        """Start the runtime; ``crash_at`` arms ``TRADEPIT_CRASH_AT``."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(REPO), str(TESTS)))}
        env.pop("TRADEPIT_CRASH_AT", None)
        if crash_at:
            env["TRADEPIT_CRASH_AT"] = crash_at
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "runtime.cli", "run", str(self.settings)],
                cwd=self.folder, env=env, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        return self.proc

    def wait_until(self, what: str, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds while the runtime runs; fail after WAIT_S."""
        proc = self.proc
        assert proc is not None
        deadline = time.monotonic() + WAIT_S
        while not condition():
            if proc.poll() is not None:
                raise AssertionError(
                    f"{what}: the runtime exited ({proc.returncode}):\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {WAIT_S}s:\n{self.tail()}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.02)  # the poll period: wakes at once if it exits

    def wait_killed(self) -> None:
        """Wait for the process to kill itself at its crash point."""
        proc = self.proc
        assert proc is not None
        try:
            code = proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"the crash point was not reached:\n{self.tail()}") from None
        assert code == -signal.SIGKILL, f"exit {code}, not SIGKILL:\n{self.tail()}"

    def kill(self) -> None:
        """SIGKILL the runtime now."""
        proc = self.proc
        assert proc is not None
        proc.kill()
        assert proc.wait(timeout=WAIT_S) == -signal.SIGKILL

    def stop(self) -> None:
        """SIGTERM the runtime and wait for a clean exit."""
        proc = self.proc
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"the runtime did not stop:\n{self.tail()}") from None
        assert code == 0, f"exit {code}:\n{self.tail()}"

    def close(self) -> None:
        """Kill the runtime if it still runs (after a failed check: no orphan)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT_S)

    def tail(self) -> str:
        """The end of the runtime's log."""
        if not self.log.exists():
            return ""
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    # --- journal conditions ------------------------------------------------------

    def orders_journaled(self) -> int:
        rows = query(self.journal, "SELECT COUNT(*) FROM orders WHERE body IS NOT NULL")
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def last_run(self) -> str:
        rows = query(self.journal, "SELECT run FROM runs ORDER BY started_ns DESC LIMIT 1")
        return str(rows[0][0]) if rows else ""

    def recovered_and_trading(self, run: str, filled: int) -> bool:
        """The run ``run`` journaled its recovery report and has ``filled`` orders filled."""
        report = query(
            self.journal, "SELECT 1 FROM events WHERE run = ? AND type = 'RecoveryReport'", (run,)
        )
        if not report:
            return False
        rows = query(
            self.journal,
            "SELECT COUNT(*) FROM orders WHERE run = ? AND status = 'FILLED'",
            (run,),
        )
        return bool(rows) and int(rows[0][0]) >= filled  # type: ignore[call-overload]

    def recovery_report(self, run: str) -> dict[str, Any]:
        """The ``RecoveryReport`` the run ``run`` journaled, as JSON."""
        rows = query(
            self.journal,
            "SELECT body FROM events WHERE run = ? AND type = 'RecoveryReport'",
            (run,),
        )
        assert len(rows) == 1, f"{len(rows)} recovery reports in run {run}"
        report: dict[str, Any] = orjson.loads(rows[0][0])  # type: ignore[arg-type]
        return report

    def restart_and_resume(self, *, filled: int = 3) -> str:
        """Start again (no crash point); wait for recovery and ``filled`` new fills; stop.
        Returns the new run's tag."""
        before = self.last_run()
        self.start()
        self.wait_until("a new run", lambda: self.last_run() not in ("", before))
        run = self.last_run()
        self.wait_until("recovery and new trading", lambda: self.recovered_and_trading(run, filled))
        self.stop()
        return run


def at_stake(case: CrashCase, point: str, venue_state: Path) -> None:
    """Right after the kill, before the restart: the crash left something to recover.

    Killed between the journal write and the send, a journaled order never
    reached the venue; killed between a fill and its journal write, the venue
    holds a fill the journal lacks.
    """
    venue = read_venue_state(venue_state)
    engine = case.engine
    if point == "journal.orders_after_commit":
        ours = {str(c) for (c,) in query(case.journal, "SELECT client_order_id FROM orders")}
        at_venue = {c for c, u in venue.orders.items() if u.engine == engine}
        assert ours - at_venue, "no journaled order was left unsent"
    elif point == "orders.fill_before_journal":
        ours = {str(f) for (f,) in query(case.journal, "SELECT fill_id FROM fills")}
        theirs = {f.fill_id for f in venue.fills if f.engine == engine}
        assert theirs - ours, "no venue fill was left unjournaled"


def check_consistent(case: CrashCase, venue_state: Path) -> None:
    """After a crash and a restart: the journal and the venue agree.

    - every fill the venue made for this engine is in the journal exactly once
      (one ``fills`` row and one ``Fill`` event), and the journal has no other;
    - the runtime's net position (its journaled fills) equals the venue's;
    - no client order id reached the venue twice;
    - no order the venue holds is unknown to the journal.
    """
    venue = read_venue_state(venue_state)
    engine = case.engine
    theirs = {f.fill_id: f for f in venue.fills if f.engine == engine}
    ours = {
        str(fid): str(coid)
        for fid, coid in query(
            case.journal, "SELECT fill_id, client_order_id FROM fills WHERE engine = ?", (engine,)
        )
    }
    assert set(ours) == set(theirs), (
        f"fills only at the venue: {sorted(set(theirs) - set(ours))[:5]}; "
        f"only in the journal: {sorted(set(ours) - set(theirs))[:5]}"
    )
    events = Counter(
        str(body)
        for (body,) in query(
            case.journal,
            "SELECT json_extract(body, '$.fill_id') FROM events WHERE type = 'Fill'",
        )
    )
    twice = [fid for fid, n in events.items() if n != 1]
    assert not twice, f"fills journaled more than once: {twice[:5]}"
    assert set(events) == set(ours), "a fill row without its Fill event, or the reverse"
    mine: dict[str, float] = {}
    for symbol, qty in query(
        case.journal,
        "SELECT symbol, SUM(CASE side WHEN 'BUY' THEN quantity ELSE -quantity END) "
        "FROM fills WHERE engine = ? GROUP BY symbol",
        (engine,),
    ):
        mine[str(symbol)] = float(qty)  # type: ignore[arg-type]
    venue_positions = {s: q for (e, s), q in venue.positions.items() if e == engine}
    for symbol in set(mine) | set(venue_positions):
        assert abs(mine.get(symbol, 0.0) - venue_positions.get(symbol, 0.0)) < 1e-9, (
            f"{symbol}: runtime {mine.get(symbol, 0.0)}, venue {venue_positions.get(symbol, 0.0)}"
        )
    ours_orders = {
        str(c)
        for (c,) in query(case.journal, "SELECT client_order_id FROM orders WHERE engine != ''")
    }
    at_venue = {c for c, update in venue.orders.items() if update.engine == engine}
    repeated = {c: n for c, n in venue.submits.items() if c in at_venue and n != 1}
    assert not repeated, f"client order ids sent to the venue more than once: {repeated}"
    unknown = at_venue - ours_orders
    assert not unknown, f"orders at the venue the journal never had: {sorted(unknown)[:5]}"
    states = {
        str(c): (str(status), float(filled))  # type: ignore[arg-type]
        for c, status, filled in query(
            case.journal, "SELECT client_order_id, status, filled_quantity FROM orders"
        )
    }
    differ = {
        c: (states[c], (u.status.value, u.filled_quantity))
        for c, u in venue.orders.items()
        if u.engine == engine and states[c] != (u.status.value, u.filled_quantity)
    }
    assert not differ, f"order states differ (journal, venue): {differ}"
