"""``station daemon``'s exit status: hardware trouble (69, retried by systemd) against a bad configuration (2, not)."""
from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hardware.base import Hardware
from station.cli import build_parser
from station.commands import daemon as daemon_command
from station.config import default_config_text
from station.errors import EXIT_HARDWARE_UNAVAILABLE, EXIT_USER_ERROR, HardwareError

REPO = Path(__file__).resolve().parents[2]
HAS_LGPIO = importlib.util.find_spec("lgpio") is not None


def _args(tmp_path: Path, *extra: str):
    return build_parser("daemon").parse_args(
        ["daemon", "--data", str(tmp_path / "data"), "--socket", str(tmp_path / "run" / "s.sock"), *extra])


def _station(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "LG_WD": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "station", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def _errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_hardware_that_cannot_be_opened_exits_69_with_one_log_line(tmp_path, caplog):
    def chip_busy(config, args):
        raise HardwareError("cannot open the GPIO pins (GPIOPinInUse: GPIO17 busy)")

    status = daemon_command.run(_args(tmp_path), open_hardware=chip_busy)
    assert status == EXIT_HARDWARE_UNAVAILABLE == 69
    [line] = _errors(caplog)
    assert "GPIO17 busy" in line.getMessage() and line.exc_info is None  # no traceback
    assert not (tmp_path / "run" / "s.sock").exists()


class _CellsFailAtStart(Hardware):
    """Opens, then fails to start as LiveHardware does when the load cells' child process fails."""

    def start(self, on_record) -> None:
        raise HardwareError("the load-cell process could not open the HX711s (RuntimeError: no RPi.GPIO)")

    def stop(self) -> None:
        pass  # nothing was opened


def test_under_systemd_unavailable_hardware_says_why_and_waits_before_exiting(tmp_path, monkeypatch):
    # The back-off: systemd restarts on any exit after RestartSec=, so the daemon waits first.
    notify = tmp_path / "notify"
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(notify))
    systemd.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify))
    waited: list[float] = []

    def chip_busy(config, args):
        raise HardwareError("cannot open the GPIO pins (GPIOPinInUse: GPIO17 busy)")

    try:
        status = daemon_command.run(_args(tmp_path, "--hardware-retry-s", "30"), open_hardware=chip_busy,
                                    wait=waited.append)
        said = systemd.recv(4096).decode()
    finally:
        systemd.close()
    assert status == EXIT_HARDWARE_UNAVAILABLE and waited == [30.0]
    assert said.startswith("STATUS=hardware unavailable: ") and "GPIO17 busy" in said and "30 s" in said


def test_hardware_that_fails_to_start_exits_69_with_one_log_line(tmp_path, caplog):
    def open_cells_failing(config, args):
        return _CellsFailAtStart()

    status = daemon_command.run(_args(tmp_path), open_hardware=open_cells_failing)
    assert status == EXIT_HARDWARE_UNAVAILABLE
    [line] = _errors(caplog)
    assert "could not open the HX711s" in line.getMessage() and line.exc_info is None


def test_options_that_do_not_fit_are_a_user_error_not_a_hardware_one(tmp_path):
    r = _station(tmp_path, "daemon", "--speed", "2", "--data", str(tmp_path / "d"), "--socket", str(tmp_path / "s"))
    assert r.returncode == EXIT_USER_ERROR, r.stderr
    assert r.stderr.strip() == "station daemon: --speed and --seed only apply with --simulate"


def test_a_bad_configuration_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "station.toml"
    bad.write_text(default_config_text().replace("start = 17", "start = 99", 1))
    r = _station(tmp_path, "daemon", "--config", str(bad), "--data", str(tmp_path / "d"),
                 "--socket", str(tmp_path / "s"))
    assert r.returncode == EXIT_USER_ERROR == 2
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0
    assert "'pins.buttons.start' = 99" in r.stderr


@pytest.mark.skipif(HAS_LGPIO, reason="lgpio is installed: this machine may have real GPIO pins to open")
def test_the_live_daemon_off_a_pi_exits_69_with_one_log_line(tmp_path):
    # The whole path: cli -> daemon command -> LiveHardware -> gpiozero's lgpio factory (absent here).
    r = _station(tmp_path, "daemon", "--data", str(tmp_path / "d"), "--socket", str(tmp_path / "s"))
    assert r.returncode == EXIT_HARDWARE_UNAVAILABLE, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR station.daemon: hardware unavailable: "), lines
    assert "cannot open the GPIO pins" in lines[0] and "--simulate" in lines[0]
