"""``station demo``: the whole station on simulated hardware, in this terminal.

Starts ``station daemon --simulate`` (a virtual board and a virtual patient)
on a private socket, then the Textual UI attached to it; a demo driver arms
trial after trial of a Nine Hole Peg Test so it plays by itself. The staff
PINs of the demo are printed (therapist 1234, technician 4321). Quitting the
UI (Ctrl+Q) stops the daemon. Records stay in ``--data`` (default
~/.local/share/station-demo) so the progress plot grows from run to run.

``--text``: the earlier text-only view: one simulated trial, each event the
station accepts printed as it is released, then the result.
"""
from __future__ import annotations

import random
import sys
import time

from station.commands.simulate import PROFILES, parse_options, run_simulated_trial


def register(sub) -> None:
    from station.protocols import PROTOCOLS

    p = sub.add_parser("demo", help="the station on simulated hardware, with its UI, in this terminal",
                       description="Start a simulated station daemon (a virtual patient on simulated hardware, "
                                   "read by the real drivers) and the station's UI attached to it; the virtual "
                                   "patient performs test after test. Ctrl+Q quits and stops the daemon. "
                                   "With --text: print one simulated trial's events instead.")
    p.add_argument("--protocol", metavar="NAME", default="nine-hole-peg",
                   help=f"the protocol ({', '.join(PROTOCOLS)}; default nine-hole-peg)")
    p.add_argument("--profile", choices=PROFILES, default="healthy", help="how the patient moves")
    p.add_argument("--seed", type=int, metavar="N", help="random seed (default: a new one each run, printed)")
    p.add_argument("--speed", type=float, default=1.0, metavar="X",
                   help="play X times faster than real time (default 1; 0 = as fast as possible)")
    p.add_argument("--config", metavar="FILE", help="station.toml (default: the shipped one)")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="a protocol option, e.g. -o pegs=5 (repeatable)")
    p.add_argument("--trace", metavar="FILE", help="also record the trial's trace to FILE")
    p.add_argument("--text", action="store_true", help="no UI: print one simulated trial's events (above options)")
    p.add_argument("--data", metavar="DIR", help="the demo's records (default ~/.local/share/station-demo)")
    p.add_argument("--ascii", action="store_true", default=None, help="UI: plain ASCII (default when TERM=linux)")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.text:
        return run_text(args)
    from station.errors import UserError
    from station.protocols import PROTOCOLS
    from station.ui.demo_session import run_demo

    if args.speed <= 0 or args.speed != args.speed:
        raise UserError("--speed must be a positive number with the UI")
    if args.protocol not in PROTOCOLS:  # before a daemon starts: the demo would loop on the refusal
        raise UserError(f"--protocol: unknown protocol {args.protocol!r} (known: {', '.join(PROTOCOLS)})")
    return run_demo(args)


def run_text(args) -> int:
    from station.config import load_config
    from station.errors import UserError
    from station.protocols import make_protocol

    if args.speed < 0 or args.speed != args.speed:
        raise UserError("--speed must be 0 (as fast as possible) or a positive number")
    config = load_config(args.config)
    options = parse_options(args.option)
    make_protocol(args.protocol, config.board(), options)  # a bad name or option: one message, before anything runs
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    out = sys.stdout
    desc = f"{args.protocol}" + (" " + " ".join(args.option) if args.option else "")
    print(f"Simulated station: a {args.profile} virtual patient performs {desc} (seed {seed}).", file=out)
    print("Events as the station accepts them (switch changes confirm after the settle time, "
          "load-cell counts after 200 ms):", file=out)
    out.flush()
    view = _LiveView(out, args.speed)
    result, plan, trial = run_simulated_trial(config, args.protocol, options, seed=seed, profile=args.profile,
                                              trace_path=args.trace, on_event=view.event, on_fault=view.fault,
                                              on_tick=view.tick, tick_s=0.02)
    print(format_result(result), file=out)
    if args.trace:
        print(f"trace: {args.trace} (replay it with: station replay {args.trace})", file=out)
    print(f"again: station demo --protocol {args.protocol} --profile {args.profile} --seed {seed}", file=out)
    return 0


class _LiveView:
    """Prints events and faults; paces virtual time to the wall clock."""

    def __init__(self, out, speed: float) -> None:
        self.out = out
        self.speed = speed
        self.t0: float | None = None  # virtual time of the first tick
        self.wall0 = 0.0

    def tick(self, t: float) -> None:
        if self.t0 is None:
            self.t0, self.wall0 = t, time.monotonic()
            return
        if self.speed > 0:
            lag = self.wall0 + (t - self.t0) / self.speed - time.monotonic()
            if lag > 0:
                time.sleep(lag)

    def _at(self, t: float) -> str:
        return f"{t - (self.t0 if self.t0 is not None else t):8.3f} s"

    def event(self, ev) -> None:
        d = ev.to_dict()
        kind = d.pop("kind")
        d.pop("t")
        what = {"button": "button pressed", "peg_in": "peg in", "peg_out": "peg out",
                "dish": "dish", "tray": "tray"}.get(kind, kind)
        detail = " ".join(f"{k} {v}" for k, v in d.items())
        print(f"  {self._at(ev.t)}  {what:<15} {detail}", file=self.out, flush=True)

    def fault(self, f) -> None:
        print(f"  {self._at(f.t)}  FAULT {f.kind} {f.source}: {f.detail}", file=self.out, flush=True)


def format_result(result: dict) -> str:
    """The result as a few plain lines."""
    total = result.get("total_s")
    lines = [f"Result: {result['status']}" + ("" if total is None else f", total {total:.2f} s")]
    for k, v in result.items():
        if k in ("status", "total_s") or isinstance(v, (list, dict)) or v is None:
            continue
        lines.append(f"  {k.replace('_', ' ')}: {v}")
    return "\n".join(lines)
