#!/usr/bin/env python3
"""Print one JSON object: each systemd unit's exposure score and verify status.

    python tests/benchmarks/unit_security.py

Exposure is `systemd-analyze security --offline=yes UNIT`'s overall level
(0 = locked down, 10 = fully exposed). Verify is `systemd-analyze verify`. On a
machine where the station is not installed, /opt/station/bin/station does not
exist and verify would say only that; so the units are verified as temporary
copies whose ExecStart binary is swapped for /bin/true, and anything verify
says about them counts as a failure.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = ("station-daemon.service", "station-ui.service")
INSTALLED_BINARY = "/opt/station/bin/station"
STAND_IN = "/bin/true"
_EXPOSURE = re.compile(r"Overall exposure level for \S+: ([0-9.]+) (\w+)")


def exposure(unit: Path) -> tuple[float, str]:
    """The overall exposure score and its word (SAFE, OK, MEDIUM, EXPOSED, UNSAFE)."""
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
                         capture_output=True, text=True, check=False)
    m = _EXPOSURE.search(out.stdout + out.stderr)
    if not m:
        raise RuntimeError(f"no exposure level in systemd-analyze's output for {unit}:\n{out.stdout}{out.stderr}")
    return float(m.group(1)), m.group(2)


def verify(units: list[Path]) -> tuple[bool, str]:
    """Run `systemd-analyze verify` on copies of ``units``; (passed, what it said)."""
    with tempfile.TemporaryDirectory() as tmp:
        copies = []
        for unit in units:
            text = unit.read_text()
            if not Path(INSTALLED_BINARY).exists():
                text = text.replace(INSTALLED_BINARY, STAND_IN)
            copy = Path(tmp) / unit.name
            copy.write_text(text)
            copies.append(str(copy))
        out = subprocess.run(["systemd-analyze", "verify", *copies], capture_output=True, text=True, check=False)
    said = (out.stdout + out.stderr).strip()
    return out.returncode == 0 and not said, said


def main() -> int:
    if shutil.which("systemd-analyze") is None:
        print(json.dumps({"error": "systemd-analyze not found (apt-get install systemd)"}))
        return 1
    units = [UNIT_DIR / u for u in UNITS]
    figures: dict = {}
    ok, said = verify(units)
    for unit in units:
        score, word = exposure(unit)
        figures[unit.stem] = {"exposure": score, "level": word}
    figures["verify"] = "pass" if ok else "fail"
    if said:
        figures["verify_output"] = said
    figures["verify_note"] = ("" if Path(INSTALLED_BINARY).exists() else
                              f"{INSTALLED_BINARY} is not installed here: verified copies with ExecStart on {STAND_IN}")
    print(json.dumps(figures))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
