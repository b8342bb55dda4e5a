"""The therapist's flows, pane by pane, against the daemon stand-in (and the real daemon where it matters)."""
from __future__ import annotations

import asyncio
import logging

import pytest
from textual.widgets import Button, DataTable, Input, Select, Static
from textual.widgets._toast import Toast

from station.ui.screens.confirm import ConfirmDialog
from station.ui.screens.therapist import TherapistScreen
from station.ui.view.model import PICKUP_INSTRUCTION
from tests.daemon.inprocess import InProcessDaemon
from tests.support import staff_client
from tests.ui.fake_daemon import FakeDaemon
from tests.ui.pilot_support import PATIENT, attached_app, text_of, therapist_pane, wait_until

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((100, 30), id="100x30")]


@pytest.fixture
def fake(tmp_path):
    with FakeDaemon(tmp_path / "station.sock") as d:
        yield d


def run(coro, limit_s: float = 60):
    return asyncio.run(asyncio.wait_for(coro, limit_s))


def option_names(screen) -> list[str]:
    return [i.name for i in screen.query(".option").results(Input)]


async def choose_protocol(pilot, screen, protocol: str) -> None:
    screen.query_one("#protocol", Select).value = protocol
    await wait_until(pilot, lambda: option_names(screen) == list(OPTIONS[protocol]), f"the {protocol} options")


OPTIONS = {"nine-hole-peg": ("pegs", "cutoff_s"), "coin-drop": ("coins", "cutoff_s"),
           "free-practice": ("goal",), "timed-pegs": ("duration_s",)}


# --- the protocol switch (was: DuplicateIds 'opt-cutoff_s', the UI gone, exit status 0) ---------

async def switch_protocols(pilot, screen) -> None:
    app = pilot.app
    await choose_protocol(pilot, screen, "nine-hole-peg")
    select = screen.query_one("#protocol", Select)
    for protocol in ("coin-drop", "nine-hole-peg", "coin-drop"):  # quicker than the old fields could leave
        select.value = protocol
    await wait_until(pilot, lambda: option_names(screen) == ["coins", "cutoff_s"], "the coin drop options")
    await pilot.pause(0.1)
    assert option_names(screen) == ["coins", "cutoff_s"] and app.bugs == []
    assert [i.value for i in screen.query(".option").results(Input)] == ["8", "300.0"]


@pytest.mark.parametrize("size", SIZES)
def test_coin_drop_after_the_9hpt_on_the_stand_in(fake, size):
    fake.setup(patient=PATIENT, test="nine-hole-peg")

    async def go():
        async with attached_app(fake.path, size=size, kiosk=True) as pilot:
            app, screen = pilot.app, await therapist_pane(pilot)
            await switch_protocols(pilot, screen)
            screen.query_one("#start-test", Button).press()
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
            app.screen.query_one("#confirm-yes", Button).press()
            await wait_until(pilot, lambda: ((app.state or {}).get("test") or {}).get("protocol") == "coin-drop",
                             "the coin drop test")
            assert app.is_running and app.bugs == []
    run(go())


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_coin_drop_after_the_9hpt_on_the_real_daemon(tmp_path, size):
    async def go():
        async with InProcessDaemon(tmp_path) as d:
            async with staff_client(d.socket, "therapist", patient=PATIENT) as c:
                await c.request("start_test", protocol="nine-hole-peg")
            async with attached_app(d.socket, size=size, kiosk=True) as pilot:
                app, screen = pilot.app, await therapist_pane(pilot)
                await switch_protocols(pilot, screen)
                field = next(i for i in screen.query(".option").results(Input) if i.name == "coins")
                field.value = "4"
                screen.query_one("#start-test", Button).press()
                await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
                app.screen.query_one("#confirm-yes", Button).press()
                await wait_until(pilot, lambda: ((app.state or {}).get("test") or {}).get("protocol") == "coin-drop",
                                 "the coin drop test on the daemon")
                assert app.state["test"]["options"] == {"coins": 4}
                assert app.is_running and app.bugs == []
    run(go())


# --- an unexpected error in a handler ---------------------------------------------------------------

