"""The participant_report handler through real events, against moto (S3, DynamoDB, Secrets Manager) and the
Zoom simulator of the local stack (accounts "main" and "sub", seeded with the demo data).

The token_refresh handler runs first, so the token secrets exist. The handler's ``clock`` is frozen at a
time after the demo's September 2024 meetings; its ``start`` (how a run that outgrows one invocation goes on, on
the report state machine) is a recorder. Every test reads what landed in S3 (and the DynamoDB manifest) back.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from infra.local.stack import BUCKET, MANIFEST_TABLE, ZOOM_ACCOUNTS, LambdaContext, LocalStack, load_handler
from infra.local.zoom_sim import DEMO_UUIDS, Fault
from tests import testkit
from tests.conftest import load_event
from zoomops.names import LOCAL
from zoomops.zoom.reports.files import instance_key
from zoomops.zoom.reports.pseudonymise import Pseudonymiser

SCHEDULED = load_event("eventbridge_scheduled.json")
UTC = UTC
SEPT_20 = datetime(2024, 9, 20, 12, tzinfo=UTC).timestamp()  # every demo instance is older than this
LECTURE, OFFICE, REVIEW = "81234567890", "82345678901", "83456789012"
LECTURE_UUIDS = [DEMO_UUIDS["leading_slash"], DEMO_UUIDS["double_slash"], DEMO_UUIDS["plain"]]
ALL_UUIDS = LECTURE_UUIDS + [DEMO_UUIDS["single_participant"], DEMO_UUIDS["pair"]]
PEOPLE = (
    "Ada Lovelace",
    "Alan Turing",
    "ada.lovelace@campus.example.edu",
    "alan.turing@campus.example.edu",
    "@students.campus.example.edu",
    "spam@elsewhere.example.com",
    "Lovelace",
    "Turing",
    "Student 100",
)


# ------------------------------------------------------------------ fixtures and helpers
class Reports:
    """The handler module, its continuation recorder, and what it left behind."""

    def __init__(self, stack: LocalStack, module):
        self.stack, self.module, self.continued = stack, module, []
        self.s3, self.ddb = stack.client("s3"), stack.client("dynamodb")
        module.runtime.use(clock=lambda: SEPT_20, start=self.start)

    def start(self, kind: str, job_id: str, document: dict) -> str:
        """The report state machine's StartExecution, recorded: what it would have been given."""
        assert kind == "report" and document["job_id"] == job_id
        self.continued.append(document)
        return f"arn:aws:states:us-east-1:123456789012:execution:zoomops-local-reports:{job_id}"

    def cold(self) -> Reports:
        """A new container: it reads the environment as it is now."""
        return Reports(self.stack, load_handler("participant_report"))

    def at(self, when: float) -> Reports:
        self.module.runtime.use(clock=lambda: when)
        return self

    def __call__(self, event: dict, context: LambdaContext | None = None) -> dict:
        self.requests_before = len(self.stack.zoom.api_requests)
        context = context or LambdaContext(function_name="zoomops-participant-report", timeout_seconds=120)
        return self.module.handler(event, context)

    def requests(self) -> list[dict]:
        """The Zoom API requests of the last invocation."""
        return self.stack.zoom.api_requests[self.requests_before :]

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"reports/{prefix}")
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def csv(self, key: str) -> list[dict]:
        return list(csv.DictReader(io.StringIO(self.read(f"reports/{key}").decode("utf-8"))))

    def json(self, key: str):
        return json.loads(self.read(f"reports/{key}"))

    def versions(self, prefix: str = "participants/") -> dict[str, int]:
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=f"reports/{prefix}")
        counts: dict[str, int] = {}
        for page in pages:
            for version in page.get("Versions", []):
                counts[version["Key"]] = counts.get(version["Key"], 0) + 1
        return counts

    def manifest(self) -> dict[str, dict]:
        items = self.ddb.scan(TableName=MANIFEST_TABLE)["Items"]
        return {item["key"]["S"]: item for item in items}


@pytest.fixture(scope="module")
def refresher():
    """One token_refresh container for the module (its clients survive the stack's per-test reset)."""
    return load_handler("token_refresh")


