"""tests/system/debian.py's own logic, without root: which mirror, which packages, what stays mounted."""
from __future__ import annotations

import os
from pathlib import Path

from tests.system import debian


def test_the_mirror_is_the_host_apt_s_debian_archive():
    deb822 = ("Types: deb\n# http://snapshot.example/archive\nURIs: http://mirror.example/debian\n"
              "Suites: bookworm\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n")
    assert debian.debian_mirror([deb822]) == "http://mirror.example/debian"
    one_line = "deb [arch=amd64 signed-by=/k.gpg] https://m.example/debian/ bookworm main\n"
    assert debian.debian_mirror(["deb https://other.example/node nodistro main\n", one_line]) \
        == "https://m.example/debian"
    assert debian.debian_mirror(["# deb http://x.example/debian bookworm main\n"]) == debian.DEFAULT_MIRROR


def test_the_image_holds_what_the_installer_installs_and_its_name_follows_the_list(monkeypatch):
    assert {"python3-venv", "python3-dev", "gcc", "swig"} <= set(debian.installer_packages())
    assert {"systemd", "systemd-sysv", "dbus"} <= set(debian.packages())
    before = debian.image_path("amd64")
    monkeypatch.setattr(debian, "BASE_PACKAGES", (*debian.BASE_PACKAGES, "less"))
    assert debian.image_path("amd64") != before
    assert debian.image_path("amd64", "trixie").name.startswith("trixie-amd64-")


def test_a_scratch_directory_is_deleted_afterwards(tmp_path):
    with debian.scratch_dir("x-", tmp_path) as d:
        (d / "f").write_text("x")
    assert not d.exists()
    assert debian.mounts_under(Path("/")) and debian.mounts_under(tmp_path / "none") == []


def test_local_pip_sources_are_directories_the_host_pip_names(monkeypatch, tmp_path):
    wheels, index = tmp_path / "wheels", tmp_path / "pypi" / "simple"
    wheels.mkdir()
    index.mkdir(parents=True)
    monkeypatch.setattr(debian, "PIP_CONFIG_FILES", ())
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", f"file://{index} https://pypi.example/simple")
    for key in [k for k in os.environ if k.startswith("PIP_") and k not in
                ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL")]:
        monkeypatch.delenv(key)
    assert debian.local_pip_sources() == sorted([str(wheels), str(index.parent)])
