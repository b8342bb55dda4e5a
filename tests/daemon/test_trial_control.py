"""Arming, ending and saving trials, and the start button's pre-roll, on a virtual clock.

The station's time is a ``VirtualClock`` the test moves; only the records
thread and its lock are real (a trial is saved on that thread).
"""
from __future__ import annotations

import asyncio

import pytest

from hardware.sim.clock import VirtualClock
from station.administration import TestPlan
from station.api import ApiError
from station.daemon.between_trials import BetweenTrials
from station.daemon.records_thread import RecordsThread
from station.daemon.running_test import RunningTest
from station.daemon.sensor_waiters import SensorWaiters
from station.daemon.trial_control import TrialControl
from station.events import ButtonPress, Edge, PegIn, Sample
from station.norms import load_norms
from station.records.syncer import Syncer
from station.trace import open_trace, read_records

T0 = 1000.0


class Board:
    """The hardware as trial control sees it: told when a trial starts and ends."""

    simulated = True

    def __init__(self) -> None:
        self.told: list[tuple] = []

    def trial_started(self, protocol: str, options: dict, side: str) -> None:
        self.told.append(("started", protocol, side))

    def trial_ended(self) -> None:
        self.told.append(("ended",))


class Station:
    """TrialControl wired as the daemon wires it; what clients would hear is kept in ``messages``."""

    def __init__(self, data_dir, board) -> None:
        self.clock = VirtualClock(T0)
        self.spec = board
        self.hardware = Board()
        self.records = RecordsThread()
        self.store = self.records.open(data_dir)
        self.board = BetweenTrials(board)
        self.waiters = SensorWaiters()
        self.messages: list[dict] = []
        self.on_saved: list[dict] = []  # the store's copy of each trial when "saved: true" went out
        self.changes = 0
        self.drains: list[float] = []
        self.running_test = RunningTest(records=self.records, norms=load_norms(), changed=self.changed)
        self.trials = TrialControl(records=self.records, test=self.running_test, board=self.board,
                                   waiters=self.waiters, hardware=self.hardware, clock=self.clock.now,
                                   drain=self.drains.append, broadcast=self.broadcast, changed=self.changed)
        self.trials.syncer = Syncer()

    def changed(self, now: float | None = None) -> None:
        self.changes += 1

    def broadcast(self, msg: dict) -> None:
        self.messages.append(msg)
        if msg["type"] == "trial_finished" and msg["saved"]:
            self.on_saved.append(self.store.get_trial(msg["trial"]["trial_id"]))

    async def patient(self) -> None:
        p = self.store.add_patient("P-001", 1960, "female", "right")
        await self.running_test.select(p)

    def feed(self, *edges: tuple[float, int, int]) -> None:
        """Switch edges into the live trial at virtual times ``T0 + dt``, then time moves on."""
        trial = self.trials.live.trial
        for dt, gpio, level in edges:
            self.clock.set(T0 + dt)
            trial.record(Edge(T0 + dt, gpio, level))
        self.clock.advance(0.5)
        trial.advance(self.clock.now())
        self.trials.tick(self.clock.now())

    def close(self) -> None:
        self.trials.syncer.close()
        self.records.close()


@pytest.fixture
def station(tmp_path, board):
    s = Station(tmp_path / "data", board)
    yield s
    s.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_a_trial_is_armed_run_ended_and_saved_before_clients_hear_it_is(station, board):
    hole = board.holes[0]

    async def go():
        await station.patient()
        state = station.trials.arm("free-practice", {"goal": 1}, None, False)
        assert station.drains == [T0]  # every record delivered so far went in before the trial began
        assert station.hardware.told == [("started", "free-practice", "right")]  # the patient's dominant hand
        tid = state["trial_id"]
        station.feed((0.1, hole, board.closed_level), (0.6, hole, board.open_level))
        assert station.trials.live is None and station.trials.saving is not None  # the goal ended it
        await station.trials.idle()
        return tid

    tid = run(go())
    assert station.hardware.told[-1] == ("ended",)
    finished = [m for m in station.messages if m["type"] == "trial_finished"]
    assert [m["saved"] for m in finished] == [True]
    assert station.on_saved[0]["trial_id"] == tid  # the store had it when clients were told
    stored = station.store.get_trial(tid)
    assert stored["status"] == "complete" and stored["result"]["reps"] == 1
    assert [e["kind"] for e in stored["events"]] == ["peg_in", "peg_out"]
    # events went out live as the trial confirmed them, before the trial was saved
    kinds = [m["type"] for m in station.messages]
    assert kinds.index("event") < kinds.index("trial_finished")
    # the trace is where the store keeps traces, every record in it
    assert stored["trace"] == str(station.store.trace_path(tid))
    header, f = open_trace(stored["trace"])
    with f:
        recs = [r for _, r in read_records(f)]
    assert header.protocol == "free-practice" and [r.t for r in recs] == [T0 + 0.1, T0 + 0.6]
    assert station.trials.saving is None


