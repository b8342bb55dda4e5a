"""The pipeline: events released in time order, faults for bad records, all switch kinds."""
from __future__ import annotations

from station.events import ButtonPress, CellCount, PegIn, PegOut
from station.pipeline import Pipeline


def dish_counts(board, units):
    cal = board.cells["dish"].calibration
    return round(cal.offset + units * cal.unit_g * cal.counts_per_gram)


def test_button_press_only_and_pegs_in_and_out(board):
    p = Pipeline(board)
    p.edge(1.0, 17, 0)   # start pressed
    p.edge(1.2, 17, 1)   # released: no event
    p.edge(2.0, 5, 0)    # hole 1 closed
    p.edge(3.0, 5, 1)
    p.finish()
    assert p.drain() == [ButtonPress(1.0, "start"), PegIn(2.0, 1), PegOut(3.0, 1)]


def test_active_high_board_inverts_levels(board):
    from dataclasses import replace
    p = Pipeline(replace(board, active_low=False))
    p.edge(1.0, 6, 1)
    p.finish()
    assert p.drain() == [PegIn(1.0, 2)]


def test_events_are_released_in_onset_order_across_sources(board):
    """A dish change confirmed 200 ms after its onset still comes before a later peg_in."""
    p = Pipeline(board)
    t = 0.0
    released = []
    while t < 3.0:
        units = 9 if t < 1.0 else 8
        p.sample(t, "dish", dish_counts(board, units))
        if abs(t - 1.1) < 0.006:
            p.edge(t, 5, 0)  # peg seated 100 ms after the pick-up began
        released += p.drain()
        t += 1 / 80
    p.finish()
    released += p.drain()
    assert [type(e) for e in released] == [CellCount, PegIn]
    assert released[0].t <= released[1].t
    assert released[0].count == 8


def test_live_advance_confirms_a_settled_switch_without_new_records(board):
    p = Pipeline(board)
    p.edge(5.0, 13, 0)
    p.advance(5.005)
    assert p.drain() == []
    p.advance(5.011)
    assert p.drain() == [PegIn(5.0, 3)]
    assert p.switch_closed(3)


def test_out_of_order_and_unknown_sources_are_record_faults(board):
    p = Pipeline(board)
    p.edge(2.0, 5, 0)
    p.edge(1.0, 6, 0)        # older than the last record
    p.edge(2.5, 4, 0)        # gpio 4 is not a switch here
    p.sample(2.6, "scale", 1)  # no such cell
    p.finish()
    kinds = [(f.kind, f.source) for f in p.drain_faults()]
    assert kinds == [("record", "gpio 6"), ("record", "gpio 4"), ("record", "cell scale")]
    assert p.drain() == [PegIn(2.0, 1)]


def test_sensor_fault_reported_once(board):
    p = Pipeline(board)
    for i in range(10):
        p.sample(1.0 + i / 80, "tray", 8388607)
    p.cell_fault(1.2, "dish", "no data ready within two sample periods")
    p.cell_fault(1.3, "dish", "no data ready within two sample periods")
    faults = p.drain_faults()
    assert [(f.kind, f.source) for f in faults] == [("sensor", "tray"), ("sensor", "dish")]
