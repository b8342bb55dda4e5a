"""The patient's big timer and count: Digits, or the ASCII font on the Linux console."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Digits, Static

from station.ui.widgets.ascii_digits import AsciiDigits


def big_digits(ascii: bool, value: str = "", **kwargs) -> Digits | AsciiDigits:
    """The big-number widget for this terminal."""
    return AsciiDigits(value, **kwargs) if ascii else Digits(value, **kwargs)


class BigNumber(Vertical):
    """A big number with a caption under it (``seconds``, ``pegs``...)."""

    value: reactive[str] = reactive("0.0")
    caption: reactive[str] = reactive("")

    def __init__(self, value: str = "0.0", caption: str = "", *, ascii: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._ascii = ascii
        self.set_reactive(BigNumber.value, value)
        self.set_reactive(BigNumber.caption, caption)

    def compose(self) -> ComposeResult:
        yield big_digits(self._ascii, self.value, classes="big-digits")
        yield Static(self.caption, classes="big-caption")

    def watch_value(self, value: str) -> None:
        if self.is_mounted:
            digits = self.query_one(".big-digits")
            assert isinstance(digits, (Digits, AsciiDigits))
            digits.update(value)

    def watch_caption(self, caption: str) -> None:
        if self.is_mounted:
            self.query_one(".big-caption", Static).update(caption)
