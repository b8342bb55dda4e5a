"""systemd's notify protocol (sd_notify(3)) without a dependency.

The daemon runs as ``Type=notify`` with ``WatchdogSec=``: it says ``READY=1``
once the hardware and the database are open, pings ``WATCHDOG=1`` from its
event loop (so a stuck loop stops the pings and systemd restarts it), sets a
human ``STATUS=`` line, and says ``STOPPING=1`` on shutdown.

The protocol is one datagram per message to the ``AF_UNIX`` socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). Outside
systemd the variable is unset and every call is a no-op. A dozen lines of
socket code beat a C binding (python-systemd) or a package that wraps the same
dozen lines.
"""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger(__name__)


def _address(value: str) -> str | None:
    if len(value) < 2 or value[0] not in "@/":
        return None
    return "\0" + value[1:] if value[0] == "@" else value


class Notifier:
    """A connection to systemd's notification socket (inert when there is none).

    ``env`` defaults to ``os.environ``. NOTIFY_SOCKET, WATCHDOG_USEC and
    WATCHDOG_PID are removed from it so that child processes (a simulator, a
    shell-out) cannot notify on the daemon's behalf.
    """

    def __init__(self, env: MutableMapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self._sock: socket.socket | None = None
        self.watchdog_s = self._watchdog_period(env)
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(key, None)
        raw = self._raw_address
        if raw is None:
            return
        addr = _address(raw)
        if addr is None:
            log.warning("NOTIFY_SOCKET=%r is not a socket path or @name; systemd will not be notified", raw)
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(addr)
        except OSError as e:
            log.warning("cannot reach systemd's notify socket %s: %s", raw, e)
            sock.close()
            return
        self._sock = sock

    def _watchdog_period(self, env: MutableMapping[str, str]) -> float | None:
        self._raw_address = env.get("NOTIFY_SOCKET")
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        if not usec:
            return None
        if pid and pid.isdigit() and int(pid) != os.getpid():
            return None  # meant for another process
        try:
            value = int(usec)
        except ValueError:
            return None
        return value / 1e6 if value > 0 else None

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notify socket."""
        return self._sock is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields in one datagram. False if not sent (never raises)."""
        if self._sock is None:
            return False
        try:
            self._sock.send("\n".join(fields).encode("utf-8"))
            return True
        except OSError as e:
            # systemd gone (or the socket buffer full): not worth dying for.
            log.debug("sd_notify failed: %s", e)
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
