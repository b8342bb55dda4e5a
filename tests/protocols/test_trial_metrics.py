"""Metrics against values computed by hand on small event sequences (see the comments)."""
from __future__ import annotations

import pytest

from station.protocols import make_protocol
from tests.protocols.helpers import dish, pin, pout, press, run, tray

approx = pytest.approx


def test_nine_hole_peg_metrics_with_dish(board):
    # Three pegs. Pick-ups at 10.0, 11.0, 12.0 (returned at 12.2) and 12.5;
    # inserts at 10.5, 11.8, 13.1; removals at 14.0, 14.6, 15.5; dish full at 15.8.
    evs = [dish(10.0, 8), pin(10.5, 1), dish(11.0, 7), pin(11.8, 2), dish(12.0, 6), dish(12.2, 7),
           dish(12.5, 6), pin(13.1, 3), pout(14.0, 1), dish(14.3, 7), pout(14.6, 2), dish(14.9, 8),
           pout(15.5, 3), dish(15.8, 9)]
    r = run(make_protocol("nine-hole-peg", board, {"pegs": 3}), evs)
    assert r["status"] == "complete" and r["total_s"] == approx(5.8)
    assert r["holes"] == [{"hole": 1, "in_s": approx(0.5), "out_s": approx(4.0)},
                          {"hole": 2, "in_s": approx(1.8), "out_s": approx(4.6)},
                          {"hole": 3, "in_s": approx(3.1), "out_s": approx(5.5)}]
    assert r["place_s"] == approx(3.1) and r["remove_s"] == approx(2.7)
    assert r["place_intervals_s"] == approx([0.5, 1.3, 1.3])
    assert r["remove_intervals_s"] == approx([0.9, 0.6, 0.9])  # from the last insert at 13.1
    # CV of 0.5, 1.3, 1.3: mean 1.0333, sample SD 0.4619 -> 0.4470
    assert r["place_interval_cv"] == approx(0.4470, abs=1e-4)
    # CV of 0.9, 0.6, 0.9: mean 0.8, sample SD 0.1732 -> 0.2165
    assert r["remove_interval_cv"] == approx(0.2165, abs=1e-4)
    # gaps between 10.0, peg events, 15.8: 0.5 1.3 1.3 0.9 0.6 0.9 0.3: the first 1.3 starts at 10.5
    assert r["longest_pause_s"] == approx(1.3) and r["longest_pause_at_s"] == approx(0.5)
    assert r["pegs_per_s"] == approx(3 / 5.8, abs=1e-4)
    assert r["transport_s"] == approx([0.5, 0.8, 0.6])
    assert r["transport_mean_s"] == approx(1.9 / 3)
    assert r["returned_to_dish"] == 1
    assert r["reinserts"] == 0


def test_nine_hole_peg_reseat_counts_as_reinsert_not_transport(board):
    evs = [dish(10.0, 8), pin(10.4, 1), pout(10.6, 1), pin(10.7, 1), pout(11.5, 1), dish(11.8, 9)]
    r = run(make_protocol("nine-hole-peg", board, {"pegs": 1}), evs)
    assert r["status"] == "complete" and r["reinserts"] == 1
    assert r["transport_s"] == approx([0.4]) and r["returned_to_dish"] == 0
    assert r["holes"] == [{"hole": 1, "in_s": approx(0.4), "out_s": approx(1.5)}]
    assert r["place_s"] == approx(0.4) and r["remove_intervals_s"] == approx([1.1])


def test_nine_hole_peg_metrics_without_dish_have_no_transport(board):
    from tests.protocols.test_protocol_rules import nodish
    evs = [press(0.0), pin(1.0, 1), pin(3.0, 2), pout(4.0, 1), pout(4.5, 2)]
    r = run(make_protocol("nine-hole-peg", nodish(board), {"pegs": 2}), evs)
    assert r["total_s"] == approx(4.5)
    assert r["place_intervals_s"] == approx([1.0, 2.0]) and r["remove_intervals_s"] == approx([1.0, 0.5])
    assert r["transport_s"] is None and r["returned_to_dish"] is None
    assert r["pegs_per_s"] == approx(2 / 4.5, abs=1e-4)


