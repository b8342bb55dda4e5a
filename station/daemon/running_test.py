"""The selected patient and the test being given to them (``station.administration`` glue).

A test is a ``TestSession`` (which trial is next, repeats, the summary);
here it is stored as a ``station.test/1`` record (``station.results``)
scored against the norms and the patient's earlier tests after every change,
takes each finished trial's result (an aborted or interrupted trial counts
as incomplete: invalid, and repeated), takes the therapist's invalid marks
(also on an earlier test, whose summary is then scored again), and after a
restart resumes (``resume``): a power cut mid-test loses nothing and the
therapist carries on. Every store call runs on the records thread; the
caller holds its lock.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from station import api
from station.administration import AdministrationError, TestPlan, TestSession, TrialSlot
from station.api import ApiError
from station.daemon import state_messages
from station.daemon.records_thread import RecordsThread
from station.daemon.state_messages import RunningTestSnapshot
from station.norms import NormSet
from station.record_types import Patient, StoredTrial, SummaryRecord, TestRecord
from station.records.store import RecordError
from station.results import TEST_SCHEMA, test_record

if TYPE_CHECKING:  # imported only where [fhir] is configured (fhir.resources is slow to import)
    from station.daemon.fhir_sender import FhirSender

log = logging.getLogger("station.daemon")  # the service's log name, whichever part says it


class RunningTest:
    """The selected ``patient`` and the running ``test`` (None: none), with its scored ``summary``.

    ``changed()`` is called when clients should hear the new state.
    """

    def __init__(self, *, records: RecordsThread, norms: NormSet, changed: Callable[[], None],
                 delivery: FhirSender | None = None) -> None:
        self.records = records
        self.delivery = delivery  # [fhir] configured: a finished test goes to its outbox
        self.norms = norms
        self.changed = changed
        self.patient: Patient | None = None
        self.test: TestSession | None = None
        self.summary: SummaryRecord | None = None  # the running test's station.summary/1
        self._history: list[TestRecord] = []  # the patient's earlier tests (for the running test's progress)

    def side(self, hand: str | None) -> str | None:
        """The side (left, right) a hand (dominant, non-dominant, left, right, None) is for the patient."""
        dom = self.patient.get("dominant_hand") if self.patient is not None else None
        if hand in ("left", "right") or hand is None:
            return hand if hand is not None else dom
        if dom is None:
            return None
        return dom if hand == "dominant" else ("left" if dom == "right" else "right")

    def snapshot(self) -> RunningTestSnapshot | None:
        """The running test as the ``state`` message shows it."""
        return state_messages.test_snapshot(self.test, self.summary, self.side)

    async def select(self, p: Patient | None) -> None:
        """Select a patient; another patient's test ends."""
        if self.test is not None and (p is None or p["patient_id"] != self.test.patient_id):
            await self.close("the patient was changed")
        self.patient = p
        self.changed()

    async def start(self, plan: TestPlan) -> None:
        """Start a test of the selected patient (the one running ends)."""
        store = self.records.store
        assert store is not None and self.patient is not None
        if self.test is not None:
            await self.close("a new test was started")
        pid = self.patient["patient_id"]
        session = TestSession(plan, patient_id=pid, date=date.today().isoformat())
        session.test_id = await self.records.call(
            store.create_test, {"schema": TEST_SCHEMA, "patient_id": pid, "protocol": plan.protocol,
                                "date": session.date, "status": session.status})
        self._history = [t for t in await self.records.call(store.tests, pid)
                         if t.get("schema") == TEST_SCHEMA and t.get("test_id") != session.test_id]
        self.test = session
        await self.save()

    async def close(self, reason: str) -> RunningTestSnapshot:
        """End the running test; a finished test stays complete. Returns its last snapshot."""
        s = self.test
        assert s is not None
        s.end(reason)
        await self.save()
        snap = self.snapshot()
        assert snap is not None  # the test was still set
        self.test = None
        self.summary = None
        self.changed()
        return snap

    async def save(self) -> None:
        """Store the running test's record (plan, session, summary scored against the norms)."""
        s = self.test
        assert s is not None and self.records.store is not None
        rec = test_record(s, patient=self.patient, norms=self.norms, history=self._history)
        self.summary = rec["summary"]
        await self.records.call(self.records.store.update_test, s.test_id, rec)
        if self.delivery is not None and s.status != "in_progress":
            await self.delivery.finished(rec, self.patient)

    async def take(self, s: TestSession, slot: TrialSlot, record: StoredTrial, trial_id: int) -> None:
        """The test takes a finished trial's result (an aborted or interrupted trial counts as
        incomplete: invalid, and repeated as the administration rules say)."""
        if s.status != "in_progress":
            return
        if s.next_trial() != slot:
            if slot not in s.queue:
                return
            s.queue.remove(slot)  # a repeat was queued during the trial: this result is still this slot's
            s.queue.insert(0, slot)
        stopped = record["status"] in ("aborted", "interrupted")
        result = dict(record.get("result") or {})
        if stopped:
            result["status"] = "incomplete"
        s.record(result, trial_id=trial_id)
        if stopped:
            s.trial(trial_id)["invalid_reason"] = (record.get("invalid_reason")
                                                   or (record.get("invalid") or {}).get("reason"))
        await self.save()

    async def mark_invalid(self, trial: StoredTrial, reason: str, repeat: bool) -> StoredTrial:
        """The therapist marks a stored trial invalid; its test (running or earlier) leaves it out.
        Returns the trial's record; ApiError if it already is invalid."""
        store = self.records.store
        assert store is not None
        tid = trial["trial_id"]
        s = self.test if self.test is not None and trial.get("test_id") == self.test.test_id else None
        if s is not None:  # a trial of the running test
            entry = next((e for e in s.trials if e["trial_id"] == tid), None)
            if entry is not None and not entry["valid"]:
                raise ApiError(api.BAD_VALUE, f"trial {tid} is already invalid ({entry['invalid_reason']})")
        rec = await self.records.call(store.mark_trial_invalid, tid, reason)
        if s is not None and any(e["trial_id"] == tid for e in s.trials):
            s.mark_invalid(tid, reason, repeat=repeat)
            await self.save()
        elif (test_id := trial.get("test_id")) is not None and s is None:
            await self._rescore_stored_test(test_id, tid, reason)
        return rec

    async def _rescore_stored_test(self, test_id: int | str, trial_id: int, reason: str) -> None:
        """A trial of an earlier test was marked invalid: that test's summary leaves it out."""
        store = self.records.store
        assert store is not None
        test = store.get_test(test_id)
        if test.get("schema") != TEST_SCHEMA or not isinstance(test.get("session"), dict):
            return  # an older record shape: the trial itself carries the mark
        session = TestSession.from_dict(test["session"])
        if not any(e["trial_id"] == trial_id and e["valid"] for e in session.trials):
            return
        session.mark_invalid(trial_id, reason, repeat=False)
        patient = store.get_patient(test["patient_id"])
        history = [t for t in store.tests(test["patient_id"])
                   if t.get("schema") == TEST_SCHEMA and t.get("test_id") != test_id]
        rec = test_record(session, patient=patient, norms=self.norms, history=history)
        await self.records.call(store.update_test, test_id, rec)

    async def resume(self) -> None:
        """At start: the test that was being given when the daemon stopped (a crash, a power cut,
        a restart) carries on, its patient selected, as if nothing had happened; trials it stored
        that the test had not yet taken (the one interrupted, or one saved just before the stop)
        are taken now, so an interrupted trial is invalid and run again next. A test left from an
        earlier day is ended instead (a new visit starts a new test)."""
        store = self.records.store
        assert store is not None
        open_tests = [t for t in await self.records.call(store.tests, None, None, "in_progress")
                      if t.get("schema") == TEST_SCHEMA and isinstance(t.get("session"), dict)]
        today = date.today().isoformat()
        for k, stored in enumerate(open_tests):
            try:
                session = TestSession.from_dict(stored["session"])
                patient = store.get_patient(stored["patient_id"])
            except (AdministrationError, RecordError) as e:
                log.error("test %s cannot be resumed: %s", stored.get("test_id"), e)
                continue
            session.test_id = stored["test_id"]
            self.patient, self.test = patient, session
            self._history = [t for t in await self.records.call(store.tests, patient["patient_id"])
                             if t.get("schema") == TEST_SCHEMA and t.get("test_id") != session.test_id]
            self.summary = stored.get("summary")
            taken = {e["trial_id"] for e in session.trials}
            for summary in store.trials(test_id=session.test_id):
                if summary["trial_id"] in taken:
                    continue
                rec = store.get_trial(summary["trial_id"])
                try:
                    slot = TrialSlot.from_dict(rec)
                except AdministrationError:
                    continue
                await self.take(session, slot, rec, rec["trial_id"])
            newest = k == len(open_tests) - 1
            if newest and session.date == today and session.status == "in_progress":
                nxt = session.next_trial()
                log.warning("resumed test %s of patient %s (%s): %d trial(s) done, next %s", session.test_id,
                            patient["patient_id"], session.plan.protocol, len(session.trials),
                            f"{nxt.hand} hand trial {nxt.index}" if nxt else "none")
                await self.save()
                self.changed()
                return
            if session.status == "in_progress":
                await self.close("the station stopped during the test")
                log.warning("test %s of patient %s was left in progress on %s: ended", session.test_id,
                            patient["patient_id"], session.date)
            else:
                await self.save()  # the last trial it took completed it
                self.test = None
        self.patient, self.test, self._history, self.summary = None, None, [], None
