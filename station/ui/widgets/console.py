"""The Linux console's look: ASCII where Textual's widgets draw glyphs its fonts lack.

The console's 256/512-glyph fonts have no block elements or triangles, so in
ASCII mode checkboxes become ``[X]``, a Select's arrow ``v``/``^`` and
scrollbar thumbs whole cells (no eighth-block ends). Borders are CSS
(``App.-ascii`` rules in the .tcss files); the big digits are AsciiDigits.
"""
from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.scrollbar import ScrollBarRender
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Static
from textual.widgets._toggle_button import ToggleButton


class WholeCellScrollBar(ScrollBarRender):
    """A scrollbar thumb of whole cells: no partial-block glyphs at its ends."""

    VERTICAL_BARS = [" "] * 8
    HORIZONTAL_BARS = [" "] * 8


class SecretInput(Input):
    """A password Input whose mask is ``*`` on the Linux console (Textual's is a bullet, not in its font).

    Textual has no option for the mask: this overrides the private ``_value``
    it renders, the smallest change that keeps Input's editing and cursor.
    """

    @property
    def _value(self) -> Text:
        if self.password and getattr(self.app, "ascii", False):
            return Text("*" * len(self.value), no_wrap=True, overflow="ignore", end="")
        return super()._value


class TickBox(Checkbox):
    """A Checkbox whose box is empty when unticked: Textual draws a dim X there, which the
    console's 16 colours (and a glance at the 256-colour look) read as ticked."""

    @property
    def _button(self) -> Content:
        button = super()._button
        if self.value:
            return button
        inner = len(self.BUTTON_LEFT)
        # On the console the box's background reads as a filled box: there, a plain blank.
        blank = ("", "") if getattr(self.app, "ascii", False) else ("", self.get_visual_style("toggle--button"))
        return Content.assemble(button[:inner], (" ", blank[1]), button[inner + len(self.BUTTON_INNER):])


def asciify(root: Widget) -> None:
    """Swap the glyphs of the Textual widgets under ``root`` (and its scrollbars) for ASCII."""
    for toggle in root.query(ToggleButton):
        # Instance attributes shadow the class's glyphs (render reads self.BUTTON_*).
        toggle.BUTTON_LEFT, toggle.BUTTON_RIGHT = "[", "]"
        toggle.refresh()
    for arrow in root.query("SelectCurrent .down-arrow").results(Static):
        arrow.update("v")
    for arrow in root.query("SelectCurrent .up-arrow").results(Static):
        arrow.update("^")
    for widget in [root, *root.query("*")]:
        # Textual's documented way to change one widget's scrollbar look.
        if widget.styles.overflow_y in ("auto", "scroll"):
            widget.vertical_scrollbar.renderer = WholeCellScrollBar
        if widget.styles.overflow_x in ("auto", "scroll"):
            widget.horizontal_scrollbar.renderer = WholeCellScrollBar


def console_look(screen: Widget) -> None:
    """On the Linux console, asciify ``screen`` once its widgets (and theirs) are mounted."""
    if getattr(screen.app, "ascii", False):
        screen.call_after_refresh(asciify, screen)
