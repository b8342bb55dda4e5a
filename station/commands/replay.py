"""``station replay TRACE [--protocol NAME] [--json]``: re-score a recorded trace."""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("replay", help="re-score a trace through the live pipeline",
                       description="Re-score a trace (trace-v1 JSON Lines) through the same pipeline "
                                   "and protocol scoring that run live.")
    p.add_argument("trace", help="the .trace.jsonl file")
    p.add_argument("--protocol", metavar="NAME", help="score as this protocol instead of the header's")
    p.add_argument("--json", action="store_true", help="print the spec's JSON object instead of a summary")
    p.set_defaults(run=run)


def run(args) -> int:
    from station.replay import replay

    out = replay(args.trace, args.protocol)
    if args.json:
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(format_replay(out))
    return 0


def format_replay(out: dict) -> str:
    """A therapist-readable summary of a replay: events, faults and the full result."""
    lines = [f"protocol: {out['protocol']}"]
    events = out["events"]
    t0 = events[0]["t"] if events else 0.0
    for e in events:
        what = {k: v for k, v in e.items() if k not in ("t", "kind")}
        detail = " ".join(f"{k}={v}" for k, v in what.items())
        lines.append(f"  {e['t'] - t0:9.3f} s  {e['kind']:<8} {detail}")
    for f in out["faults"]:
        t = "" if f["t"] is None else f"{f['t'] - t0:9.3f} s  "
        lines.append(f"  FAULT {t}{f['kind']} {f['source']}: {f['detail']}")
    lines += format_result(out["result"])
    return "\n".join(lines)


def format_result(r: dict) -> list[str]:
    """Every key of a protocol result, one per line (lists of numbers on one line)."""
    total = "-" if r.get("total_s") is None else f"{r['total_s']:.3f} s"
    lines = [f"result: {r['status']}, total {total}"]
    for key, value in r.items():
        if key in ("status", "total_s"):
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"  {key}:")
            lines += ["    " + " ".join(f"{k}={_num(v)}" for k, v in item.items()) for item in value]
        elif isinstance(value, list):
            lines.append(f"  {key}: " + (", ".join(_num(v) for v in value) if value else "(none)"))
        else:
            lines.append(f"  {key}: {_num(value)}")
    return lines


def _num(v) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)
