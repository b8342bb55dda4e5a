"""The station's code system, identifier systems and units for FHIR.

LOINC: the only LOINC terms for the 9-hole peg test we could verify (e.g.
83156-0 "9-Hole Pegboard Dexterity Test Time Hand - left [NIH Toolbox]",
84426-6, an age-adjusted NIH Toolbox scale score) have the method
"NIH Toolbox": one timed trial per hand, administered and timed by the NIH
Toolbox protocol. The station gives the test as Mathiowetz et al. (1985) did
(two timed trials per hand after a practice trial) and times it by sensors
(``station.protocols.nine_hole_peg.TIMINGS``), so those codes would claim a
method that was not used. Every measure is therefore coded in the station's
own code system, and each Observation states its method (timing definition
and administration) in words. A clinic that maps codes can add a LOINC coding
on its side.
"""
from __future__ import annotations

#: the station's code system (a fixed URN: the same on every station)
CODE_SYSTEM = "urn:uuid:3c5e0f62-8a3b-4f0e-9d5c-6b1f2f7a9e41"
#: identifiers of what a station creates (value: "<station id>/..."), used for conditional create
IDENTIFIER_SYSTEM = "urn:uuid:8d2b7c1a-5e4f-4a6b-b0c9-1e7f3a2d6c58"
#: the patient's pseudonym namespace when the clinic names none ([fhir] patient_system)
PATIENT_SYSTEM = "urn:uuid:a4f6e2d0-7b1c-4c3e-8f5a-2d9b0e6c1f73"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

#: protocol -> (code of its test, display)
TEST_CODES = {
    "nine-hole-peg": ("nine-hole-peg-test", "Nine Hole Peg Test (9HPT)"),
    "coin-drop": ("coin-drop-test", "Coin drop test"),
    "timed-pegs": ("timed-pegs-test", "Timed pegs test"),
    "free-practice": ("free-practice", "Free practice (pegboard)"),
}
#: measure key -> (code suffix, display, UCUM unit code, unit text)
MEASURES = {
    "total_s": ("time", "time to complete", "s", "s"),
    "pegs": ("pegs", "pegs placed in the time window", "{pegs}", "pegs"),
    "reps": ("repetitions", "repetitions", "{reps}", "reps"),
    "reps_per_min": ("pace", "pace", "/min", "reps/min"),
}
#: result keys sent as components of a trial's Observation: key -> (display, UCUM code, unit text)
PHASES = {
    "place_s": ("placing phase time", "s", "s"),
    "remove_s": ("removing phase time", "s", "s"),
    "pickup_s": ("pick-up phase time", "s", "s"),
    "longest_pause_s": ("longest pause without a peg event", "s", "s"),
    "transport_mean_s": ("mean dish-to-hole transport time", "s", "s"),
    "pegs_per_s": ("pegs per second", "/s", "pegs/s"),
    "reps_per_min": ("repetitions per minute", "/min", "reps/min"),
    "reinserts": ("pegs re-inserted", "{pegs}", "pegs"),
}
