"""``station set-pin therapist|technician [--config FILE]``: store a staff PIN, hashed."""
from __future__ import annotations

import os
import sys

from station.errors import UserError

#: Where the installed station keeps its config unless told otherwise.
DEFAULT_CONFIG = "/etc/station/station.toml"


def register(sub) -> None:
    p = sub.add_parser("set-pin", help="set the therapist or technician PIN",
                       description="Ask for a PIN twice and store its PBKDF2 hash in the config's [staff] "
                                   "section, keeping the file's comments. An empty PIN locks the screen.")
    p.add_argument("role", choices=("therapist", "technician"))
    p.add_argument("--config", metavar="FILE",
                   help=f"station.toml to change (default: $STATION_CONFIG or {DEFAULT_CONFIG})")
    p.add_argument("--stdin", action="store_true",
                   help="read the PIN from one line of standard input (for scripts), no prompt")
    p.set_defaults(run=run)


def run(args) -> int:
    from station.staff_pins import hash_pin, write_pin

    path = args.config or os.environ.get("STATION_CONFIG") or DEFAULT_CONFIG
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file (name the station's config with --config FILE)")
    if args.stdin:
        pin = sys.stdin.readline().strip()
    else:
        import getpass

        pin = getpass.getpass(f"New {args.role} PIN (empty to lock the screen): ")
        if pin and getpass.getpass("Again: ") != pin:
            raise UserError("the two PINs differ; nothing was changed")
    stored = hash_pin(pin) if pin else ""
    write_pin(path, args.role, stored)
    print(f"{path}: {args.role} PIN {'set' if pin else 'cleared (the screen is locked)'}")
    return 0
