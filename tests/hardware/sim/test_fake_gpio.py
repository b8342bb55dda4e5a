"""The fake RPi.GPIO module and its simulated HX711, driven pin by pin as the datasheet says."""
from __future__ import annotations

import pytest

from hardware.sim.clock import VirtualClock
from hardware.sim.fake_gpio import FakeGPIO, FakeHX711

DOUT, SCK = 22, 23
#: After a gain change at 80 SPS: past the 50 ms settling time to the next conversion
SETTLED = 0.050 + 1 / 80


def make(source=lambda t: 0, *, sample_hz=80, start_t=None):
    clock = VirtualClock()
    gpio = FakeGPIO(clock)
    chip = FakeHX711(gpio, DOUT, SCK, sample_hz=sample_hz, source=source, start_t=start_t)
    gpio.setmode(gpio.BCM)
    gpio.setup(DOUT, gpio.IN)
    gpio.setup(SCK, gpio.OUT, initial=gpio.LOW)
    return clock, gpio, chip


def clock_out(gpio, pulses):
    """Give ``pulses`` short PD_SCK pulses; returns DOUT read after each one."""
    bits = []
    for _ in range(pulses):
        gpio.output(SCK, 1)
        gpio.output(SCK, 0)
        bits.append(gpio.input(DOUT))
    return bits


def to_signed(bits):
    raw = 0
    for b in bits:
        raw = (raw << 1) | b
    return raw - (1 << 24) if raw & 0x800000 else raw


def wait_ready(clock, gpio, limit_s=1.0):
    end = clock.now() + limit_s
    while gpio.input(DOUT):
        assert clock.now() < end, "no conversion became ready"
        clock.advance(0.0001)
    return clock.now()


# --- the RPi.GPIO API ---------------------------------------------------------


def test_setup_before_setmode_is_refused_like_rpi_gpio():
    gpio = FakeGPIO()
    assert gpio.getmode() is None
    with pytest.raises(RuntimeError, match="setmode"):
        gpio.setup(4, gpio.IN)


def test_pin_not_set_up_and_output_on_an_input_raise_runtime_error():
    gpio = FakeGPIO()
    gpio.setmode(gpio.BCM)
    with pytest.raises(RuntimeError, match="setup"):
        gpio.input(4)
    gpio.setup(4, gpio.IN)
    with pytest.raises(RuntimeError, match="OUTPUT"):
        gpio.output(4, 1)
    with pytest.raises(RuntimeError, match="OUTPUT"):
        gpio.output(5, 1)


def test_bad_arguments_raise_value_error():
    gpio = FakeGPIO()
    gpio.setmode(gpio.BCM)
    with pytest.raises(ValueError, match="different mode"):
        gpio.setmode(gpio.BOARD)
    with pytest.raises(ValueError, match="invalid"):
        gpio.setup(28, gpio.IN)
    with pytest.raises(ValueError):
        gpio.setup(4, gpio.OUT, pull_up_down=gpio.PUD_UP)
    with pytest.raises(ValueError):
        gpio.setup(4, gpio.IN, initial=gpio.HIGH)
    with pytest.raises(ValueError):
        gpio.setup(4, 7)


def test_pulls_outputs_lists_and_cleanup():
    gpio = FakeGPIO()
    gpio.setmode(gpio.BCM)
    gpio.setup([4, 5], gpio.IN, pull_up_down=gpio.PUD_UP)
    gpio.setup(6, gpio.IN, pull_up_down=gpio.PUD_DOWN)
    assert (gpio.input(4), gpio.input(5), gpio.input(6)) == (1, 1, 0)
    gpio.setup([7, 8], gpio.OUT, initial=gpio.HIGH)
    assert gpio.input(7) == 1  # an output reads back its level
    gpio.output([7, 8], (0, 1))
    assert (gpio.input(7), gpio.input(8)) == (0, 1)
    gpio.cleanup(7)
    with pytest.raises(RuntimeError):
        gpio.input(7)
    assert gpio.input(8) == 1
    gpio.cleanup()
    assert gpio.getmode() is None


def test_every_call_costs_virtual_time():
    clock = VirtualClock(5.0)
    gpio = FakeGPIO(clock, call_cost_s=2e-6)
    gpio.setmode(gpio.BCM)
    gpio.setup(4, gpio.OUT)
    for _ in range(10):
        gpio.output(4, 1)
    assert clock.now() == pytest.approx(5.0 + 12 * 2e-6)


def test_board_numbering_reaches_the_same_chip():
    clock = VirtualClock()
    gpio = FakeGPIO(clock)
    FakeHX711(gpio, DOUT, SCK, source=lambda t: 0x123456)
    gpio.setmode(gpio.BOARD)
    gpio.setup(15, gpio.IN)  # physical pin 15 is BCM 22
    gpio.setup(16, gpio.OUT, initial=0)  # physical pin 16 is BCM 23
    assert gpio.input(15) == 0
    bits = []
    for _ in range(25):
        gpio.output(16, 1)
        gpio.output(16, 0)
        bits.append(gpio.input(15))
    assert to_signed(bits[:24]) == 0x123456


