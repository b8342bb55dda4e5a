"""The daemon in this process, on simulated hardware, with pins a test can drive.

``async with InProcessDaemon(tmp_path) as d:`` runs ``Daemon.run`` on the
test's event loop (real time); ``d.drive(gpio, level)`` makes an edge on the
simulated pin now, below the real switch driver, as ui_latency.py does.
``respond=False``: no virtual patient, only the test's edges.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

from hardware.daemon_io import SimulatedHardware
from station.config import load_config
from station.daemon.service import Daemon
from station.staff_pins import pin_file_path
from tests.support import write_staff_pins


class InProcessDaemon:
    def __init__(self, tmp: Path, *, config_path: str | os.PathLike | None = None, respond: bool = False,
                 seed: int = 1, speed: float = 1.0, data_dir: Path | None = None) -> None:
        self.config = load_config(config_path)
        self.hw = SimulatedHardware(self.config, seed=seed, respond=respond, speed=speed)
        self.socket = str(tmp / "run" / "station.sock")
        data_dir = data_dir if data_dir is not None else tmp / "data"
        write_staff_pins(pin_file_path(config_path, data_dir))  # tests.support.STAFF_PINS
        self.daemon = Daemon(self.config, data_dir, self.socket, self.hw, config_path=config_path)
        self.closed = 0 if self.config.active_low else 1
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> InProcessDaemon:
        self._task = asyncio.create_task(self.daemon.run())
        for _ in range(400):
            if os.path.exists(self.socket):
                break
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # some samples and the first settle
        return self

    async def __aexit__(self, *exc) -> None:
        self.daemon.stop()
        await asyncio.wait_for(self._task, 10)

    def drive(self, gpio: int, level: int) -> float:
        """An edge on ``gpio`` now, stamped now (as the kernel stamps it); returns its time."""
        hw = self.hw
        with hw._lock:
            t = max(hw.sim.now, hw.clock())
            hw.sim.advance_to(t)
            hw.sim.pin_factory.pin(gpio).drive(level, t)
        return t

    async def press(self, button: str = "start", hold_s: float = 0.12) -> float:
        """Press and release a button; returns the press edge's time."""
        gpio = self.config.buttons[button]
        t = self.drive(gpio, self.closed)
        await asyncio.sleep(hold_s)
        self.drive(gpio, 1 - self.closed)
        return t
