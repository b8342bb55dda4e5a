"""The results pane's report bar: "Print / save report" writes the latest finished test's PDF where exports
go; the record-system line says how delivery to the FHIR server goes."""
from __future__ import annotations

import asyncio
import copy
import shutil
import subprocess
from datetime import UTC, date, datetime

import pytest
from textual.widgets import Static

from station.records.store import RecordStore
from station.ui.app import create_app
from station.ui.screens.therapist import TherapistScreen
from station.ui.view.delivery import delivery_line
from station.ui.view.model import History
from station.ui.view.report_export import report_test, save_report
from tests.report.history import DEMO_PATIENT, results_cycle, simulated_results, store_history, weekly
from tests.ui.fake_daemon import FakeDaemon
from tests.ui.pilot_support import open_staff_screen, text_of, wait_until


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    data = tmp_path_factory.mktemp("records")
    with RecordStore(data) as store:
        store_history(store, DEMO_PATIENT, weekly(date(2026, 9, 1), 2), results=results_cycle(simulated_results(6)))
        return store.get_patient("DEMO-1"), list(reversed(store.tests("DEMO-1")))  # newest first, as `results`


def test_the_delivery_line_says_what_was_sent_what_waits_and_what_was_refused():
    assert delivery_line(None) == ""
    assert delivery_line({"counts": {"pending": 0, "sent": 1, "rejected": 0}}) == "Record system: 1 test sent."
    line = delivery_line({"counts": {"pending": 2, "sent": 5, "rejected": 1}, "rejected": [7],
                          "last_error": "no answer from https://fhir: refused"})
    assert line == ("Record system: 5 tests sent; 2 waiting (no answer from https://fhir: refused); "
                    "1 refused by the server (test 7): ask the technician.")


def test_the_report_is_of_the_newest_finished_test(stored, tmp_path):
    patient, tests = stored
    running = {**copy.deepcopy(tests[0]), "test_id": 99, "status": "in_progress"}
    history = History(patient=patient, tests=[running, *tests])
    assert report_test(history)["test_id"] == tests[0]["test_id"]
    done = save_report(history, tmp_path / "out", now=datetime(2026, 10, 1, 12, tzinfo=UTC))
    assert done.path.name == f"DEMO-1-test{tests[0]['test_id']}-20261001-120000.pdf" and done.private
    assert done.path.read_bytes().startswith(b"%PDF-")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(done.path), "-"], capture_output=True, text=True).stdout
        assert f"Test {tests[0]['test_id']}" in text and "DEMO-1" in text
    with pytest.raises(ValueError, match="no finished test"):
        save_report(History(patient=patient, tests=[running]), tmp_path / "out", now=datetime.now(UTC))


def test_the_button_saves_the_pdf_and_the_screen_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("STATION_EXPORT_DIR", str(tmp_path / "exports"))
    with FakeDaemon(tmp_path / "station.sock") as fake:
        # the patient's history in the stand-in's own record store (a real RecordStore), selected
        fake.run(lambda: store_history(fake.store, DEMO_PATIENT, weekly(date(2026, 9, 1), 2),
                                       results=results_cycle(simulated_results(6))))
        fake.run(lambda: fake._select(fake.store.get_patient("DEMO-1")))

        async def go():
            app = create_app(fake.path)
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_until(pilot, lambda: app.connected and app.history.tests, "the patient's history")
                await open_staff_screen(pilot, "therapist")  # through its PIN: the daemon's login
                await wait_until(pilot, lambda: isinstance(app.screen, TherapistScreen)
                                 and app.screen.query("#save-report"), "the therapist screen")
                await pilot.click("#tab-results")
                await pilot.click("#save-report")
                status = app.screen.query_one("#report-status", Static)
                await wait_until(pilot, lambda: "saved" in text_of(status), "the report's status", limit_s=60)
                return text_of(status)

        said = asyncio.run(go())
    files = list((tmp_path / "exports").iterdir())
    assert len(files) == 1 and files[0].suffix == ".pdf" and str(files[0]) in said.replace("\n", "")
