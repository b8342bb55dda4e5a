"""Commands waiting on the sensors: n readings of a cell, or a press of a button.

Tare, calibration and the technician's self-test wait here; the daemon's
intake feeds every sample in (``feed_sample``) and every debounced button
press (``pressed``), trial or not. While a self-test waits for a button, that
press is the self-test's (``owns_press``): the start button arms no trial.
"""
from __future__ import annotations

import asyncio

from station import api
from station.api import ApiError
from station.events import ButtonPress, Sample


class SensorWaiters:
    """Futures waiting for cell readings or button presses."""

    def __init__(self) -> None:
        self.samples: list[tuple[str, list[int], int, asyncio.Future]] = []
        self.presses: list[tuple[str, asyncio.Future]] = []

    @property
    def owns_press(self) -> bool:
        """Whether a self-test is waiting for a button (then the press is its, not a trial's)."""
        return bool(self.presses)

    def feed_sample(self, rec: Sample) -> None:
        for w in list(self.samples):
            cell, buf, n, fut = w
            if cell == rec.cell and not fut.done():
                buf.append(rec.counts)
                if len(buf) >= n:
                    fut.set_result(buf)
                    self.samples.remove(w)

    def pressed(self, ev: ButtonPress) -> None:
        for name, fut in list(self.presses):
            if name == ev.name and not fut.done():
                fut.set_result(ev.t)

    async def collect(self, cell: str, n: int, timeout: float) -> list[int]:
        """The next ``n`` raw readings of ``cell``; ApiError (hardware) if they do not come in time."""
        fut = asyncio.get_running_loop().create_future()
        self.samples.append((cell, [], n, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise ApiError(api.HARDWARE, f"cell {cell!r} gave no readings (check its wiring)") from None
        finally:
            self.samples[:] = [w for w in self.samples if w[3] is not fut]

    async def press(self, button: str, timeout: float) -> float:
        """The time of the next press of ``button``; asyncio.TimeoutError if none comes."""
        fut = asyncio.get_running_loop().create_future()
        self.presses.append((button, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.presses[:] = [w for w in self.presses if w[1] is not fut]
