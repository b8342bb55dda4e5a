"""The therapist's progress pane: the patient's progress per hand, and the latest trial's per-peg splits."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual_plotext import PlotextPlot

from station.ui.node import StationNode
from station.ui.view.model import History, peg_splits

#: on the Linux console: one ASCII mark and one of its 8 colours per hand, so the series differ in both
#: (plotext's names: its "orange" is the console's yellow, colour 3)
CONSOLE_SERIES = {"right": ("*", "cyan"), "left": ("+", "orange")}
CONSOLE_OTHER = ("o", "magenta")


def series_look(hand: str, index: int, ascii_only: bool) -> dict[str, Any]:
    """plotext's ``marker``/``color`` for a hand's series: braille, or on the console distinct ASCII marks."""
    if not ascii_only:
        return {"marker": "braille"}
    marker, color = CONSOLE_SERIES.get(hand, CONSOLE_OTHER if index else ("*", "cyan"))
    return {"marker": marker, "color": color}


class ProgressPane(StationNode, Vertical):
    """Two plots, redrawn when the history changes."""

    def compose(self) -> ComposeResult:
        yield PlotextPlot(id="progress-plot")
        yield PlotextPlot(id="split-plot")

    def on_mount(self) -> None:
        if getattr(self.app, "ascii", False):
            # The console's 16 colours: plotext's "clear" theme draws text, axes and canvas in the
            # terminal's own colours (the auto theme parsed ansi-dark's colours as black on black).
            for plot in self.query(PlotextPlot):
                plot.theme = "clear"
        self.watch(self.app, "history", self._plot)

    def _plot(self, history: History) -> None:
        ascii_only = getattr(self.app, "ascii", False)
        prog = self.query_one("#progress-plot", PlotextPlot)
        plt = prog.plt
        plt.clear_data()
        plt.clear_figure()
        progress = history.progress()
        if progress.per == "test":
            plt.title(f"Progress: {progress.protocol}, mean per hand ({progress.unit}) test by test")
        else:
            plt.title(f"Progress: valid trials ({progress.unit})")
        for i, (hand, points) in enumerate(progress.series.items()):
            plt.plot([x for x, _ in points], [v for _, v in points], label=hand, **series_look(hand, i, ascii_only))
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
            labels, values = zip(*peg_splits(latest), strict=True)
            if ascii_only:
                plt.bar(list(labels), list(values), width=0.5, marker="#", color="cyan")
            else:
                plt.bar(list(labels), list(values), width=0.5, marker="sd")
            plt.title(f"Per-peg splits, trial {latest.get('trial_id')} (s)")
        else:
            plt.title("Per-peg splits: no trial with pegs yet")
        _console_frame(plt, ascii_only)
        split.refresh()


def _console_frame(plt: Any, ascii_only: bool) -> None:
    # plotext draws its frame and axis ticks with box-drawing glyphs only (no
    # ASCII set), which the Linux console's font lacks: there, no frame; the
    # tick labels still stand beside the axes.
    if ascii_only:
        plt.frame(False)
