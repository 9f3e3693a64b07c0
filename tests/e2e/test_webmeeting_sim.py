"""End-to-end tests of the strict Web Meeting API v6 simulator, over real HTTP on 127.0.0.1.

The expected shapes below are copied from /work/shared/reference/web-meeting-api-v6.txt, not from the
simulator, so these tests pin the simulator to the document.  The injected clock starts at the instant
the document's example account was created (its id begins 5e9459c5), so some answers can be compared
with the document's literally.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from infra.local.webmeeting_sim import ENDPOINTS, Fault, WebMeetingSimulator

KEY = "wm-KEY-3c41f0a9b2e84d7f"
NOW = 1_586_780_613.852  # 2020-04-13T12:23:33.852Z
REPO = Path(__file__).resolve().parents[2]
OBJECT_ID = re.compile(r"[0-9a-f]{24}\Z")

# The document's request bodies.
DOC_ACCOUNT = {
    "sendPassword": True,
    "accountType": "trial",
    "adminFirstname": "Test",
    "adminLastname": "User",
    "adminEmail": "test-user@example.com",
    "adminPreferredLanguage": "en",
    "paidUntil": "2020-04-19T19:03:41.203Z",
}
DOC_MEETING = {
    "topic": "My Meeting Topic",
    "startTime": "2020-04-07T09:00:00.000Z",
    "endTime": "2020-04-07T10:00:00.000Z",
    "duration": 60,
    "type": "standard",
    "isRecurring": False,
    "isRecorded": False,
    "isDialin": False,
    "invitedParticipants": [],
    "recurring": {},
    "meetingPermissionId": None,
}
# The document's answer fields, in its order.
ACCOUNT_KEYS = [
    "name",
    "accountType",
    "numberOfMeetings",
    "numberOfMeetingOrganizers",
    "numberOfMeetingRooms",
    "paidUntil",
    "iceCandidatesToFilter",
    "customDialInNumbers",
    "displayStandardDialInNumbersInInvite",
    "defaultMeetingPermissions",
    "defaultMeetingType",
    "defaultMeetingHasDialin",
    "defaultMeetingHasRecording",
    "autoExtendMeetings",
    "autoDeleteMeetingsAfterXDays",
    "id",
    "canAddMeetingOrganizer",
    "accountRooms",
]
ADMIN_KEYS = [
    "email",
    "firstName",
    "lastName",
    "externalUserId",
    "preferredLanguage",
    "timezone",
    "additionalTimezones",
    "id",
    "icsToken",
    "icsPath",
]
MEETING_KEYS = [
    "invitedParticipants",
    "meetingId",
    "id",
    "topic",
    "startTime",
    "endTime",
    "duration",
    "type",
    "roomId",
    "isRecurring",
    "isDialin",
    "recurring",
    "isRecorded",
    "agenda",
    "documents",
    "meetingPermissionId",
    "videoResolution",
    "dtClosedAt",
    "whitelabelId",
    "addedByUserId",
    "addedByUserEmail",
    "accountId",
    "addedByUserName",
    "timezone",
    "privateDataVisible",
    "icalSequence",
    "icsToken",
    "isActive",
    "isClosed",
    "isOpen",
    "dialInConferenceRoom",
    "dialInNumbers",
    "dialInPin",
    "sipProxy",
    "sipDomain",
    "isDemo",
    "isPromo",
]


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


CLOCK = FakeClock()


@pytest.fixture(scope="module")
def sim():
    with WebMeetingSimulator(KEY, clock=CLOCK) as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh(sim):
    CLOCK.now = NOW
    sim.reset()
    yield
    deadline = time.monotonic() + 5  # a delayed request must not land in the next test's records
    while any(r["status"] is None and not (r["fault"] or {}).get("drop") for r in sim.received):
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    sim.reset()


# ---------------------------------------------------------------- helpers
def checked(resp: requests.Response) -> requests.Response:
    assert KEY not in resp.text
    assert all(KEY not in f"{k}: {v}" for k, v in resp.headers.items())
    return resp


def call(
    sim,
    method: str,
    path: str,
    body=None,
    *,
    key: str | None = KEY,
    user: str | None = None,
    headers: dict | None = None,
    raw: bytes | None = None,
    ctype: str | None = "application/json",
    http=None,
    timeout: float = 5.0,
) -> requests.Response:
    h = {}
    if key is not None:
        h["X-API-KEY"] = key
    if user is not None:
        h["X-USER-ID"] = user
    if ctype is not None:
        h["Content-Type"] = ctype
    h.update(headers or {})
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    return checked((http or requests).request(method, sim.base_url + path, data=data, headers=h, timeout=timeout))


def create_account(sim, **changes) -> requests.Response:
    return call(sim, "POST", "/api/v6/account", {**DOC_ACCOUNT, **changes})


def create_meeting(sim, user: str, **changes) -> requests.Response:
    return call(sim, "POST", "/api/v6/meeting", {**DOC_MEETING, **changes}, user=user)


def organizer(sim, email: str = "teacher@example.edu") -> str:
    return sim.seed_account(email, "Ada", "Lovelace")[1]


def refused(resp: requests.Response, status: int, code: int, *needles: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"responseCode", "responseMessage", "data"} and body["data"] is None
    assert body["responseCode"] == code, body
    for needle in needles:
        assert needle in body["responseMessage"], (needle, body["responseMessage"])
    return body


# ---------------------------------------------------------------- the document's walk-through
def test_create_account_answers_the_documented_shape(sim):
    resp = create_account(sim)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert list(body) == ["responseCode", "data"] and body["responseCode"] == 0
    data = body["data"]
    assert list(data) == ACCOUNT_KEYS
    assert OBJECT_ID.match(data["id"]) and data["id"].startswith("5e9459c5")  # the example's creation second
    expected = {
        "name": "test-user@example.com",
        "accountType": "trial",
        "numberOfMeetings": 0,
        "numberOfMeetingOrganizers": 0,
        "numberOfMeetingRooms": 1,
        "paidUntil": "2020-04-27T12:23:33.852Z",  # the document's own answer: creation + 14 days
        "iceCandidatesToFilter": [],
        "customDialInNumbers": [],
        "displayStandardDialInNumbersInInvite": True,
        "defaultMeetingPermissions": None,
        "defaultMeetingType": "standard",
        "defaultMeetingHasDialin": False,
        "defaultMeetingHasRecording": False,
        "autoExtendMeetings": False,
        "autoDeleteMeetingsAfterXDays": 360,
        "id": data["id"],
        "canAddMeetingOrganizer": True,
        "accountRooms": [],
    }
    assert data == expected
    [account] = sim.accounts()
    assert account["id"] == data["id"] and OBJECT_ID.match(account["adminUserId"])
    assert sim.undocumented() == []


def test_admin_organizer_answers_the_documented_shape(sim):
    account_id = create_account(sim).json()["data"]["id"]
    resp = call(sim, "GET", "/api/v6/account/admin/" + account_id)
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == ["responseCode", "data"] and body["responseCode"] == 0
    [admin] = body["data"]  # a list, as documented
    assert list(admin) == ADMIN_KEYS
    assert {k: admin[k] for k in ADMIN_KEYS[:7]} == {
        "email": "test-user@example.com",
        "firstName": "Test",
        "lastName": "User",
        "externalUserId": None,
        "preferredLanguage": "en",
        "timezone": "Europe/Paris",
        "additionalTimezones": [],
    }
    # ids in the document's order: user ...4e, then account ...4f
    assert OBJECT_ID.match(admin["id"]) and int(admin["id"], 16) + 1 == int(account_id, 16)
    assert re.fullmatch(r"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}-?){2}", admin["icsToken"])
    assert admin["icsPath"] == "/api/v6/meeting/calender/user/" + admin["icsToken"]
    [org] = sim.organizers()
    assert org["accountId"] == account_id and org["sendPassword"] is True and org["id"] == admin["id"]


def test_create_and_update_meeting_answer_the_documented_shape(sim):
    account_id = create_account(sim).json()["data"]["id"]
    user_id = call(sim, "GET", "/api/v6/account/admin/" + account_id).json()["data"][0]["id"]
    resp = create_meeting(sim, user_id)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert list(body) == ["responseCode", "data"] and body["responseCode"] == 0
    m = body["data"]
    assert list(m) == MEETING_KEYS
    assert re.fullmatch(r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{4}", m["meetingId"])
    assert all(OBJECT_ID.match(m[k]) for k in ("id", "roomId", "whitelabelId"))
    assert int(m["roomId"], 16) == int(account_id, 16) + 1  # the organizer's room, made with the account
    assert {
        k: m[k]
        for k in (
            "topic",
            "startTime",
            "endTime",
            "type",
            "isRecurring",
            "isDialin",
            "isRecorded",
            "invitedParticipants",
            "meetingPermissionId",
        )
    } == {
        k: DOC_MEETING[k]
        for k in (
            "topic",
            "startTime",
            "endTime",
            "type",
            "isRecurring",
            "isDialin",
            "isRecorded",
            "invitedParticipants",
            "meetingPermissionId",
        )
    }
    assert m["duration"] == "60" and m["icalSequence"] == "0"  # strings in the answer
    assert m["addedByUserId"] == user_id and m["accountId"] == account_id
    assert m["addedByUserEmail"] == "test-user@example.com" and m["addedByUserName"] == "Test User"
    assert m["recurring"] == {
        "frequencyType": "",
        "frequency": None,
        "monthlyPattern": "",
        "endsType": "",
        "endsOn": m["recurring"]["endsOn"],
        "endsAfter": 0,
    }
    assert (m["timezone"], m["videoResolution"], m["isClosed"], m["isOpen"]) == (
        "Europe/Zurich",
        "standard",
        True,
        False,
    )
    update = {
        **DOC_MEETING,
        "topic": "My Updated Meeting Topic",
        "id": m["id"],
        "startTime": "2020-04-07T09:30:00.000Z",
        "endTime": "2020-04-07T10:30:00.000Z",
    }
    resp = call(sim, "PUT", f"/api/v6/meeting/{m['id']}/false", update, user=user_id)
    assert resp.status_code == 200 and resp.json()["responseCode"] == 0
    u = resp.json()["data"]
    assert list(u) == MEETING_KEYS
    assert (u["topic"], u["startTime"], u["endTime"]) == (
        "My Updated Meeting Topic",
        update["startTime"],
        update["endTime"],
    )
    assert (u["id"], u["meetingId"], u["icalSequence"]) == (m["id"], m["meetingId"], "1")
    assert sim.meetings() == [u]
    assert sim.undocumented() == []


def test_future_meeting_is_not_closed(sim):
    user = organizer(sim)
    m = create_meeting(sim, user, startTime="2020-05-01T09:00:00.000Z", endTime="2020-05-01T10:00:00.000Z").json()
    assert m["data"]["isClosed"] is False


def test_non_trial_account_keeps_its_paid_until_and_is_noted(sim):
    resp = create_account(sim, accountType="paid")
    assert resp.status_code == 200 and resp.json()["data"]["paidUntil"] == DOC_ACCOUNT["paidUntil"]
    assert [n["note"] for n in sim.undocumented()] == [
        "'accountType' 'paid' is not a value the document shows ('trial')"
    ]


def test_keep_alive_session_survives_refusals(sim):
    with requests.Session() as http:
        assert call(sim, "POST", "/api/v6/account", DOC_ACCOUNT, key="nope-nope-nope", http=http).status_code == 401
        assert call(sim, "POST", "/api/v6/account", {}, http=http).status_code == 400
        assert call(sim, "POST", "/api/v6/account", DOC_ACCOUNT, http=http).status_code == 200
    assert len({r["connection"] for r in sim.received}) == 1


# ---------------------------------------------------------------- the API key
@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/api/v6/account"),
        ("GET", "/api/v6/account/admin/x"),
        ("POST", "/api/v6/meeting"),
        ("PUT", "/api/v6/meeting/x/false"),
        ("GET", "/api/v6/unknown"),
    ],
)
@pytest.mark.parametrize(
    "key, message",
    [
        (None, "Missing API key"),
        ("wrong-key-value-123", "Invalid API key"),
        (KEY.lower(), "Invalid API key"),
        ("", "Invalid API key"),
    ],
)
def test_key_missing_or_wrong_is_401_before_anything_else(sim, method, path, key, message):
    resp = call(sim, method, path, {"adminEmail": "x@example.com"}, key=key)
    refused(resp, 401, -1, message)
    assert sim.accounts() == [] and sim.received[-1]["api_key"] in ("missing", "wrong")


def test_repeated_key_header_or_key_in_query_is_refused(sim):
    both = [("X-API-KEY", KEY), ("X-API-KEY", KEY), ("Content-Type", "application/json")]
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    conn.putrequest("POST", "/api/v6/account")
    payload = json.dumps(DOC_ACCOUNT).encode()
    for name, value in both + [("Content-Length", str(len(payload)))]:
        conn.putheader(name, value)
    conn.endheaders(payload)
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    assert resp.status == 401 and json.loads(text)["responseCode"] == -1 and KEY not in text
    resp = checked(requests.post(f"{sim.base_url}/api/v6/account?apiKey={KEY}", json=DOC_ACCOUNT, timeout=5))
    refused(resp, 401, -1, "Missing API key")
    assert sim.accounts() == []
    assert KEY not in json.dumps(sim.received) and KEY not in json.dumps(sim.state())


def test_permissions_the_key_lacks_are_403():
    with WebMeetingSimulator(KEY, permissions=("Meeting",), clock=CLOCK) as s:
        refused(create_account(s), 403, -3, "'Account' permission")
        user = s.seed_account("only-meetings@example.edu", "A", "B")[1]
        assert create_meeting(s, user).status_code == 200
    with WebMeetingSimulator(KEY, permissions=("Account",), clock=CLOCK) as s:
        assert create_account(s).status_code == 200
        refused(create_meeting(s, s.organizers()[0]["id"]), 403, -3, "'Meeting' permission")
        assert s.meetings() == []
    with pytest.raises(ValueError):
        WebMeetingSimulator(KEY, permissions=("Admin",))
    with pytest.raises(ValueError):
        WebMeetingSimulator("")


# ---------------------------------------------------------------- create account: refusals
@pytest.mark.parametrize(
    "email",
    [
        "test-user",
        "test-user@",
        "@example.com",
        "test user@example.com",
        "test-user@example",
        " test-user@example.com",
        "test-user@example.com ",
        "a@b@example.com",
        "test-user@-example.com",
        "tést@example.com",
        "",
        "x" * 250 + "@example.com",
        None,
        42,
    ],
)
def test_account_email_must_be_an_address(sim, email):
    refused(create_account(sim, adminEmail=email), 400, -4, "'adminEmail'")
    assert sim.accounts() == [] and sim.organizers() == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("sendPassword", "true"),
        ("sendPassword", 1),
        ("accountType", None),
        ("adminFirstname", 5),
        ("adminLastname", ["User"]),
        ("adminPreferredLanguage", None),
        ("paidUntil", None),
    ],
)
def test_account_fields_must_have_the_documented_types(sim, field, value):
    refused(create_account(sim, **{field: value}), 400, -4, f"'{field}'")
    assert sim.accounts() == []


@pytest.mark.parametrize(
    "value",
    [
        "2020-04-19T19:03:41Z",
        "2020-04-19T19:03:41.203",
        "2020-04-19",
        "2020-04-19T19:03:41.203+02:00",
        "2020-04-19 19:03:41.203Z",
        "2020-02-30T19:03:41.203Z",
        "2020-04-19T24:03:41.203Z",
        "1587323021203",
    ],
)
def test_paid_until_must_be_a_documented_iso_time(sim, value):
    refused(create_account(sim, paidUntil=value), 400, -4, "'paidUntil'")


def test_admin_email_is_required_the_rest_is_noted(sim):
    refused(call(sim, "POST", "/api/v6/account", {"adminFirstname": "T"}), 400, -4, "'adminEmail' is required")
    resp = call(sim, "POST", "/api/v6/account", {"adminEmail": "only@example.com", "colour": "red"})
    assert resp.status_code == 200 and resp.json()["data"]["paidUntil"] == "2020-04-27T12:23:33.852Z"
    notes = [n["note"] for n in sim.undocumented()]
    assert len(notes) == 7 and "unknown field 'colour' ignored" in notes
    assert all("left out" in n for n in notes if "colour" not in n)


def test_admin_email_exists_once_per_instance(sim):
    first = create_account(sim)
    assert first.status_code == 200
    for email in ("test-user@example.com", "TEST-User@Example.COM"):
        body = refused(create_account(sim, adminEmail=email), 409, -10, "already exists")
        assert email in body["responseMessage"]
    assert len(sim.accounts()) == 1 and len(sim.organizers()) == 1
    with pytest.raises(ValueError, match="already exists"):
        sim.seed_account("Test-User@example.com", "X", "Y")
    with pytest.raises(ValueError, match="adminEmail"):
        sim.seed_account("not-an-email", "X", "Y")
    assert create_account(sim, adminEmail="other@example.com").status_code == 200


@pytest.mark.parametrize(
    "raw, ctype, status, needle",
    [
        (b"", "application/json", 400, "body is required"),
        (b'{"adminEmail": ', "application/json", 400, "malformed JSON"),
        (b"[]", "application/json", 400, "JSON object"),
        (b'{"adminEmail": NaN}', "application/json", 400, "malformed JSON"),
        (b"\xff\xfe{}", "application/json", 400, "UTF-8"),
        (json.dumps(DOC_ACCOUNT).encode(), None, 415, "Content-Type"),
        (json.dumps(DOC_ACCOUNT).encode(), "text/plain", 415, "Content-Type"),
    ],
)
def test_malformed_request_bodies(sim, raw, ctype, status, needle):
    refused(call(sim, "POST", "/api/v6/account", raw=raw, ctype=ctype), status, -4, needle)
    assert sim.accounts() == []


def test_charset_parameter_is_fine(sim):
    resp = call(sim, "POST", "/api/v6/account", DOC_ACCOUNT, ctype="application/json; charset=utf-8")
    assert resp.status_code == 200


# ---------------------------------------------------------------- admin lookup: refusals
def test_admin_lookup_unknown_or_malformed_account(sim):
    refused(call(sim, "GET", "/api/v6/account/admin/5e9459c5b863b82cefdddf4f"), 404, -4, "no account")
    refused(call(sim, "GET", "/api/v6/account/admin/not-an-id"), 400, -4, "account id")
    user = organizer(sim)
    refused(call(sim, "GET", "/api/v6/account/admin/" + user), 404, -4, "no account")  # a user id is not one


# ---------------------------------------------------------------- create meeting: refusals
@pytest.mark.parametrize("field", list(DOC_MEETING))
def test_every_field_of_the_minimal_data_set_is_required(sim, field):
    user = organizer(sim)
    body = {k: v for k, v in DOC_MEETING.items() if k != field}
    refused(call(sim, "POST", "/api/v6/meeting", body, user=user), 400, -4, "missing", f"'{field}'")
    assert sim.meetings() == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("topic", None),
        ("topic", 7),
        ("duration", "60"),
        ("duration", True),
        ("duration", None),
        ("type", None),
        ("isRecurring", "false"),
        ("isRecorded", 0),
        ("isDialin", None),
        ("invitedParticipants", {}),
        ("invitedParticipants", None),
        ("recurring", []),
        ("recurring", None),
        ("meetingPermissionId", 5),
        ("meetingPermissionId", False),
        ("agenda", 1),
        ("timezone", None),
    ],
)
def test_meeting_fields_must_have_the_documented_types(sim, field, value):
    refused(create_meeting(sim, organizer(sim), **{field: value}), 400, -4, f"'{field}'")
    assert sim.meetings() == []


@pytest.mark.parametrize("field", ["startTime", "endTime"])
@pytest.mark.parametrize(
    "value",
    [
        "2020-04-07T09:00:00Z",
        "2020-04-07T09:00:00.000",
        "2020-04-07T09:00:00.000+00:00",
        "2020-04-07",
        "2020-13-07T09:00:00.000Z",
        "07/04/2020 09:00",
        1586250000000,
    ],
)
def test_meeting_times_must_be_documented_iso_times(sim, field, value):
    refused(create_meeting(sim, organizer(sim), **{field: value}), 400, -4, f"'{field}'")


@pytest.mark.parametrize(
    "headers, status, needle",
    [
        ({}, 400, "X-USER-ID header is required"),
        ({"X-USER-ID": "teacher@example.edu"}, 400, "is not an id"),
        ({"X-USER-ID": "5E9459C5B863B82CEFDDDF4E"}, 400, "is not an id"),
        ({"X-USER-ID": "5e9459c5b863b82cefdddf4e"}, 404, "no user"),
    ],
)
def test_meeting_needs_a_known_organizer(sim, headers, status, needle):
    organizer(sim)
    refused(call(sim, "POST", "/api/v6/meeting", DOC_MEETING, headers=headers), status, -4, needle)
    assert sim.meetings() == []


def test_meeting_belongs_to_the_organizer_in_x_user_id(sim):
    a = organizer(sim, "a@example.edu")
    b = organizer(sim, "b@example.edu")
    m = create_meeting(sim, b).json()["data"]
    org_b = next(o for o in sim.organizers() if o["id"] == b)
    assert (m["addedByUserId"], m["addedByUserEmail"], m["accountId"]) == (b, "b@example.edu", org_b["accountId"])
    assert a != b


# ---------------------------------------------------------------- update meeting: refusals and silences
def _meeting(sim) -> tuple[str, str]:
    user = organizer(sim)
    return user, create_meeting(sim, user).json()["data"]["id"]


def test_update_refusals(sim):
    user, mid = _meeting(sim)
    body = {**DOC_MEETING, "id": mid}
    refused(
        call(
            sim,
            "PUT",
            "/api/v6/meeting/5e945c36b863b82cefdddf54/false",
            {**body, "id": "5e945c36b863b82cefdddf54"},
            user=user,
        ),
        404,
        -4,
        "no meeting",
    )
    refused(call(sim, "PUT", f"/api/v6/meeting/{mid}/false", DOC_MEETING, user=user), 400, -4, "'id'")
    refused(
        call(sim, "PUT", f"/api/v6/meeting/{mid}/false", {**body, "id": "5e945c36b863b82cefdddf54"}, user=user),
        400,
        -4,
        "not the meeting id in the path",
    )
    refused(
        call(sim, "PUT", f"/api/v6/meeting/{mid}/false", {**body, "duration": "60"}, user=user), 400, -4, "'duration'"
    )
    refused(call(sim, "PUT", f"/api/v6/meeting/{mid}/false", body), 400, -4, "X-USER-ID")
    refused(call(sim, "PUT", f"/api/v6/meeting/{mid}/maybe", body, user=user), 404, -4, "Not found")
    refused(call(sim, "PUT", f"/api/v6/meeting/{mid}", body, user=user), 404, -4, "Not found")
    assert sim.meetings()[0]["icalSequence"] == "0"


def test_update_by_another_organizer_or_with_true_is_accepted_and_noted(sim):
    user, mid = _meeting(sim)
    other = organizer(sim, "other@example.edu")
    resp = call(sim, "PUT", f"/api/v6/meeting/{mid}/true", {**DOC_MEETING, "id": mid}, user=other)
    assert resp.status_code == 200 and resp.json()["data"]["addedByUserId"] == user
    notes = [n["note"] for n in sim.undocumented()]
    assert any("/true" in n for n in notes) and any("not the meeting's organizer" in n for n in notes)


@pytest.mark.parametrize(
    "changes, needle",
    [
        ({"duration": 45}, "'duration' is not the minutes"),
        ({"duration": 60.0}, "'duration' not written as a whole number"),
        ({"duration": 59.5}, "'duration' not written as a whole number"),
        ({"endTime": "2020-04-07T08:00:00.000Z"}, "'endTime' is not after 'startTime'"),
        ({"duration": 0, "endTime": "2020-04-07T09:00:00.000Z"}, "'duration' is not positive"),
        ({"type": "webinar"}, "'type' 'webinar' is not a value the document shows"),
        ({"topic": "  "}, "'topic' is blank"),
        ({"isRecurring": True, "recurring": {"frequencyType": "weekly"}}, "recurrence requested"),
        ({"invitedParticipants": ["student@example.edu"]}, "'invitedParticipants' not empty"),
        ({"meetingPermissionId": "5e9459c5b863b82cefdddf99"}, "'meetingPermissionId' set"),
        ({"password": "x"}, "unknown field 'password' ignored"),
    ],
)
def test_silences_are_accepted_and_noted(sim, changes, needle):
    resp = create_meeting(sim, organizer(sim), **changes)
    assert resp.status_code == 200, resp.text
    notes = [n["note"] for n in sim.undocumented()]
    assert any(needle in n for n in notes), notes
    data = resp.json()["data"]
    if isinstance(changes.get("duration"), float):  # answered as JavaScript's String() writes it
        assert data["duration"] == {60.0: "60", 59.5: "59.5"}[changes["duration"]]
    if "recurring" in changes:
        assert data["recurring"]["frequencyType"] == "weekly" and data["recurring"]["endsAfter"] == 0
    assert "password" not in data


def test_agenda_and_timezone_are_carried(sim):
    data = create_meeting(sim, organizer(sim), agenda="Week 1", timezone="America/Chicago").json()["data"]
    assert (data["agenda"], data["timezone"]) == ("Week 1", "America/Chicago")
    assert sim.undocumented() == []


def test_unknown_path_and_wrong_method(sim):
    refused(call(sim, "GET", "/api/v6/meeting"), 405, -4)
    assert call(sim, "GET", "/api/v6/meeting").headers["Allow"] == "POST"
    refused(call(sim, "DELETE", "/api/v6/account"), 405, -4)
    refused(call(sim, "GET", "/api/v6/account/admin/"), 404, -4)
    refused(call(sim, "POST", "/api/v5/account", DOC_ACCOUNT), 404, -4)
    refused(call(sim, "POST", "/api/v6/account/", DOC_ACCOUNT), 404, -4)


# ---------------------------------------------------------------- faults
def test_fault_status_with_retry_after_then_normal(sim):
    sim.add_faults(Fault(status=503, retry_after="2"), Fault(status=429))
    r1 = create_account(sim)
    assert r1.status_code == 503 and r1.headers["Retry-After"] == "2"
    assert r1.json() == {"responseCode": -99, "responseMessage": "Unknown error", "data": None}
    refused(create_account(sim), 429, -4, "Too many requests")
    assert create_account(sim).status_code == 200
    assert [r["status"] for r in sim.received] == [503, 429, 200]
    assert len(sim.accounts()) == 1


def test_fault_comes_before_the_key_check_and_body_alone_answers_200(sim):
    sim.add_faults(Fault(status=500), Fault(body={"responseCode": -99, "responseMessage": "scripted", "data": None}))
    assert call(sim, "POST", "/api/v6/account", DOC_ACCOUNT, key="wrong-key-xyz-123").status_code == 500
    resp = create_account(sim)
    assert resp.status_code == 200 and resp.json()["responseCode"] == -99
    assert sim.accounts() == []
    assert sim.faults_pending() == 0


def test_fault_for_one_endpoint_waits_for_it(sim):
    sim.add_faults(Fault(status=500, endpoint="create_meeting"))
    account_id = create_account(sim).json()["data"]["id"]
    user = call(sim, "GET", "/api/v6/account/admin/" + account_id).json()["data"][0]["id"]
    assert sim.faults_pending() == 1
    refused(create_meeting(sim, user), 500, -99)
    assert create_meeting(sim, user).status_code == 200
    assert [r["endpoint"] for r in sim.received] == ["create_account", "get_admin", "create_meeting", "create_meeting"]


def test_fault_delay_provokes_a_read_timeout_then_processes(sim):
    sim.add_faults(Fault(delay=0.5))
    with pytest.raises(requests.exceptions.ReadTimeout):
        call(sim, "POST", "/api/v6/account", {**DOC_ACCOUNT, "adminEmail": "slow@example.com"}, timeout=0.1)
    deadline = time.monotonic() + 3
    while sim.received[-1]["status"] is None and time.monotonic() < deadline:
        time.sleep(0.02)
    # the server went on and created it: a client that retries must expect "already exists"
    assert [a["name"] for a in sim.accounts()] == ["slow@example.com"]
    refused(create_account(sim, adminEmail="slow@example.com"), 409, -10)


def test_fault_drop_and_the_session_recovers(sim):
    sim.add_faults(Fault(drop=True))
    with requests.Session() as http:
        with pytest.raises(requests.exceptions.ConnectionError):
            call(sim, "POST", "/api/v6/account", DOC_ACCOUNT, http=http)
        assert sim.received[-1]["status"] is None and sim.accounts() == []
        assert call(sim, "POST", "/api/v6/account", DOC_ACCOUNT, http=http).status_code == 200


def test_add_faults_rejects_bad_values(sim):
    with pytest.raises(TypeError):
        sim.add_faults({"status": 500})
    for bad in (Fault(delay=-1), Fault(status=99), Fault(endpoint="delete_meeting"), Fault(body="x")):
        with pytest.raises(ValueError):
            sim.add_faults(bad)
    assert {name for _, _, name, _ in ENDPOINTS} == {"create_account", "get_admin", "create_meeting", "update_meeting"}


# ---------------------------------------------------------------- records and the key
def test_records_hold_every_request_without_the_key(sim):
    assert sim.received == []  # "no call was made" is a plain assertion
    create_account(sim, adminFirstname=KEY)  # a client bug that puts the key in a field
    call(sim, "POST", "/api/v6/account", DOC_ACCOUNT, key="another-real-looking-key-42")
    first, second = sim.received
    assert first["method"] == "POST" and first["path"] == "/api/v6/account" and first["endpoint"] == "create_account"
    assert "x-api-key" not in first["headers"] and first["api_key"] == "valid"
    assert first["headers"]["content-type"] == "application/json"
    assert first["body"]["adminFirstname"] == "<redacted>" and first["body"]["adminEmail"] == DOC_ACCOUNT["adminEmail"]
    assert (first["status"], first["responseCode"]) == (200, 0)
    assert second["api_key"] == "wrong" and (second["status"], second["responseCode"]) == (401, -1)
    dumped = json.dumps(sim.state())
    assert KEY not in dumped and "another-real-looking-key-42" not in dumped
    assert sim.organizers()[0]["firstName"] == KEY  # stored as sent; only the answers and records hide it
    assert KEY not in repr(sim)


def test_key_is_never_echoed_in_an_answer(sim):
    account_id = create_account(sim, adminFirstname=KEY).json()["data"]["id"]  # checked() asserts the key is absent
    admin = call(sim, "GET", "/api/v6/account/admin/" + account_id).json()["data"][0]
    assert admin["firstName"] == "<redacted>"
    sim.add_faults(Fault(status=400, body={"echo": KEY}))
    assert create_account(sim).json() == {"echo": "<redacted>"}


# ---------------------------------------------------------------- control endpoints
def test_control_endpoints(sim):
    root = sim.base_url
    state = checked(requests.get(root + "/__sim/state", timeout=5)).json()
    assert state == {"received": [], "accounts": [], "organizers": [], "meetings": [], "notes": [], "faults_pending": 0}
    seeded = checked(
        requests.post(
            root + "/__sim/seed", json={"email": "t@example.edu", "firstname": "T", "lastname": "U"}, timeout=5
        )
    )
    assert seeded.status_code == 200
    ids = seeded.json()
    assert ids["accountId"] == sim.accounts()[0]["id"] and ids["userId"] == sim.organizers()[0]["id"]
    again = checked(requests.post(root + "/__sim/seed", json={"email": "T@example.edu"}, timeout=5))
    assert again.status_code == 409 and again.json()["responseCode"] == -10
    assert checked(requests.post(root + "/__sim/seed", json={"mail": "x"}, timeout=5)).status_code == 400
    assert checked(requests.post(root + "/__sim/seed", json={"email": "x"}, timeout=5)).status_code == 400
    resp = checked(
        requests.post(root + "/__sim/faults", json=[{"status": 503, "endpoint": "create_meeting"}], timeout=5)
    )
    assert resp.status_code == 200 and sim.faults_pending() == 1
    assert checked(requests.post(root + "/__sim/faults", json=[{"sttus": 1}], timeout=5)).status_code == 400
    assert create_meeting(sim, ids["userId"]).status_code == 503
    state = checked(requests.get(root + "/__sim/state", timeout=5)).json()
    assert len(state["received"]) == 1 and state["organizers"][0]["email"] == "t@example.edu"  # control not recorded
    assert checked(requests.get(root + "/__sim/seed", timeout=5)).status_code == 405
    assert checked(requests.get(root + "/__sim/nope", timeout=5)).status_code == 404
    assert checked(requests.post(root + "/__sim/reset", timeout=5)).status_code == 200
    assert checked(requests.get(root + "/__sim/state", timeout=5)).json()["accounts"] == []


# ---------------------------------------------------------------- program mode
def test_program_mode_takes_the_key_from_the_environment():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "WEBMEETING_SIM_API_KEY": KEY}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "infra" / "local" / "webmeeting_sim.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        base = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:[0-9]+", base)
        resp = checked(requests.post(base + "/api/v6/account", json=DOC_ACCOUNT, headers={"X-API-KEY": KEY}, timeout=5))
        assert resp.status_code == 200 and resp.json()["data"]["name"] == DOC_ACCOUNT["adminEmail"]
        assert (
            checked(requests.get(base + "/__sim/state", timeout=5)).json()["accounts"][0]["name"]
            == DOC_ACCOUNT["adminEmail"]
        )
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert KEY not in out + err
    missing = subprocess.run(
        [sys.executable, str(REPO / "infra" / "local" / "webmeeting_sim.py")],
        check=False,
        capture_output=True,
        text=True,
        env={"PATH": env["PATH"]},
        timeout=10,
    )
    assert missing.returncode == 2 and "WEBMEETING_SIM_API_KEY" in missing.stderr
