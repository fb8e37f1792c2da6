"""The README's strategy example runs as written."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support import run_to_end

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def readme_module(tmp_path: Path) -> Iterator[str]:
    """The README's first Python block, importable as ``readme_example``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README has no python example"
    (tmp_path / "readme_example.py").write_text(blocks[0], encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "readme_example"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("readme_example", None)


def test_the_readme_strategy_runs_and_trades(
    readme_module: str, write_settings: Callable[[str], Path]
) -> None:
    text = f"""
[runtime]
log_level = "ERROR"
[feed]
lockstep = true
[feed.synthetic]
symbols = ["SYN-A"]
bars = 500
volatility = 0.01
[[strategies]]
id = "breakout"
class = "{readme_module}:Breakout"
symbols = ["SYN-A"]
[strategies.params]
lookback = 50
"""
    summary, _ = run_to_end(write_settings(text))
    (stats,) = summary.strategies
    assert stats.orders >= 1
    assert stats.fills == stats.orders
