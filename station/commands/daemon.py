"""``station daemon [--config FILE] [--data DIR] [--socket PATH] [--simulate]``: the station service."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from station.commands import add_config_option
from station.errors import HardwareError, UserError

if TYPE_CHECKING:  # imported when the command runs: `station --help` imports every command module
    from hardware.base import Hardware
    from station.config import Config

log = logging.getLogger("station.daemon")

#: names a simulated hardware fault (hardware.sim.hardware.SIM_FAULTS), so a test can make an
#: installed service's simulated board fail the way unplugged hardware does
SIM_FAULT_ENV = "STATION_SIM_FAULT"


def register(sub) -> None:
    p = sub.add_parser("daemon", help="run the station service (hardware, records, socket API)",
                       description="Run the station daemon: reads the hardware (or a simulated board with "
                                   "--simulate), scores trials, stores results and serves the socket API "
                                   "(docs/api.md). Logs go to stderr (journald under systemd).")
    add_config_option(p)
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
    p.add_argument("--hardware-retry-s", type=float, default=0.0, metavar="S",
                   help="when the hardware is unavailable, wait S seconds before exiting with status 69 "
                        "(the systemd unit passes 30: systemd then starts the daemon again, so a busy or "
                        "missing GPIO chip is retried twice a minute; default 0: exit at once)")
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
    return SimulatedHardware(config, speed=args.speed, seed=args.seed, profile=args.profile,
                             fault=os.environ.get(SIM_FAULT_ENV) or None)


def run(args: argparse.Namespace, *,
        open_hardware: Callable[[Config, argparse.Namespace], Hardware] = open_hardware,
        wait: Callable[[float], None] = time.sleep) -> int:
    """Serve until stopped. A bad option or configuration is a ``UserError`` (exit 2, which
    systemd does not retry). Hardware that cannot be opened or fails to start logs one line,
    tells systemd why (STATUS=), waits ``--hardware-retry-s`` and exits 69
    (``EXIT_HARDWARE_UNAVAILABLE``), which systemd restarts. The wait is the back-off:
    systemd 252 (Raspberry Pi OS Bookworm) has one RestartSec= for every exit, and a crash
    should come back within it while a missing chip need not be retried that often."""
    from station.config import load_config
    from station.daemon.sdnotify import Notifier
    from station.daemon.service import Daemon

    # journald adds its own timestamps; the level and logger name are what it cannot know
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level),
                        format="%(levelname)s %(name)s: %(message)s")
    config = load_config(args.config)
    section = config.section("daemon")
    data_dir = args.data or section.get("data_dir", "/var/lib/station")
    socket_path = args.socket or section.get("socket", "/run/station/station.sock")
    if args.hardware_retry_s < 0:
        raise UserError("--hardware-retry-s must be 0 or more")
    notifier = Notifier()  # takes NOTIFY_SOCKET from the environment: the one notifier of this process
    try:
        hardware = open_hardware(config, args)
        daemon = Daemon(config, data_dir, socket_path, hardware, notifier=notifier, config_path=args.config)
        asyncio.run(daemon.run())
    except HardwareError as e:
        delay = args.hardware_retry_s
        when = f" in {delay:g} s" if delay > 0 else ""
        log.error("hardware unavailable: %s; exiting with status %d%s", e, e.exit_status, when)
        notifier.status(f"hardware unavailable: {e}; exiting{when} for systemd to start the daemon again")
        if delay > 0:
            wait(delay)
        return e.exit_status
    return 0
