#!/usr/bin/env python3
"""The crash benchmark with FHIR delivery: SIGKILL the daemon at random moments while a virtual
patient does tests that the daemon delivers to a real FHIR server (tests/fhir/fhir_server.py).

    python tests/benchmarks/crash_fhir.py [--kills 30] [--speed 25] [--seed N]

Like tests/benchmarks/crash.py, on a fresh data directory, with ``[fhir]``
configured: a client keeps a 9HPT going (one trial per hand, no practice; the
simulated daemon's virtual patient presses start), and the daemon is killed
1-15 s into each session, ``--kills`` times, then restarted. At the end the
daemon runs until its outbox is drained, and the server is searched for every
resource of every finished test. Prints one JSON object:

* ``finished_tests``: tests stored complete or ended
* ``lost_on_server``: finished tests with a resource missing on the server (goal 0)
* ``duplicated_on_server``: resources the server holds more than once (goal 0)
* ``outbox_left_pending``: entries still not sent at the end (goal 0)
* ``outbox_rejected``: entries the server refused (goal 0)
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
from station.client import StationClient  # noqa: E402
from station.config import default_config_text  # noqa: E402
from station.fhir.codes import IDENTIFIER_SYSTEM  # noqa: E402
from station.records.outbox import FINISHED, Outbox  # noqa: E402
from station.records.store import RecordStore  # noqa: E402
from tests.daemon.daemon_proc import DaemonProcess  # noqa: E402
from tests.fhir.fhir_server import FhirServer, unavailable  # noqa: E402

PATIENT = {"patient_id": "CRASH-F", "birth_year": 1968, "sex": "female", "dominant_hand": "right"}


async def session(sock: str, until: float) -> None:
    """Keep a test going until ``until`` (monotonic); the daemon is killed then."""
    async with StationClient(sock) as c:
        await c.request("subscribe", topics=["state"])
        try:
            await c.request("select_patient", patient_id=PATIENT["patient_id"])
        except ApiError:
            await c.request("create_patient", **PATIENT)
        while time.monotonic() < until:
            st = (await c.request("state"))["state"]
            test = st.get("test")
            if test is None or test.get("status") != "in_progress":
                await c.request("start_test", protocol="nine-hole-peg", trials_per_hand=1, practice=False)
            elif st.get("trial") is None:
                try:  # arm the next trial by command too: a late virtual patient's press then finds it armed
                    await c.request("start_trial")
                except ApiError:
                    pass
            await c.next_message("state", timeout=max(0.01, until - time.monotonic()))


async def drained(sock: str, timeout: float) -> dict:
    async with StationClient(sock) as c:
        end = time.monotonic() + timeout
        while True:
            box = await c.request("fhir_outbox")
            if box["counts"]["pending"] == 0 or time.monotonic() > end:
                return box
            await asyncio.sleep(0.5)


async def _run(kills: int, speed: float, seed: int, work: Path) -> dict:
    rng = random.Random(seed)
    server = FhirServer().start()
    conf = work / "station.toml"
    conf.write_text(default_config_text() + f'\n[fhir]\nbase_url = "{server.base}"\nstation_id = "CRASH"\n')
    data, sock = work / "data", str(work / "station.sock")
    d = DaemonProcess(data, sock, speed=speed, seed=seed, extra=["--config", str(conf)]).start()
    t0 = time.monotonic()
    try:
        for k in range(kills):
            try:
                await session(sock, time.monotonic() + rng.uniform(1.0, 15.0))
            except (TimeoutError, ConnectionError, OSError, ApiError):
                pass
            d.kill()
            d.seed = seed + k + 1
            d.start()
        box = await drained(sock, 300)
        d.stop()
        with RecordStore(data, readonly=True) as store:
            finished = [t for t in store.tests() if t.get("status") in FINISHED]
        outbox = Outbox(data / "outbox")
        entries = {e["test_id"]: e for e in outbox.entries()}
        lost, dups, resources = 0, 0, 0
        for t in finished:
            e = entries.get(t["test_id"])
            if e is None:
                lost += 1
                continue
            missing = False
            for entry in e["bundle"]["entry"]:
                res = entry["resource"]
                found = server.search(res["resourceType"],
                                      identifier=f"{IDENTIFIER_SYSTEM}|{res['identifier'][0]['value']}")
                resources += 1
                missing |= not found
                dups += len(found) > 1
            lost += missing
        return {"kills": kills, "finished_tests": len(finished), "lost_on_server": lost,
                "duplicated_on_server": dups, "resources_checked": resources,
                "outbox_left_pending": box["counts"]["pending"], "outbox_rejected": box["counts"]["rejected"],
                "speed": speed, "elapsed_s": round(time.monotonic() - t0, 1)}
    finally:
        if d.alive():
            d.kill()
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--speed", type=float, default=25.0, help="virtual board speed (x real time)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    why = unavailable()
    if why:
        sys.exit(f"crash_fhir: {why}")
    with tempfile.TemporaryDirectory(prefix="station-crash-fhir-") as tmp:
        print(json.dumps(asyncio.run(_run(args.kills, args.speed, args.seed, Path(tmp)))))


if __name__ == "__main__":
    main()
