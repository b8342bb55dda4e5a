"""The patients' log: every version of every patient, appended and fsynced, kept twice.

``patients.jsonl`` starts with a header line (``{"format": "station.patients/1"}``)
and then holds one line per patient version: the full patient record as
stored by a create or an update. The last line for an ID is the patient; the
earlier ones are the history of its corrections (kept, never compacted away).
A create or update appends one line and fsyncs it before it returns, then
appends the same line to the copy ``patients.jsonl.bak``: the cost does not
depend on how many patients there are (tests/benchmarks/patients.py), where
the TinyDB file this replaces was rewritten whole, twice, on every change.

At open both files are read and checked:

* a last line without its newline is a write cut by a crash (never
  acknowledged): it is dropped, said once, and the files rewritten without it;
* an empty file, a missing header or an unreadable line before the last is
  damage: the file is moved aside to ``<name>.corrupt-<UTC timestamp>`` and
  the copy restored (one log line); both damaged is a CRITICAL line, both
  files kept aside, and an empty list of patients;
* a copy that lags (a crash or a failed write between the two appends) is
  brought up to date from the log;
* a log whose header names a newer format is refused (``NewerFormat``, a
  UserError) and left as it is.

Data kept in the TinyDB layout of earlier versions (``patients.json`` and its
``.bak``) is migrated at the first writable open: read through
``AtomicJSONStorage`` (which recovers a damaged file from its copy), written
whole as a new log (atomic replace: all or nothing) and its copy, and only
then are the old files renamed to ``<name>.migrated``. A crash at any step
leaves either the old files to migrate again or a complete log; a log next to
old files not yet renamed means the renaming was cut short and is finished.
A read-only open reads old files in place and changes nothing.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from station.errors import UserError
from station.records.atomic import FILE_MODE, atomic_write, fsync_dir
from station.records.storage import AtomicJSONStorage, CorruptFile, backup_path, move_aside

log = logging.getLogger("station.records")

HEADER = {"format": "station.patients/1"}
LEGACY_NAME = "patients.json"


def encode_line(record: dict) -> bytes:
    """One log line (newline included) for a patient record."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8") + b"\n"


def log_bytes(versions: list[dict]) -> bytes:
    """A whole log: the header, then one line per version in order."""
    return encode_line(HEADER) + b"".join(encode_line(v) for v in versions)


def parse_log(raw: bytes) -> tuple[list[dict], bool]:
    """The versions in a log, and whether its last line was cut short (dropped).

    Raises CorruptFile for an empty file, a missing header or an unreadable line
    before the last: every log is created whole with its header, so none is ever empty."""
    if not raw.strip():
        raise CorruptFile(f"empty ({len(raw)} bytes)")
    lines = raw.split(b"\n")
    torn = lines.pop() != b""  # a log ends with a newline; anything after it is an unfinished append
    if not lines:
        raise CorruptFile("its only line is cut short (no header)")
    try:
        header = json.loads(lines[0])
    except (ValueError, UnicodeDecodeError):
        header = None
    if isinstance(header, dict) and str(header.get("format")).startswith("station.patients/") \
            and header["format"] != HEADER["format"]:
        raise NewerFormat(f"the patients log is in format {header['format']!r}, written by a newer station "
                          f"(this one reads {HEADER['format']!r}): update the station software")
    if not isinstance(header, dict) or header.get("format") != HEADER["format"]:
        raise CorruptFile("not a patients log (its first line is not the station.patients/1 header)")
    versions = []
    for n, line in enumerate(lines[1:], start=2):
        try:
            v = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            v = None
        if not isinstance(v, dict) or not isinstance(v.get("patient_id"), str):
            raise CorruptFile(f"line {n} is not a patient record")
        versions.append(v)
    return versions, torn


def latest(versions: list[dict]) -> dict[str, dict]:
    """patient_id -> its last version, in order of first appearance."""
    out: dict[str, dict] = {}
    for v in versions:
        out[v["patient_id"]] = v
    return out


class NewerFormat(UserError):
    """The patients log was written by a newer station (left untouched)."""


