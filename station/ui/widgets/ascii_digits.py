"""Big digits drawn with ``_``, ``|`` and ``.`` only: the Linux console's fallback.

Textual's ``Digits`` draws with box-drawing glyphs, which the console's
256/512-glyph fonts lack (they come out as diamonds). These three-row
seven-segment shapes read from a metre away in any font.
"""
from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

GLYPHS: dict[str, tuple[str, str, str]] = {
    "0": (" _ ", "| |", "|_|"),
    "1": ("   ", "  |", "  |"),
    "2": (" _ ", " _|", "|_ "),
    "3": (" _ ", " _|", " _|"),
    "4": ("   ", "|_|", "  |"),
    "5": (" _ ", "|_ ", " _|"),
    "6": (" _ ", "|_ ", "|_|"),
    "7": (" _ ", "  |", "  |"),
    "8": (" _ ", "|_|", "|_|"),
    "9": (" _ ", "|_|", " _|"),
    ".": (" ", " ", "."),
    ":": (" ", ".", "."),
    "-": ("   ", " _ ", "   "),
    "/": ("   ", "  /", " / "),
    " ": ("  ", "  ", "  "),
}


def render_ascii_digits(value: str) -> list[str]:
    """Three lines drawing ``value``; characters without a glyph are left out."""
    rows = ["", "", ""]
    for ch in value:
        glyph = GLYPHS.get(ch)
        if glyph is None:
            continue
        for i in range(3):
            rows[i] += glyph[i]
    return rows


class AsciiDigits(Widget):
    """Drop-in for ``textual.widgets.Digits`` (``update(value)``) in plain ASCII."""

    DEFAULT_CSS = """
    AsciiDigits { width: auto; height: 3; }
    """

    value: reactive[str] = reactive("", layout=True)

    def __init__(self, value: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.value = value

    def update(self, value: str) -> None:
        self.value = value

    def render(self) -> Text:
        return Text("\n".join(render_ascii_digits(self.value)))

    def get_content_width(self, container, viewport) -> int:
        return max(len(r) for r in render_ascii_digits(self.value)) if self.value else 1

    def get_content_height(self, container, viewport, width) -> int:
        return 3
