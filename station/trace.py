"""Trace files (docs/trace-v1.md): read, validate, write.

A trace is JSON Lines: a header, then one raw record per line. Reading never
stops at a bad record: it becomes a ``record`` fault. A bad header is a
``TraceError`` (one clear message; the CLI exits 2).
"""
from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

from station.board_spec import BoardSpec, SpecError
from station.errors import UserError, open_user_file
from station.events import CellFault, Edge, RawRecord, Sample

FORMAT = "station-trace"
VERSION = 1
#: A recorded trial's trace is a few MB (an hour of free practice, tens): a larger file is not one.
MAX_TRACE_BYTES = 256 * 1024 * 1024
#: Longest line read (a record is ~60 bytes; the header, with its station, a few KB).
MAX_LINE_BYTES = 64 * 1024
COUNTS_MIN, COUNTS_MAX = -8388608, 8388607


class TraceError(UserError, ValueError):
    """The trace cannot be read at all (missing file, bad header)."""


@dataclass
class TraceHeader:
    """A trace's first line: the board and the protocol it is scored as."""

    board: BoardSpec
    protocol: str | None = None
    protocol_options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept for the record

    def to_dict(self) -> dict:
        proto = {"name": self.protocol, **self.protocol_options} if self.protocol else None
        d = {"format": FORMAT, "version": VERSION, "station": self.board.to_header()}
        if proto:
            d["protocol"] = proto
        d.update(self.extra)
        return d


def parse_header(line: bytes | str) -> TraceHeader:
    """Validate a header line. Raises TraceError with what is wrong."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    if not line.strip():
        raise TraceError("the trace is empty: no header line")
    try:
        head = json.loads(line)
    except ValueError as e:
        raise TraceError(f"the header line is not JSON ({getattr(e, 'msg', e)})") from None
    except RecursionError:
        raise TraceError("the header line nests objects too deeply") from None
    if not isinstance(head, dict):
        raise TraceError("the header line is not a JSON object")
    if head.get("format") != FORMAT:
        raise TraceError(f"not a station trace: header 'format' is {head.get('format')!r}, expected {FORMAT!r}")
    if type(head.get("version")) is not int or head.get("version") != VERSION:
        raise TraceError(f"trace version {head.get('version')!r} is not supported "
                         f"(this station reads version {VERSION})")
    if "station" not in head:
        raise TraceError("the header has no 'station' object")
    try:
        board = BoardSpec.from_header(head["station"])
    except SpecError as e:
        raise TraceError(str(e)) from None
    proto = head.get("protocol")
    name, opts = None, {}
    if proto is not None:
        if not isinstance(proto, dict) or not isinstance(proto.get("name"), str):
            raise TraceError("header 'protocol' must be an object with a 'name'")
        name = proto["name"]
        opts = {k: v for k, v in proto.items() if k != "name"}
    extra = {k: v for k, v in head.items() if k not in ("format", "version", "station", "protocol")}
    return TraceHeader(board, name, opts, extra)


def parse_record(line: bytes | str) -> RawRecord | str:
    """One record line -> a raw record, or a string saying why it is malformed."""
    if len(line) > MAX_LINE_BYTES:
        return f"longer than {MAX_LINE_BYTES} bytes"
    try:
        r = json.loads(line)
    except ValueError as e:
        return not_json_reason(line, e)
    except RecursionError:
        return "nests objects too deeply"
    return record_from_obj(r)


def not_json_reason(line: bytes | str, e: ValueError) -> str:
    """Why a record line did not parse. Checked here, not before parsing: json.loads
    takes bytes in any UTF, and most lines are fine."""
    if isinstance(line, bytes):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return "not UTF-8 text"
    return f"not JSON ({getattr(e, 'msg', e)})"


def record_from_obj(r: object) -> RawRecord | str:
    """A decoded record -> a raw record, or a string saying why it is malformed."""
    if type(r) is not dict:
        return "not a JSON object"
    t = r.get("t")
    if type(t) is not float and (type(t) is not int):
        return "'t' missing or not a number"
    if not math.isfinite(t):
        return "'t' is not finite"
    if "gpio" in r:
        g, lv = r["gpio"], r.get("level")
        if type(g) is not int or type(lv) is not int or lv not in (0, 1):
            return "'gpio' must be an integer and 'level' 0 or 1"
        return Edge(float(t), g, lv)
    cell = r.get("cell")
    if type(cell) is str:
        c = r.get("counts")
        if type(c) is int and COUNTS_MIN <= c <= COUNTS_MAX:
            return Sample(float(t), cell, c)
        if "fault" in r and isinstance(r["fault"], str):
            return CellFault(float(t), cell, r["fault"])
        return "'counts' must be a signed 24-bit integer"
    return "neither a 'gpio' edge nor a 'cell' sample"


def open_trace(path: str | os.PathLike) -> tuple[TraceHeader, IO[bytes]]:
    """Open a trace and parse its header; the file is left positioned at the first record.
    A FIFO, a device, a symlink loop or a file over MAX_TRACE_BYTES is one TraceError."""
    f = open_user_file(path, TraceError, "trace", MAX_TRACE_BYTES)
    try:
        header = parse_header(f.readline(MAX_LINE_BYTES + 1))
    except TraceError as e:
        f.close()
        raise TraceError(f"{path}: {e}") from None
    except UnicodeDecodeError:
        f.close()
        raise TraceError(f"{path}: the header is not UTF-8 text") from None
    return header, f


#: Bytes read at a time by ``trace_line_batches`` (a 5-minute trace is ~3 MB).
READ_BLOCK_BYTES = 1024 * 1024


def trace_line_batches(f: IO[bytes]) -> Iterator[tuple[int, list[bytes | None]]]:
    """The record lines in batches: (number of the batch's first line, its lines, newlines cut).

    A line over MAX_LINE_BYTES is None: read in blocks and dropped, never held
    whole. Batches let replay's hot loop iterate a list (a generator resumed
    per line costs a trace of 50,000 records ~5% of its replay time).
    """
    lineno = 2  # the header is line 1
    carry = b""  # the start of a line the last block cut
    dropping = False  # inside a line over MAX_LINE_BYTES, up to its newline
    while block := f.read(READ_BLOCK_BYTES):
        if dropping:
            nl = block.find(b"\n")
            if nl < 0:
                continue
            block, dropping = block[nl + 1:], False
        whole = (carry + block).split(b"\n")
        carry = whole.pop()
        lines: list[bytes | None]
        if max(map(len, whole), default=0) > MAX_LINE_BYTES:
            lines = [None if len(line) > MAX_LINE_BYTES else line for line in whole]
        else:
            lines = cast("list[bytes | None]", whole)  # the same list: no copy per block
        if len(carry) > MAX_LINE_BYTES:
            lines.append(None)
            carry, dropping = b"", True
        if lines:
            yield lineno, lines
            lineno += len(lines)
    if carry:  # the last line has no newline
        yield lineno, [None if len(carry) > MAX_LINE_BYTES else carry]


def trace_lines(f: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for each record line (see ``trace_line_batches``)."""
    for first, lines in trace_line_batches(f):
        yield from enumerate(lines, first)


