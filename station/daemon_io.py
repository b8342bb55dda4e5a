"""The daemon's hardware: the Pi's pins, or the virtual board in real time.

Both deliver raw records through the same ``hardware.station_io.StationIO``
(switch edges + HX711 readers + time-order merging); they differ only below
the drivers. ``LiveHardware`` opens gpiozero's default pin factory (lgpio)
and RPi.GPIO (or the rpi-lgpio shim on a Pi 5). ``SimulatedHardware`` runs
``hardware.simulator.Simulation`` (fake pins and HX711 chips under the real
drivers, a virtual patient) on a thread that keeps its virtual clock in step
with the real one (times ``speed``: tests run faster than real time), and
starts the patient on each trial the daemon arms.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from .config import Config
from .errors import UserError
from .events import RawRecord

log = logging.getLogger("station.hardware")


class HardwareError(UserError):
    """The station's hardware cannot be opened (not a Pi, missing GPIO library...)."""


class LiveHardware:
    """The real station on a Raspberry Pi."""

    simulated = False

    def __init__(self, config: Config) -> None:
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
        self.io = StationIO(config, factory, gpio, on_record=lambda rec: None)
        self.clock = time.monotonic

    def start(self, on_record: Callable[[RawRecord], None]) -> None:
        self.io.on_record = on_record
        self.io.start()

    def complete_to(self) -> float:
        return self.io.complete_to

    def stop(self) -> None:
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
                 profile: str = "healthy", step_s: float = 0.02, respond: bool = True) -> None:
        from hardware.simulator import Simulation
        if speed <= 0:
            raise HardwareError("--speed must be positive")
        self.speed = speed
        self.step_s = step_s
        self.respond = respond
        self._t0_real = time.monotonic()
        self.sim = Simulation(config, seed=seed if seed is not None else int(self._t0_real * 1000) % 2**31,
                              profile=profile, start_t=self._t0_real)
        self._t0_virtual = self.sim.now
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
                with self._lock:
                    self.sim.advance_to(max(self.sim.now, self.clock()))
        except BaseException as e:  # a bug in the simulator: say so, stop feeding
            self.error = e
            log.exception("the simulated board stopped")

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
            plan = self.sim.perform(protocol, options)
        log.info("virtual patient: %s starts at %.3f, done by %.3f", protocol, plan.start_t, plan.end_t)

    def trial_ended(self) -> None:
        pass  # the patient finishes what it was doing; the board settles
