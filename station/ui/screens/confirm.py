"""A yes/no question in front of an action that would end something (e.g. a test in progress)."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from station.ui.widgets.console import console_look


class ConfirmDialog(ModalScreen[bool]):
    """Dismisses with True for ``yes``, False for ``no`` or Esc. ``no`` has the focus: the safe answer."""

    BINDINGS = [("escape", "no", "Cancel")]
    AUTO_FOCUS = "#confirm-no"

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Static(self.question, id="confirm-question", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(self.yes, id="confirm-yes", variant="warning", compact=True)
                yield Button(self.no, id="confirm-no", compact=True)

    def on_mount(self) -> None:
        console_look(self)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def action_no(self) -> None:
        self.dismiss(False)
