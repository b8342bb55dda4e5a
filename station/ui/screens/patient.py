"""The patient's screen: read from a metre away, no keyboard needed.

A big timer and count, the board as it is now, which trial and hand, a
ready-set-go when a trial is armed, and at the end the result next to the
patient's best. The start button is handled by the daemon; this screen only
shows state.
"""
from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static

from station.ui.node import StationNode
from station.ui.view.model import (
    countdown_word,
    counts_down,
    format_timer,
    instruction,
    live_count,
    timer_seconds,
    trial_headline,
)
from station.ui.widgets.big_timer import BigNumber
from station.ui.widgets.board import BoardView
from station.ui.widgets.console import console_look
from station.ui.widgets.lines import Lines


class PatientScreen(StationNode, Screen):
    """The default screen."""

    AUTO_FOCUS = None  # nothing here needs a keyboard

    def compose(self) -> ComposeResult:
        ascii = getattr(self.app, "ascii", False)
        yield Static("", id="headline", markup=False)
        with Horizontal(id="patient-main"):
            with Vertical(id="timer-panel", classes="panel"):
                yield BigNumber("0.0", "seconds", ascii=ascii, id="timer")
                yield BigNumber("0", "pegs in the board", ascii=ascii, id="count")
            board = BoardView(id="board", classes="panel")
            board.ascii = ascii
            yield board
        yield Lines("", id="prompt", markup=False)
        with Horizontal(id="staff-bar"):
            yield Static(self.app.sub_title, id="demo-hint", markup=False)
            # Links, not Buttons: nothing on this screen takes the keyboard (F2/F3 do),
            # and the first frame is spared Button's styles.
            yield Static("[@click=app.staff('therapist')]Therapist (F2)[/]", id="open-therapist", classes="link")
            yield Static("[@click=app.staff('technician')]Technician (F3)[/]", id="open-technician", classes="link")

    def on_mount(self) -> None:
        self._timer_floor: tuple[object, float] = (None, 0.0)  # (trial id, seconds shown)
        console_look(self)
        app = self.app
        self.watch(app, "board", self._on_board)
        self.watch(app, "state", self._on_state)
        self.watch(app, "last_result", self._on_result)
        self.watch(app, "sub_title", self._on_hint)
        self.set_interval(0.1, self._tick)

    # --- attributes down -------------------------------------------------------

    def _on_board(self, board) -> None:
        self.query_one(BoardView).board = board
        self._show_count()
        if (self.app.state or {}).get("trial"):
            self._show_prompt()  # the instruction may follow the board (coin drop's pick-up phase)

    def _on_state(self, state: dict | None) -> None:
        state = state or {}
        headline = trial_headline(state) or (state.get("station") or {}).get("name", "Station")
        self.query_one("#headline", Static).update(headline)
        self._show_timer()
        self._show_count()
        self._show_prompt()

    def _on_hint(self, hint: str) -> None:
        self.query_one("#demo-hint", Static).update(hint)

    def _on_result(self, _result) -> None:
        self._show_prompt()

    def _tick(self) -> None:
        trial = (self.app.state or {}).get("trial")
        if trial and trial.get("status") == "running":
            self._show_timer()

    def _show_timer(self) -> None:
        app = self.app
        trial = (app.state or {}).get("trial")
        timer = self.query_one("#timer", BigNumber)
        if not trial:
            if app.last_result is None:
                timer.value = "0.0"
            return
        seconds = timer_seconds(trial, time.monotonic() - app.state_received_at)
        # Between two state messages the screen runs the clock on; the next message may say a
        # little less. A count-up timer of the same trial never goes back.
        run = trial.get("trial_id", trial.get("run_id"))
        if not counts_down(trial) and self._timer_floor[0] == run:
            seconds = max(seconds, self._timer_floor[1])
        self._timer_floor = (run, seconds)
        timer.value = format_timer(seconds)
        timer.caption = "seconds left" if "duration_s" in (trial.get("options") or {}) else "seconds"

    def _show_count(self) -> None:
        state = self.app.state or {}
        trial = state.get("trial") or (self.app.last_result.trial if self.app.last_result else None) or {}
        value, caption = live_count(trial.get("protocol"), self.app.live, self.app.board)
        count = self.query_one("#count", BigNumber)
        count.value = str(value)
        count.caption = caption

    def _show_prompt(self) -> None:
        app = self.app
        state = app.state or {}
        prompt = self.query_one("#prompt", Static)
        trial = state.get("trial")
        word = countdown_word(state)
        prompt.set_class(word is not None, "-countdown")
        if word is not None:
            text = word if word != "Go!" else f"Go!  {instruction(trial, app.live)}"
        elif trial:
            text = instruction(trial, app.live)
        elif app.last_result is not None:
            text = app.last_result.message
            result = app.last_result.trial.get("result") or {}
            if isinstance(result.get("total_s"), (int, float)):
                self.query_one("#timer", BigNumber).value = format_timer(result["total_s"])
        elif state.get("test") and (state["test"].get("next")):
            text = "Press the start button when you are ready."
        elif state.get("patient"):
            text = "Hello. Your therapist will set up the next test."
        else:
            text = "Welcome. Your therapist will be with you shortly."
        prompt.update(text)