def test_a_trial_that_cannot_be_saved_is_not_reported_saved_and_its_journal_is_kept(station, board, monkeypatch):
    def disk_full(record, journal):
        raise OSError(28, "No space left on device")

    async def go():
        await station.patient()
        tid = station.trials.arm("free-practice", {}, None, False)["trial_id"]
        monkeypatch.setattr(station.store, "finish_trial", disk_full)
        station.clock.advance(2.0)
        with pytest.raises(ApiError, match="could not be saved"):
            await station.trials.end(station.clock.now(), aborted="test")
        return tid

    tid = run(go())
    finished = [m for m in station.messages if m["type"] == "trial_finished"]
    # a full disk is said as such (daemon11's storage_full), the trial named
    assert [m["saved"] for m in finished] == [False] and "storage is full" in finished[0]["error"]
    assert (station.store.dir / "journal" / f"{tid}.jsonl").exists()  # recovered at the next start
    assert station.trials.saving is None and station.trials.live is None


def test_a_second_trial_is_refused_while_one_is_armed(station):
    async def go():
        await station.patient()
        station.trials.arm("free-practice", {}, None, False)
        with pytest.raises(ApiError, match="already running"):
            station.trials.arm("free-practice", {}, None, False)
        await station.trials.end(station.clock.now(), aborted="test over")

    run(go())


def test_the_start_button_arms_the_next_trial_with_the_records_since_every_switch_was_open(station, board):
    """A peg sat in hole 1 and was lifted out 1.35 s in; the press at 2.0 s arms the test's trial,
    whose trace starts with the first record after the lift (every switch open before it)."""
    hole, start = board.holes[0], board.buttons["start"]
    lift, press = T0 + 1.35, T0 + 2.0
    recs = [Sample(T0 + k / 10, "dish", 52000) for k in range(21)]
    recs += [Edge(T0, hole, board.closed_level), Edge(lift, hole, board.open_level),
             Edge(press, start, board.closed_level)]
    recs.sort(key=lambda r: r.t)

    async def go():
        await station.patient()
        await station.running_test.start(TestPlan.default("free-practice"))
        for r in recs:
            station.board.preroll.add(r)  # what the intake does with each record between trials
        station.clock.set(press + 0.02)
        assert station.trials.press_arms()
        arming = station.trials.arm_by_press(ButtonPress(press, "start"))
        assert not station.trials.press_arms()  # one press arms one trial
        await arming
        live = station.trials.live
        assert live is not None and live.meta["started_by"] == "button" and live.slot is not None
        await station.trials.end(station.clock.now(), aborted="test over")
        return live.meta["trace"]

    trace = run(go())
    _, f = open_trace(trace)
    with f:
        times = [r.t for _, r in read_records(f)]
    first_after_lift = min(r.t for r in recs if r.t > lift)
    assert times[0] == first_after_lift
    assert press in times  # the press belongs to the trial
    assert times == sorted(r.t for r in recs if r.t >= first_after_lift)


def test_the_start_button_arms_nothing_without_a_test_waiting(station, board):
    async def go():
        await station.patient()
        assert not station.trials.press_arms()  # a patient but no test

    run(go())


def test_an_aborted_trial_is_saved_invalid_with_the_reason(station, board):
    async def go():
        await station.patient()
        tid = station.trials.arm("free-practice", {}, None, False)["trial_id"]
        station.feed((0.1, board.holes[0], board.closed_level))
        await station.trials.end(station.clock.now(), aborted="patient tired")
        return tid

    stored = station.store.get_trial(run(go()))
    assert stored["status"] == "aborted" and stored["valid"] is False
    assert stored["invalid"]["reason"] == "aborted: patient tired"
    assert [e["kind"] for e in stored["events"]] == [PegIn.kind]  # what happened before the abort is kept
    assert stored["ended_t"] == T0 + 0.6
