"""What the screens show, computed from the daemon's messages. Pure: no Textual.

The board as last reported (which holes hold a peg, items on each cell), the
headline of the running trial, the ready-set-go phase, the patient's result
worded for them, and the per-peg splits of a trial record.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

#: ready-set-go: one word per second after a trial is armed, then "Go!" stays
COUNTDOWN_WORDS = ("Ready", "Set", "Go!")


@dataclass(frozen=True)
class BoardSnapshot:
    """The board as the screens draw it. ``version`` grows with every change."""

    holes: int = 9
    occupied: frozenset[int] = frozenset()
    counts: tuple[tuple[str, int], ...] = ()
    version: int = 0

    def count(self, cell: str) -> int | None:
        return dict(self.counts).get(cell)

    def with_count(self, cell: str, n: int) -> BoardSnapshot:
        counts = dict(self.counts)
        counts[cell] = n
        return replace(self, counts=tuple(sorted(counts.items())), version=self.version + 1)


def apply_event(board: BoardSnapshot, event: dict) -> BoardSnapshot:
    """The board after one live event (``peg_in``, ``peg_out``, ``dish``/``tray`` counts)."""
    kind = event.get("kind")
    if kind in ("peg_in", "peg_out") and isinstance(event.get("hole"), int):
        occupied = set(board.occupied)
        (occupied.add if kind == "peg_in" else occupied.discard)(event["hole"])
        return replace(board, occupied=frozenset(occupied), version=board.version + 1)
    if isinstance(event.get("count"), int) and isinstance(kind, str):
        return board.with_count(kind, event["count"])
    return board


def board_from_state(state: dict | None, board: BoardSnapshot) -> BoardSnapshot:
    """Take what a state snapshot knows of the board; keep the rest (events tell the holes).

    A daemon that adds ``state["board"] = {"occupied": [holes], "counts": {...}}``
    (an allowed API addition) lets a screen that connects mid-session draw the
    holes at once; without it the holes fill in from the live events.
    """
    if not state:
        return board
    station = state.get("station") or {}
    holes = station.get("holes", board.holes)
    counts = dict(board.counts)
    for name, cell in (station.get("cells") or {}).items():
        if name not in counts and isinstance(cell, dict) and isinstance(cell.get("items"), int):
            counts[name] = cell["items"]
    trial = state.get("trial") or {}
    for name, n in (trial.get("counts") or {}).items():
        if isinstance(n, int):
            counts[name] = n
    occupied = board.occupied
    live = state.get("board")
    if isinstance(live, dict):
        if isinstance(live.get("occupied"), list):
            occupied = frozenset(h for h in live["occupied"] if isinstance(h, int))
        for name, n in (live.get("counts") or {}).items():
            if isinstance(n, int):
                counts[name] = n
    new = BoardSnapshot(holes if isinstance(holes, int) else board.holes, occupied,
                        tuple(sorted(counts.items())), board.version)
    if new != board:
        new = replace(new, version=board.version + 1)
    return new


# --- the running trial --------------------------------------------------------

HAND_WORDS = {"left": "left hand", "right": "right hand"}
#: between the parts of a headline or title: ASCII, which every console font has
SEP = " - "


def resolve_side(hand: str | None, patient: dict | None) -> str | None:
    """``left``/``right`` for a hand given as dominant/non-dominant, using the patient's dominant hand."""
    if hand in ("left", "right"):
        return hand
    dom = (patient or {}).get("dominant_hand")
    if dom not in ("left", "right") or hand not in ("dominant", "non-dominant"):
        return None
    return dom if hand == "dominant" else ("left" if dom == "right" else "right")


def protocol_title(state: dict | None, protocol: str | None) -> str:
    """The protocol's description from the station's table, else its name."""
    if not protocol:
        return ""
    table = ((state or {}).get("station") or {}).get("protocols") or {}
    desc = (table.get(protocol) or {}).get("description")
    return desc or protocol.replace("-", " ").capitalize()