# 2024-08-21 .. 2024-09-20 from SEPT_20. Business-plan rates on both sides (the client's limiter and the
# simulator's): the same behaviour with less waiting; the throughput at Pro rates is what
# benchmarks/bench_reports.py measures.
REPORT_ENV = {"ZOOMOPS_REPORT_LOOKBACK_DAYS": "30", "ZOOMOPS_ZOOM_PLAN": "business"}


@pytest.fixture(scope="module")
def warm(_local_stack):
    """One participant_report container reused by the tests that need no other environment (a warm Lambda)."""
    with pytest.MonkeyPatch.context() as env:  # a container reads its environment at cold start
        for name, value in REPORT_ENV.items():
            env.setenv(name, value)
        return load_handler("participant_report")


@pytest.fixture
def reports(stack, refresher, warm, monkeypatch):
    """The handler; ``reports.cold()`` after changing the environment gives a fresh container."""
    for name, value in REPORT_ENV.items():
        monkeypatch.setenv(name, value)
    limits = dict(stack.zoom.limits)
    stack.zoom.limits.update(light=80.0, medium=60.0, heavy=40.0)
    refresher.handler(SCHEDULED, LambdaContext(function_name="zoomops-token-refresh"))
    yield Reports(stack, warm)
    stack.zoom.limits.update(limits)


@pytest.fixture
def slow_zoom(stack):
    yield stack.zoom
    stack.zoom.latency = 0.0


def instance_base(meeting_id: str, uuid: str, day: str) -> str:
    return instance_key(meeting_id, day, uuid)


def heavy(requests: list[dict]) -> list[dict]:
    return [r for r in requests if r["category"] == "heavy"]


# ------------------------------------------------------------------ the schedule
def test_a_scheduled_run_reports_every_users_past_meetings_and_a_second_run_writes_nothing(reports):
    result = reports(SCHEDULED)  # no ZOOMOPS_REPORT_USERS: every active user of the account
    assert (result["meetings"], result["instances"], result["instances_written"]) == (2, 5, 5)
    assert (result["rows_written"], result["registrants_written"], result["single_participant"]) == (15, 5, 1)
    assert result["failed"] == [] and result["stopped"] is None and result["run_id"] == "20240920T120000Z"

    participants = reports.keys("participants/")
    assert len(participants) == 10
    assert {k.rsplit("/", 1)[0] for k in participants} == {
        f"reports/participants/meeting={meeting}/date={day}"
        for meeting, day in (
            (LECTURE, "2024-09-02"),
            (LECTURE, "2024-09-09"),
            (LECTURE, "2024-09-16"),
            (OFFICE, "2024-09-03"),
            (OFFICE, "2024-09-10"),
        )
    }
    rows = reports.csv(instance_base(LECTURE, DEMO_UUIDS["plain"], "2024-09-16") + ".csv")
    assert len(rows) == 5 and rows[0]["user_email"] == "ada.lovelace@campus.example.edu"
    body = reports.json(instance_base(LECTURE, DEMO_UUIDS["plain"], "2024-09-16") + ".json")
    assert body["instance_uuid"] == DEMO_UUIDS["plain"] and len(body["participants"]) == 5
    assert reports.keys("registrants/") == [
        f"reports/registrants/meeting={m}/registrants.{ext}" for m in (LECTURE, OFFICE) for ext in ("csv", "json")
    ]
    assert len(reports.csv(f"registrants/meeting={LECTURE}/registrants.csv")) == 5

    run = "runs/20240920T120000Z/"
    assert reports.keys(run) == [f"reports/{run}{name}" for name in ("attendance.csv", "instances.csv", "summary.json")]
    assert len(reports.csv(run + "attendance.csv")) == 14 and len(reports.csv(run + "instances.csv")) == 5
    assert reports.json(run + "summary.json") == result
    done = reports.manifest()
    assert set(done) == {f"main#instance#{uuid}" for uuid in ALL_UUIDS}
    assert json.loads(done[f"main#instance#{DEMO_UUIDS['pair']}"]["info"]["S"])["rows"] == 2

    again = reports.at(SEPT_20 + 86_400)(SCHEDULED)  # the next day's run
    assert (again["instances"], again["skipped_done"]) == (5, 5)
    assert (again["instances_written"], again["rows_written"]) == (0, 0)
    assert heavy(reports.requests()) == []
    assert set(reports.versions().values()) == {1} and len(reports.versions()) == 10  # nothing rewritten
    assert reports.json("runs/20240921T120000Z/summary.json")["skipped_done"] == 5


