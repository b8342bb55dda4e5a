"""The daemon's intake on a virtual clock: wake-ups, settle timers, and where records go."""
from __future__ import annotations

import pytest

from hardware.sim.clock import VirtualClock
from station.daemon.between_trials import BetweenTrials
from station.daemon.cell_monitor import CellMonitor
from station.daemon.intake import Intake
from station.daemon.sensor_waiters import SensorWaiters
from station.events import ButtonPress, CellFault, Edge, Event, Fault, PegIn, PegOut, Sample
from station.protocols import make_protocol
from station.trial import Trial
from tests.daemon.virtual_loop import VirtualLoop

LATENCY_S = 0.005
T0 = 1000.0


class Releaser:
    """Hardware as the daemon sees it: every record stamped up to ``LATENCY_S`` ago is delivered."""

    simulated = True
    speed = 1.0
    latency_s = LATENCY_S

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.syncs = 0

    def complete_to(self) -> float:
        return self.clock.now() - LATENCY_S

    def sync(self) -> None:
        self.syncs += 1


class Parts:
    """An Intake wired as the daemon wires it, on a virtual clock; it records what it is told."""

    def __init__(self, board) -> None:
        self.clock = VirtualClock(T0)
        self.loop = VirtualLoop(self.clock)
        self.hardware = Releaser(self.clock)
        self.board = BetweenTrials(board)
        self.monitors = {n: CellMonitor(cal_offset=c.calibration.offset, counts_per_gram=c.calibration.counts_per_gram,
                                        unit_g=c.calibration.unit_g) for n, c in board.cells.items()}
        self.waiters = SensorWaiters()
        self.trial: Trial | None = None
        self.events: list[tuple[float, Event]] = []  # (virtual time told, event)
        self.faults: list[Fault] = []
        self.ticks: list[float] = []
        self.intake = Intake(hardware=self.hardware, clock=self.clock.now, board=self.board,
                             monitors=self.monitors, waiters=self.waiters, current_trial=self.current_trial,
                             tick=self.tick, on_board_event=self.board_event, on_board_fault=self.faults.append)
        self.intake.loop = self.loop  # type: ignore[assignment]  # the three calls Intake makes, in virtual time

    def current_trial(self) -> Trial | None:
        return self.trial

    def tick(self) -> None:
        """The daemon's tick: drain now."""
        self.ticks.append(self.clock.now())
        self.intake.drain(self.clock.now())

    def board_event(self, ev: Event) -> None:
        self.events.append((self.clock.now(), ev))

    def deliver(self, rec) -> None:
        """A hardware thread hands over ``rec`` now; the loop then runs what it was asked to."""
        self.intake.on_record(rec)
        self.loop.run_soon()


@pytest.fixture
def parts(board) -> Parts:
    return Parts(board)


def test_a_peg_is_confirmed_by_its_settle_timer_exactly_when_it_has_settled(parts, board):
    hole1 = board.holes[0]
    parts.deliver(Edge(T0, hole1, board.closed_level))
    due = T0 + board.settle_ms / 1000 + LATENCY_S
    assert parts.loop.pending_timers == [pytest.approx(due + 0.0005)]  # set for then, not for the next tick
    parts.loop.advance_to(due)
    assert parts.events == []  # not settled yet (nothing polled in between either)
    parts.loop.advance_to(due + 0.001)
    assert parts.events == [(pytest.approx(due + 0.0005), PegIn(T0, 1))]
    assert parts.ticks == [T0, pytest.approx(due + 0.0005)]  # the edge's wake-up, then the settle check
    assert parts.hardware.syncs == 1  # the settle check asked the hardware for what is due first


def test_a_bounce_within_settle_is_no_peg(parts, board):
    hole = board.holes[0]
    parts.deliver(Edge(T0, hole, board.closed_level))
    parts.clock.set(T0 + 0.003)
    parts.deliver(Edge(T0 + 0.003, hole, board.open_level))
    parts.loop.advance_to(T0 + 1.0)
    assert parts.events == []
    assert parts.board.levels[hole] == board.open_level


