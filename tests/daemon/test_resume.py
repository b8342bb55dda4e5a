"""A test being given survives the daemon: after kill -9 mid-trial (a power cut) the restarted
daemon carries on with the same test for the same patient; the interrupted trial is invalid
and run again. A test left from an earlier day is ended instead."""
from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta

import pytest

from station.administration import TestPlan, TestSession
from station.records.store import RecordStore
from station.results import test_record
from tests.daemon.daemon_proc import DaemonProcess
from tests.daemon.inprocess import InProcessDaemon
from tests.support import staff_client

pytestmark = pytest.mark.slow
PATIENT = {"patient_id": "R-1", "birth_year": 1955, "sex": "male", "dominant_hand": "left"}


def _run(coro, timeout=90):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_kill_9_mid_test_then_the_test_carries_on(tmp_path):
    d = DaemonProcess(tmp_path / "data", tmp_path / "s.sock", speed=10, seed=11).start()
    try:
        async def until_mid_trial():
            async with staff_client(d.socket, patient=PATIENT) as c:
                test = (await c.request("start_test", protocol="nine-hole-peg", trials_per_hand=1,
                                         practice=False))["test"]
                while True:  # the virtual patient presses start; kill once the trial has begun
                    msg = await c.next_message("event", timeout=30)
                    if msg["trial_id"] is not None and msg["event"]["kind"] == "peg_out":
                        return test["test_id"], msg["trial_id"]

        test_id, killed = _run(until_mid_trial())
        d.kill()
        d.start()

        async def carry_on():
            async with staff_client(d.socket) as c:
                st = c.hello["state"]
                assert st["patient"]["patient_id"] == PATIENT["patient_id"]
                test = st["test"]
                assert (test["test_id"], test["status"]) == (test_id, "in_progress")
                [first] = test["trials"]
                assert first["trial_id"] == killed and first["valid"] is False
                assert first["invalid_reason"].startswith("interrupted")
                assert test["next"]["repeat_of"] == killed and test["next"]["hand"] == "dominant"
                finished = []
                while test["status"] == "in_progress":  # the start button runs the rest, hands-free
                    msg = await c.next_message("trial_finished", timeout=30)
                    assert msg["saved"]
                    finished.append(msg["trial"]["trial_id"])
                    test = (await c.request("state"))["state"]["test"]
                return test, finished

        test, finished = _run(carry_on())
        assert test["status"] == "complete"
        assert [t["trial_id"] for t in test["trials"]] == [killed, *finished]
        assert [(t["hand"], t["valid"]) for t in test["trials"]] == [
            ("dominant", False), ("dominant", True), ("non-dominant", True)]
    finally:
        assert d.stop() == 0
    with RecordStore(tmp_path / "data") as store:
        stored = store.get_test(test_id)
        assert stored["status"] == "complete"
        assert store.get_trial(killed)["status"] == "interrupted"


def test_a_test_left_from_an_earlier_day_is_ended_not_resumed(tmp_path, caplog):
    with RecordStore(tmp_path / "data") as store:
        store.add_patient(**PATIENT)
        session = TestSession(TestPlan.default("coin-drop"), patient_id=PATIENT["patient_id"],
                              date=(date.today() - timedelta(days=1)).isoformat())
        session.test_id = store.create_test({"patient_id": PATIENT["patient_id"]})
        store.update_test(session.test_id, test_record(session))

    async def main():
        async with InProcessDaemon(tmp_path) as d:
            async with staff_client(d.socket) as c:
                st = c.hello["state"]
                return st["patient"], st["test"]

    with caplog.at_level(logging.WARNING, logger="station.daemon"):
        assert _run(main()) == (None, None)
    with RecordStore(tmp_path / "data") as store:
        stored = store.get_test(session.test_id)
        assert stored["status"] == "ended" and stored["ended_reason"] == "the station stopped during the test"
    assert any(f"test {session.test_id} " in r.getMessage() and "ended" in r.getMessage()
               for r in caplog.records)
