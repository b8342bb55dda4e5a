"""station.toml: the pin map, switch polarity, settle time and load-cell calibration.

Validated at load against ``SCHEMA``; any problem is one ``ConfigError`` whose
message names the key (the CLI prints it and exits 2). The default
configuration ships as ``station/data/station.toml``: the code, the simulator
and the wiring docs all read that one file.
"""
from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from station.board_spec import BoardSpec, CellSpec
from station.errors import UserError, read_user_text
from station.loadcell import Calibration
from station.norms import NormSet, load_norms

BCM_MIN, BCM_MAX = 2, 27  # the user GPIOs on the 40-pin header
SAMPLE_RATES = (10, 80)  # the HX711's RATE pin selects one of these
#: GPIO 2 and 3 (I2C1 SDA/SCL) carry fixed 1.8 kOhm pull-ups to 3.3 V on every Pi board: a
#: switch there must close to ground (active_low); the SoC's ~50 kOhm pull-down cannot
#: overcome them, so an open switch would read closed
FIXED_PULL_UPS = (2, 3)
#: How the HX711s are clocked (hardware.hx711_pins): "auto" picks lgpio on a Pi 5, RPi.GPIO otherwise
HX711_BACKENDS = ("auto", "rpi-gpio", "lgpio")


class ConfigError(UserError, ValueError):
    """station.toml is unusable; the message names the file and the key."""


# The schema: section -> key -> (type, required, default). "cells" holds one
# table per cell name with CELL_KEYS. Types: int, float (int accepted), bool,
# str, "pins" (list of int), "pinmap" (table of name -> int), "strs" (list of str).
CELL_KEYS: dict[str, tuple[Any, bool, Any]] = {
    "dout": (int, True, None),
    "pd_sck": (int, True, None),
    "offset": (float, True, None),
    "counts_per_gram": (float, True, None),
    "unit_g": (float, True, None),
    "sample_hz": (int, False, 80),
    "items": (int, False, 0),
    "wire_colours": ("pinmap_str", False, None),
}
SCHEMA: dict[str, dict[str, tuple[Any, bool, Any]]] = {
    "station": {
        "name": (str, False, "Station"),
        "active_low": (bool, False, True),
        "settle_ms": (float, False, 10.0),
    },
    "pins": {
        "holes": ("pins", True, None),
        "buttons": ("pinmap", False, {}),
    },
    "hx711": {
        "backend": (str, False, "auto"),
    },
    "daemon": {
        "data_dir": (str, False, "/var/lib/station"),
        "socket": (str, False, "/run/station/station.sock"),
    },
    "scoring": {
        "norms": (str, False, ""),  # a norm set CSV; "" = the shipped default (station.norms)
    },
    "staff": {  # older stations' PIN hashes; now in staff-pins.toml (station.staff_pins)
        "therapist_pin": (str, False, ""),
        "technician_pin": (str, False, ""),
    },
    "fhir": {  # delivery of finished tests to a clinic's FHIR server (docs/fhir.md); "" = nothing is sent
        "base_url": (str, False, ""),          # the server's base, http(s)://host[:port]/path
        "credentials_file": (str, False, ""),  # a file holding a bearer token; readable by the daemon only
        "station_id": (str, False, ""),        # this station in identifiers; "" = [station] name
        "patient_system": (str, False, ""),    # the clinic's pseudonym namespace; "" = the station's own
    },
    "wiring": {
        "hole_colours": ("strs", False, None),     # one per hole; None: station.wiring picks distinct ones
        "hole_colour": (str, False, None),         # before hole_colours: one colour for all (station wiring refuses it)
        "button_colour": (str, False, "green"),
        "ground_colour": (str, False, "black"),
        "power_colour": (str, False, "red"),
        "dout_colour": (str, False, "blue"),       # HX711 DOUT (DT) wire
        "pd_sck_colour": (str, False, "white"),    # HX711 PD_SCK (SCK) wire
        "switch_cable_m": (float, False, 0.6),     # switch to ground bus / header
        "hx711_cable_m": (float, False, 0.3),      # HX711 board to header
    },
}


