"""The FHIR Bundle of a test: valid R4 resources, every trial and hand, references that resolve,
conditional creates on stable identifiers, the patient by pseudonym only."""
from __future__ import annotations

import json
import os
import stat
from datetime import UTC, date, datetime
from itertools import chain

import pytest
from fhir.resources.R4B.bundle import Bundle

from station.cli import main
from station.config import ConfigError, parse_config
from station.fhir.bundle import StationInfo, test_bundle
from station.fhir.codes import CODE_SYSTEM, IDENTIFIER_SYSTEM
from station.protocols.nine_hole_peg import TIMINGS
from station.records.store import RecordStore
from tests.report.history import DEMO_PATIENT, results_cycle, simulated_results, store_history, weekly

REASON = "peg dropped on the floor"
MADE = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    data = tmp_path_factory.mktemp("records")
    results = chain(simulated_results(6, profile="impaired"), results_cycle(simulated_results(6)))
    with RecordStore(data) as store:
        ids = store_history(store, DEMO_PATIENT, weekly(date(2026, 9, 1), 2), results=results, invalid={9: REASON})
        test, patient = store.get_test(ids[-1]), store.get_patient("DEMO-1")
    return data, test, patient


def station():
    return StationInfo(station_id="CLINIC-7", name="Station", software_version="0.1.0",
                       cells={"dish": {"offset": 52000.0, "counts_per_gram": 420.0, "unit_g": 1.1}})


def resources(bundle, kind=None):
    return [e["resource"] for e in bundle["entry"] if kind is None or e["resource"]["resourceType"] == kind]


def code(res):
    return res["code"]["coding"][0]["code"]


def comp(res, name):
    found = [c for c in res.get("component", []) if c["code"]["coding"][0]["code"] == name]
    return found[0] if found else None


def test_the_bundle_is_valid_fhir_and_its_references_resolve(stored):
    _, test, patient = stored
    b = test_bundle(test, patient, station(), made_at=MADE)
    Bundle.model_validate(b)  # raises on anything fhir.resources rejects
    assert b["type"] == "transaction"
    urls = {e["fullUrl"] for e in b["entry"]}
    refs = [r["reference"] for res in resources(b) for key in ("hasMember", "derivedFrom")
            for r in res.get(key, [])]
    refs += [res["device"]["reference"] for res in resources(b, "Observation")]
    refs += [res["source"]["reference"] for res in resources(b, "DeviceMetric")]
    assert refs and set(refs) <= urls


def test_one_observation_per_trial_grouped_by_the_test(stored):
    _, test, patient = stored
    b = test_bundle(test, patient, station(), made_at=MADE)
    obs = resources(b, "Observation")
    trials = [o for o in obs if code(o) == "nine-hole-peg-test-trial-time"]
    assert len(trials) == len(test["trials"])
    for o, e in zip(trials, test["trials"], strict=True):
        assert o["identifier"][0]["value"] == f"CLINIC-7/test/{test['test_id']}/trial/{e['trial_id']}"
        assert o["valueQuantity"]["value"] == round(e["result"]["total_s"], 4) and o["valueQuantity"]["code"] == "s"
        assert comp(o, "practice")["valueBoolean"] is e["practice"]
        assert comp(o, "valid")["valueBoolean"] is e["valid"]
        assert comp(o, "hand")["valueString"] == e["hand"]
        assert comp(o, "place-s")["valueQuantity"]["value"] == round(e["result"]["place_s"], 4)
        # the timing definition is the method; the norm population is noted
        assert TIMINGS[e["result"]["timing"]] in o["method"]["text"]
        assert any("628 healthy adults aged 20-94" in n["text"] for n in o["note"])
    bad = [o for o, e in zip(trials, test["trials"], strict=True) if not e["valid"]]
    assert len(bad) == 1 and any(REASON in n["text"] for n in bad[0]["note"])
    group = [o for o in obs if code(o) == "nine-hole-peg-test"]
    assert len(group) == 1
    by_url = {e["resource"]["identifier"][0]["value"]: e["fullUrl"] for e in b["entry"]}
    members = {m["reference"] for m in group[0]["hasMember"]}
    assert {by_url[t["identifier"][0]["value"]] for t in trials} <= members
    assert len(members) == len(trials) + 2 + 1  # trials, one mean per hand, the MSFC score


