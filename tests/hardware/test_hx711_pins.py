"""hardware.hx711_pins: the backend chosen by Pi model, and the HX711 driver on lgpio (faked) in virtual time."""
from __future__ import annotations

import sys

import pytest

from hardware.hx711 import HX711, PulseTooLong, ReadoutTooSlow, StuckLow
from hardware.hx711_pins import (
    BackendError,
    LgpioGPIO,
    choose_backend,
    close_backend,
    open_backend,
    open_header_chip,
    pi_model,
)
from hardware.sim.clock import VirtualClock
from hardware.sim.fake_gpio import FakeGPIO, FakeHX711
from hardware.sim.fake_lgpio import FakeLgpio
from station.config import ConfigError, default_config_text, load_config, parse_config

DOUT, SCK = 22, 23


@pytest.mark.parametrize("model, backend", [
    ("Raspberry Pi 5 Model B Rev 1.0", "lgpio"),
    ("Raspberry Pi Compute Module 5 Rev 1.0", "lgpio"),
    ("Raspberry Pi 4 Model B Rev 1.5", "rpi-gpio"),
    ("Raspberry Pi 3 Model B Plus Rev 1.3", "rpi-gpio"),
    ("Raspberry Pi Zero 2 W Rev 1.0", "rpi-gpio"),
    ("", "rpi-gpio"),
])
def test_auto_picks_lgpio_on_a_pi_5_only(model, backend):
    assert choose_backend("auto", model) == backend


def test_a_setting_overrides_the_model():
    assert choose_backend("rpi-gpio", "Raspberry Pi 5 Model B Rev 1.0") == "rpi-gpio"
    assert choose_backend("lgpio", "Raspberry Pi 4 Model B Rev 1.5") == "lgpio"
    with pytest.raises(ValueError, match="unknown HX711 backend"):
        choose_backend("pigpio", "")


def test_pi_model_reads_the_device_tree_string(tmp_path):
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
    assert pi_model((str(tmp_path / "missing"), str(model))) == "Raspberry Pi 5 Model B Rev 1.0"
    assert pi_model((str(tmp_path / "missing"),)) == ""


def test_the_backend_setting_is_checked_in_station_toml():
    assert load_config().sections["hx711"]["backend"] == "auto"
    text = default_config_text().replace('backend = "auto"', 'backend = "pigpio"')
    with pytest.raises(ConfigError, match="'hx711.backend' must be one of 'auto', 'rpi-gpio', 'lgpio'"):
        parse_config(text)


def _lgpio_rig(source, *, chips=None, sample_hz=80):
    clock = VirtualClock()
    board = FakeGPIO(clock)
    board.setmode(board.BCM)
    chip = FakeHX711(board, DOUT, SCK, sample_hz=sample_hz, source=source)
    lg = FakeLgpio(board, chips)
    gpio = open_backend("lgpio", lgpio=lg)
    driver = HX711(gpio, DOUT, SCK, sample_hz=sample_hz, clock=clock.now, sleep=clock.sleep)
    return clock, lg, chip, gpio, driver


@pytest.mark.parametrize("value", [-54321, 0, 1, 0x7FFFFE, -0x7FFFFF])
def test_the_driver_reads_through_lgpio_on_claimed_lines(value):
    clock, lg, chip, gpio, driver = _lgpio_rig(lambda t: value)
    assert [driver.read() for _ in range(5)] == [value] * 5
    assert chip.gain == 128
    # lines claimed once; then one gpio_write per edge (2 for the reset at open, 50 a reading)
    assert lg.calls["gpio_claim_input"] == lg.calls["gpio_claim_output"] == 1
    assert lg.calls["gpio_write"] == 2 + 5 * 50
    assert "gpio_free" not in lg.calls


def test_the_faults_are_the_same_through_lgpio():
    clock, lg, chip, gpio, driver = _lgpio_rig(lambda t: -54321)
    driver.read()
    chip.pause_readouts(0.013, after_pulse=12)
    with pytest.raises(ReadoutTooSlow):
        driver.read()
    assert driver.read() == -54321
    chip.stretch_next_high(200e-6)
    with pytest.raises(PulseTooLong):
        driver.read()
    assert driver.read() == -54321
    chip.dout_stuck_low = True
    with pytest.raises(StuckLow):
        driver.read()


def test_pi_5_header_chip_is_found_by_its_label_on_old_and_new_kernels():
    board = FakeGPIO()
    # before kernel 6.6.45 the RP1 was gpiochip4 (gpiochip0 the SoC's few lines)
    lg = FakeLgpio(board, {0: "gpio-brcmstb@107d508500", 4: "pinctrl-rp1"})
    h = open_header_chip(lg)
    assert lg.gpio_get_chip_info(h)[3] == "pinctrl-rp1"
    assert lg.calls["gpiochip_close"] == 1  # the wrong chip was closed again


def test_no_header_chip_is_one_clear_error():
    lg = FakeLgpio(FakeGPIO(), {0: "gpio-brcmstb@107d508500"})
    with pytest.raises(BackendError, match=r"no GPIO chip for the 40-pin header found \(saw gpiochip0"):
        open_header_chip(lg)


def test_a_line_held_by_another_process_is_gpio_busy_and_close_frees_them():
    board = FakeGPIO()
    lg = FakeLgpio(board)
    gpio = LgpioGPIO(lg, lg.gpiochip_open(0))
    gpio.setup(SCK, gpio.OUT)
    other = LgpioGPIO(lg, lg.gpiochip_open(0))
    with pytest.raises(lg.error, match="GPIO busy"):
        other.setup(SCK, other.OUT)
    close_backend(gpio)
    other.setup(SCK, other.OUT, initial=other.HIGH)
    assert board.level_of(SCK) == 1


def test_lgpio_pull_up_on_dout_reads_high_when_nothing_drives_it():
    board = FakeGPIO()
    lg = FakeLgpio(board)
    gpio = LgpioGPIO(lg, lg.gpiochip_open(0))
    gpio.setup(DOUT, gpio.IN, pull_up_down=gpio.PUD_UP)
    assert gpio.input(DOUT) == 1
    with pytest.raises(lg.error, match="not an output"):
        gpio.output(DOUT, 0)
    with pytest.raises(ValueError, match="BCM"):
        gpio.setmode(gpio.BOARD)


def test_a_missing_library_is_a_backend_error_naming_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_gpio(name, *args, **kw):
        if name in ("RPi.GPIO", "RPi", "lgpio"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_gpio)
    with pytest.raises(BackendError, match="RPi.GPIO"):
        open_backend("rpi-gpio")
    with pytest.raises(BackendError, match="lgpio"):
        open_backend("lgpio")


def test_the_rpi_gpio_backend_is_the_module_in_bcm_numbering_with_warnings_off(monkeypatch):
    import types

    gpio = FakeGPIO()
    gpio.setwarnings(True)
    rpi = types.ModuleType("RPi")
    rpi.GPIO = gpio  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "RPi", rpi)
    monkeypatch.setitem(sys.modules, "RPi.GPIO", gpio)
    opened = open_backend("rpi-gpio")
    assert opened is gpio and gpio.getmode() == gpio.BCM and gpio.warnings is False
    close_backend(opened)  # RPi.GPIO keeps its module state: nothing to close, nothing fails
    assert gpio.getmode() == gpio.BCM