def test_a_scheduled_run_for_the_configured_users_only(reports, monkeypatch):
    monkeypatch.setenv("ZOOMOPS_REPORT_USERS", " alan.turing@campus.example.edu ,")
    reports = reports.cold()
    result = reports(SCHEDULED)
    assert (result["meetings"], result["instances_written"], result["single_participant"]) == (1, 2, 1)
    assert {k.split("/")[2] for k in reports.keys("participants/")} == {f"meeting={OFFICE}"}
    single = reports.json(instance_base(OFFICE, DEMO_UUIDS["single_participant"], "2024-09-03") + ".json")
    assert single["single_participant"] is True and single["source"] == "dashboard"
    assert [p["user_name"] for p in single["participants"]] == ["Alan Turing"]
    instances = {r["instance_uuid"]: r for r in reports.csv(f"runs/{result['run_id']}/instances.csv")}
    assert instances[DEMO_UUIDS["single_participant"]]["single_participant"] == "True"
    assert instances[DEMO_UUIDS["pair"]]["single_participant"] == "False"


# ------------------------------------------------------------------ on request
def test_meeting_ids_with_slashed_uuids_and_a_failed_instance_retried_next_run(reports):
    reports.stack.zoom.add_faults(Fault(status=404, path_contains="/participants"))  # one instance's report
    first = reports({"meeting_ids": [LECTURE, REVIEW]})
    assert (first["meetings"], first["instances"], first["instances_written"]) == (2, 3, 2)
    assert len(first["failed"]) == 1
    failed = first["failed"][0]
    assert failed["meeting_id"] == LECTURE and failed["instance_uuid"] in LECTURE_UUIDS and "404" in failed["reason"]
    assert reports.json(f"runs/{first['run_id']}/summary.json")["failed"] == first["failed"]
    assert f"main#instance#{failed['instance_uuid']}" not in reports.manifest()
    assert len(reports.keys("participants/")) == 4
    assert len(reports.csv(f"registrants/meeting={REVIEW}/registrants.csv")) == 3  # a future meeting's registrants

    second = reports.at(SEPT_20 + 3600)({"meeting_ids": [LECTURE, REVIEW]})
    assert (second["instances_written"], second["skipped_done"], second["failed"]) == (1, 2, [])
    asked = [r["path"] for r in heavy(reports.requests())]
    assert len(asked) == 1 and ("%252F" in asked[0]) == ("/" in failed["instance_uuid"])
    assert len(reports.keys("participants/")) == 6 and set(reports.versions().values()) == {1}
    paths = [r["path"] for r in reports.stack.zoom.api_requests if r["category"] == "heavy" and r["status"] == 200]
    assert "/v2/report/meetings/%252FkLm3nOp4QrS5tUv6wXy7A%253D%253D/participants" in paths  # leading '/'
    assert "/v2/report/meetings/Qw8%252F%252FeRtYuIoPaSdFgHjKl%253D%253D/participants" in paths  # '//'


def test_a_csv_in_s3_names_the_meetings(reports):
    reports.stack.put_file(
        "uploads/fall-courses.csv",
        (
            b"Meeting ID,Context ID,Domain,custom_canvas_course_id\n"
            b"812 3456 7890,ctx-1,https://lms.example.edu,11\n"
            b"81234567890,ctx-2,https://lms.example.edu,12\n"
            b"823-4567-8901,ctx-1,https://lms.example.edu,13\n"
            b"garbage,ctx-1,https://lms.example.edu,14\n"
        ),
    )
    result = reports({"csv": f"s3://{BUCKET}/uploads/fall-courses.csv"})
    assert (result["meetings"], result["instances"], result["instances_written"], result["failed"]) == (2, 5, 5, [])
    assert len(reports.keys("participants/")) == 10


