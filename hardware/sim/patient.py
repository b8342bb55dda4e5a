"""A virtual patient: what a person does at the station, as physical signals plus ground truth.

``Patient.perform`` plans one protocol as a person would do it, starting at a
given time: raw switch edges (with contact bounce and the odd glitch) and the
load on each cell (items, a finger pressing before a lift, impact spikes, a
hand resting on the tray). Alongside it keeps the ground truth: the events a
correct station reports (trace-v1 output shape) and the true result, worked
out from what the patient did, not by the station's own scoring code.

Pure: no pins, no clock; randomness from the ``random.Random`` it is given,
so a seed makes a run reproducible. ``hardware.sim.simulator`` plays a plan onto
the fake hardware.
"""
from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from station.config import Config
from station.errors import UserError

#: After a change on a cell, nothing else touches it for this long: the new
#: count must hold 200 ms to be accepted and rest 100 ms before the next
#: excursion can start (trace-v1), or the truth would be ambiguous.
CELL_QUIET_S = 0.36
#: No glitch within this long of a real edge on the same switch (it would
#: merge with that edge's bounce burst).
GLITCH_CLEARANCE_S = 0.05


class PatientError(UserError, ValueError):
    """The virtual patient cannot do what was asked (unknown profile, no tray for coin drop...)."""


@dataclass(frozen=True)
class Profile:
    """How a patient moves. Times are means in seconds; ``cv`` is their spread."""

    name: str
    pace: float  # multiplies every movement time
    cv: float  # coefficient of variation of a movement time
    press_p: float  # a finger presses on the item before lifting it
    press_s: tuple[float, float]
    pause_p: float  # a hesitation before a move
    pause_s: tuple[float, float]
    drop_p: float  # a peg slips from the fingers on the way (retrieved from the table)
    putback_p: float  # a peg picked up from the dish and put straight back
    hand_rest_p: float  # a hand rests on the tray before a move there
    glitch_per_s: float  # short pulses on idle switches (vibration, a brushed contact)
    free_reps: int  # repetitions in free practice when no goal is set


PROFILES: dict[str, Profile] = {
    "healthy": Profile("healthy", pace=1.0, cv=0.15, press_p=0.6, press_s=(0.05, 0.12),
                       pause_p=0.02, pause_s=(0.3, 0.8), drop_p=0.0, putback_p=0.06,
                       hand_rest_p=0.12, glitch_per_s=0.04, free_reps=10),
    "impaired": Profile("impaired", pace=2.2, cv=0.3, press_p=0.9, press_s=(0.08, 0.17),
                        pause_p=0.15, pause_s=(1.0, 3.5), drop_p=0.07, putback_p=0.12,
                        hand_rest_p=0.35, glitch_per_s=0.12, free_reps=6),
}

# Healthy mean movement times (s); an impaired patient is ``pace`` times slower.
REACH_DISH = 0.38  # hand from the board to the dish, grasp
CARRY_TO_HOLE = 0.62  # peg from the dish into a hole
GRASP_IN_HOLE = 0.32  # hand to a seated peg
CARRY_TO_DISH = 0.38  # peg from the board, dropped in the dish
COIN_FETCH = 0.75  # take a coin from the table and bring it over the tray
COIN_PICK = 0.7  # hand to a coin on the tray
COIN_AWAY = 0.75  # coin to the table


