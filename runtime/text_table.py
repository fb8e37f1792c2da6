"""Plain-text tables for the terminal: the run summary, the backtest metrics,
the sweep results and the gateway clients' query results share this one layout.

Columns are as wide as their widest cell (or header), two spaces apart;
trailing spaces are stripped; a rule of dashes follows the header.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

__all__ = ["text_table"]


def text_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    left: Container[int],
    total: bool = False,
) -> str:
    """The table of ``rows`` (already formatted cells) under ``headers``.

    Columns whose index is in ``left`` are left-aligned, the others
    right-aligned. ``total``: a second rule sets the last row apart.
    """
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [
            cell.ljust(widths[i]) if i in left else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    if total and rows:
        body = [*(line(r) for r in rows[:-1]), rule, line(rows[-1])]
    else:
        body = [line(r) for r in rows]
    return "\n".join([line(headers), rule, *body])
