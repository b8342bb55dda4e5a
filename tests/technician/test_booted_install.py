"""systemd/install.sh --simulate on a booted Debian Bookworm (systemd-nspawn), checked as systemd runs it.

One container for the module: a fresh copy of the cached root filesystem
(tests/system/debian.py), booted with systemd, this checkout bound
read-only at /src, the host's pip setup copied in. The tests run in file
order on that one system: install, then break it in each way systemd must
handle, then uninstall.

Run by hand: sudo .venv/bin/python -m pytest -m system tests/technician/test_booted_install.py
(or `sudo python3 tests/system/debian.py shell` to look around inside).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from station.errors import HardwareError
from tests.system import debian

pytestmark = [pytest.mark.system, pytest.mark.usefixtures("installed")]

DAEMON = "station-daemon.service"
UNITS = ["station-daemon.service", "station-ui.service"]
SOCKET = "/run/station/station.sock"
PROPS = ["ActiveState", "SubState", "Result", "NRestarts", "MainPID", "ExecMainStatus",
         "WatchdogTimestampMonotonic", "StatusText"]
# generous: the machine may be loaded, and the daemon may wait before exiting on a hardware error
# (its back-off); a wait that runs out fails, showing the last state
WAIT_S = 150
# Connects to the daemon's socket and prints the type of the first message (the API's hello).
HELLO = ("import json, socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1]); "
         "print(json.loads(s.makefile().readline())['type'])")


@pytest.fixture(scope="module")
def box():
    reason = debian.why_not()
    if reason:
        pytest.skip(f"cannot boot a Debian system here: {reason}")
    try:
        with debian.booted_with_checkout() as b:
            yield b
    except debian.Unavailable as e:
        pytest.skip(f"cannot boot a Debian system here: {e}")


@pytest.fixture(scope="module")
def installed(box):
    """install.sh --simulate, once for the module; every test asks for it, so any one runs alone."""
    return debian.run_installer(box, "--simulate")


def show(box, unit: str = DAEMON) -> dict[str, str]:
    out = box.run(["systemctl", "show", unit, *(f"--property={p}" for p in PROPS)]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_for(box, ok: Callable[[dict[str, str]], bool], what: str) -> dict[str, str]:
    """Poll the daemon's unit state until ``ok(state)``; fail after WAIT_S showing the last state and log."""
    deadline = time.monotonic() + WAIT_S
    pace = threading.Event()  # never set: a pause between polls of another process's state
    while True:
        state = show(box)
        if ok(state):
            return state
        if time.monotonic() > deadline:
            log = box.run(["journalctl", "-u", DAEMON, "-n", "40", "--no-pager"], check=False).stdout
            pytest.fail(f"{what}: not within {WAIT_S} s; last state {state}\n{log}")
        pace.wait(0.2)


def ready(state: dict[str, str]) -> bool:
    # Type=notify: "active" only after READY=1
    return state["ActiveState"] == "active" and state["SubState"] == "running"


def test_install_from_a_read_only_checkout_enables_both_units(box, installed):
    r = installed
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert box.run(["touch", "/src/x"], check=False).returncode != 0, "the checkout should be read-only"
    assert "+ apt-get update" in r.stdout
    for unit in UNITS:
        assert box.run(["systemctl", "is-enabled", unit]).stdout.strip() == "enabled"
    assert box.run(["systemctl", "is-enabled", "getty@tty1.service"], check=False).stdout.strip() == "disabled"
    assert "--simulate" in box.run(["systemctl", "cat", DAEMON]).stdout


def test_daemon_is_ready_and_pings_the_watchdog(box):
    state = wait_for(box, ready, "the daemon READY")
    assert "simulated hardware" in state["StatusText"]
    first = int(state["WatchdogTimestampMonotonic"])
    assert first > 0
    wait_for(box, lambda s: int(s["WatchdogTimestampMonotonic"]) > first, "a second watchdog ping")


