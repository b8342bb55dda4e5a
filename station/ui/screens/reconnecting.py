"""Shown over everything while the daemon is away; goes when it is back."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from station.ui.widgets.console import console_look


class ReconnectingScreen(ModalScreen[None]):
    """"Connecting to the station...", with the reason; dismissed on reconnection."""

    def compose(self) -> ComposeResult:
        with Vertical(id="reconnecting-box", classes="dialog"):
            yield Static("Connecting to the station...", id="reconnecting-title")
            yield Static(self.app.disconnect_reason, id="reconnecting-reason", markup=False)  # type: ignore[attr-defined]  # StationApp's reactive
            yield Static("This screen carries on by itself when the station is back.", classes="hint")

    def on_mount(self) -> None:
        console_look(self)
        self.watch(self.app, "disconnect_reason", self._show_reason)
        self.watch(self.app, "connected", self._on_connected)

    def _show_reason(self, reason: str) -> None:
        # query, not query_one: an overlay pushed while the app exits is mounted
        # without its children (Textual skips composing a screen being removed).
        for w in self.query("#reconnecting-reason").results(Static):
            w.update(reason)

    def _on_connected(self, connected: bool) -> None:
        if connected and self.is_current:
            self.dismiss()
