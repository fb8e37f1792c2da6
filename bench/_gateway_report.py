"""The ``BENCHMARKS.md`` section of the gateway benchmark (:mod:`bench.gateway`)."""

from __future__ import annotations

from bench._gateway_service import (
    BAR_PERIOD_MS,
    HOT_ADD_TARGET_MS,
    INTERVAL_S,
    ROUND_TRIPS,
    SPEED,
    STALL_CASES,
    STALL_RCVHWM,
    CommandsResult,
    HotAddResult,
    StallResult,
)
from bench._gateway_stream import POOL_ORDERS, QUIET_S, SIDES
from bench._stats import Percentiles, median
from bench.gateway import STREAM_TARGET_RATIO, GatewayResult, StreamResult

__all__ = ["gateway_section"]


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _us(value: float) -> str:
    return f"{value:,.1f}"


def _ms(value: float) -> str:
    return f"{value:,.2f}"


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _headline(result: GatewayResult) -> list[str]:
    stream, hot, commands, stall = result.stream, result.hot_add, result.commands, result.stall
    add = hot.latency_ms("module")
    return [
        f"**Event stream: gateway {_rate(stream.rate('gateway'))} events/s, raw pyzmq "
        f"{_rate(stream.rate('raw'))} events/s: gateway / raw = {stream.ratio:.2f}** (median "
        f"over {len(stream.rounds)} rounds of each round's ratio; bodies of "
        f"{stream.body_size('gateway'):.0f} bytes); target >= {STREAM_TARGET_RATIO:.2f}: "
        f"**{_verdict(stream.passed)}**. For information, raw pyzmq sending the same messages "
        f"through the gateway's own encoder: {_rate(stream.rate('encoded'))} events/s "
        f"(gateway / that = {stream.ratio_to('encoded'):.2f}).",
        "",
        f"**Hot-add: reply -> first bar p50 = {_ms(add.p50)} ms** (p90 {_ms(add.p90)} ms, max "
        f"{_ms(add.max)} ms, {add.n} adds of an importable class) with a bar every "
        f"{BAR_PERIOD_MS:g} ms; target p50 <= {HOT_ADD_TARGET_MS:g} ms: "
        f"**{_verdict(hot.passed)}**.",
        "",
        f"Command round trip p50 (no verdict): `status` "
        f"{_us(commands.latency_us('status').p50)} us, `engines` "
        f"{_us(commands.latency_us('engines').p50)} us; raw DEALER/ROUTER echo "
        f"{_us(commands.latency_us('raw').p50)} us.",
        "",
        f"A stalled subscriber (no verdict): the runtime ran at {stall.ratio('stalled'):.2f}x its "
        f"bars/s without subscriber while one never read (and lost "
        f"{_rate(median([r.missed for r in stall.runs('stalled')]))} of "
        f"{_rate(median([r.published for r in stall.runs('stalled')]))} events), "
        f"{stall.ratio('reading'):.2f}x while one read everything (medians of per-round "
        "ratios).",
        "",
    ]


