"""Bugs found driving the UI by hand against the real daemon, each pinned by a pilot test."""
from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Button, DataTable, Input, Select

from station.ui.app import create_app
from station.ui.screens.patient import PatientScreen
from station.ui.screens.therapist import TherapistScreen
from tests.ui.fake_daemon import FakeDaemon
from tests.ui.pilot_support import PATIENT, PINS, wait_until


@pytest.fixture
def fake(tmp_path):
    with FakeDaemon(tmp_path / "station.sock") as d:
        yield d


async def open_screen(pilot, screen):
    app = pilot.app
    await wait_until(pilot, lambda: app.connected and isinstance(app.screen, PatientScreen), "the patient screen")
    app.push_screen(screen)
    await wait_until(pilot, lambda: app.screen is screen and screen.query("#back"), "the staff screen")
    return screen


async def click_again(pilot, button: Button) -> None:
    """Click a button once its pressed look has gone (a click while it lasts is ignored)."""
    await wait_until(pilot, lambda: not button.has_class("-active"), "the button ready again")
    await pilot.click(button)


def test_create_patient_without_a_hand_asks_for_it_and_sends_nothing(fake):
    # Was: Select.BLANK (False) is not Textual's "nothing chosen" (Select.NULL), so the
    # sentinel went into the request and json.dumps crashed the whole UI.
    async def go():
        app = create_app(fake.path, pins=PINS)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await open_screen(pilot, TherapistScreen())
            screen.query_one("#new-id", Input).value = "P-0100"
            screen.query_one("#new-year", Input).value = "1960"
            screen.query_one("#new-sex", Select).value = "female"
            await pilot.click("#create")
            await wait_until(pilot, lambda: any("dominant hand" in n.message for n in app._notifications),
                             "the request to choose the hand")
            assert app.is_running and not [r for r in fake.requests if r[0] == "create_patient"]
            screen.query_one("#new-hand", Select).value = "left"
            await click_again(pilot, screen.query_one("#create", Button))
            await wait_until(pilot, lambda: ((app.state or {}).get("patient") or {}).get("patient_id") == "P-0100",
                             "the new patient selected")
            assert ("create_patient", {"patient_id": "P-0100", "birth_year": 1960, "sex": "female",
                                       "dominant_hand": "left"}) in fake.requests
    asyncio.run(go())


def run_trial(fake, total_s: float) -> None:
    fake.press_start()
    fake.dish(8)
    fake.finish(total_s)


def test_the_trial_chosen_to_mark_invalid_stays_chosen_when_another_finishes(fake):
    # Was: the table kept the cursor's row number, so a trial finishing meanwhile
    # (it comes in at the top) moved the cursor onto the chosen trial's neighbour.
    fake.setup(patient=PATIENT, test="nine-hole-peg")

    async def go():
        app = create_app(fake.path, pins=PINS)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await open_screen(pilot, TherapistScreen())
            await pilot.click("#tab-test")
            table = screen.query_one("#trials", DataTable)
            run_trial(fake, 18.4)
            run_trial(fake, 19.0)
            await wait_until(pilot, lambda: table.row_count == 2, "two trials")
            table.move_cursor(row=1)  # the older one, trial 1
            assert table.get_row_at(1)[0] == "1"
            run_trial(fake, 17.5)
            await wait_until(pilot, lambda: table.row_count == 3, "the third trial")
            assert table.get_row_at(table.cursor_row)[0] == "1"
            screen.query_one("#invalid-reason", Input).value = "peg dropped on the floor"
            await pilot.click("#mark-invalid")
            await wait_until(pilot, lambda: any(r[0] == "mark_invalid" for r in fake.requests), "the request")
            assert [a["trial_id"] for c, a in fake.requests if c == "mark_invalid"] == [1]
    asyncio.run(go())
