"""Re-score a trace through the same pipeline and protocol that run live."""
from __future__ import annotations

import json
import math
import os
from typing import Any

from station.pipeline import Pipeline
from station.protocols import make_protocol
from station.trace import (
    COUNTS_MAX,
    COUNTS_MIN,
    MAX_LINE_BYTES,
    not_json_reason,
    open_trace,
    record_from_obj,
    trace_line_batches,
)


def replay(path: str | os.PathLike, protocol: str | None = None,
           options: dict[str, Any] | None = None) -> dict:
    """Replay ``path``; returns the spec's output object (protocol, events, faults, result).

    Raises TraceError for a trace that cannot be read at all and ProtocolError
    for an unknown protocol; bad records become ``record`` faults.
    """
    header, f = open_trace(path)
    with f:
        name = protocol or header.protocol
        if name is None:
            from station.protocols import ProtocolError
            raise ProtocolError("the trace names no protocol: pass --protocol NAME")
        opts = dict(header.protocol_options) if name == header.protocol else {}
        opts.update(options or {})
        proto = make_protocol(name, header.board, opts)
        pipe = Pipeline(header.board)
        events: list = []
        ready = pipe.ready
        loads = json.loads
        sample, edge = pipe.sample, pipe.edge
        # The hot loop handles well-formed float-timed records inline (a trace is
        # mostly load-cell samples at 80/s per cell); anything else takes the
        # general, message-producing path of record_from_obj.
        for first, lines in trace_line_batches(f):
            for lineno, line in enumerate(lines, first):
                try:
                    if line is None:
                        raise ValueError(f"longer than {MAX_LINE_BYTES} bytes")
                    r = loads(line)
                except (ValueError, RecursionError) as e:
                    if line is None or line.strip():
                        why = ("nests objects too deeply" if isinstance(e, RecursionError)
                               else str(e) if line is None else not_json_reason(line, e))
                        pipe.record_fault(_last_t(pipe), f"line {lineno}", f"line {lineno}: {why}")
                    continue
                if type(r) is dict:
                    t = r.get("t")
                    if type(t) is float and t - t == 0.0:
                        c = r.get("counts")
                        if type(c) is int and COUNTS_MIN <= c <= COUNTS_MAX and type(r.get("cell")) is str:
                            sample(t, r["cell"], c)
                            if ready:
                                _feed(pipe, proto, events)
                            continue
                        g = r.get("gpio")
                        lv = r.get("level")
                        if type(g) is int and (lv == 0 or lv == 1) and type(lv) is int:
                            edge(t, g, lv)
                            if ready:
                                _feed(pipe, proto, events)
                            continue
                rec = record_from_obj(r)
                if not isinstance(rec, str):
                    pipe.feed(rec)
                else:
                    pipe.record_fault(_last_t(pipe), f"line {lineno}", f"line {lineno}: {rec}")
                if ready:
                    _feed(pipe, proto, events)
        end = pipe.now
        pipe.finish()
        _feed(pipe, proto, events)
        proto.finish(_last_t(pipe) if end != -math.inf else None)
    return {
        "protocol": proto.name,
        "events": [e.to_dict() for e in events],
        "faults": [x.to_dict() for x in pipe.drain_faults()],
        "result": proto.result(),
    }


def _feed(pipe: Pipeline, proto, events: list) -> None:
    for ev in pipe.drain():
        events.append(ev)
        proto.on_event(ev)


def _last_t(pipe: Pipeline) -> float | None:
    """The time of the last good record (a malformed line has none of its own)."""
    return pipe.now if pipe.now != -math.inf else None
