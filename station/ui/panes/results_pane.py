"""The therapist's results pane (each test's summary and clinical note) with the export row above it."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from station.ui.node import StationNode
from station.ui.view.export_target import export_history, export_target
from station.ui.view.model import History
from station.ui.view.summary import note_for, test_lines
from station.ui.widgets.report_bar import ReportBar


def results_text(history: History) -> str:
    """The latest five tests, each with its clinical note when there is one."""
    lines: list[str] = []
    for test in history.tests[:5]:
        lines += test_lines(test, history.trials)
        note = note_for(test, history.patient)
        if note:
            lines += ["", "  Clinical note:"] + ["  " + x for x in note.rstrip().splitlines()]
        lines.append("")
    if not lines:
        lines = ["No tests yet for this patient." if history.patient else "Select a patient first."]
    return "\n".join(lines)


class ExportPane(StationNode, Horizontal):
    """Export CSV + notes of the selected patient to the USB stick (or the records' exports directory)."""

    def compose(self) -> ComposeResult:
        yield Button("Export CSV + notes", id="export", compact=True)
        yield Static("", id="export-status", markup=False)

    @on(Button.Pressed, "#export")
    def _export(self) -> None:
        history: History = self.app.history
        status = self.query_one("#export-status", Static)
        if not history.patient:
            status.update("Select a patient first.")
            return
        target = export_target()
        try:
            done = export_history(history, target.directory)
        except (OSError, ValueError) as e:  # export_history turns station.records.export's errors into ValueError
            status.update(f"Export to {target.where} failed: {e}")
            return
        status.update(f"Saved to {target.where}: {done.path}" + ("" if done.private else
                      "\nThis drive cannot keep files private (no file permissions): "
                      "anyone with the drive can read them. Keep it safe."))


class ResultsPane(StationNode, VerticalScroll):
    """The export row, then the results text."""

    def compose(self) -> ComposeResult:
        yield ExportPane(classes="row")
        yield ReportBar(id="report-bar")
        yield Static("", id="results-text", markup=False)

    def on_mount(self) -> None:
        self.watch(self.app, "history", self._on_history)

    def _on_history(self, history: History) -> None:
        self.query_one("#results-text", Static).update(results_text(history))
