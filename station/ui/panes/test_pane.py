"""The therapist's test pane: choose a protocol and its options, start a test, run, finish or abort trials,
mark a trial invalid."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.coordinate import Coordinate
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from station.ui.node import StationNode
from station.ui.screens.confirm import ConfirmDialog
from station.ui.view.model import History
from station.ui.view.status_line import status_line, status_words, what_a_new_test_ends
from station.ui.view.summary import trial_row
from station.ui.widgets.choice import chosen
from station.ui.widgets.console import TickBox

#: the trials table's columns and widths: fixed (auto widths only grow, so the table's look
#: depended on rows long gone and on when they came); the note takes the rest
TRIAL_COLUMNS = (("id", 4), ("#", 2), ("hand", 5), ("status", 10), ("time s", 6), ("note", None))
#: the trials-per-hand choice: the protocol's usual plan, or 1-3 (docs/api.md, start_test)
PER_HAND = [("usual plan", 0), ("1 per hand", 1), ("2 per hand", 2), ("3 per hand", 3)]


class TestPane(StationNode, VerticalScroll):
    """Protocol, options and plan; the test's buttons; its trials, newest first."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Select([], prompt="protocol", id="protocol", compact=True)
            yield TickBox("practice first", id="practice", compact=True)
        with Horizontal(classes="row"):
            yield Select(PER_HAND, value=0, allow_blank=False, id="per-hand", compact=True)
            yield Horizontal(id="options")
        with Horizontal(classes="row"):
            yield Button("Start test", id="start-test", compact=True)
            yield Button("Run trial", id="run-trial", compact=True)
            yield Button("Finish trial", id="finish-trial", compact=True)
            yield Button("Abort trial", id="abort-trial", compact=True)
            yield Button("Abort test", id="abort-test", compact=True)
        yield Static("", id="test-status", markup=False)
        yield DataTable(id="trials", cursor_type="row")
        with Horizontal(classes="row"):
            yield Input(placeholder="why it is invalid", id="invalid-reason", compact=True)
            yield TickBox("repeat", value=True, id="repeat", compact=True)
            yield Button("Mark invalid", id="mark-invalid", compact=True)

    def on_mount(self) -> None:
        self._protocols: list[str] = []
        table = self.query_one("#trials", DataTable)
        for label, width in TRIAL_COLUMNS:
            table.add_column(label, width=width)
        self.watch(self.app, "state", self._on_state)
        self.watch(self.app, "history", self._on_history)

    # --- attributes down ------------------------------------------------------

    def _on_state(self, state: dict | None) -> None:
        state = state or {}
        protocols = (state.get("station") or {}).get("protocols") or {}
        names = sorted(protocols)
        if names and self._protocols != names:
            self._protocols = names
            select = self.query_one("#protocol", Select)
            select.set_options([(protocols[n].get("description") or n, n) for n in names])
            select.value = "nine-hole-peg" if "nine-hole-peg" in names else names[0]
        self.query_one("#test-status", Static).update(status_line(state))
        self._fill_trials()

    def _on_history(self, history: History) -> None:
        self._fill_trials()

    def _fill_trials(self) -> None:
        """The trials table: the running test's trials from the history (newest first)."""
        table = self.query_one("#trials", DataTable)
        state = self.app.state or {}
        test = state.get("test")
        trials = self.app.history.trials
        if test:
            trials = [t for t in trials if t.get("test_id") == test.get("test_id")]
        # Keep the cursor on the same trial, not the same row: a trial that finishes
        # meanwhile comes in at the top, and "Mark invalid" must not hit its neighbour.
        selected = selected_key(table)
        table.clear()
        keys = []
        for t in trials[:30]:
            keys.append(str(t.get("trial_id")))
            table.add_row(*trial_row(t), key=keys[-1])
        if keys:
            table.move_cursor(row=keys.index(selected) if selected in keys else 0)

    # --- protocol and options ---------------------------------------------------

    def _table(self) -> dict:
        return ((self.app.state or {}).get("station") or {}).get("protocols") or {}

    @on(Select.Changed, "#protocol")
    async def _protocol_changed(self, event: Select.Changed) -> None:
        box = self.query_one("#options", Horizontal)
        # Awaited: the old option fields must be gone before the new ones come
        # (Select.Changed twice in a row mounted a second set over the first).
        await box.remove_children()
        if event.select.is_blank():
            return
        fields = []
        for name, default in ((self._table().get(event.value) or {}).get("options") or {}).items():
            # No DOM id: an id per option would clash while an old set is still leaving.
            fields += [Label(name), Input(str(default), name=name, classes="option", compact=True,
                                          type="number" if isinstance(default, (int, float)) else "text")]
        await box.mount_all(fields)
        if getattr(self.app, "ascii", False):
            from station.ui.widgets.console import asciify

            asciify(box)

    def options(self) -> dict | None:
        """The options that differ from the protocol's defaults (None, and a message, if one is no number)."""
        defaults = (self._table().get(self.query_one("#protocol", Select).value) or {}).get("options") or {}
        out = {}
        for inp in self.query(".option").results(Input):
            name = inp.name or ""
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

    # --- tests and trials ----------------------------------------------------------

    @on(Button.Pressed, "#start-test")
    def _start_test(self) -> None:
        protocol = chosen(self.query_one("#protocol", Select))
        options = self.options()
        if protocol is None or options is None:
            return
        args = {"protocol": protocol, "options": options, "practice": self.query_one("#practice", Checkbox).value}
        per_hand = self.query_one("#per-hand", Select).value
        if isinstance(per_hand, int) and per_hand:
            args["trials_per_hand"] = per_hand
        busy = what_a_new_test_ends(self.app.state or {})
        if busy is None:
            self.run_worker(self._send_start_test(args), group="start-test", exclusive=True)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._send_start_test(args), group="start-test", exclusive=True)

        self.app.push_screen(ConfirmDialog(f"Starting a new test ends {busy}.", "End it and start",
                                           "Keep it"), answered)

    async def _send_start_test(self, args: dict) -> None:
        res = await self.app.request("start_test", **args)
        if res is not None:
            self.app.notify("Test started: the patient presses the start button for each trial.")

    @on(Button.Pressed, "#run-trial")
    async def _run_trial(self) -> None:
        test = (self.app.state or {}).get("test") or {}
        if test.get("next"):  # the test's next trial (as the start button would)
            await self.app.request("start_trial")
            return
        protocol = chosen(self.query_one("#protocol", Select))
        options = self.options()
        if protocol is None or options is None:
            return
        await self.app.request("start_trial", protocol=protocol, options=options)

    @on(Button.Pressed, "#finish-trial")
    async def _finish_trial(self) -> None:
        res = await self.app.request("finish_trial")
        if res is not None:
            status = (res.get("trial") or {}).get("status")
            self.app.notify(f"Trial finished ({status_words(status)}).")

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
        key = selected_key(table)
        trial_id = int(key) if key and key.isdigit() else key
        res = await self.app.request("mark_invalid", trial_id=trial_id, reason=reason,
                                     repeat=self.query_one("#repeat", Checkbox).value)
        if res is not None:
            self.query_one("#invalid-reason", Input).value = ""
            self.app.notify(f"Trial {key} marked invalid.")
            self.app.refresh_history()


def selected_key(table: DataTable) -> str | None:
    """The key of the row under the table's cursor (None: an empty table)."""
    if table.row_count == 0:
        return None
    return table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
