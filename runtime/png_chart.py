"""An equity-and-drawdown chart as a PNG, with no imaging library.

:func:`encode_png` writes an 8-bit RGB image (filter type 0 on every row,
zlib-compressed) and :func:`equity_chart_png` draws a backtest's equity curve
into one: the equity line in the top panel (about 70% of the height), the
drawdown from the running peak as a filled area below 0 in the bottom panel,
light grid lines and a frame around each panel. The curve is reduced to one
pixel column at a time, keeping each column's minimum and maximum so that
spikes show. The y-axis extremes are written with a tiny built-in 3x5 digit
font; every other label belongs in the HTML page around the image.
"""

from __future__ import annotations

import bisect
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BACKGROUND",
    "DRAWDOWN_FILL",
    "EQUITY_LINE",
    "ChartLayout",
    "chart_layout",
    "encode_png",
    "equity_chart_png",
]

RGB = tuple[int, int, int]

BACKGROUND: RGB = (255, 255, 255)
"""Colour of everything not drawn."""
EQUITY_LINE: RGB = (31, 97, 180)
"""Colour of the equity line."""
DRAWDOWN_FILL: RGB = (232, 120, 110)
"""Colour of the drawdown area."""
_GRID: RGB = (232, 232, 232)
_FRAME: RGB = (140, 140, 140)
_ZERO: RGB = (90, 90, 90)
_TEXT: RGB = (60, 60, 60)

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MIN_SIZE = (120, 80)
_MAX_SIDE = 8_000


def encode_png(width: int, height: int, pixels: bytes | bytearray) -> bytes:
    """A PNG of ``pixels``: ``height`` rows of ``width`` RGB triples, top row first."""
    if width <= 0 or height <= 0:
        raise ValueError(f"width, height: expected positive sizes, got {width}x{height}")
    stride = 3 * width
    if len(pixels) != stride * height:
        raise ValueError(
            f"pixels: expected {stride * height} bytes for {width}x{height} RGB, got {len(pixels)}"
        )
    view = memoryview(pixels)
    raw = bytearray()
    for row in range(height):
        raw.append(0)  # filter type 0: the row as is
        raw += view[row * stride : (row + 1) * stride]
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(bytes(raw), 6)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


@dataclass(frozen=True, slots=True)
class ChartLayout:
    """Where the two panels sit in a chart, in pixels (right and bottom excluded)."""

    left: int
    right: int
    equity_top: int
    equity_bottom: int
    drawdown_top: int
    drawdown_bottom: int


def chart_layout(width: int, height: int) -> ChartLayout:
    """The panels of a ``width`` x ``height`` chart: equity on top (~70%), drawdown below."""
    _check_size(width, height)
    left, right = 56, width - 10
    top, bottom, gap = 10, height - 10, 10
    plot = bottom - top - gap
    equity_bottom = top + round(plot * 0.7)
    return ChartLayout(
        left=left,
        right=right,
        equity_top=top,
        equity_bottom=equity_bottom,
        drawdown_top=equity_bottom + gap,
        drawdown_bottom=bottom,
    )


def _check_size(width: int, height: int) -> None:
    min_w, min_h = _MIN_SIZE
    if not min_w <= width <= _MAX_SIDE:
        raise ValueError(f"width: expected {min_w}..{_MAX_SIDE} pixels, got {width!r}")
    if not min_h <= height <= _MAX_SIDE:
        raise ValueError(f"height: expected {min_h}..{_MAX_SIDE} pixels, got {height!r}")


