"""Slippage and commission models, with hand-computed expectations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import costs
from runtime.config import CommissionConfig, CommissionModel, SlippageConfig, SlippageModel
from runtime.costs import Commission, Slippage


def test_costs_exports_exactly_its_public_names() -> None:
    assert costs.__all__ == ["Commission", "Slippage"]


# --- slippage ----------------------------------------------------------------


def test_no_slippage_model_moves_nothing() -> None:
    slippage = Slippage(SlippageConfig(model=SlippageModel.NONE, bps=50.0, impact_bps=50.0))
    assert slippage.per_unit(100.0, 1_000.0, 10.0) == 0.0


def test_fixed_bps_slippage_is_price_times_bps() -> None:
    slippage = Slippage(SlippageConfig(model=SlippageModel.FIXED_BPS, bps=5.0))
    # 100 * 5 / 10_000
    assert slippage.per_unit(100.0, 1.0, 0.0) == pytest.approx(0.05)
    # does not depend on quantity or volume
    assert slippage.per_unit(100.0, 5_000.0, 10.0) == pytest.approx(0.05)


def test_volume_share_slippage_adds_square_root_impact() -> None:
    config = SlippageConfig(
        model=SlippageModel.VOLUME_SHARE, bps=1.0, impact_bps=100.0, exponent=0.5
    )
    # participation 100 / 10_000 = 0.01, sqrt = 0.1, 1 + 100 * 0.1 = 11 bps of 50
    assert Slippage(config).per_unit(50.0, 100.0, 10_000.0) == pytest.approx(0.055)


def test_volume_share_slippage_with_linear_exponent() -> None:
    config = SlippageConfig(model=SlippageModel.VOLUME_SHARE, impact_bps=20.0, exponent=1.0)
    # participation 0.5, 20 * 0.5 = 10 bps of 200
    assert Slippage(config).per_unit(200.0, 500.0, 1_000.0) == pytest.approx(0.2)


def test_volume_share_slippage_with_unknown_volume_uses_only_the_fixed_part() -> None:
    config = SlippageConfig(model=SlippageModel.VOLUME_SHARE, bps=1.0, impact_bps=100.0)
    assert Slippage(config).per_unit(50.0, 100.0, 0.0) == pytest.approx(0.005)
    assert Slippage(config).per_unit(50.0, 100.0, -1.0) == pytest.approx(0.005)


@pytest.mark.parametrize(
    "config",
    [
        SlippageConfig(model=SlippageModel.FIXED_BPS, bps=-1.0),
        SlippageConfig(model=SlippageModel.VOLUME_SHARE, impact_bps=math.nan),
        SlippageConfig(model=SlippageModel.VOLUME_SHARE, exponent=-0.5),
    ],
)
def test_slippage_refuses_negative_or_non_finite_parameters(config: SlippageConfig) -> None:
    with pytest.raises(ValueError, match="slippage"):
        Slippage(config)


@given(
    price=st.floats(0.01, 1e6),
    quantity=st.floats(0.0, 1e7),
    volume=st.floats(-1.0, 1e9),
    bps=st.floats(0.0, 500.0),
    impact=st.floats(0.0, 500.0),
    exponent=st.floats(0.0, 2.0),
)
def test_volume_share_slippage_is_never_below_the_fixed_part(
    *, price: float, quantity: float, volume: float, bps: float, impact: float, exponent: float
) -> None:
    fixed = Slippage(SlippageConfig(model=SlippageModel.FIXED_BPS, bps=bps))
    share = Slippage(
        SlippageConfig(
            model=SlippageModel.VOLUME_SHARE, bps=bps, impact_bps=impact, exponent=exponent
        )
    )
    base = fixed.per_unit(price, quantity, volume)
    assert base >= 0.0
    assert share.per_unit(price, quantity, volume) >= base
    assert base == pytest.approx(price * bps / 10_000)


# --- commission ----------------------------------------------------------------


def test_no_commission_model_charges_nothing() -> None:
    config = CommissionConfig(model=CommissionModel.NONE, per_share=1.0, minimum=5.0)
    assert Commission(config).fee(100.0, 10.0) == 0.0


def test_per_share_commission_is_quantity_times_rate() -> None:
    commission = Commission(CommissionConfig(model=CommissionModel.PER_SHARE, per_share=0.005))
    assert commission.fee(1_000.0, 25.0) == pytest.approx(5.0)


def test_per_share_commission_charges_at_least_the_minimum() -> None:
    config = CommissionConfig(model=CommissionModel.PER_SHARE, per_share=0.005, minimum=1.0)
    # 10 * 0.005 = 0.05 < 1.0
    assert Commission(config).fee(10.0, 25.0) == pytest.approx(1.0)
    # 1_000 * 0.005 = 5.0 > 1.0
    assert Commission(config).fee(1_000.0, 25.0) == pytest.approx(5.0)


def test_per_share_commission_cap_wins_over_the_minimum() -> None:
    config = CommissionConfig(
        model=CommissionModel.PER_SHARE, per_share=0.005, minimum=1.0, max_pct=1.0
    )
    # notional 100 * 0.5 = 50, cap 1% = 0.5; max(0.5, 1.0) = 1.0 -> capped to 0.5
    assert Commission(config).fee(100.0, 0.5) == pytest.approx(0.5)
    # notional 1_000 * 25 = 25_000, cap 250 does not bind: 5.0
    assert Commission(config).fee(1_000.0, 25.0) == pytest.approx(5.0)


def test_per_share_commission_cap_limits_a_cheap_stock() -> None:
    config = CommissionConfig(model=CommissionModel.PER_SHARE, per_share=0.01, max_pct=0.5)
    # 10_000 * 0.01 = 100, notional 10_000 * 0.10 = 1_000, cap 0.5% = 5
    assert Commission(config).fee(10_000.0, 0.10) == pytest.approx(5.0)


def test_bps_commission_is_notional_times_bps_with_a_minimum() -> None:
    config = CommissionConfig(model=CommissionModel.BPS, bps=2.0, minimum=5.0)
    # 1_000 * 20 = 20_000 * 2 / 10_000 = 4.0 < 5.0
    assert Commission(config).fee(1_000.0, 20.0) == pytest.approx(5.0)
    # 10_000 * 20 = 200_000 -> 40.0
    assert Commission(config).fee(10_000.0, 20.0) == pytest.approx(40.0)


def test_commission_refuses_negative_parameters() -> None:
    with pytest.raises(ValueError, match="minimum"):
        Commission(CommissionConfig(model=CommissionModel.BPS, minimum=-1.0))


@given(
    quantity=st.floats(1e-6, 1e7),
    price=st.floats(1e-4, 1e5),
    per_share=st.floats(0.0, 1.0),
    minimum=st.floats(0.0, 10.0),
    max_pct=st.floats(0.0, 5.0),
)
def test_per_share_commission_respects_minimum_and_cap(
    quantity: float, price: float, per_share: float, minimum: float, max_pct: float
) -> None:
    config = CommissionConfig(
        model=CommissionModel.PER_SHARE, per_share=per_share, minimum=minimum, max_pct=max_pct
    )
    fee = Commission(config).fee(quantity, price)
    cap = quantity * price * max_pct / 100
    assert fee >= 0.0
    if max_pct > 0:
        assert fee <= cap * (1 + 1e-12)
        assert fee == pytest.approx(min(max(quantity * per_share, minimum), cap))
    else:
        assert fee == pytest.approx(max(quantity * per_share, minimum))


def test_volume_share_slippage_stays_finite_for_a_nonsensically_small_volume() -> None:
    config = SlippageConfig(model=SlippageModel.VOLUME_SHARE, impact_bps=1.0, exponent=4.0)
    # participation capped at 1e6: 1 * (1e6) ** 4 = 1e24 bps of 1.0
    assert Slippage(config).per_unit(1.0, 1.0, 1e-300) == pytest.approx(1e20)
