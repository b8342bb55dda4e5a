"""FHIR R4 export of finished tests: a transaction Bundle per test (``bundle``), validated with fhir.resources.

The models are fhir.resources' R4B ones (FHIR 4.3.0): its R4-compatible
release, identical to R4 for the resources used here (Observation, Device,
DeviceMetric, Bundle). Codes, identifier systems and why no LOINC code is
used: ``codes``; the design: docs/fhir.md.
"""
