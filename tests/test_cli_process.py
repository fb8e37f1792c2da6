"""`tradepit run` as a real process: trades, stops on signals, prints a summary."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}"}
    return subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_line(proc: subprocess.Popen[str], fragment: str, timeout: float) -> list[str]:
    """Read stderr until a line contains ``fragment``; fail after ``timeout``."""
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if fragment in line:
                return seen
    proc.kill()
    proc.communicate()
    pytest.fail(f"no line with {fragment!r} within {timeout}s; saw:\n{''.join(seen[-20:])}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_default_settings_trade_within_seconds_and_a_signal_stops_cleanly(
    signum: signal.Signals,
) -> None:
    proc = _start("run", "settings.toml")
    _wait_for_line(proc, "FILL ", timeout=30)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert f"stopping: {signum.name}" in err
    assert "TOTAL" in out
    for strategy in ("sma-a", "sma-b", "bollinger-c"):
        assert strategy in out
    assert "threads still running" not in err


def test_duration_ends_the_run_with_a_summary(write_settings: Callable[[str], Path]) -> None:
    path = write_settings(
        '[runtime]\nlog_level = "INFO"\n[feed]\nspeed = 100.0\n'
        '[feed.synthetic]\nsymbols = ["AAA"]\n'
        '[[strategies]]\nid = "s"\nclass = "support:BuyEveryBar"\nsymbols = ["AAA"]\n'
    )
    proc = _start("run", str(path), "--duration", "1.5")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "stopping: duration 1.5s elapsed" in err
    row = next(line for line in out.splitlines() if line.startswith("s "))
    orders = int(row.split()[1])
    assert orders >= 1


def test_end_of_data_ends_the_run(write_settings: Callable[[str], Path]) -> None:
    path = write_settings(
        '[runtime]\nlog_level = "INFO"\n[feed]\nlockstep = true\n'
        '[feed.synthetic]\nsymbols = ["AAA"]\nbars = 50\n'
        '[[strategies]]\nid = "s"\nclass = "support:BuyEveryBar"\nsymbols = ["AAA"]\n'
    )
    proc = _start("run", str(path))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "stopping: end of data" in err
    assert "bars 50" in out
    row = next(line for line in out.splitlines() if line.startswith("s "))
    assert row.split()[1:4] == ["50", "0", "49"], "50 orders, 0 rejected, 49 fills"


def test_a_strategy_failing_to_start_exits_1_with_the_reason(
    write_settings: Callable[[str], Path],
) -> None:
    path = write_settings(
        '[feed.synthetic]\nsymbols = ["AAA"]\n'
        '[[strategies]]\nid = "b"\nclass = "support:FailsToStart"\nsymbols = ["AAA"]\n'
    )
    proc = _start("run", str(path))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "runtime did not start: strategy.b (strategy) failed to start" in err


def test_a_runtime_driven_by_cli_clients_status_tail_then_shutdown(
    write_settings: Callable[[str], Path],
) -> None:
    path = write_settings(
        '[runtime]\nlog_level = "INFO"\n[feed]\nspeed = 200.0\n'
        '[feed.synthetic]\nsymbols = ["AAA"]\n'
        '[gateway]\nenabled = true\ncommands = "tcp://127.0.0.1:*"\n'
        'events = "tcp://127.0.0.1:*"\nheartbeat_s = 0.1\n'
        '[[strategies]]\nid = "s"\nclass = "support:BuyEveryBar"\nsymbols = ["AAA"]\n'
    )
    proc = _start("run", str(path))
    lines = _wait_for_line(proc, "commands on tcp://", timeout=30)
    found = re.search(r"commands on (tcp://\S+), events on (tcp://\S+) ", lines[-1])
    assert found is not None, lines[-1]
    commands, events = found[1], found[2]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runtime.cli", *args],
            check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    try:
        status = cli("status", "--endpoint", commands, "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["state"] == "RUNNING"
        tail = cli("tail", "order.fill", "--events", events, "--count", "3")
        assert tail.returncode == 0, tail.stderr
        fills = [line for line in tail.stdout.splitlines() if re.match(r"#\d+ FILL  s BUY", line)]
        assert len(fills) == 3, tail.stdout
        refused = cli("remove-strategy", "nope", "--endpoint", commands)
        assert refused.returncode == 1
        assert "NOT_FOUND" in refused.stderr
        stop = cli("shutdown", "--endpoint", commands, "--reason", "end of the drill")
        assert stop.returncode == 0, stop.stderr
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert "stopping: end of the drill" in err
    assert "TOTAL" in out
    nobody = cli("status", "--endpoint", commands, "--timeout", "0.5")
    assert nobody.returncode == 3
