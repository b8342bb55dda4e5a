"""What the pipeline knows of a station: its switches, buttons and load cells.

The same shape is the ``station`` object of a trace header, so a trace carries
everything needed to re-score it. Built from station.toml (``station.config``)
or from a trace header (``BoardSpec.from_header``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from station.errors import UserError
from station.loadcell import Calibration


class SpecError(UserError, ValueError):
    """A board description is malformed; the message names the key."""


@dataclass(frozen=True, slots=True)
class CellSpec:
    """One load cell: its calibration and how many items it holds at the start."""

    name: str
    calibration: Calibration
    units_at_start: int = 0


@dataclass(frozen=True)
class BoardSpec:
    """Pins and cells of a station, as the pipeline sees them."""

    holes: tuple[int, ...]
    buttons: dict[str, int] = field(default_factory=dict)
    active_low: bool = True
    settle_ms: float = 10.0
    cells: dict[str, CellSpec] = field(default_factory=dict)

    @property
    def closed_level(self) -> int:
        """The level a closed switch reads (a seated peg, a pressed button)."""
        return 0 if self.active_low else 1

    @property
    def open_level(self) -> int:
        return 1 - self.closed_level

    def to_header(self) -> dict:
        """The ``station`` object of a trace header."""
        return {
            "holes": list(self.holes),
            "buttons": dict(self.buttons),
            "active_low": self.active_low,
            "settle_ms": self.settle_ms,
            "cells": {
                name: {
                    "offset": c.calibration.offset,
                    "counts_per_gram": c.calibration.counts_per_gram,
                    "unit_g": c.calibration.unit_g,
                    "sample_hz": c.calibration.sample_hz,
                    "units_at_start": c.units_at_start,
                }
                for name, c in self.cells.items()
            },
        }

    def with_counts(self, counts: dict[str, int]) -> BoardSpec:
        """The same board with the cells' starting item counts replaced."""
        cells = {
            n: CellSpec(n, c.calibration, counts.get(n, c.units_at_start)) for n, c in self.cells.items()
        }
        return BoardSpec(self.holes, dict(self.buttons), self.active_low, self.settle_ms, cells)

    @classmethod
    def from_header(cls, station: object) -> BoardSpec:
        """Validate a trace header's ``station`` object. Raises SpecError naming the key."""
        if not isinstance(station, dict):
            raise SpecError("header 'station' must be an object")
        holes = station.get("holes")
        if not isinstance(holes, list) or not holes or not all(_is_int(h) for h in holes):
            raise SpecError("header 'station.holes' must be a non-empty list of GPIO numbers")
        buttons = station.get("buttons", {})
        if not isinstance(buttons, dict) or not all(
            isinstance(k, str) and _is_int(v) for k, v in buttons.items()
        ):
            raise SpecError("header 'station.buttons' must map names to GPIO numbers")
        pins = list(holes) + list(buttons.values())
        if len(set(pins)) != len(pins):
            raise SpecError("header 'station' uses a GPIO for two switches")
        active_low = station.get("active_low", True)
        if not isinstance(active_low, bool):
            raise SpecError("header 'station.active_low' must be true or false")
        settle = station.get("settle_ms", 10)
        if not _is_num(settle) or settle <= 0:
            raise SpecError("header 'station.settle_ms' must be a positive number")
        cells_in = station.get("cells", {})
        if not isinstance(cells_in, dict):
            raise SpecError("header 'station.cells' must be an object")
        cells = {}
        for name, c in cells_in.items():
            where = f"header 'station.cells.{name}"
            if not isinstance(c, dict):
                raise SpecError(f"{where}' must be an object")
            for key in ("offset", "counts_per_gram", "unit_g"):
                if not _is_num(c.get(key)):
                    raise SpecError(f"{where}.{key}' must be a number")
            if c["counts_per_gram"] == 0 or c["unit_g"] <= 0:
                raise SpecError(f"{where}': counts_per_gram must be non-zero and unit_g positive")
            hz = c.get("sample_hz", 80)
            if not _is_num(hz) or hz <= 0:
                raise SpecError(f"{where}.sample_hz' must be a positive number")
            n0 = c.get("units_at_start", 0)
            if not _is_int(n0) or n0 < 0:
                raise SpecError(f"{where}.units_at_start' must be a whole number >= 0")
            cal = Calibration(float(c["offset"]), float(c["counts_per_gram"]), float(c["unit_g"]), float(hz))
            cells[name] = CellSpec(name, cal, int(n0))
        return cls(tuple(int(h) for h in holes), {k: int(v) for k, v in buttons.items()},
                   active_low, float(settle), cells)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
