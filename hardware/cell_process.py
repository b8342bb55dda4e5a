"""The HX711 readers in a process of their own, so the daemon cannot stretch their pulses.

PD_SCK high for more than 60 us powers an HX711 down. A ``CellReader`` thread
in the daemon shares one interpreter lock with the event loop, the socket
clients and the records thread: any of them can hold the lock while a pulse
is high (Python switches threads every 5 ms), so a reading is lost and, under
load, many are. In a child process the readers have an interpreter to
themselves: nothing the daemon does (sockets, JSON, scoring, fsyncs) can
stretch a pulse. The child only reads and sends records down two pipes:
``Sample``s down the data pipe, where they wait until the daemon ``pull``s
them as it drains (160 a second would otherwise wake a thread 160 times a
second); ``CellFault``s and the child's own messages down the control pipe,
whose receiver thread hands them on at once and notices the child dying.
Either way they go to ``on_record`` (the daemon puts them into
``StationIO``'s merger with the switch edges). Timestamps are
``time.monotonic``, one clock for both processes. The data pipe is grown
to ``DATA_PIPE_BYTES`` (about a minute and a half of two cells' samples,
~70 bytes each); a daemon that stops pulling for longer only makes the
child's readers wait (readings lost, never pulses stretched).

``CellProcess(cells, on_record).start()`` returns once every cell's driver is
open in the child (so the daemon says READY only with the hardware open) or
raises ``CellProcessError`` with the child's reason. If the child dies, each
cell gets a ``CellFault`` and the log says so. ``close()`` stops it; the
child then reports each cell's good and discarded readings (``stats``, and
one log line per cell), so a day's losses on a Pi show in the journal.

``opener`` ("module:function", called in the child with the cells and the
``[hx711] backend`` setting) returns the backend's name and, per cell, the
GPIO, clock and sleep to read it with. The default, ``open_pins``, picks the
backend by Pi model (``hardware.hx711_pins``: lgpio on claimed lines on a
Pi 5, RPi.GPIO on a Pi 3/4/Zero 2 W); ``backend`` says which one the child
opened. Tests pass fake chips, each with its own virtual clock: two reader
threads sleeping on one virtual clock would move each other's time.
"""
from __future__ import annotations

import fcntl
import importlib
import logging
import math
import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

from hardware.cell_reader import CellReader
from hardware.hx711 import HX711
from hardware.hx711_pins import choose_backend, close_backend, open_backend, pi_model
from hardware.thread_name import name_os_thread
from station.events import CellFault, RawRecord, Sample

log = logging.getLogger("station.hardware")

#: name -> (dout, pd_sck, sample_hz)
Cells = dict[str, tuple[int, int, float]]
#: what a cell is read with: (GPIO module or object, clock, sleep)
Port = tuple[Any, Callable[[], float], Callable[[float], None]]
#: an opener's answer: (backend name, a Port per cell)
Opened = tuple[str, dict[str, Port]]
DEFAULT_OPENER = "hardware.cell_process:open_pins"
STOPPED = "the load-cell reader process stopped"
#: the samples' pipe size asked for (Linux's limit for an unprivileged process; 64 KiB otherwise)
DATA_PIPE_BYTES = 1 << 20


class CellProcessError(RuntimeError):
    """The child could not open the load cells (its reason is the message)."""


def open_pins(cells: Cells, backend: str = "auto") -> Opened:
    """The Pi's pins on the backend for this board (``hardware.hx711_pins``), on the monotonic clock."""
    name = choose_backend(backend, pi_model())
    gpio = open_backend(name)
    return name, {cell: (gpio, time.monotonic, time.sleep) for cell in cells}


def _resolve(opener: str) -> Callable[[Cells, str], Opened]:
    module, _, name = opener.partition(":")
    return getattr(importlib.import_module(module), name)


def _child(conn: Any, data: Any, cells: Cells, opener: str, backend: str) -> None:
    """The child's whole life: open the cells, read them until the parent says stop or goes.

    ``conn`` is the control pipe (faults, ready/error, stats; the parent's "stop"),
    ``data`` the samples' pipe."""
    name_os_thread("station-cells")  # the process's name in ps and top
    send_lock, data_lock = threading.Lock(), threading.Lock()
    stop = threading.Event()

    def send(rec: RawRecord) -> None:
        pipe, lock = (data, data_lock) if type(rec) is Sample else (conn, send_lock)
        with lock:
            try:
                pipe.send(rec)
            except OSError:  # the parent is gone
                stop.set()

    drivers, readers = [], []
    ports: dict[str, Port] = {}
    try:
        used, ports = _resolve(opener)(cells, backend)
        for name, (dout, pd_sck, hz) in cells.items():
            gpio, clock, sleep = ports[name]
            drv = HX711(gpio, dout, pd_sck, sample_hz=hz, clock=clock, sleep=sleep)
            drivers.append(drv)
            readers.append(CellReader(name, drv, send, clock=clock, stop_event=stop))
    except Exception as e:  # noqa: BLE001 - whatever it is, the parent reports it
        conn.send(("error", f"{e.__class__.__name__}: {e}"))
        return
    conn.send(("ready", used))
    for r in readers:
        r.start()
    try:
        conn.recv()  # "stop"
    except (EOFError, OSError):
        pass  # the parent died: stop too
    stop.set()
    for r in readers:
        r.stop()
    try:
        conn.send(("stats", {r.name: {"readings": r.readings, "discarded": dict(r.discarded)} for r in readers}))
    except OSError:
        pass  # the parent is gone
    for d in drivers:
        d.close()
    for gpio in {id(p[0]): p[0] for p in ports.values()}.values():
        close_backend(gpio)


