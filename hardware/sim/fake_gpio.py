"""An RPi.GPIO-compatible fake module with simulated HX711 chips on its pins.

``FakeGPIO`` stands where ``RPi.GPIO`` (or the rpi-lgpio shim) would be
injected, so the real ``hardware.hx711.HX711`` driver runs unchanged on any
machine. It keeps RPi.GPIO's constants, its numbering modes and its errors
(RuntimeError for a pin not set up or not an output, ValueError for a bad
argument). Time is virtual: every GPIO call advances a
``hardware.sim.clock.VirtualClock`` by ``call_cost_s``, so pulse widths the driver
measures are real durations in virtual time.

``FakeHX711`` answers PD_SCK pulses bit by bit as the datasheet describes:
a conversion becomes ready every 1/sample_hz (DOUT low); each rising edge
shifts out one bit, MSB first; the 25th pulse pulls DOUT high; 25/26/27 pulses
in all select gain 128/32/64 for the next conversion; PD_SCK high for more
than 60 us powers the chip down (DOUT high, no conversions) and PD_SCK low
again wakes it at gain 128 after a settling time of four sample periods
(50 ms at 80 SPS, 400 ms at 10 SPS); after a gain change the conversions of
the same settling time still hold the old gain's value. A readout that runs
past the next conversion is cut off by it: later pulses shift out the new
conversion, so a driver that does not notice reads a shifted value. Faults
can be injected: ``unplugged``, ``saturate``, ``dout_stuck_low`` (DOUT
shorted to GND), ``stretch_next_high`` (a thread switch while PD_SCK is high)
and ``pause_readouts`` (one while PD_SCK is low, mid-readout).

Written for one thread (the simulator and tests drive it in virtual time).
"""
from __future__ import annotations

import math
from collections.abc import Callable

from hardware.hx711 import POWER_DOWN_S, SETTLE_PERIODS
from hardware.rpi_gpio_constants import RPiGPIOConstants
from hardware.sim.clock import VirtualClock

# physical pin -> BCM GPIO on the 40-pin header, for BOARD numbering
_BOARD_TO_BCM = {
    3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24,
    19: 10, 21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12,
    33: 13, 35: 19, 36: 16, 37: 26, 38: 20, 40: 21,
}

_MIN_COUNTS, _MAX_COUNTS = -0x800000, 0x7FFFFF


class _Pin:
    __slots__ = ("direction", "pull", "level")

    def __init__(self, direction: int, pull: int, level: int) -> None:
        self.direction = direction
        self.pull = pull
        self.level = level


