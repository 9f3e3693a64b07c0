"""Provisioning: a course-meetings CSV becomes meetings on a platform, tied to their LMS courses, every row
accounted for. Stages: **plan** (read, reject, decide from the ledger), **execute** (create, update, recover
within each host's daily allowance), **associate** (LTI Pro import files or its import API), **record** (the
result files). The CLI runs them in one process; the stack runs the same stages.

Files written: ``summary.json``, ``rows.csv`` (every input line: line, key, status, meeting id, join URL, LTI
association, reason), ``lti-import-NNN.csv`` (at most 1000 rows each, LTI Pro's import header),
``removal.csv`` (the same header: every meeting this file's rows stand for, for ``zoomops disassociate``),
``retry.csv`` (failed and deferred rows in the input's own columns), ``requests.jsonl`` on a dry run.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ..clock import next_utc_midnight, utc_now
from ..errors import FileRefused, Refused
from ..jobs.results import ResultFiles
from ..lti.rows import TEMPLATE_HEADER
from .associate import (
    AUTO_POPULATE_WARNING,
    IMPORT_FAILED,
    ApiImport,
    course_of,
    import_files,
    item,
    planned_platform_requests,
)
from .execute import Executor
from .ledger import Ledger
from .plan import NOTHING, Row, decide, read
from .spec import NeedsManualChange, Provider

ROWS_HEADER = ("line", "key", "status", "meeting_id", "join_url", "association", "reason")
STATUSES = ("created", "updated", "unchanged", "rejected", "failed", "deferred", "planned")
ASSOCIATE = ("csv", "api", "none")


def default_association(provider: str) -> str:
    """LTI Pro's import files for Zoom; nothing for the other platforms (LTI Pro holds Zoom meetings only)."""
    return "csv" if provider == "zoom" else "none"


@dataclass(frozen=True)
class Options:
    provider: str = "zoom"
    associate: str = "csv"
    dry_run: bool = False
    user_id: str | None = None  # the LTI Pro admin (the {userId, meetingList} import body, signed)
    daily_cap: int | None = None  # creates/updates per host per UTC day; None: the platform's (Zoom: 100)
    workers: int = 16  # creates in flight: 2 fill 20/s at 100 ms a create, 16 still do at 800 ms (bench_provision)
    retry_lost: bool = False

    def __post_init__(self) -> None:
        if self.associate not in ASSOCIATE:
            raise Refused(f"--associate must be one of {', '.join(ASSOCIATE)}, got {self.associate!r}")
        if self.provider != "zoom" and self.associate != "none":
            raise Refused(
                f"--associate {self.associate}: LTI Pro ties Zoom meetings to courses, not {self.provider} meetings "
                f"(use --associate none, the default for {self.provider})"
            )


@dataclass
class Summary:
    file: str
    provider: str
    account: str | None
    associate: str
    dry_run: bool
    encoding: str | None = None
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    failed: int = 0
    deferred: int = 0
    planned: int = 0
    association: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    resume_after: str | None = None
    refused: str | None = None
    interrupted: str | None = None  # a stop asked for (a signal): the rows not done are failed, "not sent"
    stopped: str | None = None  # the run could not go on (an account-wide daily limit, no usable token)
    warnings: list[str] = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""

    @property
    def import_failed(self) -> int:
        return self.association.get(IMPORT_FAILED, 0)

    @property
    def accounted(self) -> int:
        return sum(getattr(self, status) for status in STATUSES)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    """How the run reaches out: the platform adapter, the ledger, LTI Pro (api association), stop and progress."""

    provider: Provider
    ledger: Ledger
    account: str | None = None
    lti: ApiImport | None = None
    stop: Callable[[], str | None] | None = None
    progress: Callable[[Row], None] | None = None
    clock: Callable[[], float] = time.time
    run_id: str = ""  # this run's identity, the same when it is resumed or retried (the CLI: its --out folder)


def run(stream: BinaryIO, name: str, out: Path, options: Options, ctx: Context) -> Summary:
    summary = new_summary(name, options, ctx)
    try:
        plan = read(stream, name, ctx.provider, associate=options.associate != "none")
    except FileRefused as exc:
        return refuse(summary, out, options, exc)
    summary.encoding, summary.warnings = plan.encoding, list(plan.warnings)
    decide(plan.rows, ctx.provider, ctx.ledger)
    requests = _dry_run(plan.rows, options, ctx) if options.dry_run else _execute(plan.rows, options, ctx, summary)
    return finish(plan.rows, plan.header, out, options, ctx, summary, requests)


def new_summary(name: str, options: Options, ctx: Context) -> Summary:
    return Summary(name, options.provider, ctx.account, options.associate, options.dry_run, started_at=utc_now())


def refuse(summary: Summary, out: Path, options: Options, exc: FileRefused) -> Summary:
    """A file that cannot be read at all: summary.json says why (and the empty rows and retry files)."""
    summary.refused = f"{summary.file}: {exc}"
    _files(out, [], [], options).finish(_finished(summary))
    return summary


