"""Clocks. Live code uses ``time.monotonic``; the simulator uses ``VirtualClock``.

gpiozero's lgpio factory stamps edges with the kernel's CLOCK_MONOTONIC time,
so ``time.monotonic`` is the one clock every live timestamp is on.
"""
from __future__ import annotations


class VirtualClock:
    """Simulated monotonic time: advances only when told to.

    ``now`` is the clock itself (pass ``clock.now`` wherever a clock function
    is expected) and ``sleep`` advances it (pass it where a sleep is expected).
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._t += seconds

    advance = sleep

    def set(self, t: float) -> None:
        """Jump forward to ``t`` (never back: the clock is monotonic)."""
        if t > self._t:
            self._t = t
