"""The remote subcommands (``tradepit status``, ``submit``, ``tail``, ``keys``...).

They are run as ``run_remote(parser.parse_args([...]))`` on a parser built
with ``add_remote_commands``, against a real gateway (or a bare ZeroMQ
socket playing the runtime) on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import zmq
import zmq.auth

from actors.event_sink import describe
from runtime.cli_remote import REMOTE_COMMANDS, add_remote_commands, run_remote
from runtime.config import GatewayConfig
from runtime.gateway import Gateway
from runtime.gateway_protocol import CommandError, ErrorCode, Request, Role, encode_event
from runtime.messages import OrderStatus, OrderUpdate, Side, StrategyPaused

WAIT_S = 5.0

POSITIONS = [
    {
        "strategy_id": "s1",
        "symbol": "AAA",
        "quantity": 10.0,
        "avg_price": 100.25,
        "mark_price": 101.0,
        "realized_pnl": 0.0,
        "unrealized_pnl": 7.5,
        "fees": 1.0,
    },
    {
        "strategy_id": "manual",
        "symbol": "BBB",
        "quantity": -3.0,
        "avg_price": 50.0,
        "mark_price": 49.0,
        "realized_pnl": -2.5,
        "unrealized_pnl": 3.0,
        "fees": 0.25,
    },
]


class Handler:
    """Answers like a runtime would; records every request."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: Request, role: Role) -> Any:
        self.calls.append((request.cmd, request.args))
        if request.cmd == "status":
            return {"name": "rt", "state": "RUNNING", "gateway": {"seq": 7, "dropped": 0}}
        if request.cmd == "positions":
            return POSITIONS
        if request.cmd == "orders":
            return []
        if request.cmd == "halt":
            raise CommandError(ErrorCode.CONFLICT, "the runtime is already HALTED")
        if request.cmd == "submit_order":
            return {"client_order_id": "manual-000001"}
        if request.cmd == "cancel_all":
            return {"cancelled": ["s1-000001", "s1-000002"]}
        if request.cmd == "strategies":
            return ["s1", "s2"]
        return None


@pytest.fixture
def gateway() -> Iterator[tuple[Gateway, Handler]]:
    handler = Handler()
    config = GatewayConfig(
        enabled=True, commands="tcp://127.0.0.1:*", events="tcp://127.0.0.1:*", heartbeat_s=0.05
    )
    gw = Gateway(config, handler, name="cli-runtime")
    gw.start()
    yield gw, handler
    gw.close()


