"""Threads that matter show by name to the system (top -H, ps -L, /proc), not as python3."""
from __future__ import annotations

import sys
import threading

import pytest

from hardware.thread_name import name_os_thread

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/task is Linux's")


def _kernel_name_in_thread(python_name: str, given: str | None) -> str:
    seen: list[str] = []

    def body() -> None:
        name_os_thread(given)
        with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
            seen.append(f.read().strip())

    t = threading.Thread(target=body, name=python_name)
    t.start()
    t.join()
    return seen[0]


def test_a_thread_takes_its_python_name_cut_to_the_kernels_15_bytes():
    assert _kernel_name_in_thread("station-simulator", None) == "station-simulat"


def test_a_thread_can_be_given_another_name():
    assert _kernel_name_in_thread("Thread-9", "cell-dish") == "cell-dish"
