"""constraints.txt: one pin per runtime dependency, gpiozero below 2.1, and this environment built with it."""
from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    out = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"not an exact pin: {line}"
            out[canonicalize_name(name)] = pinned
    return out


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_every_runtime_dependency_and_gpio_library_is_pinned():
    p = project()
    wanted = [Requirement(r).name for r in p["dependencies"] + p["optional-dependencies"]["pi"]]
    wanted += ["rpi-lgpio", "RPi.GPIO"]  # systemd/install.sh adds one of them by board
    missing = [n for n in wanted if canonicalize_name(n) not in pins()]
    assert not missing, f"not in constraints.txt: {missing}"


def test_gpiozero_stays_below_2_1():
    assert Version(pins()["gpiozero"]) < Version("2.1")
    spec = next(Requirement(r) for r in project()["dependencies"] if Requirement(r).name == "gpiozero")
    assert not spec.specifier.contains("2.1.0") and spec.specifier.contains(pins()["gpiozero"])


def test_this_environment_has_the_pinned_versions():
    # dev.py installs with --constraint constraints.txt; the GPIO libraries are not installed off a Pi
    installed = {}
    for name, pinned in pins().items():
        try:
            installed[name] = (version(name), pinned)
        except PackageNotFoundError:
            continue
    assert "gpiozero" in installed and "textual" in installed
    wrong = {n: v for n, v in installed.items() if Version(v[0]) != Version(v[1])}
    assert not wrong, f"installed != pinned: {wrong} (run python3 dev.py test to reinstall)"


def test_license_is_an_spdx_expression_with_its_file():
    p = project()
    assert p["license"] == "MIT"
    assert all((REPO / f).is_file() for f in p["license-files"])
