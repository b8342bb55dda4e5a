"""The therapist's "Print / save report": the latest finished test's one-page PDF, where exports go.

The PDF is made here, in the UI, from what the daemon's ``results`` command
returned (the stored test records and the patient), by the same
``station.report`` code as ``station report``; it is written like the CSV
export (``export_target``: a USB drive, the export folder...), mode 0600
where the file system allows. A kiosk prints it from the drive.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from station.ui.view.export_target import Exported
from station.ui.view.model import History

FINISHED = ("complete", "ended")


def report_test(history: History) -> dict[str, Any] | None:
    """The newest finished, scored test of the patient (``history.tests`` is newest first)."""
    for t in history.tests:
        if t.get("status") in FINISHED and isinstance(t.get("summary"), dict):
            return t
    return None


def save_report(history: History, directory: Path, *, now: datetime) -> Exported:
    """Write the report of ``report_test(history)``; ValueError (one line to show) if there is none
    or it cannot be written."""
    from station.errors import UserError
    from station.records.export import PrivateFile
    from station.report.test_report import test_report_pdf

    test = report_test(history)
    if test is None:
        raise ValueError("no finished test to report yet")
    pdf = test_report_pdf(test, history.patient, history.tests, made_at=now)
    pid = str(test.get("patient_id"))
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in pid)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with PrivateFile(directory / f"{safe}-test{test.get('test_id')}-{now.strftime('%Y%m%d-%H%M%S')}.pdf",
                         binary=True) as out:
            out.file.write(pdf)
    except UserError as e:
        raise ValueError(str(e)) from None
    return Exported(out.path, out.private)
