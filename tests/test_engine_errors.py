"""Engine errors: retries of transient errors, permanent errors, the circuit breaker,
the rate limit, and waiting calls surviving a crash of the engine actor.

The engine actor runs for real, with the paper adapter (wrapped in fault
injection where needed); the actors it reports to (order manager, supervisor,
event sink) are recording actors registered under their directory names.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pykka
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.brokers.base import (
    AdapterEvent,
    BrokerAdapter,
    ModifyNotSupportedError,
    PermanentBrokerError,
    TransientBrokerError,
    is_transient,
)
from actors.brokers.faulty import FaultyAdapter, InjectedError, InjectedTransientError
from actors.brokers.paper import PaperAdapter
from actors.engine_host import EngineCarry, EngineHost, EngineStats
from runtime.actor import actor_of, actor_thread
from runtime.config import BreakerConfig, FaultConfig, PaperConfig, RateLimitConfig, RetryConfig
from runtime.directory import Directory
from runtime.engine_guard import CircuitBreaker, CircuitState, RetryPolicy
from runtime.messages import (
    ActorFailed,
    Bar,
    CancelAll,
    CancelNotFound,
    CancelOrder,
    Crash,
    EngineFault,
    GetSnapshot,
    ModifyOrder,
    ModifyRefused,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Probe,
    RejectReason,
    Side,
    Tick,
    TimeInForce,
    next_id,
    unfilled_update,
)
from runtime.names import EVENTS, ORDERS, SUPERVISOR
from support import make_bar

ENGINE = "engine.paper"
NO_WAIT = RetryConfig(attempts=3, backoff_min_s=0.01, backoff_max_s=0.05, jitter=0.0)
BREAKER = BreakerConfig()
UNLIMITED = RateLimitConfig()

# --- the pure guards ------------------------------------------------------------------


def test_retry_delays_double_from_the_minimum_up_to_the_maximum() -> None:
    policy = RetryPolicy(RetryConfig(attempts=4, backoff_min_s=0.1, backoff_max_s=0.5, jitter=0))
    assert [policy.delay(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert [policy.may_retry(n) for n in range(1, 6)] == [True, True, True, False, False]
    assert RetryPolicy(RetryConfig(attempts=1)).may_retry(1) is False, "1 attempt: no retry"


@given(
    calls=st.integers(min_value=1, max_value=200),
    low=st.floats(min_value=0.0, max_value=1.0),
    spread=st.floats(min_value=0.0, max_value=5.0),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_retry_delays_with_jitter_stay_within_the_bounds(
    calls: int, low: float, spread: float, jitter: float, seed: int
) -> None:
    config = RetryConfig(attempts=3, backoff_min_s=low, backoff_max_s=low + spread, jitter=jitter)
    delay = RetryPolicy(config, random.Random(seed)).delay(calls)
    assert low <= delay <= low + spread
    again = RetryPolicy(config, random.Random(seed)).delay(calls)
    assert delay == again, "the same seed gives the same delay"


def test_the_breaker_opens_after_the_failures_in_a_row_and_a_trial_decides() -> None:
    breaker = CircuitBreaker(BreakerConfig(failures=3, reset_s=10.0))
    assert [breaker.record_failure(t) for t in (0.0, 1.0)] == [False, False]
    breaker.record_success(1.5)  # the count starts again
    assert [breaker.record_failure(t) for t in (2.0, 3.0, 4.0)] == [False, False, True]
    assert (breaker.state(4.0), breaker.allow(13.9), breaker.tripped) == (
        CircuitState.OPEN,
        False,
        True,
    )
    breaker.record_success(5.0)  # a call let through while open does not close it
    assert breaker.state(5.0) is CircuitState.OPEN
    assert breaker.record_failure(6.0) is False, "already open"
    assert (breaker.state(14.0), breaker.allow(14.0)) == (CircuitState.HALF_OPEN, True)
    assert breaker.record_failure(14.0) is True, "the trial failed: open again"
    assert (breaker.state(23.9), breaker.state(24.0)) == (CircuitState.OPEN, CircuitState.HALF_OPEN)
    breaker.record_success(24.0)
    assert (breaker.state(24.0), breaker.failures, breaker.tripped) == (
        CircuitState.CLOSED,
        0,
        False,
    )
    assert breaker.opened == 2


def test_a_breaker_with_zero_failures_never_opens() -> None:
    breaker = CircuitBreaker(BreakerConfig(failures=0, reset_s=1.0))
    assert not any(breaker.record_failure(float(t)) for t in range(1000))
    assert (breaker.state(1000.0), breaker.failures) == (CircuitState.CLOSED, 1000)


def test_errors_are_classified_transient_or_permanent() -> None:
    transient = [
        TransientBrokerError("busy"),
        ConnectionResetError("reset"),
        TimeoutError("slow"),
        InjectedTransientError("x"),
    ]
    permanent = [
        PermanentBrokerError("no"),
        ModifyNotSupportedError("no"),
        ValueError("bug"),
        InjectedError("x"),
    ]
    assert [is_transient(e) for e in transient] == [True] * 4
    assert [is_transient(e) for e in permanent] == [False] * 4

    class BothError(PermanentBrokerError, TimeoutError):
        pass

    assert is_transient(BothError("declared permanent")) is False


# --- a real engine actor and recording stand-ins -----------------------------------------


class Log:
    """What the engine told the order manager, the supervisor and the event sink."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []
        self._cv = threading.Condition()

    def add(self, name: str, message: Any) -> None:
        with self._cv:
            self.entries.append((name, message))
            self._cv.notify_all()

    def to(self, name: str) -> list[Any]:
        with self._cv:
            return [m for n, m in self.entries if n == name]

    def wait(self, what: str, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        with self._cv:
            assert self._cv.wait_for(condition, timeout_s), f"not within {timeout_s}s: {what}"

    def updates(self, cid: str) -> list[OrderUpdate]:
        return [
            m for m in self.to(ORDERS) if isinstance(m, OrderUpdate) and m.client_order_id == cid
        ]

    def faults(self) -> list[str]:
        return [m.error for m in self.to(SUPERVISOR) if isinstance(m, EngineFault)]

    def wait_update(self, cid: str, status: OrderStatus, timeout_s: float = 10.0) -> OrderUpdate:
        self.wait(
            f"{cid} {status}",
            lambda: any(u.status is status for u in self.updates(cid)),
            timeout_s,
        )
        return next(u for u in self.updates(cid) if u.status is status)


class _Ping:
    """Asked of a sink: answered once what was told to it before is recorded."""


class Sink(pykka.ThreadingActor):
    """Stands in for one actor the engine reports to."""

    def __init__(self, log: Log, name: str) -> None:
        super().__init__()
        self.log = log
        self.name = name

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, _Ping):
            self.log.add(self.name, message)
        return None


