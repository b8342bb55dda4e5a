"""A patient's history of stored tests, made the way the daemon makes them, for report and FHIR tests.

Each trial is a virtual patient's trial through the real drivers on simulated
hardware (``station simulate``'s ``run_simulated_trial``); the test record is
scored by ``station.results.test_record`` against the patient's earlier tests,
and stored by the record store, as ``station.daemon.running_test`` does.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import Any

from station.administration import TestPlan, TestSession
from station.commands.simulate import run_simulated_trial
from station.config import load_config
from station.records.store import RecordStore
from station.results import TEST_SCHEMA, test_record, trial_record

DEMO_PATIENT = {"patient_id": "DEMO-1", "birth_year": 1956, "sex": "female", "dominant_hand": "right"}


def simulated_results(n: int, *, seed: int = 1, profile: str = "healthy",
                      protocol: str = "nine-hole-peg") -> list[dict[str, Any]]:
    """``n`` trial results of a virtual patient (seeds ``seed``..``seed+n-1``)."""
    config = load_config(None)
    return [run_simulated_trial(config, protocol, seed=seed + k, profile=profile)[0] for k in range(n)]


def results_cycle(results: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The results over and over (a long history from a few simulated trials)."""
    while True:
        yield from results


def store_history(store: RecordStore, patient: dict[str, Any], dates: Sequence[date], *,
                  results: Iterator[dict[str, Any]], invalid: dict[int, str] | None = None,
                  store_trials: bool = True, protocol: str = "nine-hole-peg") -> list[int]:
    """Give and store one test per date; returns the test ids, oldest first.

    ``invalid``: {k: reason} marks the k-th recorded trial (0-based, over the whole history)
    invalid with that reason (it is repeated, as the administration rules say)."""
    if not store.has_patient(patient["patient_id"]):
        store.add_patient(**patient)
    patient = store.get_patient(patient["patient_id"])
    invalid = dict(invalid or {})
    ids: list[int] = []
    k = 0
    for day in dates:
        plan = TestPlan.default(protocol)
        session = TestSession(plan, patient_id=patient["patient_id"], date=day.isoformat())
        session.test_id = store.create_test({"schema": TEST_SCHEMA, "patient_id": patient["patient_id"],
                                             "protocol": protocol, "date": session.date,
                                             "status": session.status})
        history = [t for t in store.tests(patient["patient_id"])
                   if t.get("schema") == TEST_SCHEMA and t.get("test_id") != session.test_id]
        while (slot := session.next_trial()) is not None:
            result = next(results)
            trial_id = None
            if store_trials:
                trial_id = store.finish_trial(trial_record(
                    result, protocol=protocol, slot=slot, test_id=session.test_id,
                    patient_id=patient["patient_id"], started_at=f"{day.isoformat()}T10:{k % 60:02d}:00+00:00"))
            tid = session.record(result, trial_id if trial_id is not None else f"t{k}")
            if k in invalid:
                session.mark_invalid(tid, invalid[k])
                if store_trials:
                    store.mark_trial_invalid(tid, invalid[k])
            k += 1
        store.update_test(session.test_id, test_record(session, patient=patient, history=history))
        ids.append(int(session.test_id))
    return ids


def weekly(start: date, n: int) -> list[date]:
    """``n`` dates a week apart from ``start``."""
    return [start + timedelta(days=7 * i) for i in range(n)]
