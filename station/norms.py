"""Norm sets and SD scores: where a patient's time stands among healthy adults.

A norm set is a data file a clinic can replace (format in
``station/data/norms/README.md``): CSV rows ``age_from, age_to, sex, hand,
mean_s, sd_s`` under ``#`` lines giving the ``test``, its ``citation``, the
``sample_ages`` the sample covered, its ``population`` and its ``timing``. ``load_norms(path)`` validates it (one
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

Age (``patient_age``), at the test date. With a birth month and year: the
test year minus the birth year, less one if the test month comes before the
birth month; in the birth month itself the birthday is counted as reached
(the day is not recorded), so the age can be one year high for part of that
month. With a birth year only (older records): the test year minus the birth
year, the age reached during the test year, up to one year more than the
exact age before the birthday; the result says it is approximate
(``age_basis``).

Timing. A norm set states how its times were measured (``# timing:``, a key
of ``station.protocols.nine_hole_peg.TIMINGS``; default the stopwatch-
equivalent dish timing, as Mathiowetz et al. 1985 timed it). A time measured
another way (no dish cell: start button to last peg out), or whose
measurement is not recorded, gets no SD score and the reason says so.

Ages outside the sample. Under the youngest age (20 here) there is no norm:
children's dexterity is still developing, and adult norms would misjudge it.
The station ships no children's norms: published 9HPT norms for ages 4-19
(Poole et al. 2005) could not be checked against a primary source, so the
reason says "no norms for this age" (see station/data/norms/README.md); a
clinic can add a verified set of its own.
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
from station.protocols.nine_hole_peg import DISH_TIMING, TIMINGS
from station.record_types import NormScore

HANDS = ("dominant", "non-dominant")
SEXES = ("female", "male")
COLUMNS = ("age_from", "age_to", "sex", "hand", "mean_s", "sd_s")
DEFAULT_NORMS = "data/norms/nine-hole-peg-adult.csv"

#: an SD score within +/- this is ``normal`` (within normal limits)
NORMAL_BAND_SD = 0.75

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
    timing: str = DISH_TIMING  # how the norm sample's times were measured (a TIMINGS key)
    population: str = ""  # who the sample was, as the file says it (``# population:``)

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
    timing = DISH_TIMING
    if "timing" in meta:
        n, timing = meta["timing"]
        if timing not in TIMINGS:
            raise NormsError(f"{source}: line {n}: timing must be one of {', '.join(TIMINGS)}, not {timing!r}")
    population = meta.get("population", (0, ""))[1] or f"norm sample aged {lo}-{hi}"
    return NormSet(meta["test"][1], meta["citation"][1], tuple(rows), (lo, hi), source, timing, population)


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
    if abs(z) <= NORMAL_BAND_SD:
        return "normal"
    side = "above" if z > 0 else "below"
    if abs(z) <= 1.5:
        return side
    return f"well_{side}" if abs(z) <= 2.0 else f"markedly_{side}"


AGE_FROM_MONTH = "from birth month and year"
AGE_FROM_YEAR = "approximate: from birth year only (the age reached in the test year)"


def patient_age(birth_year: Any, test_date: date, birth_month: Any = None) -> int | None:
    """Age at ``test_date`` (see the module docstring); None if no usable birth year.
    A ``birth_month`` that is not 1-12 is ignored (the age is then from the year only)."""
    if birth_year is None or isinstance(birth_year, bool):
        return None
    try:
        age = test_date.year - int(birth_year)
    except (TypeError, ValueError):
        return None
    month = _month(birth_month)
    return age - 1 if month is not None and test_date.month < month else age


def age_basis(birth_month: Any) -> str:
    """How ``patient_age`` got the age: ``AGE_FROM_MONTH`` or ``AGE_FROM_YEAR``."""
    return AGE_FROM_MONTH if _month(birth_month) is not None else AGE_FROM_YEAR


def _month(m: Any) -> int | None:
    return m if isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 else None


def normalise_sex(sex: Any) -> str | None:
    """``female``/``male`` (also ``f``/``m``, any case); None for anything else."""
    s = str(sex).strip().lower() if sex is not None else ""
    return {"f": "female", "m": "male"}.get(s, s) if s in ("f", "m", *SEXES) else None


def score_time(time_s: float | None, *, birth_year: Any, sex: Any, hand: str, test_date: date | None,
               timing: str | None, norms: NormSet | None = None, not_scored: str | None = None,
               birth_month: Any = None) -> NormScore:
    """The SD score of ``time_s`` for a patient, or the reason there is none.

    ``hand``: ``dominant`` or ``non-dominant`` (the tested hand). ``timing``: how
    ``time_s`` was measured (a ``TIMINGS`` key; None: not recorded); only a time
    measured as the norms were is scored. ``not_scored``: a reason decided by the
    caller (e.g. the hand did not finish within the cutoff). Returns a "norm
    score" (documented in ``station/results.py``): ``time_s``, ``hand``, ``age``,
    ``age_basis``, ``sex``, ``timing``, ``sd_score``, ``band``, ``band_label``,
    ``norm`` (the band's row), ``reason``, ``citation``, ``sample_ages``,
    ``population`` (who the norm sample was).
    """
    norms = norms or load_norms()
    age = patient_age(birth_year, test_date, birth_month) if test_date is not None else None
    sx = normalise_sex(sex)
    lo, hi = norms.sample_ages
    out: NormScore = {"time_s": time_s, "hand": hand, "age": age,
                      "age_basis": age_basis(birth_month) if age is not None else None, "sex": sx,
                      "timing": timing, "sd_score": None, "band": None, "band_label": None, "norm": None,
                      "reason": None, "citation": norms.citation, "sample_ages": [lo, hi],
                      "population": norms.population}
    if not_scored:
        out["reason"] = not_scored
    elif time_s is None:
        out["reason"] = "no time to score"
    elif timing is None:
        out["reason"] = "the trials do not record how the time was measured: no SD score"
    elif timing != norms.timing:
        out["reason"] = (f"timed {TIMINGS.get(timing, timing)}, not as the norms' times were "
                         f"measured: no SD score")
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
        out["reason"] = (f"no norms for age {age}: the norm sample is ages {lo}-{hi} and the station "
                         f"ships no children's norms (below the norm sample): no SD score")
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
