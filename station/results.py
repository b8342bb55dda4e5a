"""Result records: what a trial, a test and a test's summary look like when stored or exported.

Every record is a plain, JSON-ready dict with a ``schema`` string naming its
shape and version (``station.trial/1``...). A change that removes or
redefines a field gets a new version; added fields do not. Times are seconds,
dates ISO 8601. Fields that cannot be known are present with ``null``. The
same shapes are in code as ``TypedDict``s in ``station.record_types``
(``TrialRecord``, ``SummaryRecord``, ``TestRecord``...).

Trial record, ``station.trial/1`` (``trial_record``)
------------------------------------------------------
``schema``          "station.trial/1"
``protocol``        protocol name (``nine-hole-peg``, ``coin-drop``, ``timed-pegs``, ``free-practice``)
``options``         the protocol's options as run (defaults filled in)
``test_id``         the test it belongs to, or null for a trial run on its own
``patient_id``      pseudonymous patient id, or null
``hand``            ``dominant`` / ``non-dominant``, or null outside a test
``index``           trial number for that hand, from 1 (a repeat keeps the number)
``practice``        true for a practice trial (never in a summary)
``repeat_of``       id of the invalid trial this one repeats, or null
``started_at``      when it started (ISO 8601, given by the caller), or null
``status``          ``complete`` / ``timeout`` / ``incomplete`` (copied from ``result``)
``total_s``         the trial's time, null unless complete (copied from ``result``)
``result``          the protocol's full result (below)
``valid``           false once marked invalid
``invalid_reason``  why (therapist's words, or the incomplete rule), else null
``events``          the accepted events (``Event.to_dict`` shapes), in time order
``faults``          faults during the trial (``Fault.to_dict`` shapes)
``trace``           path of the raw trace file, or null

Protocol results (the ``result`` field; also ``station replay``'s ``result``)
-----------------------------------------------------------------------------
All: ``status``, ``total_s``. ``*_s`` lists and ``*_at_s`` are seconds from
the trial's start; ``*_cv`` are coefficients of variation (sample SD / mean);
see ``station/metrics.py`` for the exact definitions.

nine-hole-peg: ``timing`` (how the time was measured, a key of
``station.protocols.nine_hole_peg.TIMINGS``: ``first-peg-to-dish`` with a
dish cell, ``button-to-last-peg-out`` without); ``holes`` [{``hole``, ``in_s`` first insert, ``out_s`` last
removal}] in fill order; ``reinserts``; ``place_s`` (start to the last hole
filled), ``remove_s`` (from there to the end); ``place_intervals_s``,
``remove_intervals_s`` (per peg, splitting each phase) and their
``place_interval_cv``, ``remove_interval_cv``; ``longest_pause_s`` and
``longest_pause_at_s`` (longest stretch without a peg event);
``pegs_per_s``; with a dish cell ``transport_s`` (per inserted peg, dish
pick-up to insert), ``transport_mean_s``, ``returned_to_dish`` (pegs picked
up and put back unused), else those three are null.

coin-drop: ``place_s``, ``pickup_s`` (the two phases); ``place_times_s``,
``pickup_times_s`` (per coin); ``place_intervals_s``, ``pickup_intervals_s``
and their CVs; ``coins_together`` (tray changes of more than one coin).

timed-pegs: ``pegs`` (the score: inserts within the window);
``insert_times_s``, ``insert_intervals_s``, ``insert_interval_cv``,
``longest_pause_s``, ``longest_pause_at_s``, ``pegs_per_s``; dish transport
keys as for the 9HPT.

free-practice: ``reps``; ``goal`` (null: none), ``goal_reached``;
``reps_per_min``, ``pace_by_third_rpm`` [3], ``reps_by_minute``,
``pace_change_pct`` (last third vs first), ``pace_trend``
(``faster``/``slower``/``steady``), ``rep_intervals_s``,
``rep_interval_slope_s`` (seconds per rep; positive is slowing).

Summary record, ``station.summary/1`` (``summary_record``)
------------------------------------------------------------
``schema``           "station.summary/1"
``test_id``, ``patient_id``, ``date``, ``protocol``
``status``           the test's: ``in_progress`` / ``complete`` / ``ended``
``measure``          the result key averaged (``total_s``, ``pegs``, ``reps``)
``unit``             its unit (``s``, ``pegs``, ``reps``)
``lower_is_better``  true for times
``hands``            {hand: hand summary}, in the order tested:
   ``trials``   ids of the valid timed trials (no practice, no invalid)
   ``values``   their ``measure`` values (null for a timed-out trial)
   ``mean``     mean of the completed values; null if none, or if a trial
                timed out (for times: the hand did not complete)
   ``status``   ``complete`` / ``timeout`` / ``no_trials``
   ``timed_out`` number of valid trials that timed out
   ``means``    {key: mean over completed trials} of the protocol's phase keys
                (9HPT ``place_s``, ``remove_s``; coin drop ``place_s``,
                ``pickup_s``; timed pegs ``pegs_per_s``; free practice ``reps_per_min``)
   ``timing``   the timing definition of its trials (``timing`` of their results),
                ``mixed`` if they differ, null if not recorded
   ``norm``     the norm score of ``mean`` (9HPT only, else null): ``time_s``,
                ``hand``, ``age`` (at the test date, ``station.norms.patient_age``),
                ``age_basis`` (from birth month and year, or approximate from the
                year only), ``sex``, ``timing``, ``sample_ages``, ``sd_score``
                ((norm mean - time) / norm SD, 2 decimals, positive is faster),
                ``band`` (``normal``, ``below``, ``well_below``, ``markedly_below``,
                ``above``, ``well_above``, ``markedly_above``), ``band_label``,
                ``norm`` (the age band used: ``age_from``, ``age_to``, ``sex``,
                ``hand``, ``mean_s``, ``sd_s``), ``reason`` (why there is no score,
                else null), ``citation`` (the norm set's source)
   ``progress`` against the patient's earlier tests of this protocol with the
                same timing, in the order they happened (``station/progress.py``):
                ``baseline`` and ``previous``, each null or {``date``,
                ``reference`` (that test's value of ``change_measure``), ``current``,
                ``change``, ``change_pct``, ``direction`` (``better``/``worse``/
                ``same``), ``flag`` (``meaningful change``, ``beyond measurement
                error`` or null), ``meaningful``}; ``threshold`` (null, or
                {``population``, ``flag``, ``source``, ``pct``, ``amount``}),
                ``threshold_pct``, ``not_compared`` (earlier tests timed otherwise)
``msfc_score``       9HPT only: mean of 1/(dominant mean) and 1/(non-dominant mean),
                     in 1/s, a timed-out hand counting 777 s (MSFC manual); null
                     otherwise or if a hand has no valid trial
``change_measure``   {``key``, ``unit``, ``lower_is_better``}: what ``progress`` compares
``condition``        the patient's population for change thresholds (``ms``, ``stroke``) or null
``norm_sample_ages`` [from, to] of the norm sample (9HPT), else null
``practice``         ids of practice trials
``invalid``          [{``trial_id``, ``hand``, ``index``, ``practice``, ``reason``,
                     ``status``, ``value``, ``repeated``}]: invalid trials and why
``norm_source``      the norm set's citation (9HPT), else null

Test record, ``station.test/1`` (``test_record``)
---------------------------------------------------
``schema``        "station.test/1"
``test_id``, ``patient_id``, ``date``, ``protocol``
``plan``          {``protocol``, ``options``, ``hands``, ``trials_per_hand``, ``practice``}
``status``        ``in_progress`` / ``complete`` / ``ended``; ``ended_reason``
``trials``        the session's trial entries in order: ``trial_id``, ``hand``,
                  ``index``, ``practice``, ``repeat_of``, ``result``, ``valid``,
                  ``invalid_reason`` (the full trial records are stored apart)
``summary``       the summary record
``session``       ``TestSession.to_dict()`` (restores the session)
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from station.administration import INCOMPLETE_REASON, MIXED_TIMING, TestSession, TrialSlot
from station.norms import NormSet, load_norms, score_time
from station.progress import CHANGE_MEASURES, CONDITIONS, progress, threshold_for
from station.record_types import EventDict, HandSummary, NormScore, SummaryRecord, TestRecord, TrialRecord

TRIAL_SCHEMA = "station.trial/1"
TEST_SCHEMA = "station.test/1"
SUMMARY_SCHEMA = "station.summary/1"


def trial_record(result: Mapping[str, Any], *, protocol: str, options: Mapping[str, Any] | None = None,
                 slot: TrialSlot | None = None, test_id: int | str | None = None, patient_id: str | None = None,
                 started_at: str | None = None, events: Iterable[Any] = (), faults: Iterable[Any] = (),
                 trace: str | None = None) -> TrialRecord:
    """A ``station.trial/1`` record. ``events``/``faults``: event objects or their dicts."""
    return {
        "schema": TRIAL_SCHEMA,
        "protocol": protocol,
        "options": dict(options or {}),
        "test_id": test_id,
        "patient_id": patient_id,
        "hand": slot.hand if slot else None,
        "index": slot.index if slot else None,
        "practice": slot.practice if slot else False,
        "repeat_of": slot.repeat_of if slot else None,
        "started_at": started_at,
        "status": result.get("status"),
        "total_s": result.get("total_s"),
        "result": dict(result),
        "valid": result.get("status") != "incomplete",
        "invalid_reason": INCOMPLETE_REASON if result.get("status") == "incomplete" else None,
        "events": [_as_dict(e) for e in events],
        "faults": [_as_dict(f) for f in faults],
        "trace": trace,
    }


def summary_record(session: TestSession, *, patient: Mapping[str, Any] | None = None,
                   norms: NormSet | None = None, history: Iterable[Mapping[str, Any]] = ()) -> SummaryRecord:
    """The ``station.summary/1`` record of a session.

    ``patient``: ``{"id", "birth_year", "birth_month", "sex", "dominant_hand",
    "condition"}`` as the record store keeps it (any may be missing: the norm score
    then says why there is none; without ``condition`` no change is flagged).
    ``norms``: the norm set (default: the shipped one). ``history``: the patient's
    earlier test records (``station.test/1``); those of other protocols, this test
    and later ones are ignored, the rest taken in the order they happened.
    """
    s = session.summary()
    normed: NormSet | None = None  # the norms this test is scored against
    if session.plan.protocol == "nine-hole-peg":
        norms = norms or load_norms()
        normed = norms if norms.test == session.plan.protocol else None
    earlier = _earlier(session, history)
    measure = CHANGE_MEASURES[session.plan.protocol]
    condition = (patient or {}).get("condition")
    condition = condition if condition in CONDITIONS else None
    threshold = threshold_for(session.plan.protocol, condition)
    for hand, hs in s["hands"].items():
        hs["norm"] = _norm_score(hand, hs, session, patient, normed) if normed is not None else None
        hs["progress"] = progress(_change_value(hs, measure.key), _hand_history(earlier, hand, measure.key),
                                  lower_is_better=measure.lower_is_better, threshold=threshold,
                                  timing=hs.get("timing"))
    return {"schema": SUMMARY_SCHEMA, "test_id": session.test_id, "patient_id": session.patient_id,
            "date": session.date, **s, "norm_source": normed.citation if normed is not None else None,
            "norm_sample_ages": list(normed.sample_ages) if normed is not None else None,
            "change_measure": {"key": measure.key, "unit": measure.unit,
                               "lower_is_better": measure.lower_is_better},
            "condition": condition}


def test_record(session: TestSession, *, patient: Mapping[str, Any] | None = None,
                norms: NormSet | None = None, history: Iterable[Mapping[str, Any]] = ()) -> TestRecord:
    """The ``station.test/1`` record of a session, its summary included."""
    state = session.to_dict()
    return {"schema": TEST_SCHEMA, "test_id": session.test_id, "patient_id": session.patient_id,
            "date": session.date, "protocol": session.plan.protocol, "plan": session.plan.to_dict(),
            "status": session.status, "ended_reason": session.ended_reason, "trials": state["trials"],
            "summary": summary_record(session, patient=patient, norms=norms, history=history),
            "session": state}


# a name pytest would otherwise collect; mypy knows no attributes on functions
test_record.__test__ = False  # type: ignore[attr-defined]


def _norm_score(hand: str, hs: HandSummary, session: TestSession, patient: Mapping[str, Any] | None,
                norms: NormSet) -> NormScore:
    not_scored = None
    if hs["status"] == "timeout":
        cutoff = session.plan.options.get("cutoff_s", 300.0)
        not_scored = f"the {hand} hand did not complete the test within the {cutoff:g} s cutoff"
    elif hs["status"] == "no_trials":
        not_scored = f"no valid timed trial with the {hand} hand"
    elif hs.get("timing") == MIXED_TIMING:
        not_scored = f"the {hand} hand's trials were timed in different ways: no SD score"
    if not_scored is None and patient is None:
        not_scored = "no patient details: no SD score"
    patient = patient or {}
    return score_time(hs["mean"], birth_year=patient.get("birth_year"), birth_month=patient.get("birth_month"),
                      sex=patient.get("sex"), hand=hand, test_date=_parse_date(session.date),
                      timing=hs.get("timing"), norms=norms, not_scored=not_scored)


def _earlier(session: TestSession, history: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The patient's tests of this protocol before this one, in the order they happened:
    by date, then by when the store created them, then by id (never by value)."""
    out = []
    for rec in history:
        if not isinstance(rec, Mapping) or rec.get("protocol") != session.plan.protocol:
            continue
        if rec.get("test_id") is not None and rec.get("test_id") == session.test_id:
            continue
        if session.date and rec.get("date") and str(rec["date"]) > session.date:
            continue
        if (session.date and str(rec.get("date")) == session.date and _numeric(rec.get("test_id"))
                and _numeric(session.test_id) and rec["test_id"] > session.test_id):
            continue  # the same day, created after this test (a rescore of an earlier test)
        out.append(rec)
    out.sort(key=lambda r: (str(r.get("date") or ""), str(r.get("created_at") or ""),
                            r["test_id"] if _numeric(r.get("test_id")) else 0))
    return out


def _numeric(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _change_value(hs: Mapping[str, Any], key: str) -> float | None:
    return hs.get("mean") if key == "mean" else (hs.get("means") or {}).get(key)


def _hand_history(records: list[Mapping[str, Any]], hand: str, key: str) -> list[tuple]:
    """``(date, value, timing)`` of each earlier test's ``hand``, in the records' order."""
    out: list[tuple] = []
    for rec in records:
        hs = ((rec.get("summary") or {}).get("hands") or {}).get(hand)
        if isinstance(hs, Mapping) and rec.get("date"):
            out.append((str(rec["date"]), _change_value(hs, key), hs.get("timing")))
    return out


def _parse_date(s: str | None) -> date | None:
    try:
        return date.fromisoformat(str(s)[:10]) if s else None
    except ValueError:
        return None


def _as_dict(x: Any) -> EventDict:
    return x if isinstance(x, dict) else x.to_dict()
