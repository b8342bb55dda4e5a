"""Snapshots of every screen at 80x24 and 100x30 (and the Linux console's ASCII look).

The app runs against the daemon stand-in (tests/ui/fake_daemon.py) with fixed
state, so each picture is deterministic. Update with
``pytest tests/ui/test_snapshots.py --snapshot-update`` and look at the SVGs in
tests/ui/__snapshots__/ before committing them.
"""
from __future__ import annotations

import os

import pytest

from station.ui.app import create_app
from station.ui.screens.pin import PinDialog
from station.ui.screens.reconnecting import ReconnectingScreen
from station.ui.screens.technician import TechnicianScreen
from station.ui.screens.therapist import TherapistScreen
from tests.ui.fake_daemon import FakeDaemon
from tests.ui.pilot_support import (
    PATIENT,
    attached,
    enter_pin,
    nhpt_trial,
    open_staff_screen,
    settled,
    shown,
    wait_until,
)

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((100, 30), id="100x30")]
# A path where no daemon ever listens, the same in every run (it shows on the overlay).
NOWHERE = "/nonexistent/station/station.sock"

SENSORS = {"switches": [{"name": f"hole {i}", "gpio": g, "raw": 0 if i in (2, 5) else 1, "closed": i in (2, 5)}
                        for i, g in enumerate([5, 6, 13, 19, 26, 12, 16, 20, 21], 1)]
           + [{"name": "button start", "gpio": 17, "raw": 1, "closed": False}],
           "cells": {"dish": {"counts": 55780, "grams": 7.7, "units": 7.0, "count": 7, "noise_g": 0.031, "fault": None},
                     "tray": {"counts": -13000, "grams": 0.0, "units": 0.0, "count": 0, "noise_g": 0.028,
                              "fault": None}}}


HISTORY = [nhpt_trial(21.0, started_at="2024-04-01T10:00:00Z"),
           nhpt_trial(19.5, started_at="2024-05-01T10:00:00Z", pegs_every_s=1.3)]


@pytest.fixture
def fake(tmp_path):
    with FakeDaemon(tmp_path / "station.sock") as d:
        d.setup(patient=PATIENT, test="nine-hole-peg", history=HISTORY)
        yield d


@pytest.fixture
def fake_between_tests(tmp_path):
    """Saved trials and no test (a test record, even empty, makes the chart test by test)."""
    with FakeDaemon(tmp_path / "station.sock") as d:
        d.setup(patient=PATIENT, history=HISTORY)
        yield d


async def _finished_trial(pilot, fake) -> None:
    """Attached, then one trial run from the start button to its result (18.4 s)."""
    await _attached(pilot)
    fake.press_start()
    fake.dish(8)
    fake.finish(18.4)
    await wait_until(pilot, lambda: pilot.app.last_result is not None, "the result")


async def _open(pilot, screen) -> None:
    """Open a staff screen through its PIN (the daemon's login) and wait until it is composed."""
    await open_staff_screen(pilot, screen.ROLE)
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.query("#back") and screen.query_one("#back").region.width,
                     "the staff screen laid out")


async def _attached(pilot) -> None:
    """Attached, and the patient's history shown."""
    await attached(pilot)
    await wait_until(pilot, lambda: pilot.app.history.trials, "the patient's history")


