"""Read a settings TOML file into :class:`runtime.config.Settings`.

This is the one place raw TOML is read. Everything is checked here, once:
unknown keys and sections, wrong types, missing values, out-of-range
numbers, engines and symbols that do not exist, strategy classes that cannot
be imported or are not strategies, strategy parameters, and data files.
Any problem raises :class:`~runtime.errors.SettingsError` naming the file,
the key and what was expected. The key reference is ``docs/settings.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib
import re
import typing
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runtime._tables import Table, read_file, read_toml
from runtime.config import (
    BreakerConfig,
    CommissionConfig,
    CommissionModel,
    CsvSourceConfig,
    CurveConfig,
    DataKind,
    EngineConfig,
    ExecutionConfig,
    FaultConfig,
    FeedConfig,
    FeedSource,
    GatewayConfig,
    JournalConfig,
    OpenOrderPolicy,
    PaperConfig,
    PortfolioConfig,
    RateLimitConfig,
    RestartType,
    RetryConfig,
    RiskConfig,
    RuntimeConfig,
    Settings,
    SlippageConfig,
    SlippageModel,
    StrategyConfig,
    SupervisionConfig,
    SyncMode,
    SyntheticConfig,
    TradingHours,
    VenueConfig,
)
from runtime.errors import InvalidParamsError, SettingsError
from strategies.base import Strategy

__all__ = [
    "RESERVED_STRATEGY_IDS",
    "StrategyLoader",
    "check_strategy_class",
    "import_strategy",
    "is_loopback",
    "load_settings",
    "parse_settings",
    "read_feed",
    "read_gateway",
    "read_paper",
    "read_strategy",
    "read_supervision",
    "with_params",
]

ADAPTERS = ("paper", "venue")
"""Adapter kinds an engine may use."""
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR")
RESERVED_STRATEGY_IDS = frozenset({"manual"})
"""Strategy ids no strategy may take: ``manual`` owns orders an operator submits."""
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_SECTIONS = (
    "runtime",
    "feed",
    "supervision",
    "execution",
    "engines",
    "risk",
    "portfolio",
    "strategies",
    "gateway",
    "journal",
)


def load_settings(path: str | Path) -> Settings:
    """Read and validate a settings file."""
    text = read_file(path)
    return parse_settings(text, source=str(path), base_dir=Path(path).resolve().parent)


def parse_settings(text: str, *, source: str, base_dir: Path) -> Settings:
    """Validate settings given as TOML text; relative paths resolve against ``base_dir``."""
    root = read_toml(text, source, _SECTIONS)
    runtime = _runtime(root.table("runtime"), base_dir)
    feed = read_feed(root.table("feed"), base_dir)
    supervision = read_supervision(root.table("supervision"), SupervisionConfig())
    execution, engines = _execution(root.table("execution"), root.table("engines"), supervision)
    risk = _risk(root.table("risk"), RiskConfig())
    portfolio = _portfolio(root.table("portfolio"))
    strategies = _strategies(root.tables("strategies"), feed, risk, supervision)
    gateway = read_gateway(root.table("gateway"), base_dir)
    journal = read_journal(root.table("journal"), base_dir)
    root.done()
    return Settings(
        source=source,
        runtime=runtime,
        feed=feed,
        supervision=supervision,
        execution=execution,
        engines=engines,
        risk=risk,
        portfolio=portfolio,
        strategies=strategies,
        gateway=gateway,
        journal=journal,
    )


def read_journal(t: Table, base_dir: Path) -> JournalConfig:
    """``[journal]``; a relative ``path`` resolves against ``base_dir``."""
    d = JournalConfig()
    raw = Path(t.string("path", str(d.path)))
    path = raw if raw.is_absolute() else base_dir / raw
    if path.exists() and not path.is_file():
        raise t.error("path", f"{str(path)!r} exists and is not a file")
    mode = t.string("synchronous", d.synchronous.value, choices=tuple(m.value for m in SyncMode))
    config = JournalConfig(
        enabled=t.boolean("enabled", d.enabled),
        path=path,
        synchronous=SyncMode(mode),
        batch_max=t.integer("batch_max", d.batch_max, minimum=1, maximum=100_000),
        batch_delay_s=t.number("batch_delay_s", d.batch_delay_s, minimum=0.0, maximum=1.0),
        recovery_timeout_s=t.number(
            "recovery_timeout_s", d.recovery_timeout_s, minimum=0.1, maximum=600.0
        ),
    )
    t.done()
    return config


def _runtime(t: Table, base_dir: Path) -> RuntimeConfig:
    d = RuntimeConfig()
    config = RuntimeConfig(
        name=t.string("name", d.name),
        log_level=t.string("log_level", d.log_level, choices=LOG_LEVELS),
        shutdown_timeout_s=t.number("shutdown_timeout_s", d.shutdown_timeout_s, positive=True),
    )
    t.done()
    return config


def read_feed(t: Table, base_dir: Path) -> FeedConfig:
    """A ``[feed]``-shaped table with its sub-tables (also read by the venue)."""
    d = FeedConfig()
    source = FeedSource(t.string("source", d.source.value, choices=[s.value for s in FeedSource]))
    synthetic = _synthetic(t.table("synthetic"))
    csv = tuple(_csv_source(c, base_dir) for c in t.tables("csv"))
    if source is FeedSource.CSV and not csv:
        raise t.error("csv", 'source = "csv" needs at least one [[feed.csv]] table')
    venue = ""
    if t.has("venue") or source is FeedSource.VENUE:
        vt = t.table("venue")
        venue = _endpoint(vt, "market_data")
        vt.done()
        if source is FeedSource.VENUE and t.data.get("speed", 0) != 0:
            raise t.error("speed", 'expected 0 with source = "venue": the venue paces its own data')
    symbols = [c.symbol for c in csv]
    repeated = sorted({s for s in symbols if symbols.count(s) > 1})
    if repeated:
        raise t.error("csv", f"each file needs its own symbol; {repeated} repeat")
    config = FeedConfig(
        source=source,
        interval_s=t.integer("interval_s", d.interval_s, minimum=1, maximum=7 * 86400),
        speed=t.number("speed", d.speed, minimum=0.0, maximum=1e9),
        lockstep=t.boolean("lockstep", d.lockstep),
        max_in_flight=t.integer("max_in_flight", d.max_in_flight, minimum=1, maximum=1_000_000),
        synthetic=synthetic,
        csv=csv,
        venue=venue,
    )
    t.done()
    return config


def _endpoint(t: Table, name: str) -> str:
    value = t.string(name)
    if not re.match(r"^(tcp://[^\s:]+:\d{1,5}|ipc://\S+|inproc://\S+)$", value):
        raise t.error(
            name, f"expected a ZeroMQ endpoint like 'tcp://127.0.0.1:5701', got {value!r}"
        )
    return value


_GATEWAY_ENDPOINT = re.compile(
    r"^(tcp://(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5}|\*)|ipc://\S+)$"
)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


def _gateway_endpoint(t: Table, name: str, default: str) -> str:
    value = t.string(name, default)
    match = _GATEWAY_ENDPOINT.match(value)
    if match is None or (match[3] not in (None, "*") and not 0 < int(match[3]) < 65536):
        raise t.error(
            name,
            "expected 'tcp://HOST:PORT' (PORT 1-65535, or * for any free port) or "
            f"'ipc://PATH', got {value!r}",
        )
    return value


def is_loopback(endpoint: str) -> bool:
    """Whether a gateway endpoint can only be reached from this machine."""
    if endpoint.startswith("ipc://"):
        return True
    host = endpoint.removeprefix("tcp://").rpartition(":")[0]
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def _key_path(t: Table, name: str, base_dir: Path, *, directory: bool) -> Path:
    path = Path(t.string(name))
    path = path if path.is_absolute() else base_dir / path
    if directory and not path.is_dir():
        raise t.error(name, f"expected a directory of client public keys, {str(path)!r} is not one")
    if not directory and not path.is_file():
        raise t.error(
            name, f"expected a key file made by 'tradepit keys', {str(path)!r} is not one"
        )
    return path


def _names(t: Table, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """An array of strings that may be empty (``[]`` allows nothing)."""
    if t.has(name) and t.raw(name) == []:
        return ()
    return t.strings(name, default) if t.has(name) else default


def read_gateway(t: Table, base_dir: Path) -> GatewayConfig:
    """``[gateway]`` and ``[gateway.curve]``; relative paths resolve against ``base_dir``."""
    d = GatewayConfig()
    curve: CurveConfig | None = None
    if t.has("curve"):
        c = t.table("curve")
        curve = CurveConfig(
            server_secret_key=_key_path(c, "server_secret_key", base_dir, directory=False),
            control_keys=_key_path(c, "control_keys", base_dir, directory=True),
            readonly_keys=_key_path(c, "readonly_keys", base_dir, directory=True)
            if c.has("readonly_keys")
            else None,
        )
        c.done()
    dirs = tuple(
        p.resolve() if p.is_absolute() else (base_dir / p).resolve()
        for p in (Path(x) for x in _names(t, "strategy_dirs", ()))
    )
    for path in dirs:
        if not path.is_dir():
            raise t.error("strategy_dirs", f"{str(path)!r} is not a directory")
    modules = _names(t, "strategy_modules", d.strategy_modules)
    for module in modules:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", module):
            raise t.error("strategy_modules", f"expected dotted module names, got {module!r}")
    config = GatewayConfig(
        enabled=t.boolean("enabled", d.enabled),
        commands=_gateway_endpoint(t, "commands", d.commands),
        events=_gateway_endpoint(t, "events", d.events),
        heartbeat_s=t.number("heartbeat_s", d.heartbeat_s, minimum=0.01, maximum=3600.0),
        send_hwm=t.integer("send_hwm", d.send_hwm, minimum=1, maximum=10_000_000),
        queue_limit=t.integer("queue_limit", d.queue_limit, minimum=1, maximum=100_000_000),
        max_message_bytes=t.integer(
            "max_message_bytes", d.max_message_bytes, minimum=1024, maximum=64 * 1024 * 1024
        ),
        max_pending_commands=t.integer(
            "max_pending_commands", d.max_pending_commands, minimum=1, maximum=100_000
        ),
        publish_bars=t.boolean("publish_bars", d.publish_bars),
        strategy_modules=modules,
        strategy_dirs=dirs,
        allow_insecure=t.boolean("allow_insecure", d.allow_insecure),
        curve=curve,
    )
    if config.commands == config.events and not config.commands.endswith(":*"):
        raise t.error("events", f"expected an endpoint other than commands ({config.commands!r})")
    if curve is None and not config.allow_insecure:
        for key in ("commands", "events"):
            endpoint = getattr(config, key)
            if not is_loopback(endpoint):
                raise t.error(
                    key,
                    f"{endpoint!r} is reachable from other machines: configure [gateway.curve] "
                    "or set allow_insecure = true",
                )
    t.done()
    return config


def read_supervision(t: Table, base: SupervisionConfig) -> SupervisionConfig:
    """A ``[supervision]``-shaped table; keys it leaves out keep ``base``'s value."""
    config = SupervisionConfig(
        restart=RestartType(
            t.string("restart", base.restart.value, choices=[r.value for r in RestartType])
        ),
        max_restarts=t.integer("max_restarts", base.max_restarts, minimum=0),
        period_s=t.number("period_s", base.period_s, positive=True),
        backoff_min_s=t.number("backoff_min_s", base.backoff_min_s, minimum=0.0),
        backoff_max_s=t.number("backoff_max_s", base.backoff_max_s, minimum=0.0),
        jitter=t.number("jitter", base.jitter, minimum=0.0, maximum=1.0),
        shutdown_timeout_s=t.number("shutdown_timeout_s", base.shutdown_timeout_s, positive=True),
        health_interval_s=t.number("health_interval_s", base.health_interval_s, positive=True),
        health_timeout_s=t.number("health_timeout_s", base.health_timeout_s, positive=True),
        open_orders=OpenOrderPolicy(
            t.string(
                "open_orders", base.open_orders.value, choices=[p.value for p in OpenOrderPolicy]
            )
        ),
    )
    if config.backoff_max_s < config.backoff_min_s:
        raise t.error(
            "backoff_max_s",
            f"expected a number >= backoff_min_s ({config.backoff_min_s:g}), "
            f"got {config.backoff_max_s!r}",
        )
    t.done()
    return config