def test_hand_means_carry_the_norm_range_sd_score_and_change(stored):
    _, test, patient = stored
    b = test_bundle(test, patient, station(), made_at=MADE)
    means = {comp(o, "hand")["valueString"]: o for o in resources(b, "Observation")
             if code(o) == "nine-hole-peg-test-hand-mean-time"}
    for hand, hs in test["summary"]["hands"].items():
        o, n = means[hand], hs["norm"]
        assert o["valueQuantity"]["value"] == round(hs["mean"], 4)
        assert comp(o, "sd-score")["valueQuantity"]["value"] == n["sd_score"]
        assert comp(o, "norm-band")["valueString"] == n["band_label"]
        rr = o["referenceRange"][0]
        row = n["norm"]
        assert rr["low"]["value"] == round(row["mean_s"] - 0.75 * row["sd_s"], 2)
        assert (rr["age"]["low"]["value"], rr["age"]["high"]["value"]) == (row["age_from"], row["age_to"])
        assert n["citation"] in rr["text"] and n["population"] in rr["text"]
        c = hs["progress"]["baseline"]
        assert comp(o, "change-from-baseline")["valueQuantity"]["value"] == c["change_pct"]
        assert any("no published threshold" in x["text"] for x in o["note"])
    msfc = [o for o in resources(b, "Observation") if code(o) == "msfc-9hpt-score"]
    assert msfc[0]["valueQuantity"]["value"] == test["summary"]["msfc_score"]


def test_the_patient_is_referenced_by_pseudonym_only(stored):
    _, test, patient = stored
    b = test_bundle(test, patient, station(), made_at=MADE)
    assert not resources(b, "Patient")
    for o in resources(b, "Observation"):
        assert o["subject"] == {"identifier": {"system": o["subject"]["identifier"]["system"], "value": "DEMO-1"}}


def test_every_entry_is_a_conditional_create_on_a_stable_identifier(stored):
    _, test, patient = stored
    one = test_bundle(test, patient, station(), made_at=MADE)
    two = test_bundle(test, patient, station(), made_at=datetime(2027, 1, 1, tzinfo=UTC))
    values = [e["resource"]["identifier"][0]["value"] for e in one["entry"]]
    assert len(set(values)) == len(values)
    for e in one["entry"]:
        ident = e["resource"]["identifier"][0]
        assert ident["system"] == IDENTIFIER_SYSTEM
        assert e["request"] == {"method": "POST", "url": e["resource"]["resourceType"],
                                "ifNoneExist": f"identifier={IDENTIFIER_SYSTEM}|{ident['value']}"}
    assert [e["fullUrl"] for e in one["entry"]] == [e["fullUrl"] for e in two["entry"]]
    # another station's identifiers differ
    other = StationInfo(station_id="CLINIC-8", name="Station", software_version="0.1.0")
    assert {e["fullUrl"] for e in test_bundle(test, patient, other, made_at=MADE)["entry"]}.isdisjoint(
        e["fullUrl"] for e in one["entry"])


def test_the_device_carries_its_calibration_and_a_recalibration_is_a_new_device(stored):
    _, test, patient = stored
    b = test_bundle(test, patient, station(), made_at=MADE)
    (dev,) = resources(b, "Device")
    texts = {p["type"]["text"]: p["valueQuantity"][0]["value"] for p in dev["property"]}
    assert texts["dish load cell calibration: gain"] == 420.0
    (metric,) = resources(b, "DeviceMetric")
    assert [c["type"] for c in metric["calibration"]] == ["offset", "gain"]
    recal = StationInfo(station_id="CLINIC-7", name="Station", software_version="0.1.0",
                        cells={"dish": {"offset": 51000.0, "counts_per_gram": 421.0, "unit_g": 1.1}})
    (dev2,) = resources(test_bundle(test, patient, recal, made_at=MADE), "Device")
    assert dev2["identifier"] != dev["identifier"]


def test_codes_are_the_stations_own(stored):
    _, test, patient = stored
    b = test_bundle(test, patient, station(), made_at=MADE)
    assert {o["code"]["coding"][0]["system"] for o in resources(b, "Observation")} == {CODE_SYSTEM}


def test_station_fhir_writes_a_private_bundle_and_refuses_bad_input(stored, tmp_path, capsys):
    data, test, _ = stored
    out = tmp_path / "b.json"
    assert main(["fhir", "--test", str(test["test_id"]), "--data", str(data), "--out", str(out)]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    Bundle.model_validate(json.loads(out.read_text()))
    assert main(["fhir", "--test", "999", "--data", str(data), "--out", str(tmp_path / "c.json")]) == 2
    assert "no test 999" in capsys.readouterr().err and not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("fhir, message", [
    ('base_url = "ftp://x"\nstation_id = "A"', "must be an http:// or https:// URL"),
    ('base_url = "http://fhir.clinic:8080/fhir"', "'fhir.station_id' must be set"),
    ('credentials_file = "token"', "must be an absolute path"),
])
def test_a_bad_fhir_section_is_one_message(fhir, message):
    from importlib import resources as r
    base = r.files("station").joinpath("data/station.toml").read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_config(base + f"\n[fhir]\n{fhir}\n")
