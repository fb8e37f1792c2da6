"""The parts of the gateway benchmark that run a whole :class:`~runtime.service.Service`.

- :func:`run_commands`: command round trips (``status``, ``engines``) from a
  :class:`~runtime.client.Client` against an idle service, next to a gateway
  on its own whose handler answers at once and a raw pyzmq DEALER/ROUTER echo
  (the floor), all in the same process;
- :func:`run_hot_add`: ``add_strategy`` over the client while the feed
  publishes bars continuously, until the new strategy's first bar;
- :func:`run_stall`: bars/s through a trading runtime with no subscriber, a
  subscriber that never reads, one that reads everything (each subscriber a
  process of its own, :mod:`bench._gateway_reader`), and the gateway off.

Every service is built from settings text through the real parser, binds
its gateway on ephemeral loopback ports and is stopped (threads checked)
before the function returns.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zmq

from bench._bars import bars as make_bars
from bench._gateway_probe import FILE_CLASS, FILE_SOURCE, STAMPS, Stamp
from bench._settings import SYMBOL
from bench._stats import Percentiles, median, percentiles
from runtime.client import Client
from runtime.config import GatewayConfig, Settings
from runtime.gateway import Gateway
from runtime.gateway_protocol import PROTOCOL_VERSION, Request, Role, encode_reply
from runtime.messages import Bar, Tick
from runtime.service import Service
from runtime.settings import parse_settings

__all__ = [
    "BAR_PERIOD_MS",
    "COMMANDS",
    "HOT_ADD_TARGET_MS",
    "INTERVAL_S",
    "PROBE_MODULE",
    "ROUND_TRIPS",
    "SPEED",
    "STALL_CASES",
    "STALL_RCVHWM",
    "STALL_SEND_HWM",
    "AddSample",
    "CommandsResult",
    "HotAddResult",
    "StallResult",
    "StallRound",
    "StallRun",
    "run_commands",
    "run_hot_add",
    "run_stall",
]

HOT_ADD_TARGET_MS = 50.0
"""Hot-add target: p50 from the reply to the first bar at most this, milliseconds."""

COMMANDS = ("status", "engines")
"""The commands timed against the service."""

ROUND_TRIPS: tuple[tuple[str, str], ...] = (
    ("status", "`status` (service)"),
    ("engines", "`engines` (service)"),
    ("bare", "bare gateway: a handler that returns at once"),
    ("raw", "raw pyzmq DEALER -> ROUTER echo"),
)
"""(key, report label) of every round trip timed, in report order."""

INTERVAL_S = 60
"""Bar length of the hot-add feed (synthetic), seconds of market time."""
SPEED = 60_000.0
"""Replay speed of the hot-add feed: market time runs this many times wall time."""
BAR_PERIOD_MS = INTERVAL_S / SPEED * 1000
"""Wall time between two bars of the hot-add feed, milliseconds (1 ms: 1,000 bars/s)."""

PROBE_MODULE = "bench._gateway_probe"
"""Where the hot-added strategy class lives (the service's ``strategy_modules``)."""
_PROBE = f"{PROBE_MODULE}:FirstBarProbe"
_PROBE_FILE = "probe.py"

STALL_CASES: tuple[tuple[str, str], ...] = (
    ("none", "no subscriber"),
    ("stalled", "a subscriber that never reads"),
    ("reading", "a subscriber that reads everything"),
    ("off", "gateway disabled (reference)"),
)
"""(key, report label) of the stalled-subscriber cases; ratios are to the first."""

STALL_SEND_HWM = 10_000
"""``[gateway] send_hwm`` of the stalled-subscriber runtimes (the default)."""
STALL_RCVHWM = 100
"""RCVHWM of the subscriber that never reads."""

_WAIT_S = 30.0
"""Longest wait for any one step."""

_HEAD = """
[runtime]
name = "bench-gateway"
log_level = "ERROR"
shutdown_timeout_s = 30.0

[feed]
source = "synthetic"
interval_s = {interval_s}
speed = {speed}

[feed.synthetic]
symbols = ["{symbol}"]
bars = {bars}

[execution]
engines = ["paper"]
cancel_on_shutdown = false

[engines.paper]
adapter = "paper"

[gateway]
enabled = {gateway}
commands = "tcp://127.0.0.1:*"
events = "tcp://127.0.0.1:*"
heartbeat_s = {heartbeat_s}
send_hwm = {send_hwm}
strategy_modules = ["{probe_module}"]
strategy_dirs = {strategy_dirs}
"""

_STRATEGY = """
[[strategies]]
id = "{id}"
class = "{class_path}"
symbols = ["{symbol}"]
"""


def _settings(
    *,
    strategies: Sequence[tuple[str, str]],
    speed: float = 0.0,
    bars: int = 1,
    heartbeat_s: float = 1.0,
    send_hwm: int = 10_000,
    strategy_dirs: Sequence[Path] = (),
    gateway: bool = True,
) -> Settings:
    """Service settings on :data:`SYMBOL`; ``strategies`` are (id, class path) pairs."""
    text = _HEAD.format(
        gateway="true" if gateway else "false",
        interval_s=INTERVAL_S,
        speed=speed,
        symbol=SYMBOL,
        bars=bars,
        heartbeat_s=heartbeat_s,
        send_hwm=send_hwm,
        probe_module=PROBE_MODULE,
        strategy_dirs=orjson.dumps([str(d) for d in strategy_dirs]).decode(),
    )
    text += "".join(
        _STRATEGY.format(id=sid, class_path=path, symbol=SYMBOL) for sid, path in strategies
    )
    return parse_settings(text, source="bench-gateway", base_dir=Path("."))


@contextlib.contextmanager
def _running(settings: Settings, source: Iterator[Bar | Tick] | None = None) -> Iterator[Service]:
    """A started service, stopped on the way out (its threads must all end)."""
    service = Service(settings, source=source)
    service.start()
    try:
        yield service
    finally:
        summary = service.stop()
        if summary.stuck_threads:
            raise RuntimeError(f"threads did not stop: {summary.stuck_threads}")


def _gateway(service: Service) -> Gateway:
    gateway = service.gateway
    if gateway is None:
        raise RuntimeError("the benchmark service has no gateway")
    return gateway


# --- command round trip ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandsResult:
    """Round trips of each command and of the raw echo, microseconds."""

    samples_us: dict[str, tuple[float, ...]]
    """By kind (the keys of :data:`ROUND_TRIPS`), in order."""
    warmup: int
    """Untimed round trips of each kind before the timed ones."""
    block: int
    """Round trips of one kind in a row."""
    reply_bytes: dict[str, int]
    """Size of one reply frame of each kind."""
    seconds: float
    """Wall time of this part."""

    def latency_us(self, kind: str) -> Percentiles:
        """Round-trip percentiles of ``kind``, microseconds."""
        return percentiles(self.samples_us[kind])

    def ratio(self, kind: str) -> float:
        """p50 of ``kind`` / p50 of the raw echo."""
        return self.latency_us(kind).p50 / self.latency_us("raw").p50


class _Echo:
    """A ROUTER that sends every message back, in its own thread (the raw floor)."""

    STOP = b"stop"

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]]) -> None:
        self._router = ctx.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.LINGER, 0)
        self._router.bind("tcp://127.0.0.1:*")
        endpoint = self._router.getsockopt(zmq.LAST_ENDPOINT)
        assert isinstance(endpoint, bytes)
        self.endpoint = endpoint.decode()
        self._thread = threading.Thread(target=self._run, name="bench-gateway-echo")
        self._thread.start()

    def _run(self) -> None:
        router = self._router
        try:
            while True:
                frames = router.recv_multipart()
                router.send_multipart(frames)
                if frames[-1] == self.STOP:
                    return
        finally:
            router.close(linger=0)

    def join(self) -> None:
        self._thread.join(_WAIT_S)
        if self._thread.is_alive():
            raise RuntimeError("the echo thread did not stop")


