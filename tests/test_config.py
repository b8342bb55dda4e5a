"""station.toml validation: one clear message naming the key, exit status 2, no traceback."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from station.config import ConfigError, default_config_text, load_config, parse_config


def edited(old: str, new: str) -> str:
    text = default_config_text()
    assert old in text, old
    return text.replace(old, new, 1)


def test_default_config_loads_and_matches_the_trace_example_pins():
    c = load_config()
    assert c.holes == (5, 6, 13, 19, 26, 12, 16, 20, 21)
    assert c.buttons == {"start": 17}
    assert set(c.cells) == {"dish", "tray"}
    board = c.board({"dish": 7})
    assert board.cells["dish"].units_at_start == 7 and board.cells["tray"].units_at_start == 0


@pytest.mark.parametrize("old,new,key", [
    ("start = 17", "start = 5", "'pins.buttons.start' = 5 is already used by 'pins.holes[0]'"),
    ("holes = [5,", "holes = [1,", "'pins.holes[0]' = 1 is outside BCM GPIO 2-27"),
    ("dout = 24", "dout = 28", "'cells.tray.dout' = 28 is outside"),
    ("offset = 52000       # raw counts with the dish empty (tare)\n", "", "'cells.dish' has no calibration"),
    ("settle_ms = 10 ", "settle_ms = 10\nsetle_ms = 3 ", "unknown key 'station.setle_ms'"),
    ("settle_ms = 10 ", "settle_ms = \"ten\" ", "'station.settle_ms' must be a number"),
    ("active_low = true", "active_low = 1", "'station.active_low' must be true or false"),
    ("sample_hz = 80       # HX711 RATE pin high", "sample_hz = 40", "'cells.dish.sample_hz' must be 10 or 80"),
    ("[daemon]", "[deamon]", "unknown section [deamon]"),
    ("unit_g = 1.1 ", "unit_g = 0 ", "'cells.dish.unit_g' must be positive"),
])
def test_bad_configs_name_the_key(old, new, key):
    with pytest.raises(ConfigError) as e:
        parse_config(edited(old, new), "station.toml")
    assert key in str(e.value)
    assert str(e.value).startswith("station.toml: ")


@pytest.mark.parametrize("old,new,key", [
    ("holes = [5,", "holes = [2,", "'pins.holes[0]' = 2 has a fixed 1.8 kOhm pull-up"),
    ("start = 17", "start = 3", "'pins.buttons.start' = 3 has a fixed 1.8 kOhm pull-up"),
])
def test_gpio_2_and_3_refuse_switches_wired_to_be_pulled_down(old, new, key):
    text = edited("active_low = true", "active_low = false")
    assert old in text
    with pytest.raises(ConfigError) as e:
        parse_config(text.replace(old, new, 1), "s.toml")
    assert key in str(e.value) and "active_low" in str(e.value)


def test_gpio_2_and_3_take_switches_that_close_to_ground():
    c = parse_config(edited("holes = [5,", "holes = [2,").replace("start = 17", "start = 3", 1), "s.toml")
    assert c.active_low and c.holes[0] == 2 and c.buttons["start"] == 3


def test_not_toml():
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("holes = [", "x.toml")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "none.toml")


def test_cli_bad_config_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "station.toml"
    bad.write_text(edited("start = 17", "start = 99"))
    r = subprocess.run([sys.executable, "-m", "station", "check-config", "--config", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "'pins.buttons.start' = 99" in r.stderr


def test_cli_good_config(tmp_path):
    good = tmp_path / "station.toml"
    good.write_text(default_config_text())
    r = subprocess.run([sys.executable, "-m", "station", "check-config", "--config", str(good)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "9 holes" in r.stdout


def test_check_config_catches_a_damaged_pin_file_and_a_missing_norm_set(tmp_path, capsys):
    from station.cli import main
    from station.config import default_config_text

    cfg = tmp_path / "station.toml"
    cfg.write_text(default_config_text(), encoding="utf-8")
    assert main(["check-config", "--config", str(cfg)]) == 0
    (tmp_path / "staff-pins.toml").write_text('therapist = "md5$1$aa$bb"\n')
    assert main(["check-config", "--config", str(cfg)]) == 2
    assert "therapist" in capsys.readouterr().err
    (tmp_path / "staff-pins.toml").unlink()
    cfg.write_text(default_config_text().replace('norms = ""', f'norms = "{tmp_path / "none.csv"}"'))
    assert main(["check-config", "--config", str(cfg)]) == 2
    assert "none.csv" in capsys.readouterr().err


@pytest.mark.parametrize("make", ["fifo", "loop", "dir"])
def test_a_config_that_is_no_regular_file_is_one_clear_error(tmp_path, capsys, make):
    from station.cli import main

    path = tmp_path / "station.toml"
    if make == "fifo":
        os.mkfifo(path)
    elif make == "loop":
        path.symlink_to(path)
    else:
        path.mkdir()
    assert main(["check-config", "--config", str(path)]) == 2  # and no hang on the FIFO
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err
