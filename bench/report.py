"""Render the benchmark results as ``BENCHMARKS.md``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bench._backtest_report import backtest_section
from bench._gateway_report import gateway_section
from bench._journal_report import journal_section
from bench._report_orderflow import orderflow_section
from bench._stats import Machine, Percentiles
from bench._supervision import (
    FAILOVER_TARGET_MS,
    RESTART_TARGET_MS,
    FailoverResult,
    RestartResult,
)
from bench.backtest import BacktestBenchResult
from bench.fanout import FanoutCase, FanoutResult
from bench.gateway import GatewayResult
from bench.journal import JournalResult
from bench.latency import (
    EVERY_BAR,
    PIPELINES,
    SIGNAL,
    TARGET_RATIO,
    LatencyResult,
    ScenarioResult,
)
from bench.orderflow import OrderflowResult

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
    restart: RestartResult | None = None
    """Strategy restart latency, unless skipped."""
    failover: FailoverResult | None = None
    """Engine failover latency, unless skipped."""
    orderflow: OrderflowResult | None = None
    """Risk and order manager overhead per order, unless skipped."""
    gateway: GatewayResult | None = None
    """The ZeroMQ gateway's figures, unless skipped."""
    journal: JournalResult | None = None
    """The journal's durable events/s and added latency per order, unless skipped."""
    backtest: BacktestBenchResult | None = None
    """Backtest bars/s against backtrader and sweep throughput, unless skipped."""


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
        "builds the order | order -> order manager routes it | routed -> engine accepts it |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, _ in PIPELINES:
        cells = " | ".join(_us(v) for v in result.segments_us(key))
        lines.append(f"| {result.labels[key]} | {cells} |")
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
        "order manager, engine), which is what the target is about. The *every-bar*",
        "scenario is a stress case: every bar places an order and also fills the",
        "previous one, so on the same bar tradepit's order manager checks that fill and",
        "its updates against the order book and routes them to the strategy, risk, the",
        "portfolio (which books it and publishes a position) and the event sink, while",
        "the floor matches the fill and drops it. Its ratio is reported, not judged.",
        "",
    ]
    for scenario in result.scenarios:
        lines += _scenario(scenario)
    lines += [
        "### How measured",
        "",
        "Every pipeline has the same five hops (feed, strategy, risk, order manager,",
        "engine), runs the scenario's strategy on a paper engine without costs and",
        "without risk limits, and is timed with `time.time_ns` from just before the bar",
        "is handed to hop 1 to the `ts_init` of the engine's ACCEPTED `OrderUpdate` (the",
        "runtime is started with `clock=time.time_ns`, so the matching engine stamps",
        "with the same clock). The segments come from the intent's and the order's own",
        "`ts_init` and from the ROUTED entry of the order's history in the order",
        "manager's `OrderBook` (stamped just before it tells the engine; read from the",
        "book when the pipeline stops). The injector",
        "waits for each acceptance before it sends the next bar. In every pipeline the",
        "feed hop hands each bar to the engine hop first and to the strategy hop",
        "second, and the engine matches every bar, so working orders fill as in the",
        "paper engine.",
        "",
        "- *tradepit* is the whole `Runtime` (supervisor, feed, strategy host, risk,",
        "  order manager, paper engine, portfolio, event sink) started with an empty",
        "  source and fed with `Runtime.inject`; a listener on the event sink wakes the",
        "  injector. It is brought to rest by a `Flush` of the feed, `Runtime.settle()`",
        "  (strategies, risk, order manager, engines, then the way back: order manager,",
        "  strategies, portfolio, risk, order manager, event sink) and a second `Flush`",
        "  of the strategies.",
        "- *floor* is five plain threads joined by `queue.SimpleQueue` doing each hop's",
        "  work with the same message classes: the feed hop puts the bar on the engine",
        "  hop's queue, then on the strategy hop's; the strategy hop runs the same",
        "  strategy class through a context that keeps the last close per symbol and",
        "  builds the `OrderIntent` (with its `market_price`) as the strategy host does;",
        "  the risk hop runs `runtime.risk_rules.check_intent` with the strategy's",
        "  `StrategyExposure`, `order_from_intent` and `StrategyExposure.order_sent`, the",
        "  calls the risk actor makes; the orders hop runs `OrderBook.route` (RECEIVED,",
        "  VALIDATED, ROUTED), as the order manager does before it tells the engine; the",
        "  engine hop runs `MatchingEngine.on_bar` for bars and `MatchingEngine.submit`",
        "  for orders. The floor has no portfolio or event sink and routes nothing back:",
        "  the fills and updates are counted and dropped (so its order book and risk",
        "  exposure never see them), the strategy's position stays flat and its open",
        "  orders are every order it submitted. It is brought to rest by a barrier",
        "  pushed through hops 1 -> 2 -> 3 -> 4 -> 5; the engine hop sets an event when",
        "  it arrives.",
        "- *actors only* is the five tradepit actor classes (`FeedActor`,",
        "  `StrategyHost`, `RiskActor`, `OrderManager`, `EngineHost` with a paper",
        "  adapter) wired by hand with nothing else (no supervisor, portfolio or event",
        "  sink; the engine is subscribed to bars at stage 0 like the runtime's): what",
        "  pykka and the actors cost by themselves. It is brought to rest by a `Flush`",
        "  of the feed, strategy, risk, order manager and engine in that order, then of",
        "  the order manager, strategy and risk again (the way back of updates and",
        "  fills).",
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
        "`Runtime` (feed, N strategy hosts, risk, order manager, paper engine, portfolio,",
        "event sink; the engine and the portfolio get every bar too, risk and the order",
        "manager none: intents carry their price) whose source is a list of bars built",
        "in memory beforehand, replayed with `speed = 0` and the default `max_in_flight`",
        "(256), or with",
        "`lockstep = true`. The replay time runs from the moment the feed pulls the",
        "first bar until `Runtime.finished` is set and",
        "`Runtime.settle()` returned; `Runtime.start()` (one thread per actor) is timed",
        "apart and shown, and the last column counts it in. After each run every",
        "strategy's bar counter is checked against the bars published. Runs rotate",
        f"through the cases. The fan-out benchmark took {result.seconds:.0f} s.",
        "",
    ]
    return lines


