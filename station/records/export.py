"""Export records for a therapist's spreadsheet (CSV) or for anything else (JSON).

CSV: one row per trial, the columns of ``CSV_COLUMNS``; times in the
station's local time zone; ``timing`` says how a 9HPT time was measured
(docs/clinical-rules.md); metrics taken from the trial's ``result`` (the
protocol's result with its metrics merged in), else ``metrics``, else the
record itself; a metric a protocol does not have is left empty. JSON: the
full records (patients, tests, trials with their events), streamed so memory
stays flat however long the history.

Export files hold patient data: they are created mode 0600 whatever the
umask, and an existing file is never overwritten unless asked (then it is
replaced atomically). A file system without Unix permissions (a vfat or
exFAT USB stick) refuses the chmod and gives every file the mode of its
mount options: the export is still written, and ``PrivateFile.private``
says that it could not be kept private, for the caller to tell the user.
"""
from __future__ import annotations

import csv
import errno
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from station.errors import UserError
from station.record_types import StoredTrial
from station.records.atomic import publish, temp_path
from station.records.store import RecordError, RecordStore, iso, parse_iso, utc_now

FORMAT = "station-export"
VERSION = 1
METRIC_COLUMNS = ("total_s", "pegs", "reps", "place_s", "remove_s", "pickup_s")
CSV_COLUMNS = ("trial_id", "patient_id", "date", "time", "protocol", "hand", "side", "trial_number",
               "practice", "status", *METRIC_COLUMNS, "valid", "invalid_reason", "repeat_of", "test_id",
               "timing")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas


class ExportError(UserError):
    """The export cannot be written (file exists, directory missing...)."""


def selected_trials(store: RecordStore, patient_id: str | None = None,
                    since: datetime | None = None) -> Iterator[StoredTrial]:
    """Full trial records, oldest first, for the filters."""
    for summary in store.trials(patient_id=patient_id, since=since):
        try:
            yield store.get_trial(summary["trial_id"])
        except RecordError:
            continue  # a damaged document: the store has logged it and kept the file


def csv_row(trial: Mapping[str, Any]) -> dict[str, Any]:
    """One spreadsheet row for a stored trial."""
    when = parse_iso(trial.get("started_at"))
    local = when.astimezone() if when else None
    invalid = trial.get("invalid")
    reason = invalid.get("reason") if isinstance(invalid, dict) else (invalid or trial.get("invalid_reason"))
    valid = not invalid and trial.get("valid") is not False
    row = {
        "trial_id": trial.get("trial_id"),
        "patient_id": trial.get("patient_id"),
        "date": local.strftime("%Y-%m-%d") if local else "",
        "time": local.strftime("%H:%M:%S") if local else "",
        "protocol": trial.get("protocol"),
        "hand": trial.get("hand"),
        "side": trial.get("side"),
        "trial_number": _first(trial, "trial_number", "index", "k"),
        "practice": _yes_no(trial.get("practice")),
        "status": trial.get("status") or (trial.get("result") or {}).get("status"),
        "valid": "yes" if valid else "no",
        "invalid_reason": None if valid else reason,
        "repeat_of": trial.get("repeat_of"),
        "test_id": trial.get("test_id"),
        # how total_s was measured (9HPT: first-peg-to-dish or button-to-last-peg-out); empty if not recorded
        "timing": (trial.get("result") or {}).get("timing"),
    }
    for key in METRIC_COLUMNS:
        row[key] = _metric(trial, key)
    return {k: _cell(row[k]) for k in CSV_COLUMNS}


def write_csv(trials: Iterable[Mapping[str, Any]], out: IO[str]) -> int:
    """Write the CSV (header + one row per trial); returns the number of rows."""
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")  # RFC 4180, as spreadsheets expect
    w.writeheader()
    n = 0
    for t in trials:
        w.writerow(csv_row(t))
        n += 1
    return n


def write_json(store: RecordStore, trials: Iterable[Mapping[str, Any]], out: IO[str], patient_id: str | None = None,
               since: datetime | None = None) -> int:
    """Write the full JSON export; returns the number of trials."""
    patients = [store.get_patient(patient_id)] if patient_id is not None else store.patients()
    head = {"format": FORMAT, "version": VERSION, "exported_at": iso(utc_now()),
            "filter": {"patient_id": patient_id, "since": since.isoformat() if since else None},
            "patients": patients, "tests": store.tests(patient_id=patient_id, since=since)}
    text = json.dumps(head, ensure_ascii=False, indent=1)
    out.write(text[:-2] + ',\n "trials": [')  # reopen the object: trials are streamed one by one
    n = 0
    for t in trials:
        out.write(("\n  " if n == 0 else ",\n  ") + json.dumps(t, ensure_ascii=False))
        n += 1
    out.write("\n ]\n}\n" if n else "]\n}\n")
    return n


