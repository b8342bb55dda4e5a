"""atomic_write: temp file, fsync, rename, directory fsync, mode, nothing left behind on failure."""
from __future__ import annotations

import os

import pytest

from station.records import atomic
from station.records.atomic import atomic_write, publish, temp_path


@pytest.fixture
def syscalls(monkeypatch):
    """Record the fsyncs and renames atomic_write makes, in order (they still happen)."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    return calls


def test_writes_the_data_through_a_fsynced_temp_file_then_renames_and_fsyncs_the_directory(tmp_path, syscalls):
    path = tmp_path / "doc.json"
    path.write_bytes(b"old")
    assert atomic_write(path, b"new content") == len(b"new content")
    assert path.read_bytes() == b"new content"
    tmp = temp_path(path)
    assert tmp.parent == path.parent and tmp.name == ".doc.json.tmp"
    assert syscalls == [("fsync", str(tmp)), ("replace", f"{tmp} -> {path}"), ("fsync", str(tmp_path))]
    assert not tmp.exists()


def test_new_file_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0o277)  # would leave a file created 0600 at 0400
    try:
        atomic_write(tmp_path / "a", b"x")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a").st_mode & 0o7777 == atomic.FILE_MODE == 0o600


def test_mode_is_set_as_asked(tmp_path):
    atomic_write(tmp_path / "station.toml", b"x", mode=0o640)
    assert os.stat(tmp_path / "station.toml").st_mode & 0o7777 == 0o640


@pytest.mark.parametrize("fail", ["write", "fsync", "replace"])
def test_a_failure_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch, fail):
    path = tmp_path / "doc.json"
    atomic_write(path, b'{"old": true}')
    real = getattr(os, fail)

    def broken(*args):
        if fail == "write":
            real(args[0], bytes(args[1][:3]))  # a short write, then the disk goes
        raise OSError(f"simulated {fail} failure")

    monkeypatch.setattr(atomic.os, fail, broken)
    with pytest.raises(OSError, match=f"simulated {fail}"):
        atomic_write(path, b'{"new": true, "long": "' + b"x" * 100 + b'"}')
    monkeypatch.undo()
    assert path.read_bytes() == b'{"old": true}'
    assert not temp_path(path).exists()


def test_a_stale_temp_file_from_a_crash_is_overwritten(tmp_path):
    path = tmp_path / "doc.json"
    temp_path(path).write_bytes(b"half of a write before a power cut" * 10)
    atomic_write(path, b"whole")
    assert path.read_bytes() == b"whole" and not temp_path(path).exists()


def test_publish_of_the_file_itself_only_fsyncs_the_directory(tmp_path, syscalls):
    path = tmp_path / "export.csv"
    path.write_bytes(b"rows")
    publish(path, path)
    assert syscalls == [("fsync", str(tmp_path))]
    assert path.read_bytes() == b"rows"