class CellLoad:
    """The load on one cell over time, in items (units) above the tare, without noise.

    Built from steps (an item arrives or leaves, ramping over a few ms) and
    transients (a finger press, an impact ring-down, a hand resting) that
    add to it. Steps and transients are added in time order per cell.
    """

    def __init__(self, units0: float) -> None:
        self.units0 = units0
        self._step_t: list[float] = []
        self._steps: list[tuple[float, float, float]] = []  # (t, delta, ramp_s)
        self._cum: list[float] = [0.0]  # sum of deltas of steps before index i
        self._trans_t: list[float] = []
        self._trans: list[tuple[float, float, Callable[[float], float]]] = []  # (t0, t1, f(t))
        self._longest = 0.0

    def step(self, t: float, delta: float, ramp_s: float) -> None:
        i = bisect.bisect_right(self._step_t, t)
        self._step_t.insert(i, t)
        self._steps.insert(i, (t, delta, ramp_s))
        self._cum = [0.0]
        for _, d, _ in self._steps:
            self._cum.append(self._cum[-1] + d)

    def transient(self, t0: float, t1: float, f: Callable[[float], float]) -> None:
        i = bisect.bisect_right(self._trans_t, t0)
        self._trans_t.insert(i, t0)
        self._trans.insert(i, (t0, t1, f))
        self._longest = max(self._longest, t1 - t0)

    def units(self, t: float) -> float:
        i = bisect.bisect_right(self._step_t, t)
        u = self.units0 + self._cum[i]
        # Steps still ramping: take back the part not yet arrived.
        j = i - 1
        while j >= 0:
            t0, d, ramp = self._steps[j]
            if t - t0 >= ramp:
                break
            u -= d * (1.0 - (t - t0) / ramp)
            j -= 1
        k = bisect.bisect_right(self._trans_t, t) - 1
        lo = t - self._longest
        while k >= 0 and self._trans_t[k] >= lo:
            t0, t1, f = self._trans[k]
            if t < t1:
                u += f(t)
            k -= 1
        return u


@dataclass
class Plan:
    """One protocol as the patient performs it, with its ground truth."""

    protocol: str
    options: dict[str, Any]
    start_t: float  # when the patient starts moving
    end_t: float = 0.0  # when the last movement is over
    edges: list[tuple[float, int, int]] = field(default_factory=list)  # (t, gpio, level), sorted at the end
    events: list[dict] = field(default_factory=list)  # true events, spec output shape
    result: dict = field(default_factory=dict)
    notes: list[tuple[float, str]] = field(default_factory=list)  # what the patient did, for people
    glitches: list[tuple[float, int]] = field(default_factory=list)  # (t, gpio) of short pulses: no event

    def truth(self) -> dict:
        """The ground truth in the shape of ``station replay --json`` (and tests/data/traces/*.truth.json)."""
        return {"protocol": self.protocol, "events": self.events, "faults": [], "result": self.result}


@dataclass
class BetweenTrials:
    """Where the pegs and coins are: the patient's view of the board."""

    dish: int
    tray: int
    seated: set[int] = field(default_factory=set)


