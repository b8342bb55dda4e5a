"""The therapist's words for a test's and a trial's state. Pure: no Textual.

The daemon's status values are identifiers (``in_progress``, ``storage_full``,
docs/api.md); the therapist reads words.
"""
from __future__ import annotations

from typing import Any

#: status value (a test's or a trial's) -> what the therapist reads; any other is shown with its
#: underscores as spaces
STATUS_WORDS = {"in_progress": "in progress", "ended": "ended early", "waiting": "waiting to start",
                "timeout": "timed out", "storage_full": "not saved", "no_trials": "no trials"}


def status_words(status: Any) -> str:
    """A status value in words ("in_progress" -> "in progress"); "" for none."""
    if not status:
        return ""
    return STATUS_WORDS.get(str(status), str(status).replace("_", " "))


def status_line(state: dict) -> str:
    """One line: the armed trial and the running test with its next trial."""
    test, trial = state.get("test"), state.get("trial")
    parts = []
    if trial:
        parts.append(f"trial armed: {trial.get('protocol')} {trial.get('side') or trial.get('hand')} "
                     f"({status_words(trial.get('status'))})")
    if test:
        nxt = test.get("next")
        parts.append(f"test {test.get('test_id')} {test.get('protocol')}: {status_words(test.get('status'))}"
                     + (f"; next trial {nxt.get('k')} of {nxt.get('n')}, {nxt.get('hand')} hand"
                        + (" (practice)" if nxt.get("practice") else "") if nxt else "; all trials done"))
    return " | ".join(parts) or "No test running."


def what_a_new_test_ends(state: dict) -> str | None:
    """What a new test would end (None: nothing): a running test with trials left, or an armed trial."""
    test, trial = state.get("test"), state.get("trial")
    if trial:
        return f"the armed {trial.get('protocol')} trial"
    # "next" only while trials are left (the daemon's status is "in_progress"; older stand-ins say "running")
    if test and test.get("next") and test.get("status") not in ("complete", "ended", "aborted"):
        nxt = test["next"]
        return f"test {test.get('test_id')} ({test.get('protocol')}, next trial {nxt.get('k')} of {nxt.get('n')})"
    return None
