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
from dataclasses import dataclass, field
from typing import Any

from station.errors import UserError

API_VERSION = 1
#: Longest request line the daemon accepts (bytes, newline included). A longer
#: line is read and discarded and gets a ``line_too_long`` error; the
#: connection stays open. Nothing a client legitimately sends comes near it.
MAX_REQUEST_LINE = 64 * 1024
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
INTERNAL = "internal"


class ApiError(UserError):
    """A request the daemon refuses; becomes an error reply ``{"code", "message"}``."""

    def __init__(self, code: str, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


# --- field types -------------------------------------------------------------
# A field spec is (type, required). Types: "str", "int", "num" (finite int or
# float), "bool", "object", "list[str]", "id" (string or integer), or a tuple
# of allowed strings (an enum).

Spec = dict[str, tuple[Any, bool]]

HANDS = ("dominant", "non-dominant", "left", "right")
SEXES = ("female", "male", "other", "unknown")  # as station.records.store.SEXES
SIDES = ("left", "right")
CONDITION_NAMES = ("ms", "stroke")  # as station.progress.CONDITIONS

COMMANDS: dict[str, Spec] = {
    # session
    "hello": {"api": ("int", False), "client": ("str", False)},
    "ping": {},
    "state": {},
    "subscribe": {"topics": ("list[str]", True)},
    # patients
    "create_patient": {"patient_id": ("str", True), "birth_year": ("int", True),
                       "sex": (SEXES, True), "dominant_hand": (SIDES, True), "notes": ("str", False),
                       "birth_month": ("int", False), "condition": (CONDITION_NAMES, False)},
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
    try:
        msg = json.loads(line, parse_constant=_no_constant)
    except ValueError as e:
        raise ApiError(BAD_JSON, f"the line is not JSON ({getattr(e, 'msg', e)})") from None
    if not isinstance(msg, dict):
        raise ApiError(BAD_REQUEST, "a request must be a JSON object")
    rid = msg.get("id")
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
    if cmd == "subscribe":
        bad = [t for t in args["topics"] if t not in TOPICS]
        if bad:
            raise ApiError(BAD_VALUE, f"subscribe: unknown topic {bad[0]!r} (topics: {', '.join(TOPICS)})", rid)
    return Request(rid, cmd, args)


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


def hello(state: dict, clock: dict) -> dict:
    """Sent once, first, on every connection."""
    return {"type": "hello", "api": API_VERSION, "server": "station", "clock": clock,
            "topics": sorted(DEFAULT_TOPICS), "commands": sorted(COMMANDS), "state": state}


def reply(request_id: Any, result: dict | None = None) -> dict:
    return {"type": "reply", "id": request_id, "ok": True, "result": result or {}}


def error_reply(request_id: Any, err: ApiError) -> dict:
    return {"type": "reply", "id": request_id, "ok": False, "error": err.to_dict()}


def event_message(event: dict, trial_id: Any = None) -> dict:
    """A live event (the trace spec's event dict, with its original ``t``)."""
    return {"type": "event", "trial_id": trial_id, "event": event}


def fault_message(fault: dict, trial_id: Any = None) -> dict:
    return {"type": "fault", "trial_id": trial_id, "fault": fault}


def state_message(state: dict) -> dict:
    return {"type": "state", "state": state}


def sensors_message(snapshot: dict) -> dict:
    return {"type": "sensors", **snapshot}


def trial_finished_message(trial: dict, saved: bool) -> dict:
    """``saved`` is true only once the record is on disk."""
    return {"type": "trial_finished", "saved": saved, "trial": trial}


def bye_message(reason: str) -> dict:
    return {"type": "bye", "reason": reason}


#: The topic each pushed message type belongs to (hello, reply and bye go to everyone).
MESSAGE_TOPIC = {"event": "events", "fault": "faults", "state": "state", "sensors": "sensors",
                 "trial_finished": "trials"}
