"""AtomicJSONStorage: atomic replace, corrupt files moved aside and recovered."""
from __future__ import annotations

import json
import logging
import os

import pytest
from tinydb import TinyDB

from station.records import storage
from station.records.storage import AtomicJSONStorage, backup_path


def open_db(path, **kw) -> TinyDB:
    return TinyDB(path, storage=AtomicJSONStorage, **kw)


def test_round_trip_and_a_separate_copy_kept(tmp_path):
    path = tmp_path / "db.json"
    with open_db(path) as db:
        db.insert({"n": 1})
        db.insert({"n": 2})
    with open_db(path) as db:
        assert [d["n"] for d in db.all()] == [1, 2]
    # the copy holds the last write too, in a file of its own (damage to one spares the other)
    bak = json.loads(backup_path(path).read_text())
    assert [d["n"] for d in bak["_default"].values()] == [1, 2]
    assert os.stat(path).st_ino != os.stat(backup_path(path)).st_ino
    assert os.stat(path).st_mode & 0o777 == 0o600 and os.stat(backup_path(path)).st_mode & 0o777 == 0o600


def test_crash_between_temp_write_and_rename_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "db.json"
    with open_db(path) as db:
        db.insert({"n": 1})
    before = path.read_bytes()

    def power_cut(src, dst):
        raise OSError("simulated crash before the rename")

    db = open_db(path)
    monkeypatch.setattr(storage.os, "replace", power_cut)
    with pytest.raises(OSError, match="simulated crash"):
        db.insert({"n": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    with open_db(path) as again:
        assert [d["n"] for d in again.all()] == [1]
    # the failed write did not leave the writer's memory ahead of the disk
    assert [d["n"] for d in db.all()] == [1]


@pytest.mark.parametrize("damage", [
    lambda raw: raw[: len(raw) // 2],  # truncated mid-write
    lambda raw: b"\x00" * len(raw),  # zeroed blocks after a power cut
    lambda raw: b"[1, 2, 3]",  # valid JSON, not a database
    lambda raw: b"",  # emptied (was read as an empty database, whose next write replaced the good copy)
])
def test_corrupt_file_moved_aside_and_recovered_from_last_good_copy(tmp_path, caplog, damage):
    path = tmp_path / "patients.json"
    with open_db(path) as db:
        db.insert({"n": 1})
        db.insert({"n": 2})
    bad = damage(path.read_bytes())
    path.write_bytes(bad)
    with caplog.at_level(logging.WARNING, logger="station.records"):
        db = open_db(path)
    # the copy holds every write: nothing is lost
    assert [d["n"] for d in db.all()] == [1, 2]
    aside = list(tmp_path.glob("patients.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == bad  # kept, byte for byte
    lines = [r for r in caplog.records if r.name == "station.records"]
    assert len(lines) == 1
    msg = lines[0].getMessage()
    assert "corrupt" in msg and aside[0].name in msg and "patients.json.bak" in msg
    assert db.storage.recovery == msg
    # the restored copy is the database again, and writes go on from it
    db.insert({"n": 3})
    db.close()
    with open_db(path) as again:
        assert [d["n"] for d in again.all()] == [1, 2, 3]


def test_corrupt_without_good_copy_starts_empty_and_says_so(tmp_path, caplog):
    path = tmp_path / "patients.json"
    path.write_bytes(b'{"_default": {"1": {"n"')
    with caplog.at_level(logging.WARNING, logger="station.records"):
        db = open_db(path)
    assert db.all() == []
    [rec] = [r for r in caplog.records if r.name == "station.records"]
    assert rec.levelno >= logging.ERROR and "starting empty" in rec.getMessage()
    assert len(list(tmp_path.glob("patients.json.corrupt-*"))) == 1
    db.close()


def test_both_copies_damaged_is_said_loudly_and_both_are_kept(tmp_path, caplog):
    path = tmp_path / "patients.json"
    with open_db(path) as db:
        db.insert({"n": 1})
    path.write_bytes(b"")
    storage.backup_path(path).write_bytes(b'{"_default": {"1": ')
    with caplog.at_level(logging.WARNING, logger="station.records"):
        db = open_db(path)
    assert db.all() == []
    [rec] = [r for r in caplog.records if r.name == "station.records"]
    assert rec.levelno == logging.CRITICAL and "COPY IS DAMAGED TOO" in rec.getMessage()
    db.insert({"n": 9})  # the station goes on; the damaged files stay for recovery by hand
    db.close()
    kept = sorted(p.read_bytes() for p in tmp_path.glob("*.corrupt-*"))
    assert kept == [b"", b'{"_default": {"1": ']


def test_readonly_reader_recovers_in_memory_and_moves_nothing(tmp_path, caplog):
    path = tmp_path / "db.json"
    with open_db(path) as db:
        db.insert({"n": 1})
        db.insert({"n": 2})
    path.write_bytes(b"{")
    with caplog.at_level(logging.WARNING, logger="station.records"):
        db = TinyDB(storage=lambda: AtomicJSONStorage(path, readonly=True))
    assert [d["n"] for d in db.all()] == [1, 2]
    assert path.read_bytes() == b"{"
    assert not list(tmp_path.glob("*.corrupt-*"))
    with pytest.raises(PermissionError):
        db.insert({"n": 9})


def test_a_database_of_one_write_is_recovered_too(tmp_path, caplog):
    # the first record has no earlier generation: only a copy of the write itself can save it
    path = tmp_path / "patients.json"
    with open_db(path) as db:
        db.insert({"n": 1})
    path.write_bytes(path.read_bytes()[:5])
    with caplog.at_level(logging.WARNING, logger="station.records"), open_db(path) as db:
        assert [d["n"] for d in db.all()] == [1]


def test_failed_copy_leaves_the_write_saved(tmp_path, monkeypatch, caplog):
    # a crash or a disk error between the database and its copy: the database is whole and current
    path = tmp_path / "db.json"
    with open_db(path) as db:
        db.insert({"n": 1})
    real = storage.atomic_write

    def fail_the_copy(p, data):
        if str(p).endswith(".bak"):
            raise OSError("disk error on the copy")
        return real(p, data)

    monkeypatch.setattr(storage, "atomic_write", fail_the_copy)
    with caplog.at_level(logging.WARNING, logger="station.records"), open_db(path) as db:
        db.insert({"n": 2})
    assert "could not be written" in caplog.text
    monkeypatch.undo()
    with open_db(path) as db:
        assert [d["n"] for d in db.all()] == [1, 2]
        db.insert({"n": 3})  # the copy catches up
    assert [d["n"] for d in json.loads(backup_path(path).read_text())["_default"].values()] == [1, 2, 3]
