"""Log lines that can repeat every tick, limited to one per key per interval.

A full disk or a failing card makes every 20 ms tick fail the same way; a
traceback each time would flood the journal (and fill the very disk that is
full). ``LogLimiter.log`` says the first occurrence of a key, then at most one
line per ``interval_s`` with how many were held back.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import Any


class LogLimiter:
    """``log(key, level, msg, *args, exc_info=...)``: logged unless ``key`` was logged within ``interval_s``."""

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def log(self, key: Hashable, level: int, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """Log now (True) or count it as held back (False)."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        held = self._held.pop(key, 0)
        if held:
            msg += f" ({held} more like this in the last {self.interval_s:g} s not logged)"
        self._last[key] = now
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True
