"""A test as a therapist gives it: order of trials, invalid trials and repeats, summary, storage."""
from __future__ import annotations

import json

import pytest

from station.administration import INCOMPLETE_REASON, AdministrationError, TestPlan, TestSession, TrialSlot
from station.errors import UserError


def done(t):
    return {"status": "complete", "total_s": t}


def test_default_9hpt_is_a_practice_trial_per_hand_then_two_timed_dominant_first():
    # Mathiowetz 1985 gave a practice trial with each hand before timing it: the default does too
    plan = TestPlan.default("nine-hole-peg")
    assert plan.practice is True and plan.trials_per_hand == 2
    s = TestSession(plan)
    order = []
    while (slot := s.next_trial()) is not None:
        order.append((slot.hand, slot.index, slot.practice))
        s.record(done(20.0))
    assert order == [("dominant", 1, True), ("dominant", 1, False), ("dominant", 2, False),
                     ("non-dominant", 1, True), ("non-dominant", 1, False), ("non-dominant", 2, False)]
    assert s.status == "complete"
    with pytest.raises(AdministrationError):
        s.record(done(20.0))


@pytest.mark.parametrize("n", [0, 4, 2.0, True])
def test_trials_per_hand_is_one_to_three(n):
    with pytest.raises(AdministrationError, match="1, 2 or 3"):
        TestPlan("nine-hole-peg", trials_per_hand=n)


def test_bad_plans_are_user_errors():
    for bad in (dict(protocol="nope"), dict(protocol="nine-hole-peg", hands=("left",)),
                dict(protocol="nine-hole-peg", hands=("dominant", "dominant")),
                dict(protocol="nine-hole-peg", options={"pegz": 9})):
        with pytest.raises(UserError):
            TestPlan(**bad)


def test_invalid_trials_leave_the_summary_and_are_repeated():
    s = TestSession(TestPlan.default("nine-hole-peg", practice=True), "T")
    s.record(done(30.0))                        # practice
    s.record(done(20.0))                        # dominant 1
    bad = s.record(done(40.0))                  # dominant 2: peg dropped
    s.mark_invalid(bad, "peg dropped on the floor")
    assert s.next_trial() == TrialSlot("dominant", 2, False, bad)
    s.record(done(22.0))
    s.record(done(35.0))                        # non-dominant practice
    s.record(done(24.0))
    s.record(done(26.0))
    assert s.status == "complete"
    summ = s.summary()
    dom, nd = summ["hands"]["dominant"], summ["hands"]["non-dominant"]
    assert dom["values"] == [20.0, 22.0] and dom["mean"] == pytest.approx(21.0)
    assert nd["mean"] == pytest.approx(25.0)
    assert summ["msfc_score"] == pytest.approx((1 / 21 + 1 / 25) / 2, abs=1e-6)
    assert summ["invalid"] == [{"trial_id": bad, "hand": "dominant", "index": 2, "practice": False,
                                "reason": "peg dropped on the floor", "status": "complete", "value": 40.0,
                                "repeated": True}]
    assert summ["practice"] == ["T-1", "T-5"]  # T-2..T-4: dominant 1, 2 (invalid), repeat
    kept = s.trial(bad)
    assert kept["valid"] is False and kept["result"]["total_s"] == 40.0


def test_marking_an_earlier_trial_invalid_repeats_it_next():
    s = TestSession(TestPlan.default("nine-hole-peg", trials_per_hand=1, practice=False))
    first = s.record(done(20.0))
    s.mark_invalid(first, "wrong technique")
    assert s.next_trial() == TrialSlot("dominant", 1, False, first)
    s.record(done(21.0))
    last = s.record(done(23.0))
    assert s.status == "complete"
    s.mark_invalid(last, "wrong technique")  # after the end: the test reopens for the repeat
    assert s.status == "in_progress" and s.next_trial().hand == "non-dominant"


def test_mark_invalid_errors():
    s = TestSession(TestPlan.default("nine-hole-peg", practice=False))
    tid = s.record(done(20.0))
    with pytest.raises(AdministrationError, match="no trial"):
        s.mark_invalid("nope", "wrong technique")
    with pytest.raises(AdministrationError, match="say why"):
        s.mark_invalid(tid, "  ")
    s.mark_invalid(tid, "wrong technique", repeat=False)
    with pytest.raises(AdministrationError, match="already"):
        s.mark_invalid(tid, "wrong technique")
    assert s.next_trial() == TrialSlot("dominant", 2)


