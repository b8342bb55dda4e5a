"""The technician's screen: every sensor live, the self-test walk, calibration.

Subscribes to the daemon's 5 Hz ``sensors`` topic while open. A switch that
changes flashes (from the live events at once, and from the snapshots).
"""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, ContentSwitcher, Input, Select, Static

from station.ui.screens.staff import StaffScreen
from station.ui.view.guided_check import GuidedCheckWalk
from station.ui.widgets.choice import chosen
from station.ui.widgets.lines import Lines

PANES = ("sensors", "self-test", "calibrate")
FLASH_S = 0.4
MARKS = {"done": "[x]", "current": "[>]", "wrong": "[!]", "failed": "[!]", "todo": "[ ]"}


class TechnicianScreen(StaffScreen):
    """Behind the technician PIN. Esc goes back; "Exit UI" leaves the kiosk."""

    PANES = PANES
    TITLE_TEXT = "Technician - sensors live"
    ROLE = "technician"
    # Below 90 columns the switch grid has 4 columns: 5 clipped "button start - 1".
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (90, "-wide")]

    def __init__(self) -> None:
        super().__init__()
        self._switch_closed: dict[str, bool] = {}
        self.walk: GuidedCheckWalk | None = None
        self._occupied: frozenset[int] | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_header(Button("Exit UI", id="exit-ui", compact=True, variant="error"))
        with ContentSwitcher(initial="sensors-pane"):
            with VerticalScroll(id="sensors-pane", classes="pane"):
                yield Static("Switches", classes="section")
                yield Container(id="switches")
                yield Static("Load cells", classes="section")
                yield Lines("waiting for the first reading...", id="cells", markup=False)
                yield Static("Faults", classes="section")
                yield Lines("none", id="faults", markup=False)
            with VerticalScroll(id="self-test-pane", classes="pane"):
                with Horizontal(classes="row"):
                    yield Button("Start self-test", id="start-self-test", compact=True)
                    yield Button("Skip step", id="skip-step", compact=True)
                    yield Static("", id="self-test-hint")
                yield Vertical(id="steps")
            with VerticalScroll(id="calibrate-pane", classes="pane"):
                yield Static("1. Empty the cell, then Tare.  2. Put a known mass on it, enter it, Calibrate.\n"
                             "The daemon keeps the calibration; it applies from the next trial.")
                with Horizontal(classes="row"):
                    yield Select([], prompt="cell", id="cal-cell", compact=True)
                    yield Button("Tare", id="tare", compact=True)
                with Horizontal(classes="row"):
                    yield Input(placeholder="known mass in grams", id="cal-mass", type="number", compact=True)
                    yield Button("Calibrate", id="calibrate", compact=True)
                yield Static("", id="cal-status")

    def on_mount(self) -> None:
        self.app.want_sensors(True)
        self.watch(self.app, "sensors", self._on_sensors)
        self.watch(self.app, "board", self._on_board)
        self.watch(self.app, "state", self._on_state)
        self.show_pane("sensors")

    def on_unmount(self) -> None:
        self.app.want_sensors(False)

    @on(Button.Pressed, "#exit-ui")
    def _exit_ui(self) -> None:
        self.app.exit()

    # --- attributes down -------------------------------------------------------

    def _on_state(self, state: dict | None) -> None:
        cells = sorted(((state or {}).get("station") or {}).get("cells") or {})
        select = self.query_one("#cal-cell", Select)
        if cells and getattr(self, "_cells", None) != cells:
            self._cells = cells
            select.set_options([(c, c) for c in cells])
            select.value = cells[0]

    def _switch_widget(self, name: str) -> Static:
        wid = "sw-" + name.replace(" ", "-")
        found = self.query(f"#{wid}")
        if found:
            return found.first(Static)
        w = Static(name, id=wid, classes="switch", markup=False)
        self.query_one("#switches", Container).mount(w)
        return w

    def _set_switch(self, name: str, closed: bool, raw=None) -> None:
        w = self._switch_widget(name)
        was = self._switch_closed.get(name)
        self._switch_closed[name] = closed
        mark = "#" if closed else "-"
        w.update(f"{name} {mark}" + ("" if raw is None else f" {raw}"))
        w.set_class(closed, "-closed")
        if was is not None and was != closed:
            w.add_class("-flash")
            self.set_timer(FLASH_S, lambda: w.remove_class("-flash"))

    def _on_board(self, board) -> None:
        # Live events arrive at once (snapshots only 5 times a second): flash the holes
        # whose peg came or went since the last board, and leave the others alone.
        before = self._occupied
        self._occupied = board.occupied
        if before is None:
            return
        for hole in sorted(before ^ board.occupied):
            self._set_switch(f"hole {hole}", hole in board.occupied)
            if hole in board.occupied and self.walk is not None and not self.walk.finished:
                self.walk.switch_closed(f"hole {hole}")
                self._show_walk()

    def _on_sensors(self, sensors: dict | None) -> None:
        if not sensors:
            return
        for sw in sensors.get("switches") or []:
            self._set_switch(str(sw.get("name")), bool(sw.get("closed")), sw.get("raw"))
        lines = [f"{'cell':<6} {'grams':>9} {'counts':>9} {'items':>5} {'noise g':>8}  fault"]
        for name, c in (sensors.get("cells") or {}).items():
            lines.append(f"{name:<6} {_num(c.get('grams'), 2):>9} {_num(c.get('counts'), 0):>9} "
                         f"{_num(c.get('count'), 0):>5} {_num(c.get('noise_g'), 3):>8}  {c.get('fault') or '-'}")
        cells = self.query_one("#cells", Static)
        if len(lines) != len(str(cells.render()).splitlines()):
            # a new height: lay it out again after this frame too (an update arriving while the
            # screen is still being laid out after the PIN dialog kept its old height)
            self.call_after_refresh(cells.refresh, layout=True)
        cells.update("\n".join(lines))
        faults = [f"{name}: {c['fault']}" for name, c in (sensors.get("cells") or {}).items() if c.get("fault")]
        faults += [f"{f.get('kind')} on {f.get('source')}: {f.get('detail')}" for f in self.app.faults[-5:]]
        self.query_one("#faults", Static).update("\n".join(faults) or "none")
        if self.walk is not None and not self.walk.finished:
            self.walk.feed(sensors)
            self._show_walk()

    # --- self-test -------------------------------------------------------------

    @on(Button.Pressed, "#start-self-test")
    async def _start_walk(self) -> None:
        res = await self.app.request("self_test")
        station = (self.app.state or {}).get("station") or {}
        daemon_steps = [s for s in (res or {}).get("steps") or [] if not s.startswith("button:")]
        self.walk = GuidedCheckWalk(int(station.get("holes") or 9), sorted(station.get("cells") or {}),
                                 list(station.get("buttons") or []), daemon_steps)
        self._show_walk()
        self._run_daemon_steps(daemon_steps)

    @on(Button.Pressed, "#skip-step")
    def _skip_step(self) -> None:
        if self.walk is not None:
            self.walk.skip()
            self._show_walk()

    @work(exclusive=True, group="self-test")
    async def _run_daemon_steps(self, steps: list[str]) -> None:
        for step in steps:
            res = await self.app.request("self_test", step=step)
            if self.walk is None:
                return
            if res is None:
                self.walk.daemon_result(step, False, "the daemon could not run it")
            else:
                self.walk.daemon_result(step, bool(res.get("ok")), str(res.get("detail") or ""))
            self._show_walk()

    def _show_walk(self) -> None:
        walk = self.walk
        box = self.query_one("#steps", Vertical)
        if walk is None:
            return
        if len(box.children) != len(walk.steps):
            box.remove_children()
            box.mount_all(Static("", classes="step", markup=False) for _ in walk.steps)
            self.call_after_refresh(self._show_walk)
            return
        for w, step in zip(box.query(".step").results(Static), walk.steps, strict=False):
            w.update(f"{MARKS.get(step.state, '[ ]')} {step.label}" + (f": {step.detail}" if step.detail else ""))
            for st in ("done", "current", "wrong"):
                w.set_class(step.state == st or (st == "wrong" and step.state == "failed"), f"-{st}")
        cur = walk.current
        hint = "Self-test complete." if cur is None else (cur.detail if cur.state == "wrong" else f"Now: {cur.label}.")
        if cur is not None and not cur.key.startswith("daemon:") \
                and ((self.app.state or {}).get("station") or {}).get("simulated"):
            hint += " (Simulated: no hands here; Skip step.)"
        self.query_one("#self-test-hint", Static).update(hint)

    # --- calibration -------------------------------------------------------------

    @on(Button.Pressed, "#tare")
    async def _tare(self) -> None:
        cell = chosen(self.query_one("#cal-cell", Select))
        if cell is None:
            return
        status = self.query_one("#cal-status", Static)
        status.update(f"Taring {cell}: keep it empty and still...")
        res = await self.app.request("tare", cell=cell)
        status.update(f"{cell} tared: empty reading {res['offset']:.0f} counts, saved to {_saved_to(res)}. "
                      "Now place a known mass." if res else f"{cell}: tare failed.")

    @on(Button.Pressed, "#calibrate")
    async def _calibrate(self) -> None:
        cell = chosen(self.query_one("#cal-cell", Select))
        status = self.query_one("#cal-status", Static)
        try:
            mass = float(self.query_one("#cal-mass", Input).value)
        except ValueError:
            status.update("Enter the known mass in grams.")
            return
        if cell is None or mass <= 0:
            status.update("Choose the cell and a mass above 0 g.")
            return
        res = await self.app.request("calibrate", cell=cell, mass_g=mass)
        status.update(f"{cell} calibrated: {res['counts_per_gram']:.2f} counts per gram, saved to {_saved_to(res)}."
                      if res else f"{cell}: calibration failed.")


def _num(v, digits: int) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    return f"{v:.{digits}f}"


def _saved_to(res: dict) -> str:
    return str(res.get("saved_to") or "the station's config")
