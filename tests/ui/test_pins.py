"""Staff PINs: hashing, checking, the daemon-only PIN file; set-pin and its refusals."""
from __future__ import annotations

import io
import stat
import sys
import tomllib

import pytest

from station.cli import main
from station.config import default_config_text
from station.staff_pins import (
    PIN_FILE,
    PinError,
    hash_pin,
    is_set,
    is_trivial,
    read_pin_file,
    verify_pin,
    write_pin_file,
)


def test_a_pin_verifies_and_a_wrong_one_does_not():
    stored = hash_pin("4321", iterations=1000)
    scheme, iterations, salt, digest = stored.split("$")
    assert (scheme, iterations, len(salt), len(digest)) == ("pbkdf2_sha256", "1000", 32, 64)
    # the PIN itself is not stored (checked on a fixed salt: random hex may contain "4321" by chance)
    assert "4321" not in hash_pin("4321", iterations=1000, salt=bytes(16))
    assert verify_pin("4321", stored)
    assert not verify_pin("4322", stored)
    assert not verify_pin("", stored)


def test_the_salt_makes_every_hash_different():
    assert hash_pin("4321", iterations=1000) != hash_pin("4321", iterations=1000)


def test_no_pin_set_means_locked():
    assert not is_set("")
    assert not verify_pin("", "")
    assert not verify_pin("1234", "  ")


@pytest.mark.parametrize("bad", ["12", "12a4", "", "١٢٣٤"])
def test_a_pin_is_four_or_more_ascii_digits(bad):
    with pytest.raises(PinError):
        hash_pin(bad)


@pytest.mark.parametrize("stored", ["md5$1$aa$bb", "pbkdf2_sha256$x$aa$bb", "pbkdf2_sha256$10$zz$bb", "garbage"])
def test_a_damaged_stored_pin_is_a_clear_error(stored):
    with pytest.raises(PinError, match="set-pin"):
        verify_pin("1234", stored)


def test_set_pin_writes_the_hash_to_a_file_only_its_owner_reads(tmp_path, station_toml, monkeypatch):
    before = station_toml.read_text(encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO("97531\n"))
    assert main(["set-pin", "therapist", "--config", str(station_toml), "--stdin"]) == 0
    pins_path = tmp_path / PIN_FILE
    assert stat.S_IMODE(pins_path.stat().st_mode) == 0o600  # not the kiosk group's to read
    pins = read_pin_file(pins_path)
    assert verify_pin("97531", pins["therapist"]) and pins["technician"] == ""
    assert station_toml.read_text(encoding="utf-8") == before  # station.toml (group-readable) holds no hash


def test_set_pin_moves_an_old_hash_out_of_station_toml(tmp_path, monkeypatch):
    cfg = tmp_path / "station.toml"
    old = hash_pin("97531", iterations=1000)
    cfg.write_text(default_config_text() + f'\n[staff]\ntechnician_pin = "{old}"\n', encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO("86420\n"))
    assert main(["set-pin", "technician", "--config", str(cfg), "--stdin"]) == 0
    assert tomllib.loads(cfg.read_text())["staff"]["technician_pin"] == ""
    assert verify_pin("86420", read_pin_file(tmp_path / PIN_FILE)["technician"])


def test_an_empty_pin_locks_the_screen_again(tmp_path, monkeypatch):
    pins_path = tmp_path / "pins.toml"
    write_pin_file(pins_path, "technician", hash_pin("97531", iterations=1000))
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["set-pin", "technician", "--pin-file", str(pins_path), "--stdin"]) == 0
    assert read_pin_file(pins_path)["technician"] == ""


@pytest.mark.parametrize("pin", ["0000", "1234", "4321", "7777", "2580", "98765", "1212"])
def test_set_pin_refuses_a_guessable_pin(tmp_path, monkeypatch, capsys, pin):
    monkeypatch.setattr(sys, "stdin", io.StringIO(pin + "\n"))
    assert main(["set-pin", "therapist", "--pin-file", str(tmp_path / "p.toml"), "--stdin"]) == 2
    assert "first PINs anyone would try" in capsys.readouterr().err
    assert not (tmp_path / "p.toml").exists()


def test_guessable_pins_are_recognised_by_shape():
    assert all(is_trivial(p) for p in ("0000", "1234", "6789", "3210", "8901", "1111111", "6969"))
    assert not any(is_trivial(p) for p in ("2468", "1357", "97531", "8264", "1243"))


def test_a_damaged_pin_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('therapist = "x"\nadmin = "y"\n')
    with pytest.raises(PinError, match="unknown: admin"):
        read_pin_file(bad)
    bad.write_text("therapist = \n")
    with pytest.raises(PinError, match="cannot read"):
        read_pin_file(bad)


def test_set_pin_refuses_a_short_pin_and_a_missing_file(tmp_path, station_toml, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("12\n"))
    assert main(["set-pin", "therapist", "--config", str(station_toml), "--stdin"]) == 2
    assert "at least 4 digits" in capsys.readouterr().err
    assert main(["set-pin", "therapist", "--config", str(tmp_path / "nope.toml"), "--stdin"]) == 2
    assert "no such file" in capsys.readouterr().err
