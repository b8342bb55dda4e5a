"""The board drawn live: which holes hold a peg, pegs in the dish, coins on the tray."""
from __future__ import annotations

import math

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from station.ui.view.model import BoardSnapshot

CELL_WORDS = {"dish": ("Dish", "peg", "pegs"), "tray": ("Tray", "coin", "coins")}


class BoardView(Widget):
    """Holes in a grid (a peg: filled, green), then one line per load cell."""

    board: reactive[BoardSnapshot] = reactive(BoardSnapshot, layout=True)
    ascii: reactive[bool] = reactive(False)

    def render(self) -> Text:
        b = self.board
        cols = max(1, math.ceil(math.sqrt(b.holes)))
        full, empty = ("[#]", "[ ]") if self.ascii else ("(●)", "( )")
        text = Text()
        for start in range(1, b.holes + 1, cols):
            for hole in range(start, min(start + cols, b.holes + 1)):
                seated = hole in b.occupied
                text.append(f" {hole}", style="dim")
                text.append(full if seated else empty, style="bold green" if seated else "")
                text.append(" ")
            text.append("\n")
        for name, n in b.counts:
            label, one, many = CELL_WORDS.get(name, (name.capitalize(), "item", "items"))
            dot = "o" if self.ascii else "●"
            text.append(f"\n {label}: ", style="bold")
            text.append(f"{n} {one if n == 1 else many} ")
            text.append(dot * min(n, 12), style="yellow")
        return text
