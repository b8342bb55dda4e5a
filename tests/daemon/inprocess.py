"""The daemon in this process, on simulated hardware, with pins a test can drive.

``async with InProcessDaemon(tmp_path) as d:`` runs ``Daemon.run`` on the
test's event loop (real time); ``d.drive(gpio, level)`` makes an edge on the
simulated pin now, below the real switch driver, as ui_latency.py does.
``respond=False``: no virtual patient, only the test's edges.

Nothing here sleeps: the daemon takes every record in one of its ticks, so
``until(predicate)`` looks again after each tick (``press``, ``seat`` and
``elapse`` are built on it). A slow machine makes a wait longer, never a
test pass without the daemon having done what it waits for.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from hardware.sim.hardware import SimulatedHardware
from station.config import load_config
from station.daemon.service import Daemon
from station.staff_pins import pin_file_path
from tests.support import write_staff_pins

LIMIT_S = 30.0  # only stops a broken test from hanging; nothing here asserts speed


class InProcessDaemon:
    def __init__(self, tmp: Path, *, config_path: str | os.PathLike | None = None, respond: bool = False,
                 seed: int = 1, speed: float = 1.0, socket: str | os.PathLike | None = None,
                 data_dir: Path | None = None) -> None:
        self.config = load_config(config_path)
        self.hw = SimulatedHardware(self.config, seed=seed, respond=respond, speed=speed)
        self.socket = str(socket) if socket is not None else str(tmp / "run" / "station.sock")
        data_dir = data_dir if data_dir is not None else tmp / "data"
        write_staff_pins(pin_file_path(config_path, data_dir))  # tests.support.STAFF_PINS
        self.daemon = Daemon(self.config, data_dir, self.socket, self.hw, config_path=config_path)
        self.closed = 0 if self.config.active_low else 1
        self._task: asyncio.Task | None = None
        self._ticked = asyncio.Event()
        self.ticks = 0  # the daemon's ticks so far, failed ones too (``ticks_pass`` waits on it)
        daemon_tick = self.daemon.tick

        def tick(now: float) -> None:  # every tick of the daemon wakes whoever waits on it
            try:
                daemon_tick(now)
            finally:  # a tick that raised (a full disk) was still a tick
                self.ticks += 1
                self._ticked.set()
        self.daemon.tick = tick  # type: ignore[method-assign]

    async def __aenter__(self) -> InProcessDaemon:
        self._task = asyncio.create_task(self.daemon.run())
        started = self.hw.clock()
        settle_s = self.config.board().settle_ms / 1000.0
        # Listening, every cell read, and the board's first settle behind it (its switches known).
        await self.until(lambda: self.daemon.server.path is not None
                         and all(m.samples for m in self.daemon.monitors.values())
                         and self.hw.complete_to() > started + settle_s, "serving with the board settled")
        return self

    async def __aexit__(self, *exc) -> None:
        self.daemon.stop()
        assert self._task is not None
        await asyncio.wait_for(self._task, LIMIT_S)

    async def until(self, predicate: Callable[[], object], what: str, limit_s: float = LIMIT_S) -> None:
        """Until ``predicate()`` holds, looked at after each of the daemon's ticks."""
        assert self._task is not None
        loop = asyncio.get_running_loop()
        end = loop.time() + limit_s
        while not predicate():
            if self._task.done():
                self._task.result()  # the daemon failed: its error, not a timeout
                raise AssertionError(f"the daemon stopped before {what}")
            self._ticked.clear()
            tick = asyncio.ensure_future(self._ticked.wait())
            done, _ = await asyncio.wait({tick, self._task}, timeout=max(0.0, end - loop.time()),
                                         return_when=asyncio.FIRST_COMPLETED)
            tick.cancel()
            if not done:
                raise AssertionError(f"the daemon never got to {what}; it was at {self._where()}")

    def _where(self) -> str:
        """What the daemon shows now, for a failed wait's message."""
        now = self.daemon.clock()
        state = self.daemon.state_snapshot(now)
        switches = {s["name"]: s["closed"] for s in self.daemon.sensors_snapshot(now)["switches"]}
        return (f"clock {now:.3f}, hardware complete to {self.hw.complete_to():.3f}, "
                f"trial {state['trial']}, board {state['board']}, switches {switches}")

    async def ticks_pass(self, n: int) -> None:
        """Until the daemon has ticked ``n`` more times (so "X did not happen again" has been
        given ``n`` chances to happen, however slow the machine)."""
        end = self.ticks + n
        await self.until(lambda: self.ticks >= end, f"{n} more ticks")

    async def elapse(self, seconds: float) -> float:
        """Until ``seconds`` have passed on the daemon's clock (and it has ticked since); returns now."""
        end = self.daemon.clock() + seconds
        await self.until(lambda: self.hw.complete_to() >= end, f"{seconds} s on its clock")
        return self.daemon.clock()

    def switch_closed(self, name: str) -> bool | None:
        """The daemon's debounced view of switch ``name`` ("hole 3", "button start")."""
        for sw in self.daemon.sensors_snapshot(self.daemon.clock())["switches"]:
            if sw["name"] == name:
                return sw["closed"]
        raise KeyError(name)

    def drive(self, gpio: int, level: int) -> float:
        """An edge on ``gpio`` now, stamped now (as the kernel stamps it); returns its time."""
        return self.hw.drive_switch(gpio, level)

    async def seat(self, hole: int, seated: bool = True) -> float:
        """A peg seated in (or lifted from) ``hole`` now; returns once the daemon has confirmed it."""
        t = self.drive(self.config.holes[hole - 1], self.closed if seated else 1 - self.closed)
        await self.until(lambda: self.switch_closed(f"hole {hole}") == seated,
                         f"hole {hole} {'closed' if seated else 'open'}")
        return t

    async def press(self, button: str = "start") -> float:
        """Press ``button``, held until the daemon has confirmed it, then release it (also confirmed).
        Returns the press edge's time."""
        gpio = self.config.buttons[button]
        name = f"button {button}"
        t = self.drive(gpio, self.closed)
        await self.until(lambda: self.hw.complete_to() > t and self.switch_closed(name), f"{name} pressed")
        released = self.drive(gpio, 1 - self.closed)
        await self.until(lambda: self.hw.complete_to() > released and not self.switch_closed(name),
                         f"{name} released")
        return t

    def count(self, cell: str = "dish") -> int:
        """The items the daemon counts on ``cell`` now."""
        return self.daemon.state_snapshot()["board"]["counts"][cell]

    async def move_items(self, delta: int, cell: str = "dish") -> None:
        """``delta`` items leave (-) or land on (+) ``cell``; returns once the daemon counts them."""
        want = self.count(cell) + delta
        self.move_dish(delta, cell)
        await self.until(lambda: self.count(cell) == want, f"{want} on the {cell}")

    def move_dish(self, delta: int, cell: str = "dish") -> None:
        """``delta`` items leave (-) or land on (+) ``cell`` now: a step in the load under its HX711."""
        self.hw.step_load(cell, delta)
