"""The clinical note carries what a medical record needs, in plain ASCII."""
from __future__ import annotations

from station.administration import TestPlan, TestSession
from station.clinical_note import clinical_note
from station.results import test_record

PATIENT = {"id": "P-0042", "birth_year": 1959, "sex": "female", "dominant_hand": "right"}


def session(test_id, day, times, invalid=None):
    s = TestSession(TestPlan.default("nine-hole-peg", practice=True), test_id, patient_id="P-0042", date=day)
    s.record({"status": "complete", "total_s": 30.0})
    for i, t in enumerate(times):
        tid = s.record({"status": "complete", "total_s": t})
        if invalid and i == invalid[0]:
            s.mark_invalid(tid, invalid[1])
    return s


def test_note_has_test_date_hands_times_scores_change_and_invalid_trials():
    before = test_record(session("A", "2026-01-05", [26.0, 26.0, 28.0, 28.0]), patient=PATIENT)
    now = session("B", "2026-03-14", [20.1, 45.0, 20.5, 22.0, 23.0], invalid=(1, "peg dropped on the floor"))
    note = clinical_note(test_record(now, patient=PATIENT, history=[before]), PATIENT)
    assert note.isascii()
    lines = note.splitlines()
    assert lines[0] == "Nine Hole Peg Test (9HPT) - 2026-03-14"
    assert "P-0042" in note and "age 67" in note and "right-handed" in note
    assert "Dominant hand (right): 20.1 s, 20.5 s; mean 20.3 s." in note
    assert "Non-dominant hand (left): 22.0 s, 23.0 s; mean 22.5 s." in note
    # female 65-69: dominant 19.5 +/- 2.3 -> -0.35; non-dominant 21.4 +/- 2.7 -> -0.41
    assert "SD score -0.35 (within normal limits)" in note
    assert "SD score -0.41 (within normal limits)" in note
    assert "MSFC 9HPT score" in note
    # 26.0 -> 20.3 is -21.9 %: flagged; 28.0 -> 22.5 is -19.6 %: not
    assert "dominant 26.0 s -> 20.3 s, -21.9 % (better) [meaningful change]" in note
    assert "non-dominant 28.0 s -> 22.5 s, -19.6 % (better);" not in note
    assert "non-dominant 28.0 s -> 22.5 s, -19.6 % (better)." in note
    assert "dominant hand trial 2 (45.0 s): peg dropped on the floor; repeated." in note
    assert "Mathiowetz" in note


def test_note_without_birth_year_or_history_says_so():
    rec = test_record(session("A", "2026-01-05", [26.0, 26.0, 28.0, 28.0]), patient={"id": "P", "sex": "male"})
    note = clinical_note(rec, {"id": "P", "sex": "male"})
    assert "birth year not recorded" in note and "No SD score: no birth year recorded" in note
    assert "no earlier test to compare with" in note and "Invalid trials: none." in note
