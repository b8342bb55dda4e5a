"""The daemon's record store, the one thread that writes it, and the lock every use holds.

Finished trials, tests and patients are written on a single-worker executor
(the store has a single writer, and its fsyncs must not stall the event
loop while the hardware keeps streaming). Every use of the store, on the
loop or on that thread, holds ``lock``, so the loop never reads the store's
index while the thread changes it.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
from collections.abc import Callable
from typing import Any

from station.records.store import RecordStore


class RecordsThread:
    """The store (``open`` it first), its lock, and ``call`` to run a store call on its thread."""

    def __init__(self) -> None:
        self.store: RecordStore | None = None
        self.lock = asyncio.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="station-records")

    def open(self, data_dir: str | os.PathLike) -> RecordStore:
        """Open the store (it logs one line per thing it recovered from a crash)."""
        self.store = RecordStore(data_dir)
        return self.store

    async def call(self, fn: Callable, *args: Any) -> Any:
        """Run ``fn(*args)`` on the records thread (the caller holds ``lock``)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))

    def close(self) -> None:
        """Wait for queued writes, then close the store."""
        self._pool.shutdown(wait=True)
        if self.store is not None:
            self.store.close()
