"""The live sampling loop of one load cell: HX711 readings in, raw records out.

A ``CellReader`` reads its driver continuously in a dedicated daemon thread
and hands every result to ``on_record``: a ``Sample`` per good reading,
stamped with the driver's time for it, or a ``CellFault`` once when a fault
starts (not again on every poll while it lasts; the next good reading ends
it). A discarded reading (``hardware.hx711.Discarded``: a pulse that ran long
or a readout that ran into the next conversion, i.e. the thread was switched
out mid-readout) is retried silently a few times before it counts as a
fault: one lost reading the pipeline does not miss. ``readings`` and
``discarded`` (per reason) count them, for the self-test and the logs.

The thread does nothing but read and hand over, so it holds the interpreter
lock as little as possible and other threads are less likely to stretch its
clock pulses. ``on_record`` runs on that thread: make it cheap and
thread-safe (``queue.Queue.put``, ``loop.call_soon_threadsafe``).

``step()`` makes exactly one read attempt synchronously: the simulator drives
readers that way in virtual time, with no thread.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from hardware.hx711 import Discarded, SensorFault
from hardware.thread_name import name_os_thread
from station.events import CellFault, Sample


class CellDriver(Protocol):
    """What a reader needs of a driver (``hardware.hx711.HX711``)."""

    def read_sample(self) -> tuple[float, int]: ...


Record = Sample | CellFault


class CellReader:
    """Reads one load cell named ``name`` and reports to ``on_record``.

    ``clock`` stamps faults the driver raised without a time. ``stop_event``
    may be shared by several readers to stop them together.
    """

    def __init__(self, name: str, driver: CellDriver, on_record: Callable[[Record], None], *,
                 clock: Callable[[], float] = time.monotonic,
                 stop_event: threading.Event | None = None,
                 discard_retries: int = 3) -> None:
        self.name = name
        self.driver = driver
        self.on_record = on_record
        self.clock = clock
        self.stop_event = stop_event if stop_event is not None else threading.Event()
        self.discard_retries = discard_retries
        #: True from a reported fault until the next good reading
        self.faulted = False
        #: good readings delivered
        self.readings = 0
        #: readings discarded, by ``Discarded.reason``
        self.discarded: Counter[str] = Counter()
        #: an unexpected exception that ended the thread (a bug, not a sensor fault)
        self.error: BaseException | None = None
        self._discards = 0  # Discarded in a row
        self._thread: threading.Thread | None = None

    def step(self) -> Record | None:
        """One read attempt; returns the record it reported, or None (a silent retry or an ongoing fault)."""
        try:
            t, counts = self.driver.read_sample()
        except Discarded as e:
            self.discarded[e.reason] += 1
            self._discards += 1
            if self._discards <= self.discard_retries:
                return None
            return self._fault(e, f"{e.detail} ({self._discards} readings in a row)")
        except SensorFault as e:
            self._discards = 0
            return self._fault(e, e.detail)
        self._discards = 0
        self.readings += 1
        self.faulted = False
        rec = Sample(t, self.name, counts)
        self.on_record(rec)
        return rec

    def _fault(self, e: SensorFault, detail: str) -> CellFault | None:
        if self.faulted:
            return None
        self.faulted = True
        rec = CellFault(e.t if e.t is not None else self.clock(), self.name, detail)
        self.on_record(rec)
        return rec

    # --- the thread ------------------------------------------------------

    def run(self) -> None:
        """Read until ``stop_event`` is set (the thread's body).

        A sensor fault never ends it. Anything else is a bug: it is reported
        as a CellFault, kept in ``error``, and ends the loop.
        """
        name_os_thread()  # "cell-dish" in top -H
        stop = self.stop_event
        step = self.step
        try:
            while not stop.is_set():
                step()
        except Exception as e:  # noqa: BLE001 - reported, kept and the loop ends: never a silent death
            self.error = e
            self.on_record(CellFault(self.clock(), self.name, f"reader stopped: {e!r}"))

    def start(self) -> threading.Thread:
        """Start reading in a daemon thread named after the cell."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError(f"cell reader {self.name!r} is already running")
        self._thread = threading.Thread(target=self.run, name=f"cell-{self.name}", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 1.0) -> bool:
        """Ask the thread to stop and wait for it; True when it has ended.

        A read in progress finishes first: at most two sample periods, plus
        the settling time after a wake-up.
        """
        self.stop_event.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