def parse(*argv: str) -> argparse.Namespace:
    """``argv`` parsed as the ``tradepit`` command line would parse it."""
    parser = argparse.ArgumentParser(prog="tradepit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_remote_commands(commands)
    commands.add_parser("run")
    return parser.parse_args(list(argv))


def remote(gw: Gateway, *argv: str) -> int | None:
    """Run a request subcommand against ``gw``."""
    return run_remote(parse(*argv, "--endpoint", gw.commands_endpoint, "--timeout", "5"))


def test_every_subcommand_is_registered_and_others_are_not_ours() -> None:
    parser = argparse.ArgumentParser(prog="tradepit")
    commands = parser.add_subparsers(dest="command")
    add_remote_commands(commands)
    assert set(commands.choices) == set(REMOTE_COMMANDS)
    assert run_remote(parse("run")) is None


def test_status_prints_key_value_lines(
    gateway: tuple[Gateway, Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    gw, _ = gateway
    assert remote(gw, "status") == 0
    assert capsys.readouterr().out == (
        "name: rt\nstate: RUNNING\ngateway.seq: 7\ngateway.dropped: 0\n"
    )


def test_json_prints_the_raw_result(
    gateway: tuple[Gateway, Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    gw, _ = gateway
    assert remote(gw, "positions", "--json") == 0
    assert orjson.loads(capsys.readouterr().out) == POSITIONS


def test_positions_prints_a_table(
    gateway: tuple[Gateway, Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    gw, handler = gateway
    assert remote(gw, "positions", "--strategy", "s1") == 0
    assert handler.calls == [("positions", {"strategy": "s1"})]
    assert capsys.readouterr().out.splitlines() == [
        "strategy_id  symbol  quantity  avg_price  mark_price  realized_pnl  unrealized_pnl  fees",
        "-----------  ------  --------  ---------  ----------  ------------  --------------  ----",
        "s1           AAA           10     100.25         101             0             7.5     1",
        "manual       BBB           -3         50          49          -2.5               3  0.25",
    ]


def test_empty_results_and_lists_print_plainly(
    gateway: tuple[Gateway, Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    gw, handler = gateway
    assert remote(gw, "orders", "--all") == 0
    assert remote(gw, "cancel-all", "--strategy", "s1") == 0
    assert remote(gw, "strategies") == 0
    assert remote(gw, "reset") == 0
    assert capsys.readouterr().out == ("(none)\ncancelled: s1-000001, s1-000002\ns1\ns2\nok\n")
    assert handler.calls == [
        ("orders", {"open_only": False}),
        ("cancel_all", {"strategy": "s1"}),
        ("strategies", {}),
        ("reset", {}),
    ]


def test_command_arguments_reach_the_runtime(
    gateway: tuple[Gateway, Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    gw, handler = gateway
    assert (
        remote(
            gw,
            "add-strategy",
            "s9",
            "strategies:SmaCrossover",
            "--symbols",
            "AAA, BBB",
            "--param",
            "fast=5",
            "--param",
            "label=trend one",
            "--param",
            "flags=[1, 2]",
            "--params-json",
            '{"slow": 20.5}',
            "--risk-json",
            '{"max_order_quantity": 100}',
        )
        == 0
    )
    assert remote(gw, "remove-strategy", "s9", "--policy", "flatten") == 0
    assert remote(gw, "restart-strategy", "s1") == 0
    assert remote(gw, "pause", "--strategy", "s1", "--reason", "lunch") == 0
    assert remote(gw, "resume") == 0
    assert remote(gw, "set-engine", "backup") == 0
    assert remote(gw, "set-engine", "--auto") == 0
    assert remote(gw, "cancel", "s1-000003") == 0
    assert remote(gw, "shutdown", "--reason", "maintenance") == 0
    assert handler.calls == [
        (
            "add_strategy",
            {
                "id": "s9",
                "class": "strategies:SmaCrossover",
                "symbols": ["AAA", "BBB"],
                "params": {"slow": 20.5, "fast": 5, "label": "trend one", "flags": [1, 2]},
                "risk": {"max_order_quantity": 100},
            },
        ),
        ("remove_strategy", {"id": "s9", "policy": "flatten"}),
        ("restart_strategy", {"id": "s1"}),
        ("pause", {"strategy": "s1", "reason": "lunch"}),
        ("resume", {}),
        ("set_engine", {"engine": "backup"}),
        ("set_engine", {"engine": ""}),
        ("cancel_order", {"client_order_id": "s1-000003"}),
        ("shutdown", {"reason": "maintenance"}),
    ]
    assert capsys.readouterr().out == "ok\n" * 9


def test_submit_sends_the_order_and_prints_its_id(
    gateway: tuple[Gateway, Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    gw, handler = gateway
    argv = ("submit", "AAA", "BUY", "10", "--type", "limit", "--limit", "99.5", "--tif", "gtc")
    assert remote(gw, *argv) == 0
    assert capsys.readouterr().out == "client_order_id: manual-000001\n"
    assert handler.calls == [
        (
            "submit_order",
            {
                "symbol": "AAA",
                "side": "BUY",
                "quantity": 10.0,
                "type": "LIMIT",
                "time_in_force": "GTC",
                "limit_price": 99.5,
            },
        )
    ]


def test_a_refusal_exits_1_with_the_code(
    gateway: tuple[Gateway, Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    gw, _ = gateway
    assert remote(gw, "halt", "--reason", "test") == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", "tradepit: CONFLICT: the runtime is already HALTED\n")


def test_no_answer_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    silent: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.ROUTER)
    silent.setsockopt(zmq.LINGER, 0)
    silent.bind("tcp://127.0.0.1:*")
    endpoint = silent.getsockopt_string(zmq.LAST_ENDPOINT)
    try:
        code = run_remote(parse("status", "--endpoint", endpoint, "--timeout", "0.2"))
    finally:
        silent.close(linger=0)
    assert code == 3
    assert capsys.readouterr().err == (
        f"tradepit: no answer from {endpoint} in 0.2s; "
        "is the runtime running with [gateway] enabled?\n"
    )


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ("submit", "AAA", "hold", "1"),
        ("submit", "AAA", "buy", "nan"),
        ("submit", "AAA", "buy", "-1"),
        ("add-strategy", "s9", "m:C", "--symbols", "A", "--param", "novalue"),
        ("add-strategy", "s9", "m:C", "--symbols", "A", "--params-json", "[1]"),
        ("set-engine",),
        ("status", "--timeout", "0"),
    ):
        with pytest.raises(SystemExit) as usage:
            parse(*argv)
        assert usage.value.code == 2, argv
    capsys.readouterr()
    duplicate = parse(
        "add-strategy", "s9", "m:C", "--symbols", "A", "--param", "x=1", "--params-json", '{"x":2}'
    )
    assert run_remote(duplicate) == 2
    assert capsys.readouterr().err == (
        "tradepit: add-strategy: --param x: given twice (or also in --params-json)\n"
    )
    assert run_remote(parse("status", "--server-key", str(tmp_path / "server.key"))) == 2
    assert capsys.readouterr().err == (
        "tradepit: status: --server-key and --client-key go together (CURVE); give both or none\n"
    )
    missing = tmp_path / "server.key"
    curve = ("status", "--server-key", str(missing), "--client-key", str(missing))
    assert run_remote(parse(*curve)) == 2
    assert capsys.readouterr().err == (
        f"tradepit: status: server key file {missing}: no such file\n"
    )


def test_keys_writes_a_loadable_pair_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "keys"
    assert run_remote(parse("keys", "--dir", str(folder), "--name", "desk")) == 0
    public, secret = folder / "desk.key", folder / "desk.key_secret"
    out = capsys.readouterr().out
    assert f"wrote {public} (public key: give it out)" in out
    assert f'server_secret_key = "{secret}"' in out
    assert f"copy {public} into the runtime's control_keys" in out
    public_key, no_secret = zmq.auth.load_certificate(public)
    same_public, secret_key = zmq.auth.load_certificate(secret)
    assert no_secret is None and secret_key is not None
    assert public_key == same_public and len(public_key) == 40
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["desk.key", "desk.key_secret"]
    before = secret.read_bytes()
    assert run_remote(parse("keys", "--dir", str(folder), "--name", "desk")) == 2
    assert capsys.readouterr().err == (
        f"tradepit: keys: {public} already exists; refusing to overwrite a key file\n"
    )
    assert secret.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["desk.key", "desk.key_secret"]
    assert run_remote(parse("keys", "--dir", str(folder))) == 0  # default name: client
    assert (folder / "client.key").is_file()
    assert run_remote(parse("keys", "--dir", str(folder), "--name", "../x")) == 2


# --- tail ----------------------------------------------------------------------------------


def paused(i: int) -> StrategyPaused:
    return StrategyPaused(id=i, ts_event=i, ts_init=i, strategy_id="s1", reason=f"r{i}")


@pytest.fixture
def xpub() -> Iterator[tuple[zmq.Socket[bytes], str]]:
    """A bare XPUB socket playing the runtime's event stream."""
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind("tcp://127.0.0.1:*")
    yield sock, sock.getsockopt_string(zmq.LAST_ENDPOINT)
    sock.close(linger=0)


def run_in_thread(args: argparse.Namespace) -> tuple[threading.Thread, list[int | None]]:
    codes: list[int | None] = []
    thread = threading.Thread(target=lambda: codes.append(run_remote(args)), name="test-tail")
    thread.start()
    return thread, codes


def test_tail_prints_events_and_gaps_then_stops_at_count(
    xpub: tuple[zmq.Socket[bytes], str], capsys: pytest.CaptureFixture[str]
) -> None:
    sock, endpoint = xpub
    thread, codes = run_in_thread(parse("tail", "--events", endpoint, "--count", "3"))
    assert sock.poll(int(WAIT_S * 1000))
    assert sock.recv() == b"\x01"  # tail subscribed to everything
    heartbeat = b'{"seq":3,"type":"Heartbeat","ts":1,"runtime":"rt","state":"RUNNING",'
    heartbeat += b'"interval_s":1.0,"dropped":0}'
    sock.send_multipart([b"strategy.paused", encode_event(1, 1, paused(1))])
    sock.send_multipart([b"heartbeat", heartbeat])  # events 2 and 3 were published
    sock.send_multipart([b"strategy.paused", encode_event(4, 2, paused(4))])
    sock.send_multipart([b"strategy.paused", encode_event(7, 3, paused(7))])
    sock.send_multipart([b"strategy.paused", encode_event(8, 4, paused(8))])  # past --count
    thread.join(WAIT_S)
    assert not thread.is_alive()
    assert codes == [0]
    assert capsys.readouterr().out.splitlines() == [
        f"#1 {describe(paused(1))}",
        "!! missed 2 events (seq 2..3)",
        f"#4 {describe(paused(4))}",
        "!! missed 2 events (seq 5..6)",
        f"#7 {describe(paused(7))}",
    ]


def heartbeat(seq: int, dropped: int) -> bytes:
    return orjson.dumps(
        {
            "seq": seq,
            "type": "Heartbeat",
            "ts": 1,
            "runtime": "rt",
            "state": "RUNNING",
            "interval_s": 1.0,
            "dropped": dropped,
        }
    )


def test_tail_shows_heartbeats_runtime_drops_and_restarts(
    xpub: tuple[zmq.Socket[bytes], str], capsys: pytest.CaptureFixture[str]
) -> None:
    sock, endpoint = xpub
    args = parse("tail", "strategy.", "--events", endpoint, "--heartbeats", "--count", "5")
    thread, codes = run_in_thread(args)
    subscriptions: set[bytes] = set()
    while len(subscriptions) < 2:  # strategy. and heartbeat
        assert sock.poll(int(WAIT_S * 1000))
        subscriptions.add(sock.recv())
    assert subscriptions == {b"\x01strategy.", b"\x01heartbeat"}
    sock.send_multipart([b"heartbeat", heartbeat(0, 5)])  # 5 dropped before tail started
    sock.send_multipart([b"strategy.paused", encode_event(1, 1, paused(1))])
    sock.send_multipart([b"heartbeat", heartbeat(1, 7)])
    sock.send_multipart([b"heartbeat", heartbeat(0, 0)])  # a new run of the runtime
    sock.send_multipart([b"strategy.paused", encode_event(1, 1, paused(2))])
    thread.join(WAIT_S)
    assert codes == [0]
    assert capsys.readouterr().out.splitlines() == [
        "#0 heartbeat rt RUNNING dropped 5",
        f"#1 {describe(paused(1))}",
        "!! the runtime dropped 2 events (queue full)",
        "#1 heartbeat rt RUNNING dropped 7",
        f"!! event sequence from {endpoint} went back from 1 to 0: the runtime restarted; "
        "numbering starts again",
        "#0 heartbeat rt RUNNING dropped 0",
        f"#1 {describe(paused(2))}",
    ]


def test_an_unusable_endpoint_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_remote(parse("status", "--endpoint", "nowhere")) == 2
    assert capsys.readouterr().err.startswith(
        "tradepit: status: endpoint: cannot connect to 'nowhere': "
    )
    assert run_remote(parse("tail", "--events", "nowhere")) == 2
    assert capsys.readouterr().err.startswith(
        "tradepit: tail: endpoint: cannot connect to 'nowhere': "
    )


def test_tail_exits_3_when_the_runtime_is_silent(
    xpub: tuple[zmq.Socket[bytes], str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, endpoint = xpub
    assert run_remote(parse("tail", "--events", endpoint, "--timeout", "0.2")) == 3
    assert capsys.readouterr().err == (
        f"tradepit: no heartbeat from {endpoint} in 0.2s: runtime dead or unreachable\n"
    )


def _wait_for(condition: Callable[[], bool]) -> None:
    idle = threading.Event()
    for _ in range(int(WAIT_S / 0.005)):
        if condition():
            return
        idle.wait(0.005)
    raise AssertionError(f"not true within {WAIT_S}s")


def test_tail_of_a_real_gateway_filters_topics_and_prints_json(
    gateway: tuple[Gateway, Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    gw, _ = gateway
    args = parse("tail", "order.", "--events", gw.events_endpoint, "--count", "2", "--json")
    thread, codes = run_in_thread(args)
    _wait_for(lambda: gw.stats().subscribers >= 2)  # order. and heartbeat
    filled = OrderUpdate(
        id=2,
        ts_event=2,
        ts_init=2,
        client_order_id="s1-000001",
        strategy_id="s1",
        symbol="AAA",
        side=Side.BUY,
        status=OrderStatus.FILLED,
        quantity=10.0,
        filled_quantity=10.0,
        avg_fill_price=100.0,
        reason=None,
        message="",
        engine="paper",
    )
    gw.publish(paused(1))
    gw.publish(filled)
    gw.publish(paused(3))
    gw.publish(filled)
    thread.join(WAIT_S)
    assert codes == [0]
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(body["seq"], body["tseq"], body["type"]) for body in lines] == [
        (2, 1, "OrderUpdate"),
        (4, 2, "OrderUpdate"),
    ]
    assert lines[0]["status"] == "FILLED"
