"""A patient against their own history: change from baseline and from the previous test.

A change of 20 % or more in 9HPT time is a common threshold for a clinically
meaningful change (../shared/norms/README.md); it is the default here for
every protocol's main measure. Pure functions over plain values.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from station.record_types import Change, Progress

#: percent change flagged as clinically meaningful
MEANINGFUL_PCT = 20.0


def change(current: float, reference: float, *, lower_is_better: bool = True,
           threshold_pct: float = MEANINGFUL_PCT) -> Change:
    """How ``current`` compares with ``reference``.

    ``change``: current - reference; ``change_pct``: that as a percentage of the
    reference (2 decimals); ``direction``: ``better``, ``worse`` or ``same``
    (lower is better for times, higher for counts); ``meaningful``: the size of
    the change reaches ``threshold_pct``.
    """
    diff = current - reference
    pct = diff / reference * 100 if reference else None
    better = diff < 0 if lower_is_better else diff > 0
    return {
        "reference": reference,
        "change": round(diff, 6),
        "change_pct": None if pct is None else round(pct, 2),
        "direction": "same" if diff == 0 else "better" if better else "worse",
        # a hair of tolerance so that exactly 20 % in decimal is flagged despite binary floats
        "meaningful": pct is not None and abs(pct) >= threshold_pct - 1e-9,
    }


def progress(current: float | None, history: Iterable[tuple[str, float | None]], *,
             lower_is_better: bool = True, threshold_pct: float = MEANINGFUL_PCT) -> Progress:
    """Change from the baseline (the first earlier value) and from the previous one.

    ``history``: ``(date, value)`` of earlier tests, any order (sorted by date
    here); entries without a value are skipped. Returns ``{"baseline": ...,
    "previous": ...}``, each ``change(...)`` plus ``date``, or None when there is
    no earlier value or no current one.
    """
    earlier: Sequence[tuple[str, float]] = sorted((d, v) for d, v in history if v is not None)
    out: Progress = {"baseline": None, "previous": None, "threshold_pct": threshold_pct}
    if current is None or not earlier:
        return out
    (first_d, first_v), (last_d, last_v) = earlier[0], earlier[-1]
    out["baseline"] = {"date": first_d, **change(current, first_v, lower_is_better=lower_is_better,
                                                 threshold_pct=threshold_pct)}
    out["previous"] = {"date": last_d, **change(current, last_v, lower_is_better=lower_is_better,
                                                threshold_pct=threshold_pct)}
    return out
