"""RecordStore: patients, tests, trials, durability, recovery, flat cost, the writer lock."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from station.records.store import RecordError, RecordsLocked, RecordStore

ROOT = Path(__file__).resolve().parents[2]


def trial_record(patient="P-001", n_events=40, **extra) -> dict:
    events = [{"t": 100.0 + i * 0.5, "kind": "peg_in" if i % 2 == 0 else "peg_out", "hole": 1 + i % 9}
              for i in range(n_events)]
    return {"patient_id": patient, "protocol": "nine-hole-peg", "hand": "right", "practice": False,
            "status": "complete", "result": {"status": "complete", "total_s": 19.25},
            "metrics": {"place_s": 9.5, "remove_s": 9.75}, "events": events,
            "trace": "/var/lib/station/traces/x.trace.jsonl", **extra}


# --- patients ---------------------------------------------------------------

def test_patients_are_stored_validated_and_found(store, tmp_path):
    store.add_patient("p-002", "1990", "Male", "left", notes="post-stroke")
    with pytest.raises(RecordError, match="already exists"):
        store.add_patient("P-001", 1958, "female", "right")
    assert [p["patient_id"] for p in store.find_patients("p-00")] == ["P-001", "p-002"]
    assert [p["patient_id"] for p in store.find_patients("02")] == ["p-002"]
    assert store.get_patient("p-002") == {"patient_id": "p-002", "birth_year": 1990, "sex": "male",
                                          "dominant_hand": "left", "notes": "post-stroke",
                                          "created_at": store.get_patient("p-002")["created_at"]}
    store.update_patient("p-002", dominant_hand="right")
    store.close()
    again = RecordStore(tmp_path / "data")
    assert again.get_patient("p-002")["dominant_hand"] == "right"
    again.close()


@pytest.mark.parametrize("args, message", [
    (("Jane Doe", 1950, "female", "right"), "patient ID 'Jane Doe' must be"),
    (("", 1950, "female", "right"), "patient ID '' must be"),
    (("P9", 1850, "female", "right"), "birth year must be a year from 1900"),
    (("P9", 3000, "female", "right"), "birth year must be"),
    (("P9", True, "female", "right"), "birth year must be"),
    (("P9", 1950, "f", "right"), "sex must be one of female, male, other, unknown"),
    (("P9", 1950, "female", "ambi"), "dominant hand must be left or right"),
])
def test_bad_patient_data_is_one_clear_error(store, args, message):
    with pytest.raises(RecordError, match=message):
        store.add_patient(*args)
    assert not store.has_patient("P9")


def test_birth_month_and_condition_are_optional_validated_and_clearable(store):
    # P-001 was stored without them (as older records are): it keeps working unchanged
    assert "birth_month" not in store.get_patient("P-001") and "condition" not in store.get_patient("P-001")
    p = store.add_patient("P-3", 1971, "female", "right", None, 11, "ms")
    assert (p["birth_month"], p["condition"]) == (11, "ms")
    for bad, message in (({"birth_month": 13}, "birth month must be 1 to 12"),
                         ({"birth_month": True}, "birth month must be 1 to 12"),
                         ({"condition": "flu"}, "condition must be one of ms, stroke")):
        with pytest.raises(RecordError, match=message):
            store.update_patient("P-3", **bad)
    assert store.update_patient("P-3", birth_month="4")["birth_month"] == 4
    cleared = store.update_patient("P-3", birth_month=None, condition=None)
    assert "birth_month" not in cleared and "condition" not in cleared
    assert "birth_month" not in store.get_patient("P-3") and "condition" not in store.get_patient("P-3")


def test_unknown_patient_and_unknown_fields(store):
    with pytest.raises(RecordError, match="no patient 'nobody'"):
        store.get_patient("nobody")
    with pytest.raises(RecordError, match="cannot change name"):
        store.update_patient("P-001", name="x")
    with pytest.raises(RecordError, match="no patient 'nobody'"):
        store.finish_trial(trial_record("nobody"))


# --- tests and trials -------------------------------------------------------

def test_finished_trial_is_durable_before_return(store, tmp_path):
    test_id = store.create_test({"patient_id": "P-001", "protocol": "nine-hole-peg", "plan": ["practice"]})
    journal = store.begin_trial({"patient_id": "P-001", "test_id": test_id, "protocol": "nine-hole-peg",
                                 "hand": "right", "practice": True})
    journal.phase("running", 100.0)
    for e in trial_record()["events"][:5]:
        journal.event(e)
    rec = trial_record()
    del rec["events"], rec["practice"]  # the journal's events and metadata are used
    trial_id = store.finish_trial(rec, journal)
    assert trial_id == journal.trial_id and journal.closed
    assert not list((tmp_path / "data" / "journal").iterdir())  # retired
    # another process's view: a second, read-only store opened now
    reader = RecordStore(tmp_path / "data", readonly=True)
    got = reader.get_trial(trial_id)
    assert got["practice"] is True and got["test_id"] == test_id and len(got["events"]) == 5
    assert got["metrics"] == {"place_s": 9.5, "remove_s": 9.75} and got["invalid"] is None
    assert [t["trial_id"] for t in reader.trials(test_id=test_id)] == [trial_id]
    assert reader.get_test(test_id)["plan"] == ["practice"]
    reader.close()


def test_ids_count_up_and_survive_reopening(store, tmp_path):
    ids = [store.finish_trial(trial_record()) for _ in range(3)]
    assert ids == [1, 2, 3]
    store.close()
    with RecordStore(tmp_path / "data") as again:
        assert again.finish_trial(trial_record()) == 4
        assert again.get_trial("4")["trial_id"] == 4  # ids from the socket may be strings
        with pytest.raises(RecordError, match="no trial 99"):
            again.get_trial(99)
        with pytest.raises(RecordError, match="trial ids are whole numbers"):
            again.get_trial("../x")


def test_mark_invalid_keeps_the_trial_and_persists(store, tmp_path):
    tid = store.finish_trial(trial_record())
    with pytest.raises(RecordError, match="reason is required"):
        store.mark_trial_invalid(tid, "  ")
    store.mark_trial_invalid(tid, "patient used both hands")
    store.close()
    with RecordStore(tmp_path / "data") as again:
        got = again.get_trial(tid)
        assert got["invalid"]["reason"] == "patient used both hands" and len(got["events"]) == 40
        assert again.trials()[0]["invalid"]["reason"] == "patient used both hands"


def test_update_test_and_filters(store):
    store.add_patient("P-002", 1970, "male", "left")
    t1 = store.create_test({"patient_id": "P-001", "protocol": "nine-hole-peg"})
    store.update_test(t1, {"status": "complete", "summary": {"dominant_mean_s": 18.0}})
    assert store.get_test(t1)["summary"] == {"dominant_mean_s": 18.0}
    with pytest.raises(RecordError, match="no test 42"):
        store.finish_trial(trial_record(test_id=42))
    with pytest.raises(RecordError, match="a test needs a patient_id"):
        store.create_test({"protocol": "coin-drop"})
    store.finish_trial(trial_record("P-001", started_at="2024-03-01T09:00:00+00:00"))
    store.finish_trial(trial_record("P-002", started_at="2025-06-01T09:00:00+00:00"))
    store.finish_trial(trial_record("P-001", started_at="2025-07-01T09:00:00+00:00"))
    assert [t["started_at"][:7] for t in store.trials(patient_id="P-001")] == ["2024-03", "2025-07"]
    assert [t["patient_id"] for t in store.trials(since=date(2025, 1, 1))] == ["P-002", "P-001"]
    assert len(store.trials(since=datetime(2025, 6, 15, tzinfo=UTC))) == 1
    assert [t["status"] for t in store.tests(patient_id="P-001")] == ["complete"]


# --- crash recovery ---------------------------------------------------------

CRASHER = textwrap.dedent("""
    import sys
    from station.records.store import RecordStore
    s = RecordStore(sys.argv[1])
    s.add_patient("P-001", 1958, "female", "right")
    done = s.finish_trial({"patient_id": "P-001", "protocol": "coin-drop", "status": "complete"})
    j = s.begin_trial({"patient_id": "P-001", "protocol": "nine-hole-peg", "hand": "left"})
    j.phase("running", 50.0)
    for i in range(12):
        j.event({"t": 50.0 + i, "kind": "peg_in", "hole": 1 + i % 9})
    print(done, j.trial_id, flush=True)
    sys.stdin.read()  # mid-trial until killed (the test holds stdin open)
