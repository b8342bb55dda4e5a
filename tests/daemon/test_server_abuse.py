"""The socket server under abuse: bad lines, huge lines, slow and vanishing clients.

Runs ``station.daemon.server.Server`` on a real Unix socket in a temporary directory
with a small handler; the test pushes live events carrying their own timestamps
(as the daemon's pipeline does) when it wants them (``Harness.emit``): nothing
is paced by the clock.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import stat

import pytest

from station import api
from station.api import ApiError
from station.client import StationClient
from station.daemon.server import Server, SocketInUse

HANDLED: list[tuple[int, object]] = []  # (connection id, request id), in the order served


async def _handler(conn, req):
    HANDLED.append((conn.id, req.id))
    if req.cmd == "ping":
        return {"t": 1.0}
    if req.cmd == "state":
        return {"state": {}}
    raise ApiError(api.NOT_FOUND, f"{req.cmd} is not in this test server")


class Harness:
    """A server, and ``emit`` pushing ``event`` messages with known timestamps to its clients."""

    def __init__(self, path: str, queue_bytes: int = 4 << 20, pad: int = 0, max_clients: int = 64) -> None:
        self.pad = "x" * pad
        self.server = Server(handler=_handler, hello=lambda: api.hello({}, {"monotonic": 0.0, "wall": 0.0}),
                             queue_bytes=queue_bytes, max_clients=max_clients)
        self.path = path
        self.sent: list[float] = []

    async def __aenter__(self) -> Harness:
        await self.server.start(self.path)
        return self

    def emit(self, n: int = 1) -> None:
        """Push ``n`` live events (never waits, as the daemon's broadcast)."""
        for _ in range(n):
            t = 1000.0 + 0.125 * (len(self.sent) + 1)
            self.sent.append(t)
            ev = {"t": t, "kind": "peg_in", "hole": 1}
            if self.pad:
                ev["pad"] = self.pad  # big messages fill a non-reader's socket buffers quickly
            self.server.broadcast(api.event_message(ev))

    async def __aexit__(self, *exc) -> None:
        await self.server.close()


async def _raw(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict]:
    reader, writer = await asyncio.open_unix_connection(path, limit=api.MAX_MESSAGE_LINE)
    hello = json.loads(await reader.readline())
    return reader, writer, hello


async def _next_reply(reader: asyncio.StreamReader) -> dict:
    while True:
        line = await asyncio.wait_for(reader.readline(), 5)
        assert line, "connection closed before the reply"
        msg = json.loads(line)
        if msg["type"] == "reply":
            return msg


async def _still_serving(path: str) -> None:
    async with StationClient(path) as c:
        assert await c.request("ping") == {"t": 1.0}


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


@pytest.fixture
def sock_path(tmp_path):
    return str(tmp_path / "run" / "station.sock")


def test_bad_lines_get_error_replies_and_the_connection_survives(sock_path):
    cases = [
        (b"{not json\n", "bad_json", None),
        (b"\xff\xfe\n", "bad_json", None),
        (b"[1, 2]\n", "bad_request", None),
        (b'{"cmd": "ping"}\n', "missing_field", None),
        (b'{"id": [1], "cmd": "ping"}\n', "bad_type", None),
        (b'{"id": 3, "cmd": 7}\n', "bad_type", 3),
        (b'{"id": 4, "cmd": "fly_to_the_moon"}\n', "unknown_command", 4),
        (b'{"id": 5, "cmd": "ping", "colour": "red"}\n', "unknown_field", 5),
        (b'{"id": 6, "cmd": "tare", "cell": 12}\n', "bad_type", 6),
        (b'{"id": 7, "cmd": "calibrate", "cell": "dish", "mass_g": NaN}\n', "bad_json", None),
        (b'{"id": 8, "cmd": "calibrate", "cell": "dish", "mass_g": true}\n', "bad_type", 8),
        (b'{"id": 9, "cmd": "hello", "api": 99}\n', "unsupported_version", 9),
        (b'{"id": "s", "cmd": "subscribe", "topics": ["gossip"]}\n', "bad_value", "s"),
        (b'{"id": 10, "cmd": "start_trial", "hand": "both"}\n', "bad_type", 10),
    ]

    async def main():
        async with Harness(sock_path) as h:
            reader, writer, hello = await _raw(sock_path)
            assert hello["type"] == "hello" and hello["api"] == api.API_VERSION
            for line, code, rid in cases:
                h.emit(2)  # live events arrive between the replies
                writer.write(line)
                reply = await _next_reply(reader)
                assert reply["ok"] is False, line
                assert reply["error"]["code"] == code, (line, reply)
                assert reply["id"] == rid
                assert reply["error"]["message"]
            writer.write(b'{"id": "last", "cmd": "ping"}\n')
            assert (await _next_reply(reader)) == {"type": "reply", "id": "last", "ok": True, "result": {"t": 1.0}}
            writer.close()

    _run(main())


def test_a_megabyte_line_gets_an_error_and_the_next_request_is_served(sock_path):
    async def main():
        async with Harness(sock_path):
            reader, writer, _ = await _raw(sock_path)
            writer.write(b'{"id": 1, "cmd": "ping", "pad": "' + b"x" * (1 << 20) + b'"}\n')
            writer.write(b'{"id": 2, "cmd": "ping"}\n')
            await writer.drain()
            reply = await _next_reply(reader)
            assert reply["ok"] is False and reply["error"]["code"] == "line_too_long"
            assert reply["id"] is None
            assert (await _next_reply(reader))["id"] == 2  # the line after it is served
            # a huge line with no newline at all, then hang up: the server survives
            writer.write(b"y" * (3 << 20))
            await writer.drain()
            writer.close()
            await _still_serving(sock_path)

    _run(main())


def test_abrupt_disconnects_do_not_hurt_the_server(sock_path):
    async def main():
        async with Harness(sock_path) as h:
            for i in range(20):
                reader, writer, _ = await _raw(sock_path)
                writer.write(b'{"id": 1, "cmd": "pi')  # half a request
                if i % 2:
                    writer.transport.abort()  # RST, not FIN
                else:
                    writer.close()
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock_path)
            s.close()  # never even read the hello
            abused = set(h.server.clients)
            for _ in range(200):  # each round trip lets the server run; the broken connections go meanwhile
                await _still_serving(sock_path)
                if not abused & h.server.clients:
                    break
            assert not abused & h.server.clients, "connections that went away are still held"

    _run(main())


