"""The daemon's Unix-socket server: connections, replies and pushed messages.

Protocol and messages: docs/api.md and ``station.api``. What a command does is
the daemon's business: the server calls ``handler(conn, request)`` and sends
back its result (or its ``ApiError``) as the reply.

The pipeline must never wait for a client. ``broadcast`` encodes a message
once and puts it on each subscribed connection's queue without awaiting; a
writer task per connection drains the queue into the socket. A queue is
bounded by the bytes it holds (``QUEUE_BYTES``), not by a count of messages
that may each be a megabyte: a connection whose queue overflows (a client
that stopped reading) is dropped, so memory stays bounded per client.

Fair service: requests from one connection are handled one at a time
(replies come in request order), and the server yields to the event loop
after each one, so a burst of 2,000 requests in one write is served
interleaved with the ticks and every other client. A client whose replies
pile up unread (over ``PAUSE_BYTES``) is not read from until they drain, and
each connection may send ``RATE`` requests per second (bursts of ``BURST``);
beyond that its requests wait (they are not refused), costing nobody else.
At most ``MAX_CLIENTS`` connections are served at once, well below the
process's file-descriptor limit (the unit's ``LimitNOFILE=``), so the
records always find a descriptor to save a trial; one more connection gets
``bye {"reason": "too many connections"}`` and is closed.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import resource
import socket
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from station import api
from station.api import ApiError, Request

log = logging.getLogger(__name__)

Handler = Callable[["Connection", Request], Awaitable[dict | None]]
#: Bytes of outgoing messages a connection may have waiting before it is dropped (a
#: single larger message, a long history, is still queued when nothing else waits).
QUEUE_BYTES = 512 * 1024
#: Unread bytes above which the connection's next request waits for them to drain.
PAUSE_BYTES = 256 * 1024
#: Requests per second a connection may send, and the burst it may send at once.
RATE = 200.0
BURST = 100
#: Connections served at once (each one is a file descriptor; the records need theirs).
MAX_CLIENTS = 64
#: Descriptors kept for the records, journals, traces and hardware whatever the clients do.
FD_RESERVE = 128
SOCKET_MODE = 0o660


class SocketInUse(Exception):
    """Another daemon already answers on the socket path."""


class Connection:
    """One client: its subscription, roles, outgoing queue (bounded in bytes) and request budget."""

    _ids = itertools.count(1)

    def __init__(self, writer: asyncio.StreamWriter, queue_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.id = next(self._ids)
        self.name = f"client {self.id}"
        self.topics: set[str] = set(api.DEFAULT_TOPICS)
        self.roles: set[str] = set()  # staff roles logged in on this connection (station.daemon.staff_auth)
        self.writer = writer
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.queue_bytes = queue_bytes
        self.queued = 0  # bytes waiting in ``queue``
        self.drained = asyncio.Event()  # set while ``queued`` is under PAUSE_BYTES
        self.drained.set()
        self.closed = False
        self.dropped = False
        self._clock = clock
        self._tokens = float(BURST)
        self._refilled = clock()

    def send(self, msg: dict | bytes) -> bool:
        """Queue a message without waiting; an overflowing queue drops the client. False if not queued."""
        if self.closed:
            return False
        data = msg if isinstance(msg, bytes) else api.encode(msg)
        if self.queued and self.queued + len(data) > self.queue_bytes:
            log.warning("%s is not reading its messages (%d bytes waiting); disconnecting it",
                        self.name, self.queued)
            self.dropped = True
            self.abort()
            return False
        self.queue.put_nowait(data)
        self.queued += len(data)
        if self.queued > PAUSE_BYTES:
            self.drained.clear()
        return True

    def sent(self, n: int) -> None:
        """``n`` queued bytes went to the socket."""
        self.queued -= n
        if self.queued <= PAUSE_BYTES:
            self.drained.set()

    def request_delay(self) -> float:
        """Seconds the next request must wait to keep within RATE (token bucket); takes its token."""
        now = self._clock()
        self._tokens = min(float(BURST), self._tokens + (now - self._refilled) * RATE)
        self._refilled = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / RATE

    def close_after_flush(self) -> None:
        """Send what is queued, then close."""
        if not self.closed:
            self.queue.put_nowait(None)

    def abort(self) -> None:
        """Close now, discarding what is queued."""
        self.closed = True
        self.drained.set()  # a read loop waiting for room sees the connection gone
        self.writer.transport.abort()


class Server:
    """Accepts clients on a Unix socket; dispatches requests; fans out pushed messages."""

    def __init__(self, *, handler: Handler, hello: Callable[[], dict], queue_bytes: int = QUEUE_BYTES,
                 max_clients: int = MAX_CLIENTS) -> None:
        self.handler = handler
        self.hello = hello
        self.queue_bytes = queue_bytes
        self.max_clients = _client_cap(max_clients)
        self.refused = 0  # connections turned away at the cap
        self.clients: set[Connection] = set()
        self._clients_moved = asyncio.Event()  # set, then replaced, at every join or leave (until_clients)
        self.path: str | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self, path: str | os.PathLike) -> None:
        """Listen on ``path`` (mode 0660). A stale socket file is replaced; a live one is refused."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_socket(p)
        self._server = await asyncio.start_unix_server(self._serve, path=str(p), limit=api.MAX_REQUEST_LINE)
        # Bound with the process umask (typically 022: others cannot write, so
        # cannot connect, even before this chmod); then the group may connect.
        os.chmod(p, SOCKET_MODE)
        self.path = str(p)
        log.info("listening on %s", p)

    def broadcast(self, msg: dict, topic: str | None = None) -> int:
        """Push ``msg`` to every connection subscribed to its topic; never waits. Returns how many."""
        topic = topic or api.MESSAGE_TOPIC.get(msg.get("type", ""))
        targets = [c for c in self.clients if topic is None or topic in c.topics]
        if not targets:
            return 0
        data = api.encode(msg)
        return sum(1 for c in targets if c.send(data))

    def has_subscribers(self, topic: str) -> bool:
        """Whether any connection wants ``topic`` (to skip building unwanted messages)."""
        return any(topic in c.topics for c in self.clients)

    async def until_clients(self, predicate: Callable[[set[Connection]], bool]) -> None:
        """Return once ``predicate(self.clients)`` holds, looked at after each join or leave
        (a test sees a slot come free without polling)."""
        while not predicate(self.clients):
            await self._clients_moved.wait()

    def _clients_changed(self) -> None:
        moved, self._clients_moved = self._clients_moved, asyncio.Event()
        moved.set()

    async def close(self, reason: str = "shutdown") -> None:
        """Say bye to every client, stop listening and remove the socket file."""
        if self._server is not None:
            self._server.close()
        for c in list(self.clients):
            c.send(api.bye_message(reason))
            c.close_after_flush()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        for c in list(self.clients):
            c.abort()  # their read loops see the connection end
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        if self.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    # --- one connection --------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.clients) >= self.max_clients:
            self.refused += 1
            if self.refused == 1 or self.refused % 100 == 0:
                log.warning("%d connections already: refusing another (%d refused so far)",
                            len(self.clients), self.refused)
            with contextlib.suppress(Exception):
                writer.write(api.encode(api.bye_message("too many connections")))
                writer.close()
            return
        conn = Connection(writer, self.queue_bytes)
        self.clients.add(conn)
        self._clients_changed()
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sender = asyncio.create_task(self._send_loop(conn), name=f"station-send-{conn.id}")
        try:
            conn.send(self.hello())
            await self._read_loop(conn, reader)
        except (ConnectionError, OSError) as e:
            log.debug("%s: %s", conn.name, e)
        finally:
            self.clients.discard(conn)
            self._clients_changed()
            self._tasks.discard(task)
            conn.close_after_flush()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(sender, 2.0)  # cancels the sender on timeout
            conn.closed = True
            writer.close()
            log.debug("%s disconnected", conn.name)

    async def _read_loop(self, conn: Connection, reader: asyncio.StreamReader) -> None:
        while not conn.closed:
            line = await _read_line(reader)
            if line is None:
                err = ApiError(api.LINE_TOO_LONG, f"a request line may be at most {api.MAX_REQUEST_LINE} bytes; "
                                                  "the line was skipped")
                conn.send(api.error_reply(None, err))
                log.info("%s sent a line over %d bytes; skipped it", conn.name, api.MAX_REQUEST_LINE)
                continue
            if not line:
                return  # EOF
            if not line.strip():
                continue
            delay = conn.request_delay()
            if delay:
                await asyncio.sleep(delay)  # over its rate: this client waits, nobody else
            if not conn.drained.is_set():
                await conn.drained.wait()  # its replies are not being read: stop reading its requests
                if conn.closed:
                    return
            conn.send(await self._dispatch(conn, line))
            await asyncio.sleep(0)  # a burst in one write is served interleaved with everything else

    async def _dispatch(self, conn: Connection, line: bytes) -> dict:
        rid: Any = None
        try:
            req = api.parse_request(line)
            rid = req.id
            if req.cmd == "subscribe":
                conn.topics = set(req.args["topics"])
                return api.reply(rid, {"topics": sorted(conn.topics)})
            if req.cmd == "hello" and "client" in req.args:
                conn.name = f"client {conn.id} ({req.args['client'][:40]})"
            return api.reply(rid, await self.handler(conn, req))
        except ApiError as e:
            return api.error_reply(e.request_id if rid is None else rid, e)
        except Exception:  # a bug: the daemon keeps serving, the log keeps the traceback
            log.exception("%s: internal error handling a request", conn.name)
            return api.error_reply(rid, ApiError(api.INTERNAL, "internal error in the daemon (logged)"))

    async def _send_loop(self, conn: Connection) -> None:
        half_closed = False
        try:
            while True:
                data = await conn.queue.get()
                if data is None:
                    # Half-close: the client reads all we sent (a bye) and then the end, and the
                    # read loop reads on to the client's own end. Closing outright with a request
                    # of the client's unread resets the connection, and a client's reader then
                    # drops what it had not read yet: the bye.
                    if conn.writer.can_write_eof():
                        conn.writer.write_eof()
                        half_closed = True
                    break
                conn.writer.write(data)
                await conn.writer.drain()
                conn.sent(len(data))
        except (ConnectionError, OSError):
            pass
        finally:
            conn.closed = True
            if not half_closed:  # else _serve closes it once the client has gone
                with contextlib.suppress(Exception):
                    conn.writer.close()


async def _read_line(reader: asyncio.StreamReader) -> bytes | None:
    """The next line; b"" at EOF; None for a line over the limit, which is read and discarded
    in limit-sized pieces (memory stays bounded whatever the client sends)."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as e:
        return e.partial  # EOF, possibly after a last line without its newline
    except asyncio.LimitOverrunError as e:
        consumed = e.consumed
    try:
        while True:
            await reader.readexactly(consumed)
            try:
                await reader.readuntil(b"\n")
                return None
            except asyncio.LimitOverrunError as e:
                consumed = e.consumed
    except asyncio.IncompleteReadError:
        return b""


def _client_cap(wanted: int) -> int:
    """``wanted``, or fewer if the descriptor limit leaves less after FD_RESERVE."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FD_RESERVE))


def _remove_stale_socket(p: Path) -> None:
    try:
        st = p.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SocketInUse(f"{p} exists and is not a socket; not touching it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(p))
    except OSError:
        p.unlink()  # nobody listening: left over from a crash
        return
    finally:
        probe.close()
    raise SocketInUse(f"another station daemon is already listening on {p}")
