"""The therapist's screen: patients, tests and trials, results and export, progress.

One widget class per pane (station/ui/panes/). Every action is a daemon
command (docs/api.md); what is shown comes from the app's ``state`` and
``history`` reactives, so a second UI attached to the same daemon sees the
same thing.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import ContentSwitcher, Static

from station.ui.panes.patient_pane import PatientPane
from station.ui.panes.progress_pane import ProgressPane
from station.ui.panes.results_pane import ResultsPane
from station.ui.panes.test_pane import TestPane
from station.ui.screens.staff import StaffScreen

PANES = ("patient", "test", "results", "progress")


class TherapistScreen(StaffScreen):
    """Behind the therapist PIN. Esc goes back to the patient's view."""

    PANES = PANES
    TITLE_TEXT = "Therapist"
    ROLE = "therapist"

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with ContentSwitcher(initial="patient-pane"):
            yield PatientPane(id="patient-pane", classes="pane")
            yield TestPane(id="test-pane", classes="pane")
            yield ResultsPane(id="results-pane", classes="pane")
            yield ProgressPane(id="progress-pane", classes="pane")

    def on_mount(self) -> None:
        self.watch(self.app, "state", self._on_state)
        self.show_pane("patient")

    def _on_state(self, state: dict | None) -> None:
        patient = (state or {}).get("patient")
        title = "Therapist"
        if patient:
            title += (f" - patient {patient.get('patient_id')} (born {patient.get('birth_year')}, "
                      f"{patient.get('sex')}, {patient.get('dominant_hand')}-handed)")
        else:
            title += " - no patient selected"
        self.query_one("#staff-title", Static).update(title)
