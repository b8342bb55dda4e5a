"""End to end: `station demo` in a real terminal (tmux), driven with keys, read from the screen.

A real simulated daemon in a subprocess, the real UI, a virtual patient doing a
Nine Hole Peg Test. Slow (seconds), kept in the suite; skipped only where tmux
is not installed (.ci/run installs it).
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")]

ROOT = Path(__file__).resolve().parents[2]


class Tmux:
    """One private tmux server (-L) with one 100x30 session, watched through a control-mode
    client: every time the pane draws, tmux says so (``%output``), and only then is the
    screen read again. Nothing is paced by the clock."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._watch: subprocess.Popen | None = None

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.name, *args], capture_output=True, text=True, check=True).stdout

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", "demo", "-x", "100", "-y", "30", command)
        self.run("set-option", "-t", "demo", "remain-on-exit", "on")  # the last screen stays to be read
        self._watch = subprocess.Popen(["tmux", "-L", self.name, "-C", "attach", "-t", "demo"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True)
        if self._watch is not None:
            self._watch.wait(10)
            for pipe in (self._watch.stdin, self._watch.stdout):
                pipe.close()

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "demo")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "demo", *keys)

    def wait_for(self, text: str, limit_s: float = 120.0) -> str:
        """The screen once ``text`` is on it, read again each time the pane draws
        (the limit only stops a hang)."""
        assert self._watch is not None and self._watch.stdout is not None
        end = time.monotonic() + limit_s
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            remaining = end - time.monotonic()
            drew, _, _ = select.select([self._watch.stdout], [], [], max(0.0, remaining))
            if not drew:
                raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")
            if not os.read(self._watch.stdout.fileno(), 1 << 16):
                raise AssertionError(f"tmux went away before {text!r} appeared")


def daemon_processes(data: Path) -> dict[int, str]:
    """Pid -> command line of the running ``station daemon`` processes that name ``data``."""
    out = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if " daemon " in cmd and str(data) in cmd:
                out[int(proc.name)] = cmd
    return out


def daemons_using(data: Path) -> list[str]:
    """Command lines of running processes that mention ``data`` (the demo's daemon)."""
    return list(daemon_processes(data).values())


def test_station_demo_in_a_terminal(tmp_path):
    data = tmp_path / "demo-data"
    tmux = Tmux(f"station-e2e-{os.getpid()}")
    tmux.start(f"cd {ROOT} && {sys.executable} -m station demo --data {data} --speed 4 --seed 11; echo DEMO-EXITED $?")
    try:
        # the default 9HPT plan: per hand a practice trial then two timed trials
        screen = tmux.wait_for("Nine Hole Peg Test (9HPT) - trial 1 of 6 - right hand - practice")
        assert "Therapist (F2)" in screen and "Dish:" in screen
        screen = tmux.wait_for("Done:")  # the virtual patient finished the first trial
        assert "seconds with your right hand" in screen
        tmux.keys("F2")
        tmux.wait_for("Enter the PIN")
        tmux.keys("9999", "Enter")
        tmux.wait_for("Wrong PIN")
        tmux.keys("1234", "Enter")
        screen = tmux.wait_for("Therapist - patient DEMO-1")
        tmux.keys("Escape")
        tmux.wait_for("Technician (F3)")
        tmux.keys("C-q")
        screen = tmux.wait_for("DEMO-EXITED 0")
        assert "Traceback" not in screen
        assert "Demo stopped" in screen
        assert daemons_using(data) == []  # the demo stopped its daemon
        assert (data / "records").is_dir()
    finally:
        tmux.close()
