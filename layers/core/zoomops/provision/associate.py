"""Stage three of provisioning: tie each meeting to its LMS course through LTI Pro.

``csv`` (the default): the rows go into import files of at most 1000 data rows, ready for LTI Pro's "Import
CSV"; ``api``: LTI Pro's ``POST /meeting/bulkImport`` in batches of at most 400, signed per attempt (the
admin userId signed as for removal), each row's outcome stated, and the course it was imported into
remembered so an unchanged row is not imported again; ``none``: nothing. Zoom's article warns that LTI Pro's
"Auto Populate Alternative Host" setting must be off while importing, or a credential kept only for imports.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ..lti import MAX_BATCH
from ..lti.signing import LtiCredentials, encode_body, sign_call
from .ledger import Ledger
from .plan import Row

IMPORT_ROWS = 1000  # LTI Pro's import CSV limit
IMPORT_PATH = "/meeting/bulkImport"
IMPORT_FAILED = "import failed"
AUTO_POPULATE_WARNING = (
    'LTI Pro\'s "Auto Populate Alternative Host" setting must be off while these meetings are imported (or use a '
    "credential kept only for imports): otherwise the importing admin becomes an alternative host of each"
)


def course_of(row: Row) -> dict[str, str] | None:
    course = row.spec.course if row.spec is not None else {}
    if row.meeting_id and course.get("context_id") and course.get("domain"):
        return {
            "context_id": course["context_id"],
            "domain": course["domain"],
            "course_id": course.get("course_id", ""),
        }
    return None


def import_files(rows: list[Row]) -> list[list[Row]]:
    """The rows with a meeting and a course, a file's worth (1000) at a time; each row says its file."""
    ready = [row for row in rows if course_of(row) is not None]
    files = [ready[i : i + IMPORT_ROWS] for i in range(0, len(ready), IMPORT_ROWS)]
    for number, batch in enumerate(files, 1):
        for row in batch:
            row.association = f"lti-import-{number:03d}.csv"
    return files


def item(row: Row) -> dict[str, str]:
    course = course_of(row)
    assert course is not None
    found = {
        "meetingId": row.meeting_id or f"<meeting of line {row.line}>",
        "contextId": course["context_id"],
        "domain": course["domain"].rstrip("/"),
    }
    return found | ({"courseId": course["course_id"]} if course["course_id"] else {})


class ApiImport:
    """The rows' associations through LTI Pro's import API (or, on a dry run, the calls that would be made)."""

    def __init__(
        self,
        creds: LtiCredentials,
        ledger: Ledger,
        *,
        sender=None,
        user_id: str | None = None,
        dry_run: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        self.creds, self.ledger, self.sender, self.user_id = creds, ledger, sender, user_id
        self.dry_run, self.clock = dry_run, clock
        self.planned: list[str] = []  # requests.jsonl lines of a dry run

    def run(self, rows: list[Row]) -> None:
        todo = []
        for row in rows:
            course = course_of(row)
            if course is None:
                continue
            if row.entry is not None and row.entry.associated == course and row.status == "unchanged":
                row.association = "already imported"
            else:
                todo.append(row)
        for start in range(0, len(todo), MAX_BATCH):
            self._batch(todo[start : start + MAX_BATCH], start // MAX_BATCH)

    def _batch(self, rows: list[Row], number: int) -> None:
        body = encode_body([item(row) for row in rows], self.user_id)
        if self.dry_run:
            call = sign_call(self.creds, body, self.clock(), user_id=self.user_id, method="POST", path=IMPORT_PATH)
            self.planned.append(json.dumps({"kind": "lti", **json.loads(call.as_record(number))}))
            for row in rows:
                row.association = "planned"
            return
        result = self.sender.send(body, user_id=self.user_id)
        for row in rows:
            row.association = "imported" if result.ok else f"{IMPORT_FAILED}: {result.message}"
            if result.ok and row.entry is not None:
                row.entry.associated = course_of(row)
                self.ledger.put(row.entry)


def planned_platform_requests(rows: list[Row], plans: dict[int, list[Any]], provider: str) -> list[str]:
    """requests.jsonl lines for the platform calls a dry run would make (never a key or token)."""
    lines = []
    for row in rows:
        for request in plans.get(row.line, []):
            lines.append(
                json.dumps(
                    {
                        "kind": provider,
                        "line": row.line,
                        "key": row.key,
                        "method": request.method,
                        "url": request.url,
                        "body": request.body,
                        "note": request.note,
                    }
                )
            )
    return lines
