"""The socket API's commands (docs/api.md): one handler per command, and the dispatch table.

``station.daemon.server`` parses and validates each request (``station.api``) and
calls ``CommandHandlers.handle``; the handler for ``req.cmd`` (``table``:
api command name -> method) does the work through the daemon's parts and
returns the reply's result, or raises ``ApiError``. Errors from the records
and the administration rules become API error codes here.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from station import api
from station.administration import AdministrationError, TestPlan
from station.api import ApiError, Request
from station.clinical_note import clinical_note
from station.daemon.calibration import Calibration
from station.daemon.guided_check import GuidedCheck
from station.daemon.records_thread import RecordsThread
from station.daemon.running_test import RunningTest
from station.daemon.server import Connection
from station.daemon.staff_auth import StaffAuth
from station.daemon.state_messages import StateSnapshot, patient_out
from station.daemon.trial_control import TrialControl
from station.protocols import PROTOCOLS, ProtocolError
from station.record_types import Patient, TestRecord
from station.records.storage import is_disk_full
from station.records.store import RecordError
from station.results import TEST_SCHEMA

if TYPE_CHECKING:  # imported only where [fhir] is configured
    from station.daemon.fhir_sender import FhirSender

log = logging.getLogger("station.daemon")  # the service's log name, whichever part says it

#: Most patients ``find_patients`` answers with (a reply is one line; a screen shows a few dozen).
MAX_FOUND = 500


class CommandHandlers:
    """Every API command. ``hello()``/``state(now=None)``: the daemon's hello and state snapshot;
    ``drain(now)``: take every record delivered so far (before a trial ends now)."""

    def __init__(self, *, records: RecordsThread, test: RunningTest, trials: TrialControl,
                 calibration: Calibration, selftest: GuidedCheck, clock: Callable[[], float],
                 hello: Callable[[], dict], state: Callable[[], StateSnapshot], drain: Callable[[float], None],
                 auth: StaffAuth, delivery: FhirSender | None = None) -> None:
        self.records = records
        self.auth = auth
        self.delivery = delivery  # None: [fhir] not configured
        self.running_test = test
        self.trials = trials
        self.calibration = calibration
        self.selftest = selftest
        self.clock = clock
        self._hello = hello
        self._state = state
        self._drain = drain
        self.table: dict[str, Callable[[dict], Awaitable[dict]]] = {
            "hello": self.hello, "ping": self.ping, "state": self.state, "subscribe": self.subscribe,
            "create_patient": self.create_patient, "update_patient": self.update_patient,
            "select_patient": self.select_patient,
            "clear_patient": self.clear_patient, "find_patients": self.find_patients,
            "start_trial": self.start_trial, "abort_trial": self.abort_trial, "finish_trial": self.finish_trial,
            "start_test": self.start_test, "abort_test": self.abort_test, "mark_invalid": self.mark_invalid,
            "results": self.results, "fhir_outbox": self.fhir_outbox, "fhir_resend": self.fhir_resend,
            "tare": self.tare, "calibrate": self.calibrate, "self_test": self.self_test,
        }
        self.session_commands = {"login": self._login, "logout": self._logout}  # these need the connection
        missing = set(api.COMMANDS) - set(self.table) - set(self.session_commands)
        assert not missing, f"API commands without a handler: {sorted(missing)}"

    async def handle(self, conn: Connection, req: Request) -> dict | None:
        """The server's handler: run ``req`` (already validated) if ``conn`` holds the role it needs;
        errors become ApiErrors."""
        self._authorize(conn, req)
        if req.cmd in self.session_commands:
            return await self.session_commands[req.cmd](conn, req.args)
        try:
            return await self.table[req.cmd](req.args)
        except RecordError as e:
            msg = str(e)
            code = api.CONFLICT if "already exists" in msg else (
                api.NOT_FOUND if msg.startswith("no ") else api.BAD_VALUE)
            raise ApiError(code, msg) from None
        except (AdministrationError, ProtocolError) as e:
            raise ApiError(api.BAD_VALUE, str(e)) from None
        except OSError as e:
            if is_disk_full(e):  # nothing was changed: every store write is all or nothing
                raise ApiError(api.DISK_FULL, "the station's storage is full: free some space (technician)") from None
            raise

    # --- connection and staff sessions -----------------------------------------

    def _authorize(self, conn: Connection, req: Request) -> None:
        role = api.COMMAND_ROLES[req.cmd]
        if req.cmd == "results":
            patient = self.running_test.patient
            selected = patient["patient_id"] if patient is not None else None
            if req.args.get("patient_id", selected) != selected or selected is None:
                role = "therapist"  # the patient screen reads the selected patient's results only
        if role is not None and role not in conn.roles:
            raise ApiError(api.UNAUTHORIZED, f"{req.cmd} needs the {role} PIN: send login first")

    async def _login(self, conn: Connection, a: dict) -> dict:
        await self.auth.login(a["role"], a["pin"])
        conn.roles.add(a["role"])
        log.info("%s logged in as %s", conn.name, a["role"])
        return {"roles": sorted(conn.roles)}

    async def _logout(self, conn: Connection, a: dict) -> dict:
        if "role" in a:
            conn.roles.discard(a["role"])
        else:
            conn.roles.clear()
        return {"roles": sorted(conn.roles)}

    async def hello(self, a: dict) -> dict:
        h = self._hello()
        return {k: h[k] for k in ("api", "server", "clock", "commands", "state")}

    async def ping(self, a: dict) -> dict:
        return {"t": self.clock()}

    async def state(self, a: dict) -> dict:
        return {"state": self._state()}

    async def subscribe(self, a: dict) -> dict:  # pragma: no cover - the server handles it
        return {}

    # --- patients -------------------------------------------------------------

    def _not_busy(self) -> None:
        if self.trials.live is not None:
            raise ApiError(api.BUSY, "a trial is running")

    async def create_patient(self, a: dict) -> dict:
        store = self.records.store
        assert store is not None
        async with self.records.lock:
            self._not_busy()
            p = await self.records.call(store.add_patient, a["patient_id"], a["birth_year"], a["sex"],
                                        a["dominant_hand"], a.get("notes"), a.get("birth_month"),
                                        a.get("condition"))
            await self.running_test.select(p)
        return {"patient": patient_out(p)}

    async def update_patient(self, a: dict) -> dict:
        """Correct a patient's details (docs/api.md); the selected patient is shown corrected at once."""
        store = self.records.store
        assert store is not None
        changes = {k: a[k] for k in ("birth_year", "birth_month", "sex", "dominant_hand", "condition", "notes")
                   if k in a}
        if "new_patient_id" in a:
            changes["patient_id"] = a["new_patient_id"]
        async with self.records.lock:
            self._not_busy()
            p = await self.records.call(store.correct_patient, a["patient_id"], changes, a.get("reason"))
            selected = self.running_test.patient
            if selected is not None and selected.get("patient_id") == a["patient_id"]:
                await self.running_test.select(p)
        return {"patient": patient_out(p)}

    async def select_patient(self, a: dict) -> dict:
        store = self.records.store
        assert store is not None
        async with self.records.lock:
            self._not_busy()
            p = store.get_patient(a["patient_id"])
            await self.running_test.select(p)
        return {"patient": patient_out(p)}

    async def clear_patient(self, a: dict) -> dict:
        async with self.records.lock:
            self._not_busy()
            await self.running_test.select(None)
        return {}

    async def find_patients(self, a: dict) -> dict:
        store = self.records.store
        assert store is not None
        async with self.records.lock:
            found = store.find_patients(a.get("query", ""), min(a.get("limit", MAX_FOUND), MAX_FOUND))
        return {"patients": [patient_out(p) for p in found]}

    # --- trials ---------------------------------------------------------------

    async def start_trial(self, a: dict) -> dict:
        await self.trials.idle()
        async with self.records.lock:
            s = self.running_test.test
            if s is not None and "protocol" not in a:
                slot = s.next_trial()
                if slot is None:
                    raise ApiError(api.BAD_VALUE, f"start_trial: test {s.test_id} has no trial left "
                                                  f"({s.status}); start a new test or say which 'protocol'")
                extra = sorted(set(a) & {"hand", "practice", "options"})
                if extra:
                    raise ApiError(api.BAD_VALUE, f"start_trial: the test decides {', '.join(extra)}; "
                                                  "for another trial say which 'protocol'")
                return {"trial": self.trials.arm(s.plan.protocol, dict(s.plan.options), slot.hand,
                                                 slot.practice, slot)}
            if "protocol" not in a:
                raise ApiError(api.MISSING_FIELD, "start_trial: no test is running, so say which 'protocol'")
            return {"trial": self.trials.arm(a["protocol"], a.get("options", {}), a.get("hand"),
                                             a.get("practice", False))}

    async def abort_trial(self, a: dict) -> dict:
        if self.trials.live is None:
            raise ApiError(api.NO_TRIAL, "no trial is running")
        now = self.clock()
        self._drain(now)
        return {"trial": await self.trials.end(now, aborted=a.get("reason") or "by the therapist")}

    async def finish_trial(self, a: dict) -> dict:
        if self.trials.live is None:
            raise ApiError(api.NO_TRIAL, "no trial is running")
        now = self.clock()
        self._drain(now)
        return {"trial": await self.trials.end(now)}

    # --- tests ----------------------------------------------------------------

    async def start_test(self, a: dict) -> dict:
        await self.trials.idle()
        async with self.records.lock:
            if self.running_test.patient is None:
                raise ApiError(api.NO_PATIENT, "select or create a patient first")
            if self.trials.live is not None:
                raise ApiError(api.BUSY, "a trial is running; abort it first")
            if a["protocol"] not in PROTOCOLS:
                raise ApiError(api.BAD_VALUE, f"unknown protocol {a['protocol']!r} (known: {', '.join(PROTOCOLS)})")
            overrides: dict[str, Any] = {"options": a.get("options", {})}
            for key in ("practice", "trials_per_hand"):  # else the protocol's default plan
                if key in a:
                    overrides[key] = a[key]
            await self.running_test.start(TestPlan.default(a["protocol"], **overrides))
        self.running_test.changed()
        return {"test": self.running_test.snapshot()}

    async def abort_test(self, a: dict) -> dict:
        if self.running_test.test is None:
            raise ApiError(api.NOT_FOUND, "no test is running")
        if self.trials.live is not None:
            now = self.clock()
            self._drain(now)
            await self.trials.end(now, aborted=a.get("reason") or "test aborted")
        await self.trials.idle()
        async with self.records.lock:
            if self.running_test.test is None:
                raise ApiError(api.NOT_FOUND, "no test is running")
            snap = await self.running_test.close(a.get("reason") or "ended by the therapist")
        return {"test": snap}

    async def mark_invalid(self, a: dict) -> dict:
        store = self.records.store
        assert store is not None
        await self.trials.idle()
        async with self.records.lock:
            trial = store.get_trial(a["trial_id"])
            rec = await self.running_test.mark_invalid(trial, a["reason"], bool(a.get("repeat")))
        self.running_test.changed()
        return {"trial": rec}

    # --- results ----------------------------------------------------------------

    async def fhir_outbox(self, a: dict) -> dict:
        """The FHIR outbox: counts per state and every test not yet delivered, with why."""
        if self.delivery is None:
            return {"configured": False}
        return {"configured": True, **await asyncio.to_thread(self.delivery.status)}

    async def fhir_resend(self, a: dict) -> dict:
        """Send a test the server refused again (after the clinic fixed what it refused)."""
        if self.delivery is None:
            raise ApiError(api.BAD_VALUE, "fhir_resend: no FHIR server is configured ([fhir] base_url)")
        try:
            entry = await self.delivery.requeue(a["test_id"])
        except KeyError:
            raise ApiError(api.NOT_FOUND, f"fhir_resend: test {a['test_id']} is not in the outbox") from None
        return {"test_id": entry["test_id"], "state": entry["state"]}

    async def results(self, a: dict) -> dict:
        selected = self.running_test.patient
        pid = a.get("patient_id") or (selected.get("patient_id") if selected is not None else None)
        if pid is None:
            raise ApiError(api.NO_PATIENT, "results: say which 'patient_id' (no patient is selected)")
        async with self.records.lock:  # reads many files: on the records thread, off the loop
            return await self.records.call(self._results, pid, a.get("limit"))

    def _results(self, pid: str, limit: int | None) -> dict:
        store = self.records.store
        assert store is not None
        patient = store.get_patient(pid)
        summaries = list(reversed(store.trials(patient_id=pid)))
        if limit is not None:
            summaries = summaries[:max(0, limit)]
        trials = []
        for s in summaries:
            try:
                trials.append(store.get_trial(s["trial_id"]))
            except RecordError as e:
                log.error("%s", e)
        tests = list(reversed(store.tests(patient_id=pid)))
        for t in tests:
            t["note"] = _note(t, patient)
        return {"patient": patient_out(patient), "tests": tests, "trials": trials}

    # --- the technician's ---------------------------------------------------------

    async def tare(self, a: dict) -> dict:
        return await self.calibration.tare(a["cell"])

    async def calibrate(self, a: dict) -> dict:
        return await self.calibration.calibrate(a["cell"], a["mass_g"])

    async def self_test(self, a: dict) -> dict:
        step = a.get("step")
        if step is None:
            return {"steps": self.selftest.steps()}
        return await self.selftest.run(step)


def _note(test: TestRecord, patient: Patient | None) -> str | None:
    """The clinical note of a stored ``station.test/1`` record (None for an older record shape)."""
    if test.get("schema") != TEST_SCHEMA or not isinstance(test.get("summary"), dict):
        return None
    try:
        return clinical_note(test, patient)
    except (KeyError, TypeError, ValueError) as e:
        log.error("no clinical note for test %s: %s", test.get("test_id"), e)
        return None
