"""A CLI run's folder: results are never destroyed, an interrupted run resumes.

``checkpoint.json`` in the folder says whose run it is (the input's name, size and SHA-256, the options),
whether it finished, and what the other side already accepted. A folder that holds a finished run (or
results without a checkpoint) is refused; one that holds an interrupted run of the same input and options
is resumed by the same command; anything else is refused naming the difference.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..clock import utc_now
from ..errors import Refused

CHECKPOINT = "checkpoint.json"
RESULT_NAMES = ("summary.json", "rows.csv", "retry.csv", "requests.jsonl", CHECKPOINT)


def fingerprint(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"name": path.name, "size": path.stat().st_size, "sha256": digest.hexdigest()}


def free_name(base: Path, stem: str) -> Path:
    """``base/<stem>-1``, ``-2``, ...: the first that does not exist (where a re-drive's results can go)."""
    n = 1
    while (base / f"{stem}-{n}").exists():
        n += 1
    return base / f"{stem}-{n}"


class RunFolder:
    def __init__(self, path: Path, kind: str, source: Path, options: dict[str, Any]):
        self.path, self.kind, self.source, self.options = Path(path), kind, Path(source), options
        self.resumed = False
        self._data: dict[str, Any] = {}
        self._spool: Path | None = None

    # -- before the run -------------------------------------------------------------------------
    def prepare(self) -> Path:
        """Check the folder, start or resume its checkpoint; returns the path to read the input from (a
        copy when the input lies where results will be written: it is read before any output is opened)."""
        if self.path.exists() and not self.path.is_dir():
            raise Refused(f"--out {self.path}: exists and is not a directory")
        identity = fingerprint(self.source)
        previous = self._previous()
        if previous is not None:
            self._check_resumable(previous, identity)
            self._data, self.resumed = previous, True
        else:
            self._data = {
                "kind": self.kind,
                "input": identity,
                "options": self.options,
                "accepted": [],
                "started_at": utc_now(),
            }
        self.path.mkdir(parents=True, exist_ok=True)
        self._data["state"] = "running"
        self._save()
        return self._input_path()

    def _previous(self) -> dict[str, Any] | None:
        checkpoint = self.path / CHECKPOINT
        if checkpoint.exists():
            try:
                return json.loads(checkpoint.read_text())
            except ValueError:
                raise Refused(f"--out {self.path}: {CHECKPOINT} is not readable; choose another folder") from None
        found = [name for name in RESULT_NAMES if (self.path / name).exists()]
        if found:
            raise Refused(
                f"--out {self.path} already holds results ({', '.join(found)}); they are never "
                f"overwritten: choose another folder"
            )
        return None

    def _check_resumable(self, previous: dict[str, Any], identity: dict[str, Any]) -> None:
        where = f"--out {self.path}"
        if previous.get("state") == "finished":
            raise Refused(
                f"{where} holds a finished run of {previous.get('input', {}).get('name')} "
                f"({previous.get('finished_at')}); its results are never overwritten: choose another "
                f"folder"
            )
        if previous.get("kind") != self.kind or previous.get("input") != identity:
            raise Refused(
                f"{where} holds an interrupted run of another file "
                f"({previous.get('input', {}).get('name')}); resume it with its own file, or choose "
                f"another folder"
            )
        if previous.get("options") != self.options:
            raise Refused(
                f"{where} holds an interrupted run of this file with other options "
                f"({_differences(previous.get('options') or {}, self.options)}); resume it with the "
                f"same options, or choose another folder"
            )

    def _input_path(self) -> Path:
        outputs = {(self.path / name).resolve() for name in RESULT_NAMES}
        if self.source.resolve() not in outputs:
            return self.source
        handle, name = tempfile.mkstemp(prefix="zoomops-input-", suffix=".csv")
        os.close(handle)
        self._spool = Path(name)
        shutil.copyfile(self.source, self._spool)
        return self._spool

    # -- during the run: the checkpoint protocol ------------------------------------------------
    def accepted_batches(self) -> set[int]:
        return set(self._data.get("accepted", []))

    def mark_accepted(self, batch: int) -> None:
        self._data.setdefault("accepted", []).append(batch)
        self._save()

    # -- after the run --------------------------------------------------------------------------
    def finish(self, *, interrupted: str | None) -> None:
        self._data["state"] = "interrupted" if interrupted else "finished"
        self._data["interrupted"] = interrupted
        self._data["finished_at" if not interrupted else "stopped_at"] = utc_now()
        self._save()
        if self._spool is not None:
            self._spool.unlink(missing_ok=True)

    def _save(self) -> None:
        tmp = self.path / f".{CHECKPOINT}.tmp"
        tmp.write_text(json.dumps(self._data, indent=1, sort_keys=True))
        tmp.replace(self.path / CHECKPOINT)


def _differences(before: dict[str, Any], now: dict[str, Any]) -> str:
    keys = sorted(set(before) | set(now))
    return ", ".join(f"{k}: {before.get(k)!r} then, {now.get(k)!r} now" for k in keys if before.get(k) != now.get(k))