# --- the HX711 ------------------------------------------------------------


def test_bits_shift_out_msb_first_and_dout_goes_high_after_the_readout():
    clock, gpio, chip = make(lambda t: -2)
    assert gpio.input(DOUT) == 0  # a running chip has a conversion ready
    bits = clock_out(gpio, 25)
    assert bits[:24] == [1] * 23 + [0]  # -2 in 24-bit two's complement: 0xFFFFFE
    assert bits[24] == 1
    assert gpio.input(DOUT) == 1  # until the next conversion
    assert chip.readouts == 1


def test_conversions_come_every_sample_period_and_hold_the_value_at_that_time():
    start = 1000.0
    clock, gpio, chip = make(lambda t: round((t - start) * 1e5), sample_hz=10)
    clock_out(gpio, 25)
    clock.set(start + 0.1 - 1e-5)
    assert gpio.input(DOUT) == 1
    clock.set(start + 0.1)
    assert gpio.input(DOUT) == 0
    # Read a little later: the value is the signal when the conversion became ready.
    clock.advance(0.03)
    assert to_signed(clock_out(gpio, 25)[:24]) == 10000
    assert chip.last_conversion_t == pytest.approx(start + 0.1)


def test_an_unread_conversion_is_replaced_by_the_newer_one():
    start = 1000.0
    clock, gpio, chip = make(lambda t: round((t - start) * 1e4))
    clock.set(start + 3.5 / 80)  # conversions 0..3 became ready, none read
    assert to_signed(clock_out(gpio, 25)[:24]) == round(3 / 80 * 1e4)


@pytest.mark.parametrize("pulses, gain", [(25, 128), (26, 32), (27, 64)])
def test_pulse_count_sets_the_gain_of_the_next_conversion(pulses, gain):
    clock, gpio, chip = make(lambda t: 40000)
    bits = clock_out(gpio, pulses)
    assert to_signed(bits[:24]) == 40000  # this conversion was still at gain 128
    assert bits[24:] == [1] * (pulses - 24)
    assert chip.gain == gain
    clock.advance(SETTLED)
    wait_ready(clock, gpio)
    assert to_signed(clock_out(gpio, 25)[:24]) == 40000 * gain // 128
    clock.advance(SETTLED)
    wait_ready(clock, gpio)
    assert to_signed(clock_out(gpio, 25)[:24]) == 40000  # 25 pulses: back to 128


@pytest.mark.parametrize("sample_hz", [80, 10])
def test_conversions_in_the_settling_time_after_a_gain_change_hold_the_old_gain(sample_hz):
    clock, gpio, chip = make(lambda t: 40000, sample_hz=sample_hz)
    clock_out(gpio, 26)  # gain 32 from the next conversion, once settled (datasheet: 4 periods)
    changed = clock.now()
    values = []
    while clock.now() < changed + 6 / sample_hz:
        wait_ready(clock, gpio)
        values.append((clock.now() - changed, to_signed(clock_out(gpio, 26)[:24])))
    assert {v for dt, v in values if dt < 4 / sample_hz} == {40000}
    assert {v for dt, v in values if dt >= 4 / sample_hz + 0.001} == {10000}


def test_values_beyond_24_bits_clamp_to_the_saturation_codes():
    clock, gpio, chip = make(lambda t: 10**9)
    assert to_signed(clock_out(gpio, 25)[:24]) == 0x7FFFFF
    chip.source = lambda t: -(10**9)
    wait_ready(clock, gpio)
    assert to_signed(clock_out(gpio, 25)[:24]) == -0x800000


def test_lower_gain_scales_before_clamping():
    # A signal past the gain-128 range fits at gain 32 (the input range is 4x wider).
    clock, gpio, chip = make(lambda t: 0x900000)
    assert to_signed(clock_out(gpio, 26)[:24]) == 0x7FFFFF
    clock.advance(SETTLED)
    wait_ready(clock, gpio)
    assert to_signed(clock_out(gpio, 25)[:24]) == 0x900000 // 4


