"""Shared helpers for the zoomops unit tests (imported by the tests and conftest).

Builds CSV files as bytes, runs :func:`zoomops.disassociate.run` on them and
reads every result file back, so each test asserts on what a user would see.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from zoomops.lti import disassociate
from zoomops.lti.client import BatchResult
from zoomops.lti.disassociate import result_files
from zoomops.lti.signing import LtiCredentials

KEY = "KLAIJC9OTI2Hm-vxn3UVHK"
SECRET = "S3CRET-xyzzy-42"
HEADER = "Meeting ID,Context ID,Domain,custom_canvas_course_id"
TEMPLATE_HEADER = ["Meeting ID", "Context ID", "Domain", "custom_canvas_course_id"]
ROWS_HEADER = ["line", "meeting_id", "context_id", "domain", "course_id", "status", "reason"]
DOMAIN = "https://lms.example.edu"

# A dry run never reaches the network: the URL only goes into requests.jsonl.
DRY_CREDS = LtiCredentials(key=KEY, secret=SECRET, base_url="http://127.0.0.1:9/api/v1/lti/rich")

_counter = itertools.count()


def csv_bytes(*lines: str, header: str | None = HEADER, eol: str = "\n", encoding: str = "utf-8") -> bytes:
    """Lines joined with ``eol`` (and a final ``eol``), the template header first."""
    all_lines = ([header] if header is not None else []) + list(lines)
    return (eol.join(all_lines) + eol).encode(encoding)


def meeting(n: int) -> str:
    """A distinct valid 10-digit meeting ID."""
    return str(1_000_000_000 + n)


def valid_rows(count: int, *, start: int = 0, context: str = "ctx-1") -> list[str]:
    return [f"{meeting(i)},{context},{DOMAIN}," for i in range(start, start + count)]


@dataclass
class RunResult:
    summary: object
    dir: Path
    summary_json: dict
    rows: list[dict]
    rows_raw: list[list[str]]
    retry: list[list[str]]
    requests: list[dict] = field(default_factory=list)

    def by_line(self) -> dict[int, dict]:
        return {int(r["line"]): r for r in self.rows}

    def statuses(self) -> list[str]:
        return [r["status"] for r in self.rows]


def read_result(directory: Path, summary) -> RunResult:
    with open(directory / "rows.csv", newline="", encoding="utf-8") as fh:
        rows_raw = list(csv.reader(fh))
    with open(directory / "retry.csv", newline="", encoding="utf-8") as fh:
        retry = list(csv.reader(fh))
    summary_json = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
    requests = []
    jsonl = directory / "requests.jsonl"
    if jsonl.exists():
        text = jsonl.read_text(encoding="utf-8")
        assert text == "" or text.endswith("\n")
        requests = [json.loads(line) for line in text.split("\n")[:-1]]  # JSON Lines: "\n" only
    assert rows_raw[0] == ROWS_HEADER
    assert retry[0] == TEMPLATE_HEADER
    rows = [dict(zip(ROWS_HEADER, r)) for r in rows_raw[1:]]
    return RunResult(summary, directory, summary_json, rows, rows_raw, retry[1:], requests)


def run_file(
    tmp_path: Path,
    data: bytes,
    *,
    dry_run: bool = True,
    batch_size: int = 400,
    user_id: str | None = None,
    sender=None,
    creds: LtiCredentials | None = None,
    name: str = "input.csv",
    **kwargs,
) -> RunResult:
    """Write ``data`` to a file in tmp_path, run it, and read all result files back."""
    n = next(_counter)
    source = tmp_path / f"in-{n}" / name
    source.parent.mkdir(parents=True)
    source.write_bytes(data)
    out_dir = tmp_path / f"out-{n}"
    files = result_files(out_dir, dry_run=dry_run)
    options = disassociate.Options(dry_run=dry_run, user_id=user_id, batch_size=batch_size)
    with source.open("rb") as stream:
        summary = disassociate.run(stream, name, files, options, sender=sender, creds=creds or DRY_CREDS, **kwargs)
    return read_result(out_dir, summary)


class RecordingSender:
    """A sender that records every body and answers from a script (default: accepted)."""

    def __init__(self, *results: BatchResult):
        self.bodies: list = []
        self._results = list(results)

    def send(self, body: bytes, time_left=None, user_id=None) -> BatchResult:
        self.bodies.append(json.loads(body))
        if self._results:
            return self._results.pop(0)
        return BatchResult(True, "Processing Bulk Disassociate", 1, 200)

    def items(self) -> list[dict]:
        out = []
        for body in self.bodies:
            out.extend(body["meetingList"] if isinstance(body, dict) else body)
        return out


class FailingSender(RecordingSender):
    """Every batch fails (not an auth failure)."""

    def __init__(self, message: str = "LTI Pro answered: boom"):
        super().__init__()
        self.message = message

    def send(self, body: bytes, time_left=None, user_id=None) -> BatchResult:
        self.bodies.append(json.loads(body))
        return BatchResult(False, self.message, 1, 200)


class MemoryCheckpoint:
    def __init__(self, accepted: set[int] | None = None):
        self.accepted = set(accepted or ())
        self.marked: list[int] = []

    def accepted_batches(self) -> set[int]:
        return set(self.accepted)

    def mark_accepted(self, batch: int) -> None:
        self.accepted.add(batch)
        self.marked.append(batch)


class StepClock:
    """A clock near real time that moves ``step`` seconds on every call."""

    def __init__(self, start: float, step: float = 1.0):
        self.now = start
        self.step = step
        self.calls: list[float] = []

    def __call__(self) -> float:
        value = self.now
        self.calls.append(value)
        self.now += self.step
        return value


class SleepRecorder:
    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# -- files, as a user would read them ---------------------------------------------------------------
def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def rows_of(results: dict[str, bytes], name: str = "rows.csv") -> list[dict]:
    """A result file's rows, from the bytes a run left in S3 (``LocalStack.results``)."""
    return list(csv.DictReader(io.StringIO(results[name].decode())))