""")


def test_kill_9_mid_trial_recovers_it_as_interrupted(tmp_path, caplog):
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, str(data)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        finished, live = map(int, proc.stdout.readline().split())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdin.close()
    # a crash can cut the journal's last line: append half a line as if it had
    with open(data / "journal" / f"{live}.jsonl", "ab") as f:
        f.write(b'{"event": {"t": 62.0, "kind": "peg_o')
    with caplog.at_level(logging.WARNING, logger="station.records"):
        store = RecordStore(data)  # the lock died with the process
    try:
        assert store.interrupted == [live]
        got = store.get_trial(live)
        assert got["status"] == "interrupted" and got["hand"] == "left"
        assert [e["t"] for e in got["events"]] == [50.0 + i for i in range(12)]
        assert got["invalid"]["reason"].startswith("interrupted")
        assert store.get_trial(finished)["status"] == "complete"
        lines = [r.getMessage() for r in caplog.records if r.name == "station.records"]
        assert len(lines) == 1 and f"interrupted trial {live}" in lines[0] and "cut short" in lines[0]
        assert store.recovered == lines
        assert not list((data / "journal").glob("*.jsonl"))  # retired
        assert store.finish_trial(trial_record()) == live + 1  # no id is reused
    finally:
        store.close()
    with RecordStore(data) as again:  # recovery happens once
        assert again.interrupted == [] and again.get_trial(live)["status"] == "interrupted"


def test_crash_after_store_before_journal_retired(store, tmp_path):
    j = store.begin_trial({"patient_id": "P-001", "protocol": "timed-pegs"})
    j.event({"t": 1.0, "kind": "peg_in", "hole": 1})
    path = j.path
    saved = path.read_bytes()
    tid = store.finish_trial({"status": "complete"}, j)
    store.close()
    path.write_bytes(saved)  # as if the process died between the two steps
    with RecordStore(tmp_path / "data") as again:
        assert again.interrupted == [] and again.get_trial(tid)["status"] == "complete"
        assert not path.exists()


def test_index_is_rebuilt_from_documents(store, tmp_path):
    ids = [store.finish_trial(trial_record()) for _ in range(3)]
    store.mark_trial_invalid(ids[1], "dropped pegs")
    store.close()
    index = tmp_path / "data" / "index.jsonl"
    lines = index.read_bytes().split(b"\n")
    index.write_bytes(b"\n".join(lines[:2]) + b"\n" + lines[2][:10])  # lost lines, one cut
    with RecordStore(tmp_path / "data") as again:
        assert [t["trial_id"] for t in again.trials()] == ids
        assert again.trials()[1]["invalid"]["reason"] == "dropped pegs"
        assert again.finish_trial(trial_record()) == 4
    index.unlink()
    with RecordStore(tmp_path / "data") as again:
        assert [t["trial_id"] for t in again.trials()] == [*ids, 4]


def test_corrupt_patients_file_recovered_at_store_open(store, tmp_path, caplog):
    store.add_patient("P-002", 1970, "male", "left")
    store.add_patient("P-003", 1980, "other", "left")
    store.close()
    path = tmp_path / "data" / "patients.jsonl"
    raw = path.read_bytes()
    path.write_bytes(raw[:30] + b"\x00" * 20 + raw[50:])  # a bad block in the middle, not a cut last line
    with caplog.at_level(logging.WARNING, logger="station.records"):
        again = RecordStore(tmp_path / "data")
    with again:
        assert [p["patient_id"] for p in again.patients()] == ["P-001", "P-002", "P-003"]  # from the copy
        assert len(again.recovered) == 1 and "patients.jsonl.bak" in again.recovered[0]
        assert len(list(path.parent.glob("patients.jsonl.corrupt-*"))) == 1


# --- flat cost --------------------------------------------------------------

def bytes_written_by(fn, monkeypatch) -> int:
    """Bytes handed to os.write (every file write the store makes) while ``fn`` runs."""
    total = 0
    real = os.write

    def counting(fd, data):
        nonlocal total
        total += len(data)
        return real(fd, data)

    monkeypatch.setattr(os, "write", counting)
    try:
        fn()
    finally:
        monkeypatch.setattr(os, "write", real)
    return total


def test_recording_a_trial_writes_the_same_bytes_whatever_the_history(store, monkeypatch):
    store.create_test({"patient_id": "P-001"})
    cost = {}
    for size in (5, 200):
        while len(store.trials()) < size:
            store.finish_trial(trial_record())
        cost[size] = bytes_written_by(lambda: store.finish_trial(trial_record()), monkeypatch)
    assert cost[5] > 40 * 30  # the trial itself was written...
    assert cost[200] <= cost[5] + 16  # ...and nothing that grows with history (ids gain digits)


def test_creating_and_correcting_a_patient_writes_the_same_bytes_whatever_the_count(store, monkeypatch):
    cost = {}
    for size in (5, 300):
        while len(store.patients()) < size:
            store.add_patient(f"Q-{len(store.patients()):04d}", 1950, "male", "left")
        pid = f"N-{size:04d}"
        create = bytes_written_by(lambda: store.add_patient(pid, 1960, "female", "right"), monkeypatch)  # noqa: B023
        update = bytes_written_by(lambda: store.update_patient(pid, notes="corrected"), monkeypatch)  # noqa: B023
        cost[size] = (create, update)
    assert cost[5][0] > 2 * 80  # the patient itself was written, to the log and its copy...
    assert cost[300] == cost[5]  # ...and nothing that grows with the number of patients


# --- one writer -------------------------------------------------------------

def test_second_writer_is_refused_with_a_clear_message(store, tmp_path):
    code = ("import sys\nfrom station.cli import main\nfrom station.records.store import RecordStore\n"
            "try:\n    RecordStore(sys.argv[1])\nexcept Exception as e:\n"
            "    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "data")], capture_output=True,
                         text=True, cwd=ROOT, timeout=30)
    assert out.stdout.startswith("RecordsLocked ")
    assert f"pid {os.getpid()}" in out.stdout and "only one daemon" in out.stdout
    assert issubclass(RecordsLocked, RecordError)
    # readers do not need the lock
    with RecordStore(tmp_path / "data", readonly=True) as reader:
        assert reader.get_patient("P-001")["birth_year"] == 1958
        with pytest.raises(RecordError, match="read-only"):
            reader.add_patient("P-9", 1950, "male", "left")


def test_records_are_private_files(store, tmp_path):
    store.finish_trial(trial_record())
    data = tmp_path / "data"
    assert os.stat(data).st_mode & 0o777 == 0o700
    for p in data.rglob("*"):
        if p.is_file():
            assert p.stat().st_mode & 0o777 == 0o600, p


def test_records_in_the_results_schema(store):
    from station.administration import TrialSlot
    from station.results import trial_record as results_trial

    test_id = store.create_test({"patient_id": "P-001", "protocol": "nine-hole-peg"})
    journal = store.begin_trial({"patient_id": "P-001", "test_id": test_id, "protocol": "nine-hole-peg"})
    incomplete = results_trial({"status": "incomplete", "total_s": None}, protocol="nine-hole-peg",
                               slot=TrialSlot("dominant", 1), events=[{"t": 1.0, "kind": "peg_in", "hole": 1}])
    assert incomplete["test_id"] is None and incomplete["started_at"] is None  # not known to results.py
    tid = store.finish_trial(incomplete, journal)
    got = store.get_trial(tid)
    assert got["test_id"] == test_id and got["started_at"] is not None  # the journal's, not erased
    assert got["valid"] is False and got["invalid"]["reason"] == incomplete["invalid_reason"]
    ok = store.finish_trial(results_trial({"status": "complete", "total_s": 17.0}, protocol="nine-hole-peg",
                                          patient_id="P-001"))
    assert store.get_trial(ok)["invalid"] is None and store.get_trial(ok)["started_at"] is not None
    marked = store.mark_trial_invalid(ok, "wrong technique")
    assert marked["valid"] is False and marked["invalid_reason"] == "wrong technique"


def test_corrupt_document_found_at_open_is_moved_aside_said_once_and_its_id_not_reused(store, tmp_path, caplog):
    ids = [store.finish_trial(trial_record()) for _ in range(3)]
    store.close()
    doc = next((tmp_path / "data" / "trials").glob(f"*/{ids[-1]}.json"))
    damaged = doc.read_bytes()[:10]
    doc.write_bytes(damaged)
    with caplog.at_level(logging.WARNING, logger="station.records"):
        again = RecordStore(tmp_path / "data")
    with again:
        [line] = [r.getMessage() for r in caplog.records if r.name == "station.records"]
        assert f"trial document {doc}" in line and "corrupt" in line
        [aside] = doc.parent.glob(f"{ids[-1]}.json.corrupt-*")
        assert aside.read_bytes() == damaged and aside.name in line
        assert [t["trial_id"] for t in again.trials()] == ids[:2]
        assert again.finish_trial(trial_record()) == ids[-1] + 1
    with RecordStore(tmp_path / "data") as third:  # the moved-aside id stays taken after a restart
        assert third.recovered == []
        assert third.finish_trial(trial_record()) == ids[-1] + 2


def test_a_journal_with_a_damaged_header_still_gives_its_events_and_is_kept(store, tmp_path, caplog):
    j = store.begin_trial({"patient_id": "P-001", "protocol": "timed-pegs"})
    j.event({"t": 1.0, "kind": "peg_in", "hole": 1})
    j.event({"t": 2.0, "kind": "peg_in", "hole": 2})
    path, tid = j.path, j.trial_id
    store.close()  # a crash: the journal stays
    raw = path.read_bytes()
    path.write_bytes(b"\x00" * 20 + raw[raw.index(b"\n"):])  # its first line zeroed
    with RecordStore(tmp_path / "data") as again:
        assert again.interrupted == [tid]
        rec = again.get_trial(tid)
        assert [e["hole"] for e in rec["events"]] == [1, 2] and rec["status"] == "interrupted"
        assert "header was damaged" in rec["invalid"]["reason"]
        assert again.finish_trial(trial_record()) == tid + 1  # its id is not reused
    kept = list(path.parent.glob(f"{tid}.jsonl.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes().endswith(raw[raw.index(b"\n"):])
    assert any("damaged header" in r.getMessage() for r in caplog.records)
