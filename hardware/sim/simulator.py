"""The virtual station: a virtual patient on a virtual board, read by the real drivers.

``Simulation`` builds the board of a ``station.config.Config`` out of fakes
that sit *below* the drivers: a ``VirtualPinFactory`` (gpiozero's MockFactory
on simulated time) for the hole switches and buttons, and a ``FakeGPIO``
with a ``FakeHX711`` per load cell whose bridge signal is the patient's load
plus noise. On top runs the same ``StationIO`` (``SwitchBank``, ``HX711``,
``CellReader``, record merging) the Pi runs, so every record a simulated
trial produces went through the real switch code and was clocked out of a
simulated HX711 bit by bit.

Time is virtual (``hardware.sim.clock.VirtualClock``): ``advance_to(t)`` plays
everything up to ``t`` as fast as the machine goes. A daemon can run the
virtual board in (scaled) real time by calling ``advance_to`` from a timer,
and have the patient respond to a trial it starts with ``perform``.

    sim = Simulation(config, seed=7, profile="healthy", on_record=trial.record)
    plan = sim.perform("nine-hole-peg")      # the patient starts now
    sim.advance_to(sim.now + 0.05)           # ... repeatedly (a timer, or run_protocol)
    plan.truth()                             # what a correct station reports
"""
from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from itertools import count
from typing import Any

from hardware.sim.clock import VirtualClock
from hardware.sim.fake_gpio import FakeGPIO, FakeHX711
from hardware.sim.patient import Patient, Plan
from hardware.sim.pins import VirtualPinFactory
from hardware.station_io import HOLD_S, StationIO
from station.config import CellConfig, Config
from station.events import RawRecord

#: Time played after the patient's last movement, so its last change is confirmed (held 200 ms).
SETTLE_AFTER_S = 0.6
#: Load-cell noise (grams, one standard deviation) of a bench HX711 at 80 SPS.
NOISE_G = 0.03
#: How long before a conversion is due the board looks at its DOUT for the driver (see _look_before)
LOOK_AHEAD_S = 50e-6
#: Chips due this soon after the first are looked at too (their readouts follow each other)
LOOK_WINDOW_S = 0.002


