"""wiring/ is generated from the default station.toml; these tests keep the two in step."""
from __future__ import annotations

from pathlib import Path

import pytest

from station import wiring
from station.cli import main
from station.config import default_config_text, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
WIRING = REPO / "wiring"
NO_DOT = "graphviz's dot is not installed (apt-get install graphviz; .ci/run installs it)"


def config_with(old: str, new: str):
    text = default_config_text()
    assert old in text, old
    return parse_config(text.replace(old, new, 1), "test.toml")


def test_committed_docs_match_the_default_config(tmp_path):
    wiring.generate(load_config(), tmp_path, render=False)
    stale = wiring.differences(WIRING, tmp_path)
    assert not stale, f"wiring/ is out of date for {stale}: run `station wiring` and commit"


@pytest.mark.skipif(not wiring.dot_available(), reason=NO_DOT)
def test_harness_diagram_renders_and_matches_the_committed_one(tmp_path):
    written = wiring.generate(load_config(), tmp_path)
    assert tmp_path / "harness.svg" in written
    svg = (tmp_path / "harness.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    for designator in ["J8", "BTN_start", "HX_dish", "HX_tray", "LC_dish"] + [f"SW{i}" for i in range(1, 10)]:
        assert designator in svg
    assert not wiring.differences(WIRING, tmp_path, ["harness.svg"]), \
        "wiring/harness.svg is out of date: run `station wiring` and commit"


def test_header_pins_are_the_physical_ones():
    # Facts from the Raspberry Pi's published pinout, not from our code.
    assert wiring.header_pin(17) == 11
    assert wiring.header_pin(5) == 29
    assert wiring.header_pin(21) == 40
    assert wiring.header_pin(2) == 3


def test_every_supported_board_has_the_same_header():
    for model, rev in wiring.TARGET_REVISIONS.items():
        for gpio in range(2, 28):
            assert wiring.header_pin(gpio, rev) == wiring.header_pin(gpio), (model, gpio)


def test_pinout_follows_the_config():
    md = wiring.pinout_markdown(wiring.plan(config_with("holes = [5,", "holes = [4,")))
    assert "| hole 1 | SW1 | GPIO4 | 7 | brown |" in md
    assert "GPIO5 " not in md.split("## The header")[0]


def test_parts_and_harness_follow_the_number_of_holes():
    cfg = config_with("holes = [5, 6, 13, 19, 26, 12, 16, 20, 21]", "holes = [5, 6, 13, 19, 26]")
    p = wiring.plan(cfg)
    assert "| 5 | Hole switch, one per hole |" in wiring.parts_markdown(p)
    h = wiring.harness(p)
    assert {f"SW{i}" for i in range(1, 6)} <= set(h["connectors"])
    assert "SW6" not in h["connectors"]
    bom = wiring.bom_tsv(p)
    assert "SW1, SW2, SW3, SW4, SW5\n" in bom


def test_rate_strap_follows_the_sample_rate():
    p = wiring.plan(config_with("sample_hz = 80       # HX711 RATE pin high", "sample_hz = 10"))
    h = wiring.harness(p)
    labels = h["connectors"]["HX_dish"]["pinlabels"]
    strap = [labels[i - 1] for i in h["connectors"]["HX_dish"]["loops"][0]]
    assert strap == ["RATE", "GND"]
    strap = [labels[i - 1] for i in h["connectors"]["HX_tray"]["loops"][0]]
    assert strap == ["RATE", "VCC"]
    assert "| dish | HX_dish | 10 (RATE to GND) |" in wiring.pinout_markdown(p)


def test_each_hx711_has_its_own_ground_and_3v3_power():
    p = wiring.plan(load_config())
    (v1, g1), (v2, g2) = p.cell_power.values()
    assert g1 != g2 and p.bus_pin not in (g1, g2)
    assert {v1, v2} <= {1, 17}  # the header's 3.3 V pins; 5 V (2, 4) would put 5 V logic on DOUT


def test_active_high_switches_share_a_3v3_bus():
    p = wiring.plan(config_with("active_low = true", "active_low = false"))
    assert p.bus_pin in (1, 17)
    assert "closed = HIGH" in wiring.pinout_markdown(p)


def test_cli_writes_and_checks_docs(tmp_path, capsys):
    out = tmp_path / "docs"
    assert main(["wiring", "--out", str(out)]) == 0
    for name in wiring.TEXT_OUTPUTS:
        assert (out / name).is_file()
    assert main(["wiring", "--check", "--out", str(out)]) == 0
    (out / "pinout.md").write_text("stale\n")
    capsys.readouterr()
    assert main(["wiring", "--check", "--out", str(out)]) == 1
    assert "pinout.md" in capsys.readouterr().out


def test_cli_bad_colour_is_one_clear_error(tmp_path, capsys):
    cfg = tmp_path / "station.toml"
    cfg.write_text(default_config_text().replace('button_colour = "green"', 'button_colour = "plaid"'))
    assert main(["wiring", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "wiring.button_colour" in err and "plaid" in err and "Traceback" not in err


def test_assembly_guide_points_at_the_generated_files_and_the_essentials():
    guide = (WIRING / "assembly.md").read_text()
    for name in ("pinout.md", "board.md", "parts.md", "harness.svg", "harness.bom.tsv"):
        assert f"]({name})" in guide
        assert (WIRING / name).is_file()
    for must in ("RATE", "80", "3.3 V", "pull-up", "reed switch", "microswitch", "Star ground", "cable"):
        assert must in guide


HOLES_9 = "holes = [5, 6, 13, 19, 26, 12, 16, 20, 21]"


def _nets(p, devices) -> list[str]:
    return [s.colour for s in p.signals if s.device.startswith(devices)]


@pytest.mark.parametrize("old, new", [
    ("active_low = true", "active_low = true"),    # the default
    ("active_low = true", "active_low = false"),   # the bus is then 3.3 V (power colour)
    (HOLES_9, "holes = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18]"),  # more holes than plain colours
])
def test_wire_colours_are_unique_on_each_board(old, new):
    p = wiring.plan(config_with(old, new))
    switch_harness = _nets(p, ("SW", "BTN_")) + [p.bus_colour]
    assert len(set(switch_harness)) == len(switch_harness), switch_harness
    for name in p.config.cells:
        cable = _nets(p, (f"HX_{name}",))
        assert len(cable) == 4 and len(set(cable)) == 4, (name, cable)
    assert all(wiring.colour_code(c) for c in switch_harness)  # every one has a WireViz code


def test_two_holes_given_one_colour_are_refused():
    colours = '["brown", "orange", "yellow", "blue", "violet", "grey", "white", "pink", "brown"]'
    with pytest.raises(wiring.WiringError, match="hole 9 and hole 1 would both be brown"):
        wiring.plan(config_with('[wiring]\n', f'[wiring]\nhole_colours = {colours}\n'))
    with pytest.raises(wiring.WiringError, match="hole 3 and button start would both be green|"
                                                  "button start and hole 3 would both be green"):
        wiring.plan(config_with('[wiring]\n', '[wiring]\nhole_colours = ["brown", "orange", "green", "blue", '
                                '"violet", "grey", "white", "pink", "turquoise"]\n'))
    with pytest.raises(wiring.WiringError, match="lists 2 colours for 9 holes"):
        wiring.plan(config_with('[wiring]\n', '[wiring]\nhole_colours = ["brown", "orange"]\n'))


def test_one_colour_for_every_hole_is_refused_with_the_fix():
    with pytest.raises(wiring.WiringError, match="replace it with 'wiring.hole_colours'"):
        wiring.plan(config_with('[wiring]\n', '[wiring]\nhole_colour = "yellow"\n'))


def test_striped_colours_are_understood():
    p = wiring.plan(config_with('[wiring]\n', '[wiring]\nhole_colours = ["white/brown", "orange", "yellow", '
                                '"blue", "violet", "grey", "white", "pink", "turquoise"]\n'))
    assert p.signals[0].colour == "white/brown" and wiring.colour_code("white/brown") == "WHBN"
    assert wiring.harness(p)["cables"]["W_SW1"]["colors"] == ["WHBN", "BK"]


def test_harness_lays_the_header_pins_in_hole_order():
    p = wiring.plan(load_config())
    pins = wiring.harness(p)["connectors"]["J8"]["pins"]
    holes = [wiring.header_pin(g) for g in p.config.holes]
    assert pins[:len(holes)] == holes
    assert len(pins) == len(set(pins))
    table = [line for line in (WIRING / "board.md").read_text().splitlines() if line.startswith("| ")]
    numbers = [row.split("|")[1].strip() for row in table if row.split("|")[1].strip().isdigit()]
    assert numbers == [str(i) for i in range(1, 10)]


def test_board_page_has_the_standard_geometry_and_every_hole_once():
    from station import pegboard

    md = (WIRING / "board.md").read_text()
    # Mathiowetz et al. 1985: the board the norms were measured on
    for fact in ("3.2 cm (32 mm) apart", "1.3 cm (13 mm)", "0.64 cm across, 3.2 cm long", "13 cm (130 mm) across"):
        assert fact in md, fact
    drawing = "\n".join(pegboard.hole_map(9))
    for hole in range(1, 10):
        assert drawing.count(f"({hole})") == 1
    assert pegboard.position(1, 9) == (1, 1) and pegboard.position(9, 9) == (3, 3)
    assert pegboard.position(6, 9) == (2, 3)
    assert pegboard.grid(5) == (3, 2) and pegboard.grid(16) == (4, 4)
    assert "reed" in md and "magnet" in md and "one end of the glass under the hole's centre" in md


def test_parts_list_has_a_keyboard_and_the_zero_2_w_notes():
    parts = (WIRING / "parts.md").read_text()
    assert "USB keyboard" in parts and "F2 and F3" in parts and "touch" in parts
    zero = parts.split("## Raspberry Pi Zero 2 W", 1)[1]
    assert "no DSI connector" in zero and "mini-HDMI" in zero and "header" in zero and "OTG" in zero
