"""Settings for benchmark runtimes, built in code through the real settings parser."""

from __future__ import annotations

from pathlib import Path

from runtime.config import Settings
from runtime.settings import parse_settings

__all__ = ["SYMBOL", "bench_settings"]

SYMBOL = "BENCH"
"""The one symbol every benchmark trades."""

_HEAD = """
[runtime]
name = "bench"
log_level = "ERROR"
shutdown_timeout_s = 60.0

[feed]
source = "synthetic"
speed = 0
lockstep = {lockstep}

[feed.synthetic]
symbols = ["{symbol}"]
bars = 1

[execution]
engines = ["paper"]
cancel_on_shutdown = false

[engines.paper]
adapter = "paper"
"""

_STRATEGY = """
[[strategies]]
id = "s{index:03d}"
class = "{class_path}"
symbols = ["{symbol}"]
"""


def bench_settings(*, class_path: str, strategies: int = 1, lockstep: bool = False) -> Settings:
    """Settings with ``strategies`` instances of ``class_path`` on :data:`SYMBOL`.

    The synthetic feed section only declares the symbol (benchmarks pass
    their own ``source``); the paper engine has no costs; there are no risk
    limits; replay is at full speed with the default ``max_in_flight``.
    """
    text = _HEAD.format(lockstep="true" if lockstep else "false", symbol=SYMBOL)
    text += "".join(
        _STRATEGY.format(index=i, class_path=class_path, symbol=SYMBOL) for i in range(strategies)
    )
    return parse_settings(text, source="bench", base_dir=Path("."))