class Rig:
    """A directory with recording sinks; starts engine actors and stops everything."""

    def __init__(self) -> None:
        self.directory = Directory()
        self.log = Log()
        self.sinks = [Sink.start(self.log, name) for name in (ORDERS, SUPERVISOR, EVENTS)]
        for name, ref in zip((ORDERS, SUPERVISOR, EVENTS), self.sinks, strict=True):
            self.directory.register(name, ref)
        self.engines: list[pykka.ActorRef[Any]] = []

    def start(
        self,
        adapter: BrokerAdapter,
        *,
        retry: RetryConfig = NO_WAIT,
        breaker: BreakerConfig = BREAKER,
        rate_limit: RateLimitConfig = UNLIMITED,
        carry: EngineCarry | None = None,
    ) -> pykka.ActorRef[Any]:
        ref: pykka.ActorRef[Any] = EngineHost.start(
            name=ENGINE,
            directory=self.directory,
            adapter=lambda: adapter,
            carry=carry,
            retry=retry,
            breaker=breaker,
            rate_limit=rate_limit,
        )
        self.engines.append(ref)
        return ref

    def settle(self, engine: pykka.ActorRef[Any]) -> EngineStats:
        """The engine's snapshot, once everything it told before is recorded."""
        stats = engine.ask(GetSnapshot(), timeout=10)
        assert isinstance(stats, EngineStats)
        for sink in self.sinks:
            sink.ask(_Ping(), timeout=10)
        return stats

    def close(self) -> None:
        for ref in [*self.engines, *self.sinks]:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.stop(block=True, timeout=10)


