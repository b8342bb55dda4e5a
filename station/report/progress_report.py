"""A patient's progress over a date range: every test in a table, and a trend chart per protocol.

Pages as needed (one row per test). The chart of a protocol plots the hand
means of its tests timed the most common way in the range (other timings are
not comparable, and the table says how each was timed). The patient and the
tests, as stored, are attached as ``progress-<patient>.json``.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from station.clinical_note import TITLES, patient_line
from station.report.chart import draw_trend
from station.report.layout import ReportPDF
from station.report.test_report import MADE_BY, side_name, value_text
from station.report.trend import in_order, trend_points

CHART_MM = 62.0


def progress_report_pdf(patient: Mapping[str, Any], tests: Sequence[Mapping[str, Any]], *,
                        since: str | None = None, until: str | None = None, made_at: datetime) -> bytes:
    """The progress report of ``patient`` over ``tests`` (the stored ``station.test/1`` records
    in the range ``since``..``until``, ISO dates, either open)."""
    made_at = made_at if made_at.tzinfo else made_at.astimezone()
    tests = in_order(tests)
    span = f"{since or 'first test'} to {until or 'last test'}"
    pdf = ReportPDF(title="Progress report", subtitle=f"Patient {patient['patient_id']} (pseudonymous), {span}",
                    made_at=made_at, made_by=MADE_BY)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.heading("Patient")
    first = tests[-1]["summary"] if tests and tests[-1].get("summary") else {"hands": {}}
    pdf.para(patient_line(tests[-1] if tests else {"patient_id": patient["patient_id"]}, patient, first))
    protocols = list(dict.fromkeys(t["protocol"] for t in tests))
    pdf.para(f"{len(tests)} test{'s' if len(tests) != 1 else ''} in the range"
             + (": " + ", ".join(f"{TITLES.get(p, p)} x{sum(t['protocol'] == p for t in tests)}" for p in protocols)
                if tests else "."))
    for protocol in protocols:
        of = [t for t in tests if t["protocol"] == protocol]
        pdf.heading(TITLES.get(protocol, protocol))
        _chart(pdf, of, protocol)
        _table(pdf, of, patient)
    pdf.embed_file(bytes=json.dumps({"format": "station-report-attachment/1", "patient": patient,
                                     "tests": list(tests)}, ensure_ascii=False, sort_keys=True,
                                    separators=(",", ":")).encode("utf-8"),
                   basename=f"progress-{patient['patient_id']}.json", mime_type="application/json", compress=True,
                   desc="The patient and the stored test records in the range (JSON)", modification_date=made_at)
    return bytes(pdf.output())


def _chart(pdf: ReportPDF, tests: Sequence[Mapping[str, Any]], protocol: str) -> None:
    timings = Counter(hs.get("timing") for t in tests for hs in t["summary"]["hands"].values()
                      if hs.get("mean") is not None)
    timing = timings.most_common(1)[0][0] if timings else None
    unit = tests[0]["summary"]["unit"] if tests else ""
    if pdf.get_y() + CHART_MM > pdf.h - pdf.b_margin:
        pdf.add_page()
    y = pdf.get_y()
    draw_trend(pdf, trend_points(tests, protocol, timing), x=pdf.l_margin, y=y,
               w=pdf.w - pdf.l_margin - pdf.r_margin, h=CHART_MM, unit=unit,
               title=f"Hand means per test ({unit})" + (f", timed {timing}" if timing else ""))
    pdf.set_xy(pdf.l_margin, y + CHART_MM)


def _table(pdf: ReportPDF, tests: Sequence[Mapping[str, Any]], patient: Mapping[str, Any]) -> None:
    hands = list(dict.fromkeys(h for t in tests for h in t["summary"]["hands"]))
    unit = tests[0]["summary"]["unit"] if tests else ""
    head = ["date", "test", "status", "timing"]
    for hand in hands:
        head += [f"{_short_hand(hand, patient)} {unit}".rstrip(), "SD"]
    head += ["MSFC", "change from baseline", "invalid"]
    rows = []
    for t in tests:
        s = t["summary"]
        timing = {hs.get("timing") for hs in s["hands"].values() if hs.get("timing")}
        row = [str(t.get("date")), str(t.get("test_id")), str(t.get("status")), ", ".join(sorted(timing)) or "-"]
        for hand in hands:
            hs = s["hands"].get(hand) or {}
            norm = hs.get("norm") or {}
            row += [value_text(hs.get("mean"), s["unit"]),
                    "-" if norm.get("sd_score") is None else f"{norm['sd_score']:+.2f}"]
        row.append("-" if s.get("msfc_score") is None else f"{s['msfc_score']:.4f}")
        row.append(_changes(s))
        row.append(str(len(s.get("invalid") or [])))
        rows.append(row)
    fixed = [17, 8, 13, 23]
    rest = 186 - sum(fixed) - 14 - 32 - 11
    widths = fixed + [rest / max(2 * len(hands), 1)] * (2 * len(hands)) + [14, 32, 11]
    pdf.rows(head, rows, widths)


def _short_hand(hand: str, patient: Mapping[str, Any]) -> str:
    """``dom. R``: a table header's room for the hand and its side."""
    name = side_name(hand, patient)  # "dominant (right)"
    short = name.replace("non-dominant", "non-dom.").replace("dominant", "dom.")
    return short.replace("(right)", "R").replace("(left)", "L")


def _changes(s: Mapping[str, Any]) -> str:
    bits = []
    for hand, hs in s["hands"].items():
        c = (hs.get("progress") or {}).get("baseline")
        if c and c.get("change_pct") is not None:
            bits.append(f"{hand[:3] if hand != 'non-dominant' else 'non'} {c['change_pct']:+.1f} %"
                        + (f" [{c['flag']}]" if c.get("flag") else ""))
    return "; ".join(bits) or "-"
