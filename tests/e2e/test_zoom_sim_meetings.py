"""End-to-end tests of the Zoom simulator's meeting provisioning (create, get, update, list), over real HTTP.

Requests are built here with ``requests`` directly (not with the project's client).  Every 2xx answer is
validated against the schemas extracted from Zoom's OpenAPI description (the ``operations`` and ``paths`` of
tests/fixtures/zoom_openapi_subset.json) and must not carry a property those schemas do not declare.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from jsonschema import Draft4Validator, Draft202012Validator

from infra.local.zoom_sim import (
    CREATE_ANSWER_FIELDS,
    GET_ANSWER_FIELDS,
    MEETING_ROUTES,
    PROVISIONING_SCOPE,
    FakeClock,
    Fault,
    ZoomSimulator,
    occurrence_starts,
)

REPO = Path(__file__).resolve().parents[2]
SUBSET = json.loads((REPO / "tests" / "fixtures" / "zoom_openapi_subset.json").read_text(encoding="utf-8"))
OPS = SUBSET["operations"]
CREATE, GET, UPDATE = "POST /users/{userId}/meetings", "GET /meetings/{meetingId}", "PATCH /meetings/{meetingId}"

ACCOUNT, CLIENT_ID, SECRET = "campusAcct_01", "zSimWriter01", "s3cret-Zoom-WRITER-4b1d"
NARROW_CLIENT, NARROW_SECRET = "zSimReader02", "s3cret-Zoom-READER-77aa"
OTHER_ACCOUNT, OTHER_CLIENT, OTHER_SECRET = "otherAcct_02", "zSimOther03", "an0ther-SECRET-5e5e"
PROF, TA = "prof.ada@campus.example.edu", "ta.alan@campus.example.edu"
START = 1_727_784_000.0  # 2024-10-01T12:00:00Z
CLOCK = FakeClock(START)
UNLIMITED = {"light": None, "medium": None, "heavy": None}
BAD_BODY = {"code": 300, "message": "Request Body should be a valid JSON object."}
CAP_MESSAGE = (
    "You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for "
    "this particular user. You may resume these requests at GMT 00:00:00."
)
SEEN: list[str] = []


# ---------------------------------------------------------------- fixtures and helpers
def _new_sim(**kw) -> ZoomSimulator:
    s = ZoomSimulator(clock=kw.pop("clock", CLOCK), **{"limits": UNLIMITED, **kw})
    s.add_account(ACCOUNT, CLIENT_ID, SECRET, scope=PROVISIONING_SCOPE)
    s.add_account(ACCOUNT, NARROW_CLIENT, NARROW_SECRET, scope="meeting:read:admin")
    s.add_account(OTHER_ACCOUNT, OTHER_CLIENT, OTHER_SECRET, scope=PROVISIONING_SCOPE)
    s.add_user(ACCOUNT, user_id="ProfAda000000000000001", email=PROF, first_name="Ada", last_name="Lovelace")
    s.add_user(ACCOUNT, user_id="TaAlan0000000000000002", email=TA, first_name="Alan", last_name="Turing")
    s.add_user(OTHER_ACCOUNT, user_id="ProfAda000000000000001", email=PROF)  # same IDs, another account
    return s


@pytest.fixture(scope="module")
def sim():
    with _new_sim() as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh(sim):
    CLOCK.set(START)
    sim.reset()
    SEEN.clear()
    yield
    leaked = [t for t in SEEN if SECRET in t or NARROW_SECRET in t or OTHER_SECRET in t]
    assert not leaked, "a client secret appeared in a response"


class Api:
    """A bearer-token session on one simulator, recording every answer's text."""

    def __init__(self, sim: ZoomSimulator, client=(CLIENT_ID, SECRET), account=ACCOUNT) -> None:
        self.sim, self.http, self.client, self.account = sim, requests.Session(), client, account
        self.http.hooks["response"].append(lambda r, *a, **k: SEEN.append(r.text + json.dumps(dict(r.headers))))
        self.renew()

    def renew(self) -> None:
        """A new token (after the clock jumped past the old one's hour)."""
        r = self.http.post(
            f"{self.sim.base_url}/oauth/token",
            auth=self.client,
            timeout=5,
            data={"grant_type": "account_credentials", "account_id": self.account},
        )
        assert r.status_code == 200, r.text
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def call(self, method: str, path: str, **kw) -> requests.Response:
        return self.http.request(method, f"{self.sim.base_url}/v2{path}", timeout=5, **kw)

    def create(self, body: dict, user: str = "me") -> requests.Response:
        return self.call("POST", f"/users/{user}/meetings", json=body)

    def get(self, meeting_id, **params) -> requests.Response:
        return self.call("GET", f"/meetings/{meeting_id}", params=params)

    def patch(self, meeting_id, body: dict) -> requests.Response:
        return self.call("PATCH", f"/meetings/{meeting_id}", json=body)

    def created(self, body: dict, user: str = "me") -> dict:
        r = self.create(body, user)
        assert r.status_code == 201, r.text
        assert_conforms(r.json(), OPS[CREATE]["responses"]["201"])
        return r.json()


