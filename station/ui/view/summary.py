"""The therapist's results text for one test. Pure: no Textual.

Uses the test's ``summary`` (``station.summary/1``: per-hand values and mean,
how time was measured, SD score and band with the norm population, change
with its threshold and source) and the clinical note from
``station.clinical_note`` when the test record carries them; otherwise the
per-hand times from the trial records alone.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from station.progress import NO_THRESHOLD
from station.protocols.nine_hole_peg import TIMINGS
from station.ui.view.model import SEP, score_of, trial_seconds
from station.ui.view.status_line import status_words

BAND_WORDS = {"normal": "within normal limits", "below": "below normal", "well_below": "well below normal",
              "markedly_below": "markedly below normal", "above": "above normal", "well_above": "well above normal",
              "markedly_above": "markedly above normal"}


def _v(x: Any, unit: str = "s") -> str:
    if not isinstance(x, (int, float)):
        return "-"
    return f"{x:.1f} {unit}" if unit in ("s", "reps/min") else f"{x:g} {unit}"


def test_lines(test: Mapping[str, Any], trials: list[dict]) -> list[str]:
    """Lines describing one test: per hand times, mean, timing, SD score and band against the
    norm population, change with its threshold; then the norm source."""
    date = str(test.get('date') or test.get('created_at') or '')[:10]
    title = SEP.join(p for p in (f"Test {test.get('test_id')}", str(test.get('protocol')), date) if p)
    lines = [title, f"  status: {status_words(test.get('status')) or '?'}"]
    summary = test.get("summary")
    if isinstance(summary, Mapping) and isinstance(summary.get("hands"), Mapping):
        unit = summary.get("unit") or "s"
        for hand, hs in summary["hands"].items():
            values = ", ".join(_v(v, unit) for v in hs.get("values") or []) or "no valid trials"
            lines.append(f"  {hand}: {values}; mean {_v(hs.get('mean'), unit)}")
            if hs.get("timing"):
                lines.append(f"    timed: {TIMINGS.get(hs['timing'], hs['timing'])}")
            norm = hs.get("norm")
            if isinstance(norm, Mapping):
                if norm.get("sd_score") is not None:
                    band = norm.get("band_label") or BAND_WORDS.get(str(norm.get("band")), norm.get("band"))
                    pop = f" vs {norm['population']}" if norm.get("population") else ""
                    lines.append(f"    SD score {norm['sd_score']:+.2f} ({band}){pop}")
                elif norm.get("reason"):
                    lines.append(f"    no SD score: {norm['reason']}")
            lines += _change_lines(hs.get("progress"), str((summary.get("change_measure") or {}).get("unit", unit)))
        for inv in summary.get("invalid") or []:
            lines.append(f"  invalid: trial {inv.get('trial_id')} ({inv.get('hand')}): {inv.get('reason')}")
        if summary.get("norm_source"):
            lines.append(f"  norms: {summary['norm_source']}")
        elif not any(isinstance(hs, Mapping) and hs.get("norm") for hs in summary["hands"].values()):
            lines.append(f"  norms: none for {test.get('protocol')}: no SD score, compare with the patient's own "
                         "earlier results")
        return lines
    # No summary in the record: per-hand times from the trials themselves.
    mine = [t for t in trials if t.get("test_id") == test.get("test_id")]
    by_hand: dict[str, list[str]] = {}
    for t in reversed(mine):
        hand = t.get("side") or t.get("hand") or "?"
        s = score_of(t)
        mark = " (invalid)" if t.get("invalid") else " (practice)" if t.get("practice") else ""
        val = _v(s[0], "s" if s[1] == "seconds" else s[1]) if s else status_words(t.get("status")) or "?"
        by_hand.setdefault(hand, []).append(f"{val}{mark}")
    for hand, vals in by_hand.items():
        lines.append(f"  {hand}: {', '.join(vals)}")
    return lines


def _change_lines(prog: Any, unit: str) -> list[str]:
    """``change from baseline: 25.0 s -> 20.0 s, -20.0 % (better) [meaningful change: 20 % ...]``."""
    if not isinstance(prog, Mapping):
        return []
    out = []
    t = prog.get("threshold")
    source = ""
    if isinstance(t, Mapping):
        size = f"{t['pct']:g} %" if t.get("pct") is not None else f"{t.get('amount'):g} {unit}"
        source = f": {size}, {t.get('source')}"
    for key in ("baseline", "previous"):
        c = prog.get(key)
        if not isinstance(c, Mapping) or (key == "previous" and c == prog.get("baseline")):
            continue
        pct = "" if c.get("change_pct") is None else f", {c['change_pct']:+.1f} %"
        flag = f" [{c['flag']}{source}]" if c.get("flag") else ""
        out.append(f"    change from {key} ({c.get('date')}): {_v(c.get('reference'), unit)} -> "
                   f"{_v(c.get('current'), unit)}{pct} ({c.get('direction')}){flag}")
    if out and not isinstance(t, Mapping):
        out.append(f"    ({NO_THRESHOLD})")
    return out


def note_for(test: Mapping[str, Any], patient: Mapping[str, Any] | None) -> str | None:
    """The clinical note (``station.clinical_note``) for a test record that has a plan and summary."""
    if not isinstance(test.get("summary"), Mapping) or not isinstance(test.get("plan"), Mapping):
        return None
    try:
        from station.clinical_note import clinical_note
    except ImportError:  # pragma: no cover - shipped with the station
        return None
    try:
        return clinical_note(test, patient)
    except (KeyError, TypeError, ValueError):
        return None  # an older record shape: the summary lines above still show


def trial_row(t: Mapping[str, Any]) -> tuple[str, ...]:
    """(id, trial, hand, status, time, note) for the therapist's trials table."""
    s = trial_seconds(dict(t))
    inv = t.get("invalid")
    if isinstance(inv, Mapping):
        note = f"invalid: {inv.get('reason')}"
    elif t.get("valid") is False:
        note = f"invalid: {t.get('invalid_reason')}"
    else:
        note = "practice" if t.get("practice") else ""
    incidents = (t.get("result") or {}).get("incidents")
    if isinstance(incidents, list) and incidents:
        words = {"coin_off_tray": "coin off the tray", "coin_back_on_tray": "coin put back"}
        said = ", ".join(words.get(str(i.get("kind")), str(i.get("kind"))) for i in incidents if isinstance(i, Mapping))
        note = f"{note}; {said}" if note else said
    k = t.get("k") or t.get("index") or ""
    return (str(t.get("trial_id")), str(k), str(t.get("side") or t.get("hand") or ""),
            status_words(t.get("status")), "-" if s is None else f"{s:.1f}", note)