class FakeGPIO(RPiGPIOConstants):
    """A stand-in for the ``RPi.GPIO`` module (BCM or BOARD numbering).

    Input pins read the device wired to them (``FakeHX711``) or else their
    pull (PUD_UP reads 1, PUD_DOWN and PUD_OFF read 0).
    """

    def __init__(self, clock: VirtualClock | None = None, call_cost_s: float = 1e-6) -> None:
        self.clock = clock if clock is not None else VirtualClock()
        self.call_cost_s = call_cost_s
        self._mode: int | None = None
        self._pins: dict[int, _Pin] = {}
        self._drivers: dict[int, Callable[[float], int]] = {}  # BCM -> level source
        self._listeners: dict[int, list[Callable[[float, int], None]]] = {}
        self._levels: dict[int, int] = {}  # last level driven on each BCM pin (kept across cleanup)
        self._stall_s = 0.0
        self.warnings = True

    # --- wiring (used by the simulated devices) ----------------------------

    def wire_input(self, gpio: int, level: Callable[[float], int]) -> None:
        """A device drives BCM ``gpio``; ``level(t)`` is what the pin reads at time t."""
        if gpio in self._drivers:
            raise ValueError(f"GPIO {gpio} is already driven by another device")
        self._drivers[gpio] = level

    def wire_output(self, gpio: int, on_change: Callable[[float, int], None]) -> None:
        """A device listens to BCM ``gpio``; ``on_change(t, level)`` on every level change."""
        self._listeners.setdefault(gpio, []).append(on_change)

    def stall_next_call(self, seconds: float) -> None:
        """The next GPIO call starts ``seconds`` of virtual time late (its thread was switched out)."""
        self._stall_s += seconds

    def level_of(self, gpio: int) -> int:
        """The level an output last drove on BCM ``gpio`` (LOW if never driven)."""
        return self._levels.get(gpio, 0)

    # --- the RPi.GPIO API ------------------------------------------------

    def setmode(self, mode: int) -> None:
        self._tick()
        if mode not in (self.BCM, self.BOARD):
            raise ValueError("An invalid mode was passed to setmode()")
        if self._mode is not None and mode != self._mode:
            raise ValueError("A different mode has already been set!")
        self._mode = mode

    def getmode(self) -> int | None:
        return self._mode

    def setwarnings(self, flag: bool) -> None:
        self.warnings = bool(flag)

    def setup(self, channel, direction: int,
              pull_up_down: int = RPiGPIOConstants.PUD_OFF, initial: int | None = None) -> None:
        self._tick()
        if direction not in (self.IN, self.OUT):
            raise ValueError("An invalid direction was passed to setup()")
        if direction == self.OUT and pull_up_down != self.PUD_OFF:
            raise ValueError("pull_up_down parameter is not valid for outputs")
        if direction == self.IN and initial is not None:
            raise ValueError("initial parameter is not valid for inputs")
        if pull_up_down not in (self.PUD_OFF, self.PUD_DOWN, self.PUD_UP):
            raise ValueError("Invalid value for pull_up_down - should be either PUD_OFF, PUD_UP or PUD_DOWN")
        for ch in self._channels(channel):
            bcm = self._bcm(ch)
            if direction == self.OUT:
                self._pins[bcm] = _Pin(self.OUT, self.PUD_OFF, self.level_of(bcm))
                if initial is not None:
                    self._drive(bcm, 1 if initial else 0)
            else:
                self._pins[bcm] = _Pin(self.IN, pull_up_down, 0)

    def input(self, channel: int) -> int:
        self._tick()
        bcm = self._bcm(channel)
        pin = self._pins.get(bcm)
        if pin is None:
            raise RuntimeError("You must setup() the GPIO channel first")
        if pin.direction == self.OUT:
            return pin.level  # RPi.GPIO reads back an output's level
        src = self._drivers.get(bcm)
        if src is not None:
            return src(self.clock.now())
        return 1 if pin.pull == self.PUD_UP else 0

    def output(self, channel, value) -> None:
        self._tick()
        if type(channel) is int:  # the common case, kept short: the simulator clocks 50 edges a reading
            pin = self._pins.get(self._bcm(channel))
            if pin is None or pin.direction != self.OUT:
                raise RuntimeError("The GPIO channel has not been set up as an OUTPUT")
            self._drive(self._bcm(channel), 1 if value else 0)
            return
        chans = self._channels(channel)
        values = list(value) if isinstance(value, (list, tuple)) else [value] * len(chans)
        if len(values) != len(chans):
            raise RuntimeError("Number of channels != number of values")
        for ch, v in zip(chans, values, strict=True):
            bcm = self._bcm(ch)
            pin = self._pins.get(bcm)
            if pin is None or pin.direction != self.OUT:
                raise RuntimeError("The GPIO channel has not been set up as an OUTPUT")
            self._drive(bcm, 1 if v else 0)

    def cleanup(self, channel=None) -> None:
        """Return channels (all, without an argument) to unconfigured inputs."""
        if channel is None:
            self._pins.clear()
            self._mode = None
            return
        for ch in self._channels(channel):
            self._pins.pop(self._bcm(ch), None)

    # --- internals -------------------------------------------------------

    def _tick(self) -> None:
        if self._stall_s:
            self.clock.advance(self._stall_s)
            self._stall_s = 0.0
        self.clock.advance(self.call_cost_s)

    def _drive(self, bcm: int, level: int) -> None:
        self._pins[bcm].level = level
        if self._levels.get(bcm, 0) != level:
            self._levels[bcm] = level
            listeners = self._listeners.get(bcm)
            if listeners:
                t = self.clock.now()
                for listener in listeners:
                    listener(t, level)

    @staticmethod
    def _channels(channel) -> list:
        return list(channel) if isinstance(channel, (list, tuple)) else [channel]

    def _bcm(self, channel) -> int:
        if self._mode == self.BCM and type(channel) is int and 0 <= channel <= 27:
            return channel
        if self._mode is None:
            raise RuntimeError("Please set pin numbering mode using GPIO.setmode(GPIO.BOARD) or GPIO.setmode(GPIO.BCM)")
        if not isinstance(channel, int) or isinstance(channel, bool):
            raise ValueError("Channel must be an integer or list/tuple of integers")
        if self._mode == self.BCM:
            if 0 <= channel <= 27:
                return channel
        elif channel in _BOARD_TO_BCM:
            return _BOARD_TO_BCM[channel]
        raise ValueError("The channel sent is invalid on a Raspberry Pi")