class Patient:
    """A virtual patient at a station described by ``config``.

    ``loads`` are the cells' physical loads, shared with the simulator (the
    patient adds to them as it plans); ``state`` is the board as the patient
    left it.
    """

    def __init__(self, config: Config, profile: str | Profile = "healthy",
                 rng: random.Random | None = None) -> None:
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise PatientError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
            profile = PROFILES[profile]
        self.config = config
        self.profile = profile
        self.rng = rng if rng is not None else random.Random()
        self.closed = 0 if config.active_low else 1
        self.settle_s = config.settle_ms / 1000.0
        self.loads = {name: CellLoad(float(c.items)) for name, c in config.cells.items()}
        self.state = BetweenTrials(dish=config.cells["dish"].items if "dish" in config.cells else 9,
                                tray=config.cells["tray"].items if "tray" in config.cells else 0)
        self._cell_quiet: dict[str, float] = {name: -math.inf for name in config.cells}
        self._pin_edges: dict[int, list[float]] = {}
        self._plan: Plan | None = None

    # --- the protocols ----------------------------------------------------

    def perform(self, protocol: str, options: dict[str, Any] | None = None, start_t: float = 0.0) -> Plan:
        """Plan ``protocol`` from ``start_t``: signals go to ``loads`` and the returned plan's edges."""
        options = dict(options or {})
        plan = Plan(protocol, options, start_t)
        self._plan = plan
        self._t = start_t
        self._closed_at_start = {self.config.holes[h - 1] for h in self.state.seated}
        self._tidy()
        if protocol == "nine-hole-peg":
            self._nine_hole_peg(options)
        elif protocol == "coin-drop":
            self._coin_drop(options)
        elif protocol == "timed-pegs":
            self._timed_pegs(options)
        elif protocol == "free-practice":
            self._free_practice(options)
        else:
            raise PatientError(f"the virtual patient does not know protocol {protocol!r}")
        plan.end_t = max(self._t, max((t for t, _, _ in plan.edges), default=start_t))
        self._glitches(plan)
        plan.edges.sort()
        plan.events.sort(key=lambda e: e["t"])
        self._plan = None
        return plan

    @property
    def _performing(self) -> Plan:
        """The plan ``perform`` is making (the movements below add to it)."""
        if self._plan is None:
            raise RuntimeError("the virtual patient moves only inside perform()")
        return self._plan

    def _nine_hole_peg(self, opts: dict) -> None:
        wanted = int(opts.get("pegs", 9))
        # A patient cannot seat more pegs than there are holes, or than the dish holds.
        pegs = min(wanted, len(self.config.holes), max(self.state.dish, 0))
        cutoff = float(opts.get("cutoff_s", 300.0))
        has_dish = "dish" in self.config.cells
        press_t = self._press_start()
        holes = self.rng.sample(range(1, len(self.config.holes) + 1), pegs)
        first_pick = None
        for hole in holes:
            self._maybe_pause()
            if self.rng.random() < self.profile.putback_p:
                t = self._pick_from_dish()
                first_pick = t if first_pick is None else first_pick
                self._wait(self._dur(0.5))
                self._drop_in_dish()
                self._note("picked a peg up and put it back")
            t = self._pick_from_dish()
            first_pick = t if first_pick is None else first_pick
            self._carry(CARRY_TO_HOLE)
            self._seat(hole)
        end = None
        for hole in self.rng.sample(holes, len(holes)):
            self._maybe_pause()
            self._wait(self._dur(GRASP_IN_HOLE))
            t_out = self._unseat(hole)
            self._carry(CARRY_TO_DISH)
            end = self._drop_in_dish() if has_dish else t_out
        start = first_pick if has_dish else press_t
        self._result_timed(start, end, cutoff)
        if pegs < wanted:
            self._performing.result = {"status": "incomplete", "total_s": None}

    def _coin_drop(self, opts: dict) -> None:
        coins = int(opts.get("coins", 8))
        cutoff = float(opts.get("cutoff_s", 300.0))
        if "tray" not in self.config.cells:
            raise PatientError("coin-drop needs a 'tray' load cell in the config")
        start = self._press_start()
        placed = None
        for _ in range(coins):
            self._maybe_pause()
            self._wait(self._dur(COIN_FETCH))
            self._maybe_hand_rest()
            placed = self._land("tray", "coin lands on the tray")
            self._wait(self._dur(0.15))
        end = None
        for _ in range(coins):
            self._maybe_pause()
            self._wait(self._dur(COIN_PICK))
            self._maybe_hand_rest()
            end = self._lift("tray", "coin picked up from the tray")
            self._wait(self._dur(COIN_AWAY))
        if start is None:  # no start button: timing starts at the first tray change
            start = min(e["t"] for e in self._performing.events if e["kind"] == "tray")
        self._result_timed(start, end, cutoff)
        r = self._performing.result
        done = r["status"] == "complete"
        r["place_s"] = round(placed - start, 6) if placed is not None and placed - start <= cutoff else None
        r["pickup_s"] = round(end - placed, 6) if done and end is not None and placed is not None else None

    def _timed_pegs(self, opts: dict) -> None:
        duration = float(opts.get("duration_s", 30.0))
        start = self._press_start()
        if start is None:
            raise PatientError("timed-pegs needs a 'start' button in the config")
        stop = start + duration
        holes = list(range(1, len(self.config.holes) + 1))
        n_in = 0
        # The patient keeps going until the time is up, then finishes the
        # move in hand (a peg seated after the end does not count).
        while self._t < stop:
            free = [h for h in holes if h not in self.state.seated]
            if not free or self.state.dish == 0:
                for h in self.rng.sample(sorted(self.state.seated), len(self.state.seated)):
                    self._wait(self._dur(GRASP_IN_HOLE))
                    self._unseat(h)
                    self._carry(CARRY_TO_DISH)
                    self._drop_in_dish()
                    if self._t >= stop:
                        break
                continue
            self._maybe_pause()
            self._pick_from_dish()
            self._carry(CARRY_TO_HOLE)
            if self._seat(self.rng.choice(free)) < stop:
                n_in += 1
        self._wait(0.3)
        self._performing.result = {"status": "complete", "total_s": round(duration, 6), "pegs": n_in}

    def _free_practice(self, opts: dict) -> None:
        goal = int(opts.get("goal", 0))
        reps = goal or self.profile.free_reps
        self._wait(self._dur(0.6))
        self._pick_from_dish()
        last_out = None
        for _ in range(reps):
            self._maybe_pause()
            hole = self.rng.choice([h for h in range(1, len(self.config.holes) + 1)
                                    if h not in self.state.seated])
            self._carry(CARRY_TO_HOLE)
            self._seat(hole)
            self._wait(self._dur(0.5))
            last_out = self._unseat(hole)
        self._carry(CARRY_TO_DISH)
        self._drop_in_dish()
        ts = [e["t"] for e in self._performing.events]
        # With a goal the session ends at the rep that reaches it; without
        # one it runs from the first event to the last.
        end = last_out if goal else max(ts)
        self._performing.result = {"status": "complete", "reps": reps, "total_s": round(end - min(ts), 6)}

    def _result_timed(self, start: float | None, end: float | None, cutoff: float) -> None:
        if start is None or end is None:
            self._performing.result = {"status": "incomplete", "total_s": None}
        elif end - start > cutoff:
            self._performing.result = {"status": "timeout", "total_s": None}
        else:
            self._performing.result = {"status": "complete", "total_s": round(end - start, 6)}

    def _tidy(self) -> None:
        """Put the board back as a protocol starts: pegs in the dish, no coins on the tray."""
        for hole in sorted(self.state.seated):
            self._wait(self._dur(GRASP_IN_HOLE))
            self._unseat(hole)
            self._carry(CARRY_TO_DISH)
            self._drop_in_dish()
        while self.state.tray > 0:
            self._wait(self._dur(COIN_PICK))
            self._lift("tray", "coin cleared from the tray")
        if self._performing.events:
            self._wait(1.0)

    # --- movements --------------------------------------------------------

    def _press_start(self) -> float | None:
        """Press and release the start button; returns the press time (None without a button)."""
        gpio = self.config.buttons.get("start")
        self._wait(self._dur(0.6))
        if gpio is None:
            return None
        t = self._t
        self._switch(gpio, t, self.closed)
        self._event(t, "button", name="start")
        self._switch(gpio, t + self.rng.uniform(0.08, 0.25), 1 - self.closed)
        self._wait(self._dur(0.5))
        return t

    def _pick_from_dish(self) -> float:
        self._wait(self._dur(REACH_DISH))
        if self.state.dish <= 0:
            self._note("took a peg from the table (the dish is empty)")
            return self._t
        if "dish" not in self.config.cells:
            self.state.dish -= 1
            return self._t
        return self._lift("dish", "peg picked up from the dish")

    def _drop_in_dish(self) -> float:
        if "dish" not in self.config.cells:
            self.state.dish += 1
            return self._t
        return self._land("dish", "peg dropped in the dish")

    def _carry(self, mean: float) -> None:
        self._wait(self._dur(mean))
        if self.rng.random() < self.profile.drop_p:
            self._note("dropped the peg on the table")
            self._wait(self._dur(1.2) + self.rng.uniform(0.5, 2.0))

    def _seat(self, hole: int) -> float:
        t = self._t
        self._switch(self.config.holes[hole - 1], t, self.closed)
        self._event(t, "peg_in", hole=hole)
        self.state.seated.add(hole)
        self._wait(self._dur(0.08))
        return t

    def _unseat(self, hole: int) -> float:
        t = self._t
        self._switch(self.config.holes[hole - 1], t, 1 - self.closed)
        self._event(t, "peg_out", hole=hole)
        self.state.seated.discard(hole)
        return t

    def _lift(self, cell: str, what: str) -> float:
        """An item leaves ``cell``, maybe after a finger presses on it; returns the true onset."""
        t = max(self._t, self._cell_quiet[cell])
        load = self.loads[cell]
        onset = t
        if self.rng.random() < self.profile.press_p:
            dur = self.rng.uniform(*self.profile.press_s)
            amp = self.rng.uniform(0.5, 0.9)
            load.transient(t, t + dur + 0.02, _press(t, dur, amp, self.rng.uniform(6, 12)))
            t += dur
        load.step(t, -1.0, self.rng.uniform(0.01, 0.025))
        n = self._count(cell, -1)
        self._event(onset, cell, count=n)
        self._note(what, onset)
        self._t = t + 0.05
        self._cell_quiet[cell] = t + CELL_QUIET_S
        return onset

    def _land(self, cell: str, what: str) -> float:
        """An item drops onto ``cell``: an impact spike, then one more item; returns the true onset."""
        t = max(self._t, self._cell_quiet[cell])
        load = self.loads[cell]
        load.step(t, 1.0, 0.004)
        amp = self.rng.uniform(1.8, 3.5)
        tau = self.rng.uniform(0.01, 0.02)
        load.transient(t, t + 10 * tau, _impact(t, amp, tau, self.rng.uniform(15, 30)))
        n = self._count(cell, +1)
        self._event(t, cell, count=n)
        self._note(what, t)
        self._t = t + 0.05
        self._cell_quiet[cell] = t + CELL_QUIET_S
        return t

    def _maybe_hand_rest(self) -> None:
        """The hand rests on the tray a while: it wanders and trembles, never still for 200 ms."""
        if "tray" not in self.loads or self.rng.random() >= self.profile.hand_rest_p:
            return
        t0 = max(self._t, self._cell_quiet["tray"])
        dur = self.rng.uniform(0.5, 2.5)
        base = self.rng.uniform(8.0, 25.0)  # 45-140 g of hand on a 5.67 g-per-coin tray
        wander = self.rng.uniform(1.0, 3.0)
        tremor = self.rng.uniform(0.6, 1.0)  # > 0.35 peak: cannot hold one +/-0.35 band
        f_tremor = self.rng.uniform(5.5, 9.0)  # one cycle well inside 200 ms
        f_wander = self.rng.uniform(0.3, 0.8)
        ph1, ph2 = self.rng.uniform(0, 2 * math.pi), self.rng.uniform(0, 2 * math.pi)
        ramp = 0.1

        def hand(t: float) -> float:
            x = t - t0
            env = min(1.0, x / ramp, (dur - x) / ramp)
            if env <= 0.0:
                return 0.0
            return env * (base + wander * math.sin(2 * math.pi * f_wander * x + ph1)
                          + tremor * math.sin(2 * math.pi * f_tremor * x + ph2))

        self.loads["tray"].transient(t0, t0 + dur, hand)
        self._note("hand resting on the tray", t0)
        self._t = t0 + dur + self._dur(0.2)
        self._cell_quiet["tray"] = t0 + dur + CELL_QUIET_S

    def _maybe_pause(self) -> None:
        if self.rng.random() < self.profile.pause_p:
            self._note("pause")
            self._wait(self.rng.uniform(*self.profile.pause_s))

    # --- switch signals ---------------------------------------------------

    def _switch(self, gpio: int, t: float, level: int) -> None:
        """A contact closes or opens at ``t``: the first edge, then its bounce."""
        edges = self._performing.edges
        edges.append((t, gpio, level))
        self._pin_edges.setdefault(gpio, []).append(t)
        # Contact bounce: an even number of extra edges, sub-ms to a few ms
        # apart, so the burst ends at the new level well inside settle_ms.
        max_gap = min(0.003, 0.3 * self.settle_s)
        cur = level
        for _ in range(self.rng.choice((0, 2, 2, 4, 4, 6, 8))):
            t += min(max_gap, max(30e-6, math.exp(self.rng.gauss(math.log(4e-4), 1.0))))
            cur = 1 - cur
            edges.append((t, gpio, cur))
            self._pin_edges[gpio].append(t)

    def _glitches(self, plan: Plan) -> None:
        """Short pulses that come back (a brushed contact, board vibration): no event."""
        span = plan.end_t - plan.start_t
        pins = list(self.config.holes) + list(self.config.buttons.values())
        n = _poisson(self.rng, self.profile.glitch_per_s * span)
        levels = self._levels_over(plan)
        for _ in range(n):
            gpio = self.rng.choice(pins)
            t = self.rng.uniform(plan.start_t, plan.end_t)
            near = self._pin_edges.get(gpio, [])
            i = bisect.bisect_left(near, t - GLITCH_CLEARANCE_S)
            if i < len(near) and near[i] <= t + GLITCH_CLEARANCE_S:
                continue  # too close to a real edge: the person moved this switch then
            level = levels(gpio, t)
            width = min(0.3 * self.settle_s, max(50e-6, math.exp(self.rng.gauss(math.log(5e-4), 0.8))))
            plan.edges.append((t, gpio, 1 - level))
            plan.edges.append((t + width, gpio, level))
            plan.glitches.append((t, gpio))
            bisect.insort(near, t)
            self._pin_edges[gpio] = near

    def _levels_over(self, plan: Plan) -> Callable[[int, float], int]:
        """level(gpio, t): a switch's settled level at ``t`` from the plan's edges."""
        by_pin: dict[int, list[tuple[float, int]]] = {}
        for t, g, lv in sorted(plan.edges):
            by_pin.setdefault(g, []).append((t, lv))
        open_level = 1 - self.closed

        def level(gpio: int, t: float) -> int:
            seq = by_pin.get(gpio, [])
            i = bisect.bisect_right(seq, (t, 2)) - 1
            if i >= 0:
                return seq[i][1]
            return self.closed if gpio in self._closed_at_start else open_level

        return level

    # --- helpers ----------------------------------------------------------

    def _dur(self, mean: float) -> float:
        m = mean * self.profile.pace
        return max(0.35 * m, self.rng.gauss(m, self.profile.cv * m))

    def _wait(self, s: float) -> None:
        self._t += s

    def _count(self, cell: str, delta: int) -> int:
        n = getattr(self.state, cell) + delta
        setattr(self.state, cell, n)
        return n

    def _event(self, t: float, kind: str, **what: Any) -> None:
        self._performing.events.append({"t": t, "kind": kind, **what})

    def _note(self, what: str, t: float | None = None) -> None:
        self._performing.notes.append((self._t if t is None else t, what))


def _press(t0: float, dur: float, amp: float, wobble_hz: float) -> Callable[[float], float]:
    """A finger pressing down on an item: fast rise, a little wobble, released as it lifts."""
    rise = 0.008

    def f(t: float) -> float:
        x = t - t0
        if x < 0:
            return 0.0
        if x < rise:
            return amp * x / rise
        if x < dur:
            return amp * (1.0 + 0.08 * math.sin(2 * math.pi * wobble_hz * x))
        return max(0.0, amp * (1.0 - (x - dur) / 0.02))

    return f


def _impact(t0: float, amp: float, tau: float, hz: float) -> Callable[[float], float]:
    """An item landing: a spike that decays in a few tens of ms, with a little ringing."""

    def f(t: float) -> float:
        x = t - t0
        if x < 0:
            return 0.0
        decay = math.exp(-x / tau)
        return amp * decay * (1.0 + 0.3 * math.sin(2 * math.pi * hz * x))

    return f


def _poisson(rng: random.Random, lam: float) -> int:
    n, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1
