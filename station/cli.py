"""The ``station`` command. Each subcommand lives in ``station/commands/<name>.py``.

A command module defines ``register(subparsers)``, which adds its parser and
sets ``run`` (a function of the parsed arguments returning an exit status).
Errors a user can cause (``UserError``) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands
from .errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="station", description="Instrumented dexterity station: kiosk daemon, UI and tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as e:
        print(f"station {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `station replay x | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
