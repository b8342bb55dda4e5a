"""The pegboard the norms assume, and the drawings a technician builds it from (``wiring/board.md``).

The shipped 9HPT norms (Mathiowetz et al. 1985) were measured on one board:
nine holes 3.2 cm apart and 1.3 cm deep, pegs 0.64 cm across and 3.2 cm long,
a shallow dish 13 cm across. A board built otherwise times another task, and
the norms no longer apply to it. Those figures are the norm's; the build
details below them (drill size, plate, reed switch, groove) are this
project's choices, and the page says which is which.

Hole numbers are the order of ``pins.holes`` in station.toml (hole 1 first),
laid out row by row from the far side: ``board_markdown`` draws the map, the
harness in hole order (from ``station.wiring.plan``) and how a switch is
mounted under a hole, so the page cannot disagree with the pins the station
reads.
"""
from __future__ import annotations

import math

from station.wiring import Plan

# The standard board (Mathiowetz et al. 1985), in mm.
HOLE_PITCH_MM = 32.0
HOLE_DEPTH_MM = 13.0
PEG_DIAMETER_MM = 6.4
PEG_LENGTH_MM = 32.0
DISH_DIAMETER_MM = 130.0

# This project's build choices (not the norm's).
HOLE_DRILL_MM = 7.0      # 0.6 mm clearance: a peg drops in and lifts out freely
PLATE_MM = 18.0          # plywood or HDPE; leaves a 5 mm floor under each blind hole
EDGE_MM = 25.0           # outer hole centres to the board's edge
GROOVE_MM = 4.0          # the reed switch's groove in the underside, width and depth
REED_GLASS_MM = 15.0     # the longest glass the parts list allows
MAGNET = "4 x 2 mm"      # neodymium disc, in a hole drilled in each peg's base
GRAVITY = 9.81


def grid(n: int) -> tuple[int, int]:
    """(columns, rows) of a square-ish board with ``n`` holes: 3 x 3 for nine."""
    cols = math.ceil(math.sqrt(n))
    return cols, math.ceil(n / cols)


def position(hole: int, n: int) -> tuple[int, int]:
    """(row, column) of hole number ``hole`` (1-based), both counted from 1: row 1 is the far side."""
    cols, _ = grid(n)
    return (hole - 1) // cols + 1, (hole - 1) % cols + 1


def board_size_mm(n: int) -> tuple[float, float]:
    """(width, depth) of the board top for ``n`` holes at the standard spacing."""
    cols, rows = grid(n)
    return (cols - 1) * HOLE_PITCH_MM + 2 * EDGE_MM, (rows - 1) * HOLE_PITCH_MM + 2 * EDGE_MM


def hole_map(n: int) -> list[str]:
    """The board seen from above, the patient sitting at the bottom: every hole with its number."""
    cols, rows = grid(n)
    cell = 9  # characters per column: the drawing is to scale along a row, not across rows
    width = cols * cell + 3
    lines = [f"{'far side':^{width + 2}}".rstrip(), " +" + "-" * width + "+"]
    for r in range(rows):
        holes = range(r * cols + 1, min((r + 1) * cols, n) + 1)
        row = "".join(f"{f'({h})':^{cell}}" for h in holes)
        lines.append(f" |  {row:<{width - 2}}|")
        if r < rows - 1:
            lines.append(f" |{'':{width}}|")
    lines += [" +" + "-" * width + "+", f"{'patient side':^{width + 2}}".rstrip()]
    return lines


def mounting_drawing(p: Plan) -> list[str]:
    """A side section through one hole, the patient to the right: peg, magnet, floor, reed in its groove."""
    floor = PLATE_MM - HOLE_DEPTH_MM
    common = "GND" if p.config.active_low else "3V3"

    def plate(inside: str, note: str = "") -> str:  # one row inside the plate, its edges aligned
        return f"  |{inside:<44}|  {note}".rstrip()

    # the peg's axis is column 19; the glass starts under it
    return [
        f"               peg {PEG_DIAMETER_MM:g} x {PEG_LENGTH_MM:g}",
        f"               |<-{PEG_DIAMETER_MM:g}->|",
        "               +-------+",
        "               |       |",
        "   board top   |       |                       patient ->",
        "  +----------+ |       | +---------------------+  ---",
        plate("          | |       | |", f" ^  {HOLE_DEPTH_MM:g} deep, drilled {HOLE_DRILL_MM:g} across"),
        plate("          | | [mag] | |", f" |  magnet {MAGNET}, flush in the peg's base"),
        plate("          | +-------+ |", " v"),
        plate("          +-----------+", "---"),
        plate("", f" {floor:g}  floor under the hole"),
        plate("                [=====reed=====]--"),
        "  +---------------+=====groove=====+-----------+  ---",
        "                   ^",
        "                   one end of the glass under the hole's centre",
        "",
        f"  plate {PLATE_MM:g} thick; groove {GROOVE_MM:g} x {GROOVE_MM:g} in the underside, along the column "
        "towards the patient;",
        f"  the reed's leads: one to the hole's GPIO wire, one to the switch common ({common})",
    ]


