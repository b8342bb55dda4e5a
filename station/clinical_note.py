"""A short plain-text clinical note per test, to paste into a medical record.

``clinical_note(test_record, patient)`` writes what a therapist would: the
test and date, the patient's age, sex and handedness, how it was given, each
hand's times and mean, SD scores with band and norm source, the MSFC-style
score (9HPT), the change from baseline and from the previous test (flagged
when it reaches the meaningful threshold), and the invalid trials and why.
ASCII only: medical record systems and the Linux console mangle anything else.
Times are given to 0.1 s, the precision the 9HPT is reported in.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TITLES = {
    "nine-hole-peg": "Nine Hole Peg Test (9HPT)",
    "coin-drop": "Coin drop test",
    "timed-pegs": "Timed pegs test",
    "free-practice": "Free practice (pegboard)",
}
OTHER_HAND = {"left": "right", "right": "left"}


def clinical_note(test: Mapping[str, Any], patient: Mapping[str, Any] | None = None) -> str:
    """The note for a ``station.test/1`` record (``station.results.test_record``)."""
    s = test["summary"]
    plan = test["plan"]
    unit = s["unit"]
    lines = [f"{TITLES.get(test['protocol'], test['protocol'])} - {test.get('date') or 'date not recorded'}"]
    lines.append(_patient_line(test, patient, s))
    lines.append(_plan_line(plan, s))
    for hand, hs in s["hands"].items():
        lines.append(_hand_line(hand, hs, unit, patient, plan))
        norm = hs.get("norm")
        if norm is not None:
            lines.append("  " + _norm_text(norm))
    if s.get("msfc_score") is not None:
        lines.append(f"MSFC 9HPT score (mean of 1/mean time of each hand): {s['msfc_score']:.4f} /s.")
    lines += _progress_lines(s, unit)
    if s["invalid"]:
        lines.append("Invalid trials (kept, not scored):")
        for inv in s["invalid"]:
            what = "practice trial" if inv["practice"] else f"trial {inv['index']}"
            value = _value(inv["value"], unit) if inv["status"] == "complete" else inv["status"]
            tail = "; repeated" if inv["repeated"] else ""
            lines.append(f"  {inv['hand']} hand {what} ({value}): {inv['reason']}{tail}.")
    else:
        lines.append("Invalid trials: none.")
    if test.get("status") == "ended":
        lines.append(f"Test ended early: {test.get('ended_reason')}.")
    elif test.get("status") == "in_progress":
        lines.append("Test not finished: results so far.")
    if s.get("norm_source"):
        lines.append(f"Norms: {s['norm_source']}")
    lines.append("Measured on an instrumented pegboard station (switch-timed holes, load-cell dish and tray).")
    return "\n".join(lines) + "\n"


def _patient_line(test: Mapping[str, Any], patient: Mapping[str, Any] | None, s: Mapping[str, Any]) -> str:
    p = patient or {}
    pid = test.get("patient_id") or p.get("id") or "not recorded"
    ages = [hs["norm"]["age"] for hs in s["hands"].values() if hs.get("norm") and hs["norm"].get("age") is not None]
    born = p.get("birth_year")
    age = f"born {born}" + (f" (age {ages[0]} in the test year)" if ages else "") if born else "birth year not recorded"
    sex = p.get("sex") or "sex not recorded"
    hand = f"{p['dominant_hand']}-handed" if p.get("dominant_hand") else "handedness not recorded"
    return f"Patient {pid}: {age}, {sex}, {hand}."


def _plan_line(plan: Mapping[str, Any], s: Mapping[str, Any]) -> str:
    n = plan["trials_per_hand"]
    order = " then ".join(plan["hands"])
    bits = [f"{n} timed trial{'s' if n != 1 else ''} per hand ({order})"]
    bits.append("practice trial given" if plan.get("practice") else "no practice trial")
    opts = plan.get("options") or {}
    if plan["protocol"] in ("nine-hole-peg", "coin-drop"):
        bits.append(f"cutoff {opts.get('cutoff_s', 300.0):g} s")
    if plan["protocol"] == "timed-pegs":
        bits.append(f"{opts.get('duration_s', 30.0):g} s per trial")
    if plan["protocol"] == "coin-drop":
        bits.append(f"{opts.get('coins', 8)} coins")
    if plan["protocol"] == "free-practice" and opts.get("goal"):
        bits.append(f"goal {opts['goal']} reps")
    return "Given as: " + "; ".join(bits) + "."


def _hand_line(hand: str, hs: Mapping[str, Any], unit: str, patient: Mapping[str, Any] | None,
               plan: Mapping[str, Any]) -> str:
    side = (patient or {}).get("dominant_hand")
    if side in OTHER_HAND:
        side = side if hand == "dominant" else OTHER_HAND[side]
        name = f"{hand.capitalize()} hand ({side})"
    else:
        name = f"{hand.capitalize()} hand"
    if hs["status"] == "no_trials":
        return f"{name}: no valid trial."
    vals = ", ".join(_value(v, unit) if v is not None else "did not finish" for v in hs["values"])
    if hs["status"] == "timeout":
        cutoff = (plan.get("options") or {}).get("cutoff_s", 300.0)
        return f"{name}: {vals}; did not complete within {cutoff:g} s, no mean."
    return f"{name}: {vals}; mean {_value(hs['mean'], unit)}."


def _norm_text(n: Mapping[str, Any]) -> str:
    if n.get("sd_score") is None:
        return f"No SD score: {n['reason']}."
    r = n["norm"]
    return (f"SD score {n['sd_score']:+.2f} ({n['band_label']}); norm {r['sex']} {r['age_from']}-"
            f"{r['age_to']} y, {r['hand']} hand: {r['mean_s']:.1f} +/- {r['sd_s']:.1f} s.")


def _progress_lines(s: Mapping[str, Any], unit: str) -> list[str]:
    out = []
    for key, title in (("baseline", "Change from baseline"), ("previous", "Change from previous test")):
        parts, dates, flagged, threshold = [], set(), False, None
        for hand, hs in s["hands"].items():
            prog = hs.get("progress") or {}
            c = prog.get(key)
            if not c or (key == "previous" and c == prog.get("baseline")):
                continue  # one earlier test: it is both baseline and previous
            pct = "" if c["change_pct"] is None else f", {c['change_pct']:+.1f} %"
            mark = " [meaningful change]" if c["meaningful"] else ""
            flagged |= c["meaningful"]
            dates.add(c["date"])
            threshold = prog["threshold_pct"]
            parts.append(f"{hand} {_value(c['reference'], unit)} -> {_value(hs['mean'], unit)}"
                         f"{pct} ({c['direction']}){mark}")
        if parts:
            note = f" Changes of {threshold:g} % or more are flagged as meaningful." if flagged else ""
            out.append(f"{title} ({', '.join(sorted(dates))}): " + "; ".join(parts) + "." + note)
    if not out:
        out.append("Change over time: no earlier test to compare with.")
    return out


def _value(v: Any, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "s":
        return f"{v:.1f} s"
    return f"{v:g} {unit}" if float(v).is_integer() else f"{v:.1f} {unit}"
