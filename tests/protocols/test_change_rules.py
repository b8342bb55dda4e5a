"""Change over time: order by when tests happened, direction per protocol, thresholds per population."""
from __future__ import annotations

import pytest

from station.administration import TestPlan, TestSession
from station.progress import MS_9HPT, STROKE_9HPT, change, progress, threshold_for
from station.results import SUMMARY_SCHEMA, TEST_SCHEMA, test_record

DISH = "first-peg-to-dish"
BUTTON = "button-to-last-peg-out"


def nine_hole(test_id, day, dom, nd, timing=DISH):
    """A stored 9HPT test record with one timed trial per hand."""
    s = TestSession(TestPlan.default("nine-hole-peg", trials_per_hand=1, practice=False), test_id, date=day)
    s.record({"status": "complete", "total_s": dom, "timing": timing})
    s.record({"status": "complete", "total_s": nd, "timing": timing})
    return s


def stored(session, patient=None, history=(), created_at=None):
    rec = test_record(session, patient=patient, history=history)
    if created_at:
        rec["created_at"] = created_at
    return rec


# --- thresholds per protocol and population ---------------------------------


def test_ms_flags_a_change_of_twenty_percent_of_the_earlier_time():
    # Schwid 2002; Feys 2017: 20 % of the earlier 9HPT time, MS only
    assert change(24.0, 20.0, threshold=MS_9HPT)["meaningful"] is True      # (24-20)/20 = +20 %: slower
    assert change(24.0, 20.0, threshold=MS_9HPT)["direction"] == "worse"
    assert change(23.98, 20.0, threshold=MS_9HPT)["flag"] is None            # 3.98/20 = +19.9 %
    c = change(16.0, 20.0, threshold=MS_9HPT)                                # (16-20)/20 = -20 %: faster
    assert c["direction"] == "better" and c["change_pct"] == -20.0 and c["flag"] == "meaningful change"


def test_stroke_flags_only_beyond_the_smallest_real_difference_and_never_as_meaningful():
    # Chen 2009: SRD 32.8 s (more affected hand). 60 s -> 48 s is -20 %, within measurement error
    c = change(48.0, 60.0, threshold=STROKE_9HPT)
    assert c["change_pct"] == -20.0 and c["flag"] is None and c["meaningful"] is False
    c = change(27.2, 60.0, threshold=STROKE_9HPT)                            # 27.2 - 60 = -32.8 s
    assert c["flag"] == "beyond measurement error" and c["meaningful"] is False
    assert change(27.3, 60.0, threshold=STROKE_9HPT)["flag"] is None         # -32.7 s


def test_without_a_published_threshold_a_change_is_shown_not_flagged():
    assert threshold_for("nine-hole-peg", None) is None
    assert threshold_for("nine-hole-peg", "parkinson") is None
    assert threshold_for("coin-drop", "ms") is None and threshold_for("free-practice", "ms") is None
    c = change(10.0, 20.0)                                                   # -50 %
    assert c["change_pct"] == -50.0 and c["direction"] == "better" and c["flag"] is None


def test_direction_follows_the_measure():
    assert change(12, 10, lower_is_better=False)["direction"] == "better"    # more pegs
    assert change(12, 10, lower_is_better=True)["direction"] == "worse"      # more seconds


# --- order: by when tests happened, never by value ---------------------------


def test_baseline_is_the_first_test_and_previous_the_last_not_the_fastest():
    p = progress(16.0, [("2026-02-01", 18.0), ("2025-11-01", 25.0), ("2026-01-01", None)])
    # baseline 2025-11-01: (16-25)/25 = -36 %; previous 2026-02-01: (16-18)/18 = -11.11 %
    assert p["baseline"]["date"] == "2025-11-01" and p["baseline"]["change_pct"] == -36.0
    assert p["previous"]["date"] == "2026-02-01" and p["previous"]["change_pct"] == -11.11
    assert progress(None, [("2026-02-01", 18.0)])["baseline"] is None
    assert progress(16.0, [])["previous"] is None


def test_same_day_tests_keep_the_order_they_happened_in():
    # two tests on one day: the slower one came first, so it is the baseline
    p = progress(20.0, [("2026-03-01", 30.0), ("2026-03-01", 22.0)])
    assert p["baseline"]["reference"] == 30.0 and p["previous"]["reference"] == 22.0


