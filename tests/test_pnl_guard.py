"""Round trips and the daily loss guard: pure, then through the portfolio actor."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pykka
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.portfolio import PortfolioActor, PortfolioCarry
from runtime.actor import actor_of
from runtime.directory import Directory
from runtime.ledger import Ledger
from runtime.messages import (
    Fill,
    GetSnapshot,
    LossLimitBreached,
    Position,
    RearmLossGuard,
    Side,
    TradeClosed,
)
from runtime.names import EVENTS, PORTFOLIO, RISK
from runtime.pnl_guard import LossGuard, OpenTrip, RoundTrips
from support import Recorder, make_bar

TS_INIT = 7
DAY0 = 1_704_153_600 * 10**9
"""2024-01-02 00:00 UTC."""
HOUR = 3_600 * 10**9
DAY = 24 * HOUR


def at(hours: float) -> int:
    """Market time ``hours`` after 2024-01-02 00:00 UTC."""
    return DAY0 + int(hours * HOUR)


def fill(
    side: Side,
    quantity: float,
    price: float,
    commission: float,
    ts_event: int,
    *,
    strategy_id: str = "a",
    symbol: str = "AAA",
) -> Fill:
    return Fill(
        id=0,
        ts_event=ts_event,
        ts_init=0,
        fill_id=f"f-{ts_event}-{side}-{quantity}",
        client_order_id="o",
        strategy_id=strategy_id,
        symbol=symbol,
        side=side,
        quantity=quantity,
        price=price,
        commission=commission,
        slippage=0.0,
        engine="paper",
    )


def closed(
    *,
    ts_event: int,
    side: Side,
    quantity: float,
    opened_at: int,
    pnl: float,
    fees: float,
    strategy_id: str = "a",
    symbol: str = "AAA",
) -> TradeClosed:
    return TradeClosed(
        id=0,
        ts_event=ts_event,
        ts_init=TS_INIT,
        strategy_id=strategy_id,
        symbol=symbol,
        side=side,
        quantity=quantity,
        opened_at=opened_at,
        pnl=pnl,
        fees=fees,
    )


def breach(
    *, ts_event: int, pnl: float, limit: float, day: str, strategy_id: str = "a"
) -> LossLimitBreached:
    return LossLimitBreached(
        id=0,
        ts_event=ts_event,
        ts_init=TS_INIT,
        strategy_id=strategy_id,
        pnl=pnl,
        limit=limit,
        day=day,
    )


def no_id(message: Any) -> Any:
    return replace(message, id=0)


class Books:
    """A ledger with round trips and a loss guard fed as the portfolio feeds them."""

    def __init__(self, limits: dict[str, float] | None = None, account: float = 0.0) -> None:
        self.ledger = Ledger(100_000.0, clock=lambda: TS_INIT)
        self.trips = RoundTrips(clock=lambda: TS_INIT)
        self.guard = LossGuard(limits or {}, account, clock=lambda: TS_INIT)
        self.closed: list[TradeClosed] = []

    def fill(self, *args: Any, **kwargs: Any) -> list[LossLimitBreached]:
        message = fill(*args, **kwargs)
        position = self.ledger.apply_fill(message)
        trade = self.trips.on_fill(message, position)
        if trade is not None:
            self.closed.append(no_id(trade))
        return [no_id(b) for b in self.guard.on_fill(position)]

    def mark(self, symbol: str, price: float, ts_event: int) -> list[LossLimitBreached]:
        self.ledger.mark(symbol, price, ts_event=ts_event)
        return [no_id(b) for b in self.guard.on_mark(symbol, price, ts_event)]


# --- round trips -------------------------------------------------------------------------


def test_a_long_round_trip_with_an_add_and_partial_closes_is_reported_once_exactly() -> None:
    books = Books()
    books.fill(Side.BUY, 10, 100.0, 1.0, at(1))
    books.fill(Side.BUY, 10, 110.0, 1.0, at(2))  # 20 at 105
    books.fill(Side.SELL, 5, 120.0, 0.5, at(3))  # +75
    assert books.closed == []
    assert books.trips.open_trip("a", "AAA") == OpenTrip(
        strategy_id="a",
        symbol="AAA",
        side=Side.BUY,
        position=15.0,
        quantity=20.0,
        opened_at=at(1),
        realized=75.0,
        fees=2.5,
    )
    books.fill(Side.SELL, 15, 101.0, 1.5, at(4))  # -60
    assert books.closed == [
        closed(ts_event=at(4), side=Side.BUY, quantity=20.0, opened_at=at(1), pnl=11.0, fees=4.0)
    ]
    assert books.trips.open_trip("a", "AAA") is None
    account = books.ledger.account("a")
    assert account.realized_pnl - account.fees == 11.0


def test_a_short_round_trip_reports_side_sell_and_its_largest_position() -> None:
    books = Books()
    books.fill(Side.SELL, 8, 50.0, 0.25, at(1))
    books.fill(Side.BUY, 3, 45.0, 0.25, at(2))  # +15
    books.fill(Side.BUY, 5, 52.0, 0.5, at(3))  # -10
    assert books.closed == [
        closed(ts_event=at(3), side=Side.SELL, quantity=8.0, opened_at=at(1), pnl=4.0, fees=1.0)
    ]


def test_a_flip_closes_one_trip_and_opens_the_next_with_the_fee_split_by_quantity() -> None:
    books = Books()
    books.fill(Side.BUY, 10, 100.0, 2.0, at(1))
    books.fill(Side.SELL, 15, 104.0, 3.0, at(2))  # closes 10 (+40, fee 2 of 3), opens 5 short
    assert books.closed == [
        closed(ts_event=at(2), side=Side.BUY, quantity=10.0, opened_at=at(1), pnl=36.0, fees=4.0)
    ]
    assert books.trips.open_trip("a", "AAA") == OpenTrip(
        strategy_id="a",
        symbol="AAA",
        side=Side.SELL,
        position=-5.0,
        quantity=5.0,
        opened_at=at(2),
        realized=0.0,
        fees=1.0,
    )
    books.fill(Side.BUY, 5, 100.0, 0.5, at(3))  # +20
    assert books.closed[1:] == [
        closed(ts_event=at(3), side=Side.SELL, quantity=5.0, opened_at=at(2), pnl=18.5, fees=1.5)
    ]


def test_an_uneven_flip_gives_each_trip_its_share_of_the_fee() -> None:
    books = Books()
    books.fill(Side.BUY, 3, 10.0, 0.0, at(1))
    books.fill(Side.SELL, 4, 10.0, 1.0, at(2))
    books.fill(Side.BUY, 1, 10.0, 0.0, at(3))
    assert [(t.side, t.quantity, t.pnl, t.fees) for t in books.closed] == [
        (Side.BUY, 3.0, -0.75, 0.75),
        (Side.SELL, 1.0, -0.25, 0.25),
    ]


def test_wins_and_losses_come_out_in_order_per_strategy_and_symbol() -> None:
    books = Books()
    books.fill(Side.BUY, 1, 100.0, 0.0, at(1))
    books.fill(Side.BUY, 2, 20.0, 0.0, at(1), strategy_id="b")
    books.fill(Side.SELL, 1, 103.0, 1.0, at(2))  # win 2
    books.fill(Side.BUY, 1, 100.0, 1.0, at(3))
    books.fill(Side.SELL, 1, 100.5, 1.0, at(4))  # loss: 0.5 - 2
    books.fill(Side.SELL, 2, 19.0, 0.0, at(5), strategy_id="b")  # loss -2
    books.fill(Side.SELL, 4, 100.0, 0.0, at(6))
    books.fill(Side.BUY, 4, 100.25, 0.0, at(7))  # loss -1
    assert [(t.strategy_id, t.side, t.pnl) for t in books.closed] == [
        ("a", Side.BUY, 2.0),
        ("a", Side.BUY, -1.5),
        ("b", Side.BUY, -2.0),
        ("a", Side.SELL, -1.0),
    ]


def test_a_position_and_its_fill_must_match() -> None:
    trips = RoundTrips()
    message = fill(Side.BUY, 1, 1.0, 0.0, at(1))
    position = Ledger(0.0).apply_fill(replace(message, symbol="BBB"))
    with pytest.raises(ValueError, match="AAA"):
        trips.on_fill(message, position)


@dataclass(frozen=True, slots=True)
class _Step:
    buy: bool
    quantity: int
    price_quarters: int
    fee_eighths: int


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.builds(
            _Step,
            st.booleans(),
            st.integers(1, 20),
            st.integers(4, 800),
            st.integers(0, 16),
        ),
        max_size=40,
    )
)
def test_round_trips_account_for_every_realized_amount_and_fee_of_the_ledger(
    steps: list[_Step],
) -> None:
    books = Books()
    position = 0.0
    peak = 0.0
    for i, step in enumerate(steps):
        side = Side.BUY if step.buy else Side.SELL
        before = len(books.closed)
        books.fill(side, step.quantity, step.price_quarters / 4, step.fee_eighths / 8, at(i))
        held, position = position, position + side.sign * step.quantity
        if len(books.closed) > before:
            assert books.closed[-1].quantity == max(peak, abs(held))
            assert books.closed[-1].side is (Side.BUY if held > 0 else Side.SELL)
            peak = abs(position)
        else:
            peak = max(peak, abs(position))
    account = books.ledger.account("a")
    open_trip = books.trips.open_trip("a", "AAA")
    rest = 0.0 if open_trip is None else open_trip.realized - open_trip.fees
    assert math.fsum(t.pnl for t in books.closed) + rest == pytest.approx(
        account.realized_pnl - account.fees, abs=1e-6
    )
    assert math.fsum(t.fees for t in books.closed) + (
        0.0 if open_trip is None else open_trip.fees
    ) == pytest.approx(account.fees, abs=1e-9)


# --- the loss guard ------------------------------------------------------------------------


def test_a_mark_that_takes_the_day_to_minus_the_limit_breaches_once() -> None:
    books = Books({"a": 101.0})
    assert books.fill(Side.BUY, 10, 100.0, 1.0, at(1)) == []
    assert books.mark("AAA", 95.0, at(2)) == []
    assert books.mark("AAA", 90.5, at(3)) == []
    assert books.mark("AAA", 90.0, at(4)) == [
        breach(ts_event=at(4), pnl=-101.0, limit=101.0, day="2024-01-02")
    ]
    assert books.mark("AAA", 80.0, at(5)) == []
    assert books.mark("AAA", 100.0, at(6)) == []
    assert books.mark("AAA", 50.0, at(7)) == []
    assert books.guard.day_pnl("a") == -501.0
    assert books.guard.day == "2024-01-02"


def test_a_fill_can_breach_the_limit_with_its_fee() -> None:
    books = Books({"a": 60.0})
    books.fill(Side.BUY, 10, 100.0, 1.0, at(1))
    assert books.mark("AAA", 96.0, at(2)) == []  # -41
    assert books.fill(Side.SELL, 10, 95.0, 10.0, at(3)) == [
        breach(ts_event=at(3), pnl=-61.0, limit=60.0, day="2024-01-02")
    ]


def test_the_account_limit_breaches_with_two_strategies_each_within_its_own() -> None:
    books = Books({"a": 100.0}, account=150.0)  # b has no limit of its own
    books.fill(Side.BUY, 10, 100.0, 0.0, at(1), strategy_id="a")
    books.fill(Side.SELL, 10, 50.0, 0.0, at(1), strategy_id="b", symbol="BBB")
    assert books.mark("AAA", 92.0, at(2)) == []
    assert books.mark("BBB", 57.5, at(3)) == [
        breach(ts_event=at(3), pnl=-155.0, limit=150.0, day="2024-01-02", strategy_id="")
    ]
    assert (books.guard.day_pnl("a"), books.guard.day_pnl("b")) == (-80.0, -75.0)
    assert books.mark("AAA", 91.0, at(4)) == []  # the account is latched, a is at -90


def test_a_strategy_and_the_account_can_breach_on_the_same_mark() -> None:
    books = Books({"a": 50.0}, account=40.0)
    books.fill(Side.BUY, 10, 100.0, 0.0, at(1))
    assert books.mark("AAA", 95.0, at(2)) == [
        breach(ts_event=at(2), pnl=-50.0, limit=50.0, day="2024-01-02"),
        breach(ts_event=at(2), pnl=-50.0, limit=40.0, day="2024-01-02", strategy_id=""),
    ]


def test_a_new_market_day_counts_from_the_previous_close_and_clears_the_latch() -> None:
    books = Books({"a": 100.0})
    books.fill(Side.BUY, 10, 100.0, 0.0, at(1))
    assert books.mark("AAA", 89.0, at(2)) == [
        breach(ts_event=at(2), pnl=-110.0, limit=100.0, day="2024-01-02")
    ]
    assert books.mark("AAA", 92.0, at(23.5)) == []  # -80 at the close
    assert books.mark("AAA", 91.0, at(24)) == []  # the new day: -10
    assert books.guard.day == "2024-01-03"
    assert books.guard.day_pnl("a") == -10.0
    assert books.mark("AAA", 83.0, at(25)) == []  # -90 today, -170 in all
    assert books.mark("AAA", 82.0, at(26)) == [
        breach(ts_event=at(26), pnl=-100.0, limit=100.0, day="2024-01-03")
    ]


def test_the_first_event_of_the_day_may_be_a_fill() -> None:
    books = Books({"a": 30.0})
    books.fill(Side.BUY, 10, 100.0, 0.0, at(1))
    books.mark("AAA", 97.0, at(2))  # -30 yesterday would have breached; it did
    assert books.fill(Side.SELL, 10, 97.0, 5.0, at(24 + 9)) == []  # today: only the fee
    assert books.guard.day_pnl("a") == -5.0


def test_an_event_stamped_before_the_current_day_counts_in_the_current_day() -> None:
    books = Books({"a": 100.0})
    books.fill(Side.BUY, 10, 100.0, 0.0, at(1))
    books.mark("AAA", 100.0, at(25))
    assert books.mark("AAA", 90.0, at(23)) == [
        breach(ts_event=at(23), pnl=-100.0, limit=100.0, day="2024-01-03")
    ]


def test_rearming_gives_a_fresh_allowance_from_the_pnl_at_that_moment() -> None:
    books = Books({"a": 101.0})
    books.fill(Side.BUY, 10, 100.0, 1.0, at(1))
    assert len(books.mark("AAA", 90.0, at(2))) == 1  # -101
    books.guard.rearm()
    assert books.guard.day_pnl("a") == 0.0
    assert books.mark("AAA", 80.0, at(3)) == []  # -100 since the reset
    assert books.mark("AAA", 79.75, at(4)) == [
        breach(ts_event=at(4), pnl=-102.5, limit=101.0, day="2024-01-02")
    ]


def test_a_flat_position_no_longer_moves_with_marks() -> None:
    books = Books({"a": 10.0})
    books.fill(Side.BUY, 10, 100.0, 0.0, at(1))
    books.fill(Side.SELL, 10, 100.5, 0.0, at(2))
    assert books.mark("AAA", 1.0, at(3)) == []
    assert books.guard.day_pnl("a") == 5.0
    assert books.mark("AAA", math.nan, at(4)) == []


def test_a_bad_print_is_ignored_as_the_ledger_ignores_it() -> None:
    books = Books({"a": 10.0})
    books.fill(Side.BUY, 10, 100.0, 0.0, at(1))
    assert books.mark("AAA", math.inf, at(2)) == []
    assert books.mark("AAA", math.nan, at(3)) == []
    assert books.guard.day_pnl("a") == 0.0


def test_the_guard_day_pnl_matches_the_ledger_equity_change() -> None:
    books = Books({"a": 1e9}, account=1e9)
    books.fill(Side.BUY, 7, 100.25, 0.5, at(1))
    books.mark("AAA", 101.0, at(2))
    books.fill(Side.SELL, 3, 102.5, 0.25, at(3), strategy_id="b")
    books.fill(Side.SELL, 9, 99.5, 0.75, at(4))
    books.mark("AAA", 98.0, at(5))
    for strategy_id in ("a", "b"):
        assert books.guard.day_pnl(strategy_id) == pytest.approx(
            books.ledger.account(strategy_id).equity_contribution, abs=1e-9
        )
    assert books.guard.day_pnl() == pytest.approx(books.ledger.equity - 100_000.0, abs=1e-9)


def test_a_guard_without_limits_is_inactive_and_tracks_nothing() -> None:
    guard = LossGuard({"a": 0.0}, 0.0)
    assert not guard.active
    assert LossGuard({"a": 5.0}, 0.0).active and LossGuard({}, 5.0).active
    position = Ledger(0.0).apply_fill(fill(Side.BUY, 1, 10.0, 100.0, at(1)))
    assert guard.on_fill(position) == ()
    assert guard.day_pnl("a") == 0.0


def test_a_strategy_without_a_limit_is_not_tracked_without_an_account_limit() -> None:
    books = Books({"a": 10.0})
    assert books.fill(Side.BUY, 10, 100.0, 50.0, at(1), strategy_id="b") == []
    assert books.guard.day_pnl("b") == 0.0


@pytest.mark.parametrize("limits, account", [({"a": -1.0}, 0.0), ({}, math.nan)])
def test_a_negative_or_non_finite_limit_is_refused(
    limits: dict[str, float], account: float
) -> None:
    with pytest.raises(ValueError, match="daily loss limit"):
        LossGuard(limits, account)


# --- through the portfolio actor -----------------------------------------------------------


class _Forward(pykka.ThreadingActor):
    """Stands in for risk or the event sink: hands each message to a recorder."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, GetSnapshot):
            return len(self.recorder.events)  # a barrier: everything told before is handled
        self.recorder(message)
        return None


