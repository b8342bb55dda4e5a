"""One trial as it runs: record raw input, debounce and count, score.

The same object runs a trial live (the daemon feeds it records from the
hardware and calls ``advance`` on a timer) and in simulation. It writes every
raw record to the trial's trace before the pipeline sees it, so the trace can
always re-score the result (``station replay``).

Records must come in time order (the hardware layer merges its sources).
"""
from __future__ import annotations

from collections.abc import Callable

from station.board_spec import BoardSpec
from station.events import Event, Fault, RawRecord
from station.pipeline import Pipeline
from station.protocols import Protocol
from station.trace import TraceWriter


class Trial:
    """Pipeline + protocol + trace writer for one trial."""

    def __init__(self, board: BoardSpec, protocol: Protocol, trace: TraceWriter | None = None, *,
                 on_event: Callable[[Event], None] | None = None,
                 on_fault: Callable[[Fault], None] | None = None) -> None:
        self.board = board
        self.protocol = protocol
        self.trace = trace
        self.pipeline = Pipeline(board)
        self.events: list[Event] = []
        self.faults: list[Fault] = []
        self.on_event = on_event
        self.on_fault = on_fault
        self.finished = False

    def record(self, rec: RawRecord) -> None:
        """Take one raw record from the hardware."""
        if self.finished:
            return
        if self.trace is not None:
            self.trace.write(rec)
        self.pipeline.feed(rec)
        self._pump()

    def advance(self, now: float) -> None:
        """Time passed with no record: settle switches, apply cutoffs."""
        if self.finished:
            return
        self.pipeline.advance(now)
        self._pump()
        self.protocol.advance(now)

    @property
    def done(self) -> bool:
        """The protocol has ended (complete or timed out)."""
        return self.protocol.done

    def finish(self, now: float | None = None) -> dict:
        """End the trial (done, aborted, or input ended); returns the result."""
        if not self.finished:
            self.pipeline.finish()
            self._pump()
            self.protocol.finish(now)
            if self.trace is not None:
                self.trace.close()
            self.finished = True
        return self.protocol.result()

    def _pump(self) -> None:
        for ev in self.pipeline.drain():
            self.events.append(ev)
            self.protocol.on_event(ev)
            if self.on_event is not None:
                self.on_event(ev)
        for f in self.pipeline.drain_faults():
            self.faults.append(f)
            if self.on_fault is not None:
                self.on_fault(f)
