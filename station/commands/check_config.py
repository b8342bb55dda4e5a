"""``station check-config [--config FILE]``: validate a station.toml and summarise it."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("check-config", help="validate a station.toml",
                       description="Validate a station.toml; exit 2 with one message naming the key if it is wrong.")
    p.add_argument("--config", metavar="FILE", help="station.toml (default: the shipped default)")
    p.set_defaults(run=run)


def run(args) -> int:
    from station.config import load_config

    c = load_config(args.config)
    norms = c.norms()  # a missing or bad norm file: one message naming [scoring] norms
    cells = ", ".join(f"{n} (DOUT {x.dout}, PD_SCK {x.pd_sck}, {x.sample_hz}/s)" for n, x in c.cells.items())
    print(f"{c.path}: ok: {len(c.holes)} holes, buttons {', '.join(c.buttons) or 'none'}, "
          f"cells {cells or 'none'}, settle {c.settle_ms:g} ms, active {'low' if c.active_low else 'high'}; "
          f"norms: {norms.citation}")
    return 0