@dataclass
class Wired:
    directory: Directory
    risk: Recorder
    events: Recorder
    refs: list[pykka.ActorRef[Any]]

    def start(self, **kwargs: Any) -> pykka.ActorRef[Any]:
        ref = PortfolioActor.start(name=PORTFOLIO, directory=self.directory, **kwargs)
        self.refs.append(ref)
        return ref

    def settle(self, portfolio: pykka.ActorRef[Any]) -> None:
        """Wait until the portfolio and both recorders handled everything sent so far."""
        portfolio.ask(GetSnapshot(), timeout=10)
        for name in (RISK, EVENTS):
            self.directory.ask(name, GetSnapshot(), timeout=10)


@pytest.fixture
def wired() -> Iterator[Wired]:
    directory = Directory()
    risk, events = Recorder(), Recorder()
    refs = [_Forward.start(risk), _Forward.start(events)]
    directory.register(RISK, refs[0])
    directory.register(EVENTS, refs[1])
    try:
        yield Wired(directory, risk, events, refs)
    finally:
        for ref in reversed(refs):
            ref.stop(block=True)


def bar(i: int, close: float) -> Any:
    return replace(make_bar(i), close=close)


def test_the_portfolio_sends_closed_trips_and_breaches_to_risk_and_events(
    wired: Wired,
) -> None:
    portfolio = wired.start(ledger=Ledger(10_000.0), loss_limits={"s": 30.0, "t": 0.0})
    ts = [make_bar(i).ts_event for i in range(6)]
    portfolio.tell(fill(Side.BUY, 10, 100.0, 1.0, ts[0], strategy_id="s"))
    portfolio.tell(bar(1, 98.0))  # -21
    portfolio.tell(fill(Side.SELL, 10, 98.0, 1.0, ts[1], strategy_id="s"))  # -22
    portfolio.tell(fill(Side.SELL, 5, 98.0, 0.5, ts[2], strategy_id="s"))  # -22.5
    portfolio.tell(bar(3, 99.75))  # -31.25
    trip = closed(
        ts_event=ts[1],
        side=Side.BUY,
        quantity=10.0,
        opened_at=ts[0],
        pnl=-22.0,
        fees=2.0,
        strategy_id="s",
    )
    stop = breach(ts_event=ts[3], pnl=-31.25, limit=30.0, day="2023-11-14", strategy_id="s")
    for recorder in (wired.risk, wired.events):
        (got,) = recorder.wait_for(TradeClosed, timeout_s=10)
        assert replace(got, id=0, ts_init=TS_INIT) == trip
        (hit,) = recorder.wait_for(LossLimitBreached, timeout_s=10)
        assert replace(hit, id=0, ts_init=TS_INIT) == stop
    assert [p.quantity for p in wired.events.of(Position)] == [10.0, 0.0, -5.0]
    assert wired.risk.of(Position) == []

    portfolio.tell(bar(4, 101.75))  # latched: -41.25 today, nothing sent
    portfolio.tell(RearmLossGuard())
    portfolio.tell(bar(5, 107.75))  # -30 since the reset
    again = wired.risk.wait_for(LossLimitBreached, count=2, timeout_s=10)[1]
    assert replace(again, id=0, ts_init=TS_INIT) == replace(stop, ts_event=ts[5], pnl=-30.0)
    wired.settle(portfolio)
    assert len(wired.risk.of(LossLimitBreached)) == 2
    assert len(wired.events.of(LossLimitBreached)) == 2


