"""The cell reader loop: samples stamped by the driver, faults once, recovery; on the fake chip."""
from __future__ import annotations

import queue
import threading

import pytest

from hardware.cell_reader import CellReader
from station.events import CellFault, Sample


def reader_for(rig, **kw) -> tuple[CellReader, list]:
    """A reader of ``rig``'s chip as cell "tray", on its clock; and the list its records go to."""
    records: list = []
    return CellReader("tray", rig.driver, records.append, clock=rig.clock.now, **kw), records


def test_step_reports_a_sample_stamped_with_the_driver_time(hx711_rig):
    rig = hx711_rig(lambda t: -4242)
    reader, records = reader_for(rig)
    rec = reader.step()
    assert records == [rec]
    assert isinstance(rec, Sample) and rec.cell == "tray" and rec.counts == -4242
    ready = rig.chip.last_conversion_t
    assert ready <= rec.t <= ready + rig.driver.poll_s + 1e-5


def test_a_fault_is_reported_once_and_the_cell_recovers_when_plugged_back(hx711_rig):
    rig = hx711_rig(lambda t: 100)
    reader, records = reader_for(rig)
    reader.step()
    rig.chip.unplugged = True
    unplugged = rig.clock.now()
    for _ in range(10):
        reader.step()
    faults = [r for r in records if isinstance(r, CellFault)]
    assert len(faults) == 1
    assert faults[0].cell == "tray" and "DOUT" in faults[0].detail
    assert unplugged < faults[0].t <= unplugged + 2 / 80 + 0.002
    assert reader.faulted
    rig.chip.unplugged = False
    plugged = rig.clock.now()
    for _ in range(3):  # the first read allows for the 50 ms the chip settles after power-on
        reader.step()
    assert [(type(r), r.counts) for r in records[-3:]] == [(Sample, 100)] * 3
    assert records[-3].t >= plugged + 0.050
    assert not reader.faulted
    rig.chip.unplugged = True
    reader.step()
    assert isinstance(records[-1], CellFault)  # a new fault after recovery is reported again


def test_saturation_is_a_fault_not_a_number(hx711_rig):
    rig = hx711_rig(lambda t: 1)
    reader, records = reader_for(rig)
    rig.chip.saturate = True
    for _ in range(5):
        reader.step()
    assert len(records) == 1 and isinstance(records[0], CellFault)
    assert "saturated" in records[0].detail
    rig.chip.saturate = False
    reader.step()
    assert records[-1].counts == 1


def test_long_pulses_are_retried_silently_then_fault(hx711_rig):
    rig = hx711_rig(lambda t: 7)
    reader, records = reader_for(rig, discard_retries=3)
    for _ in range(3):
        rig.chip.stretch_next_high(100e-6)
        assert reader.step() is None
    assert records == []
    assert reader.step().counts == 7  # the fourth attempt reads fine: no fault
    for _ in range(4):
        rig.chip.stretch_next_high(100e-6)
        reader.step()
    assert len(records) == 2 and isinstance(records[1], CellFault)
    assert "PD_SCK" in records[1].detail and "4 readings in a row" in records[1].detail
    assert reader.discarded == {"clock pulse over 50 us": 7} and reader.readings == 1


def test_readouts_past_the_next_conversion_are_counted_and_only_a_run_of_them_is_a_fault(hx711_rig):
    rig = hx711_rig(lambda t: -54321)
    reader, records = reader_for(rig, discard_retries=2)
    rig.chip.pause_readouts(0.013, after_pulse=12)
    assert reader.step() is None
    assert reader.step().counts == -54321  # one stall, one reading lost
    rig.chip.pause_readouts(0.013, after_pulse=4, count=10**6)  # every readout stalls
    for _ in range(3):
        reader.step()
    assert [type(r) for r in records] == [Sample, CellFault]
    assert "next conversion" in records[1].detail and "3 readings in a row" in records[1].detail
    assert reader.discarded == {"readout past the next conversion": 4}
    rig.chip.pause_readouts(0.013, count=0)
    assert reader.step().counts == -54321 and not reader.faulted
    assert {r.counts for r in records if isinstance(r, Sample)} == {-54321}


def test_a_stuck_low_dout_is_one_fault_not_a_flood_of_zero_samples(hx711_rig):
    rig = hx711_rig(lambda t: 0)
    reader, records = reader_for(rig)
    reader.step()
    rig.chip.dout_stuck_low = True
    start = rig.clock.now()
    while rig.clock.now() < start + 1.0:  # one second of virtual time, as the thread would
        reader.step()
    assert [type(r) for r in records] == [Sample, CellFault]
    assert "DOUT still low" in records[1].detail
    rig.chip.dout_stuck_low = False
    assert reader.step().counts == 0 and not reader.faulted


def test_thread_reads_until_stopped_and_recovers_from_an_unplugged_cell(hx711_rig):
    # The fake is single-threaded, so faults are injected from on_record,
    # which runs on the reader's own thread.
    rig = hx711_rig(lambda t: 55)
    out: queue.Queue = queue.Queue()
    seen = {"samples": 0}

    def on_record(rec):
        if isinstance(rec, Sample):
            seen["samples"] += 1
            if seen["samples"] == 5:
                rig.chip.unplugged = True
        else:
            rig.chip.unplugged = False
        out.put(rec)

    reader = CellReader("dish", rig.driver, on_record, clock=rig.clock.now)
    thread = reader.start()
    assert thread.daemon
    got = [out.get(timeout=10) for _ in range(10)]
    assert reader.stop(timeout=10)
    assert not reader.running
    kinds = [type(r).__name__ for r in got]
    assert kinds == ["Sample"] * 5 + ["CellFault"] + ["Sample"] * 4
    times = [r.t for r in got]
    assert times == sorted(times)
    assert reader.error is None


def test_a_shared_stop_event_stops_several_readers(hx711_rig):
    stop = threading.Event()
    readers = [CellReader(n, hx711_rig(lambda t: 1).driver, lambda r: None, stop_event=stop)
               for n in ("dish", "tray")]
    for r in readers:
        r.start()
    stop.set()
    for r in readers:
        assert r.stop(timeout=10)


def test_a_bug_is_reported_and_ends_the_thread(hx711_rig):
    rig = hx711_rig()
    rig.driver.close()  # reading a closed driver is a programming error
    reader, records = reader_for(rig)
    thread = reader.start()
    thread.join(10)  # not stopped: the error ends it
    assert not thread.is_alive()
    assert isinstance(reader.error, RuntimeError)
    assert len(records) == 1 and "reader stopped" in records[0].detail


def test_start_twice_is_refused(hx711_rig):
    stop = threading.Event()
    reader = CellReader("dish", hx711_rig().driver, lambda r: None, stop_event=stop)
    reader.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            reader.start()
    finally:
        reader.stop(timeout=10)
