"""All of a station's inputs, from one config, as one time-ordered stream of raw records.

``StationIO`` opens the switches (``SwitchBank`` on a gpiozero pin factory)
and one HX711 driver + ``CellReader`` per load cell (on an RPi.GPIO-like
module), and hands every raw record (``Edge``, ``Sample``, ``CellFault``) to
``on_record`` in time order.

Why records are held back: edges arrive on the pin factory's callback thread
stamped with the kernel's time of the edge, samples on each cell's reader
thread stamped when the conversion was seen ready and delivered ~0.1-1 ms
later, after its 25 clock pulses. Each source is in order on its own, but
interleaved they can be slightly out of order, and the pipeline (and a trace)
need one time order. So ``RecordMerger`` holds each record ``hold_s``
(20 ms: many times the worst delivery lag, short next to the 200 ms a
load-cell change takes to confirm) and releases everything older than that,
sorted by time.

Live (``start``): the readers run in threads (or a child process, whose
receiver thread calls ``put``). Nothing polls: load-cell samples are
delivered when the owner asks how far the records are complete
(``deliver_now``, the daemon's drain on its tick; ``collect`` first fetches
what waits in the cell process's pipe), and a releaser thread
sleeps until the earliest held switch edge or cell fault is ``hold_s`` old
and delivers then, so those still reach the owner promptly. An idle station
costs no wake-ups here (the releaser used to poll every 5 ms: 200 a second).
``on_record`` may be called on the releaser thread or the thread calling
``deliver_now``, never on two at once.
Simulated (``hardware.sim.simulator``): no threads; the simulator steps the
readers in virtual time and calls ``release``.
"""
from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable
from itertools import count
from typing import Any

from hardware.cell_reader import CellReader
from hardware.hx711 import HX711
from hardware.switches import SwitchBank
from hardware.thread_name import name_os_thread
from station.config import Config
from station.events import RawRecord, Sample

HOLD_S = 0.02


class RecordMerger:
    """Puts records from several sources into time order by holding each ``hold_s``.

    ``put`` may be called from any thread. ``release(now)`` delivers, in time
    order, every record stamped at or before ``now - hold_s``. A record that
    arrives later than that (older than one already delivered) is still
    delivered, never dropped: the pipeline reports it as an out-of-order
    ``record`` fault. ``late`` counts them.
    """

    def __init__(self, *, on_record: Callable[[RawRecord], None], hold_s: float = HOLD_S) -> None:
        self.on_record = on_record
        self.hold_s = hold_s
        self.late = 0
        self.released_t = -math.inf
        #: every record stamped at or before this has been delivered
        self.complete_to = -math.inf
        self._heap: list[tuple[float, int, RawRecord]] = []
        self._seq = count()
        self._lock = threading.Lock()  # guards the heap (put from many threads)
        self._deliver = threading.Lock()  # keeps deliveries from overlapping

    def put(self, rec: RawRecord) -> None:
        with self._lock:
            heapq.heappush(self._heap, (rec.t, next(self._seq), rec))

    def release(self, now: float) -> int:
        """Deliver records stamped up to ``now - hold_s``; returns how many."""
        return self._release(now - self.hold_s)

    def flush(self) -> int:
        """Deliver everything held (at shutdown or the end of a simulated run)."""
        return self._release(math.inf)

    def __len__(self) -> int:
        return len(self._heap)

    def _release(self, upto: float) -> int:
        with self._deliver:
            out = []
            with self._lock:
                heap = self._heap
                while heap and heap[0][0] <= upto:
                    out.append(heapq.heappop(heap)[2])
            for rec in out:
                if rec.t < self.released_t:
                    self.late += 1
                else:
                    self.released_t = rec.t
                self.on_record(rec)
            if upto > self.complete_to:
                self.complete_to = upto
            return len(out)


