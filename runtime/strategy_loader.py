"""Load a strategy class for ``add_strategy``: only from modules and directories settings allow.

A running runtime can be asked (over the gateway) to start a strategy whose
class it did not load at start-up. That request names code to run inside the
trading process, so what it may name is fenced by ``[gateway]``:

- ``"package.module:Class"``: the module must be one of
  ``strategy_modules`` or inside one of them (``strategies`` allows
  ``strategies.sma_crossover``, not ``strategiesx``). It is imported with
  :func:`importlib.import_module` (a module already imported is reused).
- ``"path/to/file.py:Class"``: the file is looked up relative to each of
  ``strategy_dirs`` in order (or taken as given when absolute); once resolved
  (symbolic links and ``..`` followed) it must lie inside one of those
  directories. It is executed afresh on every load, under a new module name
  (``tradepit_hot.<stem>_<n>``), so a strategy edited on disk and added again
  runs the new code; the module is kept in ``sys.modules`` only when it
  loaded. Without ``strategy_dirs`` every file is refused.

A name outside what is allowed raises :class:`LoadRefused` (without telling
whether such a file exists); code that cannot be loaded (a syntax error, an
exception while importing, no such class, not a
:class:`~strategies.base.Strategy` subclass) raises :class:`LoadFailed` with
the cause. Both are :class:`~runtime.errors.SettingsError` about key
``class`` of the request, so the loader plugs into
:func:`runtime.settings.read_strategy` as its ``load``.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import re
import sys
import threading
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime._tables import Table
from runtime.errors import SettingsError
from runtime.settings import check_strategy_class

__all__ = ["HOT_PACKAGE", "LoadFailed", "LoadRefused", "StrategyLoader"]

HOT_PACKAGE = "tradepit_hot"
"""Package under which strategy files are loaded (``tradepit_hot.<stem>_<n>``)."""

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_CLASS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_counter = itertools.count(1)
_package_lock = threading.Lock()


class LoadRefused(SettingsError):  # noqa: N818 (the protocol's name)
    """The module or file is not one settings allow to load (``NOT_ALLOWED``)."""


class LoadFailed(SettingsError):  # noqa: N818 (the protocol's name)
    """The code could not be loaded or is not a strategy (``LOAD_ERROR``)."""


def _hot_package() -> None:
    """Make sure the parent package of loaded files exists (pickle and
    ``typing.get_type_hints`` look modules up by their dotted name)."""
    with _package_lock:
        if HOT_PACKAGE not in sys.modules:
            package = types.ModuleType(HOT_PACKAGE, "Strategy files loaded while running.")
            package.__path__ = []
            sys.modules[HOT_PACKAGE] = package


class StrategyLoader:
    """Turns the ``class`` of an ``add_strategy`` request into a strategy class.

    Args:
        modules: ``[gateway] strategy_modules``: dotted names of the packages
            or modules classes may be imported from.
        dirs: ``[gateway] strategy_dirs``: directories ``file.py`` strategies
            may be loaded from (resolved here; empty: no file is allowed).
    """

    def __init__(self, modules: Sequence[str], dirs: Sequence[Path]) -> None:
        self.modules = tuple(modules)
        self.dirs = tuple(Path(d).resolve() for d in dirs)

    def load(self, t: Table, class_path: str) -> type[Any]:
        """The class named by ``class_path`` (the value of key ``class`` of ``t``).

        Raises:
            LoadRefused: the module or file is not allowed.
            LoadFailed: it cannot be loaded, or the class is missing or not a strategy.
        """
        location, sep, class_name = class_path.rpartition(":")
        if not sep or not location or not _CLASS.fullmatch(class_name):
            raise LoadFailed(
                t.file,
                t.key("class"),
                f"expected 'package.module:Class' or 'path/to/file.py:Class', got {class_path!r}",
            )
        if location.endswith(".py"):
            module = self._load_file(t, location)
        else:
            module = self._import_module(t, location)
        cls = getattr(module, class_name, None)
        if cls is None:
            raise LoadFailed(t.file, t.key("class"), f"{location!r} has no {class_name!r}")
        try:
            return check_strategy_class(t, class_path, cls)
        except LoadFailed:
            raise
        except SettingsError as exc:
            raise LoadFailed(exc.file, exc.key, exc.problem) from None

    # --- modules -------------------------------------------------------------------

    def _allowed_module(self, name: str) -> bool:
        return any(name == m or name.startswith(m + ".") for m in self.modules)

    def _import_module(self, t: Table, name: str) -> types.ModuleType:
        if not _MODULE.fullmatch(name):
            raise LoadRefused(
                t.file, t.key("class"), f"{name!r} is not an absolute dotted module name"
            )
        if not self._allowed_module(name):
            allowed = ", ".join(self.modules) or "none"
            raise LoadRefused(
                t.file,
                t.key("class"),
                f"module {name!r} is not inside the allowed strategy_modules ({allowed})",
            )
        try:
            return importlib.import_module(name)
        except (Exception, SystemExit) as exc:
            raise LoadFailed(
                t.file,
                t.key("class"),
                f"cannot import module {name!r}: {type(exc).__name__}: {exc}",
            ) from None

    # --- files ---------------------------------------------------------------------

    def _find_file(self, t: Table, location: str) -> Path:
        """The resolved file: inside an allowed directory and existing, else refused."""
        refused = LoadRefused(
            t.file,
            t.key("class"),
            f"{location!r} is not a .py file inside the allowed strategy_dirs",
        )
        if not self.dirs:
            raise LoadRefused(
                t.file,
                t.key("class"),
                "loading strategy files is not allowed: [gateway] strategy_dirs is empty",
            )
        try:
            path = Path(location)
            candidates = [path] if path.is_absolute() else [d / path for d in self.dirs]
            for candidate in candidates:
                resolved = candidate.resolve()
                inside = any(resolved.is_relative_to(d) for d in self.dirs)
                if inside and resolved.suffix == ".py" and resolved.is_file():
                    return resolved
        except (OSError, ValueError, RuntimeError):  # NUL bytes, symlink loops...
            raise refused from None
        raise refused

    def _load_file(self, t: Table, location: str) -> types.ModuleType:
        path = self._find_file(t, location)
        stem = re.sub(r"\W", "_", path.stem) or "strategy"
        name = f"{HOT_PACKAGE}.{stem}_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise LoadFailed(t.file, t.key("class"), f"cannot load {location!r} as a module")
        module = importlib.util.module_from_spec(spec)
        _hot_package()
        # Registered while it runs (dataclasses and typing look the module up by
        # name), and kept only if it loaded.
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:
            sys.modules.pop(name, None)
            raise LoadFailed(
                t.file,
                t.key("class"),
                f"cannot load {location!r}: {type(exc).__name__}: {exc}",
            ) from None
        return module
