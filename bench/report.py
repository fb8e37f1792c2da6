"""Render the benchmark results as ``BENCHMARKS.md``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bench._stats import Machine
from bench.fanout import FanoutCase, FanoutResult
from bench.latency import (
    EVERY_BAR,
    PIPELINES,
    SIGNAL,
    TARGET_RATIO,
    LatencyResult,
    ScenarioResult,
)

__all__ = ["Report", "render"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Everything one benchmark run measured."""

    command: str
    """The command line that produced it."""
    started: datetime
    """When the run started (UTC)."""
    seconds: float
    """Wall time of the whole run."""
    machine: Machine
    """Where it ran."""
    latency: LatencyResult | None
    """Tick-to-order latency, unless skipped."""
    fanout: FanoutResult | None
    """Fan-out throughput, unless skipped."""


def _us(value: float) -> str:
    return f"{value:,.1f}"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _header(report: Report) -> list[str]:
    m = report.machine
    load = ", ".join(f"{x:.2f}" for x in m.load_before)
    return [
        "# tradepit benchmarks",
        "",
        f"Generated {report.started:%Y-%m-%d %H:%M} UTC by `{report.command}` (run from the",
        "repository root; `make bench` runs the same module). Figures come from one run",
        "on a shared, noisy machine: compare ratios measured in the same run, not",
        "absolute figures across runs.",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPUs (`nproc`) | {m.cpus} |",
        f"| CPU model | {m.cpu_model} |",
        f"| Python | {m.python} |",
        f"| pykka | {m.pykka} |",
        f"| platform | {m.platform} |",
        f"| load average at start (1, 5, 15 min) | {load} |",
        f"| GIL switch interval | {m.switch_interval_s * 1000:g} ms |",
        f"| benchmark wall time | {report.seconds:.0f} s |",
        "",
    ]


def _verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else ("PASS" if passed else "FAIL")


def _headline(result: LatencyResult) -> list[str]:
    lines: list[str] = []
    signal = result.get(SIGNAL.key)
    every = result.get(EVERY_BAR.key)
    if signal is not None:
        lines.append(
            f"**signal: tradepit p50 / floor p50 = {signal.ratio():.2f}x** (median over "
            f"{len(signal.rounds)} rounds); target <= {TARGET_RATIO:g}x: "
            f"**{_verdict(result.passed)}**."
        )
    else:
        lines.append("The signal scenario was not run: no verdict.")
    if every is not None:
        lines.append(
            f"every-bar (stress, no verdict): tradepit p50 / floor p50 = "
            f"{every.ratio():.2f}x (median over {len(every.rounds)} rounds)."
        )
    return [*"\n\n".join(lines).split("\n"), ""]


