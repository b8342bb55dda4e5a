"""Building blocks for the protocol tests: events on the conftest board."""
from __future__ import annotations

from station.events import ButtonPress, CellCount, PegIn, PegOut


def press(t):
    return ButtonPress(t, "start")


def pin(t, hole):
    return PegIn(t, hole)


def pout(t, hole):
    return PegOut(t, hole)


def dish(t, n):
    return CellCount(t, "dish", n)


def tray(t, n):
    return CellCount(t, "tray", n)


def run(protocol, events, end=None):
    """Feed ``events`` in order, then end the input at ``end``; return the result."""
    for ev in events:
        protocol.on_event(ev)
    protocol.finish(end)
    return protocol.result()
