"""The therapist reads a test's and a trial's state in words, not the daemon's status identifiers."""
from __future__ import annotations

import pytest

from station.administration import TestPlan, TestSession
from station.daemon import state_messages
from station.ui.view.status_line import status_line, status_words, what_a_new_test_ends
from station.ui.view.summary import trial_row


def running_test(**plan) -> TestSession:
    return TestSession(TestPlan.default("nine-hole-peg", **plan), 7, patient_id="P-1", date="2026-03-14")


def as_state(session: TestSession) -> dict:
    """The test as the daemon's state message carries it."""
    def side(hand: str | None) -> str:
        return "right" if hand == "dominant" else "left"
    return dict(state_messages.test_snapshot(session, None, side=side) or {})


@pytest.mark.parametrize("status, words", [
    ("in_progress", "in progress"), ("ended", "ended early"), ("complete", "complete"),
    ("waiting", "waiting to start"), ("running", "running"), ("timeout", "timed out"),
    ("storage_full", "not saved"), ("some_new_status", "some new status"), (None, ""),
])
def test_a_status_is_said_in_words(status, words):
    assert status_words(status) == words


def test_the_running_test_is_in_progress_with_its_next_trial():
    session = running_test(trials_per_hand=2, practice=False)
    line = status_line({"test": as_state(session)})
    assert line == "test 7 nine-hole-peg: in progress; next trial 1 of 4, dominant hand"
    assert "_" not in line


def test_an_armed_trial_and_a_test_ended_early_are_said_in_words():
    session = running_test(trials_per_hand=1, practice=False)
    session.record({"status": "complete", "total_s": 20.0})
    session.end("ended by the therapist")
    trial = {"protocol": "nine-hole-peg", "side": "right", "status": "waiting"}
    line = status_line({"test": as_state(session), "trial": trial})
    assert line == "trial armed: nine-hole-peg right (waiting to start) | test 7 nine-hole-peg: ended early; " \
                   "all trials done"
    assert what_a_new_test_ends({"test": as_state(session)}) is None  # nothing left to end


def test_a_new_test_ends_a_running_one_with_trials_left():
    assert what_a_new_test_ends({"test": as_state(running_test(trials_per_hand=1, practice=False))}) == \
        "test 7 (nine-hole-peg, next trial 1 of 2)"
    assert what_a_new_test_ends({}) is None


def test_the_trials_table_says_a_timed_out_trial_in_words():
    session = running_test(trials_per_hand=1, practice=False)
    session.record({"status": "timeout", "total_s": None})
    [row] = [trial_row(t) for t in as_state(session)["trials"]]
    assert row[3] == "timed out"
