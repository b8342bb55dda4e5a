"""Staff PINs: hashed with PBKDF2-SHA256, checked in constant time, kept where only the daemon reads them.

A stored PIN is one string, ``pbkdf2_sha256$ITERATIONS$SALT_HEX$HASH_HEX``,
so the iteration count can grow later without breaking stored PINs. An empty
string means no PIN is set: the screen it guards stays locked.

The hashes live in their own file, ``staff-pins.toml`` (``PIN_FILE``), mode
0600 and owned by the daemon's user: station.toml is readable by the kiosk's
group, and a 4-digit PIN falls to a brute force of its hash in minutes. The
daemon verifies PINs (``login`` in docs/api.md, with back-off and lockout);
the UI never sees a hash. Older stations kept the hashes in station.toml's
``[staff]`` table: the daemon still honours them, with a warning, until
``station set-pin`` moves them.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import tomllib
from pathlib import Path

from station.errors import UserError

SCHEME = "pbkdf2_sha256"
#: About a fifth of a second on a Raspberry Pi 4 per check; a PIN has few
#: digits, so the hash's cost, the daemon's lockout and the file only the
#: daemon reads are what protect it; a staff member should not wait seconds to log in.
ITERATIONS = 200_000
ROLES = ("therapist", "technician")
MIN_LENGTH = 4
PIN_FILE = "staff-pins.toml"
PIN_FILE_MODE = 0o600
#: The PINs people pick first (DataGenetics' analysis of 3.4 M leaked PINs),
#: besides the runs and repeats ``is_trivial`` recognises by shape.
COMMON_PINS = frozenset({"1212", "1004", "2000", "6969", "1122", "2001", "1313", "4444", "1010", "2580",
                         "0852", "5683", "123123", "112233", "121212", "159753", "147258"})


class PinError(UserError, ValueError):
    """A PIN that cannot be used or a stored hash that cannot be read."""


def hash_pin(pin: str, *, iterations: int = ITERATIONS, salt: bytes | None = None,
             allow_trivial: bool = True) -> str:
    """The string to store for ``pin`` (``allow_trivial=False``: refuse a guessable one)."""
    check_new_pin(pin, allow_trivial=allow_trivial)
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def is_trivial(pin: str) -> bool:
    """One digit repeated (0000), a run up or down (1234, 9876), or one of the most common PINs."""
    if pin in COMMON_PINS or len(set(pin)) == 1:
        return True
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    return steps in ({1}, {9})


def check_new_pin(pin: str, *, allow_trivial: bool = True) -> None:
    """Raise PinError unless ``pin`` is at least MIN_LENGTH digits (and, unless
    ``allow_trivial``, not a guessable one: a real station's PINs)."""
    if not pin.isdigit() or not pin.isascii():
        raise PinError("a PIN is digits only (the kiosk may have only a number pad)")
    if len(pin) < MIN_LENGTH:
        raise PinError(f"a PIN needs at least {MIN_LENGTH} digits")
    if not allow_trivial and is_trivial(pin):
        raise PinError(f"{pin} is among the first PINs anyone would try; choose another")


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
        if not 1 <= iterations_n <= 10_000_000 or not salt or not expected:
            raise ValueError(stored)
    except ValueError:
        raise PinError(f"the stored PIN is not a {SCHEME} hash; set it again with `station set-pin`") from None
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations_n)
    return hmac.compare_digest(digest, expected)


def pin_file_path(config_path: str | os.PathLike | None, data_dir: str | os.PathLike) -> Path:
    """Where the daemon keeps the PIN hashes: next to the station.toml it was started with
    (/etc/station/staff-pins.toml), or in its data directory when it runs the shipped default config."""
    base = Path(config_path).parent if config_path is not None else Path(data_dir)
    return base / PIN_FILE


def read_pin_file(path: str | os.PathLike) -> dict[str, str]:
    """The stored hash of each role in ``path`` ({} when there is no file). PinError if unreadable."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise PinError(f"{p}: cannot read the staff PINs ({e.__class__.__name__}: {e})") from None
    unknown = sorted(set(data) - set(ROLES))
    if unknown or not all(isinstance(v, str) for v in data.values()):
        raise PinError(f"{p}: expected only {' and '.join(ROLES)} = \"<hash>\" lines"
                       + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    return {role: data.get(role, "") for role in ROLES}


def write_pin_file(path: str | os.PathLike, role: str, stored: str) -> None:
    """Store ``stored`` as ``role``'s hash in the PIN file at ``path``, atomically, mode 0600.

    Run as root (``sudo station set-pin``), the file is given to the owner of
    its directory (the daemon's user owns /etc/station), so the daemon can read it.
    """
    from station.records.atomic import atomic_write

    if role not in ROLES:
        raise PinError(f"no such role {role!r} (roles: {', '.join(ROLES)})")
    p = Path(path)
    pins = read_pin_file(p) or dict.fromkeys(ROLES, "")
    pins[role] = stored
    text = ("# Staff PIN hashes (PBKDF2), read by the station daemon only; set with `station set-pin`.\n"
            + "".join(f'{r} = "{pins.get(r, "")}"\n' for r in ROLES))
    try:
        owner = None
        if os.geteuid() == 0:
            st = os.stat(p.parent)
            owner = (st.st_uid, st.st_gid)
        atomic_write(p, text.encode("utf-8"), mode=PIN_FILE_MODE, owner=owner)
    except OSError as e:
        raise PinError(f"cannot write {p} ({e.strerror or e}): run as the daemon's user or root") from None


def clear_legacy_pin(config_path: str | os.PathLike, role: str) -> bool:
    """Empty ``[staff] <role>_pin`` in station.toml (where older versions kept it). True if it was set."""
    from station.config import load_config
    from station.config_write import update_config

    staff = load_config(config_path).section("staff")
    if not is_set(staff.get(f"{role}_pin")):
        return False
    update_config(config_path, {("staff", f"{role}_pin"): ""}, create_tables=True)
    return True
