"""Tests administered through the daemon: the start button arms the next trial (with a
pre-roll), finish_trial, invalid trials and repeats, the summary with norms and the
clinical note, state["board"], and calibration saved into station.toml."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from station.administration import INCOMPLETE_REASON
from station.api import ApiError
from station.client import StationClient
from station.config import load_config
from tests.daemon.daemon_proc import DaemonProcess
from tests.daemon.inprocess import InProcessDaemon
from tests.support import staff_client

pytestmark = pytest.mark.slow
HANG_S = 300.0  # only stops a hang: a loaded machine runs the virtual patient slower
PATIENT = {"patient_id": "P-7", "birth_year": 1960, "sex": "female", "dominant_hand": "right"}


def _run(coro, timeout=300):  # limits only stop a hang: a loaded machine runs the simulation slower
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _state_where(c: StationClient, pred, timeout: float = 60.0) -> dict:
    """The first pushed state (or the current one) for which ``pred(state)`` holds."""
    st = (await c.request("state"))["state"]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred(st):
        msg = await c.next_message("state", timeout=max(0.01, end - loop.time()))
        st = msg["state"]
    return st


def _trace_records(path: str) -> tuple[dict, list[dict]]:
    lines = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    return lines[0], lines[1:]


def test_a_start_button_edge_arms_the_tests_next_trial_with_a_preroll(tmp_path):
    async def main():
        async with InProcessDaemon(tmp_path) as d:
            async with staff_client(d.socket, patient=PATIENT) as c:
                # no test yet: a press (confirmed by the daemon, then released) is only an event
                await d.press()
                assert (await c.request("state"))["state"]["trial"] is None
                await c.request("start_test", protocol="coin-drop", trials_per_hand=1)
                await d.elapse(0.3)  # on the daemon's clock: the next pre-roll cannot reach back to that press
                press_t = await d.press()
                st = await _state_where(c, lambda s: s["trial"] is not None)
                trial = st["trial"]
                assert trial["started_by"] == "button" and trial["test_id"] == st["test"]["test_id"]
                assert (trial["k"], trial["n"], trial["side"]) == (1, 2, "right")
                # coin drop starts its clock at the press: the press is the trial's
                st = await _state_where(c, lambda s: s["trial"] and s["trial"]["status"] == "running")
                # a peg seated mid-trial shows in state["board"] (debounced)
                hole3 = d.config.holes[2]
                d.drive(hole3, d.closed)
                st = await _state_where(c, lambda s: s["board"]["occupied"] == [3])
                assert st["board"]["counts"] == {"dish": 9, "tray": 0}
                d.drive(hole3, 1 - d.closed)
                await _state_where(c, lambda s: s["board"]["occupied"] == [])
                # finish_trial ends it normally: coin drop not done is incomplete,
                # so the test marks it invalid and repeats it next
                rec = (await c.request("finish_trial"))["trial"]
                assert rec["status"] == "incomplete" and rec["valid"] is False
                assert rec["invalid_reason"] == INCOMPLETE_REASON and rec["started_by"] == "button"
                ev0 = rec["events"][0]
                assert ev0 == {"t": pytest.approx(press_t, abs=1e-6), "kind": "button", "name": "start"}
                test = (await c.request("state"))["state"]["test"]
                assert test["trials"][0]["valid"] is False
                assert test["next"]["repeat_of"] == rec["trial_id"] and test["next"]["hand"] == "dominant"
                return rec, press_t

    rec, press_t = _run(main())
    header, records = _trace_records(rec["trace"])
    # the trace begins before the press (the pre-roll: up to 1 s, but after the earlier
    # press, which is not this trial's), every switch open at its start
    assert press_t - 1.0 <= records[0]["t"] < press_t - 0.25
    first_edges = [r for r in records if "gpio" in r]
    assert first_edges[0]["t"] == pytest.approx(press_t, abs=1e-6) and first_edges[0]["level"] == 0
    assert header["protocol"]["name"] == "coin-drop"


def test_free_practice_finished_by_the_therapist_is_complete(tmp_path):
    async def main():
        async with InProcessDaemon(tmp_path) as d:
            async with staff_client(d.socket, patient=PATIENT) as c:
                await c.request("start_test", protocol="free-practice")
                await d.press()
                await _state_where(c, lambda s: s["trial"] is not None)
                for _ in range(2):  # two reps, each confirmed by the daemon before the next edge
                    await d.seat(1, True)
                    await d.seat(1, False)
                rec = (await c.request("finish_trial"))["trial"]
                with pytest.raises(ApiError) as e:
                    await c.request("finish_trial")
                assert e.value.code == "no_trial"
                state = (await c.request("state"))["state"]
                return rec, state

    rec, state = _run(main())
    assert rec["status"] == "complete" and rec["valid"] is True and rec["result"]["reps"] == 2
    assert rec["invalid"] is None
    assert state["test"]["status"] == "complete" and state["test"]["next"] is None
    assert state["test"]["summary"]["hands"]["dominant"]["values"] == [2]


def test_a_peg_left_in_after_a_trial_is_still_seen_in_its_hole(tmp_path):
    async def main():
        async with InProcessDaemon(tmp_path) as d:
            async with staff_client(d.socket, patient=PATIENT) as c:
                await c.request("start_trial", protocol="free-practice")
                await d.seat(2, True)
                await c.request("finish_trial")
                await c.next_message("trial_finished", timeout=HANG_S)
                seen = d.switch_closed("hole 2")  # the board's pipeline now, not the trial's
                await d.seat(2, False)  # and lifting it is a peg out the board sees
                return seen

    assert _run(main()) is True


def test_the_api_default_9hpt_has_a_practice_trial_per_hand_first(tmp_path):
    # Mathiowetz 1985 gave a practice trial with each hand; no virtual patient here (respond=False),
    # so nothing can start a trial before the plan is read
    async def main():
        async with InProcessDaemon(tmp_path) as d:
            async with staff_client(d.socket, "therapist", patient=PATIENT) as c:
                return (await c.request("start_test", protocol="nine-hole-peg"))["test"]

    test = _run(main())
    assert test["plan"]["practice"] is True and test["plan"]["trials_per_hand"] == 2
    assert test["next"]["practice"] is True and test["next"]["hand"] == "dominant"


def test_a_9hpt_test_runs_hands_free_and_results_carry_summary_norms_and_note(tmp_path):
    d = DaemonProcess(tmp_path / "data", tmp_path / "s.sock", speed=5.0, seed=5)  # at 25x a loaded machine fell behind
    d.start()

    async def main():
        async with staff_client(d.socket, patient={**PATIENT, "birth_month": 3, "condition": "ms"}) as c:
            # without practice, to keep it short (the default plan: test_the_api_default_9hpt_...)
            await c.request("start_test", protocol="nine-hole-peg", trials_per_hand=1, practice=False)
            finished = []
            while len(finished) < 2:  # the virtual patient presses start for each trial
                finished.append((await c.next_message("trial_finished", timeout=HANG_S))["trial"])
            # the therapist marks the second trial invalid and has it repeated
            await c.request("mark_invalid", trial_id=finished[1]["trial_id"], reason="peg dropped on the floor",
                            repeat=True)
            finished.append((await c.next_message("trial_finished", timeout=HANG_S))["trial"])
            await _state_where(c, lambda s: s["test"]["status"] == "complete")
            return finished, await c.request("results")

    try:
        finished, res = _run(main(), timeout=3 * HANG_S)
    finally:
        assert d.stop() == 0, d.log()
    assert [t["started_by"] for t in finished] == ["button"] * 3
    assert [t["hand"] for t in finished] == ["dominant", "non-dominant", "non-dominant"]
    assert finished[2]["repeat_of"] == finished[1]["trial_id"]
    assert [t["status"] for t in res["tests"]] == ["complete"]
    test = res["tests"][0]
    s = test["summary"]
    assert test["schema"] == "station.test/1" and test["plan"]["trials_per_hand"] == 1
    assert s["hands"]["non-dominant"]["trials"] == [finished[2]["trial_id"]]
    assert s["invalid"][0]["reason"] == "peg dropped on the floor" and s["invalid"][0]["repeated"] is True
    for hand in ("dominant", "non-dominant"):
        hs = s["hands"][hand]
        # the simulated station has a dish cell: timed as a stopwatch would, so scored against the norms
        assert hs["timing"] == "first-peg-to-dish"
        assert isinstance(hs["norm"]["sd_score"], float) and hs["norm"]["band"] and hs["norm"]["age"] > 60
        assert hs["norm"]["age_basis"] == "from birth month and year"
    assert "Mathiowetz" in s["norm_source"] and s["condition"] == "ms"
    assert "Nine Hole Peg Test" in test["note"] and "peg dropped on the floor" in test["note"]
    assert "Timing: from the first peg lifted out of the dish" in test["note"]
    assert "born 1960-03" in test["note"] and "population: multiple sclerosis" in test["note"]
    stored = {t["trial_id"]: t for t in res["trials"]}
    assert stored[finished[1]["trial_id"]]["invalid"]["reason"] == "peg dropped on the floor"


def test_tare_saves_the_calibration_into_station_toml(tmp_path, station_toml, monkeypatch):

    async def main():
        async with InProcessDaemon(tmp_path, config_path=station_toml) as d:
            async with staff_client(d.socket) as c:
                res = await c.request("tare", cell="tray")
                # the file cannot be replaced: a clear error, nothing changed
                import station.config_write as cw
                real_replace = cw.os.replace

                def refuse(src, dst):
                    raise PermissionError(13, "Permission denied")
                monkeypatch.setattr(cw.os, "replace", refuse)
                with pytest.raises(ApiError) as e:
                    await c.request("tare", cell="dish")
                monkeypatch.setattr(cw.os, "replace", real_replace)
                return res, e.value

    res, err = _run(main())
    saved = load_config(station_toml)
    assert saved.cells["tray"].offset == pytest.approx(res["offset"]) and res["saved_to"] == str(station_toml)
    assert abs(res["offset"] - (-13000)) < 200  # the simulated empty tray reads about its configured offset
    text = station_toml.read_text()
    assert "# HX711 under the coin tray" in text and "# raw counts with the dish empty (tare)" in text
    assert err.code == "hardware" and "not saved" in err.message and str(station_toml) in err.message
    assert saved.cells["dish"].offset == 52000  # the refused tare left the file as it was
    assert not list(tmp_path.glob(".station.toml.tmp"))


def test_tare_without_a_config_file_says_so(tmp_path):
    async def main():
        async with InProcessDaemon(tmp_path) as d:
            async with staff_client(d.socket) as c:
                with pytest.raises(ApiError) as e:
                    await c.request("tare", cell="tray")
                return e.value

    err = _run(main())
    assert err.code == "bad_value" and "--config" in err.message
