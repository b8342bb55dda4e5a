#!/usr/bin/env python3
"""How long the daemon's event loop stalls while a trial is journaled.

    python tests/benchmarks/loop_lag.py [--fsync-ms 0] [--trials 2] [--speed 4]

Runs the daemon in this process on simulated hardware (the virtual patient
performs nine-hole-peg trials) with a probe task that sleeps 2 ms at a time
and records how late it wakes: that lateness is how long the loop (the
pipeline, the clients) was held up. ``--fsync-ms`` adds that many ms to every
``os.fsync`` to stand for a slow disk (an SD card's fsync takes from a few ms
to hundreds under write load; this VM's takes ~0.1 ms). It also counts the
fsyncs made on the loop's thread: ``fsyncs_on_the_loop_thread`` while the
daemon serves (from its socket listening with the board settled to the end
of the last trial: the login, the patient's creation and the trials), which
must stay 0, and ``fsyncs_on_the_loop_thread_at_start_up`` before that (the
harness writing the staff PIN file, the store creating an empty patients' log
and its copy when it opens), when the loop serves no one yet, and
``..._at_shut_down`` after the last trial.
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.daemon.inprocess import InProcessDaemon  # noqa: E402
from tests.support import staff_client  # noqa: E402


async def _run(work: Path, trials: int, speed: float, phase: list[str]) -> dict:
    lags: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            t = loop.time()
            await asyncio.sleep(0.002)
            lags.append((loop.time() - t - 0.002) * 1000)

    d = InProcessDaemon(work, respond=True, speed=speed)
    async with d:
        phase[0] = "serving"  # listening, the board settled: from here the loop's fsyncs count
        async with staff_client(d.socket) as c:
            await c.request("create_patient", patient_id="LAG-1", birth_year=1970, sex="female",
                            dominant_hand="right")
            task = asyncio.create_task(probe())
            for _ in range(trials):
                await c.request("start_trial", protocol="nine-hole-peg")
                await c.next_message("trial_finished", timeout=120)
            stop.set()
            await task
            phase[0] = "shut_down"  # the last trial is stored; the client leaves, the daemon stops
    lags.sort()
    return {"probes": len(lags), "lag_ms_median": round(lags[len(lags) // 2], 2),
            "lag_ms_p99": round(lags[int(len(lags) * 0.99)], 2), "lag_ms_max": round(lags[-1], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fsync-ms", type=float, default=0.0, help="extra ms per fsync (a slow disk)")
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--speed", type=float, default=4.0)
    args = ap.parse_args()
    real_fsync = os.fsync
    loop_thread = threading.get_ident()
    phase = ["start_up"]  # then "serving", then "shut_down" (set by _run)
    on_loop = {"start_up": 0, "serving": 0, "shut_down": 0}

    def fsync(fd: int) -> None:
        if threading.get_ident() == loop_thread:
            on_loop[phase[0]] += 1
        if args.fsync_ms:
            time.sleep(args.fsync_ms / 1000)
        real_fsync(fd)

    os.fsync = fsync  # every module calls os.fsync through the os module
    with tempfile.TemporaryDirectory(prefix="station-lag-") as tmp:
        r = asyncio.run(_run(Path(tmp), args.trials, args.speed, phase))
    print(json.dumps({**r, "fsyncs_on_the_loop_thread": on_loop["serving"],
                      "fsyncs_on_the_loop_thread_at_start_up": on_loop["start_up"],
                      "fsyncs_on_the_loop_thread_at_shut_down": on_loop["shut_down"],
                      "fsync_extra_ms": args.fsync_ms}))


if __name__ == "__main__":
    main()
