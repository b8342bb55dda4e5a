"""End to end: `station demo` in tmux, driven by a therapist with the keyboard only.

The hands-free demo runs until F2; then the therapist creates a patient, runs a
Nine Hole Peg Test with a practice trial, marks a trial invalid (it is
repeated), switches to coin drop, runs and finishes a free-practice session,
and quits. No traceback, no test the therapist did not start, no daemon left.
Slow (a minute); skipped only where tmux is not installed (.ci/run installs it).
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time

import pytest

from station.records.store import RecordStore
from tests.ui.test_demo_tmux import ROOT, Tmux, daemons_using

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")]


class Therapist(Tmux):
    """Keys one at a time, each once the screen shows the last one taken (as a person types).

    Sent faster, a key typed right after Tab could land in the field Tab was
    leaving (Textual moves the focus after later keys were routed). Every key
    sent here changes the screen (text, or the focused widget's look), so
    "the screen changed" is the sign it was taken.
    """

    def styled(self) -> str:
        return self.run("capture-pane", "-e", "-p", "-t", "demo")

    def _send(self, *args: str, limit_s: float = 10.0) -> None:
        assert self._watch is not None and self._watch.stdout is not None
        before = self.styled()
        self.run("send-keys", "-t", "demo", *args)
        end = time.monotonic() + limit_s  # only stops a hang: each look follows a draw
        while self.styled() == before:
            drew, _, _ = select.select([self._watch.stdout], [], [], max(0.0, end - time.monotonic()))
            if not drew:
                raise AssertionError(f"the screen did not change after {args[-1]!r}:\n{self.screen()}")
            if not os.read(self._watch.stdout.fileno(), 1 << 16):
                raise AssertionError(f"tmux went away after {args[-1]!r}")

    def press(self, *keys: str) -> None:
        for key in keys:
            self._send(key)

    def type(self, text: str) -> None:
        for ch in text:
            self._send("-l", ch)


def test_a_therapist_drives_the_demo_from_the_keyboard(tmp_path):
    data = tmp_path / "demo-data"
    t = Therapist(f"station-therapist-{os.getpid()}")
    cmd = (f"cd {ROOT} && {sys.executable} -m station demo --data {data} --speed 4 --seed 11; "
           "echo DEMO-EXITED $?; sleep 120")
    t.start(cmd)
    try:
        t.wait_for("hands-free demo")
        t.wait_for("Nine Hole Peg Test (9HPT) - trial 1 of 6")  # the autopilot's test (practice per hand) runs
        t.press("F2")
        t.wait_for("Enter the PIN")
        t.type("1234")
        t.press("Enter")
        t.wait_for("Hands-free demo stopped")
        # A new patient (the find field has the focus: Tab, Tab, Tab reach the new patient's ID).
        t.press("Tab", "Tab", "Tab")
        t.type("P-0007")
        t.press("Tab")
        t.type("1962")
        t.press("Tab", "Enter", "Down", "Enter", "Tab", "Enter", "Down", "Enter", "Tab")
        t.type("demo notes")
        t.press("Tab", "Enter")
        t.wait_for("Therapist - patient P-0007 (born 1962, female, right-handed)")
        # The test pane: a 9HPT with practice, one trial per hand, 3 pegs (quick).
        t.wait_for("No test running.")
        t.press("Tab", "Space", "Tab", "Enter", "Down", "Enter", "Tab", "C-u")
        t.type("3")
        t.press("Tab", "Tab", "Enter")
        t.wait_for("(practice)")
        screen = t.wait_for("nine-hole-peg: complete; all trials done", 120)
        assert screen.count("practice") >= 2  # the practice trial in the table, then the checkbox
        # Mark the highlighted trial invalid, repeat it.
        t.press("Tab", "Tab", "Tab", "Tab", "Tab", "Tab")
        t.type("dropped a peg")
        t.press("Tab", "Tab", "Enter")
        t.wait_for("invalid: dropped a peg")
        t.wait_for("nine-hole-peg: complete; all trials done", 120)
        # Coin drop: back to the protocol (13 fields up), choose it, 2 coins, no practice.
        t.press(*["BTab"] * 13, "Enter", "Up", "Up", "Enter")
        t.wait_for("coins 8")
        t.press("Tab", "Space", "Tab", "Tab", "C-u")
        t.type("2")
        t.press("Tab", "Tab", "Enter")
        t.wait_for("coin-drop: complete; all trials done", 120)
        # Free practice on its own, finished (not aborted).
        t.press(*["BTab"] * 5, "Enter", "Down", "Enter")
        t.wait_for("goal 0")
        t.press(*["Tab"] * 5, "Enter")
        t.wait_for("trial armed: free-practice right (running)", 60)
        t.press("Tab", "Enter")
        t.wait_for("Trial finished (complete).")
        t.press("Escape")
        screen = t.wait_for("reps with your right hand")
        assert "demo: you drive" in screen
        t.press("C-q")
        screen = t.wait_for("DEMO-EXITED 0")
        assert "Traceback" not in screen and "Demo stopped" in screen
        assert daemons_using(data) == []
    finally:
        subprocess.run(["tmux", "-L", t.name, "kill-server"], capture_output=True)
    assert (data / "ui.log").read_text() == ""  # no unexpected error in any handler
    with RecordStore(data / "records", readonly=True) as store:
        tests = store.tests()
        theirs = [x for x in tests if x["patient_id"] == "P-0007"]
        assert [x["protocol"] for x in theirs] == ["nine-hole-peg", "coin-drop"]
        demo = [x for x in tests if x["patient_id"] == "DEMO-1"]
        assert demo and all(x.get("status") != "in_progress" for x in demo)  # the autopilot's test ended
        trials = store.trials("P-0007")
        assert {x["protocol"] for x in trials} == {"nine-hole-peg", "coin-drop", "free-practice"}
        assert sum(1 for x in trials if (x.get("invalid") or {}).get("reason") == "dropped a peg") == 1
        assert store.get_patient("P-0007")["notes"] == "demo notes"
