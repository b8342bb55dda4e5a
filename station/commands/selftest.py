"""``station selftest [--config FILE] [--simulate [--stuck-hole N] [--unplug-cell NAME]]``."""
from __future__ import annotations

from station.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("selftest", help="check a freshly built station: config, pins, switches, load cells",
                       description="Non-interactive check of a station: the configuration is valid, every pin "
                                   "is free and readable, no switch is stuck closed, and each HX711 answers "
                                   "with sane noise. Run it with no peg in any hole and the station daemon "
                                   "stopped. One PASS/FAIL line per item; exit 1 if anything failed.")
    p.add_argument("--config", metavar="FILE", help="station.toml (default: the shipped default)")
    p.add_argument("--simulate", action="store_true", help="check a simulated board instead of the pins")
    p.add_argument("--stuck-hole", type=int, metavar="N", help="with --simulate: hole N's switch is stuck closed")
    p.add_argument("--unplug-cell", metavar="NAME", help="with --simulate: load cell NAME's HX711 is unplugged")
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

    if (args.stuck_hole is not None or args.unplug_cell is not None) and not args.simulate:
        raise UserError("--stuck-hole and --unplug-cell only apply with --simulate")
    try:
        config = load_config(args.config)
    except ConfigError as e:
        result = build_check.Result("config", False, str(e))
        _say(result)
        return _verdict([result])
    if args.stuck_hole is not None and not 1 <= args.stuck_hole <= len(config.holes):
        raise UserError(f"--stuck-hole must be a hole number from 1 to {len(config.holes)}")
    if args.unplug_cell is not None and args.unplug_cell not in config.cells:
        raise UserError(f"--unplug-cell: no cell {args.unplug_cell!r} (cells: {', '.join(config.cells) or 'none'})")
    results = [build_check.Result("config", True, f"{config.path}: {len(config.holes)} holes, "
                                               f"{len(config.buttons)} button(s), {len(config.cells)} load cell(s)")]
    _say(results[0])
    error = None
    io = None
    try:
        io = _open_simulated(config, args) if args.simulate else _open_live(config)
    except Exception as e:  # lgpio's "GPIO busy", a missing RPi.GPIO, ...: reported, not a traceback
        error = e
    results.append(build_check.pins_result(config, error))
    _say(results[-1])
    if io is None:
        return _verdict(results)
    try:
        for result in build_check.run_checks(config, io):
            _say(result)
            results.append(result)
    finally:
        io.close()
    return _verdict(results)


def _open_live(config):
    from hardware.live import open_station_io

    return open_station_io(config)


def _open_simulated(config, args):
    """The simulator's board (the real drivers on fake pins), with the faults asked for."""
    from hardware.sim.simulator import Simulation

    sim = Simulation(config, seed=0)
    if args.stuck_hole is not None:
        gpio = config.holes[args.stuck_hole - 1]
        sim.pin_factory.pin(gpio).drive(0 if config.active_low else 1, sim.now)
    if args.unplug_cell is not None:
        sim.chips[args.unplug_cell].unplugged = True
    return sim.io
