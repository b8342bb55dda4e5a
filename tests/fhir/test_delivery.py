"""Delivery to a real FHIR server (Medplum's FHIR router, tests/fhir/fhir_server.py): a test's Bundle
round trip, the server away then back (the outbox drains, nothing duplicated), a server answering 4xx
(kept, shown, not retried)."""
from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from itertools import chain

import pytest

from station.daemon.fhir_sender import FhirSender
from station.fhir.bundle import StationInfo, test_bundle
from station.fhir.codes import IDENTIFIER_SYSTEM
from station.records.outbox import Outbox
from station.records.store import RecordStore
from tests.fhir.fhir_server import FhirServer, free_port, unavailable
from tests.report.history import DEMO_PATIENT, results_cycle, simulated_results, store_history, weekly

pytestmark = [pytest.mark.slow, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]
STATION = StationInfo(station_id="CLINIC-7", name="Station", software_version="0.1.0",
                      cells={"dish": {"offset": 52000.0, "counts_per_gram": 420.0, "unit_g": 1.1}})
MADE = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
WAIT_S = 120.0  # a loaded machine is slow; a hung sender fails the test, it never passes by waiting


@pytest.fixture(scope="module")
def tests_and_patient(tmp_path_factory):
    data = tmp_path_factory.mktemp("records")
    results = chain(simulated_results(6, profile="impaired"), results_cycle(simulated_results(6)))
    with RecordStore(data) as store:
        ids = store_history(store, DEMO_PATIENT, weekly(date(2026, 9, 1), 3), results=results,
                            invalid={8: "peg dropped on the floor"})
        return [store.get_test(i) for i in ids], store.get_patient("DEMO-1")


@pytest.fixture
def server():
    s = FhirServer().start()
    yield s
    s.stop()


def by_identifier(server: FhirServer, kind: str, value: str) -> list[dict]:
    return server.search(kind, identifier=f"{IDENTIFIER_SYSTEM}|{value}")


def assert_on_server_once(server: FhirServer, bundle: dict) -> None:
    for e in bundle["entry"]:
        res = e["resource"]
        found = by_identifier(server, res["resourceType"], res["identifier"][0]["value"])
        assert len(found) == 1, (res["identifier"][0]["value"], len(found))


class Watch:
    """Wakes a waiting test whenever the sender reports a change."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def changed(self) -> None:
        self.event.set()

    async def until(self, cond) -> None:
        async def loop():
            while not cond():
                self.event.clear()
                if cond():
                    return
                await self.event.wait()
        await asyncio.wait_for(loop(), WAIT_S)


def sender(tmp_path, base_url: str, watch: Watch) -> FhirSender:
    return FhirSender(outbox=Outbox(tmp_path / "outbox", now="2000-01-01T00:00:00.000+00:00"), base_url=base_url,
                      station=STATION, changed=watch.changed, retry_base_s=0.05, retry_cap_s=0.4, timeout_s=30)


def test_a_tests_bundle_round_trips_through_the_server(server, tests_and_patient, tmp_path):
    tests, patient = tests_and_patient
    test = tests[-1]
    bundle = test_bundle(test, patient, STATION, made_at=MADE)
    s = sender(tmp_path, server.base, Watch())
    assert s.post(bundle).state == "sent"
    assert_on_server_once(server, bundle)
    (group,) = by_identifier(server, "Observation", f"CLINIC-7/test/{test['test_id']}")
    members = [server.get(m["reference"]) for m in group["hasMember"]]
    trials = {m["identifier"][0]["value"]: m for m in members}
    for e in test["trials"]:
        obs = trials[f"CLINIC-7/test/{test['test_id']}/trial/{e['trial_id']}"]
        assert obs["valueQuantity"]["value"] == round(e["result"]["total_s"], 4)
        assert obs["subject"]["identifier"]["value"] == "DEMO-1"
        assert server.get(obs["device"]["reference"])["resourceType"] == "Device"
    # sent again (an answer lost, a kill -9 before "sent" was written): nothing new on the server
    assert s.post(bundle).state == "sent"
    assert_on_server_once(server, bundle)


def test_the_outbox_waits_for_an_absent_server_and_drains_once_it_is_back(tests_and_patient, tmp_path):
    tests, patient = tests_and_patient
    server = FhirServer(free_port())  # not started: nothing listens there yet
    watch = Watch()
    s = sender(tmp_path, server.base, watch)

    async def scenario():
        task = asyncio.create_task(s.run())
        try:
            for t in tests:
                await s.finished(t, patient)
            first = tests[0]["test_id"]
            await watch.until(lambda: s.outbox.get(first)["attempts"] >= 3)  # retried with back-off
            assert s.status()["counts"] == {"pending": 3, "sent": 0, "rejected": 0}
            assert "no answer" in s.outbox.get(first)["last_error"]
            server.start()
            await watch.until(lambda: s.outbox.counts()["sent"] == 3)
        finally:
            task.cancel()

    try:
        asyncio.run(scenario())
        for t in tests:
            assert_on_server_once(server, s.outbox.get(t["test_id"])["bundle"])
        assert s.status()["waiting"] == []
    finally:
        server.stop()


def test_a_server_answering_4xx_keeps_the_test_shows_why_and_does_not_retry(server, tests_and_patient, tmp_path):
    tests, patient = tests_and_patient
    watch = Watch()
    # a misconfigured base URL: the server answers 400 (a Bundle posted to the Patient endpoint)
    s = sender(tmp_path, server.base + "/Patient", watch)

    async def scenario():
        task = asyncio.create_task(s.run())
        try:
            await s.finished(tests[0], patient)
            await watch.until(lambda: s.outbox.get(tests[0]["test_id"])["state"] == "rejected")
            await s.finished(tests[1], patient)  # the sender goes on with the next test...
            await watch.until(lambda: s.outbox.get(tests[1]["test_id"])["state"] == "rejected")
            # ...and has not tried the refused one again
            assert s.outbox.get(tests[0]["test_id"])["attempts"] == 1
            s.base_url = server.base  # the clinic fixes the URL; a technician asks for a resend
            await s.requeue(tests[0]["test_id"])
            await watch.until(lambda: s.outbox.get(tests[0]["test_id"])["state"] == "sent")
        finally:
            task.cancel()

    asyncio.run(scenario())
    first, second = s.outbox.get(tests[0]["test_id"]), s.outbox.get(tests[1]["test_id"])
    assert second["http_status"] == 400 and "Incorrect resource type" in second["last_error"]
    assert first["attempts"] == 2 and first["state"] == "sent"
    assert [w["test_id"] for w in s.status()["waiting"]] == [tests[1]["test_id"]]
    assert_on_server_once(server, first["bundle"])
