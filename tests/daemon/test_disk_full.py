"""A full disk: the live trial stops as ``storage_full`` (said to clients, shown on screen), nothing
stored is touched, commands answer ``disk_full``, the log is not flooded; with room again, all is well.

The always-run variant injects ENOSPC below the record store and the journal
(their ``os.write``); as root, a second variant fills a real 2 MB tmpfs.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import subprocess

import pytest

from station import api
from station.api import ApiError
from station.client import StationClient
from tests.daemon.inprocess import InProcessDaemon
from tests.support import fill_up, staff_client

PATIENT = {"patient_id": "P-1", "birth_year": 1960, "sex": "female", "dominant_hand": "right"}


class FullDisk:
    """``os`` for one module, whose ``write`` fails with ENOSPC while ``full``."""

    def __init__(self) -> None:
        self.full = False

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)


async def _finished(c: StationClient) -> dict:
    return await c.next_message("trial_finished", timeout=20)


def test_a_full_disk_stops_the_live_trial_clearly_and_keeps_what_is_stored(tmp_path, monkeypatch, caplog):
    disk = FullDisk()
    for module in ("station.records.storage", "station.records.journal", "station.records.store",
                   "station.records.patient_log"):
        monkeypatch.setattr(f"{module}.os", disk)
    caplog.set_level(logging.INFO)

    async def main():
        async with InProcessDaemon(tmp_path) as d:
            async with staff_client(d.socket, patient=PATIENT) as c:
                patients = (tmp_path / "data" / "patients.jsonl").read_bytes()
                trial = (await c.request("start_trial", protocol="free-practice"))["trial"]
                disk.full = True
                t = d.drive(d.config.holes[0], d.closed)  # a peg in: its journal line cannot be written
                msg = await _finished(c)
                assert msg["saved"] is False and "storage is full" in msg["error"]
                assert msg["trial"]["trial_id"] == trial["trial_id"] and msg["trial"]["status"] == "storage_full"
                state = (await c.request("state"))["state"]
                assert state["trial"] is None and state["station"]["storage"] == "full"
                await d.ticks_pass(20)  # ticks go on (counted, not slept): the failure is not logged again
                await c.request("ping")
                with pytest.raises(ApiError) as e:
                    await c.request("create_patient", **{**PATIENT, "patient_id": "P-2"})
                assert e.value.code == api.DISK_FULL
                with pytest.raises(ApiError) as e:
                    await c.request("start_trial", protocol="free-practice")
                assert e.value.code == api.DISK_FULL
                with pytest.raises(ApiError) as e:
                    await c.request("finish_trial")
                assert e.value.code == api.NO_TRIAL
                assert (tmp_path / "data" / "patients.jsonl").read_bytes() == patients  # untouched
                assert not list((tmp_path / "data").glob(".*.tmp"))  # no half-written copy left
                disk.full = False  # room again: the station carries on
                await c.request("create_patient", **{**PATIENT, "patient_id": "P-2"})
                await c.request("start_trial", protocol="free-practice")
                await c.request("finish_trial")
                msg = await _finished(c)
                assert msg["saved"] is True
                assert (await c.request("state"))["state"]["station"]["storage"] == "ok"
                return t
    asyncio.run(asyncio.wait_for(main(), 60))
    tick_lines = [r for r in caplog.records if "pipeline tick" in r.getMessage()]
    assert len(tick_lines) <= 1
    stopped = [r for r in caplog.records if "storage is full" in r.getMessage()]
    assert len(stopped) == 1


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None,
                    reason="mounting a small tmpfs needs root (the injected-ENOSPC test above always runs)")
def test_a_real_full_tmpfs(tmp_path):
    data = tmp_path / "small"
    data.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(data)],
                      capture_output=True).returncode != 0:
        pytest.skip("this machine does not let us mount a tmpfs")
    try:
        async def main():
            async with InProcessDaemon(tmp_path / "daemon", data_dir=data) as d:
                async with staff_client(d.socket, patient=PATIENT) as c:
                    trial = (await c.request("start_trial", protocol="free-practice"))["trial"]
                    stored = sorted(p.name for p in data.rglob("*.json"))
                    fill_up(data / "filler")
                    hole = d.config.holes[0]
                    for _ in range(40):  # pegs in and out until a journal line finds no room
                        for seated in (True, False):
                            d.drive(hole, d.closed if seated else 1 - d.closed)
                            # the daemon confirms the peg (and journals it), or the trial has just stopped
                            await d.until(lambda seated=seated: d.daemon.trials.live is None
                                          or d.switch_closed("hole 1") == seated, "the peg confirmed")
                        if (await c.request("state"))["state"]["trial"] is None:
                            break
                    msg = await _finished(c)
                    assert msg["saved"] is False and msg["trial"]["trial_id"] == trial["trial_id"]
                    # a patient is one line appended to the patients log (and its copy): lines that
                    # still fit in a file's last page are stored; then a create must be refused
                    for n in range(2, 200):
                        log_before = (data / "patients.jsonl").read_bytes()
                        try:
                            await c.request("create_patient", **{**PATIENT, "patient_id": f"P-{n}"})
                        except ApiError as e:
                            assert e.code == api.DISK_FULL
                            break
                    else:
                        pytest.fail("creates went on being stored on a full disk")
                    assert (data / "patients.jsonl").read_bytes() == log_before  # no half line left
                    assert sorted(p.name for p in data.rglob("*.json")) == stored
                    os.unlink(data / "filler")
                    await c.request("create_patient", **{**PATIENT, "patient_id": f"P-{n}"})
        asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        subprocess.run(["umount", "-l", str(data)], capture_output=True)
