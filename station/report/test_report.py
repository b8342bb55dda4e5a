"""One test on one page: who, how it was given and timed, every trial, per-hand scores, change, the chart.

The words are the clinical note's (``station.clinical_note``), so the page,
the note and the screen never disagree; the tables add each trial and its
phase metrics. The test's record (and the patient's) is attached to the PDF
as ``test-<id>.json``: the complete result, for a record system or a check.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from station.clinical_note import (
    OTHER_HAND,
    TITLES,
    hand_line,
    norm_text,
    patient_line,
    plan_line,
    progress_lines,
    timing_line,
)
from station.report.chart import draw_trend
from station.report.layout import ReportPDF
from station.report.trend import trend_points

#: per protocol: the result keys shown per trial (phase metrics), with their column heads
PHASE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "nine-hole-peg": (("place_s", "place s"), ("remove_s", "remove s"), ("longest_pause_s", "longest pause s"),
                      ("transport_mean_s", "dish-to-hole s"), ("reinserts", "reinserts")),
    "coin-drop": (("place_s", "place s"), ("pickup_s", "pick-up s"), ("coins_together", "coins together")),
    "timed-pegs": (("pegs_per_s", "pegs/s"), ("longest_pause_s", "longest pause s"),
                   ("transport_mean_s", "dish-to-hole s")),
    "free-practice": (("reps_per_min", "reps/min"), ("pace_change_pct", "pace change %"),
                      ("pace_trend", "pace trend")),
}
#: a summary's measure key as the page names it
MEASURE_LABELS = {"total_s": "time", "pegs": "pegs", "reps": "reps"}
MADE_BY = "Station (instrumented dexterity station)"


def attachment_name(test: Mapping[str, Any]) -> str:
    """The attached JSON's file name."""
    return f"test-{test.get('test_id')}.json"