def _scenario(result: ScenarioResult) -> list[str]:
    floor = result.latency_us("floor")
    scenario = result.scenario
    if scenario.settle_each:
        sampling = [
            f"Each sample is one signal bar (volume 1, `{scenario.class_path}` buys 1 at",
            "market on it); after it, one untimed settle bar (volume 10,000, which the",
            "strategy ignores and on which the engine fills the order at the open) is sent",
            "and the pipeline is brought to a complete rest before the next sample.",
        ]
    else:
        sampling = [
            f"Each sample is one bar; `{scenario.class_path}` buys 1 at market on every",
            "bar, so every bar also fills the previous bar's order at its open; nothing",
            "settles between samples.",
        ]
    lines = [
        f"### {scenario.title}",
        "",
        *sampling,
        "",
        f"All rounds pooled ({result.samples:,} timed samples per pipeline per round, "
        f"{len(result.rounds)} rounds; microseconds):",
        "",
        "| pipeline | p50 | p90 | p99 | max | p50 / floor p50 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, _ in PIPELINES:
        p = result.latency_us(key)
        lines.append(
            f"| {result.labels[key]} | {_us(p.p50)} | {_us(p.p90)} | {_us(p.p99)} "
            f"| {_us(p.max)} | {p.p50 / floor.p50:.2f}x |"
        )
    lines += [
        "",
        "Per round (p50 and p99, microseconds; the ratio is tradepit p50 / floor p50):",
        "",
        "| round | tradepit p50 | floor p50 | actors only p50 | tradepit p99 | floor p99 | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result.rounds:
        t, f, a = r.latency_us("tradepit"), r.latency_us("floor"), r.latency_us("actors")
        lines.append(
            f"| {r.index} | {_us(t.p50)} | {_us(f.p50)} | {_us(a.p50)} | {_us(t.p99)} "
            f"| {_us(f.p99)} | {r.ratio():.2f}x |"
        )
    lines += [
        "",
        "Where the time goes: medians of each segment, all rounds pooled (microseconds;",
        "the segments' medians need not add up to the median of the total):",
        "",
        "| pipeline | inject -> feed -> strategy builds the intent | intent -> risk "
        "builds the order | order -> engine accepts it |",
        "|---|---:|---:|---:|",
    ]
    for key, _ in PIPELINES:
        intent, risk, engine = result.segments_us(key)
        lines.append(f"| {result.labels[key]} | {_us(intent)} | {_us(risk)} | {_us(engine)} |")
    lines += ["", f"This scenario took {result.seconds:.0f} s.", ""]
    return lines


def _latency(result: LatencyResult) -> list[str]:
    first = result.scenarios[0]
    lines = [
        "## Tick-to-order latency",
        "",
        "A bar handed to the feed until the paper engine accepts the market order the",
        "strategy placed on it; one bar in flight at a time. Two scenarios, each timed",
        "on the same three pipelines side by side.",
        "",
        *_headline(result),
        "The verdict is on the *signal* scenario: a bar that causes an order on an",
        "otherwise quiet runtime isolates the per-order path (feed, strategy, risk,",
        "engine), which is what the target is about. The *every-bar* scenario is a",
        "stress case: every bar places an order and also fills the previous one, so on",
        "the same bar tradepit routes that fill and its updates to the strategy, the",
        "portfolio (which books it and publishes a position) and the event sink, while",
        "the floor matches the fill and drops it. Its ratio is reported, not judged.",
        "",
    ]
    for scenario in result.scenarios:
        lines += _scenario(scenario)
    lines += [
        "### How measured",
        "",
        "Every pipeline has the same four hops (feed, strategy, risk, engine), runs the",
        "scenario's strategy on a paper engine without costs and without risk limits,",
        "and is timed with `time.time_ns` from just before the bar is handed to hop 1 to",
        "the `ts_init` of the engine's ACCEPTED `OrderUpdate` (the runtime is started",
        "with `clock=time.time_ns`, so the matching engine stamps with the same clock;",
        "the intent's and the order's own `ts_init` give the segments). The injector",
        "waits for each acceptance before it sends the next bar. In every pipeline the",
        "feed hop hands each bar to the engine hop first and to the strategy hop",
        "second, and the engine matches every bar, so working orders fill as in the",
        "paper engine.",
        "",
        "- *tradepit* is the whole `Runtime` (supervisor, feed, strategy host, risk,",
        "  paper engine, portfolio, event sink) started with an empty source and fed",
        "  with `Runtime.inject`; a listener on the event sink wakes the injector. It",
        "  is brought to rest by a `Flush` of the feed, `Runtime.settle()` (strategies,",
        "  risk, engines, portfolio, event sink) and a second `Flush` of the strategies",
        "  (the engine routes fills back to them after their first flush).",
        "- *floor* is four plain threads joined by `queue.SimpleQueue` doing each hop's",
        "  work with the same message classes: the feed hop puts the bar on the engine",
        "  hop's queue, then on the strategy hop's; the strategy hop runs the same",
        "  strategy class through a context that keeps the last close per symbol and",
        "  builds the `OrderIntent` (with its `market_price`) as the strategy host does;",
        "  the risk hop runs `actors.risk.check_intent` and `order_from_intent`, the",
        "  same two calls the risk actor makes; the engine hop runs",
        "  `MatchingEngine.on_bar` for bars and `MatchingEngine.submit` for orders. The",
        "  floor has no portfolio or event sink and routes nothing back: the fills are",
        "  counted and dropped, the strategy's position stays flat and its open orders",
        "  are every order it submitted. It is brought to rest by a barrier pushed",
        "  through hops 1 -> 2 -> 3 -> 4; the engine hop sets an event when it arrives.",
        "- *actors only* is the four tradepit actor classes (`FeedActor`,",
        "  `StrategyHost`, `RiskActor`, `EngineHost` with a paper adapter) wired by hand",
        "  with nothing else (no supervisor, portfolio or event sink; the engine is",
        "  subscribed to bars at stage 0 like the runtime's): what pykka and the actors",
        "  cost by themselves. It is brought to rest by a `Flush` of the feed, strategy,",
        "  risk and engine in that order, then of the strategy again.",
        "",
        f"Each round starts all three pipelines for one scenario, sends {first.warmup:,}",
        f"untimed samples through each, then takes {first.samples:,} timed samples from",
        f"each in blocks of {first.block:,}, rotating which pipeline goes first and",
        "bringing each pipeline to rest after its block, so that the machine's noise",
        "falls on all of them alike and the pipelines not being timed are idle (their",
        "threads block on empty queues). Rounds alternate which scenario goes first.",
        f"The latency benchmark took {result.seconds:.0f} s.",
        "",
    ]
    return lines


def _fanout_row(case: FanoutCase) -> str:
    low, high = case.spread
    return (
        f"| {'lockstep' if case.lockstep else 'free-running'} | {case.strategies} "
        f"| {case.bars:,} | {_rate(case.delivered_per_s)} | {_rate(case.published_per_s)} "
        f"| {_rate(low)} - {_rate(high)} | {case.data_s:.2f} | {case.start_s * 1000:.0f} "
        f"| {_rate(case.delivered_per_s_with_start)} |"
    )


def _fanout(result: FanoutResult) -> list[str]:
    repeats = len(result.cases[0].runs) if result.cases else 0
    lines = [
        "## Bar fan-out throughput",
        "",
        f"One symbol's bars to N strategy actors; median of {repeats} runs. *Delivered* is",
        "bars x strategies per second, *published* is bars per second out of the feed.",
        "",
        "| mode | strategies | bars | bars/s delivered | bars/s published "
        "| delivered, range over runs | replay s | `start()` ms | delivered/s incl. `start()` |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_fanout_row(case) for case in result.cases]
    lines += [
        "",
        "How measured. Every strategy is `bench.strategies:CountBars` (counts bars,",
        "places no orders) subscribed to the same symbol. Each run starts a fresh",
        "`Runtime` (feed, N strategy hosts, risk, paper engine, portfolio, event sink;",
        "the engine and the portfolio get every bar too, risk none: intents carry their",
        "price) whose source is a list of bars built in memory beforehand, replayed",
        "with `speed = 0` and the default `max_in_flight` (256), or with",
        "`lockstep = true`. The replay time runs from the moment the feed pulls the",
        "first bar until `Runtime.finished` is set and",
        "`Runtime.settle()` returned; `Runtime.start()` (one thread per actor) is timed",
        "apart and shown, and the last column counts it in. After each run every",
        "strategy's bar counter is checked against the bars published. Runs rotate",
        f"through the cases. The fan-out benchmark took {result.seconds:.0f} s.",
        "",
    ]
    return lines


def render(report: Report) -> str:
    """The Markdown text of ``BENCHMARKS.md``."""
    lines = _header(report)
    if report.latency is not None:
        lines += _latency(report.latency)
    if report.fanout is not None:
        lines += _fanout(report.fanout)
    return "\n".join(lines).rstrip() + "\n"
