"""The runtime state machine: its table, its history, and illegal moves."""

from __future__ import annotations

import itertools

import pytest

from runtime.lifecycle import HISTORY, TRANSITIONS, IllegalTransitionError, StateMachine
from runtime.messages import RuntimeState

S = RuntimeState


def _clock() -> itertools.count[int]:
    return itertools.count(1_000)


def test_every_state_has_a_row_and_stopped_is_final() -> None:
    assert set(TRANSITIONS) == set(RuntimeState)
    assert TRANSITIONS[S.STOPPED] == frozenset()
    assert TRANSITIONS[S.STOPPING] == frozenset({S.STOPPED})
    # Only an operator's reset leaves HALTED, and it goes to RUNNING.
    assert TRANSITIONS[S.HALTED] == frozenset({S.RUNNING, S.STOPPING})
    # No state but STOPPING reaches STOPPED: shutdown always passes STOPPING.
    assert [s for s, nexts in TRANSITIONS.items() if S.STOPPED in nexts] == [S.STOPPING]


def test_moves_are_versioned_events_with_reasons() -> None:
    ticks = _clock()
    machine = StateMachine(clock=lambda: next(ticks))
    assert (machine.state, machine.version) == (S.STARTING, 0)
    event, version = machine.move(S.RUNNING, "started")
    assert (event.previous, event.state, event.reason, event.ts_event) == (
        S.STARTING,
        S.RUNNING,
        "started",
        1_000,
    )
    assert version == 1
    machine.move(S.REDUCING, "risk off")
    machine.move(S.HALTED, "kill switch")
    assert machine.state is S.HALTED
    assert machine.version == 3
    assert [(e.previous, e.state) for e in machine.history()] == [
        (S.STARTING, S.RUNNING),
        (S.RUNNING, S.REDUCING),
        (S.REDUCING, S.HALTED),
    ]


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ((), S.PAUSED),  # STARTING -> PAUSED
        ((S.RUNNING, S.HALTED), S.PAUSED),  # HALTED only resets to RUNNING
        ((S.RUNNING, S.HALTED), S.REDUCING),
        ((S.RUNNING, S.STOPPING), S.RUNNING),
        ((S.RUNNING, S.STOPPING, S.STOPPED), S.STARTING),
        ((S.RUNNING,), S.RUNNING),  # no self-transition
    ],
)
def test_an_illegal_move_raises_and_changes_nothing(
    path: tuple[RuntimeState, ...], illegal: RuntimeState
) -> None:
    machine = StateMachine()
    for state in path:
        machine.move(state, "setup")
    before = (machine.state, machine.version, machine.history())
    expected = f"cannot go from {machine.state} to {illegal}"
    with pytest.raises(IllegalTransitionError, match=expected):
        machine.move(illegal, "bad")
    assert (machine.state, machine.version, machine.history()) == before


def test_history_keeps_the_last_hundred() -> None:
    machine = StateMachine()
    machine.move(S.RUNNING, "start")
    for i in range(150):
        machine.move(S.PAUSED if i % 2 == 0 else S.RUNNING, f"toggle {i}")
    history = machine.history()
    assert len(history) == HISTORY == 100
    assert history[-1].reason == "toggle 149"
    assert history[0].reason == "toggle 50"
    assert machine.version == 151
