#!/usr/bin/env python3
"""Report generation: time and peak memory for a patient with 100 tests.

    python tests/benchmarks/report.py [--tests 100]

Stores a patient's weekly 9HPTs (six trials each, results of a virtual patient
on simulated hardware, reused), then makes the one-page report of the last
test (its chart over all of them) and the progress report over all, reading
the records back from the store as ``station report`` does. Prints one JSON
object: seconds for each (median of 3), the progress report's pages and bytes,
and the peak of Python allocations (tracemalloc) and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from station.records.store import RecordStore  # noqa: E402
from station.report.progress_report import progress_report_pdf  # noqa: E402
from station.report.test_report import test_report_pdf  # noqa: E402
from tests.report.history import DEMO_PATIENT, results_cycle, simulated_results, store_history, weekly  # noqa: E402


def timed(fn, runs: int = 3) -> tuple[float, bytes]:
    times, out = [], b""
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", type=int, default=100)
    args = ap.parse_args()
    made = datetime.now(timezone.utc)  # noqa: UP017 (the scripts run on 3.11 too)
    with tempfile.TemporaryDirectory() as data:
        with RecordStore(data) as store:
            ids = store_history(store, DEMO_PATIENT, weekly(date(2024, 1, 1), args.tests),
                                results=results_cycle(simulated_results(12)), store_trials=False)
        with RecordStore(data, readonly=True) as store:
            def one() -> bytes:
                test = store.get_test(ids[-1])
                return test_report_pdf(test, store.get_patient("DEMO-1"), store.tests("DEMO-1"), made_at=made)

            def progress() -> bytes:
                return progress_report_pdf(store.get_patient("DEMO-1"), store.tests("DEMO-1"), made_at=made)

            one()  # imports and font metrics loaded once, as in a running UI
            tracemalloc.start()
            test_s, _ = timed(one)
            _, test_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            progress_s, pdf = timed(progress)
            _, progress_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    print(json.dumps({
        "tests": args.tests,
        "test_report_s": round(test_s, 3),
        "progress_report_s": round(progress_s, 3),
        "progress_report_pages": len(re.findall(rb"/Type /Page\b(?!s)", pdf)),
        "progress_report_bytes": len(pdf),
        "test_report_peak_alloc_mb": round(test_peak / 2**20, 1),
        "progress_report_peak_alloc_mb": round(progress_peak / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
