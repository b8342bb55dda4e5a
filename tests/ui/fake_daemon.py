"""A stand-in for ``station daemon`` with scripted hardware, built from the daemon's own parts.

It runs its own asyncio loop in a thread and serves docs/api.md over a real
Unix socket, so a Textual app under test (on the test's loop, or in the
snapshot plugin's) talks to it exactly as to the real daemon. What it cannot
drift on, it takes from the real code:

* the protocol: one handler per command of ``station.api.COMMANDS`` (checked
  when it starts), requests parsed and validated by ``api.parse_request``,
  every message built by ``station.api``'s constructors;
* the ``state`` snapshot: composed by ``station.daemon.state_messages`` (the
  station from the shipped config, the board, the armed trial, the test);
* tests: ``station.administration``'s ``TestPlan``/``TestSession`` (which
  trial is next, repeats) and ``station.results``' trial and summary records;
* records: a real ``RecordStore`` in a directory next to the socket.

Only the hardware is scripted by the test: ``press_start()``, ``peg_in(hole)``,
``dish(n)``, ``advance(s)`` (the daemon's clock), ``finish(total_s)`` (the
protocol's verdict). ``stop()`` and ``start()`` make the daemon go away and
come back on the same path.

Staff sessions as the daemon's: ``login`` with a PIN of ``pins`` (plain, role ->
PIN; a role missing is locked) authorises that connection for the role, and
each command needs the role ``api.COMMAND_ROLES`` says.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station import api
from station.administration import AdministrationError, TestPlan, TestSession, TrialSlot
from station.clinical_note import clinical_note
from station.config import load_config
from station.daemon import state_messages
from station.protocols import PROTOCOLS
from station.records.store import RecordError, RecordStore
from station.results import TEST_SCHEMA, test_record, trial_record

TEST_DATE = "2024-06-10"


@dataclass
class _Count:
    count: int


@dataclass
class _ScriptedBoard:
    """What ``state_messages.board_snapshot`` reads of a pipeline: debounced holes and cell counts."""

    occupied: set[int] = field(default_factory=set)
    cells: dict[str, _Count] = field(default_factory=dict)

    def switch_closed(self, which: int | str) -> bool:
        return which in self.occupied


@dataclass
class _ScriptedProtocol:
    """What ``state_messages.trial_snapshot`` reads of a protocol: options, started, elapsed."""

    opts: dict
    start_t: float | None = None

    @property
    def started(self) -> bool:
        return self.start_t is not None

    def elapsed(self, now: float) -> float:
        return 0.0 if self.start_t is None else now - self.start_t


@dataclass
class _Live:
    """The armed trial in the shape ``state_messages.trial_snapshot`` reads (the daemon's LiveTrial)."""

    trial: Any
    journal: Any
    meta: dict
    armed_t: float
    slot: TrialSlot | None
    events: list[dict] = field(default_factory=list)


@dataclass
class _Ns:
    """A bare attribute holder (``live.trial.protocol``, ``live.journal.trial_id``)."""

    protocol: Any = None
    pipeline: Any = None
    trial_id: Any = None


#: The staff PINs the fake accepts unless told others (tests.ui.pilot_support uses these).
STAFF_PINS = {"therapist": "2468", "technician": "1357"}


class FakeDaemon:
    """The documented protocol with scripted hardware. Thread-safe entry points."""

    def __init__(self, path: str | os.PathLike, *, pins: dict[str, str] | None = None) -> None:
        self.path = os.fspath(path)
        self.pins = dict(STAFF_PINS if pins is None else pins)
        self.locked_for_s: float | None = None  # set: every login is refused as the daemon's lockout does
        self.config = load_config(None)
        self.board_spec = self.config.board()
        self.now = 1000.0  # the daemon's monotonic clock; moved by advance()
        self.wall0 = 1718000000.0
        self.store = RecordStore(Path(self.path).parent / "fake-daemon-records")
        self.patient: dict | None = None
        self.session: TestSession | None = None
        self.summary: dict | None = None
        self.live: _Live | None = None
        self.board = _ScriptedBoard(cells={n: _Count(c.items) for n, c in self.config.cells.items()})
        self.requests: list[tuple[str, dict]] = []
        self.table: dict[str, Callable[[dict], dict]] = {
            name: getattr(self, f"_cmd_{name}") for name in api.COMMANDS if hasattr(self, f"_cmd_{name}")}
        missing = set(api.COMMANDS) - set(self.table) - {"subscribe", "login", "logout"}  # the server's own
        extra = {n[5:] for n in dir(self) if n.startswith("_cmd_")} - set(api.COMMANDS)
        assert not missing and not extra, f"the fake daemon lacks {sorted(missing)} / has {sorted(extra)}"
        self._conns: dict[asyncio.StreamWriter, set[str]] = {}
        self._serving: set[asyncio.Task] = set()  # each connection's _serve
        self._server: asyncio.base_events.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-daemon", daemon=True)
        self._thread.start()

    # --- lifecycle (thread-safe) -------------------------------------------------

    def start(self) -> FakeDaemon:
        self._call(self._start())
        return self

    def stop(self, reason: str = "shutdown") -> None:
        """Say bye and close every connection, as the daemon does when it stops."""
        self._call(self._stop(reason))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        with contextlib.suppress(Exception):  # end every connection's task on the loop, not at garbage collection
            self._call(self._end_serving())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()
        self.store.close()

    def __enter__(self) -> FakeDaemon:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the daemon's loop and return its result."""
        async def wrap():
            return fn()
        return self._call(wrap())

    def _call(self, coro) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._serve, self.path, limit=api.MAX_REQUEST_LINE * 2)

    async def _end_serving(self) -> None:
        tasks = list(self._serving)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _stop(self, reason: str) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._conns):
            with contextlib.suppress(Exception):
                w.write(api.encode(api.bye_message(reason)))
                # Half-close and let _serve read on to the client's end: closing with a request of
                # the client's unread resets the connection, and the client's reader then drops
                # the bye it had not read yet (the UI would say "lost", not "restarting").
                w.write_eof()
        self._conns.clear()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    # --- scripted hardware (thread-safe) -------------------------------------------

    def setup(self, *, patient: dict | None = None, test: str | None = None, practice: bool = False,
              history: list[dict] | None = None, options: dict | None = None,
              trials_per_hand: int | None = None) -> None:
        """Put a patient (selected), a running test and saved trials in place before a client connects."""
        def do():
            if patient is not None:
                self.store.add_patient(patient["patient_id"], patient["birth_year"], patient["sex"],
                                       patient["dominant_hand"], patient.get("notes"))
                self.patient = self.store.get_patient(patient["patient_id"])
            for rec in history or []:
                self.store.finish_trial(dict(rec))
            if test is not None:
                args: dict[str, Any] = {"protocol": test, "practice": practice, "options": options or {}}
                if trials_per_hand is not None:
                    args["trials_per_hand"] = trials_per_hand
                self._cmd_start_test(args)
        self.run(do)

    def press_start(self) -> None:
        """The start button: an event, and between trials the test's next trial is armed."""
        def do():
            self._event({"t": self.now, "kind": "button", "name": "start"})
            if self.live is None and self.patient and self.session and self.session.next_trial():
                self._arm_next(started_by="button")
        self.run(do)

    def peg_in(self, hole: int) -> None:
        def do():
            self.board.occupied.add(hole)
            self._event({"t": self.now, "kind": "peg_in", "hole": hole})
        self.run(do)

    def peg_out(self, hole: int) -> None:
        def do():
            self.board.occupied.discard(hole)
            self._event({"t": self.now, "kind": "peg_out", "hole": hole})
        self.run(do)

    def dish(self, count: int) -> None:
        """The dish's count changes; a 9HPT's clock starts at the first peg picked up."""
        def do():
            before = self.board.cells["dish"].count
            self.board.cells["dish"].count = count
            live = self.live
            if live is not None and not live.trial.protocol.started and count < before:
                live.trial.protocol.start_t = self.now
            self._event({"t": self.now, "kind": "dish", "count": count})
            self._push_state()
        self.run(do)

    def tray(self, count: int) -> None:
        def do():
            self.board.cells["tray"].count = count
            self._event({"t": self.now, "kind": "tray", "count": count})
        self.run(do)

    def advance(self, seconds: float) -> None:
        """Time passes; while a trial is armed the state is pushed (as twice a second)."""
        def do():
            self.now += seconds
            if self.live is not None:
                self._push_state()
        self.run(do)

    def finish(self, total_s: float, status: str = "complete") -> dict:
        """The protocol ends the armed trial: it is saved, then ``trial_finished`` is pushed."""
        return self.run(lambda: self._finish({"status": status, "total_s": total_s}))

    def push_sensors(self, snapshot: dict) -> None:
        """One ``sensors`` message (``t``, ``switches``, ``cells``) to subscribed connections."""
        self.run(lambda: self._broadcast(api.sensors_message({"t": self.now, **snapshot})))

    def fault(self, kind: str, source: str, detail: str) -> None:
        f = {"t": self.now, "kind": kind, "source": source, "detail": detail}
        self.run(lambda: self._broadcast(api.fault_message(f, self._run_id())))

    def sent(self, cmd: str) -> list[dict]:
        """The arguments of every ``cmd`` request the stand-in received, in order."""
        return [a for c, a in list(self.requests) if c == cmd]

    def subscribers(self, topic: str) -> int:
        return self.run(lambda: sum(topic in t for t in self._conns.values()))

    # --- the snapshot (station.daemon.state_messages) ----------------------------------

    def clock(self) -> dict:
        return {"monotonic": self.now, "wall": self.wall0 + self.now}

    def state(self) -> dict:
        return copy.deepcopy({
            "station": {**state_messages.station_snapshot(self.config, self.config.cells, self.board_spec, True),
                        "staff_pins": {r: r in self.pins for r in api.ROLES}, "storage": "ok"},
            "patient": state_messages.patient_out(self.patient),
            "test": state_messages.test_snapshot(self.session, self.summary, self._side),
            "trial": state_messages.trial_snapshot(self.live, self.now),  # type: ignore[arg-type]
            "board": state_messages.board_snapshot(self.board_spec, self.board),  # type: ignore[arg-type]
            "clock": self.clock()})

    def _side(self, hand: str | None) -> str | None:
        dom = (self.patient or {}).get("dominant_hand")
        if hand in ("left", "right") or hand is None:
            return hand if hand is not None else dom
        return dom if hand == "dominant" else ("left" if dom == "right" else "right")

    # --- connections --------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        self._conns[writer] = set(api.DEFAULT_TOPICS)
        roles: set[str] = set()
        writer.write(api.encode(api.hello(self.state(), self.clock())))
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                rid = None
                try:
                    req = api.parse_request(line)
                    rid = req.id
                    self.requests.append((req.cmd, req.args))
                    self._authorize(roles, req)
                    if req.cmd == "subscribe":
                        self._conns[writer] = set(req.args["topics"])
                        result = {"topics": sorted(self._conns[writer])}
                    elif req.cmd in ("login", "logout"):
                        result = self._session(roles, req.cmd, req.args)
                    else:
                        result = self._handle(req)
                    msg = api.reply(req.id, result)
                except api.ApiError as e:
                    msg = api.error_reply(rid if e.request_id is None else e.request_id, e)
                if writer in self._conns:
                    writer.write(api.encode(msg))
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._serving.discard(task)
            self._conns.pop(writer, None)
            writer.close()

    def _handle(self, req: api.Request) -> dict:
        try:
            return self.table[req.cmd](req.args)
        except RecordError as e:  # as station.daemon.handlers maps them
            msg = str(e)
            code = api.CONFLICT if "already exists" in msg else (api.NOT_FOUND if msg.startswith("no ") else
                                                                 api.BAD_VALUE)
            raise api.ApiError(code, msg, req.id) from None
        except AdministrationError as e:
            raise api.ApiError(api.BAD_VALUE, str(e), req.id) from None

    def _authorize(self, roles: set[str], req: api.Request) -> None:
        role = api.COMMAND_ROLES[req.cmd]
        selected = (self.patient or {}).get("patient_id")
        if req.cmd == "results" and (selected is None or req.args.get("patient_id", selected) != selected):
            role = "therapist"
        if role is not None and role not in roles:
            raise api.ApiError(api.UNAUTHORIZED, f"{req.cmd} needs the {role} PIN: send login first", req.id)

    def _session(self, roles: set[str], cmd: str, a: dict) -> dict:
        if cmd == "logout":
            roles.difference_update([a["role"]] if "role" in a else list(roles))
        elif self.locked_for_s is not None:
            raise api.ApiError(api.LOCKED_OUT, f"too many wrong PINs: try again in {self.locked_for_s:g} s",
                               retry_after_s=self.locked_for_s)
        elif a["role"] not in self.pins:
            raise api.ApiError(api.NO_PIN, f"no {a['role']} PIN is set")
        elif a["pin"] != self.pins[a["role"]]:
            raise api.ApiError(api.WRONG_PIN, "wrong PIN", retry_after_s=1.0)
        else:
            roles.add(a["role"])
        return {"roles": sorted(roles)}

    def _broadcast(self, msg: dict) -> None:
        topic = api.MESSAGE_TOPIC.get(msg["type"])
        data = api.encode(msg)
        for w, topics in list(self._conns.items()):
            if topic is None or topic in topics:
                w.write(data)

    def _push_state(self) -> None:
        self._broadcast(api.state_message(self.state()))

    def _event(self, ev: dict) -> None:
        if self.live is not None:
            self.live.events.append(ev)
        self._broadcast(api.event_message(ev, self._run_id()))

    def _run_id(self) -> Any:
        return None if self.live is None else self.live.journal.trial_id

    def _not_busy(self) -> None:
        if self.live is not None:
            raise api.ApiError(api.BUSY, "a trial is running")

    # --- commands (docs/api.md, "Commands"; one per api.COMMANDS) ---------------------------

    def _cmd_hello(self, a: dict) -> dict:
        h = api.hello(self.state(), self.clock())
        return {k: h[k] for k in ("api", "server", "clock", "commands", "state")}

    def _cmd_ping(self, a: dict) -> dict:
        return {"t": self.now}

    def _cmd_state(self, a: dict) -> dict:
        return {"state": self.state()}

    def _cmd_create_patient(self, a: dict) -> dict:
        self._not_busy()
        p = self.store.add_patient(a["patient_id"], a["birth_year"], a["sex"], a["dominant_hand"], a.get("notes"))
        self._select(p)
        return {"patient": state_messages.patient_out(p)}

    def _cmd_select_patient(self, a: dict) -> dict:
        self._not_busy()
        p = self.store.get_patient(a["patient_id"])
        self._select(p)
        return {"patient": state_messages.patient_out(p)}

    def _cmd_update_patient(self, a: dict) -> dict:
        self._not_busy()
        changes = {k: a[k] for k in ("birth_year", "birth_month", "sex", "dominant_hand", "condition", "notes")
                   if k in a}
        if "new_patient_id" in a:
            changes["patient_id"] = a["new_patient_id"]
        p = self.store.correct_patient(a["patient_id"], changes, a.get("reason"))
        if self.patient is not None and self.patient["patient_id"] == a["patient_id"]:
            self.patient = p
            self._push_state()
        return {"patient": state_messages.patient_out(p)}

    def _select(self, p: dict | None) -> None:
        if self.session is not None and (p is None or p["patient_id"] != self.session.patient_id):
            self._close_test("the patient was changed")
        self.patient = p
        self._push_state()

    def _cmd_fhir_outbox(self, a: dict) -> dict:
        return {"configured": False}  # as the daemon without [fhir]

    def _cmd_fhir_resend(self, a: dict) -> dict:
        raise api.ApiError(api.BAD_VALUE, "fhir_resend: no FHIR server is configured ([fhir] base_url)")

    def _cmd_clear_patient(self, a: dict) -> dict:
        self._not_busy()
        self._select(None)
        return {}

    def _cmd_find_patients(self, a: dict) -> dict:
        return {"patients": [state_messages.patient_out(p)
                             for p in self.store.find_patients(a.get("query", ""), a.get("limit"))]}

    def _cmd_start_test(self, a: dict) -> dict:
        if self.patient is None:
            raise api.ApiError(api.NO_PATIENT, "select or create a patient first")
        self._not_busy()
        if a["protocol"] not in PROTOCOLS:
            raise api.ApiError(api.BAD_VALUE, f"unknown protocol {a['protocol']!r} (known: {', '.join(PROTOCOLS)})")
        overrides: dict[str, Any] = {"options": a.get("options", {}), "practice": a.get("practice", False)}
        if "trials_per_hand" in a:
            overrides["trials_per_hand"] = a["trials_per_hand"]
        plan = TestPlan.default(a["protocol"], **overrides)
        if self.session is not None:
            self._close_test("a new test was started")
        pid = self.patient["patient_id"]
        session = TestSession(plan, patient_id=pid, date=TEST_DATE)
        session.test_id = self.store.create_test({"schema": TEST_SCHEMA, "patient_id": pid,  # type: ignore[assignment]
                                                  "protocol": plan.protocol, "date": TEST_DATE,
                                                  "status": session.status})
        self.session, self.summary = session, None
        self._save_test()
        self._push_state()
        return {"test": state_messages.test_snapshot(self.session, self.summary, self._side)}

    def _cmd_start_trial(self, a: dict) -> dict:
        if self.patient is None:
            raise api.ApiError(api.NO_PATIENT, "select or create a patient first")
        self._not_busy()
        if "protocol" not in a:
            if self.session is None or self.session.next_trial() is None:
                raise api.ApiError(api.MISSING_FIELD, "start_trial: no test is running, so say which 'protocol'")
            return {"trial": self._arm_next(started_by="command")}
        if a["protocol"] not in PROTOCOLS:
            raise api.ApiError(api.BAD_VALUE, f"unknown protocol {a['protocol']!r}")
        return {"trial": self._arm(a["protocol"], a.get("options", {}), a.get("hand"), a.get("practice", False),
                                   None, "command")}

    def _cmd_abort_trial(self, a: dict) -> dict:
        if self.live is None:
            raise api.ApiError(api.NO_TRIAL, "no trial is running")
        return {"trial": self._finish({"status": "incomplete", "total_s": None},
                                      aborted=a.get("reason") or "by the therapist")}

    def _cmd_finish_trial(self, a: dict) -> dict:
        if self.live is None:
            raise api.ApiError(api.NO_TRIAL, "no trial is running")
        return {"trial": self._finish({"status": "incomplete", "total_s": None})}

    def _cmd_abort_test(self, a: dict) -> dict:
        if self.session is None:
            raise api.ApiError(api.NOT_FOUND, "no test is running")
        if self.live is not None:
            self._finish({"status": "incomplete", "total_s": None}, aborted=a.get("reason") or "test aborted")
        return {"test": self._close_test(a.get("reason") or "ended by the therapist")}

    def _cmd_mark_invalid(self, a: dict) -> dict:
        rec = self.store.mark_trial_invalid(a["trial_id"], a["reason"])
        s = self.session
        if s is not None and rec.get("test_id") == s.test_id:
            s.mark_invalid(rec["trial_id"], a["reason"], bool(a.get("repeat")))
            self._save_test()
            self._push_state()
        return {"trial": rec}

    def _cmd_results(self, a: dict) -> dict:
        pid = a.get("patient_id") or (self.patient or {}).get("patient_id")
        if pid is None:
            raise api.ApiError(api.NO_PATIENT, "results: say which 'patient_id' (no patient is selected)")
        patient = self.store.get_patient(pid)
        summaries = list(reversed(self.store.trials(patient_id=pid)))
        if a.get("limit") is not None:
            summaries = summaries[:max(0, a["limit"])]
        tests = list(reversed(self.store.tests(patient_id=pid)))
        for t in tests:
            t["note"] = clinical_note(t, patient) if isinstance(t.get("summary"), dict) else None
        return {"patient": state_messages.patient_out(patient), "tests": tests,
                "trials": [self.store.get_trial(s["trial_id"]) for s in summaries]}

    def _cmd_tare(self, a: dict) -> dict:
        self._cell(a["cell"])
        return {"cell": a["cell"], "offset": 52000.0, "saved_to": None}

    def _cmd_calibrate(self, a: dict) -> dict:
        self._cell(a["cell"])
        if a["mass_g"] <= 0:
            raise api.ApiError(api.BAD_VALUE, "calibrate: mass_g must be positive")
        return {"cell": a["cell"], "counts_per_gram": 420.0, "saved_to": None}

    def _cmd_self_test(self, a: dict) -> dict:
        steps = ["switches", *(f"cell:{n}" for n in self.config.cells), *(f"button:{b}" for b in
                                                                          self.board_spec.buttons)]
        if "step" not in a:
            return {"steps": steps}
        if a["step"] not in steps:
            raise api.ApiError(api.BAD_VALUE, f"unknown step {a['step']!r}")
        return {"step": a["step"], "ok": True, "detail": "ok", "data": {}}

    def _cell(self, name: str) -> None:
        self._not_busy()
        if name not in self.config.cells:
            raise api.ApiError(api.BAD_VALUE, f"unknown cell {name!r}")

    # --- tests and trials ---------------------------------------------------------------

    def _save_test(self) -> None:
        s = self.session
        assert s is not None
        history = [t for t in self.store.tests(s.patient_id)
                   if t.get("schema") == TEST_SCHEMA and t.get("test_id") != s.test_id]
        rec = test_record(s, patient=self.patient, history=history)
        self.summary = rec["summary"]
        self.store.update_test(s.test_id, rec)  # type: ignore[arg-type]

    def _close_test(self, reason: str) -> dict | None:
        s = self.session
        assert s is not None
        s.end(reason)
        self._save_test()
        snap = state_messages.test_snapshot(s, self.summary, self._side)
        self.session, self.summary = None, None
        self._push_state()
        return snap

    def _arm_next(self, *, started_by: str) -> dict:
        s = self.session
        assert s is not None
        slot = s.next_trial()
        assert slot is not None
        return self._arm(s.plan.protocol, dict(s.plan.options), slot.hand, slot.practice, slot, started_by)

    def _arm(self, protocol: str, options: dict, hand: str | None, practice: bool, slot: TrialSlot | None,
             started_by: str) -> dict:
        s = self.session if slot is not None else None
        opts = PROTOCOLS[protocol].validate_options(dict(options))
        meta = {"test_id": s.test_id if s else None, "patient_id": self.patient["patient_id"] if self.patient else None,
                "protocol": protocol, "options": opts, "hand": hand, "side": self._side(hand),
                "practice": practice, "k": len(s.trials) + 1 if s else None,
                "n": len(s.trials) + len(s.queue) if s else None, "index": slot.index if slot else None,
                "repeat_of": slot.repeat_of if slot else None, "started_by": started_by, "trace": None}
        journal = self.store.begin_trial({k: meta[k] for k in ("patient_id", "test_id", "protocol", "hand")})
        self.live = _Live(trial=_Ns(protocol=_ScriptedProtocol(opts), pipeline=self.board),
                          journal=_Ns(trial_id=journal.trial_id), meta=meta, armed_t=self.now, slot=slot)
        self._journal = journal
        self._push_state()
        return state_messages.trial_snapshot(self.live, self.now)  # type: ignore[arg-type,return-value]

    def _finish(self, result: dict, aborted: str | None = None) -> dict:
        live, self.live = self.live, None
        assert live is not None
        m = live.meta
        record = trial_record(result, protocol=m["protocol"], options=m["options"], slot=live.slot,
                              test_id=m["test_id"], patient_id=m["patient_id"], events=live.events)
        record.update(status="aborted" if aborted else result["status"], hand=m["hand"], side=m["side"],
                      practice=m["practice"], k=m["k"], n=m["n"], started_by=m["started_by"],
                      armed_t=live.armed_t, ended_t=self.now, started_at="2024-06-10T09:00:00Z", simulated=True)
        if aborted:
            reason = f"aborted: {aborted}"
            record.update(valid=False, invalid_reason=reason, invalid={"reason": reason})
        tid = self.store.finish_trial(record, self._journal)
        s = self.session
        if s is not None and live.slot is not None and not aborted and s.test_id == m["test_id"]:
            s.record(result, trial_id=tid)  # type: ignore[arg-type]
            self._save_test()
        rec = self.store.get_trial(tid)
        self._broadcast(api.trial_finished_message(copy.deepcopy(rec), True))
        self._push_state()
        return rec
