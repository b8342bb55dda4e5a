"""The layers the design rests on, checked on every module's imports (read with ast, nothing imported).

* The pure core (events, debounce, load-cell counting, the pipeline, the
  protocols, scoring and trial recording) imports no hardware or GPIO library,
  no UI or database library, no concurrency and no clock: time is passed in,
  so it runs the same live, in replay and in tests.
* ``hardware/`` imports from ``station`` only its events, config and errors:
  it knows nothing of protocols, records or screens.

Every import counts, wherever it is written (in a function, under
``TYPE_CHECKING``): a late import is still a dependency.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STATION = ROOT / "station"
HARDWARE = ROOT / "hardware"

#: the pure core: station's top-level modules of pure logic, and every protocol
PURE_MODULES = ("events", "debounce", "loadcell", "pipeline", "metrics", "norms", "administration",
                "progress", "results", "clinical_note", "trace", "replay", "board_spec", "trial",
                "record_types")
#: station's other top-level modules: the edges, which may reach the world
EDGE_MODULES = ("__init__", "__main__", "api", "build_check", "cli", "client", "config", "config_write",
                "errors", "staff_pins", "wiring", "pegboard")
#: what the pure core must not import (a name and everything under it)
PURE_FORBIDDEN = ("hardware", "gpiozero", "RPi", "lgpio", "textual", "tinydb", "asyncio", "threading",
                  "time", "station.daemon", "station.ui", "station.records", "station.commands")
#: all that hardware/ may import from station
HARDWARE_MAY_USE = ("station.events", "station.config", "station.errors")


def imported_modules(source: str) -> list[str]:
    """Every module ``source`` imports. ``from a import b`` yields ``a`` and ``a.b`` (b may be a
    module); relative imports are not used in this project and count as written."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if node.module == "__future__":
                continue
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def forbidden_imports(source: str, forbidden: Iterable[str]) -> list[str]:
    """The imports in ``source`` that are, or are under, one of ``forbidden``."""
    forbidden = tuple(forbidden)
    return sorted({n for n in imported_modules(source) if any(_under(n, f) for f in forbidden)})


def station_imports_outside(source: str, allowed: Iterable[str]) -> list[str]:
    """The ``station`` modules ``source`` imports other than ``allowed`` (and what is under them).

    ``from station import events`` names ``station`` and ``station.events``: the bare package
    is only an error when nothing allowed was imported from it."""
    allowed = tuple(allowed)
    names = imported_modules(source)
    bad = {n for n in names if _under(n, "station") and n != "station" and not any(_under(n, a) for a in allowed)}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(alias.name == "station" for alias in node.names):
            bad.add("station")  # `import station`: the whole package
    return sorted(bad)


def _modules(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def pure_core() -> list[Path]:
    return [STATION / f"{m}.py" for m in PURE_MODULES] + _modules(STATION / "protocols")


# --- the checker itself: it must catch what it is meant to catch ----------------


def test_the_checker_finds_every_form_of_import():
    src = (
        "import threading\n"
        "import time as clock\n"
        "from hardware.sim import clock as c\n"
        "from station import daemon\n"
        "def late():\n"
        "    import gpiozero.pins.lgpio\n"
        "    from RPi import GPIO\n"
        "if False:\n"
        "    from station.records.store import RecordStore\n"
    )
    assert forbidden_imports(src, PURE_FORBIDDEN) == [
        "RPi", "RPi.GPIO", "gpiozero.pins.lgpio", "hardware.sim", "hardware.sim.clock",
        "station.daemon", "station.records.store", "station.records.store.RecordStore", "threading", "time"]


def test_the_checker_lets_lookalike_names_and_allowed_modules_through():
    src = ("from __future__ import annotations\nimport timeit\nimport hardwarex\nimport threadpoolctl\n"
           "from station.events import Edge\nfrom station.protocols import nine_hole_peg\n"
           "from datetime import date\n")
    assert forbidden_imports(src, PURE_FORBIDDEN) == []


def test_the_station_rule_for_hardware_allows_three_modules_and_nothing_else():
    ok = "from station.events import Edge\nfrom station import config, errors\nimport station.errors\n"
    assert station_imports_outside(ok, HARDWARE_MAY_USE) == []
    bad = ("from station.pipeline import Pipeline\nfrom station import api\nimport station\n"
           "def f():\n    from station.daemon.intake import Intake\n")
    assert station_imports_outside(bad, HARDWARE_MAY_USE) == [
        "station", "station.api", "station.daemon.intake", "station.daemon.intake.Intake",
        "station.pipeline", "station.pipeline.Pipeline"]


# --- the layers -----------------------------------------------------------------


def test_every_top_level_station_module_is_either_pure_core_or_an_edge():
    # A new module must be placed on one side, so the pure core cannot grow unchecked.
    found = {p.stem for p in STATION.glob("*.py")}
    assert found == set(PURE_MODULES) | set(EDGE_MODULES), (
        f"unclassified: {sorted(found - set(PURE_MODULES) - set(EDGE_MODULES))}; "
        f"gone: {sorted(set(PURE_MODULES) | set(EDGE_MODULES) - found)}")


@pytest.mark.parametrize("path", pure_core(), ids=_rel)
def test_the_pure_core_imports_no_hardware_ui_database_concurrency_or_clock(path):
    assert forbidden_imports(path.read_text(encoding="utf-8"), PURE_FORBIDDEN) == []


@pytest.mark.parametrize("path", _modules(HARDWARE), ids=_rel)
def test_hardware_imports_from_station_only_events_config_and_errors(path):
    assert station_imports_outside(path.read_text(encoding="utf-8"), HARDWARE_MAY_USE) == []


#: the record formats (PDF reports, FHIR Bundles): records in, bytes or JSON out, usable from the
#: daemon, the UI and the command line alike
FORMAT_PACKAGES = ("report", "fhir")
FORMAT_FORBIDDEN = ("hardware", "gpiozero", "RPi", "lgpio", "textual", "tinydb", "asyncio", "threading",
                    "station.daemon", "station.ui", "station.records", "station.commands")


@pytest.mark.parametrize("path", [p for pkg in FORMAT_PACKAGES for p in _modules(STATION / pkg)], ids=_rel)
def test_the_report_and_fhir_formats_import_no_hardware_ui_store_or_concurrency(path):
    assert forbidden_imports(path.read_text(encoding="utf-8"), FORMAT_FORBIDDEN) == []
