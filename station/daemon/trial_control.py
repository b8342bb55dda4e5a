"""Arming, ending and saving trials, and the start button that arms a test's next trial.

``arm`` makes a trial (``station.trial.Trial``: pipeline + protocol + trace)
from the board's counts, begins its journal (``RecordStore.begin_trial``:
accepted events journaled as they happen, fsynced on a ``Syncer`` thread,
never on the loop) and its raw trace, and tells the hardware (the simulated
patient starts). ``end`` finishes it and stores it on the records thread;
only once the record is on disk are clients told ``saved: true``, and then
the running test takes the result.

The start button: with a patient selected and a test whose next trial is
waiting, a press arms that trial. The press belongs to the trial (coin drop
and timed pegs start their clock at it), so the trial and its trace start
with the pre-roll (``station.daemon.preroll``) from a moment when every switch was
open, before the press.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hardware.base import Hardware
from station import api
from station.administration import TrialSlot
from station.api import ApiError
from station.daemon import state_messages
from station.daemon.between_trials import BetweenTrials
from station.daemon.records_thread import RecordsThread
from station.daemon.running_test import RunningTest
from station.daemon.sensor_waiters import SensorWaiters
from station.daemon.state_messages import TrialSnapshot
from station.events import ButtonPress, Event, Fault
from station.protocols import ProtocolError, make_protocol
from station.record_types import StoredTrial, TrialMeta
from station.records.journal import TrialJournal
from station.records.storage import is_disk_full
from station.records.store import RecordError
from station.records.syncer import Syncer
from station.results import trial_record
from station.trace import TraceHeader, TraceWriter
from station.trial import Trial

log = logging.getLogger("station.daemon")  # the service's log name, whichever part says it


@dataclass
class LiveTrial:
    """The armed trial: its pipeline and protocol, journal and trace, and its place in a test."""

    trial: Trial
    journal: TrialJournal
    meta: TrialMeta
    armed_t: float
    slot: TrialSlot | None = None
    running: bool = False


class TrialControl:
    """The ``live`` trial (None: none), the one being ``saving``, and the start button.

    ``drain(now)``: take every record delivered so far (before arming or ending
    a trial now); ``broadcast(msg)``: push to clients; ``changed(now=None)``: the
    state changed (clients and the hardware are told). ``syncer`` is set by the
    daemon once it runs.
    """

    def __init__(self, *, records: RecordsThread, test: RunningTest, board: BetweenTrials, waiters: SensorWaiters,
                 hardware: Hardware, clock: Callable[[], float], drain: Callable[[float], None],
                 broadcast: Callable[[dict], Any], changed: Callable[..., None]) -> None:
        self.records = records
        self.running_test = test
        self.board = board
        self.waiters = waiters
        self.hardware = hardware
        self.clock = clock
        self._drain = drain
        self._broadcast = broadcast
        self._changed = changed
        self.syncer: Syncer | None = None
        self.live: LiveTrial | None = None
        self.saving: asyncio.Task | None = None  # a finished trial being written
        self._arming = False  # a trial armed by the start button is being set up
        self._tasks: set[asyncio.Task] = set()
        self.disk_full: str | None = None  # why the last write failed for lack of space; None once one works

    def has_live_trial(self) -> bool:
        """Whether a trial is armed (calibration waits for it to end)."""
        return self.live is not None

    def snapshot(self, now: float) -> TrialSnapshot | None:
        """The armed trial as the ``state`` message shows it."""
        return state_messages.trial_snapshot(self.live, now)

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

    # --- each tick ------------------------------------------------------------

    def tick(self, now: float) -> None:
        """The live trial's start (journaled, state pushed), journal fsyncs, and its end once done."""
        live = self.live
        if live is None:
            return
        if not live.running and live.trial.protocol.started:
            live.running = True
            live.journal.phase("running", live.trial.protocol.start_t)
            self._changed()
        live.journal.tick()
        if live.trial.done:
            try:
                self.end(now)
            except ApiError:
                pass  # storage full: storage_full() has told everyone

    async def idle(self) -> None:
        """Wait for a finished trial being saved (its test then knows the result)."""
        if self.saving is not None:
            try:
                await asyncio.shield(self.saving)
            except ApiError:
                pass

    # --- the start button -------------------------------------------------------

    def press_arms(self) -> bool:
        """Whether a start-button press now arms the test's next trial."""
        rt = self.running_test
        return (rt.patient is not None and rt.test is not None and rt.test.next_trial() is not None
                and self.live is None and self.saving is None and not self._arming
                and not self.board.trials_held
                and not self.waiters.owns_press)  # a self-test waiting for the button owns the press

    def arm_by_press(self, press: ButtonPress) -> asyncio.Task:
        """A start-button press arms the test's next trial (the caller checked ``press_arms``);
        returns the task arming it (on the records thread's lock)."""
        preroll = self.board.preroll
        index, all_open = preroll.start_index(press.t)
        recs = preroll.records
        t0 = recs[index].t if index < len(recs) else press.t
        if not all_open:
            board = self.board.board
            closed = [f"hole {i}" for i, g in enumerate(board.holes, 1)
                      if preroll.levels_before.get(g) == board.closed_level]
            log.warning("start pressed with a switch closed (%s): the trial's trace starts at the press",
                        ", ".join(closed) or "a switch")
        counts = self.board.counts_at(t0)
        preroll.hold = True  # keep every record from index on until the trial takes them
        self._arming = True
        return self._spawn(self._arm_from_press(index, counts, press.t))

    async def _arm_from_press(self, index: int, counts: dict[str, int], press_t: float) -> None:
        try:
            async with self.records.lock:
                self._arming = False
                if not self.press_arms():
                    return
                s = self.running_test.test
                assert s is not None
                slot = s.next_trial()
                assert slot is not None
                st = self.arm(s.plan.protocol, dict(s.plan.options), slot.hand, slot.practice, slot,
                              counts=counts, preroll_from=index, started_by="button")
                log.info("trial %s armed by the start button pressed at %.3f", st["trial_id"], press_t)
        except ApiError as e:
            log.warning("the start button could not start a trial: %s", e.message)
        finally:
            self._arming = False
            if self.live is None:
                self.board.preroll.hold = False

    # --- arming -----------------------------------------------------------------

    def arm(self, protocol: str, options: dict[str, Any], hand: str | None, practice: bool,
            slot: TrialSlot | None = None, *, counts: dict[str, int] | None = None,
            preroll_from: int | None = None, started_by: str = "command") -> TrialSnapshot:
        """Arm a trial now (the caller holds the records lock); returns its state. Raises ApiError.

        ``preroll_from``: the trial starts with the between-trials records from that index of
        the pre-roll (armed by the start button); ``counts``: the cells' items at its start.
        """
        store = self.records.store
        assert store is not None
        if self.live is not None:
            raise ApiError(api.BUSY, "a trial is already running; abort it first")
        if self.board.trials_held:
            raise ApiError(api.BUSY, f"{self.board.trials_held}: start the trial when it is done")
        rt = self.running_test
        if rt.patient is None:
            raise ApiError(api.NO_PATIENT, "select or create a patient first")
        now = self.clock()
        if preroll_from is None:
            self._drain(now)
        board = self.board.board.with_counts(counts if counts is not None else self.board.counts())
        try:
            proto = make_protocol(protocol, board, options)
        except ProtocolError as e:
            raise ApiError(api.BAD_VALUE, str(e)) from None
        side = rt.side(hand)
        s = rt.test if slot is not None else None
        k = n = None
        if s is not None:
            k, n = len(s.trials) + 1, len(s.trials) + len(s.queue)
        meta: TrialMeta = {
            "patient_id": rt.patient["patient_id"], "test_id": s.test_id if s else None,
            "protocol": protocol, "options": proto.opts, "hand": hand or "dominant", "side": side,
            "practice": practice, "k": k, "n": n, "index": slot.index if slot else None,
            "repeat_of": slot.repeat_of if slot else None, "started_by": started_by,
            "simulated": self.hardware.simulated}
        try:
            journal = store.begin_trial(meta, syncer=self.syncer)
        except OSError as e:
            raise self._storage_error(e) from None
        tid = journal.trial_id
        header = TraceHeader(board, protocol, dict(proto.opts), {"trial_id": tid})
        try:
            trace_path = store.trace_path(tid)
            trace = TraceWriter(trace_path, header, syncer=self.syncer)
        except OSError as e:
            journal.close()  # recovered as interrupted at the next start (it holds no event)
            raise self._storage_error(e) from None
        self.disk_full = None
        trial = Trial(board, proto, trace,
                      on_event=functools.partial(self._trial_event, journal),
                      on_fault=functools.partial(self._trial_fault, journal))
        meta["trace"] = str(trace_path)
        self.live = LiveTrial(trial, journal, meta, now, slot)
        journal.phase("waiting", now, trace=str(trace_path))
        preroll = self.board.preroll
        if preroll_from is not None:
            recs = preroll.records
            for i in range(preroll_from, len(recs)):
                trial.record(recs[i])
        preroll.clear(self.board.levels)
        self.hardware.trial_started(protocol, dict(proto.opts), side or "right")
        log.info("trial %s armed: %s, %s hand%s", tid, protocol, side, " (practice)" if practice else "")
        self._changed(now)
        snap = self.snapshot(now)
        assert snap is not None  # the trial is armed
        return snap

    def _trial_event(self, journal: TrialJournal, ev: Event) -> None:
        if not journal.closed:
            journal.event(ev)
        if type(ev) is ButtonPress:
            self.waiters.pressed(ev)
        self._broadcast(api.event_message(ev.to_dict(), journal.trial_id))

    def _trial_fault(self, journal: TrialJournal, f: Fault) -> None:
        if not journal.closed:
            journal.fault(f)
        self._broadcast(api.fault_message(f.to_dict(), journal.trial_id))

    def _storage_error(self, e: OSError) -> ApiError:
        if is_disk_full(e):
            self.disk_full = str(e)
            return ApiError(api.DISK_FULL, "the station's storage is full: free some space (technician)")
        return ApiError(api.HARDWARE, f"cannot write the trial's files: {e}")

    # --- ending and saving --------------------------------------------------------

    def storage_full(self, now: float, error: OSError) -> None:
        """A write of the live trial failed for lack of space: end it at once as ``storage_full``.

        Nothing is stored (no result without its whole trace); the journal and
        the trace written so far stay as they are (the journal comes back as an
        interrupted trial once there is room); clients hear ``trial_finished``
        with ``saved: false`` naming the trial.
        """
        live = self.live
        if live is None:
            return
        self.live = None
        self.disk_full = str(error)
        self.hardware.trial_ended()
        if not live.journal.closed:
            _quietly(live.journal.close)
        _quietly(live.trial.finish, now)  # the trace's last flush fails too: what it holds stays
        self.board.reset({n: c.count for n, c in live.trial.pipeline.cells.items()})
        log.error("trial %s stopped: the station's storage is full (%s); nothing was stored",
                  live.journal.trial_id, error)
        trial = {**live.meta, "trial_id": live.journal.trial_id, "status": "storage_full",
                 "armed_t": live.armed_t, "ended_t": now}
        self._broadcast(api.trial_finished_message(trial, False, "the station's storage is full: this trial "
                                                                "was stopped and not saved"))
        self._changed(now)

    def end(self, now: float, aborted: str | None = None) -> asyncio.Task:
        """End the live trial now; returns the task that stores it (durably), updates its test
        and then tells clients it is saved. The task's result is the stored record."""
        assert self.live is not None
        live = self.live
        try:
            result = live.trial.finish(now)  # the trace's last lines and close
        except OSError as e:
            if not is_disk_full(e):
                raise
            self.storage_full(now, e)
            raise ApiError(api.DISK_FULL, "the station's storage is full: the trial was stopped and not saved") \
                from None
        self.live = None
        self.hardware.trial_ended()
        counts = {n: c.count for n, c in live.trial.pipeline.cells.items()}
        self.board.reset(counts)
        m = live.meta
        record: StoredTrial = {
            **trial_record(result, protocol=m["protocol"], options=m["options"], slot=live.slot,
                           test_id=m["test_id"], patient_id=m["patient_id"], events=live.trial.events,
                           faults=live.trial.faults, trace=m["trace"]),
            "status": "aborted" if aborted else result["status"], "hand": m["hand"],
            "practice": m["practice"], "armed_t": live.armed_t, "ended_t": now}
        if aborted:
            reason = f"aborted: {aborted}"
            record.update({"valid": False, "invalid_reason": reason, "invalid": {"reason": reason}})
        task = self._spawn(self._save(live, record, now))
        self.saving = task
        return task

    def _finish_durably(self, record: StoredTrial, journal: TrialJournal) -> int:
        """On the records thread: the trace's and journal's last fsyncs done, then the record stored."""
        assert self.records.store is not None and self.syncer is not None
        self.syncer.drain()
        return self.records.store.finish_trial(record, journal)

    async def _save(self, live: LiveTrial, record: StoredTrial, now: float) -> StoredTrial:
        store = self.records.store
        assert store is not None
        try:
            async with self.records.lock:
                # Off the loop: the fsyncs take a few ms (tens on an SD card) while the
                # hardware keeps streaming; no client hears "saved" before this returns.
                try:
                    trial_id = await self.records.call(self._finish_durably, record, live.journal)
                    stored = await self.records.call(store.get_trial, trial_id)
                except (OSError, RecordError, ValueError) as e:
                    log.error("trial %s could not be saved: %s (its journal is kept for recovery)",
                              live.journal.trial_id, e)
                    full = is_disk_full(e)
                    if full:
                        self.disk_full = str(e)
                    unsaved = {**live.meta, **record, "trial_id": live.journal.trial_id}
                    if full:
                        unsaved["status"] = "storage_full"
                    self._broadcast(api.trial_finished_message(
                        unsaved, False, "the station's storage is full: the trial was not saved" if full else str(e)))
                    raise ApiError(api.DISK_FULL if full else api.INTERNAL,
                                   f"the trial could not be saved: {e}") from None
                self.disk_full = None
                s = self.running_test.test
                if s is not None and live.slot is not None and live.meta["test_id"] == s.test_id:
                    await self.running_test.take(s, live.slot, record, trial_id)
            total = record["result"].get("total_s")
            log.info("trial %s %s%s", trial_id, record["status"], f" in {total:.2f} s" if total is not None else "")
            self._broadcast(api.trial_finished_message(stored, True))
            return stored
        finally:
            if self.saving is asyncio.current_task():
                self.saving = None
            self._changed()

    async def shut_down(self) -> None:
        """At shutdown: wait for a trial being saved; the running trial ends as aborted and is saved."""
        if self.saving is not None:
            await self.saving
        if self.live is not None:
            now = self.clock()
            self._drain(now)
            await self.end(now, aborted="the station was shut down")


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn`` on a trial being dropped; its failure (the disk that is full) is already reported."""
    try:
        fn(*args)
    except Exception as e:
        log.debug("while stopping a trial for lack of space: %s", e)
