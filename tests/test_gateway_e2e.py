"""The gateway end to end (issue 4 acceptance), over real ZeroMQ sockets.

A real runtime with its gateway (:class:`runtime.service.Service`) on
ephemeral loopback ports; clients are :mod:`runtime.client` objects. Bars are
injected one by one, so every test knows exactly what was traded.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.auth

import support
from runtime.client import Client, CurveKeys, Event, Gap, Mirror, RemoteError, Subscription
from runtime.gateway_protocol import ErrorCode
from runtime.messages import Fill, OrderStatus, OrderUpdate
from runtime.service import Service
from runtime.settings import parse_settings
from support import make_bar

_BASE = """
[runtime]
name = "gw-e2e"
shutdown_timeout_s = 10.0
[feed]
source = "synthetic"
lockstep = true
[feed.synthetic]
symbols = ["AAA", "BBB"]
[risk]
max_orders_per_s = 0
[gateway]
enabled = true
commands = "tcp://127.0.0.1:*"
events = "tcp://127.0.0.1:*"
heartbeat_s = 0.05
"""

_BUYER = """
[[strategies]]
id = "buyer"
class = "support:BuyEveryBar"
symbols = ["AAA"]
"""

_RESTING = '''
"""A strategy loaded from a file by add_strategy: one resting bid a bar."""
from dataclasses import dataclass

from runtime.messages import Bar
from strategies.base import Strategy


@dataclass(frozen=True, slots=True, kw_only=True)
class Params:
    quantity: float = 1.0


class RestingBids(Strategy):
    Params = Params

    def on_bar(self, bar: Bar) -> None:
        self.buy(bar.symbol, self.params.quantity, limit=round(bar.close / 2, 2))
'''


Start = Callable[..., Service]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start a service from the base settings, ``gateway`` keys and ``extra``
    tables; stopped after the test."""
    started: list[Service] = []

    def run(extra: str = _BUYER, gateway: str = "", **kwargs: Any) -> Service:
        text = _BASE + gateway + extra
        settings = parse_settings(text, source="gw.toml", base_dir=tmp_path)
        service = Service(settings, source=iter(()), **kwargs)
        service.start()
        started.append(service)
        return service

    yield run
    for service in started:
        service.stop()


def _endpoints(service: Service) -> tuple[str, str]:
    assert service.gateway is not None
    return service.gateway.commands_endpoint, service.gateway.events_endpoint


def _collect(sub: Subscription, until_seq: int, timeout_s: float = 20.0) -> list[Event | Gap]:
    """Everything received until the event numbered ``until_seq``."""
    got: list[Event | Gap] = []
    while True:
        item = sub.next(timeout_s)
        assert item is not None, f"no event within {timeout_s}s; waiting for seq {until_seq}"
        if isinstance(item, Event) and item.type == "Heartbeat":
            continue
        got.append(item)
        if isinstance(item, Event) and item.seq >= until_seq:
            return got


def _inject(service: Service, first: int, count: int, symbol: str = "AAA") -> None:
    for i in range(first, first + count):
        service.runtime.inject(make_bar(i, symbol))
    service.runtime.settle()


def _mark(service: Service) -> int:
    assert service.gateway is not None
    service.runtime.settle()
    return service.gateway.mark(10.0)


