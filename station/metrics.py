"""Trial metrics beyond total time, computed from a trial's event list.

Pure functions: events in (``station.events`` objects, in time order, from the
trial's start on), plain dicts out, ready to merge into a protocol's result.
Times named ``*_s`` in a list, and ``*_at_s``, are seconds from the trial's
start; other ``*_s`` are durations. Times are rounded to the microsecond,
ratios to 4 decimals. A value that cannot be computed (too few events, the
trial did not end, no dish cell) is ``None``, never left out, so every
record of one protocol has the same keys.

Definitions (the clinical reading of each is in ``station/results.py``):

* interval lists split a phase: the first interval runs from the phase's
  start, so the intervals of the placing phase add up to ``place_s``;
* coefficient of variation (``*_cv``): sample standard deviation / mean of
  the intervals (needs two or more);
* longest pause: the longest stretch with no peg event (insert or remove)
  between the start and the end of the trial (its last event if it did not
  end), with the time it began;
* transport (needs the dish cell): see ``dish_transport``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import pairwise
from statistics import fmean, stdev
from typing import Any

from station.events import CellCount, Event, PegIn, PegOut


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None else round(x, nd)


def _rl(xs: Iterable[float]) -> list[float]:
    return [round(x, 6) for x in xs]


def intervals(times: Sequence[float], origin: float | None = None) -> list[float]:
    """Successive differences of ``times``; with ``origin`` the first runs from it."""
    seq = ([origin] if origin is not None else []) + list(times)
    return [b - a for a, b in pairwise(seq)]


def cv(values: Sequence[float]) -> float | None:
    """Coefficient of variation (sample SD / mean); None for fewer than two values or a zero mean."""
    if len(values) < 2:
        return None
    m = fmean(values)
    if m <= 0:
        return None
    return round(stdev(values) / m, 4)


def longest_gap(times: Sequence[float], start: float, end: float | None) -> tuple[float | None, float | None]:
    """The longest gap between consecutive moments of ``start, *times, end`` and when it began
    (relative to ``start``). ``end`` None: the gap after the last time is not counted."""
    seq = [start] + [t for t in times if t >= start] + ([end] if end is not None else [])
    best, at = None, None
    for a, b in pairwise(seq):
        if best is None or b - a > best:
            best, at = b - a, a - start
    return _r(best), _r(at)


def dish_transport(events: Iterable[Event], dish_start: int) -> tuple[list[float], int]:
    """Per inserted peg, the time from its pick-up from the dish to its insert; and how many
    pegs were picked up from the dish but put back without being inserted.

    A model of the hand: a drop of the dish count puts that many pegs in the hand (stamped
    with the pick-up time); a ``peg_out`` puts a peg from that hole in the hand. A
    ``peg_in`` takes, in this order, a peg just lifted from the same hole (a re-seat: no
    transport time), the oldest peg picked up from the dish (transport = insert - pick-up),
    or any peg from a hole. A rise of the dish count takes pegs back from the hand: pegs
    from holes first (the removal phase), then dish pick-ups, newest first; each of those
    was picked up and returned without insertion. Pegs the model cannot place (dropped on
    the floor, a rise with an empty hand) are ignored.
    """
    from_dish: list[float] = []  # pick-up times of pegs in hand, oldest first
    from_holes: list[int] = []  # holes whose peg is in hand
    transport: list[float] = []
    returned = 0
    dish = dish_start
    for ev in events:
        if isinstance(ev, CellCount):
            if ev.cell != "dish":
                continue
            delta, dish = ev.count - dish, ev.count
            if delta < 0:
                from_dish.extend([ev.t] * -delta)
            for _ in range(max(delta, 0)):
                if from_holes:
                    from_holes.pop(0)
                elif from_dish:
                    from_dish.pop()
                    returned += 1
        elif isinstance(ev, PegOut):
            from_holes.append(ev.hole)
        elif isinstance(ev, PegIn):
            if ev.hole in from_holes:
                from_holes.remove(ev.hole)
            elif from_dish:
                transport.append(ev.t - from_dish.pop(0))
            elif from_holes:
                from_holes.pop(0)
    return _rl(transport), returned


def _transport_keys(events: Sequence[Event], dish_start: int | None) -> dict:
    if dish_start is None:
        return {"transport_s": None, "transport_mean_s": None, "returned_to_dish": None}
    transport, returned = dish_transport(events, dish_start)
    return {"transport_s": transport,
            "transport_mean_s": _r(fmean(transport)) if transport else None,
            "returned_to_dish": returned}


def _peg_times(events: Sequence[Event]) -> list[float]:
    return [e.t for e in events if isinstance(e, (PegIn, PegOut))]


def nine_hole_peg_metrics(events: Sequence[Event], start_t: float, end_t: float | None, pegs: int,
                          complete: bool, dish_start: int | None = None) -> dict:
    """9HPT metrics. ``end_t``: when the trial ended (completion or cutoff; None if it did
    not end); ``complete``: it ended by completion. ``dish_start``: pegs in the dish at the
    start when the station has a dish cell (enables the transport keys).

    ``holes``: one entry per hole that held a peg, in the order they were first filled:
    ``in_s`` its first insert, ``out_s`` its last removal (None while a peg is in it).
    The placing phase ends when ``pegs`` holes have been filled (``place_s`` from the
    start); the removal phase runs from there to the end (``remove_s``, complete trials
    only; with the dish it includes putting the last peg back). ``reinserts``: inserts
    into a hole that had already held a peg. ``pegs_per_s``: pegs handled (placed and
    removed, averaged) per second from start to end.
    """
    first_in: dict[int, float] = {}
    last_out: dict[int, float] = {}
    reinserts = 0
    place_end = None
    for ev in events:
        if isinstance(ev, PegIn):
            last_out.pop(ev.hole, None)
            if ev.hole in first_in:
                reinserts += 1
            else:
                first_in[ev.hole] = ev.t
                if len(first_in) == pegs:
                    place_end = ev.t
        elif isinstance(ev, PegOut):
            last_out[ev.hole] = ev.t
    order = sorted(first_in, key=first_in.__getitem__)
    holes = [{"hole": h, "in_s": _r(first_in[h] - start_t),
              "out_s": _r(last_out[h] - start_t) if h in last_out else None} for h in order]
    fills = [first_in[h] for h in order][:pegs]
    place_iv = intervals(fills, start_t)
    removals = sorted(t for t in last_out.values() if place_end is not None and t >= place_end)
    remove_iv = intervals(removals, place_end) if place_end is not None else []
    pause, pause_at = longest_gap(_peg_times(events), start_t, end_t)
    span = None if end_t is None else end_t - start_t
    handled = (len(first_in) + len(last_out)) / 2
    out = {
        "holes": holes,
        "reinserts": reinserts,
        "place_s": _r(place_end - start_t) if place_end is not None else None,
        "remove_s": _r(end_t - place_end) if complete and place_end is not None and end_t is not None else None,
        "place_intervals_s": _rl(place_iv),
        "remove_intervals_s": _rl(remove_iv),
        "place_interval_cv": cv(place_iv),
        "remove_interval_cv": cv(remove_iv),
        "longest_pause_s": pause,
        "longest_pause_at_s": pause_at,
        "pegs_per_s": _r(handled / span, 4) if span else None,
    }
    out.update(_transport_keys(events, dish_start))
    return out


def timed_pegs_metrics(events: Sequence[Event], start_t: float, end_t: float | None,
                       dish_start: int | None = None) -> dict:
    """Timed-pegs metrics over the window: ``insert_times_s`` of every counted insert,
    the intervals between them (the first from the start), their CV, the longest pause
    and ``pegs_per_s`` over the window (None until it has passed)."""
    inserts = [e.t for e in events if isinstance(e, PegIn) and (end_t is None or e.t < end_t)]
    iv = intervals(inserts, start_t)
    pause, pause_at = longest_gap(_peg_times(events), start_t, end_t)
    out = {
        "insert_times_s": _rl(t - start_t for t in inserts),
        "insert_intervals_s": _rl(iv),
        "insert_interval_cv": cv(iv),
        "longest_pause_s": pause,
        "longest_pause_at_s": pause_at,
        "pegs_per_s": _r(len(inserts) / (end_t - start_t), 4) if end_t is not None and end_t > start_t else None,
    }
    out.update(_transport_keys(events, dish_start))
    return out


def coin_drop_metrics(events: Sequence[Event], start_t: float, coins: int) -> dict:
    """Coin-drop metrics from the tray counts. ``place_times_s[i]``: when the tray first
    held i+1 coins; ``pickup_times_s[i]``: when, after all were placed, it first held
    ``coins - i - 1`` or fewer. Per-coin intervals split each phase (the first runs from
    the start of the phase). ``coins_together``: tray changes of more than one coin at
    once (the protocol asks for one at a time)."""
    place: list[float] = []
    pickup: list[float] = []
    placed_t = None
    together = 0
    prev = None
    for ev in events:
        if not isinstance(ev, CellCount) or ev.cell != "tray":
            continue
        if prev is not None and abs(ev.count - prev) > 1:
            together += 1
        prev = ev.count
        if placed_t is None:
            while len(place) < min(ev.count, coins):
                place.append(ev.t)
            if ev.count >= coins:
                placed_t = ev.t
        else:
            while len(pickup) < min(coins - ev.count, coins):
                pickup.append(ev.t)
    place_iv = intervals(place, start_t)
    pick_iv = intervals(pickup, placed_t) if placed_t is not None else []
    return {
        "place_times_s": _rl(t - start_t for t in place),
        "pickup_times_s": _rl(t - start_t for t in pickup),
        "place_intervals_s": _rl(place_iv),
        "pickup_intervals_s": _rl(pick_iv),
        "place_interval_cv": cv(place_iv),
        "pickup_interval_cv": cv(pick_iv),
        "coins_together": together,
    }


#: a change of pace under this (percent, last third vs first) is reported as steady
STEADY_PACE_PCT = 10.0


def free_practice_metrics(rep_times: Sequence[float], start_t: float | None, end_t: float | None) -> dict:
    """Free-practice pace from the times reps were completed.

    ``reps_per_min`` over the session; ``pace_by_third_rpm``: reps per minute in each
    third of the session (a rep counts in the third it was completed in);
    ``reps_by_minute``: reps completed in each minute from the start (the last may be
    partial); ``pace_change_pct``: last third against the first; ``pace_trend``:
    ``faster``/``slower`` when that change reaches +/-10 %, else ``steady``;
    ``rep_intervals_s``: time per rep (the first from the start);
    ``rep_interval_slope_s``: least-squares slope of those against the rep number, in
    seconds per rep (positive: slowing down; needs three reps).
    """
    span = end_t - start_t if start_t is not None and end_t is not None else None
    reps = len(rep_times)
    out: dict[str, Any] = {"reps_per_min": None, "pace_by_third_rpm": None, "reps_by_minute": None,
           "pace_change_pct": None, "pace_trend": None, "rep_intervals_s": [],
           "rep_interval_slope_s": None}
    if start_t is None:
        return out
    iv = intervals(rep_times, start_t)
    out["rep_intervals_s"] = _rl(iv)
    out["rep_interval_slope_s"] = _slope(iv)
    if not span or span <= 0:
        return out
    out["reps_per_min"] = _r(reps / span * 60, 4)
    w = span / 3
    thirds = [0, 0, 0]
    minutes = [0] * max(1, math.ceil(span / 60))
    for t in rep_times:
        thirds[min(int((t - start_t) / w), 2)] += 1
        minutes[min(int((t - start_t) // 60), len(minutes) - 1)] += 1
    rpm = [c / w * 60 for c in thirds]
    out["pace_by_third_rpm"] = [round(x, 4) for x in rpm]
    out["reps_by_minute"] = minutes
    if rpm[0] > 0:
        change = (rpm[2] - rpm[0]) / rpm[0] * 100
        out["pace_change_pct"] = round(change, 2)
        out["pace_trend"] = ("faster" if change >= STEADY_PACE_PCT else
                             "slower" if change <= -STEADY_PACE_PCT else "steady")
    return out


def _slope(ys: Sequence[float]) -> float | None:
    n = len(ys)
    if n < 3:
        return None
    xs = range(1, n + 1)
    mx, my = fmean(xs), fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx, 4)
