"""Shared by the UI tests: a patient, saved history, PINs, and waiting on the app."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from textual.pilot import Pilot

from station.ui.app import create_app
from station.ui.screens.patient import PatientScreen
from station.ui.screens.staff import StaffScreen
from station.ui.screens.therapist import TherapistScreen
from tests.ui.fake_daemon import STAFF_PINS

PATIENT = {"patient_id": "P-0042", "birth_year": 1958, "sex": "female", "dominant_hand": "right"}
THERAPIST_PIN, TECHNICIAN_PIN = STAFF_PINS["therapist"], STAFF_PINS["technician"]  # what the fake daemon takes


SPLITS_S = (1.2, 0.9, 1.5, 1.1, 0.8, 1.3, 1.0, 1.7, 1.1)  # seconds between seated pegs


def nhpt_trial(total_s: float, *, side: str = "right", started_at: str = "2024-05-01T10:00:00Z",
               test_id=None, pegs_every_s: float = 1.0) -> dict:
    """A saved 9HPT TRIAL_RECORD whose peg_in events are SPLITS_S x ``pegs_every_s`` apart."""
    events, t = [], 100.0
    for hole, split in enumerate(SPLITS_S, 1):
        t += split * pegs_every_s
        events.append({"t": round(t, 3), "kind": "peg_in", "hole": hole})
    return {"patient_id": PATIENT["patient_id"], "test_id": test_id, "protocol": "nine-hole-peg",
            "options": {"pegs": 9, "cutoff_s": 300.0}, "hand": "dominant", "side": side, "practice": False,
            "status": "complete", "result": {"status": "complete", "total_s": total_s}, "events": events,
            "faults": [], "trace": None, "started_at": started_at, "invalid": None}


async def wait_until(pilot, predicate: Callable[[], object], what: str, limit_s: float = 30.0) -> None:
    """Let the app run until ``predicate()`` holds; fail naming ``what`` if it never does.

    The predicate is looked at between short pauses of the app: what it checks
    is the state (or the drawn screen), never how long it took. The limit only
    stops a broken test from hanging; nothing here asserts speed.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + limit_s
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"the UI never showed {what}")
        await pilot.pause(0.02)


async def settled(pilot) -> None:
    """Until nothing on the screen is in a passing state: no Button still shows its
    press (Textual's ``-active``, 0.2 s after a click) and no switch its flash
    (``-flash``), then one more pause so the picture is of that frame."""
    await wait_until(pilot, lambda: not pilot.app.screen.query(".-active, .-flash"), "the screen settled")
    await pilot.pause()


async def enter_pin(pilot, pin: str, *, submit: bool = True) -> None:
    """Type ``pin`` into the PIN dialog once its field has the focus (keys pressed before
    that go nowhere), see it typed, then Enter."""
    app = pilot.app
    await wait_until(pilot, lambda: getattr(app.focused, "id", None) == "pin-input", "the PIN field focused")
    field = app.focused
    for digit in pin:
        await pilot.press(digit)
    await wait_until(pilot, lambda: field.value == pin, "the PIN typed")
    if submit:
        await pilot.press("enter")


def shown(screen, selector: str) -> str:
    """The text of the widget ``selector`` on ``screen``; "" while it is not composed yet."""
    found = screen.query(selector)
    return text_of(found.first()) if found else ""


def text_of(widget) -> str:
    """What a widget draws, as plain text."""
    r = widget.render()
    return str(getattr(r, "plain", r))


async def open_staff_screen(pilot, role: str):
    """Open the ``role`` screen as staff do: F2/F3, then its PIN (the fake daemon checks it). Returns the screen."""
    app = pilot.app
    await pilot.press("f2" if role == "therapist" else "f3")
    await wait_until(pilot, lambda: app.screen.query("#pin-input"), "the PIN dialog")
    await enter_pin(pilot, STAFF_PINS[role])
    await wait_until(pilot, lambda: isinstance(app.screen, StaffScreen) and app.screen.ROLE == role
                     and app.screen.query("#back"), f"the {role} screen")
    return app.screen


async def attached(pilot) -> None:
    """Until the app is connected to its daemon and shows the patient screen."""
    app = pilot.app
    await wait_until(pilot, lambda: app.connected and isinstance(app.screen, PatientScreen), "the patient screen")


@asynccontextmanager
async def attached_app(path, *, size: tuple[int, int] = (80, 24), notifications: bool = False,
                       **options) -> AsyncIterator[Pilot]:
    """The UI on the daemon at ``path`` (``options`` for create_app) under a pilot, once attached."""
    app = create_app(path, **options)
    async with app.run_test(size=size, notifications=notifications) as pilot:
        await attached(pilot)
        yield pilot


async def therapist_pane(pilot, pane: str = "test") -> TherapistScreen:
    """The therapist screen through its PIN (the daemon's login), composed and on ``pane``."""
    screen = await open_staff_screen(pilot, "therapist")
    assert isinstance(screen, TherapistScreen)
    await wait_until(pilot, lambda: screen.query("#trials"), "the therapist screen")
    screen.show_pane(pane)
    await pilot.pause()
    return screen
