"""The backtester against backtrader 1.9.78.123 on real data (ORCL daily, 1995-2014).

An SMA 10/30 crossover trading 100 shares, with no costs and market orders
filled at the next bar's open, must make exactly the trades backtrader makes:
same dates, sides, sizes and prices. backtrader is a dev-only dependency; it
computes the expected trades here, in the test.

Conventions matched (docs/backtest.md#backtrader-parity): prices are the file's
unadjusted Open/High/Low/Close (backtrader's GenericCSVData, not its Yahoo
feed, which rescales by Adj Close); a cross is backtrader's CrossOver (the last
non-zero difference changes sign); averages are ``math.fsum`` over the window,
as backtrader's SMA computes them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from runtime.backtest import run_backtest
from runtime.bar_data import load_series
from runtime.settings import parse_settings

bt: Any = pytest.importorskip(
    "backtrader", reason="backtrader is a dev dependency (pip install -e '.[dev]')"
)

ORCL = Path(__file__).resolve().parents[2] / "shared" / "data" / "orcl-1995-2014.txt"

SETTINGS = """
[feed]
source = "csv"
[[feed.csv]]
path = "ORCL_PATH"
symbol = "ORCL"
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
starting_cash = 100000.0
[gateway]
enabled = false
[[strategies]]
id = "sma"
class = "strategies.sma_crossover:SmaCrossover"
symbols = ["ORCL"]
[strategies.params]
fast = 10
slow = 30
quantity = 100
"""

Trade = tuple[dt.date, str, float, float]


def _backtrader_trades(path: Path) -> list[Trade]:
    trades: list[Trade] = []

    class Crossover(bt.Strategy):  # type: ignore[misc]
        params = {"fast": 10, "slow": 30}

        def __init__(self) -> None:
            self.cross = bt.ind.CrossOver(
                bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow)
            )

        def notify_order(self, order: Any) -> None:
            # The execution bits carry the raw prices; ``executed.price`` is an
            # average (price * size / size) that can be off by an ulp.
            side = "BUY" if order.isbuy() else "SELL"
            for bit in order.executed.iterpending():
                when = bt.num2date(bit.dt).date()
                trades.append((when, side, abs(bit.size), bit.price))

        def next(self) -> None:
            if not self.position:
                if self.cross > 0:
                    self.buy(size=100)
            elif self.cross < 0:
                self.close()

    cerebro = bt.Cerebro(stdstats=False)
    feed = bt.feeds.GenericCSVData(
        dataname=str(path),
        dtformat="%Y-%m-%d",
        datetime=0,
        open=1,
        high=2,
        low=3,
        close=4,
        volume=6,
        openinterest=-1,
    )
    cerebro.adddata(feed)
    cerebro.addstrategy(Crossover)
    cerebro.broker.setcash(100_000.0)
    cerebro.run()
    return trades


@pytest.mark.skipif(not ORCL.exists(), reason=f"shared market data not found at {ORCL}")
def test_sma_crossover_makes_exactly_backtraders_trades_on_orcl(tmp_path: Path) -> None:
    expected = _backtrader_trades(ORCL)
    text = SETTINGS.replace("ORCL_PATH", ORCL.as_posix())
    settings = parse_settings(text, source="parity.toml", base_dir=tmp_path)
    result = run_backtest(settings, [load_series(ORCL, symbol="ORCL")])
    ours = [
        (
            dt.datetime.fromtimestamp(f.ts_event / 1e9, dt.UTC).date(),
            str(f.side),
            f.quantity,
            f.price,
        )
        for f in result.fills
    ]
    assert len(expected) > 150  # about 195 executions over 20 years
    assert ours == expected
    # every market order filled whole at one price: one fill per order
    assert len(result.orders) == len(result.fills)
    assert result.metrics["TOTAL"].trades == len(expected) // 2