@pytest.fixture
def api(sim):
    a = Api(sim)
    yield a
    a.http.close()


def relaxed(schema: dict) -> dict:
    """The documented schema, less recurrence.weekly_days' enum ("1".."7"), which contradicts the field's own
    description ("1,3" for Sundays and Tuesdays); the simulator follows the description."""
    out = copy.deepcopy(schema)
    out.get("properties", {}).get("recurrence", {}).get("properties", {}).get("weekly_days", {}).pop("enum", None)
    return out


def undeclared(instance, schema, where="$") -> list[str]:
    out = []
    if isinstance(instance, dict) and isinstance(schema.get("properties"), dict):
        props = schema["properties"]
        out += [f"{where}.{k}" for k in instance if k not in props]
        out += [p for k, v in instance.items() if k in props for p in undeclared(v, props[k], f"{where}.{k}")]
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        out += [p for i, v in enumerate(instance) for p in undeclared(v, schema["items"], f"{where}[{i}]")]
    return out


def assert_conforms(body, schema: dict) -> None:
    schema = relaxed(schema)
    for validator in (Draft4Validator, Draft202012Validator):
        errors = sorted(validator(schema).iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{errors[0].message} at {list(errors[0].path)}"
    assert not undeclared(body, schema), undeclared(body, schema)


def invalid_fields(r: requests.Response) -> list[str]:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == 300 and body["message"] == "Validation Failed.", body
    assert all(e["message"] == "Invalid field." for e in body["errors"])
    return [e["field"] for e in body["errors"]]


def weekly(days: str, **extra) -> dict:
    return {"type": 2, "weekly_days": days, **extra}


# ================================================================ the spec
def test_operations_match_the_spec():
    assert {f"{r.method} {r.template}" for r in MEETING_ROUTES} == set(OPS)
    for route in MEETING_ROUTES:
        doc = OPS[f"{route.method} {route.template}"]
        assert route.category == doc["rate_limit_label"], route  # create MEDIUM, get and update LIGHT
        assert set(doc["scopes"]) | set(doc["granular_scopes"]) <= route.scopes, route
        assert set(route.query) <= set(doc["query_parameters"]), route
    assert set(CREATE_ANSWER_FIELDS) <= set(OPS[CREATE]["responses"]["201"]["properties"])
    assert set(GET_ANSWER_FIELDS) <= set(OPS[GET]["responses"]["200"]["properties"])
    assert OPS[UPDATE]["responses"] == {"204": None}
    for op in (CREATE, UPDATE):
        schema = OPS[op]["request_body"]
        assert "additionalProperties" not in schema  # unknown properties are not refused by the spec
        assert schema["properties"]["topic"]["maxLength"] == 200 and schema["properties"]["agenda"]["maxLength"] == 2000


# ================================================================ create and get
def test_create_a_scheduled_meeting(sim, api):
    body = api.created(
        {
            "topic": "CS101 Review",
            "type": 2,
            "start_time": "2024-10-15T14:00:00Z",
            "duration": 45,
            "agenda": "Chapters 1-4",
            "settings": {"waiting_room": True, "auto_recording": "cloud"},
        }
    )
    assert "uuid" not in body and "host_id" not in body  # not declared by the 201 schema
    assert re.fullmatch(r"[89][0-9]{10}", str(body["id"]))
    assert (body["topic"], body["type"], body["duration"], body["agenda"]) == ("CS101 Review", 2, 45, "Chapters 1-4")
    assert body["start_time"] == "2024-10-15T14:00:00Z" and body["timezone"] == "UTC"
    assert body["host_email"] == PROF and body["created_at"] == "2024-10-01T12:00:00Z"
    assert re.fullmatch(r"[A-Za-z0-9]{8}", body["password"]) and body["h323_password"].isdigit()
    assert body["join_url"].startswith(f"https://zoom.us/j/{body['id']}?pwd=")
    assert re.fullmatch(rf"https://zoom\.us/s/{body['id']}\?zak=eyJ[\w-]+\.[\w-]{{100,}}\.[\w-]+", body["start_url"])
    assert body["settings"]["waiting_room"] is True and body["settings"]["auto_recording"] == "cloud"
    assert "occurrences" not in body and "recurrence" not in body

    got = api.get(body["id"])
    assert got.status_code == 200
    assert_conforms(got.json(), OPS[GET]["responses"]["200"])
    meeting = got.json()
    assert meeting["host_id"] == "ProfAda000000000000001" and meeting["status"] == "waiting"
    assert re.fullmatch(r"[A-Za-z0-9+/]{22}==", meeting["uuid"])
    assert meeting["start_url"] != body["start_url"]  # a fresh zak on every answer
    assert {k: meeting[k] for k in ("password", "join_url", "topic", "settings")} == {
        k: body[k] for k in ("password", "join_url", "topic", "settings")
    }
    assert sim.api_requests[-2]["category"] == "medium" and sim.api_requests[-1]["category"] == "light"


def test_defaults_and_unknown_properties(api):
    body = api.created({"colour": "red", "settings": {"made_up": 1, "mute_upon_entry": True}})
    assert body["type"] == 2 and body["topic"] == "Zoom Meeting" and body["duration"] == 60
    assert body["start_time"] == "2024-10-01T12:00:00Z"  # no start_time: now, by the simulator's clock
    assert "colour" not in body and "made_up" not in body["settings"] and body["settings"]["mute_upon_entry"]


@pytest.mark.parametrize(
    "start, tz, utc",
    [
        ("2024-11-04T09:00:00", "Europe/Berlin", "2024-11-04T08:00:00Z"),
        ("2024-07-04T09:00:00", "Europe/Berlin", "2024-07-04T07:00:00Z"),
        ("2024-11-04T09:00:00Z", "Europe/Berlin", "2024-11-04T09:00:00Z"),
        ("2024-11-04T09:00:00", None, "2024-11-04T09:00:00Z"),  # the host's timezone (UTC)
    ],
)
def test_start_time_local_or_gmt(api, start, tz, utc):
    body = {"start_time": start, **({"timezone": tz} if tz else {})}
    meeting = api.created(body)
    assert meeting["start_time"] == utc and meeting["timezone"] == (tz or "UTC")


def test_weekly_class_stays_at_local_time_across_dst(api):
    meeting = api.created(
        {
            "topic": "CS101",
            "type": 8,
            "start_time": "2024-10-29T09:00:00",
            "timezone": "America/New_York",
            "duration": 75,
            "recurrence": weekly("3,5", end_times=4),
        }
    )
    starts = [o["start_time"] for o in meeting["occurrences"]]
    assert starts == [
        "2024-10-29T13:00:00Z",
        "2024-10-31T13:00:00Z",  # EDT
        "2024-11-05T14:00:00Z",
        "2024-11-07T14:00:00Z",
    ]  # EST after 3 November
    local = {
        datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(ZoneInfo("America/New_York")).strftime("%a %H:%M")
        for s in starts
    }
    assert local == {"Tue 09:00", "Thu 09:00"}
    assert [o["occurrence_id"] for o in meeting["occurrences"]] == [
        str(int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)) for s in starts
    ]
    assert all(o["duration"] == 75 and o["status"] == "available" for o in meeting["occurrences"])
    assert meeting["start_time"] == starts[0]
    assert meeting["recurrence"] == {"type": 2, "weekly_days": "3,5", "end_times": 4, "repeat_interval": 1}
    assert meeting["settings"]["registration_type"] == 1