class CellProcess:
    """The load cells read in a child process.

    Faults arrive on ``on_record`` from a receiver thread, samples from whichever
    thread calls ``pull``."""

    def __init__(self, cells: Cells, on_record: Callable[[RawRecord], None], *,
                 opener: str = DEFAULT_OPENER, backend: str = "auto",
                 clock: Callable[[], float] = time.monotonic,
                 start_timeout_s: float = 15.0) -> None:
        self.cells = dict(cells)
        self.on_record = on_record
        self.opener = opener
        #: the ``[hx711] backend`` setting; after ``start``, ``backend_used`` is what the child opened
        self.backend = backend
        self.backend_used: str | None = None
        #: after ``close``: per cell, {"readings": good readings, "discarded": {reason: count}}
        self.stats: dict[str, dict] = {}
        self.clock = clock
        self.start_timeout_s = start_timeout_s
        self._proc: Any = None
        self._conn: Any = None
        self._data: Any = None
        self._pull_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = False

    def start(self) -> None:
        """Start the child; return once its cells are open. Raises CellProcessError."""
        # spawn: a fresh interpreter, not a fork of the daemon's threads, sockets and locks
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._data, child_data = ctx.Pipe(duplex=False)
        try:
            fcntl.fcntl(self._data.fileno(), fcntl.F_SETPIPE_SZ, DATA_PIPE_BYTES)
        except (AttributeError, OSError):  # not Linux, or over /proc/sys/fs/pipe-max-size
            pass
        self._proc = ctx.Process(target=_child, args=(child_conn, child_data, self.cells, self.opener,
                                                      self.backend),
                                 name="station-cells", daemon=True)
        self._proc.start()
        child_conn.close()
        child_data.close()
        try:
            if not self._conn.poll(self.start_timeout_s):
                raise CellProcessError(f"the load-cell process did not start within {self.start_timeout_s:.0f} s")
            first = self._conn.recv()
        except (EOFError, OSError):
            first = ("error", f"it exited with status {self._proc.exitcode}")
        except CellProcessError:
            self.close()
            raise
        if first[0] != "ready":
            self.close()
            raise CellProcessError(f"cannot open the load cells: {first[1]}")
        self.backend_used = first[1]
        log.info("load cells %s read with %s in process %s", ", ".join(self.cells), self.backend_used, self.pid)
        self._thread = threading.Thread(target=self._receive, name="station-cells-rx", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def pull(self, until_t: float = math.inf) -> int:
        """Hand the samples the child has sent to ``on_record``, up to and including the first one
        stamped after ``until_t`` (the caller's now: later ones are not needed for its release,
        and a child sending faster than this takes them cannot keep it here); returns how many.

        Any thread may call it (the daemon's drain, the merger's releaser); one at a time."""
        n = 0
        with self._pull_lock:
            data = self._data
            if data is None:
                return 0
            on_record = self.on_record
            try:
                while data.poll():
                    rec = data.recv()
                    on_record(rec)
                    n += 1
                    if rec.t > until_t:
                        break
            except (EOFError, OSError):
                pass  # the child is gone: the receiver thread reports it
        return n

    def _receive(self) -> None:
        name_os_thread()
        conn = self._conn
        while True:
            try:
                rec = conn.recv()
            except (EOFError, OSError):
                break
            if type(rec) is tuple:  # the child's ("stats", ...) as it stops
                self._log_stats(rec[1])
                continue
            self.on_record(rec)
        if not self._closing:
            self._proc.join(1.0)
            log.error("%s (exit status %s): the load cells read nothing until the daemon restarts",
                      STOPPED, self._proc.exitcode)
            t = self.clock()
            for name in self.cells:
                self.on_record(CellFault(t, name, STOPPED))

    def _log_stats(self, stats: dict[str, dict]) -> None:
        self.stats = stats
        for name, s in stats.items():
            why = ", ".join(f"{n} {reason}" for reason, n in sorted(s["discarded"].items())) or "none"
            log.info("load cell %s (%s): %d readings, %d discarded (%s)", name, self.backend_used,
                     s["readings"], sum(s["discarded"].values()), why)

    def close(self) -> None:
        """Stop the child and the receiver. Safe to call twice."""
        self._closing = True
        if self._conn is not None:
            try:
                self._conn.send("stop")
            except OSError:
                pass
        if self._proc is not None:
            # keep pulling: a reader blocked on a full data pipe must finish its send to stop
            deadline = time.monotonic() + 3.0
            while self._proc.is_alive() and time.monotonic() < deadline:
                self.pull()
                self._proc.join(0.05)
            self.pull()  # the last samples it sent
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(2.0)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with self._pull_lock:
            if self._data is not None:
                self._data.close()
                self._data = None
