"""The local trial pool: one fresh process per task, failures isolated, results
in task order, children stopped on Ctrl-C, real backtests identical in and out
of a process."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_optimize import SETTINGS, series

from runtime.optimize import Trial, evaluate, sweep_job
from runtime.progress import Progress
from runtime.settings import load_settings
from runtime.trial_pool import run_isolated, run_trials_local, start_method

WAIT_S = 20.0  # generous bound for events that should come at once

_STATE: list[int] = []


def _pid(_index: int) -> int:
    return os.getpid()


def test_every_task_runs_in_a_fresh_process_of_its_own() -> None:
    outcomes = run_isolated(_pid, 6, jobs=2)
    pids = [o.value for o in outcomes]
    assert all(o.ok for o in outcomes)
    assert len(set(pids)) == 6
    assert os.getpid() not in pids


def test_no_state_is_shared_between_tasks() -> None:
    def grow(index: int) -> int:
        _STATE.append(index)
        return len(_STATE)

    outcomes = run_isolated(grow, 5, jobs=1)
    assert [o.value for o in outcomes] == [1, 1, 1, 1, 1]
    assert _STATE == []


def test_a_task_that_raises_or_dies_fails_alone() -> None:
    def task(index: int) -> Any:
        if index == 1:
            raise ValueError("bad params")
        if index == 2:
            os._exit(3)
        if index == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        if index == 4:
            return lambda: None  # cannot be pickled back
        return index * 10

    outcomes = run_isolated(task, 6, jobs=2)
    assert [o.ok for o in outcomes] == [True, False, False, False, False, True]
    assert [o.value for o in outcomes] == [0, None, None, None, None, 50]
    assert outcomes[1].error == "ValueError: bad params"
    assert outcomes[2].error == "process exited with code 3 before sending a result"
    assert outcomes[3].error == "process killed by SIGKILL"
    assert outcomes[4].error.startswith("cannot send the result back: ")


def test_outcomes_are_in_task_order_whatever_the_completion_order() -> None:
    context = multiprocessing.get_context(start_method())
    last_done = context.Event()
    finished = context.SimpleQueue()

    def task(index: int) -> int:
        if index == 0:  # task 0 finishes only after task 3 did
            assert last_done.wait(WAIT_S)
        finished.put(index)
        if index == 3:
            last_done.set()
        return index

    outcomes = run_isolated(task, 4, jobs=4)
    order = [finished.get() for _ in range(4)]
    assert order[-1] == 0
    assert [o.value for o in outcomes] == [0, 1, 2, 3]


def test_at_most_jobs_processes_run_at_once() -> None:
    context = multiprocessing.get_context(start_method())
    running = context.Value("i", 0)
    peak = context.Value("i", 0)
    never = context.Event()

    def task(_index: int) -> None:
        with running.get_lock():
            running.value += 1
            peak.value = max(peak.value, running.value)
        never.wait(0.05)  # overlap with the others if the pool allowed it
        with running.get_lock():
            running.value -= 1

    outcomes = run_isolated(task, 6, jobs=2)
    assert all(o.ok for o in outcomes)
    assert 1 <= peak.value <= 2


class _Interrupt(Progress):
    """A progress bar whose first advance is a Ctrl-C."""

    def advance(self, units: int = 1) -> None:
        raise KeyboardInterrupt


def test_ctrl_c_terminates_the_children_still_running() -> None:
    context = multiprocessing.get_context(start_method())
    pids = context.SimpleQueue()  # written synchronously: nothing lost when a child dies
    all_started = context.Barrier(3)
    never = context.Event()

    def task(index: int) -> int:
        pids.put(os.getpid())
        all_started.wait(WAIT_S)
        if index > 0:
            never.wait(60)  # would outlive the test if not terminated
        return index

    with pytest.raises(KeyboardInterrupt):
        run_isolated(task, 3, jobs=3, progress=_Interrupt(3, "t", enabled=False))
    started = {pids.get() for _ in range(3)}
    assert len(started) == 3
    for pid in started:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # gone and reaped


def test_jobs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="jobs must be >= 1, got 0"):
        run_isolated(_pid, 1, jobs=0)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_real_backtests_match_in_process_runs(tmp_path: Path, method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    (tmp_path / "s.toml").write_text(SETTINGS, encoding="utf-8")
    job = sweep_job(load_settings(tmp_path / "s.toml"), "sma", [series(200)])
    trials = [
        Trial(index=0, params={"fast": 3, "slow": 10}),
        Trial(index=1, params={"fast": 5, "slow": 20}),
    ]
    results = run_trials_local(job, trials, jobs=2, method=method)
    assert results == [evaluate(job, t) for t in trials]
    assert all(r.ok and r.metrics is not None and r.metrics.trades > 0 for r in results)


def test_a_failing_backtest_is_a_failed_trial(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SETTINGS, encoding="utf-8")
    settings = load_settings(tmp_path / "s.toml")
    job = sweep_job(settings, "sma", [series(50, symbol="OTHER")])  # no XYZ data
    results = run_trials_local(job, [Trial(index=0, params={"fast": 3})], jobs=1)
    assert not results[0].ok
    assert results[0].status == "failed"
    assert "XYZ" in results[0].error
    assert results[0].params == {"fast": 3}


def test_a_process_that_lingers_after_its_result_is_killed_not_waited_for() -> None:
    never = threading.Event()

    def task(index: int) -> int:
        # a non-daemon thread a strategy left running: the process cannot exit
        threading.Thread(target=never.wait, daemon=False).start()
        return index

    outcomes = run_isolated(task, 3, jobs=2)
    assert [(o.index, o.value, o.error) for o in outcomes] == [(i, i, "") for i in range(3)]
    assert multiprocessing.active_children() == []  # every one of them killed and reaped


def _children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # polling a condition, bounded by the deadline


def _gone(pids: set[int]) -> bool:
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z":
            return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_killed_sweep_takes_its_trials_with_it(tmp_path: Path, sig: signal.Signals) -> None:
    settings = tmp_path / "hang.toml"
    settings.write_text(HANGS, encoding="utf-8")
    data = tmp_path / "bars.csv"
    data.write_text(
        "Date,Open,High,Low,Close,Volume,OpenInterest\n"
        + "".join(f"2020-01-{d:02d},10,11,9,10,100,0\n" for d in range(1, 11)),
        encoding="utf-8",
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'tests'}"}
    command = [sys.executable, "-m", "runtime.cli", "optimize", str(settings)]
    command += ["--data", str(data), "--param", "at=2,3,4", "-j", "2"]
    log = tmp_path / "stderr.txt"
    # a file, not a pipe: orphans holding a pipe would keep a reader waiting
    with log.open("w") as err, subprocess.Popen(command, env=env, stdout=err, stderr=err) as sweep:
        _wait_until(lambda: len(_children(sweep.pid)) == 2, "two trials running")
        trials = _children(sweep.pid)
        sweep.send_signal(sig)
        code = sweep.wait(timeout=WAIT_S)
    errors = log.read_text()
    try:
        _wait_until(lambda: _gone(trials), "the trials to end")
    finally:
        for pid in trials:  # never leave a stuck trial behind, even when failing
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert code == (-sig if sig == signal.SIGKILL else 128 + sig)
    if sig != signal.SIGKILL:
        assert f"optimize: {sig.name}; the trials still running were stopped" in errors


HANGS = """
[feed]
source = "synthetic"
[feed.synthetic]
symbols = ["XYZ"]
[gateway]
enabled = false
[[strategies]]
id = "hang"
class = "backtest_strategies:HangsOnBar"
symbols = ["XYZ"]
"""
