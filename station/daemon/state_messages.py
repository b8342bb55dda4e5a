"""What the daemon tells clients about itself: the ``state`` snapshot and its parts.

docs/api.md describes each shape: the armed trial (``trial``), the running
test (``test``), the board's debounced holes and item counts (``board``),
the station's description (``station``) and the technician screen's raw
``sensors``. Each is a pure function of the daemon's current objects (and
``now``); the daemon composes them (``Daemon.state_snapshot``). Their shapes
are the ``TypedDict``s below.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from station.protocols import PROTOCOLS

if TYPE_CHECKING:
    from station.administration import TestSession
    from station.board_spec import BoardSpec
    from station.config import CellConfig, Config
    from station.daemon.cell_monitor import CellMonitor
    from station.daemon.trial_control import LiveTrial
    from station.pipeline import Pipeline
    from station.record_types import Patient, PlanDict, SummaryRecord


class TrialSnapshot(TypedDict):
    """The armed trial (``state.trial``)."""

    trial_id: int
    test_id: int | str | None
    protocol: str
    options: dict[str, Any]
    hand: str
    side: str | None
    practice: bool
    k: int | None
    n: int | None
    index: int | None
    repeat_of: int | str | None
    started_by: str  # button | command
    status: str  # waiting | running
    started_at: float  # when it was armed (the daemon's clock)
    elapsed_s: float
    countdown_s: float | None
    counts: dict[str, int]


class RunningTestTrial(TypedDict):
    """One recorded trial of the running test (``state.test.trials``)."""

    trial_id: int | str
    k: int
    hand: str
    side: str | None
    index: int
    practice: bool
    repeat_of: int | str | None
    status: str | None
    total_s: float | None
    valid: bool
    invalid_reason: str | None
    invalid: dict[str, Any] | None


class NextTrial(TypedDict):
    """The trial the start button runs next (``state.test.next``)."""

    k: int
    n: int
    hand: str
    index: int
    practice: bool
    repeat_of: int | str | None
    side: str | None


class RunningTestSnapshot(TypedDict):
    """The running test (``state.test``)."""

    test_id: int | str | None
    protocol: str
    options: dict[str, Any]
    plan: PlanDict
    status: str  # in_progress | complete | ended
    ended_reason: str | None
    date: str | None
    trials: list[RunningTestTrial]
    next: NextTrial | None
    summary: SummaryRecord | None


class BoardSnapshot(TypedDict):
    """The board now, debounced (``state.board``)."""

    occupied: list[int]  # holes (1-based) holding a peg
    counts: dict[str, int]


class StationSnapshot(TypedDict):
    """The station itself (``state.station``)."""

    name: str
    simulated: bool
    holes: int
    buttons: list[str]
    cells: dict[str, dict[str, Any]]  # {"unit_g", "items"}
    protocols: dict[str, dict[str, Any]]  # {"description", "options"}
    staff_pins: NotRequired[dict[str, bool]]  # the daemon's: which staff screens can open at all
    storage: NotRequired[str]  # the daemon's: "ok" or "full"


class ClockPair(TypedDict):
    """The daemon's clock and the wall clock at one moment (event times are on the former)."""

    monotonic: float
    wall: float


class StateSnapshot(TypedDict):
    """The ``state`` snapshot (docs/api.md): sent in ``hello``, ``state`` messages and replies."""

    station: StationSnapshot
    patient: dict[str, Any] | None
    test: RunningTestSnapshot | None
    trial: TrialSnapshot | None
    board: BoardSnapshot
    clock: ClockPair
    fhir: NotRequired[dict[str, Any] | None]  # delivery to the clinic's FHIR server; None: not configured


class SwitchReading(TypedDict):
    """One switch on the technician screen: its last raw level and its debounced state."""

    name: str
    gpio: int
    raw: int | None
    closed: bool


class SensorsSnapshot(TypedDict):
    """The ``sensors`` message's body (the technician screen)."""

    t: float
    switches: list[SwitchReading]
    cells: dict[str, dict[str, Any]]  # ``CellMonitor.snapshot``


def patient_out(p: Patient | None) -> dict[str, Any] | None:
    """A stored patient as the API sends it (the store's shape; a copy)."""
    return None if p is None else dict(p)


