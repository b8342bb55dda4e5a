"""A finished test as a FHIR R4 transaction Bundle, built and validated with fhir.resources.

What goes in (docs/fhir.md has the design):

* one Observation per trial (practice and invalid ones included, flagged by
  components): its measure, hand, trial number, phase metrics, the timing
  definition and administration as its ``method``, the norm population in a
  ``note``;
* one Observation per hand: the mean, with the norm row's "within normal
  limits" range as its ``referenceRange`` (population and citation in its
  text), the SD score, band and change from baseline as components, the
  threshold and its source in a ``note``;
* the MSFC 9HPT score (9HPT);
* one Observation for the test, grouping all of them with ``hasMember``,
  the clinical note as its ``note``;
* a Device for the station as calibrated (its load cells' calibration as
  properties) and a DeviceMetric per load cell.

The patient is referenced by the pseudonymous identifier alone: no Patient
resource, no name. Every resource has an identifier made of the station id
and the record's ids, and every entry is a conditional create on it
(``ifNoneExist``): a Bundle sent twice creates nothing the second time.
``fullUrl``s are UUIDs derived from those identifiers, so building a test's
Bundle again gives the same Bundle. Pure: no clock, no network.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from station.clinical_note import clinical_note, plan_line
from station.fhir.codes import (
    CODE_SYSTEM,
    DATA_ABSENT,
    IDENTIFIER_SYSTEM,
    MEASURES,
    OBSERVATION_CATEGORY,
    PATIENT_SYSTEM,
    PHASES,
    TEST_CODES,
    UCUM,
)
from station.norms import NORMAL_BAND_SD
from station.protocols.nine_hole_peg import TIMINGS

OTHER_HAND = {"left": "right", "right": "left"}


@dataclass(frozen=True)
class StationInfo:
    """The station as the Bundle names it: ``station_id`` (unique per station), its name,
    software version, and each load cell's calibration {name: {offset, counts_per_gram, unit_g}}."""

    station_id: str
    name: str
    software_version: str
    cells: dict[str, dict[str, float]] = field(default_factory=dict)
    patient_system: str = PATIENT_SYSTEM

    def calibration_tag(self) -> str:
        """A short fingerprint of the calibration: a recalibrated station is a new Device record,
        so each Observation points at the calibration it was measured with."""
        text = json.dumps(self.cells, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    @classmethod
    def from_config(cls, config: Any) -> StationInfo:
        """From a loaded ``station.config.Config`` ([fhir] station_id, else [station] name)."""
        from station import __version__

        fhir = config.section("fhir")
        cells = {name: {"offset": c.offset, "counts_per_gram": c.counts_per_gram, "unit_g": c.unit_g}
                 for name, c in config.cells.items()}
        return cls(station_id=fhir["station_id"] or config.name, name=config.name,
                   software_version=__version__, cells=cells,
                   patient_system=fhir["patient_system"] or PATIENT_SYSTEM)


def identifier_value(station: StationInfo, *parts: Any) -> str:
    """The identifier of something this station made: ``<station id>/<part>/<part>...``."""
    return "/".join([station.station_id, *(str(p) for p in parts)])


def full_url(value: str) -> str:
    """A Bundle entry's ``fullUrl``: a UUID derived from the identifier (stable across builds)."""
    return f"urn:uuid:{uuid.uuid5(uuid.UUID(IDENTIFIER_SYSTEM[9:]), value)}"


def test_bundle(test: Mapping[str, Any], patient: Mapping[str, Any] | None, station: StationInfo, *,
                made_at: datetime) -> dict[str, Any]:
    """The transaction Bundle of a ``station.test/1`` record, validated; returned as JSON-ready dict."""
    b = _Builder(test, patient, station, made_at)
    b.build()
    bundle = Bundle.model_validate({"resourceType": "Bundle", "type": "transaction",
                                    "timestamp": made_at.isoformat(), "entry": b.entries})
    return json.loads(bundle.model_dump_json(exclude_none=True))


# a name pytest would otherwise collect; mypy knows no attributes on functions
test_bundle.__test__ = False  # type: ignore[attr-defined]


def bundle_identifier(test: Mapping[str, Any], station: StationInfo) -> str:
    """The identifier value of the test's grouping Observation (what the outbox keys on)."""
    return identifier_value(station, "test", test.get("test_id"))


class _Builder:
    def __init__(self, test: Mapping[str, Any], patient: Mapping[str, Any] | None, station: StationInfo,
                 made_at: datetime) -> None:
        self.test, self.patient, self.station, self.made_at = test, patient or {}, station, made_at
        self.s = test["summary"]
        self.entries: list[dict[str, Any]] = []
        self.protocol = test["protocol"]
        self.test_code, self.test_display = TEST_CODES.get(self.protocol, (self.protocol, self.protocol))
        self.status = "final" if test.get("status") in ("complete", "ended") else "preliminary"

    # --- entries -----------------------------------------------------------

    def add(self, resource: dict[str, Any], *parts: Any) -> str:
        value = identifier_value(self.station, *parts)
        resource["identifier"] = [{"system": IDENTIFIER_SYSTEM, "value": value}]
        url = full_url(value)
        self.entries.append({"fullUrl": url, "resource": resource,
                             "request": {"method": "POST", "url": resource["resourceType"],
                                         "ifNoneExist": f"identifier={IDENTIFIER_SYSTEM}|{value}"}})
        return url

    def build(self) -> None:
        self.device = self.add_device()
        members = [self.add_trial(e) for e in self.test["trials"]]
        trial_urls = {e["trial_id"]: m for e, m in zip(self.test["trials"], members, strict=True)}
        for hand, hs in self.s["hands"].items():
            if hs["status"] != "no_trials":
                members.append(self.add_hand(hand, hs, [trial_urls[t] for t in hs["trials"] if t in trial_urls]))
        if self.s.get("msfc_score") is not None:
            members.append(self.add_msfc())
        self.add_test(members)

    def add_device(self) -> str:
        st = self.station
        tag = st.calibration_tag()
        props = []
        for name, cal in st.cells.items():
            props.append({"type": {"text": f"{name} load cell calibration: offset (raw counts when empty)"},
                          "valueQuantity": [{"value": cal["offset"], "unit": "counts"}]})
            props.append({"type": {"text": f"{name} load cell calibration: gain"},
                          "valueQuantity": [{"value": cal["counts_per_gram"], "unit": "counts/g"}]})
            props.append({"type": {"text": f"{name} load cell: mass of one item"},
                          "valueQuantity": [{"value": cal["unit_g"], "unit": "g", "system": UCUM, "code": "g"}]})
        url = self.add({"resourceType": "Device", "status": "active", "serialNumber": st.station_id,
                        "deviceName": [{"name": st.name, "type": "user-friendly-name"}],
                        "type": {"text": "Instrumented dexterity station: pegboard with a switch per hole, "
                                         "peg dish and coin tray on load cells"},
                        "version": [{"type": {"text": "software"}, "value": st.software_version},
                                    {"type": {"text": "calibration"}, "value": tag}],
                        "property": props or None}, "device", tag)
        for name in st.cells:
            self.add({"resourceType": "DeviceMetric", "type": {"text": f"{name} load cell mass"},
                      "unit": {"coding": [{"system": UCUM, "code": "g", "display": "gram"}]},
                      "source": {"reference": url}, "category": "measurement", "operationalStatus": "on",
                      "calibration": [{"type": "offset", "state": "calibrated"},
                                      {"type": "gain", "state": "calibrated"}]},
                     "device", tag, "cell", name)
        return url

    def add_trial(self, e: Mapping[str, Any]) -> str:
        r = e.get("result") or {}
        key = self.s["measure"]
        suffix, display, ucum, unit = MEASURES.get(key, (key, key, "1", key))
        res = self.observation(f"{self.test_code}-trial-{suffix}",
                               f"{self.test_display}: {display} of one trial")
        value = r.get(key)
        if r.get("status") == "complete" and isinstance(value, int | float):
            res["valueQuantity"] = _quantity(value, ucum, unit)
        else:
            why = "did not finish within the cutoff" if r.get("status") == "timeout" else "trial not completed"
            res["dataAbsentReason"] = {"coding": [{"system": DATA_ABSENT, "code": "not-performed"}],
                                       "text": why}
        res["bodySite"] = self.body_site(e["hand"])
        res["method"] = self.method(r.get("timing"))
        comps = [self.component("hand", "hand tested", valueString=e["hand"]),
                 self.component("practice", "practice trial (not scored)", valueBoolean=bool(e.get("practice"))),
                 self.component("valid", "valid trial", valueBoolean=bool(e.get("valid")))]
        if e.get("index") is not None:
            comps.append(self.component("trial-number", "trial number for this hand", valueInteger=int(e["index"])))
        for k, (disp, code, u) in PHASES.items():
            v = r.get(k)
            if isinstance(v, int | float) and not isinstance(v, bool) and k != key:
                comps.append(self.component(k.replace("_", "-"), disp, valueQuantity=_quantity(v, code, u)))
        res["component"] = comps
        notes = [self.norm_note()]
        if not e.get("valid"):
            notes.append(f"Invalid trial (kept, not scored): {e.get('invalid_reason')}.")
        if e.get("repeat_of") is not None:
            notes.append(f"Repeats trial {e['repeat_of']}.")
        res["note"] = [{"text": n} for n in notes if n]
        return self.add(res, "test", self.test.get("test_id"), "trial", e["trial_id"])

    def add_hand(self, hand: str, hs: Mapping[str, Any], trials: list[str]) -> str:
        key = self.s["measure"]
        suffix, display, ucum, unit = MEASURES.get(key, (key, key, "1", key))
        res = self.observation(f"{self.test_code}-hand-mean-{suffix}",
                               f"{self.test_display}: mean {display} of one hand's valid timed trials")
        if hs.get("mean") is not None:
            res["valueQuantity"] = _quantity(hs["mean"], ucum, unit)
        else:
            res["dataAbsentReason"] = {"coding": [{"system": DATA_ABSENT, "code": "not-performed"}],
                                       "text": "a trial did not finish within the cutoff: no mean"}
        res["bodySite"] = self.body_site(hand)
        res["method"] = self.method(hs.get("timing"))
        res["derivedFrom"] = [{"reference": u} for u in trials] or None
        comps = [self.component("hand", "hand tested", valueString=hand)]
        norm = hs.get("norm") or {}
        notes = []
        if norm.get("sd_score") is not None:
            row = norm["norm"]
            comps.append(self.component("sd-score", "SD score against the norm (positive is faster)",
                                        valueQuantity={"value": norm["sd_score"], "system": UCUM, "code": "1",
                                                       "unit": "SD"}))
            comps.append(self.component("norm-band", "norm band", valueString=norm["band_label"]))
            res["referenceRange"] = [{
                "low": _quantity(round(row["mean_s"] - NORMAL_BAND_SD * row["sd_s"], 2), "s", "s"),
                "high": _quantity(round(row["mean_s"] + NORMAL_BAND_SD * row["sd_s"], 2), "s", "s"),
                "age": {"low": {"value": row["age_from"], "system": UCUM, "code": "a", "unit": "years"},
                        "high": {"value": row["age_to"], "system": UCUM, "code": "a", "unit": "years"}},
                "text": (f"within normal limits (SD score within +/-{NORMAL_BAND_SD:g}) of {row['sex']} "
                         f"{row['age_from']}-{row['age_to']} y, {row['hand']} hand: {row['mean_s']} +/- "
                         f"{row['sd_s']} s; {norm.get('population') or 'norm sample'}; {norm['citation']}")}]
        elif norm.get("reason"):
            notes.append(f"No SD score: {norm['reason']}.")
        prog = hs.get("progress") or {}
        for which in ("baseline", "previous"):
            c = prog.get(which)
            if c and c.get("change_pct") is not None:
                comps.append(self.component(f"change-from-{which}", f"change from {which} test ({c['date']}), "
                                            f"{c['direction']}" + (f", {c['flag']}" if c.get("flag") else ""),
                                            valueQuantity={"value": c["change_pct"], "system": UCUM, "code": "%",
                                                           "unit": "%"}))
        t = prog.get("threshold")
        if t:
            notes.append(f"Change flagged as {t['flag']} for {t['population']}; source: {t['source']}.")
        elif prog:
            notes.append("Change not flagged: no published threshold for this test and population.")
        res["component"] = comps
        res["note"] = [{"text": n} for n in (self.norm_note(), *notes) if n]
        return self.add(res, "test", self.test.get("test_id"), "hand", hand)

    def add_msfc(self) -> str:
        res = self.observation("msfc-9hpt-score", "MSFC 9HPT score: mean of 1/(mean time) of each hand")
        res["valueQuantity"] = {"value": self.s["msfc_score"], "system": UCUM, "code": "/s", "unit": "1/s"}
        res["note"] = [{"text": "A hand unable to complete counts 777 s (MSFC Administration and Scoring Manual, "
                                "Fischer et al. 2001)."}]
        return self.add(res, "test", self.test.get("test_id"), "msfc")

    def add_test(self, members: list[str]) -> str:
        res = self.observation(self.test_code, self.test_display)
        res["method"] = {"text": plan_line(self.test["plan"], self.s)}
        res["hasMember"] = [{"reference": m} for m in members]
        res["note"] = [{"text": clinical_note(self.test, self.patient)}]
        return self.add(res, "test", self.test.get("test_id"))

    # --- parts -------------------------------------------------------------

    def observation(self, code: str, display: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "status": self.status,
                "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "exam", "display": "Exam"}]}],
                "code": {"coding": [{"system": CODE_SYSTEM, "code": code, "display": display}], "text": display},
                "subject": {"identifier": {"system": self.station.patient_system,
                                           "value": str(self.test.get("patient_id"))}},
                "effectiveDateTime": self.test.get("date") or None, "issued": self.made_at.isoformat(),
                "device": {"reference": self.device}}

    def component(self, code: str, display: str, **value: Any) -> dict[str, Any]:
        return {"code": {"coding": [{"system": CODE_SYSTEM, "code": code, "display": display}], "text": display},
                **value}

    def body_site(self, hand: str) -> dict[str, Any]:
        dom = self.patient.get("dominant_hand")
        if dom in OTHER_HAND and hand in ("dominant", "non-dominant"):
            side = dom if hand == "dominant" else OTHER_HAND[dom]
            return {"text": f"{side} hand ({hand})"}
        return {"text": f"{hand} hand"}

    def method(self, timing: str | None) -> dict[str, Any]:
        admin = plan_line(self.test["plan"], self.s)
        if self.protocol != "nine-hole-peg" or not timing or timing not in TIMINGS:
            return {"text": f"Measured on an instrumented pegboard station. {admin}"}
        return {"coding": [{"system": CODE_SYSTEM, "code": f"timing-{timing}", "display": TIMINGS[timing]}],
                "text": f"Timed {TIMINGS[timing]}, by the station's sensors. {admin}"}

    def norm_note(self) -> str | None:
        norms = [hs["norm"] for hs in self.s["hands"].values() if hs.get("norm")]
        if not norms:
            return None
        n = norms[0]
        return f"Norms: {n.get('population') or 'norm sample'}; {n['citation']}"


def _quantity(value: float, code: str, unit: str) -> dict[str, Any]:
    return {"value": round(float(value), 4), "system": UCUM, "code": code, "unit": unit}

