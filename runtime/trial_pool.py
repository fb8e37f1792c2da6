"""Run tasks each in a fresh process, at most ``jobs`` at once (the local
backend of ``tradepit optimize``).

Every task gets its own process, started for it and gone after it: no state
is shared between tasks, not even a warm interpreter. With the ``fork`` start
method (the default where it exists) the child inherits the parent's memory
copy-on-write, so the data loaded once in the parent is not copied or
pickled; only the small result travels back, through a pipe. Elsewhere
``spawn`` is used and the task (with its data) is pickled to each child.

A task that raises, or whose process dies (``os._exit``, a signal, running
out of memory), is reported as failed with the reason; the others go on.
Outcomes are returned in task order, whatever order the processes finish in.
Ctrl-C (or any exception in the parent) terminates the children still running.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Generic, TypeVar

from runtime.optimize import SweepJob, Trial, TrialResult, evaluate, failed_result
from runtime.progress import Progress

__all__ = ["Outcome", "default_jobs", "run_isolated", "run_trials_local", "start_method"]

R = TypeVar("R")

_JOIN_TIMEOUT_S = 5.0
_EXIT_GRACE_S = 1.0
"""How long a trial process may take to exit once it sent its result."""
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class Outcome(Generic[R]):
    """What became of one task: its value, or why it failed."""

    index: int
    value: R | None
    error: str = ""
    """Empty when the task returned; else the exception or how the process died."""

    @property
    def ok(self) -> bool:
        """Whether the task returned a value."""
        return not self.error


def default_jobs() -> int:
    """Processes at once when ``-j`` is not given: the number of CPUs."""
    return os.cpu_count() or 1


def start_method() -> str:
    """``fork`` where the platform has it, else ``spawn``."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _die_with(parent: int) -> None:
    """End this trial process when the sweep that started it dies (Linux: the
    kernel sends SIGKILL; elsewhere only the check below)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _child(task: Callable[[int], object], index: int, conn: Connection, parent: int) -> None:
    _die_with(parent)
    try:
        value = task(index)
        message: tuple[bool, object] = (True, value)
    except BaseException as exc:  # the parent reports it; nothing may escape here
        message = (False, f"{type(exc).__name__}: {exc}")
    try:
        conn.send(message)
    except Exception as exc:  # e.g. a value that cannot be pickled
        conn.send((False, f"cannot send the result back: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _death(process: BaseProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"process killed by {name}"
    return f"process exited with code {code} before sending a result"


def run_isolated(
    task: Callable[[int], R],
    count: int,
    *,
    jobs: int,
    progress: Progress | None = None,
    method: str | None = None,
) -> list[Outcome[R]]:
    """Call ``task(i)`` for ``i`` in ``range(count)``, each call in a new process,
    at most ``jobs`` processes at once; return the outcomes in index order.

    ``method`` is the multiprocessing start method (default :func:`start_method`);
    with ``spawn`` the task must be picklable (a module-level function or a
    :func:`functools.partial` of one).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    context: BaseContext = multiprocessing.get_context(method or start_method())
    outcomes: dict[int, Outcome[R]] = {}
    running: dict[int, tuple[BaseProcess, Connection]] = {}
    pending = iter(range(count))

    def start(index: int) -> None:
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(  # type: ignore[attr-defined]
            target=_child,
            args=(task, index, writer, os.getpid()),
            name=f"tradepit-trial-{index}",
            daemon=True,
        )
        process.start()
        writer.close()  # the child holds the only writer: EOF when it dies
        running[index] = (process, reader)

    def finish(index: int) -> None:
        process, reader = running.pop(index)
        outcome: Outcome[R]
        try:
            ok, payload = reader.recv()
        except (EOFError, OSError):
            process.join(_JOIN_TIMEOUT_S)
            outcome = Outcome(index, None, _death(process))
        else:
            outcome = Outcome(index, payload, "") if ok else Outcome(index, None, str(payload))
            # The result is in: a process that does not exit (a thread a strategy
            # left running) is killed rather than waited for.
            process.join(_EXIT_GRACE_S)
            if process.is_alive():
                process.kill()
                process.join(_JOIN_TIMEOUT_S)
        reader.close()
        outcomes[index] = outcome
        if progress is not None:
            progress.advance()

    try:
        for index in pending:
            start(index)
            if len(running) < jobs:
                continue
            _wait_one(running, finish)
        while running:
            _wait_one(running, finish)
    finally:
        for process, _reader in running.values():
            process.terminate()
        for process, reader in running.values():
            process.join(_JOIN_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join(_JOIN_TIMEOUT_S)
            reader.close()
        running.clear()
    return [outcomes[i] for i in range(count)]


def _wait_one(
    running: dict[int, tuple[BaseProcess, Connection]], finish: Callable[[int], None]
) -> None:
    """Block until at least one running task has a result or has died; finish those."""
    by_reader = {id(reader): index for index, (_, reader) in running.items()}
    ready = wait([reader for _, reader in running.values()])
    for reader in ready:
        finish(by_reader[id(reader)])


def _evaluate_at(job: SweepJob, trials: Sequence[Trial], index: int) -> TrialResult:
    return evaluate(job, trials[index])


def run_trials_local(
    job: SweepJob,
    trials: Sequence[Trial],
    progress: Progress | None = None,
    *,
    jobs: int | None = None,
    method: str | None = None,
) -> list[TrialResult]:
    """Run every trial's backtest in its own local process (``-j`` at once);
    results in trial order, failed trials included."""
    trials = tuple(trials)
    task = functools.partial(_evaluate_at, job, trials)
    outcomes = run_isolated(
        task, len(trials), jobs=jobs or default_jobs(), progress=progress, method=method
    )
    return [
        o.value if o.ok and o.value is not None else failed_result(trials[o.index], o.error)
        for o in outcomes
    ]


def local_backend(
    jobs: int | None = None, method: str | None = None
) -> Callable[[SweepJob, Sequence[Trial], Progress | None], list[TrialResult]]:
    """:func:`run_trials_local` as a :data:`runtime.optimize.Backend`."""

    def backend(
        job: SweepJob, trials: Sequence[Trial], progress: Progress | None
    ) -> list[TrialResult]:
        return run_trials_local(job, trials, progress, jobs=jobs, method=method)

    return backend
