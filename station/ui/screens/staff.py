"""What the therapist and technician screens share: a title, a row of tabs, panes."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Static

from station.ui.node import StationNode
from station.ui.widgets.console import console_look


class StaffScreen(StationNode, Screen):
    """Tabs ``PANES`` switch a ContentSwitcher of ``<pane>-pane`` children; Esc goes back,
    ending the daemon session of ``ROLE`` (the kiosk is left to the patient)."""

    CSS_PATH = Path(__file__).resolve().parent.parent / "staff.tcss"
    PANES: ClassVar[tuple[str, ...]] = ()
    ROLE: ClassVar[str] = ""
    TITLE_TEXT: ClassVar[str] = ""
    BINDINGS = [("escape", "back", "Patient view")]

    def compose_header(self, *extra: Button) -> ComposeResult:
        yield Static(self.TITLE_TEXT, id="staff-title", classes="staff-title", markup=False)
        with Horizontal(classes="tabs"):
            for pane in self.PANES:
                yield Button(pane.capitalize(), id=f"tab-{pane}", compact=True)
            yield Button("Back (Esc)", id="back", compact=True)
            yield from extra

    def on_mount(self) -> None:
        console_look(self)

    def on_unmount(self) -> None:
        self.app.logout(self.ROLE)

    def show_pane(self, pane: str) -> None:
        """Switch to ``pane``; the keyboard goes to its first field (or button)."""
        self.query_one(ContentSwitcher).current = f"{pane}-pane"
        for p in self.PANES:
            self.query_one(f"#tab-{p}", Button).set_class(p == pane, "-current-tab")
        first = next((w for w in self.query_one(f"#{pane}-pane").query("*") if w.focusable), None)
        if first is not None:
            # Queued now (focus() posts it), so keys typed after this land after it; a
            # call_after_refresh here once took the focus back from a quick typist's Tab.
            first.focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed, ".tabs Button")
    def _tab(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid == "back":
            self.action_back()
        elif bid.startswith("tab-"):
            self.show_pane(bid.removeprefix("tab-"))
