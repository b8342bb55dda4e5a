"""Staff sessions: the daemon checks PINs, with back-off and lockout; a connection holds the roles it logged in as.

``login {role, pin}`` authorises the connection it arrives on for ``role``
until ``logout`` or the connection closes. A Unix stream socket is a private
pipe between two processes: nobody else can write into it or take it over,
so the connection itself is the session and no token is needed (a token
would add something to steal, not something to check). Who may connect at
all is the socket's group (mode 0660); what a connection may do is its roles.

Wrong PINs are counted per role, daemon-wide (not per connection: an
attacker opens as many as they like). The first ``FREE_FAILURES`` wrong PINs
in a row cost nothing (a typo, retyped at once); after the n-th the next
attempt is accepted only after ``BACKOFF_S * 2**(n-FREE_FAILURES-1)`` seconds
(1, 2 s); the ``LOCKOUT_AFTER``-th (5th) locks the role for ``LOCKOUT_S``
(5 min), and every further wrong PIN doubles that, up to ``MAX_LOCKOUT_S``
(1 h). A right PIN resets the count. Brute-forcing a 4-digit
PIN (5,000 guesses on average) then takes months instead of minutes, while a
therapist who mistypes twice waits a few seconds. Attempts during back-off are
answered ``locked_out`` at once: neither counted nor hashed, so a flood of
logins cannot keep the CPU busy with PBKDF2. The count lives in memory: a
restart of the daemon (root's business) resets it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from station import api
from station.api import ApiError
from station.staff_pins import ROLES, PinError, is_set, is_trivial, read_pin_file, verify_pin

log = logging.getLogger("station.daemon")

FREE_FAILURES = 2
BACKOFF_S = 1.0
LOCKOUT_AFTER = 5
LOCKOUT_S = 300.0
MAX_LOCKOUT_S = 3600.0


@dataclass
class _Failures:
    count: int = 0
    until: float = 0.0  # no attempt is accepted before this time


def wait_after(failures: int) -> float:
    """Seconds before the next attempt is accepted after ``failures`` wrong PINs in a row."""
    if failures <= FREE_FAILURES:
        return 0.0
    if failures < LOCKOUT_AFTER:
        return BACKOFF_S * 2 ** (failures - FREE_FAILURES - 1)
    return min(MAX_LOCKOUT_S, LOCKOUT_S * 2 ** (failures - LOCKOUT_AFTER))


class StaffAuth:
    """Checks ``login`` attempts against the PIN file at ``pin_file``.

    ``legacy``: hashes from station.toml's ``[staff]`` table, used (with a
    warning) for a role the PIN file does not set. ``allow_trivial``: accept
    PINs like 1234 (the simulated station and the demo only). ``clock``: the
    wall of back-off, monotonic seconds.
    """

    def __init__(self, pin_file: str | os.PathLike, *, legacy: dict[str, str] | None = None,
                 allow_trivial: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.pin_file = Path(pin_file)
        self.legacy = {r: h for r, h in (legacy or {}).items() if is_set(h)}
        self.allow_trivial = allow_trivial
        self.clock = clock
        self._failures = {r: _Failures() for r in ROLES}
        self._locks = {r: asyncio.Lock() for r in ROLES}
        self._cache: tuple[tuple[int, int] | None, dict[str, str]] = (None, {})
        self._warned_legacy = False

    def stored(self) -> dict[str, str]:
        """Each role's hash: the PIN file's (re-read when it changes), else the legacy one."""
        try:
            st = self.pin_file.stat()
            key: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        if key != self._cache[0] or key is None:
            try:
                pins = read_pin_file(self.pin_file)
            except PinError as e:
                log.error("%s; the staff screens stay locked until it is fixed", e)
                pins = {}
            self._cache = (key, pins)
        pins = dict(self._cache[1])
        for role, h in self.legacy.items():
            if not is_set(pins.get(role)):
                if not self._warned_legacy:
                    log.warning("the %s PIN hash is in station.toml, which the kiosk can read; move it to %s "
                                "with `station set-pin %s`", role, self.pin_file, role)
                    self._warned_legacy = True
                pins[role] = h
        return pins

    def pins_set(self) -> dict[str, bool]:
        """Which roles have a PIN (the UI shows a locked screen for the others)."""
        pins = self.stored()
        return {r: is_set(pins.get(r)) for r in ROLES}

    def retry_after(self, role: str) -> float:
        """Seconds until ``role`` accepts another attempt (0: now)."""
        return max(0.0, self._failures[role].until - self.clock())

    async def login(self, role: str, pin: str) -> None:
        """Return if ``pin`` is ``role``'s; raise ApiError (wrong_pin, locked_out, no_pin, weak_pin) if not."""
        async with self._locks[role]:  # one check at a time per role: a burst cannot slip past the count
            self._refuse_if_waiting(role)
            stored = self.stored().get(role, "")
            if not is_set(stored):
                raise ApiError(api.NO_PIN, f"no {role} PIN is set: set one with `station set-pin {role}`")
            try:
                ok = await asyncio.to_thread(verify_pin, pin, stored)  # PBKDF2: ~0.2 s on a Pi, off the loop
            except PinError as e:
                raise ApiError(api.NO_PIN, str(e)) from None
            f = self._failures[role]
            if not ok:
                f.count += 1
                wait = wait_after(f.count)
                f.until = self.clock() + wait
                if f.count >= LOCKOUT_AFTER:
                    log.warning("%d wrong %s PINs in a row: %s logins locked for %d s",
                                f.count, role, role, round(wait))
                    raise ApiError(api.LOCKED_OUT, f"too many wrong PINs: the {role} screen is locked "
                                   f"for {_duration(wait)}", retry_after_s=round(wait, 1))
                raise ApiError(api.WRONG_PIN, "wrong PIN", retry_after_s=round(wait, 1) if wait else None)
            self._failures[role] = _Failures()
            if not self.allow_trivial and is_trivial(pin):
                raise ApiError(api.WEAK_PIN, f"the {role} PIN is too easy to guess: set another with "
                                             f"`station set-pin {role}`")

    def _refuse_if_waiting(self, role: str) -> None:
        wait = self.retry_after(role)
        if wait > 0:
            raise ApiError(api.LOCKED_OUT, f"too many wrong PINs: try again in {_duration(wait)}",
                           retry_after_s=round(wait, 1))


def _duration(s: float) -> str:
    s = max(1, round(s))
    if s < 90:
        return f"{s} s"
    return f"{round(s / 60)} min"