def trial_headline(state: dict | None) -> str:
    """e.g. ``Nine Hole Peg Test (9HPT) - trial 2 of 4 - left hand``; what comes next between trials."""
    state = state or {}
    trial = state.get("trial")
    test = state.get("test")
    if trial:
        parts = [protocol_title(state, trial.get("protocol"))]
        if trial.get("k") and trial.get("n"):
            parts.append(f"trial {trial['k']} of {trial['n']}")
        hand = trial.get("side") or resolve_side(trial.get("hand"), state.get("patient"))
        if hand in HAND_WORDS:
            parts.append(HAND_WORDS[hand])
        if trial.get("practice"):
            parts.append("practice")
        return SEP.join(p for p in parts if p)
    if test and test.get("next"):
        nxt = test["next"]
        parts = [protocol_title(state, test.get("protocol")), f"next: trial {nxt.get('k')} of {nxt.get('n')}"]
        side = resolve_side(nxt.get("hand"), state.get("patient"))
        if side in HAND_WORDS:
            parts.append(HAND_WORDS[side])
        if nxt.get("practice"):
            parts.append("practice")
        return SEP.join(parts)
    if test:
        return f"{protocol_title(state, test.get('protocol'))}{SEP}done"
    return ""


def countdown_word(state: dict | None) -> str | None:
    """Ready / Set / Go! while a trial is armed and its clock has not started; else None.

    Counted on the daemon's clock (``state.clock.monotonic - trial.started_at``),
    which it pushes twice a second while armed, so no screen needs its own timer.
    """
    trial = (state or {}).get("trial")
    if not trial or trial.get("status") != "waiting":
        return None
    now = ((state or {}).get("clock") or {}).get("monotonic")
    armed = trial.get("started_at")
    if not isinstance(now, (int, float)) or not isinstance(armed, (int, float)):
        return COUNTDOWN_WORDS[0]
    i = int(max(0.0, now - armed))
    return COUNTDOWN_WORDS[min(i, len(COUNTDOWN_WORDS) - 1)]


def counts_down(trial: dict | None) -> bool:
    """The timer shows time left (a fixed-duration protocol) rather than time taken."""
    return trial is not None and "duration_s" in (trial.get("options") or {}) and trial.get("countdown_s") is not None


def timer_seconds(trial: dict | None, since_state_s: float = 0.0) -> float:
    """The timer's value ``since_state_s`` after the snapshot that carried ``trial``."""
    if not trial:
        return 0.0
    running = trial.get("status") == "running"
    extra = since_state_s if running else 0.0
    if counts_down(trial):
        return max(0.0, float(trial["countdown_s"]) - extra)
    return max(0.0, float(trial.get("elapsed_s") or 0.0) + extra)


def format_timer(seconds: float) -> str:
    """``12.3`` under a minute, ``1:02.3`` above (what Digits and the ASCII font can draw)."""
    tenths = int(seconds * 10 + 1e-9)
    m, s10 = divmod(tenths, 600)
    if m:
        return f"{m}:{s10 // 10:02d}.{s10 % 10}"
    return f"{s10 // 10}.{s10 % 10}"


# --- results --------------------------------------------------------------------

def trial_seconds(record: dict) -> float | None:
    r = record.get("result") or {}
    v = r.get("total_s", record.get("total_s"))
    return float(v) if isinstance(v, (int, float)) else None


def score_of(record: dict) -> tuple[float, str, bool] | None:
    """(value, unit, higher_is_better) of a trial: a time, or a count for timed/practice protocols."""
    r = record.get("result") or {}
    if isinstance(r.get("pegs"), int) and "duration_s" in (record.get("options") or {}):
        return float(r["pegs"]), "pegs", True
    if isinstance(r.get("reps"), int) and record.get("protocol") == "free-practice":
        return float(r["reps"]), "reps", True
    s = trial_seconds(record)
    return (s, "seconds", False) if s is not None else None


def _comparable(a: dict, b: dict) -> bool:
    return (a.get("protocol") == b.get("protocol")
            and (a.get("side") or a.get("hand")) == (b.get("side") or b.get("hand"))
            and (a.get("options") or {}) == (b.get("options") or {}))


