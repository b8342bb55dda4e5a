"""The points of a trend chart: a patient's hand means over time, with the norm band at each test."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from station.norms import NORMAL_BAND_SD


@dataclass(frozen=True)
class TrendPoint:
    """One hand's mean at one test; ``norm_low``/``norm_high``: the normal band there (9HPT), else None."""

    test_id: Any
    date: str
    hand: str
    value: float
    norm_low: float | None
    norm_high: float | None


def trend_points(tests: Iterable[Mapping[str, Any]], protocol: str, timing: str | None = None) -> list[TrendPoint]:
    """Each test of ``protocol`` (with hand timing ``timing`` when given: other timings are not
    comparable) in the order they happened, one point per hand with a mean."""
    points = []
    for test in in_order(t for t in tests if t.get("protocol") == protocol):
        for hand, hs in ((test.get("summary") or {}).get("hands") or {}).items():
            if hs.get("mean") is None or (timing is not None and hs.get("timing") != timing):
                continue
            row = (hs.get("norm") or {}).get("norm")
            low = high = None
            if row and (hs.get("norm") or {}).get("sd_score") is not None:
                # within normal limits: SD score within +/- NORMAL_BAND_SD (station.norms.band)
                low = row["mean_s"] - NORMAL_BAND_SD * row["sd_s"]
                high = row["mean_s"] + NORMAL_BAND_SD * row["sd_s"]
            points.append(TrendPoint(test.get("test_id"), test.get("date") or "", hand, float(hs["mean"]),
                                     low, high))
    return points


def in_order(tests: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Tests in the order they happened, as ``station.results`` orders a history: by date, then by
    when the store created them, then by id (never by value)."""
    return sorted(tests, key=lambda t: (str(t.get("date") or ""), str(t.get("created_at") or ""),
                                        t["test_id"] if isinstance(t.get("test_id"), int) else 0))