def test_timed_pegs_metrics(board):
    # window 100-110; inserts at 101, 103, 104, 109.5 (and 110.2, too late)
    evs = [press(100.0), pin(101.0, 1), pout(102.0, 1), pin(103.0, 2), pin(104.0, 1), pout(105.0, 2),
           pin(109.5, 2), pin(110.2, 3)]
    r = run(make_protocol("timed-pegs", board, {"duration_s": 10.0}), evs)
    assert r["pegs"] == 4
    assert r["insert_times_s"] == approx([1.0, 3.0, 4.0, 9.5])
    assert r["insert_intervals_s"] == approx([1.0, 2.0, 1.0, 5.5])
    # mean 2.375, sample SD sqrt(13.6875 / 3) = 2.1360 -> CV 0.8994
    assert r["insert_interval_cv"] == approx(0.8994, abs=1e-4)
    # moments 100, 101, 102, 103, 104, 105, 109.5, 110: longest gap 4.5 from 105
    assert r["longest_pause_s"] == approx(4.5) and r["longest_pause_at_s"] == approx(5.0)
    assert r["pegs_per_s"] == approx(0.4)


def test_coin_drop_metrics(board):
    # 3 coins: 1 at 51, 2 at 52.5, knocked back to 1 at 53, 3 at 54 (two at once);
    # then 2 at 56 and 0 at 57.5 (two at once).
    evs = [press(50.0), tray(51.0, 1), tray(52.5, 2), tray(53.0, 1), tray(54.0, 3), tray(56.0, 2), tray(57.5, 0)]
    r = run(make_protocol("coin-drop", board, {"coins": 3}), evs)
    assert (r["status"], r["place_s"], r["pickup_s"], r["total_s"]) == ("complete", 4.0, 3.5, 7.5)
    assert r["place_times_s"] == approx([1.0, 2.5, 4.0])
    assert r["pickup_times_s"] == approx([6.0, 7.5, 7.5])
    assert r["place_intervals_s"] == approx([1.0, 1.5, 1.5])
    assert r["pickup_intervals_s"] == approx([2.0, 1.5, 0.0])
    assert r["place_interval_cv"] == approx(0.2165, abs=1e-4)   # mean 4/3, SD 0.2887
    assert r["pickup_interval_cv"] == approx(0.8921, abs=1e-4)  # mean 7/6, SD 1.0408
    assert r["coins_together"] == 2


def test_free_practice_pace(board):
    # reps completed at +2, +5, +7, +12 (start +0, end +12); a pick-up and return at +9/+10
    t = 100.0
    evs = [pin(t, 1), pout(t + 2, 1), pin(t + 3, 2), pout(t + 5, 2), pin(t + 6, 1), pout(t + 7, 1),
           pin(t + 8, 3), dish(t + 9, 8), dish(t + 10, 9), pout(t + 12, 3)]
    r = run(make_protocol("free-practice", board), evs)
    assert r["reps"] == 4 and r["total_s"] == approx(12.0)
    assert r["reps_per_min"] == approx(20.0)
    # thirds of 4 s: reps 1 | 2 | 1 -> 15, 30, 15 per minute
    assert r["pace_by_third_rpm"] == approx([15.0, 30.0, 15.0])
    assert r["reps_by_minute"] == [4]
    assert r["pace_change_pct"] == 0.0 and r["pace_trend"] == "steady"
    assert r["rep_intervals_s"] == approx([2.0, 3.0, 2.0, 5.0])
    # least squares of 2, 3, 2, 5 on 1..4: sxy 4 / sxx 5
    assert r["rep_interval_slope_s"] == approx(0.8)


def test_free_practice_slowing_down(board):
    # reps at +1, +2, +3 then +10, session +0..+12: thirds 3 | 0 | 1 -> 45, 0, 15 rpm
    t = 0.0
    evs = [pin(t, 1), pout(t + 1, 1), pin(t + 1.5, 1), pout(t + 2, 1), pin(t + 2.5, 1), pout(t + 3, 1),
           pin(t + 9, 1), pout(t + 10, 1), pin(t + 12, 2)]
    r = run(make_protocol("free-practice", board), evs)
    assert r["pace_by_third_rpm"] == approx([45.0, 0.0, 15.0])
    assert r["pace_change_pct"] == approx(-66.67) and r["pace_trend"] == "slower"


def test_free_practice_minutes(board):
    # 150 s session: reps at 30, 90, 100, 149 -> minutes [1, 2, 1]
    evs = [pin(0.0, 1)]
    for t in (30.0, 90.0, 100.0, 149.0):
        evs += [pout(t, 1), pin(t + 0.5, 1)]
    evs[-1] = pin(150.0, 1)
    r = run(make_protocol("free-practice", board), evs)
    assert r["reps_by_minute"] == [1, 2, 1]
