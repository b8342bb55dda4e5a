"""`station replay --json` on every shared example matches its truth file."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import CHECK_REPLAY, EXAMPLES, TRACES


@pytest.mark.parametrize("name", EXAMPLES)
def test_replay_matches_truth(name, tmp_path):
    trace = TRACES / f"{name}.trace.jsonl"
    out = tmp_path / "out.json"
    r = subprocess.run([sys.executable, "-m", "station", "replay", str(trace), "--json"],
                       capture_output=True, text=True, check=True)
    out.write_text(r.stdout)
    check = subprocess.run([sys.executable, str(CHECK_REPLAY), str(trace), str(TRACES / f"{name}.truth.json"),
                            str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert check.stdout.strip().splitlines()[-1].startswith("ok:")


def test_examples_are_present():
    assert {"nhpt-clean", "nhpt-nodish", "coin-drop", "free-practice"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_replay_is_deterministic_and_ordered(name):
    from station.replay import replay
    a = replay(TRACES / f"{name}.trace.jsonl")
    b = replay(TRACES / f"{name}.trace.jsonl")
    assert a == b
    ts = [e["t"] for e in a["events"]]
    assert ts == sorted(ts)
    json.dumps(a)  # serialisable
