"""The daemon with [fhir] configured: a test given on simulated hardware reaches the FHIR server once,
its delivery shows in the state message and the fhir_outbox command; without [fhir] nothing is built."""
from __future__ import annotations

import asyncio

import pytest

from station.api import ApiError
from station.client import StationClient
from station.config import default_config_text
from station.fhir.codes import IDENTIFIER_SYSTEM
from tests.daemon.daemon_proc import DaemonProcess
from tests.fhir.fhir_server import FhirServer, unavailable
from tests.support import staff_client

pytestmark = [pytest.mark.slow, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]
PATIENT = {"patient_id": "FHIR-1", "birth_year": 1961, "sex": "male", "dominant_hand": "left"}
WAIT_S = 180.0


async def state_where(c: StationClient, pred, timeout: float = WAIT_S) -> dict:
    """The first state for which ``pred`` holds. Between the test's trials the next one is armed by
    command too, so the test goes on however late the virtual patient is to press start on a loaded
    machine (its own press then finds the trial armed: ``busy``, ignored)."""
    st = (await c.request("state"))["state"]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred(st):
        if st["trial"] is None and (st.get("test") or {}).get("status") == "in_progress":
            try:
                await c.request("start_trial")
            except ApiError:
                pass  # armed meanwhile by the virtual patient's press
        st = (await c.next_message("state", timeout=max(0.01, end - loop.time())))["state"]
    return st


def test_a_finished_test_is_delivered_once_and_shown(tmp_path):
    server = FhirServer().start()
    conf = tmp_path / "station.toml"
    conf.write_text(default_config_text() + f'\n[fhir]\nbase_url = "{server.base}"\nstation_id = "CLINIC-9"\n')
    daemon = DaemonProcess(tmp_path / "data", tmp_path / "s.sock", speed=25, extra=["--config", str(conf)]).start()

    async def main():
        async with staff_client(daemon.socket, "therapist") as c:
            await c.request("subscribe", topics=["state"])
            await c.request("create_patient", **PATIENT)
            test = (await c.request("start_test", protocol="nine-hole-peg", trials_per_hand=1,
                                    practice=False))["test"]
            # the virtual patient presses start for each trial; the test completes, then is delivered
            st = await state_where(c, lambda s: (s.get("fhir") or {}).get("counts", {}).get("sent") == 1)
            assert st["fhir"]["rejected"] == [] and st["fhir"]["last_error"] is None
            box = await c.request("fhir_outbox")
            assert box["configured"] is True and box["counts"]["sent"] == 1 and box["waiting"] == []
            return test["test_id"]

    try:
        test_id = asyncio.run(asyncio.wait_for(main(), WAIT_S + 30))
        found = server.search("Observation", identifier=f"{IDENTIFIER_SYSTEM}|CLINIC-9/test/{test_id}")
        assert len(found) == 1 and len(found[0]["hasMember"]) == 2 + 2 + 1  # 2 trials, 2 hand means, MSFC
        assert found[0]["subject"]["identifier"]["value"] == "FHIR-1"
    finally:
        daemon.stop()
        server.stop()


def test_without_fhir_configured_the_outbox_is_neither_made_nor_reported(tmp_path):
    daemon = DaemonProcess(tmp_path / "data", tmp_path / "s.sock", speed=25).start()

    async def main():
        async with staff_client(daemon.socket, "therapist") as c:
            assert (await c.request("state"))["state"]["fhir"] is None
            assert await c.request("fhir_outbox") == {"configured": False}

    try:
        asyncio.run(asyncio.wait_for(main(), 60))
        assert not (tmp_path / "data" / "outbox").exists()
    finally:
        daemon.stop()
