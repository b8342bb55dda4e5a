"""The station's records: patients, tests and trials, crash-safe, flat cost.

Layout of the data directory (``[daemon] data_dir``)::

    station.lock               held (fcntl.flock) by the one writer, with its pid
    patients.json (+ .bak)     TinyDB via AtomicJSONStorage: table "patients"
    trials/YYYY-MM/<id>.json   one document per finished trial, written atomically
    tests/YYYY-MM/<id>.json    one document per test (a session of trials)
    index.jsonl                append-only summaries, one line per create/update
    journal/<id>.jsonl         the journal of each trial in progress

Why not one TinyDB for everything: TinyDB rewrites its whole file on every
insert, so recording would slow down as years of history pile up. Here
recording a trial writes one small document and appends one index line: the
cost does not depend on how many trials are stored (tests/benchmarks/storage.py).
Patients stay in TinyDB: there are few and they change rarely. The documents
are the truth; the index is a cache of their summaries, checked against the
document directories at open (a missing line is rebuilt, a line without a
document is dropped), so the index needs no fsync of its own.

API (``RecordStore(data_dir)``; ``readonly=True`` for readers such as
``station export``, which take no lock and write nothing):

* patients: ``add_patient(patient_id, birth_year, sex, dominant_hand)``,
  ``get_patient(id)``, ``find_patients(prefix="")``,
  ``update_patient(id, **changes)``, ``patients()``. A patient is
  ``{"id", "birth_year", "sex", "dominant_hand", "created_at"}``; sex is
  ``female``/``male``/``other``, hand ``left``/``right``. No names.
* tests: ``create_test(record) -> test_id`` (record needs ``patient_id``),
  ``update_test(test_id, changes) -> record``, ``get_test(id)``,
  ``tests(patient_id=None, since=None) -> [record]``.
* trials: ``begin_trial(meta) -> TrialJournal`` (meta may hold
  ``patient_id``, ``test_id``, ``protocol``, ``started_at``...; the journal's
  ``trial_id`` is the trial's id); the daemon appends events to the journal;
  ``finish_trial(record, journal=None) -> trial_id`` stores the finished
  record (journal meta + record; ``events`` default to the journal's) and
  returns only once it is on disk and fsynced, then retires the journal;
  ``mark_trial_invalid(trial_id, reason)``; ``get_trial(id)`` (the full
  document); ``trials(patient_id=None, since=None, test_id=None)`` (index
  summaries, oldest first: ``id, kind, patient_id, test_id, protocol,
  started_at, status, valid``).
* recovery: at open a writable store runs ``recover()``: every journal left by
  a crash becomes a trial with status ``interrupted`` (its events kept, marked
  invalid with a reason) and the journal is retired. ``recovered`` lists one
  log line per thing recovered (journals, a corrupt patients.json);
  ``interrupted`` lists the recovered trial ids.
* ``close()`` (or use the store as a context manager).

Stored records are plain dicts; the store adds ``id``, ``started_at`` (if
absent), ``saved_at``, ``valid`` and, when invalidated, ``invalid_reason``.
Times are ISO 8601 in UTC. Anything else in a record is kept as given.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import secrets
from datetime import date, datetime, time as dtime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from tinydb import Query, TinyDB

from .errors import UserError
from .journal import TrialJournal, read_journal, retire_journal
from .storage import FILE_MODE, AtomicJSONStorage, CorruptFile, fsync_dir, move_aside, write_atomic

log = logging.getLogger("station.records")

SEXES = ("female", "male", "other")
HANDS = ("left", "right")
PATIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
RECORD_ID = re.compile(r"(\d{4})(\d{2})\d{2}T\d{6}Z-[0-9a-f]{6}")
SUMMARY_KEYS = ("patient_id", "test_id", "protocol", "started_at", "status", "valid")


class RecordError(UserError):
    """A record request that cannot be done (unknown id, bad patient data); says why."""


class RecordsLocked(RecordError):
    """Another process holds the data directory's writer lock."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class RecordStore:
    """Patients, tests and trials in ``data_dir`` (see the module docstring)."""

    def __init__(self, data_dir: str | os.PathLike, *, readonly: bool = False,
                 now: Callable[[], datetime] = utc_now) -> None:
        self.dir = Path(data_dir)
        self.readonly = readonly
        self._now = now
        self.recovered: list[str] = []
        self.interrupted: list[str] = []
        self._lock_fd: int | None = None
        self._index_fd: int | None = None
        self._live: dict[str, TrialJournal] = {}
        self._trials: dict[str, dict] = {}
        self._tests: dict[str, dict] = {}
        if readonly:
            if not (self.dir / "patients.json").exists() and not (self.dir / "index.jsonl").exists():
                raise RecordError(f"no station records in {self.dir}")
        else:
            try:
                for sub in ("", "trials", "tests", "journal"):
                    (self.dir / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as e:
                raise RecordError(f"cannot use {self.dir} for records: {e.strerror}") from None
            self._lock()
        try:
            storage = AtomicJSONStorage(self.dir / "patients.json", readonly=readonly)
            if storage.recovery:
                self.recovered.append(storage.recovery)
            self._db = TinyDB(storage=_Given(storage))
            self._patients = self._db.table("patients")
            self._load_index()
            if not readonly:
                self.recover()
        except BaseException:
            self.close()
            raise

    # --- lifecycle -----------------------------------------------------------

    def _lock(self) -> None:
        path = self.dir / "station.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
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
        if getattr(self, "_db", None) is not None:
            self._db.close()
            self._db = None
        if self._index_fd is not None:
            os.close(self._index_fd)
            self._index_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> "RecordStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- patients ------------------------------------------------------------

    def add_patient(self, patient_id: str, birth_year: Any, sex: str, dominant_hand: str) -> dict:
        """Register a patient under a pseudonymous ID; returns the stored patient."""
        self._writable()
        patient_id = check_patient_id(patient_id)
        if self._patients.get(Query().id == patient_id) is not None:
            raise RecordError(f"patient {patient_id} already exists")
        p = {"id": patient_id, **self._check_patient_fields(
            {"birth_year": birth_year, "sex": sex, "dominant_hand": dominant_hand}),
            "created_at": self._stamp()}
        self._patients.insert(p)
        return p

    def get_patient(self, patient_id: str) -> dict:
        """The patient, or RecordError naming the unknown ID."""
        p = self._patients.get(Query().id == patient_id) if isinstance(patient_id, str) else None
        if p is None:
            raise RecordError(f"no patient {patient_id!r}")
        return dict(p)

    def has_patient(self, patient_id: str) -> bool:
        return isinstance(patient_id, str) and self._patients.contains(Query().id == patient_id)

    def find_patients(self, prefix: str = "") -> list[dict]:
        """Patients whose ID starts with ``prefix`` (case-insensitive), sorted by ID."""
        pre = prefix.casefold()
        found = self._patients.search(Query().id.test(lambda v: v.casefold().startswith(pre)))
        return sorted((dict(p) for p in found), key=lambda p: p["id"])

    def patients(self) -> list[dict]:
        return self.find_patients("")

    def update_patient(self, patient_id: str, **changes: Any) -> dict:
        """Change birth_year, sex or dominant_hand; returns the updated patient."""
        self._writable()
        current = self.get_patient(patient_id)
        unknown = set(changes) - {"birth_year", "sex", "dominant_hand"}
        if unknown:
            raise RecordError(f"cannot change {', '.join(sorted(unknown))} of a patient "
                              "(changeable: birth_year, sex, dominant_hand)")
        fields = {k: current[k] for k in ("birth_year", "sex", "dominant_hand")}
        fields.update(changes)
        fields = self._check_patient_fields(fields)
        self._patients.update(fields, Query().id == patient_id)
        return {**current, **fields}

    def _check_patient_fields(self, f: dict) -> dict:
        year = f["birth_year"]
        if isinstance(year, str) and year.strip().isdigit():
            year = int(year)
        this_year = self._now().year
        if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= this_year:
            raise RecordError(f"birth year must be a year between 1900 and {this_year}, not {f['birth_year']!r}")
        sex = f["sex"].strip().lower() if isinstance(f["sex"], str) else f["sex"]
        if sex not in SEXES:
            raise RecordError(f"sex must be one of {', '.join(SEXES)}, not {f['sex']!r}")
        hand = f["dominant_hand"].strip().lower() if isinstance(f["dominant_hand"], str) else f["dominant_hand"]
        if hand not in HANDS:
            raise RecordError(f"dominant hand must be left or right, not {f['dominant_hand']!r}")
        return {"birth_year": year, "sex": sex, "dominant_hand": hand}

    # --- tests ---------------------------------------------------------------

    def create_test(self, record: dict) -> str:
        """Store a new test (a session of trials) for ``record["patient_id"]``; returns its id."""
        self._writable()
        rec = self._new_record(record, "test")
        if rec.get("patient_id") is None:
            raise RecordError("a test needs a patient_id")
        self._write_doc("test", rec)
        return rec["id"]

    def update_test(self, test_id: str, changes: dict) -> dict:
        """Merge ``changes`` into a test (top-level keys); returns the stored record."""
        self._writable()
        rec = self.get_test(test_id)
        if "id" in changes and changes["id"] != test_id:
            raise RecordError("a test's id cannot change")
        if "patient_id" in changes and changes["patient_id"] != rec.get("patient_id"):
            self._check_patient_ref(changes["patient_id"])
        rec.update(changes)
        rec["updated_at"] = self._stamp()
        self._write_doc("test", rec, replace=True)
        return rec

    def get_test(self, test_id: str) -> dict:
        return self._read_doc("test", test_id)

    def tests(self, patient_id: str | None = None, since: date | datetime | None = None) -> list[dict]:
        """Full test records, oldest first."""
        return [self.get_test(e["id"]) for e in self._select(self._tests, patient_id, since)]

    # --- trials --------------------------------------------------------------

    def begin_trial(self, meta: dict) -> TrialJournal:
        """Start journaling a live trial; the journal's ``trial_id`` is the trial's id."""
        self._writable()
        rec = self._new_record(meta, "trial")
        path = self.dir / "journal" / f"{rec['id']}.jsonl"
        j = TrialJournal(path, rec["id"], rec)
        self._live[rec["id"]] = j
        return j

    def finish_trial(self, record: dict, journal: TrialJournal | None = None) -> str:
        """Store a finished trial; on disk and fsynced when this returns. Returns its id.

        With ``journal`` (from ``begin_trial``) the trial keeps the journal's id
        and metadata, takes its events if ``record`` has none, and the journal
        is retired once the document is durable.
        """
        self._writable()
        if journal is not None:
            rec = {**journal.meta, **record, "id": journal.trial_id}
            rec.setdefault("events", list(journal.events))
            if journal.faults:
                rec.setdefault("faults", list(journal.faults))
        else:
            rec = self._new_record(record, "trial")
        rec.setdefault("valid", True)
        self._check_patient_ref(rec.get("patient_id"))
        self._check_test_ref(rec.get("test_id"))
        rec["saved_at"] = self._stamp()
        self._write_doc("trial", rec)
        if journal is not None:
            self._live.pop(journal.trial_id, None)
            journal.retire()
        return rec["id"]

    def mark_trial_invalid(self, trial_id: str, reason: str) -> dict:
        """Mark a stored trial invalid (kept, never deleted); returns the record."""
        self._writable()
        if not isinstance(reason, str) or not reason.strip():
            raise RecordError("say why the trial is invalid (a reason is required)")
        rec = self.get_trial(trial_id)
        rec.update(valid=False, invalid_reason=reason.strip(), invalidated_at=self._stamp())
        self._write_doc("trial", rec, replace=True)
        return rec

    def get_trial(self, trial_id: str) -> dict:
        """The full stored trial (metadata, result, metrics, events, trace path)."""
        return self._read_doc("trial", trial_id)

    def trials(self, patient_id: str | None = None, since: date | datetime | None = None,
               test_id: str | None = None) -> list[dict]:
        """Summaries of stored trials, oldest first (``get_trial`` gives the full record)."""
        found = self._select(self._trials, patient_id, since)
        if test_id is not None:
            found = [e for e in found if e.get("test_id") == test_id]
        return found

    # --- recovery ------------------------------------------------------------

    def recover(self) -> list[str]:
        """Store every journal left by a crash as an interrupted trial; returns their ids."""
        self._writable()
        ids = []
        for path in sorted((self.dir / "journal").glob("*.jsonl")):
            if path.stem in self._live:
                continue
            tid = self._recover_journal(path)
            if tid is not None:
                ids.append(tid)
        self.interrupted.extend(ids)
        return ids

    def _recover_journal(self, path: Path) -> str | None:
        try:
            j = read_journal(path)
        except CorruptFile as e:
            aside = move_aside(path)
            self._note(f"journal {path.name} is unreadable ({e}); moved it to {aside.name}", error=True)
            return None
        if self._doc_path("trial", j.trial_id).exists():
            retire_journal(path)  # stored just before the crash; the journal was not yet retired
            return None
        rec = {**j.meta, "id": j.trial_id, "status": "interrupted", "events": j.events,
               "faults": j.faults, "phases": j.phases, "last_t": j.last_t,
               "valid": False, "invalid_reason": "interrupted: the station stopped during the trial",
               "recovered_at": self._stamp()}
        self._write_doc("trial", rec)
        retire_journal(path)
        cut = ", last line cut short" if j.truncated_tail else ""
        bad = f", {len(j.bad_lines)} unreadable line(s) skipped" if j.bad_lines else ""
        self._note(f"recovered interrupted trial {j.trial_id} from its journal "
                   f"({len(j.events)} events{cut}{bad}); stored with status 'interrupted'")
        return j.trial_id

    def _note(self, line: str, error: bool = False) -> None:
        (log.error if error else log.warning)("%s", line)
        self.recovered.append(line)

    # --- documents and the index ---------------------------------------------

    def _new_record(self, given: dict, kind: str) -> dict:
        if not isinstance(given, dict):
            raise RecordError(f"a {kind} record must be an object")
        rec = dict(given)
        now = self._now()
        rid = rec.get("id")
        if rid is None:
            rid = self._new_id(kind, now)
        elif not (isinstance(rid, str) and RECORD_ID.fullmatch(rid)):
            raise RecordError(f"bad {kind} id {rid!r}")
        rec["id"] = rid
        rec.setdefault("started_at" if kind == "trial" else "created_at", _iso(now))
        self._check_patient_ref(rec.get("patient_id"))
        if kind == "trial":
            self._check_test_ref(rec.get("test_id"))
        return rec

    def _new_id(self, kind: str, now: datetime) -> str:
        stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        while True:
            rid = f"{stamp}-{secrets.token_hex(3)}"
            if rid not in self._trials and rid not in self._tests and rid not in self._live \
                    and not self._doc_path(kind, rid).exists():
                return rid

    def _check_patient_ref(self, patient_id: Any) -> None:
        if patient_id is not None and not self.has_patient(patient_id):
            raise RecordError(f"no patient {patient_id!r}")

    def _check_test_ref(self, test_id: Any) -> None:
        if test_id is not None and test_id not in self._tests:
            raise RecordError(f"no test {test_id!r}")

    def _doc_path(self, kind: str, rid: str) -> Path:
        m = RECORD_ID.fullmatch(rid) if isinstance(rid, str) else None
        if m is None:
            raise RecordError(f"no {kind} {rid!r}")
        return self.dir / f"{kind}s" / f"{m[1]}-{m[2]}" / f"{rid}.json"

    def _write_doc(self, kind: str, rec: dict, replace: bool = False) -> None:
        path = self._doc_path(kind, rec["id"])
        if not replace and path.exists():
            raise RecordError(f"{kind} {rec['id']} is already stored")
        try:
            data = json.dumps(rec, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as e:
            raise ValueError(f"{kind} {rec['id']} cannot be stored as JSON: {e}") from None
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700)
            fsync_dir(path.parent.parent)
        write_atomic(path, data)
        entry = _summary(kind, rec)
        (self._trials if kind == "trial" else self._tests)[rec["id"]] = entry
        self._append_index(entry)

    def _read_doc(self, kind: str, rid: str) -> dict:
        path = self._doc_path(kind, rid)
        try:
            rec = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise RecordError(f"no {kind} {rid!r}") from None
        except (ValueError, UnicodeDecodeError):
            rec = None
        if not isinstance(rec, dict):
            where = path.name if self.readonly else move_aside(path).name
            self._note(f"{kind} document {path.name} is corrupt; kept as {where}", error=True)
            (self._trials if kind == "trial" else self._tests).pop(rid, None)
            raise RecordError(f"{kind} {rid} is damaged on disk (kept as {where})")
        return rec

    def _append_index(self, entry: dict) -> None:
        # no fsync: the document is already durable and the index is rebuilt from documents at open
        self._append_raw((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))

    def _load_index(self) -> None:
        path = self.dir / "index.jsonl"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = b""
        for line in raw.split(b"\n"):
            try:
                e = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                continue  # a line cut by a crash; the documents fill the gap below
            if isinstance(e, dict) and e.get("kind") in ("trial", "test") and isinstance(e.get("id"), str):
                (self._trials if e["kind"] == "trial" else self._tests)[e["id"]] = e
        if raw and not raw.endswith(b"\n") and not self.readonly:
            self._append_raw(b"\n")  # so the next line does not join a cut one
        self._reconcile("test", self._tests)
        self._reconcile("trial", self._trials)

    def _append_raw(self, data: bytes) -> None:
        if self._index_fd is None:
            self._index_fd = os.open(self.dir / "index.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        os.write(self._index_fd, data)

    def _reconcile(self, kind: str, entries: dict[str, dict]) -> None:
        """Make the index match the documents (which are the truth)."""
        root = self.dir / f"{kind}s"
        on_disk: set[str] = set()
        if root.is_dir():
            for month in os.scandir(root):
                if month.is_dir():
                    on_disk.update(n[:-5] for n in os.listdir(month.path)
                                   if n.endswith(".json") and RECORD_ID.fullmatch(n[:-5]))
        for rid in [r for r in entries if r not in on_disk]:
            del entries[rid]
            self._note(f"index entry for {kind} {rid} has no document; dropped it", error=True)
        for rid in sorted(on_disk - entries.keys()):
            try:
                rec = json.loads(self._doc_path(kind, rid).read_bytes())
            except (ValueError, UnicodeDecodeError):
                rec = None
            if not isinstance(rec, dict):
                continue  # reported when it is read
            entries[rid] = _summary(kind, rec)
            if not self.readonly:
                self._append_index(entries[rid])
        # keep time order: documents found late go where their ids sort
        ordered = sorted(entries.items(), key=lambda kv: kv[0])
        entries.clear()
        entries.update(ordered)

    def _select(self, entries: dict[str, dict], patient_id: str | None,
                since: date | datetime | None) -> list[dict]:
        cutoff = _as_utc(since) if since is not None else None
        out = []
        for e in entries.values():
            if patient_id is not None and e.get("patient_id") != patient_id:
                continue
            if cutoff is not None and (_parse_iso(e.get("started_at")) or _id_time(e["id"])) < cutoff:
                continue
            out.append(dict(e))
        return out

    def _writable(self) -> None:
        if self.readonly:
            raise RecordError(f"the records in {self.dir} are open read-only")

    def _stamp(self) -> str:
        return _iso(self._now())


class _Given:
    """Hands TinyDB an already-built storage (TinyDB wants a class to instantiate)."""

    def __init__(self, storage) -> None:
        self.storage = storage

    def __call__(self, *args, **kwargs):
        return self.storage


def check_patient_id(patient_id: Any) -> str:
    """A valid pseudonymous patient ID, or RecordError saying what one looks like."""
    if not isinstance(patient_id, str) or not PATIENT_ID.fullmatch(patient_id.strip()):
        raise RecordError(f"patient ID {patient_id!r} must be 1-32 letters, digits, '-', '_' or '.', "
                          "starting with a letter or digit (a pseudonym, never a name)")
    return patient_id.strip()


def _summary(kind: str, rec: dict) -> dict:
    e = {"kind": kind, "id": rec["id"]}
    for k in SUMMARY_KEYS:
        if k in rec:
            e[k] = rec[k]
    if kind == "test":
        e.setdefault("started_at", rec.get("created_at"))
    return e


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _parse_iso(s: Any) -> datetime | None:
    if not isinstance(s, str):
        return None
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _id_time(rid: str) -> datetime:
    return datetime.strptime(rid[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def _as_utc(since: date | datetime) -> datetime:
    """A date means local midnight; a naive datetime is local time."""
    if not isinstance(since, datetime):
        since = datetime.combine(since, dtime())
    if since.tzinfo is None:
        since = since.astimezone()  # local
    return since.astimezone(timezone.utc)


def iter_full_trials(store: RecordStore, summaries: Iterable[dict]) -> Iterable[dict]:
    """Full records for index summaries, skipping (and reporting) damaged documents."""
    for e in summaries:
        try:
            yield store.get_trial(e["id"])
        except RecordError as err:
            log.error("%s", err)