def test_a_portfolio_without_limits_still_reports_trips_and_never_a_breach(
    wired: Wired,
) -> None:
    portfolio = wired.start(ledger=Ledger(10_000.0))
    portfolio.tell(fill(Side.SELL, 4, 100.0, 0.0, make_bar(0).ts_event))
    portfolio.tell(bar(1, 5_000.0))
    portfolio.tell(fill(Side.BUY, 4, 100.0, 0.0, make_bar(2).ts_event))
    (got,) = wired.risk.wait_for(TradeClosed, timeout_s=10)
    assert (got.side, got.quantity, got.pnl) == (Side.SELL, 4.0, 0.0)
    wired.settle(portfolio)
    assert wired.risk.of(LossLimitBreached) == []


def test_a_replacement_portfolio_continues_the_trips_and_the_latches(wired: Wired) -> None:
    first = wired.start(ledger=Ledger(10_000.0), loss_limits={"a": 10.0}, account_loss_limit=1e6)
    actor = actor_of(first)
    assert isinstance(actor, PortfolioActor)
    ts = [make_bar(i).ts_event for i in range(4)]
    first.tell(fill(Side.BUY, 2, 100.0, 0.0, ts[0]))
    first.tell(bar(1, 94.0))  # -12: breach
    wired.risk.wait_for(LossLimitBreached, timeout_s=10)
    first.stop(block=True)
    carry = actor.handover(stuck=False)
    assert isinstance(carry, PortfolioCarry)

    second = wired.start(carry=carry)
    second.tell(bar(2, 90.0))  # -20: still latched
    second.tell(fill(Side.SELL, 2, 95.0, 0.5, ts[3]))
    (trip,) = wired.risk.wait_for(TradeClosed, timeout_s=10)
    assert (trip.opened_at, trip.ts_event, trip.pnl, trip.fees) == (ts[0], ts[3], -10.5, 0.5)
    wired.settle(second)
    assert len(wired.risk.of(LossLimitBreached)) == 1
    snapshot = second.ask(GetSnapshot(), block=True, timeout=10)
    assert snapshot.total.realized_pnl == -10.0


def test_a_portfolio_needs_a_fresh_ledger_or_a_carry() -> None:
    ledger = Ledger(0.0)
    ledger.apply_fill(fill(Side.BUY, 1, 1.0, 0.0, at(1)))
    with pytest.raises(ValueError, match="needs its carry"):
        PortfolioActor(name=PORTFOLIO, directory=Directory(), ledger=ledger)
    with pytest.raises(ValueError, match="ledger or a carry"):
        PortfolioActor(name=PORTFOLIO, directory=Directory())
