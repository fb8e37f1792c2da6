"""``tradepit backtest`` as a user runs it: a real process, real files."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared market data not found at {DATA}")

SETTINGS = """
[runtime]
log_level = "WARNING"
[feed]
source = "synthetic"
[feed.synthetic]
symbols = ["ORCL"]
[execution]
engines = ["paper"]
[engines.paper]
adapter = "paper"
[engines.paper.slippage]
model = "fixed_bps"
bps = 1.0
[engines.paper.commission]
model = "per_share"
per_share = 0.005
minimum = 1.0
[portfolio]
starting_cash = 100000.0
[gateway]
enabled = false
[[strategies]]
id = "{sid}"
class = "{cls}"
symbols = ["ORCL"]
[strategies.params]
{params}
"""


def _settings(tmp_path: Path, *, sid: str = "sma", cls: str = "", params: str = "") -> Path:
    path = tmp_path / f"{sid}.toml"
    path.write_text(
        SETTINGS.format(
            sid=sid,
            cls=cls or "strategies.sma_crossover:SmaCrossover",
            params=params or "fast = 10\nslow = 30\nquantity = 100",
        ),
        encoding="utf-8",
    )
    return path


def _tradepit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
        check=False,
    )


ORCL = DATA / "orcl-1995-2014.txt"


def test_backtest_prints_the_table_and_writes_the_report(tmp_path: Path) -> None:
    report = tmp_path / "report"
    done = _tradepit("backtest", _settings(tmp_path), "--data", ORCL, "--report", report)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["strategy", "return", "%"]
    assert any(line.startswith("sma ") for line in lines)
    assert any(line.startswith("TOTAL ") for line in lines)
    assert "5,036 events" in done.stdout
    assert "\r" not in done.stderr and "backtest [" not in done.stderr  # not a terminal
    names = {p.name for p in report.iterdir()}
    assert {"summary.json", "trades.csv", "fills.csv", "orders.csv", "equity.csv"} <= names
    assert {"equity.png", "report.html"} <= names
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["events"] == 5036
    assert summary["metrics"]["sma"]["trades"] > 50
    assert summary["metrics"]["TOTAL"]["fees"] > 0


def test_from_and_to_window_the_data(tmp_path: Path) -> None:
    report = tmp_path / "window"
    done = _tradepit(
        "backtest",
        _settings(tmp_path),
        "--data",
        f"ORCL={ORCL}",
        "--from",
        "2000-01-01",
        "--to",
        "2000-12-31",
        "--report",
        report,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["start"].startswith("2000-01-03") and summary["end"].startswith("2000-12-29")
    assert summary["events"] == 252


def test_the_shipped_settings_backtest_one_strategy_on_real_data(tmp_path: Path) -> None:
    """The README's example: settings.toml trades SYN-A/B/C; ORCL's bars stand in for SYN-A."""
    shipped = ROOT / "settings.toml"
    everyone = _tradepit("backtest", shipped, "--data", f"SYN-A={ORCL}")
    assert everyone.returncode == 2
    assert "strategy sma-b trades SYN-B but the data has SYN-A" in everyone.stderr
    assert "--strategy ID" in everyone.stderr
    done = _tradepit(
        "backtest", shipped, "--data", f"SYN-A={ORCL}", "--strategy", "sma-a", "--to", "1999-12-31"
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split()[0] for line in done.stdout.splitlines() if line[:1].isalpha()]
    assert rows == ["strategy", "sma-a", "TOTAL"]


def test_two_runs_write_byte_identical_reports(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    for run in ("a", "b"):
        done = _tradepit("backtest", settings, "--data", ORCL, "--report", tmp_path / run)
        assert done.returncode == 0, done.stderr
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data", "/nonexistent/file.csv"], "/nonexistent/file.csv: no such file"),
        (["--data", str(ORCL), "--from", "2001-13-01"], "--from '2001-13-01': expected YYYY-MM-DD"),
        (
            ["--data", str(ORCL), "--from", "2010-01-01", "--to", "2009-01-01"],
            "--to '2009-01-01' is not after --from '2010-01-01'",
        ),
        (["--data", f"MSFT={ORCL}"], "strategy sma trades ORCL but the data has MSFT"),
        (["--data", str(ORCL), "--from", "2030-01-01"], "no rows between --from 2030-01-01"),
        ([], "no data: give --data"),
        (
            ["--data", str(ORCL), "--strategy", "nope"],
            "--strategy: no strategy 'nope'; the settings",
        ),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    done = _tradepit("backtest", _settings(tmp_path), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert expected in done.stderr


def test_a_report_path_that_is_a_file_exits_2_before_running(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder", encoding="utf-8")
    done = _tradepit("backtest", _settings(tmp_path), "--data", ORCL, "--report", taken)
    assert done.returncode == 2
    assert "--report" in done.stderr and "expected a folder" in done.stderr
    assert done.stdout == ""  # refused before the run
    assert taken.read_text(encoding="utf-8") == "not a folder"


def test_a_bad_settings_file_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = _settings(tmp_path, params="fast = 40\nslow = 30")
    done = _tradepit("backtest", path, "--data", ORCL)
    assert done.returncode == 2
    assert "strategies[0].params" in done.stderr and "slow must be greater than fast" in done.stderr


def test_a_failing_strategy_exits_1_naming_it(tmp_path: Path) -> None:
    path = _settings(tmp_path, sid="boom", cls="backtest_strategies:FailsOnBar", params="at = 5")
    done = _tradepit("backtest", path, "--data", ORCL)
    assert done.returncode == 1
    assert "strategy boom failed in on_bar at market time 1995-01-09" in done.stderr
    assert "RuntimeError: indicator blew up" in done.stderr


def test_the_progress_bar_is_drawn_on_a_terminal(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "backtest",
            str(_settings(tmp_path)),
            "--data",
            str(ORCL),
        ],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
        cwd=ROOT,
    ) as process:
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            drawn += chunk
        assert process.wait(timeout=120) == 0
    os.close(leader)
    assert b"backtest [" in drawn and b"5,036/5,036" in drawn
