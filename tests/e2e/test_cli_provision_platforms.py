"""``zoomops provision --provider webmeeting|luminus`` as a subprocess against the strict simulators written from
each platform's document (started here on 127.0.0.1), with the keys read from Secrets Manager (the local
stack's moto, ``ZOOMOPS_*_SECRET_ID``) or, for local development, from variables.

Each platform: create, a re-run that calls nothing, a corrected row (Web Meeting: one ``PUT .../false``;
LumiNUS: reported as needing a manual change, nothing added again), platform errors as row reasons with
retry.csv, a refused key stopping the run (exit 4, naming the setting), a dry run, and no key, token,
password or host key in any output. LumiNUS: the document's schema rules refused before any call.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from infra.local.luminus_sim import Fault as LuminusFault
from infra.local.luminus_sim import LuminusSimulator
from infra.local.stack import LOCAL, LocalStack, aws_env
from infra.local.webmeeting_sim import Fault as WebMeetingFault
from infra.local.webmeeting_sim import WebMeetingSimulator
from tests.testkit import read_csv
from zoomops.aws.secrets import put_secret

pytestmark = pytest.mark.e2e

ZOOMOPS = Path(sys.executable).with_name("zoomops")
WM_KEY = "wm-cli-KEY-5d2e8a1c7b90"
LU_KEY = "4f8e2a6c0b1d3e5f7a9c2b4d6e8f0a1c"
LU_TOKEN = "eyJhbGciOiJIUzI1NiJ9.cli-test-token.c2lnbmF0dXJlLWNsaQ"
WM_SECRET, LU_SECRET = LOCAL.webmeeting_secret, LOCAL.luminus_secret

MODULE = "c0a80121-7ac0-4e1c-8a3e-2f6b1d9e4a55"
GROUP = "0b6f4d1e-2c3a-4b5d-9e8f-7a6b5c4d3e2f"
USER = "9d8c7b6a-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
ADA, ALAN, GRACE = "ada.lovelace@uni.example.edu", "alan.turing@uni.example.edu", "grace.hopper@uni.example.edu"


# ---- simulators, environment, runs --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def _webmeeting():
    with WebMeetingSimulator(WM_KEY) as sim:
        yield sim


@pytest.fixture(scope="module")
def _luminus():
    with LuminusSimulator(LU_KEY, bearer_token=LU_TOKEN) as sim:
        yield sim


@pytest.fixture
def webmeeting(_webmeeting):
    _webmeeting.reset()
    yield _webmeeting
    _webmeeting.reset()


@pytest.fixture
def luminus(_luminus):
    _luminus.reset()
    yield _luminus
    _luminus.reset()


def base_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOMOPS_", "AWS_"))}
    return {**env, **settings}


def wm_env(sim: WebMeetingSimulator, key: str = WM_KEY) -> dict[str, str]:
    return base_env(ZOOMOPS_WEBMEETING_URL=sim.base_url, ZOOMOPS_WEBMEETING_API_KEY=key)


def lu_env(sim: LuminusSimulator, key: str = LU_KEY, token: str | None = LU_TOKEN) -> dict[str, str]:
    env = base_env(ZOOMOPS_LUMINUS_URL=sim.base_url, ZOOMOPS_LUMINUS_SUBSCRIPTION_KEY=key)
    return env | ({"ZOOMOPS_LUMINUS_TOKEN": token} if token else {})


def secret_env(stack: LocalStack, **settings: str) -> dict[str, str]:
    """AWS pointed at the local stack's moto; no key in the environment, only the secret's id."""
    return base_env(**aws_env(stack.endpoint), **settings)


def store(stack: LocalStack, secret_id: str, value: dict | str) -> None:
    """A new version of the secret (created as the stack would when missing)."""
    text = value if isinstance(value, str) else json.dumps(value)
    put_secret(stack.client("secretsmanager"), secret_id, text, create_description="zoomops test secret")


@dataclass
class Runs:
    """Every CLI run of a test: each output text, searched for secrets at the end."""

    tmp: Path
    shown: list[str] = field(default_factory=list)

    @property
    def ledger(self) -> Path:
        return self.tmp / "ledger.jsonl"

    def zoomops(self, *argv: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(ZOOMOPS), *argv], env=env, input=stdin, capture_output=True, text=True, timeout=60)
        assert "Traceback" not in proc.stderr, proc.stderr
        self.shown += [proc.stdout, proc.stderr]
        return proc

    def provision(self, source: Path, out: str, provider: str, env: dict[str, str], *args: str):
        argv = ["provision", str(source), "--out", str(self.tmp / out), "--provider", provider]
        proc = self.zoomops(*argv, "--associate", "none", "--ledger", str(self.ledger), *args, env=env)
        folder = self.tmp / out
        if folder.is_dir():
            self.shown += [p.read_text(encoding="utf-8") for p in folder.iterdir() if p.is_file()]
        return proc, folder

    def assert_no_secret(self, *secrets: str) -> None:
        texts = [*self.shown, self.ledger.read_text(encoding="utf-8") if self.ledger.exists() else ""]
        for secret in secrets:
            assert secret and not any(secret in text for text in texts), "a secret was shown or written"


@pytest.fixture
def runs(tmp_path) -> Runs:
    return Runs(tmp_path)


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    header = header or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def statuses(out: Path) -> list[str]:
    return [row["status"] for row in read_csv(out / "rows.csv")]


def reasons(out: Path) -> list[str]:
    return [row["reason"] for row in read_csv(out / "rows.csv")]


# ---- Web Meeting v6 -------------------------------------------------------------------------------------------
def wm_row(host: str, topic: str, start: str, duration: int = 90, zone: str = "Europe/Zurich", **extra: str):
    row = {"Host": host, "Topic": topic, "Start": start, "Timezone": zone, "Duration": str(duration)}
    row |= {"Organizer First Name": "", "Organizer Last Name": "", "Organizer Account ID": ""}
    return row | extra


def wm_semester() -> list[dict[str, str]]:
    return [
        wm_row(ADA, "CS101 Lecture 1", "2024-10-28 09:00", **{"Organizer First Name": "Ada"}),
        wm_row(ADA, "CS101 Lecture 2", "2024-10-30 09:00", **{"Organizer First Name": "Ada"}),
        wm_row(ALAN, "MA201 Seminar", "2024-11-05 14:00", 60, "Europe/London"),
    ]


def wm_writes(sim: WebMeetingSimulator, since: int = 0) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in sim.received[since:]]


def wm_issued(sim: WebMeetingSimulator) -> list[str]:
    """What the platform issued that grants access: the organizers' and meetings' calendar tokens."""
    return [o["icsToken"] for o in sim.organizers()] + [m["icsToken"] for m in sim.meetings()]


def test_webmeeting_creates_reruns_nothing_and_puts_a_corrected_row(stack, webmeeting, runs):
    store(stack, WM_SECRET, {"api_key": WM_KEY})
    env = secret_env(stack, ZOOMOPS_WEBMEETING_URL=webmeeting.base_url, ZOOMOPS_WEBMEETING_SECRET_ID=WM_SECRET)
    source = write_csv(runs.tmp / "fall.csv", wm_semester())

    proc, out = runs.provision(source, "first", "webmeeting", env)
    assert proc.returncode == 0, proc.stderr
    assert statuses(out) == ["created"] * 3
    rows = read_csv(out / "rows.csv")
    meetings = {m["id"]: m for m in webmeeting.meetings()}
    assert {r["meeting_id"] for r in rows} == set(meetings)
    # one account per organizer (Ada's two rows ran at once: one account still), each meeting made as its organizer
    assert sorted(a["name"] for a in webmeeting.accounts()) == [ADA, ALAN]
    assert sorted((o["email"], o["firstName"], o["lastName"]) for o in webmeeting.organizers()) == [
        (ADA, "Ada", ""),
        (ALAN, "alan", "turing"),
    ]
    made = {m["topic"]: m for m in meetings.values()}
    assert {t: made[t]["addedByUserEmail"] for t in made} == {
        "CS101 Lecture 1": ADA,
        "CS101 Lecture 2": ADA,
        "MA201 Seminar": ALAN,
    }
    # 09:00 in Zurich after the DST change of 27 October is 08:00Z; 14:00 in London in November is 14:00Z
    assert (made["CS101 Lecture 1"]["startTime"], made["CS101 Lecture 1"]["endTime"]) == (
        "2024-10-28T08:00:00.000Z",
        "2024-10-28T09:30:00.000Z",
    )
    assert made["MA201 Seminar"]["startTime"] == "2024-11-05T14:00:00.000Z"
    assert webmeeting.undocumented() == []  # nothing sent leaned on a silence of the document

    before = len(webmeeting.received)
    again, out2 = runs.provision(source, "again", "webmeeting", env)
    assert again.returncode == 0, again.stderr
    assert statuses(out2) == ["unchanged"] * 3 and len(webmeeting.received) == before

    corrected = wm_semester()
    corrected[1]["Duration"] = "120"
    proc3, out3 = runs.provision(write_csv(runs.tmp / "fall-v2.csv", corrected), "fixed", "webmeeting", env)
    assert proc3.returncode == 0, proc3.stderr
    assert statuses(out3) == ["unchanged", "updated", "unchanged"]
    second = made["CS101 Lecture 2"]["id"]
    assert wm_writes(webmeeting, before) == [("PUT", f"/api/v6/meeting/{second}/false")]
    updated = next(m for m in webmeeting.meetings() if m["id"] == second)
    assert (updated["duration"], updated["endTime"], updated["icalSequence"]) == (
        "120",
        "2024-10-30T10:00:00.000Z",
        "1",
    )
    assert len(webmeeting.meetings()) == 3 and webmeeting.undocumented() == []
    runs.assert_no_secret(WM_KEY, *wm_issued(webmeeting))


def test_webmeeting_dry_run_plans_every_call_and_sends_none(webmeeting, runs):
    source = write_csv(runs.tmp / "fall.csv", wm_semester())
    proc, out = runs.provision(source, "preview", "webmeeting", wm_env(webmeeting), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert statuses(out) == ["planned"] * 3 and webmeeting.received == []
    planned = [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]
    base = webmeeting.base_url + "/api/v6"
    assert [(p["line"], p["method"], p["url"]) for p in planned if p["line"] == 4] == [
        (4, "POST", f"{base}/account"),
        (4, "GET", f"{base}/account/admin/{{accountId}}"),
        (4, "POST", f"{base}/meeting"),
    ]
    account = next(p["body"] for p in planned if p["line"] == 4 and p["url"].endswith("/account"))
    assert (account["adminEmail"], account["adminFirstname"], account["adminLastname"]) == (ALAN, "alan", "turing")
    runs.assert_no_secret(WM_KEY)


def test_webmeeting_an_organizer_made_elsewhere_fails_its_row_until_adopted(webmeeting, runs):
    account_id, user_id = webmeeting.seed_account(GRACE, "Grace", "Hopper")  # made by hand on the platform
    env = wm_env(webmeeting)
    rows = [wm_row(GRACE, "COBOL Workshop", "2024-11-12 10:00"), wm_row(ADA, "CS101 Lab", "2024-11-13 10:00")]
    proc, out = runs.provision(write_csv(runs.tmp / "fall.csv", rows), "first", "webmeeting", env)
    assert proc.returncode == 1, proc.stderr
    assert statuses(out) == ["failed", "created"]
    reason = reasons(out)[0]
    assert f"organizer {GRACE} already exists on Web Meeting" in reason
    assert "Organizer Account ID" in reason and "Organizer User ID" in reason and "HTTP 409" in reason
    assert len(webmeeting.accounts()) == 2 and not any(m["addedByUserEmail"] == GRACE for m in webmeeting.meetings())

    # The admin fills the account id into retry.csv (the input's own columns) and runs it: the organizer is adopted.
    retry = read_csv(out / "retry.csv")
    assert [r["Host"] for r in retry] == [GRACE]
    retry[0]["Organizer Account ID"] = account_id
    proc2, out2 = runs.provision(write_csv(runs.tmp / "adopt.csv", retry), "adopted", "webmeeting", env)
    assert proc2.returncode == 0, proc2.stderr
    assert statuses(out2) == ["created"]
    (made,) = [m for m in webmeeting.meetings() if m["addedByUserEmail"] == GRACE]
    assert made["addedByUserId"] == user_id and len(webmeeting.accounts()) == 2
    runs.assert_no_secret(WM_KEY, *wm_issued(webmeeting))


def test_webmeeting_4xx_and_5xx_answers_are_row_reasons_with_retry_csv(webmeeting, runs):
    env = wm_env(webmeeting)
    rows = [wm_row(ADA, f"CS101 Lecture {n}", f"2024-11-1{n} 09:00") for n in (1, 2, 3)]
    source = write_csv(runs.tmp / "fall.csv", rows)
    webmeeting.add_faults(
        WebMeetingFault(
            status=400,
            endpoint="create_meeting",
            body={"responseCode": -4, "responseMessage": "Data not valid: room is locked", "data": None},
        ),
        WebMeetingFault(status=503, endpoint="create_meeting"),
    )
    proc, out = runs.provision(source, "faults", "webmeeting", env, "--workers", "1")
    assert proc.returncode == 1, proc.stderr
    assert statuses(out) == ["failed", "failed", "created"]
    refused, failed, _ = reasons(out)
    assert "Web Meeting refused POST /api/v6/meeting (HTTP 400) (responseCode -4): Data not valid: room is locked" in (
        refused
    )
    assert "HTTP 503" in failed and "check on Web Meeting before re-running" in failed
    assert [r["Topic"] for r in read_csv(out / "retry.csv")] == ["CS101 Lecture 1", "CS101 Lecture 2"]
    assert len(webmeeting.meetings()) == 1

    # The refused row is created by the next run; the 5xx one may exist, so it waits for --retry-lost.
    proc2, out2 = runs.provision(out / "retry.csv", "retry", "webmeeting", env, "--workers", "1")
    assert proc2.returncode == 1 and statuses(out2) == ["created", "failed"], proc2.stderr
    assert "--retry-lost" in reasons(out2)[1]
    proc3, out3 = runs.provision(out2 / "retry.csv", "lost", "webmeeting", env, "--retry-lost")
    assert proc3.returncode == 0 and statuses(out3) == ["created"], proc3.stderr
    assert sorted(m["topic"] for m in webmeeting.meetings()) == [f"CS101 Lecture {n}" for n in (1, 2, 3)]
    runs.assert_no_secret(WM_KEY, *wm_issued(webmeeting))


def test_webmeeting_a_wrong_api_key_stops_the_run_naming_the_secret(stack, webmeeting, runs):
    wrong = "wm-WRONG-key-00112233"
    store(stack, WM_SECRET, {"api_key": "CHANGE_ME"})  # as the stack creates it
    env = secret_env(stack, ZOOMOPS_WEBMEETING_URL=webmeeting.base_url, ZOOMOPS_WEBMEETING_SECRET_ID=WM_SECRET)
    stored = runs.zoomops("credentials", "webmeeting", "--secret-id", WM_SECRET, stdin=f"{wrong}\n", env=env)
    assert stored.returncode == 0, stored.stderr
    rows = [wm_row(f"teacher{n}@uni.example.edu", f"Course {n}", f"2024-11-1{n} 09:00") for n in range(6)]
    source = write_csv(runs.tmp / "fall.csv", rows)

    proc, out = runs.provision(source, "refused", "webmeeting", env, "--workers", "2")
    assert proc.returncode == 4, proc.stderr
    stop = proc.stderr.strip().splitlines()[-1]
    assert stop.startswith(
        f"zoomops: stopped: Web Meeting refused the API key in secret {WM_SECRET} (ZOOMOPS_WEBMEETING_SECRET_ID) ["
    )
    assert f"zoomops credentials webmeeting --secret-id {WM_SECRET}" in stop and "Invalid API key" in stop
    assert statuses(out) == ["failed"] * 6 and all(r.startswith("not sent: ") for r in reasons(out))
    assert len(read_csv(out / "retry.csv")) == 6
    assert 1 <= len(webmeeting.received) <= 2  # one refusal per worker at most, not one per row
    assert {r["api_key"] for r in webmeeting.received} == {"wrong"} and webmeeting.accounts() == []

    fixed = runs.zoomops("credentials", "webmeeting", "--secret-id", WM_SECRET, stdin=f"{WM_KEY}\n", env=env)
    assert fixed.returncode == 0, fixed.stderr
    proc2, out2 = runs.provision(source, "fixed", "webmeeting", env)
    assert proc2.returncode == 0, proc2.stderr
    assert statuses(out2) == ["created"] * 6 and len(webmeeting.meetings()) == 6
    runs.assert_no_secret(WM_KEY, wrong, *wm_issued(webmeeting))


# ---- LumiNUS ----------------------------------------------------------------------------------------------------
LU_HEADER = [
    "Host",
    "Topic",
    "Start",
    "Timezone",
    "Duration",
    "Repeat",
    "Until",
    "Auto Recording",
    "Waiting Room",
    "Alternative Hosts",
    "Module ID",
    "Lesson ID",
    "Channel ID",
    "Inherit Access From",
    "Group Access",
    "User Access",
    "Public Access",
    "Authentication",
    "Meeting Type",
    "Send Email",
]


def lu_row(topic: str, start: str = "2024-08-12 10:00", duration: int = 90, **cells: str) -> dict[str, str]:
    row = dict.fromkeys(LU_HEADER, "")
    row |= {"Host": "lecturer@nus.edu.sg", "Topic": topic, "Start": start, "Timezone": "Asia/Singapore"}
    return row | {"Duration": str(duration), "Module ID": MODULE} | cells


def lu_semester() -> list[dict[str, str]]:
    return [
        lu_row(
            "CS1010 Lecture 1",
            **{
                "Auto Recording": "cloud",
                "Waiting Room": "true",
                "Alternative Hosts": "ta1@nus.edu.sg;ta2@nus.edu.sg",
                "Group Access": f"{GROUP}:3",
                "Public Access": "6",
                "Authentication": "nus",
                "Meeting Type": "timetable",
                "Send Email": "no",
            },
        ),
        lu_row("CS1010 Tutorial 1", "2024-08-13 14:00", 45),
    ]


def lu_issued(sim: LuminusSimulator) -> list[str]:
    """The meetings' passcodes (also in their join URLs) and host keys."""
    found = []
    for meeting in sim.meetings:
        found += [meeting["meetingPassword"], meeting["hostKey"], meeting["joinUrl"].split("pwd=", 1)[1]]
    return found


