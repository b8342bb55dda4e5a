"""Correcting a patient's details: the change is made, the old values stay in its history."""
from __future__ import annotations

import pytest

from station.records.store import RecordError, RecordStore


def test_a_corrected_birth_year_keeps_the_old_one_in_the_history(store, tmp_path):
    p = store.correct_patient("P-001", {"birth_year": 1985, "notes": "left CVA"}, reason="digits swapped")
    assert p["birth_year"] == 1985 and p["notes"] == "left CVA"
    assert len(p["history"]) == 1
    entry = p["history"][0]
    assert entry["old"] == {"birth_year": 1958, "notes": None} and entry["reason"] == "digits swapped"
    store.close()
    again = RecordStore(tmp_path / "data")
    assert again.get_patient("P-001")["history"] == p["history"]
    p2 = again.correct_patient("P-001", {"sex": "male", "dominant_hand": "left"})
    assert [e["old"] for e in p2["history"]] == [{"birth_year": 1958, "notes": None},
                                                 {"sex": "female", "dominant_hand": "right"}]
    again.close()


def test_a_mistyped_id_is_corrected_while_the_patient_has_no_records(store):
    p = store.correct_patient("P-001", {"patient_id": "P-10"})
    assert p["patient_id"] == "P-10" and p["history"][0]["old"] == {"patient_id": "P-001"}
    assert not store.has_patient("P-001") and store.get_patient("P-10")["birth_year"] == 1958


def test_an_id_with_records_or_taken_cannot_change(store):
    store.add_patient("P-02", 1960, "male", "left")
    with pytest.raises(RecordError, match="already exists"):
        store.correct_patient("P-001", {"patient_id": "P-02"})
    store.create_test({"patient_id": "P-001", "protocol": "nine-hole-peg"})
    with pytest.raises(RecordError, match="already has tests under that ID"):
        store.correct_patient("P-001", {"patient_id": "P-11"})
    assert store.get_patient("P-001").get("history") is None  # nothing half-done


def test_bad_values_and_unknown_fields_are_refused_and_nothing_changes(store):
    with pytest.raises(RecordError, match="birth year"):
        store.correct_patient("P-001", {"birth_year": 1850})
    with pytest.raises(RecordError, match="cannot change name"):
        store.correct_patient("P-001", {"name": "Jane"})
    assert store.get_patient("P-001")["birth_year"] == 1958
    assert store.correct_patient("P-001", {"birth_year": 1958}) == store.get_patient("P-001")  # no change, no entry
