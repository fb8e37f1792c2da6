"""Every module declares a sorted ``__all__`` of names it really defines."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import actors
import runtime
import strategies


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
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
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
