"""``station fhir-sandbox [--config FILE]``: print the daemon's systemd network drop-in for ``[fhir]``.

Prints nothing (exit 0) when ``[fhir] base_url`` is not set: the daemon then
keeps no network. systemd/install.sh writes the output to
``/etc/systemd/system/station-daemon.service.d/fhir-network.conf``
(``station.fhir.sandbox`` explains the design).
"""
from __future__ import annotations

import sys

from station.commands import add_config_option


def register(sub) -> None:
    p = sub.add_parser("fhir-sandbox", help="print the daemon's systemd network drop-in for [fhir]",
                       description="Print the systemd drop-in that lets the daemon reach the configured FHIR "
                                   "server and no other address; nothing if [fhir] base_url is not set.")
    add_config_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from station.config import load_config
    from station.errors import UserError
    from station.fhir.sandbox import network_dropin

    try:
        text = network_dropin(load_config(args.config).section("fhir")["base_url"])
    except ValueError as e:
        raise UserError(str(e)) from None
    if text:
        sys.stdout.write(text)
    return 0
