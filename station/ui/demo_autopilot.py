"""The demo's therapist: keeps a virtual patient busy so ``station demo`` plays by itself.

Creates (or selects) the demo patient and starts a test (the Nine Hole Peg Test unless told), a new
one a few seconds after the last ends; the simulated daemon's virtual patient
presses the start button for each trial and performs it. Runs on its own thread and event loop with its
own connection, like a second UI attached to the daemon.
"""
from __future__ import annotations

import asyncio
import contextlib
import threading

from station.api import ApiError
from station.client import StationClient

DEMO_PATIENT = {"patient_id": "DEMO-1", "birth_year": 1956, "sex": "female", "dominant_hand": "right"}
PAUSE_S = 4.0  # between trials, so the result can be read


class DemoAutopilot:
    """``start()`` on a thread; ``stop()`` ends it."""

    def __init__(self, socket_path: str, protocol: str = "nine-hole-peg", pause_s: float = PAUSE_S, *,
                 therapist_pin: str) -> None:
        self.socket_path = socket_path
        self.therapist_pin = therapist_pin
        self.protocol = protocol
        self.pause_s = pause_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="station-demo-driver", daemon=True)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5)

    def _main(self) -> None:
        self._task = self._loop.create_task(self._drive())
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.close()

    async def _drive(self) -> None:
        while True:
            client = StationClient(self.socket_path, reconnect=False, name="station demo")
            try:
                await client.connect(timeout=5)
                await self._session(client)
            except (TimeoutError, OSError, ConnectionError, ApiError):
                pass  # the daemon is (re)starting, or the therapist took over: try again shortly
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
                    await c.request("start_test", protocol=self.protocol)
                # no start_trial: the simulated daemon's virtual patient presses the
                # start button for the test's next trial (docs/api.md, "The start button")
            await c.next_message("trial_finished", timeout=None)
