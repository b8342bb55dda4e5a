"""The shapes of the station's records, in code: what ``station/results.py`` documents field by field.

Records stay plain JSON-ready dicts (they are stored, exported and sent as
they are); these ``TypedDict``s name their keys and value types so a
signature says which record it takes. The field-by-field meaning is in
``station/results.py`` (trial, test and summary records), the record store
(``station.records.store``: patients, what it adds on storing) and
docs/api.md.

A protocol's result (``ProtocolResult``) has keys of its own per protocol, so
it stays an open mapping; so do options.
"""
from __future__ import annotations

from typing import Any, NotRequired, TypedDict

#: a protocol's result: always ``status`` and ``total_s``, then the protocol's own keys
ProtocolResult = dict[str, Any]
#: ``Event.to_dict()`` / ``Fault.to_dict()``: ``{"t", "kind", ...}``
EventDict = dict[str, Any]


class Patient(TypedDict):
    """A patient as the record store keeps it (pseudonymous: no name)."""

    patient_id: str
    birth_year: int
    sex: str  # one of station.records.store.SEXES
    dominant_hand: str  # left | right
    created_at: str
    notes: NotRequired[str | None]
    birth_month: NotRequired[int | None]  # 1-12; age at a test date is exact only with it
    condition: NotRequired[str | None]  # station.progress.CONDITIONS: picks a change threshold
    history: NotRequired[list[dict[str, Any]]]  # corrections: [{"at", "old": {field: value}, "reason"?}]


class PlanDict(TypedDict):
    """``TestPlan.to_dict()``: what a test runs."""

    protocol: str
    options: dict[str, Any]
    hands: list[str]
    trials_per_hand: int
    practice: bool


class SlotDict(TypedDict):
    """``TrialSlot.to_dict()``: one trial of a test's plan."""

    hand: str
    index: int
    practice: bool
    repeat_of: int | str | None


class TrialEntry(SlotDict):
    """A trial as its test keeps it (the full trial record is stored apart)."""

    trial_id: int | str
    result: ProtocolResult
    valid: bool
    invalid_reason: str | None


class InvalidEntry(TypedDict):
    """An invalid trial in a summary, and why."""

    trial_id: int | str
    hand: str
    index: int
    practice: bool
    reason: str | None
    status: str | None
    value: Any
    repeated: bool


class Change(TypedDict):
    """``station.progress.change``: a value against a reference."""

    reference: float
    current: float
    change: float
    change_pct: float | None
    direction: str  # better | worse | same
    flag: str | None  # the threshold's flag when the change reaches it
    meaningful: bool  # the flag is "meaningful change"


class DatedChange(Change):
    """A change from an earlier test, with that test's date."""

    date: str


class ThresholdDict(TypedDict):
    """``station.progress.Threshold.to_dict()``: a published threshold for a change."""

    population: str
    flag: str
    source: str
    pct: float | None
    amount: float | None


class Progress(TypedDict):
    """``station.progress.progress``: against the baseline and the previous test."""

    baseline: DatedChange | None
    previous: DatedChange | None
    threshold: ThresholdDict | None  # the published threshold flagged against, with its source
    threshold_pct: float | None  # None unless the threshold is relative
    not_compared: int  # earlier tests left out: timed with another definition


class NormScore(TypedDict):
    """``station.norms.score_time``: a time against the age/sex/hand norms."""

    time_s: float | None
    hand: str
    age: int | None
    age_basis: str | None  # how the age was computed (birth month and year, or year only)
    sex: str | None
    timing: str | None  # how time_s was measured (station.protocols.nine_hole_peg.TIMINGS)
    sd_score: float | None
    band: str | None
    band_label: str | None
    norm: dict[str, Any] | None  # the age band used (``NormRow.to_dict``)
    reason: str | None
    citation: str
    sample_ages: list[int]  # the ages the norm sample covered
    population: str  # who the norm sample was


