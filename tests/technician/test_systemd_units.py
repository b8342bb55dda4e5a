"""systemd/*.service: they verify, they are locked down, and they start what the CLI provides."""
from __future__ import annotations

import importlib.util
import shlex
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
NO_ANALYZE = "systemd-analyze is not installed (apt-get install systemd; .ci/run installs it)"
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason=NO_ANALYZE)


def _bench():
    spec = importlib.util.spec_from_file_location("unit_security", REPO / "tests/benchmarks/unit_security.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> every value given (systemd allows repeats)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = out.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return out


def words(values: list[str]) -> list[str]:
    return [w for v in values for w in v.split()]


@needs_analyze
def test_both_units_pass_systemd_analyze_verify():
    ok, said = _bench().verify([UNITS / "station-daemon.service", UNITS / "station-ui.service"])
    assert ok, said


@needs_analyze
def test_verify_without_the_stand_in_complains_only_about_the_missing_binary(tmp_path):
    # Why the stand-in is needed: off a Pi the one complaint is the uninstalled binary.
    import subprocess

    b = _bench()
    if Path(b.INSTALLED_BINARY).exists():
        pytest.skip(f"{b.INSTALLED_BINARY} is installed here")
    out = subprocess.run(["systemd-analyze", "verify", str(UNITS / "station-daemon.service")],
                         capture_output=True, text=True)
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert lines and all(b.INSTALLED_BINARY in line and "not executable" in line for line in lines), lines


@needs_analyze
def test_exposure_daemon_at_most_2_5_and_ui_at_most_4_0():
    b = _bench()
    daemon, _ = b.exposure(UNITS / "station-daemon.service")
    ui, _ = b.exposure(UNITS / "station-ui.service")
    assert daemon <= 2.5, daemon
    assert ui <= 4.0, ui


def test_daemon_unit_is_a_watched_notify_service_with_its_own_user():
    s = unit("station-daemon.service")["Service"]
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["WatchdogSec"] and s["Restart"] == ["always"]
    assert s["User"] == ["station"] and "gpio" in words(s["SupplementaryGroups"])
    assert s["StateDirectory"] == ["station"] and s["RuntimeDirectory"] == ["station"]
    env = dict(w.split("=", 1) for w in words(s["Environment"]))
    assert env["LG_WD"] == "/run/station"
    assert s["WorkingDirectory"]


def _seconds(value: str) -> float:
    """A systemd time span as used in these units ("3s", "90s", "2min")."""
    for suffix, scale in (("min", 60.0), ("ms", 0.001), ("s", 1.0)):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * scale
    return float(value)


def test_daemon_unit_retries_unavailable_hardware_with_back_off_but_not_a_bad_configuration():
    from station.errors import EXIT_USER_ERROR

    u = unit("station-daemon.service")
    s = u["Service"]
    assert s["Restart"] == ["always"]
    assert words(s["RestartPreventExitStatus"]) == [str(EXIT_USER_ERROR)]  # 69 is restarted
    assert "SuccessExitStatus" not in s  # nor taken for a clean stop
    assert u["Unit"]["StartLimitIntervalSec"] == ["0"]  # a rate limit would leave the kiosk dead
    argv = shlex.split(s["ExecStart"][0])
    retry_s = float(argv[argv.index("--hardware-retry-s") + 1])
    # A crash comes back within RestartSec=; unavailable hardware waits longer, inside the
    # start timeout (the wait comes before READY=1).
    assert _seconds(s["RestartSec"][0]) < retry_s < _seconds(s["TimeoutStartSec"][0])


@needs_analyze
def test_systemd_names_the_hardware_exit_status_unavailable():
    import subprocess

    from station.errors import EXIT_HARDWARE_UNAVAILABLE

    out = subprocess.run(["systemd-analyze", "exit-status", str(EXIT_HARDWARE_UNAVAILABLE)],
                         capture_output=True, text=True, check=True).stdout
    assert "UNAVAILABLE" in out.split()


def test_daemon_unit_reaches_gpio_and_i2c_and_no_network():
    s = unit("station-daemon.service")["Service"]
    assert s["DevicePolicy"] == ["closed"]
    allowed = " ".join(s["DeviceAllow"])
    assert "gpiochip" in allowed and "i2c" in allowed and "/dev/gpiomem" in allowed
    assert words(s["RestrictAddressFamilies"]) == ["AF_UNIX"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups"):
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"]
    # gpiozero and RPi.GPIO identify the board from /proc/device-tree and /proc/cpuinfo.
    assert "ProcSubset" not in s
    assert "PrivateDevices" not in s  # it would hide /dev/gpiochip*


def test_ui_unit_is_the_kiosk_on_tty1_after_the_daemon():
    u = unit("station-ui.service")
    s = u["Service"]
    assert s["StandardInput"] == ["tty"] and s["StandardOutput"] == ["tty"]
    assert s["TTYPath"] == ["/dev/tty1"] and s["TTYReset"] == ["yes"] and s["TTYVHangup"] == ["yes"]
    assert "getty@tty1.service" in words(u["Unit"]["Conflicts"])
    assert "station-daemon.service" in words(u["Unit"]["After"])
    assert "station-daemon.service" in words(u["Unit"]["Wants"])
    assert s["Restart"] == ["always"]
    env = dict(w.split("=", 1) for w in words(s["Environment"]))
    assert env["TERM"] == "linux"
    assert any("--blank 0" in v for v in s.get("ExecStartPre", []))


def test_ui_talks_to_the_daemons_socket():
    from station.config import load_config

    daemon = unit("station-daemon.service")["Service"]
    ui = unit("station-ui.service")["Service"]
    argv = shlex.split(ui["ExecStart"][0])
    sock = argv[argv.index("--socket") + 1]
    assert sock == load_config().section("daemon")["socket"]
    assert Path(sock).parent == Path("/run") / daemon["RuntimeDirectory"][0]
    # The socket is group "station" (mode 0660): the UI's user must be in it.
    assert daemon["Group"][0] in words(ui["SupplementaryGroups"])


@pytest.mark.parametrize("name", ["station-daemon.service", "station-ui.service"])
def test_execstart_is_a_command_line_the_cli_accepts(name):
    from station.cli import build_parser

    argv = shlex.split(unit(name)["Service"]["ExecStart"][0])
    assert argv[0] == "/opt/station/bin/station"
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert argv[1] in sub.choices, f"`station {argv[1]}` is not a command"
    parser.parse_args(argv[1:])  # exits (SystemExit) on an unknown option
