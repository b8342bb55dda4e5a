"""update_patient through the daemon: a typo corrected, the old value in the history, the selection updated."""
from __future__ import annotations

import asyncio

import pytest

from station.api import ApiError
from station.client import StationClient
from tests.daemon.inprocess import InProcessDaemon
from tests.support import log_in

PATIENT = {"patient_id": "P-71", "birth_year": 1958, "sex": "female", "dominant_hand": "right"}


def test_a_typo_is_corrected_and_the_selected_patient_follows(tmp_path):
    async def go():
        async with InProcessDaemon(tmp_path) as d, StationClient(d.socket) as c:
            await log_in(c, "therapist")
            await c.request("create_patient", **PATIENT)
            res = await c.request("update_patient", patient_id="P-71", new_patient_id="P-17", birth_year=1985,
                                  reason="typo")
            p = res["patient"]
            assert (p["patient_id"], p["birth_year"]) == ("P-17", 1985)
            assert p["history"][0]["old"] == {"patient_id": "P-71", "birth_year": 1958}
            assert p["history"][0]["reason"] == "typo"
            state = (await c.request("state"))["state"]
            assert state["patient"]["patient_id"] == "P-17" and state["patient"]["birth_year"] == 1985
            await c.request("create_patient", **dict(PATIENT, patient_id="P-99"))
            with pytest.raises(ApiError) as e:
                await c.request("update_patient", patient_id="P-99", new_patient_id="P-17")
            assert e.value.code == "conflict"
            await c.request("start_test", protocol="nine-hole-peg")
            with pytest.raises(ApiError) as e:
                await c.request("update_patient", patient_id="P-99", new_patient_id="P-98")
            assert e.value.code == "bad_value" and "already has tests" in e.value.message
            res = await c.request("update_patient", patient_id="P-99", notes="left CVA")
            assert res["patient"]["notes"] == "left CVA"
    asyncio.run(asyncio.wait_for(go(), 60))