@pytest.fixture
def rig() -> Iterator[Rig]:
    rig = Rig()
    try:
        yield rig
    finally:
        rig.close()


class Recording(BrokerAdapter):
    """Passes every call to ``inner``; records the order calls that reach it, with times."""

    wants_market_data = True

    def __init__(self, inner: BrokerAdapter) -> None:
        super().__init__(engine=inner.engine)
        self.inner = inner
        self.calls: list[tuple[str, str]] = []
        self.times: list[float] = []

    def _record(self, call: str, cid: str) -> None:
        self.calls.append((call, cid))
        self.times.append(time.monotonic())

    def submitted(self) -> list[str]:
        return [cid for call, cid in self.calls if call == "submit"]

    def bind(self, emit: Callable[[AdapterEvent], None]) -> None:
        super().bind(emit)
        self.inner.bind(emit)

    def submit(self, order: Order) -> Sequence[AdapterEvent]:
        self._record("submit", order.client_order_id)
        return self.inner.submit(order)

    def cancel(self, client_order_id: str, ts_event: int) -> Sequence[AdapterEvent]:
        self._record("cancel", client_order_id)
        return self.inner.cancel(client_order_id, ts_event)

    def modify(
        self,
        client_order_id: str,
        quantity: float | None,
        limit_price: float | None,
        stop_price: float | None,
        ts_event: int,
    ) -> Sequence[AdapterEvent]:
        self._record("modify", client_order_id)
        return self.inner.modify(client_order_id, quantity, limit_price, stop_price, ts_event)

    def cancel_all(
        self, ts_event: int, reason: RejectReason, message: str
    ) -> Sequence[AdapterEvent]:
        self._record("cancel_all", "")
        return self.inner.cancel_all(ts_event, reason, message)

    def knows_all_orders(self) -> bool:
        return self.inner.knows_all_orders()

    def working_orders(self) -> tuple[str, ...]:
        return self.inner.working_orders()

    def on_bar(self, bar: Bar) -> Sequence[AdapterEvent]:
        return self.inner.on_bar(bar)

    def on_tick(self, tick: Tick) -> Sequence[AdapterEvent]:
        return self.inner.on_tick(tick)

    def healthy(self) -> bool:
        return self.inner.healthy()

    def close(self) -> None:
        self.inner.close()


class Gated(Recording):
    """Its first submit waits for ``gate``, then fails with ``error`` (after passing the
    order on when ``reach``: a request that timed out after it was sent)."""

    def __init__(self, inner: BrokerAdapter, error: Exception, *, reach: bool = False) -> None:
        super().__init__(inner)
        self.gate = threading.Event()
        self.error = error
        self.reach = reach

    def submit(self, order: Order) -> Sequence[AdapterEvent]:
        first = not self.calls
        self._record("submit", order.client_order_id)
        if first:
            assert self.gate.wait(10)
            if self.reach:
                self.inner.submit(order)
            raise self.error
        return self.inner.submit(order)


class CannotModify(BrokerAdapter):
    """An adapter without modify: accepts every order, keeps them working."""

    def __init__(self) -> None:
        super().__init__(engine="plain")
        self.working: list[str] = []

    def submit(self, order: Order) -> list[AdapterEvent]:
        self.working.append(order.client_order_id)
        return [unfilled_update(order, OrderStatus.ACCEPTED, None, "", engine=self.engine)]

    def cancel(self, client_order_id: str, ts_event: int) -> list[AdapterEvent]:
        return []

    def cancel_all(self, ts_event: int, reason: RejectReason, message: str) -> list[AdapterEvent]:
        return []

    def working_orders(self) -> tuple[str, ...]:
        return tuple(self.working)


def paper() -> Recording:
    """The paper adapter, recording the calls that reach it."""
    return Recording(PaperAdapter(engine="paper", config=PaperConfig(), clock=time.time_ns))