def test_socket_is_0660_reachable_by_the_ui_user_and_refused_to_others(box):
    wait_for(box, ready, "the daemon READY")
    assert box.run(["stat", "-c", "%a %U %G", SOCKET]).stdout.split() == ["660", "station", "station"]
    ui = box.run(["/opt/station/bin/python", "-c", HELLO, SOCKET], user="station-ui", check=False)
    assert ui.returncode == 0 and ui.stdout.strip() == "hello", ui.stderr
    box.run(["useradd", "--system", "--no-create-home", "visitor"], check=False)
    other = box.run(["/opt/station/bin/python", "-c", HELLO, SOCKET], user="visitor", check=False)
    assert other.returncode != 0 and "PermissionError" in other.stderr, other.stdout + other.stderr


def test_kill_9_restarts_it(box):
    before = wait_for(box, ready, "the daemon READY")
    box.run(["kill", "-9", before["MainPID"]])
    after = wait_for(box, lambda s: ready(s) and s["MainPID"] != before["MainPID"]
                     and int(s["NRestarts"]) > int(before["NRestarts"]), "a restart after kill -9")
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1


def test_a_hardware_error_restarts_it_until_the_hardware_is_back(box):
    wait_for(box, ready, "the daemon READY")
    dropin = Path("/etc/systemd/system/station-daemon.service.d/zz-test-fault.conf")
    box.run(["sh", "-c", f"printf '[Service]\\nEnvironment=STATION_SIM_FAULT=open\\n' > {dropin}"])
    box.run(["systemctl", "daemon-reload"])
    # the start fails (the hardware error's exit status before READY=1), and systemd restarts it
    box.run(["systemctl", "restart", DAEMON], check=False)  # returns when that start has failed
    base = int(show(box)["NRestarts"])
    # between two attempts ("auto-restart") ExecMainStatus is the last one's exit status
    state = wait_for(box, lambda s: int(s["NRestarts"]) > base and s["SubState"] == "auto-restart",
                     "a restart after a hardware error")
    assert state["ExecMainStatus"] == str(HardwareError.exit_status), state
    log = box.run(["journalctl", "-u", DAEMON, "--no-pager"]).stdout
    assert "the simulated board failed to open" in log
    # the hardware comes back: the next automatic restart succeeds by itself
    box.run(["rm", str(dropin)])
    box.run(["systemctl", "daemon-reload"])
    wait_for(box, ready, "the daemon READY again once the fault is gone")


def test_a_bad_config_is_not_restarted(box):
    wait_for(box, ready, "the daemon READY")
    conf = "/etc/station/station.toml"
    box.run(["cp", "-p", conf, "/root/station.toml.good"])
    box.run(["sh", "-c", f"echo 'this is = = not toml' >> {conf}"])
    box.run(["systemctl", "restart", DAEMON], check=False)
    # "failed" is where systemd settles when it will not restart (Restart=always would say "activating")
    state = wait_for(box, lambda s: s["ActiveState"] == "failed", "the daemon given up on")
    assert state["ExecMainStatus"] == "2" and state["Result"] == "exit-code"
    assert state["NRestarts"] == "0"
    box.run(["cp", "-p", "/root/station.toml.good", conf])
    box.run(["systemctl", "reset-failed", DAEMON])
    box.run(["systemctl", "start", DAEMON])
    wait_for(box, ready, "the daemon READY with the good config")


def test_uninstall_keeps_records_and_config(box):
    def listing(path: str) -> str:
        return box.run(["sh", "-c", f"cd {path} && find . -type f -exec sha256sum {{}} + | sort"]).stdout

    box.run(["systemctl", "stop", DAEMON])  # the records as the daemon left them
    records, config = listing("/var/lib/station"), listing("/etc/station")
    assert records and "station.toml" in config
    r = box.run(["/src/systemd/install.sh", "--uninstall"], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert listing("/var/lib/station") == records
    assert listing("/etc/station") == config
    for path in ["/opt/station", *(f"/etc/systemd/system/{u}" for u in UNITS),
                 "/etc/systemd/system/station-daemon.service.d"]:
        assert box.run(["test", "-e", path], check=False).returncode != 0, f"{path} is still there"
    assert box.run(["id", "station"], check=False).returncode != 0
    assert box.run(["systemctl", "is-enabled", "getty@tty1.service"], check=False).stdout.strip() == "enabled"
