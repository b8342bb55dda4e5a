"""Load-cell counting: the excursion rule, spikes, finger presses, a resting hand, sensor faults."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.loadcell import Calibration, LoadCellCounter

CAL = Calibration(offset=-13000.0, counts_per_gram=405.0, unit_g=5.67, sample_hz=80.0)
PERIOD = 1 / 80


def counts_for(units: float) -> int:
    return round(CAL.offset + units * CAL.unit_g * CAL.counts_per_gram)


def feed(counter, signal, t0, t1, rng=None, noise=0.0):
    """Sample ``signal(t)`` (units) at 80/s from t0 to t1; return accepted changes."""
    out = []
    t = t0
    while t < t1:
        u = signal(t) + (rng.uniform(-noise, noise) if rng else 0.0)
        c = counter.sample(t, counts_for(u))
        if c:
            out.append(c)
        t += PERIOD
    return out


def a_step_up(t):
    return 0.0 if t < 10.0 else 1.0


def an_impact_spike_then_settling(t):
    return 3.0 if t < 5.0 else (6.5 if t < 5.04 else 4.0)


def a_finger_press_before_the_lift(t):
    # a finger presses (+0.6) for 60 ms, passes back through the old band for
    # 40 ms (less than the 100 ms rest), then the peg leaves: onset is the press.
    if t < 2.0:
        return 9.0
    if t < 2.06:
        return 9.6
    if t < 2.10:
        return 9.0
    return 8.0


def a_bump_then_a_full_rest(t):
    # a bump, then a full rest of 300 ms (over the 100 ms rest): the excursion starts again at the lift
    if 2.0 <= t < 2.06:
        return 9.6
    if t >= 2.36:
        return 8.0
    return 9.0


@pytest.mark.parametrize("signal, before, after, onset", [
    pytest.param(a_step_up, 0, 1, 10.0, id="step-up-timed-at-the-first-sample-outside-the-band"),
    pytest.param(an_impact_spike_then_settling, 3, 4, 5.0, id="impact-spike-counts-once-from-the-spike"),
    pytest.param(a_finger_press_before_the_lift, 9, 8, 2.0, id="finger-press-keeps-the-excursion-start"),
    pytest.param(a_bump_then_a_full_rest, 9, 8, 2.36, id="a-100ms-rest-restarts-the-excursion"),
])
def test_one_change_is_timed_from_where_its_excursion_starts(signal, before, after, onset):
    c = LoadCellCounter(CAL, before)
    changes = feed(c, signal, onset - 1.0, onset + 1.0)
    assert [k for _, k in changes] == [after]
    assert onset <= changes[0][0] < onset + PERIOD


def test_change_needs_200ms_hold():
    c = LoadCellCounter(CAL, 0)
    # one unit for 150 ms then back: an excursion that returns to rest is no change
    assert feed(c, lambda t: 1.0 if 10.0 <= t < 10.15 else 0.0, 9.0, 11.0) == []
    assert c.count == 0


def test_resting_hand_is_no_change():
    # a hand wanders between +0.5 and +2.5 units with a 0.3 s period for 3 s
    def sig(t):
        if 1.0 <= t < 4.0:
            phase = ((t - 1.0) % 0.3) / 0.3
            return 0.5 + 2.0 * (2 * phase if phase < 0.5 else 2 - 2 * phase)
        return 0.0
    c = LoadCellCounter(CAL, 0)
    assert feed(c, sig, 0.0, 5.0) == []


def test_saturated_reading_is_a_fault_and_blocks_changes_until_normal():
    c = LoadCellCounter(CAL, 0)
    c.sample(1.0, counts_for(0))
    assert c.sample(1.0125, 8388607) is None
    assert c.pending_fault and "saturated" in c.pending_fault
    c.pending_fault = None
    for i in range(40):  # still saturated: no repeated fault, no change
        assert c.sample(1.025 + i * PERIOD, -8388608) is None
    assert c.pending_fault is None
    changes = feed(c, lambda t: 1.0, 2.0, 3.0)  # reads normally again, one coin on
    assert [k for _, k in changes] == [1]


def test_negative_units_never_count_below_zero():
    c = LoadCellCounter(CAL, 0)
    assert feed(c, lambda t: -1.0, 0.0, 2.0) == []


# --- properties -------------------------------------------------------------

@st.composite
def cell_story(draw):
    """A random sequence of real changes, spikes and hand presses on a noisy cell.

    Returns (signal, truth, end) with truth = [(onset, count)].
    """
    t = 1.0
    n = draw(st.integers(0, 4))
    start = n
    segs = []  # (t_from, kind, params)
    truth = []
    for _ in range(draw(st.integers(0, 8))):
        t += draw(st.floats(0.35, 1.5))  # rest at n (>= 100 ms + margins)
        kind = draw(st.sampled_from(["add", "remove", "spike", "hand", "press_then_remove"]))
        if kind == "remove" and n == 0:
            kind = "add"
        if kind == "press_then_remove" and n == 0:
            kind = "spike"
        if kind == "add":
            segs.append((t, "step", (n, n + 1, draw(st.floats(0.0, 0.04)))))  # optional impact spike
            n += 1
            truth.append((t, n))
            t += 0.3
        elif kind == "remove":
            segs.append((t, "step", (n, n - 1, 0.0)))
            n -= 1
            truth.append((t, n))
            t += 0.3
        elif kind == "press_then_remove":
            segs.append((t, "press", (n, n - 1)))
            n -= 1
            truth.append((t, n))
            t += 0.4
        elif kind == "spike":
            segs.append((t, "spike", (n, draw(st.floats(0.02, 0.15)))))
            t += 0.2
        else:
            segs.append((t, "hand", (n, draw(st.floats(0.5, 2.0)))))
            t += 2.2
    end = t + 0.6
    seed = draw(st.integers(0, 2**32 - 1))

    def signal(x):
        level = start
        for t0, k, p in segs:
            if x < t0:
                break
            if k == "step":
                a, b, spike = p
                level = (b + 2.5) if x < t0 + spike else b
            elif k == "press":
                a, b = p
                level = a + 0.7 if x < t0 + 0.05 else (a if x < t0 + 0.09 else b)
            elif k == "spike":
                a, dur = p
                level = a + 2.0 if x < t0 + dur else a
            else:
                a, dur = p
                if x < t0 + dur:
                    ph = ((x - t0) % 0.3) / 0.3
                    level = a + 0.5 + 2.0 * (2 * ph if ph < 0.5 else 2 - 2 * ph)
                else:
                    level = a
        return level

    return signal, truth, start, end, seed


@settings(max_examples=150, deadline=None)
@given(cell_story())
def test_property_counter_reports_exactly_the_changes_that_held(story):
    signal, truth, start, end, seed = story
    c = LoadCellCounter(CAL, start)
    changes = feed(c, signal, 0.5, end, random.Random(seed), noise=0.15)
    assert [k for _, k in changes] == [k for _, k in truth]
    for (got_t, _), (true_t, _) in zip(changes, truth, strict=True):
        assert true_t <= got_t + 1e-9 <= true_t + 2 * PERIOD
