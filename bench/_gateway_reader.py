"""A subscriber process for the gateway benchmark: it reads the event stream, or stalls.

``python -m bench._gateway_reader ENDPOINT MODE RCVHWM`` connects a
:class:`runtime.client.Subscription` (every topic, ``RCVHWM`` as given) to
the gateway's event endpoint and prints ``ready``. Then, by ``MODE``:

- ``read``: takes every event as it comes (the client checks the sequence
  numbers and reports losses as gaps);
- ``stall``: reads nothing at all (its socket fills up to its high-water
  mark, then the gateway's side of it fills up, then the gateway drops what
  it would send it).

When the parent writes ``stop SEQ`` (the last sequence number the gateway
gave), it reads (``stall``: drains what is queued, then what comes) until
the stream's ``seq`` has reached ``SEQ`` (a heartbeat carries it once events
were lost), or until nothing arrived for :data:`QUIET_S`, and prints one
JSON line: ``events`` (received, heartbeats apart), ``missed`` (lost, from
the gaps), ``last_seq``, ``first_ns`` and ``last_ns`` (``time.monotonic_ns()``
of the first and last event received, the clock the parent also reads: it is
system-wide), ``reached`` (whether ``SEQ`` was reached). It runs in its own
process, as a real client would, so that it takes no turn at the
benchmark's GIL.
"""

from __future__ import annotations

import sys
import threading
import time

import orjson

from runtime.client import HEARTBEAT_TYPE, Event, Subscription

__all__ = ["MODES", "QUIET_S", "main"]

MODES = ("read", "stall")
"""What the reader does until told to stop."""

QUIET_S = 5.0
"""After ``stop``, give up when nothing arrived for this long."""

_SLICE_S = 0.05


class _Stop:
    """The ``stop SEQ`` line, read from stdin in a thread of its own."""

    def __init__(self) -> None:
        self.seq: int | None = None
        self.given = threading.Event()
        threading.Thread(target=self._read, name="reader-stdin", daemon=True).start()

    def _read(self) -> None:
        line = sys.stdin.readline().split()
        if len(line) == 2 and line[0] == "stop" and line[1].isdigit():
            self.seq = int(line[1])
        self.given.set()  # EOF or garbage: stop at once (seq stays None)


def main(argv: list[str]) -> int:
    """Run the reader; the exit status (2: bad arguments)."""
    if len(argv) != 3 or argv[1] not in MODES or not argv[2].isdigit():
        print(f"usage: python -m bench._gateway_reader ENDPOINT {{{'|'.join(MODES)}}} RCVHWM")
        return 2
    endpoint, mode, rcvhwm = argv[0], argv[1], int(argv[2])
    events = 0
    first_ns = last_ns = 0
    reached = False
    with Subscription(endpoint, rcvhwm=rcvhwm) as sub:
        print("ready", flush=True)
        stop = _Stop()
        if mode == "stall":
            stop.given.wait()
        quiet_since = time.monotonic()
        while True:
            if stop.given.is_set():
                if stop.seq is None or sub.last_seq >= stop.seq:
                    reached = stop.seq is not None
                    while (item := sub.next(0)) is not None:  # what was taken, not returned
                        if isinstance(item, Event) and item.type != HEARTBEAT_TYPE:
                            events += 1
                            last_ns = time.monotonic_ns()
                    break
                if time.monotonic() - quiet_since >= QUIET_S:
                    break
            item = sub.next(_SLICE_S)
            if item is None:
                continue
            quiet_since = time.monotonic()
            if isinstance(item, Event) and item.type != HEARTBEAT_TYPE:
                events += 1
                last_ns = time.monotonic_ns()
                if events == 1:
                    first_ns = last_ns
        result = {
            "events": events,
            "missed": sub.missed,
            "last_seq": sub.last_seq,
            "first_ns": first_ns,
            "last_ns": last_ns,
            "reached": reached,
        }
    print(orjson.dumps(result).decode(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
