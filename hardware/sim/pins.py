"""gpiozero's MockFactory on simulated time: the switches' pins in tests and the simulator.

``hardware.switches.SwitchBank`` reads them exactly as it reads lgpio's pins on
the Pi; only the edges' timestamps differ (a virtual clock's seconds).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin, PinState


class VirtualMockPin(MockPin):
    """A MockPin whose edges carry simulated time instead of ``time.monotonic``.

    gpiozero's MockPin stamps an edge with ``monotonic()`` inside
    ``_change_state``. Here the tick comes from the factory's clock, or from
    ``drive(level, t)``, which plays the kernel's part: the edge is stamped
    with the time it happened, even if it is delivered a little later (while
    the simulator was busy with an HX711 read, as a live interrupt would be).
    """

    # MockPin's own attributes, which this class rewrites (gpiozero carries no type hints)
    _state: Any
    _last_change: float
    states: list[Any]

    def __init__(self, factory, info) -> None:
        self._stamp: float | None = None
        super().__init__(factory, info)

    def _now(self) -> float:
        if self._stamp is not None:
            return self._stamp
        return self.factory.ticks()

    def _change_state(self, value):
        if self._state != value:
            t = self._now()
            self._state = value
            self.states.append(PinState(t - self._last_change, value))
            self._last_change = t
            return True
        return False

    def clear_states(self):
        self._last_change = self.factory.ticks()
        self.states = [PinState(0.0, self._state)]

    def drive(self, level: int, t: float | None = None) -> None:
        """Drive the input to ``level``; its edge is stamped ``t`` (default: now)."""
        self._stamp = t
        try:
            if level:
                self.drive_high()
            else:
                self.drive_low()
        finally:
            self._stamp = None


class VirtualPinFactory(MockFactory):
    """MockFactory on a simulated clock (``hardware.sim.clock.VirtualClock`` or any ``now`` function).

    Its ``ticks`` are that clock's seconds, and its pins are ``VirtualMockPin``.
    """

    def __init__(self, clock: Callable[[], float], revision: str | None = None) -> None:
        self._clock = clock
        super().__init__(revision=revision, pin_class=VirtualMockPin)

    def ticks(self) -> float:  # MockFactory's is a staticmethod on monotonic()
        return self._clock()
