"""The station's real pins on a Raspberry Pi: ``LiveHardware`` for the daemon,
``open_live_switches`` for it and ``station selftest``.

Both deliver raw records through ``hardware.station_io.StationIO`` (switch
edges + HX711 readers + time-order merging). ``LiveHardware`` opens gpiozero's
lgpio pin factory for the switches and reads the HX711s (on the backend
``hardware.hx711_pins`` picks for the Pi: lgpio on a Pi 5, RPi.GPIO on others)
in a child process (``hardware.cell_process``), where nothing the daemon does
can stretch their clock pulses.

Delivery latency (a switch edge until the daemon can confirm it): records
are held ``hardware.station_io.HOLD_S`` (20 ms: the HX711 readers deliver from
their own process, late by up to a scheduling slice) to merge them into time
order, plus ``LIVE_RELEASE_S`` for the releaser thread waking late. Samples
are delivered when the daemon drains (``complete_to``/``sync``), edges and
faults by the releaser once held: no thread polls.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import replace

from hardware.base import Hardware
from hardware.cell_process import CellProcess, CellProcessError
from hardware.station_io import HOLD_S, StationIO
from station.config import Config
from station.errors import HardwareError
from station.events import RawRecord

#: margin for the releaser waking after an edge's hold (it used to poll every 5 ms)
LIVE_RELEASE_S = 0.005


@contextlib.contextmanager
def _working_directory_kept() -> Iterator[None]:
    """Undo the ``chdir`` that importing lgpio makes.

    ``import lgpio`` creates its notification FIFO in ``$LG_WD`` (``station.cli``
    sets it to a writable directory) and changes the process's working directory
    there; a relative path the user gave (``--data``, ``--config``) must keep
    meaning what it meant. lgpio keeps the directory's absolute path and its FIFO
    open, so changing back is safe.
    """
    cwd = os.getcwd()
    try:
        yield
    finally:
        os.chdir(cwd)


def _discard(rec: RawRecord) -> None:
    """Where records go until the owner sets ``on_record``."""


def open_live_switches(config: Config) -> StationIO:
    """The station's switches, live on gpiozero's lgpio pin factory, as a
    ``hardware.station_io.StationIO`` without load cells (``config``'s cells are
    left out: the daemon reads them in ``hardware.cell_process``, ``station
    selftest`` through ``hardware.hx711_pins.open_backend``).
    ``HardwareError`` if the pins cannot be opened."""
    try:
        with _working_directory_kept():
            from gpiozero.pins.lgpio import LGPIOFactory
            factory = LGPIOFactory()
    except Exception as e:  # ImportError off a Pi, or lgpio failing to open the chip
        raise HardwareError(f"cannot open the GPIO pins ({e.__class__.__name__}: {e}); "
                            "on a machine without the station's hardware use --simulate") from None
    return StationIO(replace(config, cells={}), factory, None, on_record=_discard)


class LiveHardware(Hardware):
    """The real station on a Raspberry Pi (the switches opened on construction)."""

    simulated = False

    def __init__(self, config: Config) -> None:
        # The switches here; the HX711s in a child process (hardware.cell_process: the daemon's
        # threads cannot stretch their clock pulses there), merged into the same time order.
        self.io = open_live_switches(config)
        cells = {n: (c.dout, c.pd_sck, float(c.sample_hz)) for n, c in config.cells.items()}
        self.cells = (CellProcess(cells, on_record=self.io.put, backend=config.sections["hx711"]["backend"])
                      if cells else None)
        if self.cells is not None:
            self.io.collect = self.cells.pull  # samples wait in the pipe until the daemon drains
        #: a record is delivered at most this long after its time (merge hold + release period)
        self.latency_s = HOLD_S + LIVE_RELEASE_S

    def start(self, on_record: Callable[[RawRecord], None]) -> None:
        self.io.on_record = on_record
        if self.cells is not None:
            try:
                self.cells.start()  # returns once the child has the HX711s open
            except CellProcessError as e:
                self.io.close()
                raise HardwareError(str(e)) from None  # it names the library to install
        self.io.start()

    def complete_to(self) -> float:
        # delivers the samples held long enough: on the daemon's loop, as it drains
        return self.io.deliver_now()

    def sync(self) -> None:
        self.io.deliver_now()

    def stop(self) -> None:
        if self.cells is not None:
            self.cells.close()
        self.io.close()
