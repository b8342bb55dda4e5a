"""Recent raw readings of one load cell: what the technician screen shows of it.

The daemon appends every sample (and notes a cell fault) as it drains its
inbox; ``snapshot`` turns the last second into counts, grams, units and
noise for the ``sensors`` message. Pure: no asyncio, no hardware.
"""
from __future__ import annotations

import collections
import statistics
from dataclasses import dataclass, field

NOISE_WINDOW = 80  # samples kept per cell for noise (one second at 80 Hz)


@dataclass
class CellMonitor:
    """Recent readings of one cell for the technician screen, tare and self-tests."""

    cal_offset: float
    counts_per_gram: float
    unit_g: float
    counts: collections.deque = field(default_factory=lambda: collections.deque(maxlen=NOISE_WINDOW))
    last_t: float | None = None
    fault: str | None = None
    samples: int = 0

    def snapshot(self, count: int | None) -> dict:
        """The cell as the ``sensors`` message shows it; ``count``: the items it holds now."""
        last = self.counts[-1] if self.counts else None
        grams = None if last is None else (last - self.cal_offset) / self.counts_per_gram
        noise = (statistics.pstdev(self.counts) / abs(self.counts_per_gram)) if len(self.counts) > 2 else None
        return {"counts": last, "grams": _r(grams, 3), "units": _r(None if grams is None else grams / self.unit_g, 3),
                "count": count, "noise_g": _r(noise, 4), "fault": self.fault}


def _r(v: float | None, n: int) -> float | None:
    return None if v is None else round(v, n)