def attachment_json(test: Mapping[str, Any], patient: Mapping[str, Any] | None) -> bytes:
    """What is attached: ``{"patient": ..., "test": ...}`` as stored (UTF-8 JSON)."""
    return json.dumps({"format": "station-report-attachment/1", "patient": patient, "test": test},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def test_report_pdf(test: Mapping[str, Any], patient: Mapping[str, Any] | None,
                    history: Iterable[Mapping[str, Any]] = (), *, made_at: datetime) -> bytes:
    """The one-page report of a ``station.test/1`` record; ``history``: the patient's other tests
    (for the trend chart: those of this protocol, timed the same way, up to this test)."""
    made_at = made_at if made_at.tzinfo else made_at.astimezone()  # the PDF's dates carry a zone
    s = test["summary"]
    title = TITLES.get(test["protocol"], test["protocol"])
    pdf = ReportPDF(title=f"{title} - report",
                    subtitle=f"Test {test.get('test_id')}, {test.get('date') or 'date not recorded'}; "
                             f"patient {test.get('patient_id')} (pseudonymous)",
                    made_at=made_at, made_by=MADE_BY)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.heading("Patient and administration")
    pdf.para(patient_line(test, patient, s))
    pdf.para(plan_line(test["plan"], s))
    timing = timing_line(s)
    if timing:
        pdf.para(timing)
    if test.get("status") == "ended":
        pdf.para(f"Test ended early: {test.get('ended_reason')}.")
    elif test.get("status") == "in_progress":
        pdf.para("Test not finished: results so far.")
    _trials_table(pdf, test, patient)
    _hands_table(pdf, test, patient)
    _change(pdf, s)
    _invalid(pdf, s)
    pdf.heading("Trend")
    _chart(pdf, test, history)
    _sources(pdf, s, test)
    pdf.embed_file(bytes=attachment_json(test, patient), basename=attachment_name(test),
                   mime_type="application/json", compress=True, desc="The stored test record and patient (JSON)",
                   modification_date=made_at)
    return bytes(pdf.output())


# a name pytest would otherwise collect; mypy knows no attributes on functions
test_report_pdf.__test__ = False  # type: ignore[attr-defined]


def side_name(hand: str, patient: Mapping[str, Any] | None) -> str:
    """``dominant (right)``, or the hand alone when handedness is not recorded."""
    dom = (patient or {}).get("dominant_hand")
    if dom not in OTHER_HAND or hand not in ("dominant", "non-dominant"):
        return hand
    return f"{hand} ({dom if hand == 'dominant' else OTHER_HAND[dom]})"


def value_text(v: Any, unit: str = "") -> str:
    """A number as the report prints it (0.1 s for times, as the 9HPT is reported), '-' if none."""
    if v is None:
        return "-"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if unit == "s":
        return f"{v:.1f}"
    return f"{v:g}" if float(v).is_integer() else f"{v:.2f}"


def _trials_table(pdf: ReportPDF, test: Mapping[str, Any], patient: Mapping[str, Any] | None) -> None:
    s = test["summary"]
    unit, key = s["unit"], s["measure"]
    phases = PHASE_COLUMNS.get(test["protocol"], ())
    label = MEASURE_LABELS.get(key, key)
    pdf.heading(f"Trials ({label} in {unit}; practice and invalid trials shown, not scored)")
    head = ["id", "hand", "trial", f"{label} {unit}", "status", "valid", *(h for _, h in phases)]
    rows = []
    for e in test["trials"]:
        r = e.get("result") or {}
        what = "practice" if e.get("practice") else str(e.get("index"))
        if e.get("repeat_of") is not None:
            what += f" (repeat of {e['repeat_of']})"
        value = r.get(key) if r.get("status") == "complete" else None
        rows.append([str(e.get("trial_id")), side_name(e["hand"], patient), what, value_text(value, unit),
                     str(r.get("status") or "-"),
                     "yes" if e.get("valid") else f"no: {e.get('invalid_reason')}",
                     *(value_text(r.get(k), "s" if k.endswith("_s") else "") for k, _ in phases)])
    widths = [9, 28, 22, 17, 15, 30] + [(186 - 121) / max(len(phases), 1)] * len(phases)
    pdf.grid(head, rows, widths)


def _hands_table(pdf: ReportPDF, test: Mapping[str, Any], patient: Mapping[str, Any] | None) -> None:
    s = test["summary"]
    unit = s["unit"]
    pdf.heading("Per hand")
    for hand, hs in s["hands"].items():
        pdf.para(hand_line(hand, hs, unit, patient, test["plan"]))
        if hs.get("norm") is not None:
            pdf.para("    " + norm_text(hs["norm"]))
        means = {k: v for k, v in (hs.get("means") or {}).items() if v is not None}
        if means:
            pdf.para("    Phase means: " + ", ".join(_phase_text(k, v) for k, v in means.items()) + ".")
    if s.get("msfc_score") is not None:
        pdf.para(f"MSFC 9HPT score (mean of 1/mean time of each hand): {s['msfc_score']:.4f} /s"
                 " (a hand unable to complete counts 777 s, MSFC manual, Fischer 2001).")


def _phase_text(key: str, v: float) -> str:
    if key.endswith("_s"):
        return f"{key[:-2].replace('_', ' ')} {v:.1f} s"
    return f"{key.replace('_', ' ')} {value_text(v)}"


def _change(pdf: ReportPDF, s: Mapping[str, Any]) -> None:
    pdf.heading("Change over time")
    for line in progress_lines(s, s["unit"]):
        pdf.para(line)
    threshold = next((hs["progress"]["threshold"] for hs in s["hands"].values()
                      if (hs.get("progress") or {}).get("threshold")), None)
    if threshold is not None:
        pdf.para(f"Threshold: {threshold['flag']} for {threshold['population']}; source: {threshold['source']}.")


def _invalid(pdf: ReportPDF, s: Mapping[str, Any]) -> None:
    pdf.heading("Invalid trials (kept on record, not scored)")
    if not s["invalid"]:
        pdf.para("None.")
    for inv in s["invalid"]:
        what = "practice trial" if inv["practice"] else f"trial {inv['index']}"
        tail = "; repeated" if inv["repeated"] else ""
        pdf.para(f"Trial {inv['trial_id']}, {inv['hand']} hand {what} ({inv['status']}): {inv['reason']}{tail}.")


def _chart(pdf: ReportPDF, test: Mapping[str, Any], history: Iterable[Mapping[str, Any]]) -> None:
    s = test["summary"]
    timings = {hs.get("timing") for hs in s["hands"].values() if hs.get("mean") is not None}
    timing = timings.pop() if len(timings) == 1 else None
    upto = [t for t in history if t.get("test_id") != test.get("test_id")
            and str(t.get("date") or "") <= str(test.get("date") or "")]
    points = trend_points([*upto, test], test["protocol"], timing)
    y = pdf.get_y()
    height = 62.0
    if y + height > pdf.h - pdf.b_margin:
        pdf.add_page()
        y = pdf.get_y()
    draw_trend(pdf, points, x=pdf.l_margin, y=y, w=pdf.w - pdf.l_margin - pdf.r_margin, h=height,
               unit=s["unit"], title=f"Hand means per test ({s['unit']}), tests of this protocol"
                                     + (" timed the same way" if timing else "") + " up to this one")
    pdf.set_xy(pdf.l_margin, y + height)


def _sources(pdf: ReportPDF, s: Mapping[str, Any], test: Mapping[str, Any]) -> None:
    pdf.heading("Norms and sources")
    pop = next((hs["norm"].get("population") for hs in s["hands"].values()
                if hs.get("norm") and hs["norm"].get("population")), None)
    if s.get("norm_source"):
        pdf.para(f"Norms: {pop + '; ' if pop else ''}{s['norm_source']}", size=7.5)
    else:
        pdf.para("No published norms are used for this protocol: values are shown without an SD score.", size=7.5)
    pdf.para("Measured on an instrumented pegboard station (switch-timed holes, load-cell dish and tray). "
             f"The complete stored record is attached to this PDF as {attachment_name(test)}.", size=7.5, grey=True)
