"""The backtest benchmark's data: the shared 1-minute file, repeated into one CSV.

Each copy is shifted by :data:`SHIFT` (nine weeks, so weekdays are kept) from
the one before, which puts every copy after the previous one (the file spans
eight weeks): timestamps strictly increase over the whole output. The output
has the full header :data:`HEADER` (the shared file's header lacks ``Time``).
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

__all__ = ["HEADER", "MINUTE_FILE", "SHIFT", "write_repeated"]

MINUTE_FILE = (
    Path(__file__).resolve().parent.parent.parent
    / "shared"
    / "data"
    / "2006-01-02-volume-min-001.txt"
)
"""The shared 1-minute file (30,889 bars of one future, 2006-01-02 to 2006-02-27)."""

SHIFT = dt.timedelta(days=63)
"""How far each copy is moved from the one before: nine weeks."""

HEADER = ("Date", "Time", "Open", "High", "Low", "Close", "Volume", "OpenInterest")
"""The header written: one name per column of the rows."""


def _rows(source: Path) -> list[list[str]]:
    with source.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        next(reader, None)  # the source's header (one column short)
        rows = [row for row in reader if row]
    if not rows or any(len(row) != len(HEADER) for row in rows):
        raise ValueError(
            f"{source}: expected rows of {len(HEADER)} fields ({','.join(HEADER)}), "
            f"got {len(rows[0]) if rows else 'no rows'}"
        )
    return rows


def write_repeated(
    source: Path, dest: Path, *, copies: int, bars_per_copy: int | None = None
) -> int:
    """Write ``copies`` copies of ``source``'s rows (the first ``bars_per_copy`` of
    them, or all) to ``dest``, copy ``k`` shifted by ``k * SHIFT``; return the bars
    written. Raises ``ValueError`` naming a count out of range or a malformed file."""
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies: expected an integer >= 1, got {copies!r}")
    if bars_per_copy is not None and (
        isinstance(bars_per_copy, bool) or not isinstance(bars_per_copy, int) or bars_per_copy < 1
    ):
        raise ValueError(f"bars_per_copy: expected an integer >= 1 or None, got {bars_per_copy!r}")
    rows = _rows(source)[:bars_per_copy]
    dates = {row[0]: dt.date.fromisoformat(row[0]) for row in rows}
    with dest.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(HEADER)
        for copy in range(copies):
            shifted = {text: (day + copy * SHIFT).isoformat() for text, day in dates.items()}
            writer.writerows([shifted[row[0]], *row[1:]] for row in rows)
    return copies * len(rows)