@pytest.mark.parametrize("sample_hz, settle_s", [(80, 0.050), (10, 0.400)])
def test_power_down_after_60us_high_and_wake_at_gain_128_after_settling(sample_hz, settle_s):
    clock, gpio, chip = make(lambda t: 40000, sample_hz=sample_hz)
    clock_out(gpio, 26)  # gain 32 for the next conversion
    wait_ready(clock, gpio)
    gpio.output(SCK, 1)
    clock.advance(59e-6)
    assert chip.powered  # not yet 60 us
    clock.advance(2e-6)
    assert not chip.powered
    assert gpio.input(DOUT) == 1  # the ready conversion is gone
    clock.advance(1.0)
    assert gpio.input(DOUT) == 1  # no conversions while powered down
    gpio.output(SCK, 0)
    woke = clock.now()
    assert chip.powered and chip.gain == 128
    ready = wait_ready(clock, gpio)
    assert settle_s <= ready - woke < settle_s + 0.001
    assert to_signed(clock_out(gpio, 25)[:24]) == 40000  # gain 128 again, not 32


def test_a_pulse_just_under_60us_does_not_power_down():
    clock, gpio, chip = make(lambda t: 777)
    gpio.output(SCK, 1)
    clock.advance(58e-6)
    gpio.output(SCK, 0)
    assert chip.powered
    bits = [gpio.input(DOUT)] + clock_out(gpio, 24)
    assert to_signed(bits[:24]) == 777


def test_stretch_next_high_advances_the_clock_while_sck_is_high():
    clock, gpio, chip = make()
    chip.stretch_next_high(100e-6, skip=2)
    t = clock.now()
    clock_out(gpio, 2)
    assert clock.now() - t < 10e-6
    gpio.output(SCK, 1)
    assert clock.now() - t >= 100e-6
    gpio.output(SCK, 0)
    assert chip.powered  # it powered down while high and woke on the falling edge...
    assert gpio.input(DOUT) == 1  # ...so the readout is lost and it is settling
    assert chip.next_ready_t() >= clock.now() + 0.049


def test_pause_readouts_stalls_the_call_after_the_chosen_pulse_of_each_readout():
    clock, gpio, chip = make()
    chip.pause_readouts(0.005, after_pulse=4, count=2)
    t = clock.now()
    clock_out(gpio, 3)
    assert clock.now() - t < 10e-6
    clock_out(gpio, 1)  # the read of DOUT after the 4th pulse comes 5 ms late
    assert clock.now() - t >= 0.005
    assert chip.powered  # PD_SCK was low: the chip stayed up
    clock_out(gpio, 21)
    wait_ready(clock, gpio)
    t = clock.now()
    clock_out(gpio, 25)
    assert clock.now() - t >= 0.005  # the second readout too...
    wait_ready(clock, gpio)
    t = clock.now()
    clock_out(gpio, 25)
    assert clock.now() - t < 0.001  # ...and no more


def test_a_readout_paused_past_the_next_conversion_shifts_out_the_new_word():
    # What a driver that does not time its readouts would read: the old word's
    # first bits, then the next conversion's from its MSB.
    clock, gpio, chip = make(lambda t: -54321)
    chip.pause_readouts(0.013, after_pulse=12)
    bits = clock_out(gpio, 25)
    assert to_signed(bits[:24]) != -54321
    first_12 = [(-54321 >> (23 - i)) & 1 for i in range(12)]
    assert bits[:12] == first_12 and bits[12:24] == first_12  # MSBs of the new word
    assert chip.readouts == 2


def test_dout_stuck_low_reads_low_even_after_the_25th_pulse():
    clock, gpio, chip = make(lambda t: 5)
    chip.dout_stuck_low = True
    assert clock_out(gpio, 25) == [0] * 25
    assert gpio.input(DOUT) == 0
    chip.dout_stuck_low = False
    wait_ready(clock, gpio)
    assert to_signed(clock_out(gpio, 25)[:24]) == 5


def test_unplugged_reads_high_forever_and_settles_when_plugged_back():
    clock, gpio, chip = make(lambda t: 5)
    chip.unplugged = True
    assert not chip.powered
    for _ in range(20):
        clock.advance(0.01)
        assert gpio.input(DOUT) == 1
        clock_out(gpio, 1)
    chip.unplugged = False
    plugged = clock.now()
    ready = wait_ready(clock, gpio)
    assert ready - plugged >= 0.050
    assert to_signed(clock_out(gpio, 25)[:24]) == 5


def test_saturate_flag_reads_the_positive_clipping_code():
    clock, gpio, chip = make(lambda t: 5)
    chip.saturate = True
    assert to_signed(clock_out(gpio, 25)[:24]) == 0x7FFFFF


def test_start_t_is_power_on_time():
    clock = VirtualClock(50.0)
    gpio = FakeGPIO(clock)
    chip = FakeHX711(gpio, DOUT, SCK, source=lambda t: 0, start_t=50.0)
    assert chip.next_ready_t() == pytest.approx(50.0 + 0.050)


def test_one_dout_pin_cannot_be_driven_by_two_chips():
    gpio = FakeGPIO()
    FakeHX711(gpio, DOUT, SCK, source=lambda t: 0)
    with pytest.raises(ValueError, match="already driven"):
        FakeHX711(gpio, DOUT, 24, source=lambda t: 0)
