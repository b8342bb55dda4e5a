"""The station's Textual app: a client of the daemon's socket API.

Build it with ``create_app`` (``station ui`` and the tests share it). A worker
holds the connection (``station.client.StationClient`` with reconnect) and
only posts messages; the app turns them into reactives (``state``, ``board``,
``connected``, ``last_result``) that the screens watch ("attributes down,
messages up"). Screens send commands with ``await app.request(...)``.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import reactive

from station.ui import messages as m
from station.ui.view.model import (
    BoardSnapshot,
    History,
    LiveCount,
    apply_event,
    board_from_state,
    incidents_said,
    result_message,
)

if TYPE_CHECKING:
    from station.client import StationClient

RETRY_S = (0.2, 2.0)  # first connection attempts: quick at first, then every 2 s
log = logging.getLogger("station.ui")
#: the patient screen's hint line in the demo, before and after staff take over
DEMO_HANDS_FREE = "hands-free demo (F2 PIN 1234 takes over) - Ctrl+Q quits"
DEMO_HANDED_OVER = "demo: you drive; the virtual patient performs what you start - PINs 1234/4321 - Ctrl+Q quits"


class HandsFree(Protocol):
    """The demo's autopilot as the app sees it: running until a staff screen opens."""

    def hand_over(self) -> None:
        """Stop for good (ending the test it started); returns at once."""


@dataclass
class LastResult:
    """The trial that just finished and the sentence the patient reads."""

    trial: dict
    message: str
    history: list[dict] = field(default_factory=list)