def order(n: int, quantity: float = 10.0) -> Order:
    return Order(
        id=next_id(),
        ts_event=time.time_ns(),
        ts_init=time.time_ns(),
        client_order_id=f"o-{n}",
        strategy_id="s",
        symbol="AAA",
        side=Side.BUY,
        quantity=quantity,
        order_type=OrderType.MARKET,
        limit_price=None,
        stop_price=None,
        time_in_force=TimeInForce.GTC,
        ts_intent=0,
    )


def cancel(n: int) -> CancelOrder:
    now = time.time_ns()
    return CancelOrder(
        id=next_id(), ts_event=now, ts_init=now, client_order_id=f"o-{n}", strategy_id="s"
    )


def modify(n: int, quantity: float) -> ModifyOrder:
    now = time.time_ns()
    return ModifyOrder(
        id=next_id(),
        ts_event=now,
        ts_init=now,
        client_order_id=f"o-{n}",
        strategy_id="s",
        quantity=quantity,
        limit_price=None,
        stop_price=None,
        market_price=None,
    )


def statuses(log: Log, cid: str) -> list[tuple[OrderStatus, RejectReason | None]]:
    return [(u.status, u.reason) for u in log.updates(cid)]


ACCEPTED = (OrderStatus.ACCEPTED, None)
FILLED = (OrderStatus.FILLED, None)

# --- retries ---------------------------------------------------------------------------


def test_a_transient_error_is_retried_with_backoff_and_reaches_the_broker_once(rig: Rig) -> None:
    inner = paper()
    faulty = FaultyAdapter(inner, FaultConfig(fail_every=1, fault_limit=2, transient=True))
    outer = Recording(faulty)
    retry = RetryConfig(attempts=3, backoff_min_s=0.05, backoff_max_s=1.0, jitter=0.0)
    engine = rig.start(outer, retry=retry)
    engine.tell(order(1))
    rig.log.wait_update("o-1", OrderStatus.ACCEPTED)
    stats = rig.settle(engine)
    assert statuses(rig.log, "o-1") == [ACCEPTED], "accepted once, nothing else"
    assert inner.submitted() == ["o-1"], "the broker saw the order once"
    assert outer.submitted() == ["o-1"] * 3, "two failed attempts, then the one that passed"
    first, second = outer.times[1] - outer.times[0], outer.times[2] - outer.times[1]
    assert first >= 0.05 and second >= 0.10, "backoff doubles from backoff_min_s"
    assert rig.log.faults() == [], "a retried error that then succeeds is no fault"
    assert [o.client_order_id for o in rig.log.to(EVENTS)] == ["o-1"]
    assert (stats.retries, stats.waiting, stats.breaker, stats.orders) == (
        2,
        0,
        CircuitState.CLOSED,
        1,
    )
    assert stats.working_orders == ("o-1",)


def test_a_submit_that_reached_the_broker_before_failing_is_not_sent_again(rig: Rig) -> None:
    inner = paper()
    outer = Gated(inner, TimeoutError("no answer within 2s"), reach=True)
    engine = rig.start(outer)
    engine.tell(order(1))
    outer.gate.set()
    update = rig.log.wait_update("o-1", OrderStatus.ACCEPTED)
    stats = rig.settle(engine)
    assert update.message == "accepted by the broker before the failed submit returned"
    assert statuses(rig.log, "o-1") == [ACCEPTED], "no DUPLICATE_ORDER: it was not resent"
    assert inner.submitted() == ["o-1"]
    assert outer.submitted() == ["o-1"], "the retry found it working and made no call"
    assert (stats.retries, stats.working_orders) == (1, ("o-1",))
    assert rig.log.faults() == []