def _synthetic(t: Table) -> SyntheticConfig:
    d = SyntheticConfig()
    start = t.string("start", d.start)
    try:
        datetime.fromisoformat(start)
    except ValueError:
        raise t.error(
            "start", f"expected an ISO date-time like {d.start!r}, got {start!r}"
        ) from None
    config = SyntheticConfig(
        symbols=t.strings("symbols", d.symbols),
        seed=t.integer("seed", d.seed, minimum=0),
        start_price=t.number("start_price", d.start_price, positive=True),
        volatility=t.number("volatility", d.volatility, minimum=0.0, maximum=1.0),
        drift=t.number("drift", d.drift, minimum=-1.0, maximum=1.0),
        volume=t.number("volume", d.volume, positive=True),
        bars=t.integer("bars", d.bars, minimum=0),
        start=start,
    )
    t.done()
    return config


def _csv_source(t: Table, base_dir: Path) -> CsvSourceConfig:
    path = base_dir / t.string("path")
    if not path.is_file():
        raise t.error("path", f"data file not found: {path}")
    config = CsvSourceConfig(
        path=path,
        symbol=t.string("symbol"),
        kind=DataKind(t.string("kind", DataKind.BARS.value, choices=[k.value for k in DataKind])),
        interval_s=t.integer("interval_s", 0, minimum=0),
    )
    t.done()
    return config


