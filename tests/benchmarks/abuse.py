#!/usr/bin/env python3
"""Abuse run: a bounded fuzz and load test of ``station daemon --simulate`` while a live trial runs.

    python tests/benchmarks/abuse.py [--patients 10000] [--burst 2000] [--non-readers 100] [--small]

A daemon on simulated hardware, seeded with ``--patients`` patients, goes
through these phases, one after another, while a pinger (its own connection,
one ``ping`` every 20 ms) measures how long the event loop keeps clients
waiting, and a free-practice trial (the virtual patient doing reps) stays
live through the first five:

* ``fuzz``: malformed and hostile lines (random bytes, bad JSON, lone
  surrogates, deep nesting, huge numbers, unknown fields, staff commands
  without a session) on several connections;
* ``burst``: ``--burst`` ``find_patients`` in one write, logged in as therapist;
* ``slow_clients``: ``--non-readers`` connections that never read (all topics,
  sensors too) plus one that writes requests and never reads its replies;
* ``fd_exhaustion``: 300 connections at once (the server serves 64);
* ``trials``: the live trial is finished (it must be saved, and its trace
  must replay to its stored result), then a few short trials;
* ``damaged_files``: the daemon is stopped, patients.jsonl emptied, the index
  garbled, a journal left by a kill -9 has its header zeroed; restarted;
* ``disk_full`` (root only: a 24 MB tmpfs): the data disk fills during a
  trial, then space comes back.

Prints one JSON object: requests sent, whether the daemon was alive after
each phase, the worst and 99th-percentile ping round trip per phase (the
loop stall a client sees), the daemon's peak RSS, acknowledged trials lost
(every trial the daemon said ``saved``, looked up on disk at the end: goal
0), and the live trial's fate (goal: saved, its replay equal to its stored
result). ``--small`` is the suite's quick version (tests/daemon/test_abuse_small.py).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from station.api import ApiError  # noqa: E402
from station.client import StationClient  # noqa: E402
from station.records.store import RecordStore  # noqa: E402
from station.replay import replay  # noqa: E402
from tests.daemon.daemon_proc import DaemonProcess  # noqa: E402
from tests.support import STAFF_PINS, fill_up, log_in, staff_client  # noqa: E402

PATIENT = {"patient_id": "ABUSE-1", "birth_year": 1962, "sex": "female", "dominant_hand": "right"}


def seed_patients(data: Path, n: int) -> None:
    """``n`` patients written straight into patients.json and its copy (the TinyDB layout of
    earlier versions, so the daemon's first open migrates them to patients.jsonl)."""
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    table = {str(i): {"patient_id": f"P-{i:05d}", "birth_year": 1940 + i % 60,
                      "sex": ("female", "male")[i % 2], "dominant_hand": ("right", "left")[i % 7 == 0],
                      "created_at": "2025-01-01T00:00:00.000+00:00"} for i in range(1, n + 1)}
    raw = json.dumps({"patients": table}, separators=(",", ":")).encode()
    for name in ("patients.json", "patients.json.bak"):
        (data / name).write_bytes(raw)
        os.chmod(data / name, 0o600)


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


class Pinger:
    """One connection pinging every 20 ms from a thread of its own (so this script's own work
    does not count), its round trips gathered per phase."""

    def __init__(self, sock: str) -> None:
        self.sock = sock
        self.rtts: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pinger", daemon=True)

    async def __aenter__(self) -> Pinger:
        self._thread.start()
        return self

    def _run(self) -> None:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(60)
        s.connect(self.sock)
        f = s.makefile("rb")
        f.readline()  # hello
        s.sendall(b'{"id": 0, "cmd": "subscribe", "topics": []}\n')
        f.readline()
        n = 0
        while not self._stop.is_set():
            n += 1
            t0 = time.perf_counter()
            try:
                s.sendall(b'{"id": %d, "cmd": "ping"}\n' % n)
                while b'"type":"reply"' not in f.readline():
                    pass
                self.rtts.append(time.perf_counter() - t0)
            except OSError:
                self.failures += 1
                return
            self._stop.wait(0.02)
        s.close()

    def take(self) -> dict:
        r, self.rtts = sorted(self.rtts), []
        if not r:
            return {"pings": 0}
        return {"pings": len(r), "worst_ms": round(r[-1] * 1000, 1),
                "p99_ms": round(r[min(len(r) - 1, int(len(r) * 0.99))] * 1000, 1)}

    async def __aexit__(self, *exc) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 70)


