#!/usr/bin/env python3
"""Run the station from a fresh clone with nothing but python3.

    python3 dev.py demo        the station on simulated hardware, in this terminal
    python3 dev.py test        the whole test suite
    python3 dev.py lint        ruff and mypy, as CI runs them
    python3 dev.py station ... any `station` command (replay, simulate, ...)

The first run creates .venv/ beside this file and installs the project and its
test tools into it, at the tested versions in constraints.txt; later runs reuse
it, reinstalling when pyproject.toml or constraints.txt changes. Standard
library only, on purpose: it must run before anything is installed.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
#: the tested versions of the runtime dependencies (systemd/install.sh uses it too)
CONSTRAINTS = ROOT / "constraints.txt"
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".station-installed"


def say(msg: str) -> None:
    print(f"[dev] {msg}", file=sys.stderr, flush=True)


def ensure_venv() -> None:
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + CONSTRAINTS.read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == want:
        return
    if not PY.exists():
        say(f"creating a virtual environment in {VENV} ...")
        r = subprocess.run([sys.executable, "-m", "venv", str(VENV)])
        if r.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            # Debian splits ensurepip into python3-venv; fall back to the system pip.
            r = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(VENV)])
            if r.returncode != 0 or subprocess.run([sys.executable, "-m", "pip", "--version"],
                                                   capture_output=True).returncode != 0:
                sys.exit("[dev] cannot create a virtual environment: install python3-venv "
                         "(sudo apt install python3-venv) and run this again")
    say("installing the station and its test tools (first run only) ...")
    pip = [str(PY), "-m", "pip"]
    if subprocess.run(pip + ["--version"], capture_output=True).returncode != 0:
        pip = [sys.executable, "-m", "pip", "--python", str(PY)]
    r = subprocess.run(pip + ["install", "--quiet", "--disable-pip-version-check",
                                  "--constraint", str(CONSTRAINTS), "-e", f"{ROOT}[test]"])
    if r.returncode != 0:
        sys.exit("[dev] installing the project failed (see pip's message above)")
    STAMP.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0
    cmd, rest = argv[0], argv[1:]
    ensure_venv()
    env = dict(os.environ)
    if cmd == "test":
        args = [str(PY), "-m", "pytest", *rest]
    elif cmd == "lint":
        os.chdir(ROOT)
        for tool in (["ruff", "check", "station", "hardware", "tests"], ["mypy"]):
            r = subprocess.run([str(VENV / "bin" / tool[0]), *tool[1:]])
            if r.returncode != 0:
                return r.returncode
        return 0
    elif cmd == "demo":
        args = [str(VENV / "bin" / "station"), "demo", *rest]
    elif cmd == "station":
        args = [str(VENV / "bin" / "station"), *rest]
    else:
        print(f"[dev] unknown command {cmd!r}\n\n{__doc__.strip()}", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    os.execve(args[0], args, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
