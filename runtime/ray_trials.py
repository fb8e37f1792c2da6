"""Run sweep trials as Ray tasks (``tradepit optimize --ray ADDRESS``).

Ray is an optional extra (``pip install 'tradepit[ray]'``); nothing here
imports it until a sweep asks for it, and a missing Ray is a
:class:`RayMissingError` with the install hint.

- ``--ray auto`` joins the cluster this machine belongs to (``ray.init(address="auto")``);
- ``--ray ADDRESS`` (``ray://host:10001``, ``host:6379``) joins that one;
- ``--ray local`` starts a private Ray instance on this machine (``ray.init()``).

The job (settings and data) is put once in the object store; each trial is a
task that runs in a worker process of its own (``max_calls=1``: a worker runs
one trial and exits), so trials share no state, as with the local pool. The
strategy classes must be importable on every node (the same code installed).
A task that raises or whose worker dies is a failed trial; results come back
in trial order.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Final

from runtime.errors import TradepitError
from runtime.optimize import SweepJob, Trial, TrialResult, evaluate, failed_result
from runtime.progress import Progress

__all__ = ["LOCAL", "MISSING_RAY", "RayBackend", "RayMissingError", "import_ray", "run_trials_ray"]

MISSING_RAY: Final = "--ray needs Ray: pip install 'tradepit[ray]'"
"""The error when ``--ray`` is given and Ray is not installed."""

LOCAL: Final = "local"
"""``--ray local``: start a Ray instance on this machine instead of joining a cluster."""


class RayMissingError(TradepitError):
    """``--ray`` was given but Ray cannot be imported."""


def import_ray() -> Any:
    """The ``ray`` module, or :class:`RayMissingError` with the install hint."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise RayMissingError(MISSING_RAY) from None


def _trial_task(job: SweepJob, trial: Trial) -> TrialResult:
    """Body of one Ray task (Ray resolves the job's object ref before the call).

    An exception becomes a failed result here, as text: not every exception
    survives Ray's serialization (one with a custom ``__init__`` does not)."""
    try:
        return evaluate(job, trial)
    except Exception as exc:
        return failed_result(trial, f"{type(exc).__name__}: {exc}")


class RayBackend:
    """A :data:`runtime.optimize.Backend` on Ray: connects on first use (unless a
    connection is already open), puts each job in the object store once, and
    disconnects on :meth:`close` if it connected."""

    def __init__(self, address: str = "auto") -> None:
        """``address``: ``auto``, ``local`` (:data:`LOCAL`) or a cluster address."""
        self._ray = import_ray()
        self._address = address
        self._connected = False
        self._job: SweepJob | None = None
        self._job_ref: Any = None

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        if self._address == LOCAL:
            ray.init(include_dashboard=False)
        else:
            ray.init(address=self._address)
        self._connected = True

    def __call__(
        self, job: SweepJob, trials: Sequence[Trial], progress: Progress | None = None
    ) -> list[TrialResult]:
        """Run every trial as a Ray task; results in trial order, failed ones included."""
        ray = self._ray
        trials = tuple(trials)
        self._connect()
        if job is not self._job:
            self._job, self._job_ref = job, ray.put(job)
        remote = ray.remote(max_calls=1)(_trial_task)
        pending: dict[Any, int] = {}
        try:
            for i, trial in enumerate(trials):
                pending[remote.remote(self._job_ref, trial)] = i
            results: dict[int, TrialResult] = {}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    try:
                        results[i] = ray.get(ref)
                    except Exception as exc:  # RayTaskError, WorkerCrashedError...
                        results[i] = failed_result(trials[i], _ray_error(exc))
                    if progress is not None:
                        progress.advance()
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return [results[i] for i in range(len(trials))]

    def close(self) -> None:
        """Disconnect from Ray if this backend connected."""
        if self._connected:
            self._connected = False
            self._job = self._job_ref = None
            self._ray.shutdown()

    def __enter__(self) -> RayBackend:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def run_trials_ray(
    job: SweepJob,
    trials: Sequence[Trial],
    progress: Progress | None = None,
    *,
    address: str = "auto",
) -> list[TrialResult]:
    """Run every trial as a Ray task, each in a fresh worker process; results in
    trial order. Uses the Ray connection already open, if any; otherwise
    connects to ``address`` and disconnects at the end."""
    with RayBackend(address) as backend:
        return backend(job, trials, progress)


def _ray_error(exc: Exception) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0] if first else ''}"
