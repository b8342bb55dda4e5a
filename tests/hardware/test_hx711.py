"""The HX711 driver, run against the fake GPIO's simulated chip in virtual time."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware.hx711 import (
    HX711,
    Discarded,
    NotReady,
    PulseTooLong,
    ReadoutTooSlow,
    Saturated,
    SensorFault,
    StuckLow,
)
from hardware.sim.clock import VirtualClock
from hardware.sim.fake_gpio import FakeGPIO, FakeHX711

DOUT, SCK = 22, 23

# Every value a load cell can report: the 24-bit range minus the two clipping codes.
readable = st.integers(min_value=-0x800000 + 1, max_value=0x7FFFFF - 1)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(readable, min_size=1, max_size=5))
def test_values_round_trip(hx711_rig, values):
    seq = iter(values)
    box = {}

    def source(t):
        # one new value per conversion, whatever time the driver reads it
        if t not in box:
            box[t] = next(seq)
        return box[t]

    rig = hx711_rig()
    rig.chip.source = source  # after the reset at open, whose first pulse latched a conversion
    assert [rig.driver.read() for _ in values] == values


@pytest.mark.parametrize("value", [-0x800000 + 1, -1, 0, 1, 0x7FFFFF - 1, 0x555555, -0x555556])
def test_extremes_and_sign(hx711_rig, value):
    assert hx711_rig(lambda t: value).driver.read() == value


def test_driver_sets_up_pins_in_bcm_and_keeps_gain_128(hx711_rig):
    rig = hx711_rig(lambda t: 100)
    gpio = rig.gpio
    assert gpio.getmode() == gpio.BCM
    assert gpio.level_of(SCK) == 0
    with pytest.raises(RuntimeError):  # DOUT is an input, not an output
        gpio.output(DOUT, 1)
    for _ in range(3):
        assert rig.driver.read() == 100
        assert rig.chip.gain == 128


def test_refuses_board_numbering():
    gpio = FakeGPIO()
    gpio.setmode(gpio.BOARD)
    with pytest.raises(ValueError, match="BCM"):
        HX711(gpio, DOUT, SCK)


@pytest.mark.parametrize("code", [0x7FFFFF, -0x800000])
def test_saturated_readings_are_faults(hx711_rig, code):
    rig = hx711_rig(lambda t: code * 4)  # far past the range: the ADC clips
    with pytest.raises(Saturated) as e:
        rig.driver.read()
    assert e.value.counts == code
    assert "saturated" in e.value.detail


def test_saturate_flag_is_a_fault(hx711_rig):
    rig = hx711_rig(lambda t: 5)
    rig.chip.saturate = True
    with pytest.raises(Saturated):
        rig.driver.read()
    rig.chip.saturate = False
    assert rig.driver.read() == 5


@pytest.mark.parametrize("sample_hz", [80, 10])
def test_unplugged_is_not_ready_after_two_sample_periods(hx711_rig, sample_hz):
    rig = hx711_rig(lambda t: 5, sample_hz=sample_hz)
    rig.driver.read()  # settled and running
    rig.chip.unplugged = True
    start = rig.clock.now()
    with pytest.raises(NotReady) as e:
        rig.driver.read()
    waited = rig.clock.now() - start
    assert 2 / sample_hz <= waited < 2 / sample_hz + 0.002
    assert e.value.t == pytest.approx(rig.clock.now())
    assert isinstance(e.value, SensorFault)


def test_not_ready_even_when_time_does_not_move(hx711_rig):
    # A clock that never advances (zero-cost GPIO, a sleep that returns at
    # once) must still not hang the driver: the poll count bounds it too.
    rig = hx711_rig(lambda t: 5, call_cost_s=0.0, sleep=lambda s: None)
    rig.chip.unplugged = True
    with pytest.raises(NotReady):
        rig.driver.read()


def test_timestamps_are_when_dout_went_low(hx711_rig):
    rig = hx711_rig(lambda t: 5)
    times = []
    for _ in range(10):
        t, counts = rig.driver.read_sample()
        ready = rig.chip.last_conversion_t
        assert ready <= t <= ready + rig.driver.poll_s + 1e-5
        times.append(t)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(abs(g - 1 / 80) <= rig.driver.poll_s + 1e-5 for g in gaps)


def test_a_stretched_pulse_discards_the_reading_and_the_chip_comes_back(hx711_rig):
    rig = hx711_rig(lambda t: 4321)
    rig.driver.read()
    rig.chip.stretch_next_high(200e-6, skip=11)  # the 12th pulse of the next reading
    with pytest.raises(PulseTooLong) as e:
        rig.driver.read()
    assert e.value.high_s >= 200e-6
    # Over 60 us the chip powered down and reset: the next read waits out its
    # settling (50 ms, more than two sample periods) instead of NotReady.
    before = rig.clock.now()
    t, counts = rig.driver.read_sample()
    assert counts == 4321
    assert t - before >= 0.050


def test_a_pulse_between_50_and_60_us_is_discarded_though_the_chip_stays_up(hx711_rig):
    rig = hx711_rig(lambda t: 4321)
    rig.chip.stretch_next_high(53e-6, skip=24)  # the gain pulse
    with pytest.raises(PulseTooLong):
        rig.driver.read()
    assert rig.chip.powered
    before = rig.clock.now()
    assert rig.driver.read() == 4321
    assert rig.clock.now() - before < 1 / 80 + 0.002  # the next conversion, no settling


def test_max_high_s_is_the_limit(hx711_rig):
    rig = hx711_rig(lambda t: 9, max_high_s=20e-6)
    rig.chip.stretch_next_high(25e-6)
    with pytest.raises(PulseTooLong):
        rig.driver.read()
    assert rig.driver.read() == 9


def test_power_down_and_up(hx711_rig):
    rig = hx711_rig(lambda t: 77)
    rig.driver.read()
    rig.driver.power_down()
    rig.clock.advance(1e-3)
    assert not rig.chip.powered
    with pytest.raises(RuntimeError, match="power_up"):
        rig.driver.read()
    rig.driver.power_up()
    woke = rig.clock.now()
    t, counts = rig.driver.read_sample()
    assert counts == 77
    assert t - woke >= 0.050


def test_first_read_allows_a_chip_that_just_powered_on_to_settle():
    clock = VirtualClock()
    gpio = FakeGPIO(clock)
    FakeHX711(gpio, DOUT, SCK, sample_hz=10, source=lambda t: 3, start_t=clock.now())
    driver = HX711(gpio, DOUT, SCK, sample_hz=10, clock=clock.now, sleep=clock.sleep)
    assert driver.read() == 3  # 400 ms settling, longer than two 100 ms periods


def test_is_ready_follows_dout(hx711_rig):
    rig = hx711_rig(lambda t: 1)
    assert not rig.driver.is_ready()  # settling after the reset at open
    rig.driver.read()
    assert not rig.driver.is_ready()
    rig.clock.advance(1 / 80)
    assert rig.driver.is_ready()


def test_close_releases_the_pins(hx711_rig):
    rig = hx711_rig()
    rig.driver.close()
    rig.driver.close()
    with pytest.raises(RuntimeError):
        rig.gpio.input(DOUT)
    with pytest.raises(RuntimeError, match="closed"):
        rig.driver.read()


@pytest.mark.parametrize("kw", [{"sample_hz": 0}, {"max_high_s": 70e-6}, {"poll_s": 0}])
def test_bad_parameters(kw):
    with pytest.raises(ValueError):
        HX711(FakeGPIO(), DOUT, SCK, **kw)


# --- readings that would be wrong without a fault (issue 12) ---------------


def test_a_pause_past_the_next_conversion_discards_the_reading_never_the_shifted_value(hx711_rig):
    rig = hx711_rig(lambda t: -54321)
    assert rig.driver.read() == -54321
    rig.chip.pause_readouts(0.013, after_pulse=12)  # the thread is switched out after the 12th bit
    before = rig.chip.readouts
    with pytest.raises(ReadoutTooSlow) as e:
        rig.driver.read()
    assert isinstance(e.value, Discarded) and e.value.readout_s >= 0.013
    assert rig.chip.readouts == before + 2  # the new conversion began shifting out mid-way...
    assert rig.driver.read() == -54321  # ...and the driver waited for a clean one


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=readable, pause=st.floats(min_value=0.0, max_value=0.04), after_pulse=st.integers(1, 25),
       sample_hz=st.sampled_from([80, 10]))
def test_a_paused_readout_is_right_or_discarded_never_wrong(hx711_rig, value, pause, after_pulse, sample_hz):
    rig = hx711_rig(lambda t: value, sample_hz=sample_hz)
    rig.driver.read()
    rig.chip.pause_readouts(pause, after_pulse=after_pulse)
    try:
        assert rig.driver.read() == value
    except Discarded:
        assert pause > rig.driver.readout_limit_s - rig.driver.poll_s - 0.001
    assert rig.driver.read() == value


def test_a_conversion_of_unknown_age_is_skipped_for_the_next_one(hx711_rig):
    # The driver's sleep overslept: DOUT went low 10 ms before it looked, so a
    # readout could run into the next conversion. It clocks that one out
    # unused and returns the next, stamped when it arrived.
    overslept_to = []
    clock = VirtualClock()

    def sleep(s):
        clock.sleep(s)
        if overslept_to:
            clock.set(overslept_to.pop())

    rig = hx711_rig(lambda t: 4242, clock=clock, sleep=sleep)
    rig.driver.read()
    ready = rig.chip.next_ready_t()
    overslept_to.append(ready + 0.010)
    before = rig.chip.readouts
    t, counts = rig.driver.read_sample()
    assert counts == 4242 and rig.chip.readouts == before + 2
    assert ready + 1 / 80 <= t <= ready + 1 / 80 + rig.driver.poll_s + 1e-5


def test_an_old_conversion_is_discarded_if_it_could_not_be_skipped(hx711_rig):
    # The poll that crosses the conversion oversleeps by 4 ms (under half the
    # limit: read, not skipped); then the readout stalls 8 ms: together past it.
    over = {}
    clock = VirtualClock()

    def sleep(s):
        ready = over.get("ready")
        if ready is not None and clock.now() < ready <= clock.now() + s:
            s += over.pop("by")
        clock.sleep(s)

    rig = hx711_rig(lambda t: 4242, clock=clock, sleep=sleep)
    rig.driver.read()
    over.update(ready=rig.chip.next_ready_t(), by=0.004)
    rig.chip.pause_readouts(0.008, after_pulse=6)
    with pytest.raises(ReadoutTooSlow):
        rig.driver.read()
    assert rig.driver.read() == 4242


def test_dout_stuck_low_is_a_fault_paced_at_the_conversion_rate_not_a_flood_of_zeros(hx711_rig):
    rig = hx711_rig(lambda t: 0)
    assert rig.driver.read() == 0
    rig.chip.dout_stuck_low = True
    start = rig.clock.now()
    for _ in range(10):
        with pytest.raises(StuckLow) as e:
            rig.driver.read()
        assert "25th" in e.value.detail and isinstance(e.value, SensorFault)
    assert rig.clock.now() - start >= 9 / 80  # one attempt per conversion period at most
    rig.chip.dout_stuck_low = False
    assert rig.driver.read() == 0


def _chip_left_mid_word(value, pulses=10):
    """A chip whose last reader died after ``pulses`` clock pulses of a readout."""
    clock = VirtualClock()
    gpio = FakeGPIO(clock)
    chip = FakeHX711(gpio, DOUT, SCK, source=lambda t: value)
    gpio.setmode(gpio.BCM)
    gpio.setup(SCK, gpio.OUT, initial=gpio.LOW)
    for _ in range(pulses):
        gpio.output(SCK, 1)
        gpio.output(SCK, 0)
    gpio.cleanup()
    return clock, gpio, chip


# 0x0F0F0F: the 11th bit on is 0, so a driver that did not reset would take
# DOUT low for "ready" and clock out the rest of the old word.
@pytest.mark.parametrize("value", [0x0F0F0F, -54321])
def test_open_resets_a_chip_left_mid_word_and_waits_for_it_to_settle(value):
    clock, gpio, chip = _chip_left_mid_word(value)
    ups = chip.power_ups
    driver = HX711(gpio, DOUT, SCK, clock=clock.now, sleep=clock.sleep)
    opened = clock.now()
    assert chip.power_ups == ups + 1
    t, counts = driver.read_sample()
    assert counts == value
    assert t - opened >= 0.050  # datasheet: 50 ms settling at 80 SPS


def test_a_chip_left_mid_word_shows_a_data_bit_that_looks_like_ready():
    # The test above would pass vacuously if the fake could not go wrong this way.
    clock, gpio, chip = _chip_left_mid_word(0x0F0F0F)
    gpio.setmode(gpio.BCM)
    gpio.setup(DOUT, gpio.IN)
    gpio.setup(SCK, gpio.OUT, initial=gpio.LOW)
    assert gpio.input(DOUT) == 0  # bit 11 of the old word, not "ready"
    bits = []
    for _ in range(24):
        gpio.output(SCK, 1)
        gpio.output(SCK, 0)
        bits.append(gpio.input(DOUT))
    raw = int("".join(map(str, bits)), 2)
    assert raw != 0x0F0F0F


def test_open_resets_a_chip_left_at_another_gain():
    clock = VirtualClock()
    gpio = FakeGPIO(clock)
    chip = FakeHX711(gpio, DOUT, SCK, source=lambda t: 40000)
    gpio.setmode(gpio.BCM)
    gpio.setup(SCK, gpio.OUT, initial=gpio.LOW)
    for _ in range(26):  # another program read it and chose gain 32
        gpio.output(SCK, 1)
        gpio.output(SCK, 0)
    clock.advance(0.2)
    gpio.cleanup()
    driver = HX711(gpio, DOUT, SCK, clock=clock.now, sleep=clock.sleep)
    assert chip.gain == 128
    assert [driver.read() for _ in range(6)] == [40000] * 6


class StallingGPIO(FakeGPIO):
    """A FakeGPIO whose calls now and then start late: the thread was switched out before them."""

    def __init__(self, clock, rng, stalls):
        super().__init__(clock)
        self.rng = rng
        self.stalls = stalls

    def _tick(self):
        if self.rng.random() < 0.005:
            self.clock.advance(self.rng.choice(self.stalls))
        super()._tick()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), value=readable, sample_hz=st.sampled_from([80, 10]))
def test_under_random_thread_stalls_every_reading_is_right_or_a_fault(seed, value, sample_hz):
    # Stalls anywhere: mid-pulse (PulseTooLong), between pulses (past the next
    # conversion), between reads (a conversion of unknown age), in the wait.
    clock = VirtualClock()
    gpio = StallingGPIO(clock, random.Random(seed), [30e-6, 55e-6, 80e-6, 0.002, 0.009, 0.0115, 0.013, 0.03, 0.2])
    FakeHX711(gpio, DOUT, SCK, sample_hz=sample_hz, source=lambda t: value)
    driver = HX711(gpio, DOUT, SCK, sample_hz=sample_hz, clock=clock.now, sleep=clock.sleep)
    got = []
    for _ in range(150):
        try:
            got.append(driver.read())
        except SensorFault:
            pass
    assert set(got) == {value}
    assert len(got) > 75  # most readings still arrive (a stall in about one readout in four)


def test_between_readings_the_wait_sleeps_through_the_period_then_polls(hx711_rig):
    # On a Pi every poll is a wake-up of the reader process: ~5 a reading, not one a poll_s.
    clock = VirtualClock()
    sleeps = []

    def sleep(s):
        sleeps.append(s)
        clock.sleep(s)

    rig = hx711_rig(lambda t: 777, clock=clock, sleep=sleep)
    rig.driver.read()
    for _ in range(10):
        sleeps.clear()
        ready = rig.chip.next_ready_t()
        t, counts = rig.driver.read_sample()
        assert counts == 777 and ready <= t <= ready + rig.driver.poll_s + 1e-5
        assert len(sleeps) <= rig.driver.early_s / rig.driver.poll_s + 2
        assert (1 / 80) / rig.driver.poll_s > len(sleeps) + 4  # where polling every poll_s would take ~12
