"""The ``BENCHMARKS.md`` section of the order-flow benchmark (:mod:`bench.orderflow`)."""

from __future__ import annotations

from bench._order_cost import PIECES
from bench.orderflow import BASE, PAIRS, REAL, STRATEGY_COUNTS, OrderflowResult

__all__ = ["orderflow_section"]


def _us(value: float) -> str:
    return f"{value:,.1f}"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _headline(result: OrderflowResult) -> list[str]:
    real, relay = result.latency_us("real-off"), result.latency_us(BASE)
    one, many = STRATEGY_COUNTS[0], STRATEGY_COUNTS[-1]
    return [
        f"**Through the two actors (limits off): p50 {_us(real[0])} us, p99 {_us(real[1])} us**",
        "from the intent told to risk to the order at the engine, "
        f"**{result.latency_ratio('real-off'):.2f}x** a bare two-hop actor relay's p50",
        f"({_us(relay[0])} us); **{_rate(result.rate('real-off', one))} orders/s** (one "
        f"strategy), a burst taking {result.burst_ratio('real-off', one):.2f}x the relay's time.",
        "Their own work, no actors: **p50 "
        f"{_us(result.cost_us('total', 'off')[0])} us per order** with limits off, "
        f"{_us(result.cost_us('total', 'on')[0])} us with every limit on.",
        "",
        "The issue sets no target for this benchmark: the figures are reported, not judged",
        f"({many} strategies and every limit on are in the tables).",
        "",
    ]


