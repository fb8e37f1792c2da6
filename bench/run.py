"""Run the benchmarks and write the report: ``python -m bench.run --output BENCHMARKS.md``.

Progress goes to stderr. The exit status is 0 whatever the figures (a
benchmark reports; tests assert), unless ``--strict`` is given: then a missed
target exits with status 1: the signal-scenario latency ratio, the restart
p50 or the failover p50 (the every-bar scenario has no verdict).
"""

from __future__ import annotations

import argparse
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
from bench.fanout import FanoutResult, run_fanout
from bench.latency import SCENARIOS, LatencyResult, run_latency
from bench.report import Report, render
from runtime.logs import configure_logging

__all__ = ["main"]

_STRATEGY_COUNTS = (1, 10, 100)
_LOG_LEVEL = "ERROR"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"), help="report file")
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
        default=2000,
        help="timed samples per pipeline per round and scenario (2000)",
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
    p.add_argument(
        "--skip-supervision",
        action="store_true",
        help="do not run the restart and failover benchmarks",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the bench")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a target is missed (signal latency ratio, restart, failover)",
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
    configure_logging(_LOG_LEVEL)
    command = "python -m bench.run " + shlex.join(sys.argv[1:] if argv is None else argv)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    facts = machine()
    _progress(f"tradepit benchmarks on {facts.cpus} CPUs, {facts.python}, pykka {facts.pykka}")

    latency: LatencyResult | None = None
    if not args.skip_latency:
        scenarios = [s.key for s in SCENARIOS] if args.scenario == "both" else [args.scenario]
        latency = run_latency(
            scenarios=scenarios,
            rounds=args.rounds,
            samples=args.samples,
            warmup=args.warmup,
            block=args.block,
            progress=_progress,
        )
    fanout: FanoutResult | None = None
    if not args.skip_fanout:
        cases = [(n, args.bars, False) for n in _STRATEGY_COUNTS]
        if not args.no_lockstep:
            cases += [(n, args.lockstep_bars, True) for n in _STRATEGY_COUNTS]
        fanout = run_fanout(cases=cases, repeats=args.repeats, progress=_progress)
    restart: RestartResult | None = None
    failover: FailoverResult | None = None
    if not args.skip_supervision:
        with quiet_logs(_LOG_LEVEL):  # the failures are on purpose: log them to os.devnull
            restart = run_restart(
                samples=args.restart_samples, warmup=args.restart_warmup, progress=_progress
            )
            failover = run_failover(samples=args.failover_samples, progress=_progress)

    report = Report(
        command=command.rstrip(),
        started=started,
        seconds=time.perf_counter() - t0,
        machine=facts,
        latency=latency,
        fanout=fanout,
        restart=restart,
        failover=failover,
    )
    args.output.write_text(render(report), encoding="utf-8")
    _progress(f"wrote {args.output} in {report.seconds:.0f} s")
    if latency is not None:
        for result in latency.scenarios:
            _progress(f"tick-to-order {result.scenario.key} p50 ratio {result.ratio():.2f}x")
        if latency.passed is not None:
            _progress(f"verdict on the signal scenario: {'PASS' if latency.passed else 'FAIL'}")
    missed = latency is not None and latency.passed is False
    for name, outcome in (("restart", restart), ("failover", failover)):
        if outcome is not None:
            p50 = outcome.latency_ms().p50
            _progress(f"{name} p50 {p50:.3f} ms: {'PASS' if outcome.passed else 'FAIL'}")
            missed = missed or not outcome.passed
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