def test_fifty_clients_at_once_all_get_replies_and_ordered_live_events(sock_path):
    async def one(c: StationClient, k: int) -> list[float]:
        for _ in range(5):
            assert await c.request("ping") == {"t": 1.0}
        ts = []
        while len(ts) < 20:
            msg = await c.next_message("event")
            ts.append(msg["event"]["t"])
        return ts

    async def main():
        async with Harness(sock_path) as h:
            clients = [StationClient(sock_path) for _ in range(50)]
            await asyncio.gather(*(c.connect() for c in clients))
            h.emit(20)
            results = await asyncio.gather(*(one(c, k) for k, c in enumerate(clients)))
            for ts in results:
                # every client gets every live event, with the timestamp it was produced with, in order
                assert ts == h.sent
            await asyncio.gather(*(c.close() for c in clients))
            await _still_serving(sock_path)

    _run(main())


def test_a_client_that_stops_reading_is_dropped_and_others_keep_their_events(sock_path):
    async def main():
        async with Harness(sock_path, queue_bytes=50 * 16384, pad=16384) as h:
            # a client that never reads: its queue fills and it is dropped
            sleeper = socket.socket(socket.AF_UNIX)
            sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sleeper.connect(sock_path)
            async with StationClient(sock_path) as good:
                ts = []
                for _ in range(2000):  # an event at a time, each read by the good client
                    h.emit()
                    ts.append((await good.next_message("event"))["event"]["t"])
                    if len(h.server.clients) == 1:
                        break
                assert len(h.server.clients) == 1, "the non-reading client was not dropped"
                h.emit(10)
                ts += [(await good.next_message("event"))["event"]["t"] for _ in range(10)]
                assert ts == h.sent  # the good client got every event, in order
                assert await good.request("ping") == {"t": 1.0}
            sleeper.close()

    _run(main())


