"""Acceptance: two ``tradepit venue`` processes as primary and backup engines.

SIGKILL the primary mid-run: the runtime fails over and trading continues on
the backup; restart the primary on the same ports: the runtime fails back.
No order is lost or duplicated on the way.

Real subprocesses and real sockets on 127.0.0.1. The runtime's own synthetic
feed drives the strategies (20 bars/s); each venue matches the orders it gets
against its own replay of the same synthetic data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from test_venue import VenueProcess, start_venue, write_venue_config

from actors.risk import RiskStats
from runtime.boot import Runtime
from runtime.messages import (
    EngineFailedBack,
    EngineFailedOver,
    Fill,
    GetSnapshot,
    Message,
    Order,
    OrderStatus,
    OrderUpdate,
    RejectReason,
    StopFeed,
)
from runtime.names import FEED, RISK
from runtime.settings import load_settings
from support import Recorder

WAIT_S = 8.0
"""Deadline of each wait: far above what each step takes (well under 2 s)."""
TRADES_PER_PHASE = 5
"""Market orders that must fill at each engine in each phase."""
BUYER = "buyer"
RESTER = "rester"

SETTINGS = """
[runtime]
name = "failover-acceptance"
log_level = "WARNING"
shutdown_timeout_s = 5.0

[feed]
source = "synthetic"
interval_s = 60
speed = 1200.0
[feed.synthetic]
symbols = ["SYN-A"]
bars = 0

[execution]
engines = ["primary", "backup"]
failover_threshold = 3
failback_after_s = 1.0
{engines}
[[strategies]]
id = "buyer"
class = "support:BuyEveryBar"
symbols = ["SYN-A"]

