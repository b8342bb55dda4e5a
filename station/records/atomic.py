"""Replace a file so that a crash or a power cut leaves the old file or the new one, never half of each.

The new content goes to a temporary file next to the target (``.<name>.tmp``:
the same directory, so the rename stays on one file system), is fsynced,
renamed over the target, and then the directory is fsynced so the rename
itself survives a power cut. A failure before the rename removes the
temporary file and leaves the target untouched.

Used by the record store and its TinyDB storage (``station.records.storage``),
by config writes (``station.config_write``: calibration, staff PINs) and by
exports (``station.records.export.PrivateFile``, which streams into the
temporary file and ``publish``es it).
"""
from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600  # patient records: readable by the station's user only


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary file next to ``path`` its new content is written to (one fixed name:
    each file has a single writer)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Make the fsynced file ``tmp`` the file ``path`` (renamed over it unless it already is
    ``path``), then fsync the directory so that survives a power cut."""
    tmp, path = Path(tmp), Path(path)
    if tmp != path:
        os.replace(tmp, path)
    fsync_dir(path.parent.resolve())


def atomic_write(path: str | os.PathLike, data: bytes, *, mode: int = FILE_MODE,
                 owner: tuple[int, int] | None = None) -> int:
    """Replace ``path`` with ``data`` atomically and durably; the new file has ``mode``
    (whatever the umask) and, given, ``owner`` (uid, gid). Returns the number of bytes
    written (what the write cost, for benchmarks and tests). Raises OSError; the target
    is then unchanged."""
    path = Path(path)
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            os.fchmod(fd, mode)
            if owner is not None:
                os.fchown(fd, *owner)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(data)
