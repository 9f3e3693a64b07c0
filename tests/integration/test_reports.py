"""zoomops.reports: ReportRun against the Zoom simulator (real HTTP on 127.0.0.1) into a folder.

Every test gets its own simulator (seeded with the demo data, no QPS limits) and reads the written
files back. The run's clock is frozen (``clock=`` a constant); nothing sleeps: the client's limiter is
given rates far above what a test sends and its transport backoff is 0.
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from infra.local.zoom_sim import DEMO_UUIDS, Fault, ZoomSimulator, seed_demo
from tests.testkit import participant_files, read_csv
from zoomops.zoom.client import RateLimiter, Token, ZoomClient
from zoomops.zoom.reports.files import (
    ATTENDANCE_FIELDS,
    INSTANCE_FIELDS,
    PARTICIPANT_FIELDS,
    FileManifest,
    FolderSink,
    instance_key,
)
from zoomops.zoom.reports.pseudonymise import Pseudonymiser
from zoomops.zoom.reports.request import ReportRequest, meetings_of_users
from zoomops.zoom.reports.run import Options, ReportRun

ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET = "UnitReportsAcct1", "unit-reports-client", "unit-reports-SECRET-4411"
LECTURE, OFFICE, REVIEW = "81234567890", "82345678901", "83456789012"
LECTURE_UUIDS = [DEMO_UUIDS["leading_slash"], DEMO_UUIDS["double_slash"], DEMO_UUIDS["plain"]]
OFFICE_UUIDS = [DEMO_UUIDS["single_participant"], DEMO_UUIDS["pair"]]
UTC = UTC
NOW = datetime(2024, 10, 1, 12, tzinfo=UTC).timestamp()  # after every demo instance
FAST = {"light": 1e6, "medium": 1e6, "heavy": 1e6}  # the limiter never waits in these tests
FORMULA_START = ("=", "+", "-", "@")
DEMO_PEOPLE = (
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
class SimTokens:
    """A token source holding one token the simulator issued (the client never sees credentials)."""

    def __init__(self, sim: ZoomSimulator):
        answer = requests.post(
            f"{sim.base_url}/oauth/token",
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=5,
            params={"grant_type": "account_credentials", "account_id": ACCOUNT_ID},
        )
        answer.raise_for_status()
        body = answer.json()
        self._token = Token(body["access_token"], body["api_url"], time.time() + body["expires_in"])

    def token(self, *, force: bool = False) -> Token:
        return self._token


@pytest.fixture
def zsim():
    sim = ZoomSimulator(limits={"light": None, "medium": None, "heavy": None})
    sim.add_account(ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET)
    seed_demo(sim, ACCOUNT_ID)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def client(zsim):
    zoom = ZoomClient(SimTokens(zsim), limiter=RateLimiter(FAST), backoff=0)
    yield zoom
    zoom.close()


@pytest.fixture
def out(tmp_path) -> Path:
    return tmp_path / "reports"


def reporter(client, out: Path, *, clock: float = NOW, **kwargs) -> ReportRun:
    run_kwargs = {k: kwargs.pop(k) for k in ("time_left", "min_time_left", "progress") if k in kwargs}
    return ReportRun(
        client,
        FolderSink(out),
        FileManifest(out / "manifest.json"),
        Options(**kwargs),
        clock=lambda: clock,
        **run_kwargs,
    )


def instance_files(out: Path, meeting_id: str, uuid: str, start_day: str) -> tuple[list[dict], dict]:
    base = out / f"{instance_key(meeting_id, start_day, uuid)}"
    return read_csv(base.with_name(base.name + ".csv")), json.loads(base.with_name(base.name + ".json").read_text())


def run_files(out: Path, summary) -> tuple[list[dict], list[dict], dict]:
    base = out / "runs" / summary.run_id
    return (
        read_csv(base / "attendance.csv"),
        read_csv(base / "instances.csv"),
        json.loads((base / "summary.json").read_text()),
    )


def report_requests(sim: ZoomSimulator) -> list[dict]:
    return [r for r in sim.api_requests if r["path"].startswith("/v2/report/")]


def add_people_meeting(
    sim: ZoomSimulator,
    meeting_id: int,
    uuid: str,
    people: list[dict],
    start: str = "2024-09-20T10:00:00Z",
    registrants: list[dict] | None = None,
) -> None:
    sim.add_meeting(
        ACCOUNT_ID,
        meeting_id=meeting_id,
        host_email="ada.lovelace@campus.example.edu",
        topic="extra",
        start_time=start,
        duration=60,
        registrants=registrants,
    )
    sim.add_instance(ACCOUNT_ID, meeting_id, uuid=uuid, start_time=start, participants=people)


# ------------------------------------------------------------------ a full run over the demo data
def test_a_run_writes_every_instance_registrants_and_the_run_rollups(zsim, client, out):
    summary = reporter(client, out).run([LECTURE, OFFICE, REVIEW])
    assert (summary.meetings, summary.instances, summary.instances_written) == (3, 5, 5)
    assert (summary.rows_written, summary.single_participant, summary.failed, summary.stopped) == (15, 1, [], None)

    files = participant_files(out)
    assert len(files) == 10 and {f.suffix for f in files} == {".csv", ".json"}
    days = {f.parent.name for f in files}
    assert days == {"date=2024-09-02", "date=2024-09-09", "date=2024-09-16", "date=2024-09-03", "date=2024-09-10"}
    rows, payload = instance_files(out, LECTURE, DEMO_UUIDS["leading_slash"], "2024-09-02")
    assert [r["name"] for r in rows] == ["Ada Lovelace", "Student 1001", "Student 1001", "Student 1002"]
    assert list(rows[0])[: len(PARTICIPANT_FIELDS)] == list(PARTICIPANT_FIELDS)
    assert payload["instance_uuid"] == DEMO_UUIDS["leading_slash"] and payload["source"] == "report"
    assert payload["single_participant"] is False and len(payload["participants"]) == 4

    # registrants: every status, per meeting (the future review too: it has registrants, no instance)
    lecture_regs = read_csv(out / f"registrants/meeting={LECTURE}/registrants.csv")
    assert sorted(r["status"] for r in lecture_regs) == ["approved"] * 3 + ["denied", "pending"]
    assert len(json.loads((out / f"registrants/meeting={REVIEW}/registrants.json").read_text())) == 3
    assert summary.registrants_written == 8

    attendance, instances, saved = run_files(out, summary)
    assert list(attendance[0]) == list(ATTENDANCE_FIELDS) and list(instances[0]) == list(INSTANCE_FIELDS)
    assert len(instances) == 5 and len(attendance) == 14  # 3 + 3 + 5 (a blank guest) + 1 + 2
    per_instance = {r["instance_uuid"]: r for r in instances}
    assert per_instance[DEMO_UUIDS["leading_slash"]]["unique_participants"] == "3"
    assert float(per_instance[DEMO_UUIDS["leading_slash"]]["total_minutes"]) == pytest.approx(93 + 87 + 87)
    rejoined = next(
        r
        for r in attendance
        if r["instance_uuid"] == DEMO_UUIDS["leading_slash"] and r["email"] == "s1001@students.campus.example.edu"
    )
    assert (rejoined["first_join"], rejoined["last_leave"]) == ("2024-09-02T09:01:00Z", "2024-09-02T10:30:00Z")
    assert (float(rejoined["total_minutes"]), rejoined["sessions"]) == (pytest.approx(39 + 48), "2")
    assert saved["instances_written"] == 5 and saved["rows_written"] == 15 and saved["run_id"] == summary.run_id
    assert saved["started_at"] == "2024-10-01T12:00:00+00:00"

    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["done"]) == set(LECTURE_UUIDS + OFFICE_UUIDS) and manifest["resume_after"] is None


def test_a_second_run_skips_finished_instances_and_writes_none(zsim, client, out):
    reporter(client, out).run([LECTURE, OFFICE])
    before = {f: f.stat().st_mtime_ns for f in participant_files(out)}
    zsim.reset()
    again = reporter(client, out, clock=NOW + 60).run([LECTURE, OFFICE])
    assert (again.instances, again.skipped_done, again.instances_written, again.rows_written) == (5, 5, 0, 0)
    assert report_requests(zsim) == []  # nothing asked of the heavy endpoints
    assert {f: f.stat().st_mtime_ns for f in participant_files(out)} == before
    attendance, instances, saved = run_files(out, again)
    assert attendance == [] and instances == [] and saved["skipped_done"] == 5


def test_the_run_window_and_min_age(zsim, client, out):
    lecture_plain = datetime(2024, 9, 16, 9, tzinfo=UTC)
    window = reporter(client, out, since=datetime(2024, 9, 5, tzinfo=UTC), until=datetime(2024, 9, 16, tzinfo=UTC))
    summary = window.run([LECTURE])
    assert (summary.instances, summary.instances_written) == (1, 1)  # only 2024-09-09 in [since, until)
    assert [p.parent.name for p in participant_files(out)] == ["date=2024-09-09"] * 2

    # 30 minutes after the third lecture started its report may not be ready: left for the next run
    early = reporter(client, out, clock=(lecture_plain + timedelta(minutes=30)).timestamp()).run([LECTURE])
    assert (early.skipped_done, early.skipped_recent, early.instances_written) == (1, 1, 1)
    assert not any("2024-09-16" in str(p) for p in participant_files(out))
    later = reporter(client, out, clock=(lecture_plain + timedelta(hours=2)).timestamp()).run([LECTURE])
    assert (later.skipped_done, later.skipped_recent, later.instances_written) == (2, 0, 1)
    assert any("date=2024-09-16" in str(p) for p in participant_files(out))


# ------------------------------------------------------------------ Zoom's quirks
def test_uuids_with_slashes_are_double_encoded_and_keyed_safely(zsim, client, out):
    summary = reporter(client, out).run([LECTURE])
    assert summary.instances_written == 3 and summary.failed == []
    sent = {r["path"]: r["status"] for r in report_requests(zsim)}
    assert sent == {
        "/v2/report/meetings/%252FkLm3nOp4QrS5tUv6wXy7A%253D%253D/participants": 200,
        "/v2/report/meetings/Qw8%252F%252FeRtYuIoPaSdFgHjKl%253D%253D/participants": 200,
        "/v2/report/meetings/Zx3cVbNmAsDfGhJkLqWeRt%3D%3D/participants": 200,
    }
    key = instance_key(LECTURE, "2024-09-09T09:00:00Z", DEMO_UUIDS["double_slash"])
    assert key == f"participants/meeting={LECTURE}/date=2024-09-09/UXc4Ly9lUnRZdUlvUGFTZEZnSGpLbD09"
    for uuid in LECTURE_UUIDS:
        name = instance_key(LECTURE, "2024-09-02", uuid).rsplit("/", 1)[1]
        assert "/" not in name and "=" not in name and "+" not in name
    assert instance_key("1", "", "x").startswith("participants/meeting=1/date=unknown/")


def test_a_single_participant_instance_is_filled_from_the_dashboard_and_marked(zsim, client, out):
    summary = reporter(client, out).run([OFFICE])
    assert (summary.instances_written, summary.single_participant) == (2, 1)
    rows, payload = instance_files(out, OFFICE, DEMO_UUIDS["single_participant"], "2024-09-03")
    assert payload["single_participant"] is True and payload["source"] == "dashboard"
    assert len(rows) == 1 and rows[0]["user_name"] == "Alan Turing" and rows[0]["device"] == "Windows"
    attendance, instances, _ = run_files(out, summary)
    single = next(r for r in instances if r["instance_uuid"] == DEMO_UUIDS["single_participant"])
    assert (single["single_participant"], single["source"], single["unique_participants"]) == ("True", "dashboard", "1")
    person = next(r for r in attendance if r["instance_uuid"] == DEMO_UUIDS["single_participant"])
    assert person["name"] == "Alan Turing" and person["email"] == "alan.turing@campus.example.edu"
    assert person["single_participant"] == "True" and person["device"] == "Windows"
    assert person["first_join"] == "2024-09-03T15:00:00Z" and person["last_leave"] == "2024-09-03T16:00:00Z"
    pair = next(r for r in instances if r["instance_uuid"] == DEMO_UUIDS["pair"])
    assert (pair["single_participant"], pair["source"], pair["unique_participants"]) == ("False", "report", "2")


def test_dashboard_filled_instances_count_minutes_from_join_and_leave(zsim, client, out):
    summary = reporter(client, out).run([OFFICE])
    attendance, instances, _ = run_files(out, summary)
    single = next(r for r in instances if r["instance_uuid"] == DEMO_UUIDS["single_participant"])
    person = next(r for r in attendance if r["instance_uuid"] == DEMO_UUIDS["single_participant"])
    assert float(person["total_minutes"]) == 60 and float(single["total_minutes"]) == 60


@pytest.mark.parametrize("dashboard", ["off", "forbidden"])
def test_a_single_participant_instance_without_the_dashboard_is_still_reported(zsim, client, out, dashboard):
    add_people_meeting(
        zsim, 84000000001, "SoloOnly+abcdefghijklmn==", [{"name": "Solo Host", "user_email": "solo@campus.example.edu"}]
    )
    if dashboard == "forbidden":  # instances, 3 registrant statuses, the report; then the dashboard says 403
        zsim.add_faults(*[Fault()] * 5, Fault(status=403))
    summary = reporter(client, out, use_dashboard=dashboard != "off").run(["84000000001"])
    assert (summary.instances_written, summary.single_participant, summary.failed) == (1, 1, [])
    rows, payload = instance_files(out, "84000000001", "SoloOnly+abcdefghijklmn==", "2024-09-20")
    assert rows == [] and payload["participants"] == [] and payload["single_participant"] is True
    assert payload["source"] == "none"
    _, instances, _ = run_files(out, summary)
    marked = [(r["single_participant"], r["source"], r["unique_participants"]) for r in instances]
    assert marked == [("True", "none", "0")]
    dashboard_asked = [r for r in zsim.api_requests if r["path"].startswith("/v2/metrics/")]
    assert [r["status"] for r in dashboard_asked] == ([] if dashboard == "off" else [403])


def test_participants_over_several_pages(zsim, client, out):
    people = [
        {
            "name": f"Learner {n:04d}",
            "user_email": f"learner{n:04d}@students.campus.example.edu",
            "join_time": "2024-09-20T10:00:00Z",
            "leave_time": "2024-09-20T10:45:00Z",
        }
        for n in range(650)
    ]
    add_people_meeting(zsim, 84000000002, "BigClass1234567890abcd==", people)
    summary = reporter(client, out).run(["84000000002"])
    assert (summary.instances_written, summary.rows_written) == (1, 650)
    pages = report_requests(zsim)
    assert len(pages) == 3 and [r["query"].get("page_size") for r in pages] == ["300"] * 3
    assert "next_page_token" not in pages[0]["query"] and all(r["query"]["next_page_token"] for r in pages[1:])
    rows, payload = instance_files(out, "84000000002", "BigClass1234567890abcd==", "2024-09-20")
    assert len(rows) == 650 and len(payload["participants"]) == 650
    assert len({r["user_email"] for r in rows}) == 650
    attendance, instances, _ = run_files(out, summary)
    assert len(attendance) == 650 and instances[0]["unique_participants"] == "650"
    assert float(instances[0]["total_minutes"]) == pytest.approx(650 * 45)


def test_no_csv_cell_can_run_as_a_formula(zsim, client, out):
    risky = ['=HYPERLINK("http://x","y")', "+SUM(1,2)", "-2+3", "@cmd", " =1+1", "\t=2"]
    people = [{"name": name, "user_email": f"risky{i}@students.campus.example.edu"} for i, name in enumerate(risky)]
    people.append({"name": "Plain Person", "user_email": "=evil@x.example"})
    add_people_meeting(
        zsim,
        84000000003,
        "Formula+Names+Uuid1234==",
        people,
        registrants=[{"email": "reg@students.campus.example.edu", "first_name": "=1+2", "last_name": "@SUM(A1)"}],
    )
    summary = reporter(client, out).run(["84000000003"])
    assert summary.rows_written == 7 and summary.registrants_written == 1
    written = list(out.rglob("*.csv"))
    assert len(written) == 4  # participants, registrants, attendance, instances
    cells = 0
    for path in written:
        for record in csv.reader(io.StringIO(path.read_text(encoding="utf-8"))):
            for value in record:
                cells += 1
                assert not value.lstrip().startswith(FORMULA_START), (path.name, value)
    assert cells > 100
    rows, payload = instance_files(out, "84000000003", "Formula+Names+Uuid1234==", "2024-09-20")
    assert rows[0]["name"] == "'" + risky[0]  # shown as text, nothing lost ...
    assert [p["name"] for p in payload["participants"]][: len(risky)] == risky  # ... and the JSON is exact


# ------------------------------------------------------------------ failures, limits, checkpoints
def test_a_404_instance_is_failed_with_its_reason_and_retried_next_run(zsim, client, out):
    add_people_meeting(
        zsim,
        84000000004,
        "Flaky404abcdefghijklmn==",
        [{"name": "A", "user_email": "a@x.example"}, {"name": "B", "user_email": "b@x.example"}],
    )
    zsim.add_faults(*[Fault()] * 4, Fault(status=404))  # instances, registrants x3, then the report
    first = reporter(client, out).run(["84000000004"])
    assert first.instances_written == 0 and len(first.failed) == 1
    failure = first.failed[0]
    assert failure["meeting_id"] == "84000000004" and failure["instance_uuid"] == "Flaky404abcdefghijklmn=="
    assert "404" in failure["reason"]
    assert json.loads((out / "runs" / first.run_id / "summary.json").read_text())["failed"] == first.failed
    assert participant_files(out) == []
    second = reporter(client, out, clock=NOW + 3600).run(["84000000004"])
    assert (second.instances_written, second.rows_written, second.failed) == (1, 2, [])


def test_5xx_are_retried_and_exhausted_retries_fail_the_instance(zsim, client, out):
    add_people_meeting(
        zsim,
        84000000005,
        "Flaky500abcdefghijklmn==",
        [{"name": "A", "user_email": "a@x.example"}, {"name": "B", "user_email": "b@x.example"}],
    )
    zsim.add_faults(*[Fault()] * 4, *[Fault(status=500)] * 4)  # the report: 4 attempts, all 500
    first = reporter(client, out).run(["84000000005"])
    assert len(first.failed) == 1 and "500" in first.failed[0]["reason"] and first.instances_written == 0
    zsim.reset()
    zsim.add_faults(*[Fault()] * 4, Fault(status=503), Fault(status=502))  # two 5xx, then the answer
    second = reporter(client, out, clock=NOW + 3600).run(["84000000005"])
    assert (second.instances_written, second.failed) == (1, [])
    assert [r["status"] for r in report_requests(zsim)] == [503, 502, 200]


def test_a_missing_meeting_is_a_failure_not_a_crash(zsim, client, out):
    summary = reporter(client, out).run(["89999999999", LECTURE])
    assert summary.instances_written == 3
    assert [(f["meeting_id"], f["instance_uuid"]) for f in summary.failed] == [("89999999999", "")]
    assert "404" in summary.failed[0]["reason"]


def test_qps_429s_are_waited_out_not_failures(zsim, client, out):
    # a QPS 429 with Zoom's headers, then a bare 429 (no X-RateLimit-* headers); both say "retry now"
    zsim.add_faults(*[Fault()] * 4, Fault(rate_limit_type="QPS", retry_after="0"), Fault(status=429, retry_after="0"))
    summary = reporter(client, out, workers=1).run([LECTURE])
    assert (summary.instances_written, summary.failed, summary.throttled) == (3, [], 2)
    assert zsim.throttled == 2


@pytest.mark.parametrize("retry_after", [None, "", "iso"], ids=["http-date", "none", "iso-time"])
def test_a_daily_limit_stops_cleanly_records_when_and_the_next_runs_resume(zsim, client, out, retry_after):
    midnight = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    header = midnight.isoformat().replace("+00:00", "Z") if retry_after == "iso" else retry_after
    # instances and registrants of both meetings (8 medium calls), then the first heavy call hits the cap
    zsim.add_faults(*[Fault()] * 8, Fault(rate_limit_type="Daily-limit", category="heavy", retry_after=header))
    stopped = reporter(client, out, workers=1).run([LECTURE, OFFICE])
    assert stopped.stopped == "daily-limit" and stopped.failed == []
    resume = datetime.fromisoformat(stopped.resume_after)
    assert abs((resume - midnight).total_seconds()) <= 2
    assert stopped.instances_written + stopped.deferred == 5 and stopped.deferred >= 1
    assert json.loads((out / "manifest.json").read_text())["resume_after"] == stopped.resume_after
    assert json.loads((out / "runs" / stopped.run_id / "summary.json").read_text())["stopped"] == "daily-limit"
    written = len(participant_files(out))

    zsim.reset()
    waiting = reporter(client, out, clock=(resume - timedelta(minutes=5)).timestamp()).run([LECTURE, OFFICE])
    assert (waiting.stopped, waiting.resume_after) == ("daily-limit", stopped.resume_after)
    assert waiting.instances_written == 0
    assert zsim.api_requests == [] and len(participant_files(out)) == written

    resumed = reporter(client, out, clock=(resume + timedelta(seconds=1)).timestamp()).run([LECTURE, OFFICE])
    assert resumed.stopped is None and resumed.failed == []
    assert (resumed.skipped_done, resumed.instances_written) == (stopped.instances_written, stopped.deferred)
    assert len(participant_files(out)) == 10
    assert json.loads((out / "manifest.json").read_text())["resume_after"] is None


def test_the_simulators_daily_cap_stops_the_run_and_a_new_day_finishes_it(zsim, client, out):
    zsim.daily_limit = 2
    stopped = reporter(client, out).run([LECTURE, OFFICE])
    assert stopped.stopped == "daily-limit" and stopped.failed == []
    assert stopped.instances_written <= 2 and stopped.instances_written + stopped.deferred == 5
    heavy = [r for r in zsim.api_requests if r["category"] == "heavy"]
    assert sum(r["status"] == 200 for r in heavy) == 2 and all(r["status"] in (200, 429) for r in heavy)
    zsim.daily_limit = None
    resume = datetime.fromisoformat(stopped.resume_after)
    resumed = reporter(client, out, clock=(resume + timedelta(seconds=1)).timestamp()).run([LECTURE, OFFICE])
    assert (resumed.stopped, resumed.instances_written + stopped.instances_written) == (None, 5)


def test_near_the_time_limit_the_run_stops_between_instances_and_the_next_finishes(zsim, client, out):
    progress: list[int] = []
    first = reporter(
        client,
        out,
        workers=1,
        min_time_left=10.0,
        progress=lambda s: progress.append(s.instances_written),
        time_left=lambda: 100.0 if len(progress) < 2 else 5.0,
    ).run([LECTURE, OFFICE])
    assert first.stopped == "time-limit" and first.failed == []
    assert 2 <= first.instances_written <= 3 and first.instances_written + first.deferred == 5
    assert progress == list(range(1, first.instances_written + 1))
    assert len(participant_files(out)) == 2 * first.instances_written
    assert json.loads((out / "runs" / first.run_id / "summary.json").read_text())["stopped"] == "time-limit"
    rest = reporter(client, out, clock=NOW + 60).run([LECTURE, OFFICE])
    assert (rest.stopped, rest.skipped_done, rest.instances_written) == (None, first.instances_written, first.deferred)
    assert len(participant_files(out)) == 10


def test_out_of_time_before_planning_does_nothing(zsim, client, out):
    summary = reporter(client, out, min_time_left=10.0, time_left=lambda: 1.0).run([LECTURE])
    assert (summary.stopped, summary.meetings, summary.instances_written) == ("time-limit", 0, 0)
    assert zsim.api_requests == []


# ------------------------------------------------------------------ privacy
def test_pseudonymised_runs_store_no_names_or_emails_and_keep_people_apart(zsim, client, out):
    key = b"campus-pseudonym-key-0123456789"
    summary = reporter(client, out, pseudonymise=Pseudonymiser(key)).run([LECTURE, OFFICE, REVIEW])
    assert summary.instances_written == 5
    everything = [p for p in out.rglob("*") if p.is_file()]
    assert len(everything) > 15
    for path in everything:
        text = path.read_text(encoding="utf-8")
        for secret in DEMO_PEOPLE:
            assert secret not in text, (path, secret)
    attendance, _, _ = run_files(out, summary)
    alias = Pseudonymiser(key)("s1001@students.campus.example.edu")
    seen = {r["instance_uuid"] for r in attendance if r["email"] == alias and r["participant"] == alias}
    assert seen == {DEMO_UUIDS["leading_slash"], DEMO_UUIDS["plain"]}  # the same person, both times
    students = {r["participant"] for r in attendance if r["instance_uuid"] == DEMO_UUIDS["plain"]}
    assert len(students) == 5  # host, three students and the blank guest stay distinct
    regs = read_csv(out / f"registrants/meeting={LECTURE}/registrants.csv")
    assert all(r["email"].startswith("p_") and r["first_name"].startswith("p_") for r in regs)
    assert regs and all(r["join_url"] == "" for r in regs)  # a personal join token: never stored
    registrants = json.loads((out / f"registrants/meeting={LECTURE}/registrants.json").read_text())
    assert registrants and not any("join_url" in r for r in registrants)
    assert "tk=" not in "".join(p.read_text(encoding="utf-8") for p in everything)


# ------------------------------------------------------------------ the pieces


def test_meetings_of_users_lists_past_meetings_in_the_range(zsim, client):
    sept = (datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 10, 1, tzinfo=UTC))
    assert meetings_of_users(client, None, *sept) == [LECTURE, OFFICE]  # every active user; no future review
    assert meetings_of_users(client, ["ada.lovelace@campus.example.edu"], *sept) == [LECTURE]
    assert meetings_of_users(client, ["DemoTeachingAlan000002"], *sept) == [OFFICE]
    third_of_sept = (datetime(2024, 9, 3, tzinfo=UTC), datetime(2024, 9, 4, tzinfo=UTC))
    assert meetings_of_users(client, None, *third_of_sept) == [OFFICE]


# ------------------------------------------------------------------ requests (payloads)
NOW_DT = datetime(2024, 9, 20, 15, 30, tzinfo=UTC)


def request(payload: dict, users: list[str] | None = None) -> ReportRequest:
    return ReportRequest.from_payload(payload, lookback_days=7, default_users=users, now=NOW_DT)
