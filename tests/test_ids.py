"""Client order ids are unique, stable in form, and differ between runs."""

from __future__ import annotations

from runtime.ids import ClientOrderIds, run_tag


def test_ids_count_up_per_strategy_under_the_run_tag() -> None:
    ids = ClientOrderIds("run1", "sma")
    assert [ids.next() for _ in range(3)] == ["run1-sma-1", "run1-sma-2", "run1-sma-3"]


def test_runs_started_in_the_same_millisecond_get_different_tags() -> None:
    tags = {run_tag(1_700_000_000_000_000_000) for _ in range(50)}
    assert len(tags) > 40
    assert all(t.startswith(run_tag(1_700_000_000_000_000_000)[:-3]) for t in tags)