def test_recurring_meeting_starts_on_its_first_matching_day(api):
    meeting = api.created(
        {
            "type": 8,
            "start_time": "2024-10-07T10:00:00Z",
            "timezone": "UTC",  # a Monday
            "recurrence": weekly("4", end_date_time="2024-10-24T23:59:00Z"),
        }
    )
    assert [o["start_time"][:10] for o in meeting["occurrences"]] == ["2024-10-09", "2024-10-16", "2024-10-23"]
    assert meeting["start_time"] == "2024-10-09T10:00:00Z"


@pytest.mark.parametrize(
    "rec, dates",
    [
        ({"type": 1, "repeat_interval": 2, "end_times": 3}, ["2024-01-31", "2024-02-02", "2024-02-04"]),
        (
            {"type": 2, "weekly_days": "1,7", "repeat_interval": 2, "end_times": 4},
            ["2024-02-03", "2024-02-11", "2024-02-17", "2024-02-25"],
        ),
        ({"type": 3, "monthly_day": 31, "end_times": 3}, ["2024-01-31", "2024-03-31", "2024-05-31"]),
        ({"type": 3, "monthly_week": -1, "monthly_week_day": 6, "end_times": 2}, ["2024-02-23", "2024-03-29"]),
        (
            {"type": 3, "monthly_week": 1, "monthly_week_day": 2, "repeat_interval": 3, "end_times": 2},
            ["2024-04-01", "2024-07-01"],
        ),
        ({"type": 1, "end_date_time": "2024-02-02T10:00:00Z"}, ["2024-01-31", "2024-02-01", "2024-02-02"]),
        ({"type": 1}, ["2024-01-31"]),  # end_times defaults to 1
    ],
)
def test_occurrence_rules(rec, dates):
    start = datetime(2024, 1, 31, 10, 0, tzinfo=UTC)  # a Wednesday
    assert [d.date().isoformat() for d in occurrence_starts(start, rec)] == dates