def trial_snapshot(live: LiveTrial | None, now: float) -> TrialSnapshot | None:
    """The armed trial (None: none): its place in the test, status, elapsed time, count-down, counts."""
    if live is None:
        return None
    proto = live.trial.protocol
    elapsed = proto.elapsed(now)
    limit = proto.opts.get("duration_s") or proto.opts.get("cutoff_s")
    countdown = None if limit is None else max(0.0, float(limit) - elapsed)
    m = live.meta
    return {"trial_id": live.journal.trial_id, "test_id": m["test_id"], "protocol": m["protocol"],
            "options": m["options"], "hand": m["hand"], "side": m["side"], "practice": m["practice"],
            "k": m["k"], "n": m["n"], "index": m["index"], "repeat_of": m["repeat_of"],
            "started_by": m["started_by"], "status": "running" if proto.started else "waiting",
            "started_at": live.armed_t, "elapsed_s": round(elapsed, 3),
            "countdown_s": None if countdown is None else round(countdown, 3),
            "counts": {n: c.count for n, c in live.trial.pipeline.cells.items()}}


def test_snapshot(s: TestSession | None, summary: SummaryRecord | None,
                  side: Callable[[str | None], str | None]) -> RunningTestSnapshot | None:
    """The running test (None: none): its trials so far, the next one and the scored summary.
    ``side``: which side a hand (dominant, left...) is for the selected patient."""
    if s is None:
        return None
    done = len(s.trials)
    slot = s.next_trial()
    trials: list[RunningTestTrial] = []
    for k, e in enumerate(s.trials, 1):
        r = e["result"]
        trials.append({"trial_id": e["trial_id"], "k": k, "hand": e["hand"], "side": side(e["hand"]),
                       "index": e["index"], "practice": e["practice"], "repeat_of": e["repeat_of"],
                       "status": r.get("status"), "total_s": r.get("total_s"), "valid": e["valid"],
                       "invalid_reason": e["invalid_reason"],
                       "invalid": None if e["valid"] else {"reason": e["invalid_reason"]}})
    nxt: NextTrial | None = None
    if slot is not None:
        nxt = {"k": done + 1, "n": done + len(s.queue), **slot.to_dict(), "side": side(slot.hand)}
    return {"test_id": s.test_id, "protocol": s.plan.protocol, "options": dict(s.plan.options),
            "plan": s.plan.to_dict(), "status": s.status, "ended_reason": s.ended_reason, "date": s.date,
            "trials": trials, "next": nxt, "summary": summary}


def board_snapshot(board: BoardSpec, pipe: Pipeline) -> BoardSnapshot:
    """Which holes hold a peg (debounced) and the items on each cell, now."""
    return {"occupied": [i for i in range(1, len(board.holes) + 1) if pipe.switch_closed(i)],
            "counts": {n: c.count for n, c in pipe.cells.items()}}


def station_snapshot(config: Config, cells: dict[str, CellConfig], board: BoardSpec,
                     simulated: bool) -> StationSnapshot:
    """The station itself: its name, holes, buttons, cells and the protocols it runs."""
    return {"name": config.name, "simulated": simulated,
            "holes": len(board.holes), "buttons": sorted(board.buttons),
            "cells": {n: {"unit_g": c.unit_g, "items": c.items} for n, c in cells.items()},
            "protocols": {n: {"description": p.description, "options": dict(p.options)}
                          for n, p in PROTOCOLS.items()}}


def sensors_snapshot(board: BoardSpec, pipe: Pipeline, levels: dict[int, int],
                     monitors: dict[str, CellMonitor], now: float) -> SensorsSnapshot:
    """The technician screen's view: every switch raw and debounced, every cell's readings."""
    switches: list[SwitchReading] = []
    for i, g in enumerate(board.holes, 1):
        switches.append({"name": f"hole {i}", "gpio": g, "raw": levels.get(g),
                         "closed": pipe.switch_closed(i)})
    for name, g in board.buttons.items():
        switches.append({"name": f"button {name}", "gpio": g, "raw": levels.get(g),
                         "closed": pipe.switch_closed(name)})
    cells = {n: m.snapshot(pipe.cells[n].count if n in pipe.cells else None) for n, m in monitors.items()}
    return {"t": now, "switches": switches, "cells": cells}