class Simulation:
    """A virtual board and patient at a station configured by ``config``.

    ``seed`` makes a run reproducible: the patient's movements, the switch
    bounce and the cell noise all draw from ``random.Random(seed)``.
    ``on_record`` receives every raw record, merged into time order, as the
    station's hardware layer would deliver it (settable later, e.g. to a new
    ``Trial``). ``start_t`` is the virtual clock's start (the trace origin is
    arbitrary; by default it is drawn from the seed).
    """

    def __init__(self, config: Config, seed: int = 0, profile: str = "healthy", *,
                 on_record: Callable[[RawRecord], None] | None = None,
                 start_t: float | None = None, noise_g: float = NOISE_G,
                 hold_s: float = HOLD_S) -> None:
        self.config = config
        self.seed = seed
        rng = random.Random(seed)
        self.clock = VirtualClock(start_t if start_t is not None else round(rng.uniform(1000.0, 9000.0), 6))
        self.patient = Patient(config, profile, random.Random(rng.getrandbits(64)))
        self.on_record = on_record
        self.pin_factory = VirtualPinFactory(self.clock.now)
        self.gpio = FakeGPIO(clock=self.clock)
        noise_rng = random.Random(rng.getrandbits(64))
        self.chips: dict[str, FakeHX711] = {
            name: FakeHX711(self.gpio, c.dout, c.pd_sck, sample_hz=c.sample_hz,
                            source=self._bridge(c, noise_rng, noise_g))
            for name, c in config.cells.items()
        }
        self.io = StationIO(config, self.pin_factory, self.gpio, on_record=self._deliver,
                            clock=self.clock.now, sleep=self.clock.sleep, hold_s=hold_s)
        self._edges: list[tuple[float, int, int, int]] = []  # heap of (t, seq, gpio, level)
        self._seq = count()
        self._gave_up: set[str] = set()  # cells whose chip is off: not read until it is back
        self.plans: list[Plan] = []
        self.busy_until = self.clock.now()

    def _bridge(self, cell: CellConfig, rng: random.Random, noise_g: float) -> Callable[[float], int]:
        """The HX711's input for ``cell``: the patient's load in counts, plus noise."""
        load = self.patient.loads[cell.name]
        per_unit = cell.counts_per_gram * cell.unit_g
        noise = noise_g * cell.counts_per_gram
        offset = cell.offset
        gauss = rng.gauss

        def counts(t: float) -> int:
            return round(offset + per_unit * load.units(t) + gauss(0.0, noise))

        return counts

    def _deliver(self, rec: RawRecord) -> None:
        if self.on_record is not None:
            self.on_record(rec)

    @property
    def now(self) -> float:
        """The virtual time."""
        return self.clock.now()

    @property
    def idle(self) -> bool:
        """The patient has nothing left to do (and its last change has had time to confirm)."""
        return self.now >= self.busy_until

    # --- the patient ------------------------------------------------------

    def perform(self, protocol: str, options: dict[str, Any] | None = None,
                start_t: float | None = None) -> Plan:
        """The patient performs ``protocol`` from ``start_t`` (default: now, or when it is free).

        Returns the plan with its ground truth (``plan.truth()``); its signals
        play out as the simulation advances.
        """
        start = max(self.now, self.busy_until - SETTLE_AFTER_S, start_t if start_t is not None else -math.inf)
        plan = self.patient.perform(protocol, options, start)
        for t, gpio, level in plan.edges:
            heapq.heappush(self._edges, (t, next(self._seq), gpio, level))
        self.plans.append(plan)
        self.busy_until = max(self.busy_until, plan.end_t + SETTLE_AFTER_S)
        return plan

    # --- time -------------------------------------------------------------

    def advance_to(self, t: float) -> None:
        """Play the board up to virtual time ``t``: switch edges, HX711 conversions, record release."""
        clock, edges, readers = self.clock, self._edges, self.io.readers
        chips = [(self.chips[name], reader) for name, reader in readers.items()]
        pins = self.pin_factory
        while True:
            t_edge = edges[0][0] if edges else math.inf
            t_cell, due = math.inf, None
            for chip, reader in chips:
                ready = chip.next_ready_t()
                if ready is None:
                    # Powered down or unplugged: the reader finds out by trying
                    # (and reports a fault), once. Live, its thread would keep
                    # trying in vain; here every attempt would hold up the whole
                    # single-threaded board for two sample periods, so the
                    # next attempt waits until the chip is back.
                    if reader.name in self._gave_up:
                        continue
                    ready = clock.now()
                else:
                    self._gave_up.discard(reader.name)
                if ready < t_cell:
                    t_cell, due = ready, reader
            if min(t_edge, t_cell) > t:
                break
            if t_edge <= t_cell:
                _, _, gpio, level = heapq.heappop(edges)
                clock.set(t_edge)
                # Stamped with its own time even if an HX711 read ran past it:
                # the kernel timestamps an edge when it happens.
                pins.pin(gpio).drive(level, t_edge)
            else:
                assert due is not None  # t_cell is finite: some reader is due
                self._look_before(t_cell, chips)
                clock.set(t_cell)
                if self.chips[due.name].next_ready_t() is None:
                    self._gave_up.add(due.name)
                due.step()
            self._release(clock.now())
        clock.set(t)
        self._release(t)

    def _look_before(self, t: float, chips: list) -> None:
        """Let the drivers whose conversions are due from ``t`` see DOUT high just before it.

        Live, a reader polls DOUT and sees it high shortly before a conversion;
        its driver trusts only conversions it saw arrive (a readout timed from
        an old look is discarded: hardware.hx711). Here readers are stepped
        exactly when a conversion is due, so the board takes the looks for
        them, for every chip due within ``LOOK_WINDOW_S`` (another cell's
        readout may run past their ready time). A look costs one GPIO call.
        """
        clock = self.clock
        start = t - LOOK_AHEAD_S
        if clock.now() >= start:
            return  # a look now could land after t: the reader's own wait looks instead
        clock.set(start)
        for chip, reader in chips:
            ready = chip.next_ready_t()
            if ready is not None and t <= ready <= t + LOOK_WINDOW_S:
                self.io.drivers[reader.name].is_ready()

    def _release(self, now: float) -> None:
        # Never release past an edge still to be played: a read attempt on an
        # unplugged HX711 waits two sample periods (25 ms, longer than the
        # merger's hold), and edges stamped inside that wait must not arrive
        # after later records were delivered.
        if self._edges:
            now = min(now, self._edges[0][0] + self.io.merger.hold_s)
        self.io.release(now)

    def run(self, until: float, *, tick_s: float = 0.05,
            on_tick: Callable[[float], None] | None = None) -> None:
        """Advance to ``until`` in steps of ``tick_s``.

        After each step ``on_tick(t)`` is called with the time up to which
        every record has been delivered (``StationIO.complete_to``, a little
        behind the clock): the time to pass to ``Trial.advance``.
        """
        while self.now < until:
            self.advance_to(min(until, self.now + tick_s))
            if on_tick is not None:
                on_tick(self.io.complete_to)

    def run_protocol(self, protocol: str, options: dict[str, Any] | None = None, *,
                     tick_s: float = 0.05, on_tick: Callable[[float], None] | None = None) -> Plan:
        """The patient performs ``protocol`` now; play it to its end and deliver every record.

        ``on_tick(t)`` is called every ``tick_s`` of virtual time with the time
        up to which records have been delivered (for ``Trial.advance``, or a
        pacing sleep in a live demo).
        """
        plan = self.perform(protocol, options)
        self.run(self.busy_until, tick_s=tick_s, on_tick=on_tick)
        self.io.flush()
        return plan

    def close(self) -> None:
        """Deliver what is held and release the fakes."""
        self.io.close()

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
