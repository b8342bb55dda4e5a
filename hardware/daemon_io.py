"""The daemon's hardware: what it needs of it (``Hardware``), the Pi's pins, or the virtual board in real time.

Both deliver raw records through the same ``hardware.station_io.StationIO``
(switch edges + HX711 readers + time-order merging); they differ only below
the drivers. ``LiveHardware`` opens gpiozero's default pin factory (lgpio)
for the switches, and reads the HX711s (RPi.GPIO, or the rpi-lgpio shim on a
Pi 5) in a child process (``hardware.cell_process``), where nothing the
daemon does can stretch their clock pulses. ``SimulatedHardware`` runs
``hardware.sim.simulator.Simulation`` (fake pins and HX711 chips under the real
drivers, a virtual patient) on a thread that keeps its virtual clock in step
with the real one (times ``speed``: tests run faster than real time), and
starts the patient on each trial the daemon arms. When a test's next trial
waits for the start button, the virtual patient steps up after
``STEP_UP_S`` and presses it (``waiting_for_start``), so a simulated test
runs hands-free through the button, as a real patient runs it.

Delivery latency (a switch edge until the daemon can confirm it): the
records are held ``hold_s`` to merge sources into time order. Live that is
``hardware.station_io.HOLD_S`` (20 ms: the HX711 readers deliver from their
own threads, late by up to a scheduling slice) plus the releaser's 5 ms
period. Simulated, one thread plays every source in time order, so the only
disorder is an edge stamped during an HX711 read (well under 1 ms): 5 ms is
ample. The simulator steps every 10 ms, and the daemon's ``sync`` plays the
board up to now when it wants a settle confirmed sooner.
"""
from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from station.config import Config
from station.errors import UserError
from station.events import RawRecord

log = logging.getLogger("station.hardware")

SIM_HOLD_S = 0.005  # the simulator's merge hold (see the module docstring)
SIM_STEP_S = 0.01  # how often the simulator thread plays the board up to the clock
STEP_UP_S = 3.0  # simulated seconds before the virtual patient presses start for a waiting test
LIVE_RELEASE_S = 0.005  # StationIO.start's release period
#: protocols the virtual patient (hardware.sim.patient) starts by pressing the start button
#: itself; for the others the simulated hardware presses it before the patient begins
PATIENT_PRESSES_START = ("nine-hole-peg", "coin-drop", "timed-pegs")


class Hardware(Protocol):
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


class HardwareError(UserError):
    """The station's hardware cannot be opened (not a Pi, missing GPIO library...)."""


def open_station_io(config: Config):
    """The station's pins, live, as a ``hardware.station_io.StationIO``: the switches on
    gpiozero's default pin factory (lgpio) and, in this process, an HX711 driver per cell in
    ``config`` on RPi.GPIO (the rpi-lgpio shim on a Pi 5). ``station selftest`` reads them so;
    the daemon passes a config without cells and reads them in a child process."""
    try:
        from gpiozero.pins.lgpio import LGPIOFactory
        factory = LGPIOFactory()
    except Exception as e:  # ImportError off a Pi, or lgpio failing to open the chip
        raise HardwareError(f"cannot open the GPIO pins ({e.__class__.__name__}: {e}); "
                            "on a machine without the station's hardware use --simulate") from None
    gpio = None
    if config.cells:
        try:
            import RPi.GPIO as gpio  # on a Pi 5 this is the rpi-lgpio shim
        except Exception as e:
            raise HardwareError(f"cannot load RPi.GPIO for the load cells ({e}); install rpi-lgpio "
                                "(Pi 5) or RPi.GPIO") from None
        gpio.setmode(gpio.BCM)
        gpio.setwarnings(False)
    from hardware.station_io import StationIO
    return StationIO(config, factory, gpio, on_record=lambda rec: None)


