"""The GPIO the HX711 driver clocks its chips with, chosen by Raspberry Pi model.

``hardware.hx711.HX711`` speaks a small part of the RPi.GPIO API (setmode,
setup, input, output, cleanup and their constants). Two backends give it:

* ``rpi-gpio``: the RPi.GPIO module itself, on a Pi 3, 4 or Zero 2 W. It
  writes the SoC's GPIO registers through /dev/gpiomem: a pulse costs two C
  calls.
* ``lgpio``: ``LgpioGPIO`` below, the same small API on lgpio's
  ``gpio_write``/``gpio_read`` on lines claimed once at setup. On a Pi 5
  RPi.GPIO cannot reach the GPIO (it sits on the RP1 chip), and the rpi-lgpio
  shim's ``output()`` does two ioctls plus Python per call: measured at
  120-250 us for out+in+out on a Zero 2 W, past the HX711's 50 us high
  limit. Here a write is one lgpio call (one ioctl), bound without a Python
  frame of ours. docs/hx711-on-pi5.md weighs this against the kernel's IIO
  hx711 driver and says what was not measured on a Pi 5.

``backend = "auto"`` in ``[hx711]`` of station.toml reads the board's model
from the device tree: lgpio on a Pi 5 (or Compute Module 5), RPi.GPIO on any
other; "rpi-gpio" or "lgpio" force one.
"""
from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any

from hardware.rpi_gpio_constants import RPiGPIOConstants
from station.config import HX711_BACKENDS

MODEL_FILES = ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model")
#: gpiochip labels of the 40-pin header's GPIO: RP1 (Pi 5), BCM2711 (Pi 4), BCM2835/7 (Pi 3, Zero 2 W)
HEADER_CHIP_LABELS = ("pinctrl-rp1", "pinctrl-bcm2711", "pinctrl-bcm2835")
#: gpiochip numbers to look at: 0 on current kernels, 4 for the Pi 5's RP1 on kernels before 6.6.45
CHIPS_TO_TRY = (0, 4, 1, 2, 3, 5)


class BackendError(RuntimeError):
    """The HX711 backend cannot be opened (missing library, no GPIO chip); the message says why."""


def pi_model(files: tuple[str, ...] = MODEL_FILES) -> str:
    """The board's model string, e.g. "Raspberry Pi 5 Model B Rev 1.0"; "" off a Pi."""
    for f in files:
        try:
            return Path(f).read_bytes().rstrip(b"\0\n").decode("ascii", "replace")
        except OSError:
            continue
    return ""


def choose_backend(setting: str, model: str) -> str:
    """``setting`` from station.toml ("auto", "rpi-gpio", "lgpio") -> the backend to use."""
    if setting not in HX711_BACKENDS:
        raise ValueError(f"unknown HX711 backend {setting!r} (one of {', '.join(HX711_BACKENDS)})")
    if setting != "auto":
        return setting
    return "lgpio" if ("Raspberry Pi 5" in model or "Compute Module 5" in model) else "rpi-gpio"


