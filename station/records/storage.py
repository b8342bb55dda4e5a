"""A TinyDB Storage that survives crashes: atomic replace, a second copy, recovery at open.

(The store keeps patients in an append-only log now, station/records/patient_log.py;
``AtomicJSONStorage`` reads the ``patients.json`` of earlier versions to migrate it.)

TinyDB's JSONStorage rewrites its file in place, so a crash mid-write leaves a
truncated database. Here every write is an atomic replace
(``station.records.atomic.atomic_write``). After each replace the
same content is written, the same way, to ``<name>.bak``: a second, separate
file, so damage to one (a bad SD-card block, a stray write) leaves the other
whole and nothing written is lost. (A copy of the previous generation would
lose the last change, and the first record would have no copy at all.) A
crash between the two writes leaves the database itself whole; the copy
catches up at the next write.

At open, ``AtomicJSONStorage`` checks the file. A corrupt or truncated one is
moved aside to ``<name>.corrupt-<UTC timestamp>`` (never deleted), the last
good copy (``.bak``) is restored, and one log line on the ``station.records``
logger says what happened. ``recovery`` holds that line for callers.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from station.records.atomic import atomic_write, fsync_dir

log = logging.getLogger("station.records")



def is_disk_full(e: BaseException) -> bool:
    """The error says the filesystem (or the user's quota) is full."""
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


def backup_path(path: str | os.PathLike) -> Path:
    """Where the copy of ``path`` is kept."""
    path = Path(path)
    return path.with_name(path.name + ".bak")


def move_aside(path: str | os.PathLike, now: float | None = None) -> Path:
    """Rename a bad file to ``<name>.corrupt-<UTC timestamp>`` (never delete it)."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    fsync_dir(path.parent)
    return target


class CorruptFile(ValueError):
    """A file's content is not what was written (truncated, garbled, wrong shape)."""


def load_database(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Parse a TinyDB JSON file. Raises CorruptFile, also for an empty one: every write
    replaces the file whole, so an empty file is damage (a truncation), never an empty database."""
    raw = Path(path).read_bytes()
    if not raw.strip():
        raise CorruptFile(f"empty ({len(raw)} bytes)")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptFile(f"not valid JSON ({getattr(e, 'msg', e)}; {len(raw)} bytes)") from None
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        raise CorruptFile("not a TinyDB database (expected an object of tables)")
    return data


class AtomicJSONStorage(Storage):
    """A TinyDB Storage that writes by atomic replace and keeps a copy in ``.bak`` to recover from.

    ``TinyDB(path, storage=AtomicJSONStorage)``; pass ``readonly=True`` to read
    a database another process writes (nothing is moved or written then).
    """

    def __init__(self, path: str | os.PathLike, readonly: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.readonly = readonly
        self.recovery: str | None = None  # the log line, when the file had to be recovered
        self.bytes_written = 0  # of the last write
        self.generation = 0  # counts writes: what was read before is stale once it moves
        data = self._open()
        # TinyDB mutates what read() returns before it calls write(): hand out a
        # fresh parse each time, so a failed write never leaves memory ahead of disk
        self._raw = None if data is None else _dump(data)

    def _open(self) -> dict[str, dict[str, Any]] | None:
        try:
            return load_database(self.path)
        except FileNotFoundError:
            if not backup_path(self.path).exists():
                return None  # a new database
            problem = "missing"
        except CorruptFile as e:
            problem = f"corrupt ({e})"
        return self._recover(problem)

    def _recover(self, problem: str) -> dict[str, dict[str, Any]] | None:
        bak = backup_path(self.path)
        moved = None
        if self.path.exists() and not self.readonly:
            moved = move_aside(self.path)
        data: dict[str, dict[str, Any]] | None
        try:
            data = load_database(bak)
            source = f"recovered from the last good copy {bak.name}"
        except FileNotFoundError:
            data, source = None, "no copy was kept to recover from: starting empty"
        except CorruptFile as e:
            # Both copies bad: keep both for a person to look at (the next write would replace the copy)
            data = None
            bak_aside = move_aside(bak) if not self.readonly else bak
            source = (f"ITS COPY IS DAMAGED TOO ({e}; kept as {bak_aside.name}): starting with an EMPTY "
                      "database; the damaged files are kept for recovery by hand")
        aside = f"; moved it to {moved.name}" if moved else ""
        self.recovery = f"{self.path} was {problem}{aside}; {source}"
        if data is None:
            log.critical("%s", self.recovery)
        else:
            log.warning("%s", self.recovery)
        if data is not None and not self.readonly:
            atomic_write(self.path, _dump(data))  # the restored copy is the database again
        return data

    def read(self) -> dict[str, dict[str, Any]] | None:
        return None if self._raw is None else json.loads(self._raw)

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        if self.readonly:
            raise PermissionError(f"{self.path} is open read-only")
        raw = _dump(data)
        self.bytes_written = atomic_write(self.path, raw)
        self._raw = raw
        self.generation += 1
        try:  # the database is written (the caller may say so): now its copy
            atomic_write(backup_path(self.path), raw)
        except OSError as e:
            log.warning("%s is saved but its copy %s could not be written (%s); retried at the next write",
                        self.path, backup_path(self.path).name, e)


def _dump(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
