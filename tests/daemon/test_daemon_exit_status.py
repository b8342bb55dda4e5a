"""`station daemon`'s exit status tells systemd what to do: 2 (bad config or options) is final,
69 (hardware) is retried."""
from __future__ import annotations

import logging

import pytest

from station.cli import main
from station.commands.daemon import SIM_FAULT_ENV


def daemon(tmp_path, *args: str) -> int:
    return main(["daemon", "--data", str(tmp_path / "data"), "--socket", str(tmp_path / "s.sock"), *args])


def test_hardware_that_fails_to_open_exits_69(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(SIM_FAULT_ENV, "open")
    with caplog.at_level(logging.ERROR, logger="station.daemon"):
        assert daemon(tmp_path, "--simulate") == 69
    # one line says why (the daemon's log, which journald keeps), and no traceback
    [line] = [r for r in caplog.records if r.name == "station.daemon" and r.levelno >= logging.ERROR]
    assert "hardware unavailable: the simulated board failed to open" in line.getMessage()
    assert line.exc_info is None


@pytest.mark.parametrize("args, env, message", [
    (["--simulate"], "melt", "unknown simulated fault 'melt'"),
    (["--speed", "2"], None, "only apply with --simulate"),
    (["--simulate", "--profile", "tired"], None, "unknown --profile 'tired'"),
    (["--simulate", "--speed", "0"], None, "--speed must be positive"),
])
def test_bad_options_exit_2(tmp_path, monkeypatch, capsys, args, env, message):
    if env:
        monkeypatch.setenv(SIM_FAULT_ENV, env)
    else:
        monkeypatch.delenv(SIM_FAULT_ENV, raising=False)
    assert daemon(tmp_path, *args) == 2
    assert message in capsys.readouterr().err


def test_a_bad_config_exits_2(tmp_path, capsys):
    bad = tmp_path / "station.toml"
    bad.write_text("this is = = not toml\n")
    assert daemon(tmp_path, "--simulate", "--config", str(bad)) == 2
    assert "Traceback" not in capsys.readouterr().err
