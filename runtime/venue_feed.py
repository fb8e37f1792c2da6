"""Market data from a ``tradepit venue`` process: a SUB socket on its PUB endpoint.

:func:`venue_market_data` is the feed's source for ``[feed] source = "venue"``.
The SUB socket is created on the first ``next()`` and used and closed only in
the thread that iterates (the feed actor's): ZeroMQ sockets are not
thread-safe. Frames are specified in ``docs/protocol.md``.
"""

from __future__ import annotations

import time
from collections.abc import Generator

import zmq
from loguru import logger

from runtime.messages import Bar, Tick
from runtime.venue_protocol import (
    CONTROL_TOPIC,
    EndOfData,
    ProtocolError,
    decode_market,
    market_topic,
)

__all__ = ["venue_market_data"]

_WAIT_S = 0.05
"""Longest a ``next()`` blocks before yielding None."""


def venue_market_data(
    endpoint: str, symbols: tuple[str, ...] | None = None
) -> Generator[Bar | Tick | None, None, None]:
    """Bars and ticks the venue at ``endpoint`` publishes, as they arrive.

    Only ``symbols`` are subscribed (None: every symbol). Each ``next()``
    blocks at most about 50 ms and yields None when nothing arrived, so the
    caller can tend to its mailbox and ask again. The iterator ends when the
    venue publishes its end-of-data message; ``close()`` closes the socket.
    Frames that do not decode are logged and skipped. If the venue restarts,
    the socket reconnects by itself and the data continue from what the new
    venue publishes (its replay starts over).
    """
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 100_000)
        topics = [b""] if symbols is None else [*(market_topic(s) for s in symbols), CONTROL_TOPIC]
        for topic in topics:
            sock.setsockopt(zmq.SUBSCRIBE, topic)
        sock.connect(endpoint)
        while True:
            deadline = time.monotonic() + _WAIT_S
            item: Bar | Tick | EndOfData | None = None
            while item is None:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    wait_ms = int((deadline - time.monotonic()) * 1000)
                    if wait_ms <= 0 or not sock.poll(wait_ms):
                        break
                    continue
                try:
                    item = decode_market(frames)
                except ProtocolError as exc:
                    logger.warning("venue feed: skipped a message from {}: {}", endpoint, exc)
            if isinstance(item, EndOfData):
                logger.info("venue feed: end of data ({} bars, {} ticks)", item.bars, item.ticks)
                return
            yield item
    finally:
        sock.close(linger=0)
