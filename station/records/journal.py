"""The journal of a trial in progress: what survives kill -9 or a power cut.

One JSON Lines file per live trial, append-only. The first line is the
header (the trial's id and metadata), then one line per accepted event,
fault or phase change::

    {"journal": "station-trial", "version": 1, "trial_id": "...", "meta": {...}}
    {"event": {"t": 12.5, "kind": "peg_in", "hole": 3}}
    {"fault": {"t": 13.0, "kind": "chatter", "source": "hole 3", "detail": "..."}}
    {"phase": "running", "t": 12.4}

Every line reaches the kernel at once (one ``os.write``), so a killed process
loses nothing. ``fsync`` (what a power cut needs) runs at most every
``sync_interval`` (100 ms) while events stream in, at once on a phase change,
and from ``tick`` for the last events of a burst: the daemon calls ``tick``
from its event loop (every 20 ms) so nothing stays unsynced longer than
about 100 ms. The daemon gives the journal a ``station.records.syncer.Syncer``: the
fsyncs then run on its thread, and a slow disk never holds up the loop. A
crash can leave a truncated last line; ``read_journal`` ignores it.
"""
from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.records.atomic import FILE_MODE, fsync_dir
from station.records.storage import CorruptFile
from station.records.syncer import Syncer

FORMAT = "station-trial"
VERSION = 1
SYNC_INTERVAL_S = 0.1


class TrialJournal:
    """Appends one live trial's events durably. Made by ``RecordStore.begin_trial``."""

    def __init__(self, path: str | os.PathLike, trial_id: int, meta: dict[str, Any],
                 clock: Callable[[], float] = time.monotonic,
                 sync_interval: float = SYNC_INTERVAL_S, syncer: Syncer | None = None) -> None:
        self.path = Path(path)
        self._syncer = syncer  # fsyncs run there, off the caller's thread (the daemon's loop)
        self.trial_id = trial_id
        self.meta = dict(meta)
        self.events: list[dict] = []
        self.faults: list[dict] = []
        self.phases: list[dict] = []
        self._clock = clock
        self._interval = sync_interval
        self._dirty = False
        self.syncs = 0  # fsyncs so far (tests check the rate, not the time)
        # O_EXCL: a journal is never reopened for writing; a second trial with the same id is a bug
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND,
                                       FILE_MODE)
        try:
            self._write({"journal": FORMAT, "version": VERSION, "trial_id": trial_id, "meta": self.meta})
            self.sync()
            self._run_sync(("dir", self.path), functools.partial(fsync_dir, self.path.parent))  # the name too
        except BaseException:
            self.close()
            raise

    @property
    def closed(self) -> bool:
        return self._fd is None

    def event(self, ev: Any) -> None:
        """Append one accepted event (an ``station.events`` event or its dict)."""
        d = _as_dict(ev)
        self.events.append(d)
        self._append({"event": d})

    def fault(self, f: Any) -> None:
        """Append one fault (a ``station.events.Fault`` or its dict)."""
        d = _as_dict(f)
        self.faults.append(d)
        self._append({"fault": d})

    def phase(self, name: str, t: float | None = None, **info: Any) -> None:
        """Record a phase change (waiting, running, done...) and sync at once."""
        d = {"phase": name, "t": t, **info}
        self.phases.append(d)
        self._write(d)
        self.sync()

    def tick(self) -> bool:
        """Sync if something is unsynced and the interval has passed; True if it synced."""
        if self._dirty and self._clock() - self._last_sync >= self._interval:
            self.sync()
            return True
        return False

    def sync(self) -> None:
        """fsync now (with a syncer: ask it to, now)."""
        if self._fd is None:
            return
        self._run_sync(self.path, functools.partial(os.fsync, self._fd))
        self._last_sync = self._clock()
        self._dirty = False
        self.syncs += 1

    def _run_sync(self, key: Any, fn: Callable[[], None]) -> None:
        if self._syncer is not None:
            self._syncer.request(key, fn)
        else:
            fn()

    def close(self) -> None:
        """Sync and close; the file stays, so the trial is recovered at the next start."""
        if self._fd is None:
            return
        try:
            if self._syncer is not None:  # its fsyncs of this fd must be done before the fd goes
                self._syncer.wait(self.path)
                self._syncer.wait(("dir", self.path))
            if self._dirty:
                os.fsync(self._fd)
                self._dirty = False
                self.syncs += 1
        finally:
            os.close(self._fd)
            self._fd = None

    def retire(self) -> None:
        """The trial is stored elsewhere: close and remove the journal."""
        self.close()
        retire_journal(self.path)

    def _append(self, obj: dict) -> None:
        self._write(obj)
        self._dirty = True
        self.tick()

    def _write(self, obj: dict) -> None:
        if self._fd is None:
            raise ValueError(f"journal {self.path.name} is closed")
        line = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:
            view = view[os.write(self._fd, view):]


