"""``zoomops provision`` as a subprocess against the local stack: moto (the token secret), the Zoom simulator
(meetings validated against Zoom's OpenAPI description, the per-host daily cap) and the LTI Pro simulator
(bulkImport and bulkDisassociate over the same associations). Each test provisions for hosts of its own, so
the simulator's meetings from other tests never count."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from infra.local.stack import ZOOM_ACCOUNTS, LambdaContext, LocalStack, load_handler
from infra.local.zoom_sim import Fault
from tests.conftest import load_event
from tests.testkit import read_csv

pytestmark = pytest.mark.e2e

ZOOMOPS = Path(sys.executable).with_name("zoomops")
HEADER = "Context ID,Domain,custom_canvas_course_id,Host,Topic,Start,Timezone,Duration,Repeat,Until"
DOMAIN = "https://canvas.example.edu"
IMPORT_HEADER = ["Meeting ID", "Context ID", "Domain", "custom_canvas_course_id"]
ACCOUNT = ZOOM_ACCOUNTS["main"][0]
ADMIN = "lti-admin-01"


@pytest.fixture(scope="module")
def refresher():
    return load_handler("token_refresh")


@pytest.fixture
def hosts(stack: LocalStack):
    """Two Zoom users of the main account that no other test sees (removed with their meetings after)."""
    tag = uuid.uuid4().hex[:8]
    made = (f"ada.{tag}@campus.example.edu", f"alan.{tag}@campus.example.edu")
    for email in made:
        stack.zoom.add_user(ACCOUNT, email=email, timezone="America/New_York")
    yield made
    for email in made:
        stack.zoom.remove_user(ACCOUNT, email)


@pytest.fixture
def provision(stack: LocalStack, refresher, tmp_path):
    """Run a CLI command with the stack's Zoom account and LTI Pro simulator (tokens refreshed first)."""
    refresher.handler(load_event("eventbridge_scheduled.json"), LambdaContext(function_name="zoomops-token-refresh"))

    def run(source: Path, out: str, *args: str, command: str = "provision", wait: bool = True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMOPS_")}
        env.update(stack.function_env("participant_report"))
        env.update(
            ZOOMOPS_LTI_BASE_URL=stack.lti.base_url, ZOOMOPS_LTI_KEY=stack.lti_key, ZOOMOPS_LTI_SECRET=stack._lti_secret
        )
        argv = [str(ZOOMOPS), command, str(source), "--out", str(tmp_path / out), *args]
        if not wait:
            return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert stack._lti_secret not in proc.stdout + proc.stderr
        return proc, tmp_path / out

    return run


def semester(tmp_path: Path, *rows: str, name: str = "fall.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def courses(hosts: tuple[str, str]) -> list[str]:
    ada, alan = hosts
    return [
        f"ctx-bio,{DOMAIN},101,{ada},Biology lecture,2024-10-28 09:00,America/New_York,60,Mon;Wed,2024-11-13",
        f"ctx-chem,{DOMAIN},102,{alan},Chemistry lab,2024-11-05 14:00,Europe/London,90,,",
        f"ctx-phys,{DOMAIN},103,{ada},Physics office hours,2024-11-06 16:30,America/New_York,30,,",
    ]


def meetings(stack: LocalStack, *hosts: str) -> list[dict]:
    return [m for host in hosts for m in stack.zoom.meetings(ACCOUNT, host)]


def writes(stack: LocalStack, since: int = 0) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in stack.zoom.api_requests[since:] if r["method"] in ("POST", "PATCH")]


def no_secret_in(stack: LocalStack, out: Path) -> None:
    text = "".join(p.read_text() for p in out.iterdir() if p.is_file())
    for secret in stack.zoom.issued_secrets():  # tokens, start URLs, passwords, host keys
        assert secret not in text


def test_a_semester_is_created_with_import_files_and_a_rerun_changes_nothing(stack, provision, hosts, tmp_path):
    source = semester(tmp_path, *courses(hosts))
    proc, out = provision(source, "first")
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out / "rows.csv")
    assert [r["status"] for r in rows] == ["created"] * 3 and all(r["meeting_id"] for r in rows)
    assert [r["association"] for r in rows] == ["lti-import-001.csv"] * 3
    assert all(r["join_url"].startswith("https://") and "pwd=" not in r["join_url"] for r in rows)
    made = meetings(stack, *hosts)
    assert len(made) == 3
    lecture = next(m for m in made if m["topic"] == "Biology lecture")
    # A weekly class stays at 09:00 New York time across the DST change of 3 November: 13:00Z, then 14:00Z.
    times = [o["start_time"] for o in lecture["occurrences"]]
    days = ("10-28T13", "10-30T13", "11-04T14", "11-06T14", "11-11T14", "11-13T14")
    assert times == [f"2024-{d}:00:00Z" for d in days]
    imports = list(csv.reader((out / "lti-import-001.csv").open(newline="")))
    assert imports[0] == IMPORT_HEADER and len(imports) == 4
    assert {r[0] for r in imports[1:]} == {r["meeting_id"] for r in rows}
    assert imports == list(csv.reader((out / "removal.csv").open(newline="")))
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["total_rows"], summary["created"], summary["failed"], summary["deferred"]) == (3, 3, 0, 0)
    assert {"rows.csv", "retry.csv", "lti-import-001.csv", "removal.csv", "summary.json"} <= set(summary["files"])
    assert "Auto Populate Alternative Host" in proc.stdout
    no_secret_in(stack, out)

    before = len(stack.zoom.api_requests)
    again, out2 = provision(source, "again")
    assert again.returncode == 0, again.stderr
    assert [r["status"] for r in read_csv(out2 / "rows.csv")] == ["unchanged"] * 3
    assert writes(stack, before) == [] and len(meetings(stack, *hosts)) == 3
    assert (out2 / "removal.csv").read_text() == (out / "removal.csv").read_text()


def test_a_corrected_row_is_one_update(stack, provision, hosts, tmp_path):
    first = courses(hosts)
    provision(semester(tmp_path, *first), "first")
    corrected = [first[0], first[1].replace(",90,", ",120,"), first[2]]
    before = len(stack.zoom.api_requests)
    proc, out = provision(semester(tmp_path, *corrected, name="fall-v2.csv"), "second")
    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in read_csv(out / "rows.csv")] == ["unchanged", "updated", "unchanged"]
    assert [method for method, _ in writes(stack, before)] == ["PATCH"]
    assert next(m for m in meetings(stack, *hosts) if m["topic"] == "Chemistry lab")["duration"] == 120


def test_a_dry_run_plans_every_request_and_sends_none(stack, provision, hosts, tmp_path):
    before = len(stack.zoom.api_requests)
    proc, out = provision(semester(tmp_path, *courses(hosts)), "preview", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in read_csv(out / "rows.csv")] == ["planned"] * 3
    planned = [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]
    assert [(p["method"], p["url"].split("?")[0]) for p in planned] == [
        ("POST", f"/users/{host}/meetings") for host in (hosts[0], hosts[1], hosts[0])
    ]
    recurrence = planned[0]["body"]["recurrence"]
    assert (recurrence["type"], recurrence["weekly_days"]) == (2, "2,4")
    assert writes(stack, before) == [] and meetings(stack, *hosts) == []


def test_a_crash_after_zoom_created_the_meeting_makes_no_duplicate(stack, provision, hosts, tmp_path):
    source = semester(tmp_path, courses(hosts)[1])
    ledger = tmp_path / "zoomops-ledger.jsonl"
    stack.zoom.add_faults(Fault(delay=3.0))  # Zoom answers the create late; the CLI is killed meanwhile
    proc = provision(source, "crashed", wait=False)
    deadline = time.monotonic() + 30
    while not writes(stack) or '"creating"' not in ledger.read_text():  # written down, sent, not answered
        assert time.monotonic() < deadline and proc.poll() is None, "the create was never sent"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    while not meetings(stack, hosts[1]):  # the simulator finishes the create the CLI never heard back from
        assert time.monotonic() < deadline, "Zoom never made the meeting"
        time.sleep(0.05)

    before = len(stack.zoom.api_requests)
    resumed, out = provision(source, "crashed")  # the same command resumes the killed run's folder
    assert resumed.returncode == 0, resumed.stderr
    (row,) = read_csv(out / "rows.csv")
    assert row["status"] == "created" and "interrupted create" in row["reason"]
    assert row["meeting_id"] == str(meetings(stack, hosts[1])[0]["id"])
    assert writes(stack, before) == [] and len(meetings(stack, hosts[1])) == 1


def test_rows_past_a_hosts_daily_allowance_are_deferred_and_not_sent_again_that_day(stack, provision, hosts, tmp_path):
    ada, alan = hosts
    stack.zoom.meeting_daily_cap = 2  # Zoom says so itself (429) after two
    try:
        rows = [f"ctx-{n},{DOMAIN},{n},{ada},Section {n},2024-11-1{n} 10:00,UTC,50,," for n in range(4)]
        rows.append(f"ctx-9,{DOMAIN},9,{alan},Seminar,2024-11-19 10:00,UTC,50,,")
        source = semester(tmp_path, *rows)
        proc, out = provision(source, "capped")
        assert proc.returncode == 3, proc.stderr
        statuses = [r["status"] for r in read_csv(out / "rows.csv")]
        assert sorted(statuses[:4]) == ["created", "created", "deferred", "deferred"] and statuses[4] == "created"
        summary = json.loads((out / "summary.json").read_text())
        assert summary["resume_after"].endswith("T00:00:00+00:00") and summary["deferred"] == 2
        assert f"run the same command again after {summary['resume_after']}" in proc.stderr
        assert len(read_csv(out / "retry.csv")) == 2 and len(meetings(stack, ada)) == 2

        before = len(stack.zoom.api_requests)
        again, out = provision(source, "capped")  # the same day: the host's spent allowance is not asked again
        assert again.returncode == 3, again.stderr
        resumed = read_csv(out / "rows.csv")  # the same run resumed: what it made is still "created" by it
        assert sorted(r["status"] for r in resumed) == ["created"] * 3 + ["deferred"] * 2
        assert {r["reason"] for r in resumed if r["status"] == "created"} == {
            "created by an earlier attempt of this run"
        }
        assert writes(stack, before) == []
    finally:
        stack.zoom.meeting_daily_cap = 100


