"""lgpio's FIFO: `station` sets LG_WD to a writable directory of the user's own before any command runs.

Importing lgpio (gpiozero's pin factory on the Pi, and the rpi-lgpio shim)
makes a FIFO in $LG_WD, else in the working directory, and fails where that
is not writable: `sudo -u station /opt/station/bin/station selftest` as the
installer prints it, run from root's home. ``tests/support_lgpio/lgpio.py``
stands in for lgpio's import (the FIFO and the chdir) off a Pi.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from station.cli import main

REPO = Path(__file__).resolve().parents[1]
FAKE_LGPIO = REPO / "tests" / "support_lgpio"
UNWRITABLE = "/proc"  # not writable even for root, who runs CI


@pytest.fixture
def no_lg_wd(monkeypatch):
    """LG_WD unset for the test (main() sets it in os.environ; restored afterwards)."""
    monkeypatch.setenv("LG_WD", "restored-after-the-test")
    monkeypatch.delenv("LG_WD")


def test_lg_wd_is_the_users_runtime_dir_when_there_is_one(no_lg_wd, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert main(["check-config"]) == 0
    assert os.environ["LG_WD"] == str(tmp_path)


def test_without_a_runtime_dir_lg_wd_is_a_private_dir_in_tmp(no_lg_wd, monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["check-config"]) == 0
    wd = Path(os.environ["LG_WD"])
    assert wd == tmp_path / f"station-lgpio-{os.getuid()}"
    st = wd.lstat()
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()


def test_a_runtime_dir_the_user_cannot_write_is_passed_over(no_lg_wd, monkeypatch, tmp_path):
    # `sudo -u station` may keep root's XDG_RUNTIME_DIR; here one that is not a directory at all
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["check-config"]) == 0
    assert os.environ["LG_WD"] == str(tmp_path / f"station-lgpio-{os.getuid()}")


def test_a_planted_symlink_in_tmp_is_not_followed(no_lg_wd, monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / f"station-lgpio-{os.getuid()}").symlink_to(elsewhere)
    assert main(["check-config"]) == 0
    wd = Path(os.environ["LG_WD"])
    assert wd.parent == tmp_path and wd.name.startswith("station-lgpio-") and not wd.is_symlink()
    assert wd.resolve() != elsewhere


def test_an_lg_wd_already_set_is_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("LG_WD", "/run/station")  # the systemd unit's
    assert main(["check-config"]) == 0
    assert os.environ["LG_WD"] == "/run/station"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LG_WD", "XDG_RUNTIME_DIR")}
    env["PYTHONPATH"] = os.pathsep.join([str(FAKE_LGPIO), str(REPO), env.get("PYTHONPATH", "")])
    return {**env, **extra}


def test_the_stand_in_fails_as_lgpio_does_from_a_directory_it_cannot_write():
    r = subprocess.run([sys.executable, "-c", "import lgpio"], cwd=UNWRITABLE, env=_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and ".lgd-nfy0" in r.stderr


def test_selftest_from_a_directory_it_cannot_write_gets_past_loading_lgpio(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    r = subprocess.run([sys.executable, "-m", "station", "selftest"], cwd=UNWRITABLE,
                       env=_env(XDG_RUNTIME_DIR=str(run)), capture_output=True, text=True, timeout=120)
    [pins] = [line for line in r.stdout.splitlines() if line.startswith(("PASS pins", "FAIL pins"))]
    assert ".lgd-nfy0" not in pins and "Error: [Errno" not in pins, pins  # lgpio loaded; the chip is absent
    assert stat.S_ISFIFO((run / ".lgd-nfy0").lstat().st_mode)


@pytest.fixture
def fresh_lgpio_import(monkeypatch):
    """Import the stand-in afresh (its side effects run on import); forget it afterwards."""
    names = ("lgpio", "gpiozero.pins.lgpio")
    for name in names:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(FAKE_LGPIO))
    yield
    for name in names:
        sys.modules.pop(name, None)


def test_opening_the_live_pins_keeps_the_working_directory(fresh_lgpio_import, monkeypatch, tmp_path):
    # lgpio changes directory to LG_WD as it loads; a relative --data or --config must keep its meaning.
    from hardware.live import open_live_switches
    from station.config import load_config
    from station.errors import HardwareError

    lg_wd, cwd = tmp_path / "lg", tmp_path / "cwd"
    lg_wd.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("LG_WD", str(lg_wd))
    monkeypatch.chdir(cwd)
    with pytest.raises(HardwareError, match="cannot open the GPIO pins"):
        open_live_switches(load_config())  # no Pi here: fails after lgpio has loaded
    assert (lg_wd / ".lgd-nfy0").exists()
    assert Path.cwd() == cwd
