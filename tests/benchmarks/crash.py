#!/usr/bin/env python3
"""Crash test: SIGKILL the daemon at random moments while a virtual patient does trials.

    python tests/benchmarks/crash.py [--kills 100] [--speed 20] [--seed N]

Runs ``station daemon --simulate`` on a fresh data directory; a client keeps
starting trials (nine-hole peg and coin drop) that the virtual patient
performs, and notes every trial the daemon reports ``saved``. At a random
moment (0.1-4 s in) the daemon is SIGKILLed and restarted, ``--kills`` times.
At the end the records are opened and checked. Prints one JSON object:

* ``finished_trials_lost``: trials reported saved that are not on disk (goal 0)
* ``unreadable_databases``: restarts that failed to open the records, plus a
  final store that cannot be read, plus stored trials that cannot be read (goal 0)
* ``interrupted_trials_recovered``: trials killed mid-way and recovered from
  their journal as ``interrupted``
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from station.api import ApiError  # noqa: E402
from station.records.store import RecordError, RecordStore  # noqa: E402
from tests.daemon.daemon_proc import DaemonProcess  # noqa: E402
from tests.support import staff_client  # noqa: E402

PROTOCOLS = ("nine-hole-peg", "coin-drop")


class Driver:
    """The client side: keeps trials going and remembers what the daemon said."""

    def __init__(self) -> None:
        self.saved: set[int] = set()  # trial ids the daemon reported saved
        self.armed: int | None = None  # trial id armed and not yet reported finished
        self.armed_at_kill: list[int] = []
        self.protocol_k = 0

    async def session(self, socket: str, until: float) -> None:
        """Keep trials going until ``until`` (monotonic); the daemon is killed then."""
        async with staff_client(socket) as c:
            try:
                await c.request("select_patient", patient_id="CRASH-1")
            except ApiError:
                await c.request("create_patient", patient_id="CRASH-1", birth_year=1970, sex="male",
                                dominant_hand="left")
            while time.monotonic() < until:
                proto = PROTOCOLS[self.protocol_k % len(PROTOCOLS)]
                self.protocol_k += 1
                st = (await c.request("start_trial", protocol=proto))["trial"]
                self.armed = st["trial_id"]
                while True:
                    msg = await c.next_message("trial_finished", timeout=max(0.01, until - time.monotonic()))
                    if msg["trial"]["trial_id"] == self.armed:
                        break
                if msg["saved"]:
                    self.saved.add(msg["trial"]["trial_id"])
                self.armed = None


async def _run(kills: int, speed: float, seed: int, work: Path, log=print) -> dict:
    rng = random.Random(seed)
    data, sock = work / "data", str(work / "station.sock")
    driver = Driver()
    start_failures = 0
    t0 = time.monotonic()
    d = DaemonProcess(data, sock, speed=speed, seed=seed)
    d.start()
    for k in range(kills):
        delay = rng.uniform(0.1, 4.0)
        try:
            # the session ends itself at the deadline (not only by cancellation)
            await driver.session(sock, time.monotonic() + delay)
        except TimeoutError:
            pass
        except (ConnectionError, OSError, ApiError) as e:
            log(f"kill {k}: client error {e!r}")
        if driver.armed is not None:
            driver.armed_at_kill.append(driver.armed)
            driver.armed = None
        d.kill()
        d.seed = seed + k + 1
        try:
            d.start()
        except RuntimeError as e:
            start_failures += 1
            log(f"restart {k} failed: {str(e)[-500:]}")
            d.start()  # the next start should recover anyway
    assert d.stop() == 0, d.log()[-2000:]

    unreadable = start_failures
    lost, interrupted, unreadable_trials = [], [], 0
    try:
        store = RecordStore(data)
    except Exception as e:  # noqa: BLE001 - any failure here is what we count
        log(f"final store cannot be opened: {e!r}")
        return {"kills": kills, "unreadable_databases": unreadable + 1}
    with store:
        store.get_patient("CRASH-1")
        stored = {s["trial_id"]: s for s in store.trials()}
        for tid in stored:
            try:
                rec = store.get_trial(tid)
            except RecordError:
                unreadable_trials += 1
                continue
            if rec["status"] == "interrupted":
                interrupted.append(tid)
        lost = sorted(driver.saved - stored.keys())
        journals_left = len(list((data / "journal").glob("*.jsonl")))
    missing_armed = [t for t in driver.armed_at_kill if t not in stored]
    return {
        "kills": kills,
        "finished_trials_saved": len(driver.saved),
        "finished_trials_lost": len(lost),
        "unreadable_databases": unreadable + (unreadable_trials > 0),
        "unreadable_trial_documents": unreadable_trials,
        "kills_with_a_trial_armed": len(driver.armed_at_kill),
        "interrupted_trials_recovered": len(interrupted),
        "armed_trials_missing": len(missing_armed),
        "journals_left_unrecovered": journals_left,
        "trials_stored": len(stored),
        "speed": speed,
        "elapsed_s": round(time.monotonic() - t0, 1),
    }


def run_crash_test(kills: int = 100, speed: float = 10.0, seed: int = 1, work: Path | None = None,
                   log=lambda s: print(s, file=sys.stderr)) -> dict:
    """Run the crash test; returns the figures (the test suite runs a small one)."""
    if work is not None:
        return asyncio.run(_run(kills, speed, seed, Path(work), log))
    with tempfile.TemporaryDirectory(prefix="station-crash-") as tmp:
        return asyncio.run(_run(kills, speed, seed, Path(tmp), log))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--speed", type=float, default=20.0, help="virtual board speed (x real time)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(json.dumps(run_crash_test(args.kills, args.speed, args.seed)))


if __name__ == "__main__":
    main()
