"""``station daemon``: owns the hardware and the records, serves the socket API.

One asyncio event loop does everything except reading the hardware:

* hardware threads (one ``CellReader`` per HX711, gpiozero's edge callback
  thread; or the simulator's thread) hand raw records to ``_inbox``, a
  ``collections.deque`` (``append`` is atomic under the GIL: no lock, no
  wake-up of the loop per record);
* every ``TICK_S`` the loop drains the inbox in time order into the board
  pipeline (between trials) or the running ``Trial`` (pipeline + protocol +
  trace), journals accepted events (``TrialJournal``, fsync within 100 ms),
  pushes events to clients and finishes trials whose protocol is done;
* the socket server (``station.server``) queues messages per client without
  ever waiting for one.

Why threads, not a process, for the HX711: a clock pulse must stay under
60 us, and Python threads share one interpreter lock, so a busy loop thread
*can* stretch a pulse (the switch interval is 5 ms). The reader threads hold
the lock only between pulses' bit reads, the loop here does little per tick
(a few hundred records a second), and ``hardware.hx711`` times every pulse and
drops a reading whose pulse ran long (``CellReader`` retries it), so a
stretched pulse costs one sample, never a wrong one. A separate process would
add IPC and a second interpreter's memory for no measured gain; if pulses
are dropped often on a Pi, moving the readers to a process is the next step.

Durability: a trial's accepted events go to its journal as they happen
(``RecordStore.begin_trial``); ``RecordStore.finish_trial`` returns only once
the record is on disk, and only then are clients told ``saved: true``. On
start the store recovers journals left by a crash as ``interrupted`` trials
and moves a corrupt database aside, logging one line for each.

systemd: READY=1 once the hardware and the records are open and the socket
listens; WATCHDOG=1 from the event loop (a stuck loop stops the pings);
STOPPING=1 on SIGTERM/SIGINT, then a clean shutdown (the running trial is
finished as ``aborted`` and saved).
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import os
import signal
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Protocol as TypingProtocol

from . import api
from .api import ApiError, Request
from .board import BoardSpec
from .config import CellConfig, Config
from .events import ButtonPress, CellCount, CellFault, Edge, Event, Fault, RawRecord, Sample
from .pipeline import Pipeline
from .protocols import PROTOCOLS, ProtocolError, make_protocol
from .records import RecordError, RecordStore
from .sdnotify import Notifier
from .server import Connection, Server
from .storage import write_atomic
from .trace import TraceHeader, TraceWriter
from .trial import Trial

log = logging.getLogger("station.daemon")

TICK_S = 0.02  # pipeline cadence: events reach clients within ~20 ms of being confirmed
STATE_PUSH_S = 0.5  # state messages while a trial is armed (elapsed, count-down)
SENSORS_PUSH_S = 0.2  # the technician screen's 5 Hz snapshot, when someone subscribes
NOISE_WINDOW = 80  # samples kept per cell for noise (one second at 80 Hz)


class Hardware(TypingProtocol):
    """What the daemon needs of the station's hardware (live or simulated)."""

    simulated: bool

    def start(self, on_record: Callable[[RawRecord], None]) -> None:
        """Start reading; call ``on_record`` (from any thread) with raw records in time order."""

    def stop(self) -> None:
        """Stop reading and release the pins."""

    def trial_started(self, protocol: str, options: dict, side: str) -> None:
        """A trial was armed (the simulated patient starts performing it)."""

    def trial_ended(self) -> None:
        """The trial ended (the simulated patient stops)."""


# --- small state holders -----------------------------------------------------

@dataclass
class CellMonitor:
    """Recent readings of one cell for the technician screen, tare and self-tests."""

    cal_offset: float
    counts_per_gram: float
    unit_g: float
    counts: collections.deque = field(default_factory=lambda: collections.deque(maxlen=NOISE_WINDOW))
    last_t: float | None = None
    fault: str | None = None
    samples: int = 0

    def snapshot(self, count: int | None) -> dict:
        last = self.counts[-1] if self.counts else None
        grams = None if last is None else (last - self.cal_offset) / self.counts_per_gram
        noise = (statistics.pstdev(self.counts) / abs(self.counts_per_gram)) if len(self.counts) > 2 else None
        return {"counts": last, "grams": _r(grams, 3), "units": _r(None if grams is None else grams / self.unit_g, 3),
                "count": count, "noise_g": _r(noise, 4), "fault": self.fault}


def _r(v: float | None, n: int) -> float | None:
    return None if v is None else round(v, n)


@dataclass
class TestRun:
    """A test being administered: which trial comes next (hand, practice)."""

    test_id: str
    protocol: str
    options: dict
    plan: list[dict]  # [{"hand": "dominant"|"non-dominant", "practice": bool}]
    done: list[dict] = field(default_factory=list)  # summaries of trials that count or were repeated
    cursor: int = 0
    status: str = "running"

    def next(self) -> dict | None:
        if self.status != "running" or self.cursor >= len(self.plan):
            return None
        return {"k": self.cursor + 1, "n": len(self.plan), **self.plan[self.cursor]}

    def snapshot(self) -> dict:
        return {"test_id": self.test_id, "protocol": self.protocol, "options": self.options,
                "status": self.status, "trials": self.done, "next": self.next()}


def test_plan(protocol: str, practice: bool) -> list[dict]:
    """Trials of a test: the 9HPT is two per hand, others one per hand, dominant hand first
    (Mathiowetz et al. 1985); ``practice`` adds a practice trial on each hand first."""
    if protocol == "free-practice":
        return [{"hand": "dominant", "practice": True}]
    per_hand = 2 if protocol == "nine-hole-peg" else 1
    plan = []
    for hand in ("dominant", "non-dominant"):
        if practice:
            plan.append({"hand": hand, "practice": True})
        plan += [{"hand": hand, "practice": False}] * per_hand
    return plan


@dataclass
class LiveTrial:
    """The armed trial: its pipeline and protocol, journal and trace."""

    trial: Trial
    journal: Any  # station.journal.TrialJournal
    meta: dict
    armed_t: float
    running: bool = False


# --- the service ---------------------------------------------------------------