@dataclass(frozen=True)
class CellConfig:
    """One HX711 and its load cell: pins and calibration."""

    name: str
    dout: int
    pd_sck: int
    offset: float
    counts_per_gram: float
    unit_g: float
    sample_hz: int = 80
    items: int = 0  # items on the cell when the board is set up (pegs in the dish)
    wire_colours: dict[str, str] | None = None

    @property
    def calibration(self) -> Calibration:
        return Calibration(self.offset, self.counts_per_gram, self.unit_g, float(self.sample_hz))


@dataclass(frozen=True)
class Config:
    """A validated station.toml."""

    holes: tuple[int, ...]
    buttons: dict[str, int]
    active_low: bool = True
    settle_ms: float = 10.0
    cells: dict[str, CellConfig] = field(default_factory=dict)
    name: str = "Station"
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # every section, defaults filled
    path: str | None = None

    def board(self, counts: dict[str, int] | None = None) -> BoardSpec:
        """The pipeline's view of this station; ``counts`` overrides the cells' starting items."""
        counts = counts or {}
        cells = {
            n: CellSpec(n, c.calibration, counts.get(n, c.items)) for n, c in self.cells.items()
        }
        return BoardSpec(self.holes, dict(self.buttons), self.active_low, self.settle_ms, cells)

    def section(self, name: str) -> dict[str, Any]:
        """A section's values with defaults filled in (e.g. ``daemon``, ``staff``)."""
        return self.sections.get(name, {})

    def norms(self) -> NormSet:
        """The norm set ``[scoring] norms`` names (the shipped one when empty); ConfigError naming the key."""
        path = self.section("scoring").get("norms") or None
        try:
            return load_norms(path)
        except UserError as e:
            raise ConfigError(f"{self.path or 'station.toml'}: scoring.norms: {e}") from None


def default_config_text() -> str:
    """The shipped default station.toml."""
    return resources.files("station").joinpath("data/station.toml").read_text(encoding="utf-8")


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Load and validate ``path`` (default: the shipped default config)."""
    if path is None:
        return parse_config(default_config_text(), "default station.toml")
    return parse_config(read_user_text(path, ConfigError), str(Path(path)))


def parse_config(text: str, where: str = "station.toml") -> Config:
    """Validate TOML text. Raises ConfigError naming ``where`` and the key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML: {e}") from None
    sections: dict[str, dict[str, Any]] = {}
    for section in raw:
        if section not in SCHEMA and section != "cells":
            raise ConfigError(f"{where}: unknown section [{section}] (known: {', '.join([*SCHEMA, 'cells'])})")
    for section, keys in SCHEMA.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: '{section}' must be a table")
        sections[section] = _check_table(table, keys, section, where)
    cells_raw = raw.get("cells", {})
    if not isinstance(cells_raw, dict):
        raise ConfigError(f"{where}: 'cells' must be a table of cells")
    cells: dict[str, CellConfig] = {}
    for name, table in cells_raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: 'cells.{name}' must be a table")
        missing = [k for k in ("offset", "counts_per_gram") if k not in table]
        if missing:
            raise ConfigError(f"{where}: 'cells.{name}' has no calibration: missing "
                              + " and ".join(f"'cells.{name}.{k}'" for k in missing)
                              + " (run the calibration wizard on the technician screen)")
        vals = _check_table(table, CELL_KEYS, f"cells.{name}", where)
        if vals["counts_per_gram"] == 0:
            raise ConfigError(f"{where}: 'cells.{name}.counts_per_gram' must not be 0")
        if vals["unit_g"] <= 0:
            raise ConfigError(f"{where}: 'cells.{name}.unit_g' must be positive (grams per item)")
        if vals["sample_hz"] not in SAMPLE_RATES:
            raise ConfigError(f"{where}: 'cells.{name}.sample_hz' must be 10 or 80 (the HX711 RATE pin)")
        if vals["items"] < 0:
            raise ConfigError(f"{where}: 'cells.{name}.items' must be 0 or more")
        cells[name] = CellConfig(name, **vals)
    st, pins = sections["station"], sections["pins"]
    if st["settle_ms"] <= 0 or st["settle_ms"] > 1000:
        raise ConfigError(f"{where}: 'station.settle_ms' must be between 0 and 1000 ms")
    if sections["hx711"]["backend"] not in HX711_BACKENDS:
        raise ConfigError(f"{where}: 'hx711.backend' must be one of {', '.join(map(repr, HX711_BACKENDS))}")
    if not pins["holes"]:
        raise ConfigError(f"{where}: 'pins.holes' must list at least one GPIO")
    _check_pins(pins, cells, where)
    if not st["active_low"]:
        _check_no_fixed_pull_ups(pins, where)
    _check_fhir(sections["fhir"], where)
    return Config(tuple(pins["holes"]), dict(pins["buttons"]), st["active_low"], float(st["settle_ms"]),
                  cells, st["name"], sections, where)


