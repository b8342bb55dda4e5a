"""Cost of one simulated HX711 reading, and what the readout checks of issue 12 add.

Reads a fake chip (``FakeGPIO`` + ``FakeHX711``, virtual time) with the
current driver and with the driver as it was before the checks (commit
c364e2e, loaded from git when available), on the RPi.GPIO-style fake and
through the lgpio backend (``LgpioGPIO`` on ``FakeLgpio``). Wall time per
reading there is mostly the fake's, so the driver is also timed alone on a
stub chip (``driver_alone``: its own Python per reading). GPIO calls per
reading are its cost on a Pi (a register access with RPi.GPIO, an ioctl
with lgpio); polls while waiting for a conversion (1 ms apart) count too.
Also counts, under random thread stalls, the readings each driver returned
wrong. Prints one JSON object.

    python tests/benchmarks/hx711_read.py [--readings 2000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hardware import hx711 as current  # noqa: E402
from hardware.hx711_pins import LgpioGPIO, open_header_chip  # noqa: E402
from hardware.sim.clock import VirtualClock  # noqa: E402
from hardware.sim.fake_gpio import FakeGPIO, FakeHX711  # noqa: E402
from hardware.sim.fake_lgpio import FakeLgpio  # noqa: E402

BEFORE = "c364e2e"
DOUT, SCK = 22, 23
STALLS = [30e-6, 55e-6, 80e-6, 0.002, 0.009, 0.0115, 0.013, 0.03, 0.2]


def load_before():
    """The driver module before issue 12, or None outside a git checkout that has it."""
    try:
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:hardware/hx711.py"],
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "hx711_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("hx711_before", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class CountingGPIO(FakeGPIO):
    """Counts the driver's GPIO calls (input, output)."""

    calls = 0

    def _tick(self):
        self.calls += 1
        super()._tick()


class StallingGPIO(FakeGPIO):
    def __init__(self, clock, rng):
        super().__init__(clock)
        self.rng = rng

    def _tick(self):
        if self.rng.random() < 0.005:
            self.clock.advance(self.rng.choice(STALLS))
        super()._tick()


def rig(mod, *, lgpio: bool):
    clock = VirtualClock()
    board = CountingGPIO(clock)
    board.setmode(board.BCM)
    FakeHX711(board, DOUT, SCK, source=lambda t: -54321)
    gpio = board
    if lgpio:
        lg = FakeLgpio(board)
        gpio = LgpioGPIO(lg, open_header_chip(lg))
    return board, mod.HX711(gpio, DOUT, SCK, clock=clock.now, sleep=clock.sleep)


def time_reads(mod, n: int, repeat: int, *, lgpio: bool) -> dict:
    best = float("inf")
    calls = 0
    for _ in range(repeat):
        board, drv = rig(mod, lgpio=lgpio)
        drv.read()  # past the settling at open
        before = board.calls
        t0 = time.perf_counter()
        for _ in range(n):
            drv.read()
        best = min(best, time.perf_counter() - t0)
        calls = (board.calls - before) / n
    return {"us_per_reading": round(best / n * 1e6, 1), "gpio_calls_per_reading": round(calls, 1)}


class StubChip:
    """The least a driver needs, as fast as Python allows: to time the driver alone.

    After each word (and after the reset at open) DOUT reads high once, then
    a conversion is ready; its 24 bits are 0x5A5A5A. Time advances 1 us a call.
    """

    BCM, IN, OUT, LOW, HIGH, PUD_UP, PUD_OFF = 11, 1, 0, 0, 1, 22, 20

    def __init__(self) -> None:
        self.t = 0.0
        self.n = 0  # falling edges into the word
        self.sck = 0
        self.high_at = 0.0
        self.high_next = True

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s

    def getmode(self):
        return self.BCM

    def setup(self, *a, **kw) -> None:
        pass

    def cleanup(self, *a) -> None:
        pass

    def output(self, ch: int, v: int) -> None:
        self.t += 1e-6
        if v and not self.sck:
            self.high_at = self.t
        elif not v and self.sck:
            if self.t - self.high_at > 60e-6:  # the reset at open
                self.n, self.high_next = 0, True
            else:
                self.n += 1
        self.sck = v

    def input(self, ch: int) -> int:
        self.t += 1e-6
        if self.high_next:
            self.high_next = False
            return 1
        if self.n == 0:
            return 0
        if self.n < 25:
            return (0x5A5A5A >> (24 - self.n)) & 1
        self.n, self.high_next = 0, False  # after the 25th pulse: high, then the next word is ready
        return 1


def driver_alone(mod, n: int, repeat: int) -> float:
    """Microseconds of the driver's own Python per reading (StubChip under it)."""
    best = float("inf")
    for _ in range(repeat):
        chip = StubChip()
        drv = mod.HX711(chip, DOUT, SCK, clock=chip.now, sleep=chip.sleep)
        t0 = time.perf_counter()
        for _ in range(n):
            try:
                drv.read_sample()
            except mod.SensorFault:
                pass
        best = min(best, time.perf_counter() - t0)
    return round(best / n * 1e6, 1)


def wrong_under_stalls(mod, seeds: int, reads: int) -> dict:
    got = wrong = 0
    for seed in range(seeds):
        rng = random.Random(seed)
        value = rng.randint(-0x7FFFFF, 0x7FFFFE)
        clock = VirtualClock()
        board = StallingGPIO(clock, rng)
        FakeHX711(board, DOUT, SCK, source=lambda t, v=value: v)
        drv = mod.HX711(board, DOUT, SCK, clock=clock.now, sleep=clock.sleep)
        for _ in range(reads):
            try:
                v = drv.read()
            except mod.SensorFault:
                continue
            got += 1
            wrong += v != value
    return {"readings": got, "wrong": wrong}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stall-seeds", type=int, default=30)
    args = ap.parse_args()
    out: dict = {"readings": args.readings, "repeat": args.repeat}
    out["now_rpi_gpio_api"] = time_reads(current, args.readings, args.repeat, lgpio=False)
    out["now_lgpio_backend"] = time_reads(current, args.readings, args.repeat, lgpio=True)
    out["now_driver_alone_us_per_reading"] = driver_alone(current, args.readings, args.repeat)
    out["now_under_stalls"] = wrong_under_stalls(current, args.stall_seeds, 100)
    before = load_before()
    if before is not None:
        out["before_rpi_gpio_api"] = time_reads(before, args.readings, args.repeat, lgpio=False)
        out["before_driver_alone_us_per_reading"] = driver_alone(before, args.readings, args.repeat)
        out["before_under_stalls"] = wrong_under_stalls(before, args.stall_seeds, 100)
        # the driver's own Python per reading (the fake's cost left out), now less before
        out["check_overhead_us_per_reading"] = round(
            out["now_driver_alone_us_per_reading"] - out["before_driver_alone_us_per_reading"], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