[[strategies]]
id = "rester"
class = "support:DayLimitOnce"
symbols = ["SYN-A"]
"""

ENGINE = """
[engines.{name}]
adapter = "venue"
[engines.{name}.venue]
orders = "{orders}"
market_data = "{market_data}"
heartbeat_s = 0.1
request_timeout_s = 0.5
[engines.{name}.supervision]
health_interval_s = 0.1
health_timeout_s = 1.0
"""


class Events(Recorder):
    """A recorder that can also wait for a condition on everything published so far."""

    def wait_until(
        self, condition: Callable[[list[Message]], bool], what: str, timeout_s: float = WAIT_S
    ) -> list[Message]:
        """Wait until ``condition(events)`` holds; fail after ``timeout_s``."""
        with self._cv:
            met = self._cv.wait_for(lambda: condition(self.events), timeout_s)
            events = list(self.events)
        assert met, f"{what}: not within {timeout_s}s"
        return events

    def index(self, event: Message) -> int:
        """Where ``event`` (this very object) was published."""
        return next(i for i, e in enumerate(self.of(Message)) if e is event)


def _updates(events: Iterable[Message]) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate)]


def _number(client_order_id: str) -> int:
    """The per-strategy counter at the end of ``<run>-<strategy>-<n>``."""
    return int(client_order_id.rsplit("-", 1)[1])


def _filled_after(events: list[Message], start: int, engine: str) -> set[str]:
    """Buyer orders ACCEPTED by ``engine`` at or after ``start`` and FILLED by it since."""
    accepted: set[str] = set()
    filled: set[str] = set()
    for event in events[start:]:
        if not isinstance(event, OrderUpdate) or event.strategy_id != BUYER:
            continue
        if event.engine != engine:
            continue
        if event.status is OrderStatus.ACCEPTED:
            accepted.add(event.client_order_id)
        elif event.status is OrderStatus.FILLED and event.client_order_id in accepted:
            filled.add(event.client_order_id)
    return filled


def _has_status(client_order_id: str, status: OrderStatus) -> Callable[[list[Message]], bool]:
    return lambda events: any(
        u.client_order_id == client_order_id and u.status is status for u in _updates(events)
    )


def _settings_file(tmp_path: Path, primary: VenueProcess, backup: VenueProcess) -> Path:
    engines = "".join(
        ENGINE.format(name=name, orders=venue.orders, market_data=venue.market_data)
        for name, venue in (("primary", primary), ("backup", backup))
    )
    path = tmp_path / "settings.toml"
    path.write_text(SETTINGS.format(engines=engines), encoding="utf-8")
    return path


def test_sigkill_primary_fails_over_to_backup_then_fails_back_after_restart(
    tmp_path: Path,
) -> None:
    primary_config = write_venue_config(tmp_path / "primary.toml", symbols=("SYN-A",))
    backup_config = write_venue_config(tmp_path / "backup.toml", symbols=("SYN-A",))
    venues: list[VenueProcess] = []
    runtime: Runtime | None = None
    try:
        primary = start_venue(primary_config)
        venues.append(primary)
        venues.append(start_venue(backup_config))
        events = Events()
        settings = load_settings(_settings_file(tmp_path, primary, venues[1]))
        started = Runtime(settings, listeners=[events])
        started.start()  # stops what it started if it raises
        runtime = started

        # --- 1. trading on the primary; one limit order rests there -------------------
        events.wait_until(
            lambda es: len(_filled_after(es, 0, "primary")) >= TRADES_PER_PHASE,
            "market orders filled at the primary",
        )
        events.wait_until(
            lambda es: any(u.strategy_id == RESTER for u in _updates(es)),
            "the resting limit order answered",
        )
        resting = next(u for u in events.of(OrderUpdate) if u.strategy_id == RESTER)
        assert (resting.status, resting.engine) == (OrderStatus.ACCEPTED, "primary")

        # --- 2. SIGKILL the primary venue: failover to the backup ----------------------
        primary.kill()
        (failed_over,) = events.wait_for(EngineFailedOver, 1, WAIT_S)
        assert (failed_over.previous, failed_over.engine) == ("primary", "backup")
        assert failed_over.failures >= 3
        status = runtime.execution_status()
        assert status is not None
        assert (status.active, status.recovery, status.switches) == ("backup", "failed over", 1)

        after_failover = events.index(failed_over)
        events.wait_until(
            lambda es: len(_filled_after(es, after_failover, "backup")) >= TRADES_PER_PHASE,
            "market orders filled at the backup after the failover",
        )
        assert not events.of(EngineFailedBack)  # the primary is still dead
        # The killed primary cannot reconcile: what rested there is UNKNOWN now,
        # not only once it comes back.
        events.wait_until(
            _has_status(resting.client_order_id, OrderStatus.UNKNOWN),
            "the order resting at the dead primary reported UNKNOWN while it is down",
        )

        # --- 3. restart the primary on the same ports: failback ------------------------
        restarted = start_venue(primary_config)
        venues.append(restarted)
        assert (restarted.orders, restarted.market_data) == (primary.orders, primary.market_data)
        (failed_back,) = events.wait_for(EngineFailedBack, 1, WAIT_S)
        assert (failed_back.previous, failed_back.engine) == ("backup", "primary")
        after_failback = events.index(failed_back)
        events.wait_until(
            lambda es: len(_filled_after(es, after_failback, "primary")) >= TRADES_PER_PHASE,
            "market orders filled at the primary after the failback",
        )
        status = runtime.execution_status()
        assert status is not None
        assert (status.active, status.recovery, status.switches) == ("primary", "primary active", 2)

        # --- 4. stop trading; every order routed is accounted for ----------------------
        runtime.ask(FEED, StopFeed())
        runtime.settle()
        risk: RiskStats = runtime.ask(RISK, GetSnapshot())
        reached = events.of(Order)  # published by the engine that received the order
        routed = {o.client_order_id: o for o in reached}
        assert risk.rejected == 0
        assert len(reached) == len(routed) == risk.accepted  # each reached one engine, once
        events.wait_until(
            lambda es: _unresolved(routed, es) == set(),
            "a final or UNKNOWN status for every order routed",
        )
        final = events.of(Message)
        _check_no_order_lost_or_duplicated(routed, final, resting.client_order_id)
        assert len(events.of(EngineFailedOver)) == 1
        assert len(events.of(EngineFailedBack)) == 1

        summary = runtime.stop()
        assert summary.stuck_threads == ()
    finally:
        try:
            if runtime is not None:
                runtime.stop()  # a no-op after a clean stop
        finally:
            for venue in venues:
                venue.kill()


def _unresolved(routed: dict[str, Order], events: list[Message]) -> set[str]:
    """Orders routed without a final or UNKNOWN status reported yet."""
    resolved = {
        u.client_order_id
        for u in _updates(events)
        if u.status.is_terminal or u.status is OrderStatus.UNKNOWN
    }
    return set(routed) - resolved


def _check_no_order_lost_or_duplicated(
    routed: dict[str, Order], events: list[Message], resting: str
) -> None:
    updates = _updates(events)
    assert {u.client_order_id for u in updates} <= set(routed)

    # Each client order id is ACCEPTED by at most one engine.
    accepted_by: dict[str, set[str]] = {}
    for u in updates:
        if u.status is OrderStatus.ACCEPTED:
            accepted_by.setdefault(u.client_order_id, set()).add(u.engine)
    assert {oid: engines for oid, engines in accepted_by.items() if len(engines) > 1} == {}

    # No fill twice, and never more than the order's quantity.
    fills = [e for e in events if isinstance(e, Fill)]
    assert len({f.fill_id for f in fills}) == len(fills)
    filled_qty: dict[str, float] = {}
    for f in fills:
        filled_qty[f.client_order_id] = filled_qty.get(f.client_order_id, 0.0) + f.quantity
    assert {oid: q for oid, q in filled_qty.items() if q > routed[oid].quantity + 1e-9} == {}

    # Orders reach the engines in the order the strategy made them, so the
    # engines that accepted the buyer's orders read primary, backup, primary.
    buyer = sorted((oid for oid in routed if routed[oid].strategy_id == BUYER), key=_number)
    engines = [next(iter(accepted_by[oid])) for oid in buyer if oid in accepted_by]
    runs = [e for i, e in enumerate(engines) if i == 0 or engines[i - 1] != e]
    assert runs == ["primary", "backup", "primary"], engines

    # Orders never accepted were lost in the primary's outage: refused as not
    # sent (they never left) or UNKNOWN (they may have reached the dead venue).
    for oid in set(routed) - set(accepted_by):
        outcomes = {(u.status, u.reason) for u in updates if u.client_order_id == oid}
        assert outcomes <= {
            (OrderStatus.REJECTED, RejectReason.ENGINE_ERROR),
            (OrderStatus.UNKNOWN, None),
            (OrderStatus.UNKNOWN, RejectReason.ENGINE_ERROR),
        }, (oid, outcomes)
        assert all(u.engine in ("primary", "") for u in updates if u.client_order_id == oid)

    # What was working at the primary when it died ended UNKNOWN, never FILLED.
    at_primary = {oid for oid, engines in accepted_by.items() if engines == {"primary"}}
    for oid in at_primary:
        history = [u.status for u in updates if u.client_order_id == oid]
        if OrderStatus.FILLED not in history:
            assert OrderStatus.UNKNOWN in history, (oid, history)
    resting_statuses = [u.status for u in updates if u.client_order_id == resting]
    assert resting_statuses[0] is OrderStatus.ACCEPTED
    assert OrderStatus.UNKNOWN in resting_statuses
    assert OrderStatus.FILLED not in resting_statuses