def hostile_lines(rng: random.Random, n: int) -> list[bytes]:
    """Malformed and hostile request lines (no wrong PINs: those would lock the staff out)."""
    fixed = [b"nonsense", b"{", b"[]", b"null", b'{"id": 1}', b'{"cmd": "ping"}',
             b'{"id": 1, "cmd": "create_patient", "patient_id": "\\ud800", "birth_year": 1, "sex": "male",'
             b' "dominant_hand": "left"}',
             b'{"id": 2, "cmd": "ping", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
             b'{"id": 3, "cmd": "start_trial", "options": {"coins": 1' + b"0" * 4000 + b"}}",
             b'{"id": 4, "cmd": "calibrate", "cell": "dish", "mass_g": 1e-300}',
             b'{"id": 5, "cmd": "mark_invalid", "trial_id": -1, "reason": "x"}',
             b'{"id": 6, "cmd": "tare", "cell": "dish"}', b'{"id": 7, "cmd": "find_patients"}',
             b'{"id": 8, "cmd": "subscribe", "topics": ["nope"]}', b'{"id": 9, "cmd": "warp"}',
             b'{"id": 10, "cmd": "results", "patient_id": "P-00001"}', b"\xff\xfe\x00garbage",
             b'{"id": 11, "cmd": "ping", "pad": "' + b"z" * 70000 + b'"}']
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append(fixed[rng.randrange(len(fixed))])
        elif i % 3 == 1:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))).replace(b"\n", b" "))
        else:
            body = {"id": i, "cmd": rng.choice(["ping", "state", "select_patient", "start_test", "abort_trial",
                                                 "hello", "logout", "results"]),
                    rng.choice(["patient_id", "protocol", "x", "reason", "api"]):
                        rng.choice([1, -1, 2**60, "x" * rng.randrange(50), None, [], {}, True, 1.5])}
            out.append(json.dumps(body).encode())
    return out


async def fuzz(sock: str, lines: list[bytes]) -> int:
    conns = [await asyncio.open_unix_connection(sock, limit=1 << 24) for _ in range(4)]
    for k, (_, w) in enumerate(conns):
        w.write(b"".join(line + b"\n" for line in lines[k::4]))
        await w.drain()
    for r, w in conns:  # read until the daemon has answered what it got
        w.write_eof()
        with_timeout = asyncio.wait_for(r.read(), 120)
        try:
            await with_timeout
        except (TimeoutError, ConnectionError):
            pass
        w.close()
    return len(lines)


async def burst(sock: str, n: int) -> int:
    r, w = await asyncio.open_unix_connection(sock, limit=1 << 26)
    await r.readline()
    w.write(json.dumps({"id": "login", "cmd": "login", "role": "therapist", "pin": STAFF_PINS["therapist"]})
            .encode() + b"\n")
    w.write(b"".join(b'{"id": %d, "cmd": "find_patients", "query": "P-0", "limit": 20}\n' % i
                     for i in range(n)))
    await w.drain()
    replies = 0
    while replies < n + 1:
        line = await asyncio.wait_for(r.readline(), 120)
        if not line:
            break
        replies += b'"type":"reply"' in line
    w.close()
    return n + 1


async def slow_clients(sock: str, n: int, hold_s: float, pid: int) -> tuple[int, float | None]:
    held = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            s.connect(sock)
            s.sendall(b'{"id": 1, "cmd": "subscribe", "topics": ["events", "faults", "state", "trials", '
                      b'"sensors"]}\n')
        except OSError:
            s.close()
            continue
        held.append(s)
    writer = socket.socket(socket.AF_UNIX)
    writer.connect(sock)
    writer.setblocking(False)
    sent = 0
    data = b"".join(b'{"id": %d, "cmd": "state"}\n' % i for i in range(5000))
    try:
        sent_bytes = writer.send(data)
        sent = data[:sent_bytes].count(b"\n")
    except BlockingIOError:
        pass
    await asyncio.sleep(hold_s)
    rss = peak_rss_mb(pid)
    for s in held + [writer]:
        s.close()
    return n + sent, rss


