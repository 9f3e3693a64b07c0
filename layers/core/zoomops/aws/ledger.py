"""The provisioning ledger in DynamoDB (the stack's; the CLI keeps the same ledger in a file): one partition
per platform and account (``pk`` = the scope), items by ``sk``:

* ``entry#<row key>``: the meeting the row stands for and what was last sent (``zoomops.provision.ledger.Entry``
  as JSON), written ``creating`` before the create is sent;
* ``count#<host>#<UTC day>``: the host's create/update requests that day, counted with a conditional ``ADD``
  so parallel workers never pass the allowance between them; ``spent`` once the platform said the day is gone;
  expires a few days later (TTL ``expires_at``);
* ``memory#<name>``: the platform adapter's cross-row memory (Web Meeting's organizers), written through at
  once so parallel workers see each other's organizers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

from ..clock import utc_now
from ..provision.ledger import Entry

COUNT_DAYS_KEPT = 3


class DynamoLedger:
    """:class:`zoomops.provision.ledger.Ledger` on a DynamoDB table (``pk``, ``sk``; TTL ``expires_at``)."""

    def __init__(self, table: str, client, scope: str):
        self.table, self._db, self.scope = table, client, scope
        self._memory = DynamoMemory(self)

    def _key(self, sk: str) -> dict[str, Any]:
        return {"pk": {"S": self.scope}, "sk": {"S": sk}}

    def get(self, key: str) -> Entry | None:
        found = self._db.get_item(TableName=self.table, Key=self._key(f"entry#{key}"), ConsistentRead=True)
        item = found.get("Item")
        return Entry(**json.loads(item["entry"]["S"])) if item else None

    def put(self, entry: Entry) -> None:
        self._db.put_item(TableName=self.table, Item=self._item(entry))

    def claim(self, entry: Entry, seen: str | None) -> bool:
        """A conditional put: two runs of one row at once (a retried step, a file confirmed twice) cannot both
        create its meeting; the one that loses sends nothing."""
        if seen is None:
            condition, values = "attribute_not_exists(sk)", {}
        else:
            condition, values = "entry_state = :seen", {":seen": {"S": seen}}
        try:
            self._db.put_item(
                TableName=self.table,
                Item=self._item(entry),
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _item(self, entry: Entry) -> dict[str, Any]:
        entry.updated_at = utc_now()
        body = {"S": json.dumps(asdict(entry), separators=(",", ":"))}
        return {**self._key(f"entry#{entry.key}"), "entry": body, "entry_state": {"S": entry.state}}

    def reserve(self, host: str, day: str, cap: int | None) -> bool:
        condition = "attribute_not_exists(spent)"
        values: dict[str, Any] = {":one": {"N": "1"}, ":expires": {"N": _expiry(day)}}
        if cap is not None:
            condition += " AND (attribute_not_exists(n) OR n < :cap)"
            values[":cap"] = {"N": str(cap)}
        try:
            self._db.update_item(
                TableName=self.table,
                Key=self._key(f"count#{host}#{day}"),
                UpdateExpression="ADD n :one SET expires_at = :expires",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def spent(self, host: str, day: str) -> None:
        self._db.update_item(
            TableName=self.table,
            Key=self._key(f"count#{host}#{day}"),
            UpdateExpression="SET spent = :yes, expires_at = :expires",
            ExpressionAttributeValues={":yes": {"BOOL": True}, ":expires": {"N": _expiry(day)}},
        )

    def used(self, host: str, day: str) -> int | None:
        found = self._db.get_item(TableName=self.table, Key=self._key(f"count#{host}#{day}"), ConsistentRead=True)
        item = found.get("Item") or {}
        if "spent" in item:
            return None
        return int(item["n"]["N"]) if "n" in item else 0

    @property
    def memory(self) -> MutableMapping[str, Any]:
        return self._memory

    def save_memory(self) -> None:
        """Nothing to do: the memory is written through."""

    def entries(self) -> dict[str, Entry]:
        return {
            sk.removeprefix("entry#"): Entry(**json.loads(item["entry"]["S"])) for sk, item in self._items("entry#")
        }

    def _items(self, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": self.scope}, ":prefix": {"S": prefix}},
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                yield item["sk"]["S"], item


class DynamoMemory(MutableMapping):
    """The adapter's memory as ``memory#<name>`` items: read once, each change written at once."""

    def __init__(self, ledger: DynamoLedger):
        self._ledger = ledger
        self._cache: dict[str, Any] | None = None

    def _all(self) -> dict[str, Any]:
        if self._cache is None:
            self._cache = {
                sk.removeprefix("memory#"): json.loads(item["value"]["S"])
                for sk, item in self._ledger._items("memory#")
            }
        return self._cache

    def __getitem__(self, name: str) -> Any:
        return self._all()[name]

    def __setitem__(self, name: str, value: Any) -> None:
        ledger = self._ledger
        item = {**ledger._key(f"memory#{name}"), "value": {"S": json.dumps(value, separators=(",", ":"))}}
        ledger._db.put_item(TableName=ledger.table, Item=item)
        self._all()[name] = value

    def __delitem__(self, name: str) -> None:
        raise TypeError("the ledger's memory is never forgotten: what a platform made stays known")

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _expiry(day: str) -> str:
    """Epoch seconds a few days after ``day``: a host's counts are kept only while they matter."""
    from datetime import UTC, datetime

    end = date.fromisoformat(day) + timedelta(days=COUNT_DAYS_KEPT)
    return str(int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp()))
