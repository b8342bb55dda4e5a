"""The abuse run (tests/benchmarks/abuse.py) at a small size: the daemon survives every phase and
loses nothing. Its timings and memory are figures of the benchmark, not asserted here."""
from __future__ import annotations

import pytest

from tests.benchmarks.abuse import run_abuse

pytestmark = pytest.mark.slow  # ~15 s: a daemon, several phases, a restart


def test_the_daemon_survives_the_small_abuse_run_and_loses_nothing():
    out = run_abuse(small=True)
    assert all(p["daemon_alive"] for p in out["phases"].values()), out["phases"]
    assert out["acknowledged_trials"] >= 5 and out["acknowledged_trials_lost"] == 0
    assert out["live_trial"] == {"trial_id": out["live_trial"]["trial_id"], "saved": True, "replay_equal": True}
    fd = out["phases"]["fd_exhaustion"]
    assert fd["refused_with_bye"] > 0 and fd["served"] > 0
    assert out["phases"]["damaged_files"]["patients_found"] and out["interrupted_recovered"] == 1
    full = out["disk_full"]
    if "skipped" not in full:  # root only
        assert full["live_trial_stopped"] == "storage_full" and full["live_trial_named"]
        assert full["command_answer"] == "disk_full" and full["daemon_alive"]
        assert full["acknowledged_trials_lost"] == 0
