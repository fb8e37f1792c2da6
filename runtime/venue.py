"""The simulated venue: a separate process that replays market data and fills orders.

``tradepit venue --config FILE`` runs it. It binds two ZeroMQ sockets:

- a ROUTER (``[venue] orders``) where clients (the ``venue`` broker adapter)
  open a session, submit and cancel orders, query order status and send
  heartbeats; the venue answers every request and pushes later order
  updates and fills to the session that owns the order;
- an XPUB (``[venue] market_data``) where it publishes every bar and tick it
  replays, topic-prefixed by symbol, then an end-of-data message.

Matching is :class:`runtime.matching.MatchingEngine`, the code the paper
engine runs: each bar or tick goes to the matcher *before* it is published,
so an order fills at the first bar published after the venue accepted it.
One thread owns both sockets; it polls the ROUTER with a timeout bounded by
the time the next bar is due.

With ``[venue] state = "PATH"`` the venue is durable
(:mod:`runtime.venue_store`): every submit, order, update and fill, and the
replay position, is committed before the reply or push that reports it
leaves, and a restarted venue reloads them, puts the working orders back into
the matcher and resumes the replay after the last event it published.
Without it everything lives in memory. The frames are :mod:`runtime.venue_protocol`,
specified in ``docs/protocol.md``. Malformed input is answered with an
``ERROR`` reply and never stops the venue.
"""

from __future__ import annotations

import itertools
import math
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType

import orjson
import zmq
from loguru import logger

from runtime._tables import read_file, read_toml
from runtime.config import FeedConfig, FeedSource, PaperConfig
from runtime.errors import DataError, SettingsError
from runtime.logs import configure_logging
from runtime.marketdata import market_data
from runtime.matching import MatchingEngine
from runtime.messages import Bar, Fill, OrderType, OrderUpdate, RejectReason, Tick
from runtime.settings import LOG_LEVELS, read_feed, read_paper
from runtime.venue_protocol import (
    PROTOCOL_VERSION,
    Ack,
    Cancel,
    CancelAllOrders,
    EndOfData,
    ErrorCode,
    ErrorReply,
    EventPush,
    Hello,
    Ping,
    Pong,
    PositionReport,
    PositionsQuery,
    ProtocolError,
    Reply,
    Request,
    StatusQuery,
    Submit,
    Welcome,
    decode_request,
    encode,
    encode_market,
)
from runtime.venue_store import VenueSnapshot, VenueStateError, VenueStore, open_venue_store

__all__ = ["Venue", "VenueSettings", "load_venue_settings", "parse_venue_settings", "run_venue"]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_ENDPOINT = re.compile(r"^(tcp://[^\s:]+:(\d{1,5}|\*)|ipc://\S+)$")
_BATCH = 256
"""Most requests (or market-data events) handled before looking at the other socket."""
_MAX_WAIT_S = 0.1
"""Longest poll: how soon a stop request is noticed."""
_END_REPEAT_S = 1.0
"""After the data ends, the end-of-data message is repeated this often for late subscribers."""
_EXIT_USAGE = 2
_EXIT_FAILURE = 1
_STOPS = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueSettings:
    """A validated venue file: ``[venue]``, ``[venue.feed]`` and ``[venue.matching]``."""

    source: str
    """Path of the file (for messages)."""
    name: str = "venue"
    """The venue's name: in ``WELCOME``, in fill ids and in the log."""
    orders: str = "tcp://127.0.0.1:5701"
    """ROUTER bind endpoint (orders)."""
    market_data: str = "tcp://127.0.0.1:5702"
    """PUB bind endpoint (market data)."""
    wait_for_subscriber: bool = False
    """Hold the replay until the first market-data subscription arrives."""
    log_level: str = "INFO"
    """loguru level of the venue's log (stderr)."""
    state: Path | None = None
    """The state file (``[venue] state``, relative to the venue file's folder);
    None: the venue keeps everything in memory."""
    feed: FeedConfig = field(default_factory=FeedConfig)
    """``[venue.feed]``: the same keys as a settings file's ``[feed]``."""
    matching: PaperConfig = field(default_factory=PaperConfig)
    """``[venue.matching]``: the same keys as a paper engine's ``[engines.NAME]``."""


def load_venue_settings(path: str | Path) -> VenueSettings:
    """Read and validate a venue file; raises :class:`SettingsError`."""
    text = read_file(path)
    return parse_venue_settings(text, source=str(path), base_dir=Path(path).resolve().parent)