def _ms(value: float) -> str:
    return f"{value:,.3f}"


def _ms_row(label: str, p: Percentiles) -> str:
    return f"| {label} | {p.n:,} | {_ms(p.p50)} | {_ms(p.p90)} | {_ms(p.p99)} | {_ms(p.max)} |"


def _restart(result: RestartResult) -> list[str]:
    p = result.latency_ms()
    raised, started, restarted, handled = result.segments_ms()
    return [
        "## Strategy restart latency",
        "",
        f"**restart: p50 = {_ms(p.p50)} ms** ({p.n:,} restarts); target p50 <= "
        f"{RESTART_TARGET_MS:g} ms: **{_verdict(result.passed)}**.",
        "",
        "From the moment a strategy's handler raises until its replacement's handler is",
        "called with the strategy's next message: a bar sent right behind the one that",
        "failed, which waits for the replacement (held by the strategy's address, or",
        "left in the failed actor's inbox and taken by the supervisor). No backoff is",
        "configured (`backoff_min_s = 0`, `jitter = 0`), so the supervisor restarts at",
        "once and the figure is the restart machinery alone. For context, the same",
        "strategy's ordinary per-bar latency, measured in the same run, one ordinary",
        "bar before each restart (milliseconds):",
        "",
        "| | n | p50 | p90 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|",
        _ms_row("restart: handler raised -> replacement's handler has the next bar", p),
        _ms_row("ordinary bar: `Runtime.inject` -> the strategy's handler has it", result.normal()),
        "",
        "Where the time goes: medians of each segment (milliseconds; the segments'",
        "medians need not add up to the median of the total):",
        "",
        "| handler raised -> failure report starts | -> replacement's `on_start` "
        "| -> `ActorRestarted` | -> replacement's handler has the bar |",
        "|---:|---:|---:|---:|",
        f"| {_ms(raised)} | {_ms(started)} | {_ms(restarted)} | {_ms(handled)} |",
        "",
        "1. In the failing actor's thread: pykka's failure handling (it logs the",
        "   exception to the standard `logging` module and stops the actor), up to",
        "   `LeanActor._report_failure`, which stamps `ActorFailed.ts_event`.",
        "2. The failing actor logs the failure at ERROR with its traceback, then tells",
        "   the supervisor; the supervisor wakes, holds the strategy's address, joins",
        "   the failed thread, takes its unhandled messages and its books (handover),",
        "   logs and publishes `ActorFailed`, decides to restart (no backoff), builds",
        "   the new `StrategyHost` and starts its thread, which builds the strategy",
        "   and calls its `on_start`.",
        "3. The replacement publishes `StrategyStarted` and answers the supervisor's",
        "   `Handshake`; the supervisor attaches it (schedules its health probe) and",
        "   resumes its address, delivering the held messages; `ActorRestarted` is",
        "   stamped after that.",
        "4. The replacement's thread wakes and calls the handler with the bar. This",
        "   segment can be short or negative: the replacement may get the bar before",
        "   the supervisor has stamped `ActorRestarted`.",
        "",
        "How measured. One `Runtime` (supervisor, feed, strategy host, risk, order",
        "manager, paper engine, portfolio, event sink) started with an empty source and",
        "fed with `Runtime.inject`; its one strategy is `bench._supervision:CrashOnMarker`,",
        "with",
        "`[strategies.supervision] max_restarts = 1000000, period_s = 3600,",
        "backoff_min_s = 0, jitter = 0`. It raises on every bar of volume 2 and stamps",
        "`time.perf_counter_ns()` (and `time.time_ns()`, the clock of the runtime's",
        "events, for the segments) first thing in `on_start` and `on_bar`, into a",
        "thread-safe queue the benchmark reads. Each sample is an ordinary bar (timed",
        "from just before `Runtime.inject` to the strategy's stamp), `Runtime.settle()`,",
        "then a bar of volume 2 and an ordinary bar injected back to back (the restart,",
        "timed from the raise to the replacement's stamp on the second bar), and",
        "`Runtime.settle()` again; an event-sink listener collects the `ActorFailed`",
        "and `ActorRestarted` of each restart. The failed strategies log at ERROR with",
        "a traceback, as configured, into `os.devnull` (formatted as on stderr) so the",
        f"benchmark's progress stays readable. {result.warmup:,} untimed samples come",
        "first; afterwards the supervisor's restart count is checked against the",
        f"samples and every backoff against 0. The restart benchmark took {result.seconds:.0f} s.",
        "",
    ]


