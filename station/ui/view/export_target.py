"""The therapist's export from the screen: where it goes, and writing it.

The kiosk unit (systemd/station-ui.service) cannot write the home directory
(ProtectHome) or most of the file system (ProtectSystem=strict), so the
destination is, in order: ``$STATION_EXPORT_DIR``; a writable drive mounted
under /media (a USB stick: the unit has ``ReadWritePaths=-/media``); the UI
unit's own state directory (``StateDirectory=station-ui``, which systemd
passes as ``$STATE_DIRECTORY``); else ~/station-exports (a developer's
terminal). The screen says which it was.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from station.ui.view.model import History
from station.ui.view.summary import note_for

MEDIA = Path("/media")
FOLDER = "station-exports"


@dataclass(frozen=True)
class ExportTarget:
    """A directory to export into and how to name it to the therapist."""

    directory: Path
    where: str


def removable_drives(mounts: str, media: Path = MEDIA) -> list[Path]:
    """Mount points under ``media`` in /proc/self/mounts text, in mount order."""
    out = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        # The kernel writes space, tab, newline and backslash as octal escapes.
        point = Path(fields[1].encode("latin-1").decode("unicode_escape"))
        if point != media and media in point.parents:
            out.append(point)
    return out


def _read_mounts() -> str:
    try:
        return Path("/proc/self/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def export_target(env: Mapping[str, str] | None = None, mounts: str | None = None,
                  home: Path | None = None, media: Path = MEDIA) -> ExportTarget:
    """Where an export goes now (see the module docstring)."""
    env = os.environ if env is None else env
    if env.get("STATION_EXPORT_DIR"):
        return ExportTarget(Path(env["STATION_EXPORT_DIR"]), "the export folder")
    for drive in removable_drives(_read_mounts() if mounts is None else mounts, media):
        if os.access(drive, os.W_OK):
            return ExportTarget(drive / FOLDER, f"the drive {drive.name}")
    state = (env.get("STATE_DIRECTORY") or "").split(":")[0]
    if state:
        return ExportTarget(Path(state) / "exports",
                            "the station itself (no writable USB drive under /media)")
    return ExportTarget((home or Path.home()) / FOLDER, "your home folder")


@dataclass(frozen=True)
class Exported:
    """What an export wrote: the CSV, and whether its files could be made private (0600)."""

    path: Path
    private: bool


def export_history(history: History, directory: Path) -> Exported:
    """Write the patient's trials as CSV (``station.records.export``) and the tests' clinical notes beside it.

    Files are mode 0600 (patient data) wherever the file system keeps
    permissions (a vfat stick does not: ``private`` is then False). A file
    that cannot be written is a ValueError (or OSError) with one line to show.
    """
    from station.errors import UserError
    from station.records.export import PrivateFile, write_csv

    pid = str((history.patient or {}).get("patient_id"))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in pid)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with PrivateFile(directory / f"{safe}-{stamp}.csv") as csv_file:
            write_csv(reversed(history.trials), csv_file.file)  # oldest first, as `station export` writes
        notes = [n for n in (note_for(t, history.patient) for t in history.tests) if n]
        if notes:
            with PrivateFile(directory / f"{safe}-{stamp}-notes.txt") as note_file:
                note_file.file.write("\n".join(notes))
    except UserError as e:
        raise ValueError(str(e)) from None
    return Exported(csv_file.path, csv_file.private)