class LiveHardware:
    """The real station on a Raspberry Pi."""

    simulated = False

    def __init__(self, config: Config) -> None:
        from hardware.cell_process import CellProcess
        from hardware.station_io import HOLD_S
        # The switches here; the HX711s in a child process (hardware.cell_process: the daemon's
        # threads cannot stretch their clock pulses there), merged into the same time order.
        self.io = open_station_io(replace(config, cells={}))
        cells = {n: (c.dout, c.pd_sck, float(c.sample_hz)) for n, c in config.cells.items()}
        self.cells = CellProcess(cells, self.io.merger.put) if cells else None
        self.clock = time.monotonic
        self.speed = 1.0
        #: a record is delivered at most this long after its time (merge hold + release period)
        self.latency_s = HOLD_S + LIVE_RELEASE_S

    def start(self, on_record: Callable[[RawRecord], None]) -> None:
        self.io.on_record = on_record
        if self.cells is not None:
            from hardware.cell_process import CellProcessError
            try:
                self.cells.start()  # returns once the child has the HX711s open
            except CellProcessError as e:
                self.io.close()
                raise HardwareError(f"{e}; install rpi-lgpio (Pi 5) or RPi.GPIO") from None
        self.io.start(release_every_s=LIVE_RELEASE_S)

    def complete_to(self) -> float:
        return self.io.complete_to

    def stop(self) -> None:
        if self.cells is not None:
            self.cells.close()
        self.io.close()

    def trial_started(self, protocol: str, options: dict, side: str) -> None:
        pass  # a real patient needs no telling

    def trial_ended(self) -> None:
        pass


class SimulatedHardware:
    """The virtual board and a virtual patient, played in real time (times ``speed``).

    ``clock`` is the simulation's time: ``start`` + (monotonic time since
    ``start``) x ``speed``. The daemon uses it as its clock so every timestamp
    it sees and sends is on one time line.
    """

    simulated = True

    def __init__(self, config: Config, *, speed: float = 1.0, seed: int | None = None,
                 profile: str = "healthy", step_s: float = SIM_STEP_S, respond: bool = True,
                 hold_s: float = SIM_HOLD_S, step_up_s: float = STEP_UP_S) -> None:
        from hardware.sim.simulator import Simulation
        if speed <= 0:
            raise HardwareError("--speed must be positive")
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
        self._performing_until = -float("inf")  # the end of a plan started by the patient's own press
        self._pressed_for: str | None = None  # the protocol of that plan, until the trial it armed starts
        self._lock = threading.Lock()  # the simulation is stepped on its thread, told of trials on the loop's
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def clock(self) -> float:
        return self._t0_virtual + (time.monotonic() - self._t0_real) * self.speed

    def start(self, on_record: Callable[[RawRecord], None]) -> None:
        self.sim.on_record = on_record
        self._thread = threading.Thread(target=self._run, name="station-simulator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
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
                self.sim.advance_to(max(self.sim.now, t))
                self.sim.pin_factory.pin(gpio).drive(level, t)
            self.sim.advance_to(target)

    def _press_and_perform(self, when: float, protocol: str, options: dict) -> None:
        # the caller holds the lock
        start = max(when, self.sim.now)
        if protocol not in PATIENT_PRESSES_START and self._start_gpio is not None:
            press = max(start, self.sim.busy_until)
            heapq.heappush(self._script, (press, self._start_gpio, self._closed))
            heapq.heappush(self._script, (press + 0.15, self._start_gpio, 1 - self._closed))
            start = press + 0.4
        plan = self.sim.perform(protocol, options, start_t=start)
        self._performing_until = plan.end_t
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
            if pressed_for == protocol and self.sim.now < self._performing_until:
                return  # the patient pressed start for this trial and is performing it
            # Anything else (a trial the therapist started by command, another protocol
            # than the one stepped up for): the patient performs exactly this trial.
            plan = self.sim.perform(protocol, options)
        log.info("virtual patient: %s starts at %.3f, done by %.3f", protocol, plan.start_t, plan.end_t)

    def trial_ended(self) -> None:
        pass  # the patient finishes what it was doing; the board settles