@pytest.mark.parametrize(
    "body, fields",
    [
        ({"topic": "x" * 201}, ["topic"]),
        ({"agenda": "x" * 2001}, ["agenda"]),
        ({"duration": "30"}, ["duration"]),
        ({"duration": 30.0}, ["duration"]),
        ({"duration": -1}, ["duration"]),
        ({"type": 5}, ["type"]),
        ({"type": True}, ["type"]),
        ({"start_time": "2024-10-01 09:00:00"}, ["start_time"]),
        ({"start_time": "2024-10-01T09:00:00+02:00"}, ["start_time"]),
        ({"start_time": "2024-02-30T09:00:00Z"}, ["start_time"]),
        ({"timezone": "Mars/Olympus_Mons"}, ["timezone"]),
        ({"password": "with space"}, ["password"]),
        ({"password": "12345678901"}, ["password"]),
        (
            {"settings": {"audio": "loud", "approval_type": "2", "jbh_time": 7}},
            ["settings.approval_type", "settings.audio", "settings.jbh_time"],
        ),
        ({"settings": "none"}, ["settings"]),
        ({"tracking_fields": [{"value": "x"}]}, ["tracking_fields[0].field"]),
        ({"type": 8, "recurrence": {"weekly_days": "2"}}, ["recurrence.type"]),
        ({"type": 8, "recurrence": {"type": 4}}, ["recurrence.type"]),
        ({"type": 8}, ["recurrence"]),
        ({"type": 8, "recurrence": {"type": 2}}, ["recurrence.weekly_days"]),
        ({"type": 8, "recurrence": weekly("2,8")}, ["recurrence.weekly_days"]),
        ({"type": 8, "recurrence": weekly("Monday")}, ["recurrence.weekly_days"]),
        ({"type": 8, "recurrence": weekly("2", repeat_interval=13)}, ["recurrence.repeat_interval"]),
        ({"type": 8, "recurrence": {"type": 1, "repeat_interval": 91}}, ["recurrence.repeat_interval"]),
        ({"type": 8, "recurrence": {"type": 3, "repeat_interval": 4}}, ["recurrence.repeat_interval"]),
        ({"type": 8, "recurrence": {"type": 3, "monthly_day": 32}}, ["recurrence.monthly_day"]),
        ({"type": 8, "recurrence": {"type": 3, "monthly_week": 2}}, ["recurrence.monthly_week_day"]),
        ({"type": 8, "recurrence": weekly("2", end_times=61)}, ["recurrence.end_times"]),
        ({"type": 8, "recurrence": weekly("2", end_times=0)}, ["recurrence.end_times"]),
        (
            {"type": 8, "recurrence": weekly("2", end_times=3, end_date_time="2024-12-01T00:00:00Z")},
            ["recurrence.end_date_time"],
        ),
        ({"type": 8, "recurrence": weekly("2", end_date_time="2024-12-01T00:00:00")}, ["recurrence.end_date_time"]),
        (
            {
                "type": 8,
                "start_time": "2024-10-01T12:00:00Z",
                "recurrence": {"type": 1, "end_date_time": "2025-10-01T00:00:00Z"},
            },
            ["recurrence.end_date_time"],
        ),  # 365 occurrences: more than 60
        (
            {
                "type": 8,
                "start_time": "2024-10-10T12:00:00Z",
                "recurrence": {"type": 1, "end_date_time": "2024-10-01T00:00:00Z"},
            },
            ["recurrence.end_date_time"],
        ),  # none at all
    ],
)
def test_invalid_bodies_name_the_fields(sim, api, body, fields):
    before = len(sim.meetings(ACCOUNT))
    assert invalid_fields(api.create(body)) == fields
    assert len(sim.meetings(ACCOUNT)) == before