def _raw_trip(dealer: zmq.Socket[bytes], frame: bytes) -> float:
    t0 = time.perf_counter_ns()
    dealer.send(frame)
    reply = dealer.recv()
    t1 = time.perf_counter_ns()
    if reply != frame:
        raise RuntimeError("the echo answered something else")
    return (t1 - t0) / 1e3


def _command_trip(client: Client, cmd: str) -> float:
    t0 = time.perf_counter_ns()
    client.request(cmd)
    return (time.perf_counter_ns() - t0) / 1e3


_BARE_RESULT = {"bench": True}


def _bare_handler(request: Request, role: Role) -> Any:
    """The bare gateway's handler: the same small result for every command, at once."""
    return _BARE_RESULT


def _bare_gateway() -> Gateway:
    """A started gateway on its own (no runtime), answering every command at once."""
    config = GatewayConfig(enabled=True, commands="tcp://127.0.0.1:*", events="tcp://127.0.0.1:*")
    gateway = Gateway(config, _bare_handler, name="bench-bare")
    gateway.start()
    return gateway


def run_commands(
    *, samples: int, warmup: int, block: int, progress: Callable[[str], None]
) -> CommandsResult:
    """Time ``samples`` round trips of each kind (:data:`ROUND_TRIPS`), in rotating blocks.

    The service is idle (no market data); the bare gateway and the echo run
    in the same process next to it.
    """
    t0 = time.perf_counter()
    kinds = tuple(key for key, _ in ROUND_TRIPS)
    taken: dict[str, list[float]] = {kind: [] for kind in kinds}
    settings = _settings(strategies=[("base", "bench.strategies:CountBars")])
    request = orjson.dumps({"v": PROTOCOL_VERSION, "id": 1, "cmd": "status", "args": {}})
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    bare = _bare_gateway()
    try:
        with (
            _running(settings, source=iter(())) as service,
            Client(_gateway(service).commands_endpoint, timeout_s=_WAIT_S) as client,
            Client(bare.commands_endpoint, timeout_s=_WAIT_S) as bare_client,
        ):
            echo = _Echo(ctx)
            dealer = ctx.socket(zmq.DEALER)
            try:
                dealer.setsockopt(zmq.LINGER, 0)
                dealer.setsockopt(zmq.RCVTIMEO, int(_WAIT_S * 1000))
                dealer.connect(echo.endpoint)
                trips: dict[str, Callable[[], float]] = {
                    "status": lambda: _command_trip(client, "status"),
                    "engines": lambda: _command_trip(client, "engines"),
                    "bare": lambda: _command_trip(bare_client, "status"),
                    "raw": lambda: _raw_trip(dealer, request),
                }
                sizes = {
                    "status": len(encode_reply(1, client.request("status"))),
                    "engines": len(encode_reply(1, client.request("engines"))),
                    "bare": len(encode_reply(1, _BARE_RESULT)),
                    "raw": len(request),
                }
                for _ in range(warmup):
                    for kind in kinds:
                        trips[kind]()
                gc.collect()
                turn = 0
                while len(taken[kinds[0]]) < samples:
                    n = min(block, samples - len(taken[kinds[0]]))
                    shift = turn % len(kinds)
                    for kind in kinds[shift:] + kinds[:shift]:
                        trip = trips[kind]
                        taken[kind].extend(trip() for _ in range(n))
                    turn += 1
                dealer.send(_Echo.STOP)
                dealer.recv()
            finally:
                dealer.close(linger=0)
                echo.join()
    finally:
        bare.close()
        ctx.term()
    result = CommandsResult(
        samples_us={k: tuple(v) for k, v in taken.items()},
        warmup=warmup,
        block=block,
        reply_bytes=sizes,
        seconds=time.perf_counter() - t0,
    )
    cells = ", ".join(f"{k} p50 {result.latency_us(k).p50:,.0f} us" for k in kinds)
    progress(f"gateway commands: {cells} ({samples} each)")
    return result


