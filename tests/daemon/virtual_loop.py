"""The daemon's parts on a virtual clock: the few event-loop calls they make, run in virtual time.

``VirtualLoop`` stands in for the asyncio loop ``Intake`` schedules on
(``time``, ``call_at``, ``call_soon_threadsafe``): a timer runs when the test
advances the ``VirtualClock`` past its moment, so a test says exactly when
(in virtual seconds) something happens, and a slow machine changes nothing.
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from hardware.sim.clock import VirtualClock


class VirtualTimer:
    """What ``call_at`` returns: a timer that can be cancelled."""

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualLoop:
    """``call_at`` timers on ``clock``'s time; ``call_soon_threadsafe`` callbacks run by ``run_soon``."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.soon: list[tuple[Callable[..., Any], tuple]] = []
        self._timers: list[tuple[float, int, VirtualTimer]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.clock.now()

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> VirtualTimer:
        timer = VirtualTimer(when, callback, args)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        self.soon.append((callback, args))

    def run_soon(self) -> int:
        """Run the callbacks queued by ``call_soon_threadsafe``; returns how many ran."""
        ran = 0
        while self.soon:
            callback, args = self.soon.pop(0)
            callback(*args)
            ran += 1
        return ran

    @property
    def pending_timers(self) -> list[float]:
        """When the timers not yet run or cancelled are due, earliest first."""
        return sorted(when for when, _, t in self._timers if not t.cancelled)

    def advance_to(self, t: float) -> None:
        """Move virtual time to ``t``, running every timer due on the way at its own moment."""
        while self._timers and self._timers[0][0] <= t:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self.clock.set(when)
            timer.callback(*timer.args)
        self.clock.set(t)
