"""The removal state machine's steps (``infra/statemachines/removal.asl.json``), behind ``functions/removal_steps``.

* **plan**: the CSV read with the very code of a one-invocation run (``lti.disassociate.run`` collecting
  instead of sending): each batch still to send becomes a work item, its request body in
  ``work/<job>/batches.bin`` and its place in ``work/<job>/items.json`` (the Distributed Map's ItemReader).
  Batches the job's checkpoint holds (a one-invocation run accepted them before handing over) are left out.
* **send** (one child per batch): the batch's outcome record is its checkpoint. A batch decided before is
  never sent again; a 429 or a 5xx after the client's own retries is raised (``LtiThrottled`` /
  ``LtiUnavailable``) for the state machine to retry with backoff; every child holds its Map slot at least
  ``seconds_per_request`` per request, so ``MaxConcurrency`` children together stay under the ceiling.
* **batch_failed**: the Map item's Catch: the batch is recorded failed (into retry.csv), unless decided.
* **finalize**: the CSV read again with the same code, each batch's outcome replayed from its record: the
  same rows.csv, retry.csv and summary.json as a one-invocation run, uploaded, the source moved, the job ended.
* **abandon**: the execution's Catch: the job ends ``failed`` with the reason; its source stays for a re-drive.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import utc_now
from ..errors import NotFound, OutOfTime, Unavailable, caught_message
from ..http import RETRY_STATUSES
from ..lti import disassociate
from ..lti.batches import NullResults, Replayed, Sender
from ..lti.client import BatchResult
from ..lti.signing import LtiCredentials
from ..names import INCOMING_PREFIX, RESULTS_PREFIX, WORK_PREFIX
from .jobstore import JobStore, from_attr, to_attr
from .s3 import ObjectRef, upload_dir
from .s3job import conclude
from .workflows import ENGINE_STEP_FUNCTIONS

OUTCOME_DAYS = 30  # a batch outcome record lives this long (the jobs table's TTL attribute expires_at)
NO_OUTCOME = "not sent: no outcome was recorded for this batch"


class LtiThrottled(Unavailable):
    """LTI Pro still answered 429 after the client's retries: the state machine retries later."""


class LtiUnavailable(Unavailable):
    """LTI Pro answered 5xx, or nothing, after the client's retries: the state machine retries later."""


@dataclass
class Steps:
    s3: Any
    jobs: JobStore
    db: Any  # the DynamoDB client of ``jobs``
    bucket: str
    credentials: Callable[[], tuple[LtiCredentials, str | None]]
    sender: Callable[[LtiCredentials], Sender]
    seconds_per_request: float = 0.0
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


class _Accepted:
    """The job's checkpoint as it was when the state machine took over (plan and finalize never mark one)."""

    def __init__(self, batches: set[int]):
        self._batches = set(batches)

    def accepted_batches(self) -> set[int]:
        return set(self._batches)

    def mark_accepted(self, batch: int) -> None:
        self._batches.add(batch)


# -- batch outcomes: one record per batch in the jobs table ("<job id>#batch#<n>") ---------------------------
def _key(job_id: str, batch: int) -> dict:
    return {"job_id": {"S": f"{job_id}#batch#{batch}"}}


def outcome(steps: Steps, job_id: str, batch: int) -> dict | None:
    item = steps.db.get_item(TableName=steps.jobs.table, Key=_key(job_id, batch), ConsistentRead=True).get("Item")
    return {k: from_attr(v) for k, v in item.items()} if item else None