def export(store: RecordStore, fmt: str, out: IO[str], patient_id: str | None = None,
           since: datetime | None = None) -> int:
    """Export in ``fmt`` (``csv`` or ``json``) to ``out``; returns the number of trials."""
    if patient_id is not None:
        store.get_patient(patient_id)  # an unknown patient is an error before anything is written
    trials = selected_trials(store, patient_id, since)
    if fmt == "csv":
        return write_csv(trials, out)
    if fmt == "json":
        return write_json(store, trials, out, patient_id, since)
    raise ExportError(f"unknown export format {fmt!r} (csv or json)")


class PrivateFile:
    """A text file (or with ``binary``, a binary one) created mode 0600 for writing; ``commit()``
    makes it the final file (``abort()`` removes it). As a context manager: committed when
    the block ends, aborted when it raises.

    Without ``replace`` an existing file is an ExportError (nothing is touched).
    With it, the export goes to a temporary file renamed over the old one on
    commit, so a failed export never leaves a half-written file behind.
    """

    def __init__(self, path: str | os.PathLike, replace: bool = False, *, binary: bool = False) -> None:
        self.path = Path(path)
        self.replace = replace
        if self.path.is_dir():
            raise ExportError(f"{self.path} is a directory: name the file to write (e.g. {self.path}/export.csv)")
        if self.path.exists() and not self.path.is_file():
            raise ExportError(f"{self.path} is not a regular file; not replacing it")
        target = temp_path(self.path) if replace else self.path
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            if replace:
                target.unlink(missing_ok=True)
            fd = os.open(target, flags, 0o600)
        except FileExistsError:
            raise ExportError(f"{self.path} already exists (use --force to replace it)") from None
        except FileNotFoundError:
            raise ExportError(f"cannot create {self.path}: no such directory") from None
        except OSError as e:
            raise ExportError(f"cannot create {self.path}: {e.strerror or e}") from None
        try:
            self.private = _make_private(fd)
        except OSError as e:
            os.close(fd)
            target.unlink(missing_ok=True)
            raise ExportError(f"cannot create {self.path}: {e.strerror}") from None
        self.tmp = target
        self.file: IO[Any] = open(fd, "wb") if binary else open(fd, "w", encoding="utf-8", newline="")

    def __enter__(self) -> PrivateFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        """Commit what the block wrote; if the block failed, abort (nothing half-written is left)."""
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def commit(self) -> None:
        """Make the written file the final one; on failure nothing with patient data is left behind."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            publish(self.tmp, self.path)
        except OSError as e:
            self.abort()
            raise ExportError(f"cannot write {self.path}: {e.strerror or e}") from None

    def abort(self) -> None:
        """Close and remove the unfinished file."""
        try:
            self.file.close()
        except OSError:
            pass  # a full disk fails the close's flush too: the file goes anyway
        self.tmp.unlink(missing_ok=True)


# What chmod answers on a file system that keeps no Unix permissions (vfat: EPERM).
NO_PERMISSIONS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def _make_private(fd: int) -> bool:
    """Make the open file mode 0600; False when its file system cannot keep that."""
    try:
        os.fchmod(fd, 0o600)  # the umask could have taken bits away from 0600 (e.g. left it 0400)
    except OSError as e:
        if e.errno not in NO_PERMISSIONS:
            raise
        return False
    # vfat mounted with "quiet" accepts the chmod and keeps its own mode.
    return os.fstat(fd).st_mode & 0o077 == 0


def _first(d: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


def _metric(trial: Mapping[str, Any], key: str) -> Any:
    for source in (trial.get("result"), trial.get("metrics"), trial):
        if isinstance(source, dict) and source.get(key) is not None:
            return source[key]
    return None


def _yes_no(v: Any) -> str | None:
    return None if v is None else ("yes" if v else "no")


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (dict, list)):
        v = json.dumps(v, ensure_ascii=False)
    if isinstance(v, str) and v.startswith(FORMULA_START):
        return "'" + v
    return v
