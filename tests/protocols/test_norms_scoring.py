"""Norm lookup, SD scores and bands, norm-file validation, change over time."""
from __future__ import annotations

from datetime import date

import pytest

from station.administration import TestPlan, TestSession
from station.norms import AGE_FROM_MONTH, AGE_FROM_YEAR, NormsError, band, load_norms, parse_norms, score_time
from station.results import SUMMARY_SCHEMA, summary_record

DAY = date(2026, 6, 1)
DISH = {"timing": "first-peg-to-dish"}


def score(time_s, birth_year, sex="female", hand="dominant", timing="first-peg-to-dish", **kw):
    return score_time(time_s, birth_year=birth_year, sex=sex, hand=hand, test_date=DAY, timing=timing, **kw)


def done(t):
    return {"status": "complete", "total_s": t, **DISH}


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


@pytest.mark.parametrize("age", [4, 12, 19])
def test_children_are_told_there_are_no_norms_for_their_age(age):
    # no children's norms ship (none could be verified): a child gets a plain "no norms" reason
    r = score(25.0, DAY.year - age)
    assert r["reason"].startswith(f"no norms for age {age}") and "no children's norms" in r["reason"]


@pytest.mark.parametrize("birth_year, birth_month, age, basis", [
    # test date 2026-06-01
    (1990, 5, 36, AGE_FROM_MONTH),   # 2026 - 1990 = 36; born in May, June is after it: 36
    (1990, 6, 36, AGE_FROM_MONTH),   # born in June: the birth month counts as reached: 36
    (1990, 7, 35, AGE_FROM_MONTH),   # born in July: birthday still ahead: 36 - 1 = 35
    (2006, 7, 19, AGE_FROM_MONTH),   # 2026 - 2006 - 1 = 19: a child, no adult norms
    (2006, None, 20, AGE_FROM_YEAR),  # year only: 2026 - 2006 = 20, the age reached this year
    (1990, 13, 36, AGE_FROM_YEAR),   # not a month: the year alone decides
])
def test_age_at_the_test_date_from_birth_month_and_year(birth_year, birth_month, age, basis):
    r = score(20.0, birth_year, birth_month=birth_month)
    assert r["age"] == age and r["age_basis"] == basis


def test_birth_month_moves_a_patient_across_an_age_band():
    # born 1996-09, tested 2026-06-01: 2026 - 1996 - 1 = 29 -> female 25-29 dominant 15.8 +/- 2.2;
    # with the year only the age is 30 -> female 30-34 dominant 16.3 +/- 1.9
    exact = score(18.0, 1996, birth_month=9)
    assert exact["norm"]["age_from"] == 25 and exact["sd_score"] == pytest.approx(-1.0)   # (15.8-18)/2.2
    rough = score(18.0, 1996)
    assert rough["norm"]["age_from"] == 30 and rough["sd_score"] == pytest.approx(-0.89)  # (16.3-18)/1.9


def test_only_times_measured_as_the_norms_were_are_scored():
    # no dish cell: start button to last peg out, a different definition from the norms' stopwatch one
    r = score(18.0, DAY.year - 27, timing="button-to-last-peg-out")
    assert r["sd_score"] is None and r["timing"] == "button-to-last-peg-out"
    assert "start button to the last peg out" in r["reason"] and "not as the norms' times were measured" in r["reason"]
    r = score(18.0, DAY.year - 27, timing=None)
    assert r["sd_score"] is None and "do not record how the time was measured" in r["reason"]
    assert score(18.0, DAY.year - 27)["sd_score"] == pytest.approx(-1.0)   # (15.8 - 18.0) / 2.2


def test_summary_of_a_station_without_dish_names_the_timing_and_gives_no_sd_score():
    s = TestSession(TestPlan.default("nine-hole-peg", practice=False), "T", date="2026-06-01")
    for t in (18.0, 18.0, 20.0, 20.0):
        s.record({"status": "complete", "total_s": t, "timing": "button-to-last-peg-out"})
    summ = summary_record(s, patient={"birth_year": 1999, "sex": "female"})
    for hs in summ["hands"].values():
        assert hs["timing"] == "button-to-last-peg-out" and hs["norm"]["sd_score"] is None
        assert "not as the norms' times were measured" in hs["norm"]["reason"]
    mixed = TestSession(TestPlan.default("nine-hole-peg", practice=False, hands=("dominant",)), "M",
                        date="2026-06-01")
    mixed.record(done(18.0))
    mixed.record({"status": "complete", "total_s": 18.0, "timing": "button-to-last-peg-out"})
    r = summary_record(mixed, patient={"birth_year": 1999, "sex": "female"})["hands"]["dominant"]["norm"]
    assert r["sd_score"] is None and "timed in different ways" in r["reason"]


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
    s = TestSession(TestPlan.default("nine-hole-peg", trials_per_hand=1, practice=False), "T", date="2026-06-01")
    s.record(done(20.0))
    s.record(done(22.0))
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
    s = TestSession(TestPlan.default("nine-hole-peg", practice=False), "T", date="2026-06-01")
    for t in (18.0, 18.0, 30.0, {"status": "timeout", "total_s": None, **DISH}):
        s.record(t if isinstance(t, dict) else done(t))
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
    (GOOD + "# timing: sometime\n", "line 7: timing must be one of first-peg-to-dish"),
])
def test_bad_norm_files_are_refused_with_the_line(text, msg):
    with pytest.raises(NormsError, match=msg):
        parse_norms(text, "n.csv")


def test_missing_norm_file_is_a_clear_error(tmp_path):
    with pytest.raises(NormsError, match="no such norm file"):
        load_norms(tmp_path / "none.csv")
