"""The Linux console (TERM=linux, 16 colours): every state visible. Pilot checks and snapshots.

Was: the progress charts' text black on black and both hands drawn with the
same mark; the unticked "practice first" box showing an X; the trials table's
cursor gone once the focus left it, so "Mark invalid" acted on an unseen row.
Update the snapshots with ``pytest tests/ui/test_console_look.py --snapshot-update``
and look at the SVGs in tests/ui/__snapshots__/ before committing them.
"""
from __future__ import annotations

import asyncio

import pytest
from rich.color import ColorType
from textual.widgets import Checkbox, DataTable, Input
from textual_plotext import PlotextPlot

from station.ui.app import create_app
from station.ui.screens.patient import PatientScreen
from station.ui.screens.therapist import TherapistScreen
from tests.ui.fake_daemon import FakeDaemon
from tests.ui.pilot_support import PATIENT, nhpt_trial, text_of, therapist_pane, wait_until


def history() -> list[dict]:
    """Two hands, two sessions each: two series on the progress chart."""
    return [nhpt_trial(21.0, started_at="2024-04-01T10:00:00Z"),
            nhpt_trial(23.4, side="left", started_at="2024-04-01T10:05:00Z"),
            nhpt_trial(19.5, started_at="2024-05-01T10:00:00Z", pegs_every_s=1.3),
            nhpt_trial(22.1, side="left", started_at="2024-05-01T10:05:00Z")]


@pytest.fixture
def fake(tmp_path):
    with FakeDaemon(tmp_path / "station.sock") as d:
        d.setup(patient=PATIENT, test="nine-hole-peg", history=history())
        yield d


async def open_pane(pilot, pane: str) -> TherapistScreen:
    app = pilot.app
    await wait_until(pilot, lambda: app.connected and isinstance(app.screen, PatientScreen)
                     and len(app.history.trials) == 4, "the patient's history")
    screen = await therapist_pane(pilot, pane)
    await pilot.pause(0.2)
    return screen


def test_the_charts_draw_in_the_consoles_own_colours_with_a_mark_per_hand(fake):
    async def go():
        app = create_app(fake.path, ascii=True)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_pane(pilot, "progress")
            plot = screen.query_one("#progress-plot", PlotextPlot)
            await wait_until(pilot, lambda: "right" in plot.render().plain, "the progress chart")
            text = plot.render()
            legend = [line for line in text.plain.splitlines() if "right" in line or "left" in line]
            assert any("* right" in line for line in legend) and any("+ left" in line for line in legend)
            colours = {span.style.color.number for span in text.spans
                       if not isinstance(span.style, str) and span.style.color is not None}
            assert colours == {6, 3}  # the two hands: cyan and yellow, 2 of the console's 8 colours
            for span in text.spans:  # nothing drawn black on black (or on an explicit background at all)
                style = span.style
                if style and not isinstance(style, str):
                    assert style.bgcolor is None or style.bgcolor.type == ColorType.DEFAULT, style
                    assert style.color is None or style.color.name != "black", style
    asyncio.run(go())


def test_an_unticked_box_is_empty_and_the_chosen_trial_stays_marked_without_the_focus(fake):
    async def go():
        app = create_app(fake.path, ascii=True)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_pane(pilot, "test")
            practice, repeat = screen.query_one("#practice", Checkbox), screen.query_one("#repeat", Checkbox)
            assert text_of(practice).startswith("[ ]") and text_of(repeat).startswith("[X]")
            practice.value = True
            await pilot.pause()
            assert text_of(practice).startswith("[X]")
            screen.query_one("#invalid-reason", Input).focus()
            await pilot.pause()
            table = screen.query_one("#trials", DataTable)
            assert not table.has_focus
            cursor = table.get_component_styles("datatable--cursor")
            assert "reverse" in str(cursor.text_style)
    asyncio.run(go())


async def one_trial_with_the_focus_off_the_table(pilot, fake: FakeDaemon) -> None:
    """The test pane after one trial, the focus in the reason field: the table's cursor must still show."""
    screen = await open_pane(pilot, "test")
    fake.press_start()
    fake.dish(8)
    fake.finish(18.4)
    table = screen.query_one("#trials", DataTable)
    await wait_until(pilot, lambda: table.row_count == 1, "the trial")
    status = screen.query_one("#test-status")
    await wait_until(pilot, lambda: "next trial 2 of 4" in text_of(status), "the test's next trial")
    reason = screen.query_one("#invalid-reason", Input)
    reason.cursor_blink = False  # a blinking cursor would make the picture differ run to run
    reason.focus()
    await wait_until(pilot, lambda: reason.has_focus, "the focus in the reason field")
    await pilot.pause()


def test_console_progress_pane(snap_compare, fake):
    async def before(pilot):
        await open_pane(pilot, "progress")
        await pilot.pause()
    assert snap_compare(create_app(fake.path, ascii=True), terminal_size=(80, 24), run_before=before)


def test_console_test_pane_with_the_focus_off_the_table(snap_compare, fake):
    async def before(pilot):
        await one_trial_with_the_focus_off_the_table(pilot, fake)
    assert snap_compare(create_app(fake.path, ascii=True), terminal_size=(80, 24), run_before=before)


def test_256_colour_test_pane_with_the_focus_off_the_table(snap_compare, fake):
    async def before(pilot):
        await one_trial_with_the_focus_off_the_table(pilot, fake)
    assert snap_compare(create_app(fake.path), terminal_size=(80, 24), run_before=before)