def parse_venue_settings(text: str, *, source: str, base_dir: Path) -> VenueSettings:
    """Validate venue settings given as TOML text; paths resolve against ``base_dir``."""
    root = read_toml(text, source, ("venue",))
    t = root.table("venue")
    d = VenueSettings(source=source)
    name = t.string("name", d.name)
    if not _NAME.match(name):
        raise t.error("name", f"expected letters, digits, _ . - (max 64), got {name!r}")
    endpoints = {key: t.string(key, getattr(d, key)) for key in ("orders", "market_data")}
    for key, value in endpoints.items():
        if not _ENDPOINT.match(value):
            raise t.error(key, f"expected an endpoint like 'tcp://127.0.0.1:5701', got {value!r}")
    ephemeral = endpoints["orders"].endswith((":0", ":*"))
    if endpoints["orders"] == endpoints["market_data"] and not ephemeral:
        raise t.error("market_data", "must differ from orders")
    feed_table = t.table("feed")
    feed = read_feed(feed_table, base_dir)
    if feed.source is FeedSource.VENUE:
        raise feed_table.error("source", "a venue replays synthetic or csv data, not a venue")
    if feed.lockstep:
        raise feed_table.error("lockstep", "the venue cannot replay in lockstep; use false")
    matching_table = t.table("matching")
    matching = read_paper(matching_table)
    matching_table.done()
    state = None
    if t.has("state"):
        raw = t.string("state")
        state = Path(raw) if Path(raw).is_absolute() else base_dir / raw
        if state.exists() and not state.is_file():
            raise t.error("state", f"{str(state)!r} exists and is not a file")
    settings = VenueSettings(
        source=source,
        name=name,
        orders=endpoints["orders"],
        market_data=endpoints["market_data"],
        wait_for_subscriber=t.boolean("wait_for_subscriber", d.wait_for_subscriber),
        log_level=t.string("log_level", d.log_level, choices=LOG_LEVELS),
        state=state,
        feed=feed,
        matching=matching,
    )
    t.done()
    root.done()
    return settings


@dataclass(slots=True)
class _Session:
    """One engine's session: where its events go."""

    session: str
    identity: bytes | None
    seq: int = 0


@dataclass(slots=True)
class _Record:
    """What the venue knows of one order, for ``STATUS``."""

    engine: str
    last: OrderUpdate
    fills: list[Fill] = field(default_factory=list)


