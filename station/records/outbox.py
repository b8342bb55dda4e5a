"""The FHIR outbox: finished tests waiting to be delivered to the clinic's server, and how each went.

One file per test, ``<data>/outbox/test-<id>.json`` (``station.outbox/1``),
replaced whole by ``station.records.atomic.atomic_write`` at every change of
state, so a crash or a power cut leaves the old state or the new one. The
file holds the Bundle to send (built when the test finished, so what is sent
is what was recorded then) and its delivery state:

``state``         ``pending`` (to send; ``attempts`` so far), ``sent`` or
                  ``rejected`` (the server refused it with a 4xx: kept, shown,
                  not retried until someone asks, ``requeue``)
``attempts``      sends tried; ``last_attempt_at``, ``last_error``,
                  ``http_status`` of the last one; ``sent_at`` once sent

A test sent, then killed before ``sent`` was written, is simply sent again:
every entry of the Bundle is a conditional create on its identifier, so the
server keeps one copy. ``.since`` holds when the outbox was made: finished
tests after it that have no entry (a crash between storing the test and
queueing it) are queued again at start (``missing``).
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypedDict

from station.records.atomic import atomic_write

SCHEMA = "station.outbox/1"
STATES = ("pending", "sent", "rejected")
FINISHED = ("complete", "ended")  # test statuses that are delivered
log = logging.getLogger("station.records")


class OutboxEntry(TypedDict):
    """One test's delivery (see the module docstring)."""

    schema: str
    test_id: int
    patient_id: str | None
    identifier: str
    queued_at: str
    state: str
    attempts: int
    last_attempt_at: str | None
    last_error: str | None
    http_status: int | None
    sent_at: str | None
    bundle: dict[str, Any]


class Outbox:
    """The outbox directory; ``open`` it (with ``now``) before use, or give ``now`` here to open it at once."""

    def __init__(self, directory: str | os.PathLike, *, now: str | None = None) -> None:
        self.dir = Path(directory)
        self.since = ""
        if now is not None:
            self.open(now=now)

    def open(self, *, now: str) -> None:
        """Create the directory (mode 0700) if missing, with its ``.since`` stamp ``now``."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = self.dir / ".since"
        if not stamp.exists():
            atomic_write(stamp, now.encode())
        self.since = stamp.read_text().strip()

    def path(self, test_id: int) -> Path:
        return self.dir / f"test-{int(test_id)}.json"

    def add(self, test_id: int, *, patient_id: str | None, identifier: str, bundle: Mapping[str, Any],
            now: str) -> OutboxEntry:
        """Queue a finished test's Bundle. A test already sent or rejected keeps its entry (the server
        has, or refused, that test); a pending one gets the newer Bundle."""
        old = self.get(test_id)
        if old is not None and old["state"] != "pending":
            return old
        entry: OutboxEntry = {"schema": SCHEMA, "test_id": int(test_id), "patient_id": patient_id,
                              "identifier": identifier, "queued_at": old["queued_at"] if old else now,
                              "state": "pending", "attempts": old["attempts"] if old else 0,
                              "last_attempt_at": old["last_attempt_at"] if old else None,
                              "last_error": old["last_error"] if old else None,
                              "http_status": old["http_status"] if old else None, "sent_at": None,
                              "bundle": dict(bundle)}
        self._write(entry)
        return entry

    def get(self, test_id: int) -> OutboxEntry | None:
        """The entry of a test, or None (also for an unreadable file, which is logged)."""
        p = self.path(test_id)
        try:
            data = json.loads(p.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.error("outbox: %s is unreadable (%s); left in place", p, e)
            return None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            return None
        return data  # type: ignore[return-value]  # written by _write: an OutboxEntry

    def entries(self) -> list[OutboxEntry]:
        """Every entry, oldest test first."""
        ids = sorted(int(p.stem[5:]) for p in self.dir.glob("test-*.json") if p.stem[5:].isdigit())
        return [e for e in (self.get(i) for i in ids) if e is not None]

    def attempted(self, test_id: int, *, now: str, state: str, error: str | None = None,
                  http_status: int | None = None) -> OutboxEntry:
        """Record a send: ``state`` ``sent``, ``rejected`` (4xx) or ``pending`` (to retry)."""
        if state not in STATES:
            raise ValueError(f"unknown outbox state {state!r}")
        entry = self.get(test_id)
        if entry is None:
            raise KeyError(test_id)
        entry["state"], entry["attempts"], entry["last_attempt_at"] = state, entry["attempts"] + 1, now
        entry["last_error"], entry["http_status"] = error, http_status
        entry["sent_at"] = now if state == "sent" else None
        self._write(entry)
        return entry

    def requeue(self, test_id: int) -> OutboxEntry:
        """Send a rejected test again (after the clinic fixed what the server refused)."""
        entry = self.get(test_id)
        if entry is None:
            raise KeyError(test_id)
        if entry["state"] == "rejected":
            entry["state"] = "pending"
            self._write(entry)
        return entry

    def missing(self, tests: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Finished tests updated since the outbox was made that have no entry."""
        return [t for t in tests if t.get("status") in FINISHED and isinstance(t.get("test_id"), int)
                and str(t.get("updated_at") or t.get("saved_at") or "") >= self.since
                and not self.path(t["test_id"]).exists()]

    def counts(self) -> dict[str, int]:
        """How many entries are in each state."""
        out = dict.fromkeys(STATES, 0)
        for e in self.entries():
            out[e["state"]] = out.get(e["state"], 0) + 1
        return out

    def _write(self, entry: OutboxEntry) -> None:
        atomic_write(self.path(entry["test_id"]), json.dumps(entry, ensure_ascii=False,
                                                             separators=(",", ":")).encode("utf-8"))
