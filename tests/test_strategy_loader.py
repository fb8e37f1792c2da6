"""The strategy loader of ``add_strategy``: allowed modules and directories only, and the
cause of every failure in the message."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runtime._tables import Table
from runtime.config import FeedConfig, RiskConfig, SupervisionConfig
from runtime.errors import SettingsError
from runtime.settings import read_strategy
from runtime.strategy_loader import HOT_PACKAGE, LoadFailed, LoadRefused, StrategyLoader
from strategies.base import Strategy
from strategies.sma_crossover import SmaCrossover

STRATEGY = """
from dataclasses import dataclass

from strategies.base import Strategy


@dataclass(frozen=True, slots=True, kw_only=True)
class Params:
    quantity: float = {quantity}


class Mine(Strategy):
    Params = Params
    VERSION = {version}
"""


def _table() -> Table:
    return Table("add_strategy", "", {})


def _write(path: Path, version: int = 1, quantity: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STRATEGY.format(version=version, quantity=quantity), encoding="utf-8")
    return path


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """An allowed directory and a second one, both with strategy files."""
    first, second = tmp_path / "strategies_a", tmp_path / "strategies_b"
    _write(first / "mine.py")
    _write(second / "other.py", version=7)
    return first, second


# --- modules ---------------------------------------------------------------------------


def test_a_class_of_an_allowed_package_is_imported() -> None:
    loader = StrategyLoader(("strategies",), ())
    assert loader.load(_table(), "strategies.sma_crossover:SmaCrossover") is SmaCrossover
    assert (
        StrategyLoader(("strategies.sma_crossover",), ()).load(
            _table(), "strategies.sma_crossover:SmaCrossover"
        )
        is SmaCrossover
    )


@pytest.mark.parametrize(
    "class_path",
    [
        "strategiesx.sma:Sma",  # a sibling that only shares the prefix
        "support:BuyOnce",  # importable, but not allowed
        ".sma_crossover:SmaCrossover",  # relative
        "strategies..sma_crossover:SmaCrossover",
        "strategies/sma_crossover:SmaCrossover",
    ],
)
def test_modules_outside_the_allowed_ones_are_refused(class_path: str) -> None:
    loader = StrategyLoader(("strategies",), ())
    with pytest.raises(LoadRefused) as refused:
        loader.load(_table(), class_path)
    assert refused.value.key == "class"
    assert refused.value.file == "add_strategy"
    assert class_path.partition(":")[0] in str(refused.value)


def test_an_allowed_module_that_fails_to_import_is_a_load_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "hotpkg_loader_test"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "broken.py").write_text("raise RuntimeError('no database here')\n", "utf-8")
    (package / "bad_syntax.py").write_text("def f(:\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    loader = StrategyLoader(("hotpkg_loader_test",), ())
    with pytest.raises(LoadFailed, match=r"RuntimeError: no database here"):
        loader.load(_table(), "hotpkg_loader_test.broken:Anything")
    with pytest.raises(LoadFailed, match=r"SyntaxError"):
        loader.load(_table(), "hotpkg_loader_test.bad_syntax:Anything")
    with pytest.raises(LoadFailed, match=r"ModuleNotFoundError"):
        loader.load(_table(), "hotpkg_loader_test.absent:Anything")
    assert "hotpkg_loader_test.broken" not in sys.modules


def test_a_missing_class_or_one_that_is_not_a_strategy_is_a_load_failure() -> None:
    loader = StrategyLoader(("strategies",), ())
    with pytest.raises(LoadFailed, match=r"'strategies.sma_crossover' has no 'Nope'"):
        loader.load(_table(), "strategies.sma_crossover:Nope")
    with pytest.raises(LoadFailed, match=r"is not a subclass of strategies.Strategy") as failed:
        loader.load(_table(), "strategies.sma_crossover:dataclass")
    assert failed.value.key == "class"
    with pytest.raises(LoadFailed, match=r"expected 'package.module:Class'"):
        loader.load(_table(), "strategies.sma_crossover")


# --- files -----------------------------------------------------------------------------


def test_a_file_in_an_allowed_directory_loads_under_a_fresh_module_name(
    dirs: tuple[Path, Path],
) -> None:
    first, _second = dirs
    loader = StrategyLoader((), dirs)
    mine = loader.load(_table(), "mine.py:Mine")
    other = loader.load(_table(), "other.py:Mine")  # found in the second directory
    absolute = loader.load(_table(), f"{first / 'mine.py'}:Mine")
    assert getattr(mine, "VERSION", None) == 1
    assert issubclass(mine, Strategy)
    assert other.VERSION == 7
    assert mine.__module__.startswith(f"{HOT_PACKAGE}.mine_")
    assert absolute.__module__ != mine.__module__, "every load is a new module"
    assert sys.modules[mine.__module__].__file__ == str(first / "mine.py")
    assert mine.Params().quantity == 1.0


def test_editing_a_file_and_loading_it_again_runs_the_new_code(dirs: tuple[Path, Path]) -> None:
    first, _second = dirs
    loader = StrategyLoader(("strategies",), (first,))
    before = loader.load(_table(), "mine.py:Mine")
    _write(first / "mine.py", version=2, quantity=5.0)
    after = loader.load(_table(), "mine.py:Mine")
    assert (before.VERSION, after.VERSION) == (1, 2)
    assert after.Params().quantity == 5.0
    assert before.Params().quantity == 1.0, "the first load keeps its own code"


def test_a_file_load_reads_its_params_like_settings_do(dirs: tuple[Path, Path]) -> None:
    loader = StrategyLoader((), dirs)
    table = Table(
        "add_strategy",
        "",
        {"id": "hot", "class": "mine.py:Mine", "symbols": ["SYN-A"], "params": {"quantity": 3}},
    )
    config = read_strategy(
        table,
        feed=FeedConfig(),
        global_risk=RiskConfig(),
        supervision=SupervisionConfig(),
        load=loader.load,
    )
    assert (config.id, config.class_path, config.params.quantity) == ("hot", "mine.py:Mine", 3.0)
    assert config.strategy_class.VERSION == 1


def test_escapes_from_the_allowed_directories_are_refused_alike(
    tmp_path: Path, dirs: tuple[Path, Path]
) -> None:
    first, _second = dirs
    outside = _write(tmp_path / "outside.py")
    (first / "link.py").symlink_to(outside)
    (first / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
    loader = StrategyLoader((), (first,))
    messages = {}
    for location in (
        "../outside.py",
        str(outside),
        "link.py",
        "linked_dir/outside.py",
        "absent.py",  # does not exist: the same answer as a file that exists outside
        "../absent.py",
    ):
        with pytest.raises(LoadRefused) as refused:
            loader.load(_table(), f"{location}:Mine")
        assert refused.value.key == "class"
        messages[location] = str(refused.value).replace(location, "<path>")
    assert len(set(messages.values())) == 1, messages
    assert "is not a .py file inside the allowed strategy_dirs" in messages["absent.py"]


def test_without_allowed_directories_every_file_is_refused(dirs: tuple[Path, Path]) -> None:
    first, _second = dirs
    loader = StrategyLoader(("strategies",), ())
    for location in ("mine.py", str(first / "mine.py")):
        with pytest.raises(LoadRefused, match=r"strategy_dirs is empty"):
            loader.load(_table(), f"{location}:Mine")


def test_a_file_that_fails_to_load_is_a_load_failure_and_leaves_no_module(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "hot"
    folder.mkdir()
    (folder / "syntax.py").write_text("class Broken(:\n    pass\n", encoding="utf-8")
    (folder / "raises.py").write_text("raise ValueError('bad config at import')\n", "utf-8")
    (folder / "exits.py").write_text("import sys\nsys.exit('bye')\n", encoding="utf-8")
    (folder / "plain.py").write_text("class NotAStrategy:\n    pass\n", encoding="utf-8")
    loader = StrategyLoader((), (folder,))
    before = {name for name in sys.modules if name.startswith(HOT_PACKAGE + ".")}
    cases = {
        "syntax.py:Broken": r"cannot load 'syntax.py': SyntaxError: invalid syntax",
        "raises.py:X": r"cannot load 'raises.py': ValueError: bad config at import",
        "exits.py:X": r"cannot load 'exits.py': SystemExit: bye",
        "plain.py:Missing": r"'plain.py' has no 'Missing'",
        "plain.py:NotAStrategy": r"'plain.py:NotAStrategy' is not a subclass of strategies",
    }
    for class_path, pattern in cases.items():
        with pytest.raises(LoadFailed, match=pattern) as failed:
            loader.load(_table(), class_path)
        assert isinstance(failed.value, SettingsError)
        assert failed.value.key == "class"
    after = {name for name in sys.modules if name.startswith(HOT_PACKAGE + ".")}
    # Only the two that executed cleanly (plain.py, twice) stay registered.
    assert len(after - before) == 2