class Venue:
    """The venue's state and its two sockets; :meth:`serve` runs in one thread.

    Build it, :meth:`bind`, then :meth:`serve` until ``stop`` is set, then
    :meth:`close`. Raises :class:`DataError` when the feed's files are bad, and
    :class:`~runtime.venue_store.VenueStateError` when the state file cannot be
    trusted (at start) or written (then :meth:`serve` stops with it: a venue
    that cannot record must not go on answering).
    """

    def __init__(
        self,
        settings: VenueSettings,
        *,
        clock: Callable[[], int] = time.time_ns,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        self.settings = settings
        self.instance = secrets.token_hex(4)
        """Id of this venue process: clients tell a restart by it."""
        self._clock = clock
        self._matcher = MatchingEngine(
            settings.matching, engine=f"{settings.name}-{self.instance}", clock=clock
        )
        self._sessions: dict[str, _Session] = {}
        self._engine_of: dict[bytes, str] = {}
        self._records: dict[str, _Record] = {}
        self._positions: dict[str, dict[str, float]] = {}
        """Engine -> symbol -> signed net quantity of its fills."""
        self._stops: dict[str, set[str]] = {}
        """Symbol -> working stop orders not yet triggered (tracked with a state file)."""
        self._bars = 0
        self._ticks = 0
        self._store: VenueStore | None = None
        if settings.state is not None:
            self._store = open_venue_store(settings.state)
        try:
            if self._store is not None:
                self._restore(self._store.load())
            self._data: Iterator[Bar | Tick] = market_data(settings.feed)
            self._skip(self._bars + self._ticks)
        except BaseException:
            if self._store is not None:
                self._store.close()
            raise
        self._ctx = context or zmq.Context.instance()
        self._router = self._ctx.socket(zmq.ROUTER)
        self._pub = self._ctx.socket(zmq.XPUB)
        for sock in (self._router, self._pub):
            sock.setsockopt(zmq.LINGER, 0)
        self._router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._pub.setsockopt(zmq.SNDHWM, 100_000)
        self._started = not settings.wait_for_subscriber
        self._pending: Bar | Tick | None = None
        self._pace: tuple[float, int] | None = None
        self._ended_at: float | None = None

    def _restore(self, snapshot: VenueSnapshot) -> None:
        """Take back the record of a previous run: orders, fills, submits, replay position."""
        assert self._store is not None
        for stored in snapshot.orders:
            oid = stored.order.client_order_id
            self._records[oid] = _Record(
                engine=stored.engine, last=stored.last, fills=list(stored.fills)
            )
            if stored.last.status.is_terminal:
                continue
            try:
                self._matcher.restore(
                    stored.order,
                    filled_quantity=stored.last.filled_quantity,
                    avg_fill_price=stored.last.avg_fill_price,
                    triggered=stored.triggered,
                )
            except ValueError as exc:
                raise VenueStateError(
                    f"venue state {self._store.path}: cannot restore order {oid!r}: {exc}"
                ) from None
            self._track_stop(stored.order.order_type, stored.order.symbol, oid, stored.triggered)
        self._matcher.restore_submitted(itertools.chain(self._records, snapshot.submits))
        for engine, fill in snapshot.fills:
            self._add_position(engine, fill)
        self._bars, self._ticks = snapshot.bars, snapshot.ticks
        logger.info(
            "venue: state {} restored: {} orders ({} working), {} fills; resuming after "
            "{} bars and {} ticks",
            self._store.path,
            len(self._records),
            len(self._matcher.working_orders()),
            len(snapshot.fills),
            self._bars,
            self._ticks,
        )

    def _skip(self, published: int) -> None:
        """Drop the market-data events a previous run published already."""
        if published and next(itertools.islice(self._data, published - 1, None), None) is None:
            logger.warning(
                "venue: the state file says {} events were published, but the data has fewer",
                published,
            )

    def _track_stop(self, kind: OrderType, symbol: str, oid: str, triggered: bool) -> None:
        if self._store is not None and kind in _STOPS and not triggered:
            self._stops.setdefault(symbol, set()).add(oid)

    def _add_position(self, engine: str, fill: Fill) -> None:
        book = self._positions.setdefault(engine, {})
        book[fill.symbol] = book.get(fill.symbol, 0.0) + fill.side.sign * fill.quantity

    def bind(self) -> tuple[str, str]:
        """Bind both sockets; return the actual (orders, market_data) endpoints."""
        self._router.bind(self.settings.orders)
        self._pub.bind(self.settings.market_data)
        return _endpoint(self._router), _endpoint(self._pub)

    def serve(self, stop: threading.Event) -> None:
        """Replay market data and answer requests until ``stop`` is set."""
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._pub, zmq.POLLIN)
        while not stop.is_set():
            wait = min(self._replay(), _MAX_WAIT_S)
            for sock, _ in poller.poll(math.ceil(wait * 1000)):
                if sock is self._router:
                    self._drain_requests()
                else:
                    self._drain_subscriptions()

    def close(self) -> None:
        """Close both sockets at once (LINGER 0) and the state file."""
        self._router.close(linger=0)
        self._pub.close(linger=0)
        if self._store is not None:
            self._store.close()

    # --- market data ----------------------------------------------------------

    def _replay(self) -> float:
        """Publish what is due; return seconds until something more is due."""
        if not self._started:
            return math.inf
        if self._ended_at is not None:
            now = time.monotonic()
            if now - self._ended_at >= _END_REPEAT_S:
                self._publish_end()
            return max(0.0, self._ended_at + _END_REPEAT_S - now)
        speed = self.settings.feed.speed
        due: list[Bar | Tick] = []
        wait = 0.0
        ended = False
        for _ in range(_BATCH):
            event = self._pending if self._pending is not None else next(self._data, None)
            if event is None:
                ended = True
                break
            if speed > 0:
                now = time.monotonic()
                if self._pace is None:
                    self._pace = (now, event.ts_event)
                wall0, ts0 = self._pace
                at = wall0 + (event.ts_event - ts0) / 1e9 / speed
                if at > now:
                    self._pending = event
                    wait = at - now
                    break
            self._pending = None
            due.append(event)
        if due:
            self._publish(due)
        if ended:
            self._publish_end()
            return _END_REPEAT_S
        return wait

    def _publish(self, events: list[Bar | Tick]) -> None:
        """Match ``events``, record what they caused (one transaction), then push the
        results and publish each event after its own results."""
        done: list[tuple[Bar | Tick, list[Fill | OrderUpdate]]] = []
        changes: list[tuple[str, Fill | OrderUpdate]] = []
        triggered: list[str] = []
        for event in events:
            if type(event) is Bar:
                self._bars += 1
                results = self._matcher.on_bar(event)
            else:
                assert type(event) is Tick
                self._ticks += 1
                results = self._matcher.on_tick(event)
            for result in results:
                record = self._records[result.client_order_id]
                if type(result) is Fill:
                    record.fills.append(result)
                    self._add_position(record.engine, result)
                else:
                    assert type(result) is OrderUpdate
                    record.last = result
                changes.append((record.engine, result))
            if event.symbol in self._stops:
                triggered.extend(self._triggered(event.symbol))
            done.append((event, results))
        if self._store is not None:
            self._store.record_market(changes, triggered, bars=self._bars, ticks=self._ticks)
        for event, results in done:
            for result in results:
                self._push(self._records[result.client_order_id].engine, result)
            self._pub.send_multipart(encode_market(event))

    def _triggered(self, symbol: str) -> list[str]:
        """Stop orders of ``symbol`` that triggered (or ended) since the last look."""
        waiting = self._stops[symbol]
        fired = []
        for oid in list(waiting):
            state = self._matcher.triggered(oid)
            if state is None or state:
                waiting.discard(oid)
                if state:
                    fired.append(oid)
        if not waiting:
            del self._stops[symbol]
        return fired

    def _publish_end(self) -> None:
        if self._ended_at is None:
            logger.info("venue: end of data ({} bars, {} ticks)", self._bars, self._ticks)
        self._ended_at = time.monotonic()
        end = EndOfData(ts=self._clock(), bars=self._bars, ticks=self._ticks)
        self._pub.send_multipart(encode_market(end))

    def _drain_subscriptions(self) -> None:
        for _ in range(_BATCH):
            try:
                frame = self._pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if frame[:1] == b"\x01" and not self._started:
                logger.info("venue: first subscriber; starting the replay")
                self._started = True

    # --- orders ---------------------------------------------------------------

    def _drain_requests(self) -> None:
        for _ in range(_BATCH):
            try:
                frames = self._router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            identity, body = frames[0], frames[1:]
            try:
                reply = self._handle(identity, body)
            except VenueStateError:
                raise  # it cannot record: it must not answer
            except Exception as exc:  # a venue bug must not stop the venue
                logger.exception("venue: failed to handle {!r}", body[:1])
                reply = ErrorReply(req=None, code=ErrorCode.INTERNAL, message=repr(exc))
            self._send(identity, reply)

    def _handle(self, identity: bytes, frames: list[bytes]) -> Reply:
        try:
            request = decode_request(frames)
        except ProtocolError as exc:
            logger.warning("venue: refused a message: {}: {}", exc.code, exc)
            return ErrorReply(req=exc.req, code=exc.code, message=str(exc))
        if type(request) is Hello:
            return self._hello(identity, request)
        engine = self._engine_of.get(identity)
        if engine is None:
            return ErrorReply(
                req=request.req,
                code=ErrorCode.NO_SESSION,
                message="no session on this connection: send HELLO first",
            )
        return self._dispatch(engine, request)

    def _dispatch(self, engine: str, request: Request) -> Reply:
        if type(request) is Ping:
            return Pong(
                req=request.req, ts=request.ts, venue_ts=self._clock(), instance=self.instance
            )
        if type(request) is Submit:
            return self._submit(engine, request)
        if type(request) is Cancel:
            record = self._records.get(request.client_order_id)
            if record is None or record.engine != engine:
                return Ack(req=request.req)
            cancelled = self._matcher.cancel(request.client_order_id, request.ts_event)
            for update in cancelled:
                record.last = update
            if self._store is not None:
                self._store.record_updates(cancelled)
            return Ack(req=request.req, events=tuple(cancelled))
        if type(request) is CancelAllOrders:
            all_cancelled = self._cancel_all(engine, request)
            if self._store is not None:
                self._store.record_updates(all_cancelled)
            return Ack(req=request.req, events=all_cancelled)
        if type(request) is PositionsQuery:
            return PositionReport(req=request.req, positions=dict(self._positions.get(engine, {})))
        assert type(request) is StatusQuery
        events: list[OrderUpdate | Fill] = []
        unknown: list[str] = []
        for oid in request.client_order_ids:
            record = self._records.get(oid)
            if record is None or record.engine != engine:
                unknown.append(oid)
            else:
                events.extend(record.fills)
                events.append(record.last)
        return Ack(req=request.req, events=tuple(events), unknown=tuple(unknown))

    def _submit(self, engine: str, request: Submit) -> Reply:
        order = request.order
        updates = self._matcher.submit(order)
        update = updates[0]
        taken = update.reason is not RejectReason.DUPLICATE_ORDER
        if taken:
            self._records[update.client_order_id] = _Record(engine=engine, last=update)
        if self._store is not None:
            self._store.record_submit(engine, order, update, taken=taken)
            if taken and not update.status.is_terminal:
                self._track_stop(order.order_type, order.symbol, order.client_order_id, False)
        return Ack(req=request.req, events=tuple(updates))

    def _cancel_all(self, engine: str, request: CancelAllOrders) -> tuple[OrderUpdate, ...]:
        out = []
        for oid in self._matcher.working_orders():
            record = self._records[oid]
            if record.engine != engine:
                continue
            for update in self._matcher.cancel(oid, request.ts_event):
                record.last = replace(update, reason=request.reason, message=request.message)
                out.append(record.last)
        return tuple(out)

    def _hello(self, identity: bytes, hello: Hello) -> Reply:
        if hello.version != PROTOCOL_VERSION:
            return ErrorReply(
                req=hello.req,
                code=ErrorCode.VERSION,
                message=f"protocol version {hello.version} is not spoken; use {PROTOCOL_VERSION}",
            )
        if not hello.engine or not hello.session:
            return ErrorReply(
                req=hello.req, code=ErrorCode.BAD_REQUEST, message="engine and session are needed"
            )
        session = self._sessions.get(hello.engine)
        resumed = session is not None and session.session == hello.session
        if session is None:
            session = self._sessions[hello.engine] = _Session(hello.session, identity)
        else:
            if session.identity is not None and session.identity != identity:
                self._engine_of.pop(session.identity, None)
            session.session, session.identity = hello.session, identity
        previous = self._engine_of.get(identity)
        if previous is not None and previous != hello.engine:
            self._sessions[previous].identity = None
        self._engine_of[identity] = hello.engine
        logger.info("venue: session {} of engine {!r} opened", hello.session, hello.engine)
        return Welcome(
            req=hello.req,
            version=PROTOCOL_VERSION,
            venue=self.settings.name,
            instance=self.instance,
            session=hello.session,
            resumed=resumed,
            seq=session.seq,
        )

    def _push(self, engine: str, event: OrderUpdate | Fill) -> None:
        # After a restart an order may fill before its engine says HELLO again: the
        # event is counted in a session without a connection (STATUS recovers it).
        session = self._sessions.get(engine)
        if session is None:
            session = self._sessions[engine] = _Session("", None)
        session.seq += 1
        if session.identity is None:
            return
        self._send(session.identity, EventPush(seq=session.seq, event=event))

    def _send(self, identity: bytes, reply: Reply) -> None:
        try:
            self._router.send_multipart([identity, *encode(reply)], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # gone (EHOSTUNREACH) or not reading (EAGAIN)
            logger.debug("venue: dropped a {} reply: {}", reply.KIND, exc)
            engine = self._engine_of.get(identity)
            if engine is not None and exc.errno == zmq.EHOSTUNREACH:
                del self._engine_of[identity]
                self._sessions[engine].identity = None


def _endpoint(sock: zmq.Socket[bytes]) -> str:
    value = sock.getsockopt(zmq.LAST_ENDPOINT)
    return value.decode() if isinstance(value, bytes) else str(value)


def run_venue(path: str | Path) -> int:
    """Run the venue of the file at ``path`` until SIGTERM or SIGINT; the exit code.

    0 after a signal, 2 for a bad file (one line on stderr naming the key) or a
    state file that cannot be trusted, 1 when a socket cannot be bound or the
    state file cannot be written. Prints ``VENUE READY {json}`` on stdout
    once both sockets are bound.
    """
    try:
        settings = load_venue_settings(path)
    except SettingsError as exc:
        print(f"tradepit: {exc}", file=sys.stderr)
        return _EXIT_USAGE
    configure_logging(settings.log_level)
    try:
        venue = Venue(settings)
    except DataError as exc:
        print(f"tradepit: {path}: data: {exc}", file=sys.stderr)
        return _EXIT_USAGE
    except VenueStateError as exc:
        print(f"tradepit: {path}: {exc}", file=sys.stderr)
        return _EXIT_USAGE
    try:
        orders, md = venue.bind()
    except zmq.ZMQError as exc:
        venue.close()
        print(f"tradepit: {path}: cannot bind the venue's sockets: {exc}", file=sys.stderr)
        return _EXIT_FAILURE
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("venue: {}; stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        logger.info(
            "venue {} ({}) serving orders on {}, data on {}",
            settings.name,
            venue.instance,
            orders,
            md,
        )
        print(
            "VENUE READY " + orjson.dumps({"orders": orders, "market_data": md}).decode(),
            flush=True,
        )
        venue.serve(stop)
    except VenueStateError as exc:
        logger.error("venue: {}; stopping", exc)
        print(f"tradepit: {path}: {exc}", file=sys.stderr)
        return _EXIT_FAILURE
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        venue.close()
    return 0
