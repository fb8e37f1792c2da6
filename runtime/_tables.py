"""Typed, strict reading of one TOML table, for the settings loader.

Every getter names the full key path in its error, says what was expected
and shows what was found; :meth:`Table.done` refuses keys nobody asked for.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runtime.errors import SettingsError

__all__ = ["Table", "read_file", "read_toml"]


def read_file(path: str | Path) -> str:
    """The text of a settings-like file; ``SettingsError`` when it cannot be read."""
    file = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(file, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(file, "", f"cannot read: {exc}") from None


def read_toml(text: str, source: str, sections: Iterable[str]) -> Table:
    """The root table of TOML ``text``, refusing top-level sections not in ``sections``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(source, "", f"not valid TOML: {exc}") from None
    root = Table(source, "", data)
    allowed = tuple(sections)
    for name in data:
        if name not in allowed:
            expected = ", ".join(allowed)
            raise root.error(name, f"unknown section; expected one of: {expected}")
    return root


_MISSING: Any = object()


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"an array {value!r}" if len(repr(value)) < 60 else "an array"
    return repr(value)


class Table:
    """One TOML table and the path it sits at (``feed.synthetic``)."""

    def __init__(self, file: str, path: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise SettingsError(file, path, f"expected a table, got {_show(data)}")
        self.file = file
        self.path = path
        self.data: dict[str, Any] = data
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        """Full dotted path of ``name`` in this table."""
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, problem: str) -> SettingsError:
        """A SettingsError about key ``name`` of this table."""
        return SettingsError(self.file, self.key(name), problem)

    def has(self, name: str) -> bool:
        """Whether the key is present."""
        return name in self.data

    def _raw(self, name: str, default: Any) -> Any:
        self._read.add(name)
        if name in self.data:
            return self.data[name]
        if default is _MISSING:
            raise self.error(name, "missing; this key is required")
        return default

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        """The value as TOML gave it, unchecked (marks the key read)."""
        return self._raw(name, default)

    def string(
        self, name: str, default: Any = _MISSING, *, choices: Iterable[str] | None = None
    ) -> str:
        """A non-empty string, optionally one of ``choices``."""
        value = self._raw(name, default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, f"expected a non-empty string, got {_show(value)}")
        if choices is not None:
            allowed = list(choices)
            if value not in allowed:
                raise self.error(name, f"expected one of {', '.join(allowed)}; got {value!r}")
        return value

    def integer(
        self,
        name: str,
        default: Any = _MISSING,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        """An integer (not a bool) within the bounds."""
        value = self._raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"expected an integer, got {_show(value)}")
        self._check_bounds(name, value, minimum, maximum, "an integer")
        return value

    def number(
        self,
        name: str,
        default: Any = _MISSING,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
    ) -> float:
        """A finite number (int or float, not a bool) within the bounds."""
        value = self._raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, f"expected a number, got {_show(value)}")
        if not math.isfinite(value):
            raise self.error(name, f"expected a finite number, got {value!r}")
        if positive and not value > 0:
            raise self.error(name, f"expected a number > 0, got {value!r}")
        self._check_bounds(name, value, minimum, maximum, "a number")
        return float(value)

    def _check_bounds(
        self, name: str, value: float, minimum: float | None, maximum: float | None, what: str
    ) -> None:
        if minimum is not None and value < minimum:
            raise self.error(name, f"expected {what} >= {minimum:g}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.error(name, f"expected {what} <= {maximum:g}, got {value!r}")

    def boolean(self, name: str, default: Any = _MISSING) -> bool:
        """true or false."""
        value = self._raw(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {_show(value)}")
        return value

    def strings(self, name: str, default: Any = _MISSING) -> tuple[str, ...]:
        """A non-empty array of distinct non-empty strings."""
        value = self._raw(name, default)
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list) or not value:
            raise self.error(name, f"expected a non-empty array of strings, got {_show(value)}")
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise self.error(name, f"expected non-empty strings, got {_show(item)}")
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            raise self.error(name, f"expected distinct values, {duplicates} repeat")
        return tuple(value)

    def table(self, name: str) -> Table:
        """A sub-table (an empty one when absent)."""
        return Table(self.file, self.key(name), self._raw(name, {}))

    def tables(self, name: str) -> list[Table]:
        """An array of tables (``[[name]]``), empty when absent."""
        value = self._raw(name, [])
        if not isinstance(value, list):
            raise self.error(
                name, f"expected an array of tables ([[{self.key(name)}]]), got {_show(value)}"
            )
        return [Table(self.file, f"{self.key(name)}[{i}]", item) for i, item in enumerate(value)]

    def done(self) -> None:
        """Refuse any key that was not read."""
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            expected = ", ".join(sorted(self._read)) or "no keys"
            raise SettingsError(
                self.file, self.key(unknown[0]), f"unknown key; expected one of: {expected}"
            )
