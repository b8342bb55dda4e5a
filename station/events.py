"""The one event model, from the sensor pipeline to the screen.

Two layers:

* raw records (``Edge``, ``Sample``, ``CellFault``): what the hardware layer
  reports and what a trace stores, one per pin edge or load-cell reading;
* events (``ButtonPress``, ``PegIn``, ``PegOut``, ``CellCount``) and
  ``Fault``: what the pipeline accepts after debouncing and step detection.

Every ``t`` is seconds on one monotonic clock. All are small frozen
dataclasses; ``to_dict`` gives the JSON shape of docs/trace-v1.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

# --- raw records -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Edge:
    """A pin changed level. ``t`` is the pin factory's tick for the edge."""

    t: float
    gpio: int
    level: int

    def to_dict(self) -> dict:
        return {"t": self.t, "gpio": self.gpio, "level": self.level}


@dataclass(frozen=True, slots=True)
class Sample:
    """One HX711 reading (signed 24-bit counts) taken at ``t``."""

    t: float
    cell: str
    counts: int

    def to_dict(self) -> dict:
        return {"t": self.t, "cell": self.cell, "counts": self.counts}


@dataclass(frozen=True, slots=True)
class CellFault:
    """The driver could not get a reading (no data-ready, pulses ran long...).

    Stored in traces as ``{"t", "cell", "fault"}``: an extension of trace v1
    that other readers report as a malformed record, which is still a fault.
    """

    t: float
    cell: str
    detail: str

    def to_dict(self) -> dict:
        return {"t": self.t, "cell": self.cell, "fault": self.detail}


RawRecord = Edge | Sample | CellFault

# --- accepted events --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """A push button was pressed (reported on press only)."""

    t: float
    name: str
    kind: ClassVar[str] = "button"

    def to_dict(self) -> dict:
        return {"t": self.t, "kind": "button", "name": self.name}


@dataclass(frozen=True, slots=True)
class PegIn:
    """A hole's switch closed: a peg was seated. ``hole`` is 1-based."""

    t: float
    hole: int
    kind: ClassVar[str] = "peg_in"

    def to_dict(self) -> dict:
        return {"t": self.t, "kind": "peg_in", "hole": self.hole}


@dataclass(frozen=True, slots=True)
class PegOut:
    """A hole's switch opened: a peg was removed. ``hole`` is 1-based."""

    t: float
    hole: int
    kind: ClassVar[str] = "peg_out"

    def to_dict(self) -> dict:
        return {"t": self.t, "kind": "peg_out", "hole": self.hole}


@dataclass(frozen=True, slots=True)
class CellCount:
    """A load cell's item count changed to ``count`` (pegs in the dish, coins on the tray)."""

    t: float
    cell: str
    count: int

    @property
    def kind(self) -> str:
        return self.cell

    def to_dict(self) -> dict:
        return {"t": self.t, "kind": self.cell, "count": self.count}


Event = ButtonPress | PegIn | PegOut | CellCount


@dataclass(frozen=True, slots=True)
class Fault:
    """Something the station could not trust: ``chatter``, ``sensor`` or ``record``.

    ``t`` is None for a malformed trace line before any good record (it has no time of its own)."""

    t: float | None
    kind: str
    source: str
    detail: str

    def to_dict(self) -> dict:
        return {"t": self.t, "kind": self.kind, "source": self.source, "detail": self.detail}
