"""The daemon's network sandbox when ``[fhir]`` is configured: a systemd drop-in that lets it reach the
clinic's FHIR server, and nothing else.

The daemon's unit (systemd/station-daemon.service) has no network at all:
``PrivateNetwork=yes``, ``IPAddressDeny=any``, ``RestrictAddressFamilies=AF_UNIX``.
With ``[fhir] base_url`` set, systemd/install.sh writes this drop-in
(``station-daemon.service.d/fhir-network.conf``, from ``station fhir-sandbox``):
the host network back, IPv4/IPv6 sockets, and ``IPAddressAllow=`` the
server's addresses (and the DNS resolvers', when the URL names a host), so
``IPAddressDeny=any`` still refuses every other address. Without ``[fhir]`` it
is removed. The addresses are resolved when it is written: re-run the
installer if the server moves (a literal IP in ``base_url`` needs no DNS).
"""
from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path

Resolve = Callable[[str], Iterable[str]]
DROPIN_NAME = "fhir-network.conf"


def resolve_host(host: str) -> list[str]:
    """The IPv4/IPv6 addresses of ``host`` (empty if it does not resolve)."""
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except OSError:
        return []


def dns_resolvers(resolv_conf: str | Path = "/etc/resolv.conf") -> list[str]:
    """The nameservers of resolv.conf."""
    try:
        lines = Path(resolv_conf).read_text().splitlines()
    except OSError:
        return []
    return [p[1] for p in (line.split() for line in lines) if len(p) >= 2 and p[0] == "nameserver"]


def network_dropin(base_url: str, *, resolve: Resolve = resolve_host,
                   resolvers: Callable[[], Iterable[str]] = dns_resolvers) -> str | None:
    """The drop-in's text for ``base_url`` ("" or None: no drop-in, None is returned)."""
    if not base_url:
        return None
    host = urllib.parse.urlsplit(base_url).hostname or ""
    try:
        addresses = [str(ipaddress.ip_address(host))]
        dns: list[str] = []
    except ValueError:  # a name: its addresses now, and the resolvers to find it again
        addresses = list(resolve(host))
        dns = list(resolvers())
    if not addresses:
        raise ValueError(f"the FHIR server's host {host!r} does not resolve: cannot allow its address")
    allow = " ".join(dict.fromkeys([*addresses, *dns]))
    return ("# Written by systemd/install.sh (station fhir-sandbox) from [fhir] base_url:\n"
            f"# {base_url}\n"
            "# The daemon may reach that server (and the DNS resolvers to find it); IPAddressDeny=any\n"
            "# in the unit still refuses every other address. Re-run the installer if the server moves.\n"
            "[Service]\n"
            "PrivateNetwork=no\n"
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n"
            f"IPAddressAllow={allow}\n")