def _peg_weight_note(p: Plan) -> str:
    dish = p.config.cells.get("dish")
    if dish is None:
        return "A peg weighs about a gram"
    return f"A peg weighs {dish.unit_g:g} g (cells.dish.unit_g), {dish.unit_g * GRAVITY / 1000:.3f} N,"


def board_markdown(p: Plan) -> str:
    """``wiring/board.md``: geometry, hole map, the harness hole by hole, switch mounting."""
    c = p.config
    n = len(c.holes)
    cols, rows = grid(n)
    width, depth = board_size_mm(n)
    by_device = {s.device: s for s in p.signals}
    lines = [
        "# The pegboard",
        "",
        f"Generated by `station wiring` from {c.path or 'station.toml'}. Do not edit: change station.toml "
        "and run `station wiring` again.",
        "",
        "## The standard board (the norms assume it)",
        "",
        "The shipped norms (Mathiowetz et al. 1985) were measured on this board. Build it to these "
        "figures, or the patient's times cannot be compared with the norms.",
        "",
        "| what | size |",
        "| --- | --- |",
        f"| holes | nine, {HOLE_PITCH_MM / 10:g} cm ({HOLE_PITCH_MM:g} mm) apart centre to centre, in a 3 x 3 square |",
        f"| hole depth | {HOLE_DEPTH_MM / 10:g} cm ({HOLE_DEPTH_MM:g} mm) |",
        f"| pegs | {PEG_DIAMETER_MM / 10:g} cm across, {PEG_LENGTH_MM / 10:g} cm long "
        f"({PEG_DIAMETER_MM:g} x {PEG_LENGTH_MM:g} mm) |",
        f"| peg dish | shallow, {DISH_DIAMETER_MM / 10:g} cm ({DISH_DIAMETER_MM:g} mm) across |",
        "",
        "This station's build choices (not part of the norm):",
        "",
        "| what | size |",
        "| --- | --- |",
        f"| hole drill | {HOLE_DRILL_MM:g} mm, blind, {HOLE_DEPTH_MM:g} mm deep (pegs drop in and lift out freely) |",
        f"| board top | {PLATE_MM:g} mm plywood or HDPE, {width:g} x {depth:g} mm for {n} holes "
        f"({EDGE_MM:g} mm from the outer hole centres to the edge) |",
        f"| peg magnet | neodymium disc {MAGNET}, glued flush into a hole drilled in each peg's base, "
        "the same pole down in every peg |",
        "",
        f"## Hole numbers ({cols} x {rows})",
        "",
        "Hole *n* is the *n*-th GPIO in `pins.holes`. Seen from above, the patient sitting at the bottom:",
        "",
        "```",
        *hole_map(n),
        "```",
        "",
        "Number each hole on the underside of the board with a marker before mounting switches.",
        "",
        "## The harness, hole by hole",
        "",
        "Lay and check the switch wiring in this order. Each wire's colour is its own on this harness, so "
        "a wire at the header says which hole it comes from; every switch's other wire goes to the common "
        f"bus ({p.bus_colour}).",
        "",
        "| hole | row, column | switch | wire colour | BCM GPIO | header pin |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i in range(1, n + 1):
        s = by_device[f"SW{i}"]
        row, col = position(i, n)
        lines.append(f"| {i} | {row}, {col} | SW{i} | {s.colour} | GPIO{s.gpio} | {s.header_pin} |")
    for name in c.buttons:
        s = by_device[f"BTN_{name}"]
        lines.append(f"| button {name} | beside the board | BTN_{name} | {s.colour} | GPIO{s.gpio} | {s.header_pin} |")
    lines.append(f"| common bus | terminal strip | BUS | {p.bus_colour} | {p.common} | {p.bus_pin} |")
    lines += [
        "",
        "## Mounting a switch under a hole",
        "",
        f"Use reed switches and a magnet in every peg. {_peg_weight_note(p)} far below the operating force "
        "of any lever microswitch (0.1 N and more): a peg resting in its hole would not hold a lever down. "
        "A reed switch needs no force at all.",
        "",
        "Section through one hole (mm, not to scale):",
        "",
        "```",
        *mounting_drawing(p),
        "```",
        "",
        f"1. Drill the {n} holes {HOLE_DRILL_MM:g} mm across and {HOLE_DEPTH_MM:g} mm deep, "
        f"{HOLE_PITCH_MM:g} mm apart, from the top.",
        f"2. Under each hole cut a groove {GROOVE_MM:g} x {GROOVE_MM:g} mm in the underside, along the "
        "column towards the patient, starting 3 mm behind the hole's centre.",
        "3. Lay the reed switch in the groove with one end of its glass under the hole's centre (a magnet "
        "above the middle of the glass may not close it), and fix it with a drop of hot glue at each lead, "
        "never on the glass.",
        f"4. Its free end then lies {HOLE_PITCH_MM - REED_GLASS_MM:g} mm or more from the next hole's centre, "
        "out of reach of that hole's magnet. Check: with pegs in every neighbour of an empty hole, "
        "the technician screen must show that hole open.",
        "5. Solder the hole's wire (colour in the table above) to one lead and a common-bus wire to the other; "
        "sleeve both joints.",
        "",
    ]
    return "\n".join(lines)
