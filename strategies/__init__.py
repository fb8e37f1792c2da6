"""Strategy base class and example strategies."""

from strategies.base import NoParams, Strategy, StrategyContext
from strategies.bollinger import BollingerReversion
from strategies.sma_crossover import SmaCrossover

__all__ = ["BollingerReversion", "NoParams", "SmaCrossover", "Strategy", "StrategyContext"]