async def fd_exhaustion(sock: str, n: int) -> dict:
    opened, refused, served = [], 0, 0
    for _ in range(n):
        try:
            r, w = await asyncio.open_unix_connection(sock)
        except OSError:
            refused += 1
            continue
        opened.append((r, w))
    for r, _ in opened:  # each says hello, or bye when over the cap
        try:
            first = await asyncio.wait_for(r.readline(), 10)
        except (TimeoutError, OSError, ValueError):
            continue
        refused += b'"too many connections"' in first
        served += b'"type":"hello"' in first
    for _, w in opened:
        w.close()
    return {"connections": n, "served": served, "refused_with_bye": refused}


async def short_trials(c: StationClient, k: int, saved: set[int]) -> None:
    for _ in range(k):
        st = (await c.request("start_trial", protocol="free-practice"))["trial"]
        await asyncio.sleep(0.5)
        await c.request("finish_trial")
        while True:
            msg = await c.next_message("trial_finished", timeout=60)
            if msg["trial"]["trial_id"] == st["trial_id"]:
                break
        if msg["saved"]:
            saved.add(st["trial_id"])


def replay_matches(trial: dict) -> bool:
    replayed = replay(trial["trace"])["result"]  # the protocol and options its header names
    return json.dumps(replayed, sort_keys=True) == json.dumps(trial["result"], sort_keys=True)


async def main_run(args, work: Path) -> dict:
    data, sock = work / "data", str(work / "station.sock")
    seed_patients(data, args.patients)
    d = DaemonProcess(data, sock, speed=args.speed, seed=args.seed).start()
    out: dict = {"patients": args.patients, "phases": {}, "requests_sent": 0}
    saved: set[int] = set()
    rss: list[float] = []
    rng = random.Random(args.seed)

    def phase(name: str, pinger: Pinger, **extra) -> None:
        out["phases"][name] = {"daemon_alive": d.alive(), **pinger.take(), **extra}
        rss.append(peak_rss_mb(d.pid) or 0.0)

    async with Pinger(sock) as pinger, StationClient(sock) as staff:
        await log_in(staff)
        await staff.request("create_patient", **PATIENT)
        live = (await staff.request("start_trial", protocol="free-practice"))["trial"]
        pinger.take()
        out["requests_sent"] += await fuzz(sock, hostile_lines(rng, args.fuzz))
        phase("fuzz", pinger)
        out["requests_sent"] += await burst(sock, args.burst)
        phase("burst", pinger, burst=args.burst)
        n, slow_rss = await slow_clients(sock, args.non_readers, args.hold_s, d.pid)
        out["requests_sent"] += n
        phase("slow_clients", pinger, non_readers=args.non_readers, peak_rss_mb=slow_rss)
        phase("fd_exhaustion", pinger, **await fd_exhaustion(sock, 300))
        # the live trial, alive through all of that
        await staff.request("finish_trial")
        while True:
            msg = await staff.next_message("trial_finished", timeout=60)
            if msg["trial"]["trial_id"] == live["trial_id"]:
                break
        live_saved = bool(msg["saved"])
        if live_saved:
            saved.add(live["trial_id"])
        await short_trials(staff, 3, saved)
        phase("trials", pinger)
    out["live_trial"] = {"trial_id": live["trial_id"], "saved": live_saved,
                         "replay_equal": live_saved and replay_matches(msg["trial"])}

    # damaged files: a kill -9 mid-trial leaves a journal; then damage on disk; restart
    async with staff_client(sock) as c:
        await c.request("select_patient", patient_id=PATIENT["patient_id"])
        await c.request("start_trial", protocol="free-practice")
        await asyncio.sleep(0.5)
    rss.append(peak_rss_mb(d.pid) or 0.0)
    d.kill()
    (data / "patients.jsonl").write_bytes(b"")
    with open(data / "index.jsonl", "ab") as f:
        f.write(b"\x00\x00garbage{\n")
    for j in (data / "journal").glob("*.jsonl"):
        raw = j.read_bytes()
        j.write_bytes(b"\x00" * raw.index(b"\n") + raw[raw.index(b"\n"):])
    d.start()
    async with Pinger(sock) as pinger, StationClient(sock) as c:
        await log_in(c)
        found = await c.request("find_patients", query="P-", limit=1)
        await c.request("select_patient", patient_id=PATIENT["patient_id"])
        await short_trials(c, 1, saved)
        phase("damaged_files", pinger, patients_found=bool(found["patients"]))
    rss.append(peak_rss_mb(d.pid) or 0.0)
    assert d.stop() == 0, d.log()[-2000:]
    with RecordStore(data, readonly=True) as store:
        stored = {s["trial_id"] for s in store.trials()}
        interrupted = [s["trial_id"] for s in store.trials() if s.get("status") == "interrupted"]
    out["acknowledged_trials"] = len(saved)
    out["acknowledged_trials_lost"] = len(saved - stored)
    out["interrupted_recovered"] = len(interrupted)
    out["disk_full"] = await disk_full(args, work)
    out["peak_rss_mb"] = max(r for r in rss if r) if any(rss) else None
    out["worst_loop_stall_ms"] = max((p.get("worst_ms") or 0) for p in out["phases"].values())
    return out