def _execution(
    t: Table, engines_table: Table, supervision: SupervisionConfig
) -> tuple[ExecutionConfig, tuple[EngineConfig, ...]]:
    d = ExecutionConfig()
    names = t.strings("engines", d.engines)
    force = t.string("force", choices=names) if t.has("force") else ""
    config = ExecutionConfig(
        engines=names,
        cancel_on_shutdown=t.boolean("cancel_on_shutdown", d.cancel_on_shutdown),
        failover_threshold=t.integer("failover_threshold", d.failover_threshold, minimum=1),
        failback_after_s=t.number("failback_after_s", d.failback_after_s, positive=True),
        force=force,
    )
    t.done()
    defined = {name: engines_table.table(name) for name in engines_table.data}
    if not defined:
        defined = {"paper": Table(t.file, "engines.paper", {})}
    engines = []
    for name in names:
        if name not in defined:
            raise t.error(
                "engines",
                f"engine {name!r} has no [engines.{name}] table; defined: "
                f"{', '.join(sorted(defined)) or 'none'}",
            )
        if not _ID.match(name):
            raise t.error("engines", f"engine name {name!r} must be letters, digits, _ . -")
    for name, table in defined.items():
        engine = _engine(name, table, supervision)
        if name in names:
            engines.append(engine)
    engines_table.done()
    engines.sort(key=lambda e: names.index(e.name))
    return config, tuple(engines)


