"""PDF reports: the text a reader sees (pdftotext) and the JSON attached (pdfdetach) match the stored records."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from datetime import UTC, date, datetime
from itertools import chain

import pytest

from station.administration import TestPlan, TestSession
from station.cli import main
from station.records.store import RecordStore
from station.report.test_report import attachment_name, test_report_pdf
from station.results import test_record
from tests.report.history import DEMO_PATIENT, results_cycle, simulated_results, store_history, weekly

POPPLER = shutil.which("pdftotext") and shutil.which("pdfdetach")
pytestmark = pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdftotext, pdfdetach) not installed: "
                                                    ".ci/run installs it")
MADE = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
REASON = "peg dropped on the floor"


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """The demo patient's five weekly 9HPTs, the virtual patient impaired at first then healthy;
    one practice trial marked invalid (and repeated)."""
    data = tmp_path_factory.mktemp("records")
    results = chain(simulated_results(12, profile="impaired"), results_cycle(simulated_results(6)))
    with RecordStore(data) as store:
        ids = store_history(store, DEMO_PATIENT, weekly(date(2026, 9, 1), 5), results=results, invalid={27: REASON})
    return data, ids


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def attachments(path, into) -> dict[str, bytes]:
    subprocess.run(["pdfdetach", "-saveall", "-o", str(into), str(path)], check=True, capture_output=True)
    return {p.name: p.read_bytes() for p in into.iterdir()}


def squash(text: str) -> str:
    return " ".join(text.split())


def test_a_test_report_says_what_the_stored_result_says(records, tmp_path):
    data, ids = records
    out = tmp_path / "report.pdf"
    assert main(["report", "--test", str(ids[-1]), "--data", str(data), "--out", str(out)]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    text = squash(pdf_text(out))
    with RecordStore(data, readonly=True) as store:
        test, patient = store.get_test(ids[-1]), store.get_patient("DEMO-1")
    s = test["summary"]
    assert f"patient {patient['patient_id']}" in text and f"born {patient['birth_year']}" in text
    assert "female, right-handed" in text and "a practice trial with each hand; cutoff 300 s" in text
    assert "from the first peg lifted out of the dish to the last peg back in it" in text
    for hand, side in (("dominant", "right"), ("non-dominant", "left")):
        hs = s["hands"][hand]
        values = ", ".join(f"{v:.1f} s" for v in hs["values"])
        assert f"{hand.capitalize()} hand ({side}): {values}; mean {hs['mean']:.1f} s." in text
        n = hs["norm"]
        assert f"SD score {n['sd_score']:+.2f} ({n['band_label']}) against {n['population']}" in text
        assert f"{n['norm']['mean_s']:.1f} +/- {n['norm']['sd_s']:.1f} s" in text
        base = hs["progress"]["baseline"]
        assert f"{base['reference']:.1f} s -> {base['current']:.1f} s, {base['change_pct']:+.1f} %" in text
    assert f"{s['msfc_score']:.4f} /s" in text
    assert "Changes are not flagged: no published threshold for this test and population" in text
    assert s["norm_source"] in text
    # every trial, with its phase metrics; the invalid one with its reason
    for e in test["trials"]:
        r = e["result"]
        assert f"{r['total_s']:.1f} complete" in text
        assert f"{r['place_s']:.1f} {r['remove_s']:.1f} {r['longest_pause_s']:.1f}" in text
    bad = next(e for e in test["trials"] if not e["valid"])
    assert bad["invalid_reason"] == REASON
    assert f"Trial {bad['trial_id']}, non-dominant hand practice trial (complete): {REASON}; repeated." in text


def test_the_stored_record_is_attached_as_json(records, tmp_path):
    data, ids = records
    out = tmp_path / "report.pdf"
    assert main(["report", "--test", str(ids[0]), "--data", str(data), "--out", str(out)]) == 0
    with RecordStore(data, readonly=True) as store:
        test, patient = store.get_test(ids[0]), store.get_patient("DEMO-1")
    files = attachments(out, tmp_path)
    doc = json.loads(files[attachment_name(test)])
    assert doc["test"] == json.loads(json.dumps(test)) and doc["patient"] == json.loads(json.dumps(patient))


def test_a_progress_report_lists_every_test_in_the_range_and_attaches_them(records, tmp_path):
    data, ids = records
    out = tmp_path / "progress.pdf"
    assert main(["report", "--patient", "DEMO-1", "--since", "2026-09-08", "--until", "2026-09-22",
                 "--data", str(data), "--out", str(out)]) == 0
    text = squash(pdf_text(out))
    with RecordStore(data, readonly=True) as store:
        tests = [t for t in store.tests("DEMO-1") if "2026-09-08" <= t["date"] <= "2026-09-22"]
    assert [t["test_id"] for t in tests] == ids[1:4]
    assert "3 tests in the range" in text
    for t in tests:
        dom, nd = t["summary"]["hands"]["dominant"], t["summary"]["hands"]["non-dominant"]
        assert (f"{t['date']} {t['test_id']} complete first-peg-to-dish {dom['mean']:.1f} "
                f"{dom['norm']['sd_score']:+.2f} {nd['mean']:.1f} {nd['norm']['sd_score']:+.2f} "
                f"{t['summary']['msfc_score']:.4f}") in text
    assert "2026-09-01" not in text.split("Hand means")[1]  # before the range: not listed
    doc = json.loads(attachments(out, tmp_path)["progress-DEMO-1.json"])
    assert [t["test_id"] for t in doc["tests"]] == ids[1:4]


def test_an_ms_patient_report_names_the_threshold_and_its_source(tmp_path):
    def nine_hole(test_id, day, dom, nd):
        s = TestSession(TestPlan.default("nine-hole-peg", trials_per_hand=1, practice=False), test_id,
                        patient_id="MS-1", date=day)
        s.record({"status": "complete", "total_s": dom, "timing": "first-peg-to-dish"})
        s.record({"status": "complete", "total_s": nd, "timing": "first-peg-to-dish"})
        return s

    patient = {"patient_id": "MS-1", "birth_year": 1970, "birth_month": 5, "sex": "male",
               "dominant_hand": "left", "condition": "ms"}
    first = test_record(nine_hole(1, "2026-01-10", 20.0, 24.0), patient=patient)
    now = test_record(nine_hole(2, "2026-03-10", 25.0, 24.5), patient=patient, history=[first])
    out = tmp_path / "ms.pdf"
    out.write_bytes(test_report_pdf(now, patient, [first], made_at=MADE))
    text = squash(pdf_text(out))
    t = now["summary"]["hands"]["dominant"]["progress"]["threshold"]
    assert "population: multiple sclerosis" in text and "Dominant hand (left): 25.0 s; mean 25.0 s." in text
    assert "+25.0 % (worse) [meaningful change]" in text
    assert f"Threshold: {t['flag']} for {t['population']}; source: {t['source']}." in text


def test_text_outside_latin_1_is_drawn_in_its_ascii_form(records, tmp_path):
    data, ids = records
    with RecordStore(data, readonly=True) as store:
        test, patient = store.get_test(ids[-1]), store.get_patient("DEMO-1")
    test["summary"]["invalid"][0]["reason"] = "peg dropped \u2014 on the floor \u2192 repeated \u4e2d"
    out = tmp_path / "r.pdf"
    out.write_bytes(test_report_pdf(test, patient, [], made_at=MADE))
    assert "peg dropped - on the floor -> repeated ?" in squash(pdf_text(out))


@pytest.mark.parametrize("args, message", [
    (["--test", "99"], "99"),
    (["--patient", "NOPE"], "NOPE"),
    (["--test", "1", "--since", "2026-01-01"], "--since and --until go with --patient"),
    (["--patient", "DEMO-1", "--since", "Jan 1"], "--since 'Jan 1' is not a date"),
])
def test_bad_input_is_one_message_and_exit_2(records, tmp_path, capsys, args, message):
    data, _ = records
    assert main(["report", *args, "--data", str(data), "--out", str(tmp_path / "r.pdf")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "r.pdf").exists()


def test_an_existing_file_is_kept_unless_forced(records, tmp_path, capsys):
    data, ids = records
    out = tmp_path / "r.pdf"
    out.write_bytes(b"keep me")
    assert main(["report", "--test", str(ids[0]), "--data", str(data), "--out", str(out)]) == 2
    assert out.read_bytes() == b"keep me" and "already exists" in capsys.readouterr().err
    assert main(["report", "--test", str(ids[0]), "--data", str(data), "--out", str(out), "--force"]) == 0
    assert out.read_bytes().startswith(b"%PDF-")
