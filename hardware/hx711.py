"""HX711 load-cell ADC driver, written against the RPi.GPIO API.

The GPIO module is injected (``hardware.hx711_pins`` picks it): ``RPi.GPIO`` on
a Pi 3/4/Zero 2 W, ``LgpioGPIO`` (the same small API on lgpio's claimed
lines) on a Pi 5, ``hardware.sim.fake_gpio.FakeGPIO`` in tests and in the
simulator. Channel A, gain 128: every reading is 24 data bits, MSB first, in
two's complement, plus one extra PD_SCK pulse that keeps gain 128 for the next
conversion (25 pulses in all).

Rules from the datasheet (Avia Semiconductor HX711: "Serial Interface" and
Fig. 2's timing table, "Reset and Power-Down" and Fig. 3, and the output
settling time of its electrical characteristics; docs/hx711-on-pi5.md says
which of these were read where) that shape this code:

* DOUT goes low when a conversion is ready (every 1/sample_hz: 12.5 ms at
  80 SPS). If it stays high for two sample periods the chip is unplugged,
  unpowered or dead: ``NotReady``, never a hang.
* 24 PD_SCK pulses shift the data out, MSB first; the 25th pulse pulls DOUT
  back high until the next conversion; 25 to 27 pulses, never more, in one
  conversion period. DOUT still low after it means DOUT is shorted to GND or
  the chip is not clocking: ``StuckLow`` (a run of zeros is not a load).
* PD_SCK high for more than 60 us powers the chip down, and it resets and
  re-settles (4 sample periods: 50 ms at 80 SPS, 400 ms at 10 SPS) when
  PD_SCK goes low again. Under Python a thread switch or a GC pause can
  stretch a pulse, so every pulse is timed with the injected clock and a
  reading whose pulses ran over ``max_high_s`` (datasheet maximum high time:
  50 us) is discarded: ``PulseTooLong``.
* The next conversion replaces the shift register: a readout still running
  then shifts out the new word's bits after the old one's and gives a
  plausible but wrong number. A readout that ends later than the conversion
  period less a margin after DOUT was last seen high is discarded:
  ``ReadoutTooSlow``; the chip is then brought back in step (one word
  clocked out unused) before the next reading.
* The driver resets the chip when it opens it (PD_SCK high 10 ms, then low):
  a reader that died mid-readout, or another program's gain, leaves the
  chip mid-word or at another gain; after the reset it is at channel A,
  gain 128, and the first reading is taken after the settling time.
* 0x7FFFFF and 0x800000 are the ADC's clipping codes (overload or a broken
  bridge wire): ``Saturated``, never a number passed on.

Waiting for a conversion costs a Pi wake-ups, not accuracy: after a good
reading the next one is due a period later, so the wait sleeps until
``early_s`` before then and polls DOUT every ``poll_s`` only from there
(about 5 wake-ups a reading at 80 SPS instead of 12). A wake-up later than
``early_s`` past its time loses that reading, as one poll late by as much did.

``Discarded`` (``PulseTooLong``, ``ReadoutTooSlow``) loses one reading and
says nothing about the chip; the reader counts them and calls it a fault only
when they persist. The other faults are faults at once.

The driver deliberately does *no* median or other filtering: traces must hold
the raw readings, and the pipeline's excursion rule (station.loadcell) already
rejects spikes, so a filter here would only delay and blur the onset times.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

#: PD_SCK high for longer than this powers the chip down (datasheet).
POWER_DOWN_S = 60e-6
#: Datasheet maximum PD_SCK high time during a readout.
MAX_HIGH_S = 50e-6
#: Settling after power-up, reset or a gain change, in sample periods
#: (datasheet Table 3: 50 ms at 80 SPS, 400 ms at 10 SPS).
SETTLE_PERIODS = 4
#: How long the reset at open holds PD_SCK high. The datasheet asks for over
#: 60 us; the Linux IIO hx711 driver found the first reading after a shorter
#: reset unstable on an oscilloscope and had no trouble from 10 ms up.
RESET_HIGH_S = 0.010
#: Part of each conversion period a readout may not use. The datasheet gives
#: no tolerance for the internal oscillator's rate, so a tenth is kept free.
READOUT_MARGIN = 0.1

_SATURATED = {0x7FFFFF: "0x7FFFFF", 0x800000: "0x800000"}


class SensorFault(Exception):
    """The HX711 gave no trustworthy reading. ``t`` is when it was noticed (the driver's clock)."""

    def __init__(self, detail: str, *, t: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.t = t


class NotReady(SensorFault):
    """DOUT never went low within two sample periods (unplugged, unpowered or dead chip)."""


class Saturated(SensorFault):
    """The reading was a clipping code, 0x7FFFFF or 0x800000 (overload or broken wire)."""

    def __init__(self, detail: str, *, counts: int, t: float | None = None) -> None:
        super().__init__(detail, t=t)
        self.counts = counts


class StuckLow(SensorFault):
    """DOUT still read low after the 25th pulse: shorted to GND, or the chip is not clocking."""


class Discarded(SensorFault):
    """One reading was thrown away because it cannot be trusted; the chip itself may be fine.

    ``reason`` is a few words for counts and reports.
    """

    reason = "discarded"


class PulseTooLong(Discarded):
    """A PD_SCK high pulse ran over the limit; the reading was discarded."""

    reason = "clock pulse over 50 us"

    def __init__(self, detail: str, *, high_s: float, t: float | None = None) -> None:
        super().__init__(detail, t=t)
        self.high_s = high_s


class ReadoutTooSlow(Discarded):
    """The readout took so long that the next conversion may have replaced the word mid-way."""

    reason = "readout past the next conversion"

    def __init__(self, detail: str, *, readout_s: float, t: float | None = None) -> None:
        super().__init__(detail, t=t)
        self.readout_s = readout_s


class HX711:
    """One HX711 on two GPIO pins (BCM numbers), read on channel A at gain 128.

    ``gpio`` is an RPi.GPIO-compatible module. ``clock`` and ``sleep`` are
    injected so the simulator can run it in virtual time; ``clock`` must be the
    same monotonic clock the rest of the station stamps with.
    """

    def __init__(self, gpio: Any, dout: int, pd_sck: int, *, sample_hz: float = 80.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 max_high_s: float = MAX_HIGH_S, poll_s: float = 0.001) -> None:
        if not sample_hz > 0:
            raise ValueError(f"sample_hz must be positive, not {sample_hz!r}")
        if not 0 < max_high_s <= POWER_DOWN_S:
            raise ValueError(f"max_high_s must be in (0, {POWER_DOWN_S}] s, not {max_high_s!r}")
        if not poll_s > 0:
            raise ValueError(f"poll_s must be positive, not {poll_s!r}")
        self.dout = dout
        self.pd_sck = pd_sck
        self.sample_hz = float(sample_hz)
        self.max_high_s = max_high_s
        self.poll_s = poll_s
        self._gpio = gpio
        self._clock = clock
        self._sleep = sleep
        self._period = 1.0 / self.sample_hz
        self._settle_s = SETTLE_PERIODS * self._period
        #: the longest from DOUT last seen high to the end of a readout: the next
        #: conversion comes one period after this one, which was ready no earlier
        #: than that look (see read_sample)
        self.readout_limit_s = self._period * (1 - READOUT_MARGIN)
        #: how long before the next conversion is due the wait starts polling (see _wait_ready)
        self.early_s = max(poll_s, self.readout_limit_s / 2 - poll_s)
        self._due_t = -math.inf  # the next conversion is due then (a period after the last read)
        mode = gpio.getmode()
        if mode is None:
            gpio.setmode(gpio.BCM)
        elif mode != gpio.BCM:
            raise ValueError("the GPIO module is in BOARD numbering; HX711 pins are BCM numbers")
        # HX711 DOUT is push-pull; the pull-up only decides what a cut wire
        # reads: high, i.e. "never ready" (NotReady) rather than a run of zeros.
        gpio.setup(dout, gpio.IN, pull_up_down=gpio.PUD_UP)
        gpio.setup(pd_sck, gpio.OUT, initial=gpio.LOW)
        self._awake_at = -math.inf
        self._not_before = -math.inf  # no look at DOUT before this (after a bad readout)
        self._seen_high_t = -math.inf  # the last time DOUT was seen high
        self._stuck = False  # the last readout ended with DOUT low
        self._resync = False  # the last readout may have run into the next conversion
        self._down = False
        self._closed = False
        self.reset()

    # --- reading ---------------------------------------------------------

    def is_ready(self) -> bool:
        """True when a conversion is waiting (DOUT low).

        A look that sees DOUT high also tells the next read that its
        conversion became ready after it (the simulator looks just before a
        conversion is due, as the polling loop would).
        """
        t = self._clock()
        if self._gpio.input(self.dout) == self._gpio.LOW:
            return True
        self._seen_high_t = t
        return False

    def read(self) -> int:
        """The next reading in signed counts; raises NotReady, Saturated or PulseTooLong."""
        return self.read_sample()[1]

    def read_sample(self) -> tuple[float, int]:
        """``(t, counts)``: ``t`` is ``clock()`` when DOUT was seen low (the conversion's time).

        Waits (polling every ``poll_s``) at most two sample periods, plus the
        settling time after a wake-up or a fault (the chip may have reset),
        then clocks out 24 bits and one gain pulse and checks DOUT went high.
        Raises NotReady, StuckLow, Saturated or a ``Discarded``
        (PulseTooLong, ReadoutTooSlow).

        The conversion was ready no earlier than DOUT was last seen high (a
        poll, the check after the previous readout, ``is_ready``) and no
        earlier than one period before it was seen low; the next one comes a
        period later. A conversion already low at the first look, long after
        the last high one, is of unknown age: it is clocked out unused and
        the next one is read. A readout that ends more than a period, less
        ``READOUT_MARGIN``, after that last high look is discarded
        (``ReadoutTooSlow``): the thread was switched out mid-readout.
        """
        if self._closed:
            raise RuntimeError("HX711 is closed")
        if self._down:
            raise RuntimeError("HX711 is powered down: call power_up() first")
        if self._resync and not self._flush():
            self._stuck = True  # DOUT low after every flushed word: the StuckLow below says so
        t, ready_after = self._wait_ready()
        if t - ready_after > self.readout_limit_s / 2 and not self._stuck:
            # DOUT was already low at the first look, and long enough after the
            # last high one that a readout could run into the next conversion:
            # this conversion's age is unknown. Skip it; read the next one.
            self._resync = True
            if not self._flush():
                self._stuck = True
            t, ready_after = self._wait_ready()
        self._awake_at = -math.inf  # it answered: awake and settled
        raw, longest, end, high_after = self._shift_in()
        in_time = end - ready_after <= self.readout_limit_s
        if high_after:
            # Between conversions; or, after a late readout, a 1 bit of a word
            # that cut in, which DOUT holds until that word ends: either way the
            # next conversion DOUT shows low becomes ready after this look.
            self._seen_high_t = end
        elif longest <= self.max_high_s and (in_time or self._stuck):
            # Pace the retries at the conversion rate: a stuck DOUT must not spin the reader.
            self._stuck = True
            self._not_before = end + self._period
            raise StuckLow("DOUT still low after the 25th clock pulse: DOUT shorted to GND, "
                           "or the HX711 is not clocking out", t=t)
        else:
            # The chip may be mid-way through a word that cut in, showing a 0
            # bit that looks like "ready": the next read waits for that word to
            # end and flushes the conversion after it (see _flush).
            self._not_before = end + self._period
            self._resync = True
        if longest > self.max_high_s:
            # Over 60 us the chip powered down and reset when PD_SCK fell;
            # nearer the limit it may have. Give it its settling time before
            # the next read may call it NotReady (waiting longer costs nothing).
            self._awake_at = end + self._settle_s
            raise PulseTooLong(
                f"PD_SCK pulse {longest * 1e6:.0f} us high (limit {self.max_high_s * 1e6:.0f} us): "
                "reading discarded", high_s=longest, t=t)
        if not in_time:
            raise ReadoutTooSlow(
                f"readout ended {(end - ready_after) * 1e3:.1f} ms after DOUT was last seen high "
                f"(limit {self.readout_limit_s * 1e3:.1f} ms): the next conversion may have replaced "
                "the word mid-way; reading discarded", readout_s=end - t, t=t)
        self._stuck = False
        self._due_t = t + self._period
        if raw in _SATURATED:
            counts = raw - 0x1000000 if raw & 0x800000 else raw
            raise Saturated(f"saturated reading {_SATURATED[raw]}: load cell overloaded or a wire is broken",
                            counts=counts, t=t)
        return t, (raw - 0x1000000 if raw & 0x800000 else raw)

    def _flush(self, tries: int = 3) -> bool:
        """After a readout that ended with DOUT low and may have been cut into: get back in step.

        The chip may still be shifting out the word that cut in, showing its
        bits on DOUT (a 0 looks like "ready"); one period after our readout
        that word has ended. Whatever conversion is waiting then is of
        unknown age, so it is clocked out and dropped; once DOUT reads high
        after the 25th pulse, the wait sees the next conversion arrive (a 1
        bit of yet another word that cut in is as good: DOUT holds it until
        that word ends). After ``tries`` the read goes ahead, and the
        readout rule discards what it cannot trust. False when every try
        ended with DOUT low (stuck low, most likely).
        """
        self._resync = False
        clock, low = self._clock, self._gpio.LOW
        for _ in range(tries):
            now = clock()
            if now < self._not_before:
                self._sleep(self._not_before - now)
                now = clock()
            if self._gpio.input(self.dout) != low:
                self._seen_high_t = now
                return True
            _, longest, end, high_after = self._shift_in()
            if longest > self.max_high_s:
                self._awake_at = end + self._settle_s  # it may have reset
            if high_after:
                self._seen_high_t = end
                return True
            self._not_before = end + self._period
        return False

    def _wait_ready(self) -> tuple[float, float]:
        """``(t, ready_after)``: when DOUT was seen low, and the earliest the conversion can have been ready."""
        clock, sleep, poll = self._clock, self._sleep, self.poll_s
        gpio, dout, low = self._gpio, self.dout, self._gpio.LOW
        now = start = clock()
        not_before = self._not_before
        deadline = max(now, self._awake_at, not_before) + 2 * self._period
        # Sleep through most of the period in one go, then poll: a Pi's reader thread wakes
        # ~5 times a reading instead of ~12. A wake-up that comes later than ``early_s`` past
        # its time loses the reading (its age is unknown), as one poll late by that much did.
        wake = self._due_t - self.early_s
        # Bounded by the clock *and* by a poll count, so a clock that does not
        # move (or a sleep that returns at once) still cannot hang the reader.
        for _ in range(int((deadline - now) / poll) * 2 + 16):
            if gpio.input(dout) != low:
                self._seen_high_t = now  # the clock just before that look
            elif now >= not_before:  # (before it, a low DOUT is the stuck one: keep looking for high)
                t = clock()
                return t, max(self._seen_high_t, t - self._period)
            if now >= deadline:
                break
            sleep(min(max(poll, wake - now), deadline - now))
            now = clock()
        end = clock()
        # A chip that did not answer may be powering up (plugged back in):
        # let the next read allow for its settling too.
        self._awake_at = end + self._settle_s
        raise NotReady(f"DOUT stayed high for {(end - start) * 1e3:.0f} ms (over two sample periods): "
                       "HX711 unplugged, unpowered or dead", t=end)

    def _shift_in(self) -> tuple[int, float, float, bool]:
        """Clock out 24 data bits + 1 gain pulse, then look at DOUT.

        Returns (raw, longest high time, end time, DOUT high after): the end
        is after that last look, so a readout is timed to its last bit.
        """
        out, inp, clock = self._gpio.output, self._gpio.input, self._clock
        sck, dout, high, low = self.pd_sck, self.dout, self._gpio.HIGH, self._gpio.LOW
        raw = 0
        longest = 0.0
        t1 = 0.0
        # The data bit is valid from the rising edge until the next one, so it
        # is read after PD_SCK is low again: the high time is two calls only.
        # A long pulse does not stop the loop: all 25 pulses are always given,
        # so a chip that stayed up keeps gain 128 for its next conversion.
        for _ in range(24):
            t0 = clock()
            out(sck, high)
            out(sck, low)
            t1 = clock()
            if t1 - t0 > longest:
                longest = t1 - t0
            raw = (raw << 1) | (1 if inp(dout) else 0)
        t0 = clock()
        out(sck, high)  # 25th pulse: channel A, gain 128 for the next conversion
        out(sck, low)
        t1 = clock()
        if t1 - t0 > longest:
            longest = t1 - t0
        high_after = inp(dout) != low  # datasheet: the 25th pulse pulls DOUT high
        return raw, longest, clock(), high_after

    # --- power -----------------------------------------------------------

    def power_down(self) -> None:
        """Hold PD_SCK high: the chip powers down after 60 us."""
        self._gpio.output(self.pd_sck, self._gpio.LOW)
        self._gpio.output(self.pd_sck, self._gpio.HIGH)
        self._down = True

    def reset(self) -> None:
        """Reset the chip: PD_SCK high for ``RESET_HIGH_S`` (power-down), then low.

        It comes back at channel A, gain 128, from a clean start whatever it
        was doing (mid-readout, another gain), and the next read allows its
        settling time.
        """
        clock, sleep = self._clock, self._sleep
        self._gpio.output(self.pd_sck, self._gpio.HIGH)
        self._resync = self._stuck = False
        t0 = clock()
        # Bounded, like the ready wait: a clock that does not move cannot hang it.
        for _ in range(4):
            left = RESET_HIGH_S - (clock() - t0)
            if left <= 0:
                break
            sleep(left)
        self._gpio.output(self.pd_sck, self._gpio.LOW)
        self._down = False
        self._not_before = -math.inf
        # From here the chip settles: no conversion is ready before this moment.
        self._seen_high_t = clock()
        self._awake_at = self._seen_high_t + self._settle_s
        self._due_t = -math.inf

    def power_up(self) -> None:
        """PD_SCK low: the chip resets to channel A, gain 128, and settles before its first conversion."""
        self._gpio.output(self.pd_sck, self._gpio.LOW)
        self._down = False
        self._seen_high_t = self._clock()
        self._awake_at = self._seen_high_t + self._settle_s
        self._due_t = -math.inf

    def close(self) -> None:
        """Release the two pins (idempotent)."""
        if not self._closed:
            self._closed = True
            self._gpio.cleanup([self.dout, self.pd_sck])
