"""`station simulate` and `station demo` from the command line."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from station.cli import main
from station.commands.simulate import parse_options, truth_path_for
from station.events import Edge, Sample
from station.trace import open_trace, read_records
from tests.support import CHECK_REPLAY


def test_simulate_writes_a_valid_trace_and_truth_that_replay_matches(tmp_path, capsys):
    trace = tmp_path / "run.trace.jsonl"
    rc = main(["simulate", "--protocol", "coin-drop", "--seed", "3", "--out", str(trace), "-o", "coins=2"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "result: complete" in printed and str(trace) in printed
    header, f = open_trace(trace)
    with f:
        records = [r for _, r in read_records(f)]
    assert header.protocol == "coin-drop" and header.protocol_options == {"coins": 2}
    assert header.board.cells["dish"].units_at_start == 9
    assert all(isinstance(r, (Edge, Sample)) for r in records)  # no malformed line
    assert [r.t for r in records] == sorted(r.t for r in records)
    truth = tmp_path / "run.truth.json"
    t = json.loads(truth.read_text())
    assert set(t) == {"protocol", "events", "faults", "result"}
    out = tmp_path / "out.json"
    assert main(["replay", "--json", str(trace)]) == 0
    out.write_text(capsys.readouterr().out)
    check = subprocess.run([sys.executable, str(CHECK_REPLAY), str(trace), str(truth), str(out)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_simulate_profile_and_config_options(tmp_path, capsys):
    cfg = tmp_path / "station.toml"
    cfg.write_text('[pins]\nholes = [5, 6, 13]\n[pins.buttons]\nstart = 17\n')
    trace = tmp_path / "nodish.trace.jsonl"
    rc = main(["simulate", "--protocol", "nine-hole-peg", "--seed", "2", "--profile", "impaired",
               "--config", str(cfg), "--out", str(trace), "-o", "pegs=3"])
    assert rc == 0
    header, f = open_trace(trace)
    f.close()
    assert header.board.holes == (5, 6, 13) and header.board.cells == {}
    truth = json.loads((tmp_path / "nodish.truth.json").read_text())
    assert sorted(e["hole"] for e in truth["events"] if e["kind"] == "peg_in") == [1, 2, 3]


@pytest.mark.parametrize("argv, message", [
    (["--protocol", "juggling"], "unknown protocol 'juggling'"),
    (["--protocol", "coin-drop", "-o", "coins"], "expected KEY=VALUE"),
    (["--protocol", "coin-drop", "-o", "marbles=3"], "unknown option 'marbles'"),
    (["--protocol", "coin-drop", "--config", "/nonexistent/station.toml"], "no such file"),
])
def test_simulate_bad_input_is_one_message_and_exit_2(tmp_path, capsys, argv, message):
    trace = tmp_path / "x.trace.jsonl"
    assert main(["simulate", *argv, "--out", str(trace)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not trace.exists()


def test_simulate_never_overwrites(tmp_path, capsys):
    trace = tmp_path / "x.trace.jsonl"
    trace.write_text("keep me\n")
    assert main(["simulate", "--protocol", "coin-drop", "--out", str(trace)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert trace.read_text() == "keep me\n"


def test_truth_path_and_option_parsing(tmp_path):
    assert truth_path_for(tmp_path / "a.trace.jsonl") == tmp_path / "a.truth.json"
    assert truth_path_for(tmp_path / "a.jsonl") == tmp_path / "a.truth.json"
    assert truth_path_for(tmp_path / "a") == tmp_path / "a.truth.json"
    assert parse_options(["pegs=5", "cutoff_s=60.5", "name=x"]) == {"pegs": 5, "cutoff_s": 60.5, "name": "x"}


def _demo_text() -> list[str]:
    """``station demo`` in its text-only form (``--text`` once the demo also has a UI)."""
    from station.cli import build_parser

    sub = next(a for a in build_parser()._subparsers._group_actions if a.choices)
    has_text = any("--text" in a.option_strings for a in sub.choices["demo"]._actions)
    return ["demo", "--text"] if has_text else ["demo"]


def test_demo_prints_events_then_the_result(tmp_path, capsys):
    trace = tmp_path / "demo.trace.jsonl"
    rc = main([*_demo_text(), "--speed", "0", "--seed", "4", "-o", "pegs=2", "--trace", str(trace)])
    assert rc == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Simulated station: a healthy virtual patient performs nine-hole-peg")
    assert sum("peg in" in ln for ln in lines) == 2 and sum("peg out" in ln for ln in lines) == 2
    assert "Result: complete, total" in out
    assert "--seed 4" in lines[-1]
    assert trace.exists()


def test_demo_rejects_a_bad_speed(capsys):
    assert main([*_demo_text(), "--speed", "-1"]) == 2
    assert "--speed" in capsys.readouterr().err
