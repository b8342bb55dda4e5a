"""Free practice's clock runs to now while practice goes on (a screen's timer must never run backwards)."""
from __future__ import annotations

import pytest

from station.protocols import make_protocol
from tests.protocols.helpers import pin, pout


def test_elapsed_keeps_running_between_reps_and_freezes_when_finished(board):
    p = make_protocol("free-practice", board)
    assert p.elapsed(5.0) == 0.0
    for ev in (pin(10.0, 1), pout(11.0, 1)):
        p.on_event(ev)
    shown = [p.elapsed(t) for t in (11.0, 12.5, 14.0)]
    assert shown == pytest.approx([1.0, 2.5, 4.0])  # between reps: still counting, never back
    p.on_event(pin(14.5, 2))
    assert p.elapsed(14.6) == pytest.approx(4.6)
    p.finish(20.0)
    assert p.elapsed(30.0) == pytest.approx(4.5)  # finished: frozen at the last event
    assert p.result()["total_s"] == pytest.approx(4.5)
