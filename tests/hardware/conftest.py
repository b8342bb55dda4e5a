"""Fixtures for the hardware tests. Names are prefixed by device so helpers
writing other tests here can add theirs without clashing."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from hardware.hx711 import HX711
from hardware.sim.clock import VirtualClock
from hardware.sim.fake_gpio import FakeGPIO, FakeHX711

HX_DOUT, HX_SCK = 22, 23


@dataclass
class HX711Rig:
    """A real HX711 driver on a FakeGPIO with one simulated chip, all in virtual time."""

    clock: VirtualClock
    gpio: FakeGPIO
    chip: FakeHX711
    driver: HX711


def _make_hx711_rig(source: Callable[[float], int] = lambda t: 0, *, sample_hz: float = 80,
                    start_t: float | None = None, call_cost_s: float = 1e-6,
                    clock: VirtualClock | None = None, **driver_kw) -> HX711Rig:
    clock = clock if clock is not None else VirtualClock()
    gpio = FakeGPIO(clock, call_cost_s=call_cost_s)
    chip = FakeHX711(gpio, HX_DOUT, HX_SCK, sample_hz=sample_hz, source=source, start_t=start_t)
    driver_kw.setdefault("clock", clock.now)
    driver_kw.setdefault("sleep", clock.sleep)
    driver = HX711(gpio, HX_DOUT, HX_SCK, sample_hz=sample_hz, **driver_kw)
    return HX711Rig(clock, gpio, chip, driver)


@pytest.fixture
def hx711_rig() -> Callable[..., HX711Rig]:
    """Factory: ``hx711_rig(source, sample_hz=80, clock=None, ...)`` -> a fresh HX711Rig (safe under hypothesis).

    Other keywords go to the driver (``sleep``, ``max_high_s``...).
    """
    return _make_hx711_rig
