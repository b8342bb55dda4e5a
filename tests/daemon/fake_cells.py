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


class RealtimeStubChip:
    """An HX711 as cheap as Python allows, in real time: what the reader costs with a chip near C's cost.

    The RPi.GPIO calls the driver makes, on one chip: a conversion of a constant
    word every period; DOUT low while one waits, its bits on the falling
    clock edges, high after the 25th pulse. A clock held high over 60 us
    (the reset at open, or a pulse stretched by the machine) restarts it, and
    a word left half read for a period is dropped (a new conversion replaced
    it). tests/benchmarks/idle.py reads it in the reader process to measure
    the reader without the simulator's fake chips.
    """

    BCM, IN, OUT, LOW, HIGH, PUD_UP, PUD_OFF = 11, 1, 0, 0, 1, 22, 20

    def __init__(self, hz: float, word: int = 0x05A5A5) -> None:
        import time
        self._now = time.monotonic
        self.period = 1.0 / hz
        self.word = word
        self.ready_t = self._now() + self.period
        self.n = 0  # falling edges into the word
        self.sck = 0
        self.high_at = 0.0
        self.edge_t = 0.0  # the last falling edge

    def getmode(self):
        return self.BCM

    def setmode(self, mode) -> None:
        pass

    def setwarnings(self, flag) -> None:
        pass

    def setup(self, *args, **kwargs) -> None:
        pass

    def cleanup(self, *args) -> None:
        pass

    def output(self, channel: int, value: int) -> None:
        if value and not self.sck:
            self.high_at = self._now()
        elif not value and self.sck:
            now = self.edge_t = self._now()
            if now - self.high_at > 60e-6:  # powered down: back after a period
                self.n, self.ready_t = 0, now + self.period
            else:
                self.n += 1
        self.sck = value

    def input(self, channel: int) -> int:
        n = self.n
        if 0 < n < 25 and self._now() - self.edge_t > self.period:
            n = self.n = 0  # abandoned mid-word: a new conversion has replaced it
            self.ready_t = self.edge_t + self.period
        if n == 0:
            return 0 if self._now() >= self.ready_t else 1
        if n < 25:
            return (self.word >> (24 - n)) & 1
        self.n = 0  # the word is out: the next conversion a period after this one
        now, t = self._now(), self.ready_t + self.period
        while t <= now:
            t += self.period
        self.ready_t = t
        return 1


def open_stub_realtime(cells, backend="auto"):
    """Every cell on a ``RealtimeStubChip``, on the monotonic clock."""
    import time
    return "stub chips (real time)", {name: (RealtimeStubChip(hz), time.monotonic, time.sleep)
                                      for name, (dout, sck, hz) in cells.items()}