def test_a_submit_that_reached_the_broker_and_filled_before_its_retry_is_not_resent(
    rig: Rig,
) -> None:
    inner = paper()
    outer = Gated(inner, TimeoutError("no answer within 2s"), reach=True)
    retry = RetryConfig(attempts=3, backoff_min_s=0.2, backoff_max_s=1.0, jitter=0.0)
    engine = rig.start(outer, retry=retry)
    engine.tell(order(1))  # waits in the gate, reaches the broker, then times out
    engine.tell(make_bar(1))  # fills it at the broker before the retry is due
    outer.gate.set()
    rig.log.wait_update("o-1", OrderStatus.FILLED)
    deadline = time.monotonic() + 10
    stats = rig.settle(engine)
    while stats.waiting and time.monotonic() < deadline:
        stats = rig.settle(engine)  # until the retry's turn came and went
    assert stats.waiting == 0
    assert statuses(rig.log, "o-1") == [FILLED], "no DUPLICATE_ORDER, no REJECTED after FILLED"
    assert inner.submitted() == ["o-1"], "the broker saw the order once"
    assert outer.submitted() == ["o-1"], "the retry saw the fill and made no call"
    assert rig.log.faults() == []


def test_a_permanent_error_rejects_the_order_once_with_one_fault(rig: Rig) -> None:
    inner = paper()
    faulty = FaultyAdapter(inner, FaultConfig(fail_every=1, fault_limit=1))
    engine = rig.start(faulty)
    engine.tell(order(1))
    engine.tell(order(2))
    rig.log.wait_update("o-2", OrderStatus.ACCEPTED)
    stats = rig.settle(engine)
    error = "submit failed: InjectedError: injected fault in submit (call 1)"
    (rejected,) = rig.log.updates("o-1")
    assert (rejected.status, rejected.reason, rejected.message) == (
        OrderStatus.REJECTED,
        RejectReason.ENGINE_ERROR,
        error,
    )
    assert rig.log.faults() == [error]
    assert faulty.calls == 2, "no retry of a permanent error"
    assert inner.submitted() == ["o-2"]
    assert (stats.retries, stats.rejected_by_strategy) == (0, (("s", 1),))


def test_a_transient_error_out_of_attempts_rejects_the_order_once(rig: Rig) -> None:
    inner = paper()
    faulty = FaultyAdapter(inner, FaultConfig(fail_every=1, transient=True))
    engine = rig.start(faulty, retry=NO_WAIT)
    engine.tell(order(1))
    rig.log.wait_update("o-1", OrderStatus.REJECTED)
    stats = rig.settle(engine)
    error = (
        "submit failed after 3 attempts: InjectedTransientError: injected fault in submit (call 3)"
    )
    assert [(u.status, u.reason, u.message) for u in rig.log.updates("o-1")] == [
        (OrderStatus.REJECTED, RejectReason.ENGINE_ERROR, error)
    ]
    assert rig.log.faults() == [error]
    assert (faulty.calls, inner.submitted()) == (3, [])
    assert (stats.retries, stats.waiting, stats.breaker) == (2, 0, CircuitState.CLOSED)


def test_a_retry_keeps_the_calls_of_its_order_in_order_while_other_orders_go_on(
    rig: Rig,
) -> None:
    inner = paper()
    outer = Gated(inner, ConnectionResetError("connection reset by peer"))
    retry = RetryConfig(attempts=3, backoff_min_s=0.2, backoff_max_s=1.0, jitter=0.0)
    engine = rig.start(outer, retry=retry)
    engine.tell(order(1))  # its first submit fails once the gate opens: retried in 0.2 s
    engine.tell(cancel(1))  # must wait behind the retry
    engine.tell(order(2))  # another order: goes at once
    outer.gate.set()
    rig.log.wait_update("o-1", OrderStatus.CANCELLED)
    rig.settle(engine)
    assert inner.calls == [("submit", "o-2"), ("submit", "o-1"), ("cancel", "o-1")]
    assert statuses(rig.log, "o-1") == [ACCEPTED, (OrderStatus.CANCELLED, None)]
    assert statuses(rig.log, "o-2") == [ACCEPTED]


# --- the circuit breaker ---------------------------------------------------------------


