"""systemd/install.sh: shellcheck-clean, and its --dry-run prints the whole plan and changes nothing."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "systemd" / "install.sh"
PI5 = "Raspberry Pi 5 Model B Rev 1.0"
PI4 = "Raspberry Pi 4 Model B Rev 1.4"


CONSTRAINTS = REPO / "constraints.txt"
BOOKWORM = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n'
TRIXIE = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_CODENAME=trixie\n'


def install(*args: str, model: str | None = PI4, cmdline: Path | None = None,
            env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if model is not None:
        env["STATION_PI_MODEL"] = model
    if cmdline is not None:
        env["STATION_CMDLINE"] = str(cmdline)
    env.update(env_extra or {})
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)


def shell_scripts() -> list[Path]:
    """Every shell script in the repository: *.sh and files with a sh/bash shebang."""
    out = []
    for p in REPO.rglob("*"):
        if not p.is_file() or any(part in (".git", ".venv", "node_modules") for part in p.parts):
            continue
        if p.suffix == ".sh":
            out.append(p)
            continue
        try:
            first = p.open("rb").readline(100)
        except OSError:
            continue
        if first.startswith(b"#!") and any(s in first for s in (b"bash", b"/sh", b" sh")):
            out.append(p)
    return sorted(out)


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (apt-get install shellcheck; .ci/run installs it)")
def test_shellcheck_passes_on_every_shell_script():
    scripts = shell_scripts()
    assert SCRIPT in scripts and REPO / ".ci" / "run" in scripts
    out = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dry_run_prints_the_full_plan():
    r = install("--dry-run")
    assert r.returncode == 0, r.stderr
    plan = r.stdout
    for step in [
        "apt-get update",                       # fresh package lists first
        "apt-get install",                      # what a venv needs
        "useradd --system",                     # the service user ...
        "usermod --append --groups gpio\\,i2c station",  # ... in the gpio group
        "station-ui",                           # the kiosk's own user
        "-m venv /opt/station",
        f"/opt/station/bin/pip install --quiet --upgrade --constraint {CONSTRAINTS}",
        "/station-src.XXXXXX\\[pi\\]",          # built from a copy: the checkout may be read-only
        f"--constraint {CONSTRAINTS} RPi.GPIO",  # a Pi 4
        "/etc/station/station.toml",
        "/etc/systemd/system/station-daemon.service",
        "/etc/systemd/system/station-ui.service",
        "systemctl disable getty@tty1.service",
        "systemctl enable station-daemon.service station-ui.service",
        "consoleblank=0",
    ]:
        assert step in plan, f"missing from the plan: {step}\n{plan}"
    assert plan.index("+ apt-get update") < plan.index("+ apt-get install")
    assert f"{REPO}\\[pi\\]" not in plan and "simulate.conf" not in plan


def test_dry_run_changes_nothing(tmp_path):
    cmdline = tmp_path / "cmdline.txt"
    cmdline.write_text("console=tty1 root=PARTUUID=1234-02 rootwait\n")
    before = cmdline.read_text()
    existed = Path("/opt/station").exists()
    r = install("--dry-run", cmdline=cmdline)
    assert r.returncode == 0, r.stderr
    assert "sed -i" in r.stdout and str(cmdline) in r.stdout
    assert cmdline.read_text() == before
    assert Path("/opt/station").exists() == existed


def test_pi5_gets_rpi_lgpio_and_others_rpi_gpio():
    for model, want, not_want in [(PI5, "rpi-lgpio", "RPi.GPIO"),
                                  (PI4, "RPi.GPIO", "rpi-lgpio"),
                                  ("Raspberry Pi 3 Model B Plus Rev 1.3", "RPi.GPIO", "rpi-lgpio"),
                                  ("Raspberry Pi Zero 2 W Rev 1.0", "RPi.GPIO", "rpi-lgpio")]:
        plan = install("--dry-run", model=model).stdout
        assert f"--constraint {CONSTRAINTS} {want}" in plan, model
        assert f"--constraint {CONSTRAINTS} {not_want}" not in plan, model


def test_model_is_read_from_the_device_tree_without_the_override():
    r = install("--dry-run", model=None)
    assert r.returncode == 0
    tree = Path("/proc/device-tree/model")
    if tree.exists():
        assert tree.read_bytes().rstrip(b"\0").decode() in r.stdout
    else:
        assert "board: unknown" in r.stdout and "no GPIO library" in r.stdout


def test_uninstall_dry_run_removes_everything_but_the_data():
    r = install("--uninstall", "--dry-run")
    assert r.returncode == 0, r.stderr
    plan = r.stdout
    for step in ["systemctl disable --now station-daemon.service station-ui.service",
                 "rm -f /etc/systemd/system/station-daemon.service",
                 "rm -f /etc/systemd/system/station-ui.service",
                 "systemctl enable getty@tty1.service",
                 "rm -rf /opt/station", "userdel station-ui", "userdel station"]:
        assert step in plan, step
    commands = [line for line in plan.splitlines() if line.startswith("+ ")]
    assert not any("/var/lib/station" in c or "/etc/station" in c for c in commands), commands


def test_unknown_option_is_refused_with_usage():
    r = install("--frobnicate")
    assert r.returncode == 2
    assert "unknown option '--frobnicate'" in r.stderr and "--dry-run" in r.stderr and "--simulate" in r.stderr
    assert "What it does" not in r.stderr


def _source(snippet: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f'source "{SCRIPT}"; DRY_RUN=0; {snippet}'],
                          capture_output=True, text=True, cwd=tmp_path)


def test_console_blanking_edit_is_idempotent_and_reversible(tmp_path):
    f = tmp_path / "cmdline.txt"
    original = "console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 rootwait\n"
    f.write_text(original)
    assert _source(f'console_blank_off "{f}"', tmp_path).returncode == 0
    once = f.read_text()
    assert once == original.rstrip("\n") + " consoleblank=0\n"
    r = _source(f'console_blank_off "{f}"', tmp_path)
    assert f.read_text() == once and "already off" in r.stdout
    assert _source(f'console_blank_restore "{f}"', tmp_path).returncode == 0
    assert f.read_text() == original


def test_gpio_package_choice(tmp_path):
    r = _source('gpio_package "Raspberry Pi Compute Module 5 Rev 1.0"; gpio_package "Raspberry Pi 3 Model B Rev 1.2";'
                ' gpio_package "QEMU Virtual Machine"; echo end', tmp_path)
    assert r.stdout.split("\n") == ["rpi-lgpio", "RPi.GPIO", "", "end", ""]


def test_simulate_installs_a_drop_in_that_runs_the_simulated_board():
    plan = install("--dry-run", "--simulate").stdout
    assert "simulated station" in plan
    assert "install -d -m 0755 /etc/systemd/system/station-daemon.service.d" in plan
    lines = plan.splitlines()
    start = lines.index("==> writing /etc/systemd/system/station-daemon.service.d/simulate.conf:")
    dropin = [line.strip() for line in lines[start + 1:start + 8]]
    assert "[Service]" in dropin and "ExecStart=" in dropin
    assert any(line.startswith("ExecStart=/opt/station/bin/station daemon --simulate ") for line in dropin), dropin


def test_simulate_drop_in_has_the_unit_s_exec_start_plus_simulate(tmp_path):
    unit = (REPO / "systemd" / "station-daemon.service").read_text()
    live = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    out = _source("simulate_dropin", tmp_path).stdout.splitlines()
    assert out[-2:] == ["ExecStart=", live.replace(" daemon ", " daemon --simulate ")]


def _fake_python(tmp_path: Path, version: str) -> Path:
    """A stand-in for the system Python that only answers the installer's version question."""
    py = tmp_path / f"python{version}"
    py.write_text(f"#!/bin/sh\necho {version}\n")
    py.chmod(0o755)
    return py