def _engine(name: str, t: Table, supervision: SupervisionConfig) -> EngineConfig:
    adapter = t.string("adapter", "paper", choices=ADAPTERS)
    venue = None
    if adapter == "venue" or t.has("venue"):
        if adapter != "venue":
            raise t.error("venue", f'[{t.key("venue")}] needs adapter = "venue"')
        venue = _venue(t.table("venue"))
    config = EngineConfig(
        name=name,
        adapter=adapter,
        paper=read_paper(t),
        venue=venue,
        faults=_faults(t.table("faults")) if t.has("faults") else None,
        supervision=read_supervision(t.table("supervision"), supervision),
        retry=_retry(t.table("retry")),
        breaker=_breaker(t.table("breaker")),
        rate_limit=_rate_limit(t.table("rate_limit")),
    )
    t.done()
    return config


def _retry(t: Table) -> RetryConfig:
    d = RetryConfig()
    config = RetryConfig(
        attempts=t.integer("attempts", d.attempts, minimum=1, maximum=100),
        backoff_min_s=t.number("backoff_min_s", d.backoff_min_s, minimum=0.0, maximum=3600.0),
        backoff_max_s=t.number("backoff_max_s", d.backoff_max_s, minimum=0.0, maximum=3600.0),
        jitter=t.number("jitter", d.jitter, minimum=0.0, maximum=1.0),
    )
    if config.backoff_max_s < config.backoff_min_s:
        raise t.error(
            "backoff_max_s",
            f"expected >= backoff_min_s ({config.backoff_min_s:g}), got {config.backoff_max_s:g}",
        )
    t.done()
    return config


