"""sd_notify against a real AF_UNIX datagram socket (path and abstract namespace)."""
from __future__ import annotations

import os
import socket

import pytest

from station.daemon.sdnotify import Notifier


def _listener(address: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(address)
    s.settimeout(2)
    return s


def test_path_socket_receives_ready_watchdog_status_stopping(tmp_path):
    path = str(tmp_path / "notify")
    srv = _listener(path)
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    n = Notifier(env)
    assert n.enabled and n.watchdog_s == 4.0
    assert env == {}  # children must not inherit the right to notify
    assert n.ready("serving on /run/station.sock")
    assert srv.recv(4096) == b"READY=1\nSTATUS=serving on /run/station.sock"
    assert n.watchdog()
    assert srv.recv(4096) == b"WATCHDOG=1"
    assert n.status("trial running")
    assert srv.recv(4096) == b"STATUS=trial running"
    assert n.stopping()
    assert srv.recv(4096) == b"STOPPING=1"
    n.close()
    srv.close()


def test_abstract_namespace_address():
    name = f"station-test-{os.getpid()}-{id(object())}"
    srv = _listener("\0" + name)
    n = Notifier({"NOTIFY_SOCKET": "@" + name})
    assert n.enabled
    n.ready()
    assert srv.recv(4096) == b"READY=1"
    n.close()
    srv.close()


@pytest.mark.parametrize("env", [{}, {"NOTIFY_SOCKET": "relative/path"}, {"NOTIFY_SOCKET": "@"},
                                 {"NOTIFY_SOCKET": "/nonexistent/notify.sock"}])
def test_without_systemd_every_call_is_a_harmless_no_op(env):
    n = Notifier(dict(env))
    assert not n.enabled
    assert n.ready() is False and n.watchdog() is False and n.stopping() is False


def test_watchdog_meant_for_another_process_is_ignored(tmp_path):
    env = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier(env).watchdog_s is None
    assert Notifier({"WATCHDOG_USEC": "0"}).watchdog_s is None
    assert Notifier({"WATCHDOG_USEC": "3000000"}).watchdog_s == 3.0


def test_a_vanished_systemd_does_not_raise(tmp_path):
    path = str(tmp_path / "notify")
    srv = _listener(path)
    n = Notifier({"NOTIFY_SOCKET": path})
    srv.close()
    os.unlink(path)
    assert n.watchdog() is False


def test_the_daemon_says_ready_once_open_and_pings_the_watchdog_from_its_event_loop(tmp_path):
    import asyncio

    from hardware.sim.hardware import SimulatedHardware
    from station.config import load_config
    from station.daemon.service import Daemon

    path = str(tmp_path / "notify")
    srv = _listener(path)
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "600000"})  # pings every 0.5 s
    config = load_config(None)
    sock = tmp_path / "run" / "station.sock"
    daemon = Daemon(config, tmp_path / "data", sock, SimulatedHardware(config, respond=False), notifier=notifier)

    async def main():
        task = asyncio.create_task(daemon.run())
        loop = asyncio.get_running_loop()
        said = []
        while not any(m.startswith(b"READY=1") for m in said):
            said.append(await loop.run_in_executor(None, srv.recv, 4096))
        # at READY the records are open (the writer lock is held) and the socket answers
        assert (tmp_path / "data" / "station.lock").exists() and sock.exists()
        _, writer = await asyncio.open_unix_connection(str(sock))
        writer.close()
        assert said[0].startswith(b"STATUS=opening records")
        assert await loop.run_in_executor(None, srv.recv, 4096) == b"WATCHDOG=1"

        period = max(0.5, notifier.watchdog_s / 3)  # the daemon's ping period

        def stall():  # the loop is stuck: no ping may arrive, so systemd would restart the daemon
            srv.setblocking(False)
            while True:
                try:
                    srv.recv(4096)
                except BlockingIOError:
                    break
            # Wait for a ping (there must be none) for three ping periods, blocking the loop
            # all along: a ping that came would be a fault, however slow the machine.
            srv.settimeout(3 * period)
            try:
                during.append(srv.recv(4096))
            except TimeoutError:
                pass
            srv.settimeout(None)
            stalled.set_result(None)

        during: list[bytes] = []  # what arrived while the loop was stuck (asserted here, not in the callback)
        stalled = loop.create_future()
        loop.call_soon(stall)
        await stalled
        assert during == []
        assert await loop.run_in_executor(None, srv.recv, 4096) == b"WATCHDOG=1"  # pings resume with the loop
        daemon.stop()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    srv.close()
