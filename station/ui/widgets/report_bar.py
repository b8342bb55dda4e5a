"""The results pane's report bar: "Print / save report" and the record-system delivery line."""
from __future__ import annotations

from datetime import datetime

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Static

from station.ui.view.delivery import delivery_line
from station.ui.view.export_target import export_target
from station.ui.view.report_export import save_report


class ReportBar(Vertical):
    """Saves the latest finished test's PDF where exports go; shows ``state["fhir"]`` in one line."""

    DEFAULT_CSS = """
    ReportBar { height: auto; }
    ReportBar Button { width: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Button("Print / save report", id="save-report", compact=True)
        yield Static("", id="report-status", markup=False)
        yield Static("", id="fhir-status", markup=False)

    def on_mount(self) -> None:
        self.watch(self.app, "state", self._on_state)

    def _on_state(self, state: dict | None) -> None:
        self.query_one("#fhir-status", Static).update(delivery_line((state or {}).get("fhir")))

    @on(Button.Pressed, "#save-report")
    def _save(self) -> None:
        status = self.query_one("#report-status", Static)
        history = getattr(self.app, "history", None)
        if history is None or not history.patient:
            status.update("Select a patient first.")
            return
        target = export_target()
        try:
            done = save_report(history, target.directory, now=datetime.now().astimezone())
        except (OSError, ValueError) as e:
            status.update(f"Report not saved: {e}")
            return
        status.update(f"Report saved to {target.where}: {done.path}" + ("" if done.private else
                      "\nThis drive cannot keep files private: keep it safe."))