def _stream(result: StreamResult) -> list[str]:
    lines = [
        "### Event stream: events/s to a subscriber",
        "",
        f"{result.count:,} events per run, a run of each side in every round; events/s is",
        "the count over the time from just before the first hand-over to the last receive.",
        "*gateway / raw* is the verdict's ratio; *raw, encoder* (for information) is raw",
        "pyzmq sending the gateway's own bodies (`encode_event` of the same messages):",
        "",
        "| round | order | gateway | raw | raw, encoder | gateway / raw "
        "| gateway / raw, encoder | body bytes: gateway, raw, raw encoder |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in result.rounds:
        sizes = ", ".join(f"{r.runs[k].body_size:.1f}" for k, _ in SIDES)
        lines.append(
            f"| {r.index} | {', '.join(r.order)} | {_rate(r.gateway.rate)} | {_rate(r.raw.rate)} "
            f"| {_rate(r.runs['encoded'].rate)} | {r.ratio():.2f} | {r.ratio('encoded'):.2f} "
            f"| {sizes} |"
        )
    sizes = ", ".join(f"{result.body_size(k):.1f}" for k, _ in SIDES)
    lines.append(
        f"| median | | {_rate(result.rate('gateway'))} | {_rate(result.rate('raw'))} "
        f"| {_rate(result.rate('encoded'))} | {result.ratio:.2f} "
        f"| {result.ratio_to('encoded'):.2f} | {sizes} |"
    )
    gateway, raw, encoded = result.cpu_us("gateway"), result.cpu_us("raw"), result.cpu_us("encoded")
    lines += [
        "",
        "Where the time goes: CPU time of each thread at work, per event (medians over",
        "rounds, microseconds). Python threads take turns at one GIL, and every `send`",
        "and `recv` lets go of it and takes it back, so the rate follows the total more",
        "than any one thread:",
        "",
        "| thread | gateway | raw | raw, encoder |",
        "|---|---:|---:|---:|",
        f"| hands the events over (`Gateway.publish`), or encodes and sends them "
        f"| {_us(gateway['publisher'])} | {_us(raw['sender'])} | {_us(encoded['sender'])} |",
        f"| the gateway's socket thread: numbers, encodes and sends "
        f"| {_us(gateway['socket thread'])} | - | - |",
        f"| receiver (`recv_multipart`, counts) | {_us(gateway['receiver'])} "
        f"| {_us(raw['receiver'])} | {_us(encoded['receiver'])} |",
        f"| total | {_us(gateway['total'])} | {_us(raw['total'])} | {_us(encoded['total'])} |",
        "",
        f"A `publish` call costs the publishing thread {result.handover_ns('gateway'):,.0f} ns "
        "(median).",
        "Per event, the socket thread numbers the event (`seq`, and `tseq` in a dict per",
        "topic), encodes it with `gateway_protocol.encode_event` (orjson of the frozen",
        "dataclass, then the type tag and the numbers spliced in front: two more copies",
        "of the body) and sends two frames; the raw sender runs `orjson.dumps` on a",
        "plain dict and sends the same two frames. The *raw, encoder* side shows how",
        "much of the gap is the encoding: it is the raw transfer with the gateway's",
        "encoder, without the gateway's queue, wake-up and socket thread.",
        "",
        "How measured. *gateway*: a started `runtime.gateway.Gateway` (loopback, ephemeral",
        "ports, `send_hwm` and `queue_limit` above the count, `heartbeat_s = 0.05`) and a",
        "SUB socket (subscribed to everything, RCVHWM unlimited) in a receiver thread;",
        "once a heartbeat has reached it (the subscription is live) the benchmark thread",
        "calls `Gateway.publish` for every event, back to back, as the event sink does.",
        "*raw*: an XPUB socket in the benchmark thread and the same receiver; once the",
        "XPUB has the receiver's subscription, the benchmark thread sends",
        "`[topic, orjson.dumps(payload)]` for every event (XPUB rather than PUB only so",
        "that the sender can wait for the subscription instead of sleeping: sending is",
        "the same). *raw, encoder*: the same, sending",
        "`[topic, encode_event(n, n, message)]` for the gateway's messages. The events",
        "cycle through one order's life, its ACCEPTED `OrderUpdate`, its `Fill` and its",
        f"FILLED `OrderUpdate`, over {POOL_ORDERS:,} orders built up front; each raw payload",
        "is the dict of the JSON object the gateway sends for the same event (with `seq`",
        "and `tseq` fixed at a value typical of the run), so the bodies are the same size",
        "(every receiver adds up the bytes it got: the last column). Nothing may be lost:",
        "the receiver counts every event (heartbeats apart); a round in which one is",
        f"missing after {QUIET_S:g} s of silence fails, and so does one in which the gateway",
        "counted a drop. The gateway is started afresh for every run; rounds rotate",
        "which side goes first. CPU times come from each thread's own CPU clock",
        "(`time.thread_time`, and `time.pthread_getcpuclockid` for the gateway's socket",
        f"thread). This part took {result.seconds:.0f} s.",
        "",
    ]
    return lines


def _trip_row(label: str, p: Percentiles, raw: Percentiles, size: int) -> str:
    return (
        f"| {label} | {p.n:,} | {_us(p.p50)} | {_us(p.p90)} | {_us(p.p99)} | {_us(p.max)} "
        f"| {p.p50 / raw.p50:.2f}x | {size:,} |"
    )


def _commands(result: CommandsResult) -> list[str]:
    raw = result.latency_us("raw")
    lines = [
        "### Command round trip",
        "",
        "From just before the client sends the request until it has the reply",
        "(microseconds):",
        "",
        "| round trip | n | p50 | p90 | p99 | max | p50 / raw p50 | reply bytes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        _trip_row(label, result.latency_us(key), raw, result.reply_bytes[key])
        for key, label in ROUND_TRIPS
    ]
    lines += [
        "",
        "`status` asks the feed, the order manager and the supervisor (twice) and adds",
        "the gateway's counters; `engines` asks the supervisor once. The bare gateway is",
        "the same `Gateway` with no runtime behind it: its handler returns a small",
        "constant at once, so its row is the gateway's own share (socket thread, command",
        "thread and back) and the difference to the service's rows is the runtime's.",
        "",
        "How measured. One `runtime.service.Service` (one `CountBars` strategy, paper",
        "engine, no market data: the runtime is idle), a bare `Gateway`, and a ROUTER",
        "echo thread, all in the benchmark's process on loopback with ephemeral ports;",
        "`runtime.client.Client` (one per gateway) sends the commands, a plain DEALER",
        "sends the echo's frame (the 39-byte `status` request) with blocking `send` and",
        f"`recv`. After {result.warmup:,} untimed round trips of each kind, the kinds take",
        f"turns in blocks of {result.block:,}, rotating which goes first. This part took",
        f"{result.seconds:.1f} s.",
        "",
    ]
    return lines


def _add_rows(result: HotAddResult, source: str) -> list[str]:
    rows = (
        ("reply received -> first bar (verdict)", result.latency_ms(source)),
        ("request sent -> reply received", result.reply_ms(source)),
        ("request sent -> `on_start`", result.start_ms(source)),
        ("request sent -> first bar", result.total_ms(source)),
        ("`remove_strategy` round trip", result.remove_ms(source)),
    )
    label = "importable class" if source == "module" else "strategy file"
    return [
        f"| {label} | {what} | {p.n} | {_ms(p.p50)} | {_ms(p.p90)} | {_ms(p.max)} |"
        for what, p in rows
    ]


def _hot_add(result: HotAddResult) -> list[str]:
    early = sum(1 for s in result.of("module") if s.latency_ms < 0)
    return [
        "### Hot-add to first bar",
        "",
        f"The feed publishes a bar every {BAR_PERIOD_MS:g} ms (synthetic data, "
        f"`interval_s = {INTERVAL_S}`,",
        f"`speed = {SPEED:g}`; it published {_rate(result.bars_per_s)} bars/s while the "
        "adds ran), so a new",
        "strategy waits up to one bar period for its first bar once subscribed.",
        "Milliseconds:",
        "",
        "| added from | span | n | p50 | p90 | max |",
        "|---|---|---:|---:|---:|---:|",
        *_add_rows(result, "module"),
        *_add_rows(result, "file"),
        "",
        "A negative *reply -> first bar* means the strategy had its first bar before the",
        "client had the reply: the runtime subscribes the strategy to the feed before it",
        "answers, and the reply still has to cross the command thread, the socket",
        f"thread and the wire ({early} of {len(result.of('module'))} module adds here).",
        "*Request sent -> first bar* is what an operator waits in all.",
        "",
        "How measured. One `Service` whose synthetic feed runs for ever (one symbol, one",
        "`CountBars` strategy always running), `strategy_modules` allowing",
        "`bench._gateway_probe` and `strategy_dirs` a temporary directory holding",
        "`probe.py`. Each sample sends `add_strategy` over `runtime.client.Client` for a",
        "new id, alternately `bench._gateway_probe:FirstBarProbe` (an importable class,",
        "the verdict) and `probe.py:FileProbe` (the same strategy in a file, which the",
        "runtime executes afresh on every add); the strategy stamps",
        "`time.perf_counter_ns()` first thing in `on_start` and in its first `on_bar` (it",
        "runs in the benchmark's process), then the benchmark removes it",
        f"(`remove_strategy`, policy `cancel`). {result.warmup} untimed adds come first.",
        f"This part took {result.seconds:.1f} s.",
        "",
    ]


def _stall(result: StallResult) -> list[str]:
    labels = dict(STALL_CASES)
    lines = [
        "### A stalled subscriber does not slow the runtime",
        "",
        f"Bars/s through a trading runtime, {result.bars:,} bars per run (medians over "
        f"{len(result.rounds)} rounds):",
        "",
        "| case | bars/s | bars/s / no subscriber | events published per run | received by "
        "the subscriber | lost by the subscriber |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in STALL_CASES:
        runs = result.runs(key)
        published = median([r.published for r in runs])
        has_reader = runs[0].reader is not None
        lines.append(
            f"| {label} | {_rate(result.rate(key))} | {result.ratio(key):.2f}x "
            f"| {_rate(published) if published else '-'} "
            f"| {_rate(median([r.received for r in runs])) if has_reader else '-'} "
            f"| {_rate(median([r.missed for r in runs])) if has_reader else '-'} |"
        )
    reading = median([r.delivered_per_s for r in result.runs("reading")])
    if not any(r.missed for r in result.runs("stalled")):
        lines += [
            "",
            "**In this run the subscriber that never reads lost nothing: the runs were too",
            "short to fill its buffers, so its row is not a stalled subscriber's.**",
        ]
    lines += [
        "",
        "Per round (bars/s, in the order the cases ran):",
        "",
        "| round | order | " + " | ".join(labels[k] for k, _ in STALL_CASES) + " |",
        "|---:|---|" + "---:|" * len(STALL_CASES),
    ]
    for r in result.rounds:
        cells = " | ".join(_rate(r.runs[k].rate) for k, _ in STALL_CASES)
        lines.append(f"| {r.index} | {', '.join(r.order)} | {cells} |")
    lines += [
        "",
        "The whole runtime path, for information: the reading subscriber received",
        f"{_rate(reading)} events/s (median; {result.events_per_bar:.1f} events per bar: "
        "the order, its ACCEPTED",
        "and FILLED updates, the fill, the position), from the first bar pulled by the",
        "feed to the last event it received, every event published on the way by the",
        "actors through the event sink to the gateway.",
        "",
        "How measured. Every run is a fresh `Service`: one `bench.strategies:BuyEveryBar`",
        "(a market buy on every bar, so every bar also fills the previous order), paper",
        f"engine, gateway on loopback with `send_hwm` at its default ({result.send_hwm:,}),",
        "replaying bars built in memory at full speed (`speed = 0`, default",
        "`max_in_flight`). The subscriber is a separate process",
        "(`bench._gateway_reader`, a `runtime.client.Subscription` to every topic), as a",
        "real client would be, so it takes no turn at the runtime's GIL (it does use the",
        f"machine's other core); the one that never reads has RCVHWM {STALL_RCVHWM}, so it",
        "takes what its socket and the kernel buffer, then the gateway drops what it",
        "would send it (its losses, in the table, come from the sequence gaps it sees",
        "when it finally reads). The feed's source waits until the gateway counts the",
        "subscription, then the run is timed from the moment the feed pulls the first",
        "bar until it has published them all and `Runtime.settle()` returned. The",
        "reading subscriber must have every event numbered after it subscribed",
        "(checked); the gateway must drop nothing (checked). Rounds rotate which case",
        f"goes first. This part took {result.seconds:.0f} s.",
        "",
    ]
    return lines


def gateway_section(result: GatewayResult) -> list[str]:
    """The lines of the gateway section."""
    return [
        "## ZeroMQ gateway",
        "",
        "The runtime's event stream and command channel (`runtime.gateway`), measured",
        "against raw pyzmq doing the same transfer, in the same run.",
        "",
        *_headline(result),
        *_stream(result.stream),
        *_commands(result.commands),
        *_hot_add(result.hot_add),
        *_stall(result.stall),
        f"The gateway benchmark took {result.seconds:.0f} s.",
        "",
    ]
