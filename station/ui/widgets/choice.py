"""What a Select holds, as a plain value."""
from __future__ import annotations

from typing import Any

from textual.widgets import Select


def chosen(select: Select) -> Any | None:
    """The selected value, or None when nothing is chosen.

    Textual's "nothing chosen" sentinel is ``Select.NULL`` (``Select.BLANK`` is
    a different constant, ``False``): comparing with the wrong one sent the
    sentinel itself to the daemon, so ask the widget instead.
    """
    return None if select.is_blank() else select.value
