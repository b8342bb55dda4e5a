"""The board as the daemon sees it between trials.

Every raw switch level (trial or not: the technician screen shows them);
between trials a ``Pipeline`` keeps the debounced switches and the item
counts current, the pre-roll (``station.daemon.preroll``) keeps the last second of
raw records for a trial the start button arms, and the recent count changes
let that trial start with the counts as they were at its first record. A
trial takes the counts when it is armed and gives them back when it ends
(``reset``). Pure: no asyncio; time comes with the records.
"""
from __future__ import annotations

import collections

from station.board_spec import BoardSpec
from station.daemon.preroll import Preroll
from station.events import CellCount
from station.pipeline import Pipeline


class BetweenTrials:
    """The board spec, raw switch levels, the between-trials pipeline, pre-roll and count history."""

    def __init__(self, board: BoardSpec) -> None:
        self.board = board
        self.pipeline = Pipeline(board)  # between trials: keeps counts and switch states current
        self.levels: dict[int, int] = {g: board.open_level for g in (*board.holes, *board.buttons.values())}
        self.preroll = Preroll(self.levels, board.open_level, set(board.buttons.values()))
        self._board_counts = {n: c.units_at_start for n, c in board.cells.items()}
        self._count_changes: collections.deque[tuple[float, str, int]] = collections.deque(maxlen=64)
        #: why no trial may be armed now (a cell being tared or calibrated), or None
        self.trials_held: str | None = None

    def counts(self) -> dict[str, int]:
        """The items on each cell now (between trials)."""
        return {n: c.count for n, c in self.pipeline.cells.items()}

    def count_changed(self, ev: CellCount) -> None:
        """Remember a between-trials count change (``counts_at`` can undo it)."""
        self._count_changes.append((ev.t, ev.cell, self._board_counts.get(ev.cell, ev.count)))
        self._board_counts[ev.cell] = ev.count

    def counts_at(self, t0: float) -> dict[str, int]:
        """The between-trials item counts as they were at ``t0`` (recent changes undone)."""
        counts = self.counts()
        for t, cell, before in reversed(self._count_changes):
            if t <= t0:
                break
            counts[cell] = before
        return counts

    def reset(self, counts: dict[str, int], board: BoardSpec | None = None) -> None:
        """A fresh between-trials pipeline with these counts (after a trial, or on a new
        calibration's ``board``), its switches as the pins are now (a peg left in stays seen)."""
        if board is not None:
            self.board = board
        board = self.board.with_counts(counts)
        self.pipeline = Pipeline(board, levels=self.levels)
        self._board_counts = {n: c.units_at_start for n, c in board.cells.items()}
        self._count_changes.clear()
        self.preroll.clear(self.levels)