def _breaker(t: Table) -> BreakerConfig:
    d = BreakerConfig()
    config = BreakerConfig(
        failures=t.integer("failures", d.failures, minimum=0),
        reset_s=t.number("reset_s", d.reset_s, positive=True, maximum=86_400.0),
    )
    t.done()
    return config


def _rate_limit(t: Table) -> RateLimitConfig:
    d = RateLimitConfig()
    config = RateLimitConfig(
        calls_per_s=t.number("calls_per_s", d.calls_per_s, minimum=0.0, maximum=1e6),
        burst=t.integer("burst", d.burst, minimum=0),
    )
    if 0 < config.calls_per_s < 0.001:
        raise t.error(
            "calls_per_s", f"expected 0 (no limit) or >= 0.001, got {config.calls_per_s!r}"
        )
    if config.burst and not config.calls_per_s:
        raise t.error("burst", "needs calls_per_s (the rate the bucket refills at)")
    t.done()
    return config


def read_paper(t: Table) -> PaperConfig:
    """The matching settings of a paper engine (also read by the venue); no ``done()``."""
    return PaperConfig(
        max_volume_share=t.number("max_volume_share", 0.0, minimum=0.0, maximum=1.0),
        slippage=_slippage(t.table("slippage")),
        commission=_commission(t.table("commission")),
    )


def _venue(t: Table) -> VenueConfig:
    d = VenueConfig(orders="", market_data="")
    config = VenueConfig(
        orders=_endpoint(t, "orders"),
        market_data=_endpoint(t, "market_data"),
        request_timeout_s=t.number("request_timeout_s", d.request_timeout_s, positive=True),
        heartbeat_s=t.number("heartbeat_s", d.heartbeat_s, positive=True),
    )
    t.done()
    return config


def _faults(t: Table) -> FaultConfig:
    d = FaultConfig()
    config = FaultConfig(
        seed=t.integer("seed", d.seed, minimum=0),
        fail_probability=t.number("fail_probability", d.fail_probability, minimum=0.0, maximum=1.0),
        fail_every=t.integer("fail_every", d.fail_every, minimum=0),
        hang_every=t.integer("hang_every", d.hang_every, minimum=0),
        hang_s=t.number("hang_s", d.hang_s, minimum=0.0),
        crash_every=t.integer("crash_every", d.crash_every, minimum=0),
        first_call=t.integer("first_call", d.first_call, minimum=1),
        fault_limit=t.integer("fault_limit", d.fault_limit, minimum=0),
        transient=t.boolean("transient", d.transient),
    )
    t.done()
    return config