def test_users_and_dates_then_an_instance_too_recent_is_picked_up_later(reports):
    result = reports({"users": ["ada.lovelace@campus.example.edu"], "from": "2024-09-01", "to": "2024-09-09"})
    assert (result["meetings"], result["instances"], result["instances_written"]) == (1, 2, 2)  # "to" is inclusive
    assert {k.split("/")[3] for k in reports.keys("participants/")} == {"date=2024-09-02", "date=2024-09-09"}
    listed = [r for r in reports.requests() if r["path"].endswith("/meetings")]
    assert listed and listed[0]["query"]["from"] == "2024-09-01" and listed[0]["query"]["to"] == "2024-09-10"

    started = datetime(2024, 9, 16, 9, tzinfo=UTC)  # the third lecture, 30 minutes in: its report may not be ready
    early = reports.at((started + timedelta(minutes=30)).timestamp())({"meeting_ids": [LECTURE]})
    assert (early["instances_written"], early["skipped_done"], early["skipped_recent"]) == (0, 2, 1)
    assert heavy(reports.requests()) == []
    later = reports.at((started + timedelta(hours=3)).timestamp())({"meeting_ids": [LECTURE]})
    assert (later["instances_written"], later["skipped_done"], later["skipped_recent"]) == (1, 2, 0)
    assert sum("date=2024-09-16" in k for k in reports.keys("participants/")) == 2