@pytest.mark.parametrize(
    "data, ctype",
    [
        (b'{"topic": "x"', "application/json"),
        (b'["topic"]', "application/json"),
        (b'{"topic": "a", "topic": "b"}', "application/json"),
        (b'{"duration": NaN}', "application/json"),
        (b"", "application/json"),
        (b'{"topic": "x"}', "text/plain"),
        (b"topic=x", "application/x-www-form-urlencoded"),
    ],
)
def test_bodies_that_are_not_one_json_object(api, data, ctype):
    r = api.call("POST", "/users/me/meetings", data=data, headers={"Content-Type": ctype})
    assert r.status_code == 400 and r.json() == BAD_BODY


@pytest.mark.parametrize("kind", [1, 3])
def test_instant_and_floating_meetings_are_not_simulated(api, kind):
    r = api.create({"type": kind})
    assert r.status_code == 501 and r.json()["code"] == 501


def test_unknown_user_and_meeting(api):
    r = api.create({"topic": "x"}, user="nobody@campus.example.edu")
    assert r.status_code == 404
    assert r.json() == {
        "code": 1001,
        "message": "User nobody@campus.example.edu not exist or not belong to this account.",
    }
    r = api.get(12345678901)
    assert r.status_code == 404
    assert r.json() == {"code": 3001, "message": "Meeting 12345678901 is not found or has expired."}
    r = api.patch(12345678901, {"topic": "x"})
    assert r.json() == {"code": 3001, "message": "A meeting with this 12345678901 is not found or has expired."}
    assert api.get("not-a-number").status_code == 404
    # another account's meeting is not found either
    other = Api(api.sim, (OTHER_CLIENT, OTHER_SECRET), OTHER_ACCOUNT)
    mine = api.created({"topic": "mine"})
    assert other.get(mine["id"]).status_code == 404
    other.http.close()


def test_schedule_for_another_user(sim, api):
    meeting = api.created({"topic": "TA session", "schedule_for": TA})
    assert meeting["host_email"] == TA and meeting["assistant_id"] == "ProfAda000000000000001"
    assert api.get(meeting["id"]).json()["host_id"] == "TaAlan0000000000000002"
    r = api.create({"schedule_for": "ghost@campus.example.edu"})
    assert r.status_code == 400 and r.json()["code"] == 300 and "schedule_for" in r.json()["message"]
    assert sim.host_daily_count(ACCOUNT, PROF) == 2 and sim.host_daily_count(ACCOUNT, TA) == 0


# ================================================================ update
def test_update_a_meeting(sim, api):
    meeting = api.created({"topic": "Lab", "start_time": "2024-10-15T14:00:00Z", "settings": {"audio": "voip"}})
    r = api.patch(
        meeting["id"],
        {
            "topic": "Lab 2",
            "agenda": "Bring laptops",
            "duration": 90,
            "settings": {"mute_upon_entry": True},
            "password": "lab-2*ok",
        },
    )
    assert r.status_code == 204 and r.content == b""
    assert "Content-Type" not in r.headers and "Content-Length" not in r.headers
    got = api.get(meeting["id"]).json()
    assert_conforms(got, OPS[GET]["responses"]["200"])
    assert (got["topic"], got["agenda"], got["duration"], got["password"]) == ("Lab 2", "Bring laptops", 90, "lab-2*ok")
    assert got["settings"]["audio"] == "voip" and got["settings"]["mute_upon_entry"] is True  # merged
    assert got["join_url"] != meeting["join_url"] and "lab-2*ok" in sim.issued_secrets()
    # a start_time in the past is ignored; one in the future is applied
    assert api.patch(meeting["id"], {"start_time": "2024-09-01T10:00:00Z"}).status_code == 204
    assert api.get(meeting["id"]).json()["start_time"] == "2024-10-15T14:00:00Z"
    assert api.patch(meeting["id"], {"start_time": "2024-10-20T10:00:00", "timezone": "Asia/Tokyo"}).status_code == 204
    got = api.get(meeting["id"]).json()
    assert (got["start_time"], got["timezone"]) == ("2024-10-20T01:00:00Z", "Asia/Tokyo")