def _slippage(t: Table) -> SlippageConfig:
    d = SlippageConfig()
    config = SlippageConfig(
        model=SlippageModel(
            t.string("model", d.model.value, choices=[m.value for m in SlippageModel])
        ),
        bps=t.number("bps", d.bps, minimum=0.0, maximum=10_000.0),
        impact_bps=t.number("impact_bps", d.impact_bps, minimum=0.0, maximum=10_000.0),
        exponent=t.number("exponent", d.exponent, positive=True, maximum=4.0),
    )
    t.done()
    return config


def _commission(t: Table) -> CommissionConfig:
    d = CommissionConfig()
    config = CommissionConfig(
        model=CommissionModel(
            t.string("model", d.model.value, choices=[m.value for m in CommissionModel])
        ),
        per_share=t.number("per_share", d.per_share, minimum=0.0),
        bps=t.number("bps", d.bps, minimum=0.0, maximum=10_000.0),
        minimum=t.number("minimum", d.minimum, minimum=0.0),
        max_pct=t.number("max_pct", d.max_pct, minimum=0.0, maximum=100.0),
    )
    t.done()
    return config


def _risk(t: Table, base: RiskConfig) -> RiskConfig:
    config = RiskConfig(
        max_order_quantity=t.number("max_order_quantity", base.max_order_quantity, minimum=0.0),
        max_order_notional=t.number("max_order_notional", base.max_order_notional, minimum=0.0),
        max_position=t.number("max_position", base.max_position, minimum=0.0),
        max_gross_exposure=t.number("max_gross_exposure", base.max_gross_exposure, minimum=0.0),
        max_net_exposure=t.number("max_net_exposure", base.max_net_exposure, minimum=0.0),
        max_open_orders=t.integer("max_open_orders", base.max_open_orders, minimum=0),
        max_orders_per_s=t.number(
            "max_orders_per_s", base.max_orders_per_s, minimum=0.0, maximum=1e6
        ),
        order_burst=t.integer("order_burst", base.order_burst, minimum=0),
        price_collar_pct=t.number(
            "price_collar_pct", base.price_collar_pct, minimum=0.0, maximum=1000.0
        ),
        daily_loss_limit=t.number("daily_loss_limit", base.daily_loss_limit, minimum=0.0),
        max_consecutive_losses=t.integer(
            "max_consecutive_losses", base.max_consecutive_losses, minimum=0
        ),
        trading_hours=_trading_hours(t, base.trading_hours),
    )
    if t.has("order_burst") and config.order_burst and not config.max_orders_per_s:
        raise t.error("order_burst", "needs max_orders_per_s (the rate the bucket refills at)")
    t.done()
    return config


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@functools.cache
def _zones() -> frozenset[str]:
    """Real IANA zone names (not ``localtime``, ``posixrules`` or the ``right/`` copies)."""
    return frozenset(
        z
        for z in zoneinfo.available_timezones()
        if z not in {"localtime", "posixrules", "Factory"}
        and not z.startswith(("right/", "posix/"))
    )


_CLOCK = re.compile(r"^([0-9]{2}):([0-9]{2})$", re.ASCII)


def _clock_time(t: Table, window: str, text: str) -> dt.time:
    match = _CLOCK.match(text)
    try:
        if match is None:
            raise ValueError(text)
        return dt.time(int(match[1]), int(match[2]))
    except ValueError:
        raise t.error(
            "trading_hours", f'expected "HH:MM-HH:MM" (e.g. "09:30-16:00"), got {window!r}'
        ) from None