def participant_files(out: Path) -> list[Path]:
    return sorted((out / "participants").rglob("*.*")) if (out / "participants").exists() else []


def meetings_csv(
    count: int, start: int = 81_000_000_000, *, course: str = "course", per_course: int = 10, course_base: int = 1000
) -> bytes:
    """An import-template CSV of ``count`` meetings, ``per_course`` to a course."""
    lines = [
        f"{start + i},{course}-{i // per_course},https://canvas.example.edu,{course_base + i // per_course}"
        for i in range(count)
    ]
    return (HEADER + "\n" + "\n".join(lines) + "\n").encode()


def runs_out_after(zoom, medium_calls: int, context):
    """``context`` with its time up once it has seen ``medium_calls`` more medium-category Zoom calls."""
    start = len(zoom.api_requests)
    context.get_remaining_time_in_millis = lambda: (
        100_000 if sum(r["category"] == "medium" for r in zoom.api_requests[start:]) < medium_calls else 1_000
    )
    return context


def http_date(epoch: float) -> str:
    """An HTTP date (``Retry-After``'s other form)."""
    import email.utils
    from datetime import UTC, datetime

    return email.utils.format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


class ZoomSimTokens:
    """A TokenSource on a Zoom simulator's OAuth endpoint, for a ZoomClient in tests: ``token()`` answers the
    token it holds, ``force=True`` (the client's re-read after a 401) asks the simulator for a new one."""

    def __init__(self, sim, account_id: str, client_id: str, client_secret: str, clock=None):
        import time

        self._sim, self._account, self._auth = sim, account_id, (client_id, client_secret)
        self._clock = clock or time.time
        self._token = None
        self.issued: list[str] = []  # every access token handed out (for secret-hygiene searches)

    def token(self, *, force: bool = False):
        import requests

        from zoomops.zoom.client import Token

        if force or self._token is None:
            answer = requests.post(
                f"{self._sim.base_url}/oauth/token",
                data={"grant_type": "account_credentials", "account_id": self._account},
                auth=self._auth,
                timeout=5,
            )
            answer.raise_for_status()
            body = answer.json()
            self.issued.append(body["access_token"])
            self._token = Token(body["access_token"], body["api_url"], self._clock() + body["expires_in"])
        return self._token


class Terminal:
    """A command on a pseudo-terminal of its own (no controlling terminal): what a person at a prompt sees.
    ``read_until`` waits for text (30 s), ``type`` answers a prompt; everything shown stays in ``shown``."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        import os
        import pty
        import subprocess

        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )  # start_new_session: no controlling terminal
        os.close(slave)
        self.shown = b""

    def read_until(self, marker: bytes) -> None:
        import os
        import select
        import time

        deadline = time.monotonic() + 30
        while marker not in self.shown and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.shown += os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    return
        assert marker in self.shown, self.shown

    def type(self, text: str) -> None:
        import os

        os.write(self.master, f"{text}\n".encode())

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc) -> None:
        import os

        if self.proc.poll() is None:
            self.proc.kill()
        os.close(self.master)
