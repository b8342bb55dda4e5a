"""The technician's self-test walk. Pure: no Textual, no sockets.

First the daemon's own checks (``self_test`` steps such as ``switches`` and
``cell:NAME``), run by the screen; then the hands-on walk: seat a peg in
each hole in turn, drop a peg into the dish, a coin onto the tray, press the
start button. ``GuidedCheckWalk.feed`` takes each ``sensors`` snapshot (and
``event`` on edges) and ticks a step off or says what is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Step:
    key: str  # "daemon:switches", "hole:3", "cell:dish", "button:start"
    label: str
    state: str = "todo"  # todo | current | done | wrong
    detail: str = ""


@dataclass
class GuidedCheckWalk:
    """The hands-on steps for a station with ``holes`` holes, these cells and buttons."""

    holes: int
    cells: list[str]
    buttons: list[str]
    daemon_steps: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    _closed: dict[str, bool] = field(default_factory=dict)
    _baseline: dict[str, int | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.steps:
            self.steps = [Step(f"daemon:{s}", f"station check: {s}") for s in self.daemon_steps]
            self.steps += [Step(f"hole:{h}", f"seat a peg in hole {h}") for h in range(1, self.holes + 1)]
            words = {"dish": "drop a peg into the dish", "tray": "put a coin onto the tray"}
            self.steps += [Step(f"cell:{c}", words.get(c, f"put one item on the {c}")) for c in self.cells]
            self.steps += [Step(f"button:{b}", f"press the {b} button") for b in self.buttons]
        self._advance()

    @property
    def current(self) -> Step | None:
        return next((s for s in self.steps if s.state in ("current", "wrong", "todo")), None)

    @property
    def finished(self) -> bool:
        return self.current is None

    def daemon_result(self, step: str, ok: bool, detail: str) -> None:
        """The daemon's answer to ``self_test {step}``."""
        for s in self.steps:
            if s.key == f"daemon:{step}":
                s.state, s.detail = ("done" if ok else "wrong"), detail
                if not ok:
                    # A failed station check does not block the walk: it stays marked.
                    s.state = "failed"
        self._advance()

    def feed(self, sensors: dict) -> None:
        """One ``sensors`` snapshot: ticks the current step off when it is satisfied."""
        closed = {sw.get("name"): bool(sw.get("closed")) for sw in sensors.get("switches") or []}
        newly = [n for n, c in closed.items() if c and not self._closed.get(n, False)]
        self._closed = closed
        cells = sensors.get("cells") or {}
        step = self.current
        if step is None or step.key.startswith("daemon:"):
            self._remember(cells)
            return
        kind, _, name = step.key.partition(":")
        if kind == "hole":
            want = f"hole {name}"
            if closed.get(want):
                self._done(step, "seated")
            else:
                wrong = [n for n in newly if n.startswith("hole ") and n != want]
                if wrong:
                    step.state, step.detail = "wrong", f"{wrong[0]} closed instead: seat the peg in {want}"
        elif kind == "button":
            if closed.get(f"button {name}") or f"button {name}" in newly:
                self._done(step, "pressed")
        elif kind == "cell":
            cell = cells.get(name) or {}
            if cell.get("fault"):
                step.state, step.detail = "wrong", f"{name}: {cell['fault']}"
            else:
                base = self._baseline.get(name)
                count = cell.get("count")
                if base is None:
                    self._baseline[name] = count
                elif isinstance(count, int) and count > base:
                    self._done(step, f"counted {count - base}")
                elif isinstance(count, int) and count < base:
                    step.state = "wrong"
                    step.detail = f"the {name} count went down ({base} -> {count}): add, don't take"
        self._remember(cells, skip=name if kind == "cell" else None)

    def switch_closed(self, name: str) -> None:
        """A live edge: switch ``name`` (``"hole 3"``) just closed.

        Events arrive at once, snapshots only 5 times a second: a peg seated
        and pulled again between two snapshots still ticks its hole off.
        """
        step = self.current
        self._closed[name] = True  # the next snapshot does not count it as new again
        if step is None:
            return
        kind, _, which = step.key.partition(":")
        if kind == "hole" and name.startswith("hole "):
            if name == f"hole {which}":
                self._done(step, "seated")
            else:
                step.state, step.detail = "wrong", f"{name} closed instead: seat the peg in hole {which}"

    def skip(self) -> None:
        """Leave the current hands-on step unchecked (marked as skipped) and go on to the next.

        A simulated station has no hands to seat a peg, and a real one may have
        a hole to repair later: the walk must not stick on a step.
        """
        step = self.current
        if step is None or step.key.startswith("daemon:"):
            return
        step.state, step.detail = "failed", "skipped, not checked"
        self._advance()

    def _remember(self, cells: dict, skip: str | None = None) -> None:
        # A cell's baseline is its count just before its step begins.
        for n, c in cells.items():
            if n != skip and isinstance(c, dict):
                self._baseline[n] = c.get("count")

    def _done(self, step: Step, detail: str) -> None:
        step.state, step.detail = "done", detail
        self._advance()

    def _advance(self) -> None:
        for s in self.steps:
            if s.state in ("current", "wrong"):
                return
            if s.state == "todo":
                s.state = "current"
                return