@pytest.mark.parametrize("size", SIZES)
def test_patient_screen_during_a_trial(snap_compare, fake, size):
    async def before(pilot):
        await _attached(pilot)
        fake.press_start()
        fake.advance(1.2)  # "Set"
        fake.peg_in(1)  # the trial stays armed ("waiting"): the timer shows 0.0 in every run
        fake.peg_in(3)
        await wait_until(pilot, lambda: len(pilot.app.board.occupied) == 2, "the board")
        await settled(pilot)
    assert snap_compare(create_app(fake.path), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_patient_screen_with_a_result(snap_compare, fake, size):
    async def before(pilot):
        await _finished_trial(pilot, fake)
        await settled(pilot)
    assert snap_compare(create_app(fake.path), terminal_size=size, run_before=before)


def test_patient_screen_on_the_linux_console(snap_compare, fake):
    """ASCII digits and borders (TERM=linux)."""
    async def before(pilot):
        await _finished_trial(pilot, fake)
        await settled(pilot)
    assert snap_compare(create_app(fake.path, ascii=True), terminal_size=(80, 24), run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_pin_dialog(snap_compare, fake, size):
    async def before(pilot):
        await _attached(pilot)
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PinDialog), "the PIN dialog")
        await enter_pin(pilot, "12", submit=False)
        await settled(pilot)
    assert snap_compare(create_app(fake.path), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_therapist_screen_test_pane(snap_compare, fake, size):
    async def before(pilot):
        await _finished_trial(pilot, fake)
        await _open(pilot, TherapistScreen())
        await pilot.click("#tab-test")
        await wait_until(pilot, lambda: pilot.app.screen.query_one("#trials").row_count == 1, "the trial")
        await settled(pilot)
    assert snap_compare(create_app(fake.path), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_therapist_screen_progress_pane(snap_compare, fake_between_tests, size):
    fake = fake_between_tests

    async def before(pilot):
        await _attached(pilot)
        await _open(pilot, TherapistScreen())
        await pilot.click("#tab-progress")
        await settled(pilot)
    assert snap_compare(create_app(fake.path), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_technician_screen(snap_compare, fake, size):
    async def before(pilot):
        await _attached(pilot)
        await _open(pilot, TechnicianScreen())
        await wait_until(pilot, lambda: fake.subscribers("sensors") == 1, "the sensors subscription")
        fake.push_sensors(SENSORS)
        await wait_until(pilot, lambda: pilot.app.sensors is not None, "the sensors")
        await _sensors_drawn(pilot)
    assert snap_compare(create_app(fake.path), terminal_size=size, run_before=before)


async def _sensors_drawn(pilot) -> None:
    """Every switch laid out in as many columns as the width's breakpoint class says, and
    every cell's row drawn."""
    screen = pilot.app.screen

    def grid_drawn() -> bool:
        switches = screen.query(".switch")
        if len(switches) != len(SENSORS["switches"]) or not all(w.region.width for w in switches):
            return False
        columns = 4 if screen.has_class("-narrow") else 5 if screen.has_class("-wide") else None
        return len({w.region.x for w in switches}) == columns

    await wait_until(pilot, grid_drawn, "the switch grid in the columns for this width")
    rows = 1 + len(SENSORS["cells"])  # a heading and a row per cell
    await wait_until(pilot, lambda: screen.query_one("#cells").region.height == rows, "a row per cell")
    await settled(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_technician_self_test(snap_compare, fake, size):
    async def before(pilot):
        await _attached(pilot)
        await _open(pilot, TechnicianScreen())
        await wait_until(pilot, lambda: fake.subscribers("sensors") == 1, "the sensors subscription")
        await pilot.click("#tab-self-test")
        await pilot.click("#start-self-test")
        await wait_until(pilot, lambda: "hole 1" in str(pilot.app.screen.query_one("#self-test-hint").render()),
                         "the walk")
        empty = dict(SENSORS, switches=[dict(s, closed=False) for s in SENSORS["switches"]])
        fake.push_sensors(empty)
        fake.push_sensors(dict(empty, switches=[dict(s, closed=s["name"] == "hole 1") for s in empty["switches"]]))
        await wait_until(pilot, lambda: "hole 2" in str(pilot.app.screen.query_one("#self-test-hint").render()),
                         "step 2")
        await settled(pilot)
    assert snap_compare(create_app(fake.path), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_reconnecting_overlay(snap_compare, size):
    assert not os.path.exists(NOWHERE)

    async def before(pilot):
        # The overlay is the current screen a moment before it is composed: ask, do not query_one.
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReconnectingScreen)
                         and "no answer" in shown(pilot.app.screen, "#reconnecting-reason"),
                         "the overlay with its reason")
        await settled(pilot)
    assert snap_compare(create_app(NOWHERE), terminal_size=size, run_before=before)
