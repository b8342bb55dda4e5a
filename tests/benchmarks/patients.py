"""Cost of creating (and correcting) a patient as the number of patients grows.

Builds data directories holding 0, 1,000, 6,000 and 10,000 patients in a
temporary directory (written straight in the store's own format, a
patients.jsonl log and its copy: through the API 10,000 fsynced creates
would take minutes), opens a RecordStore on each and times
``add_patient`` there: the median of ``--creates`` creates, fsyncs
included, taken round-robin over the sizes so that disk load from elsewhere
hits them alike; the same for ``update_patient`` at 0 and 10,000. Also gives
the time to open the store with 10,000 patients, and to open (migrate) a
directory holding 10,000 patients in the TinyDB layout of earlier versions
(patients.json + .bak). Prints one JSON object.
Goal: create_ms_at_10000 <= 1.5 * create_ms_at_0.

    python tests/benchmarks/patients.py [--creates 60] [--dir DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from station.records.patient_log import log_bytes  # noqa: E402
from station.records.store import RecordStore  # noqa: E402

SIZES = (0, 1_000, 6_000, 10_000)


def patient(i: int) -> dict:
    return {"patient_id": f"P-{i:05d}", "birth_year": 1940 + i % 60, "sex": ("female", "male")[i % 2],
            "dominant_hand": ("right", "left")[i % 7 == 0], "created_at": "2025-01-01T00:00:00.000+00:00"}


def seed(data: Path, n: int, legacy: bool = False) -> None:
    data.mkdir(parents=True, mode=0o700)
    if legacy:
        table = {str(i): patient(i) for i in range(1, n + 1)}
        raw = json.dumps({"patients": table}, separators=(",", ":")).encode()
        names = ("patients.json", "patients.json.bak")
    else:
        raw = log_bytes([patient(i) for i in range(1, n + 1)])
        names = ("patients.jsonl", "patients.jsonl.bak")
    for name in names:
        (data / name).write_bytes(raw)
        os.chmod(data / name, 0o600)


def timed_open(data: Path) -> float:
    t = time.perf_counter()
    RecordStore(data).close()
    return round((time.perf_counter() - t) * 1000, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--creates", type=int, default=60, help="timed creates per size (median reported)")
    ap.add_argument("--dir", help="where to build the directories (default: a temporary directory)")
    args = ap.parse_args()
    out: dict = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        for size in SIZES:
            seed(root / f"p-{size}", size)
        out["open_ms_at_10000"] = timed_open(root / "p-10000")
        seed(root / "legacy", 10_000, legacy=True)
        out["migrate_open_ms_at_10000"] = timed_open(root / "legacy")
        out["reopen_after_migration_ms_at_10000"] = timed_open(root / "legacy")
        stores = {size: RecordStore(root / f"p-{size}") for size in SIZES}
        creates: dict[int, list[float]] = {size: [] for size in SIZES}
        updates: dict[int, list[float]] = {size: [] for size in SIZES}
        try:
            for i in range(args.creates):
                for size, store in stores.items():  # round-robin: load from elsewhere hits every size alike
                    t = time.perf_counter()
                    store.add_patient(f"NEW-{i:04d}", 1960, "female", "right")
                    creates[size].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    store.update_patient(f"NEW-{i:04d}", notes="corrected")
                    updates[size].append(time.perf_counter() - t)
        finally:
            for store in stores.values():
                store.close()
    for size in SIZES:
        out[f"create_ms_at_{size}"] = round(statistics.median(creates[size]) * 1000, 3)
    for size in (0, 10_000):
        out[f"update_ms_at_{size}"] = round(statistics.median(updates[size]) * 1000, 3)
    out["ratio_10000_to_0"] = round(out["create_ms_at_10000"] / out["create_ms_at_0"], 2)
    out["goal_met"] = out["ratio_10000_to_0"] <= 1.5
    print(json.dumps(out))


if __name__ == "__main__":
    main()