def test_our_own_allowance_defers_before_zoom_refuses(stack, provision, hosts, tmp_path):
    rows = [f"ctx-{n},{DOMAIN},{n},{hosts[0]},Tutorial {n},2024-11-1{n} 10:00,UTC,50,," for n in range(3)]
    proc, out = provision(semester(tmp_path, *rows), "planned", "--daily-cap", "1")
    assert proc.returncode == 3, proc.stderr
    assert sorted(r["status"] for r in read_csv(out / "rows.csv")) == ["created", "deferred", "deferred"]
    assert stack.zoom.throttled == 0 and len(writes(stack)) == 1  # planned, not hit blindly


def test_associated_through_lti_pros_import_api_then_removed_with_the_removal_file(stack, provision, hosts, tmp_path):
    source = semester(tmp_path, *courses(hosts))
    proc, out = provision(source, "api", "--associate", "api", "--user-id", ADMIN)
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out / "rows.csv")
    assert [r["association"] for r in rows] == ["imported"] * 3
    (call,) = stack.lti.imported
    assert call["user_id"] == ADMIN and len(call["items"]) == 3
    associated = {(a["meetingId"], a["contextId"], a["domain"]) for a in stack.lti.associations()}
    assert associated == {(r["meeting_id"], f"ctx-{c}", DOMAIN) for r, c in zip(rows, ("bio", "chem", "phys"))}
    assert not any(p.name.startswith("lti-import-") for p in out.iterdir())

    removed, removal_out = provision(out / "removal.csv", "removed", "--user-id", ADMIN, command="disassociate")
    assert removed.returncode == 0, removed.stderr
    assert [r["status"] for r in read_csv(removal_out / "rows.csv")] == ["sent"] * 3
    assert stack.lti.associations() == []


def test_the_import_files_round_trip_through_disassociate(stack, provision, hosts, tmp_path):
    proc, out = provision(semester(tmp_path, *courses(hosts)), "csv")
    assert proc.returncode == 0, proc.stderr
    imported = read_csv(out / "lti-import-001.csv")  # what LTI Pro's "Import CSV" page would take in
    stack.lti.add_associations(
        *(
            {
                "meetingId": r["Meeting ID"],
                "contextId": r["Context ID"],
                "domain": r["Domain"],
                "courseId": r["custom_canvas_course_id"],
            }
            for r in imported
        )
    )
    removed, removal_out = provision(out / "removal.csv", "removed", "--user-id", ADMIN, command="disassociate")
    assert removed.returncode == 0, removed.stderr
    assert stack.lti.associations() == []
    assert len(stack.lti.accepted_items()) == 3


def test_a_bad_row_names_its_line_field_and_reason_and_the_rest_go_on(stack, provision, hosts, tmp_path):
    good = courses(hosts)
    bad_zone = good[1].replace("Europe/London", "Europe/Atlantis")
    repeated = good[2].replace("Physics office hours", "Biology lecture").replace("ctx-phys", "ctx-bio")
    proc, out = provision(semester(tmp_path, good[0], bad_zone, repeated), "mixed")
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out / "rows.csv")
    assert [r["status"] for r in rows] == ["rejected"] * 3  # both rows of a repeated key, and the bad zone
    assert "Timezone" in rows[1]["reason"] and "Europe/Atlantis" in rows[1]["reason"]
    assert "line 4" in rows[0]["reason"] and "line 2" in rows[2]["reason"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total_rows"] == summary["rejected"] == 3 and meetings(stack, *hosts) == []


def test_the_contract_refuses_bad_usage_with_exit_2(stack, provision, tmp_path):
    missing, _ = provision(tmp_path / "nowhere.csv", "x")
    assert missing.returncode == 2 and "nowhere.csv: no such file" in missing.stderr
    for option, value in (("--workers", "0"), ("--daily-cap", "0"), ("--associate", "email")):
        refused, _ = provision(semester(tmp_path), f"y{option}", option, value)
        assert refused.returncode == 2 and option in refused.stderr, refused.stderr
    helped = subprocess.run([str(ZOOMOPS), "provision", "--help"], capture_output=True, text=True)
    for option in ("--dry-run", "--associate", "--user-id", "--ledger", "--account", "--out"):
        assert option in helped.stdout
