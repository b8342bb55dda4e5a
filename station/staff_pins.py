"""Staff PINs: hashed with PBKDF2-SHA256, checked in constant time.

A stored PIN is one string, ``pbkdf2_sha256$ITERATIONS$SALT_HEX$HASH_HEX``,
so the iteration count can grow later without breaking stored PINs. An empty
string means no PIN is set: the screen it guards stays locked.
"""
from __future__ import annotations

import hashlib
import hmac
import os

from station.errors import UserError

SCHEME = "pbkdf2_sha256"
#: About a fifth of a second on a Raspberry Pi 4 per check; a PIN has few
#: digits, so the hash's cost and the kiosk's lack of an offline copy are
#: what protect it, and a staff member should not wait seconds to log in.
ITERATIONS = 200_000
ROLES = ("therapist", "technician")
MIN_LENGTH = 4


class PinError(UserError, ValueError):
    """A PIN that cannot be used or a stored hash that cannot be read."""


def hash_pin(pin: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """The string to store for ``pin``."""
    check_new_pin(pin)
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def check_new_pin(pin: str) -> None:
    """Raise PinError unless ``pin`` is at least MIN_LENGTH digits."""
    if not pin.isdigit() or not pin.isascii():
        raise PinError("a PIN is digits only (the kiosk may have only a number pad)")
    if len(pin) < MIN_LENGTH:
        raise PinError(f"a PIN needs at least {MIN_LENGTH} digits")


def is_set(stored: str | None) -> bool:
    """A PIN has been stored (an empty string locks the screen)."""
    return bool(stored and stored.strip())


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches ``stored``. False when no PIN is set; PinError if ``stored`` is malformed."""
    if not is_set(stored):
        return False
    try:
        scheme, iterations, salt_hex, digest_hex = stored.strip().split("$")
        if scheme != SCHEME:
            raise ValueError(scheme)
        iterations_n = int(iterations)
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
        if iterations_n < 1 or not salt or not expected:
            raise ValueError(stored)
    except ValueError:
        raise PinError(f"the stored PIN is not a {SCHEME} hash; set it again with `station set-pin`") from None
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations_n)
    return hmac.compare_digest(digest, expected)


def write_pin(config_path: str | os.PathLike, role: str, stored: str) -> None:
    """Store ``stored`` as ``[staff] <role>_pin`` in the config file, keeping its comments
    (atomically: ``station.config_write``). Raises PinError or ConfigWriteError (UserErrors)."""
    from station.config_write import update_config

    if role not in ROLES:
        raise PinError(f"no such role {role!r} (roles: {', '.join(ROLES)})")
    update_config(config_path, {("staff", f"{role}_pin"): stored}, create_tables=True)
