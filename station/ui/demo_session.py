"""``station demo`` with the UI: a simulated daemon in a subprocess, the UI here."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from station.config import default_config_text
from station.errors import UserError
from station.staff_pins import hash_pin, pin_file_path, write_pin_file

DEMO_PINS = {"therapist": "1234", "technician": "4321"}
READY_S = 20.0  # the daemon's first start (records directory, simulator) takes a moment


def demo_data_dir(given: str | None) -> Path:
    """Where the demo keeps its records and config."""
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "station-demo"


def demo_config(data: Path, source: str | None) -> Path:
    """A station.toml for the demo (the given one, or the shipped one), the demo PINs next to it
    (guessable PINs: the simulated daemon accepts them, a real station does not)."""
    path = data / "station-demo.toml"
    text = Path(source).read_text(encoding="utf-8") if source else default_config_text()
    path.write_text(text, encoding="utf-8")
    for role, pin in DEMO_PINS.items():
        write_pin_file(pin_file_path(path, data), role, hash_pin(pin, iterations=20_000))  # quick to check
    return path


def start_daemon(config: Path, data: Path, socket: Path, args) -> subprocess.Popen:
    """``station daemon --simulate`` on ``socket``; returns once it answers (UserError if it does not)."""
    cmd = [sys.executable, "-m", "station", "daemon", "--simulate", "--config", str(config),
           "--data", str(data / "records"), "--socket", str(socket), "--speed", repr(args.speed),
           "--profile", args.profile, "--log-level", "WARNING"]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    log = open(data / "daemon.log", "ab")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                            preexec_fn=_stop_with_parent)
    log.close()
    end = time.monotonic() + READY_S
    import socket as socketlib

    while time.monotonic() < end:
        if proc.poll() is not None:
            raise UserError(f"the simulated daemon stopped at once (exit {proc.returncode}); see {data / 'daemon.log'}")
        try:
            with socketlib.socket(socketlib.AF_UNIX) as s:
                s.connect(str(socket))
                return proc
        except OSError:
            time.sleep(0.05)
    stop_daemon(proc)
    raise UserError(f"the simulated daemon did not answer within {READY_S:g} s; see {data / 'daemon.log'}")


def _stop_with_parent() -> None:
    """In the daemon's child, before exec: SIGTERM when the demo's process dies, however it dies
    (Linux PR_SET_PDEATHSIG), so a killed demo leaves no daemon and no records lock behind."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the SIGHUP handler and the finally below still stop it


def stop_daemon(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _hang_up(signum, frame) -> None:
    raise SystemExit(128 + signum)


def log_errors_to(path: Path) -> None:
    """The UI's unexpected errors (``StationApp.report_bug``) go to ``path``: the terminal is the UI's."""
    import logging

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("station")
    logger.addHandler(handler)
    logger.setLevel(min(logger.level or logging.WARNING, logging.WARNING))


def run_demo(args) -> int:
    from station.ui.app import DEMO_HANDS_FREE, create_app, wants_ascii
    from station.ui.demo_autopilot import DemoAutopilot

    data = demo_data_dir(args.data)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = demo_config(data, args.config)
    with tempfile.TemporaryDirectory(prefix="station-demo-") as tmp:
        socket = Path(tmp) / "station.sock"
        print(f"Starting a simulated station (records in {data}) ...", flush=True)
        proc = start_daemon(config, data, socket, args)
        driver = DemoAutopilot(str(socket), protocol=args.protocol, therapist_pin=DEMO_PINS["therapist"])
        try:
            driver.start()
            app = create_app(str(socket), ascii=wants_ascii() if args.ascii is None else args.ascii)
            app.sub_title = DEMO_HANDS_FREE
            app.autopilot = driver  # stops for good when a staff screen opens
            app.error_log = str(data / "ui.log")
            log_errors_to(data / "ui.log")
            # Closing the terminal (SIGHUP) would kill this process before the finally below
            # stops the daemon: unwind instead.
            signal.signal(signal.SIGHUP, _hang_up)
            app.run()
        finally:
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            driver.stop()
            stop_daemon(proc)
    records = data / "records"
    print(f"Demo stopped. Therapist PIN 1234, technician 4321. Records: {records} "
          f"(station export --data {records})")
    return 0