def test_update_to_recurring_and_back(api):
    meeting = api.created({"start_time": "2024-10-14T08:30:00Z"})
    assert invalid_fields(api.patch(meeting["id"], {"type": 8})) == ["recurrence"]
    assert api.patch(meeting["id"], {"type": 8, "recurrence": weekly("2", end_times=3)}).status_code == 204
    got = api.get(meeting["id"]).json()
    assert [o["start_time"] for o in got["occurrences"]] == [
        "2024-10-14T08:30:00Z",
        "2024-10-21T08:30:00Z",
        "2024-10-28T08:30:00Z",
    ]
    assert api.patch(meeting["id"], {"recurrence": weekly("2,4", end_times=4)}).status_code == 204
    assert len(api.get(meeting["id"]).json()["occurrences"]) == 4
    assert api.patch(meeting["id"], {"type": 2}).status_code == 204
    got = api.get(meeting["id"]).json()
    assert got["type"] == 2 and "occurrences" not in got and "recurrence" not in got
    assert "registration_type" not in got["settings"]


def test_a_refused_update_changes_nothing(api):
    meeting = api.created({"topic": "Keep me", "duration": 30})
    before = {k: v for k, v in api.get(meeting["id"]).json().items() if k != "start_url"}
    assert invalid_fields(api.patch(meeting["id"], {"topic": "New", "duration": "long"})) == ["duration"]
    assert invalid_fields(api.patch(meeting["id"], {"topic": "New", "type": 8})) == ["recurrence"]
    after = {k: v for k, v in api.get(meeting["id"]).json().items() if k != "start_url"}
    assert after == before


def test_meetings_added_through_the_data_api(sim, api):
    """Meetings made with add_meeting (no recurrence, no passcode) answer GET and take updates too."""
    mid = 81_999_000_001 + len(sim.meetings(ACCOUNT))
    sim.add_meeting(
        ACCOUNT, meeting_id=mid, host_email=TA, topic="Seeded", type=8, start_time="2024-09-02T09:00:00Z", duration=90
    )
    got = api.get(mid)
    assert got.status_code == 200
    assert_conforms(got.json(), OPS[GET]["responses"]["200"])
    assert got.json()["topic"] == "Seeded" and "occurrences" not in got.json()
    assert api.patch(mid, {"topic": "Renamed", "agenda": "x"}).status_code == 204  # the schedule is left alone
    assert api.get(mid).json()["topic"] == "Renamed"
    assert invalid_fields(api.patch(mid, {"duration": 60})) == ["recurrence"]  # rescheduling needs the recurrence
    assert sim.host_daily_count(ACCOUNT, TA) == 2


def test_the_host_timezone_is_the_default():
    with _new_sim(clock=FakeClock(START)) as s:
        s.add_user(
            ACCOUNT, user_id="Berlin0000000000000003", email="berlin@campus.example.edu", timezone="Europe/Berlin"
        )
        a = Api(s)
        meeting = a.created({"start_time": "2024-11-04T09:00:00"}, user="berlin@campus.example.edu")
        assert (meeting["timezone"], meeting["start_time"]) == ("Europe/Berlin", "2024-11-04T08:00:00Z")
        a.http.close()
        with pytest.raises(ValueError):
            s.add_user(ACCOUNT, email="nowhere@campus.example.edu", timezone="Nowhere/Town")


def test_get_lists_occurrences_not_yet_over(sim, api):
    meeting = api.created(
        {"type": 8, "start_time": "2024-10-02T09:00:00Z", "duration": 60, "recurrence": {"type": 1, "end_times": 5}}
    )
    CLOCK.set(datetime(2024, 10, 3, 9, 30, tzinfo=UTC).timestamp())  # the second one is under way
    api.renew()
    shown = api.get(meeting["id"]).json()["occurrences"]
    assert [o["start_time"][:10] for o in shown] == ["2024-10-03", "2024-10-04", "2024-10-05", "2024-10-06"]
    assert len(api.get(meeting["id"], show_previous_occurrences="true").json()["occurrences"]) == 5
    assert invalid_fields(api.get(meeting["id"], show_previous_occurrences="yes")) == ["show_previous_occurrences"]
    assert api.get(meeting["id"], occurrence_id="1727859600000").status_code == 501


