"""``station fhir --test ID --out FILE.json``: a test as a FHIR R4 transaction Bundle (``station.fhir.bundle``).

The Bundle is what the daemon sends to a configured FHIR server
(``[fhir] base_url``); written to a file here (mode 0600), nothing leaves the
station. Safe while the daemon runs.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime

from station.commands import add_records_options, output_file


def register(sub) -> None:
    p = sub.add_parser("fhir", help="a test as a FHIR R4 Bundle (JSON)",
                       description="Write a stored test as a FHIR R4 transaction Bundle: an Observation per "
                                   "trial and per hand, grouped by the test's Observation (hasMember), the "
                                   "station as a Device with its calibration, the patient by pseudonymous "
                                   "identifier only. Validated before it is written (mode 0600).")
    p.add_argument("--test", metavar="ID", required=True, help="the test")
    p.add_argument("--out", metavar="FILE", required=True, help="the JSON file to write ('-': standard output)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    add_records_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from station.config import load_config
    from station.fhir.bundle import StationInfo, test_bundle
    from station.records.store import RecordStore

    config = load_config(args.config)
    data = args.data or config.section("daemon")["data_dir"]
    with RecordStore(data, readonly=True) as store:  # no lock: the daemon may be writing
        test = store.get_test(args.test)
        patient = store.get_patient(test["patient_id"]) if test.get("patient_id") else None
    bundle = test_bundle(test, patient, StationInfo.from_config(config), made_at=datetime.now().astimezone())
    text = json.dumps(bundle, indent=1, ensure_ascii=False) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    with output_file(args.out, force=args.force) as out:
        out.write(text)
    print(f"test {args.test}: a Bundle of {len(bundle['entry'])} resources written to {args.out}", file=sys.stderr)
    return 0
