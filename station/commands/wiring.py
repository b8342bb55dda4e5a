"""``station wiring [--config FILE] [--out DIR] [--check]``: regenerate the wiring docs."""
from __future__ import annotations

import sys
import tempfile


def register(sub) -> None:
    p = sub.add_parser("wiring", help="regenerate the wiring docs (pinout, board, parts, harness) from a config",
                       description="Write the pinout table, the pegboard page, parts list, WireViz harness, "
                                   "its bill of materials and diagram for a station.toml into a folder.")
    p.add_argument("--config", metavar="FILE", help="station.toml to document (default: the shipped one)")
    p.add_argument("--out", metavar="DIR", default="wiring", help="folder to write into (default: ./wiring)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if the docs in --out differ from what the config gives")
    p.set_defaults(run=run)


def run(args) -> int:
    from station import wiring
    from station.config import load_config

    config = load_config(args.config)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            render = wiring.dot_available()
            wiring.generate(config, tmp, render=render)
            names = wiring.TEXT_OUTPUTS + ((wiring.SVG_OUTPUT,) if render else ())
            stale = wiring.differences(args.out, tmp, names)
        if stale:
            print(f"out of date in {args.out}: {', '.join(stale)} (run `station wiring` to regenerate)")
            return 1
        print(f"{args.out} matches the configuration" + ("" if render else " (diagram not checked: no graphviz dot)"))
        return 0
    written = wiring.generate(config, args.out)
    for path in written:
        print(f"wrote {path}")
    if not wiring.dot_available():
        print(f"{wiring.SVG_OUTPUT} not drawn: graphviz's dot is not installed (apt-get install graphviz)",
              file=sys.stderr)
    return 0