def _work(result: OrderflowResult) -> list[str]:
    rounds = len(result.rounds)
    lines = [
        "### Their work per order (no actors)",
        "",
        f"One thread, {result.orders:,} orders per round and setting, each timed alone; "
        f"medians over {rounds} rounds of each round's p50 and p99 (microseconds):",
        "",
        "| calls per order | limits off p50 | p99 | every limit on p50 | p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in PIECES:
        off, on = result.cost_us(key, "off"), result.cost_us(key, "on")
        lines.append(f"| {label} | {_us(off[0])} | {_us(off[1])} | {_us(on[0])} | {_us(on[1])} |")
    lines += [
        "",
        "Each order is accepted and fully filled: risk judges the intent with the",
        "strategy's `StrategyExposure` (`runtime.risk_rules.check_intent`), builds the",
        "`Order` (`actors.risk.order_from_intent`) and counts it (`order_sent`); the",
        "order manager's `OrderBook` records it routed, then the engine's ACCEPTED",
        "update, the fill and the FILLED update; risk books the fill and the end of the",
        "order. The intents and the engine's answers are built outside the timed",
        "calls. Intents rotate over four symbols (25 to 250), alternate buys and sells",
        "of 10 (positions go up and back to flat) and every other pair is a LIMIT order",
        "0.1% through the market. *Every limit on* is `max_order_quantity`,",
        "`max_order_notional`, `max_position`, `max_gross_exposure`, `max_net_exposure`,",
        "`max_open_orders`, `max_orders_per_s` (1,000,000: it refuses nothing),",
        "`price_collar_pct` and `trading_hours` (08:00-20:00 UTC, weekdays; the market",
        "times fall inside); none of them refuses an order of the benchmark (it checks),",
        "and a rule costs the same whatever its cap. With limits off, `check_intent`",
        "still runs the trading-state, validity and duplicate checks. The garbage",
        "collector is on, as in the actors (its pauses are in the p99). Each piece also",
        f"carries one `perf_counter_ns` call, {result.timer_ns:.0f} ns here.",
        "",
    ]
    return lines


def _actors(result: OrderflowResult) -> list[str]:
    one, many = STRATEGY_COUNTS[0], STRATEGY_COUNTS[-1]
    labels = dict(PAIRS)
    lines = [
        "### Through the actors",
        "",
        f"Latency: one intent at a time on an idle pair, {result.samples:,} timed per pair "
        f"per round; throughput: bursts of {result.burst:,} intents told back to back, dealt "
        f"to {one} or {many} strategies, timed until the last order reached the engine. "
        f"Medians over {len(result.rounds)} rounds (microseconds, orders per second; the",
        "ratios are medians of each round's ratio to the bare actor relay):",
        "",
        f"| pair | p50 | p99 | p50 / relay p50 | orders/s, {one} strategy "
        f"| orders/s, {many} strategies | burst time / relay's ({one}; {many}) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in PAIRS:
        p50, p99 = result.latency_us(key)
        lines.append(
            f"| {label} | {_us(p50)} | {_us(p99)} | {result.latency_ratio(key):.2f}x "
            f"| {_rate(result.rate(key, one))} | {_rate(result.rate(key, many))} "
            f"| {result.burst_ratio(key, one):.2f}x; {result.burst_ratio(key, many):.2f}x |"
        )
    lines += [
        "",
        "Per round (limits off against the relay; p50 in microseconds, orders/s with",
        f"{one} strategy):",
        "",
        "| round | real p50 | relay p50 | ratio | real orders/s | relay orders/s "
        "| burst time ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result.rounds:
        real, relay = r.bursts["real-off", one], r.bursts[BASE, one]
        lines.append(
            f"| {r.index} | {_us(r.latency_us('real-off').p50)} | {_us(r.latency_us(BASE).p50)} "
            f"| {r.latency_ratio('real-off'):.2f}x | {_rate(real.rate)} | {_rate(relay.rate)} "
            f"| {r.burst_ratio('real-off', one):.2f}x |"
        )
    lines += [
        "",
        "Where the latency goes in the real pairs: medians of each segment, all rounds",
        "pooled (microseconds; stamps: `time_ns` before the tell, the `Order`'s",
        "`ts_init` taken by risk, the ROUTED entry of the order manager's book, the",
        "engine stand-in's `time_ns` on arrival):",
        "",
        "| pair | tell -> risk built the order | -> order manager routed it "
        "| -> engine stand-in has it |",
        "|---|---:|---:|---:|",
    ]
    for key in REAL:
        cells = " | ".join(_us(v) for v in result.segments_us(key))
        lines.append(f"| {labels[key]} | {cells} |")
    lines += [""]
    return lines


def _where(result: OrderflowResult) -> list[str]:
    one = STRATEGY_COUNTS[0]
    way_off = result.cost_us("way", "off")[0]
    way_on = result.cost_us("way", "on")[0]
    work = result.cost_us("total", "off")[0]
    real, relay = result.latency_us("real-off")[0], result.latency_us(BASE)[0]
    threads = result.latency_us("threads")[0]
    per_real = 1e6 / result.rate("real-off", one)
    per_relay = 1e6 / result.rate(BASE, one)
    per_threads = 1e6 / result.rate("threads", one)
    side = result.side_tells("real-off")
    return [
        "**Where the time goes.** On an idle pair most of the latency is waking threads:",
        f"two bare hops already take {_us(relay)} us at p50 through actors and {_us(threads)} us",
        "through plain threads, for three thread wake-ups (hop 1, hop 2, the engine) on a",
        "2-CPU machine where a woken thread must also take the GIL. The real pair's p50 is",
        f"{_us(real - relay)} us above the relay's; the calls it makes on the order's way",
        f"(risk's pre-trade calls and the route) take {_us(way_off)} us by themselves with",
        f"limits off ({_us(way_on)} us with every limit on), and the rest of its work (the",
        "engine's answers) comes after the order has left. A burst measures the whole",
        "cost per order instead, since all the threads share the one GIL:",
        f"{_us(per_real)} us per order through the real pair against {_us(per_relay)} us",
        f"through the relay and {_us(per_threads)} us through plain threads. The calls",
        f"themselves ({_us(work)} us per order with limits off, table above) are",
        f"{work / per_real:.0%} of the real pair's figure; the rest is message traffic. Per",
        "order the relay's threads handle five messages (the intent at each hop, the",
        "engine's three answers at the second) and make two tells; the real pair handles",
        "three at risk (the intent, then the fill and the FILLED update the order manager",
        "forwards) and four at the order manager (the order, the three answers), which",
        f"also tells {side:.0f} more to the strategies, the portfolio and the event sink",
        "(here one actor that counts them: their receivers' work is not in the figure,",
        "their mailbox puts and wake-ups are). Each message costs an envelope, a queue",
        "put and get, a dispatch and often a wake-up on top of the handler's work.",
        "",
    ]


def _how(result: OrderflowResult) -> list[str]:
    return [
        "How measured. The real pairs are `RiskActor` (`risk`) and `OrderManager`",
        "(`orders`, routing to `engine.bench`) started with their own constructors in a",
        "`runtime.directory.Directory` as `runtime.boot` starts them (no supervisor),",
        "with `[risk]` limits off or every limit on (the same limits as above). The",
        "engine stand-in is an actor under `engine.bench` that stamps each order's",
        "arrival and answers it at once, to `orders`, with an ACCEPTED update, a fill",
        "of the whole quantity and a FILLED update, so orders end and the book and",
        "risk's exposure do not only grow. The bare relay is two actors of the same",
        "base class (`runtime.actor.LeanActor`: same inbox, same directory tells) under",
        "`risk` and `orders` that pass the intent on and drop the engine's answers; the",
        "plain-threads pair does the same with `queue.SimpleQueue` and a thread for the",
        "engine stand-in. Every pair is told the same intents by the benchmark thread",
        "through the directory (`Directory.tell`, as a strategy host tells risk) or the",
        "first queue. After each latency sample the pair is brought to rest (`Flush` of",
        "the order manager, risk and the counting actor; of the relay's second hop; a",
        "barrier through the second thread). Each round starts every pair afresh, warms",
        f"each up with {result.warmup:,} untimed intents, takes the latency samples in",
        f"blocks of {result.block:,}, rotating which pair goes first, then the bursts,",
        "rotating too; at the end it checks that every intent reached the engine, that",
        "risk refused none, that the order manager routed every one without anomaly and",
        "that no order is left open. Rounds alternate which limits setting runs first in",
        f"the pure part. The order-flow benchmark took {result.seconds:.0f} s.",
        "",
    ]


def orderflow_section(result: OrderflowResult) -> list[str]:
    """The lines of the section."""
    return [
        "## Risk and order manager overhead per order",
        "",
        "What the two actors every order passes before an engine, risk and the order",
        "manager, cost per order: their work alone, and the latency and throughput",
        "through them next to the same two hops doing no work, measured side by side",
        "in the same run.",
        "",
        *_headline(result),
        *_work(result),
        *_actors(result),
        *_where(result),
        *_how(result),
    ]
