"""Settings: the default file is valid; every kind of bad file exits 2 naming the key."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.cli import main
from runtime.config import FeedSource, SlippageModel
from runtime.errors import SettingsError
from runtime.settings import load_settings
from strategies.sma_crossover import SmaCrossover

REPO = Path(__file__).resolve().parent.parent

GOOD = """
[feed]
source = "synthetic"
[feed.synthetic]
symbols = ["AAA", "BBB"]
bars = 10

[[strategies]]
id = "sma"
class = "strategies.sma_crossover:SmaCrossover"
symbols = ["AAA"]
[strategies.params]
fast = 3
slow = 8
"""


def test_the_embedded_default_settings_file_is_valid() -> None:
    settings = load_settings(REPO / "settings.toml")
    assert settings.feed.source is FeedSource.SYNTHETIC
    assert [s.id for s in settings.strategies] == ["sma-a", "sma-b", "bollinger-c"]
    assert settings.engines[0].paper.slippage.model is SlippageModel.FIXED_BPS
    assert settings.strategies[0].strategy_class is SmaCrossover


def test_a_good_file_gives_typed_frozen_config(write_settings: Callable[[str], Path]) -> None:
    settings = load_settings(write_settings(GOOD))
    (strategy,) = settings.strategies
    assert strategy.params == SmaCrossover.Params(fast=3, slow=8)
    assert strategy.symbols == ("AAA",)
    with pytest.raises(AttributeError):
        strategy.id = "x"  # type: ignore[misc]


def test_check_validates_without_starting(
    write_settings: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(write_settings(GOOD))]) == 0
    assert "ok (1 strategies" in capsys.readouterr().out


BAD: list[tuple[str, str, str]] = [
    # (case id, TOML text, fragment the message must contain)
    ("unknown-section", GOOD + "\n[bogus]\nx = 1\n", "bogus: unknown section"),
    (
        "unknown-key",
        GOOD.replace('source = "synthetic"', 'source = "synthetic"\nspeeed = 2'),
        "feed.speeed: unknown key",
    ),
    (
        "wrong-type",
        GOOD.replace("bars = 10", 'bars = "ten"'),
        "feed.synthetic.bars: expected an integer",
    ),
    (
        "bool-is-not-int",
        GOOD.replace("bars = 10", "bars = true"),
        "feed.synthetic.bars: expected an integer",
    ),
    (
        "out-of-range",
        GOOD.replace('source = "synthetic"', 'source = "synthetic"\nspeed = -1'),
        "feed.speed: expected a number >= 0",
    ),
    (
        "bad-choice",
        GOOD.replace('source = "synthetic"', 'source = "ftp"'),
        "feed.source: expected one of synthetic, csv",
    ),
    (
        "missing-strategy-class",
        GOOD.replace('class = "strategies.sma_crossover:SmaCrossover"\n', ""),
        "strategies[0].class: missing",
    ),
    (
        "unknown-strategy-module",
        GOOD.replace("strategies.sma_crossover:", "strategies.nope:"),
        "strategies[0].class: cannot import module 'strategies.nope'",
    ),
    (
        "unknown-strategy-class",
        GOOD.replace(":SmaCrossover", ":Nope"),
        "strategies[0].class: module 'strategies.sma_crossover' has no 'Nope'",
    ),
    (
        "not-a-strategy",
        GOOD.replace("strategies.sma_crossover:SmaCrossover", "pathlib:Path"),
        "strategies[0].class: 'pathlib:Path' is not a subclass",
    ),
    (
        "class-without-colon",
        GOOD.replace("strategies.sma_crossover:SmaCrossover", "abc"),
        "strategies[0].class: expected 'module:Class'",
    ),
    (
        "unknown-param",
        GOOD.replace("slow = 8", "slow = 8\nslw = 9"),
        "strategies[0].params.slw: unknown parameter of SmaCrossover",
    ),
    (
        "param-wrong-type",
        GOOD.replace("fast = 3", 'fast = "3"'),
        "strategies[0].params.fast: expected an integer",
    ),
    (
        "param-rule",
        GOOD.replace("slow = 8", "slow = 2"),
        "strategies[0].params: invalid parameters for SmaCrossover: slow must be greater",
    ),
    (
        "unknown-symbol",
        GOOD.replace('symbols = ["AAA"]', 'symbols = ["ZZZ"]'),
        "strategies[0].symbols: 'ZZZ' is not published by the feed",
    ),
    (
        "duplicate-strategy-id",
        GOOD + GOOD[GOOD.index("[[strategies]]") :],
        "strategies[1].id: duplicate strategy id 'sma'",
    ),
    (
        "missing-data-file",
        GOOD.replace('source = "synthetic"', 'source = "csv"')
        + '\n[[feed.csv]]\npath = "no/such/file.csv"\nsymbol = "AAA"\n',
        "feed.csv[0].path: data file not found",
    ),
    (
        "csv-without-files",
        GOOD.replace('source = "synthetic"', 'source = "csv"'),
        'feed.csv: source = "csv" needs at least one',
    ),
    (
        "unknown-engine",
        GOOD + '\n[execution]\nengines = ["fast"]\n',
        "execution.engines: engine 'fast' has no [engines.fast] table",
    ),
    (
        "unknown-adapter",
        GOOD + '\n[engines.paper]\nadapter = "ib"\n',
        "engines.paper.adapter: expected one of paper",
    ),
    (
        "nan-number",
        GOOD + "\n[portfolio]\nstarting_cash = nan\n",
        "portfolio.starting_cash: expected a finite number",
    ),
    (
        "negative-risk-limit",
        GOOD + "\n[risk]\nmax_order_quantity = -5\n",
        "risk.max_order_quantity: expected a number >= 0",
    ),
    (
        "bad-log-level",
        GOOD + '\n[runtime]\nlog_level = "LOUD"\n',
        "runtime.log_level: expected one of TRACE",
    ),
    (
        "bad-slippage-model",
        GOOD + '\n[engines.paper.slippage]\nmodel = "random"\n',
        "engines.paper.slippage.model: expected one of none",
    ),
    ("not-toml", "this is = = not toml", "not valid TOML"),
    (
        "empty-symbols",
        GOOD.replace('symbols = ["AAA"]', "symbols = []"),
        "strategies[0].symbols: expected a non-empty array",
    ),
    (
        "bad-start-time",
        GOOD.replace("bars = 10", 'bars = 10\nstart = "yesterday"'),
        "feed.synthetic.start: expected an ISO date-time",
    ),
    (
        "unknown-restart-type",
        GOOD + '[supervision]\nrestart = "sometimes"\n',
        "supervision.restart: expected one of permanent, transient, temporary; got 'sometimes'",
    ),
    (
        "backoff-max-below-min",
        GOOD + "[supervision]\nbackoff_min_s = 2.0\nbackoff_max_s = 1.0\n",
        "supervision.backoff_max_s: expected a number >= backoff_min_s (2)",
    ),
    (
        "strategy-supervision-unknown-key",
        GOOD + "[strategies.supervision]\nretries = 3\n",
        "strategies[0].supervision.retries: unknown key",
    ),
    (
        "force-unknown-engine",
        GOOD + '[execution]\nforce = "nowhere"\n',
        "execution.force: expected one of paper; got 'nowhere'",
    ),
    (
        "zero-failover-threshold",
        GOOD + "[execution]\nfailover_threshold = 0\n",
        "execution.failover_threshold: expected an integer >= 1, got 0",
    ),
    (
        "venue-engine-without-endpoints",
        GOOD + '[engines.paper]\nadapter = "venue"\n',
        "engines.paper.venue.orders: missing; this key is required",
    ),
    (
        "venue-bad-endpoint",
        GOOD
        + '[engines.paper]\nadapter = "venue"\n[engines.paper.venue]\n'
        + 'orders = "localhost:5701"\nmarket_data = "tcp://127.0.0.1:5702"\n',
        "engines.paper.venue.orders: expected a ZeroMQ endpoint",
    ),
    (
        "venue-table-on-paper-engine",
        GOOD + '[engines.paper.venue]\norders = "tcp://127.0.0.1:1"\n',
        'engines.paper.venue: [engines.paper.venue] needs adapter = "venue"',
    ),
    (
        "faults-probability-above-one",
        GOOD + "[engines.paper.faults]\nfail_probability = 1.5\n",
        "engines.paper.faults.fail_probability: expected a number <= 1, got 1.5",
    ),
    (
        "trading-hours-not-a-window",
        GOOD + '[risk]\ntrading_hours = "9-17"\n',
        'risk.trading_hours: expected "HH:MM-HH:MM" (e.g. "09:30-16:00"), got \'9-17\'',
    ),
    (
        "trading-hours-odd-digits",
        GOOD + '[risk]\ntrading_hours = "+9:30-16:00"\n',
        'risk.trading_hours: expected "HH:MM-HH:MM"',
    ),
    (
        "timezone-not-a-place",
        GOOD + '[risk]\ntrading_hours = "09:30-16:00"\ntimezone = "right/America/New_York"\n',
        "risk.timezone: unknown IANA time zone 'right/America/New_York'",
    ),
    (
        "timezone-without-window",
        GOOD + '[risk]\ntrading_hours = ""\ntimezone = "UTC"\n',
        "risk.timezone: needs trading_hours",
    ),
    (
        "trading-days-unknown",
        GOOD + '[risk]\ntrading_hours = "09:30-16:00"\ntrading_days = ["funday"]\n',
        "risk.trading_days: expected days among mon, tue, wed, thu, fri, sat, sun; got 'funday'",
    ),
    (
        "burst-without-rate",
        GOOD + "[risk]\norder_burst = 5\n",
        "risk.order_burst: needs max_orders_per_s",
    ),
    (
        "open-orders-negative",
        GOOD + "[risk]\nmax_open_orders = -1\n",
        "risk.max_open_orders: expected an integer >= 0, got -1",
    ),
    (
        "retry-backoff-inverted",
        GOOD + "[engines.paper.retry]\nbackoff_min_s = 2.0\nbackoff_max_s = 1.0\n",
        "engines.paper.retry.backoff_max_s: expected >= backoff_min_s (2), got 1",
    ),
    (
        "breaker-reset-zero",
        GOOD + "[engines.paper.breaker]\nreset_s = 0\n",
        "engines.paper.breaker.reset_s: expected a number > 0, got 0",
    ),
    (
        "rate-limit-unknown-key",
        GOOD + "[engines.paper.rate_limit]\ncalls_per_sec = 5\n",
        "engines.paper.rate_limit.calls_per_sec",
    ),
    (
        "venue-feed-paced-twice",
        GOOD.replace('source = "synthetic"', 'source = "venue"\nspeed = 10.0')
        + '[feed.venue]\nmarket_data = "tcp://127.0.0.1:5702"\n',
        'feed.speed: expected 0 with source = "venue"',
    ),
    (
        "gateway-unknown-key",
        GOOD + "\n[gateway]\nenabeld = true\n",
        "gateway.enabeld: unknown key",
    ),
    (
        "gateway-bad-endpoint",
        GOOD + '\n[gateway]\ncommands = "tcp://127.0.0.1"\n',
        "gateway.commands: expected 'tcp://HOST:PORT'",
    ),
    (
        "gateway-port-out-of-range",
        GOOD + '\n[gateway]\nevents = "tcp://127.0.0.1:70000"\n',
        "gateway.events: expected 'tcp://HOST:PORT' (PORT 1-65535",
    ),
    (
        "gateway-same-endpoints",
        GOOD + '\n[gateway]\ncommands = "tcp://127.0.0.1:7000"\nevents = "tcp://127.0.0.1:7000"\n',
        "gateway.events: expected an endpoint other than commands",
    ),
    (
        "gateway-public-without-curve",
        GOOD + '\n[gateway]\ncommands = "tcp://0.0.0.0:7000"\n',
        "gateway.commands: 'tcp://0.0.0.0:7000' is reachable from other machines",
    ),
    (
        "gateway-missing-key-file",
        GOOD + '\n[gateway.curve]\nserver_secret_key = "nope.key_secret"\ncontrol_keys = "."\n',
        "gateway.curve.server_secret_key: expected a key file made by 'tradepit keys'",
    ),
    (
        "gateway-missing-keys-dir",
        GOOD + '\n[gateway.curve]\nserver_secret_key = "settings.toml"\ncontrol_keys = "nope"\n',
        "gateway.curve.control_keys: expected a directory of client public keys",
    ),
    (
        "gateway-bad-module",
        GOOD + '\n[gateway]\nstrategy_modules = ["../evil"]\n',
        "gateway.strategy_modules: expected dotted module names",
    ),
    (
        "gateway-missing-dir",
        GOOD + '\n[gateway]\nstrategy_dirs = ["no/such/dir"]\n',
        "gateway.strategy_dirs:",
    ),
    (
        "gateway-heartbeat-range",
        GOOD + "\n[gateway]\nheartbeat_s = 0\n",
        "gateway.heartbeat_s: expected a number >= 0.01",
    ),
    (
        "reserved-strategy-id",
        GOOD.replace('id = "sma"', 'id = "manual"'),
        "id: 'manual' is reserved",
    ),
]


@pytest.mark.parametrize(
    ("text", "fragment"), [(t, f) for _, t, f in BAD], ids=[case for case, _, _ in BAD]
)
def test_bad_settings_exit_2_with_a_message_naming_the_key(
    text: str,
    fragment: str,
    write_settings: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_settings(text)
    for command in ("check", "run"):
        assert main([command, str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, f"one line expected, got: {err!r}"
        assert str(path) in err
        assert fragment in err


def test_a_missing_settings_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path / "absent.toml")]) == 2
    assert "absent.toml: file not found" in capsys.readouterr().err


def test_settings_error_carries_file_key_and_problem(
    write_settings: Callable[[str], Path],
) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(write_settings(GOOD.replace("bars = 10", "bars = -1")))
    assert info.value.key == "feed.synthetic.bars"
    assert "expected an integer >= 0" in info.value.problem


def test_the_console_entry_point_exits_2_in_a_real_process(
    write_settings: Callable[[str], Path],
) -> None:
    path = write_settings(GOOD.replace("fast = 3", "fast = 0"))
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "check", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "strategies[0].params: invalid parameters for SmaCrossover: fast must be >= 1" in (
        done.stderr
    )
