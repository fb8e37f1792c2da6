"""Frozen, typed configuration: one class per component.

These are built once, by :mod:`runtime.settings`, from the TOML file, and are
already validated when constructed there. Nothing deeper in the runtime reads
raw TOML dictionaries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "BreakerConfig",
    "CommissionConfig",
    "CommissionModel",
    "CsvSourceConfig",
    "CurveConfig",
    "DataKind",
    "EngineConfig",
    "ExecutionConfig",
    "FaultConfig",
    "FeedConfig",
    "FeedSource",
    "GatewayConfig",
    "JournalConfig",
    "OpenOrderPolicy",
    "PaperConfig",
    "PortfolioConfig",
    "RateLimitConfig",
    "RestartType",
    "RetryConfig",
    "RiskConfig",
    "RuntimeConfig",
    "Settings",
    "SlippageConfig",
    "SlippageModel",
    "StrategyConfig",
    "SupervisionConfig",
    "SyncMode",
    "SyntheticConfig",
    "TradingHours",
    "VenueConfig",
]


class FeedSource(StrEnum):
    """Where market data comes from."""

    SYNTHETIC = "synthetic"
    CSV = "csv"
    VENUE = "venue"


class DataKind(StrEnum):
    """What rows of a CSV file become."""

    BARS = "bars"
    TICKS = "ticks"


class RestartType(StrEnum):
    """When the supervisor restarts a child (Erlang/OTP restart types)."""

    PERMANENT = "permanent"
    """Always: after a failure and after it stopped by itself."""
    TRANSIENT = "transient"
    """Only after a failure."""
    TEMPORARY = "temporary"
    """Never: a failure is reported and the child stays stopped."""


class OpenOrderPolicy(StrEnum):
    """What happens to a quarantined strategy's working orders."""

    CANCEL = "cancel"
    """Cancel them at their engine."""
    KEEP = "keep"
    """Leave them working; their updates and fills are still booked."""


class SlippageModel(StrEnum):
    """Slippage model of the paper engine."""

    NONE = "none"
    FIXED_BPS = "fixed_bps"
    VOLUME_SHARE = "volume_share"