def _trading_hours(t: Table, base: TradingHours | None) -> TradingHours | None:
    """``trading_hours = "HH:MM-HH:MM"`` with ``timezone`` and ``trading_days``;
    an empty string lifts an inherited window."""
    for key in ("trading_hours", "timezone", "trading_days"):
        t.raw(key, None)  # known keys, even when absent (for the unknown-key message)
    if not (t.has("trading_hours") or t.has("timezone") or t.has("trading_days")):
        return base
    default_window = "" if base is None else f"{base.start:%H:%M}-{base.end:%H:%M}"
    raw = t.raw("trading_hours", default_window)
    if raw == "":
        for key in ("timezone", "trading_days"):
            if t.has(key):
                raise t.error(key, "needs trading_hours")
        return None
    window = t.string("trading_hours", default_window)
    start_text, dash, end_text = window.partition("-")
    if not dash:
        raise t.error(
            "trading_hours", f'expected "HH:MM-HH:MM" (e.g. "09:30-16:00"), got {window!r}'
        )
    start = _clock_time(t, window, start_text.strip())
    end = _clock_time(t, window, end_text.strip())
    if start == end:
        raise t.error("trading_hours", f"start and end are the same time in {window!r}")
    timezone = t.string("timezone", base.timezone if base is not None else "UTC")
    if timezone not in _zones():
        raise t.error("timezone", f"unknown IANA time zone {timezone!r}")
    base_days = base.weekdays if base is not None else (0, 1, 2, 3, 4)
    days = tuple(
        d.lower() for d in t.strings("trading_days", tuple(_WEEKDAYS[d] for d in base_days))
    )
    for day in days:
        if day not in _WEEKDAYS:
            expected = ", ".join(_WEEKDAYS)
            raise t.error("trading_days", f"expected days among {expected}; got {day!r}")
    return TradingHours(
        start=start,
        end=end,
        timezone=timezone,
        weekdays=tuple(sorted(_WEEKDAYS.index(d) for d in days)),
    )


def _portfolio(t: Table) -> PortfolioConfig:
    config = PortfolioConfig(
        starting_cash=t.number("starting_cash", PortfolioConfig().starting_cash, positive=True)
    )
    t.done()
    return config


def _feed_symbols(feed: FeedConfig) -> tuple[str, ...] | None:
    """Symbols the feed publishes; None when only the venue knows (checked at run time)."""
    if feed.source is FeedSource.CSV:
        return tuple(c.symbol for c in feed.csv)
    if feed.source is FeedSource.VENUE:
        return None
    return feed.synthetic.symbols


def _strategies(
    tables: list[Table], feed: FeedConfig, global_risk: RiskConfig, supervision: SupervisionConfig
) -> tuple[StrategyConfig, ...]:
    seen: set[str] = set()
    result = []
    for t in tables:
        config = read_strategy(
            t, feed=feed, global_risk=global_risk, supervision=supervision, load=import_strategy
        )
        if config.id in seen:
            raise t.error("id", f"duplicate strategy id {config.id!r}")
        seen.add(config.id)
        result.append(config)
    return tuple(result)


StrategyLoader = Callable[[Table, str], type[Any]]
"""Turns the ``class`` value of a strategy table into the class (raising
``SettingsError`` about key ``class``)."""


def read_strategy(
    t: Table,
    *,
    feed: FeedConfig,
    global_risk: RiskConfig,
    supervision: SupervisionConfig,
    load: StrategyLoader,
) -> StrategyConfig:
    """One ``[[strategies]]``-shaped table (also an ``add_strategy`` request's
    arguments): id, class (through ``load``), symbols, params, risk, supervision."""
    strategy_id = t.string("id")
    if not _ID.match(strategy_id):
        raise t.error("id", f"expected letters, digits, _ . - (max 64), got {strategy_id!r}")
    if strategy_id in RESERVED_STRATEGY_IDS:
        raise t.error("id", f"{strategy_id!r} is reserved for orders entered by an operator")
    class_path = t.string("class")
    cls = load(t, class_path)
    symbols = t.strings("symbols")
    published = _feed_symbols(feed)
    for symbol in symbols:
        if published is not None and symbol not in published:
            raise t.error(
                "symbols",
                f"{symbol!r} is not published by the feed (it publishes: {', '.join(published)})",
            )
    params = _params(t.table("params"), cls)
    risk = _risk(t.table("risk"), global_risk) if t.has("risk") else None
    strategy_supervision = read_supervision(t.table("supervision"), supervision)
    t.done()
    return StrategyConfig(
        id=strategy_id,
        class_path=class_path,
        strategy_class=cls,
        symbols=symbols,
        params=params,
        risk=risk,
        supervision=strategy_supervision,
    )


