"""The station's records: patients, tests and trials, crash-safe, flat cost.

Layout of the data directory (``[daemon] data_dir``)::

    station.lock                 held (fcntl.flock) by the one writer; holds its pid
    patients.jsonl (+ .bak)      every patient version, one line each, appended (patient_log.py)
    trials/NNNN/<trial_id>.json  one document per finished trial (NNNN = id // 1000)
    tests/NNNN/<test_id>.json    one document per test (a clinical session of trials)
    index.jsonl                  append-only summaries, one line per create/update
    journal/<trial_id>.jsonl     the journal of each trial in progress
    traces/NNNN/<trial_id>.trace.jsonl  each trial's raw trace (trace v1; ``trace_path``)

Why not one TinyDB for everything: TinyDB rewrites its whole file on every
insert, so recording would slow down as years of history pile up. Here
recording a trial writes one small document atomically and appends one index
line: the cost does not depend on how much is stored
(tests/benchmarks/storage.py). A patient's create or correction appends one
fsynced line to the patients' log and its copy (tests/benchmarks/patients.py);
the log is read into memory at open (a sorted index that ``find_patients``
bisects), and a ``patients.json`` of earlier versions (TinyDB) is migrated
then. The documents are the truth; the index is a cache of their
summaries. Each line carries its document's file identity (inode, size,
mtime); at open the index is checked against the document directories (one
stat per document): a line that is missing or stale (a crash or power cut cut
the append) is rebuilt from the document, a line without a document is
dropped. So the index needs no fsync of its own.

API: ``RecordStore(data_dir)`` takes the writer lock (``RecordsLocked``, a
UserError, if another process holds it); ``RecordStore(data_dir,
readonly=True)`` is for readers such as ``station export``: no lock, no
writes, no recovery. Ids are whole numbers from 1, one sequence for trials
and one for tests; methods also accept them as digit strings.

* patients: ``add_patient(patient_id, birth_year, sex, dominant_hand,
  notes=None, birth_month=None, condition=None) -> PATIENT``, ``get_patient(patient_id)``,
  ``has_patient(patient_id)``, ``find_patients(query="", limit=None)`` (ID
  substring, case-insensitive, prefix matches first), ``patients()``,
  ``update_patient(patient_id, **changes)``, ``correct_patient(patient_id,
  changes, reason=None)`` (a typo fixed; the old values go to the patient's
  ``history``). ``PATIENT`` is ``{"patient_id", "birth_year", "sex",
  "dominant_hand", "created_at"[, "birth_month", "condition", "notes"][, "history"]}``;
  sex is one of ``SEXES``, the hand ``left``/``right``,
  the optional birth month 1-12 (the age at a test is then exact to the month,
  ``station.norms.patient_age``), the optional condition one of
  ``station.progress.CONDITIONS`` (the population whose published change
  threshold applies). Pseudonymous: no name field.
* tests: ``create_test(record) -> test_id`` (needs ``patient_id``),
  ``update_test(test_id, changes) -> record`` (top-level merge),
  ``get_test(test_id)``, ``tests(patient_id=None, since=None, status=None)``
  (full records, oldest first).
* trials: ``begin_trial(meta, syncer=None) -> TrialJournal`` assigns the ``trial_id``
  (``journal.trial_id``) and journals the live trial; the daemon appends
  events (``journal.event``), phases and calls ``journal.tick()`` from its
  loop. ``finish_trial(record, journal=None) -> trial_id`` stores journal
  meta + ``record`` (a null in ``record`` does not erase a journal value;
  ``events``/``faults`` default to the journal's) on disk,
  fsynced, before it returns, then retires the journal.
  ``mark_trial_invalid(trial_id, reason) -> record`` sets ``invalid`` to
  ``{"reason", "at"}`` (the trial is kept). ``get_trial(trial_id)`` is the
  full document; ``trials(patient_id=None, since=None, test_id=None)`` gives
  summaries oldest first (``SUMMARY_KEYS``; newest first is ``[::-1]``).
* recovery: a writable store runs ``recover()`` at open: every journal left
  by a crash becomes a trial with status ``interrupted`` (its events kept,
  ``invalid`` set) and is retired. ``recovered`` holds one log line per thing
  recovered (journals, a damaged patients log, a migration); ``interrupted`` the ids.
* ``close()``, or use the store as a context manager.

Records are plain dicts, stored as given. The store sets ``trial_id`` /
``test_id``, ``started_at`` (trials, if absent) or ``created_at`` (tests),
``saved_at`` and ``invalid`` (null, or ``{"reason", "at"}``; set from
``valid``/``invalid_reason`` when a record in the ``station.trial/1`` schema of
station/results.py has them, and both are updated by ``mark_trial_invalid``).
Times are ISO 8601, UTC. ``finish_trial`` raises OSError if the disk fails
(the journal is then kept, so the trial is recovered at the next start).
"""
from __future__ import annotations

