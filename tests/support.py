"""Shared by the tests: the example traces and the replay checker, the staff PINs, a staff client."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from station.client import StationClient

DATA = Path(__file__).parent / "data"
TRACES = DATA / "traces"
CHECK_REPLAY = DATA / "check_replay.py"
EXAMPLES = sorted(p.name[: -len(".trace.jsonl")] for p in TRACES.glob("*.trace.jsonl"))

#: The staff PINs the test daemons (tests/daemon/inprocess.py, daemon_proc.py) accept.
STAFF_PINS = {"therapist": "2468", "technician": "1357"}


def write_staff_pins(pin_file) -> None:
    """Store STAFF_PINS in ``pin_file`` (few PBKDF2 iterations: the tests check the flow, not the cost)."""
    from station.staff_pins import hash_pin, write_pin_file

    Path(pin_file).parent.mkdir(parents=True, exist_ok=True)
    for role, pin in STAFF_PINS.items():
        write_pin_file(pin_file, role, hash_pin(pin, iterations=1000))


def fill_up(path) -> None:
    """Write zeros to ``path`` until its file system has no room left (unbuffered: nothing is
    left to fail when the file closes)."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass


async def log_in(client, *roles: str) -> None:
    """Log ``client`` (a StationClient) in as each role (both by default), as the staff screens do."""
    for role in roles or tuple(STAFF_PINS):
        await client.request("login", role=role, pin=STAFF_PINS[role])


@asynccontextmanager
async def staff_client(socket, *roles: str, patient: dict | None = None) -> AsyncIterator[StationClient]:
    """A StationClient on the daemon at ``socket``, logged in as ``roles`` (both by default) and,
    given a ``patient``, with that patient created (which selects it)."""
    from station.client import StationClient

    async with StationClient(socket) as c:
        await log_in(c, *roles)
        if patient is not None:
            await c.request("create_patient", **patient)
        yield c


class RecordsSeen:
    """An ``on_record`` for hardware tests: keeps every record; ``edge_seen`` is set by the first edge."""

    def __init__(self) -> None:
        import threading

        self.got: list = []
        self.edge_seen = threading.Event()

    def __call__(self, rec) -> None:
        from station.events import Edge

        self.got.append(rec)
        if type(rec) is Edge:
            self.edge_seen.set()
