"""``station report --test ID | --patient ID [--since DATE] [--until DATE] --out FILE.pdf``: a PDF report.

One page for a test (``station.report.test_report``), or a patient's progress
over a date range (``station.report.progress_report``), made from the stored
records; the records' JSON is attached inside the PDF. The file is created
readable by you only (mode 0600), like an export. Safe while the daemon runs.
"""
from __future__ import annotations

import sys
from datetime import datetime

from station.commands import add_records_options, output_file, records_dir


def register(sub) -> None:
    p = sub.add_parser("report", help="a PDF report of a test, or of a patient's progress",
                       description="Make a PDF report from the stored records: one page for a test (--test), or "
                                   "a patient's progress over a date range (--patient, --since, --until). The "
                                   "records' JSON is attached inside the PDF. The file is created readable by "
                                   "you only (mode 0600). Safe while the daemon runs.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--test", metavar="ID", help="the test to report")
    which.add_argument("--patient", metavar="ID", help="a progress report of this patient")
    p.add_argument("--since", metavar="DATE", help="with --patient: tests on or after this date (YYYY-MM-DD)")
    p.add_argument("--until", metavar="DATE", help="with --patient: tests on or before this date (YYYY-MM-DD)")
    p.add_argument("--out", metavar="FILE", required=True, help="the PDF to write")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    add_records_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from station.errors import UserError
    from station.records.store import RecordStore
    from station.report.progress_report import progress_report_pdf
    from station.report.test_report import test_report_pdf

    if args.test is not None and (args.since or args.until):
        raise UserError("--since and --until go with --patient (a test report is of one test)")
    since, until = _day(args.since, "--since"), _day(args.until, "--until")
    made_at = datetime.now().astimezone()
    with RecordStore(records_dir(args), readonly=True) as store:  # no lock: the daemon may be writing
        if args.test is not None:
            test = store.get_test(args.test)
            patient = store.get_patient(test["patient_id"]) if test.get("patient_id") else None
            history = store.tests(test["patient_id"]) if test.get("patient_id") else []
            pdf = test_report_pdf(test, patient, history, made_at=made_at)
            what = f"test {args.test}"
        else:
            patient = store.get_patient(args.patient)
            tests = [t for t in store.tests(args.patient)
                     if (since is None or str(t.get("date") or "") >= since)
                     and (until is None or str(t.get("date") or "") <= until)]
            pdf = progress_report_pdf(patient, tests, since=since, until=until, made_at=made_at)
            what = f"{len(tests)} test{'s' if len(tests) != 1 else ''} of patient {args.patient}"
    with output_file(args.out, force=args.force, binary=True) as out:
        out.write(pdf)
    print(f"report of {what} written to {args.out}", file=sys.stderr)
    return 0


def _day(text: str | None, option: str) -> str | None:
    """A YYYY-MM-DD date as given (tests are dated by day), checked."""
    from datetime import date

    from station.errors import UserError

    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise UserError(f"{option} {text!r} is not a date: use YYYY-MM-DD (e.g. 2025-01-31)") from None