def _failover(result: FailoverResult) -> list[str]:
    p, seen = result.latency_ms(), result.seen_ms()
    switch, react, order = result.segments_ms()
    return [
        "## Engine failover latency",
        "",
        f"**failover: p50 = {_ms(p.p50)} ms** ({p.n:,} failovers); target p50 <= "
        f"{FAILOVER_TARGET_MS:g} ms: **{_verdict(result.passed)}**.",
        "",
        f"From the fault that reaches `failover_threshold` ({result.threshold}) at the",
        "primary engine until the backup engine accepts the next order (milliseconds):",
        "",
        "| | n | p50 | p90 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|",
        _ms_row("the runtime's own stamps: fault -> backup's ACCEPTED (verdict)", p),
        _ms_row("as an event-sink listener saw them", seen),
        "",
        "Where the time goes: medians of each segment (milliseconds):",
        "",
        "| fault -> `EngineFailedOver` | -> next bar injected | -> backup's ACCEPTED |",
        "|---:|---:|---:|",
        f"| {_ms(switch)} | {_ms(react)} | {_ms(order)} |",
        "",
        "1. The primary's engine actor turns the adapter's exception into a REJECTED",
        "   `ENGINE_ERROR` update and tells the supervisor an `EngineFault`; the",
        "   supervisor publishes it, counts it, reaches the threshold, tells the order",
        "   manager to route new orders to the backup (`RouteOrders`), asks the primary",
        "   to reconcile, and stamps `EngineFailedOver`.",
        "2. The event sink hands `EngineFailedOver` to the benchmark's listener, which",
        "   wakes the benchmark thread, which injects the next bar. This is the",
        "   benchmark's own reaction time, not the runtime's: an order arriving",
        "   at that moment would not wait for it, so the total is an upper bound.",
        "3. The ordinary order path, feed -> strategy -> risk -> order manager (already",
        "   routing to the backup: the switch reached its mailbox before the bar was",
        "   injected) -> backup engine, up to its matching engine's ACCEPTED.",
        "",
        "What is timed. t0 is the `ts_event` of the `EngineFault` that reaches the",
        "threshold: `time.time_ns()` taken by the primary's engine actor, in its own",
        "thread, right after the adapter raised. t1 is the `ts_init` of the backup's",
        "ACCEPTED `OrderUpdate`, taken by its matching engine when it accepted the",
        "order (the runtime is started with `clock=time.time_ns`). Both are stamped",
        "where they happen, so the event sink's delay in publishing them is not in",
        "the verdict figure. The second row times the same span from a listener on",
        "the event sink (`time.perf_counter_ns()` when it received the fault, then",
        "the ACCEPTED update). Listeners run in the event sink's thread, and each",
        "event reaches them only once the event sink has logged everything queued",
        "before it; the fault, moreover, is published by the supervisor when it",
        "handles it, not by the engine. So the listener's t0 is late by the",
        "supervisor's wake-up and the event sink's backlog (the rejected order's",
        "update and `Order` event), usually more than its t1 is; here its p50 is",
        f"{_ms(seen.p50)} ms against {_ms(p.p50)} ms. It is shown to say why the verdict",
        "uses the stamps.",
        "",
        "How measured. Each sample is a fresh `Runtime` (median `start()` "
        f"{result.start_ms:.0f} ms, not",
        'timed in) with `[execution] engines = ["primary", "backup"]`,',
        f"`failover_threshold = {result.threshold}`, two paper engines of which the",
        "primary has `[engines.primary.faults] fail_every = 1` (every submit raises),",
        "and one `bench.strategies:BuyEveryBar` (a market buy on every bar), started",
        "with an empty source. Bars are injected one at a time with",
        f"`Runtime.settle()` after each, {result.threshold - 1} of them (each order",
        "fails at the primary: a fault, and the order REJECTED `ENGINE_ERROR`); then",
        "one more, whose failed order reaches the threshold; as soon as the listener",
        "has `EngineFailedOver` the next bar is injected, and its order must be",
        "accepted by the backup. Each sample checks that it saw exactly that: the",
        "faults, one switch, to the backup, one acceptance, by the backup, and the",
        "backup still active afterwards. A fresh runtime per sample times the first",
        "failover of a run, the case that matters, with no failback or pinned state",
        "carried over. Failure logs go to `os.devnull` as in the restart benchmark.",
        f"The failover benchmark took {result.seconds:.0f} s.",
        "",
    ]


def render(report: Report) -> str:
    """The Markdown text of ``BENCHMARKS.md``."""
    lines = _header(report)
    if report.latency is not None:
        lines += _latency(report.latency)
    if report.orderflow is not None:
        lines += orderflow_section(report.orderflow)
    if report.fanout is not None:
        lines += _fanout(report.fanout)
    if report.restart is not None:
        lines += _restart(report.restart)
    if report.failover is not None:
        lines += _failover(report.failover)
    if report.gateway is not None:
        lines += gateway_section(report.gateway)
    if report.journal is not None:
        lines += journal_section(report.journal)
    if report.backtest is not None:
        lines += backtest_section(report.backtest)
    return "\n".join(lines).rstrip() + "\n"