def _decide(steps: Steps, job_id: str, batch: int, fields: dict[str, Any], attempts: int) -> bool:
    """Record the batch's outcome once; False when an earlier attempt had decided it already."""
    fields = {**fields, "decided": True, "expires_at": int(steps.clock()) + OUTCOME_DAYS * 86_400}
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":f{i}": to_attr(value) for i, value in enumerate(fields.values())}
    try:
        steps.db.update_item(
            TableName=steps.jobs.table,
            Key=_key(job_id, batch),
            UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))) + " ADD #a :a",
            ConditionExpression="attribute_not_exists(#d)",
            ExpressionAttributeNames={**names, "#a": "attempts", "#d": "decided"},
            ExpressionAttributeValues={**values, ":a": {"N": str(attempts)}},
        )
    except steps.db.exceptions.ConditionalCheckFailedException:
        return False
    return True


def _attempted(steps: Steps, job_id: str, batch: int, attempts: int, status: int | None) -> None:
    """Requests a retried child made (they count in the summary's requests_sent) and the last status seen."""
    steps.db.update_item(
        TableName=steps.jobs.table,
        Key=_key(job_id, batch),
        UpdateExpression="ADD #a :a SET #s = :s, #e = :e",  # expires even if no attempt ever decides it
        ExpressionAttributeNames={"#a": "attempts", "#s": "last_status", "#e": "expires_at"},
        ExpressionAttributeValues={
            ":a": {"N": str(attempts)},
            ":s": to_attr(status),
            ":e": {"N": str(int(steps.clock()) + OUTCOME_DAYS * 86_400)},
        },
    )


def _progress(steps: Steps, job_id: str, status: str, rows: int) -> None:
    steps.db.update_item(
        TableName=steps.jobs.table,
        Key={"job_id": {"S": job_id}},
        UpdateExpression="ADD #n :rows, #b :one SET #u = :now",
        ExpressionAttributeNames={"#n": status, "#b": "batches", "#u": "updated_at"},
        ExpressionAttributeValues={":rows": {"N": str(rows)}, ":one": {"N": "1"}, ":now": {"S": utc_now()}},
    )


def _lookup(steps: Steps, job_id: str, batch: int) -> tuple[bool, str | None]:
    """(batch decided already?, why LTI Pro refused the credentials if a batch found out): one read of both."""
    keys = [_key(job_id, batch), {"job_id": {"S": job_id}}]
    request = {
        steps.jobs.table: {
            "Keys": keys,
            "ConsistentRead": True,
            "ProjectionExpression": "#k, #d, #r",
            "ExpressionAttributeNames": {"#k": "job_id", "#d": "decided", "#r": "credentials_refused_by"},
        }
    }
    found: dict[str, dict] = {}
    while request:
        answer = steps.db.batch_get_item(RequestItems=request)
        for item in answer["Responses"].get(steps.jobs.table, []):
            found[item["job_id"]["S"]] = {k: from_attr(v) for k, v in item.items()}
        left = (answer.get("UnprocessedKeys") or {}).get(steps.jobs.table)
        request = {steps.jobs.table: {**request[steps.jobs.table], "Keys": left["Keys"]}} if left else {}
    record, job = found.get(keys[0]["job_id"]["S"], {}), found.get(job_id, {})
    return bool(record.get("decided")), job.get("credentials_refused_by")


def all_outcomes(steps: Steps, job_id: str, batches: list[int]) -> dict[int, dict]:
    """Every batch's record (BatchGetItem, 100 keys a call)."""
    found: dict[int, dict] = {}
    for start in range(0, len(batches), 100):
        wanted: dict[str, Any] = {steps.jobs.table: {"Keys": [_key(job_id, b) for b in batches[start : start + 100]]}}
        while wanted:
            answer = steps.db.batch_get_item(RequestItems={t: {**k, "ConsistentRead": True} for t, k in wanted.items()})
            for item in answer["Responses"].get(steps.jobs.table, []):
                record = {k: from_attr(v) for k, v in item.items()}
                found[int(record["job_id"].rsplit("#", 1)[1])] = record
            wanted = {t: {"Keys": k["Keys"]} for t, k in (answer.get("UnprocessedKeys") or {}).items()}
    return found


