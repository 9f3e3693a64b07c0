"""Request and answer models of the jobs API. Powertools validates requests against them and builds the
OpenAPI description from them; booleans, integers and dates are taken only as the JSON Schema types they
declare (pydantic's lax mode would also take 0.0 or "true" for a boolean and "400" for an integer)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _iso_text(value):
    """Dates come as "YYYY-MM-DD" text, as the description says: not numbers or other text (pydantic would
    read a Unix time, as a number or as text, and a datetime)."""
    if not (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        raise ValueError("must be a valid date as text, YYYY-MM-DD")
    return value


def _json_integer(value):
    """A JSON Schema integer: a number without a fraction (400 or 400.0), never text or a boolean."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise ValueError("must be a valid integer (a JSON number without a fraction)")
    return int(value)


# Booleans and integers are taken only as the JSON Schema types the description gives: pydantic's lax
# mode would also take 0.0 or "true" for a boolean and "400" for an integer.
IsoDate = Annotated[date, BeforeValidator(_iso_text)]
JsonInt = Annotated[int, BeforeValidator(_json_integer)]


class MeetingRow(Strict):
    meetingId: str = Field(min_length=1, max_length=32, description="as the import CSV has it (spaces allowed)")
    contextId: str = Field(min_length=1, max_length=512)
    domain: str = Field(min_length=1, max_length=512)
    courseId: Optional[str] = Field(default=None, max_length=256)


class DisassociateJobRequest(Strict):
    rows: Optional[list[MeetingRow]] = Field(
        default=None, min_length=1, max_length=1000, description="inline rows; leave out to get an upload URL for a CSV"
    )
    fileName: Optional[str] = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,100}$")
    dryRun: StrictBool = False
    userId: Optional[str] = Field(default=None, min_length=1, max_length=128)
    batchSize: JsonInt = Field(default=400, ge=1, le=400)


class Upload(Strict):
    url: str
    method: Literal["PUT"]
    headers: dict[str, str]
    expiresIn: int


class JobCreated(Strict):
    jobId: str
    state: Literal["queued"]
    upload: Optional[Upload] = None


class Timings(Strict):
    created_at: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    updated_at: Optional[str] = None


class DisassociateProgress(Strict):
    total_rows: int
    sent: int
    planned: int
    rejected: int
    duplicates: int
    failed: int
    batches: int
    batchesTotal: Optional[int] = None


State = Literal["queued", "running", "succeeded", "partially_failed", "rejected", "failed"]
Kind = Literal["disassociate", "report", "provision"]


class DisassociateJob(Strict):
    jobId: str
    state: State
    file: Optional[str] = None
    dryRun: bool
    progress: DisassociateProgress
    timings: Timings
    refused: Optional[str] = None
    origin: Optional[str] = Field(default=None, description="the job this one confirms or re-drives")
    confirmable: bool = Field(default=False, description="a finished dry run the API started: POST .../confirm runs it")
    results: Optional[dict[str, str]] = Field(default=None, description="short-lived download links")
    engine: Optional[Literal["lambda", "stepfunctions"]] = Field(
        default=None, description="where the job runs: one Lambda invocation, or its Step Functions state machine"
    )
    executionArn: Optional[str] = Field(default=None, description="the job's state machine execution (named by its id)")
    step: Optional[str] = Field(
        default=None, description="queued, plan, send or fetch, waiting (a daily limit), finalize, done, failed"
    )


class ResultRow(Strict):
    line: int
    meeting_id: str
    context_id: str
    domain: str
    course_id: str
    status: Literal["sent", "planned", "rejected", "duplicate", "failed"]
    reason: str


class ResultRows(Strict):
    rows: list[ResultRow]
    total: int
    next: Optional[int] = Field(default=None, description="the offset of the next page, if any")


class _ReportRange(Strict):
    from_: Optional[IsoDate] = Field(default=None, alias="from")
    to: Optional[IsoDate] = Field(default=None, description="inclusive; not before from")
    account: Optional[str] = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")

    @model_validator(mode="after")
    def ordered(self) -> _ReportRange:
        if self.from_ and self.to and self.to < self.from_:
            raise ValueError("to must not be before from")
        return self