def counts_for_best(record: dict) -> bool:
    """A finished, valid, scored, non-practice trial."""
    return (record.get("status", (record.get("result") or {}).get("status")) == "complete"
            and not record.get("invalid") and not record.get("practice") and score_of(record) is not None)


def previous_best(record: dict, history: list[dict]) -> float | None:
    """The patient's best earlier score on the same protocol, options and hand."""
    best = None
    for old in history:
        if old.get("trial_id") == record.get("trial_id") or not counts_for_best(old) or not _comparable(old, record):
            continue
        value, _, higher = score_of(old)  # type: ignore[misc]
        if best is None or (value > best if higher else value < best):
            best = value
    return best


def _fmt(value: float, unit: str) -> str:
    return f"{value:.1f} seconds" if unit == "seconds" else f"{value:g} {unit}"


def result_message(record: dict, history: list[dict]) -> str:
    """What the patient reads at the end of a trial: the result next to their best, calmly."""
    status = record.get("status") or (record.get("result") or {}).get("status")
    if status == "aborted":
        return "This trial was stopped. Take a breath; we can try again whenever you are ready."
    if status == "storage_full":
        return "This trial could not be kept: the station's storage is full. Please tell your therapist."
    if status == "timeout":
        return "Time is up for this one. That is fine: every try is practice. Rest a moment."
    score = score_of(record)
    if status != "complete" or score is None:
        return "This trial did not finish. No matter: rest a moment and we will carry on."
    value, unit, higher = score
    hand = HAND_WORDS.get(record.get("side") or record.get("hand") or "", "")
    done = f"Done: {_fmt(value, unit)}" + (f" with your {hand}." if hand else ".")
    if record.get("practice"):
        return f"{done} That was a practice run. Well done."
    best = previous_best(record, history)
    if best is None:
        return f"{done} That is your first result here. Well done."
    better = value > best if higher else value < best
    if better:
        return f"{done} Your best before was {_fmt(best, unit)}: a new best. Well done."
    if value == best:
        return f"{done} That matches your best of {_fmt(best, unit)}. Well done."
    return f"{done} Your best so far is {_fmt(best, unit)}. Steady work: take a short rest."


def peg_splits(record: dict) -> list[tuple[str, float]]:
    """Seconds from each seated peg to the next (the first from the trial's start).

    The protocol's own ``place_intervals_s`` when the result has them (see
    station/results.py), else the record's ``peg_in`` event times; label ``"1"``
    is the first peg seated, whichever hole it went into.
    """
    intervals = (record.get("result") or {}).get("place_intervals_s")
    if isinstance(intervals, list) and intervals and all(isinstance(x, (int, float)) for x in intervals):
        return [(str(i), round(float(x), 3)) for i, x in enumerate(intervals, 1)]
    events = [e for e in record.get("events") or [] if isinstance(e, dict) and isinstance(e.get("t"), (int, float))]
    ins = [e["t"] for e in events if e.get("kind") == "peg_in"]
    if not ins:
        return []
    start = (record.get("result") or {}).get("start_t")
    prev = start if isinstance(start, (int, float)) and start <= ins[0] else events[0]["t"]
    out = []
    for i, t in enumerate(ins, 1):
        out.append((str(i), round(t - prev, 3)))
        prev = t
    return out


