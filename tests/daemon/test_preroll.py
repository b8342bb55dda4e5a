"""Where a trial armed by the start button starts its trace (station.daemon.preroll.Preroll)."""
from __future__ import annotations

from station.daemon.preroll import Preroll
from station.events import Edge, Sample

HOLE, BUTTON = 5, 17
OPEN, CLOSED = 1, 0


def _preroll(records, levels=None):
    p = Preroll(levels or {HOLE: OPEN, BUTTON: OPEN}, OPEN, {BUTTON})
    for r in records:
        p.add(r)
    return p


def test_the_trace_starts_a_second_before_the_press_when_every_switch_is_open():
    recs = [Sample(10.0 + i * 0.1, "dish", 100) for i in range(20)] + [Edge(12.0, BUTTON, CLOSED)]
    p = _preroll(recs)
    i, ok = p.start_index(12.0)
    assert ok and p.records[i].t == 11.0  # the oldest kept record: one second before the press


def test_the_trace_starts_after_a_peg_is_lifted_out_of_a_hole():
    recs = [Sample(11.1, "dish", 1), Edge(11.3, HOLE, OPEN), Sample(11.4, "dish", 1), Edge(11.8, BUTTON, CLOSED)]
    p = _preroll(recs, {HOLE: CLOSED, BUTTON: OPEN})
    i, ok = p.start_index(11.8)
    assert ok and p.records[i].t == 11.4  # the first record with every switch open before it


def test_an_earlier_press_is_not_part_of_the_trial():
    recs = [Edge(11.1, BUTTON, CLOSED), Edge(11.2, BUTTON, OPEN), Sample(11.3, "dish", 1),
            Edge(11.8, BUTTON, CLOSED)]
    p = _preroll(recs)
    i, ok = p.start_index(11.8)
    assert ok and p.records[i].t == 11.3


def test_a_peg_left_in_a_hole_starts_the_trace_at_the_press():
    recs = [Sample(11.1, "dish", 1), Edge(11.8, BUTTON, CLOSED), Sample(11.9, "dish", 1)]
    p = _preroll(recs, {HOLE: CLOSED, BUTTON: OPEN})
    i, ok = p.start_index(11.8)
    assert not ok and p.records[i].t == 11.8


def test_records_older_than_a_second_are_dropped_unless_an_arming_holds_them():
    p = _preroll([Edge(10.0, HOLE, CLOSED), Sample(10.5, "dish", 1), Sample(11.2, "dish", 1)])
    assert [r.t for r in p.records] == [10.5, 11.2] and p.levels_before[HOLE] == CLOSED
    p.hold = True
    p.add(Sample(13.0, "dish", 1))
    assert [r.t for r in p.records] == [10.5, 11.2, 13.0]
