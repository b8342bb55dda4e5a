"""The ``station`` command. Each subcommand lives in ``station/commands/<name>.py``.

A command module defines ``register(subparsers)``, which adds its parser and
sets ``run`` (a function of the parsed arguments returning an exit status).
Errors a user can cause (``UserError``) print one line and exit 2; hardware
that cannot be opened (``HardwareError``) exits 69 (see ``station.errors``).

Before any command runs, ``LG_WD`` is set (unless it already is): importing
lgpio (gpiozero's pin factory on the Pi, and the rpi-lgpio shim) creates a
notification FIFO in ``$LG_WD``, else in the working directory, and fails where
that is not writable, e.g. ``sudo -u station station selftest`` run from
root's home.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import stat
import sys
import tempfile

from station import commands
from station.errors import UserError


def command_modules() -> list[str]:
    """Names of the command modules (``check_config`` is the command ``check-config``)."""
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, just that command's module is imported.

    Importing one module instead of all keeps `station ui` (the kiosk) quick to
    start: some commands pull in asyncio, Textual or the hardware layer.
    """
    parser = argparse.ArgumentParser(
        prog="station", description="Instrumented dexterity station: kiosk daemon, UI and tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_modules():
        if only is None or name == only:
            importlib.import_module(f"{commands.__name__}.{name}").register(sub)
    return parser


def lgpio_work_dir() -> str:
    """A directory of this user's own for lgpio's FIFO: ``$XDG_RUNTIME_DIR`` (a per-user tmpfs)
    if it is set and writable, else ``<tmp>/station-lgpio-<uid>`` (made 0700, and used only if
    it is this user's own directory, not another user's or a symlink), else a fresh temporary
    directory. Per user: lgpio names its FIFO by handle (``.lgd-nfy0``), so two users'
    processes in one shared directory would clash over the name."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK | os.X_OK):
        return runtime
    uid = os.getuid()
    path = os.path.join(tempfile.gettempdir(), f"station-lgpio-{uid}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return tempfile.mkdtemp(prefix="station-lgpio-")
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode) and st.st_uid == uid and os.access(path, os.W_OK | os.X_OK):
        return path
    return tempfile.mkdtemp(prefix="station-lgpio-")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not os.environ.get("LG_WD"):  # before any command can load a GPIO library ("" is the cwd to lgpio)
        os.environ["LG_WD"] = lgpio_work_dir()
    first = argv[0].replace("-", "_") if argv and not argv[0].startswith("-") else None
    parser = build_parser(first if first in command_modules() else None)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as e:
        print(f"station {args.command}: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `station replay x | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
