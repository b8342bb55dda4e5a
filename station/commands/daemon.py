"""``station daemon [--config FILE] [--data DIR] [--socket PATH] [--simulate]``: the station service."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

#: names a simulated hardware fault (hardware.daemon_io.SIM_FAULTS), so a test can make an
#: installed service's simulated board fail the way unplugged hardware does
SIM_FAULT_ENV = "STATION_SIM_FAULT"


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


def run(args: argparse.Namespace) -> int:
    from hardware.daemon_io import LiveHardware, SimulatedHardware
    from station.config import load_config
    from station.daemon.service import Daemon
    from station.errors import UserError

    # journald adds its own timestamps; the level and logger name are what it cannot know
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level),
                        format="%(levelname)s %(name)s: %(message)s")
    config = load_config(args.config)
    section = config.section("daemon")
    data_dir = args.data or section.get("data_dir", "/var/lib/station")
    socket_path = args.socket or section.get("socket", "/run/station/station.sock")
    if not args.simulate and (args.speed != 1.0 or args.seed is not None):
        raise UserError("--speed and --seed only apply with --simulate")
    if args.simulate:
        from hardware.sim.patient import PROFILES
        if args.profile not in PROFILES:
            raise UserError(f"unknown --profile {args.profile!r} (known: {', '.join(PROFILES)})")
        hardware = SimulatedHardware(config, speed=args.speed, seed=args.seed, profile=args.profile,
                                     fault=os.environ.get(SIM_FAULT_ENV) or None)
    else:
        hardware = LiveHardware(config)
    daemon = Daemon(config, data_dir, socket_path, hardware, config_path=args.config)
    asyncio.run(daemon.run())
    return 0
