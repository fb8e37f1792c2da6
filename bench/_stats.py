"""Small statistics and machine facts for the reports."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Machine", "Percentiles", "machine", "median", "percentile", "percentiles"]


def percentile(sorted_values: Sequence[int | float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values, nearest rank."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return float(sorted_values[int(min(rank, len(sorted_values))) - 1])


@dataclass(frozen=True, slots=True, kw_only=True)
class Percentiles:
    """p50, p90, p99 and max of a sample, in the sample's unit."""

    n: int
    """Sample size."""
    p50: float
    """Median."""
    p90: float
    """90th percentile."""
    p99: float
    """99th percentile."""
    max: float
    """Largest value."""


def percentiles(values: Sequence[int | float]) -> Percentiles:
    """Summarise ``values``."""
    ordered = sorted(values)
    return Percentiles(
        n=len(ordered),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
        max=float(ordered[-1]),
    )


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(values))


@dataclass(frozen=True, slots=True, kw_only=True)
class Machine:
    """Facts about where the benchmark ran."""

    cpus: int
    """CPUs this process may run on (what ``nproc`` prints)."""
    cpu_model: str
    """CPU model name from /proc/cpuinfo, or the platform's processor string."""
    python: str
    """Python version and implementation."""
    pykka: str
    """pykka version."""
    platform: str
    """OS and kernel."""
    load_before: tuple[float, float, float]
    """Load average (1, 5, 15 min) when the benchmark started."""
    switch_interval_s: float
    """``sys.getswitchinterval()``: how long a thread may hold the GIL."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> Machine:
    """Collect :class:`Machine` facts now."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    return Machine(
        cpus=cpus,
        cpu_model=_cpu_model(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        pykka=importlib.metadata.version("pykka"),
        platform=platform.platform(),
        load_before=os.getloadavg(),
        switch_interval_s=sys.getswitchinterval(),
    )
