"""``station check-config [--config FILE]``: validate a station.toml (and what the daemon reads
with it: the norm set, the staff PIN file) and summarise it."""
from __future__ import annotations

import os
import stat
import sys

from station.commands import add_config_option


def register(sub) -> None:
    p = sub.add_parser("check-config", help="validate a station.toml",
                       description="Validate a station.toml, its norm set and the staff PIN file next to it; "
                                   "exit 2 with one message naming the key if the daemon would refuse it.")
    add_config_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from station.config import load_config

    c = load_config(args.config)
    norms = c.norms()  # a missing or bad norm file: one message naming [scoring] norms
    if args.config is not None:
        _check_pins(args.config, c.section("staff"))
    cells = ", ".join(f"{n} (DOUT {x.dout}, PD_SCK {x.pd_sck}, {x.sample_hz}/s)" for n, x in c.cells.items())
    print(f"{c.path}: ok: {len(c.holes)} holes, buttons {', '.join(c.buttons) or 'none'}, "
          f"cells {cells or 'none'}, settle {c.settle_ms:g} ms, active {'low' if c.active_low else 'high'}; "
          f"norms: {norms.citation}")
    return 0


def _check_pins(config_path: str, legacy: dict) -> None:
    """The PIN file must parse and hold well-formed hashes; warnings for what weakens it."""
    from station.staff_pins import ROLES, PinError, is_set, pin_file_path, read_pin_file, verify_pin

    path = pin_file_path(config_path, ".")
    pins = read_pin_file(path)  # PinError (a UserError): one line, exit 2
    for role in ROLES:
        if is_set(pins.get(role)):
            try:
                verify_pin("", pins[role])  # parses the hash
            except PinError as e:
                raise PinError(f"{path}: {role}: {e}") from None
    if pins and stat.S_IMODE(os.stat(path).st_mode) & 0o077:
        print(f"warning: {path} is readable by others than its owner: chmod 600 it", file=sys.stderr)
    for role in ROLES:
        if is_set(legacy.get(f"{role}_pin")):
            print(f"warning: station.toml holds the {role} PIN hash, which the kiosk can read: move it with "
                  f"`station set-pin {role} --config {config_path}`", file=sys.stderr)
