"""The two daemons the UI's main flows run against, behind one small driver.

``FakeStation``: tests/ui/fake_daemon.py (the daemon's own protocol table,
state messages, test logic and records; the hardware scripted, the clock
moved by the test). ``RealStation``: the real daemon in this process on
simulated hardware (tests/daemon/inprocess.py), driven by edges and loads
below its drivers, on its own clock. A flow written against the driver runs
on both: ``stations`` is the pytest parameter list.

The trial both run is a two-peg Nine Hole Peg Test: a peg lifted from the
dish starts the clock, both pegs seated and both back in the dish end it.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from station.client import StationClient
from tests.daemon.inprocess import InProcessDaemon
from tests.support import log_in
from tests.ui.fake_daemon import FakeDaemon

NHPT_OPTIONS = {"pegs": 2}


class FakeStation:
    """The fake daemon; its clock moves when the flow says time passes."""

    name = "fake"

    def __init__(self, tmp: Path) -> None:
        self.fake = FakeDaemon(tmp / "station.sock")
        self.path = self.fake.path

    async def __aenter__(self) -> FakeStation:
        self.fake.start()
        return self

    async def __aexit__(self, *exc) -> None:
        self.fake.close()

    async def setup(self, patient: dict, test: str | None = None) -> None:
        self.fake.setup(patient=patient, test=test, options=NHPT_OPTIONS if test else None,
                        trials_per_hand=2 if test else None)

    async def press_start(self) -> None:
        self.fake.press_start()

    async def count_down(self) -> None:
        """A second of the count-down passes (on the daemon's clock)."""
        self.fake.advance(1.0)

    async def perform_trial(self) -> None:
        f = self.fake
        for hole, left in ((1, 8), (2, 7)):
            f.dish(left)
            f.advance(0.8)
            f.peg_in(hole)
        for hole, back in ((1, 8), (2, 9)):
            f.peg_out(hole)
            f.advance(0.7)
            f.dish(back)
        f.finish(3.0)  # the protocol's verdict: the scripted trial took 3.0 s on the fake's clock

    async def go_away(self) -> None:
        self.fake.stop()

    async def come_back(self) -> None:
        self.fake.start()


class RealStation:
    """The real daemon in this process; stopped and started again on the same data and socket."""

    name = "real"

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.daemon = InProcessDaemon(tmp)
        self.path = self.daemon.socket

    async def __aenter__(self) -> RealStation:
        await self.daemon.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        if self.daemon is not None:
            await self.daemon.__aexit__(*exc)

    async def setup(self, patient: dict, test: str | None = None) -> None:
        async with StationClient(self.path) as c:
            await log_in(c, "therapist")  # staff commands need the therapist's session
            await c.request("create_patient", **patient)
            if test is not None:
                await c.request("start_test", protocol=test, options=NHPT_OPTIONS, trials_per_hand=2,
                                practice=False)  # as the fake daemon's setup: no practice trial

    async def press_start(self) -> None:
        await self.daemon.press()

    async def count_down(self) -> None:
        """The daemon counts down on its own clock: nothing to do."""

    async def perform_trial(self) -> None:
        d = self.daemon
        for hole in (1, 2):
            await d.move_items(-1)
            await d.seat(hole, True)
        for hole in (1, 2):
            await d.seat(hole, False)
            await d.move_items(+1)

    async def go_away(self) -> None:
        await self.daemon.__aexit__(None, None, None)  # a clean stop: clients hear bye

    async def come_back(self) -> None:
        self.daemon = InProcessDaemon(self.tmp)  # same data directory and socket
        await self.daemon.__aenter__()


stations = pytest.mark.parametrize("make_station", [pytest.param(FakeStation, id="fake"),
                                                    pytest.param(RealStation, id="real",
                                                                 marks=pytest.mark.slow)])


def run(coro, limit_s: float = 300.0):
    """Run a flow; the limit only stops a hang."""
    return asyncio.run(asyncio.wait_for(coro, limit_s))