def test_luminus_creates_reruns_nothing_and_reports_a_corrected_row(stack, luminus, runs):
    store(stack, LU_SECRET, {"subscription_key": LU_KEY, "token": LU_TOKEN})
    env = secret_env(stack, ZOOMOPS_LUMINUS_URL=luminus.base_url, ZOOMOPS_LUMINUS_SECRET_ID=LU_SECRET)
    source = write_csv(runs.tmp / "ay2425.csv", lu_semester())

    proc, out = runs.provision(source, "first", "luminus", env)
    assert proc.returncode == 0, proc.stderr
    assert statuses(out) == ["created"] * 2
    made = {m["name"]: m for m in luminus.meetings}
    for row in read_csv(out / "rows.csv"):
        meeting = made[row["key"].split("|")[-1]]
        assert row["meeting_id"] == meeting["id"]  # LumiNUS' own meeting id
        assert row["join_url"] == f"https://nus-sg.zoom.us/j/{meeting['meetingID']}"  # without its passcode
    first, second = sorted(luminus.received, key=lambda r: r["body"]["name"])
    assert first["headers"]["content-type"] == "application/json-patch+json"
    assert first["headers"]["authorization"] == "Bearer <redacted>"
    assert first["body"] == {
        "moduleID": MODULE,
        "access": {"groupAccess": [{"groupID": GROUP, "accessRole": 3}], "publicAccess": 6},
        "name": "CS1010 Lecture 1",
        "startDate": "2024-08-12T10:00:00+08:00",
        "duration": 90,
        "isSendEmail": False,
        "isWaitingRoom": True,
        "meetingAuthentication": True,
        "recordType": 1,
        "authenticationOpt": 1,
        "alternativeHosts": "ta1@nus.edu.sg,ta2@nus.edu.sg",
        "meetingType": 3,
    }
    assert second["body"] == {
        "moduleID": MODULE,
        "name": "CS1010 Tutorial 1",
        "startDate": "2024-08-13T14:00:00+08:00",
        "duration": 45,
    }

    again, out2 = runs.provision(source, "again", "luminus", env)
    assert again.returncode == 0 and statuses(out2) == ["unchanged"] * 2, again.stderr
    assert len(luminus.received) == 2

    corrected = lu_semester()
    corrected[1]["Duration"] = "60"
    fixed = write_csv(runs.tmp / "ay2425-v2.csv", corrected)
    for attempt in ("fixed", "fixed-again"):  # reported every time, never added again
        proc3, out3 = runs.provision(fixed, attempt, "luminus", env)
        assert proc3.returncode == 1, proc3.stderr
        assert statuses(out3) == ["unchanged", "failed"]
        reason = reasons(out3)[1]
        assert reason.startswith("needs a manual change: LumiNUS cannot update a meeting through its API")
        tutorial = made["CS1010 Tutorial 1"]
        assert f"meeting {tutorial['meetingID']} (LumiNUS id {tutorial['id']}) in module {MODULE}" in reason
        assert "duration: 45 -> 60" in reason
        assert [r["Topic"] for r in read_csv(out3 / "retry.csv")] == ["CS1010 Tutorial 1"]
    assert len(luminus.received) == 2 and len(luminus.meetings) == 2
    runs.assert_no_secret(LU_KEY, LU_TOKEN, *lu_issued(luminus))


