"""Write values back into a station.toml, keeping its comments, atomically.

The calibration wizard (``tare``/``calibrate`` on the daemon) saves a cell's
``offset`` and ``counts_per_gram`` into the config the daemon was started
with; ``station.staff_pins.clear_legacy_pin`` empties an old staff PIN hash.
tomlkit keeps the file's comments and layout; the new text is checked
with ``parse_config`` before it replaces the old file, atomically and keeping
its mode (``station.records.atomic.atomic_write``): a crash or a power cut
leaves the old file or the new one, never half of each.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from station.config import ConfigError, parse_config
from station.errors import UserError
from station.records.atomic import atomic_write


class ConfigWriteError(UserError):
    """The config file cannot be read or replaced; the message says which file and why."""


def update_config(path: str | os.PathLike, values: dict[tuple[str, ...], Any], *,
                  create_tables: bool = False) -> None:
    """Set each ``(table, ..., key) -> value`` in the TOML file at ``path``.

    A missing table is an error unless ``create_tables`` (then it is added).
    """
    import tomlkit

    p = Path(path)
    try:
        doc = tomlkit.parse(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigWriteError(f"cannot read {p} ({e.strerror or e})") from None
    except tomlkit.exceptions.ParseError as e:
        raise ConfigWriteError(f"{p} is not valid TOML ({e})") from None
    for keys, value in values.items():
        table: Any = doc
        for k in keys[:-1]:
            if k not in table:
                if not create_tables:
                    raise ConfigWriteError(f"{p} has no [{'.'.join(keys[:-1])}] table")
                table[k] = tomlkit.table()
            table = table[k]
        table[keys[-1]] = value
    text = tomlkit.dumps(doc)
    try:
        parse_config(text, str(p))
    except ConfigError as e:  # never write a config the station could not start with
        raise ConfigWriteError(f"the new values would make {p} invalid: {e}") from None
    try:
        # keep the file's mode: the config may be readable by the daemon's group only
        atomic_write(p, text.encode("utf-8"), mode=os.stat(p).st_mode & 0o7777)
    except OSError as e:
        why = "permission denied" if isinstance(e, PermissionError) else (e.strerror or str(e))
        raise ConfigWriteError(f"cannot write {p} ({why}): the user needs write access to {p.parent} "
                               "(the daemon's user, or whoever runs the command)") from None
