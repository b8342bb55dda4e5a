"""Patients in their append-only log: durability, damage, the copy, and migration from TinyDB."""
from __future__ import annotations

import errno
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.records.patient_log import HEADER, PatientLog, parse_log
from station.records.store import RecordStore

PEOPLE = [("P-001", 1958, "female", "right"), ("P-002", 1970, "male", "left"), ("p-003", 1980, "other", "left")]


def fill(data: Path) -> None:
    with RecordStore(data) as store:
        for p in PEOPLE:
            store.add_patient(*p)


def ids(data: Path, **kw) -> list[str]:
    with RecordStore(data, **kw) as store:
        return [p["patient_id"] for p in store.patients()]


def test_each_version_is_one_line_and_corrections_keep_their_history(tmp_path):
    data = tmp_path / "data"
    fill(data)
    with RecordStore(data) as store:
        store.update_patient("P-002", birth_year=1971, notes="year corrected")
    versions, torn = parse_log((data / "patients.jsonl").read_bytes())
    assert not torn
    assert [(v["patient_id"], v["birth_year"]) for v in versions] == [
        ("P-001", 1958), ("P-002", 1970), ("p-003", 1980), ("P-002", 1971)]  # the earlier version kept
    assert (data / "patients.jsonl.bak").read_bytes() == (data / "patients.jsonl").read_bytes()
    with RecordStore(data) as store:
        assert store.get_patient("P-002")["birth_year"] == 1971  # the last version wins
        assert store.get_patient("P-002")["notes"] == "year corrected"
        assert [p["patient_id"] for p in store.find_patients("p-00")] == ["P-001", "P-002", "p-003"]


def test_an_acknowledged_create_is_fsynced_before_it_returns(tmp_path, monkeypatch):
    data = tmp_path / "data"
    store = RecordStore(data)
    synced: list[str] = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    store.add_patient(*PEOPLE[0])
    assert str(data / "patients.jsonl") in synced
    store.close()


def test_a_cut_last_line_is_dropped_and_said_once(tmp_path, caplog):
    data = tmp_path / "data"
    fill(data)
    with open(data / "patients.jsonl", "ab") as f:
        f.write(b'{"patient_id":"P-9","birth')  # a kill -9 during an append that was never answered
    with caplog.at_level(logging.WARNING, logger="station.records"):
        with RecordStore(data) as store:
            assert [p["patient_id"] for p in store.patients()] == ["P-001", "P-002", "p-003"]
            assert len(store.recovered) == 1 and "cut short" in store.recovered[0]
            store.add_patient("P-004", 1990, "male", "right")  # does not join the cut line
    with RecordStore(data) as store:
        assert store.recovered == []  # said once: the log was written again without the cut line
        assert [p["patient_id"] for p in store.patients()] == ["P-001", "P-002", "p-003", "P-004"]


@pytest.mark.parametrize("damage", [lambda raw: b"", lambda raw: raw[:5],
                                    lambda raw: raw.replace(b"P-002", b"P\xff02")],
                         ids=["empty", "no-header", "bad-byte"])
