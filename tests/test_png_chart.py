"""The dependency-free PNG writer and the equity-and-drawdown chart."""

from __future__ import annotations

import struct
import zlib

import pytest

from runtime.png_chart import (
    BACKGROUND,
    DRAWDOWN_FILL,
    EQUITY_LINE,
    chart_layout,
    encode_png,
    equity_chart_png,
)

SIGNATURE = b"\x89PNG\r\n\x1a\n"
DAY = 86_400 * 1_000_000_000


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, checking each CRC."""
    assert png[:8] == SIGNATURE
    out = []
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        out.append((kind, data))
        pos += 12 + length
    return out


class Image:
    """A decoded 8-bit RGB, filter-0 PNG."""

    def __init__(self, png: bytes) -> None:
        parts = chunks(png)
        assert parts[0][0] == b"IHDR"
        assert parts[-1][0] == b"IEND"
        self.width, self.height, depth, colour, _, _, interlace = struct.unpack(
            ">IIBBBBB", parts[0][1]
        )
        assert (depth, colour, interlace) == (8, 2, 0)
        self.raw = zlib.decompress(b"".join(d for k, d in parts if k == b"IDAT"))
        stride = 1 + 3 * self.width
        assert len(self.raw) == self.height * stride
        assert all(self.raw[r * stride] == 0 for r in range(self.height))
        self.stride = stride

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        i = y * self.stride + 1 + 3 * x
        return (self.raw[i], self.raw[i + 1], self.raw[i + 2])

    def has(self, colour: tuple[int, int, int], xs: range, ys: range) -> bool:
        return any(self.pixel(x, y) == colour for x in xs for y in ys)


def test_encode_png_round_trips_pixels() -> None:
    pixels = bytes(range(2 * 3 * 3))  # 3 wide, 2 high
    image = Image(encode_png(3, 2, pixels))
    assert (image.width, image.height) == (3, 2)
    assert image.pixel(0, 0) == (0, 1, 2)
    assert image.pixel(2, 1) == (15, 16, 17)


def test_encode_png_refuses_a_wrong_pixel_count() -> None:
    with pytest.raises(ValueError, match="pixels: expected 18 bytes for 3x2 RGB, got 17"):
        encode_png(3, 2, bytes(17))


def test_chart_has_the_requested_size_and_a_full_idat() -> None:
    png = equity_chart_png([0, DAY], [100.0, 110.0], width=640, height=360)
    assert png.startswith(SIGNATURE)
    ihdr = chunks(png)[0]
    assert ihdr[0] == b"IHDR"
    assert struct.unpack(">II", ihdr[1][:8]) == (640, 360)
    image = Image(png)
    assert len(image.raw) == 360 * (1 + 3 * 640)


def test_a_rising_line_runs_from_bottom_left_to_top_right() -> None:
    ts = [i * DAY for i in range(200)]
    equity = [100.0 + i for i in range(200)]
    image = Image(equity_chart_png(ts, equity, width=400, height=300, starting=100.0))
    lay = chart_layout(400, 300)
    mid_y = (lay.equity_top + lay.equity_bottom) // 2
    mid_x = (lay.left + lay.right) // 2
    left = range(lay.left + 1, lay.left + 12)
    right = range(lay.right - 12, lay.right)
    assert image.has(EQUITY_LINE, left, range(mid_y, lay.equity_bottom))
    assert not image.has(EQUITY_LINE, left, range(lay.equity_top, mid_y))
    assert image.has(EQUITY_LINE, right, range(lay.equity_top, mid_y))
    assert not image.has(EQUITY_LINE, right, range(mid_y, lay.equity_bottom))
    # the middle of the line is in the middle of the panel
    assert image.has(EQUITY_LINE, range(mid_x - 2, mid_x + 3), range(mid_y - 6, mid_y + 7))
    # never below its peak: no drawdown area
    assert not image.has(
        DRAWDOWN_FILL, range(lay.left, lay.right), range(lay.drawdown_top, lay.drawdown_bottom)
    )


def test_a_one_point_spike_shows_and_a_fall_fills_the_drawdown_panel() -> None:
    n = 5_000
    ts = [i * 60_000_000_000 for i in range(n)]
    equity = [100.0] * n
    equity[2_500] = 150.0  # a single-point spike, many points per pixel column
    for i in range(4_000, n):
        equity[i] = 75.0  # then a fall of 50% from the spike's peak
    image = Image(equity_chart_png(ts, equity, width=300, height=200))
    lay = chart_layout(300, 200)
    mid_x = (lay.left + lay.right) // 2
    # the spike reaches the top of the equity panel in the middle column
    assert image.has(
        EQUITY_LINE, range(mid_x - 2, mid_x + 3), range(lay.equity_top, lay.equity_top + 8)
    )
    # after the fall the drawdown area reaches the bottom of its panel
    bottom = range(lay.drawdown_bottom - 4, lay.drawdown_bottom)
    assert image.has(DRAWDOWN_FILL, range(lay.right - 10, lay.right), bottom)
    assert not image.has(DRAWDOWN_FILL, range(lay.left + 1, lay.left + 10), bottom)


def test_an_empty_curve_gives_a_valid_blank_chart() -> None:
    image = Image(equity_chart_png([], [], width=200, height=120))
    assert (image.width, image.height) == (200, 120)
    lay = chart_layout(200, 120)
    assert image.pixel(0, 0) == BACKGROUND
    # the frame is drawn, nothing else in colour
    assert image.pixel(lay.left, lay.equity_top) != BACKGROUND
    everywhere = range(image.width), range(image.height)
    assert not image.has(EQUITY_LINE, *everywhere)
    assert not image.has(DRAWDOWN_FILL, *everywhere)


def test_a_flat_curve_with_all_points_at_one_time_still_draws() -> None:
    image = Image(equity_chart_png([5, 5, 5], [100.0, 100.0, 100.0], width=200, height=120))
    assert image.has(EQUITY_LINE, range(image.width), range(image.height))


def test_bad_sizes_and_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match=r"width: expected 120\.\.8000 pixels, got 10"):
        equity_chart_png([], [], width=10)
    with pytest.raises(ValueError, match=r"height: expected 80\.\.8000 pixels, got 100000"):
        equity_chart_png([], [], height=100_000)
    with pytest.raises(ValueError, match=r"ts: expected one time per equity value \(2\), got 1"):
        equity_chart_png([0], [1.0, 2.0])


def test_the_same_curve_gives_the_same_bytes() -> None:
    ts = [i * DAY for i in range(50)]
    equity = [100.0 + (i % 7) for i in range(50)]
    assert equity_chart_png(ts, equity) == equity_chart_png(list(ts), list(equity))
