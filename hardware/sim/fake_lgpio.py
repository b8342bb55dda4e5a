"""A fake of the lgpio module's GPIO calls, on a ``FakeGPIO`` board (and its HX711 chips).

``FakeLgpio(gpio)`` stands where ``import lgpio`` would be, so
``hardware.hx711_pins.LgpioGPIO`` (the Pi 5 backend) runs the real HX711
driver against the same simulated chips, in virtual time: every call costs
the board's ``call_cost_s``. It keeps lgpio's signatures
(``gpio_claim_output(handle, gpio, level=0, lFlags=0)``, ...), its flags, its
``error`` exception and messages for the failures the station can meet: a
chip that does not exist, a line claimed twice ("GPIO busy"), a line not
claimed ("GPIO not allocated"), a write to an input ("GPIO not an output").

Only gpiochips in ``chips`` (number -> label) exist; the default is a Pi 5
on a current kernel: gpiochip0 is the RP1 ("pinctrl-rp1").
"""
from __future__ import annotations

from hardware.sim.fake_gpio import FakeGPIO

LOW, HIGH = 0, 1
SET_ACTIVE_LOW = 4
SET_OPEN_DRAIN = 8
SET_OPEN_SOURCE = 16
SET_PULL_UP = 32
SET_PULL_DOWN = 64
SET_PULL_NONE = 128


class error(Exception):  # noqa: N801 - lgpio's own name
    """lgpio's exception (its messages are lgpio's error texts)."""


class FakeLgpio:
    """The GPIO part of the lgpio module over a ``FakeGPIO`` (which must not be used in BOARD mode)."""

    LOW, HIGH = LOW, HIGH
    SET_ACTIVE_LOW, SET_OPEN_DRAIN, SET_OPEN_SOURCE = SET_ACTIVE_LOW, SET_OPEN_DRAIN, SET_OPEN_SOURCE
    SET_PULL_UP, SET_PULL_DOWN, SET_PULL_NONE = SET_PULL_UP, SET_PULL_DOWN, SET_PULL_NONE
    error = error

    def __init__(self, gpio: FakeGPIO, chips: dict[int, str] | None = None) -> None:
        self.gpio = gpio
        self.chips = dict(chips) if chips is not None else {0: "pinctrl-rp1"}
        self._handles: dict[int, int] = {}  # handle -> chip number
        self._claimed: dict[int, int] = {}  # line -> handle
        self._outputs: set[int] = set()
        self._next = 0
        #: calls made, by name (tests and the benchmark count them)
        self.calls: dict[str, int] = {}
        if gpio.getmode() is None:
            gpio.setmode(gpio.BCM)
        elif gpio.getmode() != gpio.BCM:
            raise ValueError("FakeLgpio needs the FakeGPIO in BCM numbering")

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _check(self, handle: int, line: int | None = None) -> None:
        if handle not in self._handles:
            raise error("unknown handle")
        if line is not None and self._claimed.get(line) != handle:
            raise error("GPIO not allocated")

    # --- chips --------------------------------------------------------------

    def gpiochip_open(self, gpiochip: int) -> int:
        self._count("gpiochip_open")
        if gpiochip not in self.chips:
            raise error("can not open gpiochip")
        h = self._next
        self._next += 1
        self._handles[h] = gpiochip
        return h

    def gpiochip_close(self, handle: int) -> int:
        self._count("gpiochip_close")
        self._check(handle)
        for line in [ln for ln, h in self._claimed.items() if h == handle]:
            self.gpio_free(handle, line)
        del self._handles[handle]
        return 0

    def gpio_get_chip_info(self, handle: int) -> list:
        self._check(handle)
        n = self._handles[handle]
        return [0, 54, f"gpiochip{n}", self.chips[n]]

    # --- lines ----------------------------------------------------------------

    def gpio_claim_input(self, handle: int, gpio: int, lFlags: int = 0) -> int:  # noqa: N803 - lgpio's name
        self._count("gpio_claim_input")
        self._claim(handle, gpio)
        g = self.gpio
        pull = g.PUD_UP if lFlags & SET_PULL_UP else g.PUD_DOWN if lFlags & SET_PULL_DOWN else g.PUD_OFF
        g.setup(gpio, g.IN, pull_up_down=pull)
        return 0

    def gpio_claim_output(self, handle: int, gpio: int, level: int = 0, lFlags: int = 0) -> int:  # noqa: N803
        self._count("gpio_claim_output")
        self._claim(handle, gpio)
        self._outputs.add(gpio)
        self.gpio.setup(gpio, self.gpio.OUT, initial=1 if level else 0)
        return 0

    def _claim(self, handle: int, line: int) -> None:
        self._check(handle)
        if line in self._claimed:
            raise error("GPIO busy")
        if not 0 <= line <= 27:
            raise error("bad GPIO number")
        self._claimed[line] = handle

    def gpio_free(self, handle: int, gpio: int) -> int:
        self._count("gpio_free")
        self._check(handle, gpio)
        del self._claimed[gpio]
        self._outputs.discard(gpio)
        self.gpio.cleanup(gpio)
        return 0

    def gpio_read(self, handle: int, gpio: int) -> int:
        self.calls["gpio_read"] = self.calls.get("gpio_read", 0) + 1
        self._check(handle, gpio)
        return self.gpio.input(gpio)

    def gpio_write(self, handle: int, gpio: int, level: int) -> int:
        self.calls["gpio_write"] = self.calls.get("gpio_write", 0) + 1
        self._check(handle, gpio)
        if gpio not in self._outputs:
            raise error("GPIO not an output")
        self.gpio.output(gpio, 1 if level else 0)
        return 0
