"""The ``tradepit`` command line.

- ``tradepit run SETTINGS [--duration SECONDS]``: start the runtime; stop on
  Ctrl-C, SIGTERM, the end of the duration or the end of the data; print the
  per-strategy summary. Exit 0 after a clean stop, 1 when an actor failed to
  start or a core actor (feed, risk, engine, portfolio, events) failed.
- ``tradepit check SETTINGS``: validate the settings file and start nothing.
- ``tradepit venue --config FILE``: run the simulated venue (its own process)
  until SIGTERM or SIGINT; see :mod:`runtime.venue`.
- ``tradepit status | actors | ... | shutdown``, ``tradepit tail`` and
  ``tradepit keys``: clients of a running runtime's gateway; see
  :mod:`runtime.cli_remote`.
- ``tradepit journal COMMAND``: read, export or prune the journal (running
  or not); see :mod:`runtime.cli_journal`.
- ``tradepit backtest SETTINGS --data PATH ...``: run the strategies over
  history in one deterministic loop; see :mod:`runtime.cli_backtest`.
- ``tradepit optimize SETTINGS --data PATH --param NAME=SPEC ...``: sweep a
  strategy's parameters, one process per trial; see :mod:`runtime.cli_optimize`.

A settings problem exits 2 with one line naming the file, key and expectation.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from loguru import logger

from runtime.cli_backtest import add_backtest_command, run_backtest_command
from runtime.cli_journal import add_journal_command, run_journal
from runtime.cli_optimize import add_optimize_command, run_optimize
from runtime.cli_remote import add_remote_commands, run_remote
from runtime.config import FeedSource
from runtime.errors import DataError, JournalError, SettingsError, StartupError
from runtime.gateway import GatewayError
from runtime.logs import configure_logging
from runtime.marketdata import market_data
from runtime.service import Service
from runtime.settings import load_settings
from runtime.summary import format_summary
from runtime.venue import run_venue

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradepit", description="An actor-model trading runtime.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="start the runtime from a settings file")
    run.add_argument("settings", help="path of the settings TOML file")
    run.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: until the data ends or a signal)",
    )
    check = commands.add_parser("check", help="validate a settings file without starting")
    check.add_argument("settings", help="path of the settings TOML file")
    venue = commands.add_parser("venue", help="run the simulated venue (a separate process)")
    venue.add_argument("--config", required=True, metavar="FILE", help="the venue TOML file")
    add_remote_commands(commands)
    add_journal_command(commands)
    add_backtest_command(commands)
    add_optimize_command(commands)
    return parser


def _run(path: str, duration: float | None) -> int:
    settings = load_settings(path)
    configure_logging(settings.runtime.log_level)
    stop = threading.Event()
    reason = ["end of data"]

    def on_fatal(why: str) -> None:
        reason[0] = why
        stop.set()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        reason[0] = signal.Signals(signum).name
        stop.set()

    def on_shutdown(why: str) -> None:
        reason[0] = why
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    service = Service(settings, on_finished=stop.set, on_fatal=on_fatal, on_shutdown=on_shutdown)
    runtime = service.runtime
    try:
        try:
            service.start()
        except JournalError as exc:
            # Never start flat by accident: the operator must look at the journal.
            print(
                f"tradepit: {exc}; refusing to start (it would start flat, without its "
                "orders and positions): restore the journal or move it away",
                file=sys.stderr,
                flush=True,
            )
            return EXIT_USAGE
        except (StartupError, GatewayError) as exc:
            logger.error("runtime did not start: {}", exc)
            return EXIT_FAILURE
        if not stop.wait(duration):
            reason[0] = f"duration {duration:g}s elapsed"
        logger.info("stopping: {}", reason[0])
        summary = service.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(format_summary(summary), flush=True)
    if runtime.fatal is not None:
        logger.error("stopped because {}", runtime.fatal)
        return EXIT_FAILURE
    if summary.stuck_threads:
        # A thread stuck in user code cannot be stopped from Python, and the
        # interpreter would wait for it forever at exit: leave now, loudly.
        logger.error("some actor threads did not stop: {}", ", ".join(summary.stuck_threads))
        logger.complete()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_FAILURE)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tradepit`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command not in ("run", "check", "venue", "backtest", "optimize"):
        configure_logging("WARNING")  # a client prints results, not the library's debug lines
    remote = run_remote(args)
    if remote is not None:
        return remote
    journal = run_journal(args)
    if journal is not None:
        return journal
    backtest = run_backtest_command(args)
    if backtest is not None:
        return backtest
    optimize = run_optimize(args)
    if optimize is not None:
        return optimize
    if args.command == "venue":
        return run_venue(args.config)
    try:
        if args.command == "check":
            settings = load_settings(args.settings)
            if settings.feed.source is FeedSource.CSV:
                market_data(settings.feed)  # reads and checks every data file
            print(
                f"{args.settings}: ok ({len(settings.strategies)} strategies, "
                f"engines {', '.join(e.name for e in settings.engines)}, "
                f"feed {settings.feed.source})"
            )
            return EXIT_OK
        if args.duration is not None and not args.duration > 0:
            print(
                f"tradepit: --duration: expected a number > 0, got {args.duration}", file=sys.stderr
            )
            return EXIT_USAGE
        return _run(args.settings, args.duration)
    except SettingsError as exc:
        print(f"tradepit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DataError as exc:
        print(f"tradepit: {args.settings}: data: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
