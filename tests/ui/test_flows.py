"""Pilot tests of the UI's flows: the main ones on both the fake and the real daemon
(tests/ui/stations.py), the rest on the fake."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from station.ui.app import create_app
from station.ui.screens.patient import PatientScreen
from station.ui.screens.pin import PinDialog
from station.ui.screens.reconnecting import ReconnectingScreen
from station.ui.screens.technician import FLASH_S, TechnicianScreen
from station.ui.screens.therapist import TherapistScreen
from station.ui.view.model import countdown_word
from station.ui.widgets.board import BoardView
from tests.ui.fake_daemon import FakeDaemon
from tests.ui.pilot_support import (
    PATIENT,
    TECHNICIAN_PIN,
    THERAPIST_PIN,
    attached_app,
    enter_pin,
    nhpt_trial,
    open_staff_screen,
    shown,
    text_of,
    wait_until,
)
from tests.ui.stations import FakeStation, RealStation, run, stations


@pytest.fixture
def fake(tmp_path):
    with FakeDaemon(tmp_path / "station.sock") as d:
        yield d


def prompt(app) -> str:
    return text_of(app.screen.query_one("#prompt", Static))


@asynccontextmanager
async def ui_on_a_station(make_station, tmp_path, *, test: str | None = None,
                          size: tuple[int, int] = (80, 24)) -> AsyncIterator[tuple[FakeStation | RealStation, Pilot]]:
    """A station (``make_station``: the fake or the real daemon) with PATIENT and ``test``, the UI attached."""
    async with make_station(tmp_path) as station:
        await station.setup(PATIENT, test=test)
        async with attached_app(station.path, size=size) as pilot:
            yield station, pilot


def test_a_trial_started_by_the_start_button_counts_down_shows_pegs_and_the_result(fake):
    fake.setup(patient=PATIENT, test="nine-hole-peg", history=[nhpt_trial(19.5, started_at="2024-05-01T10:00:00Z")])

    async def go():
        async with attached_app(fake.path) as pilot:
            app = pilot.app
            assert "trial 1 of 4" in text_of(app.screen.query_one("#headline"))
            assert "start button" in prompt(app)
            fake.press_start()  # the daemon arms the test's next trial on the button
            await wait_until(pilot, lambda: prompt(app) == "Ready", "Ready")
            assert "right hand" in text_of(app.screen.query_one("#headline"))
            fake.advance(1.0)
            await wait_until(pilot, lambda: prompt(app) == "Set", "Set")
            fake.advance(1.0)
            await wait_until(pilot, lambda: prompt(app).startswith("Go!"), "Go!")
            fake.dish(8)
            fake.peg_in(1)
            fake.peg_in(4)
            board = app.screen.query_one(BoardView)
            await wait_until(pilot, lambda: board.board.occupied == {1, 4}, "pegs in holes 1 and 4")
            lines = text_of(board).splitlines()
            assert "1(●)" in lines[0] and "2( )" in lines[0] and "4(●)" in lines[1]
            assert "Dish: 8 pegs" in text_of(board)
            fake.finish(18.4)
            await wait_until(pilot, lambda: "Done" in prompt(app), "the result")
            assert prompt(app).startswith("Done: 18.4 seconds with your right hand.")
            assert "19.5 seconds" in prompt(app) and "new best" in prompt(app)
    run(go())


def test_a_slower_result_is_worded_calmly_next_to_the_best(fake):
    fake.setup(patient=PATIENT, test="nine-hole-peg", history=[nhpt_trial(17.0)])

    async def go():
        async with attached_app(fake.path) as pilot:
            app = pilot.app
            fake.press_start()
            fake.dish(8)
            fake.finish(21.3)
            await wait_until(pilot, lambda: "Done" in prompt(app), "the result")
            assert "Your best so far is 17.0 seconds" in prompt(app)
            assert "worse" not in prompt(app) and "slower" not in prompt(app)
    run(go())


@stations
@pytest.mark.parametrize("role,pin,screen", [("therapist", THERAPIST_PIN, TherapistScreen),
                                             ("technician", TECHNICIAN_PIN, TechnicianScreen)])
def test_the_pin_gates_the_staff_screens(tmp_path, make_station, role, pin, screen):

    async def go():
        async with ui_on_a_station(make_station, tmp_path) as (station, pilot):
            app = pilot.app
            if role == "therapist":
                await pilot.click("#open-therapist")  # the link on the patient screen (a touch)
            else:
                await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(app.screen, PinDialog), "the PIN dialog")
            await enter_pin(pilot, "0000")
            await wait_until(pilot, lambda: "Wrong PIN" in shown(app.screen, "#pin-error"), "Wrong PIN")
            assert not any(isinstance(s, screen) for s in app.screen_stack)
            await enter_pin(pilot, pin)
            await wait_until(pilot, lambda: isinstance(app.screen, screen), f"the {role} screen")
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, PatientScreen), "the patient screen again")
    run(go())


def test_a_locked_out_role_says_how_long_to_wait_and_opens_nothing(fake):
    async def go():
        async with attached_app(fake.path) as pilot:
            app = pilot.app
            fake.locked_for_s = 300
            await pilot.press("f2")
            await wait_until(pilot, lambda: isinstance(app.screen, PinDialog), "the PIN dialog")
            await enter_pin(pilot, THERAPIST_PIN)  # even the right PIN: the daemon is not taking any now
            await wait_until(pilot, lambda: "try again in 300 s" in text_of(app.screen.query_one("#pin-error")),
                             "the lockout message")
            assert isinstance(app.screen, PinDialog) and not any(isinstance(s, TherapistScreen)
                                                                 for s in app.screen_stack)
            fake.locked_for_s = None
            await enter_pin(pilot, THERAPIST_PIN)
            await wait_until(pilot, lambda: isinstance(app.screen, TherapistScreen), "the therapist screen")
    run(go())


def test_a_staff_screen_without_a_pin_is_locked_and_says_how_to_set_one(fake):
    async def go():
        fake.pins = {}  # no PIN set on the station
        async with attached_app(fake.path) as pilot:
            app = pilot.app
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(app.screen, PinDialog), "the PIN dialog")
            assert not app.screen.query(Input)
            text = " ".join(text_of(w) for w in app.screen.query(Static))
            assert "no technician PIN is set" in text and "station set-pin technician" in text
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, PatientScreen), "the patient screen again")
    run(go())


async def _trial_with_result(app, pilot, station) -> dict:
    """From the invitation to press start to the result: the count-down, a two-peg trial, "Done"."""
    await wait_until(pilot, lambda: "start button" in prompt(app), "the invitation to press start")
    words: list[str] = []  # the count-down word of every state the app took

    def took(state: dict | None) -> None:
        word = countdown_word(state)
        if word is not None and word not in words:
            words.append(word)
    app.watch(app, "state", took, init=False)
    await station.press_start()  # the daemon arms the test's next trial on the button
    await wait_until(pilot, lambda: prompt(app) == "Ready", "Ready")
    await station.count_down()
    await wait_until(pilot, lambda: prompt(app) == "Set", "Set")
    await station.count_down()
    await wait_until(pilot, lambda: prompt(app).startswith("Go!"), "Go!")
    assert words == ["Ready", "Set", "Go!"]
    headline = text_of(app.screen.query_one("#headline"))
    assert "trial 1 of 4" in headline and "right hand" in headline
    board = app.screen.query_one(BoardView)
    await station.perform_trial()
    await wait_until(pilot, lambda: "Done:" in prompt(app), "the result")
    trial = app.last_result.trial
    assert trial["status"] == "complete" and trial["started_by"] == "button"
    assert prompt(app).startswith(f"Done: {trial['total_s']:.1f} seconds with your right hand.")
    assert "That is your first result here. Well done." in prompt(app)
    assert board.board.occupied == frozenset()
    return trial


@stations
def test_a_start_button_trial_counts_down_and_ends_with_its_result(tmp_path, make_station):
    async def go():
        async with ui_on_a_station(make_station, tmp_path, test="nine-hole-peg") as (station, pilot):
            app = pilot.app
            await _trial_with_result(app, pilot, station)
    run(go())


@stations
def test_marking_a_trial_invalid_updates_the_summary(tmp_path, make_station):
    async def go():
        async with ui_on_a_station(make_station, tmp_path, test="nine-hole-peg",
                                   size=(100, 30)) as (station, pilot):
            app = pilot.app
            trial = await _trial_with_result(app, pilot, station)
            screen = await open_staff_screen(pilot, "therapist")
            await wait_until(pilot, lambda: screen.query_one("#back").region.width, "the screen laid out")
            await pilot.click("#tab-test")
            table = screen.query_one("#trials", DataTable)
            await wait_until(pilot, lambda: table.row_count == 1, "the trial in the table")
            assert table.get_row_at(0)[3:5] == ["complete", f"{trial['total_s']:.1f}"]
            screen.query_one("#invalid-reason", Input).value = "dropped a peg on the floor"
            await pilot.click("#mark-invalid")
            await wait_until(pilot, lambda: "invalid" in str(table.get_row_at(0)[5]), "the trial marked invalid")
            assert table.get_row_at(0)[5] == "invalid: dropped a peg on the floor"
            # repeat: the test runs that trial again next
            await wait_until(pilot, lambda: "next trial 2 of 5, dominant hand" in shown(screen, "#test-status"),
                             "the repeat next")
            await pilot.click("#tab-results")
            said = f"invalid: trial {trial['trial_id']} (dominant): dropped a peg on the floor"
            await wait_until(pilot, lambda: said in shown(screen, "#results-text"),
                             "the summary with the trial invalid")
    run(go())


@stations
def test_the_daemon_going_away_and_coming_back(tmp_path, make_station):
    async def go():
        async with ui_on_a_station(make_station, tmp_path, test="nine-hole-peg") as (station, pilot):
            app = pilot.app
            reasons: list[str] = []

            def said(reason: str) -> None:
                reasons.append(reason)
            app.watch(app, "disconnect_reason", said, init=False)
            await station.go_away()
            await wait_until(pilot, lambda: isinstance(app.screen, ReconnectingScreen),
                             "the reconnecting overlay")
            # the daemon said bye first: the overlay says it is restarting, not that it was lost
            await wait_until(pilot, lambda: "restarting" in shown(app.screen, "#reconnecting-reason"),
                             "the bye reason on the overlay")
            await station.come_back()
            await wait_until(pilot, lambda: isinstance(app.screen, PatientScreen), "the patient screen again")
            # the connection's end came after the bye and before the new hello: it never said "lost"
            assert reasons and all("restarting" in r or "no answer" in r for r in reasons), reasons
            await wait_until(pilot, lambda: "start button" in prompt(app), "the test carrying on")
            await station.press_start()
            await wait_until(pilot, lambda: prompt(app) == "Ready", "a trial armed after reconnecting")
        assert app.return_code in (0, None)
    run(go())


def test_a_lost_connection_closes_the_staff_screen_its_session_ended_with(fake):
    async def go():
        async with attached_app(fake.path) as pilot:
            app = pilot.app
            await open_staff_screen(pilot, "therapist")
            fake.stop()
            await wait_until(pilot, lambda: isinstance(app.screen, ReconnectingScreen), "the reconnecting overlay")
            assert not any(isinstance(s, TherapistScreen) for s in app.screen_stack)
            fake.start()
            await wait_until(pilot, lambda: isinstance(app.screen, PatientScreen), "the patient screen again")
    run(go())


def test_no_daemon_at_start_shows_connecting_then_attaches(tmp_path):
    path = tmp_path / "later.sock"

    async def go():
        app = create_app(str(path))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ReconnectingScreen)
                             and "no socket there" in shown(app.screen, "#reconnecting-reason"),
                             "why it is not connected")
            with FakeDaemon(path) as fake:
                fake.setup(patient=PATIENT)
                await wait_until(pilot, lambda: isinstance(app.screen, PatientScreen), "the patient screen")
    run(go())


@pytest.mark.parametrize("key", ["ctrl+c", "ctrl+q", "ctrl+z", "ctrl+backslash"])
def test_the_kiosk_does_not_quit_on_control_keys(fake, key):
    async def go():
        async with attached_app(fake.path, kiosk=True) as pilot:
            app = pilot.app
            await pilot.press(key)
            # a key pressed after it is handled after it: the app is still there to open the PIN dialog
            await pilot.press("f2")
            await wait_until(pilot, lambda: isinstance(app.screen, PinDialog), "the PIN dialog after the key")
            assert app.is_running and app.return_code is None
    run(go())


def test_outside_the_kiosk_ctrl_q_quits(fake):
    async def go():
        async with attached_app(fake.path, kiosk=False) as pilot:
            app = pilot.app
            await pilot.press("ctrl+q")
            await wait_until(pilot, lambda: not app.is_running, "the app quitting")
    run(go())


def test_the_technician_sees_switches_flash_and_cells_live(fake):
    def sensors(closed: set[int]) -> dict:
        return {"switches": [{"name": f"hole {i}", "gpio": i, "raw": 0 if i in closed else 1, "closed": i in closed}
                             for i in range(1, 10)],
                "cells": {"dish": {"counts": 55780, "grams": 9.01, "units": 8.19, "count": 8, "noise_g": 0.041,
                                   "fault": None},
                          "tray": {"counts": 8388607, "grams": None, "units": None, "count": 0, "noise_g": None,
                                   "fault": "saturated or disconnected"}}}

    async def go():
        async with attached_app(fake.path, size=(100, 30)) as pilot:
            app = pilot.app
            await open_staff_screen(pilot, "technician")
            await wait_until(pilot, lambda: fake.subscribers("sensors") == 1, "a sensors subscription")
            fake.push_sensors(sensors(set()))
            screen = app.screen
            # The flash's end is the test's to run (FLASH_S later on a real screen): a loaded
            # machine cannot make the flash end before the test has looked at it.
            flash_ends: list = []
            real_set_timer = screen.set_timer

            def set_timer(delay, callback=None, **kw):
                if delay == FLASH_S:
                    flash_ends.append(callback)
                    return None
                return real_set_timer(delay, callback, **kw)
            screen.set_timer = set_timer
            await wait_until(pilot, lambda: screen.query("#sw-hole-3"), "the switches")
            sw = screen.query_one("#sw-hole-3", Static)
            assert not sw.has_class("-closed") and not sw.has_class("-flash")
            fake.push_sensors(sensors({3}))
            await wait_until(pilot, lambda: sw.has_class("-closed"), "hole 3 closed")
            assert sw.has_class("-flash") and len(flash_ends) == 1  # an edge flashes...
            flash_ends.pop()()
            assert not sw.has_class("-flash")  # ...until its time is up
            hole7 = screen.query_one("#sw-hole-7", Static)
            fake.peg_in(7)  # a live event flashes at once, before the next snapshot
            await wait_until(pilot, lambda: hole7.has_class("-flash") and hole7.has_class("-closed"), "hole 7 flash")
            cells = text_of(screen.query_one("#cells"))
            assert "dish" in cells and "9.01" in cells and "55780" in cells and "0.041" in cells
            assert "saturated or disconnected" in text_of(screen.query_one("#faults"))
            await pilot.press("escape")
            await wait_until(pilot, lambda: fake.subscribers("sensors") == 0, "the sensors unsubscribed")
    run(go())


def test_the_self_test_walk_ticks_steps_off_and_says_what_is_wrong(fake):
    def sensors(closed: set[int], dish: int = 9) -> dict:
        return {"switches": [{"name": f"hole {i}", "gpio": i, "raw": 1, "closed": i in closed} for i in range(1, 10)],
                "cells": {"dish": {"counts": 0, "grams": 0.0, "units": 0.0, "count": dish, "noise_g": 0.01,
                                   "fault": None}}}

    async def go():
        async with attached_app(fake.path, size=(100, 30)) as pilot:
            app = pilot.app
            await open_staff_screen(pilot, "technician")
            await wait_until(pilot, lambda: fake.subscribers("sensors") == 1, "a sensors subscription")
            screen = app.screen
            await pilot.click("#tab-self-test")
            await pilot.click("#start-self-test")
            hint = screen.query_one("#self-test-hint", Static)
            await wait_until(pilot, lambda: "hole 1" in text_of(hint), "the first hands-on step")
            fake.push_sensors(sensors(set()))
            fake.push_sensors(sensors({2}))
            await wait_until(pilot, lambda: "hole 2 closed instead" in text_of(hint), "the wrong hole named")
            fake.push_sensors(sensors({1, 2}))
            await wait_until(pilot, lambda: "hole 2" in text_of(hint) and "Now" in text_of(hint), "step 2")
            steps = [text_of(w) for w in screen.query(".step")]
            assert any(s.startswith("[x] seat a peg in hole 1") for s in steps)
    run(go())
