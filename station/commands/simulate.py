"""``station simulate --protocol NAME --seed N --out TRACE``: a virtual patient through the real drivers.

The virtual patient (``hardware.sim.patient``) performs the protocol on a virtual
board (``hardware.sim.simulator``): its switches and HX711s are fakes *below*
the real drivers, so the records go through the same switch code, HX711
driver, pipeline, protocol and trace writer as on the Pi. Writes the trace
the station recorded and, beside it (``NAME.truth.json``), the patient's
ground truth in the shape of ``station replay --json``, so
``tests/data/check_replay.py TRACE TRUTH OUTPUT`` can check a replay against it.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station.errors import UserError

PROFILES = ("healthy", "impaired")


def register(sub) -> None:
    from station.protocols import PROTOCOLS

    p = sub.add_parser("simulate", help="run a virtual patient through the real drivers; write its trace",
                       description="Run a virtual patient through a protocol on simulated hardware "
                                   "(the real switch and HX711 drivers on fake pins), record the trace "
                                   "the station saw, and write the patient's ground truth beside it.")
    p.add_argument("--protocol", metavar="NAME", required=True,
                   help=f"the protocol to perform ({', '.join(PROTOCOLS)})")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed: the same seed, the same run")
    p.add_argument("--out", metavar="TRACE", required=True,
                   help="the trace to write (e.g. run.trace.jsonl; the truth goes to run.truth.json)")
    p.add_argument("--profile", choices=PROFILES, default="healthy", help="how the patient moves")
    p.add_argument("--config", metavar="FILE", help="station.toml (default: the shipped one)")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="a protocol option, e.g. -o pegs=5 (repeatable)")
    p.set_defaults(run=run)


def run(args) -> int:
    from station.commands.replay import format_replay
    from station.config import load_config

    config = load_config(args.config)
    options = parse_options(args.option)
    out = Path(args.out)
    truth_path = truth_path_for(out)
    for path in (out, truth_path):
        if path.exists():
            raise UserError(f"{path} already exists: choose another --out or remove it")
    if not out.parent.is_dir():
        raise UserError(f"{out.parent}: no such directory")
    result, plan, trial = run_simulated_trial(config, args.protocol, options, seed=args.seed,
                                              profile=args.profile, trace_path=out)
    with open(truth_path, "x", encoding="utf-8") as f:
        json.dump(plan.truth(), f, indent=1)
        f.write("\n")
    print(format_replay({"protocol": args.protocol, "events": [e.to_dict() for e in trial.events],
                         "faults": [x.to_dict() for x in trial.faults], "result": result}))
    print(f"trace: {out} ({trial.trace.records} records)")
    print(f"truth: {truth_path} (the virtual patient's own account; "
          f"true result: {_brief(plan.result)})")
    return 0


def run_simulated_trial(config, protocol: str, options: dict[str, Any] | None = None, *,
                        seed: int = 0, profile: str = "healthy", trace_path: str | os.PathLike | None = None,
                        on_event: Callable | None = None, on_fault: Callable | None = None,
                        on_tick: Callable[[float], None] | None = None, tick_s: float = 0.05):
    """One trial of ``protocol`` by a virtual patient, recorded as the station records it.

    Returns ``(result, plan, trial)``: the station's result, the patient's
    plan (``plan.truth()`` is the ground truth) and the finished ``Trial``.
    ``on_tick(t)`` runs every ``tick_s`` of virtual time (``t``: records up to
    it have been delivered). Raises ProtocolError for an unknown protocol or option.
    """
    from hardware.sim.simulator import Simulation
    from station.protocols import make_protocol
    from station.trace import TraceHeader, TraceWriter
    from station.trial import Trial

    options = dict(options or {})
    board = config.board()
    proto = make_protocol(protocol, board, options)
    writer = None
    if trace_path is not None:
        try:
            writer = TraceWriter(trace_path, TraceHeader(board, protocol, options))
        except FileExistsError:
            raise UserError(f"{trace_path} already exists") from None
    trial = Trial(board, proto, writer, on_event=on_event, on_fault=on_fault)

    def tick(t: float) -> None:
        trial.advance(t)
        if on_tick is not None:
            on_tick(t)

    sim = Simulation(config, seed, profile, on_record=trial.record)
    try:
        plan = sim.run_protocol(protocol, options, tick_s=tick_s, on_tick=tick)
        result = trial.finish(sim.now)
    finally:
        sim.close()
        if writer is not None:
            writer.close()
    return result, plan, trial


def truth_path_for(trace: Path) -> Path:
    """``run.trace.jsonl`` -> ``run.truth.json`` (and ``run.jsonl`` -> ``run.truth.json``)."""
    name = trace.name
    for suffix in (".trace.jsonl", ".jsonl"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return trace.with_name(name[: -len(suffix)] + ".truth.json")
    return trace.with_name(name + ".truth.json")


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["pegs=5", "cutoff_s=60"]`` -> ``{"pegs": 5, "cutoff_s": 60}`` (values read as JSON if they parse)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--option {item!r}: expected KEY=VALUE, e.g. pegs=5")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def _brief(result: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in result.items())
