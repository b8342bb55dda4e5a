"""StationIO live: samples wait for ``deliver_now``, edges and faults for the releaser thread, no polling."""
from __future__ import annotations

import threading
import time

import pytest
from gpiozero.pins.mock import MockFactory

from hardware.sim.clock import VirtualClock
from hardware.station_io import HOLD_S, StationIO
from station.config import Config, load_config
from station.events import CellFault, Edge, RawRecord, Sample
from tests.support import RecordsSeen


@pytest.fixture
def switches_only() -> Config:
    cfg = load_config(None)
    return Config(cfg.holes, cfg.buttons)


@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.reset()


def test_deliver_now_delivers_what_is_held_long_enough_and_complete_to_follows_the_clock(switches_only, factory):
    clock = VirtualClock(100.0)
    got: list[RawRecord] = []
    io = StationIO(switches_only, factory, None, on_record=got.append, clock=clock.now)
    try:
        io.put(Sample(99.99, "dish", 2))
        io.put(Sample(99.97, "dish", 1))
        assert io.deliver_now() == pytest.approx(100.0 - HOLD_S)
        assert got == [Sample(99.97, "dish", 1)]  # 99.99 is younger than the hold
        clock.set(100.02)
        assert io.deliver_now() == pytest.approx(100.0)
        assert got == [Sample(99.97, "dish", 1), Sample(99.99, "dish", 2)]
        # no records at all (an unplugged cell, no switch moving): complete_to still advances
        clock.set(105.0)
        assert io.deliver_now() == pytest.approx(105.0 - HOLD_S)
        assert io.merger.late == 0
    finally:
        io.close()


def test_the_releaser_waits_for_the_earliest_edge_or_fault_and_ignores_samples(switches_only, factory):
    clock = VirtualClock(100.0)
    io = StationIO(switches_only, factory, None, on_record=lambda rec: None, clock=clock.now)
    try:
        io.start()
        io.put(Sample(100.0, "dish", 1))
        assert io.next_due() == float("inf")  # a sample wakes nobody
        io.put(Edge(100.5, 5, 0))
        assert io.next_due() == pytest.approx(100.5 + HOLD_S)
        io.put(CellFault(100.2, "dish", "no data-ready"))
        assert io.next_due() == pytest.approx(100.2 + HOLD_S)
    finally:
        io.close()


def test_the_releaser_delivers_an_edge_once_held_with_the_samples_before_it(switches_only, factory):
    clock = VirtualClock(100.0)
    on_record = RecordsSeen()
    got, edge_seen = on_record.got, on_record.edge_seen

    io = StationIO(switches_only, factory, None, on_record=on_record, clock=clock.now)
    try:
        io.start()
        io.put(Sample(100.0, "dish", 1))
        io.put(Edge(100.01, 5, 0))
        io.put(Sample(100.02, "dish", 2))
        clock.set(100.01 + HOLD_S)  # the edge is due; the releaser sees it within one hold
        assert edge_seen.wait(5.0)
        assert io.next_due() == float("inf")
        assert got == [Sample(100.0, "dish", 1), Edge(100.01, 5, 0)]  # the later sample still held
    finally:
        io.close()
    assert got[-1] == Sample(100.02, "dish", 2)  # close flushes it


def test_releaser_and_deliver_now_together_deliver_everything_once_in_time_order(switches_only, factory):
    """Edges released on the releaser thread while another thread drains samples: one time order."""
    got: list[RawRecord] = []
    # a long hold: the producer being switched out mid-put must not make a record "late" here
    io = StationIO(switches_only, factory, None, on_record=got.append, hold_s=0.5)
    clock = time.monotonic
    done = threading.Event()
    puts = 3000

    def produce() -> None:
        for i in range(puts):
            t = clock()
            io.put(Edge(t, 5, i % 2) if i % 50 == 0 else Sample(t, "dish", i))
        done.set()

    try:
        io.start()
        producer = threading.Thread(target=produce)
        producer.start()
        while not done.is_set():
            io.deliver_now()
        producer.join()
    finally:
        io.close()  # flushes the rest
    times = [r.t for r in got]
    assert len(got) == puts
    assert times == sorted(times)
    assert io.merger.late == 0


def test_deliver_now_collects_what_waits_to_be_fetched_before_releasing(switches_only, factory):
    """The cell process's samples wait in their pipe: ``collect`` fetches them first, in the same drain."""
    clock = VirtualClock(100.0)
    got: list[RawRecord] = []
    io = StationIO(switches_only, factory, None, on_record=got.append, clock=clock.now)
    pipe = [Sample(99.95, "dish", 1), Sample(99.99, "dish", 2)]

    def collect(now: float) -> None:
        while pipe:
            io.put(pipe.pop(0))

    io.collect = collect
    try:
        io.put(Edge(99.96, 5, 0))
        assert io.deliver_now() == pytest.approx(100.0 - HOLD_S)
        assert got == [Sample(99.95, "dish", 1), Edge(99.96, 5, 0)]
        assert pipe == [] and io.merger.late == 0
    finally:
        io.close()
