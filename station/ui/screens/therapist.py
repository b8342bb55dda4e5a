"""The therapist's screen: patients, tests and trials, results, progress, export.

Every action is a daemon command (docs/api.md); what is shown comes from the
app's ``state`` and ``history`` reactives, so a second UI attached to the same
daemon sees the same thing.
"""
from __future__ import annotations

from datetime import datetime

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, ContentSwitcher, DataTable, Input, Label, Select, Static
from textual_plotext import PlotextPlot

from station.api import SEXES
from station.ui.screens.staff import StaffScreen
from station.ui.view.export_target import export_history, export_target
from station.ui.view.model import History, peg_splits
from station.ui.view.summary import note_for, test_lines, trial_row
from station.ui.widgets.choice import chosen
from station.ui.widgets.report_bar import ReportBar

PANES = ("patient", "test", "results", "progress")


class TherapistScreen(StaffScreen):
    """Behind the therapist PIN. Esc goes back to the patient's view."""

    PANES = PANES
    TITLE_TEXT = "Therapist"

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with ContentSwitcher(initial="patient-pane"):
            with VerticalScroll(id="patient-pane", classes="pane"):
                with Horizontal(classes="row"):
                    yield Input(placeholder="find: ID contains...", id="find-query", compact=True)
                    yield Button("Find", id="find", compact=True)
                yield DataTable(id="patients", cursor_type="row")
                yield Static("New patient (pseudonymous: no names)", classes="section")
                with Horizontal(classes="row"):
                    yield Input(placeholder="patient ID", id="new-id", compact=True)
                    yield Input(placeholder="birth year", id="new-year", type="integer", max_length=4, compact=True)
                with Horizontal(classes="row"):
                    yield Select([(s, s) for s in SEXES], prompt="sex", id="new-sex", compact=True)
                    yield Select([("right", "right"), ("left", "left")], prompt="dominant hand", id="new-hand", compact=True)
                    yield Button("Create", id="create", compact=True)
            with VerticalScroll(id="test-pane", classes="pane"):
                with Horizontal(classes="row"):
                    yield Select([], prompt="protocol", id="protocol", compact=True)
                    yield Checkbox("practice first", id="practice", compact=True)
                yield Horizontal(id="options", classes="row")
                with Horizontal(classes="row"):
                    yield Button("Start test", id="start-test", compact=True)
                    yield Button("Run trial", id="run-trial", compact=True)
                    yield Button("Abort trial", id="abort-trial", compact=True)
                    yield Button("Abort test", id="abort-test", compact=True)
                yield Static("", id="test-status", markup=False)
                yield DataTable(id="trials", cursor_type="row")
                with Horizontal(classes="row"):
                    yield Input(placeholder="why it is invalid", id="invalid-reason", compact=True)
                    yield Checkbox("repeat", value=True, id="repeat", compact=True)
                    yield Button("Mark invalid", id="mark-invalid", compact=True)
            with VerticalScroll(id="results-pane", classes="pane"):
                with Horizontal(classes="row"):
                    yield Button("Export CSV + notes", id="export", compact=True)
                    yield Static("", id="export-status", markup=False)
                yield ReportBar(id="report-bar")
                yield Static("", id="results-text", markup=False)
            with Vertical(id="progress-pane", classes="pane"):
                yield PlotextPlot(id="progress-plot")
                yield PlotextPlot(id="split-plot")

    def on_mount(self) -> None:
        self.query_one("#patients", DataTable).add_columns("ID", "born", "sex", "hand")
        self.query_one("#trials", DataTable).add_columns("id", "#", "hand", "status", "time s", "note")
        self.watch(self.app, "state", self._on_state)
        self.watch(self.app, "history", self._on_history)
        self.show_pane("patient")
        self._find("")

    # --- attributes down ------------------------------------------------------

    def _on_state(self, state: dict | None) -> None:
        state = state or {}
        patient = state.get("patient")
        title = "Therapist"
        if patient:
            title += (f" - patient {patient.get('patient_id')} (born {patient.get('birth_year')}, "
                      f"{patient.get('sex')}, {patient.get('dominant_hand')}-handed)")
        else:
            title += " - no patient selected"
        self.query_one("#staff-title", Static).update(title)
        protocols = (state.get("station") or {}).get("protocols") or {}
        select = self.query_one("#protocol", Select)
        names = sorted(protocols)
        if names and getattr(self, "_protocols", None) != names:
            self._protocols = names
            select.set_options([(protocols[n].get("description") or n, n) for n in names])
            select.value = "nine-hole-peg" if "nine-hole-peg" in names else names[0]
        self._show_test(state)

    def _show_test(self, state: dict) -> None:
        test, trial = state.get("test"), state.get("trial")
        parts = []
        if trial:
            parts.append(f"trial armed: {trial.get('protocol')} {trial.get('side') or trial.get('hand')} "
                         f"({trial.get('status')})")
        if test:
            nxt = test.get("next")
            parts.append(f"test {test.get('test_id')} {test.get('protocol')}: {test.get('status')}"
                         + (f"; next trial {nxt.get('k')} of {nxt.get('n')}, {nxt.get('hand')} hand"
                            + (" (practice)" if nxt.get("practice") else "") if nxt else "; all trials done"))
        self.query_one("#test-status", Static).update(" | ".join(parts) or "No test running.")
        self._fill_trials()

    def _on_history(self, history: History) -> None:
        self._fill_trials()
        self._show_results(history)
        self._plot(history)

    def _fill_trials(self) -> None:
        """The trials table: the running test's trials from the history (newest first)."""
        table = self.query_one("#trials", DataTable)
        state = self.app.state or {}
        test = state.get("test")
        history: History = self.app.history
        trials = history.trials
        if test:
            trials = [t for t in trials if t.get("test_id") == test.get("test_id")]
        # Keep the cursor on the same trial, not the same row: a trial that finishes
        # meanwhile comes in at the top, and "Mark invalid" must not hit its neighbour.
        selected = self._selected_trial_key(table)
        table.clear()
        keys = []
        for t in trials[:30]:
            keys.append(str(t.get("trial_id")))
            table.add_row(*trial_row(t), key=keys[-1])
        if keys:
            table.move_cursor(row=keys.index(selected) if selected in keys else 0)

    @staticmethod
    def _selected_trial_key(table: DataTable) -> str | None:
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def _show_results(self, history: History) -> None:
        lines: list[str] = []
        for test in history.tests[:5]:
            lines += test_lines(test, history.trials)
            note = note_for(test, history.patient)
            if note:
                lines += ["", "  Clinical note:"] + ["  " + x for x in note.rstrip().splitlines()]
            lines.append("")
        if not lines:
            lines = ["No tests yet for this patient." if history.patient else "Select a patient first."]
        self.query_one("#results-text", Static).update("\n".join(lines))

    def _plot(self, history: History) -> None:
        ascii_only = getattr(self.app, "ascii", False)
        marker = "*" if ascii_only else "braille"
        prog = self.query_one("#progress-plot", PlotextPlot)
        plt = prog.plt
        plt.clear_data()
        plt.clear_figure()
        progress = history.progress()
        if progress.per == "test":
            plt.title(f"Progress: {progress.protocol}, mean per hand ({progress.unit}) test by test")
        else:
            plt.title(f"Progress: valid trials ({progress.unit})")
        for hand, points in progress.series.items():
            plt.plot([x for x, _ in points], [v for _, v in points], label=hand, marker=marker)
        if progress.count:
            plt.xticks(list(range(1, progress.count + 1)))  # counted: whole numbers only
        plt.xlabel(f"{progress.per} (oldest first)")
        _console_frame(plt, ascii_only)
        prog.refresh()
        split = self.query_one("#split-plot", PlotextPlot)
        plt = split.plt
        plt.clear_data()
        plt.clear_figure()
        latest = next((t for t in history.trials if peg_splits(t)), None)
        if latest is not None:
            labels, values = zip(*peg_splits(latest))
            plt.bar(list(labels), list(values), marker="#" if marker == "*" else "sd", width=0.5)
            plt.title(f"Per-peg splits, trial {latest.get('trial_id')} (s)")
        else:
            plt.title("Per-peg splits: no trial with pegs yet")
        _console_frame(plt, ascii_only)
        split.refresh()

    # --- patients ------------------------------------------------------------------

    @on(Button.Pressed, "#find")
    @on(Input.Submitted, "#find-query")
    def _find_pressed(self) -> None:
        self._find(self.query_one("#find-query", Input).value.strip())

    @work(exclusive=True, group="find")
    async def _find(self, query: str) -> None:
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
            self.show_pane("test")

    @on(Button.Pressed, "#create")
    async def _create(self) -> None:
        pid = self.query_one("#new-id", Input).value.strip()
        year = self.query_one("#new-year", Input).value.strip()
        sex = chosen(self.query_one("#new-sex", Select))
        hand = chosen(self.query_one("#new-hand", Select))
        this_year = datetime.now().year
        if not pid:
            return self.app.notify("Give the patient an ID (no names).", severity="warning")
        if not year.isdigit() or not (this_year - 120 <= int(year) <= this_year):
            return self.app.notify(f"The birth year must be between {this_year - 120} and {this_year}.",
                                   severity="warning")
        if sex is None or hand is None:
            return self.app.notify("Choose the sex and the dominant hand.", severity="warning")
        res = await self.app.request("create_patient", patient_id=pid, birth_year=int(year), sex=sex,
                                     dominant_hand=hand)
        if res is not None:
            self.app.notify(f"Patient {pid} created and selected.")
            for wid in ("#new-id", "#new-year"):
                self.query_one(wid, Input).value = ""
            self._find("")
            self.show_pane("test")

    # --- tests and trials -------------------------------------------------------------

    @on(Select.Changed, "#protocol")
    def _protocol_changed(self, event: Select.Changed) -> None:
        box = self.query_one("#options", Horizontal)
        box.remove_children()
        protocols = ((self.app.state or {}).get("station") or {}).get("protocols") or {}
        if event.select.is_blank():
            return
        for name, default in ((protocols.get(event.value) or {}).get("options") or {}).items():
            box.mount(Label(name), Input(str(default), id=f"opt-{name}", classes="option", compact=True,
                                         type="number" if isinstance(default, (int, float)) else "text"))

    def _options(self) -> dict | None:
        protocols = ((self.app.state or {}).get("station") or {}).get("protocols") or {}
        defaults = (protocols.get(self.query_one("#protocol", Select).value) or {}).get("options") or {}
        out = {}
        for inp in self.query(".option").results(Input):
            name = (inp.id or "").removeprefix("opt-")
            default = defaults.get(name)
            try:
                value = int(inp.value) if isinstance(default, int) else float(inp.value) \
                    if isinstance(default, float) else inp.value
            except ValueError:
                self.app.notify(f"Option {name}: {inp.value!r} is not a number.", severity="warning")
                return None
            if value != default:
                out[name] = value
        return out

    @on(Button.Pressed, "#start-test")
    async def _start_test(self) -> None:
        protocol = chosen(self.query_one("#protocol", Select))
        options = self._options()
        if protocol is None or options is None:
            return
        res = await self.app.request("start_test", protocol=protocol, options=options,
                                     practice=self.query_one("#practice", Checkbox).value)
        if res is not None:
            self.app.notify("Test started: the patient presses the start button for each trial.")

    @on(Button.Pressed, "#run-trial")
    async def _run_trial(self) -> None:
        test = (self.app.state or {}).get("test") or {}
        if test.get("next"):  # the test's next trial (as the start button would)
            await self.app.request("start_trial")
            return
        protocol = chosen(self.query_one("#protocol", Select))
        options = self._options()
        if protocol is None or options is None:
            return
        await self.app.request("start_trial", protocol=protocol, options=options)

    @on(Button.Pressed, "#abort-trial")
    async def _abort_trial(self) -> None:
        # The daemon words it "aborted: <reason>".
        await self.app.request("abort_trial", reason="by the therapist")

    @on(Button.Pressed, "#abort-test")
    async def _abort_test(self) -> None:
        await self.app.request("abort_test", reason="ended by the therapist")

    @on(Button.Pressed, "#mark-invalid")
    async def _mark_invalid(self) -> None:
        table = self.query_one("#trials", DataTable)
        reason = self.query_one("#invalid-reason", Input).value.strip()
        if table.row_count == 0:
            return self.app.notify("No trial to mark.", severity="warning")
        if not reason:
            return self.app.notify("Say why the trial is invalid.", severity="warning")
        key = self._selected_trial_key(table)
        trial_id = int(key) if key and key.isdigit() else key
        res = await self.app.request("mark_invalid", trial_id=trial_id, reason=reason,
                                     repeat=self.query_one("#repeat", Checkbox).value)
        if res is not None:
            self.query_one("#invalid-reason", Input).value = ""
            self.app.notify(f"Trial {key} marked invalid.")
            self.app.refresh_history()

    # --- export ---------------------------------------------------------------------

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



def _console_frame(plt, ascii_only: bool) -> None:
    # plotext draws its frame and axis ticks with box-drawing glyphs only (no
    # ASCII set), which the Linux console's font lacks: there, no frame; the
    # tick labels still stand beside the axes.
    if ascii_only:
        plt.frame(False)
