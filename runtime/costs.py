"""Trading cost models of the paper engine: slippage and commission.

Both are small value objects built once from their frozen config and then
called per fill, so they precompute what they can and keep ``per_unit`` and
``fee`` branch-light. Neither keeps state between calls.
"""

from __future__ import annotations

import math

from runtime.config import CommissionConfig, CommissionModel, SlippageConfig, SlippageModel

__all__ = ["Commission", "Slippage"]

_BPS = 1e-4
_MAX_PARTICIPATION = 1e6
"""Guard for ``q / V``: keeps ``** exponent`` finite for a nonsensically small volume."""


def _check_non_negative(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{owner}.{name} must be a finite number >= 0, got {value!r}")


class Slippage:
    """How far a fill moves against the order, per unit, from a :class:`SlippageConfig`.

    With ``p`` the unslipped fill price, ``q`` the fill quantity and ``V`` the
    volume of the bar (or tick size) it fills in, the adverse move per unit is

    - ``none``: ``0``;
    - ``fixed_bps``: ``p * bps / 10_000``;
    - ``volume_share``: ``p * (bps + impact_bps * (q / V) ** exponent) / 10_000``,
      and ``p * bps / 10_000`` when ``V <= 0`` (volume unknown).

    ``|p|`` is used in place of ``p`` so that the move stays >= 0 for the rare
    instrument that trades at a negative price, and ``q / V`` is capped at
    one million so that a nonsensically small volume cannot overflow.

    The matching engine adds it to buys and subtracts it from sells.

    Raises:
        ValueError: a parameter is negative or not finite.
    """

    __slots__ = ("_bps", "_exponent", "_impact_bps", "_model")

    def __init__(self, config: SlippageConfig) -> None:
        _check_non_negative(
            "slippage", bps=config.bps, impact_bps=config.impact_bps, exponent=config.exponent
        )
        self._model = config.model
        self._bps = config.bps
        self._impact_bps = config.impact_bps
        self._exponent = config.exponent

    @property
    def model(self) -> SlippageModel:
        """The configured model."""
        return self._model

    def per_unit(self, price: float, quantity: float, volume: float) -> float:
        """Adverse price move per unit (>= 0) for ``quantity`` at ``price`` in a bar of ``volume``.

        See the class docstring for the formulas; ``volume <= 0`` means unknown.
        """
        model = self._model
        if model is SlippageModel.NONE:
            return 0.0
        bps = self._bps
        if model is SlippageModel.VOLUME_SHARE and volume > 0:
            participation = min(quantity / volume, _MAX_PARTICIPATION)
            bps += self._impact_bps * participation**self._exponent
        return abs(price) * bps * _BPS


class Commission:
    """Fees charged per fill, from a :class:`CommissionConfig`.

    With ``q`` the fill quantity, ``p`` its price and ``N = q * |p|`` its notional:

    - ``none``: ``0``;
    - ``per_share``: ``max(q * per_share, minimum)``, then, when ``max_pct > 0``,
      ``min(that, N * max_pct / 100)``: the cap wins over the minimum;
    - ``bps``: ``max(N * bps / 10_000, minimum)``.

    Raises:
        ValueError: a parameter is negative or not finite.
    """

    __slots__ = ("_bps", "_max_pct", "_minimum", "_model", "_per_share")

    def __init__(self, config: CommissionConfig) -> None:
        _check_non_negative(
            "commission",
            per_share=config.per_share,
            bps=config.bps,
            minimum=config.minimum,
            max_pct=config.max_pct,
        )
        self._model = config.model
        self._per_share = config.per_share
        self._bps = config.bps
        self._minimum = config.minimum
        self._max_pct = config.max_pct

    @property
    def model(self) -> CommissionModel:
        """The configured model."""
        return self._model

    def fee(self, quantity: float, price: float) -> float:
        """Commission (>= 0) for one fill of ``quantity`` at ``price``.

        See the class docstring for the formulas.
        """
        model = self._model
        if model is CommissionModel.NONE:
            return 0.0
        notional = abs(quantity * price)
        if model is CommissionModel.PER_SHARE:
            fee = max(abs(quantity) * self._per_share, self._minimum)
            if self._max_pct > 0:
                fee = min(fee, notional * self._max_pct / 100.0)
            return fee
        return max(notional * self._bps * _BPS, self._minimum)