def _gain_for(pulses: int) -> int:
    return 128 if pulses == 25 else 32 if pulses == 26 else 64


class FakeHX711:
    """A simulated HX711 wired to ``dout`` and ``pd_sck`` (BCM) of a ``FakeGPIO``.

    ``source(t)`` is the bridge signal at time ``t`` in counts at gain 128; a
    conversion ready at ``t`` holds ``source(t) * gain / 128``, clamped to
    24 bits. The chip is powered on at ``start_t``; by default it has been
    running long enough that a conversion is ready at once.

    Faults: ``unplugged`` (the connector is out: DOUT reads high, the chip sees
    no pulses; plugging it back in powers it up and it settles again),
    ``saturate`` (every conversion reads 0x7FFFFF), ``dout_stuck_low`` (DOUT
    reads low whatever the chip does), ``stretch_next_high`` and
    ``pause_readouts``.
    """

    def __init__(self, gpio: FakeGPIO, dout: int, pd_sck: int, *, sample_hz: float = 80,
                 source: Callable[[float], int], start_t: float | None = None) -> None:
        if not sample_hz > 0:
            raise ValueError(f"sample_hz must be positive, not {sample_hz!r}")
        self.gpio = gpio
        self.clock = gpio.clock
        self.dout = dout
        self.pd_sck = pd_sck
        self.sample_hz = float(sample_hz)
        self.period = 1.0 / self.sample_hz
        self.settle_s = SETTLE_PERIODS * self.period
        self.source = source
        self.saturate = False
        #: DOUT shorted to GND: it reads low whatever the chip drives
        self.dout_stuck_low = False
        self._unplugged = False
        self._stretch: list[tuple[int, float]] = []  # (rising edges to skip, seconds)
        self._pause: tuple[float, int, int] | None = None  # (seconds, after pulse, readouts left)
        self._old_gain = 128  # the gain before the last change: conversions until _settled_at use it
        self._settled_at = -math.inf
        self._last_pulse_t = -math.inf
        #: power-ups (at creation, after a power-down or reset, after being plugged back in)
        self.power_ups = 0
        self._sck_high_since: float | None = None
        #: readouts started (first PD_SCK rising edge on a ready conversion)
        self.readouts = 0
        self._power_on(self.clock.now() - self.settle_s if start_t is None else start_t)
        if gpio.level_of(pd_sck):
            self._sck_high_since = self.clock.now()
        gpio.wire_input(dout, self._dout_level)
        gpio.wire_output(pd_sck, self._on_sck)

    # --- state seen by tests and the simulator ----------------------------

    @property
    def powered(self) -> bool:
        """False while powered down (PD_SCK held high) or unplugged."""
        self._update(self.clock.now())
        return self._powered and not self._unplugged

    @property
    def gain(self) -> int:
        """The gain the next conversion will use (as far as the pulses given so far say)."""
        self._update(self.clock.now())
        if self._reading and self._pulses >= 25:
            return _gain_for(self._pulses)
        return self._gain

    @property
    def last_conversion_t(self) -> float | None:
        """When the conversion last shifted out became ready (None before the first)."""
        return None if self._latched_k < 0 else self._t0 + self._latched_k * self.period

    def next_ready_t(self) -> float | None:
        """When the next unread conversion is (or was) ready; None while powered down or unplugged."""
        now = self.clock.now()
        self._update(now)
        if not self._powered or self._unplugged:
            return None
        return self._t0 + max(self._latched_k + 1, 0) * self.period

    # --- fault injection --------------------------------------------------

    @property
    def unplugged(self) -> bool:
        return self._unplugged

    @unplugged.setter
    def unplugged(self, value: bool) -> None:
        value = bool(value)
        if self._unplugged and not value:
            now = self.clock.now()
            self._power_on(now)
            self._sck_high_since = now if self.gpio.level_of(self.pd_sck) else None
        self._unplugged = value

    def stretch_next_high(self, seconds: float, *, skip: int = 0) -> None:
        """Stretch a coming PD_SCK high pulse by ``seconds`` of virtual time.

        Models the driver thread being switched out while PD_SCK is high:
        after ``skip`` more rising edges, the next one advances the clock by
        ``seconds`` before the driver's next call returns.
        """
        self._stretch.append((skip, seconds))

    def pause_readouts(self, seconds: float, *, after_pulse: int = 12, count: int = 1) -> None:
        """Pause the next ``count`` readouts for ``seconds`` after their pulse ``after_pulse`` (1-25).

        Models the driver thread being switched out between two pulses of a
        readout (PD_SCK low, so the chip stays up): the GPIO call after that
        pulse's falling edge starts ``seconds`` late. A readout is the chip's:
        one that a new conversion cut into counts again from its first pulse.
        ``count=0`` cancels.
        """
        if not 1 <= after_pulse <= 25:
            raise ValueError(f"after_pulse must be 1 to 25, not {after_pulse!r}")
        self._pause = (seconds, after_pulse, count) if count > 0 else None

    # --- the chip ---------------------------------------------------------

    def _power_on(self, t: float) -> None:
        self.power_ups += 1
        self._powered = True
        self._gain = 128  # reset: channel A, gain 128
        self._settled_at = -math.inf  # no conversion before settling: nothing holds an old gain
        self._t0 = t + self.settle_s  # first conversion after settling
        self._latched_k = -1
        self._reading = False
        self._pulses = 0
        self._data = 0

    def _latest_k(self, t: float) -> int:
        """Index of the latest conversion ready at ``t`` (-1 if none yet)."""
        if t < self._t0:
            return -1
        # A hair of tolerance so a conversion due exactly now counts as ready.
        return math.floor((t - self._t0) * self.sample_hz + 1e-9)

    def _update(self, t: float) -> None:
        if self._powered and self._sck_high_since is not None and t - self._sck_high_since > POWER_DOWN_S:
            self._powered = False
            self._reading = False
        if self._reading and self._latest_k(t) > self._latched_k:
            # The next conversion arrived: the readout is over. Its pulse
            # count chose the gain of this and later conversions; a readout
            # cut short (< 25 pulses) leaves the gain as it was.
            if self._pulses >= 25 and _gain_for(self._pulses) != self._gain:
                # Datasheet: the output settles 4 periods after a gain change.
                self._old_gain = self._gain
                self._gain = _gain_for(self._pulses)
                self._settled_at = self._last_pulse_t + self.settle_s
            self._reading = False

    def _conversion(self, k: int) -> int:
        if self.saturate:
            return _MAX_COUNTS
        t = self._t0 + k * self.period
        gain = self._gain if t >= self._settled_at else self._old_gain
        v = round(self.source(t) * gain / 128)
        return min(max(v, _MIN_COUNTS), _MAX_COUNTS)

    def _dout_level(self, t: float) -> int:
        if self.dout_stuck_low:
            return 0
        if self._unplugged:
            return 1
        self._update(t)
        if not self._powered:
            return 1
        if self._reading:
            n = self._pulses
            return 1 if n >= 25 or n == 0 else (self._data >> (24 - n)) & 1
        return 0 if self._latest_k(t) > self._latched_k else 1

    def _on_sck(self, t: float, level: int) -> None:
        if self._unplugged:
            self._sck_high_since = t if level else None
            return
        self._update(t)
        if level:
            self._sck_high_since = t
            if self._powered:
                self._rising(t)
            self._maybe_stretch()
            return
        self._sck_high_since = None
        if not self._powered:
            self._power_on(t)  # PD_SCK low wakes the chip: reset, then settle
        self._maybe_pause()

    def _rising(self, t: float) -> None:
        self._last_pulse_t = t
        if self._reading:
            self._pulses += 1
            return
        k = self._latest_k(t)
        if k <= self._latched_k:
            return  # no conversion ready: the pulse shifts nothing out
        self._latched_k = k
        self._data = self._conversion(k) & 0xFFFFFF
        self._reading = True
        self._pulses = 1
        self.readouts += 1

    def _maybe_stretch(self) -> None:
        if not self._stretch:
            return
        skip, seconds = self._stretch[0]
        if skip > 0:
            self._stretch[0] = (skip - 1, seconds)
            return
        self._stretch.pop(0)
        self.clock.advance(seconds)

    def _maybe_pause(self) -> None:
        if self._pause is None or not self._reading:
            return
        seconds, after, left = self._pause
        if self._pulses != after:
            return
        self._pause = (seconds, after, left - 1) if left > 1 else None
        self.gpio.stall_next_call(seconds)
