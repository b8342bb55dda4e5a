"""Staff PINs: hashing, checking, storing in station.toml with its comments kept; set-pin."""
from __future__ import annotations

import io
import sys
import tomllib

import pytest

from station.cli import main
from station.config import default_config_text, load_config
from station.staff_pins import PinError, hash_pin, is_set, verify_pin, write_pin


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


def test_set_pin_writes_the_hash_and_keeps_the_comments(tmp_path, monkeypatch):
    cfg = tmp_path / "station.toml"
    cfg.write_text(default_config_text(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO("97531\n"))
    assert main(["set-pin", "therapist", "--config", str(cfg), "--stdin"]) == 0
    text = cfg.read_text(encoding="utf-8")
    assert "# PBKDF2 hashes of the staff PINs" in text  # comments survive
    stored = tomllib.loads(text)["staff"]["therapist_pin"]
    assert verify_pin("97531", stored)
    assert tomllib.loads(text)["staff"]["technician_pin"] == ""
    assert load_config(cfg).section("staff")["therapist_pin"] == stored  # still a valid config


def test_an_empty_pin_locks_the_screen_again(tmp_path, monkeypatch):
    cfg = tmp_path / "station.toml"
    cfg.write_text(default_config_text(), encoding="utf-8")
    write_pin(cfg, "technician", hash_pin("1234", iterations=1000))
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["set-pin", "technician", "--config", str(cfg), "--stdin"]) == 0
    assert tomllib.loads(cfg.read_text())["staff"]["technician_pin"] == ""


def test_set_pin_refuses_a_short_pin_and_a_missing_file(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "station.toml"
    cfg.write_text(default_config_text(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO("12\n"))
    assert main(["set-pin", "therapist", "--config", str(cfg), "--stdin"]) == 2
    assert "at least 4 digits" in capsys.readouterr().err
    assert main(["set-pin", "therapist", "--config", str(tmp_path / "nope.toml"), "--stdin"]) == 2
    assert "no such file" in capsys.readouterr().err