class _Canvas:
    """An RGB raster with the few drawing operations the chart needs."""

    def __init__(self, width: int, height: int, colour: RGB) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(colour) * (width * height))

    def point(self, x: int, y: int, colour: RGB) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = 3 * (y * self.width + x)
            self.pixels[i : i + 3] = bytes(colour)

    def hline(self, x0: int, x1: int, y: int, colour: RGB) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.width - 1, max(x0, x1))
        if 0 <= y < self.height and x0 <= x1:
            i = 3 * (y * self.width + x0)
            self.pixels[i : i + 3 * (x1 - x0 + 1)] = bytes(colour) * (x1 - x0 + 1)

    def vline(self, x: int, y0: int, y1: int, colour: RGB) -> None:
        y0, y1 = max(0, min(y0, y1)), min(self.height - 1, max(y0, y1))
        if 0 <= x < self.width and y0 <= y1:
            count = y1 - y0 + 1
            first = 3 * (y0 * self.width + x)
            stop = first + 3 * self.width * (count - 1) + 1
            step = 3 * self.width
            for channel, level in enumerate(colour):
                self.pixels[first + channel : stop + channel : step] = bytes((level,)) * count

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: RGB) -> None:
        """A Bresenham line, both ends included."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.point(x0, y0, colour)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def frame(self, x0: int, y0: int, x1: int, y1: int, colour: RGB) -> None:
        self.hline(x0, x1, y0, colour)
        self.hline(x0, x1, y1, colour)
        self.vline(x0, y0, y1, colour)
        self.vline(x1, y0, y1, colour)

    def text(self, x: int, y: int, text: str, colour: RGB, scale: int = 2) -> None:
        """``text`` (digits, ``.``, ``-``, ``%``) in the 3x5 font, top-left at (x, y)."""
        for char in text:
            rows = _FONT.get(char)
            if rows is not None:
                for r, bits in enumerate(rows):
                    for c in range(3):
                        if bits[c] == "#":
                            for dy in range(scale):
                                for dx in range(scale):
                                    self.point(x + c * scale + dx, y + r * scale + dy, colour)
            x += 4 * scale


_FONT: dict[str, tuple[str, ...]] = {
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"),
    "3": ("###", "..#", ".##", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "###"),
    ".": ("...", "...", "...", "...", ".#."),
    "-": ("...", "...", "###", "...", "..."),
    "%": ("#.#", "..#", ".#.", "#..", "#.#"),
}


def _spans(ts: Sequence[int], columns: int) -> list[tuple[int, int, int]]:
    """(column, begin, end) of every pixel column that has points ``begin:end``.

    Point ``i`` goes to column ``(ts[i] - ts[0]) * (columns - 1) // span`` (by time);
    when every point has the same time, to ``i * (columns - 1) // (n - 1)`` (by index).
    The columns' first points are found by bisection, so no Python runs per point.
    """
    n = len(ts)
    if not n:
        return []
    last_column = columns - 1
    t0 = ts[0]
    span = ts[-1] - t0
    if span > 0:

        def start(col: int) -> int:
            # the first point with (t - t0) * last_column >= col * span
            return bisect.bisect_left(ts, t0 - (-col * span // last_column))

    else:

        def start(col: int) -> int:
            return min(n, -(-col * max(1, n - 1) // last_column))

    out: list[tuple[int, int, int]] = []
    begin = 0
    for col in range(columns):
        end = start(col + 1) if col < last_column else n
        if end > begin:
            out.append((col, begin, end))
        begin = end
    return out


def _deepest(chunk: Sequence[float], peak: float) -> tuple[float, float]:
    """(lowest value / running peak - 1 over ``chunk``, the peak after it)."""
    high = max(chunk)
    if high <= peak:  # no new peak in the chunk: one division
        return (min(chunk) / peak - 1.0 if peak > 0 else 0.0), peak
    worst = 0.0
    for value in chunk:
        if value > peak:
            peak = value
        elif peak > 0 and value / peak - 1.0 < worst:
            worst = value / peak - 1.0
    return worst, peak


def _label(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 1_000 else f"{value:.2f}"


def equity_chart_png(
    ts: Sequence[int],
    equity: Sequence[float],
    *,
    width: int = 900,
    height: int = 500,
    starting: float | None = None,
) -> bytes:
    """The equity curve (top) and its drawdown in % (bottom) as PNG bytes.

    ``ts`` are the points' times (ns) and place them on the x axis. The
    drawdown's running peak starts at ``starting`` (the starting cash) when
    given, else at the first equity value. An empty curve gives the frames and
    grid only.
    """
    layout = chart_layout(width, height)
    if len(ts) != len(equity):
        raise ValueError(f"ts: expected one time per equity value ({len(equity)}), got {len(ts)}")
    canvas = _Canvas(width, height, BACKGROUND)
    left, right = layout.left, layout.right
    plot_w = right - left - 1  # columns strictly inside the frame
    eq_top, eq_bottom = layout.equity_top, layout.equity_bottom
    dd_top, dd_bottom = layout.drawdown_top, layout.drawdown_bottom
    for k in range(1, 10):
        x = left + (right - left) * k // 10
        canvas.vline(x, eq_top, eq_bottom, _GRID)
        canvas.vline(x, dd_top, dd_bottom, _GRID)
    for k in range(1, 5):
        canvas.hline(left, right, eq_top + (eq_bottom - eq_top) * k // 5, _GRID)
    for k in range(1, 3):
        canvas.hline(left, right, dd_top + (dd_bottom - dd_top) * k // 3, _GRID)
    if equity:
        _draw_curves(canvas, ts, equity, starting=starting, layout=layout, plot_w=plot_w)
    canvas.frame(left, eq_top, right, eq_bottom, _FRAME)
    canvas.frame(left, dd_top, right, dd_bottom, _FRAME)
    return encode_png(width, height, canvas.pixels)


def _draw_curves(
    canvas: _Canvas,
    ts: Sequence[int],
    equity: Sequence[float],
    *,
    starting: float | None,
    layout: ChartLayout,
    plot_w: int,
) -> None:
    x0 = layout.left + 1
    # equity panel: 4 px of air above and below the line
    top, bottom = layout.equity_top + 4, layout.equity_bottom - 4
    low, high = min(equity), max(equity)
    if high == low:
        low, high = low - 1.0, high + 1.0
    scale = (bottom - top) / (high - low)

    def y_of(value: float) -> int:
        return bottom - round((value - low) * scale)

    spans = _spans(ts, plot_w)
    previous: tuple[int, int] | None = None
    for col, begin, end in spans:
        chunk = equity[begin:end]
        x = x0 + col
        if previous is not None:
            canvas.line(previous[0], previous[1], x, y_of(chunk[0]), EQUITY_LINE)
        canvas.vline(x, y_of(max(chunk)), y_of(min(chunk)), EQUITY_LINE)
        previous = (x, y_of(chunk[-1]))
    canvas.text(4, top, _label(high), _TEXT)
    canvas.text(4, bottom - 9, _label(low), _TEXT)

    # drawdown panel: 0 at its top, the deepest drawdown at its bottom
    peak = equity[0] if starting is None else starting
    depths: list[tuple[int, float]] = []
    for col, begin, end in spans:
        worst, peak = _deepest(equity[begin:end], peak)
        depths.append((col, worst))
    deepest = min(worst for _, worst in depths)
    zero_y = layout.drawdown_top + 2
    dd_bottom = layout.drawdown_bottom - 2
    dd_scale = (dd_bottom - zero_y) / (-deepest if deepest < 0 else 0.01)
    for col, worst in depths:
        if worst < 0:
            canvas.vline(x0 + col, zero_y, zero_y + round(-worst * dd_scale), DRAWDOWN_FILL)
    canvas.hline(layout.left, layout.right, zero_y, _ZERO)
    canvas.text(4, layout.drawdown_top + 2, "0%", _TEXT)
    canvas.text(4, dd_bottom - 9, f"{deepest * 100:.1f}%", _TEXT)