def test_the_breaker_opens_refuses_orders_half_opens_after_reset_and_closes_on_success(
    rig: Rig,
) -> None:
    inner = paper()
    # call 1 passes (o-0 works), calls 2-4 fail, then the broker recovers
    config = FaultConfig(fail_every=1, first_call=2, fault_limit=3, transient=True)
    faulty = FaultyAdapter(inner, config)
    engine = rig.start(
        faulty,
        retry=RetryConfig(attempts=1),
        breaker=BreakerConfig(failures=3, reset_s=1.0),
    )
    engine.tell(order(0))
    for n in (1, 2, 3):
        engine.tell(order(n))
    opened_at = time.monotonic()
    engine.tell(order(4))
    engine.tell(modify(0, 20.0))
    engine.tell(cancel(0))  # cancels still reach the adapter while the circuit is open
    rig.log.wait_update("o-0", OrderStatus.CANCELLED)
    stats = rig.settle(engine)
    healthy_open = engine.ask(Probe(), timeout=10)
    reset_passed = time.monotonic() - opened_at >= 1.0
    failed = [
        f"submit failed: InjectedTransientError: injected fault in submit (call {n})"
        for n in (2, 3, 4)
    ]
    refused = "circuit open (3 failed calls in a row): {} refused without calling the adapter"
    assert rig.log.faults() == [
        *failed,
        f"circuit open after 3 failed calls in a row (last: {failed[2]})",
        refused.format("submit") + " (o-4)",
        refused.format("modify") + " (o-0)",
    ]
    assert [statuses(rig.log, f"o-{n}") for n in (1, 2, 3)] == [
        [(OrderStatus.REJECTED, RejectReason.ENGINE_ERROR)]
    ] * 3
    assert statuses(rig.log, "o-4") == [(OrderStatus.REJECTED, RejectReason.CIRCUIT_OPEN)]
    assert statuses(rig.log, "o-0") == [
        ACCEPTED,
        (OrderStatus.ACCEPTED, RejectReason.MODIFY_REFUSED),  # as it was before the modify
        (OrderStatus.CANCELLED, None),
    ]
    assert rig.log.updates("o-0")[1].quantity == 10.0
    assert faulty.calls == 5, "o-0, three failures, the cancel: o-4 and the modify never called"
    assert inner.calls == [("submit", "o-0"), ("cancel", "o-0")]
    if not reset_passed:  # (the assertions on the open state hold only before reset_s)
        assert stats.breaker is CircuitState.OPEN
        assert healthy_open is False, "an open circuit answers the health probe unhealthy"

    deadline = time.monotonic() + 10
    while rig.settle(engine).breaker is not CircuitState.HALF_OPEN:
        assert time.monotonic() < deadline, "the circuit did not half-open"
        threading.Event().wait(0.02)
    assert engine.ask(Probe(), timeout=10) is True, "healthy again: the trial is due"
    engine.tell(order(5))
    rig.log.wait_update("o-5", OrderStatus.ACCEPTED)
    stats = rig.settle(engine)
    assert (stats.breaker, stats.breaker_opened) == (CircuitState.CLOSED, 1)
    assert inner.submitted() == ["o-0", "o-5"]


# --- the rate limit --------------------------------------------------------------------


def test_the_rate_limit_spaces_the_calls_and_keeps_them_in_order(rig: Rig) -> None:
    inner = paper()
    engine = rig.start(inner, rate_limit=RateLimitConfig(calls_per_s=50.0, burst=1))
    for n in range(1, 21):
        engine.tell(order(n))
        if n == 5:
            engine.tell(cancel(5))  # queued behind its submit, ahead of o-6
    rig.log.wait_update("o-20", OrderStatus.ACCEPTED)
    stats = rig.settle(engine)
    expected = [("submit", f"o-{n}") for n in range(1, 6)]
    expected += [("cancel", "o-5")] + [("submit", f"o-{n}") for n in range(6, 21)]
    assert inner.calls == expected
    span = inner.times[-1] - inner.times[0]
    assert span >= 20 / 50 - 0.002, f"21 calls at 50/s take 0.4 s at least, took {span:.3f}s"
    assert statuses(rig.log, "o-5") == [ACCEPTED, (OrderStatus.CANCELLED, None)]
    assert (stats.waiting, stats.orders, len(stats.working_orders)) == (0, 20, 19)


