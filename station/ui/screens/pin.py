"""The PIN dialog in front of a staff screen: the daemon checks the PIN (``login``) and opens
this connection's session; locked when no PIN is set."""
from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from station.ui.widgets.console import SecretInput, console_look

ROLE_TITLES = {"therapist": "Therapist", "technician": "Technician"}
#: What the dialog says for each refusal (docs/api.md, "Staff sessions"); others show the daemon's message.
ERROR_WORDS = {"wrong_pin": "Wrong PIN.", "unavailable": "The station daemon did not answer; try again."}


class PinDialog(ModalScreen[bool]):
    """Dismisses with True once the daemon accepted the PIN (this connection is then
    logged in as ``role``), False on cancel. ``locked``: no PIN is set for the role."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, role: str, *, locked: bool = False) -> None:
        super().__init__()
        self.role = role
        self.locked = locked

    def compose(self) -> ComposeResult:
        title = ROLE_TITLES.get(self.role, self.role)
        with Vertical(id="pin-box", classes="dialog"):
            yield Static(f"{title} screen", classes="dialog-title")
            if not self.locked:
                yield Static("Enter the PIN:")
                yield SecretInput(password=True, id="pin-input", restrict=r"[0-9]*", max_length=32, compact=True)
                yield Static("", id="pin-error", classes="error")
                with Horizontal(classes="buttons"):
                    yield Button("Open", id="pin-ok", variant="primary", compact=True)
                    yield Button("Cancel", id="pin-cancel", compact=True)
            else:
                yield Static(f"Locked: no {self.role} PIN is set. Set one on the station's computer with:",
                             id="pin-locked")
                yield Static(f"  sudo station set-pin {self.role}", classes="command")
                with Horizontal(classes="buttons"):
                    yield Button("Back", id="pin-cancel", compact=True)

    def on_mount(self) -> None:
        console_look(self)
        if not self.locked:
            self.query_one("#pin-input", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "pin-ok":
            self._login(self.query_one("#pin-input", Input).value)
        elif event.button.id == "pin-cancel":
            self.dismiss(False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._login(event.value)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @work(exclusive=True, exit_on_error=False)
    async def _login(self, pin: str) -> None:
        from station.api import ApiError

        client = self.app.client  # type: ignore[attr-defined]
        try:
            if client is None or not pin:
                raise ApiError("wrong_pin" if client else "unavailable", "")
            await client.request("login", timeout=30.0, role=self.role, pin=pin)
        except ApiError as e:
            self._refused(ERROR_WORDS.get(e.code) or e.message)
            return
        except (TimeoutError, ConnectionError):
            self._refused(ERROR_WORDS["unavailable"])
            return
        self.dismiss(True)

    def _refused(self, error: str) -> None:
        self.query_one("#pin-error", Static).update(error)
        pin_input = self.query_one("#pin-input", Input)
        pin_input.value = ""
        pin_input.focus()
