"""``station export --format csv|json [--patient ID] [--since DATE] [--out FILE]``: export records."""
from __future__ import annotations

import sys
from datetime import date, datetime

from station.commands import add_records_options, output_file, records_dir


def register(sub) -> None:
    p = sub.add_parser("export", help="export trials as CSV (spreadsheet) or JSON (everything)",
                       description="Export stored trials: CSV gives one row per trial for a spreadsheet, "
                                   "JSON the full records (patients, tests, trials with events). Files are "
                                   "created readable by you only (mode 0600). Safe while the daemon runs.")
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="csv (default) or json")
    p.add_argument("--patient", metavar="ID", help="only this patient")
    p.add_argument("--since", metavar="DATE", help="only trials on or after this date (YYYY-MM-DD, local time)")
    p.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    add_records_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from station.records.export import export
    from station.records.store import RecordError, RecordStore

    since = parse_since(args.since) if args.since is not None else None
    try:
        store = RecordStore(records_dir(args), readonly=True)  # no lock: the daemon may be writing
    except RecordError as e:
        raise RecordError(f"{e}{demo_hint(args.data)}") from None
    with store:
        if args.patient is not None:
            store.get_patient(args.patient)  # unknown patient: one message, nothing written
        if args.out in (None, "-"):
            n = export(store, args.format, sys.stdout, args.patient, since)
        else:
            with output_file(args.out, force=args.force) as out:
                n = export(store, args.format, out, args.patient, since)
    if args.out not in (None, "-"):
        print(f"exported {n} trial{'s' if n != 1 else ''} to {args.out}", file=sys.stderr)
    return 0


def demo_hint(given: str | None) -> str:
    """Where ``station demo`` keeps its records, when no --data was given and it has some."""
    from station.ui.demo_session import demo_data_dir

    records = demo_data_dir(None) / "records"
    if given is not None or not records.is_dir():
        return ""
    return f"; the demo's records are in {records} (station export --data {records})"


def parse_since(text: str) -> datetime:
    """--since: a date (local midnight) or a local date and time, ISO 8601."""
    from station.errors import UserError

    try:
        if len(text.strip()) == 10:
            d = date.fromisoformat(text.strip())
            return datetime(d.year, d.month, d.day)
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"--since {text!r} is not a date: use YYYY-MM-DD (e.g. 2025-01-31)") from None
