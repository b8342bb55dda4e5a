"""The patient screen against the REAL daemon (in this process, on simulated hardware).

No virtual patient: the test makes the edges and loads below the real drivers
(tests/daemon/inprocess.py): the start button, a peg lifted from the dish,
pegs in and out of holes. The screen shows the count-down, the pegs live and
the result, as the daemon reports them over its socket.
"""
from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Static

from station.config import default_config_text
from station.ui.app import create_app
from station.ui.screens.patient import PatientScreen
from station.ui.widgets.board import BoardView
from tests.daemon.inprocess import InProcessDaemon
from tests.support import STAFF_PINS, staff_client
from tests.ui.pilot_support import PATIENT, text_of, wait_until

pytestmark = pytest.mark.slow  # a few seconds of real time (the count-down and settling)


async def peg(d: InProcessDaemon, hole: int, seated: bool) -> None:
    await d.seat(hole, seated)  # returns once the daemon confirmed it: one clean edge


def move_dish(d: InProcessDaemon, delta: int) -> None:
    d.move_dish(delta)


def test_the_start_button_on_the_real_daemon_counts_down_shows_pegs_and_the_result(tmp_path):
    async def go():
        async with InProcessDaemon(tmp_path) as d:
            async with staff_client(d.socket, patient=PATIENT) as c:
                await c.request("start_test", protocol="nine-hole-peg", options={"pegs": 2}, trials_per_hand=1,
                                practice=False)
            app = create_app(d.socket)
            async with app.run_test(size=(80, 24)) as pilot:
                prompt = lambda: text_of(app.screen.query_one("#prompt", Static))  # noqa: E731
                await wait_until(pilot, lambda: app.connected and isinstance(app.screen, PatientScreen)
                                 and "start button" in prompt(), "the invitation to press start")
                seen: list[str] = []
                await d.press()  # the daemon arms the test's next trial; its clock waits for the dish
                await wait_until(pilot, lambda: seen.append(prompt()) or prompt().startswith("Go!"), "Go!")
                words = [w for w in dict.fromkeys(seen) if w in ("Ready", "Set") or w.startswith("Go!")]
                assert words[:2] == ["Ready", "Set"], seen
                headline = text_of(app.screen.query_one("#headline"))
                assert "trial 1 of 2" in headline and "right hand" in headline

                board = app.screen.query_one(BoardView)
                move_dish(d, -1)
                await peg(d, 1, True)
                await wait_until(pilot, lambda: board.board.occupied == {1}, "the peg in hole 1")
                assert app.screen.query_one("#count").value == "1"
                move_dish(d, -1)
                await peg(d, 2, True)
                await wait_until(pilot, lambda: board.board.occupied == {1, 2}, "the pegs in holes 1 and 2")
                assert "1(●)" in text_of(board) and "2(●)" in text_of(board)
                await peg(d, 1, False)
                move_dish(d, +1)
                await peg(d, 2, False)
                move_dish(d, +1)
                await wait_until(pilot, lambda: "Done:" in prompt(), "the result")
                said = prompt()
                assert said.startswith("Done: ") and "seconds with your right hand." in said
                assert "That is your first result here. Well done." in said
                assert board.board.occupied == frozenset()
                result = app.last_result.trial
                assert result["status"] == "complete" and result["started_by"] == "button"
                assert f"{result['result']['total_s']:.1f} seconds" in said

    asyncio.run(asyncio.wait_for(go(), 60))


def test_the_calibration_wizard_on_the_real_daemon_saves_into_its_config(tmp_path, station_toml):
    import tomllib

    from textual.widgets import Input, Select

    from station.ui.screens.technician import TechnicianScreen


    async def go():
        async with InProcessDaemon(tmp_path, config_path=station_toml) as d:
            app = create_app(d.socket)
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_until(pilot, lambda: app.connected and isinstance(app.screen, PatientScreen), "attached")
                await pilot.press("f3")  # the daemon checks the technician PIN and opens the session
                await wait_until(pilot, lambda: app.screen.query("#pin-input"), "the PIN dialog")
                for key in [*STAFF_PINS["technician"], "enter"]:
                    await pilot.press(key)
                await wait_until(pilot, lambda: isinstance(app.screen, TechnicianScreen), "the technician screen")
                screen = app.screen
                await wait_until(pilot, lambda: screen.query("#back"), "the screen")
                await pilot.click("#tab-calibrate")
                status = screen.query_one("#cal-status", Static)
                screen.query_one("#cal-cell", Select).value = "tray"
                await pilot.click("#tare")
                await wait_until(pilot, lambda: "tared" in text_of(status), "the tare done")
                assert str(station_toml) in text_of(status)
                d.hw.step_load("tray", 2.0)  # two coins' worth of the configured unit
                screen.query_one("#cal-mass", Input).value = str(2.0 * d.config.cells["tray"].unit_g)
                await pilot.click("#calibrate")
                await wait_until(pilot, lambda: "calibrated" in text_of(status) or "failed" in text_of(status),
                                 "the calibration's answer")
                assert "calibrated" in text_of(status) and str(station_toml) in text_of(status)
        saved = tomllib.loads(station_toml.read_text(encoding="utf-8"))
        return saved, text_of(status)

    saved, said = asyncio.run(asyncio.wait_for(go(), 60))
    shown = float(said.split("calibrated: ")[1].split(" ")[0])
    assert saved["cells"]["tray"]["counts_per_gram"] == pytest.approx(shown, abs=0.01)
    text = station_toml.read_text(encoding="utf-8")
    assert text != default_config_text() and "HX711 under the coin tray" in text  # written, comments kept