def test_a_damaged_log_is_moved_aside_and_restored_from_its_copy(tmp_path, caplog, damage):
    data = tmp_path / "data"
    fill(data)
    path = data / "patients.jsonl"
    damaged = damage(path.read_bytes())
    path.write_bytes(damaged)
    with caplog.at_level(logging.WARNING, logger="station.records"):
        assert ids(data) == ["P-001", "P-002", "p-003"]
    aside = list(data.glob("patients.jsonl.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged  # kept as it was found
    assert "patients.jsonl.bak" in caplog.text and aside[0].name in caplog.text
    assert parse_log(path.read_bytes())[0] == parse_log((data / "patients.jsonl.bak").read_bytes())[0]
    assert ids(data) == ["P-001", "P-002", "p-003"]


def test_both_copies_damaged_is_said_loudly_and_both_are_kept(tmp_path, caplog):
    data = tmp_path / "data"
    fill(data)
    (data / "patients.jsonl").write_bytes(b"")
    (data / "patients.jsonl.bak").write_bytes(b"\x00garbage\n")
    with caplog.at_level(logging.WARNING, logger="station.records"):
        with RecordStore(data) as store:
            assert store.patients() == []
            store.add_patient("P-010", 1960, "male", "right")  # the station carries on
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and "COPY IS DAMAGED TOO" in critical[0].getMessage()
    assert sorted(p.read_bytes() for p in data.glob("patients.jsonl*.corrupt-*")) == [b"", b"\x00garbage\n"]
    assert ids(data) == ["P-010"]


def test_a_log_that_lost_acknowledged_lines_gets_them_back_from_its_copy(tmp_path):
    data = tmp_path / "data"
    fill(data)
    path = data / "patients.jsonl"
    raw = path.read_bytes()
    path.write_bytes(raw[:raw.rstrip(b"\n").rindex(b"\n") + 1])  # a whole last line lost
    with RecordStore(data) as store:
        assert [p["patient_id"] for p in store.patients()] == ["P-001", "P-002", "p-003"]
        assert "copy" in store.recovered[0]
    assert path.read_bytes() == raw


def test_a_copy_that_lags_or_is_damaged_is_written_again_from_the_log(tmp_path):
    data = tmp_path / "data"
    fill(data)
    path, copy = data / "patients.jsonl", data / "patients.jsonl.bak"
    raw = path.read_bytes()
    copy.write_bytes(raw[:raw.rstrip(b"\n").rindex(b"\n") + 1])  # a crash between the two appends
    with RecordStore(data) as store:
        assert store.recovered == []  # nothing lost: not a damage to report
    assert copy.read_bytes() == raw
    copy.write_bytes(b"\x00" * 40)
    with RecordStore(data) as store:
        assert len(store.recovered) == 1 and "copy" in store.recovered[0]
    assert copy.read_bytes() == raw and len(list(data.glob("patients.jsonl.bak.corrupt-*"))) == 1


def test_a_failed_append_leaves_the_log_as_it_was(tmp_path, monkeypatch):
    data = tmp_path / "data"
    fill(data)
    store = RecordStore(data)
    before = (data / "patients.jsonl").read_bytes()
    real = os.write

    def half_then_full(fd, buf):  # a disk that fills part way through the line
        real(fd, bytes(buf[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError):
        store.add_patient("P-020", 1960, "male", "right")
    monkeypatch.setattr(os, "write", real)
    assert (data / "patients.jsonl").read_bytes() == before
    assert not store.has_patient("P-020")
    store.add_patient("P-021", 1961, "male", "right")
    store.close()
    assert ids(data) == ["P-001", "P-002", "p-003", "P-021"]
    assert (data / "patients.jsonl.bak").read_bytes() == (data / "patients.jsonl").read_bytes()


# --- migration from the TinyDB layout -----------------------------------------

def legacy(data: Path) -> None:
    """patients.json and its copy as earlier versions wrote them (one corrected patient)."""
    data.mkdir(parents=True, mode=0o700, exist_ok=True)
    made = "2025-01-01T00:00:00.000+00:00"
    table = {str(i): {"patient_id": pid, "birth_year": year, "sex": sex, "dominant_hand": hand,
                      "created_at": made} for i, (pid, year, sex, hand) in enumerate(PEOPLE, start=1)}
    table["2"]["notes"] = "corrected"
    raw = json.dumps({"patients": table}, separators=(",", ":")).encode()
    for name in ("patients.json", "patients.json.bak"):
        (data / name).write_bytes(raw)


def everyone(data: Path, **kw) -> list[dict]:
    with RecordStore(data, **kw) as store:
        return store.patients()


def test_tinydb_patients_are_migrated_once_and_read_the_same(tmp_path):
    data = tmp_path / "data"
    legacy(data)
    before = everyone(data, readonly=True)  # what `station export` sees before: nothing changed by it
    assert sorted(p.name for p in data.iterdir()) == ["patients.json", "patients.json.bak"]
    assert [p["patient_id"] for p in before] == ["P-001", "P-002", "p-003"] and before[1]["notes"] == "corrected"
    with RecordStore(data) as store:
        assert store.patients() == before
        assert any("moved 3 patient(s)" in line for line in store.recovered)
    assert not (data / "patients.json").exists()
    assert (data / "patients.json.migrated").exists() and (data / "patients.json.bak.migrated").exists()
    with RecordStore(data) as store:
        assert store.recovered == [] and store.patients() == before  # once
    assert everyone(data, readonly=True) == before


def test_a_damaged_tinydb_file_is_recovered_from_its_copy_while_migrating(tmp_path):
    data = tmp_path / "data"
    legacy(data)
    (data / "patients.json").write_bytes(b"")
    with RecordStore(data) as store:
        assert [p["patient_id"] for p in store.patients()] == ["P-001", "P-002", "p-003"]
        assert "patients.json.bak" in store.recovered[0]
    assert len(list(data.glob("patients.json.corrupt-*"))) == 1


class Killed(BaseException):
    """A simulated kill -9: nothing after it runs (not an OSError, so nothing handles it)."""


def test_a_migration_killed_at_any_step_loses_no_patient(tmp_path, monkeypatch):
    expected = None
    step = 0
    while True:
        step += 1
        data = tmp_path / f"data-{step}"
        legacy(data)
        expected = expected or everyone(data, readonly=True)
        calls = 0

        def counted(real, at=step):
            def call(*a, **kw):
                nonlocal calls
                calls += 1
                if calls == at:
                    raise Killed
                return real(*a, **kw)
            return call

        with monkeypatch.context() as m:
            for name in ("write", "fsync", "replace", "rename", "unlink"):  # not the lock file's
                m.setattr(os, name, counted(getattr(os, name)))
            try:
                RecordStore(data).close()
                finished = True
            except Killed:
                finished = False
        assert everyone(data) == expected, f"killed at step {step}"
        assert everyone(data, readonly=True) == expected
        assert not (data / "patients.json").exists()
        if finished:
            break
        assert step < 100, "the migration never finished"
    assert step > 8  # every write, fsync and rename of the migration was a place to be killed


def test_patient_log_reads_a_file_it_did_not_write_itself(tmp_path):
    """The format is plain: a header line, then one JSON patient per line."""
    lines = [HEADER, {"patient_id": "X-1", "birth_year": 1950, "sex": "male", "dominant_hand": "left",
                      "created_at": datetime(2025, 1, 1, tzinfo=UTC).isoformat()}]
    (tmp_path / "patients.jsonl").write_text("".join(json.dumps(v) + "\n" for v in lines))
    plog = PatientLog(tmp_path, readonly=True)
    assert list(plog.patients) == ["X-1"] and plog.recovery == []
    assert not (tmp_path / "patients.jsonl.bak").exists()  # read-only: the missing copy is not written


def test_station_export_gives_the_same_patients_before_and_after_migration(tmp_path, capsys):
    from station.cli import main

    data = tmp_path / "data"
    legacy(data)

    def exported() -> list[dict]:
        assert main(["export", "--format", "json", "--data", str(data)]) == 0
        return json.loads(capsys.readouterr().out)["patients"]

    before = exported()  # read-only: reads patients.json in place
    assert (data / "patients.json").exists() and not (data / "patients.jsonl").exists()
    RecordStore(data).close()  # the daemon's open migrates
    assert not (data / "patients.json").exists()
    assert exported() == before and [p["patient_id"] for p in before] == ["P-001", "P-002", "p-003"]


def test_a_log_from_a_newer_station_is_refused_and_left_alone(tmp_path):
    from station.errors import UserError

    data = tmp_path / "data"
    fill(data)
    newer = b'{"format":"station.patients/2"}\n' + (data / "patients.jsonl").read_bytes().split(b"\n", 1)[1]
    for name in ("patients.jsonl", "patients.jsonl.bak"):
        (data / name).write_bytes(newer)
    with pytest.raises(UserError, match="newer station"):
        RecordStore(data)
    assert (data / "patients.jsonl").read_bytes() == newer and not list(data.glob("*.corrupt-*"))


def test_a_reader_says_nothing_about_a_line_being_appended(tmp_path, caplog):
    data = tmp_path / "data"
    fill(data)
    with open(data / "patients.jsonl", "ab") as f:
        f.write(b'{"patient_id":"P-9","birth')  # the daemon is half way through an append
    with caplog.at_level(logging.WARNING, logger="station.records"):
        with RecordStore(data, readonly=True) as store:
            assert [p["patient_id"] for p in store.patients()] == ["P-001", "P-002", "p-003"]
            assert store.recovered == []
    assert caplog.text == ""


@pytest.mark.parametrize("acknowledged", [1, 17])
def test_kill_9_while_creating_loses_no_acknowledged_patient(tmp_path, acknowledged):
    import signal
    import subprocess
    import sys
    import textwrap

    data = tmp_path / "data"
    code = textwrap.dedent("""
        import sys
        from station.records.store import RecordStore
        store = RecordStore(sys.argv[1])
        for n in range(100000):
            store.add_patient(f"K-{n:05d}", 1950, "male", "right")
            store.update_patient(f"K-{n:05d}", notes="corrected")
            print(f"K-{n:05d}", flush=True)  # acknowledged: add_patient returned
    """)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", code, str(data)], stdout=subprocess.PIPE, text=True,
                            cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.stdout is not None
    said = [proc.stdout.readline().strip() for _ in range(acknowledged)]
    proc.send_signal(signal.SIGKILL)  # while it goes on creating: most likely mid-append
    proc.wait()
    said += [line.strip() for line in proc.stdout]  # any acknowledged before the kill landed
    with RecordStore(data) as store:
        stored = {p["patient_id"]: p for p in store.patients()}
        assert set(said) <= set(stored)
        assert all(stored[pid].get("notes") == "corrected" for pid in said)
        assert len(store.recovered) <= 1  # at most a cut last line, said once
    assert ids(data) == sorted(stored, key=str.casefold)


def test_a_copy_that_could_not_be_written_catches_up_at_the_next_write(tmp_path, monkeypatch, caplog):
    data = tmp_path / "data"
    fill(data)
    store = RecordStore(data)
    store.add_patient("P-030", 1960, "male", "right")  # both files open for appending
    real = os.write
    copy = str(data / "patients.jsonl.bak")

    def copy_full(fd, buf):
        if os.readlink(f"/proc/self/fd/{fd}") == copy:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, buf)

    monkeypatch.setattr(os, "write", copy_full)
    with caplog.at_level(logging.WARNING, logger="station.records"):
        store.add_patient("P-031", 1960, "male", "right")  # saved: only its copy failed
    assert "retried at the next write" in caplog.text
    monkeypatch.setattr(os, "write", real)
    store.add_patient("P-032", 1960, "male", "right")  # the copy is written whole again...
    store.add_patient("P-033", 1960, "male", "right")  # ...and appended to after that
    store.close()
    assert (data / "patients.jsonl.bak").read_bytes() == (data / "patients.jsonl").read_bytes()
    assert [v["patient_id"] for v in parse_log((data / "patients.jsonl.bak").read_bytes())[0]][-4:] == [
        "P-030", "P-031", "P-032", "P-033"]