def test_listing_created_meetings(sim, api):
    one = api.created({"topic": "One-off", "start_time": "2024-10-05T10:00:00Z", "agenda": "Intro"})
    series = api.created(
        {"topic": "Series", "type": 8, "start_time": "2024-10-02T10:00:00Z", "recurrence": {"type": 1, "end_times": 3}}
    )
    template = "/users/{userId}/meetings"
    schema = SUBSET["paths"][template]["get"]["response_200"]

    def listed(**params) -> dict:
        r = api.call("GET", f"/users/{PROF}/meetings", params=params)
        assert r.status_code == 200, r.text
        assert_conforms(r.json(), schema)
        return {m["id"]: m for m in r.json()["meetings"]}

    rows = listed(type="scheduled")
    assert set(rows) >= {one["id"], series["id"]}
    assert rows[one["id"]]["agenda"] == "Intro" and rows[one["id"]]["host_id"] == "ProfAda000000000000001"
    assert rows[one["id"]]["join_url"] == one["join_url"] and rows[one["id"]]["uuid"]
    assert {one["id"], series["id"]} <= set(listed(type="upcoming"))
    CLOCK.set(datetime(2024, 10, 4, 12, 0, tzinfo=UTC).timestamp())  # the series is over
    api.renew()
    assert one["id"] in listed(type="upcoming") and series["id"] not in listed(type="upcoming")
    assert series["id"] in listed(type="scheduled")


# ================================================================ the per-host daily cap
def test_daily_cap_of_100_create_or_update_requests_per_host(sim, api):
    ids = [api.created({"topic": f"Section {n}"})["id"] for n in range(60)]
    assert all(api.patch(ids[n % 60], {"agenda": f"v{n}"}).status_code == 204 for n in range(39))
    assert invalid_fields(api.create({"topic": "x" * 300})) == ["topic"]  # refused, but counted
    assert sim.host_daily_count(ACCOUNT, PROF) == 100
    for attempt in (lambda: api.create({"topic": "one more"}), lambda: api.patch(ids[0], {"topic": "again"})):
        r = attempt()
        assert r.status_code == 429 and r.json() == {"code": 429, "message": CAP_MESSAGE}
        assert not any(h.lower().startswith(("x-ratelimit", "retry-after")) for h in r.headers)
    assert sim.host_daily_count(ACCOUNT, PROF) == 100 and sim.throttled == 2
    # reads, other hosts and other accounts are not capped; a fresh token does not help
    assert api.get(ids[0]).status_code == 200
    assert api.create({"topic": "TA's"}, user=TA).status_code == 201
    other = Api(sim, (OTHER_CLIENT, OTHER_SECRET), OTHER_ACCOUNT)
    assert other.create({"topic": "elsewhere"}).status_code == 201
    assert Api(sim).create({"topic": "new token"}).status_code == 429
    # 00:00 UTC by the simulator's clock opens a new day
    CLOCK.set(datetime(2024, 10, 1, 23, 59, 59, tzinfo=UTC).timestamp())
    api.renew()
    assert api.create({"topic": "still today"}).status_code == 429
    CLOCK.set(datetime(2024, 10, 2, tzinfo=UTC).timestamp())
    assert api.create({"topic": "tomorrow"}).status_code == 201
    assert sim.host_daily_count(ACCOUNT, PROF) == 1
    state = api.http.get(f"{sim.base_url}/__sim/meetings", timeout=5).json()
    assert state["host_daily"] == {f"{ACCOUNT}/ProfAda000000000000001": 1}
    other.http.close()


def test_the_cap_counts_only_requests_that_named_a_host(sim, api):
    api.create({"topic": "x"}, user="ghost@campus.example.edu")  # 404
    api.patch(12345678901, {"topic": "x"})  # 404
    sim.add_faults(Fault(status=503))
    assert api.create({"topic": "x"}).status_code == 503  # a scripted failure never reached the meeting service
    assert sim.host_daily_count(ACCOUNT, PROF) == 0


def test_daily_cap_documented_style():
    with _new_sim(clock=FakeClock(START), meeting_daily_cap=2, meeting_cap_style="documented") as s:
        a = Api(s)
        mid = a.created({"topic": "a"})["id"]
        assert a.patch(mid, {"topic": "b"}).status_code == 204
        r = a.patch(mid, {"topic": "c"})
        assert r.status_code == 429 and r.json()["message"].startswith("You have exceeded the daily rate limit (2) ")
        assert r.headers["X-RateLimit-Type"] == "Daily-limit"
        assert r.headers["X-RateLimit-Limit"] == "2" and r.headers["X-RateLimit-Remaining"] == "0"
        assert r.headers["Retry-After"] == "2024-10-02T00:00:00Z"
        a.http.close()
    with _new_sim(clock=FakeClock(START), meeting_daily_cap=None) as s:
        a = Api(s)
        assert all(a.create({"topic": str(n)}).status_code == 201 for n in range(105))
        a.http.close()


