"""The jobs table: one item per job (whatever started it), accepted batches as a number set.

Jobs are listed newest first through the sparse index ``by-time`` (hash ``listed`` = "job", range
``created_key`` = "<created, in ns>#<job id>"): only job records carry those two attributes, so token leases and
other bookkeeping in the same table never show up in a list.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from ..clock import utc_now
from ..jobs.progress import Every

COUNTS = ("total_rows", "sent", "planned", "rejected", "duplicates", "failed", "batches")
LIST_INDEX = "by-time"
LISTED = "job"


class JobStore:
    def __init__(self, table: str, client):
        self.table = table
        self._db = client

    def start(self, job_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        """Create the job, or mark an existing one running again; returns the stored item."""
        now = utc_now()
        names = {
            "#s": "state",
            "#a": "attempts",
            "#u": "updated_at",
            "#c": "created_at",
            "#l": "listed",
            "#k": "created_key",
        }
        values: dict[str, Any] = {
            ":running": {"S": "running"},
            ":one": {"N": "1"},
            ":now": {"S": now},
            ":listed": {"S": LISTED},
            ":key": {"S": f"{now}#{job_id}"},
        }
        sets = [
            "#s = :running",
            "#u = :now",
            "#c = if_not_exists(#c, :now)",
            "#l = :listed",
            "#k = if_not_exists(#k, :key)",
        ]
        for i, (name, value) in enumerate(sorted(attributes.items())):
            names[f"#k{i}"] = name
            values[f":v{i}"] = to_attr(value)
            sets.append(f"#k{i} = if_not_exists(#k{i}, :v{i})")
        item = self._db.update_item(
            TableName=self.table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET " + ", ".join(sets) + " ADD #a :one",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return {k: from_attr(v) for k, v in item.items()}

    def create(self, job_id: str, attributes: dict[str, Any]) -> None:
        """A new job in state ``queued`` (fails if the id exists)."""
        now = utc_now()
        item = {
            "job_id": {"S": job_id},
            "state": {"S": "queued"},
            "created_at": {"S": now},
            "updated_at": {"S": now},
            "listed": {"S": LISTED},
            "created_key": {"S": _created_key(job_id)},
            **{k: to_attr(v) for k, v in attributes.items()},
        }
        self._db.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(job_id)")

    def set(self, job_id: str, **fields: Any) -> None:
        """Set some attributes of an existing job (progress, state, results)."""
        fields["updated_at"] = utc_now()
        self._db.update_item(
            TableName=self.table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
            ExpressionAttributeNames={f"#f{i}": name for i, name in enumerate(fields)},
            ExpressionAttributeValues={f":f{i}": to_attr(value) for i, value in enumerate(fields.values())},
        )

    def end_unless_finished(self, job_id: str, **fields: Any) -> bool:
        """Set ``fields`` (a terminal state and why) on a job that exists and has not finished; False when it had
        (one conditional UpdateItem: no read, so a caller needs no GetItem)."""
        fields["updated_at"] = utc_now()
        try:
            self._db.update_item(
                TableName=self.table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression="attribute_exists(job_id) AND attribute_not_exists(finished_at)",
                ExpressionAttributeNames={f"#f{i}": name for i, name in enumerate(fields)},
                ExpressionAttributeValues={f":f{i}": to_attr(value) for i, value in enumerate(fields.values())},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, job_id: str) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self.table, Key={"job_id": {"S": job_id}}, ConsistentRead=True)
        found = item.get("Item")
        return {k: from_attr(v) for k, v in found.items()} if found else None

    def list(
        self, *, kind: str | None = None, state: str | None = None, limit: int = 50, after: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` jobs, newest first, of this kind and state; and the token of the next page."""
        names, values, filters = {"#l": "listed"}, {":l": {"S": LISTED}}, []
        for attribute, wanted in (("kind", kind), ("state", state)):
            if wanted:
                names[f"#{attribute}"] = attribute
                values[f":{attribute}"] = {"S": wanted}
                filters.append(f"#{attribute} = :{attribute}")
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": LIST_INDEX,
            "ScanIndexForward": False,
            "KeyConditionExpression": "#l = :l",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        found: list[dict[str, Any]] = []
        start = _token_key(after)
        while len(found) < limit:
            page = self._db.query(**query, Limit=limit - len(found), **({"ExclusiveStartKey": start} if start else {}))
            found += [{k: from_attr(v) for k, v in item.items()} for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return found, _key_token(start) if start else None

    def checkpoint(self, job_id: str) -> JobCheckpoint:
        return JobCheckpoint(self, job_id)

    def update(self, job_id: str, summary: Any, *, state: str | None = None, **extra: Any) -> None:
        """The run's counts (and state, results) into the job record."""
        fields: dict[str, Any] = {name: getattr(summary, name) for name in COUNTS}
        if state:
            fields["state"] = state
        self.set(job_id, **fields, **extra)

    def add_number(self, job_id: str, attribute: str, number: int) -> None:
        self._db.update_item(
            TableName=self.table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="ADD #n :b SET updated_at = :now",
            ExpressionAttributeNames={"#n": attribute},
            ExpressionAttributeValues={":b": {"NS": [str(number)]}, ":now": {"S": utc_now()}},
        )


class JobCheckpoint:
    """The batches LTI Pro accepted, kept on the job record."""

    def __init__(self, store: JobStore, job_id: str):
        self._store, self._job_id = store, job_id

    def accepted_batches(self) -> set[int]:
        item = self._store.get(self._job_id) or {}
        return set(item.get("accepted_batches", set()))

    def mark_accepted(self, batch: int) -> None:
        self._store.add_number(self._job_id, "accepted_batches", batch)


class ThrottledProgress:
    """Writes a run's counts to the job record per batch, at most every ``interval`` seconds."""

    def __init__(self, store: JobStore, job_id: str, interval: float = 2.0, **every: Any):
        self._store, self._job_id, self._due = store, job_id, Every(interval, **every)

    def __call__(self, summary: Any, batches_done: int) -> None:
        if self._due():
            self._store.update(self._job_id, summary)


def _created_key(job_id: str) -> str:
    """Sorts by creation time to the nanosecond (jobs made in the same second keep their order)."""
    return f"{time.time_ns():020d}#{job_id}"


def _key_token(key: dict[str, Any]) -> str:
    """A page's continuation as an opaque URL-safe token."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _token_key(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    from ..errors import NotFound

    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(key, dict) and set(key) == {"job_id", "listed", "created_key"}:
            return key
    except ValueError:
        pass
    raise NotFound("no such page: next must be a token a list answered")


def to_attr(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attr(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: to_attr(v) for k, v in value.items()}}
    return {"S": str(value)}


def from_attr(attr: dict[str, Any]) -> Any:
    ((kind, value),) = attr.items()
    if kind == "N":
        return int(value) if value.lstrip("-").isdigit() else float(value)
    if kind == "NS":
        return {int(v) for v in value}
    if kind == "L":
        return [from_attr(v) for v in value]
    if kind == "M":
        return {k: from_attr(v) for k, v in value.items()}
    if kind == "NULL":
        return None
    return value