class HandSummary(TypedDict):
    """One hand's part of a summary (``TestSession.summary``; norm and progress added by
    ``station.results.summary_record``)."""

    trials: list[int | str]
    values: list[Any]
    mean: float | None
    status: str  # complete | timeout | no_trials
    timed_out: int
    means: dict[str, float | None]
    timing: NotRequired[str | None]  # the trials' timing definition, or "mixed"
    norm: NotRequired[NormScore | None]
    progress: NotRequired[Progress]


class SessionSummary(TypedDict):
    """``TestSession.summary()``: the summary's core, before the record's own keys."""

    protocol: str
    status: str  # in_progress | complete | ended
    measure: str
    unit: str
    lower_is_better: bool
    hands: dict[str, HandSummary]
    msfc_score: float | None
    practice: list[int | str]
    invalid: list[InvalidEntry]


class SummaryRecord(SessionSummary):
    """``station.summary/1``."""

    schema: str
    test_id: int | str | None
    patient_id: str | None
    date: str | None
    norm_source: str | None
    norm_sample_ages: NotRequired[list[int] | None]
    change_measure: NotRequired[dict[str, Any]]  # {key, unit, lower_is_better}
    condition: NotRequired[str | None]


class SessionDict(TypedDict):
    """``TestSession.to_dict()`` (``station.session/1``): restores a session."""

    schema: str
    test_id: int | str | None
    patient_id: str | None
    date: str | None
    plan: PlanDict
    status: str
    ended_reason: str | None
    queue: list[SlotDict]
    trials: list[TrialEntry]


class TestRecord(TypedDict):
    """``station.test/1``; the record store adds ``created_at``, ``saved_at`` and ``updated_at``,
    the ``results`` reply (docs/api.md) the clinical ``note``."""

    schema: str
    test_id: int | str | None
    patient_id: str | None
    date: str | None
    protocol: str
    plan: PlanDict
    status: str
    ended_reason: str | None
    trials: list[TrialEntry]
    summary: SummaryRecord
    session: SessionDict
    created_at: NotRequired[str]
    saved_at: NotRequired[str]
    updated_at: NotRequired[str]
    note: NotRequired[str | None]


class TrialRecord(TypedDict):
    """``station.trial/1`` as ``station.results.trial_record`` makes it."""

    schema: str
    protocol: str
    options: dict[str, Any]
    test_id: int | str | None
    patient_id: str | None
    hand: str | None
    index: int | None
    practice: bool
    repeat_of: int | str | None
    started_at: str | None
    status: str | None
    total_s: float | None
    result: ProtocolResult
    valid: bool
    invalid_reason: str | None
    events: list[EventDict]
    faults: list[EventDict]
    trace: str | None


class TrialMeta(TypedDict):
    """What the daemon journals of a trial as it is armed (``station.daemon.trial_control``):
    the stored trial starts from it."""

    patient_id: str
    test_id: int | str | None
    protocol: str
    options: dict[str, Any]
    hand: str  # dominant | non-dominant | left | right
    side: str | None  # left | right
    practice: bool
    k: int | None  # the trial's number in its test, of ``n``
    n: int | None
    index: int | None
    repeat_of: int | str | None
    started_by: str  # command | button
    simulated: bool
    trace: NotRequired[str]


class StoredTrial(TrialRecord, total=False):
    """A trial as the record store gives it back: the record, the daemon's additions and the
    store's (``trial_id``, ``saved_at``, ``invalid``: null or ``{"reason", "at"}``).
    A record of an older shape may lack keys: read them with ``get``."""

    trial_id: int
    saved_at: str
    invalid: dict[str, Any] | None
    # the daemon's (station.daemon.trial_control): the trial as it was armed and ended
    side: str | None
    k: int | None
    n: int | None
    started_by: str
    simulated: bool
    armed_t: float
    ended_t: float


class IndexEntry(TypedDict, total=False):
    """A stored trial's or test's line in the store's index (``RecordStore.trials`` gives these):
    ``station.records.store.SUMMARY_KEYS`` the record has, its kind and file identity."""

    kind: str  # trial | test
    file: list[int]  # inode, size, mtime_ns of its document
    trial_id: int
    test_id: int | None
    patient_id: str | None
    protocol: str
    hand: str | None
    practice: bool
    started_at: str | None
    status: str | None
    invalid: dict[str, Any] | None