def test_cancel_all_answers_the_orders_still_waiting_instead_of_sending_them(rig: Rig) -> None:
    inner = paper()
    engine = rig.start(inner, rate_limit=RateLimitConfig(calls_per_s=0.1, burst=1))
    for n in (1, 2, 3):
        engine.tell(order(n))  # o-1 takes the only token; o-2, o-3 wait 10 s
    working = engine.ask(CancelAll(RejectReason.SHUTDOWN, "runtime shutting down"), timeout=10)
    stats = rig.settle(engine)
    assert working == ()
    assert inner.calls == [("submit", "o-1"), ("cancel_all", "")], "never delayed by the limit"
    assert statuses(rig.log, "o-1") == [ACCEPTED, (OrderStatus.CANCELLED, RejectReason.SHUTDOWN)]
    for cid in ("o-2", "o-3"):
        (update,) = rig.log.updates(cid)
        assert (update.status, update.reason, update.message) == (
            OrderStatus.REJECTED,
            RejectReason.SHUTDOWN,
            "runtime shutting down: not sent",
        )
    assert stats.waiting == 0


# --- restarts ----------------------------------------------------------------------------


def test_a_waiting_retry_survives_a_crash_of_the_engine_actor(rig: Rig) -> None:
    inner = paper()
    outer = Gated(inner, TransientBrokerError("429 too many requests"))
    retry = RetryConfig(attempts=3, backoff_min_s=0.2, backoff_max_s=1.0, jitter=0.0)
    first = rig.start(outer, retry=retry)
    submitted = order(1)
    first.tell(submitted)
    first.tell(Crash())  # handled right after the failed submit, before its retry is due
    outer.gate.set()
    rig.log.wait(
        "the engine reported its failure",
        lambda: any(isinstance(m, ActorFailed) for m in rig.log.to(SUPERVISOR)),
    )
    # What the supervisor does: wait for the thread, take the handover, start a replacement.
    actor, thread = actor_of(first), actor_thread(first)
    assert isinstance(actor, EngineHost) and thread is not None
    thread.join(10)
    carry = actor.handover(False)
    assert carry is not None
    assert [(c.request, c.calls) for c in carry.waiting] == [(submitted, 1)], "the same Order"
    assert carry.retries == 1
    timers = f"tradepit-{ENGINE}-timers"
    assert not [t for t in threading.enumerate() if t.name == timers and t.is_alive()], (
        "the failed actor's timer thread ended with it"
    )
    second = rig.start(outer, retry=retry, carry=carry)
    rig.log.wait_update("o-1", OrderStatus.ACCEPTED)
    stats = rig.settle(second)
    assert inner.submitted() == ["o-1"], "sent once, by the replacement"
    assert statuses(rig.log, "o-1") == [ACCEPTED]
    assert (stats.retries, stats.waiting, stats.orders) == (1, 0, 1)


# --- modifications ---------------------------------------------------------------------


def test_a_modification_reaches_the_adapter_or_is_answered_refused(rig: Rig) -> None:
    inner = paper()
    engine = rig.start(inner)
    engine.tell(order(1))
    engine.tell(modify(1, 25.0))
    rig.log.wait("the modify answered", lambda: len(rig.log.updates("o-1")) == 2)
    done = rig.log.updates("o-1")[1]
    assert (done.status, done.quantity, done.reason) == (OrderStatus.ACCEPTED, 25.0, None)

    plain = CannotModify()
    other = rig.start(plain)
    other.tell(order(2))
    other.tell(modify(2, 25.0))
    rig.log.wait("the refusal", lambda: len(rig.log.updates("o-2")) == 2)
    rig.settle(other)
    refused = rig.log.updates("o-2")[1]
    assert (refused.status, refused.quantity, refused.reason, refused.message) == (
        OrderStatus.ACCEPTED,
        10.0,
        RejectReason.MODIFY_REFUSED,
        "this adapter cannot modify orders",
    )
    assert rig.log.faults() == [], "an adapter without modify is not failing"


# --- answers the order manager needs ------------------------------------------------