def read_records(f: IO[bytes]) -> Iterator[tuple[int, RawRecord | str]]:
    """(line number, record or why it is malformed) for each non-blank record line."""
    for lineno, line in trace_lines(f):
        if line is None:
            yield lineno, f"longer than {MAX_LINE_BYTES} bytes"
        elif line.strip():
            yield lineno, parse_record(line)


class TraceWriter:
    """Writes a trace as the station records it.

    Lines are buffered and written out at most every ``flush_s`` seconds of
    trace time (and on ``flush``/``close``), each write followed by fsync, so
    a power cut loses at most that much of a trial's raw record. With a
    ``syncer`` the fsyncs, and the file's last fsync and close, run on its
    thread (the daemon's loop never waits for the disk).
    """

    def __init__(self, path: str | os.PathLike, header: TraceHeader, flush_s: float = 0.1,
                 syncer: Any = None) -> None:
        self.path = os.fspath(path)
        self._syncer = syncer  # a station.records.syncer.Syncer: fsyncs (and the last close) run on its thread
        self._f = open(self.path, "x", encoding="utf-8")
        self._buf: list[str] = [json.dumps(header.to_dict())]
        self._flush_s = flush_s
        self._last_flush = -math.inf
        self._closing = False
        self.records = 0
        self.flush()

    def write(self, record: RawRecord) -> None:
        self._buf.append(json.dumps(record.to_dict()))
        self.records += 1
        t = record.t
        if t - self._last_flush >= self._flush_s:
            self._last_flush = t
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._f.write("\n".join(self._buf) + "\n")
            self._buf.clear()
        self._f.flush()
        if self._syncer is not None:
            self._syncer.request(self.path, functools.partial(os.fsync, self._f.fileno()))
        else:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._syncer is None:
            self.flush()
            self._f.close()
            return
        if self._buf:
            self._f.write("\n".join(self._buf) + "\n")
            self._buf.clear()
        self._f.flush()
        self._syncer.request(self.path, self._sync_and_close)  # replaces a waiting fsync of this file

    def _sync_and_close(self) -> None:
        try:
            os.fsync(self._f.fileno())
        finally:
            self._f.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
