"""Norm lookup, SD scores and bands, norm-file validation, change over time."""
from __future__ import annotations

from datetime import date

import pytest

from station.administration import TestPlan, TestSession
from station.norms import NormsError, band, load_norms, parse_norms, score_time
from station.progress import change, progress
from station.results import SUMMARY_SCHEMA, TEST_SCHEMA, summary_record, test_record

DAY = date(2026, 6, 1)


def score(time_s, birth_year, sex="female", hand="dominant", **kw):
    return score_time(time_s, birth_year=birth_year, sex=sex, hand=hand, test_date=DAY, **kw)


@pytest.mark.parametrize("age, band_from, mean, sd", [
    (20, 20, 15.8, 2.1), (24, 20, 15.8, 2.1), (25, 25, 15.8, 2.2),
    (74, 70, 20.2, 2.7), (75, 75, 21.5, 2.9), (94, 75, 21.5, 2.9)])
def test_age_band_edges(age, band_from, mean, sd):
    r = score(20.0, DAY.year - age)
    assert r["age"] == age and r["norm"]["age_from"] == band_from
    assert r["sd_score"] == pytest.approx(round((mean - 20.0) / sd, 2))
    assert r["reason"] is None and "Mathiowetz" in r["citation"]


@pytest.mark.parametrize("age, word", [(95, "above"), (103, "above"), (19, "below"), (5, "below")])
def test_ages_outside_the_norm_sample_get_no_score_and_a_reason(age, word):
    r = score(20.0, DAY.year - age)
    assert r["sd_score"] is None and r["band"] is None and r["norm"] is None
    assert f"{word} the norm sample" in r["reason"] and "20-94" in r["reason"]


def test_sd_score_and_band_by_hand_and_sex():
    r = score(18.0, DAY.year - 27, sex="F")            # female 25-29 dominant: 15.8 +/- 2.2
    assert r["sd_score"] == pytest.approx(-1.0) and r["band"] == "below"
    r = score(14.6, DAY.year - 42, sex="male", hand="non-dominant")  # male 40-44 nd: 18.9 +/- 2.0
    assert r["sd_score"] == pytest.approx(2.15) and r["band"] == "markedly_above"


@pytest.mark.parametrize("z, code", [
    (0.0, "normal"), (0.75, "normal"), (-0.75, "normal"), (0.76, "above"), (-0.76, "below"),
    (-1.5, "below"), (-1.51, "well_below"), (-2.0, "well_below"), (-2.01, "markedly_below"),
    (1.5, "above"), (1.51, "well_above"), (2.0, "well_above"), (2.01, "markedly_above"),
    (-0.7549, "normal")])
def test_bands(z, code):
    assert band(z) == code


def test_missing_birth_year_gives_a_result_without_score():
    r = score(20.0, None)
    assert r["sd_score"] is None and r["age"] is None and "birth year" in r["reason"]
    s = TestSession(TestPlan.default("nine-hole-peg", trials_per_hand=1), "T", date="2026-06-01")
    s.record({"status": "complete", "total_s": 20.0})
    s.record({"status": "complete", "total_s": 22.0})
    summ = summary_record(s, patient={"id": "P", "sex": "female", "dominant_hand": "right"})
    assert summ["schema"] == SUMMARY_SCHEMA
    for hs in summ["hands"].values():
        assert hs["norm"]["sd_score"] is None and "birth year" in hs["norm"]["reason"]
    assert summ["hands"]["dominant"]["mean"] == 20.0


def test_unscorable_patients_say_why():
    assert "sex" in score(20.0, 1970, sex="other")["reason"]
    assert "sex" in score(20.0, 1970, sex=None)["reason"]
    assert "after the test date" in score(20.0, 2030)["reason"]


def test_summary_record_scores_each_hand_mean():
    s = TestSession(TestPlan.default("nine-hole-peg"), "T", date="2026-06-01")
    for t in (18.0, 18.0, 30.0, {"status": "timeout", "total_s": None}):
        s.record(t if isinstance(t, dict) else {"status": "complete", "total_s": t})
    summ = summary_record(s, patient={"birth_year": 1999, "sex": "female"})   # 27
    assert summ["hands"]["dominant"]["norm"]["sd_score"] == pytest.approx(-1.0)
    assert "did not complete" in summ["hands"]["non-dominant"]["norm"]["reason"]
    assert summ["norm_source"].startswith("Mathiowetz")