class AcksLater(CannotModify):
    """Like a venue: submit answers nothing at once (the ack would come later)."""

    def submit(self, order: Order) -> list[AdapterEvent]:
        self.working.append(order.client_order_id)
        return []


class CancelFails(CannotModify):
    """Accepts orders; every cancel raises a permanent error."""

    def cancel(self, client_order_id: str, ts_event: int) -> list[AdapterEvent]:
        raise PermanentBrokerError("cancel refused by the broker")


def _modify(n: int, quantity: float) -> ModifyOrder:
    return ModifyOrder(
        id=next_id(),
        ts_event=time.time_ns(),
        ts_init=time.time_ns(),
        client_order_id=f"o-{n}",
        strategy_id="s",
        quantity=quantity,
        limit_price=None,
        stop_price=None,
        market_price=None,
    )


def _cancel(n: int) -> CancelOrder:
    now = time.time_ns()
    return CancelOrder(
        id=next_id(), ts_event=now, ts_init=now, client_order_id=f"o-{n}", strategy_id="s"
    )


def test_a_failed_cancel_is_answered_so_the_order_leaves_pending_cancel(rig: Rig) -> None:
    engine = rig.start(CancelFails())
    engine.tell(order(1))
    rig.log.wait_update("o-1", OrderStatus.ACCEPTED)
    engine.tell(_cancel(1))
    rig.log.wait("cancel answered", lambda: len(rig.log.updates("o-1")) == 2)
    rig.settle(engine)  # every sink has recorded what it was told (the fault too)
    accepted, refused = rig.log.updates("o-1")
    assert (refused.status, refused.reason) == (OrderStatus.ACCEPTED, RejectReason.ENGINE_ERROR)
    assert "cancel failed: PermanentBrokerError: cancel refused by the broker" in refused.message
    assert (refused.quantity, refused.filled_quantity) == (accepted.quantity, 0.0)
    assert len(rig.log.faults()) == 1


def test_a_modify_before_the_ack_is_refused_through_the_order_manager(rig: Rig) -> None:
    engine = rig.start(AcksLater())
    engine.tell(order(1))
    engine.tell(_modify(1, 20.0))
    rig.log.wait("refusal", lambda: any(isinstance(m, ModifyRefused) for m in rig.log.to(ORDERS)))
    (refused,) = [m for m in rig.log.to(ORDERS) if isinstance(m, ModifyRefused)]
    assert refused.by_engine is True
    assert (refused.modify.client_order_id, refused.reason) == ("o-1", RejectReason.MODIFY_REFUSED)


def test_a_cancel_of_an_order_the_paper_book_does_not_have_says_so(rig: Rig) -> None:
    engine = rig.start(paper())
    engine.tell(_cancel(7))
    rig.log.wait(
        "not found", lambda: any(isinstance(m, CancelNotFound) for m in rig.log.to(ORDERS))
    )
    (found,) = [m for m in rig.log.to(ORDERS) if isinstance(m, CancelNotFound)]
    assert (found.client_order_id, found.engine) == ("o-7", "paper")
    plain = rig.start(CannotModify())  # fronts a broker: no claim about orders it lacks
    plain.tell(_cancel(8))
    rig.settle(plain)
    assert [m.client_order_id for m in rig.log.to(ORDERS) if isinstance(m, CancelNotFound)] == [
        "o-7"
    ]


def test_a_retry_that_reached_the_broker_is_not_refused_by_an_open_circuit(rig: Rig) -> None:
    inner = paper()
    outer = Gated(inner, TimeoutError("no answer within 2s"), reach=True)
    engine = rig.start(outer, breaker=BreakerConfig(failures=1, reset_s=60.0))
    engine.tell(order(1))  # reaches the broker, times out: the circuit opens
    outer.gate.set()
    update = rig.log.wait_update("o-1", OrderStatus.ACCEPTED)
    stats = rig.settle(engine)
    assert update.message == "accepted by the broker before the failed submit returned"
    assert statuses(rig.log, "o-1") == [ACCEPTED], "not REJECTED CIRCUIT_OPEN: it is working"
    assert inner.submitted() == ["o-1"]
    assert stats.working_orders == ("o-1",)
