"""A short plain-text clinical note per test, to paste into a medical record.

``clinical_note(test_record, patient)`` writes what a therapist would: the
test and date, the patient's age (and how it was computed), sex and
handedness, how it was given, how time was measured, each hand's times and
mean, SD scores with band, the norm population and source, the MSFC score
(9HPT, with its convention for a hand unable to complete), the change from
baseline and from the previous test (flagged only against a threshold
published for the patient's population, with its source), and the invalid
trials and why. It never claims more than its sources: no SD score for a time
measured otherwise than the norms', no flag without a published threshold.
ASCII only: medical record systems and the Linux console mangle anything else.
Times are given to 0.1 s, the precision the 9HPT is reported in.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from station.administration import MIXED_TIMING, MSFC_UNABLE_S
from station.progress import CONDITIONS, NO_THRESHOLD, Threshold
from station.protocols.nine_hole_peg import TIMINGS

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
    lines.append(patient_line(test, patient, s))
    lines.append(plan_line(plan, s))
    timing = timing_line(s)
    if timing:
        lines.append(timing)
    for hand, hs in s["hands"].items():
        lines.append(hand_line(hand, hs, unit, patient, plan))
        norm = hs.get("norm")
        if norm is not None:
            lines.append("  " + norm_text(norm))
    if s.get("msfc_score") is not None:
        unable = any(hs["status"] == "timeout" for hs in s["hands"].values())
        lines.append(f"MSFC 9HPT score (mean of 1/mean time of each hand): {s['msfc_score']:.4f} /s"
                     + (f"; a hand unable to complete counts {MSFC_UNABLE_S:g} s (MSFC manual, Fischer 2001)."
                        if unable else "."))
    lines += progress_lines(s, unit)
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
        pop = next((hs["norm"].get("population") for hs in s["hands"].values()
                    if hs.get("norm") and hs["norm"].get("population")), None)
        lines.append(f"Norms: {pop + '; ' if pop else ''}{s['norm_source']}")
    lines.append("Measured on an instrumented pegboard station (switch-timed holes, load-cell dish and tray).")
    return "\n".join(lines) + "\n"


def patient_line(test: Mapping[str, Any], patient: Mapping[str, Any] | None, s: Mapping[str, Any]) -> str:
    """The patient: pseudonym, age and how it was computed, sex, handedness, population."""
    p = patient or {}
    pid = test.get("patient_id") or p.get("id") or "not recorded"
    norms = [hs["norm"] for hs in s["hands"].values() if hs.get("norm") and hs["norm"].get("age") is not None]
    born, month = p.get("birth_year"), p.get("birth_month")
    if not born:
        age = "birth year not recorded"
    elif isinstance(month, int) and 1 <= month <= 12:
        age = f"born {born}-{month:02d}" + (f" (age {norms[0]['age']} at the test date)" if norms else "")
    else:
        age = f"born {born}" + (f" (age {norms[0]['age']} in the test year; approximate, birth month not "
                                "recorded)" if norms else "")
    sex = p.get("sex") or "sex not recorded"
    hand = f"{p['dominant_hand']}-handed" if p.get("dominant_hand") else "handedness not recorded"
    cond = CONDITIONS.get(s.get("condition") or "")
    return f"Patient {pid}: {age}, {sex}, {hand}" + (f"; population: {cond}." if cond else ".")


def plan_line(plan: Mapping[str, Any], s: Mapping[str, Any]) -> str:
    """How the test was given: trials per hand and order, practice, cutoff or duration."""
    n = plan["trials_per_hand"]
    order = " then ".join(plan["hands"])
    bits = [f"{n} timed trial{'s' if n != 1 else ''} per hand ({order})"]
    if plan.get("practice"):
        bits.append("a practice trial with each hand")
    elif plan["protocol"] == "nine-hole-peg":
        bits.append("no practice trial (the norms were collected after a practice trial per hand)")
    else:
        bits.append("no practice trial")
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


def hand_line(hand: str, hs: Mapping[str, Any], unit: str, patient: Mapping[str, Any] | None,
               plan: Mapping[str, Any]) -> str:
    """One hand's valid timed values and mean (or why there is none)."""
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


