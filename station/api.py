"""The station socket API: message schema, validation and versioning.

JSON Lines over a Unix stream socket; docs/api.md is the one place the
protocol is described. This module is its executable form: the command table
(``COMMANDS``), request parsing and validation (``parse_request``), and the
constructors of every message the daemon sends. Pure logic: no sockets, no
clock; the server (``station.daemon.server``) and the client (``station.client``)
both build on it.

Versioning: ``API_VERSION`` is a major number. Additions (a new command, a new
optional field, a new message type, a new key in a message) keep the number;
clients ignore message types and keys they do not know. Removing or changing
the meaning of anything bumps it. A client may state the version it speaks in
``hello``; a different major number is refused with ``unsupported_version``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from station.errors import UserError

API_VERSION = 1
#: Longest request line the daemon accepts (bytes, newline included). A longer
#: line is read and discarded and gets a ``line_too_long`` error; the
#: connection stays open. Nothing a client legitimately sends comes near it.
MAX_REQUEST_LINE = 64 * 1024
#: Deepest nesting of objects and lists a request may have (a request is 2 deep).
MAX_DEPTH = 10
#: Largest whole number a request may hold (JSON's safe integers: doubles count exactly to here).
MAX_INT = 2**53 - 1
#: Longest line a client accepts from the daemon (history lists can be long).
MAX_MESSAGE_LINE = 16 * 1024 * 1024

#: Topics of pushed messages. A new connection gets DEFAULT_TOPICS; ``sensors``
#: (the technician screen's 5 Hz snapshot) only on request, so an idle station
#: with an ordinary UI attached does no work building it.
TOPICS = ("events", "faults", "state", "trials", "sensors")
DEFAULT_TOPICS = frozenset({"events", "faults", "state", "trials"})

# Error codes (docs/api.md, "Errors").
BAD_JSON = "bad_json"
LINE_TOO_LONG = "line_too_long"
BAD_REQUEST = "bad_request"
UNKNOWN_COMMAND = "unknown_command"
UNKNOWN_FIELD = "unknown_field"
MISSING_FIELD = "missing_field"
BAD_TYPE = "bad_type"
BAD_VALUE = "bad_value"
UNSUPPORTED_VERSION = "unsupported_version"
NOT_FOUND = "not_found"
CONFLICT = "conflict"  # e.g. a patient ID already exists
BUSY = "busy"  # a trial is running
NO_PATIENT = "no_patient"
NO_TRIAL = "no_trial"
HARDWARE = "hardware"
DISK_FULL = "disk_full"  # the station's storage is full: nothing new can be stored
INTERNAL = "internal"
UNAUTHORIZED = "unauthorized"  # the command needs a staff role this connection has not logged in as
WRONG_PIN = "wrong_pin"
LOCKED_OUT = "locked_out"  # too many wrong PINs: wait ``retry_after_s``
NO_PIN = "no_pin"  # no PIN is set for the role: its screen stays locked
WEAK_PIN = "weak_pin"  # a guessable PIN (1234) on a real station: set another


class ApiError(UserError):
    """A request the daemon refuses; becomes an error reply ``{"code", "message"}``."""

    def __init__(self, code: str, message: str, request_id: Any = None, *,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after_s = retry_after_s

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after_s is not None:
            d["retry_after_s"] = self.retry_after_s
        return d


# --- field types -------------------------------------------------------------
# A field spec is (type, required). Types: "str", "int", "num" (finite int or
# float), "bool", "object", "list[str]", "id" (string or integer), or a tuple
# of allowed strings (an enum).

Spec = dict[str, tuple[Any, bool]]

HANDS = ("dominant", "non-dominant", "left", "right")
SEXES = ("female", "male", "other", "unknown")  # as station.records.store.SEXES
SIDES = ("left", "right")
CONDITION_NAMES = ("ms", "stroke")  # as station.progress.CONDITIONS
ROLES = ("therapist", "technician")  # as station.staff_pins.ROLES
#: Longest PIN ``login`` takes (a PIN is a few digits; this only bounds the work).
MAX_PIN_LENGTH = 32

COMMANDS: dict[str, Spec] = {
    # session
    "hello": {"api": ("int", False), "client": ("str", False)},
    "ping": {},
    "state": {},
    "subscribe": {"topics": ("list[str]", True)},
    "login": {"role": (ROLES, True), "pin": ("str", True)},
    "logout": {"role": (ROLES, False)},
    # patients
    "create_patient": {"patient_id": ("str", True), "birth_year": ("int", True),
                       "sex": (SEXES, True), "dominant_hand": (SIDES, True), "notes": ("str", False),
                       "birth_month": ("int", False), "condition": (CONDITION_NAMES, False)},
    "update_patient": {"patient_id": ("str", True), "new_patient_id": ("str", False), "birth_year": ("int", False),
                       "sex": (SEXES, False), "dominant_hand": (SIDES, False), "notes": ("str", False),
                       "birth_month": ("int", False), "condition": (CONDITION_NAMES, False),
                       "reason": ("str", False)},
    "select_patient": {"patient_id": ("str", True)},
    "clear_patient": {},
    "find_patients": {"query": ("str", False), "limit": ("int", False)},
    # trials and tests
    "start_trial": {"protocol": ("str", False), "options": ("object", False), "hand": (HANDS, False),
                    "practice": ("bool", False)},
    "abort_trial": {"reason": ("str", False)},
    "finish_trial": {},
    "start_test": {"protocol": ("str", True), "options": ("object", False), "practice": ("bool", False),
                   "trials_per_hand": ("int", False)},
    "abort_test": {"reason": ("str", False)},
    "mark_invalid": {"trial_id": ("id", True), "reason": ("str", True), "repeat": ("bool", False)},
    "results": {"patient_id": ("str", False), "limit": ("int", False)},
    # delivery to the clinic's FHIR server ([fhir] in station.toml; docs/fhir.md)
    "fhir_outbox": {},
    "fhir_resend": {"test_id": ("int", True)},
    # technician
    "tare": {"cell": ("str", True)},
    "calibrate": {"cell": ("str", True), "mass_g": ("num", True)},
    "self_test": {"step": ("str", False)},
}

#: The staff role each command needs (docs/api.md, "Staff sessions"): None = anyone who
#: can reach the socket (the patient screen); "therapist" = patient data and the
#: tests given; "technician" = the hardware. ``results`` of the selected patient
#: (what the patient screen shows) needs no role; of any other patient, the
#: therapist's (the handler checks that).
COMMAND_ROLES: dict[str, str | None] = {
    "hello": None, "ping": None, "state": None, "subscribe": None, "login": None, "logout": None,
    "results": None,
    "create_patient": "therapist", "update_patient": "therapist", "select_patient": "therapist",
    "clear_patient": "therapist",
    "find_patients": "therapist", "start_trial": "therapist", "abort_trial": "therapist",
    "finish_trial": "therapist", "start_test": "therapist", "abort_test": "therapist",
    "mark_invalid": "therapist",
    "fhir_outbox": "therapist", "fhir_resend": "therapist",
    "tare": "technician", "calibrate": "technician", "self_test": "technician",
}
assert set(COMMAND_ROLES) == set(COMMANDS), "every command says which role it needs"

_TYPE_WORDS = {"str": "a string", "int": "a whole number", "num": "a number", "bool": "true or false",
               "object": "a JSON object", "list[str]": "a list of strings", "id": "a string or a whole number"}


@dataclass
class Request:
    """A validated request: ``cmd``, its ``id`` and its arguments (only known fields)."""

    id: Any
    cmd: str
    args: dict[str, Any] = field(default_factory=dict)


def parse_request(line: bytes | str) -> Request:
    """Parse and validate one request line. Raises ApiError (with the id when known)."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(BAD_JSON, "the line is not UTF-8") from None
    if _depth_over(line, MAX_DEPTH):
        raise ApiError(BAD_JSON, f"the line nests objects or lists deeper than {MAX_DEPTH}")
    try:
        msg = json.loads(line, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise ApiError(BAD_JSON, f"the line is not JSON ({getattr(e, 'msg', e)})") from None
    if not isinstance(msg, dict):
        raise ApiError(BAD_REQUEST, "a request must be a JSON object")
    rid = msg.get("id")
    problem = _bad_value(msg)
    if problem:
        raise ApiError(BAD_VALUE, problem, rid if _is_type(rid, "id") and not _bad_value(rid) else None)
    if "id" not in msg:
        raise ApiError(MISSING_FIELD, "a request needs an 'id' (a string or a whole number)")
    if not _is_type(rid, "id"):
        raise ApiError(BAD_TYPE, "'id' must be a string or a whole number")
    cmd = msg.get("cmd")
    if not isinstance(cmd, str):
        raise ApiError(MISSING_FIELD if cmd is None else BAD_TYPE, "a request needs a 'cmd' string", rid)
    spec = COMMANDS.get(cmd)
    if spec is None:
        raise ApiError(UNKNOWN_COMMAND, f"unknown command {cmd!r} (known: {', '.join(COMMANDS)})", rid)
    args: dict[str, Any] = {}
    for key, value in msg.items():
        if key in ("id", "cmd"):
            continue
        if key not in spec:
            known = ", ".join(spec) or "none"
            raise ApiError(UNKNOWN_FIELD, f"{cmd}: unknown field {key!r} (fields: {known})", rid)
        typ, _ = spec[key]
        if not _is_type(value, typ):
            want = f"one of {', '.join(typ)}" if isinstance(typ, tuple) else _TYPE_WORDS[typ]
            raise ApiError(BAD_TYPE, f"{cmd}: {key!r} must be {want}, not {_short(value)}", rid)
        args[key] = value
    for key, (_, required) in spec.items():
        if required and key not in args:
            raise ApiError(MISSING_FIELD, f"{cmd}: missing field {key!r}", rid)
    if cmd == "hello" and "api" in args and args["api"] != API_VERSION:
        raise ApiError(UNSUPPORTED_VERSION,
                       f"this daemon speaks API version {API_VERSION}, not {args['api']}", rid)
    if cmd == "login" and len(args["pin"]) > MAX_PIN_LENGTH:
        raise ApiError(BAD_VALUE, f"login: a PIN has at most {MAX_PIN_LENGTH} digits", rid)
    if cmd == "subscribe":
        bad = [t for t in args["topics"] if t not in TOPICS]
        if bad:
            raise ApiError(BAD_VALUE, f"subscribe: unknown topic {bad[0]!r} (topics: {', '.join(TOPICS)})", rid)
    return Request(rid, cmd, args)


def _depth_over(line: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (checked before parsing, so a
    line of 60,000 '[' costs a scan, not a recursion)."""
    if line.count("[") + line.count("{") <= limit:
        return False
    depth, in_str, esc = 0, False, False
    for ch in line:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _bad_value(v: Any) -> str | None:
    """What no command can take anywhere in a request: text that is not Unicode (a lone
    surrogate escape such as \\ud800 cannot be stored), a whole number beyond MAX_INT, a
    number too large for a double (1e400). None if all is well."""
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            try:
                x.encode("utf-8")
            except UnicodeEncodeError:
                return "text must be Unicode (no lone surrogate escapes such as \\ud800)"
        elif isinstance(x, bool):
            continue
        elif isinstance(x, int):
            if abs(x) > MAX_INT:
                return f"whole numbers must lie within ±{MAX_INT}"
        elif isinstance(x, float):
            if not math.isfinite(x):
                return "numbers must be finite"
        elif isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _is_type(v: Any, typ: Any) -> bool:
    if isinstance(typ, tuple):
        return isinstance(v, str) and v in typ
    if typ == "str":
        return isinstance(v, str)
    if typ == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if typ == "num":
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if typ == "bool":
        return isinstance(v, bool)
    if typ == "object":
        return isinstance(v, dict)
    if typ == "list[str]":
        return isinstance(v, list) and all(isinstance(x, str) for x in v)
    if typ == "id":
        return isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))
    raise AssertionError(typ)  # pragma: no cover - schema bug


def _short(v: Any) -> str:
    s = json.dumps(v)
    return s if len(s) <= 40 else s[:37] + "..."


# --- messages the daemon sends -----------------------------------------------

def encode(msg: dict) -> bytes:
    """One message as a JSON line."""
    return (json.dumps(msg, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


def hello(state: Mapping[str, Any], clock: Mapping[str, Any]) -> dict:
    """Sent once, first, on every connection."""
    return {"type": "hello", "api": API_VERSION, "server": "station", "clock": clock,
            "topics": sorted(DEFAULT_TOPICS), "commands": sorted(COMMANDS), "state": state}


def reply(request_id: Any, result: dict | None = None) -> dict:
    return {"type": "reply", "id": request_id, "ok": True, "result": result or {}}


def error_reply(request_id: Any, err: ApiError) -> dict:
    return {"type": "reply", "id": request_id, "ok": False, "error": err.to_dict()}


def event_message(event: Mapping[str, Any], trial_id: Any = None) -> dict:
    """A live event (the trace spec's event dict, with its original ``t``)."""
    return {"type": "event", "trial_id": trial_id, "event": event}


def fault_message(fault: Mapping[str, Any], trial_id: Any = None) -> dict:
    return {"type": "fault", "trial_id": trial_id, "fault": fault}


def state_message(state: Mapping[str, Any]) -> dict:
    return {"type": "state", "state": state}


def sensors_message(snapshot: Mapping[str, Any]) -> dict:
    return {"type": "sensors", **snapshot}


def trial_finished_message(trial: Mapping[str, Any], saved: bool, error: str | None = None) -> dict:
    """``saved`` is true only once the record is on disk; unsaved, ``error`` says why
    (the trial still names its ``trial_id``)."""
    msg: dict[str, Any] = {"type": "trial_finished", "saved": saved, "trial": trial}
    if error is not None:
        msg["error"] = error
    return msg


def bye_message(reason: str) -> dict:
    return {"type": "bye", "reason": reason}


#: The topic each pushed message type belongs to (hello, reply and bye go to everyone).
MESSAGE_TOPIC = {"event": "events", "fault": "faults", "state": "state", "sensors": "sensors",
                 "trial_finished": "trials"}
