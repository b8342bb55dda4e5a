"""Run ``station daemon --simulate`` in a subprocess (tests and benchmarks share this)."""
from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class DaemonProcess:
    """``station daemon --simulate`` on ``data_dir`` and ``socket``; ``start``/``kill``/``stop``."""

    def __init__(self, data_dir: str | os.PathLike, socket: str | os.PathLike, *, speed: float = 20.0,
                 seed: int = 1, extra: list[str] | None = None, env: dict | None = None) -> None:
        self.data_dir = str(data_dir)
        self.socket = str(socket)
        self.speed = speed
        self.seed = seed
        self.extra = extra or []
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(self.data_dir).parent / f"daemon-{Path(self.data_dir).name}.log"

    def start(self, timeout: float = 60.0) -> DaemonProcess:
        """Start it and return once it says READY=1 (systemd's notify protocol, on a socket of
        ours): listening, records open. Waits on that message or the process's exit, never
        on the clock (``timeout`` only stops a hang)."""
        from station.staff_pins import pin_file_path
        from tests.support import write_staff_pins

        config = self.extra[self.extra.index("--config") + 1] if "--config" in self.extra else None
        write_staff_pins(pin_file_path(config, self.data_dir))  # tests.support.STAFF_PINS
        cmd = [sys.executable, "-m", "station", "daemon", "--simulate", "--data", self.data_dir,
               "--socket", self.socket, "--speed", str(self.speed), "--seed", str(self.seed), *self.extra]
        notify_path = str(Path(self.data_dir).parent / f"notify-{Path(self.data_dir).name}")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        env = {**os.environ, **(self.env or {}), "NOTIFY_SOCKET": notify_path}
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self._log, stderr=self._log, env=env)
        exited = os.pidfd_open(self.proc.pid)  # readable once the process has exited
        deadline = time.monotonic() + timeout
        try:
            while True:
                ready, _, _ = select.select([notify.fileno(), exited], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    self.kill()
                    raise RuntimeError(f"daemon did not say READY=1 within {timeout} s:\n{self.log()}")
                if exited in ready:
                    raise RuntimeError(f"daemon exited with {self.proc.wait()}:\n{self.log()}")
                if b"READY=1" in notify.recv(4096).split(b"\n"):
                    return self
        finally:
            os.close(exited)
            notify.close()
            os.unlink(notify_path)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (a crash, a power cut of the process)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait: a clean shutdown. Returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()
        return self.proc.returncode

    def _close_log(self) -> None:
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
