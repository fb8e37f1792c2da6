"""Shared fixtures: data files, settings files and a thread-leak guard."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def data_dir() -> Path:
    """../shared/data, or a skip saying it is absent."""
    if not DATA.is_dir():
        pytest.skip(f"../shared/data is absent (looked in {DATA}); real market data needed")
    return DATA


@pytest.fixture
def write_settings(tmp_path: Path) -> Callable[[str], Path]:
    """Write TOML text to a settings file in tmp_path and return its path."""

    def write(text: str, name: str = "settings.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def _actor_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("tradepit-")}


@pytest.fixture(autouse=True)
def no_leaked_actor_threads() -> Iterator[None]:
    """Every test must leave no actor thread running behind it."""
    before = _actor_threads()
    yield
    leaked = {t for t in _actor_threads() - before if t.is_alive()}
    for thread in leaked:
        thread.join(timeout=5)
    still = sorted(t.name for t in leaked if t.is_alive())
    assert not still, f"actor threads left running: {still}"