def test_writes_obey_the_per_second_limits_of_their_category():
    with _new_sim(clock=FakeClock(START), limits={"medium": 1, "light": 1}) as s:
        a = Api(s)
        mid = a.created({"topic": "a"})["id"]
        r = a.create({"topic": "b"})
        assert r.status_code == 429 and r.headers["X-RateLimit-Category"] == "Medium"
        assert r.headers["X-RateLimit-Type"] == "QPS"
        assert a.patch(mid, {"topic": "c"}).status_code == 204
        r = a.patch(mid, {"topic": "d"})
        assert r.status_code == 429 and r.headers["X-RateLimit-Category"] == "Light"
        assert s.host_daily_count(ACCOUNT, PROF) == 2  # a QPS refusal is not a create/update request
        s.advance(1)
        assert a.patch(mid, {"topic": "e"}).status_code == 204
        a.http.close()


# ================================================================ scopes, methods, secrets, control
def test_writing_needs_a_write_scope(sim, api):
    reader = Api(sim, (NARROW_CLIENT, NARROW_SECRET))
    r = reader.create({"topic": "x"})
    assert r.status_code == 400 and r.json()["code"] == 4711 and "meeting:write:admin" in r.json()["message"]
    mid = api.created({"topic": "x"})["id"]
    assert reader.patch(mid, {"topic": "y"}).json()["code"] == 4711
    assert reader.get(mid).status_code == 200
    assert sim.host_daily_count(ACCOUNT, PROF) == 1
    reader.http.close()


def test_methods(api):
    mid = api.created({"topic": "x"})["id"]
    r = api.call("DELETE", f"/meetings/{mid}")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, PATCH"
    r = api.call("PUT", "/users/me/meetings", json={})
    assert r.status_code == 405 and r.headers["Allow"] == "GET, POST"
    assert api.call("POST", "/meetings", json={}).status_code == 404


def test_secrets_stay_out_of_records_state_and_repr(sim, api):
    meeting = api.created({"topic": "Secretive"})
    again = api.get(meeting["id"]).json()
    secrets = sim.issued_secrets()
    assert {meeting["password"], meeting["start_url"], again["start_url"], meeting["h323_password"]} <= secrets
    zak = meeting["start_url"].split("zak=")[1]
    assert zak in secrets
    visible = json.dumps(sim.api_requests) + repr(sim)
    for path in ("state", "meetings"):
        visible += api.http.get(f"{sim.base_url}/__sim/{path}", timeout=5).text
    assert not [s for s in secrets if s in visible]
    stored = sim.meetings(ACCOUNT, host=PROF)
    assert meeting["id"] in [m["id"] for m in stored] and stored[0]["password"]
    with pytest.raises(KeyError):
        sim.meetings(ACCOUNT, host="ghost@campus.example.edu")


def test_uuid_and_ids_are_unique(api):
    made = [api.created({"topic": str(n)}) for n in range(20)]
    assert len({m["id"] for m in made}) == 20
    assert len({api.get(m["id"]).json()["uuid"] for m in made[:5]}) == 5


def test_constructor_is_strict():
    for bad in ({"meeting_daily_cap": -1}, {"meeting_daily_cap": True}, {"meeting_cap_style": "loud"}):
        with pytest.raises(ValueError):
            ZoomSimulator(**bad)


def test_command_line_options():
    env = {"ZOOM_SIM_CLIENT_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "infra" / "local" / "zoom_sim.py"),
            "--account",
            f"{ACCOUNT}:{CLIENT_ID}",
            "--seed-demo",
            "--scope",
            PROVISIONING_SCOPE,
            "--meeting-daily-cap",
            "1",
            "--meeting-cap-style",
            "documented",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        base = proc.stdout.readline().strip()
        with requests.Session() as h:
            token = h.post(
                f"{base}/oauth/token",
                auth=(CLIENT_ID, SECRET),
                timeout=5,
                data={"grant_type": "account_credentials", "account_id": ACCOUNT},
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            first = h.post(f"{base}/v2/users/me/meetings", json={"topic": "x"}, headers=auth, timeout=5)
            assert first.status_code == 201
            r = h.post(f"{base}/v2/users/me/meetings", json={"topic": "y"}, headers=auth, timeout=5)
            assert r.status_code == 429 and r.headers["X-RateLimit-Type"] == "Daily-limit"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert SECRET not in out + err
