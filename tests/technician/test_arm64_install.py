"""systemd/install.sh --simulate in an arm64 Bookworm chroot under qemu-user, as a Pi 4 and then a Pi 5.

The Pi's own architecture and Python, without a Pi: the installer picks the
board's GPIO library by the model string (RPi.GPIO on the Pi 4, built from
its sdist; the rpi-lgpio shim over lgpio's aarch64 wheel on the Pi 5, the
other removed: an SD card moved between boards), and the installed station
runs its simulated self-test on arm64. No systemd runs in a chroot, so the
units are installed, not enabled (test_booted_install.py boots one).

Slow under emulation; skipped with the reason where the machine has no
qemu-user-static or binfmt_misc (.ci/run sets both up).
"""
from __future__ import annotations

import pytest

from tests.system import debian

pytestmark = [pytest.mark.system]

ARCH = "arm64"
PI4 = "Raspberry Pi 4 Model B Rev 1.4"
PI5 = "Raspberry Pi 5 Model B Rev 1.0"
STATION = "/opt/station/bin/station"


@pytest.fixture(scope="module")
def chroot():
    if not debian.all_system_tests():
        pytest.skip(debian.ONLY_BOOKWORM)
    reason = debian.why_not(ARCH, boot=False)
    if reason:
        pytest.skip(f"cannot run an arm64 chroot here: {reason}")
    binds = [(str(debian.REPO), "/src"), *((d, d) for d in debian.local_pip_sources())]
    try:
        with debian.unpacked(ARCH) as root, debian.Chroot(root, binds_ro=binds) as c:
            assert c.run(["uname", "-m"]).stdout.strip() == "aarch64"
            c.run(["update-ca-certificates"])
            yield c
    except debian.Unavailable as e:
        pytest.skip(f"cannot run an arm64 chroot here: {e}")


def install_as(chroot, model: str):
    r = debian.run_installer(chroot, "--simulate", env={"STATION_PI_MODEL": model})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def pip_has(chroot, name: str) -> bool:
    return chroot.run(["/opt/station/bin/pip", "show", "--quiet", name], check=False).returncode == 0


def test_pi4_install_gets_rpi_gpio_and_runs_the_simulated_station(chroot):
    r = install_as(chroot, PI4)
    assert f"board: {PI4}" in r.stdout and "GPIO library for this board: RPi.GPIO" in r.stdout
    assert "systemd is not running here: units installed, not enabled" in r.stdout
    assert pip_has(chroot, "RPi.GPIO") and not pip_has(chroot, "rpi-lgpio")
    assert chroot.run(["test", "-e", "/etc/systemd/system/station-daemon.service.d/simulate.conf"],
                      check=False).returncode == 0
    check = chroot.run([STATION, "selftest", "--simulate", "--config", "/etc/station/station.toml"], check=False)
    assert check.returncode == 0 and "all checks passed" in check.stdout, check.stdout + check.stderr


def test_pi5_install_over_it_swaps_to_rpi_lgpio(chroot):
    r = install_as(chroot, PI5)
    assert "GPIO library for this board: rpi-lgpio" in r.stdout
    assert "keeping the existing /etc/station/station.toml" in r.stdout
    assert pip_has(chroot, "rpi-lgpio") and pip_has(chroot, "lgpio") and not pip_has(chroot, "RPi.GPIO")
    # the lgpio module loads on aarch64 (it needs no GPIO chip to import)
    imp = chroot.run(["/opt/station/bin/python", "-c", "import lgpio; print(lgpio.__name__)"], check=False,
                     env={"LG_WD": "/tmp"})
    assert imp.returncode == 0 and imp.stdout.strip() == "lgpio", imp.stderr
