"""Report files: where each goes (keys), how rows become CSV, a folder sink and the CLI's file manifest."""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from ...jobs.results import cell

REGISTRANT_STATUSES = ("approved", "pending", "denied")
PARTICIPANT_FIELDS = (
    "id",
    "user_id",
    "name",
    "user_email",
    "join_time",
    "leave_time",
    "duration",
    "failover",
    "status",
    "registrant_id",
    "participant_user_id",
    "bo_mtg_id",
)
# Roll-ups join on meeting_id + instance_uuid, and on instance_file with the per-instance files: instance_uuid
# is formula-guarded like every cell (a UUID may begin with "+" or "/": one beginning with "+" gets a leading '),
# so joining with the raw UUIDs of the per-instance JSON goes through instance_file, the files' own key
# ("participants/meeting=<id>/date=<day>/<uuid as base64url>"), which can never start a formula.
ATTENDANCE_FIELDS = (
    "meeting_id",
    "instance_uuid",
    "instance_file",
    "start_time",
    "participant",
    "name",
    "email",
    "first_join",
    "last_leave",
    "total_minutes",
    "sessions",
    "device",
    "location",
    "single_participant",
)
INSTANCE_FIELDS = (
    "meeting_id",
    "instance_uuid",
    "instance_file",
    "start_time",
    "unique_participants",
    "total_minutes",
    "single_participant",
    "source",
)


class Sink(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...


class Manifest(Protocol):
    def done(self, instance_uuid: str) -> dict[str, Any] | None:
        """What was recorded when the instance was written (its ``run`` among it), or None."""
        ...

    def mark_done(self, instance_uuid: str, info: dict[str, Any]) -> None: ...

    def resume_after(self) -> str | None: ...

    def set_resume_after(self, when: str | None, *, passed: str | None = None) -> None:
        """Record when Zoom's daily limit lets requests go on; None clears it (``passed``: only if that time
        is not later than this, so a run that ended clears no stop another run recorded meanwhile)."""
        ...


class FolderSink:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


class FileManifest:
    """The manifest as one JSON file (the CLI's): finished instances and the resume time."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data = json.loads(self.path.read_text()) if self.path.exists() else {"done": {}, "resume_after": None}

    def done(self, instance_uuid: str) -> dict[str, Any] | None:
        return self._data["done"].get(instance_uuid)

    def mark_done(self, instance_uuid: str, info: dict[str, Any]) -> None:
        with self._lock:
            self._data["done"][instance_uuid] = info
            self._save()

    def resume_after(self) -> str | None:
        return self._data.get("resume_after")

    def set_resume_after(self, when: str | None, *, passed: str | None = None) -> None:
        with self._lock:
            stored = self._data.get("resume_after")
            if when is None and passed is not None and stored and _at(stored) > _at(passed):
                return
            self._data["resume_after"] = when
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._data, indent=1, sort_keys=True))
        tmp.replace(self.path)


def instance_key(meeting_id: str, start_time: str, uuid: str) -> str:
    """``participants/meeting=<id>/date=<day>/<uuid, base64url>``: safe in any S3 key or path."""
    day = start_time[:10] or "unknown"
    safe = base64.urlsafe_b64encode(uuid.encode()).decode().rstrip("=")
    return f"participants/meeting={meeting_id}/date={day}/{safe}"


def csv_bytes(rows: Iterable[dict], fields: Iterable[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(v) if isinstance(v, str) else v for k, v in row.items()})
    return buffer.getvalue().encode()


def _at(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)
