"""LiveHardware's wiring off the Pi: switches on a mock pin factory, the cell process on fake chips in real time.

Edges come from the releaser thread unasked; samples only when the daemon drains
(``complete_to``), from the cell process's pipe; all in one time order, none late.
"""
from __future__ import annotations

import functools
import time
from dataclasses import replace

import pytest
from gpiozero.pins.mock import MockFactory

import hardware.live as live
from hardware.cell_process import CellProcess
from hardware.station_io import StationIO
from station.config import load_config
from station.events import Edge, Sample
from tests.support import RecordsSeen

REALTIME_FAKE = "tests.daemon.fake_cells:open_fake_realtime"


@pytest.fixture
def hw(monkeypatch):
    factory = MockFactory()
    monkeypatch.setattr(live, "open_live_switches",
                        lambda config: StationIO(replace(config, cells={}), factory, None,
                                         on_record=live._discard))
    monkeypatch.setattr(live, "CellProcess", functools.partial(CellProcess, opener=REALTIME_FAKE))
    config = load_config(None)
    h = live.LiveHardware(config)
    yield h, factory, config
    h.stop()
    factory.reset()


def test_edges_come_unasked_samples_when_the_daemon_drains_in_one_time_order(hw):
    h, factory, config = hw
    on_record = RecordsSeen()
    got, edge_seen = on_record.got, on_record.edge_seen

    h.start(on_record)
    assert h.cells is not None
    # the child sends samples, but nobody drains: they stay in the pipe
    assert h.cells._data.poll(20)
    factory.pin(config.holes[0]).drive_low()
    assert edge_seen.wait(5.0)  # the releaser delivered the edge once held, undrained
    edge = next(r for r in got if type(r) is Edge)
    # the daemon drains: samples of both cells arrive, up to what complete_to promises
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        upto = h.complete_to()
        cells = {r.cell for r in got if type(r) is Sample and r.t > edge.t}
        if cells == set(config.cells):
            break
    assert {r.cell for r in got if type(r) is Sample} == set(config.cells)
    assert all(r.t <= upto for r in got)
    times = [r.t for r in got]
    assert times == sorted(times)
    assert h.io.merger.late == 0
