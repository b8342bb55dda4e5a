"""``station set-pin therapist|technician [--config FILE] [--pin-file FILE]``: store a staff PIN, hashed,
in the daemon's PIN file (station.staff_pins)."""
from __future__ import annotations

import os
import sys

from station.errors import UserError

#: Where the installed station keeps its config unless told otherwise.
DEFAULT_CONFIG = "/etc/station/station.toml"


def register(sub) -> None:
    p = sub.add_parser("set-pin", help="set the therapist or technician PIN",
                       description="Ask for a PIN twice and store its PBKDF2 hash in staff-pins.toml next to "
                                   "the config (mode 0600: only the daemon's user reads it; run as that user "
                                   "or root). Guessable PINs (0000, 1234, 2580...) are refused. An empty PIN "
                                   "locks the screen. The daemon picks the change up at the next login.")
    p.add_argument("role", choices=("therapist", "technician"))
    p.add_argument("--config", metavar="FILE",
                   help=f"the station's station.toml (default: $STATION_CONFIG or {DEFAULT_CONFIG})")
    p.add_argument("--pin-file", metavar="FILE",
                   help="the PIN file to write (default: staff-pins.toml next to the config; a daemon started "
                        "without --config keeps it in its data directory)")
    p.add_argument("--stdin", action="store_true",
                   help="read the PIN from one line of standard input (for scripts), no prompt")
    p.set_defaults(run=run)


def run(args) -> int:
    from station.staff_pins import check_new_pin, clear_legacy_pin, hash_pin, pin_file_path, write_pin_file

    config = args.config or os.environ.get("STATION_CONFIG") or DEFAULT_CONFIG
    if args.pin_file is None and not os.path.isfile(config):
        raise UserError(f"{config}: no such file (name the station's config with --config FILE)")
    path = args.pin_file or str(pin_file_path(config, "."))
    if args.stdin:
        pin = sys.stdin.readline().strip()
    else:
        import getpass

        pin = getpass.getpass(f"New {args.role} PIN (empty to lock the screen): ")
        if pin:
            check_new_pin(pin, allow_trivial=False)  # say so before asking again
            if getpass.getpass("Again: ") != pin:
                raise UserError("the two PINs differ; nothing was changed")
    stored = hash_pin(pin, allow_trivial=False) if pin else ""
    write_pin_file(path, args.role, stored)
    print(f"{path}: {args.role} PIN {'set' if pin else 'cleared (the screen is locked)'}")
    if args.pin_file is None and clear_legacy_pin(config, args.role):
        print(f"{config}: removed the old {args.role} PIN hash (the kiosk could read it there)")
    return 0
