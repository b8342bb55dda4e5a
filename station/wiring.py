"""The technician's wiring docs, generated from station.toml so docs and code cannot drift.

``generate(config, out_dir)`` writes into ``out_dir``:

- ``pinout.md``: every hole, button and load-cell signal -> BCM GPIO -> physical
  header pin -> wire colour, plus power and ground;
- ``board.md``: the standard pegboard's geometry, the hole-numbering map, the
  harness hole by hole and the switch-mounting drawing (``station.pegboard``);
- ``parts.md``: the parts list with quantities for this configuration;
- ``harness.yml``: a WireViz harness description of the same wiring;
- ``harness.bom.tsv``: WireViz's bill of materials for the harness;
- ``harness.svg``: the harness diagram (needs graphviz's ``dot``; skipped,
  and said so, where it is missing).

The hand-written assembly guide (``wiring/assembly.md``) refers to these files.
Header pin numbers come from gpiozero's board database, not a hand table.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from station.config import Config
from station.errors import UserError

# The 40-pin header (J8) is the same on every board we support (Pi 3B/3B+, 4B,
# 5, Zero 2 W; a test checks this against gpiozero), so one board's map serves.
REFERENCE_REVISION = "c03111"  # Raspberry Pi 4 Model B
TARGET_REVISIONS = {"3B": "a02082", "3B+": "a020d3", "4B": "c03111", "5B": "d04170", "Zero 2 W": "902120"}

# Wire colour names -> WireViz colour codes (IEC 60757 two-letter codes).
COLOUR_CODES = {
    "black": "BK", "brown": "BN", "red": "RD", "orange": "OG", "yellow": "YE",
    "green": "GN", "blue": "BU", "violet": "VT", "purple": "VT", "grey": "GY",
    "gray": "GY", "white": "WH", "pink": "PK", "turquoise": "TQ",
}
#: hole wires by default, in hole order: the resistor colour code without black and red
#: (ground and power), then two-colour (base/stripe) wires for a board with more holes
HOLE_PALETTE = ("brown", "orange", "yellow", "green", "blue", "violet", "grey", "white", "pink", "turquoise")
CELL_WIRE_KEYS = ("vcc", "gnd", "dout", "pd_sck")
# Load-cell leads as most 4-wire strain-gauge cells ship them (check the datasheet).
LOAD_CELL_LEADS = (("E+", "red"), ("E-", "black"), ("A-", "white"), ("A+", "green"))

TEXT_OUTPUTS = ("pinout.md", "board.md", "parts.md", "harness.yml", "harness.bom.tsv")
SVG_OUTPUT = "harness.svg"


ZERO_2_W_NOTES = (
    "## Raspberry Pi Zero 2 W",
    "",
    "- **Display**: the Zero 2 W has no DSI connector, so the official DSI touch displays do not fit it "
    "(its flat connector is the camera's, CSI). Use an HDMI screen through its **mini-HDMI** port: a "
    "mini-HDMI to HDMI cable or adapter.",
    "- **Header**: the 40 holes come unpopulated on the plain Zero 2 W. Solder a 2 x 20 male pin header "
    "(2.54 mm) or buy the Zero 2 WH, which has it fitted. The pin numbers are the same as on the other "
    "boards (pinout.md).",
    "- **USB**: one micro-USB OTG port (the one marked USB, not PWR): the keyboard needs a micro-USB OTG "
    "adapter or a small OTG hub.",
    "- **Power**: 5 V 2.5 A into the micro-USB port marked PWR (the official micro-USB supply).",
    "- **Memory**: 512 MB is enough for the kiosk (no desktop); use Raspberry Pi OS Lite.",
)


class WiringError(UserError):
    """The wiring section of station.toml cannot be turned into docs."""


@dataclass(frozen=True)
class Signal:
    """One wire from a device to the Pi's header."""

    signal: str       # "hole 1", "button start", "dish DOUT"
    device: str       # the harness designator: "SW1", "BTN_start", "HX_dish"
    gpio: int | None  # BCM number; None for power and ground
    header_pin: int
    colour: str
    role: str         # what the pin does, for the table


def _j8(revision: str = REFERENCE_REVISION):
    """gpiozero's description of a board's 40-pin header (J8)."""
    from gpiozero.pins.pi import pi_info

    return pi_info(revision).headers["J8"]


