"""The demo's therapist: keeps a virtual patient busy so ``station demo`` plays by itself, until staff take over.

Creates (or selects) the demo patient and starts a test (the Nine Hole Peg
Test unless told), a new one a few seconds after the last ends; the simulated
daemon's virtual patient presses the start button for each trial and
performs it. Runs on its own thread and event loop with its own connection,
like a second UI attached to the daemon.

It never fights a person: ``hand_over()`` (the app calls it when a staff
screen opens) stops it for good and ends the test it started, so the
therapist finds an idle station whose virtual patient performs what they start.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from station.api import ApiError
from station.client import StationClient

log = logging.getLogger("station.demo")

DEMO_PATIENT: dict[str, Any] = {"patient_id": "DEMO-1", "birth_year": 1956, "sex": "female", "dominant_hand": "right"}
PAUSE_S = 4.0  # between trials, so the result can be read
HANDED_OVER = "the hands-free demo handed over to staff"


class DemoAutopilot:
    """``start()`` on a thread; ``hand_over()`` stops it for good (ending its test); ``stop()`` at the demo's end."""

    def __init__(self, socket_path: str, protocol: str = "nine-hole-peg", pause_s: float = PAUSE_S, *,
                 therapist_pin: str) -> None:
        self.socket_path = socket_path
        self.therapist_pin = therapist_pin
        self.protocol = protocol
        self.pause_s = pause_s
        self.tests_started: set[int] = set()  # the autopilot's own tests: the only ones it may end
        self.handed_over = threading.Event()
        self.released = threading.Event()  # set once, after hand_over, its test is ended (or there was none)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="station-demo-driver", daemon=True)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._thread.start()

    def hand_over(self) -> None:
        """Stop for good and end the test this driver started; returns at once (the driver's thread does it)."""
        self.handed_over.set()
        self._cancel()

    def stop(self) -> None:
        """The demo ends: stop driving (waits a moment for the thread)."""
        self._cancel()
        self._thread.join(5)

    def _cancel(self) -> None:
        task = self._task
        if task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(task.cancel)

    def _main(self) -> None:
        self._task = self._loop.create_task(self._drive())
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        if self.handed_over.is_set():
            try:
                self._loop.run_until_complete(asyncio.wait_for(self._release(), 10))
            except (TimeoutError, OSError, ConnectionError, ApiError) as e:
                log.warning("the demo driver could not end its test: %r", e)
            self.released.set()
        self._loop.close()

    async def _drive(self) -> None:
        while not self.handed_over.is_set():
            client = StationClient(self.socket_path, reconnect=False, name="station demo")
            try:
                await client.connect(timeout=5)
                await self._session(client)
            except (TimeoutError, OSError, ConnectionError, ApiError):
                pass  # the daemon is (re)starting: try again shortly
            finally:
                await client.close()
            await asyncio.sleep(1.0)

    async def _session(self, c: StationClient) -> None:
        await c.request("login", role="therapist", pin=self.therapist_pin)  # as the therapist's screen does
        state = (await c.request("state"))["state"]
        if state.get("patient") is None:
            try:
                await c.request("create_patient", **DEMO_PATIENT)
            except ApiError as e:
                if e.code != "conflict":
                    raise
                await c.request("select_patient", patient_id=DEMO_PATIENT["patient_id"])
        while True:
            state = (await c.request("state"))["state"]
            if state.get("trial") is None:
                test = state.get("test")
                await asyncio.sleep(self.pause_s)
                if test is None or test.get("next") is None:
                    res = await c.request("start_test", protocol=self.protocol)
                    self.tests_started.add(res["test"]["test_id"])
                # no start_trial: the simulated daemon's virtual patient presses the
                # start button for the test's next trial (docs/api.md, "The start button")
            await c.next_message("trial_finished", timeout=None)

    async def _release(self) -> None:
        """End the test this driver started, if it is still running: the station is the staff's now."""
        async with StationClient(self.socket_path, reconnect=False, name="station demo") as c:
            await c.request("login", role="therapist", pin=self.therapist_pin)  # abort_test is staff's
            test = (await c.request("state"))["state"].get("test")
            # the daemon's test status is in_progress until complete or ended
            if test and test.get("test_id") in self.tests_started and test.get("status") not in ("complete", "ended"):
                await c.request("abort_test", reason=HANDED_OVER)
