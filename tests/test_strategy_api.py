"""The Strategy base class: helpers build the right orders and refuse bad ones."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from runtime.errors import OrderError
from runtime.messages import OrderType, Side, TimeInForce
from strategies import BollingerReversion, SmaCrossover, Strategy


@dataclass
class FakeContext:
    """Records what the strategy asks of its host."""

    submitted: list[dict[str, object]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    modified: list[tuple[str, float | None, float | None, float | None]] = field(
        default_factory=list
    )
    held: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def submit(self, **kwargs: object) -> str:
        self.submitted.append(kwargs)
        return f"id-{len(self.submitted)}"

    def cancel(self, client_order_id: str) -> None:
        self.cancelled.append(client_order_id)

    def modify(
        self,
        client_order_id: str,
        *,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
    ) -> None:
        self.modified.append((client_order_id, quantity, limit_price, stop_price))

    def position(self, symbol: str) -> float:
        return self.held.get(symbol, 0.0)

    def open_orders(self) -> tuple[str, ...]:
        return ()

    def log(self, message: str) -> None:
        self.lines.append(message)

    def now(self) -> int:
        return 42


def _strategy(context: FakeContext) -> Strategy:
    return Strategy(strategy_id="s", params=None, symbols=("AAA",), context=context)


@pytest.mark.parametrize(
    ("limit", "stop", "expected"),
    [
        (None, None, OrderType.MARKET),
        (10.0, None, OrderType.LIMIT),
        (None, 11.0, OrderType.STOP),
        (10.0, 11.0, OrderType.STOP_LIMIT),
    ],
)
def test_submit_derives_the_order_type_from_its_prices(
    limit: float | None, stop: float | None, expected: OrderType
) -> None:
    context = FakeContext()
    order_id = _strategy(context).submit("AAA", Side.SELL, 5, limit=limit, stop=stop)
    assert order_id == "id-1"
    (sent,) = context.submitted
    assert sent["order_type"] is expected
    assert sent["side"] is Side.SELL
    assert sent["quantity"] == 5.0
    assert sent["limit_price"] == limit
    assert sent["stop_price"] == stop


def test_buy_and_sell_are_market_or_limit_with_the_given_time_in_force() -> None:
    context = FakeContext()
    strategy = _strategy(context)
    strategy.buy("AAA", 1)
    strategy.sell("AAA", 2, limit=9.5, time_in_force=TimeInForce.IOC)
    assert [s["side"] for s in context.submitted] == [Side.BUY, Side.SELL]
    assert context.submitted[1]["order_type"] is OrderType.LIMIT
    assert context.submitted[1]["time_in_force"] is TimeInForce.IOC


@pytest.mark.parametrize(
    ("symbol", "quantity", "limit", "message"),
    [
        ("AAA", 0, None, "quantity must be > 0"),
        ("AAA", -1, None, "quantity must be > 0"),
        ("AAA", float("nan"), None, "quantity must be > 0"),
        ("ZZZ", 1, None, "not one of this strategy's symbols"),
        ("AAA", 1, -2.0, "limit price must be > 0"),
    ],
)
def test_impossible_orders_raise_order_error_before_leaving_the_strategy(
    symbol: str, quantity: float, limit: float | None, message: str
) -> None:
    context = FakeContext()
    with pytest.raises(OrderError, match=message):
        _strategy(context).submit(symbol, Side.BUY, quantity, limit=limit)
    assert context.submitted == []


def test_position_cancel_log_and_now_go_through_the_context() -> None:
    context = FakeContext(held={"AAA": -3.0})
    strategy = _strategy(context)
    strategy.cancel("id-9")
    strategy.log("hello")
    assert strategy.position("AAA") == -3.0
    assert strategy.position("BBB") == 0.0
    assert context.cancelled == ["id-9"]
    assert context.lines == ["hello"]
    assert strategy.now() == 42


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (SmaCrossover.Params(fast=0, slow=5), "fast must be >= 1"),
        (SmaCrossover.Params(fast=5, slow=5), "slow must be greater"),
        (BollingerReversion.Params(period=1), "period must be >= 2"),
        (BollingerReversion.Params(width=0), "width must be > 0"),
    ],
)
def test_example_params_validate_their_rules(params: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        params.validate()  # type: ignore[attr-defined]


def test_modify_passes_new_values_and_refuses_impossible_ones() -> None:
    context = FakeContext()
    strategy = _strategy(context)
    strategy.modify("id-1", quantity=5)
    strategy.modify("id-2", limit=9.5)
    strategy.modify("id-3", stop=8.0, quantity=2)
    assert context.modified == [
        ("id-1", 5.0, None, None),
        ("id-2", None, 9.5, None),
        ("id-3", 2.0, None, 8.0),
    ]
    with pytest.raises(OrderError, match="needs a new quantity, limit or stop"):
        strategy.modify("id-1")
    with pytest.raises(OrderError, match="quantity must be > 0"):
        strategy.modify("id-1", quantity=0)
    with pytest.raises(OrderError, match="limit price must be > 0"):
        strategy.modify("id-1", limit=-1.0)
    assert len(context.modified) == 3