def test_socket_is_mode_0660_and_removed_on_close(sock_path):
    async def main():
        h = Harness(sock_path)
        async with h:
            st = os.stat(sock_path)
            assert stat.S_ISSOCK(st.st_mode)
            assert stat.S_IMODE(st.st_mode) == 0o660
        assert not os.path.exists(sock_path)

    _run(main())


def test_a_second_server_on_a_live_socket_is_refused_and_a_stale_one_replaced(sock_path):
    async def main():
        async with Harness(sock_path):
            with pytest.raises(SocketInUse):
                await Server(handler=_handler, hello=lambda: {}).start(sock_path)
            await _still_serving(sock_path)
        # a socket file left by a crash (nobody listening) is replaced
        os.makedirs(os.path.dirname(sock_path), exist_ok=True)
        s = socket.socket(socket.AF_UNIX)
        s.bind(sock_path)
        s.close()
        async with Harness(sock_path):
            await _still_serving(sock_path)

    _run(main())


def test_server_says_bye_on_close_and_a_reconnecting_client_comes_back(sock_path):
    async def main():
        h = Harness(sock_path)
        await h.__aenter__()
        c = StationClient(sock_path, reconnect=True, backoff=(0.05, 0.2))
        await c.connect()
        await h.__aexit__()
        assert (await c.next_message("bye"))["reason"] == "shutdown"
        await c.next_message("disconnected")
        h2 = Harness(sock_path)
        async with h2:
            hello = await c.next_message("hello")
            assert hello["api"] == api.API_VERSION
            await c.wait_connected(5)
            assert await c.request("ping") == {"t": 1.0}
        await c.close()

    _run(main())


def test_a_burst_in_one_write_does_not_keep_other_clients_waiting(sock_path):
    async def main():
        async with Harness(sock_path):
            reader, writer, _ = await _raw(sock_path)
            writer.write(b"".join(b'{"id": %d, "cmd": "ping"}\n' % i for i in range(1000)))
            await writer.drain()
            HANDLED.clear()
            async with StationClient(sock_path) as other:
                assert await other.request("ping", timeout=30) == {"t": 1.0}
            # the other client was served while the burst was still being worked through
            other_at = next(i for i, (cid, _) in enumerate(HANDLED) if cid != HANDLED[0][0])
            assert other_at < 1000
            got = 0
            while got < 1000:
                msg = json.loads(await asyncio.wait_for(reader.readline(), 30))
                got += msg["type"] == "reply"
            assert sorted(rid for cid, rid in HANDLED if cid == HANDLED[0][0]) == list(range(1000))
            writer.close()
    _run(main())


def test_connections_over_the_cap_are_told_and_closed_and_the_rest_served(sock_path):
    async def main():
        async with Harness(sock_path, max_clients=5) as h:
            held = [await _raw(sock_path) for _ in range(5)]
            reader, writer = await asyncio.open_unix_connection(sock_path)
            msg = json.loads(await asyncio.wait_for(reader.readline(), 5))
            assert msg == {"type": "bye", "reason": "too many connections"}
            assert await reader.read() == b""  # closed
            for _, w, _ in held[:1]:
                w.close()
                await w.wait_closed()
            # the server sees the close: a slot is free again
            await asyncio.wait_for(h.server.until_clients(lambda clients: len(clients) < 5), 10)
            await _still_serving(sock_path)
            for _, w, _ in held[1:]:
                w.close()
    _run(main())
