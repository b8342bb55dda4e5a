"""The daemon end to end on simulated hardware: a client runs trials, abuses the socket,
and the daemon is killed mid-trial. (``--speed`` runs the virtual board faster than real time.)"""
from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys

import pytest

from station.api import ApiError
from station.client import StationClient
from station.records.store import RecordStore
from tests.daemon.daemon_proc import REPO, DaemonProcess
from tests.support import STAFF_PINS, log_in, staff_client

pytestmark = pytest.mark.slow


def _run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def daemon(tmp_path):
    d = DaemonProcess(tmp_path / "data", tmp_path / "run" / "station.sock", speed=20.0, seed=5)
    d.start()
    yield d
    if d.alive():
        assert d.stop() == 0, d.log()


async def _patient(c: StationClient, pid: str = "P-1") -> None:
    await c.request("create_patient", patient_id=pid, birth_year=1960, sex="female", dominant_hand="right")


def test_a_full_trial_through_the_daemon(daemon, tmp_path):
    async def main():
        async with StationClient(daemon.socket) as c:
            assert c.hello["state"]["station"]["simulated"] is True
            await log_in(c)
            await _patient(c)
            with pytest.raises(ApiError) as e:
                await c.request("start_trial", protocol="juggling")
            assert e.value.code == "bad_value"
            st = (await c.request("start_trial", protocol="nine-hole-peg"))["trial"]
            assert st["status"] == "waiting" and st["side"] == "right"
            with pytest.raises(ApiError) as e:
                await c.request("start_trial", protocol="coin-drop")
            assert e.value.code == "busy"
            live = []
            while True:
                msg = await c.next_message(timeout=60)
                if msg["type"] == "event" and msg["trial_id"] == st["trial_id"]:
                    live.append(msg["event"])
                if msg["type"] == "trial_finished":
                    return st, live, msg

    st, live, fin = _run(main())
    assert fin["saved"] is True
    trial = fin["trial"]
    assert trial["trial_id"] == st["trial_id"] and trial["patient_id"] == "P-1"
    assert trial["status"] == "complete" and trial["result"]["total_s"] > 0
    # live events are the recorded events, timestamps untouched
    assert live == trial["events"]
    assert sum(e["kind"] == "peg_in" for e in live) == 9
    # on disk (the store is locked by the daemon: read it read-only)
    store = RecordStore(daemon.data_dir, readonly=True)
    assert store.get_trial(trial["trial_id"])["result"] == trial["result"]
    # the raw trace re-scores to the same result through `station replay`
    out = subprocess.run([sys.executable, "-m", "station", "replay", trial["trace"], "--json"],
                         cwd=REPO, capture_output=True, text=True, check=True)
    replayed = json.loads(out.stdout)
    assert replayed["result"]["status"] == "complete"
    assert replayed["result"]["total_s"] == pytest.approx(trial["result"]["total_s"], abs=1e-6)


def test_socket_mode_and_no_network_port(daemon):
    st = os.stat(daemon.socket)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    # every socket the daemon holds is AF_UNIX: none of its fds is in the inet tables
    inodes = set()
    for fd in os.listdir(f"/proc/{daemon.pid}/fd"):
        try:
            target = os.readlink(f"/proc/{daemon.pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    assert inodes, "the daemon should hold its listening socket"
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        with open(f"/proc/{daemon.pid}/net/{table}") as f:
            rows = [line.split() for line in f.readlines()[1:]]
        held = {r[9] for r in rows if len(r) > 9} & inodes
        assert not held, f"the daemon holds {table} sockets {held}"
    with open(f"/proc/{daemon.pid}/net/unix") as f:
        unix_inodes = {line.split()[6] for line in f.readlines()[1:] if len(line.split()) > 6}
    assert inodes & unix_inodes


def test_socket_abuse_against_the_daemon(daemon):
    async def main():
        reader, writer = await asyncio.open_unix_connection(daemon.socket, limit=1 << 24)
        await reader.readline()  # hello
        for line in (b"nonsense\n", b'{"id": 1, "cmd": "tare", "cell": 5}\n',
                     b'{"id": 2, "cmd": "select_patient", "patient_id": "x", "extra": 1}\n',
                     b'{"id": 3, "cmd": "warp"}\n', b'{"id": 4, "pad": "' + b"z" * (1 << 20) + b'"}\n',
                     b'{"id": 5, "cmd": "mark_invalid", "trial_id": 999, "reason": "x"}\n',
                     f'{{"id": 6, "cmd": "login", "role": "therapist", "pin": "{STAFF_PINS["therapist"]}"}}\n'.encode(),
                     b'{"id": 7, "cmd": "mark_invalid", "trial_id": 999, "reason": "x"}\n'):
            writer.write(line)
        await writer.drain()
        codes = []
        while len(codes) < 8:
            msg = json.loads(await asyncio.wait_for(reader.readline(), 10))
            if msg["type"] == "reply":
                codes.append("ok" if msg["ok"] else msg["error"]["code"])
        assert codes == ["bad_json", "bad_type", "unknown_field", "unknown_command", "line_too_long",
                         "unauthorized", "ok", "not_found"]
        writer.transport.abort()
        # 50 clients at once, some vanishing mid-request
        clients = [StationClient(daemon.socket) for _ in range(50)]
        await asyncio.gather(*(c.connect() for c in clients))
        for i, c in enumerate(clients):
            if i % 5 == 0:
                await c.send_raw(b'{"id": 1, "cmd": "st')
                c._writer.transport.abort()
        replies = await asyncio.gather(*(c.request("ping") for i, c in enumerate(clients) if i % 5))
        assert len(replies) == 40
        await asyncio.gather(*(c.close() for c in clients))
        async with StationClient(daemon.socket) as c:
            await c.request("ping")

    _run(main())
    assert daemon.alive()


def test_kill_mid_trial_then_restart_recovers_it_as_interrupted(tmp_path):
    d = DaemonProcess(tmp_path / "data", tmp_path / "s.sock", speed=5.0, seed=9)
    d.start()

    async def arm():
        async with staff_client(d.socket) as c:
            await _patient(c)
            st = (await c.request("start_trial", protocol="nine-hole-peg"))["trial"]
            n = 0
            while n < 5:  # a few events journaled
                msg = await c.next_message("event", timeout=30)
                n += msg["trial_id"] == st["trial_id"]
            return st["trial_id"]

    tid = _run(arm())
    d.kill()
    d.start()

    async def check():
        async with staff_client(d.socket) as c:
            await c.request("select_patient", patient_id="P-1")
            res = await c.request("results")
            return res["trials"]

    trials = _run(check())
    assert d.stop() == 0
    assert [t["trial_id"] for t in trials] == [tid]
    assert trials[0]["status"] == "interrupted"
    assert len(trials[0]["events"]) >= 5
    # one clear log line says what was recovered
    [line] = [x for x in d.log().splitlines() if "interrupted" in x]
    assert f"recovered interrupted trial {tid} from its journal" in line
