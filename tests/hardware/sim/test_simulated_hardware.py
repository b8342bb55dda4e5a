"""SimulatedHardware: edges and loads a test (or a control line) makes now, on the played board."""
from __future__ import annotations

from hardware.sim.hardware import SimulatedHardware
from station.config import load_config
from station.events import Edge, Sample


def _hardware_on_a_hand_clock():
    hw = SimulatedHardware(load_config(None), seed=3, respond=False)
    now = [hw.sim.now]
    hw.clock = lambda: now[0]  # type: ignore[method-assign]  # the test sets the time
    delivered: list[tuple[object, float]] = []  # (record, what the hardware promised before it came)
    hw.sim.on_record = lambda rec: delivered.append((rec, hw.complete_to()))
    return hw, now, delivered


def test_an_edge_driven_during_a_long_hx711_read_is_not_stamped_before_delivered_records():
    hw, now, delivered = _hardware_on_a_hand_clock()
    hw.sim.advance_to(hw.sim.now + 0.5)
    ready = min(chip.next_ready_t() for chip in hw.sim.chips.values())
    hw.sim.gpio.stall_next_call(0.03)  # the next reading's readout runs 30 ms long (past the merge hold)
    now[0] = ready + 0.001  # the edge happens just after that reading began
    gpio = hw.sim.config.holes[0]
    t = hw.drive_switch(gpio, 0)
    hw.sim.advance_to(hw.sim.now + 0.2)
    edges = [(rec, promised) for rec, promised in delivered if type(rec) is Edge]
    assert [(e.gpio, e.level, e.t) for e, _ in edges] == [(gpio, 0, t)]
    edge, promised = edges[0]
    # The daemon's pipeline has advanced to what was promised complete: an edge older than that
    # would be out of order there (and dropped). The stall really ran the board past the edge.
    assert edge.t >= promised
    assert t > ready + 0.03
    times = [rec.t for rec, _ in delivered]
    assert times == sorted(times) and hw.sim.io.merger.late == 0


def test_a_load_step_now_is_read_by_the_next_readings():
    hw, now, delivered = _hardware_on_a_hand_clock()
    hw.sim.advance_to(hw.sim.now + 0.5)
    before = [rec.counts for rec, _ in delivered if type(rec) is Sample and rec.cell == "dish"][-1]
    now[0] = hw.sim.now + 0.01
    t = hw.step_load("dish", -1)
    hw.sim.advance_to(t + 0.5)
    after = [rec.counts for rec, _ in delivered if type(rec) is Sample and rec.cell == "dish" and rec.t > t + 0.1]
    per_item = hw.sim.config.cells["dish"].counts_per_gram * hw.sim.config.cells["dish"].unit_g
    assert after and all(abs((c - before) + per_item) < 0.2 * per_item for c in after)
