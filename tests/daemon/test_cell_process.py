"""hardware.cell_process: the HX711 readers in a child process (its own interpreter lock)."""
from __future__ import annotations

import fcntl
import math
import os
import signal
import threading
import time

import pytest

from hardware.cell_process import DATA_PIPE_BYTES, STOPPED, CellProcess, CellProcessError
from station.events import CellFault, Sample
from tests.daemon.fake_cells import SIGNAL

CELLS = {"dish": (22, 23, 80.0), "tray": (24, 25, 80.0)}
FAKE = "tests.daemon.fake_cells:open_fake"


class Collect:
    def __init__(self, until) -> None:
        self.records = []
        self.done = threading.Event()
        self.until = until

    def __call__(self, rec) -> None:
        self.records.append(rec)
        if self.until(self.records):
            self.done.set()


def pull_until_done(cp: CellProcess, got: Collect, timeout: float) -> bool:
    """Pull the samples as the daemon's drain does, until ``got`` has what it waits for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # a second of the child's time a call: the fake child reads in virtual time, faster than real
        cp.pull(until_t=got.records[-1].t + 1.0 if got.records else -math.inf)
        if got.done.wait(0.01):
            return True
    return False


def test_samples_wait_in_their_pipe_until_pulled():
    got = Collect(lambda rs: False)
    cp = CellProcess(CELLS, got, opener=FAKE)
    cp.start()
    try:
        # room for a minute and more of samples should the daemon's loop stall
        assert fcntl.fcntl(cp._data.fileno(), fcntl.F_GETPIPE_SZ) >= DATA_PIPE_BYTES
        assert cp._data.poll(20)  # the child has sent a sample
        assert not [r for r in got.records if type(r) is Sample]  # no thread woke to take it
        assert cp.pull() > 0
        assert [r for r in got.records if type(r) is Sample]
    finally:
        cp.close()


def test_a_pull_ends_after_the_first_sample_stamped_later_than_asked():
    # the fake child reads in virtual time, faster than real time: without the bound a pull
    # taking what arrives could go on for as long as the child sends
    got = Collect(lambda rs: False)
    cp = CellProcess(CELLS, got, opener=FAKE)
    cp.start()
    try:
        assert cp._data.poll(20)
        assert cp.pull(until_t=-math.inf) == 1
        until = got.records[-1].t + 0.5
        assert cp._data.poll(20)
        n = cp.pull(until_t=until)
        taken = got.records[1:]
        assert len(taken) == n >= 1
        assert all(r.t <= until for r in taken[:-1])
    finally:
        cp.close()


def test_samples_of_every_cell_come_from_the_child_and_close_stops_it():
    got = Collect(lambda rs: {r.cell for r in rs if type(r) is Sample} == set(CELLS) and len(rs) > 20)
    cp = CellProcess(CELLS, got, opener=FAKE)
    cp.start()
    try:
        assert pull_until_done(cp, got, 20)
        assert cp.pid != os.getpid()
        assert cp.backend_used == "simulated"
        samples = [r for r in got.records if type(r) is Sample]
        assert {r.counts for r in samples if r.cell == "dish"} == {SIGNAL["dish"]}
        assert {r.counts for r in samples if r.cell == "tray"} == {SIGNAL["tray"]}
        dish_t = [r.t for r in samples if r.cell == "dish"]
        assert dish_t == sorted(dish_t)  # each cell's records in order, stamped in the child
    finally:
        cp.close()
    assert not cp._proc.is_alive()
    assert not [r for r in got.records if type(r) is CellFault]  # a clean stop is no fault
    # the child's count of what it read, logged as it stopped: every reading it sent arrived
    # (close pulls the last ones)
    for cell in CELLS:
        arrived = sum(type(r) is Sample and r.cell == cell for r in got.records)
        assert cp.stats[cell]["readings"] == arrived > 0 and cp.stats[cell]["discarded"] == {}


def _exact_samples_of_both_cells(opener, n):
    """Run the child on ``opener`` until each cell gave ``n`` samples; returns (process, samples)."""
    def enough(rs):
        return all(sum(type(r) is Sample and r.cell == c for r in rs) >= n for c in CELLS)

    got = Collect(enough)
    cp = CellProcess(CELLS, got, opener=opener)
    cp.start()
    try:
        assert pull_until_done(cp, got, 60)
    finally:
        cp.close()
    return cp, [r for r in got.records if type(r) is Sample]


def test_the_lgpio_backend_reads_the_same_chips_in_the_child():
    cp, samples = _exact_samples_of_both_cells("tests.daemon.fake_cells:open_fake_lgpio", 20)
    assert cp.backend_used == "lgpio (simulated)"
    assert {(r.cell, r.counts) for r in samples} == {(c, SIGNAL[c]) for c in CELLS}


def test_a_child_that_cannot_open_the_cells_says_why():
    cp = CellProcess(CELLS, lambda rec: None, opener="tests.daemon.fake_cells:open_broken")
    with pytest.raises(CellProcessError, match="no /dev/gpiomem here"):
        cp.start()


def test_a_child_that_dies_is_a_fault_on_every_cell_unpulled():
    got = Collect(lambda rs: sum(type(r) is CellFault for r in rs) == len(CELLS))
    cp = CellProcess(CELLS, got, opener=FAKE)
    cp.start()
    try:
        os.kill(cp.pid, signal.SIGKILL)
        assert got.done.wait(20)
        faults = [r for r in got.records if type(r) is CellFault]
        assert {f.cell for f in faults} == set(CELLS) and {f.detail for f in faults} == {STOPPED}
    finally:
        cp.close()
