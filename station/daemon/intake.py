"""Raw records into the daemon: the inbox, the wake-ups, the settle timers and the drain.

Hardware threads (the record releaser, fed by the switch callbacks and the
load-cell process, or the simulator's thread) hand raw records to
``on_record`` (live, samples come on the loop itself: ``complete_to()``
fetches and delivers them as the drain begins), which puts them on the inbox (a ``collections.deque``:
``append`` is atomic under the GIL) and, for a pin edge, wakes the loop
(``call_soon_threadsafe``, at most one wake-up queued at a time). Load-cell
samples wake nobody: a count change takes 200 ms to confirm, so the daemon's
tick is soon enough for them, and 160 samples a second would otherwise mean
160 wake-ups.

``drain`` (on the loop) takes the inbox in time order into the running
trial, or between trials into the board's pipeline and pre-roll
(``station.daemon.between_trials``), after noting raw levels and cell readings for
the technician screen and for commands waiting on the sensors. A switch
change is confirmed once its level has held ``settle_ms`` and every earlier
record has arrived, so for each edge a timer (``loop.call_at``) is set for
that moment (edge + settle + the hardware's delivery latency) instead of
waiting for the next tick: a peg reaches the screens ~20 ms after its edge.
"""
from __future__ import annotations

import asyncio
import collections
import heapq
import math
from collections.abc import Callable

from hardware.base import Hardware
from station.daemon.between_trials import BetweenTrials
from station.daemon.cell_monitor import CellMonitor
from station.daemon.sensor_waiters import SensorWaiters
from station.events import CellFault, Edge, Event, Fault, RawRecord, Sample
from station.trial import Trial


class Intake:
    """The inbox between the hardware threads and the loop, and where its records go.

    ``tick()``: called on the loop when an edge arrives or a settle is due (the
    daemon's tick, which drains); ``current_trial()``: the running ``Trial`` or
    None; ``on_board_event``/``on_board_fault``: between trials, what the board's
    pipeline confirms; ``board``: the board between trials (pipeline, pre-roll,
    raw levels). ``hardware``: a ``hardware.base.Hardware``, whose
    ``complete_to()``, ``speed``, ``latency_s`` and ``sync()`` time the drain
    and the settle checks.
    """

    def __init__(self, *, hardware: Hardware, clock: Callable[[], float], board: BetweenTrials,
                 monitors: dict[str, CellMonitor], waiters: SensorWaiters,
                 current_trial: Callable[[], Trial | None], tick: Callable[[], None],
                 on_board_event: Callable[[Event], None], on_board_fault: Callable[[Fault], None]) -> None:
        self.hardware = hardware
        self.clock = clock
        self.state = board
        self.monitors = monitors
        self.waiters = waiters
        self._current_trial = current_trial
        self._tick = tick
        self._on_board_event = on_board_event
        self._on_board_fault = on_board_fault
        self._speed = hardware.speed
        self._latency_s = hardware.latency_s
        self._inbox: collections.deque[RawRecord] = collections.deque()
        self.loop: asyncio.AbstractEventLoop | None = None  # set by the daemon once it runs
        self._wake_pending = False
        self._settle_heap: list[float] = []
        self._settle_timer: asyncio.TimerHandle | None = None
        self._settle_due = math.inf

    # --- hardware threads ---------------------------------------------------

    def on_record(self, rec: RawRecord) -> None:
        """Called on a hardware thread: queue the record; an edge wakes the loop."""
        self._inbox.append(rec)
        if type(rec) is not Sample and not self._wake_pending and self.loop is not None:
            self._wake_pending = True
            try:
                self.loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop has closed (shutdown)
                pass

    def _wake(self) -> None:
        self._wake_pending = False  # before draining: a record queued after this wakes us again
        self._tick()

    # --- settle timers ------------------------------------------------------

    def _expect_settle(self, edge_t: float) -> None:
        """A switch edge at ``edge_t`` can be confirmed once its level held settle_ms and every
        record up to then has arrived: look again exactly then, not at the next tick."""
        due = edge_t + self.state.board.settle_ms / 1000.0 + self._latency_s
        heapq.heappush(self._settle_heap, due)
        if self._settle_timer is None or due < self._settle_due:
            self._arm_settle_timer()

    def _arm_settle_timer(self) -> None:
        if self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None
        if not self._settle_heap or self.loop is None:
            return
        due = self._settle_heap[0]
        self._settle_due = due
        delay = max(0.0, (due - self.clock()) / self._speed) + 0.0005
        self._settle_timer = self.loop.call_at(self.loop.time() + delay, self._settle_check)

    def _settle_check(self) -> None:
        self._settle_timer = None
        now = self.clock()
        while self._settle_heap and self._settle_heap[0] <= now:
            heapq.heappop(self._settle_heap)
        self.hardware.sync()  # the simulator delivers what is due now instead of at its next step
        self._tick()
        self._arm_settle_timer()

    def cancel_timers(self) -> None:
        """Shutdown: no more settle checks."""
        if self._settle_timer is not None:
            self._settle_timer.cancel()

    # --- the drain ------------------------------------------------------------

    def drain(self, now: float) -> None:
        """Take every queued record (in time order) where it belongs and advance time as far
        as the hardware promises no earlier record can still come."""
        # Read how far the hardware has delivered *before* draining: every record
        # stamped up to then is already in the inbox.
        complete_to = self.hardware.complete_to()
        inbox = self._inbox
        target = self._current_trial()
        state = self.state
        pipe = state.pipeline
        preroll = state.preroll
        levels = state.levels
        monitors = self.monitors
        waiters = self.waiters
        while inbox:
            rec = inbox.popleft()
            if type(rec) is Sample:
                m = monitors.get(rec.cell)
                if m is not None:
                    m.counts.append(rec.counts)
                    m.last_t = rec.t
                    m.samples += 1
                    m.fault = None
                    if waiters.samples:
                        waiters.feed_sample(rec)
            elif type(rec) is Edge:
                levels[rec.gpio] = rec.level
                self._expect_settle(rec.t)
            elif type(rec) is CellFault:
                m = monitors.get(rec.cell)
                if m is not None:
                    m.fault = rec.detail
            if target is not None:
                target.record(rec)
            else:
                preroll.add(rec)
                pipe.feed(rec)
        # Records reach us a little after they happened: advance only as far as
        # the hardware promises no earlier record can still come.
        if target is not None:
            target.advance(complete_to)
        else:
            pipe.advance(complete_to)
            for ev in pipe.drain():
                self._on_board_event(ev)
            for f in pipe.drain_faults():
                self._on_board_fault(f)
