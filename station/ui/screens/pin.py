"""The PIN dialog in front of a staff screen; locked when no PIN is set."""
from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from station.staff_pins import PinError, is_set, verify_pin
from station.ui.widgets.console import SecretInput, console_look

ROLE_TITLES = {"therapist": "Therapist", "technician": "Technician"}


class PinDialog(ModalScreen[bool]):
    """Dismisses with True once the right PIN is entered, False on cancel."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, role: str, stored: str, config_path: str | None = None) -> None:
        super().__init__()
        self.role = role
        self.stored = stored
        self.config_path = config_path

    def compose(self) -> ComposeResult:
        title = ROLE_TITLES.get(self.role, self.role)
        with Vertical(id="pin-box", classes="dialog"):
            yield Static(f"{title} screen", classes="dialog-title")
            if is_set(self.stored):
                yield Static("Enter the PIN:")
                yield SecretInput(password=True, id="pin-input", restrict=r"[0-9]*", max_length=32, compact=True)
                yield Static("", id="pin-error", classes="error")
                with Horizontal(classes="buttons"):
                    yield Button("Open", id="pin-ok", variant="primary", compact=True)
                    yield Button("Cancel", id="pin-cancel", compact=True)
            else:
                where = f" --config {self.config_path}" if self.config_path else " --config FILE"
                yield Static(f"Locked: no {self.role} PIN is set. Set one on the station's computer with:",
                             id="pin-locked")
                yield Static(f"  station set-pin {self.role}{where}", classes="command")
                with Horizontal(classes="buttons"):
                    yield Button("Back", id="pin-cancel", compact=True)

    def on_mount(self) -> None:
        console_look(self)
        if is_set(self.stored):
            self.query_one("#pin-input", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "pin-ok":
            self._check(self.query_one("#pin-input", Input).value)
        elif event.button.id == "pin-cancel":
            self.dismiss(False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._check(event.value)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @work(exclusive=True, thread=True)
    def _check(self, pin: str) -> None:
        # PBKDF2 takes a noticeable moment on a Pi: off the UI thread.
        try:
            ok, error = verify_pin(pin, self.stored), "Wrong PIN."
        except PinError as e:
            ok, error = False, str(e)
        self.app.call_from_thread(self._checked, ok, error)

    def _checked(self, ok: bool, error: str) -> None:
        if ok:
            self.dismiss(True)
            return
        self.query_one("#pin-error", Static).update(error)
        pin_input = self.query_one("#pin-input", Input)
        pin_input.value = ""
        pin_input.focus()