# Each row breaks one rule of the document's "Meeting input to create" (or of the shared columns): its column as the
# file names it, and the reason.
SCHEMA_RULES = [
    ({"Module ID": ""}, "Module ID", "is required: the LumiNUS module (course) UUID"),
    ({"Module ID": "CS1010"}, "Module ID", "must be a UUID (8-4-4-4-12 hex digits, the document's moduleID)"),
    ({"Lesson ID": "lesson-1"}, "Lesson ID", "the document's lessonID"),
    ({"Channel ID": "recordings"}, "Channel ID", "the document's channelID"),
    ({"Inherit Access From": "parent"}, "Inherit Access From", "the document's inheritedResourceID"),
    ({"Group Access": "tutorial-1:1"}, "Group Access", "groupID must be a UUID"),
    ({"User Access": f"{USER}:7"}, "User Access", "role must be one of 1, 2, 3, 4, 5, 6"),
    ({"Group Access": GROUP}, "Group Access", "must be <groupID UUID>:<role 1-6>"),
    ({"Public Access": "0"}, "Public Access", "role must be one of 1, 2, 3, 4, 5, 6"),
    ({"Topic": "x" * 201}, "Topic", "must be at most 200 characters (LumiNUS name), got 201"),
    (
        {"Start": "2024-03-10 02:30", "Timezone": "America/New_York"},
        "Start",
        "2024-03-10 02:30 does not exist in America/New_York",
    ),
    ({"Duration": "50"}, "Duration", "must be 15 to 1485 minutes in steps of 15"),
    ({"Duration": "10"}, "Duration", "got 10"),
    ({"Duration": "1440"}, None, None),  # 24 hours: allowed (a control row: created on a real run)
    ({"Auto Recording": "both"}, "Auto Recording", "must be none, local or cloud"),
    ({"Authentication": "sso"}, "Authentication", "must be none, nus (sign in to the NUS Zoom account) or zoom"),
    ({"Meeting Type": "lecture"}, "Meeting Type", "must be exam, custom or timetable (or 1, 2, 3)"),
    ({"Send Email": "maybe"}, "Send Email", "must be yes or no"),
    ({"Waiting Room": "perhaps"}, "Waiting Room", "must be true or false"),
    ({"Alternative Hosts": "tan@@nus"}, "Alternative Hosts", "is neither an email nor an ID"),
    ({"Repeat": "Mon;Wed", "Until": "2024-11-15"}, "Repeat", "LumiNUS 'Add meeting' makes one meeting"),
]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_luminus_every_schema_rule_is_refused_naming_line_and_column_before_any_call(luminus, runs, dry_run):
    rows = [lu_row(f"Rule {n}", **cells) for n, (cells, _, _) in enumerate(SCHEMA_RULES)]
    rows.append(lu_row("Many rules", duration=50, **{"Module ID": "", "Public Access": "9", "Send Email": "si"}))
    source = write_csv(runs.tmp / "rules.csv", rows, LU_HEADER)
    proc, out = runs.provision(source, "rules", "luminus", lu_env(luminus), *(["--dry-run"] if dry_run else []))
    assert proc.returncode == 0, proc.stderr
    result = read_csv(out / "rows.csv")
    for n, ((_, column, needle), row) in enumerate(zip(SCHEMA_RULES, result)):
        line = n + 2
        if column is None:
            assert row["status"] == ("planned" if dry_run else "created"), row
            continue
        assert row["status"] == "rejected", row
        assert row["reason"].startswith(f"line {line}: {column}: ") and needle in row["reason"], row["reason"]
    many = result[-1]["reason"]
    assert many.startswith(f"line {len(rows) + 1}: ")
    for column in ("Module ID: is required", "Duration: must be 15", "Public Access: role", "Send Email: must be"):
        assert column in many, many
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["rejected"], summary["total_rows"]) == (len(rows) - 1, len(rows))
    sent = [r["body"]["duration"] for r in luminus.received]
    assert sent == ([] if dry_run else [1440])  # only the control row ever reaches LumiNUS
    if dry_run:
        planned = [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]
        assert [(p["method"], p["url"], p["body"]["duration"]) for p in planned] == [
            ("POST", f"{luminus.base_url}/zoom/Meeting", 1440)
        ]
    runs.assert_no_secret(LU_KEY, LU_TOKEN)