GOOD = """# test: nine-hole-peg
# citation: Our Clinic 2025, local sample
# sample_ages: 18-80
age_from,age_to,sex,hand,mean_s,sd_s
18,49,female,dominant,17.0,2.0
50,80,female,dominant,20.0,2.5
"""


def test_a_clinic_can_replace_the_norms(tmp_path):
    p = tmp_path / "norms.csv"
    p.write_text(GOOD)
    norms = load_norms(p)
    r = score(21.0, DAY.year - 19, norms=norms)
    assert r["sd_score"] == pytest.approx(-2.0) and r["citation"] == "Our Clinic 2025, local sample"
    assert "no band" in score(21.0, DAY.year - 30, sex="male", norms=norms)["reason"]
    assert "above the norm sample (ages 18-80)" in score(21.0, DAY.year - 81, norms=norms)["reason"]


@pytest.mark.parametrize("text, msg", [
    (GOOD.replace("# citation: Our Clinic 2025, local sample\n", ""), "citation"),
    (GOOD.replace("# test: nine-hole-peg\n", ""), "test"),
    (GOOD.replace("mean_s", "mean"), "line 4: the columns"),
    (GOOD.replace("50,80,female", "50,80,woman"), "line 6: sex"),
    (GOOD.replace("2.5\n", "0\n"), "line 6: mean_s and sd_s must be positive"),
    (GOOD.replace("50,80", "45,80"), "line 6: ages 45-80 overlap line 5"),
    (GOOD.replace("18,49", "x,49"), "line 5: age_from"),
    (GOOD.replace(",2.0\n", "\n"), "line 5: expected 6 values"),
    (GOOD.replace("18-80", "eighteen"), "line 3: sample_ages"),
])
def test_bad_norm_files_are_refused_with_the_line(text, msg):
    with pytest.raises(NormsError, match=msg):
        parse_norms(text, "n.csv")


def test_missing_norm_file_is_a_clear_error(tmp_path):
    with pytest.raises(NormsError, match="no such norm file"):
        load_norms(tmp_path / "none.csv")


def test_change_flags_twenty_percent():
    assert change(24.0, 20.0)["meaningful"] is True             # +20 %: slower
    assert change(24.0, 20.0)["direction"] == "worse"
    assert change(23.98, 20.0)["meaningful"] is False            # +19.9 %
    assert change(16.0, 20.0)["direction"] == "better" and change(16.0, 20.0)["change_pct"] == -20.0
    assert change(12, 10, lower_is_better=False)["direction"] == "better"


def test_progress_against_baseline_and_previous():
    p = progress(16.0, [("2026-02-01", 18.0), ("2025-11-01", 25.0), ("2026-01-01", None)])
    assert p["baseline"]["date"] == "2025-11-01" and p["baseline"]["change_pct"] == -36.0
    assert p["baseline"]["meaningful"] is True
    assert p["previous"]["date"] == "2026-02-01" and p["previous"]["meaningful"] is False
    assert progress(None, [("2026-02-01", 18.0)])["baseline"] is None
    assert progress(16.0, [])["previous"] is None


def test_test_record_uses_earlier_tests_of_the_same_protocol():
    patient = {"id": "P", "birth_year": 1960, "sex": "male", "dominant_hand": "left"}
    first = TestSession(TestPlan.default("nine-hole-peg", trials_per_hand=1), "A", date="2026-01-10")
    first.record({"status": "complete", "total_s": 25.0})
    first.record({"status": "complete", "total_s": 30.0})
    other = {"schema": TEST_SCHEMA, "protocol": "coin-drop", "test_id": "C", "date": "2026-01-01",
             "summary": {"hands": {"dominant": {"mean": 1.0}}}}
    now = TestSession(TestPlan.default("nine-hole-peg", trials_per_hand=1), "B", date="2026-03-10")
    now.record({"status": "complete", "total_s": 20.0})
    now.record({"status": "complete", "total_s": 29.0})
    rec = test_record(now, patient=patient, history=[test_record(first, patient=patient), other])
    assert rec["schema"] == TEST_SCHEMA and rec["summary"]["schema"] == SUMMARY_SCHEMA
    dom = rec["summary"]["hands"]["dominant"]["progress"]["baseline"]
    assert dom["reference"] == 25.0 and dom["change_pct"] == -20.0 and dom["meaningful"] is True
    nd = rec["summary"]["hands"]["non-dominant"]["progress"]["baseline"]
    assert nd["meaningful"] is False
    assert TestSession.from_dict(rec["session"]).summary() == now.summary()