class CommissionModel(StrEnum):
    """Commission model of the paper engine."""

    NONE = "none"
    PER_SHARE = "per_share"
    BPS = "bps"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeConfig:
    """``[runtime]``: process-wide settings."""

    name: str = "tradepit"
    """Name of this runtime, shown in the log when it starts."""
    log_level: str = "INFO"
    """loguru level: TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR."""
    shutdown_timeout_s: float = 10.0
    """How long a graceful shutdown waits for each step before moving on."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticConfig:
    """``[feed.synthetic]``: a seeded geometric random walk per symbol."""

    symbols: tuple[str, ...] = ("SYN-A", "SYN-B", "SYN-C")
    """Symbols to generate."""
    seed: int = 7
    """Random seed: the same seed gives the same bars."""
    start_price: float = 100.0
    """First open of every symbol."""
    volatility: float = 0.002
    """Standard deviation of the per-bar log return."""
    drift: float = 0.0
    """Mean of the per-bar log return."""
    volume: float = 10_000.0
    """Mean volume per bar."""
    bars: int = 0
    """Bars per symbol; 0 runs forever."""
    start: str = "2024-01-02T09:30:00"
    """ISO timestamp (UTC) of the first bar."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CsvSourceConfig:
    """One ``[[feed.csv]]`` entry: a file replayed as one symbol."""

    path: Path
    """The file (resolved against the settings file's folder)."""
    symbol: str
    """Symbol its rows are published under."""
    kind: DataKind = DataKind.BARS
    """Bars, or ticks (trade price = close, size = volume)."""
    interval_s: int = 0
    """Bar length in seconds; 0 infers it: the smallest gap among the first ten timestamps."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedConfig:
    """``[feed]``: the market-data source and how fast it is replayed."""

    source: FeedSource = FeedSource.SYNTHETIC
    """``synthetic`` or ``csv``."""
    interval_s: int = 60
    """Bar length of synthetic data, seconds."""
    speed: float = 0.0
    """0 replays as fast as possible; otherwise market time runs ``speed`` x wall time."""
    lockstep: bool = False
    """Deliver one timestamp at a time and wait until every order it causes
    reached the engine: deterministic, as a backtest."""
    max_in_flight: int = 256
    """At full speed without lockstep, how many bars may be queued at
    subscribers before the feed waits for them (back-pressure)."""
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    """Synthetic source settings."""
    csv: tuple[CsvSourceConfig, ...] = ()
    """CSV files to replay, merged by timestamp."""
    venue: str = ""
    """``[feed.venue] market_data``: the venue's PUB endpoint, for ``source = "venue"``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SlippageConfig:
    """``[engines.NAME.slippage]``: how far fills move against the order.

    ``fixed_bps``: every fill moves ``bps`` basis points against the order.
    ``volume_share``: moves ``bps + impact_bps * (qty / bar volume) ** exponent``
    basis points (square-root law with the default exponent 0.5).
    """

    model: SlippageModel = SlippageModel.NONE
    """none, fixed_bps or volume_share."""
    bps: float = 0.0
    """Fixed part, basis points."""
    impact_bps: float = 0.0
    """Volume-share part at 100% participation, basis points."""
    exponent: float = 0.5
    """Exponent of the participation in the volume-share model."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommissionConfig:
    """``[engines.NAME.commission]``: fees per fill.

    ``per_share``: ``max(qty * per_share, minimum)``, capped at
    ``max_pct`` percent of notional when ``max_pct`` > 0.
    ``bps``: ``max(notional * bps / 10_000, minimum)``.
    """

    model: CommissionModel = CommissionModel.NONE
    """none, per_share or bps."""
    per_share: float = 0.0
    """Fee per unit for ``per_share``."""
    bps: float = 0.0
    """Fee in basis points of notional for ``bps``."""
    minimum: float = 0.0
    """Minimum fee per fill."""
    max_pct: float = 0.0
    """Cap as percent of notional for ``per_share``; 0 means no cap."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperConfig:
    """Matching settings of the paper adapter."""

    max_volume_share: float = 0.0
    """Largest share (0..1) of a bar's (or tick's) volume one order may take;
    the rest carries to the next bar. 0 disables the cap."""
    slippage: SlippageConfig = field(default_factory=SlippageConfig)
    """Slippage model."""
    commission: CommissionConfig = field(default_factory=CommissionConfig)
    """Commission model."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisionConfig:
    """``[supervision]`` defaults, ``[strategies.supervision]`` and
    ``[engines.NAME.supervision]`` overrides: how the supervisor treats a child."""

    restart: RestartType = RestartType.PERMANENT
    """When to restart the child."""
    max_restarts: int = 5
    """Restart intensity: at most this many restarts within ``period_s``..."""
    period_s: float = 60.0
    """...past which a strategy is quarantined, an engine failed over and a
    core actor halts trading."""
    backoff_min_s: float = 0.0
    """Delay before the first restart of a streak."""
    backoff_max_s: float = 5.0
    """Longest delay; each restart within the window doubles the previous one."""
    jitter: float = 0.1
    """Random spread of each delay, as a fraction (0.1: +-10%), kept within
    ``[backoff_min_s, backoff_max_s]``."""
    shutdown_timeout_s: float = 10.0
    """How long a stopping child may take before it is abandoned."""
    health_interval_s: float = 1.0
    """How often the child is probed."""
    health_timeout_s: float = 5.0
    """A probe unanswered for this long counts as a failure; the child is replaced."""
    open_orders: OpenOrderPolicy = OpenOrderPolicy.CANCEL
    """Strategies: what happens to working orders when it is quarantined."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueConfig:
    """``[engines.NAME.venue]``: where a ``venue`` adapter connects."""

    orders: str
    """The venue's ROUTER endpoint (orders), e.g. ``tcp://127.0.0.1:5701``."""
    market_data: str
    """The venue's PUB endpoint (market data)."""
    request_timeout_s: float = 2.0
    """A request unanswered this long is a fault, and its order UNKNOWN."""
    heartbeat_s: float = 0.5
    """Heartbeat period; healthy while the last answer is under 3 periods old."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryConfig:
    """``[engines.NAME.retry]``: how transient adapter errors are retried."""

    attempts: int = 3
    """Calls in all, the first included (1: no retry)."""
    backoff_min_s: float = 0.05
    """Delay before the first retry; each next one doubles."""
    backoff_max_s: float = 2.0
    """Longest delay."""
    jitter: float = 0.1
    """Random spread of each delay, as a fraction, within the bounds."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerConfig:
    """``[engines.NAME.breaker]``: the engine's circuit breaker."""

    failures: int = 5
    """Consecutive failed calls that open the circuit (0: never opens)."""
    reset_s: float = 30.0
    """An open circuit lets calls through on trial after this long: the first
    success closes it, the first transient failure opens it again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitConfig:
    """``[engines.NAME.rate_limit]``: calls to the adapter per second."""

    calls_per_s: float = 0.0
    """Sustained calls per second (0: unlimited); excess calls wait their turn."""
    burst: int = 0
    """Calls allowed at once; 0 means ``ceil(calls_per_s)``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultConfig:
    """``[engines.NAME.faults]``: wrap the adapter in seeded fault injection (tests, drills)."""

    seed: int = 0
    """Seed of the random faults: the same seed fails the same calls."""
    fail_probability: float = 0.0
    """Chance that a call raises an error."""
    fail_every: int = 0
    """Every Nth call raises an error (0: never)."""
    hang_every: int = 0
    """Every Nth call blocks for ``hang_s`` (0: never)."""
    hang_s: float = 0.0
    """How long a hanging call blocks."""
    crash_every: int = 0
    """Every Nth call raises a BaseException, as a broken library would (0: never)."""
    first_call: int = 1
    """Calls before this one (1-based) never fail: lets a run warm up first."""
    fault_limit: int = 0
    """Stop injecting after this many faults (0: never stop): a broker that recovers."""
    transient: bool = False
    """Injected errors are transient (retried by the engine) rather than permanent."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """``[engines.NAME]``: one execution engine and its broker adapter."""

    name: str
    """The table name, used in ``[execution] engines``."""
    adapter: str = "paper"
    """Adapter kind: ``paper`` (in process) or ``venue`` (a ``tradepit venue`` process)."""
    paper: PaperConfig = field(default_factory=PaperConfig)
    """Settings of the paper adapter."""
    venue: VenueConfig | None = None
    """Endpoints of the venue adapter."""
    faults: FaultConfig | None = None
    """Fault injection around the adapter; None: none."""
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    """How the supervisor treats this engine's actor."""
    retry: RetryConfig = field(default_factory=RetryConfig)
    """Retries of transient adapter errors."""
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    """The engine's circuit breaker."""
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    """Calls to the adapter per second."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionConfig:
    """``[execution]``: which engines route orders, primary first."""

    engines: tuple[str, ...] = ("paper",)
    """Engine names; the first is the primary, the rest are backups."""
    cancel_on_shutdown: bool = True
    """Cancel working orders when the runtime stops."""
    failover_threshold: int = 5
    """Failures of the active engine that make the runtime switch to the next one."""
    failback_after_s: float = 300.0
    """After a failover, probe the primary this often and restore it once healthy."""
    force: str = ""
    """Pin this engine: no failover or failback while set (empty: automatic)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TradingHours:
    """``trading_hours``: when new orders may be sent, in the market's local time."""

    start: dt.time
    """Opening time (inclusive)."""
    end: dt.time
    """Closing time (exclusive); earlier than ``start`` for a session across midnight."""
    timezone: str = "UTC"
    """IANA time zone of ``start`` and ``end`` (``America/New_York``)."""
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Days the window is open, 0 = Monday ... 6 = Sunday (of the day it opens)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskConfig:
    """``[risk]`` (and per strategy ``[strategies.risk]``): pre-trade limits.

    Every limit applies to one strategy's own orders, positions and P&L; 0
    (or an empty ``trading_hours``) means no limit. ``[risk]`` sets them for
    every strategy, ``[strategies.risk]`` replaces some of them for one. The
    daily loss limit of ``[risk]`` also applies to the whole account.
    """

    max_order_quantity: float = 0.0
    """Largest quantity of one order."""
    max_order_notional: float = 0.0
    """Largest quantity x price of one order."""
    max_position: float = 0.0
    """Largest absolute position in one symbol, counting working orders that add to it."""
    max_gross_exposure: float = 0.0
    """Largest sum of |quantity x price| over symbols, working orders included."""
    max_net_exposure: float = 0.0
    """Largest |sum of signed quantity x price| over symbols, working orders included."""
    max_open_orders: int = 0
    """Most orders working at once."""
    max_orders_per_s: float = 0.0
    """Order rate limit (token bucket refilled at this rate, wall clock)."""
    order_burst: int = 0
    """Token bucket size: orders allowed at once; 0 means ``ceil(max_orders_per_s)``."""
    price_collar_pct: float = 0.0
    """A limit price further than this percent from the last price is refused."""
    daily_loss_limit: float = 0.0
    """Kill switch: realized plus unrealized P&L of the market day (fees included)
    at or below minus this amount halts trading and cancels every open order."""
    max_consecutive_losses: int = 0
    """This many losing round trips in a row pause the strategy."""
    trading_hours: TradingHours | None = None
    """Window in which new orders are accepted (by market time); None: always."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioConfig:
    """``[portfolio]``: the account."""

    starting_cash: float = 1_000_000.0
    """Cash at start, in the quote currency."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CurveConfig:
    """``[gateway.curve]``: CURVE encryption and client authentication.

    Key files are those ``tradepit keys`` writes (ZeroMQ certificate files).
    A client is let in only if its public key is in one of the two
    directories; its role follows from which one.
    """

    server_secret_key: Path
    """Certificate file holding the server's public and secret key."""
    control_keys: Path
    """Directory of public-key files of clients allowed every command."""
    readonly_keys: Path | None = None
    """Directory of public-key files of clients that may subscribe and query only."""


