"""The debouncer: first edge of a burst, glitches, chatter; and properties under random bounce."""
from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from station.debounce import Debouncer

SETTLE = 0.010


def run(edges, end=None, initial=1):
    """Feed (t, level) edges; return confirmed changes and chatter starts."""
    d = Debouncer(SETTLE, initial)
    changes, chatter = [], []
    for t, level in edges:
        c, ch = d.edge(t, level)
        if c:
            changes.append(c)
        if ch is not None:
            chatter.append(ch)
    c = d.advance(end) if end is not None else d.finish()
    if c:
        changes.append(c)
    return changes, chatter


def test_change_is_timed_at_first_edge_of_burst():
    edges = [(1.0000, 0), (1.0004, 1), (1.0011, 0), (1.0019, 1), (1.0030, 0)]
    assert run(edges, end=1.5) == ([(1.0, 0)], [])


def test_not_confirmed_before_settle():
    d = Debouncer(SETTLE, 1)
    d.edge(1.0, 0)
    assert d.advance(1.0099) is None
    assert d.advance(1.0100) == (1.0, 0)


def test_glitch_back_to_old_level_is_no_change():
    assert run([(2.0, 0), (2.003, 1)], end=3.0) == ([], [])


def test_short_glitch_before_a_real_change_does_not_move_its_time():
    # glitch at 1.0 settles back (held 50 ms), then the real change at 1.1
    changes, _ = run([(1.0, 0), (1.002, 1), (1.1, 0), (1.1005, 1), (1.101, 0)], end=2.0)
    assert changes == [(1.1, 0)]


def test_repeated_level_is_not_an_edge():
    assert run([(1.0, 0), (1.02, 0), (1.05, 1)], end=2.0)[0] == [(1.0, 0), (1.05, 1)]


def test_chatter_over_one_second_is_reported_once():
    edges = [(1.0 + i * 0.005, 0 if i % 2 == 0 else 1) for i in range(300)]  # 1.5 s of 5 ms edges
    changes, chatter = run(edges, end=5.0)
    assert chatter == [1.0]
    # it settles at the last level (index 299 -> level 1 == initial): no change
    assert changes == []


def test_chatter_that_settles_at_new_level_still_changes_at_burst_start():
    edges = [(1.0 + i * 0.005, 0 if i % 2 == 0 else 1) for i in range(251)]  # ends at 0
    changes, chatter = run(edges, end=5.0)
    assert chatter == [1.0]
    assert changes == [(1.0, 0)]


# --- properties -------------------------------------------------------------

gap = st.floats(min_value=SETTLE * 1.05, max_value=0.5)
spacing = st.floats(min_value=1e-5, max_value=SETTLE * 0.95)


@st.composite
def bouncy_switch(draw):
    """Random true changes, each with a bounce burst, with glitches in between.

    Returns (edges, true changes) where a true change is (time of its first edge, level).
    """
    t = 10.0
    level = 1
    edges, truth = [], []
    for _ in range(draw(st.integers(0, 12))):
        t += draw(gap)
        if draw(st.booleans()):  # a real change with bounce: odd number of toggles
            toggles = 2 * draw(st.integers(0, 6)) + 1
            new = 1 - level
        else:  # a glitch: even number of toggles, back to the old level
            toggles = 2 * draw(st.integers(1, 6))
            new = level
        start = t
        cur = level
        for i in range(toggles):
            if i:
                t += draw(spacing)
            cur = 1 - cur
            edges.append((t, cur))
        assert cur == new
        if new != level:
            truth.append((start, new))
        level = new
    return edges, truth


@settings(max_examples=300, deadline=None)
@given(bouncy_switch())
def test_property_debounced_changes_equal_true_changes(case):
    edges, truth = case
    changes, chatter = run(edges)
    assert changes == truth  # exact times, none invented, none lost
    assert chatter == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e-2), st.integers(0, 1)), max_size=200))
def test_property_arbitrary_edges_never_crash_and_alternate(raw):
    t = 0.0
    d = Debouncer(SETTLE, 1)
    out = []
    for dt, level in raw:
        t += dt
        c, _ = d.edge(t, level)
        if c:
            out.append(c)
    c = d.finish()
    if c:
        out.append(c)
    # confirmed levels alternate, start from a change away from 1, times never go back
    assert all(a[1] != b[1] for a, b in pairwise(out))
    assert not out or out[0][1] == 0
    assert all(a[0] <= b[0] for a, b in pairwise(out))
