"""The provisioning ledger: row key -> the meeting it stands for and what was last sent, per platform and
account; each host's create/update requests per UTC day; and the platform adapter's cross-row memory.

Nothing is created twice, even after a crash between the platform's answer and the ledger's write: an entry
is written as ``creating`` *before* the create is sent, and only then becomes ``created``. A run that finds
a ``creating`` entry asks the platform for the meeting that create made (``Provider.recover``: Zoom lists the
host's meetings) before creating again; a platform that cannot look leaves the row failed, saying how to check.

The CLI keeps the ledger in a file (:class:`FileLedger`, a JSON-lines journal: one line per change, replayed
when opened, so a crash loses at most the line being written); the stack keeps it in DynamoDB.
"""

from __future__ import annotations

import json
import threading
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..clock import utc_now
from .spec import Provisioned

CREATING, CREATED, ABSENT = "creating", "created", "absent"  # absent: a create the platform surely refused


@dataclass
class Entry:
    key: str
    state: str  # creating | created | absent
    host: str = ""
    meeting_id: str = ""
    join_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)  # what the platform adapter keeps for updates
    body: dict[str, Any] = field(default_factory=dict)  # what was last sent (to tell unchanged from changed)
    associated: dict[str, str] | None = None  # the course LTI Pro's import API last associated it with
    made_by: str = ""  # the run that created it: that run resumed or retried says "created", not "unchanged"
    updated_at: str = ""

    def provisioned(self) -> Provisioned:
        return Provisioned(self.meeting_id, self.join_url, dict(self.extra), dict(self.ids))

    def record(self, result: Provisioned, body: dict[str, Any], host: str) -> None:
        self.state, self.host, self.body = CREATED, host, body
        self.meeting_id, self.join_url, self.extra, self.ids = (
            result.meeting_id,
            result.join_url,
            dict(result.extra),
            dict(result.ledger),
        )


class Ledger(Protocol):
    def get(self, key: str) -> Entry | None: ...

    def put(self, entry: Entry) -> None: ...

    def claim(self, entry: Entry, seen: str | None) -> bool:
        """Put ``entry`` (``creating``) only if the row's entry is still in the state the run decided on
        (``seen``: its state then, None when there was none): False when another run got there first."""
        ...

    def reserve(self, host: str, day: str, cap: int | None) -> bool:
        """Count one create/update for ``host`` on ``day`` (UTC) unless ``cap`` are counted already or the
        platform said the day's allowance is gone (``cap`` None: no limit of our own)."""
        ...

    def spent(self, host: str, day: str) -> None:
        """The platform says the host's allowance for ``day`` is gone: nothing more is sent that day."""
        ...

    def used(self, host: str, day: str) -> int | None: ...

    @property
    def memory(self) -> MutableMapping[str, Any]: ...

    def save_memory(self) -> None: ...


class FileLedger:
    """The ledger as a JSON-lines journal, one scope (platform and account) of it."""

    def __init__(self, path: str | Path, scope: str):
        self.path, self.scope = Path(path), scope
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._hosts: dict[str, dict[str, int]] = {}
        self._spent: set[tuple[str, str]] = set()
        self._memory: dict[str, Any] = {}
        if self.path.exists():
            self._replay()

    def _replay(self) -> None:
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                change = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash: the change it held was never acted on
            if change.get("scope") != self.scope:
                continue
            if change["op"] == "entry":
                self._entries[change["entry"]["key"]] = Entry(**change["entry"])
            elif change["op"] == "count":
                self._hosts.setdefault(change["host"], {})[change["day"]] = change["n"]
            elif change["op"] == "spent":
                self._spent.add((change["host"], change["day"]))
            elif change["op"] == "memory":
                self._memory = change["memory"]

    def _append(self, change: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as journal:
            journal.write(json.dumps({"scope": self.scope, **change}, separators=(",", ":")) + "\n")

    def get(self, key: str) -> Entry | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, entry: Entry) -> None:
        entry.updated_at = utc_now()
        with self._lock:
            self._entries[entry.key] = entry
            self._append({"op": "entry", "entry": asdict(entry)})

    def claim(self, entry: Entry, seen: str | None) -> bool:
        entry.updated_at = utc_now()
        with self._lock:
            found = self._entries.get(entry.key)
            if (found.state if found else None) != seen:
                return False
            self._entries[entry.key] = entry
            self._append({"op": "entry", "entry": asdict(entry)})
            return True

    def reserve(self, host: str, day: str, cap: int | None) -> bool:
        with self._lock:
            used = self._hosts.setdefault(host, {}).get(day, 0)
            if (host, day) in self._spent or (cap is not None and used >= cap):
                return False
            self._hosts[host][day] = used + 1
            self._append({"op": "count", "host": host, "day": day, "n": used + 1})
            return True

    def spent(self, host: str, day: str) -> None:
        with self._lock:
            self._spent.add((host, day))
            self._append({"op": "spent", "host": host, "day": day})

    def used(self, host: str, day: str) -> int | None:
        """Requests counted for ``host`` on ``day``; None when the platform said the day's allowance is gone."""
        with self._lock:
            return None if (host, day) in self._spent else self._hosts.get(host, {}).get(day, 0)

    @property
    def memory(self) -> MutableMapping[str, Any]:
        return self._memory

    def save_memory(self) -> None:
        with self._lock:
            self._append({"op": "memory", "memory": json.loads(json.dumps(self._memory))})

    def entries(self) -> dict[str, Entry]:
        with self._lock:
            return dict(self._entries)
