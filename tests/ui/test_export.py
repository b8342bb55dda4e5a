"""The therapist's export: where it goes under the kiosk unit, and the screen saying so."""
from __future__ import annotations

import asyncio
import csv
import errno
import os
from pathlib import Path

import pytest
from textual.widgets import Static

from station.records.export import ExportError, PrivateFile
from station.ui.app import create_app
from station.ui.screens.therapist import TherapistScreen
from station.ui.view.export_target import ExportTarget, export_target, removable_drives
from tests.technician.test_systemd_units import unit
from tests.ui.fake_daemon import FakeDaemon
from tests.ui.pilot_support import PATIENT, nhpt_trial, open_staff_screen, text_of, wait_until

MOUNTS = """/dev/root / ext4 rw,noatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
/dev/sda1 /media/STICK\\040ONE vfat rw,nosuid,nodev 0 0
/dev/sdb1 /media/pi/BACKUP vfat ro 0 0
"""


def test_drives_under_media_are_read_from_the_mount_table():
    assert [str(p) for p in removable_drives(MOUNTS)] == ["/media/STICK ONE", "/media/pi/BACKUP"]
    assert removable_drives("/dev/sda1 /media vfat rw 0 0\n") == []  # /media itself is no drive


def test_a_writable_drive_comes_first_then_the_units_state_directory(tmp_path):
    media = tmp_path / "media"
    stick, locked = media / "STICK", media / "LOCKED"
    stick.mkdir(parents=True)
    locked.mkdir()
    locked.chmod(0o500)
    mounts = f"/dev/sdb1 {locked} vfat ro 0 0\n/dev/sda1 {stick} vfat rw 0 0\n"
    env = {"STATE_DIRECTORY": "/var/lib/station-ui"}
    if os.access(locked, os.W_OK):  # root may write anywhere: the locked drive is then no test
        mounts = f"/dev/sda1 {stick} vfat rw 0 0\n"
    assert export_target(env, mounts, media=media) == ExportTarget(stick / "station-exports", "the drive STICK")
    assert export_target(env, "", media=media) == ExportTarget(
        Path("/var/lib/station-ui/exports"), "the station itself (no writable USB drive under /media)")
    assert export_target({}, "", home=tmp_path, media=media).directory == tmp_path / "station-exports"
    assert export_target({"STATION_EXPORT_DIR": str(tmp_path / "x"), **env}, mounts,
                         media=media).directory == tmp_path / "x"


def test_the_kiosk_unit_lets_the_ui_write_there():
    service = unit("station-ui.service")["Service"]
    assert service["StateDirectory"] == ["station-ui"]  # -> $STATE_DIRECTORY
    assert "-/media" in service["ReadWritePaths"]
    assert service["ProtectSystem"] == ["strict"] and service["ProtectHome"] == ["yes"]


@pytest.fixture
def fake(tmp_path):
    with FakeDaemon(tmp_path / "station.sock") as d:
        d.setup(patient=PATIENT, history=[nhpt_trial(19.5), nhpt_trial(18.2, started_at="2024-06-01T10:00:00Z")])
        yield d


def export_on_screen(fake, tmp_path, monkeypatch) -> str:
    """Press Export on the results pane (no USB drive: the unit's state directory); what the status says."""
    monkeypatch.delenv("STATION_EXPORT_DIR", raising=False)
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    monkeypatch.setattr("station.ui.view.export_target._read_mounts", lambda: "")  # no USB drive here

    async def go():
        app = create_app(fake.path)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: app.connected and app.history.trials, "the patient's history")
            await open_staff_screen(pilot, "therapist")
            await wait_until(pilot, lambda: isinstance(app.screen, TherapistScreen)
                             and app.screen.query("#export"), "the therapist screen")
            await pilot.click("#tab-results")
            await pilot.click("#export")
            status = app.screen.query_one("#export-status", Static)
            await wait_until(pilot, lambda: "Saved" in text_of(status), "the export's status")
            return text_of(status)

    return asyncio.run(go())


def test_export_from_the_results_pane_says_where_the_file_went(fake, tmp_path, monkeypatch):
    said = export_on_screen(fake, tmp_path, monkeypatch)
    files = sorted((tmp_path / "state" / "exports").iterdir())
    assert len(files) == 1 and files[0].name.startswith("P-0042-") and files[0].suffix == ".csv"
    assert "the station itself" in said and str(files[0]) in said.replace("\n", "")
    assert files[0].stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(files[0].open(encoding="utf-8")))
    assert [r["date"] for r in rows] == ["2024-05-01", "2024-06-01"]  # oldest first, like `station export`
    assert "cannot keep files private" not in said


def refuse_chmod(fd, mode):
    raise PermissionError(errno.EPERM, "Operation not permitted")  # what vfat answers


def test_on_a_drive_without_permissions_the_export_is_written_and_the_screen_says_so(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fchmod", refuse_chmod)
    said = export_on_screen(fake, tmp_path, monkeypatch)
    files = sorted((tmp_path / "state" / "exports").iterdir())
    assert len(files) == 1 and len(list(csv.DictReader(files[0].open(encoding="utf-8")))) == 2
    assert str(files[0]) in said.replace("\n", "") and "cannot keep files private" in said


def test_private_file_keeps_0600_where_it_can_and_writes_anyway_where_it_cannot(tmp_path, monkeypatch):
    kept = PrivateFile(tmp_path / "kept.csv")
    kept.file.write("a,b\r\n")
    kept.commit()
    assert kept.private and (tmp_path / "kept.csv").stat().st_mode & 0o777 == 0o600
    monkeypatch.setattr(os, "fchmod", refuse_chmod)
    vfat = PrivateFile(tmp_path / "stick.csv", replace=True)
    vfat.file.write("a,b\r\n")
    vfat.commit()
    assert not vfat.private and (tmp_path / "stick.csv").read_text(encoding="utf-8") == "a,b\n"


def test_any_other_chmod_failure_is_one_clear_error_and_leaves_no_file(tmp_path, monkeypatch):
    def broken(fd, mode):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(os, "fchmod", broken)
    with pytest.raises(ExportError, match="cannot create .*Input/output error"):
        PrivateFile(tmp_path / "x.csv")
    assert list(tmp_path.iterdir()) == []