def _check_fhir(fhir: dict[str, Any], where: str) -> None:
    url = fhir["base_url"]
    if url and not (url.startswith(("http://", "https://")) and len(url.split("/", 3)[2]) > 0):
        raise ConfigError(f"{where}: 'fhir.base_url' must be an http:// or https:// URL (got {url!r})")
    if url and not fhir["station_id"]:
        raise ConfigError(f"{where}: 'fhir.station_id' must be set with 'fhir.base_url': it makes this "
                          "station's identifiers on the server unique (e.g. the clinic's asset number)")
    if fhir["credentials_file"] and not os.path.isabs(fhir["credentials_file"]):
        raise ConfigError(f"{where}: 'fhir.credentials_file' must be an absolute path")


def _check_table(table: dict, keys: dict, prefix: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in table:
        if key not in keys:
            raise ConfigError(f"{where}: unknown key '{prefix}.{key}' (known: {', '.join(keys)})")
    for key, (typ, required, default) in keys.items():
        name = f"'{prefix}.{key}'"
        if key not in table:
            if required:
                raise ConfigError(f"{where}: missing key {name}")
            out[key] = default
            continue
        v = table[key]
        if typ is bool:
            ok = isinstance(v, bool)
        elif typ is int:
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif typ is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            v = float(v) if ok else v
        elif typ is str:
            ok = isinstance(v, str)
        elif typ == "pins":
            ok = isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        elif typ == "pinmap":
            ok = isinstance(v, dict) and all(isinstance(x, int) and not isinstance(x, bool) for x in v.values())
        elif typ == "pinmap_str":
            ok = isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
        elif typ == "strs":
            ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
        else:  # pragma: no cover - schema bug
            raise AssertionError(typ)
        if not ok:
            want = {int: "a whole number", float: "a number", bool: "true or false", str: "a string",
                    "pins": "a list of GPIO numbers", "pinmap": "a table of name = GPIO number",
                    "pinmap_str": "a table of name = colour", "strs": "a list of strings"}[typ]
            raise ConfigError(f"{where}: {name} must be {want}, not {v!r}")
        out[key] = v
    return out


def _check_no_fixed_pull_ups(pins: dict, where: str) -> None:
    """With active_low = false a switch is pulled down and closes to 3.3 V: not on GPIO 2/3."""
    switches = [(f"pins.holes[{i}]", g) for i, g in enumerate(pins["holes"])]
    switches += [(f"pins.buttons.{n}", g) for n, g in pins["buttons"].items()]
    for key, gpio in switches:
        if gpio in FIXED_PULL_UPS:
            raise ConfigError(f"{where}: '{key}' = {gpio} has a fixed 1.8 kOhm pull-up on the Pi, so a switch "
                              "there cannot be pulled down as 'station.active_low' = false needs: use another "
                              "GPIO, or wire the switches to ground with active_low = true")


def _check_pins(pins: dict, cells: dict[str, CellConfig], where: str) -> None:
    used: dict[int, str] = {}
    named = [(f"pins.holes[{i}]", g) for i, g in enumerate(pins["holes"])]
    named += [(f"pins.buttons.{n}", g) for n, g in pins["buttons"].items()]
    for c in cells.values():
        named += [(f"cells.{c.name}.dout", c.dout), (f"cells.{c.name}.pd_sck", c.pd_sck)]
    for key, gpio in named:
        if not BCM_MIN <= gpio <= BCM_MAX:
            raise ConfigError(f"{where}: '{key}' = {gpio} is outside BCM GPIO {BCM_MIN}-{BCM_MAX}")
        if gpio in used:
            raise ConfigError(f"{where}: '{key}' = {gpio} is already used by '{used[gpio]}'")
        used[gpio] = key