def header_pin(gpio: int, revision: str = REFERENCE_REVISION) -> int:
    """The physical 40-pin header (J8) pin of BCM GPIO ``gpio``, from gpiozero's board data."""
    for pin in _j8(revision).pins.values():
        if f"GPIO{gpio}" in pin.names:
            return pin.number
    raise WiringError(f"GPIO{gpio} is not on the 40-pin header")


def _header_pins(function: str) -> list[int]:
    return sorted(n for n, pin in _j8().pins.items() if pin.name == function)


def _pin_name(number: int) -> str:
    """gpiozero's name of header pin ``number``: "GPIO17", "GND", "3V3"."""
    return _j8().pins[number].name


def _colour(name: str, key: str) -> str:
    """A colour name as written in the docs: "yellow", or "white/brown" (base colour / stripe)."""
    parts = [part.strip().lower() for part in name.split("/")]
    if len(parts) > 2 or any(part not in COLOUR_CODES for part in parts):
        raise WiringError(f"'{key}' = {name!r} is not a wire colour I know "
                          f"(one of: {', '.join(sorted(COLOUR_CODES))}; or base/stripe, e.g. white/brown)")
    return "/".join(parts)


def colour_code(name: str) -> str:
    """WireViz's code for a colour name: "YE", or "WHBN" for white with a brown stripe."""
    return "".join(COLOUR_CODES[part] for part in name.split("/"))


def _hole_colours(w: dict, n: int, taken: set[str]) -> list[str]:
    """One colour per hole: ``wiring.hole_colours``, or distinct ones from HOLE_PALETTE."""
    if w.get("hole_colour") is not None:
        raise WiringError("'wiring.hole_colour' gives every hole the same wire colour; replace it with "
                          "'wiring.hole_colours', one colour per hole (or leave both out for distinct defaults)")
    given = w.get("hole_colours")
    if given is not None:
        if len(given) != n:
            raise WiringError(f"'wiring.hole_colours' lists {len(given)} colours for {n} holes")
        return [_colour(c, f"wiring.hole_colours[{i}]") for i, c in enumerate(given)]
    singles = [c for c in HOLE_PALETTE if c not in taken]
    pool = singles + [f"white/{c}" for c in singles if c != "white"]
    if n > len(pool):
        raise WiringError(f"{n} holes need more distinct wire colours than the {len(pool)} I pick by "
                          "myself: list them in 'wiring.hole_colours'")
    return pool[:n]


def _check_unique(board: str, wires: list[tuple[str, str]]) -> None:
    """Each net on one board has its own colour: a wire's colour says where it goes."""
    seen: dict[str, str] = {}
    for label, colour in wires:
        if colour in seen:
            raise WiringError(f"{board}: {label} and {seen[colour]} would both be {colour}; "
                              "give each its own colour in [wiring] (station.toml)")
        seen[colour] = label


@dataclass(frozen=True)
class Plan:
    """Everything the docs say, worked out once from a Config."""

    config: Config
    signals: tuple[Signal, ...]
    bus_pin: int          # header pin feeding the switches' common bus (GND, or 3V3 when active high)
    bus_colour: str
    cell_power: dict[str, tuple[int, int]]  # cell -> (3V3 pin, GND pin)
    colours: dict[str, str]
    switch_cable_m: float
    hx711_cable_m: float

    @property
    def common(self) -> str:
        """What a closed switch connects its GPIO to."""
        return "GND" if self.config.active_low else "3V3"


