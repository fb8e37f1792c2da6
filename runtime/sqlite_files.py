"""What the journal and the venue's state file share: checking an SQLite file before
SQLite opens it, and opening it.

SQLite takes an empty file for an empty database and reads a truncated one
until it meets the missing pages, so a file cut short could pass for a fresh
start: :func:`file_problem` refuses both from the header alone, before any
query (the stores then run ``PRAGMA quick_check`` for garbled pages).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["connect", "file_problem"]

_HEADER = b"SQLite format 3\x00"


def file_problem(path: Path) -> str | None:
    """Why the existing file at ``path`` cannot be a whole SQLite database, or None."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        return f"cannot read it: {exc}"
    if size == 0:
        return "the file is empty (truncated?)"
    if len(header) < 100 or not header.startswith(_HEADER):
        return "not an SQLite database (bad header: truncated or overwritten?)"
    page = int.from_bytes(header[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(header[28:32], "big")
    if page < 512 or size % page:
        return f"{size} bytes is not a whole number of {page}-byte pages (truncated)"
    if pages and size < pages * page and not path.with_name(path.name + "-wal").exists():
        return f"{size} bytes, but its header says {pages * page} (truncated)"
    return None


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from the
    thread that owns it at a time, waiting up to 5 s for another writer's lock;
    ``readonly`` opens with ``mode=ro`` (WAL lets it read beside a writer)."""
    if readonly:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn
