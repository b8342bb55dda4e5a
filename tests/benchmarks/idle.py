#!/usr/bin/env python3
"""Idle cost of the station, split into the daemon, the load-cell reader and the simulator's own work.

    python tests/benchmarks/idle.py [--seconds 20] [--clients 1]

Two cells at 80 samples/s, no trial, ``--clients`` idle clients on the default
topics (as a kiosk UI). Every figure is CPU time (utime + stime from
/proc/PID/task/TID/stat) and context switches (voluntary + nonvoluntary,
/proc/PID/task/TID/status) over ``--seconds`` of wall time after a warm-up,
so a loaded machine slows the run but hardly changes the figures. Wake-ups
per second are the voluntary switches (a thread going to sleep and being
woken); nonvoluntary ones (preemption) are reported apart.

1. ``station daemon --simulate`` (real time). Its simulator thread (named
   ``station-simulat`` in the kernel: ``hardware.thread_name``) plays the
   virtual board: fake HX711s clocked bit by bit through the real driver,
   the virtual patient, the merge. That thread is the simulator's, every
   other thread is the daemon's own work (event loop: pipeline, intake,
   server; records thread; syncer): ``daemon``.
2. The load-cell reader process as the Pi runs it: ``hardware.cell_process``
   with its real driver and ``CellReader`` threads, on chips in *real* time,
   so it polls and sleeps exactly as on a Pi: first the simulator's fake
   chips (``tests.daemon.fake_cells:open_fake_realtime``,
   ``cell_reader_fake_chips``), then the cheapest chip Python allows
   (``open_stub_realtime``, ``cell_reader_stub_chips``): the reader at near-C
   chip cost (RPi.GPIO's calls are C; the stub's few lines of Python still
   cost more, so the figure is high). The readers' receiving side is the
   daemon's on a Pi (``LiveHardware``: the pipe's receiver thread, the
   merger's releaser thread and the samples' delivery in the daemon's drain,
   played here every ``TICK_S``): measured here, in this process, as
   ``daemon_live_hardware_side``, and added to the daemon's own work as
   ``daemon_on_pi_hardware``.

``pi_estimate``: this machine's figures times ``PI_SLOWDOWN`` (assumed: one
Cortex-A53 core of a Pi Zero 2 W at 1 GHz runs this Python about 8 times
slower than one core here; measure on the Pi to replace it). Goals (issue
14): daemon <= 2 % of a core here; peak RSS of daemon + reader <= 60 MB.
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from hardware.cell_process import CellProcess  # noqa: E402
from hardware.sim.pins import VirtualPinFactory  # noqa: E402
from hardware.station_io import StationIO  # noqa: E402
from station.client import StationClient  # noqa: E402
from station.config import load_config  # noqa: E402
from station.daemon.service import TICK_S  # noqa: E402
from station.events import CellFault  # noqa: E402
from tests.daemon.daemon_proc import DaemonProcess  # noqa: E402

SIMULATOR_THREAD = "station-simulat"  # "station-simulator", as the kernel keeps it (15 bytes)
REALTIME_FAKE = "tests.daemon.fake_cells:open_fake_realtime"
REALTIME_STUB = "tests.daemon.fake_cells:open_stub_realtime"
PI_SLOWDOWN = 8.0
TICKS = os.sysconf("SC_CLK_TCK")

METHOD = {
    "cpu": "utime+stime of each thread (/proc/PID/task/TID/stat) over the window, % of one core",
    "wakeups": "voluntary context switches per second (/proc/PID/task/TID/status); nonvoluntary apart",
    "daemon": "station daemon --simulate, every thread but the simulator's (station-simulat)",
    "simulator": "the daemon's station-simulat thread: fake chips, driver, virtual patient, merge",
    "cell_reader_fake_chips": "hardware.cell_process child on the simulator's fake chips in real time",
    "cell_reader_stub_chips": ("the same child on fake_cells.RealtimeStubChip (a chip as cheap as Python "
                               "allows): the reader at near-C chip cost"),
    "daemon_live_hardware_side": ("LiveHardware's pipe receiver + merger releaser threads, plus the CPU of "
                                  "StationIO.deliver_now called every TICK_S as the daemon's drain does "
                                  "(its wake-ups are the daemon's tick's: not counted) (stub-chip run)"),
    "daemon_on_pi_hardware": "daemon + daemon_live_hardware_side: the daemon process as a Pi runs it",
    "rss": ("VmRSS/VmHWM (/proc/PID/status). The reader child is spawned as the daemon's is: spawn "
            "re-imports the parent's main script, which for the daemon is the `station` console script "
            "(station.cli), not this benchmark (its imports would add ~10 MB to the child); "
            "peak_rss_mb_daemon_plus_reader uses the stub-chip child (no simulator modules in it, as on a Pi)"),
    "pi_estimate": f"CPU here x {PI_SLOWDOWN} (assumed: a Pi Zero 2 W A53 core runs this Python 8x slower)",
}


def tasks(pid: int) -> dict[int, tuple[str, float, int, int]]:
    """tid -> (kernel name, CPU seconds, voluntary, nonvoluntary context switches)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            base = f"/proc/{pid}/task/{tid}"
            with open(f"{base}/stat") as f:
                head, _, tail = f.read().rpartition(")")
            fields = tail.split()
            cpu = (int(fields[11]) + int(fields[12])) / TICKS
            vol = nonvol = 0
            with open(f"{base}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        vol = int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        nonvol = int(line.split()[1])
            out[int(tid)] = (head.partition("(")[2], cpu, vol, nonvol)
        except (FileNotFoundError, ProcessLookupError):
            pass  # the thread ended meanwhile
    return out


def window(before: dict, after: dict, seconds: float, keep=lambda name, tid: True) -> dict:
    """CPU %, wake-ups/s and preemptions/s of the threads ``keep`` selects, between two ``tasks``."""
    cpu = vol = nonvol = 0.0
    names: dict[str, float] = {}
    for tid, (name, c, v, n) in after.items():
        if not keep(name, tid):
            continue
        _, c0, v0, n0 = before.get(tid, (name, 0.0, 0, 0))
        cpu += c - c0
        vol += v - v0
        nonvol += n - n0
        names[name] = names.get(name, 0.0) + c - c0
    return {"cpu_percent_of_one_core": round(100 * cpu / seconds, 2),
            "wakeups_per_s": round(vol / seconds, 1), "preemptions_per_s": round(nonvol / seconds, 1),
            "cpu_percent_by_thread": {k: round(100 * v / seconds, 2) for k, v in sorted(names.items())}}


def memory_mb(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


async def measure_daemon(seconds: float, clients: int, work: Path) -> dict:
    d = DaemonProcess(work / "data", work / "station.sock", speed=1.0, seed=1)
    d.start()
    conns = [StationClient(d.socket) for _ in range(clients)]
    received = 0
    try:
        for c in conns:
            await c.connect()

        async def drain(c: StationClient) -> None:
            nonlocal received
            async for _ in c.messages():
                received += 1

        readers = [asyncio.create_task(drain(c)) for c in conns]
        await asyncio.sleep(3.0)
        b, t0 = tasks(d.pid), time.monotonic()
        await asyncio.sleep(seconds)
        a, t1 = tasks(d.pid), time.monotonic()
        mem = memory_mb(d.pid)
        for r in readers:
            r.cancel()
    finally:
        for c in conns:
            await c.close()
        d.stop()
    span = t1 - t0
    return {"daemon": window(b, a, span, lambda name, tid: name != SIMULATOR_THREAD),
            "simulator": window(b, a, span, lambda name, tid: name == SIMULATOR_THREAD),
            "whole_process_cpu_percent": window(b, a, span)["cpu_percent_of_one_core"],
            "rss_mb": mem["VmRSS"], "peak_rss_mb": mem["VmHWM"],
            "messages_to_clients": received, "seconds": round(span, 1)}


@contextlib.contextmanager
def spawned_as_the_daemons_child():
    """Spawn children as ``station daemon`` does: multiprocessing's spawn re-imports the parent's
    main script in the child, and the daemon's is the ``station`` console script, not this file."""
    main = sys.modules["__main__"]
    script = Path(sys.executable).with_name("station")
    if not script.exists() or getattr(main, "__spec__", None) is not None:
        yield
        return
    old = main.__file__
    main.__file__ = str(script)
    try:
        yield
    finally:
        main.__file__ = old


def measure_cell_reader(seconds: float, opener: str) -> dict:
    """The reader child on ``opener``'s chips in real time, and LiveHardware's receiving side here."""
    cfg = load_config(None)
    cells = {n: (c.dout, c.pd_sck, float(c.sample_hz)) for n, c in cfg.cells.items()}
    merged = faults = 0

    def count(rec) -> None:
        nonlocal merged, faults
        merged += 1
        faults += type(rec) is CellFault

    # LiveHardware's receiving side: StationIO without cells (switches on a mock pin factory
    # here, lgpio's on a Pi) merging what the child sends; the daemon's drain delivers the
    # samples (deliver_now on its tick: every TICK_S, as while a client watches the sensors).
    io = StationIO(replace(cfg, cells={}), VirtualPinFactory(time.monotonic), None, on_record=count)
    cp = CellProcess(cells, on_record=io.put, opener=opener)
    io.collect = cp.pull  # as LiveHardware does
    with spawned_as_the_daemons_child():
        cp.start()
    io.start()
    ours = {cp._thread.native_id, io._releaser.native_id}  # type: ignore[union-attr]
    pid = cp.pid
    assert pid is not None  # started

    def drain_ticks(until: float) -> float:
        """Play the daemon's ticks: deliver_now every TICK_S; returns the CPU seconds it took."""
        cpu = 0.0
        while time.monotonic() < until:
            time.sleep(TICK_S)
            c0 = time.thread_time()
            io.deliver_now()
            cpu += time.thread_time() - c0
        return cpu

    try:
        drain_ticks(time.monotonic() + 2.0)
        b, hb, t0 = tasks(pid), tasks(os.getpid()), time.monotonic()
        drain_cpu = drain_ticks(t0 + seconds)
        a, ha, t1 = tasks(pid), tasks(os.getpid()), time.monotonic()
        mem = memory_mb(pid)
    finally:
        cp.close()
        io.close()
    span = t1 - t0
    reader = window(b, a, span)
    side = window(hb, ha, span, lambda name, tid: tid in ours)
    # the daemon's tick wakes anyway: count the drain's CPU, not its wake-ups
    side["cpu_percent_by_thread"]["deliver_now (on the loop)"] = round(100 * drain_cpu / span, 2)
    side["cpu_percent_of_one_core"] = round(side["cpu_percent_of_one_core"] + 100 * drain_cpu / span, 2)
    return {"cell_reader": {**reader, "rss_mb": mem["VmRSS"], "peak_rss_mb": mem["VmHWM"],
                            "backend": cp.backend_used, "stats": cp.stats,
                            "cell_faults": faults},
            "daemon_live_hardware_side": side,
            "records_merged": merged, "merged_late": io.merger.late, "seconds": round(span, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--clients", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="station-idle-") as tmp:
        daemon = asyncio.run(measure_daemon(args.seconds, args.clients, Path(tmp)))
    cells = measure_cell_reader(args.seconds, REALTIME_FAKE)
    stub = measure_cell_reader(args.seconds, REALTIME_STUB)
    reader, at_c = cells["cell_reader"], stub["cell_reader"]
    live = stub["daemon_live_hardware_side"]
    on_pi = round(daemon["daemon"]["cpu_percent_of_one_core"] + live["cpu_percent_of_one_core"], 2)
    print(json.dumps({
        "daemon": daemon["daemon"], "simulator": daemon["simulator"],
        "daemon_whole_process_cpu_percent": daemon["whole_process_cpu_percent"],
        "daemon_rss_mb": daemon["rss_mb"], "daemon_peak_rss_mb": daemon["peak_rss_mb"],
        "cell_reader_fake_chips": reader, "cell_reader_stub_chips": at_c,
        "daemon_live_hardware_side": live,
        "records_merged_stub_run": stub["records_merged"], "merged_late_stub_run": stub["merged_late"],
        "daemon_on_pi_hardware": {"cpu_percent_of_one_core": on_pi, "wakeups_per_s": round(
            daemon["daemon"]["wakeups_per_s"] + live["wakeups_per_s"], 1)},
        "peak_rss_mb_daemon_plus_reader": round(daemon["peak_rss_mb"] + at_c["peak_rss_mb"], 1),
        "pi_estimate_cpu_percent": {"daemon": round(on_pi * PI_SLOWDOWN, 1),
                                    "cell_reader": round(at_c["cpu_percent_of_one_core"] * PI_SLOWDOWN, 1)},
        "clients": args.clients, "messages_to_clients": daemon["messages_to_clients"],
        "seconds": args.seconds, "load_average": os.getloadavg()[0],
        "goals": {"daemon_cpu_percent": 2, "peak_rss_mb": 60}, "method": METHOD,
    }))


if __name__ == "__main__":
    main()