def plan(config: Config) -> Plan:
    """Work out every wire of ``config``'s station."""
    w = config.section("wiring")
    colours = {k[:-len("_colour")]: _colour(v, f"wiring.{k}") for k, v in w.items()
               if k.endswith("_colour") and k != "hole_colour"}
    bus_colour = colours["ground"] if config.active_low else colours["power"]
    holes = _hole_colours(w, len(config.holes), {colours["ground"], colours["power"], colours["button"]})
    _check_unique("the switch harness", [(f"hole {i}", c) for i, c in enumerate(holes, 1)]
                  + [(f"button {name}", colours["button"]) for name in config.buttons]
                  + [("the switch common", bus_colour)])
    for key in ("switch_cable_m", "hx711_cable_m"):
        if not 0 < w[key] <= 10:
            raise WiringError(f"'wiring.{key}' = {w[key]} must be between 0 and 10 metres")
    gnd_pins, v33_pins = _header_pins("GND"), _header_pins("3V3")
    sig: list[Signal] = []
    pull = "pull-up, closed = LOW" if config.active_low else "pull-down, closed = HIGH"
    for i, g in enumerate(config.holes, 1):
        sig.append(Signal(f"hole {i}", f"SW{i}", g, header_pin(g), holes[i - 1], f"input, {pull}"))
    for name, g in config.buttons.items():
        sig.append(Signal(f"button {name}", f"BTN_{name}", g, header_pin(g), colours["button"], f"input, {pull}"))
    used_gnd: set[int] = set()
    cell_power: dict[str, tuple[int, int]] = {}
    for k, (name, cell) in enumerate(config.cells.items()):
        over = cell.wire_colours or {}
        for key in over:
            if key not in CELL_WIRE_KEYS:
                raise WiringError(f"unknown key 'cells.{name}.wire_colours.{key}' (known: {', '.join(CELL_WIRE_KEYS)})")
        cc = {
            "vcc": colours["power"], "gnd": colours["ground"],
            "dout": colours["dout"], "pd_sck": colours["pd_sck"],
            **{key: _colour(v, f"cells.{name}.wire_colours.{key}") for key, v in over.items()},
        }
        _check_unique(f"the HX711 cable of cell {name!r}", [(k.upper(), cc[k]) for k in CELL_WIRE_KEYS])
        dev = f"HX_{name}"
        sig.append(Signal(f"{name} DOUT", dev, cell.dout, header_pin(cell.dout), cc["dout"], "input (HX711 data out)"))
        sig.append(Signal(f"{name} PD_SCK", dev, cell.pd_sck, header_pin(cell.pd_sck), cc["pd_sck"],
                          "output (HX711 clock; high > 60 µs powers it down)"))
        # Star grounding: each HX711 gets its own GND pin, the one nearest its data pins.
        near = header_pin(cell.dout)
        gnd = min((p for p in gnd_pins if p not in used_gnd), key=lambda p: (abs(p - near), p))
        used_gnd.add(gnd)
        vcc = v33_pins[k % len(v33_pins)]
        cell_power[name] = (vcc, gnd)
        sig.append(Signal(f"{name} VCC", dev, None, vcc, cc["vcc"],
                          "3.3 V supply (VCC and VDD: DOUT is then 3.3 V logic)"))
        sig.append(Signal(f"{name} GND", dev, None, gnd, cc["gnd"], "ground"))
    switch_pins = [s.header_pin for s in sig if s.device.startswith(("SW", "BTN_"))]
    mid = sorted(switch_pins)[len(switch_pins) // 2]
    if config.active_low:
        free = [p for p in gnd_pins if p not in used_gnd] or gnd_pins
        bus_pin = min(free, key=lambda p: (abs(p - mid), p))
        role = "ground for every switch and button (common bus)"
    else:
        bus_pin = v33_pins[-1]
        role = "3.3 V for every switch and button (common bus)"
    sig.append(Signal(f"switch common ({'GND' if config.active_low else '3V3'})", "BUS", None, bus_pin, bus_colour,
                      role))
    return Plan(config, tuple(sig), bus_pin, bus_colour, cell_power, colours,
                float(w["switch_cable_m"]), float(w["hx711_cable_m"]))


def _source(config: Config) -> str:
    return config.path or "station.toml"


def pinout_markdown(p: Plan) -> str:
    """The pinout table: signal -> BCM GPIO -> header pin -> wire colour."""
    c = p.config
    level = ("LOW (0): the switch connects the pin to GND; the Pi's internal pull-up holds it HIGH when open"
             if c.active_low else
             "HIGH (1): the switch connects the pin to 3.3 V; the Pi's internal pull-down holds it LOW when open")
    lines = [
        "# Pinout",
        "",
        f"Generated by `station wiring` from {_source(c)} (station \"{c.name}\"). Do not edit:",
        "change station.toml and run `station wiring` again.",
        "",
        f"Switches and buttons: a closed switch reads {level}.",
        f"Debounce: a level must hold {c.settle_ms:g} ms to count.",
        "",
        "| signal | device | BCM GPIO | header pin | wire colour | role |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in p.signals:
        gpio = "-" if s.gpio is None else f"GPIO{s.gpio}"
        lines.append(f"| {s.signal} | {s.device} | {gpio} | {s.header_pin} | {s.colour} | {s.role} |")
    lines += ["", "## The header, pin by pin", "",
              "The board turned so the header runs down its right-hand edge, pin 1 (square pad) at the top: "
              "odd pins inner (left), even pins on the board edge (right). `*` marks a pin this station uses.", "",
              "```"]
    at = {s.header_pin: s for s in p.signals}
    for odd in range(1, 40, 2):
        left, right = at.get(odd), at.get(odd + 1)
        right_cell = _pin_cell(right, odd + 1, left=False)
        lines.append(f"{_pin_cell(left, odd):>34} {odd:2d} {odd + 1:2d} {right_cell}".rstrip())
    lines += ["```"]
    lines += ["", "## Load cells", "",
              "| cell | HX711 | samples/s (RATE pin) | load-cell leads (E+, E-, A-, A+) |",
              "| --- | --- | --- | --- |"]
    for name, cell in c.cells.items():
        rate = "80 (RATE to VCC, 3.3 V)" if cell.sample_hz == 80 else "10 (RATE to GND)"
        leads = ", ".join(f"{pin} {col}" for pin, col in LOAD_CELL_LEADS)
        lines.append(f"| {name} | HX_{name} | {rate} | {leads} |")
    lines += ["", "Header pins are numbered as printed on the Raspberry Pi's 40-pin header (J8): pin 1 is "
              "the square pad, odd pins on the inner row, even pins on the board edge. The same numbers "
              "hold for the Pi 3B/3B+, 4B, 5 and Zero 2 W.", ""]
    return "\n".join(lines)


def _pin_cell(s: Signal | None, number: int, left: bool = True) -> str:
    name = _pin_name(number)
    if s is None:
        return name
    text = f"{s.signal} ({s.colour})"
    return f"* {text} {name}" if left else f"{name} {text} *"


def _part(rows: list, qty, unit: str, what: str, typical: str) -> None:
    rows.append((qty, unit, what, typical))


def parts_markdown(p: Plan) -> str:
    """The parts list with quantities for this configuration."""
    c = p.config
    n_holes, n_buttons, n_cells = len(c.holes), len(c.buttons), len(c.cells)
    n_switch = n_holes + n_buttons
    rows: list = []
    _part(rows, 1, "", "Raspberry Pi 3B/3B+, 4B, 5 or Zero 2 W",
          "any RAM size; Raspberry Pi OS Lite, Bookworm or Trixie (Zero 2 W: see the notes below)")
    _part(rows, 1, "", "Power supply for that Pi",
          "official: 27 W USB-C (Pi 5), 15 W USB-C (Pi 4), 2.5 A micro-USB (Pi 3, Zero 2 W)")
    _part(rows, 1, "", "microSD card", "16 GB or more, A1 class")
    _part(rows, 1, "", "Screen", "HDMI monitor, or the official DSI touch display on a Pi 3, 4 or 5 "
          "(not the Zero 2 W); the kiosk UI runs on the text console, tty1")
    _part(rows, 1, "", "USB keyboard", "compact, with F1-F12, digits and Enter: F2 and F3 open the staff screens and "
          "staff PINs are typed; a touch screen's taps do not reach the console kiosk")
    _part(rows, n_holes, "", "Hole switch, one per hole",
          "normally-open reed switch, 10-15 mm glass (a peg's weight cannot hold a microswitch lever down: board.md)")
    _part(rows, n_holes, "", "Peg magnets", "neodymium disc 4 x 2 mm, glued flush into each peg's base, same pole down")
    if n_buttons:
        _part(rows, n_buttons, "", "Push button(s): " + ", ".join(c.buttons),
              "momentary, normally open, 30 mm arcade type (easy for a weak hand)")
    if n_cells:
        _part(rows, n_cells, "", "HX711 load-cell amplifier board(s): " + ", ".join(c.cells),
              "HX711 breakout whose RATE pin is reachable (a pad or pin), or the common green board "
              "with the chip's pin 15 lifted and tied to VCC")
        _part(rows, n_cells, "", "Straight-bar load cell(s), 4-wire",
              "1 kg (peg dish) and 1-5 kg (coin tray), TAL220-style, M4/M5 holes")
        _part(rows, 2 * n_cells, "", "Load-cell spacers",
              "5 mm thick, one under the fixed end, one on top of the free end")
        _part(rows, 4 * n_cells, "", "Load-cell screws", "M4 or M5 as the cell's threads, with washers")
        _part(rows, n_cells, "", "Platforms", "rigid plate (acrylic or plywood, 3-5 mm) for the dish and the tray")
    _part(rows, 1, "", "Common bus for the switches",
          f"screw-terminal strip or lever connectors, {n_switch + 1} positions")
    _part(rows, round(n_switch * p.switch_cable_m, 2), "m", "2-core cable for switches and buttons",
          f"0.14-0.25 mm² (26-24 AWG), {p.switch_cable_m:g} m per switch, twisted pair preferred")
    if n_cells:
        _part(rows, round(n_cells * p.hx711_cable_m, 2), "m", "4-core cable, HX711 to the Pi",
              f"0.14 mm² (26 AWG), {p.hx711_cable_m:g} m per board; shielded if longer")
    _part(rows, 1, "", "Header connection", "40-pin female IDC cable or a screw-terminal HAT, or Dupont female crimps")
    _part(rows, n_switch, "", "10 kΩ resistors (optional)",
          "external pull-ups to 3.3 V if switch runs exceed 1 m or read noisy")
    lines = [
        "# Parts list",
        "",
        f"Generated by `station wiring` from {_source(c)}: quantities follow this configuration "
        f"({n_holes} holes, {n_buttons} button(s), {n_cells} load cell(s)). Typical parts; equivalents are fine.",
        "",
        "| qty | part | typical |",
        "| --- | --- | --- |",
    ]
    for qty, unit, what, typical in rows:
        lines.append(f"| {qty:g}{(' ' + unit) if unit else ''} | {what} | {typical} |")
    lines += ["", "The wire-by-wire bill of materials of the harness is `harness.bom.tsv`.", "",
              *ZERO_2_W_NOTES, ""]
    return "\n".join(lines)


def harness(p: Plan) -> dict:
    """The WireViz harness description (a dict; ``harness_yaml`` writes it)."""
    c = p.config
    code = colour_code
    # in hole order (then the button, the cells, the bus), as the harness is laid and checked
    used = list(dict.fromkeys(s.header_pin for s in p.signals))
    connectors: dict = {
        "J8": {"type": "Raspberry Pi 40-pin header", "subtype": "female", "pins": used,
               "pinlabels": [_pin_name(n) for n in used]},
        "BUS": {"style": "simple", "type": f"switch common bus ({p.common})"},
    }
    cables: dict = {}
    conns: list = []
    for s in p.signals:
        if s.device.startswith(("SW", "BTN_")):
            connectors[s.device] = {"type": "hole switch" if s.device.startswith("SW") else "push button",
                                    "notes": s.signal, "pinlabels": ["NO", "COM"]}
            w = f"W_{s.device}"
            cables[w] = {"wirecount": 2, "length": p.switch_cable_m,
                         "colors": [code(s.colour), code(p.bus_colour)]}
            conns.append([{s.device: [1]}, {w: [1]}, {"J8": [s.header_pin]}])
            conns.append([{s.device: [2]}, {w: [2]}, "BUS"])
    cables["W_BUS"] = {"wirecount": 1, "length": 0.1, "colors": [code(p.bus_colour)]}
    conns.append(["BUS", {"W_BUS": [1]}, {"J8": [p.bus_pin]}])
    for name, cell in c.cells.items():
        dev, lc = f"HX_{name}", f"LC_{name}"
        by = {s.signal.split(" ", 1)[1]: s for s in p.signals if s.device == dev}
        rate = "RATE to VCC: 80 samples/s" if cell.sample_hz == 80 else "RATE to GND: 10 samples/s"
        connectors[dev] = {"type": "HX711 board", "subtype": rate,
                           "pinlabels": ["VCC", "GND", "DT", "SCK", "RATE", "E+", "E-", "A-", "A+"]}
        # The RATE strap: to VCC (pin 1) for 80 samples/s, to GND (pin 2) for 10.
        connectors[dev]["loops"] = [[5, 1 if cell.sample_hz == 80 else 2]]
        connectors[lc] = {"type": "load cell", "notes": f"under the {name}",
                          "pinlabels": [pin for pin, _ in LOAD_CELL_LEADS]}
        w = f"W_{dev}"
        cables[w] = {"wirecount": 4, "length": p.hx711_cable_m,
                     "colors": [code(by[k].colour) for k in ("VCC", "GND", "DOUT", "PD_SCK")]}
        conns.append([{dev: [1, 2, 3, 4]}, {w: [1, 2, 3, 4]},
                      {"J8": [by[k].header_pin for k in ("VCC", "GND", "DOUT", "PD_SCK")]}])
        wl = f"W_{lc}"
        cables[wl] = {"wirecount": 4, "colors": [code(col) for _, col in LOAD_CELL_LEADS],
                      "notes": "the cell's own lead", "ignore_in_bom": True}
        conns.append([{lc: [1, 2, 3, 4]}, {wl: [1, 2, 3, 4]}, {dev: [6, 7, 8, 9]}])
    return {
        "metadata": {"title": f"{c.name} wiring harness",
                     "description": f"generated by station wiring from {_source(c)}"},
        "options": {"fontname": "DejaVu Sans"},
        "connectors": connectors,
        "cables": cables,
        "connections": conns,
    }


def harness_yaml(p: Plan) -> str:
    """The WireViz YAML text, with a header saying where it came from."""
    import yaml

    head = (f"# WireViz harness, generated by `station wiring` from {_source(p.config)}. Do not edit:\n"
            "# change station.toml and run `station wiring` again.\n")
    return head + yaml.safe_dump(harness(p), sort_keys=False, default_flow_style=None, width=100)


def _wireviz(p: Plan):
    from wireviz.wireviz import parse

    return parse(harness(p), return_types="harness")


def bom_tsv(p: Plan) -> str:
    """WireViz's bill of materials for the harness (needs no graphviz)."""
    from wireviz.wv_bom import bom_list
    from wireviz.wv_helper import tuplelist2tsv

    return tuplelist2tsv(bom_list(_wireviz(p).bom()))


def dot_available() -> bool:
    """Whether graphviz's ``dot`` (needed to draw the diagram) is on PATH."""
    return shutil.which("dot") is not None


def harness_svg(p: Plan) -> str:
    """The harness diagram as SVG text (needs graphviz's ``dot``)."""
    return _wireviz(p).svg


def generate(config: Config, out_dir: str | Path, *, render: bool = True) -> list[Path]:
    """Write the generated wiring docs for ``config`` into ``out_dir``; return the paths written.

    The SVG is drawn only when ``render`` and graphviz's ``dot`` is present.
    """
    try:
        import wireviz  # noqa: F401  (and PyYAML, its dependency)
    except ImportError:
        raise WiringError("the wiring docs need WireViz: pip install 'station[wiring]'") from None
    p = plan(config)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WiringError(f"cannot create {out}: {e.strerror}") from None
    from station.pegboard import board_markdown

    texts = {
        "pinout.md": pinout_markdown(p),
        "board.md": board_markdown(p),
        "parts.md": parts_markdown(p),
        "harness.yml": harness_yaml(p),
        "harness.bom.tsv": bom_tsv(p),
    }
    if render and dot_available():
        texts[SVG_OUTPUT] = harness_svg(p)
    written = []
    for name, text in texts.items():
        path = out / name
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as e:
            raise WiringError(f"cannot write {path}: {e.strerror}") from None
        written.append(path)
    return written


def differences(a: str | Path, b: str | Path, names=TEXT_OUTPUTS) -> list[str]:
    """Names of the files in ``names`` that differ (or are missing) between folders ``a`` and ``b``."""
    out = []
    for name in names:
        pa, pb = Path(a) / name, Path(b) / name
        if not (pa.is_file() and pb.is_file()) or pa.read_bytes() != pb.read_bytes():
            out.append(name)
    return out
