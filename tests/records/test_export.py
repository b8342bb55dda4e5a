"""station export: CSV rows, full JSON, private files, clear errors."""
from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime

import pytest

from station.cli import main
from station.records.store import RecordStore

TRIAL_9HPT = {"patient_id": "P-1", "protocol": "nine-hole-peg", "hand": "dominant", "side": "right",
              "index": 2, "practice": False, "status": "complete",
              "result": {"status": "complete", "total_s": 18.25, "place_s": 9.5, "remove_s": 8.75,
                         "timing": "first-peg-to-dish"},
              "events": [{"t": 10.0 + i, "kind": "peg_in", "hole": 1 + i} for i in range(9)],
              "started_at": "2025-03-04T09:15:30.000+00:00"}
TRIAL_COINS = {"patient_id": "P-2", "protocol": "coin-drop", "hand": "non-dominant", "side": "right",
               "practice": True, "status": "timeout",
               "result": {"status": "timeout", "total_s": None, "pickup_s": 1.5},
               "started_at": "2025-05-01T14:00:00.000+00:00"}


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    with RecordStore(d) as s:
        s.add_patient("P-1", 1958, "female", "right")
        s.add_patient("P-2", 1970, "male", "left")
        test_id = s.create_test({"patient_id": "P-1", "protocol": "nine-hole-peg"})
        s.finish_trial({**TRIAL_9HPT, "test_id": test_id})
        coins = s.finish_trial(TRIAL_COINS)
        s.mark_trial_invalid(coins, "=cmd|' /C calc'!A0 dropped coins")
        s.finish_trial({"patient_id": "P-2", "protocol": "timed-pegs", "status": "complete",
                        "metrics": {"pegs": 14}, "started_at": "2025-06-01T08:00:00+00:00"})
    return d


def run_export(data, *args) -> int:
    return main(["export", "--data", str(data), *args])


def test_csv_one_row_per_trial(data, capsys):
    assert run_export(data, "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["trial_id"] for r in rows] == ["1", "2", "3"]
    first = rows[0]
    local = datetime(2025, 3, 4, 9, 15, 30, tzinfo=UTC).astimezone()
    assert first["date"] == local.strftime("%Y-%m-%d") and first["time"] == local.strftime("%H:%M:%S")
    assert {k: first[k] for k in ("patient_id", "protocol", "hand", "side", "trial_number", "practice",
                                  "status", "total_s", "place_s", "remove_s", "pickup_s", "valid",
                                  "invalid_reason", "test_id")} == {
        "patient_id": "P-1", "protocol": "nine-hole-peg", "hand": "dominant", "side": "right",
        "trial_number": "2", "practice": "no", "status": "complete", "total_s": "18.25", "place_s": "9.5",
        "remove_s": "8.75", "pickup_s": "", "valid": "yes", "invalid_reason": "", "test_id": "1"}
    coins = rows[1]
    assert (coins["status"], coins["total_s"], coins["pickup_s"], coins["practice"]) == ("timeout", "", "1.5", "yes")
    assert coins["valid"] == "no"
    # a reason that a spreadsheet would run as a formula is defused
    assert coins["invalid_reason"] == "'=cmd|' /C calc'!A0 dropped coins"
    assert rows[2]["pegs"] == "14"
    # how a time was measured goes with it; older records without it leave the cell empty
    assert first["timing"] == "first-peg-to-dish" and coins["timing"] == ""


def test_filters_by_patient_and_date(data, capsys):
    assert run_export(data, "--patient", "P-2", "--since", "2025-05-15") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["patient_id"], r["protocol"]) for r in rows] == [("P-2", "timed-pegs")]


def test_json_has_everything(data, capsys):
    assert run_export(data, "--format", "json", "--patient", "P-1") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "station-export" and doc["version"] == 1
    assert [p["patient_id"] for p in doc["patients"]] == ["P-1"]
    assert [t["protocol"] for t in doc["tests"]] == ["nine-hole-peg"]
    [trial] = doc["trials"]
    assert trial["events"] == TRIAL_9HPT["events"] and trial["result"] == TRIAL_9HPT["result"]


def test_json_with_no_trials_is_valid(data, capsys):
    assert run_export(data, "--format", "json", "--since", "2030-01-01") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["trials"] == [] and doc["tests"] == []


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_file_is_private_whatever_the_umask(data, tmp_path, fmt, capsys):
    out = tmp_path / f"export.{fmt}"
    old = os.umask(0o277)  # would leave a plain 0600 create at 0400
    try:
        assert run_export(data, "--format", fmt, "--out", str(out)) == 0
    finally:
        os.umask(old)
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert "exported 3 trials" in capsys.readouterr().err
    os.chmod(out, 0o644)
    assert run_export(data, "--format", fmt, "--out", str(out)) == 2  # never overwritten silently
    assert "already exists" in capsys.readouterr().err
    assert run_export(data, "--format", fmt, "--out", str(out), "--force") == 0
    assert os.stat(out).st_mode & 0o777 == 0o600  # the replacement is private too
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("args, message", [
    (["--since", "31/01/2025"], "--since '31/01/2025' is not a date: use YYYY-MM-DD"),
    (["--patient", "P-404"], "no patient 'P-404'"),
])
def test_bad_input_is_one_message_and_exit_2(data, tmp_path, capsys, args, message):
    out = tmp_path / "x.csv"
    assert run_export(data, *args, "--out", str(out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_missing_data_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["export", "--data", str(tmp_path / "nope")]) == 2
    assert "no station records in" in capsys.readouterr().err


def test_default_data_dir_comes_from_the_config(data, tmp_path, capsys):
    from station.config import default_config_text

    conf = tmp_path / "station.toml"
    conf.write_text(default_config_text().replace('data_dir = "/var/lib/station"', f'data_dir = "{data}"'))
    assert main(["export", "--config", str(conf)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4  # header + 3 trials


def test_export_runs_while_the_daemon_holds_the_lock(data, capsys):
    with RecordStore(data) as writer:
        writer.finish_trial({"patient_id": "P-1", "protocol": "coin-drop", "status": "complete"})
        assert run_export(data) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 5


def test_results_schema_validity_is_exported(tmp_path, capsys):
    from station.results import trial_record as results_trial

    with RecordStore(tmp_path / "d") as s:
        s.add_patient("P-1", 1958, "female", "right")
        s.finish_trial(results_trial({"status": "incomplete", "total_s": None}, protocol="coin-drop",
                                     patient_id="P-1"))
    assert run_export(tmp_path / "d") == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["valid"] == "no" and "incomplete" in row["invalid_reason"] and row["date"]


def test_export_to_a_directory_is_refused_and_leaves_no_patient_data_behind(data, tmp_path, capsys):
    out = tmp_path / "outdir"
    out.mkdir()
    assert run_export(data, "--format", "csv", "--out", str(out), "--force") == 2
    assert "is a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "outdir"]  # no temporary file left
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("replace", [False, True])
def test_a_private_file_is_the_final_file_only_when_its_block_completes(tmp_path, replace):
    from station.records.export import PrivateFile

    with PrivateFile(tmp_path / "done.csv", replace=replace) as out:
        out.file.write("a,b\n")
    assert (tmp_path / "done.csv").read_text() == "a,b\n"
    with pytest.raises(RuntimeError, match="disk gone"):
        with PrivateFile(tmp_path / "failed.csv", replace=replace) as out:
            out.file.write("half a row")
            raise RuntimeError("disk gone")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done.csv"]  # nothing half-written, no temporary file
