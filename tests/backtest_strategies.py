"""Strategies the backtester tests drive: orders at given bars, and failures."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

from runtime.messages import Bar, Fill, OrderUpdate, Side, Tick
from strategies.base import Strategy


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptParams:
    orders: tuple[str, ...] = ("0 BUY 10",)
    """On the given bar (0 = the first bar or tick the strategy sees):
    ``"<bar> <BUY|SELL> <quantity> [limit=<price>] [stop=<price>]"`` sends an order;
    ``"<bar> MODIFY <k> [quantity=<q>] [limit=<price>] [stop=<price>]"`` modifies
    and ``"<bar> CANCEL <k>"`` cancels the strategy's k-th order (0 = the first)."""


Told = tuple[str, str, str, str, float]
"""(hook, client order id, status or side, reason and message, quantity)."""


class Scripted(Strategy):
    """Sends the orders of its script, each on its bar, and records what it is told."""

    Params = ScriptParams
    seen: ClassVar[dict[str, list[Told]]] = {}
    """What each strategy (by id) was told, in order."""

    def on_start(self) -> None:
        self._seen = -1
        self._sent: list[str] = []
        self._script: dict[int, list[list[str]]] = {}
        Scripted.seen[self.id] = []
        for line in self.params.orders:
            bar, *rest = line.split()
            self._script.setdefault(int(bar), []).append(rest)

    def _act(self, symbol: str) -> None:
        self._seen += 1
        for verb, what, *prices in self._script.get(self._seen, []):
            given = {k: float(v) for k, v in (p.split("=") for p in prices)}
            if verb == "CANCEL":
                self.cancel(self._sent[int(what)])
            elif verb == "MODIFY":
                self.modify(
                    self._sent[int(what)],
                    quantity=given.get("quantity"),
                    limit=given.get("limit"),
                    stop=given.get("stop"),
                )
            else:
                oid = self.submit(
                    symbol,
                    Side(verb),
                    float(what),
                    limit=given.get("limit"),
                    stop=given.get("stop"),
                )
                self._sent.append(oid)

    def on_order(self, update: OrderUpdate) -> None:
        reason = "" if update.reason is None else f"{update.reason}: {update.message}"
        told = ("order", update.client_order_id, str(update.status), reason, update.quantity)
        Scripted.seen[self.id].append(told)

    def on_fill(self, fill: Fill) -> None:
        told = ("fill", fill.client_order_id, str(fill.side), "", fill.quantity)
        Scripted.seen[self.id].append(told)

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


@dataclass(frozen=True, slots=True, kw_only=True)
class HangParams:
    at: int = 2
    """Block forever on this bar."""


class HangsOnBar(Strategy):
    """Blocks forever in on_bar at a given bar (a stuck trial, until it is killed)."""

    Params = HangParams

    def on_start(self) -> None:
        self._seen = 0

    def on_bar(self, bar: Bar) -> None:
        self._seen += 1
        if self._seen == self.params.at:
            threading.Event().wait()