def timing_line(s: Mapping[str, Any]) -> str | None:
    """How time was measured, once for the test (per hand if they differ); None if not a timed 9HPT."""
    if s.get("protocol") != "nine-hole-peg":
        return None
    per_hand = {hand: hs.get("timing") for hand, hs in s["hands"].items() if hs["status"] != "no_trials"}
    kinds = set(per_hand.values())
    if not kinds:
        return None
    if len(kinds) == 1:
        return f"Timing: {_timing_text(kinds.pop())}."
    return "Timing: " + "; ".join(f"{hand} hand {_timing_text(t)}" for hand, t in per_hand.items()) + "."


def _timing_text(code: str | None) -> str:
    if code is None:
        return "not recorded"
    if code == MIXED_TIMING:
        return "differed between trials"
    return TIMINGS.get(code, code)


def norm_text(n: Mapping[str, Any]) -> str:
    """An SD score with its band, population and norm row, or why there is none."""
    if n.get("sd_score") is None:
        return f"No SD score: {n['reason']}."
    r = n["norm"]
    pop = f" against {n['population']}" if n.get("population") else ""
    return (f"SD score {n['sd_score']:+.2f} ({n['band_label']}){pop}; norm {r['sex']} {r['age_from']}-"
            f"{r['age_to']} y, {r['hand']} hand: {r['mean_s']:.1f} +/- {r['sd_s']:.1f} s.")


def progress_lines(s: Mapping[str, Any], unit: str) -> list[str]:
    """Change from baseline and from the previous test, and the threshold they are flagged against."""
    out = []
    unit = (s.get("change_measure") or {}).get("unit", unit)
    what = "" if unit == s["unit"] else f" in {unit}"
    progs = [hs.get("progress") or {} for hs in s["hands"].values()]
    for key, title in (("baseline", "Change from baseline"), ("previous", "Change from previous test")):
        parts, dates = [], set()
        for hand, hs in s["hands"].items():
            prog = hs.get("progress") or {}
            c = prog.get(key)
            if not c or (key == "previous" and c == prog.get("baseline")):
                continue  # one earlier test: it is both baseline and previous
            pct = "" if c["change_pct"] is None else f", {c['change_pct']:+.1f} %"
            mark = f" [{c['flag']}]" if c.get("flag") else ""
            dates.add(c["date"])
            current = c.get("current", hs["mean"])
            parts.append(f"{hand} {_value(c['reference'], unit)} -> {_value(current, unit)}"
                         f"{pct} ({c['direction']}){mark}")
        if parts:
            out.append(f"{title}{what} ({', '.join(sorted(dates))}): " + "; ".join(parts) + ".")
    if out:
        out.append(threshold_line(next((p["threshold"] for p in progs if p.get("threshold")), None), unit))
    skipped = max((p.get("not_compared") or 0 for p in progs), default=0)
    if skipped:
        out.append(f"{skipped} earlier test{'s' if skipped != 1 else ''} timed another way "
                   f"{'are' if skipped != 1 else 'is'} not compared.")
    if not out or (skipped and len(out) == 1):
        same = " timed the same way" if skipped else ""
        out.insert(0, f"Change over time: no earlier test{same} to compare with.")
    return out


def threshold_line(t: Mapping[str, Any] | None, unit: str) -> str:
    """The threshold a change is flagged against (with its size), or that none is published."""
    if t is None:
        return f"Changes are not flagged: {NO_THRESHOLD.split(':')[0]}."
    th = Threshold(t["population"], t["flag"], t["source"], t.get("pct"), t.get("amount"))
    return f"Flagged as {th.flag}: a change of {th.text(unit)} or more."


def _value(v: Any, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "s":
        return f"{v:.1f} s"
    return f"{v:g} {unit}" if float(v).is_integer() else f"{v:.1f} {unit}"
