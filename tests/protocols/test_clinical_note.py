"""The clinical note carries what a medical record needs, in plain ASCII, and claims no more than its sources."""
from __future__ import annotations

from station.administration import TestPlan, TestSession
from station.clinical_note import clinical_note
from station.results import test_record

PATIENT = {"id": "P-0042", "birth_year": 1959, "sex": "female", "dominant_hand": "right"}
DISH = "first-peg-to-dish"
BUTTON = "button-to-last-peg-out"


def session(test_id, day, times, invalid=None, timing=DISH, practice=True):
    """``times``: the timed trials in order (practice trials are added, 30 s each)."""
    s = TestSession(TestPlan.default("nine-hole-peg", practice=practice), test_id, patient_id="P-0042", date=day)
    times = list(times)
    i = 0
    while (slot := s.next_trial()) is not None:
        if slot.practice:
            s.record({"status": "complete", "total_s": 30.0, "timing": timing})
            continue
        t = times[i]
        tid = s.record({"status": "complete", "total_s": t, "timing": timing} if t is not None
                       else {"status": "timeout", "total_s": None, "timing": timing})
        if invalid and i == invalid[0]:
            s.mark_invalid(tid, invalid[1])
        i += 1
    return s


def test_note_has_test_date_hands_times_scores_change_and_invalid_trials():
    before = test_record(session("A", "2026-01-05", [26.0, 26.0, 28.0, 28.0]), patient=PATIENT)
    now = session("B", "2026-03-14", [20.1, 45.0, 20.5, 22.0, 23.0], invalid=(1, "peg dropped on the floor"))
    patient = PATIENT | {"condition": "ms"}
    note = clinical_note(test_record(now, patient=patient, history=[before]), patient)
    assert note.isascii()
    lines = note.splitlines()
    assert lines[0] == "Nine Hole Peg Test (9HPT) - 2026-03-14"
    for said in (
            "P-0042", "right-handed", "population: multiple sclerosis",
            # 2026 - 1959 = 67, birth month not recorded: said to be approximate
            "age 67 in the test year; approximate, birth month not recorded",
            "a practice trial with each hand",
            "Timing: from the first peg lifted out of the dish to the last peg back in it",
            "Dominant hand (right): 20.1 s, 20.5 s; mean 20.3 s.",
            "Non-dominant hand (left): 22.0 s, 23.0 s; mean 22.5 s.",
            # female 65-69: dominant 19.5 +/- 2.3 -> (19.5-20.3)/2.3 = -0.35; non-dominant 21.4 +/- 2.7 -> -0.41
            "SD score -0.35 (within normal limits) against 628 healthy adults aged 20-94",
            "SD score -0.41 (within normal limits)",
            # 1/20.3 = 0.04926, 1/22.5 = 0.04444: mean 0.04685
            "MSFC 9HPT score (mean of 1/mean time of each hand): 0.0469 /s.",
            # (20.3-26)/26 = -21.9 %: flagged for MS; (22.5-28)/28 = -19.6 %: not
            "dominant 26.0 s -> 20.3 s, -21.9 % (better) [meaningful change]",
            "non-dominant 28.0 s -> 22.5 s, -19.6 % (better).",
            "a change of 20 % (multiple sclerosis; Schwid 2002; Feys 2017) or more",
            "dominant hand trial 2 (45.0 s): peg dropped on the floor; repeated.",
            "Norms: 628 healthy adults aged 20-94; Mathiowetz"):
        assert said in note, said

def test_note_does_not_flag_without_a_population_threshold():
    before = test_record(session("A", "2026-01-05", [26.0, 26.0, 28.0, 28.0]), patient=PATIENT)
    note = clinical_note(test_record(session("B", "2026-03-14", [20.1, 20.5, 22.0, 23.0]), patient=PATIENT,
                                     history=[before]), PATIENT)
    assert "dominant 26.0 s -> 20.3 s, -21.9 % (better);" in note and "[" not in note
    assert "Changes are not flagged: no published threshold for this test and population." in note


def test_note_names_the_birth_month_age_and_the_unable_hand_convention():
    patient = PATIENT | {"birth_month": 8}
    note = clinical_note(test_record(session("A", "2026-03-14", [20.0, 20.0, 22.0, None]), patient=patient),
                         patient)
    # born 1959-08, tested 2026-03-14: 2026 - 1959 - 1 = 66 (the birthday is still ahead)
    assert "born 1959-08 (age 66 at the test date)" in note
    # non-dominant timed out: 777 s. (1/20 + 1/777) / 2 = (0.05 + 0.001287) / 2 = 0.025644
    assert "0.0256 /s; a hand unable to complete counts 777 s (MSFC manual, Fischer 2001)." in note


def test_note_of_a_station_without_dish_states_the_timing_and_scores_nothing():
    before = test_record(session("A", "2026-01-05", [26.0, 26.0, 28.0, 28.0]), patient=PATIENT)
    rec = test_record(session("B", "2026-03-14", [20.1, 20.5, 22.0, 23.0], timing=BUTTON), patient=PATIENT,
                      history=[before])
    note = clinical_note(rec, PATIENT)
    assert "Timing: from the start button to the last peg out of the board (no dish cell)." in note
    assert "SD score -" not in note and note.count("not as the norms' times were measured: no SD score") == 2
    assert "no earlier test timed the same way to compare with" in note
    assert "1 earlier test timed another way is not compared." in note


def test_note_says_when_the_9hpt_was_given_without_practice():
    note = clinical_note(test_record(session("A", "2026-01-05", [26.0, 26.0, 28.0, 28.0], practice=False),
                                     patient=PATIENT), PATIENT)
    assert "no practice trial (the norms were collected after a practice trial per hand)" in note


def test_note_without_birth_year_or_history_says_so():
    rec = test_record(session("A", "2026-01-05", [26.0, 26.0, 28.0, 28.0]), patient={"id": "P", "sex": "male"})
    note = clinical_note(rec, {"id": "P", "sex": "male"})
    assert "birth year not recorded" in note and "No SD score: no birth year recorded" in note
    assert "no earlier test to compare with" in note and "Invalid trials: none." in note


def test_note_for_a_child_says_there_are_no_norms_for_the_age():
    child = {"id": "C-7", "birth_year": 2016, "birth_month": 1, "sex": "male", "dominant_hand": "left"}
    note = clinical_note(test_record(session("A", "2026-03-14", [31.0, 30.0, 35.0, 34.0]), patient=child), child)
    # 2026 - 2016 = 10 (born in January, March is after it)
    assert note.count("No SD score: no norms for age 10") == 2 and "no children's norms" in note
