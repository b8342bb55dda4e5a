"""The virtual patient on the virtual board, read by the real drivers; record merging in StationIO.

Each simulated run is recorded as the station records it and replayed
(``station.replay.replay``); the replay must match the patient's own ground
truth within the spec's tolerances, checked by the spec's checker.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import random
import threading
from contextlib import redirect_stdout

import pytest
from gpiozero.pins.mock import MockFactory

from hardware.sim.patient import PROFILES, Patient, PatientError
from hardware.sim.simulator import Simulation
from hardware.station_io import RecordMerger, StationIO
from station.config import Config, load_config
from station.events import CellFault, Edge, Sample
from station.protocols import make_protocol
from station.replay import replay
from station.trace import TraceHeader, TraceWriter
from station.trial import Trial
from tests.support import CHECK_REPLAY

_spec = importlib.util.spec_from_file_location("check_replay", CHECK_REPLAY)
check_replay = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_replay)


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config()


def record_run(config, tmp_path, protocol, options=None, *, seed=1, profile="healthy", name="run"):
    """Simulate one trial into a trace; returns (trace path, plan, live result, records delivered)."""
    options = options or {}
    board = config.board()
    trace = tmp_path / f"{name}.trace.jsonl"
    trial = Trial(board, make_protocol(protocol, board, options),
                  TraceWriter(trace, TraceHeader(board, protocol, options)))
    delivered = []

    def record(rec):
        delivered.append(rec)
        trial.record(rec)

    with Simulation(config, seed, profile, on_record=record) as sim:
        plan = sim.run_protocol(protocol, options, on_tick=trial.advance)
        result = trial.finish(sim.now)
    return trace, plan, result, delivered


def assert_replay_matches_truth(trace, plan, tmp_path):
    truth, out = tmp_path / "truth.json", tmp_path / "out.json"
    truth.write_text(json.dumps(plan.truth()))
    replayed = replay(trace)
    out.write_text(json.dumps(replayed))
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = check_replay.main(str(trace), str(truth), str(out))
    assert rc == 0, buf.getvalue()
    return replayed


# Options keep each run to a few seconds of virtual time (well under a second to simulate).
RUNS = [
    ("nine-hole-peg", {}, "healthy", 3),
    ("nine-hole-peg", {"pegs": 3}, "impaired", 4),
    ("coin-drop", {"coins": 3}, "healthy", 5),
    ("coin-drop", {"coins": 2}, "impaired", 6),
    ("timed-pegs", {"duration_s": 6.0}, "healthy", 7),
    ("free-practice", {"goal": 3}, "healthy", 8),
    ("free-practice", {"goal": 3}, "impaired", 9),
]


@pytest.mark.parametrize("protocol, options, profile, seed", RUNS)
def test_simulated_trace_replays_to_the_patients_ground_truth(config, tmp_path, protocol, options, profile, seed):
    trace, plan, live, _ = record_run(config, tmp_path, protocol, options, seed=seed, profile=profile)
    replayed = assert_replay_matches_truth(trace, plan, tmp_path)
    assert plan.result["status"] == "complete"
    assert replayed["faults"] == []
    # live scoring and replay of its own trace agree (the same pipeline)
    assert live["status"] == replayed["result"]["status"]
    assert live["total_s"] == replayed["result"]["total_s"]


def test_records_go_through_the_real_drivers_in_time_order(config, tmp_path):
    trace, plan, _, delivered = record_run(config, tmp_path, "coin-drop", {"coins": 2}, seed=11)
    ts = [r.t for r in delivered]
    assert ts == sorted(ts)
    edges = [r for r in delivered if isinstance(r, Edge)]
    # every planned edge (bounce and glitches included) arrived with its own time
    assert sorted((e.t, e.gpio, e.level) for e in edges) == sorted(plan.edges)
    samples = [r for r in delivered if isinstance(r, Sample)]
    span = ts[-1] - ts[0]
    for name, cell in config.cells.items():
        mine = [s for s in samples if s.cell == name]
        assert abs(len(mine) - span * cell.sample_hz) < 3  # one reading per conversion
        at_rest = (mine[0].counts - cell.offset) / cell.counts_per_gram / cell.unit_g
        assert at_rest == pytest.approx(cell.items, abs=0.2)  # decoded bit by bit from the fake chip
    assert not any(isinstance(r, CellFault) for r in delivered)


def test_same_seed_same_trace_other_seed_other_trace(config, tmp_path):
    a = record_run(config, tmp_path, "coin-drop", {"coins": 1}, seed=21, name="a")[0]
    b = record_run(config, tmp_path, "coin-drop", {"coins": 1}, seed=21, name="b")[0]
    c = record_run(config, tmp_path, "coin-drop", {"coins": 1}, seed=22, name="c")[0]
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def _profile(**changes):
    return dataclasses.replace(PROFILES["healthy"], **changes)


def test_hand_resting_on_the_tray_is_no_coin(config, tmp_path):
    trace, plan, _, _ = record_run(config, tmp_path, "coin-drop", {"coins": 1}, seed=31,
                                   profile=_profile(hand_rest_p=1.0))
    assert sum("hand resting" in what for _, what in plan.notes) == 2
    replayed = assert_replay_matches_truth(trace, plan, tmp_path)
    assert [e["count"] for e in replayed["events"] if e["kind"] == "tray"] == [1, 0]


def test_a_peg_picked_up_and_put_back_is_two_dish_events_and_no_insert(config, tmp_path):
    trace, plan, live, _ = record_run(config, tmp_path, "nine-hole-peg", {"pegs": 2}, seed=41,
                                      profile=_profile(putback_p=1.0))
    replayed = assert_replay_matches_truth(trace, plan, tmp_path)
    kinds = [(e["kind"], e.get("count", e.get("hole"))) for e in replayed["events"]]
    assert kinds[1:4] == [("dish", 8), ("dish", 9), ("dish", 8)]  # after the start button
    assert live["status"] == "complete"


def test_glitches_and_bounce_make_no_events(config, tmp_path):
    trace, plan, _, _ = record_run(config, tmp_path, "free-practice", {"goal": 2}, seed=51,
                                   profile=_profile(glitch_per_s=4.0))
    assert len(plan.glitches) >= 5
    switch_events = [e for e in plan.truth()["events"] if e["kind"] in ("peg_in", "peg_out", "button")]
    assert len(plan.edges) > 2 * len(switch_events)  # bursts, not single edges
    assert_replay_matches_truth(trace, plan, tmp_path)


@pytest.mark.parametrize("protocol", ["nine-hole-peg", "coin-drop", "timed-pegs", "free-practice"])
def test_each_profile_moves_at_its_pace(config, protocol):
    def totals(profile):
        out = []
        for seed in range(6):
            plan = Patient(config, profile, random.Random(seed)).perform(protocol, {}, 0.0)
            out.append(plan.result["pegs"] if protocol == "timed-pegs" else plan.result["total_s"])
        return out

    healthy, impaired = totals("healthy"), totals("impaired")
    if protocol == "nine-hole-peg":  # a healthy adult's 9HPT is ~16-20 s; impaired 35-60 s
        assert all(14 <= t <= 22 for t in healthy), healthy
        assert all(33 <= t <= 65 for t in impaired), impaired
    if protocol == "timed-pegs":
        assert min(healthy) > max(impaired)
    else:
        assert max(healthy) < min(impaired) or protocol == "free-practice"


def test_the_patient_responds_to_a_trial_started_later(config):
    """As a daemon would: the board idles, then a trial starts and the patient performs it."""
    got = []
    with Simulation(config, seed=61, on_record=got.append, start_t=500.0) as sim:
        sim.advance_to(501.0)
        assert sim.idle and not any(isinstance(r, Edge) for r in got)
        assert sum(isinstance(r, Sample) for r in got) > 100  # the cells are read while idle
        plan = sim.perform("timed-pegs", {"duration_s": 3.0})
        assert plan.start_t >= 501.0
        assert not sim.idle
        while not sim.idle:
            sim.advance_to(sim.now + 0.25)
        sim.io.flush()
    presses = [r for r in got if isinstance(r, Edge) and r.gpio == config.buttons["start"]]
    assert presses and presses[0].t >= 501.0
    assert min(e["t"] for e in plan.events) >= 501.0


def test_unknown_profile_or_missing_tray_is_a_clear_error(config):
    with pytest.raises(PatientError, match="unknown profile"):
        Patient(config, "sleepy")
    no_tray = Config(config.holes, config.buttons, cells={"dish": config.cells["dish"]})
    with pytest.raises(PatientError, match="tray"):
        Patient(no_tray).perform("coin-drop")


def test_without_a_dish_the_9hpt_runs_from_the_button_to_the_last_peg_out(config, tmp_path):
    no_cells = Config(config.holes, config.buttons)
    trace, plan, live, _ = record_run(no_cells, tmp_path, "nine-hole-peg", {"pegs": 3}, seed=71)
    assert_replay_matches_truth(trace, plan, tmp_path)
    events = plan.truth()["events"]
    assert plan.result["total_s"] == pytest.approx(events[-1]["t"] - events[0]["t"], abs=1e-6)
    assert events[0]["kind"] == "button" and events[-1]["kind"] == "peg_out"


# --- record merging -----------------------------------------------------------


def test_merger_releases_in_time_order_after_the_hold():
    out = []
    m = RecordMerger(on_record=out.append, hold_s=0.02)
    for r in [Sample(1.000, "dish", 5), Edge(0.995, 5, 0), Sample(1.0125, "dish", 6), Edge(1.001, 6, 1)]:
        m.put(r)
    assert m.release(1.0151) == 1  # only what is 20 ms old
    assert [r.t for r in out] == [0.995]
    m.release(1.0216)
    assert [r.t for r in out] == [0.995, 1.000, 1.001]
    assert m.complete_to == pytest.approx(1.0016)
    m.flush()
    assert [r.t for r in out] == [0.995, 1.000, 1.001, 1.0125]
    assert m.late == 0


def test_merger_delivers_a_record_that_came_too_late_and_counts_it():
    out = []
    m = RecordMerger(on_record=out.append, hold_s=0.02)
    m.put(Edge(2.0, 5, 0))
    m.release(2.1)
    m.put(Edge(1.9, 6, 0))  # older than what was already delivered
    m.release(2.2)
    assert [r.t for r in out] == [2.0, 1.9]  # never dropped: the pipeline reports it
    assert m.late == 1


def test_live_station_io_delivers_edges_on_its_release_thread(config):
    """Live mode: the releaser thread delivers edges unasked; no cells, so no HX711 module is needed."""
    switches_only = Config(config.holes, config.buttons)
    factory = MockFactory()
    got, threads = [], set()
    arrived = threading.Event()

    def on_record(rec):
        got.append(rec)
        threads.add(threading.current_thread().name)
        if len(got) == 2:
            arrived.set()

    io_ = StationIO(switches_only, factory, None, on_record=on_record)
    try:
        io_.start()
        factory.pin(config.holes[0]).drive_low()
        factory.pin(config.holes[0]).drive_high()
        assert arrived.wait(5.0)
    finally:
        io_.close()
        factory.reset()
    assert [(r.gpio, r.level) for r in got] == [(config.holes[0], 0), (config.holes[0], 1)]
    assert threads == {"station-io-release"}


def test_station_io_needs_a_gpio_module_for_its_cells(config):
    factory = MockFactory()
    with pytest.raises(ValueError, match="no GPIO module"):
        StationIO(config, factory, None, on_record=lambda r: None)
    # the switches it had opened were closed again: the pins can be opened anew
    StationIO(Config(config.holes, config.buttons), factory, None, on_record=lambda r: None).close()
    factory.reset()


def test_an_unplugged_cell_is_a_sensor_fault_and_the_switches_keep_their_order(config):
    board = config.board()
    trial = Trial(board, make_protocol("free-practice", board, {}))
    delivered = []

    def record(rec):
        delivered.append(rec)
        trial.record(rec)

    with Simulation(config, seed=81, profile=_profile(glitch_per_s=2.0), on_record=record) as sim:
        plan = sim.perform("free-practice", {"goal": 2})
        sim.advance_to(plan.start_t + 1.5)
        sim.chips["tray"].unplugged = True
        sim.run(sim.busy_until, on_tick=trial.advance)
        sim.io.flush()
        late = sim.io.merger.late
    trial.finish(sim.now)
    faults = [f for f in trial.faults]
    assert [(f.kind, f.source) for f in faults] == [("sensor", "tray")]
    assert sum(isinstance(r, CellFault) for r in delivered) == 1  # reported once, not per attempt
    assert late == 0 and [r.t for r in delivered] == sorted(r.t for r in delivered)
    edges = sorted((r.t, r.gpio, r.level) for r in delivered if isinstance(r, Edge))
    assert edges == sorted(plan.edges)
    assert trial.protocol.reps == 2


def test_a_cell_plugged_back_in_reads_again(config):
    got = []
    with Simulation(config, seed=82, on_record=got.append, start_t=10.0) as sim:
        sim.advance_to(10.5)
        sim.chips["dish"].unplugged = True
        sim.advance_to(11.0)
        sim.chips["dish"].unplugged = False
        sim.advance_to(11.5)
        sim.io.flush()
    dish = [r for r in got if getattr(r, "cell", None) == "dish"]
    faults = [r for r in dish if isinstance(r, CellFault)]
    assert len(faults) == 1 and 10.5 <= faults[0].t <= 10.6
    after = [r.t for r in dish if isinstance(r, Sample) and r.t > 11.0]
    # back after the chip's settling (four sample periods), then at the sample rate
    assert after and after[0] - 11.0 == pytest.approx(0.05, abs=0.015)
    assert len(after) == pytest.approx((11.5 - after[0]) * 80, abs=2)
    tray = [r.t for r in got if isinstance(r, Sample) and r.cell == "tray"]
    # The other cell kept its rate (from its first reading, after the reset at open), but for
    # one gap: the single-threaded board is held up 25 ms by the dish's failing read, so the
    # tray's driver looks late, cannot tell how old its conversion is and drops it (live, each
    # reader has its own thread).
    gaps = [b - a for a, b in zip(tray, tray[1:], strict=False)]
    long = [g for g in gaps if g > 1.5 / 80]
    assert len(long) <= 1 and all(g < 0.06 for g in long) and max(gaps) < 0.06
    assert len(tray) >= (11.5 - tray[0]) * 80 - 4


def test_a_dish_short_of_pegs_leaves_the_9hpt_incomplete(config, tmp_path):
    cells = dict(config.cells, dish=dataclasses.replace(config.cells["dish"], items=2))
    short = dataclasses.replace(config, cells=cells)
    trace, plan, live, _ = record_run(short, tmp_path, "nine-hole-peg", {}, seed=91)
    assert plan.result == {"status": "incomplete", "total_s": None}
    assert sum(e["kind"] == "peg_in" for e in plan.events) == 2
    assert_replay_matches_truth(trace, plan, tmp_path)
    assert live["status"] == "incomplete"
