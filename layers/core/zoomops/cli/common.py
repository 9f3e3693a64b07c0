"""What every command shares: exit statuses, one place that turns an error into one line and a status,
the help text's environment and exit-status sections, clean stops on signals, and progress."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import IO, Any

from ..errors import (  # noqa: F401 - the exit statuses are part of this module's interface
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_STOPPED,
    EXIT_UNAVAILABLE,
    Refused,
    Unavailable,
    ZoomopsError,
)
from ..jobs.progress import Every


def fail(error: BaseException | str, *, status: int | None = None, suffix: str = "") -> int:
    """Print one line for an expected failure and return its exit status (the error's own by default)."""
    print(f"zoomops: {error}{suffix}", file=sys.stderr)
    if status is not None:
        return status
    return error.exit_status if isinstance(error, ZoomopsError) else EXIT_REFUSED


def aws_failure(exc: BaseException) -> Unavailable | None:
    """An AWS SDK failure as one line naming what to fix (no region, no credentials, unreachable endpoint,
    a missing table or secret), or None when ``exc`` is not one."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    if isinstance(exc, NoRegionError):
        return Unavailable("AWS: no region is set (set AWS_REGION or AWS_DEFAULT_REGION, or use a profile with one)")
    if isinstance(exc, NoCredentialsError):
        return Unavailable("AWS: no credentials found (set AWS_PROFILE or the AWS_ACCESS_KEY_ID/… variables)")
    if isinstance(exc, EndpointConnectionError):
        return Unavailable(f"AWS could not be reached: {exc}")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        what = exc.operation_name
        return Unavailable(f"AWS refused {what}: {error.get('Code')}: {error.get('Message')}")
    if isinstance(exc, BotoCoreError):
        return Unavailable(f"AWS: {exc}")
    return None


def every_second() -> Every:
    """Plain progress lines: at most one a second, the first once a second has passed."""
    return Every(1.0, first=False)


def writable_folder(path: Path) -> None:
    """Refuse an --out that cannot be written, before any work is done."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".zoomops-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise Refused(f"--out {path}: cannot write there ({exc.strerror or exc})") from None


def epilog(environment: dict[str, str], exits: dict[int, str]) -> str:
    """The help text's closing sections: the variables a command reads and its exit statuses."""
    lines = ["environment:"] if environment else []
    lines += [f"  {name:<30} {meaning}" for name, meaning in environment.items()]
    lines += ["", "exit status:"] + [f"  {code}  {meaning}" for code, meaning in sorted(exits.items())]
    return "\n".join(lines)


class Signals:
    """While active, SIGINT and SIGTERM ask the run to stop (it finishes the batch in flight, records the rest
    as not sent and writes every result file); a second Ctrl-C interrupts the batch in flight too."""

    def __init__(self) -> None:
        self._reason: str | None = None
        self._previous: dict[int, Any] = {}

    def reason(self) -> str | None:
        return self._reason

    def _handle(self, signum: int, frame: Any) -> None:
        if self._reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self._reason = "interrupted by Ctrl-C" if signum == signal.SIGINT else "stopped by SIGTERM"
        print(
            f"\nzoomops: {self._reason}: finishing the batch in flight, then writing the results "
            f"(Ctrl-C again to stop now)",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> Signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class Progress:
    """A run's progress on stderr: a tqdm bar (bytes read, rows, batches, rate, time left) on a terminal;
    otherwise a plain line at most every second, as a log file wants it."""

    def __init__(self, stream: IO[bytes], unit: str, *, out: IO[str] | None = None, interval: float = 1.0):
        self._stream, self._unit, self._out = stream, unit, out or sys.stderr
        self._due = Every(interval, first=False)
        self._bar: Any = None
        self._started = time.monotonic()
        if self._out.isatty():
            from tqdm import tqdm

            total = _size(stream)
            self._bar = tqdm(
                total=total, unit="B", unit_scale=True, file=self._out, dynamic_ncols=True, desc="reading", leave=True
            )

    def update(self, summary: Any, done: int) -> None:
        if self._bar is not None:
            self._bar.n = _position(self._stream)
            rate = summary.total_rows / max(time.monotonic() - self._started, 1e-6)
            self._bar.set_postfix_str(f"{summary.total_rows} rows, {done} {self._unit}, {rate:,.0f} rows/s", False)
            self._bar.refresh()
        elif self._due():
            print(
                f"  {summary.total_rows} rows read, batch {done}: sent {summary.sent}, planned "
                f"{summary.planned}, rejected {summary.rejected}, duplicates {summary.duplicates}, "
                f"failed {summary.failed}",
                file=self._out,
                flush=True,
            )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.n = self._bar.total or self._bar.n
            self._bar.close()


def _size(stream: IO[bytes]) -> int | None:
    try:
        import os

        return os.fstat(stream.fileno()).st_size
    except (OSError, ValueError, AttributeError):
        return None


def _position(stream: IO[bytes]) -> int:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return 0