# ------------------------------------------------------------------ limits and checkpoints
def test_a_daily_limit_stops_cleanly_and_the_run_after_the_reset_resumes(reports, monkeypatch):
    # One worker: every meeting is planned before any instance is fetched, so the scripted
    # stop lands at a known point (with more workers the two kinds of call interleave).
    monkeypatch.setenv("ZOOMOPS_REPORT_WORKERS", "1")
    reports = reports.cold()
    zoom = reports.stack.zoom
    zoom.add_faults(Fault(rate_limit_type="Daily-limit", category="Heavy", path_contains="/participants"))
    stopped = reports({"meeting_ids": [LECTURE, OFFICE]})
    assert stopped["stopped"] == "daily-limit" and stopped["failed"] == []
    assert stopped["instances_written"] + stopped["deferred"] == 5 and stopped["deferred"] >= 1
    midnight = datetime.fromtimestamp(zoom.clock() // 86_400 * 86_400 + 86_400, UTC)
    assert datetime.fromisoformat(stopped["resume_after"]) == midnight  # the simulator's Retry-After
    assert reports.manifest()["main#resume"]["resume_after"]["S"] == stopped["resume_after"]
    assert reports.json(f"runs/{stopped['run_id']}/summary.json")["stopped"] == "daily-limit"
    # The report state machine takes the rest over (it waits for the reset): no self-invocation, no new schedule.
    [follow] = reports.continued
    assert set(follow["meeting_ids"]) <= {LECTURE, OFFICE} and follow["account"] == "main"
    job = reports.stack.job(follow["job_id"])
    assert (job["kind"], job["engine"], job["step"], job["stopped"]) == (
        "report",
        "stepfunctions",
        "queued",
        "daily-limit",
    )
    assert stopped["execution_arn"] == job["execution_arn"]
    written = reports.keys("participants/")

    before = reports.at(midnight.timestamp() - 600)({"meeting_ids": [LECTURE, OFFICE]})
    assert (before["stopped"], before["resume_after"], before["instances_written"]) == (
        "daily-limit",
        stopped["resume_after"],
        0,
    )
    assert reports.requests() == [] and reports.keys("participants/") == written

    after = reports.at(midnight.timestamp() + 60)({"meeting_ids": [LECTURE, OFFICE]})
    assert after["stopped"] is None and after["failed"] == []
    assert (after["skipped_done"], after["instances_written"]) == (stopped["instances_written"], stopped["deferred"])
    assert len(reports.keys("participants/")) == 10 and set(reports.versions().values()) == {1}
    assert "main#resume" not in reports.manifest()


def test_near_the_time_limit_it_checkpoints_and_the_continuation_finishes(reports, slow_zoom, monkeypatch):
    monkeypatch.setenv("ZOOMOPS_REPORT_WORKERS", "1")
    reports = reports.cold()
    short = runs_out_after(reports.stack.zoom, 8)  # time is up once both meetings are planned: no wall clock
    first = reports({"meeting_ids": [LECTURE, OFFICE]}, short)
    assert first["stopped"] == "time-limit" and first["failed"] == []
    assert first["instances_written"] < 5 and first["instances_written"] + first["deferred"] <= 5
    assert len(reports.continued) == 1
    follow = reports.continued[0]
    assert follow["account"] == "main" and follow["job_id"].startswith("rep-")
    assert follow["meeting_ids"] and set(follow["meeting_ids"]) <= {LECTURE, OFFICE}
    assert reports.stack.job(follow["job_id"])["continues"] == first["run_id"]

    rest = reports.at(SEPT_20 + 120)(follow)  # what the state machine is given is a request that finishes the rest
    assert rest["stopped"] is None and rest["failed"] == []
    assert rest["skipped_done"] + rest["instances_written"] == rest["instances"]
    assert first["instances_written"] + rest["instances_written"] == 5
    assert len(reports.continued) == 1  # finished: no further continuation
    assert set(reports.versions()) == set(reports.keys("participants/")) and len(reports.versions()) == 10
    assert set(reports.versions().values()) == {1}  # no instance file written twice
    assert len(reports.keys(f"runs/{first['run_id']}/")) == 3 and len(reports.keys(f"runs/{rest['run_id']}/")) == 3


def runs_out_after(zoom, medium_calls: int) -> LambdaContext:
    """A context whose time runs out once this invocation has made ``medium_calls`` medium-category calls."""
    context = LambdaContext(function_name=LOCAL.function("participant_report"), timeout_seconds=900)
    return testkit.runs_out_after(zoom, medium_calls, context)


def test_the_continuation_holds_only_the_meetings_left_to_do(reports, monkeypatch):
    # One worker: every meeting is planned before any instance is fetched, so the scripted
    # stop lands at a known point (with more workers the two kinds of call interleave).
    monkeypatch.setenv("ZOOMOPS_REPORT_WORKERS", "1")
    reports = reports.cold()
    assert reports({"meeting_ids": [OFFICE]})["instances_written"] == 2
    context = runs_out_after(reports.stack.zoom, 8)  # time is up once both meetings are planned
    first = reports.at(SEPT_20 + 60)({"meeting_ids": [OFFICE, LECTURE]}, context)
    assert first["stopped"] == "time-limit" and (first["skipped_done"], first["deferred"]) == (2, 3)
    assert [p["meeting_ids"] for p in reports.continued] == [[LECTURE]]


def test_a_scheduled_runs_continuation_keeps_its_window(reports, monkeypatch):
    # One worker: every meeting is planned before any instance is fetched, so the scripted
    # stop lands at a known point (with more workers the two kinds of call interleave).
    monkeypatch.setenv("ZOOMOPS_REPORT_WORKERS", "1")
    reports = reports.cold()
    run_at = datetime(2024, 9, 12, 12, tzinfo=UTC).timestamp()  # window 2024-08-13 .. 09-12 12:00: 4 instances
    context = runs_out_after(reports.stack.zoom, 3 + 8)  # listing users and meetings, then planning both
    first = reports.at(run_at)(SCHEDULED, context)
    assert (first["stopped"], first["instances"], first["deferred"]) == ("time-limit", 4, 4)
    assert len(reports.continued) == 1
    rest = reports.at(run_at + 60)(reports.continued[0])
    assert rest["instances"] == 4 and rest["instances_written"] == 4 and rest["skipped_recent"] == 0


def test_a_hand_over_that_cannot_start_ends_the_job_it_made(reports, monkeypatch):
    """StartExecution refused (an input over Step Functions' 256 KB, throttling...): the new job says so."""
    monkeypatch.setenv("ZOOMOPS_REPORT_WORKERS", "1")
    reports = reports.cold()

    def refused(kind: str, job_id: str, document: dict) -> str:
        reports.continued.append(document)
        raise RuntimeError("input too large")

    reports.module.runtime.use(start=refused)
    context = runs_out_after(reports.stack.zoom, 8)
    with pytest.raises(RuntimeError):
        reports.at(SEPT_20 + 60)({"meeting_ids": [OFFICE, LECTURE]}, context)
    [document] = reports.continued
    job = reports.stack.job(document["job_id"])
    assert job["state"] == "failed" and "could not be started: RuntimeError: input too large" in job["refused"]
    assert job["finished_at"]


# ------------------------------------------------------------------ privacy
def test_pseudonymised_reports_hold_no_names_or_emails(reports, monkeypatch):
    key = "campus-report-pseudonym-key-2024-xyz"
    reports.stack.client("secretsmanager").create_secret(Name="zoomops-local/pseudonym", SecretString=key)
    monkeypatch.setenv("ZOOMOPS_PSEUDONYM_SECRET_ID", "zoomops-local/pseudonym")
    reports = reports.cold()
    result = reports({"meeting_ids": [LECTURE, OFFICE, REVIEW]})
    assert result["instances_written"] == 5 and result["registrants_written"] == 8
    keys = reports.keys()
    assert len(keys) == 10 + 6 + 3
    for key_name in keys:
        text = reports.read(key_name).decode("utf-8")
        for person in PEOPLE:
            assert person not in text, (key_name, person)
    alias = Pseudonymiser(key.encode())("s1001@students.campus.example.edu")
    attendance = reports.csv(f"runs/{result['run_id']}/attendance.csv")
    assert {r["instance_uuid"] for r in attendance if r["participant"] == alias} == {
        DEMO_UUIDS["leading_slash"],
        DEMO_UUIDS["plain"],
    }
    names = {r["name"] for r in attendance if r["participant"] == alias}
    assert names == {Pseudonymiser(key.encode())("Student 1001")}


# ------------------------------------------------------------------ refused payloads
BAD_PAYLOADS = [
    ({"meeting_ids": "81234567890"}, "meeting_ids"),
    ({"meeting_ids": []}, "meeting_ids"),
    ({"meeting_ids": ["81234567890", "DROP TABLE"]}, "meeting_ids"),
    ({"users": "ada.lovelace@campus.example.edu"}, "users"),
    ({"users": ["ada.lovelace@campus.example.edu", 7]}, "users"),
    ({"users": ["ada.lovelace@campus.example.edu"], "from": "01/09/2024"}, "from"),
    ({"users": ["ada.lovelace@campus.example.edu"], "to": "2024-02-30"}, "to"),
    ({"users": ["ada.lovelace@campus.example.edu"], "from": "2024-09-10", "to": "2024-09-01"}, "to"),
    ({"meetings": [LECTURE]}, "meetings"),
    ({"meeting_ids": [LECTURE], "account": "nope"}, "account"),
]


def test_a_bad_payload_is_refused_naming_the_field(reports):
    for payload, field in BAD_PAYLOADS:  # one container for all of them, as Lambda would reuse it
        result = reports(payload)
        assert set(result) == {"refused"} and re.search(rf"(^|\s){field}\b", result["refused"]), (payload, result)
        assert reports.requests() == [], payload
    assert reports.keys() == []


def test_a_bad_csv_url_is_refused_naming_the_field(reports):
    for csv_url in ("https://lms.example.edu/courses.csv", f"s3://{BUCKET}/uploads/missing.csv"):
        result = reports({"csv": csv_url})
        assert set(result) == {"refused"} and "csv" in result["refused"], csv_url


def test_an_instance_uuid_starting_with_a_formula_character_stays_joinable(reports):
    """The formula guard writes such a UUID '+... in the roll-ups (it used to change the join key silently):
    instance_file, the per-instance files' own key, joins them, and can never start a formula."""
    zoom, account = reports.stack.zoom, ZOOM_ACCOUNTS["main"][0]
    zoom.add_meeting(account, meeting_id=84000000001, host_email="ada.lovelace@campus.example.edu", topic="plus")
    uuid = "+PlusLeads0123456789Ab=="
    people = [
        {"name": "Ada Lovelace", "user_email": "ada.lovelace@campus.example.edu"},
        {"name": "Student 1", "user_email": "s1@students.campus.example.edu"},
    ]
    zoom.add_instance(account, 84000000001, uuid=uuid, start_time="2024-09-10T09:00:00Z", participants=people)
    result = reports({"meeting_ids": ["84000000001"]})
    base = f"runs/{result['run_id']}"
    attendance, instances = reports.csv(f"{base}/attendance.csv"), reports.csv(f"{base}/instances.csv")
    assert {row["instance_uuid"] for row in attendance} == {"'" + uuid}  # guarded, as every cell
    key = instance_key("84000000001", "2024-09-10T09:00:00Z", uuid)
    assert {row["instance_file"] for row in attendance} == {key} == {row["instance_file"] for row in instances}
    assert reports.json(f"{key}.json")["instance_uuid"] == uuid  # raw where it is the key
