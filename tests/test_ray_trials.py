"""The Ray backend of ``tradepit optimize`` on a local Ray instance (``make test-ray``).

Skipped when Ray is not installed; the missing-Ray message is tested in the
normal suite (tests/test_optimize.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_optimize import SETTINGS, optimize, series, write_csv

from runtime.optimize import Trial, rank, sweep_job
from runtime.ray_trials import RayBackend, run_trials_ray
from runtime.settings import load_settings
from runtime.trial_pool import run_trials_local

pytestmark = pytest.mark.ray

ray: Any = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tradepit[ray]')")


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray instance for the module (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def test_a_ray_sweep_gives_the_same_sorted_results_as_the_local_pool(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SETTINGS, encoding="utf-8")
    job = sweep_job(load_settings(tmp_path / "s.toml"), "sma", [series()])
    trials = [
        Trial(index=i, params={"fast": fast, "slow": slow})
        for i, (fast, slow) in enumerate([(2, 10), (3, 15), (5, 20), (8, 30)])
    ]
    with RayBackend("auto") as backend:
        on_ray = backend(job, trials, None)
    local = run_trials_local(job, trials, jobs=2)
    assert on_ray == local
    assert all(r.ok for r in on_ray)
    assert [r.index for r in rank(on_ray, "sharpe")] == [r.index for r in rank(local, "sharpe")]
    assert ray.is_initialized()  # it used the open connection and left it open


def test_a_failing_trial_on_ray_is_reported_and_the_others_run(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SETTINGS, encoding="utf-8")
    job = sweep_job(load_settings(tmp_path / "s.toml"), "sma", [series()])
    trials = [
        Trial(index=0, params={"fast": 3, "slow": 10}),
        Trial(index=1, params={"fast": "three"}),  # with_params refuses it in the worker
    ]
    results = run_trials_ray(job, trials, address="auto")
    assert results[0].ok
    assert not results[1].ok
    assert "fast" in results[1].error


def test_the_command_with_ray_writes_the_same_csv_as_the_local_pool(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text(SETTINGS, encoding="utf-8")
    data = write_csv(tmp_path / "xyz.csv")
    argv = [str(settings), "--data", str(data), "--param", "fast=2,3", "--param", "slow=10,20"]
    assert optimize([*argv, "--csv", str(tmp_path / "local.csv"), "-j", "2"]) == 0
    assert optimize([*argv, "--csv", str(tmp_path / "ray.csv"), "--ray", "auto"]) == 0
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
