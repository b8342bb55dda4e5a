"""Give the running thread its name in the kernel too, so ``top -H``, ``ps -L`` and /proc show it.

Python's ``threading`` names are the interpreter's own: every thread of the
daemon shows as ``python3`` to the system. The HX711 readers and the
simulator are the threads whose cost matters on a Pi (and which
``tests/benchmarks/idle.py`` separates from the daemon's own work), so they
write their name to ``/proc/self/task/TID/comm`` (Linux keeps 15 bytes).
Anywhere that cannot (not Linux, a read-only /proc) the name stays as it was.
"""
from __future__ import annotations

import threading


def name_os_thread(name: str | None = None) -> None:
    """Set the calling thread's kernel name to ``name`` (default: its Python name), cut to 15 bytes."""
    name = name if name is not None else threading.current_thread().name
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
            f.write(name.encode()[:15].decode(errors="ignore"))
    except OSError:
        pass  # not Linux, or /proc not writable: only the name in top is lost
