"""Tare and calibrate a load cell from the technician screen (the ``tare``/``calibrate`` commands).

A few seconds of raw readings (``SensorWaiters.collect``) give the empty
cell's offset, or with a known mass on it the counts per gram. The result is
written into the station.toml the daemon was started with
(``station.config_write``: one atomic write, on the records thread) and only
then used: the board is rebuilt with it, the counts kept. Calibration is
either saved and applied or refused with the reason.
"""
from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from station import api
from station.api import ApiError
from station.config import CellConfig, Config
from station.config_write import ConfigWriteError, update_config
from station.daemon.between_trials import BetweenTrials
from station.daemon.cell_monitor import CellMonitor
from station.daemon.records_thread import RecordsThread
from station.daemon.sensor_waiters import SensorWaiters

log = logging.getLogger("station.daemon")  # the service's log name, whichever part says it

#: The known masses ``calibrate`` takes (grams): a coin or a peg at least, a kilogram weight at most.
MIN_MASS_G = 0.5
MAX_MASS_G = 5000.0


class Calibration:
    """The cells' calibration in use (``cells``), and the tare and calibrate commands.

    ``config_path``: where to save (None: the shipped default, which is not the
    station's to change, so calibration cannot be saved); ``trial_running()``:
    calibration waits for the trial to end.
    """

    def __init__(self, *, config: Config, config_path: Path | None, board: BetweenTrials,
                 monitors: dict[str, CellMonitor], waiters: SensorWaiters, records: RecordsThread,
                 trial_running: Callable[[], bool]) -> None:
        self.config = config
        self.config_path = config_path
        self.cells: dict[str, CellConfig] = dict(config.cells)
        self.board = board
        self.monitors = monitors
        self.waiters = waiters
        self.records = records
        self._trial_running = trial_running

    async def tare(self, cell: str) -> dict:
        """The empty cell's offset, saved and used; the ``tare`` command's result."""
        cfg = self._check_cell(cell)
        self.board.trials_held = f"cell {cell} is being tared"
        try:
            samples = await self.waiters.collect(cell, max(5, cfg.sample_hz), 3.0)
            offset = float(statistics.fmean(samples))
            await self._save(cell, offset, cfg.counts_per_gram)
        finally:
            self.board.trials_held = None
        log.info("cell %s tared: offset %.1f (saved to %s)", cell, offset, self.config_path)
        return {"cell": cell, "offset": self.cells[cell].offset, "saved_to": str(self.config_path)}

    async def calibrate(self, cell: str, mass_g: float) -> dict:
        """Counts per gram from ``mass_g`` on the tared cell, saved and used; the command's result."""
        if not MIN_MASS_G <= mass_g <= MAX_MASS_G:
            raise ApiError(api.BAD_VALUE, f"calibrate: 'mass_g' must be between {MIN_MASS_G:g} and "
                                          f"{MAX_MASS_G:g} grams, not {mass_g:g}")
        cfg = self._check_cell(cell)
        self.board.trials_held = f"cell {cell} is being calibrated"
        try:
            samples = await self.waiters.collect(cell, max(5, cfg.sample_hz), 3.0)
            delta = statistics.fmean(samples) - self.cells[cell].offset
            if abs(delta) < 100:
                raise ApiError(api.HARDWARE, f"cell {cell!r} barely changed with {mass_g} g on it "
                                             "(is the mass on the cell? tare it empty first)")
            cpg = delta / mass_g
            await self._save(cell, self.cells[cell].offset, cpg)
        finally:
            self.board.trials_held = None
        log.info("cell %s calibrated: %.3f counts per gram (saved to %s)", cell, cpg, self.config_path)
        return {"cell": cell, "counts_per_gram": self.cells[cell].counts_per_gram,
                "saved_to": str(self.config_path)}

    def _check_cell(self, cell: str) -> CellConfig:
        if cell not in self.cells:
            raise ApiError(api.BAD_VALUE, f"no cell {cell!r} (cells: {', '.join(self.cells) or 'none'})")
        if self._trial_running():
            raise ApiError(api.BUSY, "a trial is running; calibrate between trials")
        if self.board.trials_held:
            raise ApiError(api.BUSY, f"{self.board.trials_held}; wait for it")
        return self.cells[cell]

    async def _save(self, cell: str, offset: float, counts_per_gram: float) -> None:
        """Write the cell's calibration into the station.toml the daemon was started with, then use it.

        Nothing changes (in the file or in use) unless the file was written.
        """
        if self.config_path is None:
            raise ApiError(api.BAD_VALUE, "the daemon runs on the shipped default configuration (no --config): "
                                          "there is no station.toml to save the calibration to; start it with "
                                          "--config /etc/station/station.toml")
        values = {("cells", cell, "offset"): round(offset, 1),
                  ("cells", cell, "counts_per_gram"): round(counts_per_gram, 4)}
        async with self.records.lock:  # the records thread also does the config's fsyncs, one at a time
            try:
                await self.records.call(update_config, self.config_path, values)
            except ConfigWriteError as e:
                raise ApiError(api.HARDWARE, f"the calibration was not saved: {e}") from None
        self._use(cell, round(offset, 1), round(counts_per_gram, 4))

    def _use(self, name: str, offset: float, counts_per_gram: float) -> None:
        c = self.cells[name]
        self.cells[name] = replace(c, offset=offset, counts_per_gram=counts_per_gram)
        cfg = replace(self.config, cells=dict(self.cells))
        self.board.reset(self.board.counts(), board=cfg.board())
        m = self.monitors[name]
        m.cal_offset, m.counts_per_gram = offset, counts_per_gram
