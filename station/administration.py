"""Test administration: a test is a planned sequence of trials, run as a therapist runs it.

A ``TestPlan`` says what to run: the protocol and its options, the hands in
order (dominant first by default), how many timed trials per hand (1-3) and
whether each hand has a practice trial before its timed trials. A ``TestSession`` is the state of one
test being given: which trial is next, the finished trials, the therapist's
invalid marks, and the summary. It is pure state (no clock, no I/O) and
round-trips through ``to_dict``/``from_dict`` so the daemon can store it and
pick a test up again after a restart.

How the daemon drives it::

    session = TestSession(TestPlan.default("nine-hole-peg", practice=True), test_id=..., date="2026-03-14")
    while (slot := session.next_trial()) is not None:
        protocol = session.plan.make_protocol(board)   # run one Trial with it
        ...
        session.record(trial.finish(now), trial_id=stored_id)
    session.mark_invalid(trial_id, "peg dropped on the floor")   # queues a repeat next
    session.summary()

Rules:

* Practice: one practice trial per hand, just before that hand's timed
  trials, recorded and shown but never in the summary. The 9HPT gives it by
  default, as the norms were collected: Mathiowetz et al. 1985 gave a
  practice trial with each hand before timing it (docs/clinical-rules.md).
* A trial the therapist marks invalid is kept, flagged with the reason, left
  out of the summary, and (by default) repeated: the repeat is the next trial,
  same hand and trial number, ``repeat_of`` the invalid trial.
* A trial that ended ``incomplete`` (stopped before its end: aborted, input
  lost) is no measurement: it is marked invalid automatically with the reason
  ``INCOMPLETE_REASON`` and repeated the same way.
* A trial that timed out (the 300 s cutoff of the 9HPT) is a valid result:
  the hand "did not complete". Its hand has no mean time. In the MSFC 9HPT
  score it counts as 777 s, the value the MSFC Administration and Scoring
  Manual (Fischer et al. 2001) records for a trial the patient cannot
  complete (``MSFC_UNABLE_S``).

The summary (``TestSession.summary``; its fields are documented in
``station/results.py``) gives per hand the valid trials' values and their
mean, the timing definition its trials used (``timing``), and for the 9HPT
the MSFC score: the mean of the reciprocals of the two hands' mean times
(1/s; higher is better).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any, cast

from station.board_spec import BoardSpec
from station.errors import UserError
from station.protocols import PROTOCOLS, Protocol, make_protocol
from station.record_types import HandSummary, PlanDict, SessionDict, SessionSummary, SlotDict, TrialEntry

HANDS = ("dominant", "non-dominant")
SESSION_SCHEMA = "station.session/1"
INCOMPLETE_REASON = "trial stopped before it ended (incomplete)"
#: MSFC manual (Fischer et al. 2001): the time recorded for a 9HPT hand that cannot complete
MSFC_UNABLE_S = 777.0
#: a hand whose trials were timed with different definitions
MIXED_TIMING = "mixed"


@dataclass(frozen=True)
class Measure:
    """What a protocol's summary averages: a result key, its unit and which way is better,
    plus other result keys whose per-hand means the summary also gives."""

    key: str
    unit: str
    lower_is_better: bool
    extras: tuple[str, ...] = ()


MEASURES: dict[str, Measure] = {
    "nine-hole-peg": Measure("total_s", "s", True, ("place_s", "remove_s")),
    "coin-drop": Measure("total_s", "s", True, ("place_s", "pickup_s")),
    "timed-pegs": Measure("pegs", "pegs", False, ("pegs_per_s",)),
    "free-practice": Measure("reps", "reps", False, ("reps_per_min",)),
}

#: per protocol: default hands and timed trials per hand
PLAN_DEFAULTS: dict[str, dict[str, Any]] = {
    # practice per hand as the norms were collected (Mathiowetz 1985); 2 timed trials as the MSFC
    "nine-hole-peg": {"hands": HANDS, "trials_per_hand": 2, "practice": True},
    "coin-drop": {"hands": HANDS, "trials_per_hand": 2},
    "timed-pegs": {"hands": HANDS, "trials_per_hand": 1},
    "free-practice": {"hands": ("dominant",), "trials_per_hand": 1},
}


class AdministrationError(UserError, ValueError):
    """A plan or a command that does not fit the test (unknown trial, bad count...)."""


@dataclass(frozen=True)
class TestPlan:
    """What a test runs. Validated on creation (AdministrationError / ProtocolError)."""

    __test__ = False  # not a pytest test class

    protocol: str
    options: Mapping[str, Any] = field(default_factory=dict)
    hands: tuple[str, ...] = HANDS
    trials_per_hand: int = 2
    practice: bool = False

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise AdministrationError(f"unknown protocol {self.protocol!r} (known: {', '.join(PROTOCOLS)})")
        PROTOCOLS[self.protocol].validate_options(dict(self.options))
        object.__setattr__(self, "options", dict(self.options))
        hands = tuple(self.hands)
        if not hands or any(h not in HANDS for h in hands) or len(set(hands)) != len(hands):
            raise AdministrationError(f"hands must be one or both of {', '.join(HANDS)}, each once, not {list(hands)}")
        object.__setattr__(self, "hands", hands)
        n = self.trials_per_hand
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 3:
            raise AdministrationError(f"trials per hand must be 1, 2 or 3, not {n!r}")
        if not isinstance(self.practice, bool):
            raise AdministrationError(f"practice must be true or false, not {self.practice!r}")

    @classmethod
    def default(cls, protocol: str, **overrides: Any) -> TestPlan:
        """The usual plan for ``protocol`` (9HPT: both hands, dominant first, a practice
        trial then 2 timed trials each)."""
        if protocol not in PLAN_DEFAULTS:
            raise AdministrationError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
        return cls(protocol, **{**PLAN_DEFAULTS[protocol], **overrides})

    @property
    def measure(self) -> Measure:
        return MEASURES[self.protocol]

    def make_protocol(self, board: BoardSpec) -> Protocol:
        """A fresh protocol state machine for one trial of this test."""
        return make_protocol(self.protocol, board, dict(self.options))

    def slots(self) -> list[TrialSlot]:
        """The planned trials in order (before any repeat)."""
        out = []
        for h in self.hands:
            if self.practice:
                out.append(TrialSlot(h, 1, practice=True))
            out += [TrialSlot(h, i) for i in range(1, self.trials_per_hand + 1)]
        return out

    def to_dict(self) -> PlanDict:
        return {"protocol": self.protocol, "options": dict(self.options), "hands": list(self.hands),
                "trials_per_hand": self.trials_per_hand, "practice": self.practice}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TestPlan:
        if not isinstance(d, Mapping) or "protocol" not in d:
            raise AdministrationError("a test plan needs at least a 'protocol'")
        unknown = set(d) - {"protocol", "options", "hands", "trials_per_hand", "practice"}
        if unknown:
            raise AdministrationError(f"unknown test plan field(s): {', '.join(sorted(unknown))}")
        base = PLAN_DEFAULTS.get(d["protocol"], {})
        return cls(d["protocol"], d.get("options") or {}, tuple(d.get("hands", base.get("hands", HANDS))),
                   d.get("trials_per_hand", base.get("trials_per_hand", 2)),
                   d.get("practice", base.get("practice", False)))


@dataclass(frozen=True)
class TrialSlot:
    """One trial to run: which hand, its number for that hand (1-based), practice or not,
    and the invalid trial it repeats, if any."""

    hand: str
    index: int
    practice: bool = False
    repeat_of: int | str | None = None

    def to_dict(self) -> SlotDict:
        return {"hand": self.hand, "index": self.index, "practice": self.practice, "repeat_of": self.repeat_of}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialSlot:
        try:
            return cls(str(d["hand"]), int(d["index"]), bool(d.get("practice", False)), d.get("repeat_of"))
        except (KeyError, TypeError, ValueError):
            raise AdministrationError(f"malformed trial slot {d!r}") from None


class TestSession:
    """The state of one test being given (see the module docstring)."""

    __test__ = False  # not a pytest test class

    def __init__(self, plan: TestPlan, test_id: int | str | None = None, *, patient_id: str | None = None,
                 date: str | None = None) -> None:
        self.plan = plan
        self.test_id = test_id
        self.patient_id = patient_id
        self.date = date  # ISO date of the test, given by the caller
        self.queue: list[TrialSlot] = plan.slots()
        #: every recorded trial in order: trial_id, hand, index, practice, repeat_of, result, valid, invalid_reason
        self.trials: list[TrialEntry] = []
        self.status = "in_progress"  # -> complete | ended
        self.ended_reason: str | None = None

    # --- running -----------------------------------------------------------

    def next_trial(self) -> TrialSlot | None:
        """The trial to run next, or None when the test is over."""
        return self.queue[0] if self.status == "in_progress" and self.queue else None

    def record(self, result: Mapping[str, Any], trial_id: int | str | None = None) -> int | str:
        """Take the finished result of the next trial; returns its trial id.

        An ``incomplete`` result is marked invalid at once and repeated.
        """
        slot = self.next_trial()
        if slot is None:
            raise AdministrationError("this test has no trial left to record (it is over)")
        if not isinstance(result, Mapping) or result.get("status") not in ("complete", "timeout", "incomplete"):
            raise AdministrationError("a trial result needs a status: complete, timeout or incomplete")
        tid = trial_id if trial_id is not None else f"{self.test_id or 'trial'}-{len(self.trials) + 1}"
        if any(e["trial_id"] == tid for e in self.trials):
            raise AdministrationError(f"trial {tid!r} is already recorded in this test")
        self.queue.pop(0)
        self.trials.append({"trial_id": tid, **slot.to_dict(), "result": dict(result),
                            "valid": True, "invalid_reason": None})
        if result["status"] == "incomplete":
            self.mark_invalid(tid, INCOMPLETE_REASON)
        self._settle()
        return tid

    def mark_invalid(self, trial_id: int | str, reason: str, repeat: bool = True) -> TrialEntry:
        """Flag a recorded trial invalid with ``reason`` (kept, left out of the summary);
        with ``repeat`` the same trial is run again next. Returns the trial entry."""
        entry = self.trial(trial_id)
        if not isinstance(reason, str) or not reason.strip():
            raise AdministrationError("say why the trial is invalid (e.g. 'peg dropped on the floor')")
        if not entry["valid"]:
            raise AdministrationError(f"trial {trial_id!r} is already marked invalid ({entry['invalid_reason']})")
        entry["valid"] = False
        entry["invalid_reason"] = reason.strip()
        if repeat and self.status != "ended":
            self.queue.insert(0, TrialSlot(entry["hand"], entry["index"], entry["practice"], trial_id))
            self.status = "in_progress"
        return entry

    def end(self, reason: str) -> None:
        """Stop the test before its plan is done (the patient cannot go on...)."""
        if not isinstance(reason, str) or not reason.strip():
            raise AdministrationError("say why the test ends early")
        if self.status == "in_progress":
            self.status, self.ended_reason = "ended", reason.strip()
            self.queue.clear()

    def trial(self, trial_id: int | str) -> TrialEntry:
        """The recorded trial entry ``trial_id``."""
        for e in self.trials:
            if e["trial_id"] == trial_id:
                return e
        raise AdministrationError(f"no trial {trial_id!r} in this test")

    def _settle(self) -> None:
        if self.status == "in_progress" and not self.queue:
            self.status = "complete"

    # --- summary -----------------------------------------------------------

    def summary(self) -> SessionSummary:
        """Per hand the valid trials and their mean; the MSFC-style score for the 9HPT;
        the invalid trials and why. Fields documented in ``station/results.py``."""
        m = self.plan.measure
        hands = {h: self._hand_summary(h, m) for h in self.plan.hands}
        out: SessionSummary = {
            "protocol": self.plan.protocol,
            "status": self.status,
            "measure": m.key,
            "unit": m.unit,
            "lower_is_better": m.lower_is_better,
            "hands": hands,
            "msfc_score": _msfc(hands) if self.plan.protocol == "nine-hole-peg" else None,
            "practice": [e["trial_id"] for e in self.trials if e["practice"]],
            "invalid": [{"trial_id": e["trial_id"], "hand": e["hand"], "index": e["index"],
                         "practice": e["practice"], "reason": e["invalid_reason"],
                         "status": e["result"].get("status"), "value": e["result"].get(m.key),
                         "repeated": any(x["repeat_of"] == e["trial_id"] for x in self.trials + [
                             s.to_dict() for s in self.queue])}
                        for e in self.trials if not e["valid"]],
        }
        return out

    def _hand_summary(self, hand: str, m: Measure) -> HandSummary:
        scored = [e for e in self.trials if e["hand"] == hand and e["valid"] and not e["practice"]]
        timed_out = sum(1 for e in scored if e["result"].get("status") == "timeout")
        values = [e["result"].get(m.key) for e in scored]
        done = [v for e, v in zip(scored, values, strict=True)
                if e["result"].get("status") == "complete" and v is not None]
        if not scored:
            status = "no_trials"
        elif timed_out and m.lower_is_better:
            status = "timeout"
        else:
            status = "complete"
        mean = _mean(done) if status == "complete" else None
        extras: dict[str, float | None] = {}
        for key in m.extras:
            xs = [e["result"].get(key) for e in scored if e["result"].get("status") == "complete"]
            extras[key] = _mean([x for x in xs if isinstance(x, (int, float))])
        timings = {e["result"].get("timing") for e in scored}
        timing = None if not timings or timings == {None} else timings.pop() if len(timings) == 1 else MIXED_TIMING
        return {"trials": [e["trial_id"] for e in scored], "values": values, "mean": mean,
                "status": status, "timed_out": timed_out, "means": extras, "timing": timing}

    # --- storage -----------------------------------------------------------

    def to_dict(self) -> SessionDict:
        """Everything needed to restore the session (JSON-ready)."""
        return {"schema": SESSION_SCHEMA, "test_id": self.test_id, "patient_id": self.patient_id,
                "date": self.date, "plan": self.plan.to_dict(), "status": self.status,
                "ended_reason": self.ended_reason, "queue": [s.to_dict() for s in self.queue],
                "trials": [{**e, "result": dict(e["result"])} for e in self.trials]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TestSession:
        """Restore a session from ``to_dict``'s output. AdministrationError if it is not one."""
        if not isinstance(d, Mapping) or d.get("schema") != SESSION_SCHEMA:
            raise AdministrationError(f"not a stored test session (expected schema {SESSION_SCHEMA!r})")
        s = cls(TestPlan.from_dict(d.get("plan", {})), d.get("test_id"), patient_id=d.get("patient_id"),
                date=d.get("date"))
        if d.get("status") not in ("in_progress", "complete", "ended"):
            raise AdministrationError(f"stored test session has an unknown status {d.get('status')!r}")
        s.status, s.ended_reason = d["status"], d.get("ended_reason")
        s.queue = [TrialSlot.from_dict(x) for x in d.get("queue", [])]
        keys = ("trial_id", "hand", "index", "practice", "repeat_of", "result", "valid", "invalid_reason")
        for e in d.get("trials", []):
            if not isinstance(e, Mapping) or any(k not in e for k in keys):
                raise AdministrationError(f"stored test session has a malformed trial: {e!r}")
            s.trials.append(cast(TrialEntry, {k: e[k] for k in keys} | {"result": dict(e["result"])}))
        return s


def _mean(xs: list[float]) -> float | None:
    return round(fmean(xs), 6) if xs else None


def _msfc(hands: dict[str, HandSummary]) -> float | None:
    """Mean of the reciprocals of the two hands' mean times; a hand that timed out counts
    ``MSFC_UNABLE_S`` (777 s), the MSFC manual's value for a hand unable to complete."""
    recips = []
    for h in HANDS:
        hs = hands.get(h)
        if hs is None or hs["status"] == "no_trials":
            return None
        recips.append(1.0 / MSFC_UNABLE_S if hs["status"] == "timeout" or not hs["mean"] else 1.0 / hs["mean"])
    return round(fmean(recips), 6)
