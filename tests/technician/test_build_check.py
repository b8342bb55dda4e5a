"""station selftest: passes on a healthy simulated board, names each fault in one FAIL line."""
from __future__ import annotations

import random
import re

import pytest

from station import build_check
from station.cli import main
from station.commands.selftest import STALLS
from station.config import default_config_text, load_config


def lines(capsys) -> tuple[list[str], str]:
    out = capsys.readouterr()
    return out.out.splitlines(), out.err


def test_passes_on_simulated_hardware(capsys):
    assert main(["selftest", "--simulate"]) == 0
    out, _ = lines(capsys)
    checks = [line for line in out if line.startswith(("PASS", "FAIL"))]
    assert all(line.startswith("PASS") for line in checks), out
    items = [line.split(":")[0].removeprefix("PASS ") for line in checks]
    assert items == ["config", "pins", *[f"hole {i}" for i in range(1, 10)], "button start",
                     "load cell dish", "load cell tray"]
    for line in checks[-2:]:  # each cell: how it was clocked, the rate measured, the readings lost
        m = re.fullmatch(r"PASS load cell \w+: via simulated: 40 readings at ([\d.]+) samples/s, 0 discarded, "
                         r"noise [\d.]+ g \(limit [\d.]+ g\)", line)
        assert m, line
        assert 76 <= float(m.group(1)) <= 84


def test_a_stalled_reader_shows_its_discarded_readings_and_still_passes(capsys):
    assert main(["selftest", "--simulate", "--stall-cell", "tray"]) == 0
    out, _ = lines(capsys)
    dish = next(line for line in out if line.startswith("PASS load cell dish"))
    tray = next(line for line in out if line.startswith("PASS load cell tray"))
    assert ", 0 discarded," in dish
    m = re.search(r"via simulated: (\d+) readings at [\d.]+ samples/s, (\d+) discarded "
                  r"\((\d+) readout past the next conversion\)", tray)
    assert m, tray
    readings, discarded, why = map(int, m.groups())
    assert 1 <= discarded == why <= STALLS and readings + discarded == 40


def test_stuck_switch_fails_with_one_clear_line(capsys):
    assert main(["selftest", "--simulate", "--stuck-hole", "4"]) == 1
    out, err = lines(capsys)
    fails = [line for line in out if line.startswith("FAIL")]
    assert len(fails) == 1, out
    assert fails[0].startswith("FAIL hole 4: GPIO19, header pin 35") and "stuck closed" in fails[0]
    # 14 items: config, pins, 9 holes, the button, 2 cells; the verdict is on stdout with the report
    assert out[-1] == "SELFTEST FAILED (13 of 14 passed)"
    assert err == ""


def test_unplugged_load_cell_fails_with_one_clear_line(capsys):
    assert main(["selftest", "--simulate", "--unplug-cell", "dish"]) == 1
    out, _ = lines(capsys)
    fails = [line for line in out if line.startswith("FAIL")]
    assert len(fails) == 1, out
    assert fails[0].startswith("FAIL load cell dish: HX711 not answering")
    assert "GPIO22" in fails[0] and "3.3 V" in fails[0]
    assert any(line.startswith("PASS load cell tray") for line in out)


def test_invalid_config_is_a_fail_line_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "station.toml"
    bad.write_text(default_config_text().replace("pd_sck = 23", "pd_sck = 22"))
    assert main(["selftest", "--simulate", "--config", str(bad)]) == 1
    out, err = lines(capsys)
    assert out[0].startswith("FAIL config:") and "already used" in out[0]
    assert out[1:] == ["SELFTEST FAILED (0 of 1 passed)"]
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--stuck-hole", "2"], "only apply with --simulate"),
    (["--simulate", "--stuck-hole", "10"], "from 1 to 9"),
    (["--simulate", "--unplug-cell", "bowl"], "no cell 'bowl'"),
    (["--stall-cell", "dish"], "only apply with --simulate"),
    (["--simulate", "--stall-cell", "bowl"], "--stall-cell: no cell 'bowl'"),
])
def test_bad_options_are_user_errors(argv, message, capsys):
    assert main(["selftest", *argv]) == 2
    assert message in capsys.readouterr().err