def test_an_error_in_a_handler_is_shown_and_logged_and_the_kiosk_goes_on(fake, caplog):
    fake.setup(patient=PATIENT)
    # the stand-in answers finish_trial with a malformed reply: the UI's handler then fails
    fake.run(lambda: fake.table.__setitem__("finish_trial", lambda a: {"trial": "not a trial record"}))

    async def go():
        async with attached_app(fake.path, notifications=True, kiosk=True) as pilot:
            app, screen = pilot.app, await therapist_pane(pilot)
            with caplog.at_level(logging.ERROR, logger="station.ui"):
                screen.query_one("#finish-trial", Button).press()
                await wait_until(pilot, lambda: app.bugs, "the error caught")
            assert app.bugs == ["AttributeError: 'str' object has no attribute 'get'"]
            await wait_until(pilot, lambda: app.screen.query(Toast), "the notification")
            said = " ".join(text_of(t) for t in app.screen.query(Toast))
            assert "Something went wrong" in said and "AttributeError" in said
            assert any("Traceback" in r.exc_text or r.exc_info for r in caplog.records if r.name == "station.ui")
            # ...and the app goes on: the same pane still answers
            await choose_protocol(pilot, screen, "coin-drop")
            screen.show_pane("results")
            await pilot.pause()
            assert app.is_running and isinstance(app.screen, TherapistScreen)
        assert app.return_code in (0, None)
    run(go())


# --- start_test, trials per hand, finishing free practice -----------------------------------------------

def test_starting_a_test_over_a_running_one_asks_first(fake):
    fake.setup(patient=PATIENT, test="nine-hole-peg")

    async def go():
        async with attached_app(fake.path, size=(100, 30)) as pilot:
            app, screen = pilot.app, await therapist_pane(pilot)
            await choose_protocol(pilot, screen, "nine-hole-peg")
            screen.query_one("#per-hand", Select).value = 1
            screen.query_one("#start-test", Button).press()
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
            assert "ends test 1 (nine-hole-peg, next trial 1 of 4)" in text_of(app.screen.query_one(
                "#confirm-question"))
            dialog = app.screen
            await wait_until(pilot, lambda: dialog.focused is dialog.query_one("#confirm-no"),
                             "the focus on the safe answer")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.screen is screen, "back on the therapist screen")
            await pilot.pause(0.1)
            assert not fake.sent("start_test")
            screen.query_one("#start-test", Button).press()
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation again")
            app.screen.query_one("#confirm-yes", Button).press()
            await wait_until(pilot, lambda: fake.sent("start_test"), "start_test")
            assert fake.sent("start_test") == [{"protocol": "nine-hole-peg", "options": {}, "practice": False,
                                                "trials_per_hand": 1}]
    run(go())


def test_with_no_test_running_start_test_goes_at_once(fake):
    fake.setup(patient=PATIENT)

    async def go():
        async with attached_app(fake.path) as pilot:
            app, screen = pilot.app, await therapist_pane(pilot)
            await choose_protocol(pilot, screen, "coin-drop")
            screen.query_one("#practice").value = True
            screen.query_one("#start-test", Button).press()
            await wait_until(pilot, lambda: fake.sent("start_test"), "start_test")
            assert not isinstance(app.screen, ConfirmDialog)
            assert fake.sent("start_test") == [
                {"protocol": "coin-drop", "options": {}, "practice": True}]
    run(go())


def test_free_practice_is_finished_not_only_aborted(fake):
    fake.setup(patient=PATIENT)

    async def go():
        async with attached_app(fake.path) as pilot:
            app, screen = pilot.app, await therapist_pane(pilot)
            await choose_protocol(pilot, screen, "free-practice")
            screen.query_one("#run-trial", Button).press()
            await wait_until(pilot, lambda: (app.state or {}).get("trial"), "the practice armed")
            fake.peg_in(2)
            fake.peg_out(2)
            screen.query_one("#finish-trial", Button).press()
            await wait_until(pilot, lambda: app.last_result is not None, "the session ended")
            assert fake.sent("finish_trial") == [{}] and not fake.sent("abort_trial")
            assert app.last_result.trial["status"] != "aborted"
    run(go())


# --- patients: notes, corrections ---------------------------------------------------------------------