def _as_dict(x: Any) -> dict:
    d = x.to_dict() if hasattr(x, "to_dict") else x
    if not isinstance(d, dict):
        raise TypeError(f"journal entries are events or dicts, not {type(x).__name__}")
    return d


def retire_journal(path: str | os.PathLike) -> None:
    """Remove a journal whose trial is stored (the removal itself made durable)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)


@dataclass
class JournalContents:
    """What a journal on disk holds, as far as it could be read."""

    trial_id: int | str
    meta: dict[str, Any]
    events: list[dict] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)
    phases: list[dict] = field(default_factory=list)
    truncated_tail: bool = False  # the last line was cut short (expected after a crash)
    bad_lines: list[int] = field(default_factory=list)  # unreadable lines before the last
    header_damaged: bool = False  # the first line was unreadable: trial_id from the file name, no metadata

    @property
    def last_t(self) -> float | None:
        """The time of the last thing recorded (events, faults, phases)."""
        ts: list[float] = [t for d in (*self.events, *self.faults, *self.phases)
                           if isinstance(t := d.get("t"), (int, float)) and not isinstance(t, bool)]
        return max(ts) if ts else None


def read_journal(path: str | os.PathLike, *, trial_id: int | None = None) -> JournalContents:
    """Read a journal, ignoring a truncated last line. Without a readable header: raises
    CorruptFile, unless ``trial_id`` is given (the file's name says it), when its events are still
    read (``header_damaged``; its metadata is lost)."""
    raw = Path(path).read_bytes()
    lines = raw.split(b"\n")
    # a complete file ends with "\n", so the last piece is b""; anything else is a cut-off line
    tail = lines.pop()
    parsed: list[tuple[int, Any]] = []
    bad: list[int] = []
    for n, line in enumerate(lines, 1):
        try:
            parsed.append((n, json.loads(line)))
        except (ValueError, UnicodeDecodeError):
            bad.append(n)
    truncated = False
    if tail:
        try:  # cut exactly before its newline: the line itself is whole
            parsed.append((len(lines) + 1, json.loads(tail)))
        except (ValueError, UnicodeDecodeError):
            truncated = True
    # after a power cut the tail can be several cut or zeroed lines: whatever is
    # unreadable after the last good line is the truncation, not damage
    last_good = parsed[-1][0] if parsed else 0
    truncated = truncated or any(n > last_good for n in bad)
    bad = [n for n in bad if n < last_good]
    if parsed and _is_header(parsed[0][1]) and parsed[0][0] == 1:
        head = parsed.pop(0)[1]
        out = JournalContents(head["trial_id"], head["meta"], truncated_tail=truncated, bad_lines=bad)
    elif trial_id is not None:
        out = JournalContents(trial_id, {}, truncated_tail=truncated, bad_lines=bad, header_damaged=True)
        if parsed and parsed[0][0] == 1:
            out.bad_lines.append(parsed.pop(0)[0])  # a first line that is JSON but no header
    else:
        raise CorruptFile("no journal header on its first line")
    for n, obj in parsed:
        if isinstance(obj, dict) and isinstance(obj.get("event"), dict):
            out.events.append(obj["event"])
        elif isinstance(obj, dict) and isinstance(obj.get("fault"), dict):
            out.faults.append(obj["fault"])
        elif isinstance(obj, dict) and isinstance(obj.get("phase"), str):
            out.phases.append(obj)
        else:
            out.bad_lines.append(n)
    return out


def _is_header(obj: Any) -> bool:
    return (isinstance(obj, dict) and obj.get("journal") == FORMAT and obj.get("version") == VERSION
            and isinstance(obj.get("trial_id"), (int, str)) and isinstance(obj.get("meta"), dict))
