"""Delivers finished tests to the clinic's FHIR server: the outbox (``station.records.outbox``) drained
by one asyncio task, with retries and back-off while the network or the server is away.

* A test that finishes (``finished``) is built into its Bundle
  (``station.fhir.bundle``) and written to the outbox before anything is sent:
  a crash after that sends it at the next start; a crash before it is caught
  up at start (``Outbox.missing``).
* Each pending entry is POSTed to ``[fhir] base_url`` as a transaction. Every
  resource in it is a conditional create (``ifNoneExist`` on its identifier),
  so a resend after a lost answer, a timeout or a kill -9 creates nothing new.
* 2xx: ``sent``. 4xx (but 408, 429): ``rejected`` with the server's reason,
  kept and shown, not retried until someone asks (``requeue``): the same
  Bundle would be refused again. Network errors, 5xx, 408, 429: retried
  after ``retry_base_s``, doubling per failure up to ``retry_cap_s``.
* Credentials: a bearer token read from ``[fhir] credentials_file`` when
  sending (a file only the daemon's user can read).

HTTP runs in a worker thread (``urllib``), one request at a time, so the
event loop that times trials never waits on the network.
"""
from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from station.fhir.bundle import StationInfo, bundle_identifier, test_bundle
from station.records.outbox import FINISHED, Outbox, OutboxEntry

log = logging.getLogger("station.fhir")
RETRY_AGAIN = (408, 429)  # 4xx that mean "later", not "never"


class SendResult:
    """What one POST came to: ``state`` (sent | rejected | pending), the HTTP status, an error text."""

    def __init__(self, state: str, http_status: int | None = None, error: str | None = None) -> None:
        self.state, self.http_status, self.error = state, http_status, error


