"""A stand-in for ``station daemon`` speaking docs/api.md over a real Unix socket.

It runs its own asyncio loop in a thread, so a Textual app under test (on the
test's loop, or in the snapshot plugin's) talks to it exactly as to the real
daemon: requests are parsed and validated by ``station.api.parse_request``,
every message is built by ``station.api``'s constructors, and the shapes
(state snapshot, TEST, TRIAL_RECORD) follow docs/api.md. Hardware is scripted
by the test: ``press_start()``, ``peg_in(hole)``, ``dish(n)``, ``advance(s)``,
``finish(total_s)``. ``stop()`` and ``start()`` make the daemon go away and come
back on the same path. Staff sessions as the daemon's: ``login`` with a PIN of
``pins`` (plain, role -> PIN; a role missing is locked) authorises that
connection for the role, and each command needs the role ``api.COMMAND_ROLES`` says.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import threading
from collections.abc import Callable
from typing import Any

from station import api

PROTOCOLS = {
    "nine-hole-peg": {"description": "Nine Hole Peg Test (9HPT)", "options": {"pegs": 9, "cutoff_s": 300.0}},
    "coin-drop": {"description": "Coin drop", "options": {"coins": 8, "cutoff_s": 300.0}},
    "timed-pegs": {"description": "Timed pegs: pegs seated in a fixed time", "options": {"duration_s": 30.0}},
    "free-practice": {"description": "Free practice: counted reps", "options": {"goal": 0}},
}


#: The staff PINs the fake accepts unless told others (tests.ui.pilot_support uses these).
STAFF_PINS = {"therapist": "2468", "technician": "1357"}


class FakeDaemon:
    """The documented protocol with scripted hardware. Thread-safe entry points."""

    def __init__(self, path: str | os.PathLike, *, holes: int = 9, pins: dict[str, str] | None = None) -> None:
        self.path = os.fspath(path)
        self.pins = dict(STAFF_PINS if pins is None else pins)
        self.locked_for_s: float | None = None  # set: every login is refused as the daemon's lockout does
        self.holes = holes
        self.now = 1000.0  # the daemon's monotonic clock; moved by advance()
        self.wall0 = 1718000000.0
        self.patients: dict[str, dict] = {}
        self.patient: dict | None = None
        self.test: dict | None = None
        self.tests: list[dict] = []
        self.trials: list[dict] = []  # TRIAL_RECORDs, oldest first
        self.trial: dict | None = None  # the armed trial's state
        self.counts = {"dish": 9, "tray": 0}
        self.occupied: set[int] = set()  # holes holding a peg, for state["board"]
        self.requests: list[tuple[str, dict]] = []
        self.sensors_subscribers = 0
        self._next_trial_id = 1
        self._next_test_id = 1
        self._run_events: list[dict] = []
        self._conns: dict[asyncio.StreamWriter, set[str]] = {}
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
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

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
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._serve, self.path, limit=api.MAX_REQUEST_LINE * 2)

    async def _stop(self, reason: str) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._conns):
            with contextlib.suppress(Exception):
                w.write(api.encode(api.bye_message(reason)))
                w.close()
        self._conns.clear()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    # --- scripted hardware (thread-safe) -------------------------------------------

    def setup(self, *, patient: dict | None = None, test: str | None = None, practice: bool = False,
              history: list[dict] | None = None) -> None:
        """Put a patient (selected), a running test and saved trials in place before a client connects."""
        def do():
            if patient is not None:
                self.patients[patient["patient_id"]] = dict(patient)
                self.patient = self.patients[patient["patient_id"]]
            for rec in history or []:
                self._store_trial(dict(rec))
            if test is not None:
                self._cmd_start_test({"protocol": test, "practice": practice})
        self.run(do)

    def press_start(self) -> None:
        """The start button: an event, and between trials the test's next trial is armed."""
        def do():
            self._event({"t": self.now, "kind": "button", "name": "start"})
            if self.trial is None and self.patient and self.test and self._test_next():
                self._arm(None, {}, None, False, started_by="button")
        self.run(do)

    def peg_in(self, hole: int) -> None:
        def do():
            self.occupied.add(hole)
            self._event({"t": self.now, "kind": "peg_in", "hole": hole})
        self.run(do)

    def peg_out(self, hole: int) -> None:
        def do():
            self.occupied.discard(hole)
            self._event({"t": self.now, "kind": "peg_out", "hole": hole})
        self.run(do)

    def dish(self, count: int) -> None:
        def do():
            self.counts["dish"] = count
            if self.trial is not None and self.trial["status"] == "waiting" and count < 9:
                self.trial["status"] = "running"  # the 9HPT's clock starts at the first pick-up
                self._start_t = self.now
            self._event({"t": self.now, "kind": "dish", "count": count})
            self._push_state()
        self.run(do)

    def tray(self, count: int) -> None:
        def do():
            self.counts["tray"] = count
            self._event({"t": self.now, "kind": "tray", "count": count})
        self.run(do)

    def advance(self, seconds: float) -> None:
        """Time passes; while a trial is armed the state is pushed (as twice a second)."""
        def do():
            self.now += seconds
            if self.trial is not None:
                self._push_state()
        self.run(do)

    def finish(self, total_s: float, status: str = "complete") -> dict:
        """The protocol ends the armed trial: it is saved, then ``trial_finished`` is pushed."""
        return self.run(lambda: self._finish(status, {"status": status, "total_s": total_s}))

    def push_sensors(self, snapshot: dict) -> None:
        """One ``sensors`` message (``t``, ``switches``, ``cells``) to subscribed connections."""
        self.run(lambda: self._broadcast(api.sensors_message({"t": self.now, **snapshot}), "sensors"))

    def fault(self, kind: str, source: str, detail: str) -> None:
        f = {"t": self.now, "kind": kind, "source": source, "detail": detail}
        self.run(lambda: self._broadcast(api.fault_message(f, self._run_id()), "faults"))

    def subscribers(self, topic: str) -> int:
        return self.run(lambda: sum(topic in t for t in self._conns.values()))

    # --- the snapshot ----------------------------------------------------------------

    def clock(self) -> dict:
        return {"monotonic": self.now, "wall": self.wall0 + self.now}

    def state(self) -> dict:
        trial = None
        if self.trial is not None:
            trial = dict(self.trial, counts=dict(self.counts))
            start = getattr(self, "_start_t", None)
            running = trial["status"] == "running" and start is not None
            trial["elapsed_s"] = round(self.now - start, 3) if running else 0.0
            limit = trial["options"].get("duration_s") or trial["options"].get("cutoff_s")
            trial["countdown_s"] = None if limit is None else round(limit - trial["elapsed_s"], 3)
        return copy.deepcopy({
            "station": {"name": "Station", "simulated": True, "holes": self.holes, "buttons": ["start"],
                        "cells": {"dish": {"unit_g": 1.1, "items": 9}, "tray": {"unit_g": 5.67, "items": 0}},
                        "protocols": PROTOCOLS, "staff_pins": {r: r in self.pins for r in api.ROLES}},
            "patient": self.patient, "test": self._test_snapshot(), "trial": trial,
            "board": {"occupied": sorted(self.occupied), "counts": dict(self.counts)}, "clock": self.clock()})

    # --- connections --------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
                        result = getattr(self, f"_cmd_{req.cmd}")(req.args)
                    msg = api.reply(req.id, result)
                except api.ApiError as e:
                    msg = api.error_reply(rid if e.request_id is None else e.request_id, e)
                if writer in self._conns:
                    writer.write(api.encode(msg))
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._conns.pop(writer, None)
            writer.close()

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

    def _broadcast(self, msg: dict, topic: str | None) -> None:
        data = api.encode(msg)
        for w, topics in list(self._conns.items()):
            if topic is None or topic in topics:
                w.write(data)

    def _push_state(self) -> None:
        self._broadcast(api.state_message(self.state()), "state")

    def _event(self, ev: dict) -> None:
        if self.trial is not None:
            self._run_events.append(ev)
        self._broadcast(api.event_message(ev, self._run_id()), "events")

    def _run_id(self) -> Any:
        return None if self.trial is None else self.trial["trial_id"]

    # --- commands (docs/api.md, "Commands") ------------------------------------------------

    def _cmd_hello(self, a: dict) -> dict:
        return {"api": api.API_VERSION, "clock": self.clock(), "state": self.state()}

    def _cmd_ping(self, a: dict) -> dict:
        return {"t": self.now}

    def _cmd_state(self, a: dict) -> dict:
        return {"state": self.state()}

    def _cmd_create_patient(self, a: dict) -> dict:
        if a["patient_id"] in self.patients:
            raise api.ApiError(api.CONFLICT, f"patient {a['patient_id']!r} already exists")
        self.patients[a["patient_id"]] = dict(a)
        return self._select(a["patient_id"])

    def _cmd_select_patient(self, a: dict) -> dict:
        if a["patient_id"] not in self.patients:
            raise api.ApiError(api.NOT_FOUND, f"no patient {a['patient_id']!r}")
        return self._select(a["patient_id"])

    def _select(self, pid: str) -> dict:
        if self.trial is not None:
            raise api.ApiError(api.BUSY, "a trial is running; abort it first")
        self.patient, self.test = self.patients[pid], None
        self._push_state()
        return {"patient": dict(self.patient)}

    def _cmd_clear_patient(self, a: dict) -> dict:
        if self.trial is not None:
            raise api.ApiError(api.BUSY, "a trial is running; abort it first")
        self.patient, self.test = None, None
        self._push_state()
        return {}

    def _cmd_find_patients(self, a: dict) -> dict:
        q = a.get("query", "").lower()
        found = [dict(p) for pid, p in sorted(self.patients.items()) if q in pid.lower()]
        return {"patients": found[: a.get("limit", len(found))]}

    def _cmd_start_test(self, a: dict) -> dict:
        if self.patient is None:
            raise api.ApiError(api.NO_PATIENT, "select or create a patient first")
        if a["protocol"] not in PROTOCOLS:
            raise api.ApiError(api.BAD_VALUE, f"unknown protocol {a['protocol']!r}")
        per_hand = 2 if a["protocol"] == "nine-hole-peg" else 1
        plan = []
        for hand in ("dominant", "non-dominant"):
            if a.get("practice"):
                plan.append({"hand": hand, "practice": True})
            plan += [{"hand": hand, "practice": False}] * per_hand
        self.test = {"test_id": self._next_test_id, "protocol": a["protocol"], "options": a.get("options", {}),
                     "status": "running", "trials": [], "plan": plan, "cursor": 0,
                     "patient_id": self.patient["patient_id"]}
        self._next_test_id += 1
        self.tests.append(self.test)
        self._push_state()
        return {"test": self._test_snapshot()}

    def _cmd_start_trial(self, a: dict) -> dict:
        if self.patient is None:
            raise api.ApiError(api.NO_PATIENT, "select or create a patient first")
        if self.trial is not None:
            raise api.ApiError(api.BUSY, "a trial is already running; abort it first")
        if "protocol" in a and a["protocol"] not in PROTOCOLS:
            raise api.ApiError(api.BAD_VALUE, f"unknown protocol {a['protocol']!r}")
        return {"trial": self._arm(a.get("protocol"), a.get("options", {}), a.get("hand"), a.get("practice", False))}

    def _cmd_abort_trial(self, a: dict) -> dict:
        if self.trial is None:
            raise api.ApiError(api.NO_TRIAL, "no trial is running")
        return {"trial": self._finish("aborted", {"status": "aborted", "total_s": None})}

    def _cmd_finish_trial(self, a: dict) -> dict:
        if self.trial is None:
            raise api.ApiError(api.NO_TRIAL, "no trial is running")
        return {"trial": self._finish("incomplete", {"status": "incomplete", "total_s": None})}

    def _cmd_abort_test(self, a: dict) -> dict:
        if self.test is None:
            raise api.ApiError(api.NO_TRIAL, "no test is running")
        if self.trial is not None:
            self._finish("aborted", {"status": "aborted", "total_s": None})
        self.test["status"] = "aborted"
        snap = self._test_snapshot()
        self.test = None
        self._push_state()
        return {"test": snap}

    def _cmd_mark_invalid(self, a: dict) -> dict:
        rec = next((r for r in self.trials if str(r["trial_id"]) == str(a["trial_id"])), None)
        if rec is None:
            raise api.ApiError(api.NOT_FOUND, f"no trial {a['trial_id']!r}")
        rec["invalid"] = {"reason": a["reason"]}
        rec["valid"], rec["invalid_reason"] = False, a["reason"]
        t = self.test
        if t is not None and rec.get("test_id") == t["test_id"]:
            for s in t["trials"]:
                if s["trial_id"] == rec["trial_id"]:
                    s["invalid"] = rec["invalid"]
            if a.get("repeat"):
                slot = {"hand": rec["hand"], "practice": rec["practice"]}
                t["plan"].insert(t["cursor"], slot)
            self._push_state()
        return {"trial": copy.deepcopy(rec)}

    def _cmd_results(self, a: dict) -> dict:
        pid = a.get("patient_id") or (self.patient or {}).get("patient_id")
        if pid is None:
            raise api.ApiError(api.NO_PATIENT, "select or create a patient first")
        if pid not in self.patients:
            raise api.ApiError(api.NOT_FOUND, f"no patient {pid!r}")
        limit = a.get("limit", 1000)
        tests = [self._test_public(t) for t in reversed(self.tests) if t["patient_id"] == pid]
        trials = [copy.deepcopy(r) for r in reversed(self.trials) if r["patient_id"] == pid]
        return {"patient": dict(self.patients[pid]), "tests": tests[:limit], "trials": trials[:limit]}

    def _cmd_tare(self, a: dict) -> dict:
        self._cell(a["cell"])
        return {"cell": a["cell"], "offset": 52000.0}

    def _cmd_calibrate(self, a: dict) -> dict:
        self._cell(a["cell"])
        if a["mass_g"] <= 0:
            raise api.ApiError(api.BAD_VALUE, "calibrate: mass_g must be positive")
        return {"cell": a["cell"], "counts_per_gram": 420.0}

    def _cmd_self_test(self, a: dict) -> dict:
        steps = ["switches", "cell:dish", "cell:tray", "button:start"]
        if "step" not in a:
            return {"steps": steps}
        if a["step"] not in steps:
            raise api.ApiError(api.BAD_VALUE, f"unknown step {a['step']!r}")
        return {"step": a["step"], "ok": True, "detail": "ok", "data": {}}

    def _cell(self, name: str) -> None:
        if self.trial is not None:
            raise api.ApiError(api.BUSY, "a trial is running")
        if name not in self.counts:
            raise api.ApiError(api.BAD_VALUE, f"unknown cell {name!r}")

    # --- trials ----------------------------------------------------------------------

    def _test_next(self) -> dict | None:
        t = self.test
        if t is None or t["status"] != "running" or t["cursor"] >= len(t["plan"]):
            return None
        return {"k": t["cursor"] + 1, "n": len(t["plan"]), **t["plan"][t["cursor"]]}

    def _test_snapshot(self) -> dict | None:
        if self.test is None:
            return None
        return {k: copy.deepcopy(v) for k, v in self.test.items() if k not in ("plan", "cursor", "patient_id")} \
            | {"next": self._test_next()}

    def _test_public(self, t: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in t.items() if k not in ("plan", "cursor")}

    def _side(self, hand: str | None) -> str:
        dom = self.patient["dominant_hand"]
        if hand in ("left", "right"):
            return hand
        if hand == "non-dominant":
            return "left" if dom == "right" else "right"
        return dom

    def _arm(self, protocol: str | None, options: dict, hand: str | None, practice: bool,
             started_by: str = "command") -> dict:
        slot = None
        if protocol is None:
            slot = self._test_next()
            if slot is None:
                raise api.ApiError(api.BAD_VALUE, "start_trial: no protocol and no test with a next trial")
            protocol, options, hand, practice = self.test["protocol"], self.test["options"], slot["hand"], slot["practice"]
        opts = dict(PROTOCOLS[protocol]["options"], **options)
        trial_id = self._next_trial_id  # assigned when armed, the id of the saved record
        self._next_trial_id += 1
        self.trial = {"trial_id": trial_id, "test_id": self.test["test_id"] if slot else None,
                      "protocol": protocol, "options": opts, "hand": hand or "dominant",
                      "side": self._side(hand), "practice": practice,
                      "k": slot["k"] if slot else None, "n": slot["n"] if slot else None,
                      "started_by": started_by, "status": "waiting", "started_at": self.now, "elapsed_s": 0.0, "countdown_s": None,
                      "counts": dict(self.counts)}
        self._start_t = None
        self._run_events = []
        self._push_state()
        return self.state()["trial"]

    def _finish(self, status: str, result: dict) -> dict:
        trial, self.trial = self.trial, None
        rec = {"trial_id": trial["trial_id"], "test_id": trial["test_id"], "patient_id": self.patient["patient_id"],
               "protocol": trial["protocol"], "options": trial["options"], "hand": trial["hand"],
               "side": trial["side"], "practice": trial["practice"], "status": status, "result": result,
               "events": self._run_events, "faults": [], "trace": None,
               "started_at": "2024-06-10T09:00:00Z", "invalid": None,
               # docs/api.md TRIAL_RECORD: the station.trial/1 fields the screens may read
               "schema": "station.trial/1", "k": trial["k"], "n": trial["n"], "started_by": trial["started_by"],
               "total_s": result.get("total_s"), "valid": True, "invalid_reason": None, "repeat_of": None,
               "saved_at": "2024-06-10T09:00:30Z", "simulated": True}
        self._store_trial(rec)
        t = self.test
        if t is not None and trial["test_id"] == t["test_id"] and status != "aborted":
            t["trials"].append({"trial_id": rec["trial_id"], "k": trial["k"], "hand": trial["side"],
                                "practice": trial["practice"], "status": status,
                                "total_s": result.get("total_s"), "invalid": None})
            t["cursor"] += 1
            if t["cursor"] >= len(t["plan"]):
                t["status"] = "complete"
        self._broadcast(api.trial_finished_message(copy.deepcopy(rec), True), "trials")
        self._push_state()
        return copy.deepcopy(rec)

    def _store_trial(self, rec: dict) -> None:
        rec.setdefault("invalid", None)
        rec.setdefault("status", (rec.get("result") or {}).get("status", "complete"))
        if rec.get("trial_id") is None:
            rec["trial_id"] = self._next_trial_id
            self._next_trial_id += 1
        self.trials.append(rec)