class SyncMode(StrEnum):
    """SQLite ``synchronous`` of the journal (docs/journal.md says what each risks)."""

    NORMAL = "NORMAL"
    """WAL is synced at checkpoints only: a power loss may lose the last commits;
    a process crash (``kill -9``) loses nothing."""
    FULL = "FULL"
    """WAL is synced at every commit: nothing committed is lost, power loss included."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalConfig:
    """``[journal]``: the SQLite journal and crash recovery (docs/journal.md)."""

    enabled: bool = False
    """Whether the runtime journals at all (and recovers from a journal at start)."""
    path: Path = Path("var/journal.sqlite")
    """The journal file (its folder is created); relative paths resolve against the
    settings file's folder."""
    synchronous: SyncMode = SyncMode.FULL
    """SQLite ``synchronous``: FULL (every commit synced) or NORMAL."""
    batch_max: int = 512
    """Most records written in one transaction."""
    batch_delay_s: float = 0.0
    """How long an idle journal waits for more records before committing (0: commit as
    soon as nothing else waits; a burst still shares one transaction)."""
    recovery_timeout_s: float = 10.0
    """How long recovery waits for each engine to answer for the orders it held."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """``[gateway]``: the ZeroMQ event stream and command channel (docs/protocol.md)."""

    enabled: bool = False
    """Whether the runtime binds the two sockets at all."""
    commands: str = "tcp://127.0.0.1:5600"
    """ROUTER endpoint for commands (``tcp://HOST:*`` picks a free port)."""
    events: str = "tcp://127.0.0.1:5601"
    """PUB endpoint for the event stream."""
    heartbeat_s: float = 1.0
    """A ``heartbeat`` event is published this often, traffic or not."""
    send_hwm: int = 10_000
    """Events queued per subscriber inside ZeroMQ; beyond it that subscriber misses events."""
    queue_limit: int = 100_000
    """Events waiting for the gateway thread; beyond it new events are dropped and counted."""
    max_message_bytes: int = 65_536
    """Largest command message accepted; a larger one disconnects the sender."""
    max_pending_commands: int = 64
    """Commands waiting to run; more are answered ``BUSY`` at once."""
    publish_bars: bool = False
    """Publish every bar on ``bar.<SYMBOL>`` (volume: off by default)."""
    strategy_modules: tuple[str, ...] = ("strategies",)
    """Packages or modules ``add_strategy`` may import a ``module:Class`` from."""
    strategy_dirs: tuple[Path, ...] = ()
    """Directories ``add_strategy`` may load a ``file.py:Class`` from."""
    allow_insecure: bool = False
    """Allow a non-loopback endpoint without CURVE (logged as a warning)."""
    curve: CurveConfig | None = None
    """CURVE keys; None: plain sockets (only on loopback unless ``allow_insecure``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyConfig:
    """One ``[[strategies]]`` entry."""

    id: str
    """Unique id; also the actor name ``strategy.<id>``."""
    class_path: str
    """``module:Class`` of a :class:`strategies.Strategy` subclass."""
    strategy_class: type[Any]
    """The class itself, imported and checked when settings were read."""
    symbols: tuple[str, ...]
    """Symbols whose data it receives."""
    params: Any
    """An instance of the class's ``Params``, validated."""
    risk: RiskConfig | None = None
    """Per-strategy limits: each limit set in ``[strategies.risk]`` replaces the
    global one for this strategy (0 lifts it); unset ones keep the global value."""
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    """How the supervisor treats this strategy's actor."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The whole validated settings file."""

    source: str
    """Path of the file it came from (for messages)."""
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    """``[runtime]``."""
    feed: FeedConfig = field(default_factory=FeedConfig)
    """``[feed]``."""
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    """``[supervision]``: defaults for every actor (core actors use them as they are)."""
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    """``[execution]``."""
    engines: tuple[EngineConfig, ...] = (EngineConfig(name="paper"),)
    """``[engines.*]``, in ``execution.engines`` order."""
    risk: RiskConfig = field(default_factory=RiskConfig)
    """``[risk]``."""
    portfolio: PortfolioConfig = field(default_factory=PortfolioConfig)
    """``[portfolio]``."""
    strategies: tuple[StrategyConfig, ...] = ()
    """``[[strategies]]``."""
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    """``[gateway]``."""
    journal: JournalConfig = field(default_factory=JournalConfig)
    """``[journal]``."""
