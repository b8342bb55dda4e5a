"""The daemon on a data directory of an earlier version (patients in TinyDB's patients.json)."""
from __future__ import annotations

import asyncio

from station.records.store import RecordStore
from tests.daemon.inprocess import InProcessDaemon
from tests.records.test_patient_log import legacy
from tests.support import staff_client


def test_the_daemon_serves_the_same_patients_after_migrating_them(tmp_path):
    data = tmp_path / "data"
    legacy(data)
    with RecordStore(data, readonly=True) as store:  # as `station export` reads them before
        before = store.patients()

    async def main():
        async with InProcessDaemon(tmp_path) as d:
            async with staff_client(d.socket, "therapist") as c:
                served = (await c.request("find_patients"))["patients"]
                assert served == before
                await c.request("create_patient", patient_id="P-004", birth_year=1990, sex="male",
                                dominant_hand="left")
        async with InProcessDaemon(tmp_path) as d:  # restarted: the log, not patients.json again
            async with staff_client(d.socket, "therapist") as c:
                again = (await c.request("find_patients"))["patients"]
                assert [p["patient_id"] for p in again] == ["P-001", "P-002", "p-003", "P-004"]
                assert again[:3] == before

    asyncio.run(asyncio.wait_for(main(), 60))
    assert not (data / "patients.json").exists() and (data / "patients.json.migrated").exists()
