"""The two contenders of the backtest benchmark, on the same CSV and strategy.

- tradepit: :func:`runtime.backtest.run_backtest` on a series loaded beforehand
  by :func:`runtime.bar_data.load_series` (the load is timed apart).
- backtrader: ``Cerebro(stdstats=False)`` with its defaults (``preload`` and
  ``runonce``), a ``GenericCSVData`` feed of the file and a strategy trading
  ``CrossOver(SMA(fast), SMA(slow))``; ``cerebro.run()`` is timed, which
  includes backtrader's parsing of the file (it preloads inside ``run``).

Both record their executions as :data:`Execution` tuples (minute, side, size,
price) so that the benchmark can check they traded alike.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.backtest import run_backtest
from runtime.backtest_types import BarSeries
from runtime.config import Settings
from runtime.settings import parse_settings

__all__ = [
    "FAST",
    "QUANTITY",
    "SLOW",
    "SYMBOL",
    "BacktraderRun",
    "Execution",
    "TradepitRun",
    "backtrader_version",
    "run_backtrader",
    "run_tradepit",
    "tradepit_settings",
]

FAST = 10
"""Bars in the fast average."""
SLOW = 30
"""Bars in the slow average."""
QUANTITY = 100
"""Shares bought on a cross up."""
SYMBOL = "ES"
"""The symbol the data is loaded as."""
STRATEGY_ID = "sma"
"""The strategy's id in the tradepit settings."""

Execution = tuple[dt.datetime, str, float, float]
"""(bar time to the second, ``BUY`` or ``SELL``, size, price) of one execution."""

_SETTINGS = """
[feed]
source = "csv"
[[feed.csv]]
path = {path}
symbol = "{symbol}"
[execution]
engines = ["paper"]
[engines.paper]
adapter = "paper"
max_volume_share = 0.0
[engines.paper.slippage]
model = "none"
[engines.paper.commission]
model = "none"
[portfolio]
starting_cash = 1e7
[gateway]
enabled = false
[journal]
enabled = false
[[strategies]]
id = "{strategy}"
class = "strategies.sma_crossover:SmaCrossover"
symbols = ["{symbol}"]
[strategies.params]
fast = {fast}
slow = {slow}
quantity = {quantity}
"""


def tradepit_settings(csv_path: Path) -> Settings:
    """The settings of the tradepit contender: the CSV as the feed, a paper engine
    without costs or volume cap, no gateway or journal, one SMA crossover."""
    text = _SETTINGS.format(
        path=_toml_string(csv_path.as_posix()),
        symbol=SYMBOL,
        strategy=STRATEGY_ID,
        fast=FAST,
        slow=SLOW,
        quantity=QUANTITY,
    )
    return parse_settings(text, source="bench-backtest", base_dir=csv_path.parent)


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True, kw_only=True)
class TradepitRun:
    """One timed tradepit backtest."""

    seconds: float
    """Wall time of ``run_backtest``."""
    executions: tuple[Execution, ...]
    """Its fills."""


def run_tradepit(settings: Settings, series: BarSeries) -> TradepitRun:
    """Time :func:`run_backtest` of ``settings`` on ``series``."""
    t0 = time.perf_counter()
    result = run_backtest(settings, [series])
    seconds = time.perf_counter() - t0
    executions = tuple(
        (
            dt.datetime.fromtimestamp(f.ts_event // 1_000_000_000, dt.UTC).replace(tzinfo=None),
            str(f.side),
            f.quantity,
            f.price,
        )
        for f in result.fills
    )
    return TradepitRun(seconds=seconds, executions=executions)


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktraderRun:
    """One timed backtrader run."""

    seconds: float
    """Wall time of ``cerebro.run()`` (parsing the file included)."""
    executions: tuple[Execution, ...]
    """Its executions (empty for the empty strategy)."""
    bars: int
    """Bars the strategy saw (its ``next`` calls plus the warm-up)."""


def _backtrader() -> Any:
    return importlib.import_module("backtrader")


def backtrader_version() -> str:
    """backtrader's version (raises ``ImportError`` if it is not installed)."""
    return str(_backtrader().__version__)


def _strategy_classes(bt: Any, executions: list[Execution]) -> tuple[Any, Any]:
    """The crossover strategy and an empty one (to time backtrader's load alone)."""

    class Crossover(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.cross = bt.ind.CrossOver(bt.ind.SMA(period=FAST), bt.ind.SMA(period=SLOW))

        def notify_order(self, order: Any) -> None:
            side = "BUY" if order.isbuy() else "SELL"
            for bit in order.executed.iterpending():
                when = _to_second(bt.num2date(bit.dt))
                executions.append((when, side, abs(bit.size), bit.price))

        def next(self) -> None:
            if not self.position:
                if self.cross > 0:
                    self.buy(size=QUANTITY)
            elif self.cross < 0:
                self.close()

    class Empty(bt.Strategy):  # type: ignore[misc]
        def next(self) -> None:
            pass

    return Crossover, Empty


def _to_second(exact: dt.datetime) -> dt.datetime:
    """backtrader keeps times as float days: round to the nearest second."""
    floor = exact.replace(microsecond=0)
    return floor + dt.timedelta(seconds=1) if exact.microsecond >= 500_000 else floor


def run_backtrader(csv_path: Path, *, empty: bool = False) -> BacktraderRun:
    """Time ``cerebro.run()`` of the crossover (or, ``empty``, of a strategy that
    does nothing: backtrader's load and bar loop alone) on the CSV."""
    bt = _backtrader()
    executions: list[Execution] = []
    crossover, nothing = _strategy_classes(bt, executions)
    cerebro = bt.Cerebro(stdstats=False)
    feed = bt.feeds.GenericCSVData(
        dataname=str(csv_path),
        dtformat="%Y-%m-%d",
        tmformat="%H:%M:%S",
        datetime=0,
        time=1,
        open=2,
        high=3,
        low=4,
        close=5,
        volume=6,
        openinterest=7,
        timeframe=bt.TimeFrame.Minutes,
    )
    cerebro.adddata(feed)
    cerebro.addstrategy(nothing if empty else crossover)
    cerebro.broker.setcash(1e7)
    run: Callable[[], list[Any]] = cerebro.run
    t0 = time.perf_counter()
    (strategy,) = run()
    seconds = time.perf_counter() - t0
    return BacktraderRun(seconds=seconds, executions=tuple(executions), bars=len(strategy.data))
