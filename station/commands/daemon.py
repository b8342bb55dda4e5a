"""``station daemon [--config FILE] [--data DIR] [--socket PATH] [--simulate]``: the station service."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from station.errors import HardwareError, UserError

if TYPE_CHECKING:  # imported when the command runs: `station --help` imports every command module
    from hardware.base import Hardware
    from station.config import Config

log = logging.getLogger("station.daemon")


def register(sub) -> None:
    p = sub.add_parser("daemon", help="run the station service (hardware, records, socket API)",
                       description="Run the station daemon: reads the hardware (or a simulated board with "
                                   "--simulate), scores trials, stores results and serves the socket API "
                                   "(docs/api.md). Logs go to stderr (journald under systemd).")
    p.add_argument("--config", metavar="FILE", help="station.toml (default: the shipped default)")
    p.add_argument("--data", metavar="DIR", help="records directory (default: [daemon] data_dir)")
    p.add_argument("--socket", metavar="PATH", help="Unix socket path (default: [daemon] socket)")
    p.add_argument("--simulate", action="store_true",
                   help="run a virtual board with a virtual patient who performs each started trial")
    p.add_argument("--speed", type=float, default=1.0, metavar="X",
                   help="with --simulate: run the virtual board X times faster than real time (default 1)")
    p.add_argument("--seed", type=int, metavar="N", help="with --simulate: random seed of the virtual patient")
    p.add_argument("--profile", default="healthy", metavar="NAME",
                   help="with --simulate: the virtual patient's profile (healthy, impaired)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(run=run)


def open_hardware(config: Config, args: argparse.Namespace) -> Hardware:
    """The hardware the options ask for: the virtual board with --simulate, else the Pi's pins.

    ``UserError`` for options that do not fit; ``HardwareError`` if the pins cannot be opened."""
    if not args.simulate:
        if args.speed != 1.0 or args.seed is not None:
            raise UserError("--speed and --seed only apply with --simulate")
        from hardware.live import LiveHardware
        return LiveHardware(config)
    from hardware.sim.hardware import SimulatedHardware
    from hardware.sim.patient import PROFILES
    if args.profile not in PROFILES:
        raise UserError(f"unknown --profile {args.profile!r} (known: {', '.join(PROFILES)})")
    return SimulatedHardware(config, speed=args.speed, seed=args.seed, profile=args.profile)


def run(args: argparse.Namespace, *,
        open_hardware: Callable[[Config, argparse.Namespace], Hardware] = open_hardware) -> int:
    """Serve until stopped. A bad option or configuration is a ``UserError`` (exit 2, not
    retried); hardware that cannot be opened or fails to start logs one line and exits 69
    (``EXIT_HARDWARE_UNAVAILABLE``), which systemd retries with back-off."""
    from station.config import load_config
    from station.daemon.service import Daemon

    # journald adds its own timestamps; the level and logger name are what it cannot know
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level),
                        format="%(levelname)s %(name)s: %(message)s")
    config = load_config(args.config)
    section = config.section("daemon")
    data_dir = args.data or section.get("data_dir", "/var/lib/station")
    socket_path = args.socket or section.get("socket", "/run/station/station.sock")
    try:
        hardware = open_hardware(config, args)
        daemon = Daemon(config, data_dir, socket_path, hardware, config_path=args.config)
        asyncio.run(daemon.run())
    except HardwareError as e:
        log.error("hardware unavailable: %s (exit %d: systemd starts the daemon again)", e, e.exit_status)
        return e.exit_status
    return 0
