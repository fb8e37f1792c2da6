"""Run the benchmarks and write the report: ``python -m bench.run --output BENCHMARKS.md``.

Progress goes to stderr. The exit status is 0 whatever the figures (a
benchmark reports; tests assert), unless ``--strict`` is given: then a
signal-scenario latency ratio above the target exits with status 1 (the
every-bar scenario has no verdict).
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
from bench.fanout import FanoutResult, run_fanout
from bench.latency import SCENARIOS, LatencyResult, run_latency
from bench.report import Report, render
from runtime.logs import configure_logging

__all__ = ["main"]

_STRATEGY_COUNTS = (1, 10, 100)


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
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the bench")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when the signal-scenario latency target is missed",
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
    configure_logging("ERROR")
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

    report = Report(
        command=command.rstrip(),
        started=started,
        seconds=time.perf_counter() - t0,
        machine=facts,
        latency=latency,
        fanout=fanout,
    )
    args.output.write_text(render(report), encoding="utf-8")
    _progress(f"wrote {args.output} in {report.seconds:.0f} s")
    if latency is not None:
        for result in latency.scenarios:
            _progress(f"tick-to-order {result.scenario.key} p50 ratio {result.ratio():.2f}x")
        if latency.passed is not None:
            _progress(f"verdict on the signal scenario: {'PASS' if latency.passed else 'FAIL'}")
        if args.strict and latency.passed is False:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
