"""Every module declares a sorted ``__all__`` of names it really defines.

Sorted as ruff's RUF022 sorts it (isort style): CONSTANTS, then Classes,
then functions, each group alphabetical.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import actors
import runtime
import strategies


def _isort_key(name: str) -> tuple[int, str]:
    if name.isupper():
        return (0, name)
    return (1 if name[:1].isupper() else 2, name)


def _modules() -> list[str]:
    names = []
    for package in (actors, runtime, strategies):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_module_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported, key=_isort_key), f"{name}.__all__ is not sorted"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr!r}"


def test_strategies_package_exports_the_base_class_and_examples() -> None:
    assert strategies.__all__ == [
        "BollingerReversion",
        "NoParams",
        "SmaCrossover",
        "Strategy",
        "StrategyContext",
    ]