def test_luminus_platform_errors_are_row_reasons_with_retry_csv(luminus, runs):
    env = lu_env(luminus)
    rows = [lu_row(f"CS2030 Lab {n}", f"2024-08-1{n} 10:00") for n in (1, 2, 3, 4)]
    source = write_csv(runs.tmp / "labs.csv", rows)
    luminus.add_faults(
        LuminusFault(status=400, body="Bad Request\nmoduleID: no such module"),
        LuminusFault(status=500),
        LuminusFault(status=403),
    )
    proc, out = runs.provision(source, "faults", "luminus", env, "--workers", "1")
    assert proc.returncode == 1, proc.stderr
    assert statuses(out) == ["failed", "failed", "failed", "created"]
    bad, broken, forbidden, _ = reasons(out)
    assert "LumiNUS refused POST /zoom/Meeting (HTTP 400): Bad Request; moduleID: no such module" in bad
    assert "HTTP 500: Server Error" in broken and "may have been created" in broken
    assert "HTTP 403): Login user not authorized to perform this action" in forbidden
    assert "bearer token" in forbidden and "ZOOMOPS_LUMINUS_TOKEN" in forbidden
    assert [r["Topic"] for r in read_csv(out / "retry.csv")] == ["CS2030 Lab 1", "CS2030 Lab 2", "CS2030 Lab 3"]

    # The refused rows are sent again by the next run; the 500 may have made its meeting: --retry-lost decides.
    proc2, out2 = runs.provision(out / "retry.csv", "retry", "luminus", env, "--workers", "1")
    assert proc2.returncode == 1 and statuses(out2) == ["created", "failed", "created"], proc2.stderr
    assert "--retry-lost" in reasons(out2)[1]
    assert sorted(m["name"] for m in luminus.meetings) == ["CS2030 Lab 1", "CS2030 Lab 3", "CS2030 Lab 4"]
    runs.assert_no_secret(LU_KEY, LU_TOKEN, *lu_issued(luminus))


