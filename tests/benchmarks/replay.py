"""Replay throughput against a bare JSON parse of the same lines.

Builds a 5-minute trace with two cells at 80 samples/s (the 9HPT's dish and
the coin tray) plus peg edges with bounce, then times ``station.replay.replay``
and a loop of ``json.loads`` over the same lines. Prints one JSON object.
Goal: replay costs at most 3x the parse.

    python tests/benchmarks/replay.py [--minutes 5] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from station.config import load_config  # noqa: E402
from station.replay import replay  # noqa: E402
from station.trace import TraceHeader  # noqa: E402


def build_trace(path: Path, minutes: float, seed: int = 1) -> int:
    rng = random.Random(seed)
    board = load_config().board()
    header = TraceHeader(board, "free-practice", {})
    dish, tray = board.cells["dish"].calibration, board.cells["tray"].calibration
    lines = [json.dumps(header.to_dict())]
    t0 = 5000.0
    end = t0 + minutes * 60
    # pegs: a cycle every ~2 s on a random hole, with bounce on each edge
    edges = []
    t = t0 + 1.0
    while t < end - 2:
        gpio = rng.choice(board.holes)
        for level, at in ((0, t), (1, t + 0.8)):
            e = at
            for i in range(rng.randrange(1, 6) * 2 + 1):
                edges.append((round(e, 6), gpio, level if i % 2 == 0 else 1 - level))
                e += rng.uniform(0.0002, 0.003)
        t += rng.uniform(1.5, 2.5)
    edges.sort()
    dish_units, tray_units = 9, 0
    recs = []
    for cell, cal, phase in (("dish", dish, 0.0), ("tray", tray, 0.006)):
        s = t0 + phase
        while s < end:
            units = dish_units if cell == "dish" else tray_units
            if cell == "tray" and int((s - t0) // 10) % 2:
                units = 1  # a coin on and off every 10 s
            counts = round(cal.offset + units * cal.unit_g * cal.counts_per_gram + rng.gauss(0, 12))
            recs.append((round(s, 6), cell, counts))
            s += 1 / 80 + rng.uniform(-0.0003, 0.0003)
    merged = sorted([(t, 0, e) for t, *e in edges] + [(t, 1, r) for t, *r in recs])
    for t, kind, r in merged:
        if kind == 0:
            lines.append(json.dumps({"t": t, "gpio": r[0], "level": r[1]}))
        else:
            lines.append(json.dumps({"t": t, "cell": r[0], "counts": r[1]}))
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.trace.jsonl"
        n = build_trace(path, args.minutes)
        raw = path.read_bytes().splitlines()[1:]
        parse_s, replay_s = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            for line in raw:
                json.loads(line)
            parse_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            out = replay(path)
            replay_s.append(time.perf_counter() - t)
        p, r = min(parse_s), min(replay_s)
        print(json.dumps({
            "benchmark": "replay",
            "trace_minutes": args.minutes,
            "records": n,
            "events": len(out["events"]),
            "faults": len(out["faults"]),
            "json_parse_s": round(p, 4),
            "replay_s": round(r, 4),
            "replay_records_per_s": round(n / r),
            "json_parse_records_per_s": round(n / p),
            "ratio_replay_to_parse": round(r / p, 2),
            "goal_ratio": 3.0,
        }))


if __name__ == "__main__":
    main()