def replayed(record: dict | None) -> Replayed:
    """What finalize tells the batch engine about one batch, from its record."""
    if not record or not record.get("decided"):
        return "failed", NO_OUTCOME
    if record.get("not_sent"):
        return "failed", record["not_sent"]
    status = record.get("status")
    return BatchResult(
        bool(record.get("ok")),
        record.get("message") or "",
        int(record.get("attempts") or 0),
        None if status is None else int(status),
        auth_failed=bool(record.get("auth_failed")),
    )


# -- the steps ------------------------------------------------------------------------------------------------
def _job(steps: Steps, job_id: str) -> dict:
    job = steps.jobs.get(job_id)
    if not job:
        raise NotFound(f"no job {job_id!r}")
    return job


def _options(steps: Steps, job: dict) -> tuple[LtiCredentials, disassociate.Options]:
    creds, default_user = steps.credentials()
    user_id = job.get("user_id") or default_user
    return creds, disassociate.Options(dry_run=False, user_id=user_id, batch_size=int(job["batch_size"]))


def _source(steps: Steps, document: dict) -> tuple[ObjectRef, dict]:
    ref = ObjectRef(document["bucket"], document["key"], "", document.get("version") or "")
    version = {"VersionId": ref.version} if ref.version else {}
    return ref, steps.s3.get_object(Bucket=ref.bucket, Key=ref.key, **version)


def plan(event: dict, steps: Steps) -> dict:
    document = event["job"]
    job_id = document["job_id"]
    job = _job(steps, job_id)
    steps.jobs.set(
        job_id, state="running", step="plan", engine=ENGINE_STEP_FUNCTIONS, execution_arn=event.get("execution")
    )
    ref, obj = _source(steps, document)
    creds, options = _options(steps, job)
    work = f"{WORK_PREFIX}{job_id}/"
    items: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="zoomops-plan-") as tmp:
        with open(Path(tmp) / "batches.bin", "wb") as bodies:

            def collect(batch: int, body: bytes, rows: int) -> None:
                items.append({"batch": batch, "offset": bodies.tell(), "length": len(body), "rows": rows})
                bodies.write(body)

            summary = disassociate.run(
                obj["Body"],
                ref.name,
                NullResults(),
                options,
                creds=creds,
                checkpoint=_Accepted(job.get("accepted_batches") or set()),
                collect=collect,
                run_id=job["run_id"],
            )
        (Path(tmp) / "items.json").write_text(json.dumps(items, separators=(",", ":")))
        for name in ("batches.bin", "items.json"):
            steps.s3.upload_file(str(Path(tmp) / name), steps.bucket, work + name)
    earlier = summary.planned - sum(item["rows"] for item in items)  # rows of batches accepted before
    steps.jobs.set(
        job_id,
        step="send",
        total_rows=summary.total_rows,
        rejected=summary.rejected,
        duplicates=summary.duplicates,
        sent=earlier,
        failed=0,
        planned=0,
        batches=summary.batches - len(items),
        batches_total=summary.batches,
    )
    return {
        **{k: document.get(k) for k in ("job_id", "bucket", "key", "version")},
        "user_id": options.user_id,
        "items_key": work + "items.json",
        "batches_key": work + "batches.bin",
        "to_send": len(items),
    }