class StationApp(App):
    """Patient screen first; therapist and technician screens behind PINs the daemon checks."""

    CSS_PATH = "station.tcss"
    TITLE = "Station"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("f2", "staff('therapist')", "Therapist", show=False),
        Binding("f3", "staff('technician')", "Technician", show=False),
    ]

    state: reactive[dict | None] = reactive(None, always_update=True)
    board: reactive[BoardSnapshot] = reactive(BoardSnapshot)
    connected: reactive[bool] = reactive(False)
    last_result: reactive[LastResult | None] = reactive(None)
    sensors: reactive[dict | None] = reactive(None, always_update=True)
    history: reactive[History] = reactive(History, always_update=True)
    disconnect_reason: reactive[str] = reactive("connecting to the station daemon")

    def __init__(self, socket_path: str, *, kiosk: bool = False,
                 ascii: bool = False, client_factory: Callable[[str], StationClient] | None = None) -> None:
        super().__init__()
        self.socket_path = socket_path
        self.kiosk = kiosk
        self.ascii = ascii
        self.client: StationClient | None = None
        self._client_factory = client_factory or _daemon_client
        self.state_received_at = time.monotonic()
        self.faults: list[dict] = []
        self.live = LiveCount()  # pegs placed and reps of the armed trial
        self._run_id: str | None = None
        self._want_sensors = 0
        self.bugs: list[str] = []  # what report_bug caught (tests and the technician read it)
        self.error_log = "the UI's log"  # where report_bug's tracebacks go (set by `station ui`/`demo`)
        self.autopilot: HandsFree | None = None  # the demo's driver while it plays hands-free

    # --- bugs: shown and logged, never the end of the kiosk --------------------

    def report_bug(self, error: BaseException, *, where: str = "") -> None:
        """An unexpected error in a handler: log its traceback, say so on screen, carry on."""
        what = f"{type(error).__name__}: {error}"
        self.bugs.append(what)
        log.error("unexpected error%s", f" in {where}" if where else "",
                  exc_info=(type(error), error, error.__traceback__))
        try:
            self.notify(f"{what}\nThe station carries on; the details are in {self.error_log}.",
                        title="Something went wrong", severity="error", timeout=20)
        except Exception:  # the screen itself is broken: the log has it
            log.error("could not show the error: %s", traceback.format_exc())

    def _handle_exception(self, error: Exception) -> None:
        # Textual's hook for errors outside a guarded handler (a worker, a
        # callback): it would exit with a traceback. A kiosk shows, logs, goes on.
        self.report_bug(error, where="a worker or callback")

    async def _dispatch_message(self, message: Message) -> None:
        # The app's own handlers (and the screens' watchers they run): as StationNode does.
        try:
            await super()._dispatch_message(message)
        except Exception as error:
            self.report_bug(error, where=f"the app handling {type(message).__name__}")

    # --- lifecycle ----------------------------------------------------------

    def on_mount(self) -> None:
        from station.ui.screens.patient import PatientScreen

        if self.ascii:
            self.add_class("-ascii")
            # The console's own 16 colours, not approximations of a 24-bit palette.
            if "ansi-dark" in self.available_themes:
                self.theme = "ansi-dark"
        self.push_screen(PatientScreen())
        # Connect once the first frame is drawn (the hello's state would only
        # delay it), and the overlay comes with the first failed attempt, not
        # before: the usual start (daemon already up) draws its first frame without it.
        self.call_after_refresh(self._connect)

    def _show_overlay(self) -> None:
        from station.ui.screens.reconnecting import ReconnectingScreen

        if not any(isinstance(s, ReconnectingScreen) for s in self.screen_stack):
            self.push_screen(ReconnectingScreen())

    @work(exclusive=True, group="daemon", exit_on_error=False)
    async def _connect(self) -> None:
        """Hold the connection; post one message per pushed message. Touches no widget."""
        from station.api import ApiError

        delay = RETRY_S[0]
        while True:
            client = self._client_factory(self.socket_path)
            try:
                await client.connect(timeout=5.0)
            except (TimeoutError, OSError, ConnectionError, ApiError) as e:
                why = f"no answer from the station daemon at {self.socket_path} ({_why(e)})"
                self.post_message(m.Disconnected(why))
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_S[1])
                continue
            break
        self.client = client
        said_bye = False  # the daemon said it is stopping: the disconnect that follows is no surprise
        async for msg in client.messages():
            kind = msg.get("type")
            if kind == "hello":
                said_bye = False
                self.post_message(m.Connected(msg))
            elif kind == "state" and isinstance(msg.get("state"), dict):
                self.post_message(m.StateChanged(msg["state"]))
            elif kind == "event" and isinstance(msg.get("event"), dict):
                self.post_message(m.StationEvent(msg["event"]))
            elif kind == "fault" and isinstance(msg.get("fault"), dict):
                self.post_message(m.StationFault(msg["fault"]))
            elif kind == "trial_finished" and isinstance(msg.get("trial"), dict):
                self.post_message(m.TrialFinished(msg["trial"], bool(msg.get("saved")), msg.get("error")))
            elif kind == "sensors":
                self.post_message(m.SensorsUpdate(msg))
            elif kind == "bye":
                said_bye = True
                self.post_message(m.Disconnected("the station daemon is restarting"))
            elif kind == "disconnected" and not said_bye:
                self.post_message(m.Disconnected("the connection to the station daemon was lost"))

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()

    # --- messages up ----------------------------------------------------------

    def on_connected(self, msg: m.Connected) -> None:
        self.connected = True
        state = msg.hello.get("state")
        self._take_state(state if isinstance(state, dict) else None)
        if self._want_sensors:
            self._subscribe(True)
        self.refresh_history()

    def on_disconnected(self, msg: m.Disconnected) -> None:
        self.disconnect_reason = msg.reason
        self.connected = False
        self._close_staff_screens()  # the staff session was the connection's: it ended with it
        self._show_overlay()

    def _close_staff_screens(self) -> None:
        from station.ui.screens.pin import PinDialog
        from station.ui.screens.staff import StaffScreen

        stack = self.screen_stack
        first = next((i for i, s in enumerate(stack) if isinstance(s, StaffScreen | PinDialog)), None)
        if first is None:
            return
        for _ in range(len(stack) - first):
            self.pop_screen()
        self.notify("The connection to the station was lost: the staff screen needs its PIN again.",
                    timeout=10)

    def on_state_changed(self, msg: m.StateChanged) -> None:
        old = self.state or {}
        self._take_state(msg.state)
        if ((old.get("patient") or {}).get("patient_id") != (msg.state.get("patient") or {}).get("patient_id")):
            self.refresh_history()
        if msg.state.get("trial") and not old.get("trial"):
            self.last_result = None  # a new trial is armed: the old result steps aside

    def on_station_event(self, msg: m.StationEvent) -> None:
        if self._run_id is not None:
            self.live.apply(msg.event)
        self.board = apply_event(self.board, msg.event)

    def on_station_fault(self, msg: m.StationFault) -> None:
        self.faults = (self.faults + [msg.fault])[-50:]

    def on_sensors_update(self, msg: m.SensorsUpdate) -> None:
        self.sensors = msg.sensors

    async def on_trial_finished(self, msg: m.TrialFinished) -> None:
        if not msg.saved:
            self.notify(f"The trial could not be saved: {msg.error or 'unknown error'}", severity="error",
                        timeout=30)
        history = await self._load_history(msg.trial.get("patient_id"))
        if history is not None:
            self.history = history
        trials = history.trials if history else []
        self.last_result = LastResult(msg.trial, result_message(msg.trial, trials), trials)
        said = incidents_said(msg.trial)
        if said:  # e.g. a coin knocked off the tray: the therapist decides whether the trial stands
            self.notify(said, title=f"trial {msg.trial.get('trial_id')}", severity="warning", timeout=20)

    def _take_state(self, state: dict | None) -> None:
        self.state_received_at = time.monotonic()
        trial = (state or {}).get("trial") or {}
        run_id = trial.get("trial_id")
        if run_id != self._run_id:
            self._run_id = run_id
            if run_id is not None:
                self.live = LiveCount()
        self.state = state
        self.board = board_from_state(state, self.board)

    # --- commands down to the daemon -------------------------------------------

    async def request(self, cmd: str, *, quiet: bool = False, **fields: Any) -> dict | None:
        """Send a command; the result, or None after telling the user what went wrong."""
        from station.api import ApiError

        client = self.client
        try:
            if client is None:
                raise ConnectionError("not connected to the station daemon")
            return await client.request(cmd, timeout=30.0, **fields)
        except ApiError as e:
            if not quiet:
                self.notify(e.message, title=cmd.replace("_", " "), severity="error", timeout=8)
        except (TimeoutError, ConnectionError) as e:
            if not quiet:
                self.notify(f"The station daemon did not answer ({_why(e)}).", severity="error", timeout=8)
        return None

    def refresh_history(self) -> None:
        self._refresh_history()

    @work(exclusive=True, group="history", exit_on_error=False)
    async def _refresh_history(self) -> None:
        patient = (self.state or {}).get("patient")
        if not patient:
            self.history = History()
            return
        history = await self._load_history(patient.get("patient_id"))
        if history is not None:
            self.history = history

    async def _load_history(self, patient_id: str | None) -> History | None:
        if not patient_id:
            return None
        res = await self.request("results", quiet=True, patient_id=patient_id, limit=500)
        if res is None:
            return None
        return History(res.get("patient"), list(res.get("tests") or []), list(res.get("trials") or []))

    def want_sensors(self, on: bool) -> None:
        """The technician screen asks for (or stops needing) the 5 Hz sensors topic."""
        self._want_sensors += 1 if on else -1
        self._subscribe(self._want_sensors > 0)

    @work(group="subscribe", exit_on_error=False)
    async def _subscribe(self, sensors: bool) -> None:
        from station.api import DEFAULT_TOPICS

        topics = sorted(DEFAULT_TOPICS | ({"sensors"} if sensors else set()))
        if self.client is not None:
            self.client.topics = topics  # re-sent by the client after a reconnect
        await self.request("subscribe", quiet=True, topics=topics)

    # --- actions ----------------------------------------------------------------

    def action_staff(self, role: str) -> None:
        """Open the therapist or technician screen once the daemon accepted its PIN."""
        from station.ui.screens.pin import PinDialog
        from station.ui.screens.technician import TechnicianScreen
        from station.ui.screens.therapist import TherapistScreen

        screens = {"therapist": TherapistScreen, "technician": TechnicianScreen}
        if any(isinstance(s, screens[role]) for s in self.screen_stack):
            return

        def opened(ok: bool | None) -> None:
            if ok:
                self.hand_over_demo()
                self.push_screen(screens[role]())

        pins_set = ((self.state or {}).get("station") or {}).get("staff_pins") or {}
        self.push_screen(PinDialog(role, locked=pins_set.get(role) is False), opened)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """One notification at a time: the newest replaces the last, so they never pile up over the buttons."""
        self.clear_notifications()
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def hand_over_demo(self) -> None:
        """Staff took over: the demo's autopilot stops for good; the virtual patient only answers them now."""
        if self.autopilot is None:
            return
        self.autopilot.hand_over()
        self.autopilot = None
        self.sub_title = DEMO_HANDED_OVER
        self.notify("Hands-free demo stopped: from now on the virtual patient performs what you start.",
                    title="demo", timeout=10)

    def logout(self, role: str) -> None:
        """End this connection's ``role`` session (a staff screen was left)."""
        if self.client is not None and self.client.connected:
            self._logout(role)

    @work(group="logout", exit_on_error=False)
    async def _logout(self, role: str) -> None:
        await self.request("logout", quiet=True, role=role)

    def action_noop(self) -> None:
        """Kiosk: swallow keys that would leave the kiosk."""

    async def action_leave(self) -> None:
        """Leave the UI (staff only: the technician screen offers it)."""
        self.exit()


