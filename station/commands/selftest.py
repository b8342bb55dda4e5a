"""``station selftest [--config FILE] [--simulate [--stuck-hole N] [--unplug-cell NAME] [--stall-cell NAME]]``."""
from __future__ import annotations

from station.commands import add_config_option
from station.errors import UserError

#: readouts --stall-cell stalls (each costs the driver a discarded reading, or a flushed one after it)
STALLS = 3


def register(sub) -> None:
    p = sub.add_parser("selftest", help="check a freshly built station: config, pins, switches, load cells",
                       description="Non-interactive check of a station: the configuration is valid, every pin "
                                   "is free and readable, no switch is stuck closed, and each HX711 answers "
                                   "at its rate with sane noise; each cell's line says how it is clocked "
                                   "(RPi.GPIO, lgpio or simulated), the samples/s measured and the readings "
                                   "discarded, and why. Run it with no peg in any hole and the station daemon "
                                   "stopped. One PASS/FAIL line per item; exit 1 if anything failed.")
    add_config_option(p)
    p.add_argument("--simulate", action="store_true", help="check a simulated board instead of the pins")
    p.add_argument("--stuck-hole", type=int, metavar="N", help="with --simulate: hole N's switch is stuck closed")
    p.add_argument("--unplug-cell", metavar="NAME", help="with --simulate: load cell NAME's HX711 is unplugged")
    p.add_argument("--stall-cell", metavar="NAME",
                   help="with --simulate: load cell NAME's reader is switched out mid-readout a few times "
                        "(its readings are discarded, never wrong)")
    p.set_defaults(run=run)


def _say(result) -> None:
    print(result.line(), flush=True)


def _verdict(results) -> int:
    """The last line (on stdout with the rest, so a saved report carries it); the exit status."""
    from station import build_check

    ok = build_check.passed(results)
    print(f"{'all checks passed' if ok else 'SELFTEST FAILED'} ({sum(r.ok for r in results)} of "
          f"{len(results)} passed)", flush=True)
    return 0 if ok else 1


def run(args) -> int:
    from station import build_check
    from station.config import ConfigError, load_config

    faults = (args.stuck_hole, args.unplug_cell, args.stall_cell)
    if any(f is not None for f in faults) and not args.simulate:
        raise UserError("--stuck-hole, --unplug-cell and --stall-cell only apply with --simulate")
    try:
        config = load_config(args.config)
    except ConfigError as e:
        result = build_check.Result("config", False, str(e))
        _say(result)
        return _verdict([result])
    if args.stuck_hole is not None and not 1 <= args.stuck_hole <= len(config.holes):
        raise UserError(f"--stuck-hole must be a hole number from 1 to {len(config.holes)}")
    for option, name in (("--unplug-cell", args.unplug_cell), ("--stall-cell", args.stall_cell)):
        if name is not None and name not in config.cells:
            raise UserError(f"{option}: no cell {name!r} (cells: {', '.join(config.cells) or 'none'})")
    results = [build_check.Result("config", True, f"{config.path}: {len(config.holes)} holes, "
                                               f"{len(config.buttons)} button(s), {len(config.cells)} load cell(s)")]
    _say(results[0])
    error = None
    io = None
    backend = "simulated"
    try:
        if args.simulate:
            io = _open_simulated(config, args)
        else:
            io = _open_live(config)
            backend = io.backend
    except Exception as e:  # lgpio's "GPIO busy", a missing RPi.GPIO, ...: reported, not a traceback
        error = e
    results.append(build_check.pins_result(config, error))
    _say(results[-1])
    if io is None:
        return _verdict(results)
    try:
        for result in build_check.run_checks(config, io, backend=backend):
            _say(result)
            results.append(result)
    finally:
        io.close()
    return _verdict(results)


class _LiveBoard:
    """The switches (``StationIO`` on lgpio) and an HX711 driver per cell on the backend for this Pi."""

    def __init__(self, config) -> None:

        from hardware.hx711 import HX711
        from hardware.hx711_pins import choose_backend, close_backend, open_backend, pi_model
        from hardware.live import open_live_switches

        self.switches = open_live_switches(config)
        self.drivers: dict = {}
        self.gpio = None
        self._close_backend = close_backend
        try:
            self.backend = choose_backend(config.sections["hx711"]["backend"], pi_model())
            if config.cells:
                self.gpio = open_backend(self.backend)
            for name, c in config.cells.items():
                self.drivers[name] = HX711(self.gpio, c.dout, c.pd_sck, sample_hz=c.sample_hz)
        except BaseException:
            self.close()
            raise

    def levels(self):
        return self.switches.levels()

    def close(self) -> None:
        for drv in self.drivers.values():
            drv.close()
        if self.gpio is not None:
            self._close_backend(self.gpio)
        self.switches.close()


def _open_live(config):
    return _LiveBoard(config)


def _open_simulated(config, args):
    """The simulator's board (the real drivers on fake pins), with the faults asked for."""
    from hardware.sim.simulator import Simulation

    sim = Simulation(config, seed=0)
    if args.stuck_hole is not None:
        gpio = config.holes[args.stuck_hole - 1]
        sim.pin_factory.pin(gpio).drive(0 if config.active_low else 1, sim.now)
    if args.unplug_cell is not None:
        sim.chips[args.unplug_cell].unplugged = True
    if args.stall_cell is not None:
        # 13 ms with PD_SCK low after the 12th pulse: past the next conversion (12.5 ms at 80 SPS)
        sim.chips[args.stall_cell].pause_readouts(0.013, after_pulse=12, count=STALLS)
    return sim.io
