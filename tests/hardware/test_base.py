"""hardware.base.Hardware: two required members, defaults for the rest (the daemon calls them all)."""
from __future__ import annotations

import pytest

from hardware.base import DEFAULT_LATENCY_S, Hardware
from hardware.live import LiveHardware
from hardware.sim.hardware import SimulatedHardware


class _Minimal(Hardware):
    """Only what is required, on a clock the test sets."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def start(self, on_record) -> None:
        pass

    def stop(self) -> None:
        pass


def test_hardware_without_start_and_stop_cannot_be_made():
    class NoStop(Hardware):
        def start(self, on_record) -> None:
            pass

    with pytest.raises(TypeError, match="stop"):
        NoStop()  # type: ignore[abstract]


def test_the_defaults_describe_prompt_real_hardware_with_no_patient_to_tell():
    hw = _Minimal()
    assert hw.simulated is False and hw.speed == 1.0 and hw.latency_s == DEFAULT_LATENCY_S
    # every record up to one latency ago has arrived, on the hardware's own clock
    assert hw.complete_to() == pytest.approx(100.0 - DEFAULT_LATENCY_S)
    hw.now = 130.0
    assert hw.complete_to() == pytest.approx(130.0 - DEFAULT_LATENCY_S)
    hw.sync()
    hw.trial_started("nine-hole-peg", {}, "right")
    hw.waiting_for_start("coin-drop", {}, "left")
    hw.waiting_for_start(None, {}, None)
    hw.trial_ended()


def test_the_live_and_simulated_hardware_are_hardware():
    assert issubclass(LiveHardware, Hardware) and issubclass(SimulatedHardware, Hardware)
    assert SimulatedHardware.simulated and not LiveHardware.simulated
