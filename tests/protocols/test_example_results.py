"""Every shared example scores to its truth file's result; replay shows the whole result."""
from __future__ import annotations

import json

import pytest

from station.cli import main
from station.replay import replay
from tests.support import EXAMPLES, TRACES

METRIC_KEYS = {"nine-hole-peg": {"place_s", "remove_s", "place_interval_cv", "longest_pause_s", "pegs_per_s",
                                 "transport_s", "returned_to_dish", "holes"},
               "coin-drop": {"place_s", "pickup_s", "place_intervals_s", "pickup_intervals_s"},
               "free-practice": {"reps", "reps_per_min", "pace_by_third_rpm", "pace_trend"}}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_result_matches_truth(name):
    truth = json.loads((TRACES / f"{name}.truth.json").read_text())
    head = json.loads((TRACES / f"{name}.trace.jsonl").read_text().splitlines()[0])
    tol = max([0.002] + [3.0 / c["sample_hz"] for c in head["station"].get("cells", {}).values()])
    out = replay(TRACES / f"{name}.trace.jsonl")
    r = out["result"]
    for key, want in truth["result"].items():
        if isinstance(want, float):
            assert r[key] == pytest.approx(want, abs=tol), key
        else:
            assert r[key] == want, key
    assert METRIC_KEYS[out["protocol"]] <= set(r)


@pytest.mark.parametrize("name", EXAMPLES)
def test_replay_prints_every_result_key(name, capsys):
    assert main(["replay", str(TRACES / f"{name}.trace.jsonl")]) == 0
    text = capsys.readouterr().out
    result = replay(TRACES / f"{name}.trace.jsonl")["result"]
    for key in result:
        if key not in ("status", "total_s"):
            assert f"  {key}:" in text
    assert main(["replay", str(TRACES / f"{name}.trace.jsonl"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["result"] == result
