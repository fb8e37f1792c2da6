"""Test support: an event recorder and strategies (importable as ``support:Name``)."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from runtime.boot import Runtime
from runtime.messages import Bar, Fill, Message, OrderUpdate, Tick, TimeInForce
from runtime.settings import load_settings
from runtime.summary import RunSummary
from strategies.base import Strategy

M = TypeVar("M", bound=Message)


class Recorder:
    """Collects every published event (a runtime listener); tests can wait on it."""

    def __init__(self) -> None:
        self.events: list[Message] = []
        self._cv = threading.Condition()

    def __call__(self, event: Message) -> None:
        with self._cv:
            self.events.append(event)
            self._cv.notify_all()

    def of(self, kind: type[M]) -> list[M]:
        """The recorded events of one type, in publication order."""
        with self._cv:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, kind: type[M], count: int = 1, timeout_s: float = 30.0) -> list[M]:
        """Wait until ``count`` events of ``kind`` were published; return them all."""
        with self._cv:
            self._cv.wait_for(
                lambda: sum(isinstance(e, kind) for e in self.events) >= count, timeout_s
            )
            found = [e for e in self.events if isinstance(e, kind)]
        assert len(found) >= count, (
            f"{count} {kind.__name__} not published within {timeout_s}s (got {len(found)})"
        )
        return found


def make_bar(i: int, symbol: str = "AAA") -> Bar:
    """The i-th of a series of flat one-minute bars (price 100, ample volume)."""
    return Bar(
        id=i,
        ts_event=(1_700_000_000 + 60 * i) * 10**9,
        ts_init=0,
        symbol=symbol,
        open=100.0,
        high=101.0,
        low=99.0,
        close=100.0,
        volume=1e6,
        interval_s=60,
    )


def run_to_end(path: Path, *, timeout_s: float = 60.0) -> tuple[RunSummary, Recorder]:
    """Run the settings at ``path`` until the data ends, stop, return what happened."""
    recorder = Recorder()
    runtime = Runtime(load_settings(path), listeners=[recorder])
    runtime.start()
    try:
        assert runtime.finished.wait(timeout_s), f"the data did not end within {timeout_s}s"
    finally:
        summary = runtime.stop()
    assert summary.stuck_threads == ()
    return summary, recorder


@dataclass(frozen=True, slots=True, kw_only=True)
class EveryBarParams:
    """Parameters of :class:`BuyEveryBar`."""

    quantity: float = 1.0
    limit_offset: float = 0.0


class BuyEveryBar(Strategy):
    """Buys ``quantity`` on every bar (at market, or at close - limit_offset)."""

    Params = EveryBarParams

    def on_start(self) -> None:
        self.updates: list[OrderUpdate] = []
        self.fills: list[Fill] = []

    def on_bar(self, bar: Bar) -> None:
        p: EveryBarParams = self.params
        limit = bar.close - p.limit_offset if p.limit_offset else None
        self.buy(bar.symbol, p.quantity, limit=limit)

    def on_order(self, update: OrderUpdate) -> None:
        self.updates.append(update)

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)


@dataclass(frozen=True, slots=True, kw_only=True)
class FailParams:
    """Parameters of the failing strategies."""

    at_bar: int = 5


class RaisesOnBar(Strategy):
    """Raises ValueError on bar number ``at_bar``."""

    Params = FailParams

    def on_start(self) -> None:
        self.count = 0

    def on_bar(self, bar: Bar) -> None:
        self.count += 1
        if self.count == self.params.at_bar:
            raise ValueError(f"deliberate failure on bar {self.count}")


class ExitsOnBar(Strategy):
    """Calls sys.exit() on bar number ``at_bar``."""

    Params = FailParams

    def on_start(self) -> None:
        self.count = 0

    def on_bar(self, bar: Bar) -> None:
        self.count += 1
        if self.count == self.params.at_bar:
            sys.exit("strategy gave up")


class FailsToStart(Strategy):
    """Raises in on_start."""

    def on_start(self) -> None:
        raise RuntimeError("cannot start")


class BuyOnTick(Strategy):
    """Buys one unit on every tick."""

    def on_tick(self, tick: Tick) -> None:
        self.buy(tick.symbol, 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class OnceParams:
    """Parameters of :class:`BuyOnce`."""

    quantity: float = 1.0


class BuyOnce(Strategy):
    """Buys ``quantity`` at market on the first bar, then nothing."""

    Params = OnceParams

    def on_start(self) -> None:
        self.done = False

    def on_bar(self, bar: Bar) -> None:
        if not self.done:
            self.done = True
            self.buy(bar.symbol, self.params.quantity)


class DayLimitOnce(Strategy):
    """Places one DAY limit buy far below the market on the first bar."""

    def on_start(self) -> None:
        self.done = False

    def on_bar(self, bar: Bar) -> None:
        if not self.done:
            self.done = True
            self.buy(bar.symbol, 1, limit=bar.close / 2, time_in_force=TimeInForce.DAY)


class SlowToStart(Strategy):
    """Takes 3 s in on_start (longer than the tests' start-up timeout)."""

    def on_start(self) -> None:
        threading.Event().wait(3.0)


class HangsOnBar(Strategy):
    """Never returns from its first on_bar (a spinning strategy)."""

    def on_bar(self, bar: Bar) -> None:
        threading.Event().wait()


class FlattenOnStop(Strategy):
    """Buys 10 on the first bar; on stop, sells whatever it holds."""

    def on_start(self) -> None:
        self.bought = False

    def on_bar(self, bar: Bar) -> None:
        if not self.bought:
            self.bought = True
            self.buy(bar.symbol, 10)

    def on_stop(self) -> None:
        held = self.position(self.symbols[0])
        if held > 0:
            self.sell(self.symbols[0], held)


class BuysThenRaises(Strategy):
    """Buys 7 on the first bar, raises on the third."""

    def on_start(self) -> None:
        self.count = 0

    def on_bar(self, bar: Bar) -> None:
        self.count += 1
        if self.count == 1:
            self.buy(bar.symbol, 7)
        elif self.count == 3:
            raise RuntimeError("strategy bug")


@dataclass(frozen=True, slots=True, kw_only=True)
class EveryParams:
    """Parameters of :class:`RaisesEvery`."""

    every: int = 10


class RaisesEvery(Strategy):
    """Raises on every ``every``-th bar it handles (each incarnation counts from 0)."""

    Params = EveryParams

    def on_start(self) -> None:
        self.count = 0

    def on_bar(self, bar: Bar) -> None:
        self.count += 1
        if self.count % self.params.every == 0:
            raise RuntimeError(f"deliberate failure on bar {self.count}")


class TradesByCount(Strategy):
    """Decides from the bars alone: buys 1 on every 7th bar, sells 1 three bars later.

    Its orders do not depend on fills or timing, so two runs over the same bars
    make exactly the same orders, free-running or not.
    """

    def on_start(self) -> None:
        self.count = 0

    def on_bar(self, bar: Bar) -> None:
        self.count += 1
        if self.count % 7 == 1:
            self.buy(bar.symbol, 1)
        elif self.count % 7 == 4:
            self.sell(bar.symbol, 1)


class LimitThenRaises(Strategy):
    """Places a limit buy far below the market on its first bar; raises on its third."""

    def on_start(self) -> None:
        self.count = 0

    def on_bar(self, bar: Bar) -> None:
        self.count += 1
        if self.count == 1:
            self.buy(bar.symbol, 1, limit=bar.close / 2)
        elif self.count == 3:
            raise RuntimeError("strategy bug after placing a limit order")


RELEASE = threading.Event()
"""Set by a test to let :class:`HangsOnRestart` instances go."""


class HangsOnRestart(Strategy):
    """Starts normally the first time; a restarted instance hangs in on_start until
    ``RELEASE`` is set, then tries to buy (it must not be able to)."""

    starts = 0

    def on_start(self) -> None:
        HangsOnRestart.starts += 1
        if HangsOnRestart.starts > 1:
            RELEASE.wait(30)
            self.buy(self.symbols[0], 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class StakeParams:
    """Parameters of :class:`StakeThenBids`."""

    stake: float = 100.0
    bid_fraction: float = 0.5


class StakeThenBids(Strategy):
    """Buys ``stake`` at market on its first bar; on every bar also rests a limit buy
    of 1 at ``bid_fraction`` x close (far below the market: it stays working)."""

    Params = StakeParams

    def on_start(self) -> None:
        self.count = 0

    def on_bar(self, bar: Bar) -> None:
        p: StakeParams = self.params
        self.count += 1
        if self.count == 1:
            self.buy(bar.symbol, p.stake)
        self.buy(bar.symbol, 1, limit=round(bar.close * p.bid_fraction, 2))


class Scripted(Strategy):
    """Sends the orders a test queues in ``Scripted.script`` (one list per bar, keyed by
    the strategy id): each entry is (side, quantity, limit or None)."""

    script: dict[str, list[list[tuple[str, float, float | None]]]] = {}

    def on_start(self) -> None:
        self.count = 0

    def on_bar(self, bar: Bar) -> None:
        steps = Scripted.script.get(self.id, [])
        if self.count < len(steps):
            for side, quantity, limit in steps[self.count]:
                if side == "BUY":
                    self.buy(bar.symbol, quantity, limit=limit)
                else:
                    self.sell(bar.symbol, quantity, limit=limit)
        self.count += 1


class ModifiesResting(Strategy):
    """Bar 1: rests a limit buy of 10 at 90. Bar 2: modifies it to 20 at 99.5, which
    the next bar (low 99) fills. Records what it is told."""

    def on_start(self) -> None:
        self.count = 0
        self.order_id = ""
        self.updates: list[OrderUpdate] = []

    def on_bar(self, bar: Bar) -> None:
        self.count += 1
        if self.count == 1:
            self.order_id = self.buy(bar.symbol, 10, limit=90.0)
        elif self.count == 2:
            self.modify(self.order_id, quantity=20, limit=99.5)

    def on_order(self, update: OrderUpdate) -> None:
        self.updates.append(update)


class ModifiesTwice(Strategy):
    """Bar 1: rests a limit buy of 10 at 60. Bar 2: asks for quantity 30, then at once
    for limit 55 (the second while the first is pending)."""

    def on_start(self) -> None:
        self.count = 0
        self.order_id = ""

    def on_bar(self, bar: Bar) -> None:
        self.count += 1
        if self.count == 1:
            self.order_id = self.buy(bar.symbol, 10, limit=60.0)
        elif self.count == 2:
            self.modify(self.order_id, quantity=30)
            self.modify(self.order_id, limit=55.0)


IMPORT_GATE = threading.Event()
"""Strategy files written by tests block on it while imported (``add_strategy``
of a module that hangs at import time); tests set it when they are done."""

START_GATE = threading.Event()
""":class:`BlocksOnStart` waits on it in ``on_start``."""
STARTING = threading.Event()
"""Set by :class:`BlocksOnStart` when its ``on_start`` begins."""


class BlocksOnStart(Strategy):
    """An ``on_start`` that waits for :data:`START_GATE` (a slow add)."""

    def on_start(self) -> None:
        STARTING.set()
        START_GATE.wait(60)


class SlowStartThenBuys(Strategy):
    """``on_start`` waits for :data:`START_GATE` (past a start timeout), then buys 7."""

    def on_start(self) -> None:
        STARTING.set()
        START_GATE.wait(60)
        self.buy("AAA", 7)


class SlowBarThenBuys(Strategy):
    """On its first bar: sets :data:`STARTING`, waits for :data:`START_GATE`, buys 9."""

    def on_start(self) -> None:
        self.done = False

    def on_bar(self, bar: Bar) -> None:
        if not self.done:
            self.done = True
            STARTING.set()
            START_GATE.wait(60)
            self.buy(bar.symbol, 9)
