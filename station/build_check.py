"""The technician's non-interactive self-test of a freshly built station.

One result per item, each a PASS or FAIL line: the configuration, the pins
(all free and opened), every switch and button (readable, not stuck closed:
run it with no peg in any hole and no button held), and every HX711
(answering, at the rate its RATE pin should give, with noise small enough to
count items by weight). Each load cell's line says how its HX711 was clocked
(RPi.GPIO, lgpio or simulated), the usable samples/s measured, and the
readings the driver discarded and why (``hardware.hx711.Discarded``: a clock
pulse or a readout stretched by the operating system). The hardware comes in as a ``hardware.station_io.StationIO``
(live pins, or the simulator's), so the same checks run on the Pi and in tests.
"""
from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from station.config import CellConfig, Config

#: Readings taken from each HX711 (half a second at 80 samples/s).
CELL_SAMPLES = 40
#: Largest noise (one standard deviation) as a fraction of one item's weight:
#: beyond this, counting pegs or coins by weight starts to misfire.
NOISE_PER_UNIT = 0.25
#: How far the measured sample rate may be from the configured one.
RATE_TOLERANCE = 0.25


@dataclass(frozen=True)
class Result:
    """One checked item."""

    item: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.item}: {self.detail}"


def _where(gpio: int) -> str:
    from station.wiring import header_pin

    return f"GPIO{gpio}, header pin {header_pin(gpio)}"


def check_switches(config: Config, levels: dict[int, int]) -> list[Result]:
    """A switch reading closed with nothing in it is stuck (or shorted, or a peg was left in)."""
    closed = 0 if config.active_low else 1
    named = [(f"hole {i}", g) for i, g in enumerate(config.holes, 1)]
    named += [(f"button {n}", g) for n, g in config.buttons.items()]
    out = []
    for item, gpio in named:
        level = levels.get(gpio)
        if level is None:
            out.append(Result(item, False, f"{_where(gpio)} could not be read"))
        elif level == closed:
            to = "GND" if config.active_low else "3.3 V"
            out.append(Result(item, False, f"{_where(gpio)} reads closed with nothing in it: a switch stuck "
                                           f"closed, a wire shorted to {to}, or a peg or finger left in"))
        else:
            out.append(Result(item, True, f"{_where(gpio)} reads open"))
    return out


#: the backend name the self-test prints for each of hardware.hx711_pins' backends
BACKEND_NAMES = {"rpi-gpio": "RPi.GPIO", "lgpio": "lgpio", "simulated": "simulated"}


def _discards(discarded: Counter[str]) -> str:
    if not discarded:
        return "0 discarded"
    why = ", ".join(f"{n} {reason}" for reason, n in discarded.most_common())
    return f"{sum(discarded.values())} discarded ({why})"


def check_cell(cell: CellConfig, driver: Any, samples: int = CELL_SAMPLES, backend: str = "simulated") -> Result:
    """Read ``samples`` conversions from one HX711 (clocked through ``backend``) and judge them."""
    from hardware.hx711 import Discarded, NotReady, SensorFault

    item = f"load cell {cell.name}"
    via = BACKEND_NAMES.get(backend, backend)
    pins = f"DOUT {_where(cell.dout)}, PD_SCK {_where(cell.pd_sck)}"
    times: list[float] = []
    counts: list[int] = []
    discarded: Counter[str] = Counter()
    last_discard = ""
    for _ in range(samples):
        try:
            t, c = driver.read_sample()
        except NotReady as e:
            return Result(item, False, f"HX711 not answering ({e.detail}); check its 3.3 V, GND and DOUT "
                                       f"wires ({pins})")
        except Discarded as e:
            discarded[e.reason] += 1
            last_discard = e.detail
            continue
        except SensorFault as e:
            return Result(item, False, f"{e.detail} ({pins})")
        times.append(t)
        counts.append(c)
    if len(counts) < samples // 2:
        return Result(item, False, f"only {len(counts)} of {samples} readings usable via {via}, "
                                   f"{_discards(discarded)}: {last_discard}")
    span = times[-1] - times[0]
    rate = (len(times) - 1) / span if span > 0 else float("inf")
    if abs(rate - cell.sample_hz) > RATE_TOLERANCE * cell.sample_hz:
        hint = " (RATE pin low? tie it to VCC for 80)" if cell.sample_hz == 80 and rate < 20 and not discarded else ""
        return Result(item, False, f"answers at {rate:.0f} samples/s via {via}, expected {cell.sample_hz}{hint}; "
                                   f"{_discards(discarded)}")
    noise_g = statistics.pstdev(counts) / abs(cell.counts_per_gram)
    limit_g = NOISE_PER_UNIT * cell.unit_g
    if noise_g == 0:
        return Result(item, False, f"every reading is {counts[0]}: a stuck DOUT or a dead bridge ({pins})")
    if noise_g > limit_g:
        return Result(item, False, f"noise {noise_g:.3f} g (limit {limit_g:.3f} g, a quarter of one item): "
                                   "check grounding, the load-cell lead and that nothing touches the platform")
    return Result(item, True, f"via {via}: {len(counts)} readings at {rate:.1f} samples/s, "
                              f"{_discards(discarded)}, noise {noise_g:.3f} g (limit {limit_g:.3f} g)")


def run_checks(config: Config, io: Any, samples: int = CELL_SAMPLES, backend: str = "simulated") -> Iterator[Result]:
    """Every check after the pins are open, as each finishes: switches, then each load cell.

    ``io`` has ``levels()`` and ``drivers`` (a ``StationIO``); ``backend`` is how its HX711s are clocked.
    """
    yield from check_switches(config, io.levels())
    for name, cell in config.cells.items():
        yield check_cell(cell, io.drivers[name], samples, backend)


def pins_result(config: Config, error: BaseException | None) -> Result:
    """The result of opening every pin the configuration uses."""
    gpios = [*config.holes, *config.buttons.values()]
    for c in config.cells.values():
        gpios += [c.dout, c.pd_sck]
    if error is None:
        return Result("pins", True, f"all {len(gpios)} pins free and opened ({', '.join(map(str, gpios))})")
    hint = ""
    if "busy" in str(error).lower():
        hint = "; the station daemon holds them while it runs: systemctl stop station-daemon"
    return Result("pins", False, f"cannot open them ({error.__class__.__name__}: {error}){hint}")


def passed(results: Iterable[Result]) -> bool:
    """True when every item passed."""
    return all(r.ok for r in results)
