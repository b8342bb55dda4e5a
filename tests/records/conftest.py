"""The record store the records tests share."""
from __future__ import annotations

import pytest

from station.records.store import RecordStore


@pytest.fixture
def store(tmp_path):
    """A record store in ``tmp_path/data`` holding one patient: P-001, born 1958, female, right-handed."""
    s = RecordStore(tmp_path / "data")
    s.add_patient("P-001", 1958, "female", "right")
    yield s
    s.close()
