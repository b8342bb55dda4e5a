"""The live trial's journal: what is on disk, how often it syncs, how it reads back."""
from __future__ import annotations

import json

import pytest

from station.events import Fault, PegIn
from station.records.journal import TrialJournal, read_journal
from station.records.storage import CorruptFile


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_every_line_is_on_disk_at_once_and_reads_back(tmp_path):
    clock = Clock()
    j = TrialJournal(tmp_path / "7.jsonl", 7, {"patient_id": "P1", "protocol": "nine-hole-peg"}, clock=clock)
    j.phase("running", 1.0)
    j.event(PegIn(1.5, 3))
    j.fault(Fault(1.6, "chatter", "hole 3", "bounced"))
    j.event({"t": 2.0, "kind": "dish", "count": 7})
    # not closed: a kill -9 now would leave exactly this file
    back = read_journal(tmp_path / "7.jsonl")
    assert back.trial_id == 7 and back.meta["patient_id"] == "P1"
    assert back.events == [{"t": 1.5, "kind": "peg_in", "hole": 3}, {"t": 2.0, "kind": "dish", "count": 7}]
    assert back.faults[0]["source"] == "hole 3"
    assert back.phases[0]["phase"] == "running"
    assert back.last_t == 2.0 and not back.truncated_tail
    j.close()


def test_fsync_at_most_every_interval_and_at_phase_changes(tmp_path):
    clock = Clock()
    j = TrialJournal(tmp_path / "1.jsonl", 1, {}, clock=clock, sync_interval=0.1)
    base = j.syncs  # the header is synced on creation
    for i in range(50):  # 50 events within 49 ms: one sync at most
        clock.t = i * 0.001
        j.event({"t": clock.t, "kind": "peg_in", "hole": 1})
    assert j.syncs == base
    assert not j.tick()  # still inside the interval
    clock.t = 0.1
    assert j.tick() and j.syncs == base + 1  # the burst's tail reaches the disk within 100 ms
    assert not j.tick()  # nothing new to sync
    j.phase("done", 0.11)
    assert j.syncs == base + 2  # phase changes sync at once
    clock.t = 0.5
    j.event({"t": 0.5, "kind": "peg_out", "hole": 1})  # first event after a quiet spell: synced now
    assert j.syncs == base + 3
    j.close()


@pytest.mark.parametrize("tail", [
    b'{"event": {"t": 3.0, "kind": "peg',  # cut mid-line
    b"\x00" * 40,  # zeroed tail after a power cut
    b'{"event": {"t": 3.0, "ki\n\x00\x00\x00',  # several cut lines
])
def test_truncated_last_line_is_ignored(tmp_path, tail):
    path = tmp_path / "4.jsonl"
    j = TrialJournal(path, 4, {"protocol": "coin-drop"})
    j.event({"t": 1.0, "kind": "tray", "count": 1})
    j.event({"t": 2.0, "kind": "tray", "count": 2})
    j.close()
    with open(path, "ab") as f:
        f.write(tail)
    back = read_journal(path)
    assert [e["count"] for e in back.events] == [1, 2]
    assert back.truncated_tail and back.bad_lines == []


def test_a_whole_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "4.jsonl"
    TrialJournal(path, 4, {}).close()
    with open(path, "ab") as f:
        f.write(json.dumps({"event": {"t": 1.0, "kind": "peg_in", "hole": 2}}).encode())
    back = read_journal(path)
    assert back.events == [{"t": 1.0, "kind": "peg_in", "hole": 2}] and not back.truncated_tail


def test_damage_in_the_middle_is_skipped_and_reported(tmp_path):
    path = tmp_path / "5.jsonl"
    j = TrialJournal(path, 5, {})
    j.event({"t": 1.0, "kind": "peg_in", "hole": 1})
    j.close()
    with open(path, "ab") as f:
        f.write(b"garbage\n" + json.dumps({"event": {"t": 2.0, "kind": "peg_in", "hole": 2}}).encode() + b"\n")
    back = read_journal(path)
    assert [e["hole"] for e in back.events] == [1, 2]
    assert back.bad_lines == [3] and not back.truncated_tail


def test_no_header_is_corrupt(tmp_path):
    path = tmp_path / "9.jsonl"
    path.write_bytes(b'{"event": {"t": 1.0}}\n')
    with pytest.raises(CorruptFile):
        read_journal(path)


def test_a_damaged_header_keeps_the_events_readable_given_the_trial_id(tmp_path):
    path = tmp_path / "9.jsonl"
    path.write_bytes(b'{"journal": "station-tr\x00\x00\n{"event": {"t": 1.0, "kind": "peg_in", "hole": 1}}\n'
                     b'{"phase": "running", "t": 0.5}\n')
    back = read_journal(path, trial_id=9)
    assert back.header_damaged and back.trial_id == 9 and back.meta == {}
    assert back.events == [{"t": 1.0, "kind": "peg_in", "hole": 1}] and len(back.phases) == 1


def test_journal_file_is_never_reused(tmp_path):
    TrialJournal(tmp_path / "3.jsonl", 3, {}).close()
    with pytest.raises(FileExistsError):
        TrialJournal(tmp_path / "3.jsonl", 3, {})


def test_with_a_syncer_the_callers_thread_never_fsyncs(tmp_path, monkeypatch):
    import os
    import threading

    from station.config import load_config
    from station.events import Edge
    from station.records import journal as journal_mod
    from station.records.syncer import Syncer
    from station.trace import TraceHeader, TraceWriter

    threads = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (threads.append(threading.get_ident()), real(fd)))
    syncer = Syncer()
    clock = Clock()
    j = journal_mod.TrialJournal(tmp_path / "3.jsonl", 3, {}, clock=clock, syncer=syncer)
    trace = TraceWriter(tmp_path / "3.trace.jsonl", TraceHeader(load_config(None).board(), "free-practice", {}),
                        syncer=syncer)
    for i in range(20):
        clock.t = i * 0.1
        j.event({"t": clock.t, "kind": "peg_in", "hole": 1})
        trace.write(Edge(clock.t, 5, i % 2))
    j.phase("done", 2.0)
    trace.close()
    syncer.drain()
    assert threads and threading.get_ident() not in threads  # every fsync so far ran on the syncer's thread
    assert j.syncs > 2
    j.close()
    syncer.close()
    assert len(read_journal(tmp_path / "3.jsonl").events) == 20
    lines = (tmp_path / "3.trace.jsonl").read_text().splitlines()
    assert len(lines) == 21  # the header and every record, the file closed by the syncer
