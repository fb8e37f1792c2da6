"""Strategies the backtester tests drive: orders at given bars, and failures."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.messages import Bar, Side, Tick
from strategies.base import Strategy


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptParams:
    orders: tuple[str, ...] = ("0 BUY 10",)
    """``"<bar> <BUY|SELL> <quantity> [limit=<price>] [stop=<price>]"``: sent on that
    bar (0 = the first bar or tick the strategy sees)."""


class Scripted(Strategy):
    """Sends the orders of its script, each on its bar."""

    Params = ScriptParams

    def on_start(self) -> None:
        self._seen = -1
        self._script: dict[int, list[list[str]]] = {}
        for line in self.params.orders:
            bar, *rest = line.split()
            self._script.setdefault(int(bar), []).append(rest)

    def _act(self, symbol: str) -> None:
        self._seen += 1
        for side, quantity, *prices in self._script.get(self._seen, []):
            given = {k: float(v) for k, v in (p.split("=") for p in prices)}
            self.submit(
                symbol,
                Side(side),
                float(quantity),
                limit=given.get("limit"),
                stop=given.get("stop"),
            )

    def on_bar(self, bar: Bar) -> None:
        self._act(bar.symbol)

    def on_tick(self, tick: Tick) -> None:
        self._act(tick.symbol)


@dataclass(frozen=True, slots=True, kw_only=True)
class FailParams:
    at: int = 3
    """Raise on this bar."""


class FailsOnBar(Strategy):
    """Raises in on_bar at a given bar."""

    Params = FailParams

    def on_start(self) -> None:
        self._seen = 0

    def on_bar(self, bar: Bar) -> None:
        self._seen += 1
        if self._seen == self.params.at:
            raise RuntimeError("indicator blew up")
