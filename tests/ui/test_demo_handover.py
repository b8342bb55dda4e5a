"""The demo plays hands-free until staff open a screen; then the virtual patient performs what they start.

The real daemon in this process on simulated hardware with its virtual patient
(5x real time), the demo's autopilot on its own thread, the real UI.
"""
from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Button, Input, Select, Static

from station.ui.app import DEMO_HANDED_OVER, DEMO_HANDS_FREE, create_app
from station.ui.demo_autopilot import DemoAutopilot
from station.ui.screens.patient import PatientScreen
from station.ui.screens.pin import PinDialog
from station.ui.screens.therapist import TherapistScreen
from tests.daemon.inprocess import InProcessDaemon
from tests.support import staff_client
from tests.ui.pilot_support import THERAPIST_PIN, enter_pin, text_of, wait_until

pytestmark = pytest.mark.slow


def test_opening_a_staff_screen_stops_the_autopilot_and_the_patient_performs_the_therapists_test(tmp_path):
    async def go():
        async with InProcessDaemon(tmp_path, respond=True, speed=5.0, seed=3) as d:
            driver = DemoAutopilot(d.socket, pause_s=0.1, therapist_pin=THERAPIST_PIN)
            app = create_app(d.socket)
            app.sub_title = DEMO_HANDS_FREE
            app.autopilot = driver
            driver.start()
            try:
                async with app.run_test(size=(100, 30)) as pilot:
                    await wait_until(pilot, lambda: driver.tests_started and (app.state or {}).get("trial"),
                                     "the autopilot's test running", 30)
                    hint = app.screen.query_one("#demo-hint", Static)
                    assert "hands-free demo" in text_of(hint)
                    await pilot.press("f2")
                    await wait_until(pilot, lambda: isinstance(app.screen, PinDialog), "the PIN dialog")
                    await enter_pin(pilot, THERAPIST_PIN)
                    await wait_until(pilot, lambda: isinstance(app.screen, TherapistScreen)
                                     and app.screen.query("#trials"), "the therapist screen")
                    await wait_until(pilot, driver.released.is_set, "the autopilot's test ended", 60)
                    theirs = set(driver.tests_started)
                    await wait_until(pilot, lambda: not ((app.state or {}).get("test") or {}).get("next")
                                     and not (app.state or {}).get("trial"), "an idle station")
                    assert app.sub_title == DEMO_HANDED_OVER
                    # The therapist runs a coin drop: the virtual patient performs it, nothing else starts.
                    screen = app.screen
                    screen.show_pane("test")
                    screen.query_one("#protocol", Select).value = "coin-drop"
                    await wait_until(pilot, lambda: any(i.name == "coins" for i in screen.query(".option")),
                                     "the coin drop options")
                    next(i for i in screen.query(".option").results(Input) if i.name == "coins").value = "3"
                    screen.query_one("#per-hand", Select).value = 1
                    screen.query_one("#start-test", Button).press()
                    await wait_until(pilot, lambda: ((app.state or {}).get("test") or {}).get("protocol")
                                     == "coin-drop", "the therapist's coin drop test")
                    test_id = app.state["test"]["test_id"]
                    await wait_until(pilot, lambda: app.last_result is not None
                                     and app.last_result.trial.get("test_id") == test_id, "its first trial done", 60)
                    done = app.last_result.trial
                    assert done["protocol"] == "coin-drop" and done["status"] == "complete"
                    assert done["started_by"] == "button"  # the virtual patient pressed start for it
                    assert driver.tests_started == theirs  # the autopilot started nothing after the hand-over
                    await pilot.press("escape")
                    await wait_until(pilot, lambda: isinstance(app.screen, PatientScreen), "the patient screen")
                    assert text_of(app.screen.query_one("#demo-hint", Static)) == DEMO_HANDED_OVER
            finally:
                driver.stop()
            async with staff_client(d.socket, "therapist") as c:
                res = await c.request("results", patient_id="DEMO-1", limit=100)
        ended = [t for t in res["tests"] if t["test_id"] in theirs]
        assert ended and all(t["status"] != "in_progress" for t in ended)
        assert ended[0]["ended_reason"] == "the hands-free demo handed over to staff"
        mine = [t for t in res["trials"] if t.get("test_id") == test_id]
        assert mine and {t["protocol"] for t in mine} == {"coin-drop"}

    asyncio.run(asyncio.wait_for(go(), 300))