async def disk_full(args, work: Path) -> dict:
    """On a small tmpfs: the disk fills during a trial, then space comes back."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return {"skipped": "not root: no tmpfs to fill"}
    mnt = work / "tmpfs"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        return {"skipped": "mount failed"}
    try:
        data, sock = mnt, str(work / "full.sock")  # its log goes next to it, off the tmpfs
        seed_patients(data, min(args.patients, 2000))
        d = DaemonProcess(data, sock, speed=args.speed, seed=args.seed).start()
        saved: set[int] = set()
        res: dict = {}
        try:
            async with staff_client(sock, patient=PATIENT) as c:
                await short_trials(c, 1, saved)
                st = (await c.request("start_trial", protocol="free-practice"))["trial"]
                fill_up(mnt / "filler")
                msg = await c.next_message("trial_finished", timeout=60)
                res["live_trial_stopped"] = msg["trial"].get("status")
                res["live_trial_named"] = msg["trial"]["trial_id"] == st["trial_id"]
                res["command_answer"] = "ok"
                for n in range(2, 200):  # a patient is a line appended: those that fit a last page are stored
                    try:
                        await c.request("create_patient", **{**PATIENT, "patient_id": f"ABUSE-{n}"})
                    except ApiError as e:
                        res["command_answer"] = e.code
                        break
                res["creates_stored_on_the_full_disk"] = n - 2
                res["daemon_alive"] = d.alive()
                os.unlink(mnt / "filler")
                await short_trials(c, 1, saved)
            assert d.stop() == 0, d.log()[-2000:]
            log_lines = d.log().count("\n")
            with RecordStore(data, readonly=True) as store:
                stored = {s["trial_id"] for s in store.trials()}
            res.update(acknowledged_trials=len(saved), acknowledged_trials_lost=len(saved - stored),
                       daemon_log_lines=log_lines)
        finally:
            if d.alive():
                d.kill()
        return res
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


SMALL = {"patients": 300, "burst": 200, "non_readers": 10, "fuzz": 300, "hold_s": 0.5}


def run_abuse(small: bool = False, **overrides) -> dict:
    """The run (``small``: the suite's sizes) with options overridden as the command line names them."""
    args = parser().parse_args([])
    for k, v in {**(SMALL if small else {}), **overrides}.items():
        setattr(args, k, v)
    with tempfile.TemporaryDirectory(prefix="station-abuse-") as tmp:
        t0 = time.monotonic()
        out = asyncio.run(main_run(args, Path(tmp)))
        out["elapsed_s"] = round(time.monotonic() - t0, 1)
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--patients", type=int, default=10000)
    p.add_argument("--burst", type=int, default=2000)
    p.add_argument("--non-readers", type=int, default=100)
    p.add_argument("--fuzz", type=int, default=3000, help="hostile lines sent")
    p.add_argument("--hold-s", type=float, default=3.0, help="how long the non-readers stay connected")
    p.add_argument("--speed", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--small", action="store_true", help="the suite's quick version")
    return p


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    p = parser()
    a = vars(p.parse_args())
    given = {k: v for k, v in a.items() if v != p.get_default(k) and k != "small"}
    print(json.dumps(run_abuse(small=a["small"], **given)))
