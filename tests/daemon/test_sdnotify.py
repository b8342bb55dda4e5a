"""sd_notify against a real AF_UNIX datagram socket (path and abstract namespace)."""
from __future__ import annotations

import os
import socket

import pytest

from station.sdnotify import Notifier


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
