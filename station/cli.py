"""The ``station`` command. Each subcommand lives in ``station/commands/<name>.py``.

A command module defines ``register(subparsers)``, which adds its parser and
sets ``run`` (a function of the parsed arguments returning an exit status).
Errors a user can cause (``UserError``) print one line and exit 2 (a hardware
fault, ``hardware.daemon_io.HardwareError``, exits 3: systemd restarts on it).
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
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
