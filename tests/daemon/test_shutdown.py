"""SIGTERM mid-trial: the running trial is saved as aborted, clients hear it saved and then
``bye`` {"reason": "shutdown"} (docs/api.md), and a restart finds nothing to recover."""
from __future__ import annotations

import asyncio
import signal

import pytest

from station.records.store import RecordStore
from tests.daemon.daemon_proc import DaemonProcess
from tests.support import staff_client

pytestmark = pytest.mark.slow
PATIENT = {"patient_id": "S-1", "birth_year": 1960, "sex": "female", "dominant_hand": "right"}


def test_sigterm_mid_trial_saves_it_aborted_then_says_bye(tmp_path):
    d = DaemonProcess(tmp_path / "data", tmp_path / "s.sock", speed=1.0, seed=5).start()
    try:
        async def trial_then_sigterm():
            async with staff_client(d.socket, patient=PATIENT) as c:
                trial = (await c.request("start_trial", protocol="free-practice"))["trial"]
                d.proc.send_signal(signal.SIGTERM)
                said = []
                while True:
                    try:
                        msg = await c.next_message(timeout=10)
                    except ConnectionError:
                        return trial["trial_id"], said
                    if msg["type"] in ("trial_finished", "bye"):
                        said.append(msg)

        trial_id, said = asyncio.run(asyncio.wait_for(trial_then_sigterm(), 60))
        assert d.proc.wait(10) == 0
    finally:
        d.stop()
    assert [m["type"] for m in said] == ["trial_finished", "bye"]
    finished, bye = said
    assert finished["saved"] is True and finished["trial"]["trial_id"] == trial_id
    assert finished["trial"]["status"] == "aborted"
    assert bye["reason"] == "shutdown"
    assert "could not save" not in d.log()
    with RecordStore(tmp_path / "data") as store:
        stored = store.get_trial(trial_id)
        assert stored["status"] == "aborted" and stored["valid"] is False
        assert "shut down" in stored["invalid_reason"]
        assert not store.recovered  # no journal was left behind for recovery
