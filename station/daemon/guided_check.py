"""The technician screen's self-test, one step at a time (the ``self_test`` command).

Steps: every switch open (an empty board), each cell answering at its rate
with small noise, each button pressed within 10 s. Unlike ``station
selftest`` (``station.build_check``: the pins opened by itself, with the daemon
stopped), these run inside the daemon on the readings it already takes.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Protocol

from station import api
from station.api import ApiError
from station.config import CellConfig
from station.daemon.between_trials import BetweenTrials
from station.daemon.sensor_waiters import SensorWaiters
from station.daemon.state_messages import SwitchReading

PRESS_WAIT_S = 10.0


class CellsInUse(Protocol):
    """What holds the cells' calibration in use (``station.daemon.calibration.Calibration``)."""

    cells: dict[str, CellConfig]


class GuidedCheck:
    """``steps()`` lists the steps; ``run(step)`` runs one. ``calibration``: the cells'
    calibration in use (``cells``); ``switches(now)``: the sensors snapshot's switches."""

    def __init__(self, *, board: BetweenTrials, calibration: CellsInUse, waiters: SensorWaiters,
                 clock: Callable[[], float], switches: Callable[[float], list[SwitchReading]]) -> None:
        self.board = board
        self.calibration = calibration
        self.waiters = waiters
        self.clock = clock
        self._switches = switches

    def steps(self) -> list[str]:
        return ["switches", *(f"cell:{n}" for n in self.calibration.cells),
                *(f"button:{n}" for n in self.board.board.buttons)]

    async def run(self, step: str) -> dict:
        """One step's ``{"step", "ok", "detail", "data"}``; ApiError for an unknown step."""
        steps = self.steps()
        if step not in steps:
            raise ApiError(api.BAD_VALUE, f"self_test: unknown step {step!r} (steps: {', '.join(steps)})")
        if step == "switches":
            snap = self._switches(self.clock())
            closed = [s["name"] for s in snap if s["raw"] == self.board.board.closed_level]
            return {"step": step, "ok": not closed,
                    "detail": "every switch is open" if not closed else f"closed: {', '.join(closed)} "
                              "(empty the board; a switch closed with nothing in it is stuck or shorted)",
                    "data": {"switches": snap}}
        kind, name = step.split(":", 1)
        if kind == "cell":
            cfg = self.calibration.cells[name]
            t0 = self.clock()
            try:
                samples = await self.waiters.collect(name, cfg.sample_hz, 2.0)
            except ApiError as e:
                return {"step": step, "ok": False, "detail": e.message, "data": {}}
            rate = len(samples) / max(1e-6, self.clock() - t0)
            noise_g = statistics.pstdev(samples) / abs(cfg.counts_per_gram)
            ok = noise_g < cfg.unit_g / 3 and rate > cfg.sample_hz * 0.5
            detail = (f"{rate:.0f} readings/s, noise {noise_g:.3f} g"
                      + ("" if ok else f" (want about {cfg.sample_hz}/s and noise under {cfg.unit_g / 3:.2f} g)"))
            return {"step": step, "ok": ok, "detail": detail,
                    "data": {"rate_hz": rate, "noise_g": noise_g, "mean_counts": statistics.fmean(samples)}}
        try:
            t = await self.waiters.press(name, PRESS_WAIT_S)
            return {"step": step, "ok": True, "detail": f"button {name} pressed", "data": {"t": t}}
        except TimeoutError:
            return {"step": step, "ok": False, "detail": f"no press of button {name} within 10 s", "data": {}}
