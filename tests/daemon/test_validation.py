"""Hostile values answer ``bad_value`` (or ``bad_json``), never ``internal``, and leave the daemon whole."""
from __future__ import annotations

import asyncio
import json

import pytest

from station import api
from station.api import ApiError, parse_request
from station.client import StationClient
from tests.daemon.inprocess import InProcessDaemon
from tests.support import STAFF_PINS, log_in, staff_client

PATIENT = {"patient_id": "P-1", "birth_year": 1960, "sex": "female", "dominant_hand": "right"}


@pytest.mark.parametrize("line,code", [
    (r'{"id": 1, "cmd": "create_patient", "patient_id": "P-\ud800", "birth_year": 1960, "sex": "male",'
     r' "dominant_hand": "left"}', api.BAD_VALUE),
    (r'{"id": 1, "cmd": "mark_invalid", "trial_id": 1, "reason": "\udfff"}', api.BAD_VALUE),
    ('{"id": 1, "cmd": "start_trial", "options": {"coins": 1' + "0" * 4000 + "}}", api.BAD_VALUE),
    ('{"id": 1, "cmd": "calibrate", "cell": "dish", "mass_g": 1e400}', api.BAD_VALUE),
    ('{"id": 1, "cmd": "mark_invalid", "trial_id": 100000000000000000000, "reason": "x"}', api.BAD_VALUE),
    ('{"id": 1, "cmd": "ping", "x": ' + "[" * 5000 + "]" * 5000 + "}", api.BAD_JSON),
    ('[' * 100000, api.BAD_JSON),
])
def test_values_no_command_can_take_are_refused_at_parse(line, code):
    with pytest.raises(ApiError) as e:
        parse_request(line)
    assert e.value.code == code


def test_the_depth_check_reads_brackets_in_strings_as_text():
    req = parse_request(json.dumps({"id": 1, "cmd": "abort_trial", "reason": "[" * 50 + "{" * 50}))
    assert req.args["reason"].startswith("[[[")


def test_hostile_values_over_the_socket_leave_the_daemon_serving(tmp_path, station_toml):

    async def main():
        async with InProcessDaemon(tmp_path, config_path=station_toml) as d:
            reader, writer = await asyncio.open_unix_connection(d.socket, limit=1 << 24)
            await reader.readline()  # hello
            pin = STAFF_PINS
            lines = [
                {"cmd": "login", "role": "therapist", "pin": pin["therapist"]},
                {"cmd": "login", "role": "technician", "pin": pin["technician"]},
                r'"cmd": "create_patient", "patient_id": "P-\ud800", "birth_year": 1960, "sex": "male", '
                r'"dominant_hand": "left"',
                {"cmd": "create_patient", **PATIENT},
                {"cmd": "start_trial", "protocol": "coin-drop", "options": {"coins": 1000}},
                {"cmd": "calibrate", "cell": "dish", "mass_g": 1e-300},
                {"cmd": "mark_invalid", "trial_id": -5, "reason": "x"},
                {"cmd": "mark_invalid", "trial_id": "../../etc", "reason": "x"},
                {"cmd": "start_test", "protocol": "nine-hole-peg", "trials_per_hand": 10**9},
            ]
            for n, body in enumerate(lines, 1):
                text = json.dumps({"id": n, **body}) if isinstance(body, dict) else f'{{"id": {n}, {body}}}'
                writer.write(text.encode() + b"\n")
            await writer.drain()
            codes = {}
            while len(codes) < len(lines):
                msg = json.loads(await asyncio.wait_for(reader.readline(), 20))
                if msg["type"] == "reply":
                    codes[msg["id"]] = "ok" if msg["ok"] else msg["error"]["code"]
            assert [codes[n] for n in range(1, len(lines) + 1)] == [
                "ok", "ok", "bad_value", "ok", "bad_value", "bad_value", "bad_value", "bad_value", "bad_value"]
            writer.close()
            # the daemon carries on: a trial starts and is saved (a lone surrogate used to wedge saves)
            async with staff_client(d.socket) as c:
                await c.request("start_trial", protocol="free-practice", options={"goal": 3})
                await c.request("finish_trial")
                assert (await c.next_message("trial_finished", timeout=20))["saved"] is True
    asyncio.run(asyncio.wait_for(main(), 60))


def test_a_tare_holds_off_trials_until_it_is_done(tmp_path, station_toml):

    async def main():
        async with InProcessDaemon(tmp_path, config_path=station_toml) as d:
            async with StationClient(d.socket) as tech, StationClient(d.socket) as therapist, \
                    StationClient(d.socket) as tech2:
                await log_in(tech, "technician")
                await log_in(tech2, "technician")
                await log_in(therapist, "therapist")
                await therapist.request("create_patient", **PATIENT)
                tare = asyncio.create_task(tech.request("tare", cell="dish"))
                await d.until(lambda: d.daemon.board.trials_held, "the tare collecting readings")
                with pytest.raises(ApiError) as e:
                    await therapist.request("start_trial", protocol="free-practice")
                assert e.value.code == api.BUSY and "tared" in e.value.message
                with pytest.raises(ApiError) as e:  # one calibration at a time
                    await tech2.request("tare", cell="tray")
                assert e.value.code == api.BUSY
                assert (await tare)["cell"] == "dish"
                await therapist.request("start_trial", protocol="free-practice")
    asyncio.run(asyncio.wait_for(main(), 60))