class StationIO:
    """The station's switches and load cells, configured from ``config``.

    ``pin_factory`` is a gpiozero pin factory (lgpio on the Pi, a mock one in
    tests and the simulator); ``gpio_module`` an RPi.GPIO-compatible module
    for the HX711s (RPi.GPIO, rpi-lgpio, ``FakeGPIO``); ``clock``/``sleep``
    the monotonic clock every timestamp is on and its sleep. ``on_record``
    (settable later) receives the merged raw records.
    """

    def __init__(self, config: Config, pin_factory: Any, gpio_module: Any, *,
                 on_record: Callable[[RawRecord], None],
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 hold_s: float = HOLD_S) -> None:
        self.config = config
        self.clock = clock
        self.on_record = on_record
        self.merger = RecordMerger(on_record=self._deliver, hold_s=hold_s)
        self._stop = threading.Event()
        self._releaser: threading.Thread | None = None
        # Live: when each held edge or fault is due (its time + hold), guarded by _wake
        self._urgent: list[float] = []
        self._wake = threading.Condition()
        #: live: called before every release to fetch records that wait to be fetched
        #: (``CellProcess.pull``: the cell process's samples wait in their pipe)
        self.collect: Callable[[float], object] | None = None
        self.drivers: dict[str, HX711] = {}
        self.readers: dict[str, CellReader] = {}
        self.switches = SwitchBank(pin_factory, [*config.holes, *config.buttons.values()],
                                   active_low=config.active_low, on_edge=self.put)
        try:
            if config.cells and gpio_module is None:
                raise ValueError("the config has load cells but no GPIO module was given for the HX711s")
            for name, cell in config.cells.items():
                drv = HX711(gpio_module, cell.dout, cell.pd_sck, sample_hz=cell.sample_hz,
                            clock=clock, sleep=sleep)
                self.drivers[name] = drv
                self.readers[name] = CellReader(name, drv, on_record=self.put, clock=clock,
                                                stop_event=self._stop)
        except BaseException:
            self.close()
            raise

    def _deliver(self, rec: RawRecord) -> None:
        self.on_record(rec)

    def put(self, rec: RawRecord) -> None:
        """Hold a record from any thread (switch callbacks, cell readers, the cell process's receiver).

        Live, an edge or a fault also tells the releaser when it is due; a sample waits
        for ``deliver_now``: nothing needs it before the owner's next drain."""
        self.merger.put(rec)
        if type(rec) is not Sample and self._releaser is not None:
            due = rec.t + self.merger.hold_s
            with self._wake:
                heapq.heappush(self._urgent, due)
                if self._urgent[0] == due:  # sooner than the releaser sleeps for
                    self._wake.notify()

    # --- live ------------------------------------------------------------

    def start(self) -> None:
        """Live: start a reader thread per cell and the thread that releases edges and faults."""
        if self._releaser is not None:
            raise RuntimeError("StationIO is already started")
        self._releaser = threading.Thread(target=self._release_loop, name="station-io-release", daemon=True)
        self._releaser.start()
        for reader in self.readers.values():
            reader.start()

    def next_due(self) -> float:
        """Live: when the releaser next delivers (the earliest held edge or fault + hold), inf if none."""
        with self._wake:
            return self._urgent[0] if self._urgent else math.inf

    def _release_loop(self) -> None:
        name_os_thread()
        stop, wake, urgent, clock = self._stop, self._wake, self._urgent, self.clock
        while not stop.is_set():
            with wake:
                if not urgent:
                    wake.wait()  # put or close notifies
                    continue
                now = clock()
                if urgent[0] > now:
                    wake.wait(urgent[0] - now)
                    continue
                while urgent and urgent[0] <= now:
                    heapq.heappop(urgent)
            if not stop.is_set():
                self._collect_and_release(now)

    def deliver_now(self) -> float:
        """Live: deliver every record old enough to be in order, then return ``complete_to``.

        The owner calls this when it drains (on its own thread): samples are delivered
        here, not by a thread polling for them."""
        self._collect_and_release(self.clock())
        return self.merger.complete_to

    def _collect_and_release(self, now: float) -> None:
        # ``now`` read first: a record collected after it is stamped before it, so it is in time
        if self.collect is not None:
            self.collect(now)
        self.merger.release(now)

    # --- both ------------------------------------------------------------

    def release(self, now: float) -> int:
        """Deliver the records old enough to be in order (the simulator calls this)."""
        return self.merger.release(now)

    def flush(self) -> int:
        """Deliver every record held."""
        return self.merger.flush()

    @property
    def complete_to(self) -> float:
        """Every record stamped at or before this time has been delivered.

        Advance a trial (``Trial.advance``) to this time, not to the clock:
        records up to ``hold_s`` older than the clock may still be on their way.
        Live, read it through ``deliver_now``, which first delivers what is due.
        """
        return self.merger.complete_to

    def levels(self) -> dict[int, int]:
        """Raw levels of every switch pin now (the self-test looks for a stuck switch)."""
        return self.switches.levels()

    def close(self) -> None:
        """Stop the threads, deliver what is held, release pins and drivers. Safe to call twice."""
        self._stop.set()
        with self._wake:
            self._wake.notify()
        for reader in self.readers.values():
            reader.stop()
        if self._releaser is not None:
            self._releaser.join(1.0)
            self._releaser = None
        self.merger.flush()
        for drv in self.drivers.values():
            drv.close()
        self.switches.close()

    def __enter__(self) -> StationIO:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
