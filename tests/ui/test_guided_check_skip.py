"""The self-test walk never sticks: a hands-on step can be skipped (a simulated station has no hands)."""
from __future__ import annotations

from station.ui.view.guided_check import GuidedCheckWalk


def sensors(closed: set[int]) -> dict:
    return {"switches": [{"name": f"hole {i}", "closed": i in closed} for i in (1, 2)] +
                        [{"name": "button start", "closed": False}], "cells": {}}


def test_a_skipped_step_is_marked_and_the_walk_goes_on_to_the_end():
    walk = GuidedCheckWalk(holes=2, cells=[], buttons=["start"], daemon_steps=["switches"])
    walk.skip()  # a station check is the daemon's to answer: no skipping it
    assert walk.current.key == "daemon:switches"
    walk.daemon_result("switches", True, "every switch is open")
    assert walk.current.key == "hole:1"
    walk.skip()
    assert [(s.key, s.state, s.detail) for s in walk.steps[1:2]] == [("hole:1", "failed", "skipped, not checked")]
    walk.feed(sensors(set()))
    walk.feed(sensors({2}))
    assert walk.current.key == "button:start"  # hole 2 checked as usual after the skip
    walk.skip()
    assert walk.finished
