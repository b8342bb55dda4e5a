"""Coin drop: a tray count moving against its phase is reported, not silently ignored."""
from __future__ import annotations

import pytest

from station.protocols import make_protocol
from tests.protocols.helpers import press, run, tray


def test_a_coin_knocked_off_while_placing_is_an_incident(board):
    evs = [press(50.0), tray(51.0, 1), tray(52.0, 2), tray(53.0, 3), tray(53.4, 2),  # one fell off
           tray(54.0, 3), tray(55.0, 4), tray(56.0, 3), tray(57.0, 2), tray(58.0, 1), tray(59.0, 0)]
    r = run(make_protocol("coin-drop", board, {"coins": 4}), evs)
    assert r["status"] == "complete" and r["total_s"] == pytest.approx(9.0)
    assert [(i["t"], i["kind"]) for i in r["incidents"]] == [(53.4, "coin_off_tray")]
    assert "3 -> 2" in r["incidents"][0]["detail"] and "knocked off" in r["incidents"][0]["detail"]


def test_a_coin_put_back_while_picking_up_is_an_incident(board):
    evs = [press(50.0), tray(51.0, 1), tray(52.0, 2), tray(53.0, 1), tray(53.5, 2), tray(54.0, 1), tray(55.0, 0)]
    r = run(make_protocol("coin-drop", board, {"coins": 2}), evs)
    assert [(i["t"], i["kind"]) for i in r["incidents"]] == [(53.5, "coin_back_on_tray")]


def test_a_clean_run_has_no_incidents_and_the_phase_follows_the_tray(board):
    p = make_protocol("coin-drop", board, {"coins": 2})
    assert p.phase == "placing"
    for ev in (press(50.0), tray(51.0, 1), tray(52.0, 2)):
        p.on_event(ev)
    assert p.phase == "pickup"
    r = run(p, [tray(53.0, 1), tray(54.0, 0)])
    assert r["incidents"] == [] and r["status"] == "complete"
