"""A patient against their own history: change from baseline and from the previous test.

The rules (sources in ``docs/clinical-rules.md``):

* Order. Earlier tests are taken in the order they happened: by date, and
  within a day in the order given (the caller orders same-day tests by when
  they were created). Never by value: the baseline is the first test, not
  the fastest.
* Measure and direction, per protocol (``CHANGE_MEASURES``): the 9HPT and the
  coin drop compare the hand's mean time (lower is better); timed pegs the
  pegs placed in the fixed window (higher is better); free practice the pace
  in repetitions per minute (higher is better), since its sessions have no set
  length and a count of repetitions is not comparable between them.
* Flag. A change is flagged only against a threshold published for the
  protocol and the patient's population (``THRESHOLDS``):

  - 9HPT in multiple sclerosis: a change of 20 % or more of the earlier time.
    Schwid et al. 2002 (Neurology 58:1294-1296) found a 20 % change in 9HPT
    time beyond test-retest variation; Feys et al. 2017 (Mult Scler
    23(5):711-720) report 20 % as the change commonly used to define
    clinically meaningful worsening.
  - 9HPT after stroke: 20 % is within measurement error there (Chen et al.
    2009, Neurorehabil Neural Repair 23(5):435-440: smallest real difference
    32.8 s for the more affected hand, 54 % of its mean; 6.2 s for the less
    affected hand). The station does not record which hand is more affected,
    so it flags a change of 32.8 s or more, which is beyond measurement error
    for either hand, as "beyond measurement error", not as meaningful.
  - Anything else (other populations, children, the other protocols): no
    published threshold here, so the change is shown and never flagged.
* Like with like. Earlier tests whose times were measured with another timing
  definition (``station.protocols.nine_hole_peg.TIMINGS``) are not compared;
  how many were left out is reported.

Pure functions over plain values.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from station.record_types import Change, Progress, ThresholdDict

#: populations a threshold can be published for (the patient record's ``condition``)
CONDITIONS = {"ms": "multiple sclerosis", "stroke": "stroke"}


@dataclass(frozen=True)
class ChangeMeasure:
    """What a protocol's change over time compares: a hand summary key, its unit and
    which way is better. ``key`` ``mean`` is the hand's mean; any other key is read
    from the hand summary's ``means``."""

    key: str
    unit: str
    lower_is_better: bool


CHANGE_MEASURES: dict[str, ChangeMeasure] = {
    "nine-hole-peg": ChangeMeasure("mean", "s", True),
    "coin-drop": ChangeMeasure("mean", "s", True),
    "timed-pegs": ChangeMeasure("mean", "pegs", False),
    "free-practice": ChangeMeasure("reps_per_min", "reps/min", False),
}


@dataclass(frozen=True)
class Threshold:
    """A published threshold for a change: relative (``pct`` of the earlier value) or
    absolute (``amount`` in the measure's unit), what reaching it means (``flag``), for
    which ``population``, and its ``source``."""

    population: str
    flag: str
    source: str
    pct: float | None = None
    amount: float | None = None

    def reached(self, diff: float, pct: float | None) -> bool:
        # a hair of tolerance so that exactly 20 % in decimal is flagged despite binary floats
        if self.pct is not None:
            return pct is not None and abs(pct) >= self.pct - 1e-9
        return self.amount is not None and abs(diff) >= self.amount - 1e-9

    def text(self, unit: str = "s") -> str:
        """``20 % (multiple sclerosis; Schwid 2002; Feys 2017)``."""
        size = f"{self.pct:g} %" if self.pct is not None else f"{self.amount:g} {unit}"
        return f"{size} ({CONDITIONS.get(self.population, self.population)}; {self.source})"

    def to_dict(self) -> ThresholdDict:
        return {"population": self.population, "flag": self.flag, "source": self.source,
                "pct": self.pct, "amount": self.amount}


MS_9HPT = Threshold("ms", "meaningful change", "Schwid 2002; Feys 2017", pct=20.0)
STROKE_9HPT = Threshold("stroke", "beyond measurement error",
                        "Chen 2009 smallest real difference, more affected hand", amount=32.8)
#: (protocol, condition) -> threshold; a pair not here has none
THRESHOLDS: dict[tuple[str, str], Threshold] = {
    ("nine-hole-peg", "ms"): MS_9HPT,
    ("nine-hole-peg", "stroke"): STROKE_9HPT,
}
NO_THRESHOLD = "no published threshold for this test and population: change shown, not flagged"


def threshold_for(protocol: str, condition: str | None) -> Threshold | None:
    """The threshold for ``protocol`` in the patient's ``condition`` (None: none published here)."""
    return THRESHOLDS.get((protocol, condition)) if condition else None


def change(current: float, reference: float, *, lower_is_better: bool = True,
           threshold: Threshold | None = None) -> Change:
    """How ``current`` compares with ``reference``.

    ``change``: current - reference; ``change_pct``: that as a percentage of the
    reference (2 decimals); ``direction``: ``better``, ``worse`` or ``same``;
    ``flag``: the threshold's ``flag`` when the change reaches it, else None;
    ``meaningful``: the flag is ``meaningful change``.
    """
    diff = current - reference
    pct = diff / reference * 100 if reference else None
    better = diff < 0 if lower_is_better else diff > 0
    flag = threshold.flag if threshold is not None and threshold.reached(diff, pct) else None
    return {
        "reference": reference,
        "current": current,
        "change": round(diff, 6),
        "change_pct": None if pct is None else round(pct, 2),
        "direction": "same" if diff == 0 else "better" if better else "worse",
        "flag": flag,
        "meaningful": flag == "meaningful change",
    }


def progress(current: float | None, history: Iterable[tuple], *, lower_is_better: bool = True,
             threshold: Threshold | None = None, timing: str | None = None) -> Progress:
    """Change from the baseline (the first earlier test) and from the previous one.

    ``history``: ``(date, value)`` or ``(date, value, timing)`` of earlier tests in
    the order they happened; sorted here by date only (a stable sort, so same-day
    tests keep the given order). Entries without a value are skipped; with a
    ``timing`` other than ``timing`` they are not compared (counted in
    ``not_compared``). Returns ``{"baseline", "previous"}`` (each ``change(...)``
    plus ``date``, or None), ``threshold`` (its ``to_dict()`` or None),
    ``threshold_pct`` (None unless relative) and ``not_compared``.
    """
    earlier, other_timing = [], 0
    for entry in history:
        d, v = entry[0], entry[1]
        t = entry[2] if len(entry) > 2 else timing
        if v is None:
            continue
        if t != timing:
            other_timing += 1
            continue
        earlier.append((d, v))
    earlier.sort(key=lambda e: e[0])
    out: Progress = {"baseline": None, "previous": None,
                     "threshold": threshold.to_dict() if threshold else None,
                     "threshold_pct": threshold.pct if threshold else None, "not_compared": other_timing}
    if current is None or not earlier:
        return out
    (first_d, first_v), (last_d, last_v) = earlier[0], earlier[-1]
    out["baseline"] = {"date": first_d, **change(current, first_v, lower_is_better=lower_is_better,
                                                 threshold=threshold)}
    out["previous"] = {"date": last_d, **change(current, last_v, lower_is_better=lower_is_better,
                                                threshold=threshold)}
    return out
