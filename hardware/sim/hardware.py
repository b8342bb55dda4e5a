"""The virtual board and a virtual patient, played in real time, as the daemon's ``Hardware``.

``SimulatedHardware`` runs ``hardware.sim.simulator.Simulation`` (fake pins
and HX711 chips under the real drivers, a virtual patient) on a thread that
keeps its virtual clock in step with the real one (times ``speed``: tests run
faster than real time), and starts the patient on each trial the daemon arms.

The simulator's policy lives here, beside it: when a test's next trial waits
for the start button, the virtual patient steps up after ``STEP_UP_S`` and
presses it (``waiting_for_start``), so a simulated test runs hands-free
through the button, as a real patient runs it. For the protocols in
``PATIENT_PRESSES_START`` the patient's own plan presses start; for the others
this hardware presses it before the patient begins.

Delivery latency: one thread plays every source in time order, so the only
disorder is an edge stamped during an HX711 read (well under 1 ms): a merge
hold of ``SIM_HOLD_S`` (5 ms) is ample. The simulator steps every
``SIM_STEP_S``, and the daemon's ``sync`` plays the board up to now when it
wants a settle confirmed sooner.
"""
from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable

from hardware.base import Hardware
from hardware.sim.simulator import Simulation
from hardware.thread_name import name_os_thread
from station.config import Config
from station.errors import HardwareError, UserError
from station.events import RawRecord

log = logging.getLogger("station.hardware")

#: ``SimulatedHardware(fault=...)`` values: "open" fails as unplugged hardware would
SIM_FAULTS = ("open",)

SIM_HOLD_S = 0.005  # the simulator's merge hold (see the module docstring)
SIM_STEP_S = 0.01  # how often the simulator thread plays the board up to the clock
STEP_UP_S = 3.0  # simulated seconds before the virtual patient presses start for a waiting test
#: protocols the virtual patient (hardware.sim.patient) starts by pressing the start button
#: itself; for the others the simulated hardware presses it before the patient begins
PATIENT_PRESSES_START = ("nine-hole-peg", "coin-drop", "timed-pegs")


