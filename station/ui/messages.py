"""Messages the connection worker posts to the app ("messages up").

The worker that reads the daemon's socket never touches a widget: it posts
one of these per pushed message and the app updates its reactives.
"""
from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class Connected(Message):
    """A (re)connection: the daemon's hello, with its state snapshot."""

    hello: dict


@dataclass
class Disconnected(Message):
    """The connection dropped (or the first attempt failed); ``reason`` says why."""

    reason: str


@dataclass
class StateChanged(Message):
    """A new state snapshot."""

    state: dict

    def can_replace(self, message: Message) -> bool:
        # Only the newest snapshot matters: merge a flood into one redraw.
        return isinstance(message, StateChanged)


@dataclass
class StationEvent(Message):
    """A live event (the trace spec's event dict: ``t``, ``kind``, ...)."""

    event: dict


@dataclass
class StationFault(Message):
    """A live fault (``t``, ``kind``, ``source``, ``detail``)."""

    fault: dict


@dataclass
class TrialFinished(Message):
    """A trial ended and (if ``saved``) is on disk."""

    trial: dict
    saved: bool
    error: str | None = None


@dataclass
class SensorsUpdate(Message):
    """The technician topic's 5 Hz snapshot of every switch and cell."""

    sensors: dict

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SensorsUpdate)
