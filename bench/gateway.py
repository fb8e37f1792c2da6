"""The ZeroMQ gateway benchmark (issue 4): events out, commands in, strategies hot-added.

Four parts, run in this order, each side by side with what it is judged
against, in the same run:

1. *Event stream* (:mod:`bench._gateway_stream`): events/s delivered to a
   subscriber through :class:`runtime.gateway.Gateway` (events handed to
   ``publish`` from one thread, received by a SUB socket in another) next to
   raw pyzmq PUB/SUB with orjson bodies of the same size (and, for
   information, raw pyzmq sending the same messages through the gateway's
   encoder), in rotating order over ``rounds`` rounds; the verdict is the
   median over rounds of each round's gateway/raw ratio against
   :data:`STREAM_TARGET_RATIO`.
2. *Command round trip* (:func:`bench._gateway_service.run_commands`):
   ``status`` and ``engines`` from a :class:`runtime.client.Client` against
   an idle :class:`runtime.service.Service`, a gateway on its own whose
   handler answers at once, and a raw DEALER/ROUTER echo (the floor), in
   rotating blocks.
3. *Hot-add to first bar* (:func:`bench._gateway_service.run_hot_add`):
   ``add_strategy`` over the client while the feed publishes a bar every
   :data:`~bench._gateway_service.BAR_PERIOD_MS` ms, until the new
   strategy's first ``on_bar``; the verdict is the p50 from the reply to the
   first bar against :data:`~bench._gateway_service.HOT_ADD_TARGET_MS`.
4. *A stalled subscriber* (:func:`bench._gateway_service.run_stall`): bars/s
   through a trading runtime with no subscriber, with one that never reads,
   with one that reads everything (both separate processes), and with the
   gateway disabled, rotating over ``stall_rounds`` rounds; reported, not
   judged.

Benchmarks report figures: the checks only make sure each part measured
what it claims (no event lost where none may be, every bar published...).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench._gateway_service import (
    CommandsResult,
    HotAddResult,
    StallResult,
    run_commands,
    run_hot_add,
    run_stall,
)
from bench._gateway_stream import StreamRound, StreamRun, event_pool, run_stream_round
from bench._stats import median

__all__ = ["STREAM_TARGET_RATIO", "GatewayResult", "StreamResult", "run_gateway"]

STREAM_TARGET_RATIO = 0.60
"""Gateway events/s must be at least this fraction of raw pyzmq's (median ratio)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamResult:
    """Every round of the event-stream part."""

    rounds: tuple[StreamRound, ...]
    """In order."""
    count: int
    """Events per run."""
    seconds: float
    """Wall time of this part."""

    def runs(self, side: str) -> list[StreamRun]:
        """The run of ``side`` (a key of :data:`~bench._gateway_stream.SIDES`) of every round."""
        return [r.runs[side] for r in self.rounds]

    def rate(self, side: str) -> float:
        """Median events/s of ``side``."""
        return median([run.rate for run in self.runs(side)])

    @property
    def ratio(self) -> float:
        """Median over rounds of each round's gateway/raw ratio (the verdict's)."""
        return self.ratio_to("raw")

    def ratio_to(self, side: str) -> float:
        """Median over rounds of each round's gateway / ``side`` ratio."""
        return median([r.ratio(side) for r in self.rounds])

    def body_size(self, side: str) -> float:
        """Mean body frame size of ``side``, bytes (all rounds)."""
        runs = self.runs(side)
        return sum(run.body_bytes for run in runs) / sum(run.received for run in runs)

    def cpu_us(self, side: str) -> dict[str, float]:
        """Median over rounds of each thread's CPU per event, microseconds."""
        per_round = [run.cpu_us() for run in self.runs(side)]
        return {role: median([p[role] for p in per_round]) for role in per_round[0]}

    def handover_ns(self, side: str) -> float:
        """Median cost of one ``publish`` (or encode and send) to the calling thread, ns."""
        return median([run.handover_ns for run in self.runs(side)])

    @property
    def passed(self) -> bool:
        """The median ratio reaches :data:`STREAM_TARGET_RATIO`."""
        return self.ratio >= STREAM_TARGET_RATIO


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayResult:
    """Every part of the gateway benchmark."""

    stream: StreamResult
    """Events/s, gateway next to raw pyzmq."""
    commands: CommandsResult
    """Command round trips."""
    hot_add: HotAddResult
    """Hot-add to first bar."""
    stall: StallResult
    """Runtime throughput with a stalled subscriber."""
    seconds: float
    """Wall time of the whole benchmark."""

    @property
    def passed(self) -> bool:
        """Both verdicts pass: the stream ratio and the hot-add p50."""
        return self.stream.passed and self.hot_add.passed


def run_stream(*, rounds: int, count: int, progress: Callable[[str], None]) -> StreamResult:
    """``rounds`` rounds of ``count`` events through the gateway and through raw pyzmq."""
    t0 = time.perf_counter()
    pool = event_pool()
    taken = tuple(
        run_stream_round(i, count=count, pool=pool, progress=progress) for i in range(1, rounds + 1)
    )
    return StreamResult(rounds=taken, count=count, seconds=time.perf_counter() - t0)


def run_gateway(
    *,
    rounds: int,
    events: int,
    commands: int,
    command_warmup: int,
    command_block: int,
    adds: int,
    add_warmup: int,
    stall_rounds: int,
    stall_bars: int,
    progress: Callable[[str], None],
) -> GatewayResult:
    """Run the four parts (see the module docstring) and collect their results.

    Raises ``ValueError`` naming a size out of range, ``RuntimeError`` if a
    part did not measure what it claims or a thread it started is still alive
    at the end.
    """
    sizes = {
        "rounds": (rounds, 1),
        "events": (events, 1),
        "commands": (commands, 1),
        "command_warmup": (command_warmup, 0),
        "command_block": (command_block, 1),
        "adds": (adds, 2),
        "add_warmup": (add_warmup, 0),
        "stall_rounds": (stall_rounds, 1),
        "stall_bars": (stall_bars, 1),
    }
    for name, (value, least) in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name}: expected an integer >= {least}, got {value!r}")
    t0 = time.perf_counter()
    before = set(threading.enumerate())
    stream = run_stream(rounds=rounds, count=events, progress=progress)
    round_trips = run_commands(
        samples=commands, warmup=command_warmup, block=command_block, progress=progress
    )
    hot_add = run_hot_add(samples=adds, warmup=add_warmup, progress=progress)
    stall = run_stall(rounds=stall_rounds, bars=stall_bars, progress=progress)
    left = sorted(t.name for t in set(threading.enumerate()) - before if t.is_alive())
    if left:
        raise RuntimeError(f"the gateway benchmark left threads running: {left}")
    return GatewayResult(
        stream=stream,
        commands=round_trips,
        hot_add=hot_add,
        stall=stall,
        seconds=time.perf_counter() - t0,
    )
