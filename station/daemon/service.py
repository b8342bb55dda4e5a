"""``station daemon``: the service that owns the hardware and the records and serves the socket API.

This module is the service and the wiring of its parts; each part is a
module of its own (the README's developer section maps them):

* ``station.daemon.intake``: raw records from the hardware threads into the loop,
  the per-edge settle timers, and the drain into the running trial or,
  between trials, into ``station.daemon.between_trials`` (the board's pipeline and the
  start button's pre-roll, ``station.daemon.preroll``);
* ``station.daemon.trial_control``: arming, ending and durably saving trials, and
  the start button that arms a test's next trial;
* ``station.daemon.running_test``: the selected patient and the test being given
  (``station.administration``), its scored record, and its resumption after
  a restart;
* ``station.daemon.handlers``: the socket API's commands (docs/api.md), served by
  ``station.daemon.server``; ``station.daemon.state_messages``: what the ``state`` and
  ``sensors`` messages say;
* ``station.daemon.calibration`` and ``station.daemon.guided_check``: the technician
  screen's tare/calibrate and self-test, waiting on the sensors through
  ``station.daemon.sensor_waiters``;
* ``station.daemon.records_thread``: the record store, the single thread that
  writes it and the lock every use holds.

One asyncio event loop does everything except reading the hardware and
writing to disk: ``TICK_S`` drives samples, journal fsyncs, the state
count-down and the technician screen's snapshots (a switch edge wakes the loop
itself; between trials, with nobody watching or waiting on the sensors, the
tick slows to ``IDLE_TICK_S`` so an idle station sleeps); the live trial's
fsyncs run on a ``station.records.syncer.Syncer`` thread (on an SD card one
can take hundreds of ms: tests/benchmarks/loop_lag.py) and finished records
on the records thread; the socket server queues messages per client without
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

Durability: a trial's accepted events go to its journal as they happen
(``RecordStore.begin_trial``); ``RecordStore.finish_trial`` returns only once
the record is on disk, and only then are clients told ``saved: true``. On
start the store recovers journals left by a crash as ``interrupted`` trials
and moves a corrupt database aside, logging one line for each; then the test
that was being given resumes (``RunningTest.resume``: its patient selected,
the interrupted trial invalid and run again), so a power cut mid-test loses
nothing and the therapist carries on.

systemd: READY=1 once the hardware and the records are open and the socket
listens; WATCHDOG=1 from the event loop (a stuck loop stops the pings);
STOPPING=1 on SIGTERM/SIGINT, then a clean shutdown: the running trial is
finished as ``aborted`` and saved (clients hear ``trial_finished``), then
every client gets ``bye`` {"reason": "shutdown"} before its connection closes.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from hardware.base import Hardware
from station import api
from station.config import Config
from station.daemon import state_messages
from station.daemon.between_trials import BetweenTrials
from station.daemon.calibration import Calibration
from station.daemon.cell_monitor import CellMonitor
from station.daemon.fhir_delivery import fhir_delivery
from station.daemon.guided_check import GuidedCheck
from station.daemon.handlers import CommandHandlers
from station.daemon.intake import Intake
from station.daemon.records_thread import RecordsThread
from station.daemon.running_test import RunningTest
from station.daemon.sdnotify import Notifier
from station.daemon.sensor_waiters import SensorWaiters
from station.daemon.server import Server
from station.daemon.staff_auth import StaffAuth
from station.daemon.state_messages import ClockPair, SensorsSnapshot, StateSnapshot, SwitchReading, patient_out
from station.daemon.trial_control import TrialControl
from station.events import ButtonPress, CellCount, Event, Fault
from station.norms import NormSet
from station.records.log_limit import LogLimiter
from station.records.storage import is_disk_full
from station.records.syncer import Syncer
from station.staff_pins import ROLES, pin_file_path
from station.trial import Trial

log = logging.getLogger("station.daemon")

TICK_S = 0.02  # samples, journal fsyncs, count-down; switch edges wake the loop themselves
#: the tick between trials when nobody watches or waits on the sensors: only a cell's count
#: change (200 ms to confirm) waits for it, and an idle station wakes 10 times a second, not 50
IDLE_TICK_S = 0.1
STATE_PUSH_S = 0.5  # state messages while a trial is armed (elapsed, count-down)
SENSORS_PUSH_S = 0.2  # the technician screen's 5 Hz snapshot, when someone subscribes
START_BUTTON = "start"


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
        self.data_dir = Path(data_dir)
        self.socket_path = Path(socket_path)
        self.hardware = hardware
        self.notifier = notifier if notifier is not None else Notifier()
        self.clock = clock if clock is not None else hardware.clock
        norms = norms if norms is not None else config.norms()  # ConfigError naming [scoring] norms
        self._stop = asyncio.Event()
        self._last_state_push = 0.0
        self._last_sensor_push = 0.0
        self._waiting_key: tuple | None = None
        self._tick_errors = LogLimiter(log)  # a fault that repeats every tick is said once a minute

        # The parts, each depending only on those made before it.
        self.records = RecordsThread()
        self.board = BetweenTrials(config.board())
        self.monitors = {n: CellMonitor(cal_offset=c.offset, counts_per_gram=c.counts_per_gram, unit_g=c.unit_g)
                         for n, c in config.cells.items()}
        self.waiters = SensorWaiters()
        self.server = Server(handler=self._handle, hello=self._hello)
        self.delivery = fhir_delivery(config, self.data_dir, changed=self._push_state)  # None: not configured
        self._delivery_task: asyncio.Task | None = None
        self.running_test = RunningTest(records=self.records, norms=norms, changed=self._push_state,
                                        delivery=self.delivery)
        self.intake = Intake(hardware=hardware, clock=self.clock, board=self.board, monitors=self.monitors,
                             waiters=self.waiters, current_trial=self._current_trial, tick=self._safe_tick,
                             on_board_event=self._board_event, on_board_fault=self._board_fault)
        self.trials = TrialControl(records=self.records, test=self.running_test, board=self.board,
                                   waiters=self.waiters, hardware=hardware, clock=self.clock,
                                   drain=self.intake.drain, broadcast=self.server.broadcast,
                                   changed=self._push_state)
        save_to = Path(config_path) if config_path is not None else None
        self.calibration = Calibration(config=config, config_path=save_to,
                                       board=self.board, monitors=self.monitors, waiters=self.waiters,
                                       records=self.records, trial_running=self.trials.has_live_trial)
        self.selftest = GuidedCheck(board=self.board, calibration=self.calibration, waiters=self.waiters,
                                    clock=self.clock, switches=self._switches)
        staff = config.section("staff")
        # Guessable PINs (the demo's 1234) only on a simulated station.
        self.auth = StaffAuth(pin_file_path(config_path, self.data_dir), allow_trivial=hardware.simulated,
                              legacy={r: staff.get(f"{r}_pin", "") for r in ROLES})
        self.handlers = CommandHandlers(records=self.records, test=self.running_test, trials=self.trials,
                                        calibration=self.calibration, selftest=self.selftest, clock=self.clock,
                                        hello=self._hello, state=self.state_snapshot, drain=self.intake.drain,
                                        auth=self.auth, delivery=self.delivery)

    # --- lifecycle ---------------------------------------------------------

    def stop(self) -> None:
        """Ask ``run`` to shut down cleanly (signal-handler safe within the loop)."""
        self._stop.set()

    async def run(self) -> None:
        """Open the records and hardware, serve until ``stop()``, then shut down cleanly."""
        loop = self.intake.loop = asyncio.get_running_loop()
        self.notifier.status("opening records")
        self.records.open(self.data_dir)  # logs one line per thing it recovered
        self.trials.syncer = Syncer()
        self.hardware.start(self.intake.on_record)
        await self.running_test.resume()
        if self.delivery is not None:
            await self._start_delivery()
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
            watchdog_s = self.notifier.watchdog_s
            watchdog = asyncio.create_task(self._watchdog(watchdog_s)) if watchdog_s else None
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

    async def _start_delivery(self) -> None:
        """Open the FHIR outbox, queue finished tests it lacks (a crash between storing and queueing),
        and start sending."""
        assert self.delivery is not None and self.records.store is not None
        self.delivery.open()
        store = self.records.store
        async with self.records.lock:
            tests = await self.records.call(store.tests)
            patients = {p["patient_id"]: p for p in await self.records.call(store.patients)}
        queued = await self.delivery.catch_up(tests, patients)
        if queued:
            log.info("FHIR outbox: %d finished test%s queued again", queued, "s" if queued != 1 else "")
        self._delivery_task = asyncio.create_task(self.delivery.run(), name="fhir-delivery")

    async def _shutdown(self) -> None:
        self.notifier.stopping("stopping")
        if self._delivery_task is not None:
            self._delivery_task.cancel()  # the outbox keeps what was not sent
        self.intake.cancel_timers()
        try:
            await self.trials.shut_down()
        except Exception:  # keep shutting down; the journal stays for recovery
            log.exception("could not save the running trial at shutdown (its journal is kept)")
        await self.server.close("shutdown")  # every client hears bye before its connection closes
        self.hardware.stop()
        self.records.close()
        if self.trials.syncer is not None:
            self.trials.syncer.close()
        log.info("stopped")

    async def _watchdog(self, watchdog_s: float) -> None:
        # Pinged from the loop itself: if the loop stalls, pings stop and systemd restarts us.
        period = max(0.5, watchdog_s / 3)
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(period)

    async def _loop_ticks(self) -> None:
        # A timer handle re-armed from its own callback: one heap entry a tick, where
        # ``wait_for(stop.wait(), TICK_S)`` made a task, a future and a timeout and cancelled them.
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def tick() -> None:
            nonlocal handle
            handle = loop.call_later(self._tick_every(), tick)
            self._safe_tick()

        handle = loop.call_later(TICK_S, tick)
        try:
            await self._stop.wait()
        finally:
            handle.cancel()
        self._safe_tick()

    def _tick_every(self) -> float:
        """``TICK_S`` while a trial is armed or running or anyone watches or waits on the sensors,
        else ``IDLE_TICK_S`` (switch edges and their settle timers wake the loop at once either way)."""
        if self.trials.live is not None or self.waiters.samples or self.server.has_subscribers("sensors"):
            return TICK_S
        return IDLE_TICK_S

    def _safe_tick(self) -> None:
        now = self.clock()
        try:
            self.tick(now)
        except OSError as e:
            if is_disk_full(e) and self.trials.live is not None:
                self.trials.storage_full(now, e)  # the live trial's journal or trace cannot grow
            else:
                self._tick_errors.log(type(e).__name__, logging.ERROR, "error in the pipeline tick: %s", e,
                                      exc_info=True)
        except Exception as e:  # a bug in one tick must not stop the station
            self._tick_errors.log(type(e).__name__, logging.ERROR, "error in the pipeline tick", exc_info=True)

    # --- the tick ---------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Feed queued records, advance time, journal, push, finish a done trial."""
        self.intake.drain(now)
        self.trials.tick(now)
        if self.trials.live is not None and now - self._last_state_push >= STATE_PUSH_S:
            self._push_state(now)
        if now - self._last_sensor_push >= SENSORS_PUSH_S:
            self._last_sensor_push = now
            if self.server.has_subscribers("sensors"):
                self.server.broadcast(api.sensors_message(self.sensors_snapshot(now)))

    def _current_trial(self) -> Trial | None:
        live = self.trials.live
        return live.trial if live is not None else None

    def _board_event(self, ev: Event) -> None:
        """Between trials: a confirmed event of the board (counts remembered, pushed to clients;
        the start button may arm the test's next trial)."""
        if type(ev) is ButtonPress:
            self.waiters.pressed(ev)
        elif type(ev) is CellCount:
            self.board.count_changed(ev)
        self.server.broadcast(api.event_message(ev.to_dict()))
        if type(ev) is ButtonPress and ev.name == START_BUTTON and self.trials.press_arms():
            self.trials.arm_by_press(ev)

    def _board_fault(self, f: Fault) -> None:
        self.server.broadcast(api.fault_message(f.to_dict()))

    # --- what clients and the hardware are told ------------------------------------

    def _pipeline(self):
        live = self.trials.live
        return live.trial.pipeline if live is not None else self.board.pipeline

    def state_snapshot(self, now: float | None = None) -> StateSnapshot:
        """The ``state`` message's snapshot (docs/api.md), now."""
        now = self.clock() if now is None else now
        station = state_messages.station_snapshot(self.config, self.calibration.cells, self.board.board,
                                                  self.hardware.simulated)
        station["staff_pins"] = self.auth.pins_set()  # which staff screens can open at all
        station["storage"] = "full" if self.trials.disk_full else "ok"
        return {"station": station,
                "patient": patient_out(self.running_test.patient), "test": self.running_test.snapshot(),
                "trial": self.trials.snapshot(now),
                "board": state_messages.board_snapshot(self.board.board, self._pipeline()),
                "clock": self._clock_pair(),
                "fhir": self.delivery.summary() if self.delivery is not None else None}

    def sensors_snapshot(self, now: float) -> SensorsSnapshot:
        """The ``sensors`` message's snapshot (the technician screen), now."""
        return state_messages.sensors_snapshot(self.board.board, self._pipeline(), self.board.levels,
                                               self.monitors, now)

    def _switches(self, now: float) -> list[SwitchReading]:
        """The switches as the ``sensors`` message shows them (the self-test's first step)."""
        return self.sensors_snapshot(now)["switches"]

    def _clock_pair(self) -> ClockPair:
        return {"monotonic": self.clock(), "wall": time.time()}

    def _hello(self) -> dict:
        return api.hello(self.state_snapshot(), self._clock_pair())

    async def _handle(self, conn, req: api.Request) -> dict | None:
        return await self.handlers.handle(conn, req)

    def _push_state(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self._last_state_push = now
        if self.server.has_subscribers("state"):
            self.server.broadcast(api.state_message(self.state_snapshot(now)))
        self._tell_hardware_waiting()

    def _tell_hardware_waiting(self) -> None:
        """Tell the hardware when a test's next trial starts waiting for the start button
        (the simulated patient then steps up and presses it), and when it no longer does."""
        tell = self.hardware.waiting_for_start
        rt = self.running_test
        s = rt.test
        slot = s.next_trial() if s is not None else None
        key = None
        if s is not None and slot is not None and rt.patient is not None and self.trials.live is None \
                and self.trials.saving is None:
            key = (s.test_id, len(s.trials), slot)
        if key == self._waiting_key:
            return
        self._waiting_key = key
        if key is None or s is None or slot is None:  # (key set means both are)
            tell(None, {}, None)
        else:
            tell(s.plan.protocol, dict(s.plan.options), rt.side(slot.hand) or "right")