def test_two_clients_one_sees_every_order_and_fill_in_sequence_the_other_commands(
    start: Start,
) -> None:
    service = start()
    commands, events = _endpoints(service)
    with Subscription(events) as sub, Client(commands) as control:
        assert sub.ready(10.0)
        sub.start_after(_mark(service))
        queried: list[str] = []

        def operate() -> None:
            # The second client, while the first one streams: queries and commands.
            for _ in range(5):
                queried.append(control.request("status")["state"])
                control.request("orders", {"strategy": "buyer"})
            control.request("pause", {"strategy": "buyer", "reason": "drill"})
            control.request("resume", {"strategy": "buyer"})

        operator = threading.Thread(target=operate)
        operator.start()
        _inject(service, 0, 150)
        operator.join(30)
        assert not operator.is_alive()
        _inject(service, 150, 50)
        received = _collect(sub, _mark(service))

    assert queried == ["RUNNING"] * 5
    assert not [g for g in received if isinstance(g, Gap)]
    seqs = [e.seq for e in received if isinstance(e, Event)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

    orders = service.runtime.orders("", open_only=False)
    fills = [e.message() for e in received if isinstance(e, Event) and e.type == "Fill"]
    updates = [e.message() for e in received if isinstance(e, Event) and e.type == "OrderUpdate"]
    # Orders refused while paused never reached an engine; every other one filled.
    filled = [o for o in orders if o.status is OrderStatus.FILLED]
    assert len(filled) >= 190
    assert Counter(f.client_order_id for f in fills if isinstance(f, Fill)) == Counter(
        {o.client_order_id: 1 for o in filled}
    )
    last: dict[str, OrderUpdate] = {}
    for u in updates:
        assert isinstance(u, OrderUpdate)
        last[u.client_order_id] = u
    assert {k: (u.status, u.filled_quantity) for k, u in last.items()} == {
        o.client_order_id: (o.status, o.filled_quantity) for o in orders
    }
    paused = [e for e in received if isinstance(e, Event) and e.topic == "strategy.paused"]
    assert [e.data["reason"] for e in paused] == ["drill"]


def test_hot_add_from_an_allowed_directory_trade_remove_restart(
    start: Start, tmp_path: Path
) -> None:
    allowed = tmp_path / "hot"
    allowed.mkdir()
    (allowed / "resting.py").write_text(_RESTING, encoding="utf-8")
    service = start(gateway=f'strategy_dirs = ["{allowed}"]\n')
    commands, events = _endpoints(service)
    with Subscription(events, ("strategy.", "order.")) as sub, Client(commands) as client:
        assert sub.ready(10.0)
        _inject(service, 0, 5)  # trading before the add
        view = client.request(
            "add_strategy",
            {
                "id": "hot",
                "class": "resting.py:RestingBids",
                "symbols": ["AAA"],
                "params": {"quantity": 3},
                "risk": {"max_open_orders": 4},
            },
        )
        assert (view["id"], view["state"], view["symbols"]) == ("hot", "running", ["AAA"])
        _inject(service, 5, 6)
        hot = service.runtime.orders("hot", open_only=True)
        # Six bars, one bid each, but its own limit of 4 open orders refused two.
        assert [o.quantity for o in hot] == [3.0] * 4
        assert all(o.status is OrderStatus.ACCEPTED for o in hot)
        assert client.request("strategies")[-1]["id"] == "hot"

        removed = client.request("remove_strategy", {"id": "hot"})
        assert sorted(removed["cancelled"]) == sorted(o.client_order_id for o in hot)
        _mark(service)
        assert service.runtime.orders("hot", open_only=True) == ()
        ended = {
            o.client_order_id: o.status for o in service.runtime.orders("hot", open_only=False)
        }
        assert {ended[o.client_order_id] for o in hot} == {OrderStatus.CANCELLED}
        # The buyer was not touched.
        assert [s["state"] for s in client.request("strategies") if s["id"] == "buyer"] == [
            "running"
        ]

        client.request(
            "add_strategy", {"id": "hot", "class": "resting.py:RestingBids", "symbols": ["AAA"]}
        )
        restarted = client.request("restart_strategy", {"id": "hot"})
        assert (restarted["state"], restarted["restarts"]) == ("running", 1)
        _inject(service, 11, 2)
        again = service.runtime.orders("hot", open_only=True)
        assert len(again) == 2
        ids = [o.client_order_id for o in service.runtime.orders("hot", open_only=False)]
        assert len(ids) == len(set(ids))  # a re-added strategy never reuses an order id
        seen = _collect(sub, _mark(service))
    topics = [e.topic for e in seen if isinstance(e, Event)]
    assert topics.count("strategy.started") == 3  # add, re-add, restart
    assert topics.count("strategy.removed") == 1


@pytest.mark.parametrize(
    ("class_path", "code"),
    [
        ("os:path", ErrorCode.NOT_ALLOWED),
        ("support:BuyEveryBar", ErrorCode.NOT_ALLOWED),
        ("strategiesx.evil:Strategy", ErrorCode.NOT_ALLOWED),
        ("../outside.py:RestingBids", ErrorCode.NOT_ALLOWED),
        ("strategies.sma_crossover:Nope", ErrorCode.LOAD_ERROR),
        ("strategies.sma_crossover:SmaParams", ErrorCode.LOAD_ERROR),
        ("broken.py:Broken", ErrorCode.LOAD_ERROR),
    ],
)
def test_add_strategy_refusals_leave_the_runtime_untouched(
    start: Start, tmp_path: Path, class_path: str, code: ErrorCode
) -> None:
    allowed = tmp_path / "hot"
    allowed.mkdir()
    (tmp_path / "outside.py").write_text(_RESTING, encoding="utf-8")
    (allowed / "broken.py").write_text("raise ImportError('no such dependency')\n")
    service = start(gateway=f'strategy_dirs = ["{allowed}"]\n')
    commands, _ = _endpoints(service)
    with Client(commands) as client:
        before = client.request("actors")
        with pytest.raises(RemoteError) as refused:
            client.request("add_strategy", {"id": "x", "class": class_path, "symbols": ["AAA"]})
        assert refused.value.code is code
        assert class_path.partition(":")[0].removeprefix("../") in refused.value.message
        assert client.request("actors") == before
        assert [s["id"] for s in client.request("strategies")] == ["buyer"]


@pytest.mark.parametrize(
    ("args", "code", "names"),
    [
        (
            {"id": "buyer", "class": "strategies.sma_crossover:SmaCrossover", "symbols": ["AAA"]},
            ErrorCode.CONFLICT,
            "buyer",
        ),
        (
            {
                "id": "n",
                "class": "strategies.sma_crossover:SmaCrossover",
                "symbols": ["AAA"],
                "params": {"fast": "x"},
            },
            ErrorCode.BAD_ARGUMENT,
            "params.fast",
        ),
        (
            {"id": "n", "class": "strategies.sma_crossover:SmaCrossover", "symbols": ["ZZZ"]},
            ErrorCode.BAD_ARGUMENT,
            "symbols",
        ),
        (
            {"id": "n", "class": "strategies.sma_crossover:SmaCrossover"},
            ErrorCode.BAD_ARGUMENT,
            "symbols",
        ),
        (
            {
                "id": "n",
                "class": "strategies.sma_crossover:SmaCrossover",
                "symbols": ["AAA"],
                "colour": 1,
            },
            ErrorCode.BAD_ARGUMENT,
            "colour",
        ),
    ],
)
def test_add_strategy_bad_arguments_name_the_argument(
    start: Start, args: dict[str, Any], code: ErrorCode, names: str
) -> None:
    service = start()
    commands, _ = _endpoints(service)
    with Client(commands) as client:
        with pytest.raises(RemoteError) as refused:
            client.request("add_strategy", args)
        assert refused.value.code is code
        assert names in refused.value.message
        assert [s["id"] for s in client.request("strategies")] == ["buyer"]


def test_a_late_joiner_ends_with_the_state_of_a_client_there_from_the_start(
    start: Start,
) -> None:
    service = start(
        _BUYER
        + """
[[strategies]]
id = "bids"
class = "support:BuyEveryBar"
symbols = ["BBB"]
[strategies.params]
limit_offset = 1.0
"""
    )
    commands, events = _endpoints(service)
    with Client(commands) as client, Subscription(events) as early:
        assert early.ready(10.0)
        first = Mirror(client.request("snapshot"))
        early.start_after(first.seq)
        _inject(service, 0, 40)
        _inject(service, 0, 20, "BBB")
        with Subscription(events) as late:
            assert late.ready(10.0)
            _inject(service, 40, 10)  # trading goes on while the late client joins
            snapshot = client.request("snapshot")
            second = Mirror(snapshot)
            late.start_after(snapshot["seq"])
            client.request("halt", {"reason": "end of the test"})  # cancels the resting bids
            _inject(service, 20, 5, "BBB")
            end = _mark(service)
            for event in _collect(early, end):
                assert isinstance(event, Event), event
                first.apply(event)
            for event in _collect(late, end):
                assert isinstance(event, Event), event
                second.apply(event)
        final = client.request("snapshot")
    assert second.state() == first.state()
    assert first.state() == Mirror(final).state()
    assert first.state()["state"] == "HALTED"
    assert snapshot["seq"] > 0


def test_curve_no_key_gets_nothing_read_only_cannot_change_state_control_can(
    start: Start, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    for name in ("server", "control", "readonly", "rogue"):
        (keys / name).mkdir(parents=True)
        zmq.auth.create_certificates(str(keys / name), name)
    service = start(
        gateway=f"""[gateway.curve]
server_secret_key = "{keys / "server" / "server.key_secret"}"
control_keys = "{keys / "control"}"
readonly_keys = "{keys / "readonly"}"
"""
    )
    commands, events = _endpoints(service)
    server = keys / "server" / "server.key"

    def client_keys(name: str) -> CurveKeys:
        return CurveKeys.from_files(server, keys / name / f"{name}.key_secret")

    with Client(commands, keys=client_keys("rogue"), timeout_s=1.0) as rogue:
        with pytest.raises(Exception) as nothing:
            rogue.request("status")
        assert not isinstance(nothing.value, RemoteError)
    with Client(commands, timeout_s=1.0) as plain:
        with pytest.raises(Exception) as nothing:
            plain.request("status")
        assert not isinstance(nothing.value, RemoteError)
    with Subscription(events, keys=client_keys("rogue")) as rogue_sub:
        assert not rogue_sub.ready(1.0)

    with Client(commands, keys=client_keys("readonly")) as reader:
        assert reader.request("status")["state"] == "RUNNING"
        with pytest.raises(RemoteError) as forbidden:
            reader.request("halt")
        assert forbidden.value.code is ErrorCode.FORBIDDEN
        with pytest.raises(RemoteError) as forbidden:
            reader.request("add_strategy", {"id": "x"})
        assert forbidden.value.code is ErrorCode.FORBIDDEN
    assert service.runtime.state.value == "RUNNING"
    with Subscription(events, keys=client_keys("readonly")) as reader_sub:
        assert reader_sub.ready(10.0)

    with Client(commands, keys=client_keys("control")) as controller:
        assert controller.request("halt", {"reason": "drill"})["state"] == "HALTED"
    assert service.runtime.state.value == "HALTED"


def test_a_subscriber_that_stops_reading_does_not_hold_the_runtime(start: Start) -> None:
    service = start(gateway="send_hwm = 100\npublish_bars = true\n")
    commands, events = _endpoints(service)
    ctx = zmq.Context()
    stalled = ctx.socket(zmq.SUB)
    stalled.setsockopt(zmq.RCVHWM, 10)
    stalled.setsockopt(zmq.SUBSCRIBE, b"")
    stalled.setsockopt(zmq.LINGER, 0)
    stalled.connect(events)
    try:
        with Subscription(events, ("order.fill",)) as reader, Client(commands) as client:
            assert reader.ready(10.0)
            _inject(service, 0, 2000)  # ~10,000 events; the stalled one holds 110 at most
            end = _mark(service)
            stats = client.request("status")["gateway"]
            assert stats["seq"] == end
            assert stats["dropped"] == 0  # the gateway itself kept up: no event lost before PUB
            assert stats["subscribers"] >= 2
            # 2,000 bars: 1,999 fills (the last bar's order has no later bar to fill on).
            fills: list[Event] = []
            deadline = time.monotonic() + 30.0
            while len(fills) < 1999 and time.monotonic() < deadline:
                item = reader.next(1.0)
                assert not isinstance(item, Gap), item
                if isinstance(item, Event) and item.type == "Fill":
                    fills.append(item)
            assert [e.tseq for e in fills] == list(range(1, 2000))
    finally:
        stalled.close()
        ctx.term()


def test_a_module_that_hangs_while_imported_is_refused_and_commands_go_on(
    start: Start, tmp_path: Path
) -> None:
    allowed = tmp_path / "hot"
    allowed.mkdir()
    (allowed / "hangs.py").write_text("import support\nsupport.IMPORT_GATE.wait(60)\n")
    text = _BASE.replace("shutdown_timeout_s = 10.0", "shutdown_timeout_s = 1.0")
    settings = parse_settings(
        text + f'strategy_dirs = ["{allowed}"]\n' + _BUYER, source="gw.toml", base_dir=tmp_path
    )
    service = Service(settings, source=iter(()))
    service.start()
    try:
        commands, _ = _endpoints(service)
        with Client(commands) as client:
            with pytest.raises(RemoteError) as refused:
                client.request(
                    "add_strategy", {"id": "h", "class": "hangs.py:X", "symbols": ["AAA"]}
                )
            assert refused.value.code is ErrorCode.LOAD_ERROR
            assert "did not finish within 1s" in refused.value.message
            assert client.request("status")["state"] == "RUNNING"
            assert [s["id"] for s in client.request("strategies")] == ["buyer"]
    finally:
        support.IMPORT_GATE.set()
        service.stop()


def test_halt_does_not_wait_behind_a_slow_command(start: Start) -> None:
    service = start(gateway='strategy_modules = ["support"]\n')
    commands, _ = _endpoints(service)
    support.START_GATE.clear()
    support.STARTING.clear()
    added: list[Any] = []
    with Client(commands) as slow, Client(commands, timeout_s=5.0) as operator:

        def add() -> None:
            added.append(
                slow.request(
                    "add_strategy",
                    {"id": "slow", "class": "support:BlocksOnStart", "symbols": ["AAA"]},
                )
            )

        adder = threading.Thread(target=add)
        adder.start()
        try:
            assert support.STARTING.wait(10.0)
            # The add is still running (its on_start waits on the gate): halt is answered.
            halted = operator.request("halt", {"reason": "emergency"})
            assert (halted["state"], halted["reason"]) == ("HALTED", "emergency")
            assert added == []
            assert service.runtime.state.value == "HALTED"
        finally:
            support.START_GATE.set()
            adder.join(30)
    assert added and added[0]["id"] == "slow"


def test_a_core_actor_gone_for_good_makes_queries_unavailable(start: Start) -> None:
    service = start(
        gateway="",
        extra=_BUYER.replace("[[strategies]]", "[supervision]\nmax_restarts = 0\n\n[[strategies]]"),
    )
    commands, _ = _endpoints(service)
    with Client(commands) as client:
        service.runtime.crash("portfolio")
        with pytest.raises(RemoteError) as gone:
            for _ in range(100):  # until the supervisor has given up on it
                client.request("positions")
        assert gone.value.code is ErrorCode.UNAVAILABLE
        assert "portfolio" in gone.value.message.lower()
