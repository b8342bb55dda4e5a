"""Norm sets and SD scores: where a patient's time stands among healthy adults.

A norm set is a data file a clinic can replace (format in
``station/data/norms/README.md``): CSV rows ``age_from, age_to, sex, hand,
mean_s, sd_s`` under ``#`` lines giving the ``test``, its ``citation`` and the
``sample_ages`` the sample covered. ``load_norms(path)`` validates it (one
``NormsError`` naming the line); ``load_norms()`` is the shipped default
(Mathiowetz et al. 1985, adults 20-94).

``score_time`` turns a time into an SD score, ``(mean - time) / sd``
(positive is faster than the norm mean), and its band: within +/-0.75
``normal``; -0.75 to -1.5 ``below``; -1.5 to -2 ``well_below``; under -2
``markedly_below``; and the mirror bands ``above``, ``well_above``,
``markedly_above``. A boundary value belongs to the band nearer 0 (-0.75 is
normal, -1.5 below, -2 well below). The band is taken from the score rounded to
two decimals, the precision it is reported in, so a note never shows "-1.50,
well below".

When there is no score the result says why in ``reason`` and is otherwise
complete (never an exception): no birth year, a sex the norms do not cover,
an age outside the norm sample, a hand that did not finish.

Age. Patients are recorded with a birth year only, so the age used is the
test year minus the birth year: the age reached during the test year (up to
one year more than the exact age before the birthday). The result states the
age it used.

Ages outside the sample. Under the youngest age (20 here) there is no norm:
children's dexterity is still developing, and adult norms would misjudge it.
Over the oldest age of the sample (94 here; the file writes the last band as
75-120) the station gives no SD score either, and says the patient is outside
the norm sample. Scoring a 97-year-old against 75-94-year-olds would attribute
the decline of the years beyond the sample to impairment, labelling people
"markedly below" for their age alone; a clinician can still read the raw time
and its change over time, which are reported as usual.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from station.errors import UserError, read_user_text
from station.record_types import NormScore

HANDS = ("dominant", "non-dominant")
SEXES = ("female", "male")
COLUMNS = ("age_from", "age_to", "sex", "hand", "mean_s", "sd_s")
DEFAULT_NORMS = "data/norms/nine-hole-peg-adult.csv"

#: band code -> label
BAND_LABELS = {
    "markedly_above": "markedly above average",
    "well_above": "well above average",
    "above": "above average",
    "normal": "within normal limits",
    "below": "below average",
    "well_below": "well below average",
    "markedly_below": "markedly below average",
}


class NormsError(UserError, ValueError):
    """A norm file is unusable; the message names the file and the line."""


@dataclass(frozen=True)
class NormRow:
    """One age band of one sex and hand."""

    age_from: int
    age_to: int
    sex: str
    hand: str
    mean_s: float
    sd_s: float

    def to_dict(self) -> dict:
        return {"age_from": self.age_from, "age_to": self.age_to, "sex": self.sex, "hand": self.hand,
                "mean_s": self.mean_s, "sd_s": self.sd_s}


@dataclass(frozen=True)
class NormSet:
    """A validated norm file: its rows, citation and the ages its sample covered."""

    test: str
    citation: str
    rows: tuple[NormRow, ...]
    sample_ages: tuple[int, int]
    source: str  # the file it came from

    def row(self, age: int, sex: str, hand: str) -> NormRow | None:
        """The band holding ``age`` for ``sex`` and ``hand`` (None: no such band)."""
        for r in self.rows:
            if r.sex == sex and r.hand == hand and r.age_from <= age <= r.age_to:
                return r
        return None


def load_norms(path: str | os.PathLike | None = None) -> NormSet:
    """Load and validate a norm file; ``None`` loads the shipped default (cached)."""
    if path is None:
        return _default_norms()
    return parse_norms(read_user_text(path, NormsError, "norm file"), str(Path(path)))


@lru_cache(maxsize=1)
def _default_norms() -> NormSet:
    text = resources.files("station").joinpath(DEFAULT_NORMS).read_text(encoding="utf-8")
    return parse_norms(text, f"station/{DEFAULT_NORMS}")


def parse_norms(text: str, source: str = "norm file") -> NormSet:
    """Validate norm-file text. Raises NormsError naming ``source`` and the line."""
    meta: dict[str, tuple[int, str]] = {}
    data_lines: list[tuple[int, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            key, sep, value = s[1:].partition(":")
            if sep:
                meta[key.strip().lower()] = (n, value.strip())
            continue
        data_lines.append((n, line))
    for key in ("test", "citation"):
        if not meta.get(key, (0, ""))[1]:
            raise NormsError(f"{source}: no '# {key}: ...' line at the top (a norm set must say "
                             + ("which test it is for)" if key == "test" else "where it comes from)"))
    if not data_lines:
        raise NormsError(f"{source}: no table (expected a header line {','.join(COLUMNS)})")
    head_n, head = data_lines[0]
    header = [c.strip() for c in next(csv.reader([head]))]
    if sorted(header) != sorted(COLUMNS):
        raise NormsError(f"{source}: line {head_n}: the columns must be {','.join(COLUMNS)}, not {','.join(header)}")
    rows = [_parse_row(dict(zip(header, (c.strip() for c in cells), strict=False)), n, len(cells), source)
            for n, line in data_lines[1:] for cells in csv.reader([line])]
    if not rows:
        raise NormsError(f"{source}: the table has no rows")
    _check_overlaps(rows, data_lines[1:], source)
    lo, hi = min(r.age_from for r in rows), max(r.age_to for r in rows)
    if "sample_ages" in meta:
        n, value = meta["sample_ages"]
        a, sep, b = value.partition("-")
        try:
            lo, hi = int(a), int(b)
        except ValueError:
            raise NormsError(f"{source}: line {n}: sample_ages must be FROM-TO in whole years, like 20-94") from None
        if not sep or lo > hi:
            raise NormsError(f"{source}: line {n}: sample_ages must be FROM-TO with FROM <= TO")
    return NormSet(meta["test"][1], meta["citation"][1], tuple(rows), (lo, hi), source)


def _parse_row(d: dict[str, str], n: int, ncells: int, source: str) -> NormRow:
    where = f"{source}: line {n}"
    if ncells != len(COLUMNS):
        raise NormsError(f"{where}: expected {len(COLUMNS)} values, found {ncells}")
    try:
        a, b = int(d["age_from"]), int(d["age_to"])
    except ValueError:
        raise NormsError(f"{where}: age_from and age_to must be whole years") from None
    if not 0 <= a <= b:
        raise NormsError(f"{where}: age_from must be 0 or more and no more than age_to")
    sex, hand = d["sex"].lower(), d["hand"].lower()
    if sex not in SEXES:
        raise NormsError(f"{where}: sex must be {' or '.join(SEXES)}, not {d['sex']!r}")
    if hand not in HANDS:
        raise NormsError(f"{where}: hand must be {' or '.join(HANDS)}, not {d['hand']!r}")
    try:
        mean, sd = float(d["mean_s"]), float(d["sd_s"])
    except ValueError:
        raise NormsError(f"{where}: mean_s and sd_s must be numbers (seconds)") from None
    if not (math.isfinite(mean) and math.isfinite(sd) and mean > 0 and sd > 0):
        raise NormsError(f"{where}: mean_s and sd_s must be positive")
    return NormRow(a, b, sex, hand, mean, sd)


def _check_overlaps(rows: list[NormRow], lines: list[tuple[int, str]], source: str) -> None:
    seen: list[tuple[NormRow, int]] = []
    for r, (n, _) in zip(rows, lines, strict=True):
        for o, on in seen:
            if o.sex == r.sex and o.hand == r.hand and r.age_from <= o.age_to and o.age_from <= r.age_to:
                raise NormsError(f"{source}: line {n}: ages {r.age_from}-{r.age_to} overlap line {on} "
                                 f"({o.age_from}-{o.age_to}) for {r.sex}, {r.hand} hand")
        seen.append((r, n))


# --- scoring ----------------------------------------------------------------


def band(sd_score: float) -> str:
    """The band code of an SD score (see the module docstring)."""
    z = round(sd_score, 2)
    if abs(z) <= 0.75:
        return "normal"
    side = "above" if z > 0 else "below"
    if abs(z) <= 1.5:
        return side
    return f"well_{side}" if abs(z) <= 2.0 else f"markedly_{side}"


def patient_age(birth_year: Any, test_date: date) -> int | None:
    """Test year minus birth year (see the module docstring); None if no usable birth year."""
    if birth_year is None or isinstance(birth_year, bool):
        return None
    try:
        return test_date.year - int(birth_year)
    except (TypeError, ValueError):
        return None


def normalise_sex(sex: Any) -> str | None:
    """``female``/``male`` (also ``f``/``m``, any case); None for anything else."""
    s = str(sex).strip().lower() if sex is not None else ""
    return {"f": "female", "m": "male"}.get(s, s) if s in ("f", "m", *SEXES) else None


def score_time(time_s: float | None, *, birth_year: Any, sex: Any, hand: str, test_date: date | None,
               norms: NormSet | None = None, not_scored: str | None = None) -> NormScore:
    """The SD score of ``time_s`` for a patient, or the reason there is none.

    ``hand``: ``dominant`` or ``non-dominant`` (the tested hand). ``not_scored``: a
    reason decided by the caller (e.g. the hand did not finish within the cutoff).
    Returns a "norm score" (documented in ``station/results.py``): ``time_s``,
    ``hand``, ``age``, ``sex``, ``sd_score``, ``band``, ``band_label``, ``norm`` (the
    band's row), ``reason``, ``citation``.
    """
    norms = norms or load_norms()
    age = patient_age(birth_year, test_date) if test_date is not None else None
    sx = normalise_sex(sex)
    out: NormScore = {"time_s": time_s, "hand": hand, "age": age, "sex": sx, "sd_score": None, "band": None,
                      "band_label": None, "norm": None, "reason": None, "citation": norms.citation}
    lo, hi = norms.sample_ages
    if not_scored:
        out["reason"] = not_scored
    elif time_s is None:
        out["reason"] = "no time to score"
    elif test_date is None:
        out["reason"] = "no test date, so no age: no SD score"
    elif age is None:
        out["reason"] = "no birth year recorded, so no age: no SD score"
    elif age < 0:
        out["reason"] = f"birth year {birth_year} is after the test date: no SD score"
    elif sx is None:
        out["reason"] = (f"the norms are by sex ({' and '.join(SEXES)}); none for "
                         f"{'an unrecorded sex' if sex is None else repr(sex)}: no SD score")
    elif hand not in HANDS:
        out["reason"] = f"the norms are for the dominant and non-dominant hand, not {hand!r}"
    elif age < lo:
        out["reason"] = f"age {age} is below the norm sample (ages {lo}-{hi}): no SD score"
    elif age > hi:
        out["reason"] = (f"age {age} is above the norm sample (ages {lo}-{hi}): no SD score, "
                         f"as it would compare the patient with younger adults")
    else:
        row = norms.row(age, sx, hand)
        if row is None:
            out["reason"] = f"the norm set has no band for age {age}, {sx}, {hand} hand: no SD score"
        else:
            z = round((row.mean_s - time_s) / row.sd_s, 2)
            code = band(z)
            out.update({"sd_score": z, "band": code, "band_label": BAND_LABELS[code], "norm": row.to_dict()})
    return out
