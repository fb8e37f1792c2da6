"""A one-line progress bar for long commands, drawn only on a terminal.

``tradepit backtest`` and ``tradepit optimize`` report progress through
:class:`Progress`. When the stream is not a terminal (a pipe, a file, CI) the
bar draws nothing at all, so logs and captured output stay clean. Redraws are
throttled to one every ``min_interval_s`` of wall time; the caller may call
:meth:`Progress.advance` as often as it likes (it costs a subtraction and a
comparison between redraws).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]

_WIDTH = 30


class Progress:
    """Progress of ``total`` units of work, drawn on ``stream`` if it is a terminal."""

    __slots__ = (
        "_done",
        "_enabled",
        "_label",
        "_last",
        "_min_interval",
        "_start",
        "_stream",
        "total",
    )

    def __init__(
        self,
        total: int,
        label: str,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        min_interval_s: float = 0.1,
    ) -> None:
        """``enabled`` None: draw when ``stream`` (default stderr) is a terminal."""
        self._stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self._stream, "isatty", None)
            enabled = bool(isatty()) if callable(isatty) else False
        self._enabled = enabled and total > 0
        self.total = total
        self._label = label
        self._done = 0
        self._min_interval = min_interval_s
        self._start = time.monotonic()
        self._last = -min_interval_s

    @property
    def enabled(self) -> bool:
        """Whether anything is drawn."""
        return self._enabled

    @property
    def done(self) -> int:
        """Units of work reported so far."""
        return self._done

    def advance(self, units: int = 1) -> None:
        """Report ``units`` more units done; redraw if the last redraw is old enough."""
        self._done += units
        if self._enabled:
            now = time.monotonic()
            if now - self._last >= self._min_interval or self._done >= self.total:
                self._last = now
                self._draw(now)

    def close(self) -> None:
        """End the line (nothing when disabled)."""
        if self._enabled:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()
            self._enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        _kind: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def _draw(self, now: float) -> None:
        done = min(self._done, self.total)
        share = done / self.total
        filled = int(share * _WIDTH)
        elapsed = now - self._start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        bar = "#" * filled + "-" * (_WIDTH - filled)
        self._stream.write(
            f"\r{self._label} [{bar}] {share:6.1%} {done:,}/{self.total:,}"
            f" {elapsed:5.1f}s eta {eta:5.1f}s"
        )
        self._stream.flush()
