"""Portfolio accounting: average price, realized and unrealized P&L, fees, cash, equity."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import ledger
from runtime.ledger import Ledger, StrategyAccount
from runtime.messages import Fill, Side, next_id

BUY, SELL = Side.BUY, Side.SELL
TS_INIT = 7
_fill_numbers = iter(range(1, 1_000_000))


def make_fill(
    side: Side,
    quantity: float,
    price: float,
    *,
    commission: float = 0.0,
    strategy: str = "s1",
    symbol: str = "AAA",
    ts: int = 1_000,
) -> Fill:
    return Fill(
        id=next_id(),
        ts_event=ts,
        ts_init=ts,
        fill_id=f"paper-{next(_fill_numbers)}",
        client_order_id="o",
        strategy_id=strategy,
        symbol=symbol,
        side=side,
        quantity=quantity,
        price=price,
        commission=commission,
        slippage=0.0,
        engine="paper",
    )


def make_ledger(starting_cash: float = 10_000.0) -> Ledger:
    return Ledger(starting_cash, clock=lambda: TS_INIT)


def test_ledger_exports_exactly_its_public_names() -> None:
    assert ledger.__all__ == ["Ledger", "StrategyAccount"]


def test_adding_to_a_long_averages_the_price_and_reducing_realizes() -> None:
    book = make_ledger()
    book.apply_fill(make_fill(BUY, 100, 10.0))
    position = book.apply_fill(make_fill(BUY, 50, 13.0))
    # (100 * 10 + 50 * 13) / 150
    assert (position.quantity, position.avg_price) == pytest.approx((150, 11.0))
    assert position.realized_pnl == 0.0
    book.mark("AAA", 12.0)
    assert book.position("s1", "AAA").unrealized_pnl == pytest.approx(150.0)
    position = book.apply_fill(make_fill(SELL, 60, 14.0))
    # (14 - 11) * 60
    assert position.realized_pnl == pytest.approx(180.0)
    assert (position.quantity, position.avg_price) == pytest.approx((90, 11.0))
    # marked at 12 before the sale: stays 12 until the next mark
    assert position.mark_price == 12.0
    assert position.unrealized_pnl == pytest.approx(90.0)


def test_short_position_realizes_when_bought_back_lower() -> None:
    book = make_ledger()
    book.apply_fill(make_fill(SELL, 100, 20.0))
    position = book.apply_fill(make_fill(SELL, 100, 22.0))
    assert (position.quantity, position.avg_price) == pytest.approx((-200, 21.0))
    position = book.apply_fill(make_fill(BUY, 50, 19.0))
    # (19 - 21) * 50 * -1
    assert position.realized_pnl == pytest.approx(100.0)
    assert (position.quantity, position.avg_price) == pytest.approx((-150, 21.0))
    book.mark("AAA", 23.0)
    # (23 - 21) * -150
    assert book.position("s1", "AAA").unrealized_pnl == pytest.approx(-300.0)


def test_fill_through_zero_closes_and_opens_the_rest_at_the_fill_price() -> None:
    book = make_ledger()
    book.apply_fill(make_fill(BUY, 100, 10.0))
    position = book.apply_fill(make_fill(SELL, 150, 12.0))
    assert position.realized_pnl == pytest.approx(200.0)
    assert (position.quantity, position.avg_price) == (-50, 12.0)
    book.mark("AAA", 11.0)
    assert book.position("s1", "AAA").unrealized_pnl == pytest.approx(50.0)


def test_closing_a_position_leaves_it_flat_with_average_zero() -> None:
    book = make_ledger()
    book.apply_fill(make_fill(BUY, 100, 10.0))
    position = book.apply_fill(make_fill(SELL, 100, 9.0))
    assert (position.quantity, position.avg_price, position.unrealized_pnl) == (0, 0, 0)
    assert position.realized_pnl == pytest.approx(-100.0)


def test_tiny_residual_quantities_snap_to_flat() -> None:
    book = make_ledger()
    for _ in range(3):
        book.apply_fill(make_fill(BUY, 0.1, 10.0))
    position = book.apply_fill(make_fill(SELL, 0.3, 11.0))
    assert position.quantity == 0.0
    assert position.avg_price == 0.0
    assert position.realized_pnl == pytest.approx(0.3)


def test_fees_are_kept_apart_from_realized_pnl_and_leave_cash() -> None:
    book = make_ledger(10_000.0)
    book.apply_fill(make_fill(BUY, 100, 10.0, commission=1.5))
    position = book.apply_fill(make_fill(SELL, 100, 11.0, commission=2.5))
    assert position.realized_pnl == pytest.approx(100.0)
    assert position.fees == pytest.approx(4.0)
    # 10_000 - 1_000 - 1.5 + 1_100 - 2.5
    assert book.cash == pytest.approx(10_096.0)
    account = book.account("s1")
    assert (account.fills, account.fees) == pytest.approx((2, 4.0))
    assert account.cash_flow == pytest.approx(96.0)


def test_cash_and_equity_follow_fills_and_marks() -> None:
    book = make_ledger(10_000.0)
    book.apply_fill(make_fill(BUY, 100, 10.0, commission=1.0))
    assert book.cash == pytest.approx(8_999.0)
    # marked at the fill price until a mark arrives
    assert book.equity == pytest.approx(9_999.0)
    book.mark("AAA", 12.0)
    assert book.equity == pytest.approx(10_199.0)
    account = book.account("s1")
    assert account.market_value == pytest.approx(1_200.0)
    assert account.equity_contribution == pytest.approx(199.0)
    assert account.realized_pnl + account.unrealized_pnl - account.fees == pytest.approx(199.0)


def test_short_sale_raises_cash_and_marks_against_equity() -> None:
    book = make_ledger(1_000.0)
    book.apply_fill(make_fill(SELL, 10, 50.0))
    assert book.cash == pytest.approx(1_500.0)
    book.mark("AAA", 55.0)
    # 1_500 - 10 * 55
    assert book.equity == pytest.approx(950.0)


def test_mark_defaults_to_the_last_fill_price_until_a_mark_arrives() -> None:
    book = make_ledger()
    book.apply_fill(make_fill(BUY, 10, 10.0))
    assert book.apply_fill(make_fill(BUY, 10, 12.0)).mark_price == 12.0
    book.mark("AAA", 11.0, ts_event=5_000)
    position = book.position("s1", "AAA")
    assert (position.mark_price, position.ts_event) == (11.0, 5_000)
    # avg 11, mark 11
    assert position.unrealized_pnl == pytest.approx(0.0)
    assert book.apply_fill(make_fill(BUY, 10, 13.0)).mark_price == 11.0


def test_marking_an_unheld_symbol_changes_nothing() -> None:
    book = make_ledger()
    book.mark("ZZZ", 5.0)
    assert book.accounts() == ()
    assert book.equity == book.cash == 10_000.0


def test_ledger_refuses_fills_with_non_finite_prices_or_non_positive_quantities() -> None:
    book = make_ledger()
    with pytest.raises(ValueError, match="quantity"):
        book.apply_fill(make_fill(BUY, 0.0, 10.0))
    with pytest.raises(ValueError, match="finite"):
        book.apply_fill(make_fill(BUY, 1.0, math.nan))
    with pytest.raises(ValueError, match="finite"):
        book.apply_fill(make_fill(BUY, 1.0, 10.0, commission=math.inf))
    assert book.accounts() == ()
    assert book.cash == 10_000.0


def test_a_non_finite_mark_is_ignored_and_the_previous_mark_stands() -> None:
    book = make_ledger()
    book.apply_fill(make_fill(BUY, 10, 10.0))
    book.mark("AAA", 12.0)
    book.mark("AAA", math.nan)
    book.mark("AAA", math.inf)
    assert book.position("s1", "AAA").mark_price == 12.0
    assert book.equity == pytest.approx(10_020.0)


def test_unknown_strategy_and_symbol_read_as_flat_and_zero() -> None:
    book = make_ledger()
    position = book.position("nobody", "AAA")
    assert (position.strategy_id, position.symbol, position.quantity) == ("nobody", "AAA", 0)
    assert (position.realized_pnl, position.unrealized_pnl, position.fees) == (0, 0, 0)
    assert book.account("nobody") == StrategyAccount(
        strategy_id="nobody",
        fills=0,
        cash_flow=0.0,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        fees=0.0,
        positions=(),
    )


def test_strategies_are_accounted_apart_and_summed_in_totals() -> None:
    book = make_ledger(100_000.0)
    book.apply_fill(make_fill(BUY, 100, 10.0, strategy="b", commission=1.0))
    book.apply_fill(make_fill(SELL, 40, 10.0, strategy="a", commission=0.5))
    book.apply_fill(make_fill(BUY, 5, 200.0, strategy="a", symbol="BBB"))
    book.mark("AAA", 11.0)  # marks both strategies' AAA
    a, b = book.accounts()
    assert [a.strategy_id, b.strategy_id] == ["a", "b"]
    assert [(p.symbol, p.quantity) for p in a.positions] == [("AAA", -40), ("BBB", 5)]
    assert a.unrealized_pnl == pytest.approx(-40.0)  # (11 - 10) * -40, BBB at its fill
    assert b.unrealized_pnl == pytest.approx(100.0)
    total = book.totals()
    assert total.strategy_id == "TOTAL"
    assert total.fills == 3
    assert [(p.strategy_id, p.symbol) for p in total.positions] == [
        ("a", "AAA"),
        ("a", "BBB"),
        ("b", "AAA"),
    ]
    assert total.unrealized_pnl == pytest.approx(60.0)
    assert total.fees == pytest.approx(1.5)
    # -(1_000 - 400 + 1_000) - 1.5
    assert total.cash_flow == pytest.approx(-1_601.5)
    assert book.cash == pytest.approx(100_000.0 - 1_601.5)
    # cash + (-40 * 11 + 5 * 200 + 100 * 11)
    assert book.equity == pytest.approx(98_398.5 + 1_660.0)


def test_position_snapshot_carries_times_and_ids() -> None:
    book = make_ledger()
    first = book.apply_fill(make_fill(BUY, 1, 10.0, ts=123))
    second = book.position("s1", "AAA")
    assert (first.ts_event, first.ts_init) == (123, TS_INIT)
    assert first.id != second.id
    assert (first.strategy_id, first.symbol) == ("s1", "AAA")


# --- properties -----------------------------------------------------------------

fills_strategy = st.lists(
    st.tuples(
        st.sampled_from(["s1", "s2"]),
        st.sampled_from(["AAA", "BBB"]),
        st.sampled_from(Side),
        st.one_of(st.integers(1, 1_000).map(float), st.floats(0.001, 1_000.0)),
        st.floats(1.0, 500.0),
        st.floats(0.0, 5.0),
        st.one_of(st.none(), st.floats(1.0, 500.0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps=fills_strategy)
def test_random_fills_keep_the_accounting_identities(
    steps: list[tuple[str, str, Side, float, float, float, float | None]],
) -> None:
    start = 50_000.0
    book = make_ledger(start)
    signed: dict[tuple[str, str], float] = {}
    spent = 0.0
    fees = 0.0
    for strategy, symbol, side, quantity, price, commission, mark in steps:
        book.apply_fill(
            make_fill(
                side, quantity, price, commission=commission, strategy=strategy, symbol=symbol
            )
        )
        key = (strategy, symbol)
        signed[key] = signed.get(key, 0.0) + side.sign * quantity
        spent += side.sign * quantity * price
        fees += commission
        if mark is not None:
            book.mark(symbol, mark)
    scale = 1.0 + sum(abs(s[3] * s[4]) for s in steps)
    for (strategy, symbol), quantity in signed.items():
        assert book.position(strategy, symbol).quantity == pytest.approx(quantity, abs=1e-6)
    assert book.cash == pytest.approx(start - spent - fees, rel=1e-9, abs=1e-9 * scale)
    total = book.totals()
    assert total.fees == pytest.approx(fees, abs=1e-9 * (1 + fees))
    pnl = total.realized_pnl + total.unrealized_pnl
    assert pnl == pytest.approx(book.equity - start + fees, rel=1e-6, abs=1e-6 * scale)
    for account in book.accounts():
        assert account.realized_pnl + account.unrealized_pnl - account.fees == pytest.approx(
            account.equity_contribution, rel=1e-6, abs=1e-6 * scale
        )
        for position in account.positions:
            assert (position.avg_price == 0.0) == (position.quantity == 0.0)