def test_a_peg_in_and_out_and_a_button_press_in_time_order(parts, board):
    hole, start = board.holes[2], board.buttons["start"]
    for t, gpio, level in [(0.0, hole, board.closed_level), (0.5, hole, board.open_level),
                           (0.7, start, board.closed_level), (0.8, start, board.open_level)]:
        parts.loop.advance_to(T0 + t)
        parts.deliver(Edge(T0 + t, gpio, level))
    parts.loop.advance_to(T0 + 1.0)
    assert [ev for _, ev in parts.events] == [PegIn(T0, 3), PegOut(T0 + 0.5, 3), ButtonPress(T0 + 0.7, "start")]
    # each was told as soon as it had settled, not later
    for told, ev in parts.events:
        assert told == pytest.approx(ev.t + board.settle_ms / 1000 + LATENCY_S + 0.0005)


def test_only_edges_wake_the_loop_and_at_most_one_wake_up_waits(parts, board):
    parts.intake.on_record(Sample(T0, "dish", 52000))
    assert parts.loop.soon == []  # a sample waits for the daemon's tick
    parts.intake.on_record(Edge(T0, board.holes[0], board.closed_level))
    parts.intake.on_record(Edge(T0, board.holes[1], board.closed_level))
    assert len(parts.loop.soon) == 1
    assert parts.loop.run_soon() == 1
    assert parts.ticks == [T0]
    parts.intake.on_record(Edge(T0, board.holes[2], board.closed_level))  # after the wake-up: wakes again
    assert len(parts.loop.soon) == 1


def test_samples_and_cell_faults_reach_the_technician_screen_and_the_waiters(parts):
    got: list[int] = []
    parts.waiters.samples.append(("dish", got, 2, _Future()))
    parts.intake.on_record(Sample(T0, "dish", 52100))
    parts.intake.on_record(Sample(T0 + 0.0125, "dish", 52200))
    parts.intake.on_record(CellFault(T0 + 0.025, "tray", "no reading for 0.5 s"))
    parts.intake.drain(T0 + 0.03)
    dish, tray = parts.monitors["dish"], parts.monitors["tray"]
    assert list(dish.counts) == [52100, 52200] and dish.samples == 2 and dish.last_t == T0 + 0.0125
    assert got == [52100, 52200]
    assert tray.fault == "no reading for 0.5 s"
    parts.intake.on_record(Sample(T0 + 0.05, "tray", -13000))
    parts.intake.drain(T0 + 0.06)
    assert tray.fault is None  # reading again


def test_between_trials_records_feed_the_pre_roll_and_during_a_trial_the_trial(parts, board):
    hole, other = board.holes[0], board.holes[1]
    parts.deliver(Edge(T0, hole, board.closed_level))
    parts.loop.advance_to(T0 + 0.1)
    assert [r.t for r in parts.board.preroll.records] == [T0]
    assert [ev for _, ev in parts.events] == [PegIn(T0, 1)]  # the board's pipeline between trials
    parts.trial = Trial(board, make_protocol("free-practice", board, {}))
    for t, level in [(0.2, board.closed_level), (0.4, board.open_level)]:
        parts.loop.advance_to(T0 + t)
        parts.deliver(Edge(T0 + t, other, level))
    parts.loop.advance_to(T0 + 0.5)
    assert parts.trial.events == [PegIn(T0 + 0.2, 2), PegOut(T0 + 0.4, 2)]
    assert len(parts.board.preroll.records) == 1  # the trial's records are the trial's
    assert len(parts.events) == 1  # and the board's pipeline heard none of them
    assert parts.board.levels[other] == board.open_level  # raw levels are kept, trial or not


def test_no_settle_checks_after_cancel_timers(parts, board):
    parts.deliver(Edge(T0, board.holes[0], board.closed_level))
    parts.intake.cancel_timers()
    parts.loop.advance_to(T0 + 1.0)
    assert parts.ticks == [T0] and parts.events == []


class _Future:
    """The bit of an asyncio future SensorWaiters.feed_sample uses."""

    def __init__(self) -> None:
        self.result = None

    def done(self) -> bool:
        return self.result is not None

    def set_result(self, value) -> None:
        self.result = value