def test_incomplete_trial_is_invalid_and_repeated():
    s = TestSession(TestPlan.default("nine-hole-peg", practice=False))
    tid = s.record({"status": "incomplete", "total_s": None})
    assert s.trial(tid)["invalid_reason"] == INCOMPLETE_REASON
    assert s.next_trial() == TrialSlot("dominant", 1, False, tid)


def test_timed_out_hand_has_no_mean_and_counts_777_s_in_msfc():
    s = TestSession(TestPlan.default("nine-hole-peg", practice=False))
    for r in (done(20.0), done(20.0), {"status": "timeout", "total_s": None}, done(30.0)):
        s.record(r)
    summ = s.summary()
    nd = summ["hands"]["non-dominant"]
    assert nd["status"] == "timeout" and nd["mean"] is None and nd["timed_out"] == 1
    # MSFC manual: a hand unable to complete is recorded as 777 s.
    # (1/20 + 1/777) / 2 = (0.05 + 0.0012870013) / 2 = 0.0256435006
    assert summ["msfc_score"] == pytest.approx(0.025644, abs=1e-6)


def test_hand_summary_says_how_its_trials_were_timed():
    s = TestSession(TestPlan.default("nine-hole-peg", practice=False))
    dish, button = {"timing": "first-peg-to-dish"}, {"timing": "button-to-last-peg-out"}
    for r in (done(20.0) | dish, done(21.0) | dish, done(22.0) | dish, done(23.0) | button):
        s.record(r)
    hands = s.summary()["hands"]
    assert hands["dominant"]["timing"] == "first-peg-to-dish"
    assert hands["non-dominant"]["timing"] == "mixed"
    old = TestSession(TestPlan.default("nine-hole-peg", practice=False, hands=("dominant",)))
    old.record(done(20.0))
    assert old.summary()["hands"]["dominant"]["timing"] is None  # not recorded


def test_no_msfc_without_both_hands():
    s = TestSession(TestPlan.default("nine-hole-peg", hands=("dominant",), practice=False))
    s.record(done(20.0))
    assert s.summary()["msfc_score"] is None


def test_other_protocols_summarise_their_own_measure():
    s = TestSession(TestPlan.default("timed-pegs"))
    s.record({"status": "complete", "total_s": 30.0, "pegs": 12, "pegs_per_s": 0.4})
    s.record({"status": "complete", "total_s": 30.0, "pegs": 9, "pegs_per_s": 0.3})
    summ = s.summary()
    assert summ["measure"] == "pegs" and summ["lower_is_better"] is False and summ["msfc_score"] is None
    assert summ["hands"]["dominant"]["mean"] == 12 and summ["hands"]["non-dominant"]["mean"] == 9
    c = TestSession(TestPlan.default("coin-drop", trials_per_hand=1, hands=("dominant",)))
    c.record({"status": "complete", "total_s": 30.0, "place_s": 12.0, "pickup_s": 18.0})
    assert c.summary()["hands"]["dominant"]["means"] == {"place_s": 12.0, "pickup_s": 18.0}
    f = TestSession(TestPlan.default("free-practice", options={"goal": 20}))
    assert f.next_trial() == TrialSlot("dominant", 1)
    f.record({"status": "complete", "total_s": 60.0, "reps": 20, "reps_per_min": 20.0})
    assert f.summary()["hands"]["dominant"]["mean"] == 20 and f.status == "complete"


def test_session_round_trips_through_a_dict_mid_test():
    s = TestSession(TestPlan.default("nine-hole-peg", practice=True, trials_per_hand=3), "T9",
                    patient_id="P-1", date="2026-03-14")
    s.record(done(30.0))
    tid = s.record(done(20.0))
    s.mark_invalid(tid, "peg dropped on the floor")
    d = json.loads(json.dumps(s.to_dict()))
    r = TestSession.from_dict(d)
    assert r.to_dict() == s.to_dict()
    assert r.next_trial() == s.next_trial() == TrialSlot("dominant", 1, False, tid)
    assert r.summary() == s.summary()


def test_end_early_and_bad_stored_sessions():
    s = TestSession(TestPlan.default("nine-hole-peg", practice=False))
    s.record(done(20.0))
    s.end("patient fatigued")
    assert s.status == "ended" and s.next_trial() is None and s.summary()["status"] == "ended"
    with pytest.raises(AdministrationError):
        TestSession.from_dict({"schema": "something else"})
    d = s.to_dict()
    d["trials"][0].pop("valid")
    with pytest.raises(AdministrationError, match="malformed"):
        TestSession.from_dict(d)