# --- hot add ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AddSample:
    """One ``add_strategy`` until the strategy's first bar (``perf_counter_ns`` stamps)."""

    source: str
    """``module`` (an importable class) or ``file`` (a strategy file, executed afresh)."""
    sent: int
    """Just before the client sent ``add_strategy``."""
    replied: int
    """Just after the client had the reply."""
    started: int
    """The strategy's ``on_start`` (in its actor thread)."""
    first_bar: int
    """The strategy's first ``on_bar``."""
    remove_us: float
    """Round trip of the ``remove_strategy`` that followed, microseconds."""

    @property
    def latency_ms(self) -> float:
        """Reply received -> first bar, milliseconds (negative: the bar came first)."""
        return (self.first_bar - self.replied) / 1e6

    @property
    def total_ms(self) -> float:
        """Request sent -> first bar, milliseconds."""
        return (self.first_bar - self.sent) / 1e6

    @property
    def reply_ms(self) -> float:
        """Request sent -> reply received, milliseconds."""
        return (self.replied - self.sent) / 1e6

    @property
    def start_ms(self) -> float:
        """Request sent -> ``on_start``, milliseconds."""
        return (self.started - self.sent) / 1e6


@dataclass(frozen=True, slots=True, kw_only=True)
class HotAddResult:
    """Every timed add."""

    samples: tuple[AddSample, ...]
    """In order; module and file adds alternate."""
    warmup: int
    """Untimed adds before them."""
    bars_per_s: float
    """Bars the feed published per second while the adds ran (measured)."""
    seconds: float
    """Wall time of this part."""

    def of(self, source: str) -> list[AddSample]:
        """The samples of one source."""
        return [s for s in self.samples if s.source == source]

    def latency_ms(self, source: str) -> Percentiles:
        """Reply -> first bar, milliseconds."""
        return percentiles([s.latency_ms for s in self.of(source)])

    def total_ms(self, source: str) -> Percentiles:
        """Request -> first bar, milliseconds."""
        return percentiles([s.total_ms for s in self.of(source)])

    def reply_ms(self, source: str) -> Percentiles:
        """Request -> reply, milliseconds."""
        return percentiles([s.reply_ms for s in self.of(source)])

    def start_ms(self, source: str) -> Percentiles:
        """Request -> ``on_start``, milliseconds."""
        return percentiles([s.start_ms for s in self.of(source)])

    def remove_ms(self, source: str) -> Percentiles:
        """``remove_strategy`` round trip, milliseconds."""
        return percentiles([s.remove_us / 1e3 for s in self.of(source)])

    @property
    def passed(self) -> bool:
        """Module adds: p50 reply -> first bar within :data:`HOT_ADD_TARGET_MS`."""
        return self.latency_ms("module").p50 <= HOT_ADD_TARGET_MS