def test_luminus_a_wrong_subscription_key_stops_the_run_and_a_missing_token_is_each_rows_reason(luminus, runs):
    wrong = "0000ffff0000ffff0000ffff0000ffff"
    rows = [lu_row(f"GEA1000 Session {n}", f"2024-08-1{n} 10:00") for n in range(6)]
    source = write_csv(runs.tmp / "gea.csv", rows)
    proc, out = runs.provision(source, "wrong-key", "luminus", lu_env(luminus, key=wrong), "--workers", "2")
    assert proc.returncode == 4, proc.stderr
    stop = proc.stderr.strip().splitlines()[-1]
    assert stop.startswith(
        "zoomops: stopped: LumiNUS refused the subscription key in ZOOMOPS_LUMINUS_SUBSCRIPTION_KEY ["
    )
    assert "Access denied due to invalid subscription key" in stop
    assert statuses(out) == ["failed"] * 6 and len(read_csv(out / "retry.csv")) == 6
    assert 1 <= len(luminus.received) <= 2 and luminus.meetings == []

    proc2, out2 = runs.provision(source, "no-token", "luminus", lu_env(luminus, token=None))
    assert proc2.returncode == 1, proc2.stderr
    assert statuses(out2) == ["failed"] * 6
    assert all("HTTP 403" in r and "bearer token" in r for r in reasons(out2))
    assert all("authorization" not in r["headers"] for r in luminus.received[-6:])

    proc3, out3 = runs.provision(source, "right", "luminus", lu_env(luminus))
    assert proc3.returncode == 0 and statuses(out3) == ["created"] * 6, proc3.stderr
    runs.assert_no_secret(LU_KEY, LU_TOKEN, wrong, *lu_issued(luminus))