def test_a_new_patient_takes_notes_and_a_typo_is_corrected_with_its_history(fake):
    async def go():
        async with attached_app(fake.path, size=(100, 30)) as pilot:
            app, screen = pilot.app, await therapist_pane(pilot, "patient")
            screen.query_one("#new-id", Input).value = "P-0100"
            screen.query_one("#new-year", Input).value = "1958"
            screen.query_one("#new-sex", Select).value = "female"
            screen.query_one("#new-hand", Select).value = "right"
            screen.query_one("#new-notes", Input).value = "left MCA stroke 2024"
            screen.query_one("#create", Button).press()
            await wait_until(pilot, lambda: ((app.state or {}).get("patient") or {}).get("patient_id") == "P-0100",
                             "the new patient selected")
            assert app.state["patient"]["notes"] == "left MCA stroke 2024"
            screen.show_pane("patient")
            await wait_until(pilot, lambda: screen.query_one("#edit-year", Input).value == "1958", "the edit row")
            screen.query_one("#edit-id", Input).value = "P-0010"
            screen.query_one("#edit-year", Input).value = "1985"
            screen.query_one("#save-edit", Button).press()
            title = screen.query_one("#staff-title", Static)
            await wait_until(pilot, lambda: "patient P-0010 (born 1985" in text_of(title), "the corrected patient")
            assert fake.sent("update_patient") == [{"patient_id": "P-0100", "new_patient_id": "P-0010",
                                                    "birth_year": 1985}]
            [entry] = app.state["patient"]["history"]
            assert entry["old"] == {"birth_year": 1958, "patient_id": "P-0100"} and entry["at"]
            table = screen.query_one("#patients", DataTable)
            await wait_until(pilot, lambda: table.row_count == 1 and table.get_row_at(0)[0] == "P-0010",
                             "the list with the new ID")
    run(go())


# --- the patient's screen: coin drop's pick-up phase -------------------------------------------------------

def test_the_coin_drop_instruction_changes_when_every_coin_is_on_the_tray(fake):
    fake.setup(patient=PATIENT, test="coin-drop")

    async def go():
        async with attached_app(fake.path) as pilot:
            app = pilot.app
            prompt = app.screen.query_one("#prompt", Static)
            fake.press_start()
            fake.advance(3.0)
            await wait_until(pilot, lambda: "Put the coins on the tray" in text_of(prompt), "the placing phase")
            for n in range(1, 8):
                fake.tray(n)
            await wait_until(pilot, lambda: app.board.count("tray") == 7, "seven coins")
            assert "Put the coins on the tray" in text_of(prompt)
            fake.tray(8)
            await wait_until(pilot, lambda: PICKUP_INSTRUCTION in text_of(prompt), "the pick-up instruction")
            fake.tray(7)
            await pilot.pause(0.1)
            assert PICKUP_INSTRUCTION in text_of(prompt)
    run(go())


# --- notifications ----------------------------------------------------------------------------------------

def test_notifications_do_not_pile_up(fake):
    fake.setup(patient=PATIENT)

    async def go():
        async with attached_app(fake.path, notifications=True) as pilot:
            app, screen = pilot.app, await therapist_pane(pilot)
            for _ in range(3):
                screen.query_one("#mark-invalid", Button).press()  # "No trial to mark." each time
                await pilot.pause(0.05)
            await wait_until(pilot, lambda: app.screen.query(Toast), "a notification")
            await pilot.pause(0.2)
            assert len(app.screen.query(Toast)) == 1
    run(go())


def test_a_coin_knocked_off_the_tray_is_told_to_the_therapist(fake):
    fake.setup(patient=PATIENT, test="coin-drop")
    detail = "1 coin left the tray while placing (3 -> 2): knocked off?"

    async def go():
        async with attached_app(fake.path, size=(100, 30), notifications=True) as pilot:
            app, screen = pilot.app, await therapist_pane(pilot)
            fake.press_start()
            fake.run(lambda: fake._finish({"status": "complete", "total_s": 21.0, "incidents": [
                {"t": 1003.0, "kind": "coin_off_tray", "detail": detail}]}))
            await wait_until(pilot, lambda: app.screen.query(Toast)
                             and detail in " ".join(text_of(t) for t in app.screen.query(Toast)), "the incident")
            table = screen.query_one("#trials", DataTable)
            await wait_until(pilot, lambda: table.row_count == 1, "the trial")
            assert table.get_row_at(0)[5] == "coin off the tray"
    run(go())


def test_the_patients_timer_never_runs_backwards_within_a_trial(fake):
    fake.setup(patient=PATIENT)

    async def go():
        async with attached_app(fake.path) as pilot:
            app = pilot.app
            timer = app.screen.query_one("#timer")
            fake.run(lambda: fake._cmd_start_trial({"protocol": "free-practice"}))
            fake.dish(8)  # the stand-in's clock starts at the first pick-up
            fake.advance(5.0)
            await wait_until(pilot, lambda: float(timer.value) >= 5.0, "5 seconds")
            shown = float(timer.value)
            fake.advance(-1.0)  # a state message saying less than the screen has run on to
            await wait_until(pilot, lambda: app.state["trial"]["elapsed_s"] == 4.0, "the smaller elapsed time")
            await pilot.pause(0.1)
            assert float(timer.value) >= shown
    run(go())
