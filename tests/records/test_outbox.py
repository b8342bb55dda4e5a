"""The FHIR outbox: one file per test, replaced whole at each change, what is sent or refused stays."""
from __future__ import annotations

import json

import pytest

from station.records.outbox import Outbox

T0 = "2026-10-01T10:00:00.000+00:00"
BUNDLE = {"resourceType": "Bundle", "type": "transaction", "entry": []}


def test_a_queued_test_survives_reopening_and_records_each_attempt(tmp_path):
    box = Outbox(tmp_path / "outbox", now=T0)
    box.add(3, patient_id="P-1", identifier="S/test/3", bundle=BUNDLE, now=T0)
    box.attempted(3, now="t1", state="pending", error="no answer", http_status=None)
    again = Outbox(tmp_path / "outbox", now="2030-01-01")  # the next start: the stamp is kept
    assert again.since == T0
    e = again.get(3)
    assert (e["state"], e["attempts"], e["last_error"], e["bundle"]) == ("pending", 1, "no answer", BUNDLE)
    again.attempted(3, now="t2", state="sent", http_status=200)
    assert again.get(3)["sent_at"] == "t2" and again.counts() == {"pending": 0, "sent": 1, "rejected": 0}
    assert oct(( tmp_path / "outbox" / "test-3.json").stat().st_mode & 0o777) == "0o600"


def test_queueing_a_sent_or_rejected_test_again_keeps_its_entry(tmp_path):
    box = Outbox(tmp_path / "o", now=T0)
    box.add(1, patient_id="P", identifier="S/test/1", bundle=BUNDLE, now=T0)
    box.attempted(1, now="t1", state="rejected", error="HTTP 400: bad", http_status=400)
    kept = box.add(1, patient_id="P", identifier="S/test/1", bundle={"other": 1}, now="t2")
    assert kept["state"] == "rejected" and kept["bundle"] == BUNDLE
    assert box.requeue(1)["state"] == "pending" and box.get(1)["attempts"] == 1


def test_finished_tests_since_the_outbox_was_made_without_an_entry_are_missing(tmp_path):
    box = Outbox(tmp_path / "o", now=T0)
    box.add(2, patient_id="P", identifier="S/test/2", bundle=BUNDLE, now=T0)
    tests = [{"test_id": 1, "status": "complete", "updated_at": "2026-09-30T00:00:00.000+00:00"},  # before
             {"test_id": 2, "status": "complete", "updated_at": "2026-10-02T00:00:00.000+00:00"},  # queued
             {"test_id": 3, "status": "in_progress", "updated_at": "2026-10-02T00:00:00.000+00:00"},
             {"test_id": 4, "status": "ended", "updated_at": "2026-10-02T00:00:00.000+00:00"}]
    assert [t["test_id"] for t in box.missing(tests)] == [4]


def test_an_unreadable_entry_is_left_in_place_and_skipped(tmp_path, caplog):
    box = Outbox(tmp_path / "o", now=T0)
    box.add(1, patient_id="P", identifier="S/test/1", bundle=BUNDLE, now=T0)
    (tmp_path / "o" / "test-2.json").write_text("{not json")
    assert [e["test_id"] for e in box.entries()] == [1]
    assert "unreadable" in caplog.text and (tmp_path / "o" / "test-2.json").exists()
    with pytest.raises(ValueError):
        box.attempted(1, now="t", state="lost")
    assert json.loads((tmp_path / "o" / "test-1.json").read_text())["attempts"] == 0