class KioskApp(StationApp):
    """The kiosk: Ctrl+C, Ctrl+Q, Ctrl+Z and Ctrl+\\ do nothing (staff leave from the technician screen)."""

    BINDINGS = StationApp.BINDINGS + [
        Binding("ctrl+c", "noop", show=False, priority=True, system=True),
        Binding("ctrl+q", "noop", show=False, priority=True, system=True),
        Binding("ctrl+z", "noop", show=False, priority=True, system=True),
        Binding("ctrl+backslash", "noop", show=False, priority=True, system=True),
    ]


def _daemon_client(path: str) -> StationClient:
    # Imported here: the first frame does not wait for the socket client's modules.
    from station.client import StationClient

    return StationClient(path, reconnect=True, name="station ui")


def _why(e: BaseException) -> str:
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    if isinstance(e, FileNotFoundError):
        return "no socket there"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    return getattr(e, "strerror", None) or str(e) or e.__class__.__name__


def wants_ascii(term: str | None = None) -> bool:
    """The Linux console (TERM=linux) lacks box-drawing glyphs: draw in ASCII there."""
    term = os.environ.get("TERM", "") if term is None else term
    return term == "linux"


def create_app(socket_path: str, *, kiosk: bool = False, ascii: bool = False,
               client_factory: Callable[[str], StationClient] | None = None) -> StationApp:
    """The app (a kiosk when ``kiosk``), attached to the daemon at ``socket_path``."""
    cls = KioskApp if kiosk else StationApp
    return cls(socket_path, kiosk=kiosk, ascii=ascii, client_factory=client_factory)
