"""systemd/install.sh --simulate on a booted Debian Trixie: Python 3.13, where lgpio has no wheel.

Raspberry Pi OS Trixie is Debian Trixie with the Pi's kernel and firmware;
what the installer meets there (Python 3.13, no lgpio wheel on PyPI, a newer
systemd) is Debian's, so a booted Debian Trixie shows it: lgpio is built from
the C sources in its sdist and linked in statically, and the daemon comes up
READY under systemd. The Bookworm test (test_booted_install.py) checks the
service's behaviour in depth; this one checks that the install works here.
"""
from __future__ import annotations

import pytest

from tests.system import debian

pytestmark = [pytest.mark.system]

SUITE = "trixie"


@pytest.fixture(scope="module")
def box():
    if not debian.all_system_tests():
        pytest.skip(debian.ONLY_BOOKWORM)
    reason = debian.why_not()
    if reason:
        pytest.skip(f"cannot boot a Debian system here: {reason}")
    try:
        with debian.booted_with_checkout(suite=SUITE) as b:
            yield b
    except debian.Unavailable as e:
        pytest.skip(f"cannot boot Debian {SUITE} here: {e}")


def test_install_builds_lgpio_and_the_daemon_comes_up(box):
    r = debian.run_installer(box, "--simulate")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "system: Debian GNU/Linux 13 (trixie)" in r.stdout
    assert "Python 3.13" in r.stdout and "no lgpio wheel for Python 3.13" in r.stdout
    # built from the bundled sources: the module carries lgpio itself, no liblgpio.so needed
    mod = box.run(["/opt/station/bin/python", "-c", "import _lgpio; print(_lgpio.__file__)"],
                  env={"LG_WD": "/tmp"}).stdout.strip()
    assert mod.endswith(".so")
    assert "liblgpio" not in box.run(["ldd", mod]).stdout
    # Type=notify: `systemctl start` returns once the daemon said READY=1 (or fails)
    box.run(["systemctl", "start", "station-daemon.service"])
    state = box.run(["systemctl", "show", "station-daemon.service", "--property=ActiveState",
                     "--property=StatusText"]).stdout
    assert "ActiveState=active" in state and "simulated hardware" in state, state
