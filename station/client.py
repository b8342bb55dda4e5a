"""An asyncio client for the station socket API (docs/api.md).

    async with StationClient("/run/station/station.sock", reconnect=True) as c:
        print(c.hello["state"])
        await c.request("select_patient", patient_id="P-0042")
        async for msg in c.messages():      # pushed messages, in arrival order
            if msg["type"] == "event": ...

``request`` returns the reply's ``result`` or raises ``ApiError`` (code and
message from the daemon). ``messages()`` yields every pushed message
(``event``, ``fault``, ``state``, ``trial_finished``, ``sensors``, ``bye``),
the ``hello`` of every (re)connection, and a synthetic ``{"type":
"disconnected"}`` when the connection drops. With ``reconnect=True`` the
client reconnects with backoff (re-sending its subscription) and the iterator
carries on; without it the iterator ends after ``disconnected``.
``state`` always holds the latest state snapshot.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from station.api import API_VERSION, MAX_MESSAGE_LINE, ApiError

log = logging.getLogger(__name__)

_END = object()


class StationClient:
    """One connection to the daemon (re-established on loss when ``reconnect``)."""

    def __init__(self, path: str | os.PathLike, *, reconnect: bool = False,
                 topics: list[str] | None = None, name: str | None = None,
                 backoff: tuple[float, float] = (0.2, 5.0), queue_size: int = 10000) -> None:
        self.path = os.fspath(path)
        self.reconnect = reconnect
        self.topics = list(topics) if topics is not None else None
        self.name = name
        self.backoff = backoff
        self.hello: dict | None = None
        self.state: dict | None = None
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future] = {}
        self._queue: asyncio.Queue = asyncio.Queue(queue_size)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self._closed = False

    # --- lifecycle -------------------------------------------------------

    async def connect(self, timeout: float | None = 10.0) -> dict:
        """Connect and wait for the daemon's hello (returned). Raises OSError if no daemon."""
        async with asyncio.timeout(timeout):
            await self._open()
        self._task = asyncio.create_task(self._run(), name="station-client")
        if self.topics is not None:
            await self.request("subscribe", topics=self.topics)
        return self.hello  # type: ignore[return-value]

    async def close(self) -> None:
        """Close the connection; pending requests fail, ``messages()`` ends."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._drop_connection()
        self._put(_END)

    async def __aenter__(self) -> StationClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until (re)connected."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    # --- requests and messages -----------------------------------------

    async def request(self, cmd: str, timeout: float | None = 30.0, **fields: Any) -> dict:
        """Send ``cmd`` with ``fields``; return the reply's result or raise ApiError.

        Raises ConnectionError if not connected or the connection drops first.
        """
        if self._writer is None or not self._connected.is_set():
            raise ConnectionError("not connected to the station daemon")
        rid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            line = json.dumps({"id": rid, "cmd": cmd, **fields}, allow_nan=False) + "\n"
            self._writer.write(line.encode("utf-8"))
            await self._writer.drain()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the
            # caller's cancellation when the reply lands at the same moment
            async with asyncio.timeout(timeout):
                reply = await fut
        finally:
            self._pending.pop(rid, None)
        if reply.get("ok"):
            return reply.get("result") or {}
        err = reply.get("error") or {}
        raise ApiError(err.get("code", "unknown"), err.get("message", "request failed"), rid)

    async def send_raw(self, data: bytes) -> None:
        """Write raw bytes (for tests and tools that speak the protocol themselves)."""
        if self._writer is None:
            raise ConnectionError("not connected to the station daemon")
        self._writer.write(data)
        await self._writer.drain()

    async def messages(self) -> AsyncIterator[dict]:
        """Pushed messages in arrival order (see the module docstring)."""
        while True:
            msg = await self._queue.get()
            if msg is _END:
                self._put(_END)  # let other iterators end too
                return
            yield msg

    async def next_message(self, type_: str | None = None, timeout: float | None = 10.0) -> dict:
        """The next pushed message (of ``type_`` if given), skipping others."""
        async def get() -> dict:
            while True:
                msg = await self._queue.get()
                if msg is _END:
                    self._put(_END)
                    raise ConnectionError("the connection is closed")
                if type_ is None or msg.get("type") == type_:
                    return msg
        async with asyncio.timeout(timeout):
            return await get()

    # --- internals -------------------------------------------------------

    async def _open(self) -> None:
        reader, writer = await asyncio.open_unix_connection(self.path, limit=MAX_MESSAGE_LINE)
        try:
            line = await reader.readline()
            msg = json.loads(line) if line else None
        except (ValueError, OSError) as e:
            writer.close()
            raise ConnectionError(f"{self.path}: no hello from the daemon ({e})") from None
        if not isinstance(msg, dict) or msg.get("type") != "hello":
            writer.close()
            raise ConnectionError(f"{self.path}: the daemon did not say hello")
        if msg.get("api") != API_VERSION:
            writer.close()
            raise ApiError("unsupported_version",
                           f"the daemon speaks API version {msg.get('api')}, this client {API_VERSION}")
        self._reader, self._writer = reader, writer
        self.hello = msg
        self.state = msg.get("state")
        self._put(msg)
        self._connected.set()

    async def _run(self) -> None:
        delay = self.backoff[0]
        while not self._closed:
            try:
                await self._read_loop()
            except (OSError, ValueError) as e:
                log.debug("station connection lost: %s", e)
            await self._drop_connection()
            self._put({"type": "disconnected"})
            if not self.reconnect or self._closed:
                self._put(_END)
                return
            while not self._closed:
                await asyncio.sleep(delay)
                try:
                    await self._open()
                except (OSError, ConnectionError, ValueError):
                    delay = min(delay * 2, self.backoff[1])
                    continue
                delay = self.backoff[0]
                if self.topics is not None:
                    asyncio.create_task(self._resubscribe())
                break

    async def _resubscribe(self) -> None:
        with contextlib.suppress(ConnectionError, ApiError, asyncio.TimeoutError):
            await self.request("subscribe", topics=self.topics)

    async def _read_loop(self) -> None:
        reader = self._reader
        assert reader is not None
        while True:
            line = await reader.readline()
            if not line:
                return
            try:
                msg = json.loads(line)
            except ValueError:
                log.warning("station daemon sent a line that is not JSON; ignored")
                continue
            if not isinstance(msg, dict):
                continue
            if msg.get("type") == "reply":
                fut = self._pending.get(msg.get("id"))
                if fut is not None and not fut.done():
                    fut.set_result(msg)
                continue
            if msg.get("type") == "state" and isinstance(msg.get("state"), dict):
                self.state = msg["state"]
            self._put(msg)

    async def _drop_connection(self) -> None:
        self._connected.clear()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("the connection to the station daemon was lost"))
        self._pending.clear()
        w, self._writer, self._reader = self._writer, None, None
        if w is not None:
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()

    def _put(self, msg: Any) -> None:
        # A UI that stops reading must not make the client grow without bound:
        # the oldest pushed message goes first (the state snapshot is kept in
        # ``self.state`` regardless).
        while True:
            try:
                self._queue.put_nowait(msg)
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    self._queue.get_nowait()