class LgpioGPIO(RPiGPIOConstants):
    """The RPi.GPIO subset the HX711 driver uses, on lgpio lines claimed at ``setup``.

    ``lgpio`` is the lgpio module (or ``hardware.sim.fake_lgpio.FakeLgpio``);
    ``handle`` an open gpiochip handle. BCM numbers are the chip's line
    offsets on every Pi. ``output``/``input`` are lgpio's own functions with
    the handle bound (``functools.partial``), so a pulse adds no Python frame
    of ours to lgpio's.
    """

    def __init__(self, lgpio: Any, handle: int) -> None:
        self._lg = lgpio
        self.handle = handle
        self._claimed: set[int] = set()
        self._pull = {self.PUD_UP: lgpio.SET_PULL_UP, self.PUD_DOWN: lgpio.SET_PULL_DOWN,
                      self.PUD_OFF: getattr(lgpio, "SET_PULL_NONE", 0)}
        self.output = functools.partial(lgpio.gpio_write, handle)
        self.input = functools.partial(lgpio.gpio_read, handle)

    def getmode(self) -> int:
        return self.BCM

    def setmode(self, mode: int) -> None:
        if mode != self.BCM:
            raise ValueError("the lgpio backend numbers pins by BCM GPIO only")

    def setwarnings(self, flag: bool) -> None:
        pass

    def setup(self, channel: int, direction: int,
              pull_up_down: int = RPiGPIOConstants.PUD_OFF, initial: int | None = None) -> None:
        """Claim ``channel`` as an input (with its pull) or an output (at ``initial``, default low)."""
        lg = self._lg
        if channel in self._claimed:
            lg.gpio_free(self.handle, channel)
            self._claimed.discard(channel)
        if direction == self.OUT:
            lg.gpio_claim_output(self.handle, channel, 1 if initial else 0)
        elif direction == self.IN:
            lg.gpio_claim_input(self.handle, channel, self._pull[pull_up_down])
        else:
            raise ValueError("An invalid direction was passed to setup()")
        self._claimed.add(channel)

    def cleanup(self, channel: int | list[int] | tuple[int, ...] | None = None) -> None:
        """Free ``channel`` (a list, or every claimed line without one)."""
        chans = list(self._claimed) if channel is None else (
            list(channel) if isinstance(channel, (list, tuple)) else [channel])
        for ch in chans:
            if ch in self._claimed:
                self._claimed.discard(ch)
                self._lg.gpio_free(self.handle, ch)

    def close(self) -> None:
        """Free every line and close the chip."""
        self.cleanup()
        self._lg.gpiochip_close(self.handle)


def open_header_chip(lgpio: Any, chips: tuple[int, ...] = CHIPS_TO_TRY) -> int:
    """A handle on the gpiochip that drives the 40-pin header (found by its label)."""
    seen = []
    for n in chips:
        try:
            h = lgpio.gpiochip_open(n)
        except lgpio.error:
            continue
        label = str(lgpio.gpio_get_chip_info(h)[3])
        if label in HEADER_CHIP_LABELS:
            return h
        seen.append(f"gpiochip{n} ({label})")
        lgpio.gpiochip_close(h)
    raise BackendError("no GPIO chip for the 40-pin header found"
                       + (f" (saw {', '.join(seen)})" if seen else " (no /dev/gpiochip* could be opened)"))


def open_backend(name: str, *, lgpio: Any = None) -> Any:
    """The GPIO module (RPi.GPIO) or object (``LgpioGPIO``) for backend ``name``, in BCM numbering.

    ``lgpio`` replaces the lgpio module (tests pass ``FakeLgpio``).
    """
    if name == "rpi-gpio":
        try:
            import RPi.GPIO as gpio
        except Exception as e:  # ImportError off a Pi, RuntimeError on a board it does not know
            raise BackendError(f"cannot load RPi.GPIO for the load cells ({e.__class__.__name__}: {e}); "
                               "install RPi.GPIO, or set [hx711] backend = \"lgpio\"") from None
        gpio.setmode(gpio.BCM)
        gpio.setwarnings(False)
        return gpio
    if name == "lgpio":
        lg = lgpio
        if lg is None:
            try:
                lg = importlib.import_module("lgpio")
            except Exception as e:
                raise BackendError(f"cannot load lgpio for the load cells ({e.__class__.__name__}: {e}); "
                                   "install python3-lgpio") from None
        return LgpioGPIO(lg, open_header_chip(lg))
    raise ValueError(f"unknown HX711 backend {name!r}")


def close_backend(gpio: Any) -> None:
    """Release what ``open_backend`` opened (RPi.GPIO keeps its module state: nothing to do)."""
    close = getattr(gpio, "close", None)
    if callable(close):
        close()
