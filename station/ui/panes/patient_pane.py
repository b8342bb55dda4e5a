"""The therapist's patient pane: find, create, select and correct a patient (pseudonymous IDs only)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Select, Static

from station.api import SEXES
from station.ui.node import StationNode
from station.ui.widgets.choice import chosen

HANDS = [("right", "right"), ("left", "left")]


def year_problem(year: str) -> str | None:
    """Why ``year`` is no birth year (None: it is one)."""
    this_year = datetime.now().year
    if not year.isdigit() or not (this_year - 120 <= int(year) <= this_year):
        return f"The birth year must be between {this_year - 120} and {this_year}."
    return None


def patient_field_rows(prefix: str, *, notes: str, button: Button) -> list[Horizontal]:
    """A patient's fields in rows, ids ``{prefix}-id``, ``-year``, ``-sex``, ``-hand``, ``-notes``;
    ``button`` (what to do with them) after the notes, whose placeholder is ``notes``."""
    return [
        Horizontal(Input(placeholder="patient ID", id=f"{prefix}-id", compact=True),
                   Input(placeholder="birth year", id=f"{prefix}-year", type="integer", max_length=4, compact=True),
                   classes="row"),
        Horizontal(Select([(s, s) for s in SEXES], prompt="sex", id=f"{prefix}-sex", compact=True),
                   Select(HANDS, prompt="dominant hand", id=f"{prefix}-hand", compact=True),
                   classes="row"),
        Horizontal(Input(placeholder=notes, id=f"{prefix}-notes", compact=True), button, classes="row"),
    ]


class PatientPane(StationNode, VerticalScroll):
    """Find (ID contains...), a table to select from, a new patient's fields, corrections of the selected one."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Input(placeholder="find: ID contains...", id="find-query", compact=True)
            yield Button("Find", id="find", compact=True)
        yield DataTable(id="patients", cursor_type="row")
        yield Static("New patient (pseudonymous: no names)", classes="section")
        yield from patient_field_rows("new", notes="notes (optional)",
                                      button=Button("Create", id="create", compact=True))
        yield Static("Correct the selected patient (the old values stay in its history)", classes="section",
                     id="edit-title")
        yield from patient_field_rows("edit", notes="notes",
                                      button=Button("Save correction", id="save-edit", compact=True))

    def on_mount(self) -> None:
        self.query_one("#patients", DataTable).add_columns("ID", "born", "sex", "hand")
        self.watch(self.app, "state", self._on_state)
        self.find("")

    def _on_state(self, state: dict | None) -> None:
        patient = (state or {}).get("patient") or {}
        if patient.get("patient_id") == getattr(self, "_editing", None) and patient == getattr(self, "_shown", None):
            return
        self._editing, self._shown = patient.get("patient_id"), patient
        self.query_one("#edit-id", Input).value = str(patient.get("patient_id") or "")
        self.query_one("#edit-year", Input).value = str(patient.get("birth_year") or "")
        for wid, key in (("#edit-sex", "sex"), ("#edit-hand", "dominant_hand")):
            select = self.query_one(wid, Select)
            if patient.get(key):
                select.value = patient[key]
            else:
                select.clear()
        self.query_one("#edit-notes", Input).value = str(patient.get("notes") or "")

    # --- find and select ---------------------------------------------------------

    @on(Button.Pressed, "#find")
    @on(Input.Submitted, "#find-query")
    def _find_pressed(self) -> None:
        self.find(self.query_one("#find-query", Input).value.strip())

    @work(exclusive=True, group="find", exit_on_error=False)
    async def find(self, query: str) -> None:
        """Fill the table with the patients whose ID contains ``query``."""
        res = await self.app.request("find_patients", query=query, limit=50)
        if res is None:
            return
        table = self.query_one("#patients", DataTable)
        table.clear()
        for p in res.get("patients") or []:
            table.add_row(str(p.get("patient_id")), str(p.get("birth_year")), str(p.get("sex")),
                          str(p.get("dominant_hand")), key=str(p.get("patient_id")))

    @on(DataTable.RowSelected, "#patients")
    async def _select_patient(self, event: DataTable.RowSelected) -> None:
        res = await self.app.request("select_patient", patient_id=event.row_key.value)
        if res is not None:
            self.app.notify(f"Patient {event.row_key.value} selected.")
            self.screen.show_pane("test")  # type: ignore[attr-defined]

    # --- create ---------------------------------------------------------------------

    @on(Button.Pressed, "#create")
    async def _create(self) -> None:
        pid = self.query_one("#new-id", Input).value.strip()
        year = self.query_one("#new-year", Input).value.strip()
        sex = chosen(self.query_one("#new-sex", Select))
        hand = chosen(self.query_one("#new-hand", Select))
        notes = self.query_one("#new-notes", Input).value.strip()
        if not pid:
            return self.app.notify("Give the patient an ID (no names).", severity="warning")
        problem = year_problem(year)
        if problem:
            return self.app.notify(problem, severity="warning")
        if sex is None or hand is None:
            return self.app.notify("Choose the sex and the dominant hand.", severity="warning")
        extra: dict[str, Any] = {"notes": notes} if notes else {}
        res = await self.app.request("create_patient", patient_id=pid, birth_year=int(year), sex=sex,
                                     dominant_hand=hand, **extra)
        if res is not None:
            self.app.notify(f"Patient {pid} created and selected.")
            for wid in ("#new-id", "#new-year", "#new-notes"):
                self.query_one(wid, Input).value = ""
            self.find("")
            self.screen.show_pane("test")  # type: ignore[attr-defined]

    # --- correct ----------------------------------------------------------------------

    def corrections(self) -> dict | None:
        """The fields of the selected patient that differ from the edit row (None: nothing to save)."""
        patient = (self.app.state or {}).get("patient")
        if not patient:
            self.app.notify("Select a patient first.", severity="warning")
            return None
        year = self.query_one("#edit-year", Input).value.strip()
        problem = year_problem(year)
        if problem:
            self.app.notify(problem, severity="warning")
            return None
        new = {"patient_id": self.query_one("#edit-id", Input).value.strip(), "birth_year": int(year),
               "sex": chosen(self.query_one("#edit-sex", Select)),
               "dominant_hand": chosen(self.query_one("#edit-hand", Select)),
               "notes": self.query_one("#edit-notes", Input).value.strip()}
        if not new["patient_id"] or new["sex"] is None or new["dominant_hand"] is None:
            self.app.notify("The ID, sex and dominant hand cannot be empty.", severity="warning")
            return None
        changed = {k: v for k, v in new.items() if v != (patient.get(k) or ("" if k == "notes" else None))}
        if not changed:
            self.app.notify("Nothing changed.", severity="information")
            return None
        if "patient_id" in changed:
            changed["new_patient_id"] = changed.pop("patient_id")
        return changed

    @on(Button.Pressed, "#save-edit")
    async def _save_edit(self) -> None:
        patient = (self.app.state or {}).get("patient") or {}
        changes = self.corrections()
        if changes is None:
            return
        res = await self.app.request("update_patient", patient_id=patient.get("patient_id"), **changes)
        if res is not None:
            pid = (res.get("patient") or {}).get("patient_id")
            self.app.notify(f"Patient {pid} corrected ({', '.join(sorted(changes))}); the old values are "
                            "kept in its history.")
            self.find(self.query_one("#find-query", Input).value.strip())