class ReportJobRequest(_ReportRange):
    """Exactly one of: meeting IDs, users (with a date range), or an LTI Pro import CSV to upload."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["meetingIds"], "properties": {"meetingIds": {"type": "array"}}},
                {"required": ["users"], "properties": {"users": {"type": "array"}}},
                {"required": ["csvUpload"], "properties": {"csvUpload": {"const": True}}},
            ]
        },
    )

    meetingIds: Optional[list[Annotated[str, Field(pattern=r"^[0-9]{9,11}$")]]] = Field(
        default=None, min_length=1, max_length=1000, description="Zoom meeting IDs, digits only"
    )
    users: Optional[list[Annotated[str, Field(min_length=1, max_length=254)]]] = Field(
        default=None, min_length=1, max_length=200, description="Zoom users (emails or ids): their past meetings"
    )
    csvUpload: Optional[Literal[True]] = Field(
        default=None, description="true: answer an upload link for an LTI Pro import CSV; start the job once it is up"
    )

    @model_validator(mode="after")
    def exactly_one(self) -> ReportJobRequest:
        given = [name for name in ("meetingIds", "users", "csvUpload") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of meetingIds, users or csvUpload (got {', '.join(given) or 'none'})")
        return self


class ReportProgress(Strict):
    meetings: int
    instances: int
    instances_written: int
    rows_written: int
    registrants_written: int
    skipped_done: int
    skipped_recent: int
    failed: int


class ReportJob(Strict):
    jobId: str
    state: State
    request: Optional[dict] = None
    refused: Optional[str] = Field(default=None, description="why a rejected job was refused")
    progress: ReportProgress
    stopped: Optional[str] = None
    resumeAfter: Optional[str] = None
    results: Optional[str] = None
    files: Optional[dict[str, str]] = Field(default=None, description="short-lived links to the run's files")
    timings: Timings
    engine: Optional[Literal["lambda", "stepfunctions"]] = Field(
        default=None, description="where the job runs: one Lambda invocation, or its Step Functions state machine"
    )
    executionArn: Optional[str] = Field(default=None, description="the job's state machine execution (named by its id)")
    step: Optional[str] = Field(
        default=None, description="queued, plan, send or fetch, waiting (a daily limit), finalize, done, failed"
    )


class ZoomProvisionRequest(Strict):
    """A provisioning job on Zoom: the answer holds where to PUT the course-meetings CSV; the job runs when it
    lands. Its meetings are tied to their courses in LTI Pro (import files, or its import API)."""

    fileName: Optional[str] = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,100}$")
    dryRun: StrictBool = Field(default=False, description="plan every request into requests.jsonl; change nothing")
    provider: Literal["zoom"] = "zoom"
    associate: Optional[Literal["csv", "api", "none"]] = Field(
        default=None, description="csv (default): LTI Pro import files; api: LTI Pro's import API; none"
    )
    userId: Optional[str] = Field(default=None, min_length=1, max_length=128, description="LTI Pro admin (api)")
    account: Optional[str] = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Zoom account")


class PlatformProvisionRequest(Strict):
    """A provisioning job on Web Meeting v6 or LumiNUS: LTI Pro holds Zoom meetings only, so nothing is
    associated, and neither platform has Zoom accounts."""

    fileName: Optional[str] = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,100}$")
    dryRun: StrictBool = Field(default=False, description="plan every request into requests.jsonl; change nothing")
    provider: Literal["webmeeting", "luminus"]
    associate: Optional[Literal["none"]] = None
    retryLost: StrictBool = Field(
        default=False,
        description="create again the rows whose create answer was lost (neither platform can be asked whether "
        "it made the meeting): only after checking the host's meetings",
    )


ProvisionJobRequest = Union[ZoomProvisionRequest, PlatformProvisionRequest]


class ProvisionRow(Strict):
    line: int
    key: str = Field(description="the row's identity: Key, or the course (or host) with the topic")
    status: Literal["created", "updated", "unchanged", "rejected", "failed", "deferred", "planned"]
    meeting_id: str
    association: str = Field(description="lti-import-NNN.csv, imported, import failed, not associated ...")
    reason: str


class ProvisionRows(Strict):
    rows: list[ProvisionRow]
    total: int
    next: Optional[int] = Field(default=None, description="the offset of the next page, if any")


class ProvisionProgress(Strict):
    total_rows: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    failed: int
    deferred: int
    planned: int


class ProvisionJob(Strict):
    jobId: str
    state: State
    step: Optional[str] = Field(default=None, description="where the job is: working, waiting until..., finished")
    file: Optional[str] = None
    dryRun: bool
    provider: Optional[str] = None
    associate: Optional[str] = None
    progress: ProvisionProgress
    association: dict[str, int] = Field(default_factory=dict, description="rows by LTI association outcome")
    resumeAfter: Optional[str] = Field(default=None, description="when hosts' daily allowances let it go on")
    engine: Optional[str] = Field(default=None, description="stepfunctions: the provisioning state machine")
    executionArn: Optional[str] = Field(default=None, description="the job's execution (named by the job id)")
    timings: Timings
    refused: Optional[str] = None
    origin: Optional[str] = Field(default=None, description="the dry run this job confirms")
    confirmable: bool = Field(default=False, description="a finished dry run the API started: POST .../confirm runs it")
    results: Optional[dict[str, str]] = Field(default=None, description="short-lived links to the run's files")


class TokenState(Strict):
    account: str
    action: str
    scope: Optional[str] = None
    expires_in_seconds: Optional[int] = None
    refreshed_at: Optional[str] = None
    error: Optional[str] = None


class TokenRefreshRequest(Strict):
    force: StrictBool = Field(default=False, description="refresh even tokens with enough life left")


class FieldProblem(Strict):
    field: str
    problem: str


class Problem(Strict):
    """Every error, as RFC 9457 problem details (application/problem+json)."""

    type: str = Field(default="about:blank")
    title: str
    status: int
    detail: str
    errors: Optional[list[FieldProblem]] = None


class JobListed(Strict):
    jobId: str
    kind: str
    state: str
    file: Optional[str] = None
    dryRun: bool
    createdAt: Optional[str] = None
    finishedAt: Optional[str] = None
    counts: dict[str, int]


class JobList(Strict):
    jobs: list[JobListed]
    next: Optional[str] = Field(default=None, description="pass as next= for the following page")