def send(event: dict, steps: Steps, time_left: Callable[[], float] | None = None) -> dict:
    job_id, item = event["job_id"], event["item"]
    batch, rows = int(item["batch"]), int(item["rows"])
    decided, refused_by = _lookup(steps, job_id, batch)
    if decided:
        return {}  # an earlier attempt of this child decided it: never sent twice
    if refused_by:
        reason = f"not sent: an earlier batch was refused: {refused_by}"
        if _decide(steps, job_id, batch, {"not_sent": reason, "ok": False}, 0):
            _progress(steps, job_id, "failed", rows)
        return {}
    first, length = int(item["offset"]), int(item["length"])
    span = f"bytes={first}-{first + length - 1}"
    body = steps.s3.get_object(Bucket=steps.bucket, Key=event["batches_key"], Range=span)
    began, creds = steps.clock(), steps.credentials()[0]
    result = steps.sender(creds).send(body["Body"].read(), time_left=time_left, user_id=event.get("user_id"))
    try:
        if result.out_of_time:
            _attempted(steps, job_id, batch, result.attempts, result.status)
            raise OutOfTime(f"batch {batch}: {result.message}")
        if not result.ok and not result.auth_failed and (result.status is None or result.status in RETRY_STATUSES):
            _attempted(steps, job_id, batch, result.attempts, result.status)
            raise (LtiThrottled if result.status == 429 else LtiUnavailable)(f"batch {batch}: {result.message}")
        fields = {"ok": result.ok, "message": result.message, "status": result.status}
        fields["auth_failed"] = result.auth_failed
        if _decide(steps, job_id, batch, fields, result.attempts):  # the checkpoint: decided from here on
            if result.auth_failed:
                steps.jobs.set(job_id, credentials_refused_by=result.message)
            _progress(steps, job_id, "sent" if result.ok else "failed", rows)
    finally:  # hold the slot: MaxConcurrency children x this pace never pass the requests-per-second ceiling
        wait = steps.seconds_per_request * max(1, result.attempts) - (steps.clock() - began)
        if wait > 0:
            steps.sleep(wait)
    return {}


def batch_failed(event: dict, steps: Steps) -> dict:
    """The batch's child failed for good (retries spent, or an error no retry fixes): failed, re-drivable."""
    job_id, item, error = event["job_id"], event["item"], event.get("error") or {}
    message = caught_message(error)
    record = outcome(steps, job_id, int(item["batch"])) or {}
    status = record.get("last_status")
    fields = {"ok": False, "message": message, "status": status}
    if _decide(steps, job_id, int(item["batch"]), fields, 0):
        _progress(steps, job_id, "failed", int(item["rows"]))
    return {}


def finalize(event: dict, steps: Steps) -> dict:
    job_id = event["job_id"]
    job = _job(steps, job_id)
    if job.get("finished_at"):  # a retried finalize after the job ended
        return {"job_id": job_id, "state": job.get("state"), "results_prefix": job.get("results_prefix")}
    steps.jobs.set(job_id, step="finalize")
    items = []
    if event.get("items_key"):
        items = json.loads(steps.s3.get_object(Bucket=steps.bucket, Key=event["items_key"])["Body"].read())
    records = all_outcomes(steps, job_id, [int(item["batch"]) for item in items])
    ref, obj = _source(steps, event)
    creds, options = _options(steps, job)
    results_prefix = f"{RESULTS_PREFIX}{ref.name}/{job['run_id']}/"
    with tempfile.TemporaryDirectory(prefix="zoomops-finalize-") as tmp:
        summary = disassociate.run(
            obj["Body"],
            ref.name,
            disassociate.result_files(tmp, dry_run=False),
            options,
            creds=creds,
            checkpoint=_Accepted(job.get("accepted_batches") or set()),
            replay=lambda batch: replayed(records.get(batch)),
            run_id=job["run_id"],
        )
        upload_dir(steps.s3, Path(tmp), ref.bucket, results_prefix)
    relative = ref.key[len(INCOMING_PREFIX) :]
    answer = conclude(steps.s3, steps.jobs, ref, job_id, summary, results_prefix, relative)
    return {"job_id": job_id, "state": answer["state"], "results_prefix": results_prefix}


def abandon(event: dict, steps: Steps) -> dict:
    """The execution failed: the job says so and why (its source stays in incoming/ for a re-drive)."""
    document = event.get("job") or {}
    job_id = document.get("job_id")
    reason = caught_message(event.get("error") or {})
    if job_id:
        steps.jobs.set(job_id, state="failed", refused=reason, finished_at=utc_now(), step="failed")
    return {"job_id": job_id, "state": "failed", "reason": reason}