class ScriptedDriver:
    """Stands in for an HX711 driver: readings at ``hz`` with the given counts."""

    def __init__(self, counts, hz=80.0):
        self.counts = iter(counts)
        self.t = 100.0
        self.hz = hz

    def read_sample(self):
        self.t += 1 / self.hz
        return self.t, next(self.counts)


class DiscardingDriver(ScriptedDriver):
    """Discards every ``every``-th reading (a stalled readout), else reads like ScriptedDriver."""

    def __init__(self, counts, every):
        super().__init__(counts)
        self.every = every
        self.n = 0

    def read_sample(self):
        from hardware.hx711 import PulseTooLong, ReadoutTooSlow

        self.n += 1
        if self.n % self.every == 0:
            self.t += 1 / self.hz
            if self.n % (2 * self.every) == 0:
                raise PulseTooLong("PD_SCK pulse 80 us high (limit 50 us): reading discarded", high_s=80e-6)
            raise ReadoutTooSlow("readout ended 12.6 ms after DOUT was last seen high", readout_s=0.013)
        return super().read_sample()


def test_discarded_readings_are_counted_by_reason_and_the_backend_named():
    cell = load_config().cells["dish"]
    rng = random.Random(3)
    r = build_check.check_cell(cell, DiscardingDriver((52000 + round(rng.gauss(0, 10)) for _ in range(40)), 5),
                               backend="lgpio")
    assert r.ok, r.detail
    assert r.detail.startswith("via lgpio: 32 readings at ")
    assert "8 discarded (4 readout past the next conversion, 4 clock pulse over 50 us)" in r.detail


def test_mostly_discarded_readings_fail_naming_the_backend():
    cell = load_config().cells["dish"]
    rng = random.Random(4)
    r = build_check.check_cell(cell, DiscardingDriver((52000 + round(rng.gauss(0, 10)) for _ in range(40)), 1),
                               backend="rpi-gpio")
    assert not r.ok
    assert r.detail.startswith("only 0 of 40 readings usable via RPi.GPIO, 40 discarded (20 ")


def test_cell_at_10_samples_per_second_points_at_the_rate_pin():
    cell = load_config().cells["dish"]
    rng = random.Random(1)
    r = build_check.check_cell(cell, ScriptedDriver((52000 + round(rng.gauss(0, 10)) for _ in range(40)), hz=10))
    assert not r.ok and "10 samples/s" in r.detail and "RATE" in r.detail


def test_cell_with_constant_readings_fails():
    cell = load_config().cells["dish"]
    r = build_check.check_cell(cell, ScriptedDriver([52000] * 40))
    assert not r.ok and "every reading is 52000" in r.detail


def test_cell_noise_is_judged_against_one_item():
    cell = load_config().cells["dish"]  # 420 counts/g, 1.1 g per peg: limit 0.275 g
    rng = random.Random(2)
    quiet = build_check.check_cell(cell, ScriptedDriver(52000 + round(rng.gauss(0, 0.05 * 420)) for _ in range(40)))
    noisy = build_check.check_cell(cell, ScriptedDriver(52000 + round(rng.gauss(0, 1.0 * 420)) for _ in range(40)))
    assert quiet.ok, quiet.detail
    assert not noisy.ok and "noise" in noisy.detail


def test_live_pins_that_cannot_be_opened_are_one_fail_line(capsys):
    try:
        import lgpio  # noqa: F401
        pytest.skip("lgpio is importable here; the live path would touch real pins")
    except ImportError:
        pass
    assert main(["selftest"]) == 1
    out, err = lines(capsys)
    assert out[1].startswith("FAIL pins: cannot open them")
    assert out[2:] == ["SELFTEST FAILED (1 of 2 passed)"]
    assert "Traceback" not in err