def _stamp(strategy_id: str, what: str) -> int:
    try:
        got: Stamp = STAMPS.get(timeout=_WAIT_S)
    except queue.Empty:
        raise TimeoutError(f"no {what!r} from strategy {strategy_id} in {_WAIT_S}s") from None
    if (got.strategy_id, got.what) != (strategy_id, what):
        raise RuntimeError(f"expected {what!r} from {strategy_id}, got {got}")
    return got.ns


def _add_once(client: Client, index: int, source: str) -> AddSample:
    strategy_id = f"hot{index:03d}"
    class_path = _PROBE if source == "module" else f"{_PROBE_FILE}:{FILE_CLASS}"
    sent = time.perf_counter_ns()
    view = client.add_strategy(strategy_id, class_path, [SYMBOL])
    replied = time.perf_counter_ns()
    if not isinstance(view, dict) or view.get("state") != "running":
        raise RuntimeError(f"add_strategy {strategy_id}: unexpected reply {view!r}")
    started = _stamp(strategy_id, "started")
    first_bar = _stamp(strategy_id, "bar")
    t0 = time.perf_counter_ns()
    client.remove_strategy(strategy_id)
    remove_us = (time.perf_counter_ns() - t0) / 1e3
    return AddSample(
        source=source,
        sent=sent,
        replied=replied,
        started=started,
        first_bar=first_bar,
        remove_us=remove_us,
    )


def run_hot_add(*, samples: int, warmup: int, progress: Callable[[str], None]) -> HotAddResult:
    """``warmup + samples`` adds (module and file alternating), each removed after its bar.

    ``samples`` must be at least 2 (one of each).
    """
    if samples < 2:
        raise ValueError(
            f"samples: expected at least 2 (a module add and a file add), got {samples}"
        )
    t0 = time.perf_counter()
    taken: list[AddSample] = []
    with tempfile.TemporaryDirectory(prefix="tradepit-bench-") as folder:
        directory = Path(folder)
        (directory / _PROBE_FILE).write_text(FILE_SOURCE, encoding="utf-8")
        settings = _settings(
            strategies=[("base", "bench.strategies:CountBars")],
            speed=SPEED,
            bars=0,
            strategy_dirs=[directory],
        )
        with (
            _running(settings) as service,
            Client(_gateway(service).commands_endpoint, timeout_s=_WAIT_S) as client,
        ):
            for i in range(warmup):
                _add_once(client, i, "module" if i % 2 == 0 else "file")
            gc.collect()
            bars0, clock0 = client.status()["bars"], time.perf_counter()
            for i in range(warmup, warmup + samples):
                source = "module" if (i - warmup) % 2 == 0 else "file"
                taken.append(_add_once(client, i, source))
            bars1, clock1 = client.status()["bars"], time.perf_counter()
    result = HotAddResult(
        samples=tuple(taken),
        warmup=warmup,
        bars_per_s=(bars1 - bars0) / (clock1 - clock0),
        seconds=time.perf_counter() - t0,
    )
    p = result.latency_ms("module")
    progress(
        f"gateway hot-add: reply -> first bar p50 {p.p50:.2f} ms, p90 {p.p90:.2f} ms, "
        f"max {p.max:.2f} ms (module; file p50 {result.latency_ms('file').p50:.2f} ms; "
        f"feed {result.bars_per_s:,.0f} bars/s)"
    )
    return result


