"""The therapist's results text names the timing, the norm population and the threshold's source."""
from __future__ import annotations

from station.administration import TestPlan, TestSession
from station.results import test_record
from station.ui.view.summary import test_lines as results_lines

PATIENT = {"id": "P-1", "birth_year": 1990, "birth_month": 1, "sex": "female", "dominant_hand": "right"}


def nine_hole(test_id, day, dom, nd, timing="first-peg-to-dish"):
    s = TestSession(TestPlan.default("nine-hole-peg", trials_per_hand=1, practice=False), test_id, date=day)
    s.record({"status": "complete", "total_s": dom, "timing": timing})
    s.record({"status": "complete", "total_s": nd, "timing": timing})
    return s


def test_lines_show_timing_population_and_a_flag_with_its_source():
    patient = PATIENT | {"condition": "ms"}
    before = test_record(nine_hole(1, "2026-01-10", 25.0, 20.0), patient=patient)
    rec = test_record(nine_hole(2, "2026-03-10", 20.0, 19.0), patient=patient, history=[before])
    lines = results_lines(rec, [])
    text = "\n".join(lines)
    assert "    timed: from the first peg lifted out of the dish to the last peg back in it" in text
    # age 2026 - 1990 = 36: female 35-39 dominant 16.4 +/- 1.6 -> (16.4 - 20) / 1.6 = -2.25
    assert "    SD score -2.25 (markedly below average) vs 628 healthy adults aged 20-94" in lines
    # (20 - 25) / 25 = -20 %: reaches the MS threshold; (19 - 20) / 20 = -5 %: does not
    assert ("    change from baseline (2026-01-10): 25.0 s -> 20.0 s, -20.0 % (better) "
            "[meaningful change: 20 %, Schwid 2002; Feys 2017]") in lines
    assert "    change from baseline (2026-01-10): 20.0 s -> 19.0 s, -5.0 % (better)" in lines


def test_lines_without_a_threshold_show_the_change_unflagged_and_say_why():
    before = test_record(nine_hole(1, "2026-01-10", 25.0, 20.0), patient=PATIENT)
    lines = results_lines(test_record(nine_hole(2, "2026-03-10", 20.0, 19.0), patient=PATIENT, history=[before]), [])
    assert "    change from baseline (2026-01-10): 25.0 s -> 20.0 s, -20.0 % (better)" in lines
    assert not any("[" in line for line in lines)
    assert "    (no published threshold for this test and population: change shown, not flagged)" in lines


def test_lines_of_a_station_without_dish_say_how_it_timed_and_give_no_score():
    rec = test_record(nine_hole(1, "2026-03-10", 20.0, 19.0, timing="button-to-last-peg-out"), patient=PATIENT)
    text = "\n".join(results_lines(rec, []))
    assert "timed: from the start button to the last peg out of the board (no dish cell)" in text
    assert "SD score" not in text.replace("no SD score", "")
    assert text.count("no SD score: timed from the start button") == 2