class FhirSender:
    """The outbox and the task that sends it. ``changed()`` is called after every change of state
    (clients hear it); ``now()`` gives the wall-clock time for the entries (default: UTC now)."""

    def __init__(self, *, outbox: Outbox, base_url: str, station: StationInfo,
                 credentials_file: str | None = None, changed: Callable[[], None] = lambda: None,
                 retry_base_s: float = 2.0, retry_cap_s: float = 300.0, timeout_s: float = 20.0,
                 now: Callable[[], datetime] | None = None) -> None:
        self.outbox = outbox
        self.base_url = base_url.rstrip("/")
        self.station = station
        self.credentials_file = credentials_file
        self.changed = changed
        self.retry_base_s, self.retry_cap_s, self.timeout_s = retry_base_s, retry_cap_s, timeout_s
        self.now = now or (lambda: datetime.now(UTC))
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one writer of outbox files at a time
        self._failures = 0  # consecutive failed sends: the back-off
        self.last_result: SendResult | None = None
        self._known: dict[int, tuple[str, str | None]] = {}  # test id -> (state, last error): the summary

    def open(self) -> None:
        """Open the outbox (blocking: at start, before the loop serves) and learn its states."""
        self.outbox.open(now=self._stamp())
        self._known = {e["test_id"]: (e["state"], e["last_error"]) for e in self.outbox.entries()}

    # --- queueing ----------------------------------------------------------

    async def finished(self, test: Mapping[str, Any], patient: Mapping[str, Any] | None) -> None:
        """Queue a test that has finished (complete or ended); others are ignored."""
        if test.get("status") not in FINISHED or not isinstance(test.get("test_id"), int):
            return
        bundle = await asyncio.to_thread(test_bundle, test, patient, self.station, made_at=self.now())
        async with self._lock:
            e = await asyncio.to_thread(self.outbox.add, test["test_id"], patient_id=test.get("patient_id"),
                                        identifier=bundle_identifier(test, self.station), bundle=bundle,
                                        now=self._stamp())
        self._known[e["test_id"]] = (e["state"], e["last_error"])
        self._wake.set()
        self.changed()

    async def catch_up(self, tests: list[Mapping[str, Any]], patients: Mapping[str, Mapping[str, Any]]) -> int:
        """Queue finished tests the outbox has no entry for (a crash between storing and queueing)."""
        missing = self.outbox.missing(tests)
        for t in missing:
            await self.finished(t, patients.get(str(t.get("patient_id"))))
        return len(missing)

    async def requeue(self, test_id: int) -> OutboxEntry:
        """Send a rejected test again."""
        async with self._lock:
            entry = await asyncio.to_thread(self.outbox.requeue, test_id)
        self._known[entry["test_id"]] = (entry["state"], entry["last_error"])
        self._wake.set()
        self.changed()
        return entry

    # --- sending -----------------------------------------------------------

    async def run(self) -> None:
        """Send pending entries until cancelled."""
        while True:
            self._wake.clear()
            # the states are known in memory: only pending entries are read (sent ones pile up over years)
            for test_id in [t for t, (state, _) in sorted(self._known.items()) if state == "pending"]:
                entry = await asyncio.to_thread(self.outbox.get, test_id)
                if entry is None or entry["state"] != "pending":
                    continue
                ok = await self._send_one(entry)
                if not ok:
                    break  # the server or network is away: back off before trying anything else
            if self._failures:
                delay = min(self.retry_cap_s, self.retry_base_s * 2 ** (self._failures - 1))
                log.info("FHIR server unavailable (%s); next try in %.0f s",
                         self.last_result.error if self.last_result else "?", delay)
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass
            elif not any(state == "pending" for state, _ in self._known.values()):
                await self._wake.wait()

    async def _send_one(self, entry: OutboxEntry) -> bool:
        result = await asyncio.to_thread(self.post, entry["bundle"])
        self.last_result = result
        async with self._lock:
            e = await asyncio.to_thread(self.outbox.attempted, entry["test_id"], now=self._stamp(),
                                        state=result.state, error=result.error, http_status=result.http_status)
        self._known[e["test_id"]] = (e["state"], e["last_error"])
        self.changed()
        if result.state == "pending":
            self._failures += 1
            return False
        self._failures = 0
        if result.state == "rejected":
            log.warning("FHIR server refused test %s (HTTP %s): %s; kept in the outbox, not retried",
                        entry["test_id"], result.http_status, result.error)
        else:
            log.info("test %s delivered to the FHIR server", entry["test_id"])
        return True

    def post(self, bundle: Mapping[str, Any]) -> SendResult:
        """POST a transaction Bundle (in a worker thread); never raises."""
        headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
        try:
            token = self._token()
        except OSError as e:
            return SendResult("pending", None, f"cannot read the credentials file: {e.strerror}")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base_url, data=json.dumps(bundle).encode("utf-8"), headers=headers,
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 (a configured URL)
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reason = getattr(e, "reason", None) or e
            return SendResult("pending", None, f"no answer from {self.base_url}: {reason}")
        if 200 <= status < 300:
            bad = _failed_entries(body)
            if bad:
                return SendResult("rejected", status, f"the server refused entries: {bad}")
            return SendResult("sent", status)
        reason = _outcome_text(body) or f"HTTP {status}"
        if 400 <= status < 500 and status not in RETRY_AGAIN:
            return SendResult("rejected", status, reason)
        return SendResult("pending", status, reason)

    def _token(self) -> str | None:
        if not self.credentials_file:
            return None
        return Path(self.credentials_file).read_text(encoding="utf-8").strip() or None

    def _stamp(self) -> str:
        return self.now().astimezone(UTC).isoformat(timespec="milliseconds")

    # --- what clients see -------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """A few words for every ``state`` message (from memory, no disk): counts per state, the tests
        refused and the last error."""
        counts = dict.fromkeys(("pending", "sent", "rejected"), 0)
        for state, _ in self._known.values():
            counts[state] += 1
        errors = [(tid, err) for tid, (state, err) in sorted(self._known.items()) if state != "sent" and err]
        return {"counts": counts, "rejected": [t for t, (st, _) in sorted(self._known.items()) if st == "rejected"],
                "last_error": errors[-1][1] if errors else None}

    def status(self) -> dict[str, Any]:
        """The outbox for the API: counts per state and the entries not yet sent, with their errors."""
        entries = self.outbox.entries()
        counts = dict.fromkeys(("pending", "sent", "rejected"), 0)
        for e in entries:
            counts[e["state"]] += 1
        keys = ("test_id", "patient_id", "state", "attempts", "last_attempt_at", "last_error", "http_status")
        waiting = [{k: e.get(k) for k in keys}
                   for e in entries if e["state"] != "sent"]
        return {"server": self.base_url, "counts": counts, "waiting": waiting,
                "last_sent_at": max((e["sent_at"] or "" for e in entries), default="") or None}


def _outcome_text(body: bytes) -> str | None:
    """The diagnostics of an OperationOutcome answer, if the body is one."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip() or None
    if not isinstance(doc, dict) or doc.get("resourceType") != "OperationOutcome":
        return None
    texts = [i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code")
             for i in doc.get("issue") or [] if isinstance(i, dict)]
    return "; ".join(t for t in texts if t) or None


def _failed_entries(body: bytes) -> str | None:
    """Entries of a transaction-response that did not succeed (a transaction is all or nothing, so
    a server answering 2xx should have none; checked, not assumed)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    bad = [str((e.get("response") or {}).get("status")) for e in (doc.get("entry") or [])
           if isinstance(e, dict) and not str((e.get("response") or {}).get("status", "2")).startswith("2")]
    return ", ".join(bad) or None