# --- a stalled subscriber -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StallRun:
    """One runtime replaying ``bars`` bars with one of :data:`STALL_CASES`."""

    case: str
    """A key of :data:`STALL_CASES`."""
    bars: int
    """Bars replayed."""
    data_s: float
    """From the first bar pulled until finished and settled."""
    published: int
    """Events the gateway sent (its ``published``; heartbeats apart)."""
    reader: dict[str, Any] | None
    """What the subscriber process reported (None: no subscriber)."""
    first_ns: int
    """``time.monotonic_ns()`` when the feed pulled the first bar."""

    @property
    def rate(self) -> float:
        """Bars per second through the runtime."""
        return self.bars / self.data_s

    @property
    def received(self) -> int:
        """Events the subscriber got (0 without one)."""
        return int(self.reader["events"]) if self.reader is not None else 0

    @property
    def missed(self) -> int:
        """Events the subscriber lost, from its sequence gaps (0 without one)."""
        return int(self.reader["missed"]) if self.reader is not None else 0

    @property
    def delivered_per_s(self) -> float:
        """Events the subscriber received per second, first bar to its last event."""
        if self.reader is None or not self.reader["events"]:
            return 0.0
        return self.received / ((int(self.reader["last_ns"]) - self.first_ns) / 1e9)


@dataclass(frozen=True, slots=True, kw_only=True)
class StallRound:
    """One run of every case."""

    index: int
    """Round number, from 1."""
    runs: dict[str, StallRun]
    """By case key."""
    order: tuple[str, ...]
    """The order the cases ran in."""

    def ratio(self, case: str) -> float:
        """Bars/s of ``case`` / bars/s with no subscriber."""
        return self.runs[case].rate / self.runs["none"].rate


@dataclass(frozen=True, slots=True, kw_only=True)
class StallResult:
    """Every round of the stalled-subscriber part."""

    rounds: tuple[StallRound, ...]
    """In order."""
    bars: int
    """Bars per run."""
    seconds: float
    """Wall time of this part."""
    send_hwm: int = STALL_SEND_HWM
    """The runtimes' ``send_hwm``."""
    rcvhwm: int = STALL_RCVHWM
    """The stalled subscriber's RCVHWM."""
    events_per_bar: float = field(default=0.0)
    """Events the gateway published per bar (median over runs)."""

    def rate(self, case: str) -> float:
        """Median bars/s of ``case``."""
        return median([r.runs[case].rate for r in self.rounds])

    def ratio(self, case: str) -> float:
        """Median over rounds of each round's ratio to no subscriber."""
        return median([r.ratio(case) for r in self.rounds])

    def runs(self, case: str) -> list[StallRun]:
        """Every run of ``case``, in order."""
        return [r.runs[case] for r in self.rounds]


class _Gate:
    """Holds the feed's first pull until the subscribers are in place."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._cancelled = False

    def open(self) -> None:
        """Let the data flow."""
        self._event.set()

    def cancel(self) -> None:
        """Let the feed go on with no data (the run failed before it started)."""
        self._cancelled = True
        self._event.set()

    def source(self, data: Sequence[Bar], first: list[int]) -> Iterator[Bar | Tick]:
        """Yield ``data`` once open, noting the moment of the first pull in ``first``
        (nothing if cancelled, or not opened within the wait)."""
        if not self._event.wait(_WAIT_S) or self._cancelled:
            return
        first.append(time.monotonic_ns())
        yield from data


class _Reader:
    """The subscriber process (:mod:`bench._gateway_reader`)."""

    def __init__(self, endpoint: str, mode: str, rcvhwm: int) -> None:
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench._gateway_reader", endpoint, mode, str(rcvhwm)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
            env=env,
        )
        stdout = self._process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], _WAIT_S)
        line = stdout.readline().strip() if ready else "(nothing in time)"
        if line != "ready":
            self.kill()
            raise RuntimeError(f"the {mode} subscriber did not start: {line!r}")

    def stop(self, seq: int) -> dict[str, Any]:
        """Tell it the last ``seq``; its report once it has read up to it."""
        try:
            out, _ = self._process.communicate(f"stop {seq}\n", timeout=_WAIT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(f"the subscriber did not report within {_WAIT_S}s") from None
        if self._process.returncode != 0:
            raise RuntimeError(f"the subscriber exited with {self._process.returncode}")
        report = orjson.loads(out.strip().splitlines()[-1])
        if not isinstance(report, dict):
            raise RuntimeError(f"the subscriber reported {report!r}")
        return report

    def kill(self) -> None:
        """End the process (after a failure)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(_WAIT_S)


