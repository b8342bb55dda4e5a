"""Bad trace input never raises a traceback: a clear error, or a record fault."""
from __future__ import annotations

import io
import json
import os

import pytest

from station.protocols import ProtocolError
from station.replay import replay
from station.trace import MAX_LINE_BYTES, TraceError, trace_lines
from tests.support import TRACES

HEADER = {"format": "station-trace", "version": 1,
          "station": {"holes": [5, 6, 13], "buttons": {"start": 17}, "active_low": True, "settle_ms": 10},
          "protocol": {"name": "free-practice"}}


def write(tmp_path, lines, name="t.jsonl"):
    p = tmp_path / name
    p.write_text("".join(line + "\n" for line in lines))
    return p


def test_empty_file_is_a_clear_error(tmp_path):
    p = tmp_path / "empty.jsonl"
    p.write_text("")
    with pytest.raises(TraceError, match="empty"):
        replay(p)


def test_missing_file(tmp_path):
    with pytest.raises(TraceError, match="no such trace"):
        replay(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("head,msg", [
    ({"format": "station-trace", "version": 2, "station": {}}, "version 2 is not supported"),
    ({"format": "other", "version": 1}, "not a station trace"),
    ({"format": "station-trace", "version": 1}, "no 'station'"),
    ({"format": "station-trace", "version": 1, "station": {"holes": "x"}}, "station.holes"),
    ({"format": "station-trace", "version": 1,
      "station": {"holes": [5], "cells": {"dish": {"offset": 1, "unit_g": 1.1}}}}, "counts_per_gram"),
])
def test_bad_headers(tmp_path, head, msg):
    with pytest.raises(TraceError, match=msg):
        replay(write(tmp_path, [json.dumps(head)]))


def test_header_not_json(tmp_path):
    with pytest.raises(TraceError, match="not JSON"):
        replay(write(tmp_path, ["{oops"]))


def test_unknown_protocol_is_a_clear_error(tmp_path):
    with pytest.raises(ProtocolError, match="unknown protocol 'juggling'"):
        replay(write(tmp_path, [json.dumps(HEADER)]), protocol="juggling")


def test_garbage_and_truncated_lines_are_record_faults_and_replay_goes_on(tmp_path):
    lines = [json.dumps(HEADER),
             '{"t": 1.0, "gpio": 5, "level": 0}',
             'garbage here',
             '[1, 2, 3]',
             '{"t": "soon", "gpio": 5, "level": 1}',
             '{"t": 1.5, "gpio": 5, "level": 7}',
             '{"t": 2.0, "gpio": 5, "level": 1}',
             '{"t": 2.5, "gpio": 6, "le']            # truncated last line
    out = replay(write(tmp_path, lines))
    assert [(e["kind"], e["t"]) for e in out["events"]] == [("peg_in", 1.0), ("peg_out", 2.0)]
    details = [f["detail"] for f in out["faults"]]
    assert [f["kind"] for f in out["faults"]] == ["record"] * 5
    assert details[0].startswith("line 3: not JSON")
    assert "line 4" in details[1] and "line 5" in details[2] and "line 6" in details[3]
    assert details[4].startswith("line 8: not JSON")
    r = out["result"]
    assert (r["status"], r["total_s"], r["reps"]) == ("complete", 1.0, 1)


def test_out_of_order_record_is_skipped_with_a_fault(tmp_path):
    lines = [json.dumps(HEADER), '{"t": 2.0, "gpio": 5, "level": 0}', '{"t": 1.0, "gpio": 5, "level": 1}',
             '{"t": 3.0, "gpio": 5, "level": 1}']
    out = replay(write(tmp_path, lines))
    assert [f["kind"] for f in out["faults"]] == ["record"]
    assert "older" in out["faults"][0]["detail"]
    assert [e["t"] for e in out["events"]] == [2.0, 3.0]


def test_cli_exit_status_and_one_line_message(tmp_path, capsys):
    from station.cli import main
    p = tmp_path / "empty.jsonl"
    p.write_text("")
    assert main(["replay", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty" in err[0]
    assert main(["replay", str(TRACES / "coin-drop.trace.jsonl"), "--protocol", "nope"]) == 2


def test_a_binary_line_is_a_record_fault_that_says_not_utf8(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_bytes(json.dumps(HEADER).encode() + b"\n\xff\xfe\x00junk\n\xc3\x28\n"
                  + b'{"t": 1.0, "gpio": 5, "level": 0}\n')
    out = replay(p)
    assert [f["detail"] for f in out["faults"]] == ["line 2: not UTF-8 text", "line 3: not UTF-8 text"]
    assert [e["kind"] for e in out["events"]] == ["peg_in"]


def test_hostile_traces_are_one_clear_line_never_a_hang_or_traceback(tmp_path, capsys):
    from station.cli import main
    from station.trace import MAX_TRACE_BYTES

    huge = tmp_path / "huge.jsonl"
    with open(huge, "wb") as f:  # sparse: no disk used, checked before anything is read
        f.truncate(MAX_TRACE_BYTES + 1)
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    version_true = write(tmp_path, [json.dumps({**HEADER, "version": True})], "vtrue.jsonl")
    for path, said in ((huge, "too large"), (fifo, "not a regular file"), (loop, "cannot open"),
                       (version_true, "version True is not supported"), ("/dev/zero", "not a regular file")):
        assert main(["replay", str(path)]) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err


def test_a_deeply_nested_or_endless_record_line_is_a_fault_and_replay_goes_on(tmp_path):
    lines = [json.dumps(HEADER), "[" * 30000 + "]" * 30000, "x" * 200_000,
             json.dumps({"t": 1.0, "gpio": 5, "level": 0})]
    res = replay(write(tmp_path, lines))
    details = [f["detail"] for f in res["faults"]]
    assert any("nests objects too deeply" in d for d in details)
    assert any("longer than" in d for d in details)


@pytest.mark.parametrize("block", [1, 7, MAX_LINE_BYTES - 1, MAX_LINE_BYTES + 1, 1 << 20])
@pytest.mark.parametrize("last_newline", [True, False])
def test_record_lines_are_the_same_whatever_the_read_block(monkeypatch, block, last_newline):
    monkeypatch.setattr("station.trace.READ_BLOCK_BYTES", block)
    lengths = [0, 5, MAX_LINE_BYTES, MAX_LINE_BYTES + 1, 3, 2 * MAX_LINE_BYTES + 7, MAX_LINE_BYTES - 1, 9]
    lines = [(b"%d" % n * MAX_LINE_BYTES)[:n] for n in lengths]  # different content per line
    data = b"\n".join(lines) + (b"\n" if last_newline else b"")
    want = [(n, None if len(line) > MAX_LINE_BYTES else line) for n, line in enumerate(lines, 2)]
    assert list(trace_lines(io.BytesIO(data))) == want