def test_test_record_orders_same_day_history_by_creation_not_by_time():
    morning = stored(nine_hole(11, "2026-03-01", 30.0, 31.0), created_at="2026-03-01T09:00:00Z")
    noon = stored(nine_hole(12, "2026-03-01", 22.0, 23.0), created_at="2026-03-01T12:00:00Z")
    now = nine_hole(13, "2026-03-08", 20.0, 21.0)
    prog = test_record(now, history=[noon, morning])["summary"]["hands"]["dominant"]["progress"]
    # baseline is the morning test (30.0 s), though the noon one (22.0 s) is faster
    assert prog["baseline"]["reference"] == 30.0 and prog["previous"]["reference"] == 22.0
    # (20-30)/30 = -33.33 %; (20-22)/22 = -9.09 %
    assert prog["baseline"]["change_pct"] == -33.33 and prog["previous"]["change_pct"] == -9.09


def test_rescoring_an_earlier_test_ignores_same_day_tests_created_after_it():
    later = stored(nine_hole(12, "2026-03-01", 22.0, 23.0))
    first = nine_hole(11, "2026-03-01", 30.0, 31.0)
    prog = test_record(first, history=[later])["summary"]["hands"]["dominant"]["progress"]
    assert prog["baseline"] is None


# --- like with like: the timing definition ------------------------------------


def test_earlier_tests_timed_another_way_are_not_compared():
    button = stored(nine_hole(1, "2026-01-10", 40.0, 42.0, timing=BUTTON))
    dish = stored(nine_hole(2, "2026-02-10", 25.0, 27.0))
    now = nine_hole(3, "2026-03-10", 20.0, 21.0)
    prog = test_record(now, history=[button, dish])["summary"]["hands"]["dominant"]["progress"]
    assert prog["baseline"]["date"] == "2026-02-10" and prog["not_compared"] == 1
    assert prog["baseline"]["change_pct"] == -20.0                           # (20-25)/25


# --- through the test record ---------------------------------------------------


def test_ms_patient_is_flagged_against_the_ms_threshold_with_its_source():
    patient = {"id": "P", "birth_year": 1960, "sex": "male", "dominant_hand": "left", "condition": "ms"}
    other = {"schema": TEST_SCHEMA, "protocol": "coin-drop", "test_id": 99, "date": "2026-01-01",
             "summary": {"hands": {"dominant": {"mean": 1.0}}}}
    first = stored(nine_hole(1, "2026-01-10", 25.0, 30.0), patient)
    rec = test_record(nine_hole(2, "2026-03-10", 20.0, 29.0), patient=patient, history=[first, other])
    assert rec["schema"] == TEST_SCHEMA and rec["summary"]["schema"] == SUMMARY_SCHEMA
    assert rec["summary"]["condition"] == "ms"
    dom = rec["summary"]["hands"]["dominant"]["progress"]
    # (20-25)/25 = -20 %: reaches 20 %; non-dominant (29-30)/30 = -3.33 %: does not
    assert dom["baseline"]["reference"] == 25.0 and dom["baseline"]["change_pct"] == -20.0
    assert dom["baseline"]["flag"] == "meaningful change"
    assert dom["threshold"]["source"] == "Schwid 2002; Feys 2017" and dom["threshold_pct"] == 20.0
    assert rec["summary"]["hands"]["non-dominant"]["progress"]["baseline"]["flag"] is None


@pytest.mark.parametrize("condition", [None, "stroke"])
def test_the_same_twenty_percent_is_not_flagged_outside_ms(condition):
    patient = {"id": "P", "birth_year": 1960, "sex": "male", "condition": condition}
    first = stored(nine_hole(1, "2026-01-10", 25.0, 30.0), patient)
    rec = test_record(nine_hole(2, "2026-03-10", 20.0, 29.0), patient=patient, history=[first])
    dom = rec["summary"]["hands"]["dominant"]["progress"]
    assert dom["baseline"]["change_pct"] == -20.0 and dom["baseline"]["flag"] is None
    assert (dom["threshold"] is None) == (condition is None)


def test_free_practice_compares_pace_not_the_count_of_repetitions():
    # before: 30 reps in 1 min = 30 reps/min; now: 36 reps in 2 min = 18 reps/min.
    # Reps went up 20 % ((36-30)/30) but the pace fell 40 % ((18-30)/30): the change is the fall.
    def practice(test_id, day, reps, minutes):
        s = TestSession(TestPlan.default("free-practice"), test_id, date=day)
        s.record({"status": "complete", "total_s": minutes * 60.0, "reps": reps, "reps_per_min": reps / minutes})
        return s
    before = stored(practice(1, "2026-01-10", 30, 1))
    rec = test_record(practice(2, "2026-02-10", 36, 2), patient={"condition": "ms"}, history=[before])
    c = rec["summary"]["hands"]["dominant"]["progress"]["baseline"]
    assert rec["summary"]["change_measure"]["unit"] == "reps/min"
    assert c["reference"] == 30.0 and c["current"] == 18.0
    assert c["change_pct"] == -40.0 and c["direction"] == "worse" and c["flag"] is None