class PatientLog:
    """``patients.jsonl`` (+ its copy) in ``directory``: ``patients`` (id -> last version),
    ``append(patient)``, ``recovery`` (log lines said at open), ``close()``."""

    def __init__(self, directory: str | os.PathLike, *, readonly: bool = False) -> None:
        self.dir = Path(directory)
        self.path = self.dir / "patients.jsonl"
        self.copy = backup_path(self.path)
        self.readonly = readonly
        self.recovery: list[str] = []
        self.versions: list[dict] = []
        self._fd: int | None = None
        self._copy_fd: int | None = None
        self._sizes = [0, 0]  # of the log and its copy: where a failed append is cut back to
        self._copy_stale = False
        legacy = self.dir / LEGACY_NAME
        if not self.path.exists() and not self.copy.exists() and (
                legacy.exists() or backup_path(legacy).exists()):
            self.versions = self._migrate(legacy)
        else:
            self.versions = self._open()
        self.patients = latest(self.versions)
        if not readonly:
            self._retire_legacy(legacy)

    # --- open ----------------------------------------------------------------

    def _read(self, path: Path, same_as: tuple | None = None) -> tuple[bytes | None, list[dict] | None, bool,
                                                                       str | None]:
        """(raw bytes or None if missing, versions or None if damaged, torn tail, what is wrong);
        ``same_as`` is what ``_read`` gave for the other file, reused if the bytes are the same."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None, None, False, "missing"
        if same_as is not None and same_as[0] == raw:
            return same_as
        try:
            versions, torn = parse_log(raw)
        except CorruptFile as e:
            return raw, None, False, f"corrupt ({e})"
        return raw, versions, torn, None

    def _open(self) -> list[dict]:
        main = raw, versions, torn, problem = self._read(self.path)
        copy_raw, copy_versions, _, copy_problem = self._read(self.copy, same_as=main)
        if raw is None and copy_raw is None:
            if not self.readonly:
                self._rewrite(b"", b"", log_bytes([]))  # a new log, created whole with its header
            return []
        if versions is not None:
            if copy_versions is not None and len(copy_versions) > len(versions) \
                    and copy_versions[:len(versions)] == versions:
                # the log lost lines its copy has: those were acknowledged, so it was damaged (a reader
                # can also just have read the copy after the writer appended to both: nothing to say then)
                if not self.readonly:
                    self._say(f"{self.path} lacks {len(copy_versions) - len(versions)} patient version(s) "
                              f"that its copy {self.copy.name} has; restored them from the copy")
                versions = copy_versions
            elif torn and not self.readonly:  # to a reader, a line being appended looks the same
                self._say(f"{self.path}: its last line was cut short (a write interrupted by a crash, "
                          "never acknowledged); dropped it")
            if copy_problem is not None and copy_problem != "missing":
                copy_aside = self._aside(self.copy)
                self._say(f"its copy {self.copy.name} was {copy_problem}; kept as {copy_aside.name} and "
                          f"written again from {self.path.name}")
        elif copy_versions is not None:
            moved = self._aside(self.path) if raw is not None else None
            aside = f"; moved it to {moved.name}" if moved else ""
            self._say(f"{self.path} was {problem}{aside}; recovered from the last good copy {self.copy.name}")
            versions = copy_versions
        else:
            main_aside = self._aside(self.path) if raw is not None else None
            both_aside = self._aside(self.copy) if copy_raw is not None else None
            aside = f"; moved it to {main_aside.name}" if main_aside else ""
            kept = f"; kept as {both_aside.name}" if both_aside else ""
            line = (f"{self.path} was {problem}{aside}; ITS COPY IS DAMAGED TOO ({copy_problem}{kept}): "
                    "starting with NO PATIENTS; the damaged files are kept for recovery by hand")
            self._say(line, critical=True)
            versions = []
        if not self.readonly and not (raw == copy_raw and versions is not None and not torn
                                      and not self.recovery):  # the usual open: both whole and equal
            whole = log_bytes(versions)
            self._rewrite(raw if self.path.exists() else None,
                          copy_raw if self.copy.exists() else None, whole)
        return versions

    def _rewrite(self, raw: bytes | None, copy_raw: bytes | None, whole: bytes) -> None:
        """Make the log, then its copy, hold exactly ``whole`` (each replaced atomically, only if it differs)."""
        if raw != whole:
            atomic_write(self.path, whole)
        if copy_raw != whole:
            atomic_write(self.copy, whole)

    def _aside(self, path: Path) -> Path:
        return path if self.readonly else move_aside(path)

    def _say(self, line: str, critical: bool = False) -> None:
        (log.critical if critical else log.warning)("%s", line)
        self.recovery.append(line)

    def _migrate(self, legacy: Path) -> list[dict]:
        """Versions from the TinyDB layout; written as the new log (and copy) unless read-only."""
        storage = AtomicJSONStorage(legacy, readonly=self.readonly)
        if storage.recovery:
            self.recovery.append(storage.recovery)
        table = (storage.read() or {}).get("patients", {})
        versions = [table[k] for k in sorted(table, key=lambda k: int(k) if k.isdigit() else 0)]
        versions = [v for v in versions if isinstance(v, dict) and isinstance(v.get("patient_id"), str)]
        if not self.readonly:
            whole = log_bytes(versions)
            atomic_write(self.path, whole)  # all or nothing: from here on the log is the truth
            atomic_write(self.copy, whole)
            self._say(f"moved {len(versions)} patient(s) from {legacy.name} (TinyDB) to {self.path.name}; "
                      f"the old files are kept as {legacy.name}.migrated")
        return versions

    def _retire_legacy(self, legacy: Path) -> None:
        """Rename the TinyDB files once the log holds their patients (finishes a cut-short migration)."""
        moved = False
        for old in (legacy, backup_path(legacy)):
            if old.exists():
                target, n = old.with_name(old.name + ".migrated"), 1
                while target.exists():  # one put back by hand later: never replace what was kept
                    n += 1
                    target = old.with_name(f"{old.name}.migrated-{n}")
                os.replace(old, target)
                moved = True
        if moved:
            fsync_dir(self.dir)

    # --- writes --------------------------------------------------------------

    def append(self, patient: dict) -> None:
        """Add one version, durable (fsynced) before this returns; then its copy.

        Raises OSError (a full disk) with the log as it was: a partial line is cut off again."""
        if self.readonly:
            raise PermissionError(f"{self.path} is open read-only")
        line = encode_line(patient)
        if self._fd is None:
            self._fd, self._sizes[0] = self._open_append(self.path)
        self._append_to(0, self._fd, line)
        self.versions.append(patient)
        self.patients[patient["patient_id"]] = patient
        try:  # the patient is saved (the caller may say so): now its copy
            if self._copy_stale:
                if self._copy_fd is not None:  # it would append to the file being replaced
                    os.close(self._copy_fd)
                    self._copy_fd = None
                atomic_write(self.copy, log_bytes(self.versions))
                self._copy_stale = False
                return
            if self._copy_fd is None:
                self._copy_fd, self._sizes[1] = self._open_append(self.copy)
            self._append_to(1, self._copy_fd, line)
        except OSError as e:
            self._copy_stale = True
            log.warning("%s is saved but its copy %s could not be written (%s); retried at the next write",
                        self.path, self.copy.name, e)

    @staticmethod
    def _open_append(path: Path) -> tuple[int, int]:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        return fd, os.fstat(fd).st_size

    def _append_to(self, which: int, fd: int, line: bytes) -> None:
        if os.fstat(fd).st_size != self._sizes[which]:
            os.ftruncate(fd, self._sizes[which])  # a half line a failed append could not cut off then
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            try:
                os.ftruncate(fd, self._sizes[which])  # no half line left for the next append to join
            except OSError:
                pass  # cut at the next open (an unfinished last line)
            raise
        self._sizes[which] += len(line)

    def close(self) -> None:
        """Close the files (everything appended is already on disk)."""
        for fd in (self._fd, self._copy_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._copy_fd = None

