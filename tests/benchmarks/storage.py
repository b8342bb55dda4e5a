"""Cost of recording one finished trial as the history grows.

Stores a realistic finished trial (a 9HPT with 40 events, its result and
metrics, a trace path) through ``RecordStore.finish_trial`` with 10, 1,000
and 10,000 trials already stored, and the same record through plain TinyDB
(JSONStorage: one file, rewritten on every insert) at 10 and 1,000. The
history is built through the store itself in a temporary directory. Each
figure is the median of ``--inserts`` timed inserts, fsyncs included, taken
round-robin over the three stores so that disk load from elsewhere hits them
alike. Also gives the time to open the store (index load and check against
the documents) at each size, the median of 5 opens.
Prints one JSON object. Goal: ratio_10000_to_10 <= 2.

    python tests/benchmarks/storage.py [--inserts 100] [--dir DIR]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tinydb import TinyDB  # noqa: E402
from tinydb.storages import JSONStorage  # noqa: E402

from station.records.store import RecordStore  # noqa: E402

SIZES = (10, 1_000, 10_000)
TINYDB_SIZES = (10, 1_000)
OPENS = 5  # timed opens per size: one alone swings by 2x on a loaded machine


def trial_record(n: int) -> dict:
    """A finished Nine Hole Peg Test trial as the daemon stores it."""
    t0 = 1000.0 + n
    events = []
    for i in range(9):  # place: dish count drops, peg in; then remove: peg out, dish count rises
        events += [{"t": t0 + i * 1.1, "kind": "dish", "count": 8 - i},
                   {"t": t0 + i * 1.1 + 0.6, "kind": "peg_in", "hole": i + 1}]
    for i in range(9):
        events += [{"t": t0 + 10 + i * 0.9, "kind": "peg_out", "hole": i + 1},
                   {"t": t0 + 10 + i * 0.9 + 0.4, "kind": "dish", "count": i + 1}]
    events += [{"t": t0 - 1.0, "kind": "button", "name": "start"},  # and one re-seated peg
               {"t": t0 + 4.0, "kind": "peg_out", "hole": 3}, {"t": t0 + 4.2, "kind": "peg_in", "hole": 3},
               {"t": t0 + 19.5, "kind": "button", "name": "start"}]
    events.sort(key=lambda e: e["t"])
    result = {"status": "complete", "total_s": 18.5, "place_s": 9.9, "remove_s": 8.6,
              "place_intervals_s": [1.1] * 9, "remove_intervals_s": [0.9] * 9, "place_cv": 0.05,
              "remove_cv": 0.04, "longest_pause_s": 1.2, "longest_pause_at_s": 9.4,
              "transport_s": [0.6] * 9, "returned_unused": 0}
    return {"patient_id": f"P-{n % 50:03d}", "protocol": "nine-hole-peg", "options": {"pegs": 9, "cutoff_s": 300.0},
            "hand": "dominant", "side": "right", "index": 1 + n % 2, "practice": False, "status": "complete",
            "result": result, "norm": {"mean_s": 17.2, "sd_s": 2.4, "z": 0.54}, "events": events,
            "faults": [], "trace": f"/var/lib/station/traces/{n:06d}.trace.jsonl"}


def median_ms(fn, k: int) -> float:
    times = []
    for _ in range(k):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 3)


def build_store(data: Path, size: int) -> float:
    """A store holding ``size`` trials; returns the median time to reopen it (ms)."""
    with RecordStore(data) as store:
        for p in range(50):
            store.add_patient(f"P-{p:03d}", 1940 + p, "female" if p % 2 else "male", "right")
        for n in range(size):
            store.finish_trial(trial_record(n))
    return median_ms(lambda: RecordStore(data).close(), OPENS)


def bench_store(root: Path, k: int) -> dict:
    out: dict = {}
    stores = {}
    for size in SIZES:
        out[f"open_ms_at_{size}"] = build_store(root / f"records-{size}", size)
        stores[size] = RecordStore(root / f"records-{size}")
    # round-robin over the sizes, so a burst of disk load from elsewhere hits all of them alike
    times: dict[int, list[float]] = {size: [] for size in SIZES}
    for i in range(k):
        for size, store in stores.items():
            rec = trial_record(i)
            t = time.perf_counter()
            store.finish_trial(rec)
            times[size].append(time.perf_counter() - t)
    for size, store in stores.items():
        store.close()
        out[f"store_ms_at_{size}"] = round(statistics.median(times[size]) * 1000, 3)
    out["ratio_10000_to_10"] = round(out["store_ms_at_10000"] / out["store_ms_at_10"], 2)
    return out


def bench_tinydb(root: Path, k: int) -> dict:
    out = {}
    for size in TINYDB_SIZES:
        path = root / f"plain-{size}.json"
        with TinyDB(path, storage=JSONStorage) as db:
            db.insert_multiple(trial_record(i) for i in range(size))
            out[f"tinydb_ms_at_{size}"] = median_ms(lambda: db.insert(trial_record(0)), min(k, 15))
    out["tinydb_ratio_1000_to_10"] = round(out["tinydb_ms_at_1000"] / out["tinydb_ms_at_10"], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inserts", type=int, default=100, help="timed inserts per size (median reported)")
    ap.add_argument("--dir", help="where to build the history (default: a temporary directory)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        out = {"record_bytes": len(json.dumps(trial_record(0))), "events_per_trial": len(trial_record(0)["events"])}
        out.update(bench_store(root, args.inserts))
        out.update(bench_tinydb(root, args.inserts))
        out["goal_met"] = out["ratio_10000_to_10"] <= 2.0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
