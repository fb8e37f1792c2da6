"""Deliver messages at given times: the supervisor's timers (backoff, probes, failback).

One daemon thread per scheduler, sleeping on a condition until the earliest
due time; a due message is handed to ``deliver`` (the supervisor's own
``tell``), so everything a timer triggers runs in the supervisor's thread.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

__all__ = ["Scheduler"]


class Scheduler:
    """Calls ``deliver(message)`` for each scheduled message once it is due."""

    def __init__(self, deliver: Callable[[object], object], *, name: str) -> None:
        self._deliver = deliver
        self._queue: list[tuple[float, int, object]] = []
        self._order = itertools.count()
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def after(self, delay_s: float, message: object) -> None:
        """Deliver ``message`` in ``delay_s`` seconds (at once when <= 0)."""
        self.at(time.monotonic() + delay_s, message)

    def at(self, when: float, message: object) -> None:
        """Deliver ``message`` at ``time.monotonic() == when``."""
        with self._cv:
            heapq.heappush(self._queue, (when, next(self._order), message))
            self._cv.notify()

    def close(self, timeout_s: float = 5.0) -> None:
        """Drop what is pending and end the thread."""
        with self._cv:
            self._closed = True
            self._queue.clear()
            self._cv.notify()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed:
                    if self._queue:
                        wait = self._queue[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._cv.wait(wait)
                    else:
                        self._cv.wait()
                if self._closed:
                    return
                _, _, message = heapq.heappop(self._queue)
            try:
                self._deliver(message)
            except Exception:  # the supervisor is gone: nothing left to tell
                return
