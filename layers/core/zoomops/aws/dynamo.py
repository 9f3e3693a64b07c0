"""DynamoDB adapters beside the job store: short exclusive leases and the report manifest."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any


class DynamoLease:
    """A short exclusive lease in the jobs table (conditional put; expired leases are taken over)."""

    def __init__(self, table: str, client, *, clock: Callable[[], float] = time.time):
        self._table, self._db, self._clock = table, client, clock
        self._owner = str(uuid.uuid4())

    def acquire(self, name: str, ttl: int) -> bool:
        now = self._clock()
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "job_id": {"S": name},
                    "owner": {"S": self._owner},
                    "lease_until": {"N": str(int(now + ttl))},
                    "expiration": {"N": str(int(now + ttl + 3600))},
                },
                ConditionExpression="attribute_not_exists(job_id) OR lease_until < :now OR #o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": {"N": str(int(now))}, ":me": {"S": self._owner}},
            )
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def release(self, name: str) -> None:
        with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
            self._db.delete_item(
                TableName=self._table,
                Key={"job_id": {"S": name}},
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": self._owner}},
            )


class DynamoManifest:
    """The report manifest in DynamoDB: one item per finished instance, one for the resume time."""

    def __init__(self, table: str, client, scope: str = "default"):
        self._table, self._db, self._scope = table, client, scope

    def _key(self, name: str) -> dict:
        return {"key": {"S": f"{self._scope}#{name}"}}

    def done(self, instance_uuid: str) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._table, Key=self._key(f"instance#{instance_uuid}")).get("Item")
        return json.loads(item["info"]["S"]) if item else None

    def mark_done(self, instance_uuid: str, info: dict[str, Any]) -> None:
        self._db.put_item(
            TableName=self._table, Item={**self._key(f"instance#{instance_uuid}"), "info": {"S": json.dumps(info)}}
        )

    def resume_after(self) -> str | None:
        item = self._db.get_item(TableName=self._table, Key=self._key("resume")).get("Item")
        return item["resume_after"]["S"] if item else None

    def set_resume_after(self, when: str | None, *, passed: str | None = None) -> None:
        if when is None and passed is not None:  # ISO 8601 in UTC, one format: compared as text
            with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
                self._db.delete_item(
                    TableName=self._table,
                    Key=self._key("resume"),
                    ConditionExpression="attribute_not_exists(resume_after) OR resume_after <= :passed",
                    ExpressionAttributeValues={":passed": {"S": passed}},
                )
        elif when is None:
            self._db.delete_item(TableName=self._table, Key=self._key("resume"))
        else:
            self._db.put_item(TableName=self._table, Item={**self._key("resume"), "resume_after": {"S": when}})
