"""UTC time as zoomops writes it: ISO 8601 to the second, and the daily-limit reset."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], float]  # epoch seconds; time.time in production, a fixed or stepping clock in tests


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def utc_now(clock: Clock = time.time) -> str:
    return iso(clock())


def next_utc_midnight(now: datetime) -> datetime:
    """Zoom's daily limits reset at 00:00 UTC."""
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def run_stamp(epoch: float) -> str:
    """``20260920T101500123Z``: a run id prefix that sorts by time (milliseconds included)."""
    now = datetime.fromtimestamp(epoch, UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"
