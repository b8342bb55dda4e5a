"""A Static whose text may change its number of lines (and so its height)."""
from __future__ import annotations

from textual.visual import VisualType
from textual.widgets import Static


class Lines(Static):
    """A Static for text whose line count changes (a table of cells, a wrapped prompt).

    Textual 8.2's ``Static.update`` bumps the widget's layout counter, may then
    rebuild the compositor's map (reading the widget's size) and only after that
    clears the cached content height: the box model is cached under the new
    counter with the *old* height, and the widget keeps drawing its first line
    of three until something else changes its size. Whether the map is rebuilt
    depends on what else the screen did just before, so the old height showed
    up now and then (the technician screen's cell rows under load). Clearing
    the cached dimensions before the update makes that first box model right.
    """

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        self.clear_cached_dimensions()
        super().update(content, layout=layout)
