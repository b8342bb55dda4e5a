"""``Hardware``: what the daemon needs of the station's hardware, live or simulated.

A base class in the manner of gpiozero's ``Factory``/``Pin``: the members
every hardware must provide (``start``, ``stop``) are abstract, and the
optional ones have defaults that suit hardware which delivers records
promptly on the monotonic clock and has no virtual patient to tell. The
daemon calls every member unconditionally; a subclass overrides what it
knows better (``hardware.live.LiveHardware``,
``hardware.sim.hardware.SimulatedHardware``).
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from station.events import RawRecord

#: The default delivery latency: a record reaches the daemon at most one
#: scheduling slice after its time. Erring long only delays a confirmation by
#: this much; erring short lets the pipeline advance past a record still on its
#: way, which it then reports as out of order.
DEFAULT_LATENCY_S = 0.02


class Hardware(ABC):
    """The station's inputs as one time-ordered stream of raw records.

    Required: ``start(on_record)`` and ``stop()``. Optional, with defaults:
    ``simulated`` (False), ``speed`` (clock seconds per real second: 1.0),
    ``latency_s`` (how long after its time a record is delivered at most),
    ``clock()`` (the time line of the records: ``time.monotonic``),
    ``complete_to()`` (every record stamped up to then has been delivered),
    ``sync()`` (deliver what is due now: nothing to do by default),
    ``trial_started``/``trial_ended``/``waiting_for_start`` (the daemon's news
    for a virtual patient: ignored by default).
    """

    #: True for a board the daemon must not mistake for the real one (said in ``hello``)
    simulated: bool = False
    #: clock seconds per real second (the simulator may run faster than real time)
    speed: float = 1.0
    #: a record is delivered at most this long after its time
    latency_s: float = DEFAULT_LATENCY_S

    @abstractmethod
    def start(self, on_record: Callable[[RawRecord], None]) -> None:
        """Start reading; call ``on_record`` (from any thread) with raw records in time order.

        Raises ``station.errors.HardwareError`` if the hardware cannot be opened."""

    @abstractmethod
    def stop(self) -> None:
        """Stop reading and release the pins."""

    def clock(self) -> float:
        """Now, on the records' time line (the daemon uses it as its clock)."""
        return time.monotonic()

    def complete_to(self) -> float:
        """Every record stamped at or before this time has been delivered."""
        return self.clock() - self.latency_s

    def sync(self) -> None:  # noqa: B027 (a no-op by default, on purpose)
        """Deliver every record due by now (the daemon calls it when a switch can be confirmed)."""

    def trial_started(self, protocol: str, options: dict, side: str) -> None:  # noqa: B027 (a no-op by default, on purpose)
        """A trial was armed (a virtual patient starts performing it)."""

    def trial_ended(self) -> None:  # noqa: B027 (a no-op by default, on purpose)
        """The trial ended (a virtual patient stops)."""

    def waiting_for_start(self, protocol: str | None, options: dict, side: str | None) -> None:  # noqa: B027 (a no-op by default, on purpose)
        """A test's next trial waits for the start button (``protocol`` None: no longer)."""
