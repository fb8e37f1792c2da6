"""Run the benchmarks and write the report: ``python -m bench.run --output BENCHMARKS.md``.

Benchmarks (``--only NAME``, repeatable, runs just those): ``latency``
(tick-to-order), ``orderflow`` (risk and order manager overhead per order),
``fanout``, ``restart``, ``failover``, ``gateway`` (the ZeroMQ event stream,
command round trips, hot-added strategies, a stalled subscriber), ``journal``
(durable events/s, added latency per order), ``backtest`` (bars/s against
backtrader, sweep throughput). With
``--only`` and no ``--output`` the report goes to stdout, so that a partial
run does not overwrite ``BENCHMARKS.md``.

Progress goes to stderr. The exit status is 0 whatever the figures (a
benchmark reports; tests assert), unless ``--strict`` is given: then a missed
target exits with status 1: the signal-scenario latency ratio, the restart
p50, the failover p50, the gateway's event-stream ratio or its hot-add p50,
the backtest's bars/s ratio against backtrader
(the every-bar scenario and the order-flow benchmark have no verdict).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench._stats import machine
from bench._supervision import (
    FailoverResult,
    RestartResult,
    quiet_logs,
    run_failover,
    run_restart,
)
from bench.backtest import FULL, QUICK, BacktestBenchResult, run_backtest_bench
from bench.fanout import FanoutResult, run_fanout
from bench.gateway import GatewayResult, run_gateway
from bench.journal import JournalResult, run_journal
from bench.latency import SCENARIOS, LatencyResult, run_latency
from bench.orderflow import BASE, STRATEGY_COUNTS, OrderflowResult, run_orderflow
from bench.report import Report, render
from runtime.config import SyncMode
from runtime.logs import configure_logging

__all__ = ["main"]

_STRATEGY_COUNTS = (1, 10, 100)
_LOG_LEVEL = "ERROR"
BENCHMARKS = (
    "latency",
    "orderflow",
    "fanout",
    "restart",
    "failover",
    "gateway",
    "journal",
    "backtest",
)
"""What ``--only`` accepts, in run order."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="report file (default BENCHMARKS.md; stdout with --only)",
    )
    p.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    p.add_argument(
        "--scenario",
        choices=[*(s.key for s in SCENARIOS), "both"],
        default="both",
        help="latency scenario(s) to run (default both)",
    )
    p.add_argument("--rounds", type=int, default=9, help="latency rounds per scenario (9)")
    p.add_argument(
        "--samples",
        type=int,
        default=1500,
        help="timed samples per pipeline per round and scenario (1500)",
    )
    p.add_argument(
        "--warmup", type=int, default=200, help="untimed samples per pipeline per round (200)"
    )
    p.add_argument("--block", type=int, default=100, help="samples per turn of a pipeline (100)")
    p.add_argument("--bars", type=int, default=20_000, help="bars per free-running fan-out run")
    p.add_argument("--lockstep-bars", type=int, default=1_000, help="bars per lockstep run")
    p.add_argument("--repeats", type=int, default=3, help="runs per fan-out case (3)")
    p.add_argument("--skip-latency", action="store_true", help="do not run the latency benchmark")
    p.add_argument("--skip-fanout", action="store_true", help="do not run the fan-out benchmark")
    p.add_argument("--no-lockstep", action="store_true", help="skip the lockstep fan-out cases")
    p.add_argument("--restart-samples", type=int, default=500, help="timed strategy restarts (500)")
    p.add_argument(
        "--restart-warmup", type=int, default=20, help="untimed restarts before them (20)"
    )
    p.add_argument(
        "--failover-samples",
        type=int,
        default=50,
        help="timed engine failovers, one fresh runtime each (50)",
    )
    p.add_argument("--orderflow-rounds", type=int, default=5, help="order-flow rounds (5)")
    p.add_argument(
        "--orderflow-orders",
        type=int,
        default=20_000,
        help="orders timed per round and limits setting, pure work (20000)",
    )
    p.add_argument(
        "--orderflow-samples",
        type=int,
        default=1_000,
        help="timed intents per pair per round, latency through the actors (1000)",
    )
    p.add_argument(
        "--orderflow-warmup", type=int, default=100, help="untimed intents per pair per round"
    )
    p.add_argument(
        "--orderflow-block", type=int, default=100, help="intents per turn of a pair (100)"
    )
    p.add_argument("--burst", type=int, default=5_000, help="intents per order-flow burst (5000)")
    p.add_argument(
        "--skip-orderflow", action="store_true", help="do not run the order-flow benchmark"
    )
    p.add_argument(
        "--skip-supervision",
        action="store_true",
        help="do not run the restart and failover benchmarks",
    )
    p.add_argument("--gateway-rounds", type=int, default=5, help="gateway event-stream rounds (5)")
    p.add_argument(
        "--gateway-events",
        type=int,
        default=200_000,
        help="events per gateway and raw run of a round (200000)",
    )
    p.add_argument(
        "--gateway-commands",
        type=int,
        default=2_000,
        help="timed round trips of each command and of the raw echo (2000)",
    )
    p.add_argument(
        "--gateway-command-warmup", type=int, default=100, help="untimed round trips of each (100)"
    )
    p.add_argument(
        "--gateway-command-block", type=int, default=100, help="round trips per turn (100)"
    )
    p.add_argument(
        "--gateway-adds", type=int, default=60, help="timed hot-adds, half from a file (60)"
    )
    p.add_argument("--gateway-add-warmup", type=int, default=4, help="untimed hot-adds (4)")
    p.add_argument(
        "--gateway-stall-rounds", type=int, default=5, help="stalled-subscriber rounds (5)"
    )
    p.add_argument(
        "--gateway-stall-bars",
        type=int,
        default=10_000,
        help="bars per stalled-subscriber run (10000)",
    )
    p.add_argument("--skip-gateway", action="store_true", help="do not run the gateway benchmark")
    p.add_argument("--journal-rounds", type=int, default=5, help="journal benchmark rounds (5)")
    p.add_argument(
        "--journal-records",
        type=int,
        default=4_096,
        help="records per journal store case (4096; the 1-record cases an eighth)",
    )
    p.add_argument(
        "--journal-events",
        type=int,
        default=20_000,
        help="events per journal actor run (20000)",
    )
    p.add_argument(
        "--journal-samples",
        type=int,
        default=200,
        help="timed orders per runtime per round, journal off and on (200)",
    )
    p.add_argument(
        "--journal-warmup", type=int, default=20, help="untimed orders per runtime per round (20)"
    )
    p.add_argument(
        "--journal-block", type=int, default=50, help="orders per turn of a runtime (50)"
    )
    p.add_argument("--skip-journal", action="store_true", help="do not run the journal benchmark")
    p.add_argument(
        "--backtest-rounds", type=int, default=FULL.rounds, help="backtest benchmark rounds (3)"
    )
    p.add_argument("--skip-backtest", action="store_true", help="do not run the backtest benchmark")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the bench")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a target is missed (signal latency ratio, restart, failover, gateway)",
    )
    return p


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run what the arguments ask for, write the report, return the exit status."""
    args = _parser().parse_args(argv)
    if args.quick:
        args.rounds, args.samples, args.warmup, args.block = 2, 200, 50, 50
        args.bars, args.lockstep_bars, args.repeats = 1_000, 50, 1
        args.restart_samples, args.restart_warmup, args.failover_samples = 50, 5, 5
        args.orderflow_rounds, args.orderflow_orders, args.burst = 2, 2_000, 1_000
        args.orderflow_samples, args.orderflow_warmup, args.orderflow_block = 200, 20, 50
        args.gateway_rounds, args.gateway_events = 2, 20_000
        args.gateway_commands, args.gateway_command_warmup, args.gateway_command_block = 200, 20, 50
        args.gateway_adds, args.gateway_add_warmup = 10, 2
        args.gateway_stall_rounds, args.gateway_stall_bars = 1, 2_000
        args.journal_rounds, args.journal_records, args.journal_events = 2, 512, 2_000
        args.journal_samples, args.journal_warmup, args.journal_block = 30, 5, 10
    chosen = set(args.only or BENCHMARKS)
    skipped = {
        "latency": args.skip_latency,
        "orderflow": args.skip_orderflow,
        "fanout": args.skip_fanout,
        "restart": args.skip_supervision,
        "failover": args.skip_supervision,
        "gateway": args.skip_gateway,
        "journal": args.skip_journal,
        "backtest": args.skip_backtest,
    }
    run = {name for name in BENCHMARKS if name in chosen and not skipped[name]}
    configure_logging(_LOG_LEVEL)
    command = "python -m bench.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    facts = machine()
    _progress(f"tradepit benchmarks on {facts.cpus} CPUs, {facts.python}, pykka {facts.pykka}")

    latency: LatencyResult | None = None
    if "latency" in run:
        scenarios = [s.key for s in SCENARIOS] if args.scenario == "both" else [args.scenario]
        latency = run_latency(
            scenarios=scenarios,
            rounds=args.rounds,
            samples=args.samples,
            warmup=args.warmup,
            block=args.block,
            progress=_progress,
        )
    orderflow: OrderflowResult | None = None
    if "orderflow" in run:
        orderflow = run_orderflow(
            rounds=args.orderflow_rounds,
            orders=args.orderflow_orders,
            samples=args.orderflow_samples,
            warmup=args.orderflow_warmup,
            block=args.orderflow_block,
            burst=args.burst,
            progress=_progress,
        )
    fanout: FanoutResult | None = None
    if "fanout" in run:
        cases = [(n, args.bars, False) for n in _STRATEGY_COUNTS]
        if not args.no_lockstep:
            cases += [(n, args.lockstep_bars, True) for n in _STRATEGY_COUNTS]
        fanout = run_fanout(cases=cases, repeats=args.repeats, progress=_progress)
    restart: RestartResult | None = None
    failover: FailoverResult | None = None
    if "restart" in run or "failover" in run:
        with quiet_logs(_LOG_LEVEL):  # the failures are on purpose: log them to os.devnull
            if "restart" in run:
                restart = run_restart(
                    samples=args.restart_samples, warmup=args.restart_warmup, progress=_progress
                )
            if "failover" in run:
                failover = run_failover(samples=args.failover_samples, progress=_progress)
    gateway: GatewayResult | None = None
    if "gateway" in run:
        gateway = run_gateway(
            rounds=args.gateway_rounds,
            events=args.gateway_events,
            commands=args.gateway_commands,
            command_warmup=args.gateway_command_warmup,
            command_block=args.gateway_command_block,
            adds=args.gateway_adds,
            add_warmup=args.gateway_add_warmup,
            stall_rounds=args.gateway_stall_rounds,
            stall_bars=args.gateway_stall_bars,
            progress=_progress,
        )
    journal: JournalResult | None = None
    if "journal" in run:
        journal = run_journal(
            rounds=args.journal_rounds,
            records=args.journal_records,
            events=args.journal_events,
            samples=args.journal_samples,
            warmup=args.journal_warmup,
            block=args.journal_block,
            progress=_progress,
        )
    backtest: BacktestBenchResult | None = None
    if "backtest" in run:
        sizes = QUICK if args.quick else dataclasses.replace(FULL, rounds=args.backtest_rounds)
        backtest = run_backtest_bench(sizes, progress=_progress)

    report = Report(
        command=command.rstrip(),
        started=started,
        seconds=time.perf_counter() - t0,
        machine=facts,
        latency=latency,
        fanout=fanout,
        restart=restart,
        failover=failover,
        orderflow=orderflow,
        gateway=gateway,
        journal=journal,
        backtest=backtest,
    )
    text = render(report)
    output: Path | None = args.output
    if output is None and args.only is None:
        output = Path("BENCHMARKS.md")
    if output is None:
        sys.stdout.write(text)
        _progress(f"ran in {report.seconds:.0f} s")
    else:
        output.write_text(text, encoding="utf-8")
        _progress(f"wrote {output} in {report.seconds:.0f} s")
    if latency is not None:
        for result in latency.scenarios:
            _progress(f"tick-to-order {result.scenario.key} p50 ratio {result.ratio():.2f}x")
        if latency.passed is not None:
            _progress(f"verdict on the signal scenario: {'PASS' if latency.passed else 'FAIL'}")
    if orderflow is not None:
        one = STRATEGY_COUNTS[0]
        p50, p99 = orderflow.latency_us("real-off")
        _progress(
            f"risk + order manager: work p50 {orderflow.cost_us('total', 'off')[0]:.1f} us "
            f"(every limit on {orderflow.cost_us('total', 'on')[0]:.1f} us); through the actors "
            f"p50 {p50:.1f} us, p99 {p99:.1f} us ({orderflow.latency_ratio('real-off'):.2f}x "
            f"the {BASE}), {orderflow.rate('real-off', one):,.0f} orders/s"
        )
    missed = latency is not None and latency.passed is False
    for name, outcome in (("restart", restart), ("failover", failover)):
        if outcome is not None:
            p50 = outcome.latency_ms().p50
            _progress(f"{name} p50 {p50:.3f} ms: {'PASS' if outcome.passed else 'FAIL'}")
            missed = missed or not outcome.passed
    if gateway is not None:
        stream, add = gateway.stream, gateway.hot_add.latency_ms("module")
        _progress(
            f"gateway events/s ratio {stream.ratio:.2f} (gateway / raw pyzmq): "
            f"{'PASS' if stream.passed else 'FAIL'}; hot-add reply -> first bar p50 "
            f"{add.p50:.2f} ms: {'PASS' if gateway.hot_add.passed else 'FAIL'}"
        )
        missed = missed or not gateway.passed
    if journal is not None:
        added = journal.added_us("full", "order")
        _progress(
            f"journal: actor events/s FULL {journal.actor_rate(SyncMode.FULL):,.0f}, NORMAL "
            f"{journal.actor_rate(SyncMode.NORMAL):,.0f}; added per order (FULL) p50 "
            f"{added[0]:+,.0f} us, p99 {added[1]:+,.0f} us"
        )
    if backtest is not None:
        _progress(
            f"backtest: tradepit / backtrader bars/s {backtest.ratio():.2f}x: "
            f"{'PASS' if backtest.passed else 'FAIL'}"
        )
        missed = missed or not backtest.passed
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
