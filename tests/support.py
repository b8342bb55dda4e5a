"""Paths shared by the tests: the example traces and the replay checker."""
from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"
TRACES = DATA / "traces"
CHECK_REPLAY = DATA / "check_replay.py"
EXAMPLES = sorted(p.name[: -len(".trace.jsonl")] for p in TRACES.glob("*.trace.jsonl"))
