#!/usr/bin/env python3
"""Idle cost of the daemon: simulated hardware (two cells at 80 samples/s), no trial.

    python tests/benchmarks/idle.py [--seconds 20] [--clients 1]

Starts ``station daemon --simulate`` (real time), attaches ``--clients`` idle
clients on the default topics (as a kiosk UI would), waits 3 s to warm up,
then measures the daemon process's CPU time (utime + stime from
/proc/PID/stat) over ``--seconds`` of wall time, and its resident memory
(VmRSS, VmHWM from /proc/PID/status). Prints one JSON object. Goals: at most
5 % of one core and 60 MB.

The figure includes the simulated hardware, which runs in the daemon
process: the virtual HX711s are clocked bit by bit through the real driver
(25 pulses per reading, 160 readings a second) and the virtual patient's
signals are computed per reading. On a Pi the same driver code toggles real
pins instead.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from station.client import StationClient  # noqa: E402
from tests.daemon.daemon_proc import DaemonProcess  # noqa: E402


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def memory_mb(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


async def measure(seconds: float, clients: int, work: Path) -> dict:
    d = DaemonProcess(work / "data", work / "station.sock", speed=1.0, seed=1)
    d.start()
    conns = [StationClient(d.socket) for _ in range(clients)]
    received = 0
    try:
        for c in conns:
            await c.connect()

        async def drain(c: StationClient) -> None:
            nonlocal received
            async for _ in c.messages():
                received += 1

        readers = [asyncio.create_task(drain(c)) for c in conns]
        await asyncio.sleep(3.0)
        cpu0, t0 = cpu_seconds(d.pid), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, t1 = cpu_seconds(d.pid), time.monotonic()
        mem = memory_mb(d.pid)
        for r in readers:
            r.cancel()
    finally:
        for c in conns:
            await c.close()
        d.stop()
    return {"cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
            "rss_mb": round(mem["VmRSS"], 1), "peak_rss_mb": round(mem["VmHWM"], 1),
            "seconds": round(t1 - t0, 1), "clients": clients, "messages_to_clients": received,
            "goal_cpu_percent": 5, "goal_rss_mb": 60}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--clients", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="station-idle-") as tmp:
        print(json.dumps(asyncio.run(measure(args.seconds, args.clients, Path(tmp)))))


if __name__ == "__main__":
    main()
