"""An opener for ``hardware.cell_process`` in tests: fake HX711 chips in virtual time (in the child)."""
from __future__ import annotations

from hardware.sim.clock import VirtualClock
from hardware.sim.fake_gpio import FakeGPIO, FakeHX711

#: each cell's constant bridge signal, in counts at gain 128
SIGNAL = {"dish": 52000, "tray": -13000}


def open_fake(cells):
    clock = VirtualClock()
    gpio = FakeGPIO(clock)
    gpio.setmode(gpio.BCM)
    chips = [FakeHX711(gpio, dout, sck, sample_hz=hz, source=_constant(SIGNAL.get(name, 0)))
             for name, (dout, sck, hz) in cells.items()]
    gpio.chips = chips  # kept alive with the module
    return gpio, clock.now, clock.sleep


def open_broken(cells):
    raise OSError("no /dev/gpiomem here")


def _constant(counts: int):
    """A bridge signal that never changes (the chip's ``source(t)``)."""
    return lambda t: counts
