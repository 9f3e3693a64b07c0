"""zoomops.reports: ReportRun against the Zoom simulator (real HTTP on 127.0.0.1) into a folder.

Every test gets its own simulator (seeded with the demo data, no QPS limits) and reads the written
files back. The run's clock is frozen (``clock=`` a constant); nothing sleeps: the client's limiter is
given rates far above what a test sends and its transport backoff is 0.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from zoomops.zoom.reports.files import (
    FileManifest,
    csv_bytes,
)
from zoomops.zoom.reports.pseudonymise import Pseudonymiser
from zoomops.zoom.reports.request import ReportRequest, meeting_ids_from_csv
from zoomops.zoom.reports.run import rollup

ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET = "UnitReportsAcct1", "unit-reports-client", "unit-reports-SECRET-4411"
LECTURE, OFFICE, REVIEW = "81234567890", "82345678901", "83456789012"


# ------------------------------------------------------------------ fixtures and helpers


# ------------------------------------------------------------------ a full run over the demo data


# ------------------------------------------------------------------ Zoom's quirks


def test_csv_bytes_guards_every_formula_start_and_leaves_other_values_alone():
    values = ["=1", "+1", "-1", "@1", "\t=1", "\r=1", " =1", "\u3000=1", "plain", "", "a=b", "'x"]
    data = csv_bytes([{"v": v, "n": -5} for v in values], ["v", "n"])
    parsed = list(csv.DictReader(io.StringIO(data.decode())))
    assert [r["v"] for r in parsed] == [
        "'=1",
        "'+1",
        "'-1",
        "'@1",
        "'\t=1",
        "'\r=1",
        "' =1",
        "'\u3000=1",
        "plain",
        "",
        "a=b",
        "'x",
    ]


# ------------------------------------------------------------------ failures, limits, checkpoints


# ------------------------------------------------------------------ privacy


def test_pseudonymising_drops_addresses_phones_join_links_and_machine_ids():
    row = {
        "name": "Ada Lovelace",
        "email": "ada@campus.example.edu",
        "phone": "+1 555 0100",
        "address": "1 Main St",
        "city": "Springfield",
        "zip": "12345",
        "custom_questions": [{"title": "Student id", "value": "s1001"}],
        "join_url": "https://zoom.us/w/1?tk=personal",
        "ip_address": "203.0.113.7",
        "location": "Springfield",
        "mac_addr": "00:11:22:33:44:55",
        "pc_name": "ADA-LAPTOP",
        "device": "Windows",
        "join_time": "T",
        "status": "approved",
        "leave_reason": "Ada Lovelace left the meeting. Reason: left",
        "participant_user_id": "DemoInstructorAda00001",
        "a_field_zoom_adds_later": "Ada",
    }
    [out] = Pseudonymiser(b"k" * 16).rows([row])
    assert set(out) == {"name", "email", "participant_user_id", "device", "join_time", "status"}
    assert all(out[k].startswith("p_") for k in ("name", "email", "participant_user_id"))
    assert out["device"] == "Windows" and "Ada" not in repr(out)


def test_pseudonymiser_is_keyed_stable_and_refuses_short_keys():
    p = Pseudonymiser(b"k" * 16)
    assert p("Ada@Example.edu") == p(" ada@example.edu ") and p("ada@example.edu").startswith("p_")
    assert p("ada@example.edu") != Pseudonymiser(b"j" * 16)("ada@example.edu")
    assert p("") == "" and len(p("x")) == 22
    row = {"name": "Ada", "user_email": "a@x", "user_id": "123", "duration": 60, "email": "b@x"}
    hashed = p.rows([row])[0]
    assert hashed["user_id"] == p("123", fold=False) and hashed["duration"] == 60
    assert p("AbC", fold=False) != p("abc", fold=False)  # Zoom ids are case-sensitive
    assert hashed["name"] == p("Ada") and hashed["user_email"] == p("a@x") and hashed["email"] == p("b@x")
    with pytest.raises(ValueError, match="16 bytes"):
        Pseudonymiser(b"short")


# ------------------------------------------------------------------ the pieces
INSTANCE = {"meeting_id": "1", "uuid": "u", "start_time": "2024-09-02T09:00:00Z"}


def test_rollup_merges_rejoins_by_person():
    rows = [
        {
            "participant_user_id": "Zu1",
            "name": "Ada",
            "user_email": "ada@x",
            "join_time": "2024-09-02T09:40:00Z",
            "leave_time": "2024-09-02T10:00:00Z",
            "duration": 1200,
        },
        {
            "participant_user_id": "Zu1",
            "name": "Ada (phone)",
            "user_email": "",
            "join_time": "2024-09-02T09:00:00Z",
            "leave_time": "2024-09-02T09:30:00Z",
            "duration": "1800",
        },
        {
            "participant_user_id": "",
            "name": "Guest",
            "user_email": "g@x",
            "join_time": "2024-09-02T09:05:00Z",
            "leave_time": "2024-09-02T09:06:00Z",
            "duration": 60,
        },
        {
            "participant_user_id": "",
            "name": "Guest again",
            "user_email": "g@x",
            "join_time": "2024-09-02T09:50:00Z",
            "leave_time": "2024-09-02T09:59:30Z",
            "duration": 570,
        },
        {
            "name": "",
            "user_email": "",
            "user_id": "16778301",
            "join_time": "2024-09-02T09:10:00Z",
            "leave_time": "2024-09-02T09:20:00Z",
            "duration": 600,
        },
        {
            "user_name": "Dash",
            "email": "d@x",
            "device": "Mac",
            "location": "Singapore",
            "join_time": "2024-09-02T09:00:00Z",
            "leave_time": "2024-09-02T09:15:00Z",
        },
    ]
    people = {p["participant"]: p for p in rollup(INSTANCE, rows, single=False)}
    assert list(people) == ["Zu1", "g@x", "16778301", "d@x"]
    ada = people["Zu1"]
    assert (ada["first_join"], ada["last_leave"], ada["total_minutes"], ada["sessions"]) == (
        "2024-09-02T09:00:00Z",
        "2024-09-02T10:00:00Z",
        50.0,
        2,
    )
    assert ada["name"] == "Ada" and ada["email"] == "ada@x" and ada["meeting_id"] == "1" and ada["instance_uuid"] == "u"
    guest = people["g@x"]
    assert (guest["total_minutes"], guest["sessions"], guest["last_leave"]) == (10.5, 2, "2024-09-02T09:59:30Z")
    assert people["16778301"]["name"] == "" and people["16778301"]["total_minutes"] == 10.0
    dash = people["d@x"]
    assert (dash["name"], dash["device"], dash["location"], dash["total_minutes"]) == (
        "Dash",
        "Mac",
        "Singapore",
        15.0,
    )  # no duration: leave - join
    assert all(p["single_participant"] is False for p in people.values())
    assert rollup(INSTANCE, [], single=True) == []


def test_meeting_ids_from_an_lti_pro_import_csv():
    data = (
        b"Meeting ID,Context ID,Domain,custom_canvas_course_id\n"
        b"812 3456 7890,ctx-1,https://lms.example.edu,11\n"
        b"81234567890,ctx-2,https://lms.example.edu,12\n"
        b"823-4567-8901,ctx-1,https://lms.example.edu,\n"
        b"not-a-meeting,ctx-1,https://lms.example.edu,\n"
        b"83456789012,,https://lms.example.edu,\n"
    )
    assert meeting_ids_from_csv(io.BytesIO(data), "courses.csv") == [LECTURE, OFFICE]


def test_file_manifest_survives_a_restart(tmp_path):
    path = tmp_path / "state" / "manifest.json"
    first = FileManifest(path)
    assert not first.done("u1") and first.resume_after() is None
    first.mark_done("u1", {"meeting_id": "1", "rows": 3, "source": "report"})
    first.set_resume_after("2024-10-02T00:00:00+00:00")
    second = FileManifest(path)
    assert second.done("u1") and not second.done("u2") and second.resume_after() == "2024-10-02T00:00:00+00:00"
    second.set_resume_after(None)
    assert FileManifest(path).resume_after() is None


def test_a_run_that_ended_clears_no_daily_stop_recorded_after_it_began(tmp_path):
    manifest = FileManifest(tmp_path / "manifest.json")
    manifest.set_resume_after("2024-10-02T00:00:00+00:00")  # another run met the cap meanwhile
    manifest.set_resume_after(None, passed="2024-10-01T15:00:00+00:00")
    assert manifest.resume_after() == "2024-10-02T00:00:00+00:00"
    manifest.set_resume_after(None, passed="2024-10-02T00:00:05+00:00")  # after the reset: cleared
    assert manifest.resume_after() is None


# ------------------------------------------------------------------ requests (payloads)
NOW_DT = datetime(2024, 9, 20, 15, 30, tzinfo=UTC)


def request(payload: dict, users: list[str] | None = None) -> ReportRequest:
    return ReportRequest.from_payload(payload, lookback_days=7, default_users=users, now=NOW_DT)


def test_request_shapes():
    ids = request({"meeting_ids": ["812 3456 7890", 82345678901]})
    assert ids.meeting_ids == [LECTURE, OFFICE] and ids.since is None and ids.until is None
    assert request({"csv": "s3://b/k.csv"}).csv == "s3://b/k.csv"
    users = request({"users": ["a@x"], "from": "2024-09-01", "to": "2024-09-10"})
    assert users.users == ["a@x"] and users.since == datetime(2024, 9, 1, tzinfo=UTC)
    assert users.until == datetime(2024, 9, 11, tzinfo=UTC)  # "to" takes its whole day
    scheduled = request({}, users=["ta@x"])
    assert scheduled.users == ["ta@x"] and scheduled.since == datetime(2024, 9, 13, tzinfo=UTC)
    assert scheduled.until == NOW_DT
    assert request({}).users is None and request({"account": "sub"}).account == "sub"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"meeting": ["81234567890"]}, "meeting"),
        ({"meeting_ids": "81234567890"}, "meeting_ids"),
        ({"meeting_ids": []}, "meeting_ids"),
        ({"meeting_ids": ["81234567890", "abc"]}, "meeting_ids"),
        ({"users": "ada@x"}, "users"),
        ({"users": ["ada@x", ""]}, "users"),
        ({"users": ["ada@x"], "from": "2024/09/01"}, "from"),
        ({"users": ["ada@x"], "to": "yesterday"}, "to"),
        ({"users": ["ada@x"], "from": "2024-09-10", "to": "2024-09-01"}, "to"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(payload, field):
    with pytest.raises(ValueError, match=rf"^(unknown field\(s\) )?{field}\b"):
        request(payload)