class Daemon:
    """The station service. ``await Daemon(...).run()`` until ``stop()``."""

    def __init__(self, config: Config, data_dir: str | os.PathLike, socket_path: str | os.PathLike,
                 hardware: Hardware, *, notifier: Notifier | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.socket_path = Path(socket_path)
        self.hardware = hardware
        self.notifier = notifier if notifier is not None else Notifier()
        self.clock = clock if clock is not None else getattr(hardware, "clock", time.monotonic)
        self._complete_to = getattr(hardware, "complete_to", None)
        self.store: RecordStore | None = None
        self.server = Server(self._handle, self._hello)
        self._inbox: collections.deque[RawRecord] = collections.deque()
        self._stop = asyncio.Event()
        self.patient: dict | None = None
        self.test: TestRun | None = None
        self.live: LiveTrial | None = None
        self._cells_cfg = dict(config.cells)
        self.board = config.board()
        self.pipeline = Pipeline(self.board)  # between trials: keeps counts and switch states current
        self.levels: dict[int, int] = {g: self.board.open_level for g in (*self.board.holes, *self.board.buttons.values())}
        self.monitors = {n: CellMonitor(c.offset, c.counts_per_gram, c.unit_g) for n, c in config.cells.items()}
        self._sample_waiters: list[tuple[str, list[int], int, asyncio.Future]] = []
        self._press_waiters: list[tuple[str, asyncio.Future]] = []
        self._last_state_push = 0.0
        self._last_sensor_push = 0.0

    # --- lifecycle ---------------------------------------------------------

    def stop(self) -> None:
        """Ask ``run`` to shut down cleanly (signal-handler safe within the loop)."""
        self._stop.set()

    async def run(self) -> None:
        """Open the records and hardware, serve until ``stop()``, then shut down cleanly."""
        loop = asyncio.get_running_loop()
        self.notifier.status("opening records")
        self.store = RecordStore(self.data_dir)
        for line in self.store.recovered:
            log.warning("recovery: %s", line)
        self._load_calibration()
        self.hardware.start(self._inbox.append)
        try:
            await self.server.start(self.socket_path)
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                except (NotImplementedError, RuntimeError):  # not the main thread (tests)
                    pass
            mode = "simulated hardware" if self.hardware.simulated else "hardware"
            self.notifier.ready(f"serving on {self.socket_path} ({mode})")
            log.info("ready: %s, records in %s, socket %s", mode, self.data_dir, self.socket_path)
            watchdog = asyncio.create_task(self._watchdog()) if self.notifier.watchdog_s else None
            try:
                await self._loop()
            finally:
                if watchdog:
                    watchdog.cancel()
        finally:
            await self._shutdown()

    def _on_signal(self, sig: int) -> None:
        log.info("%s: stopping", signal.Signals(sig).name)
        self.notifier.stopping("stopping")
        self.stop()

    async def _shutdown(self) -> None:
        self.notifier.stopping("stopping")
        try:
            if self.live is not None:
                self._drain(self.clock())
                self._finish_trial(self.clock(), aborted="the station was shut down")
        except Exception:  # keep shutting down; the journal stays for recovery
            log.exception("could not save the running trial at shutdown (its journal is kept)")
        await self.server.close("shutdown")
        self.hardware.stop()
        if self.store is not None:
            self.store.close()
        log.info("stopped")

    async def _watchdog(self) -> None:
        # Pinged from the loop itself: if the loop stalls, pings stop and systemd restarts us.
        period = max(0.5, self.notifier.watchdog_s / 3)
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(period)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), TICK_S)
            except asyncio.TimeoutError:
                pass
            try:
                self.tick(self.clock())
            except Exception:  # a bug in one tick must not stop the station
                log.exception("error in the pipeline tick")

    # --- the pipeline tick -------------------------------------------------

    def tick(self, now: float) -> None:
        """Feed queued records, advance time, journal, push, finish a done trial."""
        self._drain(now)
        live = self.live
        if live is not None:
            if not live.running and live.trial.protocol.started:
                live.running = True
                live.journal.phase("running", live.trial.protocol.start_t)
                self._push_state()
            live.journal.tick()
            if live.trial.done:
                self._finish_trial(now)
            elif now - self._last_state_push >= STATE_PUSH_S:
                self._push_state(now)
        if now - self._last_sensor_push >= SENSORS_PUSH_S:
            self._last_sensor_push = now
            if self.server.has_subscribers("sensors"):
                self.server.broadcast(api.sensors_message(self.sensors_snapshot(now)))

    def _drain(self, now: float) -> None:
        # Read how far the hardware has delivered *before* draining: every record
        # stamped up to then is already in the inbox.
        complete_to = self._complete_to() if self._complete_to is not None else None
        inbox = self._inbox
        target = self.live.trial if self.live is not None else None
        pipe = self.pipeline
        last_t = -math.inf
        while inbox:
            rec = inbox.popleft()
            last_t = rec.t
            cls = type(rec)
            if cls is Sample:
                m = self.monitors.get(rec.cell)
                if m is not None:
                    m.counts.append(rec.counts)
                    m.last_t = rec.t
                    m.samples += 1
                    m.fault = None
                    if self._sample_waiters:
                        self._feed_waiters(rec)
            elif cls is Edge:
                self.levels[rec.gpio] = rec.level
            elif cls is CellFault:
                m = self.monitors.get(rec.cell)
                if m is not None:
                    m.fault = rec.detail
            if target is not None:
                target.record(rec)
            else:
                pipe.edge(rec.t, rec.gpio, rec.level) if cls is Edge else (
                    pipe.sample(rec.t, rec.cell, rec.counts) if cls is Sample else
                    pipe.cell_fault(rec.t, rec.cell, rec.detail))
        # Records reach us a little after they happened: advance only as far as
        # the hardware promises no earlier record can still come.
        if complete_to is not None:
            t = complete_to
        else:
            t = last_t if last_t > -math.inf else now - TICK_S
        if target is not None:
            target.advance(t)
        else:
            pipe.advance(t)
            for ev in pipe.drain():
                self._board_event(ev)
            for f in pipe.drain_faults():
                self._board_fault(f)

    def _feed_waiters(self, rec: Sample) -> None:
        for w in list(self._sample_waiters):
            cell, buf, n, fut = w
            if cell == rec.cell and not fut.done():
                buf.append(rec.counts)
                if len(buf) >= n:
                    fut.set_result(buf)
                    self._sample_waiters.remove(w)

    def _board_event(self, ev: Event) -> None:
        if type(ev) is ButtonPress:
            for name, fut in list(self._press_waiters):
                if name == ev.name and not fut.done():
                    fut.set_result(ev.t)
        self.server.broadcast(api.event_message(ev.to_dict()))

    def _board_fault(self, f: Fault) -> None:
        self.server.broadcast(api.fault_message(f.to_dict()))

    # --- trials ------------------------------------------------------------

    def _counts(self) -> dict[str, int]:
        return {n: c.count for n, c in self.pipeline.cells.items()}

    def _side(self, hand: str | None) -> str | None:
        dom = (self.patient or {}).get("dominant_hand")
        if hand in ("left", "right") or hand is None:
            return hand if hand is not None else dom
        if dom is None:
            return None
        return dom if hand == "dominant" else ("left" if dom == "right" else "right")

    def start_trial(self, protocol: str, options: dict, hand: str | None, practice: bool,
                    slot: dict | None = None) -> dict:
        """Arm a trial now; returns its state. Raises ApiError."""
        assert self.store is not None
        if self.live is not None:
            raise ApiError(api.BUSY, "a trial is already running; abort it first")
        if self.patient is None:
            raise ApiError(api.NO_PATIENT, "select or create a patient first")
        now = self.clock()
        self._drain(now)
        board = self.board.with_counts(self._counts())
        try:
            proto = make_protocol(protocol, board, options)
        except ProtocolError as e:
            raise ApiError(api.BAD_VALUE, str(e)) from None
        side = self._side(hand)
        meta = {"patient_id": self.patient["patient_id"], "test_id": self.test.test_id if slot and self.test else None,
                "protocol": protocol, "options": proto.opts, "hand": hand or "dominant", "side": side,
                "practice": practice, "k": slot["k"] if slot else None, "n": slot["n"] if slot else None,
                "simulated": self.hardware.simulated}
        journal = self.store.begin_trial(meta)
        trace_dir = self.data_dir / "traces" / f"{int(journal.trial_id) // 1000:04d}"
        trace_dir.mkdir(parents=True, exist_ok=True)
        trace_path = trace_dir / f"{journal.trial_id}.trace.jsonl"
        header = TraceHeader(board, protocol, dict(proto.opts), {"trial_id": journal.trial_id})
        trace = TraceWriter(trace_path, header)
        run_id = journal.trial_id
        trial = Trial(board, proto, trace,
                      on_event=lambda ev: self._trial_event(run_id, ev),
                      on_fault=lambda f: self._trial_fault(run_id, f))
        meta["trace"] = str(trace_path)
        self.live = LiveTrial(trial, journal, meta, now)
        journal.phase("waiting", now, trace=str(trace_path))
        self.pipeline = Pipeline(board)  # fresh between-trials pipeline for afterwards
        self.hardware.trial_started(protocol, dict(proto.opts), side or "right")
        log.info("trial %s armed: %s, %s hand%s", run_id, protocol, side, " (practice)" if practice else "")
        self._push_state(now)
        return self.trial_snapshot(now)

    def _trial_event(self, run_id: str, ev: Event) -> None:
        assert self.live is not None
        self.live.journal.event(ev)
        if type(ev) is ButtonPress:
            for name, fut in list(self._press_waiters):
                if name == ev.name and not fut.done():
                    fut.set_result(ev.t)
        self.server.broadcast(api.event_message(ev.to_dict(), run_id))

    def _trial_fault(self, run_id: str, f: Fault) -> None:
        assert self.live is not None
        self.live.journal.fault(f)
        self.server.broadcast(api.fault_message(f.to_dict(), run_id))

    def _finish_trial(self, now: float, aborted: str | None = None) -> dict:
        """End the live trial, store it (durably), then tell clients it is saved."""
        assert self.live is not None and self.store is not None
        live, self.live = self.live, None
        self.hardware.trial_ended()
        result = live.trial.finish(now)
        status = "aborted" if aborted else result["status"]
        counts = {n: c.count for n, c in live.trial.pipeline.cells.items()}
        self.pipeline = Pipeline(self.board.with_counts(counts))
        record = {"status": status, "result": result, "trace": live.meta["trace"],
                  "events": [e.to_dict() for e in live.trial.events],
                  "faults": [f.to_dict() for f in live.trial.faults],
                  "armed_t": live.armed_t, "ended_t": now}
        if aborted:
            record["invalid"] = {"reason": f"aborted: {aborted}"}
        # Blocks the loop for the fsyncs (a few ms, tens on an SD card): the hardware
        # threads keep reading into the inbox meanwhile, and no client hears "saved"
        # before the record is on disk.
        try:
            trial_id = self.store.finish_trial(record, live.journal)
            stored = self.store.get_trial(trial_id)
        except (OSError, RecordError, ValueError) as e:
            log.error("trial %s could not be saved: %s (its journal is kept for recovery)",
                      live.journal.trial_id, e)
            self.server.broadcast({**api.trial_finished_message({**live.meta, **record}, False),
                                   "error": str(e)})
            self._push_state(now)
            raise ApiError(api.INTERNAL, f"the trial could not be saved: {e}") from None
        log.info("trial %s %s%s", trial_id, status,
                 f" in {result['total_s']:.2f} s" if result.get("total_s") is not None else "")
        if self.test is not None and live.meta.get("test_id") == self.test.test_id:
            self._test_trial_done(stored)
        self.server.broadcast(api.trial_finished_message(stored, True))
        self._push_state(now)
        return stored

    def _test_trial_done(self, stored: dict) -> None:
        t = self.test
        assert t is not None
        summary = {"trial_id": stored["trial_id"], "k": stored.get("k"), "hand": stored.get("hand"),
                   "side": stored.get("side"), "practice": stored.get("practice"),
                   "status": stored.get("status"), "total_s": (stored.get("result") or {}).get("total_s"),
                   "invalid": stored.get("invalid")}
        t.done.append(summary)
        if stored["status"] != "aborted":
            t.cursor += 1  # an aborted trial is run again
        if t.next() is None:
            t.status = "complete"
        self.store.update_test(t.test_id, {"status": t.status, "trials": t.done})

    # --- snapshots -----------------------------------------------------------

    def trial_snapshot(self, now: float) -> dict | None:
        live = self.live
        if live is None:
            return None
        proto = live.trial.protocol
        elapsed = proto.elapsed(now)
        limit = proto.opts.get("duration_s") or proto.opts.get("cutoff_s")
        countdown = None if limit is None else max(0.0, float(limit) - elapsed)
        m = live.meta
        return {"trial_id": live.journal.trial_id, "test_id": m["test_id"], "protocol": m["protocol"],
                "options": m["options"], "hand": m["hand"], "side": m["side"], "practice": m["practice"],
                "k": m["k"], "n": m["n"], "status": "running" if proto.started else "waiting",
                "started_at": live.armed_t, "elapsed_s": round(elapsed, 3),
                "countdown_s": None if countdown is None else round(countdown, 3),
                "counts": {n: c.count for n, c in live.trial.pipeline.cells.items()}}

    def state_snapshot(self, now: float | None = None) -> dict:
        now = self.clock() if now is None else now
        station = {"name": self.config.name, "simulated": self.hardware.simulated,
                   "holes": len(self.board.holes), "buttons": sorted(self.board.buttons),
                   "cells": {n: {"unit_g": c.unit_g, "items": c.items} for n, c in self._cells_cfg.items()},
                   "protocols": {n: {"description": p.description, "options": dict(p.options)}
                                 for n, p in PROTOCOLS.items()}}
        return {"station": station, "patient": _patient_out(self.patient),
                "test": self.test.snapshot() if self.test else None,
                "trial": self.trial_snapshot(now), "clock": self._clock_pair()}

    def sensors_snapshot(self, now: float) -> dict:
        pipe = self.live.trial.pipeline if self.live is not None else self.pipeline
        switches = []
        for i, g in enumerate(self.board.holes, 1):
            switches.append({"name": f"hole {i}", "gpio": g, "raw": self.levels.get(g),
                             "closed": pipe.switch_closed(i)})
        for name, g in self.board.buttons.items():
            switches.append({"name": f"button {name}", "gpio": g, "raw": self.levels.get(g),
                             "closed": pipe.switch_closed(name)})
        cells = {n: m.snapshot(pipe.cells[n].count if n in pipe.cells else None) for n, m in self.monitors.items()}
        return {"t": now, "switches": switches, "cells": cells}

    def _clock_pair(self) -> dict:
        return {"monotonic": self.clock(), "wall": time.time()}

    def _hello(self) -> dict:
        return api.hello(self.state_snapshot(), self._clock_pair())

    def _push_state(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self._last_state_push = now
        if self.server.has_subscribers("state"):
            self.server.broadcast(api.state_message(self.state_snapshot(now)))

    # --- calibration -----------------------------------------------------------

    def _calibration_path(self) -> Path:
        return self.data_dir / "calibration.json"

    def _load_calibration(self) -> None:
        p = self._calibration_path()
        try:
            saved = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (ValueError, OSError) as e:
            log.error("calibration file %s is unreadable (%s); using station.toml's calibration", p, e)
            return
        for name, vals in (saved or {}).items():
            if name in self._cells_cfg and isinstance(vals, dict):
                try:
                    self._set_cell(name, float(vals["offset"]), float(vals["counts_per_gram"]))
                except (KeyError, TypeError, ValueError):
                    log.error("calibration of cell %s in %s is malformed; ignored", name, p)

    def _set_cell(self, name: str, offset: float, counts_per_gram: float) -> None:
        c = self._cells_cfg[name]
        self._cells_cfg[name] = replace(c, offset=offset, counts_per_gram=counts_per_gram)
        cfg = replace(self.config, cells=dict(self._cells_cfg))
        counts = self._counts()
        self.board = cfg.board()
        self.pipeline = Pipeline(self.board.with_counts(counts))
        m = self.monitors[name]
        m.cal_offset, m.counts_per_gram = offset, counts_per_gram

    def _save_calibration(self) -> None:
        data = {n: {"offset": c.offset, "counts_per_gram": c.counts_per_gram} for n, c in self._cells_cfg.items()}
        write_atomic(self._calibration_path(), (json.dumps(data, indent=1) + "\n").encode())

    async def _collect(self, cell: str, n: int, timeout: float) -> list[int]:
        fut = asyncio.get_running_loop().create_future()
        self._sample_waiters.append((cell, [], n, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise ApiError(api.HARDWARE, f"cell {cell!r} gave no readings (check its wiring)") from None
        finally:
            self._sample_waiters[:] = [w for w in self._sample_waiters if w[3] is not fut]

    def _check_cell(self, cell: str) -> CellConfig:
        if cell not in self._cells_cfg:
            raise ApiError(api.BAD_VALUE, f"no cell {cell!r} (cells: {', '.join(self._cells_cfg) or 'none'})")
        if self.live is not None:
            raise ApiError(api.BUSY, "a trial is running; calibrate between trials")
        return self._cells_cfg[cell]

    # --- commands --------------------------------------------------------------

    async def _handle(self, conn: Connection, req: Request) -> dict | None:
        a = req.args
        cmd = req.cmd
        try:
            return await getattr(self, f"_cmd_{cmd}")(a)
        except RecordError as e:
            msg = str(e)
            code = api.CONFLICT if "already exists" in msg else (
                api.NOT_FOUND if msg.startswith("no ") else api.BAD_VALUE)
            raise ApiError(code, msg) from None

    async def _cmd_hello(self, a: dict) -> dict:
        h = self._hello()
        return {k: h[k] for k in ("api", "server", "clock", "commands", "state")}

    async def _cmd_ping(self, a: dict) -> dict:
        return {"t": self.clock()}

    async def _cmd_state(self, a: dict) -> dict:
        return {"state": self.state_snapshot()}

    async def _cmd_subscribe(self, a: dict) -> dict:  # pragma: no cover - the server handles it
        return {}

    async def _cmd_create_patient(self, a: dict) -> dict:
        assert self.store is not None
        if self.live is not None:
            raise ApiError(api.BUSY, "a trial is running")
        p = self.store.add_patient(a["patient_id"], a["birth_year"], a["sex"], a["dominant_hand"],
                                   a.get("notes"))
        self._select(p)
        return {"patient": _patient_out(p)}

    async def _cmd_select_patient(self, a: dict) -> dict:
        assert self.store is not None
        if self.live is not None:
            raise ApiError(api.BUSY, "a trial is running")
        p = self.store.get_patient(a["patient_id"])
        self._select(p)
        return {"patient": _patient_out(p)}

    async def _cmd_clear_patient(self, a: dict) -> dict:
        if self.live is not None:
            raise ApiError(api.BUSY, "a trial is running")
        self._select(None)
        return {}

    def _select(self, p: dict | None) -> None:
        if self.test is not None and (p is None or p["patient_id"] != self.test_patient):
            self._close_test("aborted")
        self.patient = p
        self._push_state()

    @property
    def test_patient(self) -> str | None:
        return self.patient["patient_id"] if self.patient else None

    async def _cmd_find_patients(self, a: dict) -> dict:
        assert self.store is not None
        found = self.store.find_patients(a.get("query", ""), a.get("limit"))
        return {"patients": [_patient_out(p) for p in found]}

    async def _cmd_start_trial(self, a: dict) -> dict:
        if self.test is not None and self.test.status == "running" and "protocol" not in a:
            slot = self.test.next()
            assert slot is not None
            opts = {**self.test.options, **a.get("options", {})}
            st = self.start_trial(self.test.protocol, opts, a.get("hand", slot["hand"]),
                                  a.get("practice", slot["practice"]), slot)
            return {"trial": st}
        if "protocol" not in a:
            raise ApiError(api.MISSING_FIELD, "start_trial: no test is running, so say which 'protocol'")
        return {"trial": self.start_trial(a["protocol"], a.get("options", {}), a.get("hand"),
                                          a.get("practice", False))}

    async def _cmd_abort_trial(self, a: dict) -> dict:
        if self.live is None:
            raise ApiError(api.NO_TRIAL, "no trial is running")
        now = self.clock()
        self._drain(now)
        return {"trial": self._finish_trial(now, aborted=a.get("reason") or "aborted by the therapist")}

    async def _cmd_start_test(self, a: dict) -> dict:
        assert self.store is not None
        if self.patient is None:
            raise ApiError(api.NO_PATIENT, "select or create a patient first")
        if self.live is not None:
            raise ApiError(api.BUSY, "a trial is running; abort it first")
        if a["protocol"] not in PROTOCOLS:
            raise ApiError(api.BAD_VALUE, f"unknown protocol {a['protocol']!r} (known: {', '.join(PROTOCOLS)})")
        try:
            opts = PROTOCOLS[a["protocol"]].validate_options(a.get("options", {}))
        except ProtocolError as e:
            raise ApiError(api.BAD_VALUE, str(e)) from None
        if self.test is not None:
            self._close_test("aborted")
        plan = test_plan(a["protocol"], a.get("practice", False))
        test_id = self.store.create_test({"patient_id": self.patient["patient_id"], "protocol": a["protocol"],
                                          "options": opts, "plan": plan, "status": "running", "trials": []})
        self.test = TestRun(test_id, a["protocol"], dict(a.get("options", {})), plan)
        self._push_state()
        return {"test": self.test.snapshot()}

    async def _cmd_abort_test(self, a: dict) -> dict:
        if self.test is None:
            raise ApiError(api.NOT_FOUND, "no test is running")
        if self.live is not None:
            now = self.clock()
            self._drain(now)
            self._finish_trial(now, aborted=a.get("reason") or "test aborted")
        snap = self._close_test("aborted", a.get("reason"))
        return {"test": snap}

    def _close_test(self, status: str, reason: str | None = None) -> dict:
        t = self.test
        assert t is not None and self.store is not None
        t.status = status if t.status == "running" else t.status
        changes = {"status": t.status, "trials": t.done}
        if reason:
            changes["reason"] = reason
        self.store.update_test(t.test_id, changes)
        self.test = None
        self._push_state()
        return t.snapshot()

    async def _cmd_mark_invalid(self, a: dict) -> dict:
        assert self.store is not None
        tid = a["trial_id"]
        rec = self.store.mark_trial_invalid(tid, a["reason"])
        tid = rec["trial_id"]
        t = self.test
        if t is not None:
            for s in t.done:
                if s["trial_id"] == tid:
                    s["invalid"] = rec.get("invalid")
            if a.get("repeat") and rec.get("test_id") == t.test_id:
                k = rec.get("k")
                slot = t.plan[k - 1] if isinstance(k, int) and 0 < k <= len(t.plan) else None
                if slot is not None:
                    t.plan.insert(t.cursor, dict(slot))  # run it again next
                    t.status = "running"
            self.store.update_test(t.test_id, {"status": t.status, "trials": t.done, "plan": t.plan})
            self._push_state()
        return {"trial": rec}

    async def _cmd_results(self, a: dict) -> dict:
        assert self.store is not None
        pid = a.get("patient_id") or (self.patient or {}).get("patient_id")
        if pid is None:
            raise ApiError(api.NO_PATIENT, "results: say which 'patient_id' (no patient is selected)")
        patient = self.store.get_patient(pid)
        limit = a.get("limit")
        summaries = list(reversed(self.store.trials(patient_id=pid)))
        if limit is not None:
            summaries = summaries[:max(0, limit)]
        trials = []
        for s in summaries:
            try:
                trials.append(self.store.get_trial(s["trial_id"]))
            except RecordError as e:
                log.error("%s", e)
        tests = list(reversed(self.store.tests(patient_id=pid)))
        return {"patient": _patient_out(patient), "tests": tests, "trials": trials}

    async def _cmd_tare(self, a: dict) -> dict:
        cfg = self._check_cell(a["cell"])
        samples = await self._collect(a["cell"], max(5, cfg.sample_hz), 3.0)
        offset = float(statistics.fmean(samples))
        self._set_cell(a["cell"], offset, cfg.counts_per_gram)
        self._save_calibration()
        log.info("cell %s tared: offset %.1f", a["cell"], offset)
        return {"cell": a["cell"], "offset": offset}

    async def _cmd_calibrate(self, a: dict) -> dict:
        cfg = self._check_cell(a["cell"])
        if a["mass_g"] <= 0:
            raise ApiError(api.BAD_VALUE, "calibrate: 'mass_g' must be positive")
        samples = await self._collect(a["cell"], max(5, cfg.sample_hz), 3.0)
        delta = statistics.fmean(samples) - self._cells_cfg[a["cell"]].offset
        if abs(delta) < 100:
            raise ApiError(api.HARDWARE, f"cell {a['cell']!r} barely changed with {a['mass_g']} g on it "
                                         "(is the mass on the cell? tare it empty first)")
        cpg = delta / a["mass_g"]
        self._set_cell(a["cell"], self._cells_cfg[a["cell"]].offset, cpg)
        self._save_calibration()
        log.info("cell %s calibrated: %.3f counts per gram", a["cell"], cpg)
        return {"cell": a["cell"], "counts_per_gram": cpg}

    async def _cmd_self_test(self, a: dict) -> dict:
        steps = ["switches", *(f"cell:{n}" for n in self._cells_cfg), *(f"button:{n}" for n in self.board.buttons)]
        step = a.get("step")
        if step is None:
            return {"steps": steps}
        if step not in steps:
            raise ApiError(api.BAD_VALUE, f"self_test: unknown step {step!r} (steps: {', '.join(steps)})")
        if step == "switches":
            snap = self.sensors_snapshot(self.clock())["switches"]
            closed = [s["name"] for s in snap if s["raw"] == self.board.closed_level]
            return {"step": step, "ok": not closed,
                    "detail": "every switch is open" if not closed else f"closed: {', '.join(closed)} "
                              "(empty the board; a switch closed with nothing in it is stuck or shorted)",
                    "data": {"switches": snap}}
        kind, name = step.split(":", 1)
        if kind == "cell":
            cfg = self._cells_cfg[name]
            t0 = self.clock()
            try:
                samples = await self._collect(name, cfg.sample_hz, 2.0)
            except ApiError as e:
                return {"step": step, "ok": False, "detail": e.message, "data": {}}
            rate = len(samples) / max(1e-6, self.clock() - t0)
            noise_g = statistics.pstdev(samples) / abs(cfg.counts_per_gram)
            ok = noise_g < cfg.unit_g / 3 and rate > cfg.sample_hz * 0.5
            detail = (f"{rate:.0f} readings/s, noise {noise_g:.3f} g"
                      + ("" if ok else f" (want about {cfg.sample_hz}/s and noise under {cfg.unit_g / 3:.2f} g)"))
            return {"step": step, "ok": ok, "detail": detail,
                    "data": {"rate_hz": rate, "noise_g": noise_g, "mean_counts": statistics.fmean(samples)}}
        fut = asyncio.get_running_loop().create_future()
        self._press_waiters.append((name, fut))
        try:
            t = await asyncio.wait_for(fut, 10.0)
            return {"step": step, "ok": True, "detail": f"button {name} pressed", "data": {"t": t}}
        except asyncio.TimeoutError:
            return {"step": step, "ok": False, "detail": f"no press of button {name} within 10 s", "data": {}}
        finally:
            self._press_waiters[:] = [w for w in self._press_waiters if w[1] is not fut]


def _patient_out(p: dict | None) -> dict | None:
    """A stored patient as the API sends it (the store's shape; a copy)."""
    return None if p is None else dict(p)