@pytest.mark.parametrize("os_release, version, builds", [(BOOKWORM, "3.11", False), (TRIXIE, "3.13", True)])
def test_trixie_python_3_13_builds_lgpio_from_its_bundled_sources(tmp_path, os_release, version, builds):
    release = tmp_path / "os-release"
    release.write_text(os_release)
    for model, gpio in [(PI5, "rpi-lgpio"), (PI4, "RPi.GPIO")]:
        r = install("--dry-run", model=model, env_extra={"STATION_OS_RELEASE": str(release),
                                                         "STATION_PYTHON": str(_fake_python(tmp_path, version))})
        assert r.returncode == 0, r.stderr
        plan = r.stdout
        assert os_release.split('"')[1] in plan  # the system named
        assert f"Python {version}" in plan
        pip_lines = [line for line in plan.splitlines() if "/opt/station/bin/pip install" in line
                     and "--constraint" in line]
        assert len(pip_lines) == 2 and gpio in pip_lines[1]
        assert all(line.startswith("+ env PYPI=1 ") == builds for line in pip_lines), pip_lines
        assert ("builds it from its bundled C sources" in plan) == builds


def test_lgpio_needs_a_build_from_python_3_13(tmp_path):
    r = _source('for v in 3.11 3.12 3.13 3.14 4.0; do lgpio_needs_build "$v" && echo "$v yes" || echo "$v no"; done',
                tmp_path)
    assert r.stdout.split("\n")[:-1] == ["3.11 no", "3.12 no", "3.13 yes", "3.14 yes", "4.0 yes"]


def test_the_build_copy_leaves_out_what_the_checkout_made(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    for rel in ["pyproject.toml", "station/x.py", ".git/HEAD", ".venv/bin/python", "station.egg-info/PKG-INFO",
                "build/lib/x.py", "station/__pycache__/x.pyc"]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x")
    dst.mkdir()
    r = _source(f'SRC="{src}"; copy_source "{dst}"', tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file()) == [
        "pyproject.toml", "station/x.py"]
