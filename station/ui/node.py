"""What the station's screens and panes share: the app, typed, and handlers that cannot end the kiosk.

Textual ends a widget's message loop, and then the app, at the first
exception a handler raises (``MessagePump._process_messages_loop`` breaks,
``App._handle_exception`` exits with a traceback). On a kiosk that is the
wrong trade: ``StationNode`` catches what one handler raises, has the app
show and log it (``StationApp.report_bug``) and goes on with the next message.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from textual import getters
from textual.message import Message

from station.ui.app import StationApp

if TYPE_CHECKING:
    from textual.widget import Widget

    _Base = Widget  # mypy sees the widget API the mixin is used with
else:
    _Base = object


class StationNode(_Base):
    """Mix in before a Textual Screen or Widget class."""

    app = getters.app(StationApp)  # Textual's typed ``app``: the reactives and ``request`` of StationApp

    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)
        except Exception as error:  # a bug in one handler must not end the kiosk
            self.app.report_bug(error, where=f"{type(self).__name__} handling {type(message).__name__}")
