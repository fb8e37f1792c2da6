"""Frozen, typed configuration: one class per component.

These are built once, by :mod:`runtime.settings`, from the TOML file, and are
already validated when constructed there. Nothing deeper in the runtime reads
raw TOML dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "CommissionConfig",
    "CommissionModel",
    "CsvSourceConfig",
    "DataKind",
    "EngineConfig",
    "ExecutionConfig",
    "FeedConfig",
    "FeedSource",
    "PaperConfig",
    "PortfolioConfig",
    "RiskConfig",
    "RuntimeConfig",
    "Settings",
    "SlippageConfig",
    "SlippageModel",
    "StrategyConfig",
    "SyntheticConfig",
]


class FeedSource(StrEnum):
    """Where market data comes from."""

    SYNTHETIC = "synthetic"
    CSV = "csv"


class DataKind(StrEnum):
    """What rows of a CSV file become."""

    BARS = "bars"
    TICKS = "ticks"


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
class EngineConfig:
    """``[engines.NAME]``: one execution engine and its broker adapter."""

    name: str
    """The table name, used in ``[execution] engines``."""
    adapter: str = "paper"
    """Adapter kind; ``paper`` is built in."""
    paper: PaperConfig = field(default_factory=PaperConfig)
    """Settings of the paper adapter."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionConfig:
    """``[execution]``: which engines route orders, primary first."""

    engines: tuple[str, ...] = ("paper",)
    """Engine names; the first is the primary, the rest are backups."""
    cancel_on_shutdown: bool = True
    """Cancel working orders when the runtime stops."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskConfig:
    """``[risk]`` (and per strategy ``[strategies.risk]``): pre-trade limits."""

    max_order_quantity: float = 0.0
    """Largest quantity of one order; 0 means no limit."""
    max_order_notional: float = 0.0
    """Largest quantity x price of one order; 0 means no limit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioConfig:
    """``[portfolio]``: the account."""

    starting_cash: float = 1_000_000.0
    """Cash at start, in the quote currency."""


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The whole validated settings file."""

    source: str
    """Path of the file it came from (for messages)."""
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    """``[runtime]``."""
    feed: FeedConfig = field(default_factory=FeedConfig)
    """``[feed]``."""
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