import bisect
import errno
import fcntl
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any, cast

from station.errors import UserError
from station.progress import CONDITIONS
from station.record_types import IndexEntry, Patient, StoredTrial, TestRecord
from station.records.atomic import FILE_MODE, atomic_write, fsync_dir
from station.records.journal import TrialJournal, read_journal, retire_journal
from station.records.patient_log import PatientLog
from station.records.storage import CorruptFile, move_aside
from station.records.syncer import Syncer

log = logging.getLogger("station.records")

SEXES = ("female", "male", "other", "unknown")
HANDS = ("left", "right")
PATIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
#: a patients-log line whose ID was corrected to another: the old ID is no patient any more
RENAMED_TO = "renamed_to"
PATIENT_FIELDS = ("birth_year", "birth_month", "sex", "dominant_hand", "condition", "notes")
NOTES_MAX = 500
SUMMARY_KEYS = ("trial_id", "test_id", "patient_id", "protocol", "hand", "practice",
                "started_at", "status", "invalid")
KINDS = ("trial", "test")
PER_DIR = 1000  # documents per directory


class RecordError(UserError):
    """A record request that cannot be done (unknown id, bad patient data); says why."""


class RecordsLocked(RecordError):
    """Another process holds the data directory's writer lock."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class RecordStore:
    """Patients, tests and trials in ``data_dir`` (see the module docstring)."""

    def __init__(self, data_dir: str | os.PathLike, *, readonly: bool = False,
                 now: Callable[[], datetime] = utc_now) -> None:
        self.dir = Path(data_dir)
        self.readonly = readonly
        self._now = now
        self.recovered: list[str] = []
        self.interrupted: list[int] = []
        self._lock_fd: int | None = None
        self._index_fd: int | None = None
        self._plog: PatientLog | None = None
        self._live: dict[int, TrialJournal] = {}
        self._index: dict[str, dict[int, dict]] = {k: {} for k in KINDS}
        self._next = {k: 1 for k in KINDS}
        self._damaged: dict[str, set[int]] = {k: set() for k in KINDS}  # corrupt documents moved aside
        if readonly:
            if not self.dir.is_dir():
                raise RecordError(f"no station records in {self.dir}: no such directory")
        else:
            try:
                for sub in ("", "trials", "tests", "journal"):
                    (self.dir / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as e:
                raise RecordError(f"cannot keep records in {self.dir}: {e.strerror}") from None
            self._lock()
        try:
            self._plog = PatientLog(self.dir, readonly=readonly)
            self.recovered.extend(self._plog.recovery)
            # built now, at open, not at a client's first lookup; add/update keep it current
            self._patients_by_id: dict[str, tuple[str, dict]] = {
                pid: (pid.casefold(), dict(p)) for pid, p in self._plog.patients.items() if RENAMED_TO not in p}
            self._patient_keys: list[tuple[str, str]] = sorted(
                (f, pid) for pid, (f, _) in self._patients_by_id.items())
            self._load_index()
            if not readonly:
                self.recover()
        except PermissionError as e:
            self.close()
            raise RecordError(f"cannot read the records in {self.dir}: permission denied ({e.filename}); "
                              "run as the station's user") from None
        except BaseException:
            self.close()
            raise

    # --- lifecycle -----------------------------------------------------------

    def _lock(self) -> None:
        fd = os.open(self.dir / "station.lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise RecordsLocked(f"the records in {self.dir} are in use by another station process{who}: "
                                "only one daemon may write them") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def close(self) -> None:
        """Close journals (they stay on disk for recovery), the index and the lock."""
        for j in list(self._live.values()):
            j.close()
        self._live.clear()
        if self._plog is not None:
            self._plog.close()
            self._plog = None
        if self._index_fd is not None:
            os.close(self._index_fd)
            self._index_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- patients ------------------------------------------------------------

    def add_patient(self, patient_id: str, birth_year: Any, sex: str, dominant_hand: str,
                    notes: str | None = None, birth_month: int | None = None,
                    condition: str | None = None) -> Patient:
        """Register a patient under a pseudonymous ID; returns the stored patient."""
        self._writable()
        patient_id = check_patient_id(patient_id)
        if self.has_patient(patient_id):
            raise RecordError(f"patient {patient_id} already exists")
        fields = {"birth_year": birth_year, "sex": sex, "dominant_hand": dominant_hand,
                  "birth_month": birth_month, "condition": condition}
        if notes is not None:
            fields["notes"] = notes
        p = {"patient_id": patient_id, **self._check_patient_fields(fields), "created_at": self._stamp()}
        self._save_patient(p)
        return cast(Patient, dict(p))

    def get_patient(self, patient_id: Any) -> Patient:
        """The patient, or RecordError naming the unknown ID."""
        p = self._patient_index().get(patient_id) if isinstance(patient_id, str) else None
        if p is None:
            raise RecordError(f"no patient {patient_id!r}")
        return cast(Patient, dict(p[1]))

    def has_patient(self, patient_id: Any) -> bool:
        return isinstance(patient_id, str) and patient_id in self._patient_index()

    def find_patients(self, query: str = "", limit: int | None = None) -> list[Patient]:
        """Patients whose ID contains ``query`` (case-insensitive); prefix matches first, each
        group in ID order. Prefix matches come from a sorted list (a bisect, not a scan)."""
        q = query.strip().casefold()
        by_id = self._patient_index()
        keys = self._patient_keys
        want = len(keys) if limit is None else max(0, limit)
        found: list[str] = []
        i = bisect.bisect_left(keys, (q, ""))
        while i < len(keys) and len(found) < want and keys[i][0].startswith(q):
            found.append(keys[i][1])
            i += 1
        if len(found) < want and q:
            for folded, pid in keys:
                if q in folded and not folded.startswith(q):
                    found.append(pid)
                    if len(found) >= want:
                        break
        return [cast(Patient, dict(by_id[pid][1])) for pid in found]

    def _patient_index(self) -> dict[str, tuple[str, dict]]:
        """patient_id -> (its case-folded form, the patient), in memory (``_patient_keys``: their
        (folded, id) in order), built at open and kept current by ``_save_patient``."""
        return self._patients_by_id

    def _save_patient(self, p: dict) -> None:
        """Append ``p`` (a new patient or a new version of one) to the log, fsynced; then index it."""
        assert self._plog is not None
        self._plog.append(dict(p))
        pid = p["patient_id"]
        if pid not in self._patients_by_id:
            bisect.insort(self._patient_keys, (pid.casefold(), pid))
        self._patients_by_id[pid] = (pid.casefold(), dict(p))

    def patients(self) -> list[Patient]:
        """Every patient, sorted by ID."""
        return self.find_patients("")

    def update_patient(self, patient_id: str, **changes: Any) -> Patient:
        """Change birth_year, birth_month, sex, dominant_hand, condition or notes (None clears
        an optional one); returns the updated patient."""
        self._writable()
        current = self.get_patient(patient_id)
        unknown = set(changes) - set(PATIENT_FIELDS)
        if unknown:
            raise RecordError(f"cannot change {', '.join(sorted(unknown))} of a patient "
                              f"(changeable: {', '.join(PATIENT_FIELDS)})")
        fields: dict[str, Any] = {k: v for k, v in current.items() if k in PATIENT_FIELDS}
        fields.update(changes)
        fields = self._check_patient_fields(fields)
        cleared = [k for k in ("birth_month", "condition") if k in current and k not in fields]
        p = {**{k: v for k, v in current.items() if k not in cleared}, **fields}
        self._save_patient(p)
        return cast(Patient, p)

    def correct_patient(self, patient_id: str, changes: dict[str, Any], reason: str | None = None) -> Patient:
        """Correct a patient's fields (``patient_id`` too); the old values are appended to its ``history``.

        A new ``patient_id`` must be free, and is refused once the patient has
        tests or trials: those records name the patient by ID, and rewriting
        them all is no typo fix (create a new patient instead). In the log, a
        new ID is the patient under it plus a line retiring the old ID.
        """
        self._writable()
        current = self.get_patient(patient_id)
        unknown = set(changes) - {"patient_id", *PATIENT_FIELDS}
        if unknown:
            raise RecordError(f"cannot change {', '.join(sorted(unknown))} of a patient "
                              f"(changeable: patient_id, {', '.join(PATIENT_FIELDS)})")
        new_id = changes.get("patient_id", patient_id)
        if new_id != patient_id:
            new_id = check_patient_id(new_id)
            if self.has_patient(new_id):
                raise RecordError(f"patient {new_id} already exists")
            held = [k for k in ("test", "trial") if self._select(k, patient_id, None)]
            if held:
                raise RecordError(f"patient {patient_id} already has {' and '.join(k + 's' for k in held)} "
                                  "under that ID: it cannot change (create a new patient)")
        was: Mapping[str, Any] = current  # read by field name
        fields = {k: was[k] for k in PATIENT_FIELDS if k in was}
        fields.update({k: v for k, v in changes.items() if k != "patient_id"})
        fields = self._check_patient_fields(fields)
        old = {k: was.get(k) for k in ("patient_id", *PATIENT_FIELDS)
               if (new_id if k == "patient_id" else fields.get(k)) != was.get(k)}
        if not old:
            return current
        entry: dict[str, Any] = {"at": self._stamp(), "old": old}
        if reason:
            entry["reason"] = reason
        history = [*current.get("history", []), entry]
        p = {**current, "patient_id": new_id, **fields, "history": history}
        self._save_patient(p)
        if new_id != patient_id:
            self._retire_patient_id(patient_id, new_id)
        return cast(Patient, p)

    def _retire_patient_id(self, patient_id: str, renamed_to: str) -> None:
        """The log's last line for ``patient_id`` says it became ``renamed_to``; it leaves the index."""
        assert self._plog is not None
        self._plog.append({"patient_id": patient_id, RENAMED_TO: renamed_to, "at": self._stamp()})
        del self._patients_by_id[patient_id]
        self._patient_keys.remove((patient_id.casefold(), patient_id))

    def _check_patient_fields(self, f: dict) -> dict:
        year = f["birth_year"]
        if isinstance(year, str) and year.strip().isdigit():
            year = int(year)
        this_year = self._now().year
        if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= this_year:
            raise RecordError(f"birth year must be a year from 1900 to {this_year}, not {f['birth_year']!r}")
        sex = f["sex"].strip().lower() if isinstance(f["sex"], str) else f["sex"]
        if sex not in SEXES:
            raise RecordError(f"sex must be one of {', '.join(SEXES)}, not {f['sex']!r}")
        hand = f["dominant_hand"].strip().lower() if isinstance(f["dominant_hand"], str) else f["dominant_hand"]
        if hand not in HANDS:
            raise RecordError(f"dominant hand must be left or right, not {f['dominant_hand']!r}")
        out = {"birth_year": year, "sex": sex, "dominant_hand": hand}
        month = f.get("birth_month")
        if month is not None:
            if isinstance(month, str) and month.strip().isdigit():
                month = int(month)
            if not isinstance(month, int) or isinstance(month, bool) or not 1 <= month <= 12:
                raise RecordError(f"birth month must be 1 to 12, not {f['birth_month']!r}")
            if year == this_year and month > self._now().month:
                raise RecordError(f"birth month {month}/{year} is in the future")
            out["birth_month"] = month
        condition = f.get("condition")
        if condition is not None:
            if condition not in CONDITIONS:
                raise RecordError(f"condition must be one of {', '.join(CONDITIONS)} (or none), not {condition!r}")
            out["condition"] = condition
        notes = f.get("notes")
        if notes is not None:
            if not isinstance(notes, str) or len(notes) > NOTES_MAX:
                raise RecordError(f"notes must be text of at most {NOTES_MAX} characters")
            out["notes"] = notes
        return out

    # --- tests ---------------------------------------------------------------

    def create_test(self, record: Mapping[str, Any]) -> int:
        """Store a new test (a session of trials) for ``record["patient_id"]``; returns its id."""
        self._writable()
        rec = self._new_record("test", record)
        if rec.get("patient_id") is None:
            raise RecordError("a test needs a patient_id")
        self._write_doc("test", rec)
        return rec["test_id"]

    def update_test(self, test_id: int | str, changes: Mapping[str, Any]) -> TestRecord:
        """Merge ``changes`` into a test's top-level keys; returns the stored record."""
        self._writable()
        rec = self._read_doc("test", test_id)
        if not isinstance(changes, dict):
            raise RecordError("test changes must be an object")
        if changes.get("test_id", rec["test_id"]) != rec["test_id"]:
            raise RecordError("a test's id cannot change")
        if changes.get("patient_id", rec.get("patient_id")) != rec.get("patient_id"):
            self._check_patient_ref(changes["patient_id"])
        rec.update(changes)
        rec["updated_at"] = self._stamp()
        self._write_doc("test", rec, replace=True)
        return cast(TestRecord, rec)

    def get_test(self, test_id: int | str) -> TestRecord:
        """The full test record (as stored: one of an older shape may lack keys)."""
        return cast(TestRecord, self._read_doc("test", test_id))

    def tests(self, patient_id: str | None = None, since: date | datetime | None = None,
              status: str | None = None) -> list[TestRecord]:
        """Full test records, oldest first (``status``: only those the index says have it)."""
        return [self.get_test(e["test_id"]) for e in self._select("test", patient_id, since)
                if status is None or e.get("status") == status]

    # --- trials --------------------------------------------------------------

    def begin_trial(self, meta: Mapping[str, Any], syncer: Syncer | None = None) -> TrialJournal:
        """Start journaling a live trial; ``journal.trial_id`` is the trial's id from now on.
        With ``syncer`` the journal's fsyncs run on the syncer's thread."""
        self._writable()
        rec = self._new_record("trial", meta)
        j = TrialJournal(self.dir / "journal" / f"{rec['trial_id']}.jsonl", rec["trial_id"], rec, syncer=syncer)
        self._live[rec["trial_id"]] = j
        return j

    def trace_path(self, trial_id: int) -> Path:
        """Where trial ``trial_id``'s raw trace is written (its directory made if need be)."""
        tid = _as_id("trial", trial_id)
        path = self.dir / "traces" / f"{tid // PER_DIR:04d}" / f"{tid}.trace.jsonl"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    def finish_trial(self, record: Mapping[str, Any], journal: TrialJournal | None = None) -> int:
        """Store a finished trial; it is on disk and fsynced when this returns. Returns its id.

        With ``journal`` (from ``begin_trial``) the trial keeps the journal's id
        and metadata and takes its events and faults unless ``record`` has
        them; the journal is retired once the document is durable.
        """
        self._writable()
        if not isinstance(record, dict):
            raise RecordError("a trial record must be an object")
        if journal is not None:
            if record.get("trial_id", journal.trial_id) != journal.trial_id:
                raise RecordError(f"record trial_id {record['trial_id']!r} is not the journal's "
                                  f"({journal.trial_id})")
            # a null in the record means "not known here": it does not erase what the journal knew
            rec = dict(journal.meta)
            rec.update((k, v) for k, v in record.items() if v is not None or k not in rec)
            rec["trial_id"] = journal.trial_id
            rec.setdefault("events", list(journal.events))
            rec.setdefault("faults", list(journal.faults))
            self._check_refs(rec)
        else:
            rec = self._new_record("trial", record)
        if "invalid" not in rec:  # records in the results schema say it with valid/invalid_reason
            rec["invalid"] = {"reason": rec.get("invalid_reason")} if rec.get("valid") is False else None
        rec["saved_at"] = self._stamp()
        self._write_doc("trial", rec)
        if journal is not None:
            self._live.pop(journal.trial_id, None)
            journal.retire()
        return rec["trial_id"]

    def mark_trial_invalid(self, trial_id: int | str, reason: str) -> StoredTrial:
        """Flag a stored trial invalid with ``reason`` (it is kept); returns the record."""
        self._writable()
        if not isinstance(reason, str) or not reason.strip():
            raise RecordError("say why the trial is invalid: a reason is required")
        rec = self._read_doc("trial", trial_id)
        rec["invalid"] = {"reason": reason.strip(), "at": self._stamp()}
        if "valid" in rec:  # keep a results-schema record (station.trial/1) consistent
            rec.update(valid=False, invalid_reason=reason.strip())
        self._write_doc("trial", rec, replace=True)
        return cast(StoredTrial, rec)

    def get_trial(self, trial_id: int | str) -> StoredTrial:
        """The full stored trial (metadata, result, metrics, events, trace path)."""
        return cast(StoredTrial, self._read_doc("trial", trial_id))

    def trials(self, patient_id: str | None = None, since: date | datetime | None = None,
               test_id: int | str | None = None) -> list[IndexEntry]:
        """Summaries of stored trials, oldest first (``get_trial`` gives the full record)."""
        found = self._select("trial", patient_id, since)
        if test_id is not None:
            tid = _as_id("test", test_id)
            found = [e for e in found if e.get("test_id") == tid]
        return cast(list[IndexEntry], found)

    # --- recovery ------------------------------------------------------------

    def recover(self) -> list[int]:
        """Store every journal left by a crash as an interrupted trial; returns their ids."""
        self._writable()
        ids = []
        for path in sorted((self.dir / "journal").glob("*.jsonl")):
            if path.stem.isdigit() and int(path.stem) in self._live:
                continue
            tid = self._recover_journal(path)
            if tid is not None:
                ids.append(tid)
        self.interrupted.extend(ids)
        return ids

    def _recover_journal(self, path: Path) -> int | None:
        try:
            j = read_journal(path, trial_id=int(path.stem) if path.stem.isdigit() else None)
            tid = _as_id("trial", j.trial_id)
        except (CorruptFile, RecordError) as e:
            aside = move_aside(path)
            self._note(f"journal {path.name} is unreadable ({e}); moved it to {aside.name}", error=True)
            return None
        if j.header_damaged:
            # its events are kept (as an interrupted trial) and the file too: the patient is unknown
            aside = move_aside(path)
            self._note(f"journal {path.name} has a damaged header (patient and protocol unknown); its "
                       f"{len(j.events)} events are stored as interrupted trial {tid}; the file is kept as "
                       f"{aside.name}", error=True)
        if tid in self._index["trial"]:
            if not j.header_damaged:
                retire_journal(path)  # stored just before the crash, not yet retired
            return None
        why = "interrupted: the station stopped during the trial"
        if j.header_damaged:
            why += " (its journal's header was damaged: patient and protocol unknown)"
        rec = {**j.meta, "trial_id": tid, "status": "interrupted", "events": j.events,
               "faults": j.faults, "phases": j.phases, "last_t": j.last_t,
               "invalid": {"reason": why, "at": self._stamp()}, "recovered_at": self._stamp()}
        self._next["trial"] = max(self._next["trial"], tid + 1)
        self._write_doc("trial", rec)
        if not j.header_damaged:
            retire_journal(path)
        cut = ", last line cut short" if j.truncated_tail else ""
        bad = f", {len(j.bad_lines)} unreadable line(s) skipped" if j.bad_lines else ""
        self._note(f"recovered interrupted trial {tid} from its journal "
                   f"({len(j.events)} events{cut}{bad}); stored with status 'interrupted'")
        return tid

    def _note(self, line: str, error: bool = False) -> None:
        (log.error if error else log.warning)("%s", line)
        self.recovered.append(line)

    # --- documents and the index ---------------------------------------------

    def _new_record(self, kind: str, given: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(given, dict):
            raise RecordError(f"a {kind} record must be an object")
        key = f"{kind}_id"
        if given.get(key) is not None:
            raise RecordError(f"{kind} ids are given by the store: drop {key!r} from a new {kind}")
        rec = dict(given)
        self._check_refs(rec)
        rec[key] = self._take_id(kind)
        when = "started_at" if kind == "trial" else "created_at"
        if rec.get(when) is None:
            rec[when] = self._stamp()
        return rec

    def _take_id(self, kind: str) -> int:
        rid = self._next[kind]
        self._next[kind] += 1
        return rid

    def _check_refs(self, rec: dict) -> None:
        """A trial's patient and test must exist (a new test has no test_id yet)."""
        self._check_patient_ref(rec.get("patient_id"))
        test_id = rec.get("test_id")
        if test_id is not None and _as_id("test", test_id) not in self._index["test"]:
            raise RecordError(f"no test {test_id!r}")

    def _check_patient_ref(self, patient_id: Any) -> None:
        if patient_id is not None and not self.has_patient(patient_id):
            raise RecordError(f"no patient {patient_id!r}")

    def _doc_path(self, kind: str, rid: int) -> Path:
        return self.dir / f"{kind}s" / f"{rid // PER_DIR:04d}" / f"{rid}.json"

    def _write_doc(self, kind: str, rec: dict, replace: bool = False) -> None:
        rid = rec[f"{kind}_id"]
        path = self._doc_path(kind, rid)
        if not replace and path.exists():
            raise RecordError(f"{kind} {rid} is already stored")
        try:
            data = json.dumps(rec, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as e:
            raise ValueError(f"{kind} {rid} cannot be stored as JSON: {e}") from None
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700)
            fsync_dir(path.parent.parent)
        atomic_write(path, data)
        entry = _summary(kind, rec, _identity(os.stat(path)))
        self._index[kind][rid] = entry
        self._append_index(entry)

    def _read_doc(self, kind: str, rid: Any) -> dict:
        rid = _as_id(kind, rid)
        path = self._doc_path(kind, rid)
        try:
            rec = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise RecordError(f"no {kind} {rid}") from None
        except (ValueError, UnicodeDecodeError):
            rec = None
        if not isinstance(rec, dict):
            where = path.name if self.readonly else move_aside(path).name
            self._note(f"{kind} document {path} is corrupt; kept as {where}", error=True)
            self._index[kind].pop(rid, None)
            self._damaged[kind].add(rid)
            raise RecordError(f"{kind} {rid} is damaged on disk (kept as {where})")
        return rec

    def _append_index(self, entry: dict) -> None:
        # no fsync: the document is already durable and the index is rebuilt from documents at open
        self._append_raw((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))

    def _append_raw(self, data: bytes) -> None:
        if self._index_fd is None:
            self._index_fd = os.open(self.dir / "index.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        os.write(self._index_fd, data)

    def _load_index(self) -> None:
        try:
            raw = (self.dir / "index.jsonl").read_bytes()
        except FileNotFoundError:
            raw = b""
        for line in raw.split(b"\n"):
            try:
                e = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                continue  # a line cut by a crash; the documents fill the gap below
            kind = e.get("kind") if isinstance(e, dict) else None
            if kind in KINDS and type(e.get(f"{kind}_id")) is int:
                self._index[kind][e[f"{kind}_id"]] = e  # a later line is a newer version
        if raw and not raw.endswith(b"\n") and not self.readonly:
            self._append_raw(b"\n")  # so the next line does not join a cut one
        for kind in KINDS:
            self._reconcile(kind)
        journals = [int(p.stem) for p in (self.dir / "journal").glob("*.jsonl") if p.stem.isdigit()]
        for kind in KINDS:
            self._next[kind] = max([0, *self._index[kind], *self._damaged[kind],
                                    *(journals if kind == "trial" else [])]) + 1

    def _reconcile(self, kind: str) -> None:
        """Make the index match the documents, which are the truth."""
        entries = self._index[kind]
        on_disk: dict[int, os.DirEntry] = {}
        root = self.dir / f"{kind}s"
        if root.is_dir():
            for sub in os.scandir(root):
                if not sub.is_dir():
                    continue
                for d in os.scandir(sub.path):
                    stem, ext, rest = d.name.partition(".json")
                    if not stem.isdigit() or not ext:
                        continue
                    if not rest:
                        on_disk[int(stem)] = d
                    elif rest.startswith(".corrupt-"):  # moved aside earlier: its id stays taken
                        self._damaged[kind].add(int(stem))
        for rid in [r for r in entries if r not in on_disk]:
            del entries[rid]
            if rid in self._damaged[kind]:
                continue  # moved aside as corrupt: said when it was found
            self._note(f"the index lists {kind} {rid} but its document is missing; dropped the entry",
                       error=True)
        for rid, d in sorted(on_disk.items()):
            ident = _identity(d.stat())
            if rid in entries and entries[rid].get("file") == ident:
                continue
            try:  # not indexed, or changed after its last index line
                rec = json.loads(Path(d.path).read_bytes())
            except (ValueError, UnicodeDecodeError):
                rec = None
            if not isinstance(rec, dict):
                entries.pop(rid, None)
                self._damaged[kind].add(rid)  # its id is never given again
                where = d.name if self.readonly else move_aside(d.path).name
                self._note(f"{kind} document {d.path} is corrupt; kept as {where} (left out of the records)",
                           error=True)
                continue
            entries[rid] = _summary(kind, rec, ident)
            if not self.readonly:
                self._append_index(entries[rid])
        ordered = sorted(entries.items())
        entries.clear()
        entries.update(ordered)

    def _select(self, kind: str, patient_id: str | None, since: date | datetime | None) -> list[dict]:
        cutoff = as_utc(since) if since is not None else None
        out = []
        for e in self._index[kind].values():
            if patient_id is not None and e.get("patient_id") != patient_id:
                continue
            if cutoff is not None:
                t = parse_iso(e.get("started_at"))
                if t is None or t < cutoff:
                    continue
            out.append({k: v for k, v in e.items() if k not in ("kind", "file")})
        return out

    def _writable(self) -> None:
        if self.readonly:
            raise RecordError(f"the records in {self.dir} are open read-only")

    def _stamp(self) -> str:
        return iso(self._now())


def check_patient_id(patient_id: Any) -> str:
    """A valid pseudonymous patient ID, or RecordError saying what one looks like."""
    if not isinstance(patient_id, str) or not PATIENT_ID.fullmatch(patient_id.strip()):
        raise RecordError(f"patient ID {patient_id!r} must be 1-32 letters, digits, '-', '_' or '.', "
                          "starting with a letter or digit (a pseudonym, never a name)")
    return patient_id.strip()


#: Ids are whole numbers from 1 up to this (JSON's safe integers).
MAX_ID = 2**53 - 1


def _as_id(kind: str, rid: Any) -> int:
    if isinstance(rid, str) and rid.strip().isascii() and rid.strip().isdigit() and len(rid.strip()) <= 16:
        rid = int(rid)
    if type(rid) is not int or not 1 <= rid <= MAX_ID:
        shown = repr(rid) if len(repr(rid)) <= 40 else repr(rid)[:37] + "..."
        raise RecordError(f"{kind} ids are whole numbers from 1 to {MAX_ID}, not {shown}")
    return rid


def _identity(st: os.stat_result) -> list[int]:
    """What changes whenever a document is rewritten (atomic replace makes a new inode)."""
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _summary(kind: str, rec: dict, file: list[int]) -> dict:
    e: dict[str, Any] = {"kind": kind, "file": file}
    for k in SUMMARY_KEYS:
        if k in rec:
            e[k] = rec[k]
    if kind == "test":
        e["started_at"] = rec.get("created_at")
    return e


def iso(t: datetime) -> str:
    """ISO 8601 in UTC, to the millisecond."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_iso(s: Any) -> datetime | None:
    """An aware datetime from ISO 8601 text (naive means UTC); None if it is not one."""
    if not isinstance(s, str):
        return None
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def as_utc(since: date | datetime) -> datetime:
    """A date means local midnight; a naive datetime is local time."""
    if not isinstance(since, datetime):
        since = datetime.combine(since, dtime())
    if since.tzinfo is None:
        since = since.astimezone()  # local
    return since.astimezone(UTC)
