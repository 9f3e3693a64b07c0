"""What every command shares: exit statuses, one place that turns an error into a message and a status,
and the terminal progress throttle."""

from __future__ import annotations

import sys

from ..errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_STOPPED, EXIT_UNAVAILABLE, ZoomopsError  # noqa: F401
from ..jobs.progress import Every


def fail(error: BaseException | str, *, status: int | None = None, suffix: str = "") -> int:
    """Print one line for an expected failure and return its exit status (the error's own by default)."""
    print(f"zoomops: {error}{suffix}", file=sys.stderr)
    if status is not None:
        return status
    return error.exit_status if isinstance(error, ZoomopsError) else EXIT_REFUSED


def every_second() -> Every:
    """Terminal progress: a line at most every second, the first once a second has passed."""
    return Every(1.0, first=False)