class SimulatedHardware(Hardware):
    """The virtual board and a virtual patient, played in real time (times ``speed``).

    ``clock`` is the simulation's time: ``start`` + (monotonic time since
    ``start``) x ``speed``. The daemon uses it as its clock so every timestamp
    it sees and sends is on one time line.
    """

    simulated = True

    def __init__(self, config: Config, *, speed: float = 1.0, seed: int | None = None,
                 profile: str = "healthy", step_s: float = SIM_STEP_S, respond: bool = True,
                 hold_s: float = SIM_HOLD_S, step_up_s: float = STEP_UP_S, fault: str | None = None) -> None:
        if speed <= 0:
            raise UserError("--speed must be positive")
        if fault is not None and fault not in SIM_FAULTS:
            raise UserError(f"unknown simulated fault {fault!r} (known: {', '.join(SIM_FAULTS)})")
        self.fault = fault
        self.speed = speed
        self.step_s = step_s
        self.respond = respond
        self.step_up_s = step_up_s
        self.latency_s = hold_s
        self._t0_real = time.monotonic()
        self.sim = Simulation(config, seed=seed if seed is not None else int(self._t0_real * 1000) % 2**31,
                              profile=profile, start_t=self._t0_real, hold_s=hold_s)
        self._t0_virtual = self.sim.now
        self._start_gpio = config.buttons.get("start")
        self._closed = 0 if config.active_low else 1
        self._script: list[tuple[float, int, int]] = []  # (t, gpio, level): presses the hardware makes
        self._step_up: tuple[float, str, dict] | None = None  # (when, protocol, options)
        # The patient stepped up and pressed start: the next trial armed is the one it is performing.
        # A flag, not "is the plan still running": on a loaded machine at --speed 25 the patient can
        # finish before the daemon arms the trial, and must not then perform it a second time.
        self._pressed_for: str | None = None
        self._lock = threading.Lock()  # the simulation is stepped on its thread, told of trials on the loop's
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def clock(self) -> float:
        return self._t0_virtual + (time.monotonic() - self._t0_real) * self.speed

    def start(self, on_record: Callable[[RawRecord], None]) -> None:
        if self.fault == "open":
            raise HardwareError("the simulated board failed to open (simulated fault 'open')")
        self.sim.on_record = on_record
        self._thread = threading.Thread(target=self._run, name="station-simulator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        name_os_thread()  # "station-simulat" in top -H: the simulator's cost, apart from the daemon's
        try:
            while not self._stop.wait(self.step_s):
                self.sync()
        except BaseException as e:  # a bug in the simulator: say so, stop feeding
            self.error = e
            log.exception("the simulated board stopped")

    def sync(self) -> None:
        """Play the board up to now (the daemon calls this when a switch can be confirmed)."""
        with self._lock:
            target = max(self.sim.now, self.clock())
            if self._step_up is not None and self._step_up[0] <= target:
                self._press_and_perform(*self._step_up)
                self._step_up = None
            while self._script and self._script[0][0] <= target:
                t, gpio, level = heapq.heappop(self._script)
                self._drive_at(gpio, level, t)
            self.sim.advance_to(target)

    def _drive_at(self, gpio: int, level: int, t: float) -> float:
        # The caller holds the lock. Play the board up to t first; an HX711
        # read may run past t, and records up to its end (less the merge
        # hold) may already be delivered, so the edge is stamped no earlier
        # than where the board got to: an edge stamped before delivered
        # records would reach the pipeline out of order and be dropped.
        self.sim.advance_to(max(self.sim.now, t))
        t = max(t, self.sim.now)
        self.sim.pin_factory.pin(gpio).drive(level, t)
        return t

    def drive_switch(self, gpio: int, level: int) -> float:
        """An edge on switch ``gpio`` now, as the kernel would stamp it (tests, benchmarks, a
        control line); returns its timestamp."""
        with self._lock:
            return self._drive_at(gpio, level, self.clock())

    def step_load(self, cell: str, items: float, ramp_s: float = 0.01) -> float:
        """``items`` (+ or -) land on or leave ``cell`` now; returns when the step starts."""
        with self._lock:
            self.sim.advance_to(max(self.sim.now, self.clock()))
            t = self.sim.now
            self.sim.patient.loads[cell].step(t, float(items), ramp_s)
            return t

    def _press_and_perform(self, when: float, protocol: str, options: dict) -> None:
        # the caller holds the lock
        start = max(when, self.sim.now)
        if protocol not in PATIENT_PRESSES_START and self._start_gpio is not None:
            press = max(start, self.sim.busy_until)
            heapq.heappush(self._script, (press, self._start_gpio, self._closed))
            heapq.heappush(self._script, (press + 0.15, self._start_gpio, 1 - self._closed))
            start = press + 0.4
        plan = self.sim.perform(protocol, options, start_t=start)
        self._pressed_for = protocol
        log.info("virtual patient: steps up for %s at %.3f (presses start)", protocol, plan.start_t)

    def waiting_for_start(self, protocol: str | None, options: dict, side: str | None) -> None:
        """A test's next trial waits for the start button (None: no longer): the patient steps up."""
        if not self.respond:
            return
        with self._lock:
            if protocol is None:
                self._step_up = None
            else:
                self._step_up = (self.clock() + self.step_up_s, protocol, dict(options))

    def complete_to(self) -> float:
        return self.sim.io.complete_to

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self.sim.close()

    def trial_started(self, protocol: str, options: dict, side: str) -> None:
        if not self.respond:
            return
        with self._lock:
            self._step_up = None
            pressed_for, self._pressed_for = self._pressed_for, None
            if pressed_for == protocol:
                return  # the patient pressed start for this trial and performs (or performed) it
            # Anything else (a trial the therapist started by command, another protocol
            # than the one stepped up for): the patient performs exactly this trial.
            plan = self.sim.perform(protocol, options)
        log.info("virtual patient: %s starts at %.3f, done by %.3f", protocol, plan.start_t, plan.end_t)

    def trial_ended(self) -> None:
        pass  # the patient finishes what it was doing; the board settles
