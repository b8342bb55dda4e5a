"""Bugs found driving the UI by hand against the real daemon, each pinned by a pilot test."""
from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Button, DataTable, Input, Select, Static

from station.ui.app import create_app
from station.ui.screens.patient import PatientScreen
from station.ui.screens.technician import TechnicianScreen
from station.ui.screens.therapist import TherapistScreen
from tests.ui.fake_daemon import FakeDaemon
from tests.ui.pilot_support import PATIENT, open_staff_screen, text_of, wait_until


@pytest.fixture
def fake(tmp_path):
    with FakeDaemon(tmp_path / "station.sock") as d:
        yield d


async def open_screen(pilot, screen):
    app = pilot.app
    await wait_until(pilot, lambda: app.connected and isinstance(app.screen, PatientScreen), "the patient screen")
    return await open_staff_screen(pilot, screen.ROLE)


async def click_again(pilot, button: Button) -> None:
    """Click a button once its pressed look has gone (a click while it lasts is ignored)."""
    await wait_until(pilot, lambda: not button.has_class("-active"), "the button ready again")
    await pilot.click(button)


def test_create_patient_without_a_hand_asks_for_it_and_sends_nothing(fake):
    # Was: Select.BLANK (False) is not Textual's "nothing chosen" (Select.NULL), so the
    # sentinel went into the request and json.dumps crashed the whole UI.
    async def go():
        app = create_app(fake.path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await open_screen(pilot, TherapistScreen())
            screen.query_one("#new-id", Input).value = "P-0100"
            screen.query_one("#new-year", Input).value = "1960"
            screen.query_one("#new-sex", Select).value = "female"
            await pilot.click("#create")
            await wait_until(pilot, lambda: any("dominant hand" in n.message for n in app._notifications),
                             "the request to choose the hand")
            assert app.is_running and not fake.sent("create_patient")
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
        app = create_app(fake.path)
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
            # press(), not a click: the status line above re-wraps as the state comes in,
            # so a click's position could land a row off.
            screen.query_one("#mark-invalid", Button).press()
            await wait_until(pilot, lambda: fake.sent("mark_invalid"), "the request")
            assert [a["trial_id"] for a in fake.sent("mark_invalid")] == [1]
    asyncio.run(go())


def test_the_self_test_walk_ticks_a_peg_seated_and_pulled_between_two_snapshots(fake):
    # Was: the walk looked only at the 5 Hz sensors snapshots, one step per snapshot;
    # with the simulated patient at --speed 5 it stuck at hole 7 once pegs 7-9 had
    # come and gone between snapshots. Now the live peg_in events tick holes off.
    async def go():
        app = create_app(fake.path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await open_screen(pilot, TechnicianScreen())
            await wait_until(pilot, lambda: fake.subscribers("sensors") == 1, "a sensors subscription")
            await pilot.click("#tab-self-test")
            await pilot.click("#start-self-test")
            hint = screen.query_one("#self-test-hint", Static)
            await wait_until(pilot, lambda: "hole 1" in text_of(hint), "the first hands-on step")
            for hole in (1, 2, 3):  # no snapshot at all while these come and go
                fake.peg_in(hole)
                fake.peg_out(hole)
            await wait_until(pilot, lambda: "hole 4" in text_of(hint), "the walk at hole 4")
            steps = [text_of(w) for w in screen.query(".step")]
            assert [s for s in steps if s.startswith("[x] seat a peg")] == \
                [f"[x] seat a peg in hole {h}: seated" for h in (1, 2, 3)]
            fake.peg_in(6)
            await wait_until(pilot, lambda: "hole 6 closed instead" in text_of(hint), "the wrong hole named")
    asyncio.run(go())


def test_the_progress_plot_is_one_point_per_test_per_hand():
    # Was: one point per valid trial, under the label "test (oldest first)".
    from station.ui.view.model import History

    def test(test_id, protocol, dominant, non_dominant):
        return {"test_id": test_id, "protocol": protocol,
                "summary": {"unit": "s", "hands": {"dominant": {"mean": dominant},
                                                   "non-dominant": {"mean": non_dominant}}}}
    trials = [{"trial_id": i, "status": "complete", "result": {"total_s": 20.0}, "side": "right"} for i in range(6)]
    history = History(None, [test(3, "nine-hole-peg", 17.0, 18.5), test(2, "coin-drop", 30.0, None),
                             test(1, "nine-hole-peg", 19.0, 21.0)], trials)  # newest first, as the daemon sends
    progress = history.progress()
    assert (progress.protocol, progress.per, progress.count) == ("nine-hole-peg", "test", 2)
    assert progress.series == {"dominant": [(1, 19.0), (2, 17.0)], "non-dominant": [(1, 21.0), (2, 18.5)]}


def screen_text(app) -> str:
    """Every cell on the screen as text (the compositor's lines)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def non_ascii(text: str) -> set[str]:
    return {c for c in text if ord(c) > 127}


def test_on_the_linux_console_the_pin_and_the_charts_are_plain_ascii(fake):
    # Was: the PIN showed as bullets and plotext framed its charts with box-drawing
    # glyphs; the console font has neither.
    from tests.ui.pilot_support import THERAPIST_PIN, enter_pin, nhpt_trial

    fake.setup(patient=PATIENT, history=[nhpt_trial(21.0, started_at="2024-04-01T10:00:00Z"),
                                         nhpt_trial(19.5, started_at="2024-05-01T10:00:00Z")])

    async def go():
        app = create_app(fake.path, ascii=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.connected and app.history.trials, "the patient's history")
            await pilot.press("f2")
            await enter_pin(pilot, THERAPIST_PIN[:3], submit=False)
            await pilot.pause()
            text = screen_text(app)
            assert "***" in text and not non_ascii(text)
            await pilot.press(THERAPIST_PIN[3], "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, TherapistScreen), "the therapist screen")
            await pilot.click("#tab-progress")
            await wait_until(pilot, lambda: "Per-peg splits, trial" in screen_text(app), "the charts")
            text = screen_text(app)
            assert "Progress" in text and "#" in text and not non_ascii(text)
    asyncio.run(go())