def _wait_subscribers(gateway: Gateway, count: int) -> None:
    """Until the gateway has seen ``count`` subscriptions (it reads them as they come)."""
    deadline = time.monotonic() + _WAIT_S
    pause = threading.Event()
    while gateway.stats().subscribers < count:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{count} subscription(s) not seen by the gateway in {_WAIT_S}s")
        pause.wait(0.002)


def _stall_run(case: str, data: Sequence[Bar]) -> StallRun:
    settings = _settings(
        strategies=[("s001", "bench.strategies:BuyEveryBar")],
        heartbeat_s=0.2,
        send_hwm=STALL_SEND_HWM,
        gateway=case != "off",
    )
    gate = _Gate()
    first: list[int] = []
    reader: _Reader | None = None
    report: dict[str, Any] | None = None
    seq0 = seq = published = 0
    with _running(settings, source=gate.source(data, first)) as service:
        gateway = service.gateway
        try:
            if gateway is not None and case != "none":
                mode = "stall" if case == "stalled" else "read"
                rcvhwm = STALL_RCVHWM if case == "stalled" else 1_000_000
                reader = _Reader(gateway.events_endpoint, mode, rcvhwm)
                _wait_subscribers(gateway, 1)
            if gateway is not None:  # the start-up's events: perhaps before it subscribed
                seq0 = gateway.mark(_WAIT_S)
            gc.collect()
            gate.open()
            if not service.runtime.finished.wait(_WAIT_S * 10):
                raise TimeoutError(f"{len(data)} bars took over {_WAIT_S * 10:.0f}s")
            service.runtime.settle()
            settled = time.monotonic_ns()
            bars = service.runtime.status().bars
            if bars != len(data):
                raise RuntimeError(f"{case}: the feed published {bars} of {len(data)} bars")
            if gateway is not None:
                seq = gateway.mark(_WAIT_S)
                stats = gateway.stats()
                if stats.dropped:
                    raise RuntimeError(f"{case}: the gateway dropped {stats.dropped} events")
                published = stats.published
            if reader is not None:
                report = reader.stop(seq)
                reader = None
        finally:
            gate.cancel()  # no effect once open; else the feed must not wait on it
            if reader is not None:
                reader.kill()
    if len(first) != 1:
        raise RuntimeError(f"{case}: the feed never pulled the first bar")
    run = StallRun(
        case=case,
        bars=len(data),
        data_s=(settled - first[0]) / 1e9,
        published=published,
        reader=report,
        first_ns=first[0],
    )
    if report is not None and not report["reached"]:
        raise RuntimeError(f"{case}: the subscriber never reached seq {seq}: {report}")
    if case == "reading" and (run.missed or run.received < seq - seq0):
        raise RuntimeError(f"the reading subscriber lost events: {report}, seq {seq}")
    return run


def run_stall(*, rounds: int, bars: int, progress: Callable[[str], None]) -> StallResult:
    """``rounds`` rounds of every case, rotating which case goes first."""
    t0 = time.perf_counter()
    data = make_bars(bars)
    keys = tuple(key for key, _ in STALL_CASES)
    taken: list[StallRound] = []
    for index in range(1, rounds + 1):
        shift = (index - 1) % len(keys)
        order = keys[shift:] + keys[:shift]
        runs = {case: _stall_run(case, data) for case in order}
        result = StallRound(index=index, runs=runs, order=order)
        taken.append(result)
        stalled, reading = runs["stalled"], runs["reading"]
        progress(
            f"gateway stalled-subscriber round {index}: {runs['none'].rate:,.0f} bars/s with "
            f"none, {stalled.rate:,.0f} stalled ({result.ratio('stalled'):.2f}x; it lost "
            f"{stalled.missed:,} of {stalled.published:,} events), {reading.rate:,.0f} "
            f"reading ({result.ratio('reading'):.2f}x), {runs['off'].rate:,.0f} with the "
            f"gateway off ({result.ratio('off'):.2f}x)"
        )
    per_bar = median([r.published / r.bars for t in taken for r in t.runs.values() if r.published])
    return StallResult(
        rounds=tuple(taken),
        bars=bars,
        seconds=time.perf_counter() - t0,
        events_per_bar=per_bar,
    )
