"""The sensor pipeline: raw records in, accepted events and faults out, in time order.

One ``Pipeline`` per trial, fed the same way live (by the daemon, from the
hardware layer) and in replay (from a trace). It debounces every switch
(``Debouncer``), counts items on every load cell (``LoadCellCounter``), and
releases events in time order: a change is timed at its onset but confirmed
later (a switch after it settles, a cell after it holds), so an event is held
until no detector can still report an earlier one.

Records must arrive in time order; one older than the last is a ``record``
fault and is skipped, as is one naming a pin or cell the board does not have.
Pure logic: time comes with the records and with ``advance``.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from itertools import count

from station.board_spec import BoardSpec
from station.debounce import Debouncer
from station.events import ButtonPress, CellCount, CellFault, Edge, Event, Fault, PegIn, PegOut, RawRecord, Sample
from station.loadcell import LoadCellCounter


class Pipeline:
    """Debounce, count and order one station's raw records."""

    def __init__(self, board: BoardSpec, chatter_s: float = 1.0, *, levels: Mapping[int, int] | None = None) -> None:
        """``levels``: the level each switch (by gpio) starts at, open by default; a pipeline
        taking over from another (the board's, after a trial) starts from the pins as they are."""
        self.board = board
        self.now = -math.inf
        settle = board.settle_ms / 1000.0
        open_level = board.open_level
        self._closed = board.closed_level
        # gpio -> (debouncer, name, is_button, hole number or button name)
        self._switches: dict[int, tuple[Debouncer, str, bool, object]] = {}
        start = levels or {}
        for i, gpio in enumerate(board.holes, 1):
            self._switches[gpio] = (Debouncer(settle, start.get(gpio, open_level), chatter_s), f"hole {i}", False, i)
        for name, gpio in board.buttons.items():
            self._switches[gpio] = (Debouncer(settle, start.get(gpio, open_level), chatter_s),
                                    f"button {name}", True, name)
        self.cells: dict[str, LoadCellCounter] = {
            name: LoadCellCounter(c.calibration, c.units_at_start) for name, c in board.cells.items()
        }
        self._pending: dict[int, Debouncer] = {}  # switches inside a bounce burst
        self._next_deadline = math.inf
        self._heap: list[tuple[float, int, Event]] = []
        self._seq = count()
        #: events released in time order, not yet drained
        self.ready: list[Event] = []
        self._faults: list[Fault] = []

    # --- input -----------------------------------------------------------

    def edge(self, t: float, gpio: int, level: int) -> None:
        """A raw pin edge at ``t`` (the pin factory's tick)."""
        if not self._move_to(t, "edge", f"gpio {gpio}"):
            return
        sw = self._switches.get(gpio)
        if sw is None:
            self.record_fault(t, f"gpio {gpio}", f"gpio {gpio} is not a switch of this station")
            return
        deb = sw[0]
        change, chatter = deb.edge(t, level)
        if change is not None:
            self._accept(sw, change)
        if chatter is not None:
            self._faults.append(Fault(chatter, "chatter", sw[1],
                                      f"edges closer than {self.board.settle_ms:g} ms for over 1 s"))
        if deb.burst_start is not None:
            self._pending[gpio] = deb
        else:
            self._pending.pop(gpio, None)
        self._update_deadline()
        if self._heap:
            self._release()

    def sample(self, t: float, cell: str, counts: int) -> None:
        """One load-cell reading at ``t``."""
        if not self._move_to(t, "sample", cell):
            return
        counter = self.cells.get(cell)
        if counter is None:
            self.record_fault(t, f"cell {cell}", f"cell {cell!r} is not on this station")
            return
        change = counter.sample(t, counts)
        if counter.pending_fault is not None:
            self._cell_fault(t, cell, counter, counter.pending_fault)
        if change is not None:
            heapq.heappush(self._heap, (change[0], next(self._seq), CellCount(change[0], cell, change[1])))
        if self._heap:
            self._release()

    def cell_fault(self, t: float, cell: str, detail: str) -> None:
        """The driver could not read ``cell`` at ``t`` (no data-ready, long pulses...)."""
        counter = self.cells.get(cell)
        if counter is None:
            self.record_fault(t, f"cell {cell}", f"cell {cell!r} is not on this station")
            return
        self.now = max(self.now, t)
        counter.fault(t, detail)
        if counter.pending_fault is not None:
            self._cell_fault(t, cell, counter, counter.pending_fault)
        if self._heap:
            self._release()

    def feed(self, rec: RawRecord) -> None:
        """Take one raw record object (``edge``, ``sample`` and ``cell_fault`` take its fields)."""
        if type(rec) is Sample:
            self.sample(rec.t, rec.cell, rec.counts)
        elif type(rec) is Edge:
            self.edge(rec.t, rec.gpio, rec.level)
        elif type(rec) is CellFault:
            self.cell_fault(rec.t, rec.cell, rec.detail)
        else:
            raise TypeError(f"not a raw record: {rec!r}")

    def record_fault(self, t: float | None, source: str, detail: str) -> None:
        """A record that could not be used (malformed, out of order, unknown source)."""
        self._faults.append(Fault(t, "record", source, detail))

    def advance(self, now: float) -> None:
        """Time has passed with no record (live): settle switches, release events."""
        if now < self.now:
            return
        if now >= self._next_deadline:
            self._settle_due(now)
        self.now = now
        if self._heap:
            self._release()

    def finish(self) -> None:
        """The input ended: take pending switch levels as settled, release everything."""
        for gpio, deb in list(self._pending.items()):
            change = deb.finish()
            if change is not None:
                self._accept(self._switches[gpio], change)
        self._pending.clear()
        self._next_deadline = math.inf
        while self._heap:
            self.ready.append(heapq.heappop(self._heap)[2])

    # --- output ----------------------------------------------------------

    def drain(self) -> list[Event]:
        """Events released since the last call, in time order."""
        out = self.ready[:]
        self.ready.clear()  # in place: callers may hold a reference to the list
        return out

    def drain_faults(self) -> list[Fault]:
        """Faults found since the last call."""
        out, self._faults = self._faults, []
        return out

    def switch_closed(self, hole_or_button: int | str) -> bool:
        """Debounced state of a hole (1-based number) or a button (name)."""
        for deb, _, _is_button, key in self._switches.values():
            if key == hole_or_button:
                return deb.stable == self._closed
        raise KeyError(hole_or_button)

    # --- internals -------------------------------------------------------

    def _move_to(self, t: float, what: str, source: str) -> bool:
        """Bring the clock to a record's ``t``, settling switches due by then; False (a fault) if it is older."""
        if t < self.now:
            self.record_fault(t, source, f"{what} at {t:.6f} is older than the last record at {self.now:.6f}")
            return False
        if t >= self._next_deadline:
            self._settle_due(t)
        self.now = t
        return True

    def _accept(self, sw: tuple, change: tuple[float, int]) -> None:
        _, _, is_button, key = sw
        t, level = change
        closed = level == self._closed
        if is_button:
            if not closed:
                return  # buttons report presses only
            ev: Event = ButtonPress(t, key)
        else:
            ev = PegIn(t, key) if closed else PegOut(t, key)
        heapq.heappush(self._heap, (t, next(self._seq), ev))

    def _cell_fault(self, t: float, cell: str, counter: LoadCellCounter, detail: str) -> None:
        self._faults.append(Fault(t, "sensor", cell, detail))
        counter.pending_fault = None

    def _settle_due(self, now: float) -> None:
        for gpio, deb in list(self._pending.items()):
            if now - deb.last_edge >= deb.settle_s:
                change = deb.advance(now)
                del self._pending[gpio]
                if change is not None:
                    self._accept(self._switches[gpio], change)
        self._update_deadline()

    def _update_deadline(self) -> None:
        # a pending switch is in a burst: it has a deadline
        self._next_deadline = min((dl for d in self._pending.values() if (dl := d.deadline) is not None),
                                  default=math.inf)

    def _release(self) -> None:
        # nothing earlier than every detector's horizon can still be reported
        h = self.now
        for deb in self._pending.values():
            h = min(h, deb.horizon(h))
        for c in self.cells.values():
            h = min(h, c.horizon(h))
        heap = self._heap
        while heap and heap[0][0] <= h:
            self.ready.append(heapq.heappop(heap)[2])