def import_strategy(t: Table, class_path: str) -> type[Any]:
    """``module:Class``, imported and checked to be a :class:`strategies.Strategy`."""
    module_name, sep, class_name = class_path.partition(":")
    if not sep or not module_name or not class_name:
        raise t.error("class", f"expected 'module:Class', got {class_path!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise t.error("class", f"cannot import module {module_name!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise t.error("class", f"module {module_name!r} has no {class_name!r}")
    return check_strategy_class(t, class_path, cls)


def check_strategy_class(t: Table, class_path: str, cls: Any) -> type[Any]:
    """``cls`` if it is a :class:`strategies.Strategy` subclass; else a SettingsError."""
    if not isinstance(cls, type) or not issubclass(cls, Strategy):
        raise t.error("class", f"{class_path!r} is not a subclass of strategies.Strategy")
    return cls


def _params(t: Table, cls: type[Any]) -> Any:
    params_cls: Any = cls.Params
    if not is_dataclass(params_cls):
        raise t.error("", f"{cls.__name__}.Params must be a dataclass")
    hints = typing.get_type_hints(params_cls)
    values: dict[str, Any] = {}
    for f in fields(params_cls):
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if not t.has(f.name):
            if not has_default:
                raise t.error(f.name, f"missing; {cls.__name__} requires this parameter")
            continue
        values[f.name] = _param_value(t, f.name, hints[f.name])
    known = {f.name for f in fields(params_cls)}
    for name in t.data:
        if name not in known:
            raise t.error(
                name,
                f"unknown parameter of {cls.__name__}; expected one of: "
                f"{', '.join(sorted(known)) or 'none'}",
            )
    try:
        params = cls.Params(**values)
        validate = getattr(params, "validate", None)
        if callable(validate):
            validate()
    except (TypeError, ValueError) as exc:
        raise InvalidParamsError(
            t.file, t.path, f"invalid parameters for {cls.__name__}: {exc}"
        ) from None
    return params


def with_params(
    settings: Settings, strategy_id: str, values: Mapping[str, Any], *, origin: str
) -> Settings:
    """``settings`` with some parameters of one strategy replaced by ``values``,
    checked exactly as the settings file's ``[strategies.params]`` are (types,
    unknown names, ``Params.validate``).

    ``origin`` names where the values came from (``--param``) in errors.
    Raises :class:`SettingsError` for an unknown strategy or a bad value.
    """
    configs = {s.id: s for s in settings.strategies}
    strategy = configs.get(strategy_id)
    if strategy is None:
        known = ", ".join(configs) or "none"
        raise SettingsError(
            settings.source, origin, f"no strategy {strategy_id!r}; strategies: {known}"
        )
    current = {
        f.name: list(v) if isinstance(v := getattr(strategy.params, f.name), tuple) else v
        for f in fields(strategy.params)
    }
    table = Table(origin, f"strategies[{strategy_id}].params", {**current, **values})
    params = _params(table, strategy.strategy_class)
    strategies = tuple(
        dataclasses.replace(s, params=params) if s.id == strategy_id else s
        for s in settings.strategies
    )
    return dataclasses.replace(settings, strategies=strategies)


def _param_value(t: Table, name: str, hint: Any) -> Any:
    if hint is bool:
        return t.boolean(name)
    if hint is int:
        return t.integer(name)
    if hint is float:
        return t.number(name)
    if hint is str:
        return t.string(name)
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[:1] == (str,):
        return t.strings(name)
    raise t.error(name, f"parameter type {hint!r} cannot be set from settings")
