"""Openers for ``hardware.cell_process`` in tests: fake HX711 chips in virtual time (in the child).

Each cell gets its own fake board and virtual clock, as each real chip has its
own oscillator: the reader threads sleep on their clocks, and two threads
sleeping on one virtual clock would move each other's time mid-readout.
"""
from __future__ import annotations

from hardware.hx711_pins import LgpioGPIO, open_header_chip
from hardware.sim.clock import VirtualClock
from hardware.sim.fake_gpio import FakeGPIO, FakeHX711
from hardware.sim.fake_lgpio import FakeLgpio

#: each cell's constant bridge signal, in counts at gain 128
SIGNAL = {"dish": 52000, "tray": -13000}


def _board(name, dout, sck, hz, clock):
    gpio = FakeGPIO(clock)
    gpio.setmode(gpio.BCM)
    value = SIGNAL.get(name, 0)
    gpio.chip = FakeHX711(gpio, dout, sck, sample_hz=hz, source=_constant(value))
    return gpio


def open_fake(cells, backend="auto"):
    """Every cell on its own FakeGPIO and VirtualClock (the RPi.GPIO API)."""
    ports = {}
    for name, (dout, sck, hz) in cells.items():
        clock = VirtualClock()
        ports[name] = (_board(name, dout, sck, hz, clock), clock.now, clock.sleep)
    return "simulated", ports


def open_fake_lgpio(cells, backend="auto"):
    """Every cell on its own fake board, through the lgpio backend (as on a Pi 5)."""
    ports = {}
    for name, (dout, sck, hz) in cells.items():
        clock = VirtualClock()
        lg = FakeLgpio(_board(name, dout, sck, hz, clock))
        ports[name] = (LgpioGPIO(lg, open_header_chip(lg)), clock.now, clock.sleep)
    return "lgpio (simulated)", ports


def open_broken(cells, backend="auto"):
    raise OSError("no /dev/gpiomem here")


def _constant(counts: int):
    """A bridge signal that never changes (the chip's ``source(t)``)."""
    return lambda t: counts


class RealClock:
    """The monotonic clock as a fake board's clock: real time, which a call's cost advances by itself."""

    def __init__(self) -> None:
        import time
        self.now = time.monotonic
        self.sleep = time.sleep

    def advance(self, seconds: float) -> None:
        pass  # the time a call takes has passed by itself

    def set(self, t: float) -> None:
        pass


def open_fake_realtime(cells, backend="auto"):
    """Every cell on its own fake board in *real* time: the child polls and sleeps as on a Pi
    (tests/benchmarks/idle.py measures the reader process so)."""
    ports = {}
    for name, (dout, sck, hz) in cells.items():
        clock = RealClock()
        ports[name] = (_board(name, dout, sck, hz, clock), clock.now, clock.sleep)
    return "simulated (real time)", ports