@dataclass
class History:
    """A patient's saved trials as the daemon's ``results`` command returns them (newest first)."""

    patient: dict | None = None
    tests: list[dict] = field(default_factory=list)
    trials: list[dict] = field(default_factory=list)

    def progress(self) -> Progress:
        """What the progress plot draws: per hand, the mean of each test of the latest test's protocol.

        Tests without a scored summary (older records) fall back to the valid
        trials themselves, counted one by one.
        """
        # a test counts once a hand has a mean: one just started (no trial yet) must not
        # hide the history behind an empty "test by test" chart
        scored = [t for t in reversed(self.tests) if _has_a_mean(t)]
        if scored:
            protocol = scored[-1].get("protocol")
            mine = [t for t in scored if t.get("protocol") == protocol]
            series: dict[str, list[tuple[int, float]]] = {}
            for x, test in enumerate(mine, 1):
                for hand, hs in test["summary"]["hands"].items():
                    mean = hs.get("mean") if isinstance(hs, dict) else None
                    if isinstance(mean, (int, float)):
                        series.setdefault(hand, []).append((x, float(mean)))
            return Progress(protocol, str(mine[-1]["summary"].get("unit") or "s"), "test", len(mine), series)
        series = {}
        for rec in reversed(self.trials):
            if not counts_for_best(rec):
                continue
            hand = rec.get("side") or rec.get("hand") or "?"
            points = series.setdefault(hand, [])
            points.append((len(points) + 1, score_of(rec)[0]))  # type: ignore[index]
        return Progress(None, "s", "trial", max((len(v) for v in series.values()), default=0), series)


def _has_a_mean(test: dict) -> bool:
    summary = test.get("summary")
    hands = summary.get("hands") if isinstance(summary, dict) else None
    return isinstance(hands, dict) and any(isinstance(hs, dict) and isinstance(hs.get("mean"), (int, float))
                                           for hs in hands.values())


@dataclass(frozen=True)
class Progress:
    """The progress plot's data: per hand, (test or trial number, value) oldest first."""

    protocol: str | None
    unit: str
    per: str  # "test" (a test's mean per hand) or "trial" (records without a summary)
    count: int
    series: dict[str, list[tuple[int, float]]]


@dataclass
class LiveCount:
    """Pegs seated, insert-then-remove reps and the most coins on the tray since the trial was armed."""

    seated: set[int] = field(default_factory=set)
    pegs_in: int = 0
    reps: int = 0
    tray_max: int = 0

    def apply(self, event: dict) -> None:
        hole, kind = event.get("hole"), event.get("kind")
        if kind == "tray" and isinstance(event.get("count"), int):
            self.tray_max = max(self.tray_max, event["count"])
        if not isinstance(hole, int):
            return
        if kind == "peg_in":
            self.pegs_in += 1
            self.seated.add(hole)
        elif kind == "peg_out" and hole in self.seated:
            self.seated.discard(hole)
            self.reps += 1


def live_count(protocol: str | None, live: LiveCount, board: BoardSnapshot) -> tuple[int, str]:
    """The number next to the timer and its caption, by protocol."""
    if protocol == "coin-drop":
        return board.count("tray") or 0, "coins on the tray"
    if protocol == "timed-pegs":
        return live.pegs_in, "pegs placed"
    if protocol == "free-practice":
        return live.reps, "reps"
    return len(board.occupied), "pegs in the board"


def incidents_said(record: dict) -> str:
    """What went against the task during a trial (the protocol's ``incidents``), one line each; "" if nothing."""
    incidents = (record.get("result") or {}).get("incidents")
    if not isinstance(incidents, list):
        return ""
    return "\n".join(str(i.get("detail") or i.get("kind")) for i in incidents if isinstance(i, dict))


PICKUP_INSTRUCTION = "Now pick the coins up from the tray, one at a time."


def instruction(trial: dict | None, live: LiveCount) -> str:
    """What the patient is asked to do now; coin drop changes once the tray has held every coin."""
    protocol = (trial or {}).get("protocol") or ""
    if protocol == "coin-drop":
        coins = ((trial or {}).get("options") or {}).get("coins")
        if isinstance(coins, int) and live.tray_max >= coins:
            return PICKUP_INSTRUCTION
    return INSTRUCTIONS.get(protocol, "Keep going.")


INSTRUCTIONS = {
    "nine-hole-peg": "Place each peg in a hole, then put them all back in the dish.",
    "coin-drop": "Put the coins on the tray, one at a time.",
    "timed-pegs": "Place as many pegs as you can.",
    "free-practice": "Take your time: put a peg in, take it out.",
}
