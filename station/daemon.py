"""``station daemon``: owns the hardware and the records, serves the socket API.

One asyncio event loop does everything except reading the hardware and
writing finished records:

* hardware threads (the record releaser, fed by the switch callbacks and
  the load-cell process, or the simulator's thread) hand raw records to ``_on_record``, which puts
  them on ``_inbox`` (a ``collections.deque``: ``append`` is atomic under the
  GIL) and, for a pin edge, wakes the loop (``call_soon_threadsafe``, at most
  one wake-up queued at a time). Load-cell samples wake nobody: a count
  change takes 200 ms to confirm, so the ``TICK_S`` cadence is soon enough
  for them, and 160 samples a second would otherwise mean 160 wake-ups;
* the loop drains the inbox in time order into the board pipeline (between
  trials) or the running ``Trial`` (pipeline + protocol + trace), journals
  accepted events (``TrialJournal``, fsync within 100 ms) and pushes events to
  clients. A switch change is confirmed once its level has held ``settle_ms``
  and every earlier record has arrived, so for each edge the loop sets a
  timer (``loop.call_at``) for that moment (edge + settle + the hardware's
  delivery latency) instead of waiting for the next tick: a peg reaches the
  screens ~20 ms after its edge, not up to two ticks later;
* ``TICK_S`` still drives samples, journal fsyncs, the state count-down and
  the technician screen's snapshots; the live trial's fsyncs (journal and
  raw trace) run on a ``station.syncer.Syncer`` thread: on an SD card one can
  take hundreds of ms, and the loop must not wait for the disk
  (tests/benchmarks/loop_lag.py);
* finished trials are written by one records thread (``_records``: a
  single-worker executor, so writes stay serialised: the store has a single
  writer) while the loop keeps reading the hardware; every use of the store
  holds ``_store_lock``, so the loop never reads the store's index while that
  thread changes it;
* the socket server (``station.server``) queues messages per client without
  ever waiting for one.

The HX711s (live): a clock pulse must stay under 60 us, and Python threads
share one interpreter lock, so the loop, the socket clients or the records
thread could stretch a pulse held by a reader thread. So on the Pi the
readers run in a child process (``hardware.cell_process``, started by
``LiveHardware``) with an interpreter of their own; their records come back
down a pipe into the same time-ordered merge as the switch edges. (The
driver still times every pulse and drops a reading whose pulse ran long: the
child's own threads can still be preempted by the kernel.) Simulated, the
virtual chips run in virtual time, where nothing can stretch a pulse.

Tests (``station.administration``): a test is a ``TestSession``; it says
which trial is next (practice first, dominant hand first, trials per hand),
takes each finished result (an incomplete or aborted trial is marked invalid
and repeated), the therapist's invalid marks, and gives the summary. The
test is stored as a ``station.test/1`` record (``station.results``) with its
summary scored against the norms (``[scoring] norms``) and the patient's
earlier tests; trials as ``station.trial/1`` records plus the API's fields.

The start button: with a patient selected and a test whose next trial is
waiting, a press arms that trial. The press belongs to the trial (coin drop
and timed pegs start their clock at it): the loop keeps the last second of
raw records between trials (``station.preroll``) and feeds them into the new
trial and its trace from a moment when every switch was open (trace-v1: the
trace starts with every switch open), so the trace begins before the press.

Durability: a trial's accepted events go to its journal as they happen
(``RecordStore.begin_trial``); ``RecordStore.finish_trial`` returns only once
the record is on disk, and only then are clients told ``saved: true``. On
start the store recovers journals left by a crash as ``interrupted`` trials
and moves a corrupt database aside, logging one line for each; then the test
that was being given resumes (``_resume_test``: its patient selected, the
interrupted trial invalid and run again), so a power cut mid-test loses
nothing and the therapist carries on.

systemd: READY=1 once the hardware and the records are open and the socket
listens; WATCHDOG=1 from the event loop (a stuck loop stops the pings);
STOPPING=1 on SIGTERM/SIGINT, then a clean shutdown (the running trial is
finished as ``aborted`` and saved).
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import heapq
import logging
import math
import os
import signal
import statistics
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Callable, Protocol as TypingProtocol

from . import api, snapshots
from .administration import AdministrationError, TestPlan, TestSession, TrialSlot
from .api import ApiError, Request
from .cell_monitor import CellMonitor
from .clinical_note import clinical_note
from .config import CellConfig, Config
from .config_write import ConfigWriteError, update_config
from .events import ButtonPress, CellCount, CellFault, Edge, Event, Fault, RawRecord, Sample
from .norms import NormSet, load_norms
from .pipeline import Pipeline
from .preroll import Preroll
from .protocols import PROTOCOLS, ProtocolError, make_protocol
from .records import RecordError, RecordStore
from .results import TEST_SCHEMA, test_record, trial_record
from .sdnotify import Notifier
from .server import Connection, Server
from .snapshots import patient_out
from .syncer import Syncer
from .trace import TraceHeader, TraceWriter
from .trial import Trial

log = logging.getLogger("station.daemon")

TICK_S = 0.02  # samples, journal fsyncs, count-down; switch edges wake the loop themselves
STATE_PUSH_S = 0.5  # state messages while a trial is armed (elapsed, count-down)
SENSORS_PUSH_S = 0.2  # the technician screen's 5 Hz snapshot, when someone subscribes
START_BUTTON = "start"


class Hardware(TypingProtocol):
    """What the daemon needs of the station's hardware (live or simulated).

    Optional: ``complete_to()`` (every record stamped up to then has been
    delivered), ``latency_s`` (how long after its time a record is delivered
    at most), ``speed`` (clock seconds per real second), ``sync()`` (deliver
    what is due now), ``waiting_for_start(protocol, options, side)`` (a test's
    next trial waits for the start button; ``protocol`` None: no longer).
    """

    simulated: bool

    def start(self, on_record: Callable[[RawRecord], None]) -> None:
        """Start reading; call ``on_record`` (from any thread) with raw records in time order."""

    def stop(self) -> None:
        """Stop reading and release the pins."""

    def trial_started(self, protocol: str, options: dict, side: str) -> None:
        """A trial was armed (the simulated patient starts performing it)."""

    def trial_ended(self) -> None:
        """The trial ended (the simulated patient stops)."""


# --- small state holders -----------------------------------------------------

@dataclass
class LiveTrial:
    """The armed trial: its pipeline and protocol, journal and trace, and its place in a test."""

    trial: Trial
    journal: Any  # station.journal.TrialJournal
    meta: dict
    armed_t: float
    slot: TrialSlot | None = None
    running: bool = False


# --- the service ---------------------------------------------------------------

class Daemon:
    """The station service. ``await Daemon(...).run()`` until ``stop()``.

    ``config_path``: the station.toml the daemon was started with; the
    calibration wizard saves there (None: the shipped default, which is not
    the station's to change, so calibration cannot be saved).
    """

    def __init__(self, config: Config, data_dir: str | os.PathLike, socket_path: str | os.PathLike,
                 hardware: Hardware, *, notifier: Notifier | None = None,
                 clock: Callable[[], float] | None = None, config_path: str | os.PathLike | None = None,
                 norms: NormSet | None = None) -> None:
        self.config = config
        self.config_path = Path(config_path) if config_path is not None else None
        self.data_dir = Path(data_dir)
        self.socket_path = Path(socket_path)
        self.hardware = hardware
        self.notifier = notifier if notifier is not None else Notifier()
        self.clock = clock if clock is not None else getattr(hardware, "clock", time.monotonic)
        self._complete_to = getattr(hardware, "complete_to", None)
        self._speed = float(getattr(hardware, "speed", 1.0))
        self._latency_s = float(getattr(hardware, "latency_s", TICK_S))
        norms_path = config.section("scoring").get("norms") or None
        self.norms = norms if norms is not None else load_norms(norms_path)  # NormsError: a UserError
        self.store: RecordStore | None = None
        self.server = Server(self._handle, self._hello)
        self._inbox: collections.deque[RawRecord] = collections.deque()
        self._stop = asyncio.Event()
        self.patient: dict | None = None
        self.test: TestSession | None = None
        self._test_summary: dict | None = None  # the running test's station.summary/1
        self._history: list[dict] = []  # the patient's earlier tests (for the running test's progress)
        self.live: LiveTrial | None = None
        self._cells_cfg = dict(config.cells)
        self.board = config.board()
        self.pipeline = Pipeline(self.board)  # between trials: keeps counts and switch states current
        self.levels: dict[int, int] = {g: self.board.open_level for g in (*self.board.holes, *self.board.buttons.values())}
        self.preroll = Preroll(self.levels, self.board.open_level, set(self.board.buttons.values()))
        self._board_counts = {n: c.units_at_start for n, c in self.board.cells.items()}
        self._count_changes: collections.deque[tuple[float, str, int]] = collections.deque(maxlen=64)
        self.monitors = {n: CellMonitor(c.offset, c.counts_per_gram, c.unit_g) for n, c in config.cells.items()}
        self._sample_waiters: list[tuple[str, list[int], int, asyncio.Future]] = []
        self._press_waiters: list[tuple[str, asyncio.Future]] = []
        self._last_state_push = 0.0
        self._last_sensor_push = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_pending = False
        self._settle_heap: list[float] = []
        self._settle_timer: asyncio.TimerHandle | None = None
        self._store_lock = asyncio.Lock()
        self._records = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="station-records")
        self._syncer: Syncer | None = None  # the live trial's fsyncs, off the loop (made by run)
        self._saving: asyncio.Task | None = None  # a finished trial being written
        self._arming = False  # a trial armed by the start button is being set up
        self._waiting_key: tuple | None = None
        self._tasks: set[asyncio.Task] = set()

    # --- lifecycle ---------------------------------------------------------

    def stop(self) -> None:
        """Ask ``run`` to shut down cleanly (signal-handler safe within the loop)."""
        self._stop.set()

    async def run(self) -> None:
        """Open the records and hardware, serve until ``stop()``, then shut down cleanly."""
        loop = self._loop = asyncio.get_running_loop()
        self.notifier.status("opening records")
        self.store = RecordStore(self.data_dir)  # logs one line per thing it recovered
        self._syncer = Syncer()
        self.hardware.start(self._on_record)
        await self._resume_test()
        try:
            await self.server.start(self.socket_path)
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                except (NotImplementedError, RuntimeError):  # not the main thread (tests)
                    pass
            mode = "simulated hardware" if self.hardware.simulated else "hardware"
            self.notifier.ready(f"serving on {self.socket_path} ({mode})")
            log.info("ready: %s, records in %s, socket %s", mode, self.data_dir, self.socket_path)
            watchdog = asyncio.create_task(self._watchdog()) if self.notifier.watchdog_s else None
            try:
                await self._loop_ticks()
            finally:
                if watchdog:
                    watchdog.cancel()
        finally:
            await self._shutdown()

    def _on_signal(self, sig: int) -> None:
        log.info("%s: stopping", signal.Signals(sig).name)
        self.notifier.stopping("stopping")
        self.stop()

    async def _shutdown(self) -> None:
        self.notifier.stopping("stopping")
        if self._settle_timer is not None:
            self._settle_timer.cancel()
        try:
            if self._saving is not None:
                await self._saving
            if self.live is not None:
                self._drain(self.clock())
                await self._end_trial(self.clock(), aborted="the station was shut down")
        except Exception:  # keep shutting down; the journal stays for recovery
            log.exception("could not save the running trial at shutdown (its journal is kept)")
        await self.server.close("shutdown")
        self.hardware.stop()
        self._records.shutdown(wait=True)
        if self.store is not None:
            self.store.close()
        if self._syncer is not None:
            self._syncer.close()
        log.info("stopped")

    async def _watchdog(self) -> None:
        # Pinged from the loop itself: if the loop stalls, pings stop and systemd restarts us.
        period = max(0.5, self.notifier.watchdog_s / 3)
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(period)

    async def _loop_ticks(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), TICK_S)
            except asyncio.TimeoutError:
                pass
            self._safe_tick()

    def _safe_tick(self) -> None:
        try:
            self.tick(self.clock())
        except Exception:  # a bug in one tick must not stop the station
            log.exception("error in the pipeline tick")

    def _spawn(self, coro) -> asyncio.Task:
        """A background task kept referenced until done; its exception is logged."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None and not isinstance(t.exception(), ApiError):
                log.error("background task failed", exc_info=t.exception())
        task.add_done_callback(done)
        return task

    # --- records arrive (hardware threads) -------------------------------------

    def _on_record(self, rec: RawRecord) -> None:
        """Called on a hardware thread: queue the record; an edge wakes the loop."""
        self._inbox.append(rec)
        if type(rec) is not Sample and not self._wake_pending and self._loop is not None:
            self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop has closed (shutdown)
                pass

    def _wake(self) -> None:
        self._wake_pending = False  # before draining: a record queued after this wakes us again
        self._safe_tick()

    def _expect_settle(self, edge_t: float) -> None:
        """A switch edge at ``edge_t`` can be confirmed once its level held settle_ms and every
        record up to then has arrived: look again exactly then, not at the next tick."""
        due = edge_t + self.board.settle_ms / 1000.0 + self._latency_s
        heapq.heappush(self._settle_heap, due)
        if self._settle_timer is None or due < self._settle_due:
            self._arm_settle_timer()

    def _arm_settle_timer(self) -> None:
        if self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None
        if not self._settle_heap or self._loop is None:
            return
        due = self._settle_heap[0]
        self._settle_due = due
        delay = max(0.0, (due - self.clock()) / self._speed) + 0.0005
        self._settle_timer = self._loop.call_at(self._loop.time() + delay, self._settle_check)

    def _settle_check(self) -> None:
        self._settle_timer = None
        now = self.clock()
        while self._settle_heap and self._settle_heap[0] <= now:
            heapq.heappop(self._settle_heap)
        sync = getattr(self.hardware, "sync", None)
        if sync is not None:
            sync()  # the simulator delivers what is due now instead of at its next step
        self._safe_tick()
        self._arm_settle_timer()

    # --- the pipeline tick -------------------------------------------------

    def tick(self, now: float) -> None:
        """Feed queued records, advance time, journal, push, finish a done trial."""
        self._drain(now)
        live = self.live
        if live is not None:
            if not live.running and live.trial.protocol.started:
                live.running = True
                live.journal.phase("running", live.trial.protocol.start_t)
                self._push_state()
            live.journal.tick()
            if live.trial.done:
                self._end_trial(now)
            elif now - self._last_state_push >= STATE_PUSH_S:
                self._push_state(now)
        if now - self._last_sensor_push >= SENSORS_PUSH_S:
            self._last_sensor_push = now
            if self.server.has_subscribers("sensors"):
                self.server.broadcast(api.sensors_message(self.sensors_snapshot(now)))

    def _drain(self, now: float) -> None:
        # Read how far the hardware has delivered *before* draining: every record
        # stamped up to then is already in the inbox.
        complete_to = self._complete_to() if self._complete_to is not None else None
        inbox = self._inbox
        target = self.live.trial if self.live is not None else None
        pipe = self.pipeline
        preroll = self.preroll
        last_t = -math.inf
        while inbox:
            rec = inbox.popleft()
            last_t = rec.t
            cls = type(rec)
            if cls is Sample:
                m = self.monitors.get(rec.cell)
                if m is not None:
                    m.counts.append(rec.counts)
                    m.last_t = rec.t
                    m.samples += 1
                    m.fault = None
                    if self._sample_waiters:
                        self._feed_waiters(rec)
            elif cls is Edge:
                self.levels[rec.gpio] = rec.level
                self._expect_settle(rec.t)
            elif cls is CellFault:
                m = self.monitors.get(rec.cell)
                if m is not None:
                    m.fault = rec.detail
            if target is not None:
                target.record(rec)
            else:
                preroll.add(rec)
                pipe.edge(rec.t, rec.gpio, rec.level) if cls is Edge else (
                    pipe.sample(rec.t, rec.cell, rec.counts) if cls is Sample else
                    pipe.cell_fault(rec.t, rec.cell, rec.detail))
        # Records reach us a little after they happened: advance only as far as
        # the hardware promises no earlier record can still come.
        if complete_to is not None:
            t = complete_to
        else:
            t = last_t if last_t > -math.inf else now - TICK_S
        if target is not None:
            target.advance(t)
        else:
            pipe.advance(t)
            for ev in pipe.drain():
                self._board_event(ev)
            for f in pipe.drain_faults():
                self._board_fault(f)

    def _feed_waiters(self, rec: Sample) -> None:
        for w in list(self._sample_waiters):
            cell, buf, n, fut = w
            if cell == rec.cell and not fut.done():
                buf.append(rec.counts)
                if len(buf) >= n:
                    fut.set_result(buf)
                    self._sample_waiters.remove(w)

    def _board_event(self, ev: Event) -> None:
        cls = type(ev)
        if cls is ButtonPress:
            for name, fut in list(self._press_waiters):
                if name == ev.name and not fut.done():
                    fut.set_result(ev.t)
        elif cls is CellCount:
            self._count_changes.append((ev.t, ev.cell, self._board_counts.get(ev.cell, ev.count)))
            self._board_counts[ev.cell] = ev.count
        self.server.broadcast(api.event_message(ev.to_dict()))
        if cls is ButtonPress and ev.name == START_BUTTON and self._press_arms():
            self._arm_by_press(ev)

    def _board_fault(self, f: Fault) -> None:
        self.server.broadcast(api.fault_message(f.to_dict()))

    # --- the start button ------------------------------------------------------

    def _press_arms(self) -> bool:
        """Whether a start-button press now arms the test's next trial."""
        return (self.patient is not None and self.test is not None and self.test.next_trial() is not None
                and self.live is None and self._saving is None and not self._arming
                and not self._press_waiters)  # a self-test waiting for the button owns the press

    def _arm_by_press(self, press: ButtonPress) -> None:
        index, all_open = self.preroll.start_index(press.t)
        recs = self.preroll.records
        t0 = recs[index].t if index < len(recs) else press.t
        if not all_open:
            closed = [f"hole {i}" for i, g in enumerate(self.board.holes, 1)
                      if self.preroll.levels_before.get(g) == self.board.closed_level]
            log.warning("start pressed with a switch closed (%s): the trial's trace starts at the press",
                        ", ".join(closed) or "a switch")
        counts = self._counts_at(t0)
        self.preroll.hold = True  # keep every record from index on until the trial takes them
        self._arming = True
        self._spawn(self._arm_from_press(index, counts, press.t))

    def _counts_at(self, t0: float) -> dict[str, int]:
        """The between-trials item counts as they were at ``t0`` (recent changes undone)."""
        counts = self._counts()
        for t, cell, before in reversed(self._count_changes):
            if t <= t0:
                break
            counts[cell] = before
        return counts

    async def _arm_from_press(self, index: int, counts: dict[str, int], press_t: float) -> None:
        try:
            async with self._store_lock:
                self._arming = False
                if not self._press_arms():
                    return
                s = self.test
                assert s is not None
                slot = s.next_trial()
                assert slot is not None
                st = self._arm(s.plan.protocol, dict(s.plan.options), slot.hand, slot.practice, slot,
                               counts=counts, preroll_from=index, started_by="button")
                log.info("trial %s armed by the start button pressed at %.3f", st["trial_id"], press_t)
        except ApiError as e:
            log.warning("the start button could not start a trial: %s", e.message)
        finally:
            self._arming = False
            if self.live is None:
                self.preroll.hold = False

    # --- trials ------------------------------------------------------------

    def _counts(self) -> dict[str, int]:
        return {n: c.count for n, c in self.pipeline.cells.items()}

    def _new_board_pipeline(self, counts: dict[str, int]) -> None:
        """A fresh between-trials pipeline (after a trial, or a new calibration)."""
        board = self.board.with_counts(counts)
        self.pipeline = Pipeline(board)
        self._board_counts = {n: c.units_at_start for n, c in board.cells.items()}
        self._count_changes.clear()
        self.preroll.clear(self.levels)

    def _side(self, hand: str | None) -> str | None:
        dom = (self.patient or {}).get("dominant_hand")
        if hand in ("left", "right") or hand is None:
            return hand if hand is not None else dom
        if dom is None:
            return None
        return dom if hand == "dominant" else ("left" if dom == "right" else "right")

    def _arm(self, protocol: str, options: dict, hand: str | None, practice: bool,
             slot: TrialSlot | None = None, *, counts: dict[str, int] | None = None,
             preroll_from: int | None = None, started_by: str = "command") -> dict:
        """Arm a trial now (the caller holds ``_store_lock``); returns its state. Raises ApiError.

        ``preroll_from``: the trial starts with the between-trials records from that index of
        the pre-roll (armed by the start button); ``counts``: the cells' items at its start.
        """
        assert self.store is not None
        if self.live is not None:
            raise ApiError(api.BUSY, "a trial is already running; abort it first")
        if self.patient is None:
            raise ApiError(api.NO_PATIENT, "select or create a patient first")
        now = self.clock()
        if preroll_from is None:
            self._drain(now)
        board = self.board.with_counts(counts if counts is not None else self._counts())
        try:
            proto = make_protocol(protocol, board, options)
        except ProtocolError as e:
            raise ApiError(api.BAD_VALUE, str(e)) from None
        side = self._side(hand)
        s = self.test if slot is not None else None
        k = n = None
        if s is not None:
            k, n = len(s.trials) + 1, len(s.trials) + len(s.queue)
        meta = {"patient_id": self.patient["patient_id"], "test_id": s.test_id if s else None,
                "protocol": protocol, "options": proto.opts, "hand": hand or "dominant", "side": side,
                "practice": practice, "k": k, "n": n, "index": slot.index if slot else None,
                "repeat_of": slot.repeat_of if slot else None, "started_by": started_by,
                "simulated": self.hardware.simulated}
        journal = self.store.begin_trial(meta, syncer=self._syncer)
        tid = journal.trial_id
        trace_dir = self.data_dir / "traces" / f"{int(tid) // 1000:04d}"
        trace_dir.mkdir(parents=True, exist_ok=True)
        trace_path = trace_dir / f"{tid}.trace.jsonl"
        header = TraceHeader(board, protocol, dict(proto.opts), {"trial_id": tid})
        trace = TraceWriter(trace_path, header, syncer=self._syncer)
        trial = Trial(board, proto, trace,
                      on_event=functools.partial(self._trial_event, journal),
                      on_fault=functools.partial(self._trial_fault, journal))
        meta["trace"] = str(trace_path)
        self.live = LiveTrial(trial, journal, meta, now, slot)
        journal.phase("waiting", now, trace=str(trace_path))
        if preroll_from is not None:
            recs = self.preroll.records
            for i in range(preroll_from, len(recs)):
                trial.record(recs[i])
        self.preroll.clear(self.levels)
        self.hardware.trial_started(protocol, dict(proto.opts), side or "right")
        log.info("trial %s armed: %s, %s hand%s", tid, protocol, side, " (practice)" if practice else "")
        self._push_state(now)
        return self.trial_snapshot(now)

    def _trial_event(self, journal: Any, ev: Event) -> None:
        if not journal.closed:
            journal.event(ev)
        if type(ev) is ButtonPress:
            for name, fut in list(self._press_waiters):
                if name == ev.name and not fut.done():
                    fut.set_result(ev.t)
        self.server.broadcast(api.event_message(ev.to_dict(), journal.trial_id))

    def _trial_fault(self, journal: Any, f: Fault) -> None:
        if not journal.closed:
            journal.fault(f)
        self.server.broadcast(api.fault_message(f.to_dict(), journal.trial_id))

    def _end_trial(self, now: float, aborted: str | None = None) -> asyncio.Task:
        """End the live trial now; returns the task that stores it (durably), updates its test
        and then tells clients it is saved. The task's result is the stored record."""
        assert self.live is not None
        live, self.live = self.live, None
        self.hardware.trial_ended()
        result = live.trial.finish(now)
        counts = {n: c.count for n, c in live.trial.pipeline.cells.items()}
        self._new_board_pipeline(counts)
        m = live.meta
        record = trial_record(result, protocol=m["protocol"], options=m["options"], slot=live.slot,
                              test_id=m["test_id"], patient_id=m["patient_id"], events=live.trial.events,
                              faults=live.trial.faults, trace=m["trace"])
        record.update(status="aborted" if aborted else result["status"], hand=m["hand"],
                      practice=m["practice"], armed_t=live.armed_t, ended_t=now)
        if aborted:
            reason = f"aborted: {aborted}"
            record.update(valid=False, invalid_reason=reason, invalid={"reason": reason})
        task = self._spawn(self._save_trial(live, record, now))
        self._saving = task
        return task

    async def _in_records(self, fn: Callable, *args: Any) -> Any:
        """Run a store call on the records thread (the caller holds ``_store_lock``)."""
        return await asyncio.get_running_loop().run_in_executor(self._records, functools.partial(fn, *args))

    def _finish_durably(self, record: dict, journal: Any) -> int:
        """On the records thread: the trace's and journal's last fsyncs done, then the record stored."""
        assert self.store is not None and self._syncer is not None
        self._syncer.drain()
        return self.store.finish_trial(record, journal)

    async def _save_trial(self, live: LiveTrial, record: dict, now: float) -> dict:
        assert self.store is not None
        try:
            async with self._store_lock:
                # Off the loop: the fsyncs take a few ms (tens on an SD card) while the
                # hardware keeps streaming; no client hears "saved" before this returns.
                try:
                    trial_id = await self._in_records(self._finish_durably, record, live.journal)
                    stored = await self._in_records(self.store.get_trial, trial_id)
                except (OSError, RecordError, ValueError) as e:
                    log.error("trial %s could not be saved: %s (its journal is kept for recovery)",
                              live.journal.trial_id, e)
                    self.server.broadcast({**api.trial_finished_message({**live.meta, **record}, False),
                                           "error": str(e)})
                    raise ApiError(api.INTERNAL, f"the trial could not be saved: {e}") from None
                s = self.test
                if s is not None and live.slot is not None and live.meta["test_id"] == s.test_id:
                    await self._record_in_test(s, live.slot, record, trial_id)
            total = record["result"].get("total_s")
            log.info("trial %s %s%s", trial_id, record["status"], f" in {total:.2f} s" if total is not None else "")
            self.server.broadcast(api.trial_finished_message(stored, True))
            return stored
        finally:
            if self._saving is asyncio.current_task():
                self._saving = None
            self._push_state()

    async def _record_in_test(self, s: TestSession, slot: TrialSlot, record: dict, trial_id: int) -> None:
        """The test takes a finished trial's result (an aborted or interrupted trial counts as
        incomplete: invalid, and repeated as the administration rules say)."""
        if s.status != "in_progress":
            return
        if s.next_trial() != slot:
            if slot not in s.queue:
                return
            s.queue.remove(slot)  # a repeat was queued during the trial: this result is still this slot's
            s.queue.insert(0, slot)
        stopped = record["status"] in ("aborted", "interrupted")
        result = dict(record.get("result") or {})
        if stopped:
            result["status"] = "incomplete"
        s.record(result, trial_id=trial_id)
        if stopped:
            s.trial(trial_id)["invalid_reason"] = (record.get("invalid_reason")
                                                   or (record.get("invalid") or {}).get("reason"))
        await self._save_test()

    async def _resume_test(self) -> None:
        """At start: the test that was being given when the daemon stopped (a crash, a power cut,
        a restart) carries on, its patient selected, as if nothing had happened; trials it stored
        that the test had not yet taken (the one interrupted, or one saved just before the stop)
        are taken now, so an interrupted trial is invalid and run again next. A test left from an
        earlier day is ended instead (a new visit starts a new test)."""
        assert self.store is not None
        open_tests = [t for t in await self._in_records(self.store.tests, None, None, "in_progress")
                      if t.get("schema") == TEST_SCHEMA and isinstance(t.get("session"), dict)]
        today = date.today().isoformat()
        for k, stored in enumerate(open_tests):
            try:
                session = TestSession.from_dict(stored["session"])
                patient = self.store.get_patient(stored["patient_id"])
            except (AdministrationError, RecordError) as e:
                log.error("test %s cannot be resumed: %s", stored.get("test_id"), e)
                continue
            session.test_id = stored["test_id"]
            self.patient, self.test = patient, session
            self._history = [t for t in await self._in_records(self.store.tests, patient["patient_id"])
                             if t.get("schema") == TEST_SCHEMA and t.get("test_id") != session.test_id]
            self._test_summary = stored.get("summary")
            taken = {e["trial_id"] for e in session.trials}
            for summary in self.store.trials(test_id=session.test_id):
                if summary["trial_id"] in taken:
                    continue
                rec = self.store.get_trial(summary["trial_id"])
                try:
                    slot = TrialSlot.from_dict(rec)
                except AdministrationError:
                    continue
                await self._record_in_test(session, slot, rec, rec["trial_id"])
            newest = k == len(open_tests) - 1
            if newest and session.date == today and session.status == "in_progress":
                nxt = session.next_trial()
                log.warning("resumed test %s of patient %s (%s): %d trial(s) done, next %s", session.test_id,
                            patient["patient_id"], session.plan.protocol, len(session.trials),
                            f"{nxt.hand} hand trial {nxt.index}" if nxt else "none")
                await self._save_test()
                self._push_state()
                return
            if session.status == "in_progress":
                await self._close_test("the station stopped during the test")
                log.warning("test %s of patient %s was left in progress on %s: ended", session.test_id,
                            patient["patient_id"], session.date)
            else:
                await self._save_test()  # the last trial it took completed it
                self.test = None
        self.patient, self.test, self._history, self._test_summary = None, None, [], None

    async def _save_test(self) -> None:
        """Store the running test's record (plan, session, summary scored against the norms)."""
        s = self.test
        assert s is not None and self.store is not None
        rec = test_record(s, patient=self.patient, norms=self.norms, history=self._history)
        self._test_summary = rec["summary"]
        await self._in_records(self.store.update_test, s.test_id, rec)

    # --- snapshots -----------------------------------------------------------

    def trial_snapshot(self, now: float) -> dict | None:
        return snapshots.trial_snapshot(self.live, now)

    def test_snapshot(self) -> dict | None:
        return snapshots.test_snapshot(self.test, self._test_summary, self._side)

    def state_snapshot(self, now: float | None = None) -> dict:
        """The ``state`` message's snapshot (docs/api.md), now."""
        now = self.clock() if now is None else now
        pipe = self.live.trial.pipeline if self.live is not None else self.pipeline
        return {"station": snapshots.station_snapshot(self.config, self._cells_cfg, self.board, self.hardware.simulated),
                "patient": patient_out(self.patient), "test": self.test_snapshot(),
                "trial": self.trial_snapshot(now), "board": snapshots.board_snapshot(self.board, pipe),
                "clock": self._clock_pair()}

    def sensors_snapshot(self, now: float) -> dict:
        pipe = self.live.trial.pipeline if self.live is not None else self.pipeline
        return snapshots.sensors_snapshot(self.board, pipe, self.levels, self.monitors, now)

    def _clock_pair(self) -> dict:
        return {"monotonic": self.clock(), "wall": time.time()}

    def _hello(self) -> dict:
        return api.hello(self.state_snapshot(), self._clock_pair())

    def _push_state(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self._last_state_push = now
        if self.server.has_subscribers("state"):
            self.server.broadcast(api.state_message(self.state_snapshot(now)))
        self._tell_hardware_waiting()

    def _tell_hardware_waiting(self) -> None:
        """Tell the hardware when a test's next trial starts waiting for the start button
        (the simulated patient then steps up and presses it), and when it no longer does."""
        tell = getattr(self.hardware, "waiting_for_start", None)
        if tell is None:
            return
        s = self.test
        slot = s.next_trial() if s is not None else None
        key = None
        if slot is not None and self.patient is not None and self.live is None and self._saving is None:
            key = (s.test_id, len(s.trials), slot)
        if key == self._waiting_key:
            return
        self._waiting_key = key
        if key is None:
            tell(None, {}, None)
        else:
            tell(s.plan.protocol, dict(s.plan.options), self._side(slot.hand) or "right")

    # --- calibration -----------------------------------------------------------

    def _set_cell(self, name: str, offset: float, counts_per_gram: float) -> None:
        c = self._cells_cfg[name]
        self._cells_cfg[name] = replace(c, offset=offset, counts_per_gram=counts_per_gram)
        cfg = replace(self.config, cells=dict(self._cells_cfg))
        counts = self._counts()
        self.board = cfg.board()
        self._new_board_pipeline(counts)
        m = self.monitors[name]
        m.cal_offset, m.counts_per_gram = offset, counts_per_gram

    async def _save_calibration(self, cell: str, offset: float, counts_per_gram: float) -> None:
        """Write the cell's calibration into the station.toml the daemon was started with, then use it.

        Nothing changes (in the file or in use) unless the file was written: the
        wizard's result is either saved and applied or refused with the reason.
        """
        if self.config_path is None:
            raise ApiError(api.BAD_VALUE, "the daemon runs on the shipped default configuration (no --config): "
                                          "there is no station.toml to save the calibration to; start it with "
                                          "--config /etc/station/station.toml")
        values = {("cells", cell, "offset"): round(offset, 1),
                  ("cells", cell, "counts_per_gram"): round(counts_per_gram, 4)}
        async with self._store_lock:  # the records thread also does the config's fsyncs, one at a time
            try:
                await self._in_records(update_config, self.config_path, values)
            except ConfigWriteError as e:
                raise ApiError(api.HARDWARE, f"the calibration was not saved: {e}") from None
        self._set_cell(cell, round(offset, 1), round(counts_per_gram, 4))

    async def _collect(self, cell: str, n: int, timeout: float) -> list[int]:
        fut = asyncio.get_running_loop().create_future()
        self._sample_waiters.append((cell, [], n, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise ApiError(api.HARDWARE, f"cell {cell!r} gave no readings (check its wiring)") from None
        finally:
            self._sample_waiters[:] = [w for w in self._sample_waiters if w[3] is not fut]

    def _check_cell(self, cell: str) -> CellConfig:
        if cell not in self._cells_cfg:
            raise ApiError(api.BAD_VALUE, f"no cell {cell!r} (cells: {', '.join(self._cells_cfg) or 'none'})")
        if self.live is not None:
            raise ApiError(api.BUSY, "a trial is running; calibrate between trials")
        return self._cells_cfg[cell]

    # --- commands --------------------------------------------------------------

    async def _handle(self, conn: Connection, req: Request) -> dict | None:
        a = req.args
        cmd = req.cmd
        try:
            return await getattr(self, f"_cmd_{cmd}")(a)
        except RecordError as e:
            msg = str(e)
            code = api.CONFLICT if "already exists" in msg else (
                api.NOT_FOUND if msg.startswith("no ") else api.BAD_VALUE)
            raise ApiError(code, msg) from None
        except (AdministrationError, ProtocolError) as e:
            raise ApiError(api.BAD_VALUE, str(e)) from None

    async def _cmd_hello(self, a: dict) -> dict:
        h = self._hello()
        return {k: h[k] for k in ("api", "server", "clock", "commands", "state")}

    async def _cmd_ping(self, a: dict) -> dict:
        return {"t": self.clock()}

    async def _cmd_state(self, a: dict) -> dict:
        return {"state": self.state_snapshot()}

    async def _cmd_subscribe(self, a: dict) -> dict:  # pragma: no cover - the server handles it
        return {}

    async def _cmd_create_patient(self, a: dict) -> dict:
        assert self.store is not None
        async with self._store_lock:
            if self.live is not None:
                raise ApiError(api.BUSY, "a trial is running")
            p = await self._in_records(self.store.add_patient, a["patient_id"], a["birth_year"], a["sex"],
                                       a["dominant_hand"], a.get("notes"))
            await self._select(p)
        return {"patient": patient_out(p)}

    async def _cmd_select_patient(self, a: dict) -> dict:
        assert self.store is not None
        async with self._store_lock:
            if self.live is not None:
                raise ApiError(api.BUSY, "a trial is running")
            p = self.store.get_patient(a["patient_id"])
            await self._select(p)
        return {"patient": patient_out(p)}

    async def _cmd_clear_patient(self, a: dict) -> dict:
        async with self._store_lock:
            if self.live is not None:
                raise ApiError(api.BUSY, "a trial is running")
            await self._select(None)
        return {}

    async def _select(self, p: dict | None) -> None:
        """Select a patient (the caller holds ``_store_lock``); another patient's test ends."""
        if self.test is not None and (p is None or p["patient_id"] != self.test.patient_id):
            await self._close_test("the patient was changed")
        self.patient = p
        self._push_state()

    async def _cmd_find_patients(self, a: dict) -> dict:
        assert self.store is not None
        async with self._store_lock:
            found = self.store.find_patients(a.get("query", ""), a.get("limit"))
        return {"patients": [patient_out(p) for p in found]}

    async def _idle_store(self) -> None:
        """Wait for a finished trial being saved (its test then knows the result)."""
        if self._saving is not None:
            try:
                await asyncio.shield(self._saving)
            except ApiError:
                pass

    async def _cmd_start_trial(self, a: dict) -> dict:
        await self._idle_store()
        async with self._store_lock:
            s = self.test
            if s is not None and "protocol" not in a:
                slot = s.next_trial()
                if slot is None:
                    raise ApiError(api.BAD_VALUE, f"start_trial: test {s.test_id} has no trial left "
                                                  f"({s.status}); start a new test or say which 'protocol'")
                extra = sorted(set(a) & {"hand", "practice", "options"})
                if extra:
                    raise ApiError(api.BAD_VALUE, f"start_trial: the test decides {', '.join(extra)}; "
                                                  "for another trial say which 'protocol'")
                return {"trial": self._arm(s.plan.protocol, dict(s.plan.options), slot.hand, slot.practice, slot)}
            if "protocol" not in a:
                raise ApiError(api.MISSING_FIELD, "start_trial: no test is running, so say which 'protocol'")
            return {"trial": self._arm(a["protocol"], a.get("options", {}), a.get("hand"),
                                       a.get("practice", False))}

    async def _cmd_abort_trial(self, a: dict) -> dict:
        if self.live is None:
            raise ApiError(api.NO_TRIAL, "no trial is running")
        now = self.clock()
        self._drain(now)
        return {"trial": await self._end_trial(now, aborted=a.get("reason") or "aborted by the therapist")}

    async def _cmd_finish_trial(self, a: dict) -> dict:
        if self.live is None:
            raise ApiError(api.NO_TRIAL, "no trial is running")
        now = self.clock()
        self._drain(now)
        return {"trial": await self._end_trial(now)}

    async def _cmd_start_test(self, a: dict) -> dict:
        assert self.store is not None
        await self._idle_store()
        async with self._store_lock:
            if self.patient is None:
                raise ApiError(api.NO_PATIENT, "select or create a patient first")
            if self.live is not None:
                raise ApiError(api.BUSY, "a trial is running; abort it first")
            if a["protocol"] not in PROTOCOLS:
                raise ApiError(api.BAD_VALUE, f"unknown protocol {a['protocol']!r} (known: {', '.join(PROTOCOLS)})")
            overrides: dict[str, Any] = {"options": a.get("options", {}), "practice": a.get("practice", False)}
            if "trials_per_hand" in a:
                overrides["trials_per_hand"] = a["trials_per_hand"]
            plan = TestPlan.default(a["protocol"], **overrides)
            if self.test is not None:
                await self._close_test("a new test was started")
            pid = self.patient["patient_id"]
            session = TestSession(plan, patient_id=pid, date=date.today().isoformat())
            session.test_id = await self._in_records(
                self.store.create_test, {"schema": TEST_SCHEMA, "patient_id": pid, "protocol": plan.protocol,
                                         "date": session.date, "status": session.status})
            self._history = [t for t in await self._in_records(self.store.tests, pid)
                             if t.get("schema") == TEST_SCHEMA and t.get("test_id") != session.test_id]
            self.test = session
            await self._save_test()
        self._push_state()
        return {"test": self.test_snapshot()}

    async def _cmd_abort_test(self, a: dict) -> dict:
        if self.test is None:
            raise ApiError(api.NOT_FOUND, "no test is running")
        if self.live is not None:
            now = self.clock()
            self._drain(now)
            await self._end_trial(now, aborted=a.get("reason") or "test aborted")
        await self._idle_store()
        async with self._store_lock:
            if self.test is None:
                raise ApiError(api.NOT_FOUND, "no test is running")
            snap = await self._close_test(a.get("reason") or "ended by the therapist")
        return {"test": snap}

    async def _close_test(self, reason: str) -> dict:
        """End the running test (the caller holds ``_store_lock``); a finished test stays complete."""
        s = self.test
        assert s is not None
        s.end(reason)
        await self._save_test()
        snap = self.test_snapshot()
        self.test = None
        self._test_summary = None
        self._push_state()
        return snap  # type: ignore[return-value]

    async def _cmd_mark_invalid(self, a: dict) -> dict:
        assert self.store is not None
        await self._idle_store()
        async with self._store_lock:
            trial = self.store.get_trial(a["trial_id"])
            tid = trial["trial_id"]
            s = self.test
            in_session = s is not None and trial.get("test_id") == s.test_id
            if in_session:
                entry = next((e for e in s.trials if e["trial_id"] == tid), None)
                if entry is not None and not entry["valid"]:
                    raise ApiError(api.BAD_VALUE, f"trial {tid} is already invalid ({entry['invalid_reason']})")
            rec = await self._in_records(self.store.mark_trial_invalid, tid, a["reason"])
            if in_session and any(e["trial_id"] == tid for e in s.trials):
                s.mark_invalid(tid, a["reason"], repeat=bool(a.get("repeat")))
                await self._save_test()
            elif trial.get("test_id") is not None and not in_session:
                await self._rescore_stored_test(trial["test_id"], tid, a["reason"])
        self._push_state()
        return {"trial": rec}

    async def _rescore_stored_test(self, test_id: int, trial_id: int, reason: str) -> None:
        """A trial of an earlier test was marked invalid: that test's summary leaves it out."""
        assert self.store is not None
        test = self.store.get_test(test_id)
        if test.get("schema") != TEST_SCHEMA or not isinstance(test.get("session"), dict):
            return  # an older record shape: the trial itself carries the mark
        session = TestSession.from_dict(test["session"])
        if not any(e["trial_id"] == trial_id and e["valid"] for e in session.trials):
            return
        session.mark_invalid(trial_id, reason, repeat=False)
        patient = self.store.get_patient(test["patient_id"])
        history = [t for t in self.store.tests(test["patient_id"])
                   if t.get("schema") == TEST_SCHEMA and t.get("test_id") != test_id]
        rec = test_record(session, patient=patient, norms=self.norms, history=history)
        await self._in_records(self.store.update_test, test_id, rec)

    async def _cmd_results(self, a: dict) -> dict:
        assert self.store is not None
        pid = a.get("patient_id") or (self.patient or {}).get("patient_id")
        if pid is None:
            raise ApiError(api.NO_PATIENT, "results: say which 'patient_id' (no patient is selected)")
        async with self._store_lock:  # reads many files: on the records thread, off the loop
            return await self._in_records(self._results, pid, a.get("limit"))

    def _results(self, pid: str, limit: int | None) -> dict:
        assert self.store is not None
        patient = self.store.get_patient(pid)
        summaries = list(reversed(self.store.trials(patient_id=pid)))
        if limit is not None:
            summaries = summaries[:max(0, limit)]
        trials = []
        for s in summaries:
            try:
                trials.append(self.store.get_trial(s["trial_id"]))
            except RecordError as e:
                log.error("%s", e)
        tests = list(reversed(self.store.tests(patient_id=pid)))
        for t in tests:
            t["note"] = _note(t, patient)
        return {"patient": patient_out(patient), "tests": tests, "trials": trials}

    async def _cmd_tare(self, a: dict) -> dict:
        cfg = self._check_cell(a["cell"])
        samples = await self._collect(a["cell"], max(5, cfg.sample_hz), 3.0)
        offset = float(statistics.fmean(samples))
        await self._save_calibration(a["cell"], offset, cfg.counts_per_gram)
        log.info("cell %s tared: offset %.1f (saved to %s)", a["cell"], offset, self.config_path)
        return {"cell": a["cell"], "offset": self._cells_cfg[a["cell"]].offset, "saved_to": str(self.config_path)}

    async def _cmd_calibrate(self, a: dict) -> dict:
        cfg = self._check_cell(a["cell"])
        if a["mass_g"] <= 0:
            raise ApiError(api.BAD_VALUE, "calibrate: 'mass_g' must be positive")
        samples = await self._collect(a["cell"], max(5, cfg.sample_hz), 3.0)
        delta = statistics.fmean(samples) - self._cells_cfg[a["cell"]].offset
        if abs(delta) < 100:
            raise ApiError(api.HARDWARE, f"cell {a['cell']!r} barely changed with {a['mass_g']} g on it "
                                         "(is the mass on the cell? tare it empty first)")
        cpg = delta / a["mass_g"]
        await self._save_calibration(a["cell"], self._cells_cfg[a["cell"]].offset, cpg)
        log.info("cell %s calibrated: %.3f counts per gram (saved to %s)", a["cell"], cpg, self.config_path)
        return {"cell": a["cell"], "counts_per_gram": self._cells_cfg[a["cell"]].counts_per_gram,
                "saved_to": str(self.config_path)}

    async def _cmd_self_test(self, a: dict) -> dict:
        steps = ["switches", *(f"cell:{n}" for n in self._cells_cfg), *(f"button:{n}" for n in self.board.buttons)]
        step = a.get("step")
        if step is None:
            return {"steps": steps}
        if step not in steps:
            raise ApiError(api.BAD_VALUE, f"self_test: unknown step {step!r} (steps: {', '.join(steps)})")
        if step == "switches":
            snap = self.sensors_snapshot(self.clock())["switches"]
            closed = [s["name"] for s in snap if s["raw"] == self.board.closed_level]
            return {"step": step, "ok": not closed,
                    "detail": "every switch is open" if not closed else f"closed: {', '.join(closed)} "
                              "(empty the board; a switch closed with nothing in it is stuck or shorted)",
                    "data": {"switches": snap}}
        kind, name = step.split(":", 1)
        if kind == "cell":
            cfg = self._cells_cfg[name]
            t0 = self.clock()
            try:
                samples = await self._collect(name, cfg.sample_hz, 2.0)
            except ApiError as e:
                return {"step": step, "ok": False, "detail": e.message, "data": {}}
            rate = len(samples) / max(1e-6, self.clock() - t0)
            noise_g = statistics.pstdev(samples) / abs(cfg.counts_per_gram)
            ok = noise_g < cfg.unit_g / 3 and rate > cfg.sample_hz * 0.5
            detail = (f"{rate:.0f} readings/s, noise {noise_g:.3f} g"
                      + ("" if ok else f" (want about {cfg.sample_hz}/s and noise under {cfg.unit_g / 3:.2f} g)"))
            return {"step": step, "ok": ok, "detail": detail,
                    "data": {"rate_hz": rate, "noise_g": noise_g, "mean_counts": statistics.fmean(samples)}}
        fut = asyncio.get_running_loop().create_future()
        self._press_waiters.append((name, fut))
        try:
            t = await asyncio.wait_for(fut, 10.0)
            return {"step": step, "ok": True, "detail": f"button {name} pressed", "data": {"t": t}}
        except asyncio.TimeoutError:
            return {"step": step, "ok": False, "detail": f"no press of button {name} within 10 s", "data": {}}
        finally:
            self._press_waiters[:] = [w for w in self._press_waiters if w[1] is not fut]


def _note(test: dict, patient: dict | None) -> str | None:
    """The clinical note of a stored ``station.test/1`` record (None for an older record shape)."""
    if test.get("schema") != TEST_SCHEMA or not isinstance(test.get("summary"), dict):
        return None
    try:
        return clinical_note(test, patient)
    except (KeyError, TypeError, ValueError) as e:
        log.error("no clinical note for test %s: %s", test.get("test_id"), e)
        return None
