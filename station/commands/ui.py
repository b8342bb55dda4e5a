"""``station ui [--socket PATH] [--config FILE] [--kiosk|--no-kiosk] [--ascii]``: the Textual UI.

Attaches to a running ``station daemon``. In kiosk mode (the default on
/dev/tty1, where systemd starts it) Ctrl+C, Ctrl+Z and Ctrl+\\ do not leave:
the keys are bound to nothing and SIGTSTP/SIGQUIT are ignored; staff leave
from the technician screen, behind its PIN. The daemon checks staff PINs
(``login``): the UI never reads them.
"""
from __future__ import annotations

import os
import signal
import sys


def register(sub) -> None:
    p = sub.add_parser("ui", help="the station's screens (attach to a running daemon)",
                       description="The patient, therapist and technician screens; a client of `station daemon`.")
    p.add_argument("--socket", metavar="PATH", help="the daemon's socket (default: the config's [daemon] socket)")
    p.add_argument("--config", metavar="FILE",
                   help="station.toml naming the daemon's socket (default: $STATION_CONFIG, else the shipped default)")
    kiosk = p.add_mutually_exclusive_group()
    kiosk.add_argument("--kiosk", action="store_true", default=None,
                       help="keys that would leave do nothing (default on /dev/tty1)")
    kiosk.add_argument("--no-kiosk", dest="kiosk", action="store_false")
    p.add_argument("--ascii", action="store_true", default=None,
                   help="plain ASCII digits and borders (default when TERM=linux)")
    p.set_defaults(run=run)


def on_console_tty1() -> bool:
    """Standard input is the first virtual console (where the kiosk runs)."""
    try:
        return os.ttyname(sys.stdin.fileno()) == "/dev/tty1"
    except (OSError, ValueError):
        return False


def run(args) -> int:
    from station.ui.app import create_app, wants_ascii

    path = args.config or os.environ.get("STATION_CONFIG") or None
    if args.socket:
        socket = args.socket  # the kiosk unit names it: the first frame does not wait for the config
    else:
        from station.config import load_config

        socket = load_config(path).section("daemon").get("socket") or "/run/station/station.sock"
    kiosk = on_console_tty1() if args.kiosk is None else args.kiosk
    ascii = wants_ascii() if args.ascii is None else args.ascii
    if kiosk:
        # The terminal is in raw mode while the app runs, so these keys arrive as keys;
        # ignoring the signals also covers the moments before and after.
        signal.signal(signal.SIGTSTP, signal.SIG_IGN)
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    app = create_app(socket, kiosk=kiosk, ascii=ascii)
    app.error_log = log_errors()
    app.run()
    return 0


def log_errors() -> str:
    """Send the UI's unexpected errors somewhere other than its own screen; returns where.

    Standard error when it is not the terminal the UI draws on (the kiosk unit
    sends it to the journal), else ``ui.log`` in $STATE_DIRECTORY (systemd's
    StateDirectory) or ~/.local/state/station.
    """
    import logging
    from pathlib import Path

    logger = logging.getLogger("station")
    logger.setLevel(min(logger.level or logging.WARNING, logging.WARNING))
    stderr = sys.__stderr__
    if stderr is not None and not stderr.isatty():
        logger.addHandler(logging.StreamHandler(stderr))
        return "the journal (journalctl -u station-ui)" if os.environ.get("INVOCATION_ID") else "standard error"
    base = os.environ.get("STATE_DIRECTORY") or os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    path = Path(base) / ("" if os.environ.get("STATE_DIRECTORY") else "station") / "ui.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return "nowhere (no writable log file)"
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return str(path)


