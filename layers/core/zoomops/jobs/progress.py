"""The one throttle for progress: a job record or a terminal line updated at most every so often."""

from __future__ import annotations

import time
from collections.abc import Callable


class Every:
    """Calling it answers True at most once per ``interval`` seconds (the first call too, unless
    ``first=False``: then only once an interval has passed)."""

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic, first: bool = True):
        self._interval, self._clock = interval, clock
        self._last = float("-inf") if first else clock()

    def __call__(self) -> bool:
        now = self._clock()
        if now - self._last < self._interval:
            return False
        self._last = now
        return True