def finish(
    rows: list[Row], header: list[str], out: Path, options: Options, ctx: Context, summary: Summary, requests=()
) -> Summary:
    """Stage three and four, once every row is settled: the association, then the result files in ``out``."""
    requests = [*requests, *_associate(rows, options, ctx)]
    files = _files(out, header, rows, options)
    for line in requests:
        files.request(line + "\n")
    summary.files = sorted(p.name for p in out.iterdir() if p.is_file()) + ["summary.json"]
    _count(summary, rows, options)
    files.finish(_finished(summary))
    return summary


def _execute(rows: list[Row], options: Options, ctx: Context, summary: Summary) -> list[str]:
    executor = Executor(
        ctx.provider,
        ctx.ledger,
        daily_cap=_cap(options, ctx),
        workers=options.workers,
        clock=ctx.clock,
        stop=ctx.stop,
        progress=ctx.progress,
        retry_lost=options.retry_lost,
        run_id=ctx.run_id,
    )
    executor.run(rows)
    ctx.ledger.save_memory()
    summary.interrupted = ctx.stop() if ctx.stop is not None else None
    summary.stopped = executor.halted
    if executor.resume_after is not None:
        summary.resume_after = executor.resume_after.isoformat(timespec="seconds")
    return []


def _dry_run(rows: list[Row], options: Options, ctx: Context) -> list[str]:
    """What a real run would do: each row planned (or deferred past a host's allowance), and its requests."""
    day, cap = datetime.fromtimestamp(ctx.clock(), UTC), _cap(options, ctx)
    counted: Counter[str] = Counter()
    plans: dict[int, list[Any]] = {}
    for row in rows:
        if row.status or row.spec is None:
            continue
        if row.action == NOTHING:
            row.meeting_id, row.join_url = row.entry.meeting_id, row.entry.join_url  # type: ignore[union-attr]
            row.settle("unchanged")
            continue
        host = row.spec.host.lower()
        used = ctx.ledger.used(host, day.date().isoformat())
        if used is None or (cap is not None and used + counted[host] >= cap):
            row.settle(
                "deferred",
                f"host {host} would be past its {cap} creates/updates for the day: "
                f"continues after {next_utc_midnight(day).isoformat(timespec='seconds')}",
            )
            continue
        try:
            plans[row.line] = ctx.provider.plan(row.spec, row.entry.provisioned() if row.entry else None)
        except NeedsManualChange as exc:
            row.settle("failed", f"needs a manual change: {exc}")
            continue
        counted[host] += 1
        row.settle("planned", f"would {row.action}")
    return planned_platform_requests(rows, plans, options.provider)


def _cap(options: Options, ctx: Context) -> int | None:
    return options.daily_cap if options.daily_cap is not None else getattr(ctx.provider, "daily_cap", None)


def _associate(rows: list[Row], options: Options, ctx: Context) -> list[str]:
    settled = [row for row in rows if row.status in ("created", "updated", "unchanged", "planned")]
    if options.associate == "api" and ctx.lti is not None:
        ctx.lti.run(settled)
        return ctx.lti.planned
    if options.associate == "none":
        for row in settled:
            row.association = "none"
    return []


def _files(out: Path, header: list[str], rows: list[Row], options: Options) -> ResultFiles:
    """rows.csv and retry.csv, the import files and the removal file; the caller adds summary.json."""
    files = ResultFiles(out, rows_header=ROWS_HEADER, retry_header=header, dry_run=options.dry_run)
    if options.associate == "csv":  # first: each row's association names its file
        for number, batch in enumerate(import_files(rows), 1):
            _template_csv(out / f"lti-import-{number:03d}.csv", batch)
    if options.provider == "zoom":  # LTI Pro holds Zoom meetings only: nothing of another platform to remove
        _template_csv(out / "removal.csv", [row for row in rows if course_of(row) is not None])
    for row in rows:
        files.row((row.line, row.key, row.status, row.meeting_id, row.join_url, row.association, row.reason))
        if row.status in ("failed", "deferred") or row.association.startswith(IMPORT_FAILED):
            files.retry(row.raw)  # a meeting made but not imported: the same row again only imports it
    return files


def _template_csv(path: Path, rows: list[Row]) -> None:
    """An LTI Pro import-template file, values exactly as LTI Pro and zoomops disassociate read them."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(TEMPLATE_HEADER)
        for row in rows:
            found = item(row)
            writer.writerow((found["meetingId"], found["contextId"], found["domain"], found.get("courseId", "")))


def _count(summary: Summary, rows: list[Row], options: Options) -> None:
    summary.total_rows = len(rows)
    for status, n in Counter(row.status for row in rows).items():
        setattr(summary, status, n)
    summary.association = dict(Counter(row.association.split(":")[0] for row in rows if row.association))
    if options.associate != "none" and any(row.meeting_id for row in rows):
        summary.warnings.append(AUTO_POPULATE_WARNING)


def _finished(summary: Summary) -> dict[str, Any]:
    summary.finished_at = utc_now()
    return summary.as_dict()
