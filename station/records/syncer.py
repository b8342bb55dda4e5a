"""fsync on a thread of its own, so the daemon's event loop never waits for the disk.

An fsync on an SD card takes from a few ms to hundreds under write load (on
ext4 it can wait for a journal commit that flushes other files' data too).
The live trial's journal and raw trace are written on the event loop (each
``os.write`` reaches the kernel at once, so a killed process loses nothing)
but their fsyncs, what a power cut needs, are handed to ``Syncer``: the loop
says which file wants one (``request``) and carries on. Requests for the same
key coalesce while they wait, so a slow disk means fewer, later fsyncs, never
a stalled loop (tests/benchmarks/loop_lag.py measures it). ``wait(key)``
before closing a file, ``drain()`` before telling anyone a trial is saved.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable

from station.records.log_limit import LogLimiter

log = logging.getLogger("station.records")


class Syncer:
    """One worker thread running fsync jobs (``request(key, fn)``), coalesced per key."""

    def __init__(self, name: str = "station-fsync") -> None:
        self._cv = threading.Condition()
        self._want: dict[Hashable, Callable[[], None]] = {}
        self._busy: set[Hashable] = set()
        self._stopped = False
        self._limit = LogLimiter(log)  # a full or failing disk fails every fsync: one line a minute
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def request(self, key: Hashable, fn: Callable[[], None]) -> None:
        """Run ``fn`` (an fsync of the file ``key`` names) soon; a waiting request for ``key`` is replaced."""
        with self._cv:
            if self._stopped:
                raise RuntimeError("the syncer is closed")
            self._want[key] = fn
            self._cv.notify_all()

    def wait(self, key: Hashable) -> None:
        """Return once no job for ``key`` waits or runs (then its file may be closed)."""
        with self._cv:
            while key in self._want or key in self._busy:
                self._cv.wait()

    def drain(self) -> None:
        """Return once every job requested so far has run."""
        with self._cv:
            while self._want or self._busy:
                self._cv.wait()

    def close(self) -> None:
        """Run what is waiting, then stop the thread."""
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._want and not self._stopped:
                    self._cv.wait()
                if not self._want:
                    return  # stopped, nothing left
                jobs, self._want = self._want, {}
                self._busy = set(jobs)
            for key, fn in jobs.items():
                try:
                    fn()
                except Exception as e:  # a failing disk: the write itself is in the kernel; say so
                    self._limit.log(type(e).__name__, logging.ERROR, "background fsync of %s failed: %s", key, e)
            with self._cv:
                self._busy = set()
                self._cv.notify_all()