# ---- credentials secrets that cannot be used ---------------------------------------------------------------
UNSEEN = "Value-That-Must-Not-Show-42"
NO_SECRET = f"{LOCAL.stack}/never-stored"


@pytest.mark.parametrize(
    "provider, secret, value, needle",
    [
        ("webmeeting", NO_SECRET, None, f"secret {NO_SECRET} does not exist (ResourceNotFoundException)"),
        ("webmeeting", WM_SECRET, f"api_key={UNSEEN}", f"secret {WM_SECRET} does not hold a JSON object"),
        ("webmeeting", WM_SECRET, {"apikey": UNSEEN}, f'secret {WM_SECRET} has no api_key (expected {{"api_key"}})'),
        ("webmeeting", WM_SECRET, {"api_key": "CHANGE_ME"}, "api_key is still the placeholder CHANGE_ME"),
        ("webmeeting", WM_SECRET, {"api_key": 12345678}, f"secret {WM_SECRET}: api_key must be a string"),
        ("luminus", LU_SECRET, {"token": UNSEEN}, f"secret {LU_SECRET} has no subscription_key"),
        ("luminus", LU_SECRET, {"subscription_key": LU_KEY, "token": f"{UNSEEN} x"}, "token contains whitespace"),
    ],
    ids=["missing", "not-json", "no-field", "placeholder", "not-a-string", "luminus-no-key", "luminus-bad-token"],
)
def test_an_unusable_secret_stops_before_anything_naming_secret_and_field(stack, runs, provider, secret, value, needle):
    if value is not None:
        store(stack, secret, value)
    url = "http://127.0.0.1:9"  # never reached
    name = provider.upper()
    env = secret_env(stack, **{f"ZOOMOPS_{name}_URL": url, f"ZOOMOPS_{name}_SECRET_ID": secret})
    source = write_csv(runs.tmp / "one.csv", [wm_row(ADA, "Anything", "2024-11-12 10:00")])
    proc, out = runs.provision(source, "never", provider, env)
    assert proc.returncode == 4, proc.stderr
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"zoomops credentials {provider} --secret-id {secret}" in proc.stderr
    assert proc.stdout == "" and not out.exists()
    runs.assert_no_secret(UNSEEN, LU_KEY)
