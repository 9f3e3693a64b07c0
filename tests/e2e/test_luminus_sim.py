"""End-to-end tests of the strict LumiNUS "Add meeting" simulator, over real HTTP on 127.0.0.1.

Expected values are written here from the reference document (luminus-zoom-conferencing-api.txt),
not taken from the simulator's own tables, so these tests pin the simulator to the document.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from infra.local.luminus_sim import Fault, LuminusSimulator

KEY = "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.sim-bearer-token.Qm9ndXM"
NOW = 1_723_420_800.0  # 2024-08-12T00:00:00Z
MODULE = "c0a80121-7ac0-4e1c-8a3e-2f6b1d9e4a55"
GROUP = "0b6f4d1e-2c3a-4b5d-9e8f-7a6b5c4d3e2f"
USER = "9d8c7b6a-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
JSON_PATCH = "application/json-patch+json"  # what the document's samples send
FORBIDDEN = "Login user not authorized to perform this action"
MISSING_KEY = {
    "statusCode": 401,
    "message": "Access denied due to missing subscription key. "
    "Make sure to include subscription key when making requests to an API.",
}
INVALID_KEY = {
    "statusCode": 401,
    "message": "Access denied due to invalid subscription key. "
    "Make sure to provide a valid key for an active subscription.",
}
# The "Zoom meeting object" of the 201 answer, every property in the document's order.
MEETING_FIELDS = [
    "id",
    "name",
    "startDate",
    "endDate",
    "createdDate",
    "creatorID",
    "readonlyAccess",
    "userID",
    "userName",
    "email",
    "topic",
    "apiUserName",
    "meetingID",
    "meetingDuration",
    "meetingPassword",
    "joinUrl",
    "hostKey",
    "isSendEmail",
    "isPublishRecordURL",
    "isSetPassword",
    "isWaitingRoom",
    "meetingAuthentication",
    "muteUponEntry",
    "notFoundInZoom",
    "recordType",
    "authenticationOpt",
    "alternativeHosts",
    "meetingType",
    "moduleID",
    "exportMultimediaWeb",
    "channelID",
    "channelName",
    "publishMutimediaChannel",
]
BOOLEANS = [
    "isSendEmail",
    "isPublishRecordURL",
    "isWaitingRoom",
    "meetingAuthentication",
    "muteUponEntry",
    "exportMultimediaWeb",
    "publishMutimediaChannel",
]
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


CLOCK = FakeClock(NOW)


@pytest.fixture(scope="module")
def sim():
    with LuminusSimulator(KEY, clock=CLOCK) as s:
        yield s


@pytest.fixture(scope="module")
def bearer_sim():
    with LuminusSimulator(KEY, bearer_token=TOKEN, clock=CLOCK) as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh(request):
    sims = [request.getfixturevalue(n) for n in ("sim", "bearer_sim") if n in request.fixturenames]
    for s in sims:
        s.reset()
    yield
    for s in sims:
        _wait_until_answered(s)  # a delayed request must not land in the next test's records
        s.reset()


def _wait_until_answered(s: LuminusSimulator, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [r for r in s.received if r["status"] is None and not (r["fault"] or {}).get("drop")]:
            return
        time.sleep(0.02)


# ---------------------------------------------------------------- helpers
def body(**overrides) -> dict:
    out = {"moduleID": MODULE, "name": "CS1010 Lecture 1", "startDate": "2024-08-12T10:00:00+08:00", "duration": 90}
    out.update(overrides)
    return out


def checked(resp: requests.Response) -> requests.Response:
    """Every answer: the key and the token never in the body or a header."""
    for secret in (KEY, TOKEN):
        assert secret not in resp.text
        assert all(secret not in v for v in resp.headers.values())
    return resp


def post(
    s: LuminusSimulator,
    payload=None,
    *,
    key: str | None = KEY,
    token: str | None = None,
    content_type: str | None = JSON_PATCH,
    raw: bytes | None = None,
    query: str = "",
    http: requests.Session | None = None,
    timeout: float = 5.0,
    headers: dict | None = None,
):
    hdrs = dict(headers or {})
    if key is not None:
        hdrs["Ocp-Apim-Subscription-Key"] = key
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    data = raw if raw is not None else json.dumps(payload).encode()
    url = f"{s.base_url}/zoom/Meeting{query}"
    return checked((http or requests).post(url, data=data, headers=hdrs, timeout=timeout))


def assert_bad_request(resp: requests.Response, *needles: str) -> None:
    assert resp.status_code == 400, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")
    lines = resp.text.split("\n")
    assert lines[0] == "Bad Request"
    for needle in needles:
        assert any(needle in line for line in lines[1:]), (needle, resp.text)


# ---------------------------------------------------------------- happy path
def test_base_url_mirrors_the_document(sim):
    assert re.fullmatch(r"http://127\.0\.0\.1:[0-9]+", sim.base_url)
    assert sim.endpoint_url == sim.base_url + "/zoom/Meeting"


def test_minimal_body_creates_the_documented_meeting_record(sim):
    sent = body()
    resp = post(sim, sent)
    assert resp.status_code == 201, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    m = resp.json()
    assert list(m) == MEETING_FIELDS
    assert UUID_RE.match(m["id"]) and UUID_RE.match(m["creatorID"])
    assert re.fullmatch(r"[1-9][0-9]{10}", m["meetingID"])
    assert re.fullmatch(rf"https://nus-sg\.zoom\.us/j/{m['meetingID']}\?pwd=[A-Za-z0-9_-]+", m["joinUrl"])
    assert re.fullmatch(r"[A-Za-z0-9]{6,10}", m["meetingPassword"])
    assert re.fullmatch(r"[0-9]{6}", m["hostKey"])
    start = datetime.fromisoformat(m["startDate"])
    assert start == datetime(2024, 8, 12, 2, 0, tzinfo=UTC)
    assert datetime.fromisoformat(m["endDate"]) - start == timedelta(minutes=90)
    assert datetime.fromisoformat(m["createdDate"]).timestamp() == NOW
    assert (m["name"], m["topic"], m["meetingDuration"], m["moduleID"]) == (sent["name"], sent["name"], 90, MODULE)
    assert m["isSetPassword"] is True and m["notFoundInZoom"] is False and m["readonlyAccess"] is False
    assert all(m[b] is False for b in BOOLEANS)  # not sent: off
    assert (m["recordType"], m["authenticationOpt"], m["meetingType"]) == (0, 0, 0)
    assert (m["alternativeHosts"], m["channelID"], m["channelName"]) == (None, None, None)
    assert all(isinstance(m[f], str) and m[f] for f in ("userID", "userName", "email", "apiUserName"))
    assert sim.meetings == [m]


def test_full_body_is_echoed(sim):
    sent = body(
        lessonID=str(uuid.uuid4()),
        channelID=str(uuid.uuid4()),
        channelName="CS1010 recordings",
        access={
            "groupAccess": [{"groupID": GROUP, "accessRole": 3}],
            "userAccess": [{"userID": USER, "accessRole": 1}],
            "publicAccess": 6,
            "inheritedResourceID": str(uuid.uuid4()),
        },
        recordType=2,
        authenticationOpt=1,
        meetingType=3,
        alternativeHosts="ta1@nus.edu.sg,e0123456",
        **dict.fromkeys(BOOLEANS, True),
    )
    m = post(sim, sent).json()
    assert all(m[b] is True for b in BOOLEANS)
    assert (m["recordType"], m["authenticationOpt"], m["meetingType"]) == (2, 1, 3)
    assert (m["alternativeHosts"], m["channelID"], m["channelName"]) == (
        sent["alternativeHosts"],
        sent["channelID"],
        sent["channelName"],
    )
    assert "access" not in m and "lessonID" not in m  # the answer's schema has neither


def test_each_meeting_gets_fresh_ids_and_secrets(sim):
    a, b = post(sim, body()).json(), post(sim, body()).json()
    for field in ("id", "meetingID", "meetingPassword", "joinUrl"):
        assert a[field] != b[field], field
    assert [m["id"] for m in sim.meetings] == [a["id"], b["id"]]


def test_request_is_recorded_without_key_or_token(bearer_sim):
    sent = body()
    assert post(bearer_sim, sent, token=TOKEN, query="?entities=true").status_code == 201
    (rec,) = bearer_sim.received
    assert (rec["method"], rec["path"], rec["status"], rec["query"]) == (
        "POST",
        "/zoom/Meeting",
        201,
        {"entities": "true"},
    )
    assert rec["headers"]["ocp-apim-subscription-key"] == "<redacted>"
    assert rec["headers"]["authorization"] == "Bearer <redacted>"
    assert rec["headers"]["content-type"] == JSON_PATCH
    assert rec["body"] == sent
    assert KEY not in json.dumps(bearer_sim.received) and TOKEN not in json.dumps(bearer_sim.received)


@pytest.mark.parametrize(
    "ctype",
    [
        JSON_PATCH,
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON-Patch+JSON",
        "text/json",
        "application/vnd.api+json",
        None,
    ],
)
def test_json_media_types_and_no_content_type_accepted(sim, ctype):
    assert post(sim, body(), content_type=ctype).status_code == 201


@pytest.mark.parametrize("query", ["?", "?entities=true"])  # the samples append these
def test_query_string_is_ignored(sim, query):
    assert post(sim, body(), query=query).status_code == 201


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": ""},  # minLength 0
        {"name": "x" * 200},
        {"name": "é" * 200},  # characters, not bytes
        {"duration": 15},
        {"duration": 1485},
        {"startDate": "2024-08-12T02:00:00Z"},
        {"startDate": "2024-08-12t02:00:00.123456789z"},
        {"startDate": "2024-08-11T21:00:00-05:00"},
        {"startDate": "2016-12-31T23:59:60Z"},  # RFC 3339 leap second
        {"startDate": "2020-01-01T00:00:00+00:00"},  # in the past: the document does not forbid it
        {"moduleID": MODULE.upper()},
        {"moduleID": "00000000-0000-0000-0000-000000000000"},
        {"lessonID": None, "channelID": None, "channelName": None, "alternativeHosts": None, "recordType": None},
        {"alternativeHosts": ""},
        {"alternativeHosts": "a@nus.edu.sg, b@u.nus.edu"},
        {"alternativeHosts": "KDcuGIm1QgePTO8WbOqwIQ,e0123456"},
        {"access": {}},
        {"access": {"groupAccess": [], "userAccess": [], "publicAccess": None, "inheritedResourceID": None}},
        {"access": {"groupAccess": [{"groupID": GROUP, "accessRole": 1, "note": "x"}]}},
        {"access": None},
        {"colour": "red", "extra": {"nested": [1]}},  # the schema does not forbid other properties
    ],
)
def test_document_permits(sim, overrides):
    resp = post(sim, body(**overrides))
    assert resp.status_code == 201, resp.text


def test_duplicate_json_keys_take_the_last(sim):
    raw = json.dumps(body())[:-1].encode() + b', "duration": 45}'
    assert post(sim, raw=raw).json()["meetingDuration"] == 45


# ---------------------------------------------------------------- every schema rule refused
def _without(field: str) -> dict:
    out = body()
    del out[field]
    return out


def _access(**kw) -> dict:
    return body(access=kw)


REFUSED = [
    # required: duration, moduleID, name, startDate
    *[
        pytest.param(_without(f), [f"{f}: is required"], id=f"missing-{f}")
        for f in ("duration", "moduleID", "name", "startDate")
    ],
    *[
        pytest.param(body(**{f: None}), [f"{f}: is required"], id=f"null-{f}")
        for f in ("duration", "moduleID", "name", "startDate")
    ],
    # type object
    pytest.param([body()], ["body: must be a JSON object"], id="body-list"),
    pytest.param("meeting", ["body: must be a JSON object"], id="body-string"),
    pytest.param(None, ["body: must be a JSON object"], id="body-null"),
    # format uuid
    pytest.param(body(moduleID="CS1010"), ["moduleID: must be a UUID"], id="moduleID-code"),
    pytest.param(body(moduleID="{" + MODULE + "}"), ["moduleID: must be a UUID"], id="moduleID-braces"),
    pytest.param(body(moduleID=MODULE.replace("-", "")), ["moduleID: must be a UUID"], id="moduleID-nohyphens"),
    pytest.param(body(moduleID=MODULE[:-1] + "g"), ["moduleID: must be a UUID"], id="moduleID-nonhex"),
    pytest.param(body(moduleID=12345), ["moduleID: must be a string"], id="moduleID-number"),
    pytest.param(body(lessonID="lesson-1"), ["lessonID: must be a UUID"], id="lessonID"),
    pytest.param(body(channelID="channel"), ["channelID: must be a UUID"], id="channelID"),
    # name: string, maxLength 200
    pytest.param(body(name="x" * 201), ["name: must be at most 200 characters, got 201"], id="name-201"),
    pytest.param(body(name=42), ["name: must be a string"], id="name-number"),
    # startDate: format date-time (RFC 3339: full date, T, time, offset)
    pytest.param(body(startDate="2024-08-12T10:00:00"), ["startDate: must be an RFC 3339 date-time"], id="start-naive"),
    pytest.param(body(startDate="2024-08-12"), ["startDate: must be an RFC 3339"], id="start-date-only"),
    pytest.param(body(startDate="2024-08-12 10:00:00+08:00"), ["startDate: must be an RFC 3339"], id="start-space"),
    pytest.param(body(startDate="2024-08-12T10:00+08:00"), ["startDate: must be an RFC 3339"], id="start-no-seconds"),
    pytest.param(body(startDate="2024-13-01T10:00:00Z"), ["startDate: must be an RFC 3339"], id="start-month-13"),
    pytest.param(body(startDate="2023-02-29T10:00:00Z"), ["startDate: must be an RFC 3339"], id="start-feb-29"),
    pytest.param(body(startDate="2024-08-12T24:00:00Z"), ["startDate: must be an RFC 3339"], id="start-hour-24"),
    pytest.param(body(startDate="2024-08-12T10:00:00+24:00"), ["startDate: must be an RFC 3339"], id="start-offset"),
    pytest.param(body(startDate="12/08/2024 10:00"), ["startDate: must be an RFC 3339"], id="start-local-format"),
    pytest.param(body(startDate=1723428000), ["startDate: must be a string"], id="start-epoch"),
    # duration: integer, minimum 15, maximum 1485, in 0/15/30/45-minute steps
    pytest.param(body(duration=0), ["duration: must be at least 15, got 0"], id="duration-0-sample"),
    pytest.param(body(duration=14), ["duration: must be at least 15"], id="duration-14"),
    pytest.param(body(duration=1486), ["duration: must be at most 1485"], id="duration-1486"),
    pytest.param(body(duration=1500), ["duration: must be at most 1485"], id="duration-25h"),
    pytest.param(body(duration=20), ["duration: must be a multiple of 15 minutes, got 20"], id="duration-20"),
    pytest.param(body(duration=-15), ["duration: must be at least 15"], id="duration-negative"),
    pytest.param(body(duration=90.0), ["duration: must be an integer"], id="duration-float"),
    pytest.param(body(duration="90"), ["duration: must be an integer"], id="duration-string"),
    pytest.param(body(duration=True), ["duration: must be an integer"], id="duration-bool"),
    pytest.param(body(duration=2**31), ["duration: must be a 32-bit integer"], id="duration-int32"),
    # booleans
    *[pytest.param(body(**{b: "true"}), [f"{b}: must be a boolean"], id=f"{b}-string") for b in BOOLEANS],
    pytest.param(body(isWaitingRoom=1), ["isWaitingRoom: must be a boolean"], id="isWaitingRoom-1"),
    # recordType 1..2, authenticationOpt 1..2, meetingType 1..3 (the sample's 0 is a placeholder)
    pytest.param(body(recordType=0), ["recordType: must be at least 1"], id="recordType-0-sample"),
    pytest.param(body(recordType=3), ["recordType: must be at most 2"], id="recordType-3"),
    pytest.param(body(recordType="1"), ["recordType: must be an integer"], id="recordType-string"),
    pytest.param(body(authenticationOpt=0), ["authenticationOpt: must be at least 1"], id="authOpt-0-sample"),
    pytest.param(body(authenticationOpt=3), ["authenticationOpt: must be at most 2"], id="authOpt-3"),
    pytest.param(body(meetingType=0), ["meetingType: must be at least 1"], id="meetingType-0-sample"),
    pytest.param(body(meetingType=4), ["meetingType: must be at most 3"], id="meetingType-4"),
    pytest.param(body(meetingType=1.5), ["meetingType: must be an integer"], id="meetingType-float"),
    # alternativeHosts: emails or IDs separated by a comma
    pytest.param(
        body(alternativeHosts="a@nus.edu.sg;b@nus.edu.sg"),
        ["alternativeHosts: item 1", "neither an email nor an ID"],
        id="hosts-semicolon",
    ),
    pytest.param(body(alternativeHosts="a@nus.edu.sg b@nus.edu.sg"), ["neither an email nor an ID"], id="hosts-space"),
    pytest.param(
        body(alternativeHosts="a@nus.edu.sg,,b@nus.edu.sg"),
        ["alternativeHosts: item 2 is empty"],
        id="hosts-empty-item",
    ),
    pytest.param(body(alternativeHosts="a@nus.edu.sg,"), ["alternativeHosts: item 2 is empty"], id="hosts-trailing"),
    pytest.param(body(alternativeHosts="Tan Ah Kow"), ["neither an email nor an ID"], id="hosts-name"),
    pytest.param(body(alternativeHosts=["a@nus.edu.sg"]), ["alternativeHosts: must be a string"], id="hosts-list"),
    pytest.param(body(channelName=7), ["channelName: must be a string"], id="channelName"),
    # access: object; groupAccess/userAccess arrays of {id uuid required, accessRole 1..6 required}
    pytest.param(body(access=[]), ["access: must be an object"], id="access-list"),
    pytest.param(_access(groupAccess={"groupID": GROUP}), ["access.groupAccess: must be an array"], id="ga-object"),
    pytest.param(_access(groupAccess=[GROUP]), ["access.groupAccess[0]: must be an object"], id="ga-item-string"),
    pytest.param(
        _access(groupAccess=[{"accessRole": 1}]), ["access.groupAccess[0].groupID: is required"], id="ga-missing-id"
    ),
    pytest.param(
        _access(groupAccess=[{"groupID": GROUP}]),
        ["access.groupAccess[0].accessRole: is required"],
        id="ga-missing-role",
    ),
    pytest.param(
        _access(groupAccess=[{"groupID": "tutorial-1", "accessRole": 1}]),
        ["access.groupAccess[0].groupID: must be a UUID"],
        id="ga-bad-id",
    ),
    pytest.param(
        _access(groupAccess=[{"groupID": GROUP, "accessRole": 1}, {"groupID": GROUP, "accessRole": 7}]),
        ["access.groupAccess[1].accessRole: must be one of 1, 2, 3, 4, 5, 6, got 7"],
        id="ga-role-7",
    ),
    pytest.param(
        _access(groupAccess=[{"groupID": GROUP, "accessRole": 0}]),
        ["access.groupAccess[0].accessRole: must be one of 1, 2, 3, 4, 5, 6"],
        id="ga-role-0",
    ),
    pytest.param(
        _access(groupAccess=[{"groupID": GROUP, "accessRole": {}}]),
        ["access.groupAccess[0].accessRole: must be an integer"],
        id="ga-role-sample-placeholder",
    ),
    pytest.param(
        _access(groupAccess=[{"groupID": GROUP, "accessRole": "1"}]),
        ["access.groupAccess[0].accessRole: must be an integer"],
        id="ga-role-string",
    ),
    pytest.param(
        _access(userAccess=[{"accessRole": 2}]), ["access.userAccess[0].userID: is required"], id="ua-missing-id"
    ),
    pytest.param(
        _access(userAccess=[{"userID": "e0123456", "accessRole": 2}]),
        ["access.userAccess[0].userID: must be a UUID"],
        id="ua-nusnet-id",
    ),
    pytest.param(
        _access(userAccess=[{"userID": USER, "accessRole": None}]),
        ["access.userAccess[0].accessRole: is required"],
        id="ua-null-role",
    ),
    pytest.param(
        _access(userAccess=[{"userID": USER, "accessRole": 2.0}]),
        ["access.userAccess[0].accessRole: must be an integer"],
        id="ua-role-float",
    ),
    pytest.param(_access(publicAccess=0), ["access.publicAccess: must be one of 1, 2, 3, 4, 5, 6"], id="public-0"),
    pytest.param(_access(publicAccess={}), ["access.publicAccess: must be an integer"], id="public-placeholder"),
    pytest.param(_access(inheritedResourceID="parent"), ["access.inheritedResourceID: must be a UUID"], id="inherited"),
]


@pytest.mark.parametrize("payload, needles", REFUSED)
def test_every_schema_rule_is_refused_naming_the_field(sim, payload, needles):
    assert_bad_request(post(sim, payload), *needles)
    assert sim.meetings == []
    assert sim.received[-1]["status"] == 400


def test_all_broken_rules_are_reported_together(sim):
    resp = post(sim, {"moduleID": "x", "name": 1, "duration": 10, "recordType": 9})
    assert_bad_request(
        resp,
        "moduleID: must be a UUID",
        "name: must be a string",
        "startDate: is required",
        "duration: must be at least 15",
        "recordType: must be at most 2",
    )
    assert len(resp.text.split("\n")) == 6


@pytest.mark.parametrize(
    "raw, ctype, needle",
    [
        (b"", JSON_PATCH, "body: is required"),
        (b"  \r\n", JSON_PATCH, "body: is required"),
        (b'{"moduleID": ', JSON_PATCH, "body: is not valid JSON"),
        (b'{"duration": NaN}', JSON_PATCH, "body: is not valid JSON"),
        (b"\xff\xfe{}", JSON_PATCH, "body: is not valid utf-8"),
        (b"{}", "text/plain", 'Content-Type: "text/plain" is not a JSON media type'),
        (b"moduleID=x", "application/x-www-form-urlencoded", "Content-Type:"),
        (b"{}", "application/json; charset=klingon", "Content-Type: unknown charset"),
    ],
)
def test_malformed_requests_are_400(sim, raw, ctype, needle):
    assert_bad_request(post(sim, raw=raw, content_type=ctype), needle)
    assert sim.meetings == []


def test_body_with_utf8_bom_and_latin1_charset(sim):
    assert post(sim, raw=b"\xef\xbb\xbf" + json.dumps(body()).encode()).status_code == 201
    raw = json.dumps(body(name="Café"), ensure_ascii=False).encode("latin-1")
    resp = post(sim, raw=raw, content_type="application/json; charset=ISO-8859-1")
    assert resp.status_code == 201 and resp.json()["name"] == "Café"


# ---------------------------------------------------------------- path and method
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_only_post_on_the_endpoint(sim, method):
    resp = checked(
        requests.request(method, sim.endpoint_url, headers={"Ocp-Apim-Subscription-Key": KEY}, json=body(), timeout=5)
    )
    assert resp.status_code == 405 and resp.headers["Allow"] == "POST"
    assert resp.text == "Method Not Allowed"
    assert sim.meetings == []


@pytest.mark.parametrize(
    "path", ["/zoom/meeting", "/zoom/Meeting/", "/zoom/Meeting/1", "/Meeting", "/zoom", "/api/zoom/Meeting"]
)
def test_unknown_paths_are_404(sim, path):
    resp = checked(
        requests.post(sim.base_url + path, headers={"Ocp-Apim-Subscription-Key": KEY}, json=body(), timeout=5)
    )
    assert resp.status_code == 404 and resp.text == "Not Found"
    assert sim.meetings == []


# ---------------------------------------------------------------- authentication
@pytest.mark.parametrize(
    "key, expected",
    [
        (None, MISSING_KEY),
        ("", MISSING_KEY),
        ("wrong-key", INVALID_KEY),
        (KEY.upper(), INVALID_KEY),
        (KEY + "x", INVALID_KEY),
    ],
)
def test_subscription_key_refused_by_the_gateway(sim, key, expected):
    resp = post(sim, body(), key=key)
    assert resp.status_code == 401
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.json() == expected
    assert sim.meetings == []
    assert sim.received[-1]["headers"].get("ocp-apim-subscription-key") in (None, "<redacted>")


def test_key_header_name_is_case_insensitive_and_query_key_is_not_taken(sim):
    resp = post(sim, body(), key=None, headers={"ocp-apim-subscription-key": KEY})
    assert resp.status_code == 201
    resp = post(sim, body(), key=None, query=f"?subscription-key={KEY}")
    assert resp.status_code == 401 and resp.json() == MISSING_KEY
    assert sim.received[-1]["query"] == {"subscription-key": "<redacted>"}


def test_key_is_checked_before_the_body(sim):
    resp = post(sim, {"duration": 3}, key="wrong")
    assert resp.status_code == 401 and resp.json() == INVALID_KEY


def test_two_key_headers_are_refused(sim):
    conn = http.client.HTTPConnection(sim.base_url.removeprefix("http://"), timeout=5)
    try:
        payload = json.dumps(body()).encode()
        conn.putrequest("POST", "/zoom/Meeting")
        for name, value in (
            ("Ocp-Apim-Subscription-Key", KEY),
            ("Ocp-Apim-Subscription-Key", "other"),
            ("Content-Type", JSON_PATCH),
            ("Content-Length", str(len(payload))),
        ):
            conn.putheader(name, value)
        conn.endheaders(payload)
        resp = conn.getresponse()
        answer = resp.read().decode()
    finally:
        conn.close()
    assert resp.status == 401 and json.loads(answer) == INVALID_KEY
    assert sim.meetings == []


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN[:-1]}"],
)
def test_bearer_token_required_when_configured(bearer_sim, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    resp = post(bearer_sim, body(), headers=headers)
    assert resp.status_code == 403
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text == FORBIDDEN
    assert bearer_sim.meetings == []


def test_bearer_token_accepted_scheme_any_case(bearer_sim):
    assert post(bearer_sim, body(), token=TOKEN).status_code == 201
    assert post(bearer_sim, body(), headers={"Authorization": f"bearer {TOKEN}"}).status_code == 201
    assert len(bearer_sim.meetings) == 2


def test_auth_order_key_then_token_then_body(bearer_sim):
    assert post(bearer_sim, {"duration": 3}, key="wrong").json() == INVALID_KEY
    assert post(bearer_sim, {"duration": 3}).text == FORBIDDEN
    assert post(bearer_sim, {"duration": 3}, token=TOKEN).status_code == 400


def test_no_bearer_needed_when_not_configured(sim):
    assert post(sim, body(), headers={"Authorization": "Bearer anything"}).status_code == 201


# ---------------------------------------------------------------- faults
@pytest.mark.parametrize(
    "status, text",
    [(400, "Bad Request"), (403, FORBIDDEN), (500, "Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable")],
)
def test_fault_status_answers_the_documented_text(sim, status, text):
    sim.add_faults(Fault(status=status))
    resp = post(sim, body())
    assert resp.status_code == status and resp.text == text
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert sim.meetings == []
    assert post(sim, body()).status_code == 201  # consumed: the next request is normal


def test_fault_401_is_the_gateway_json_and_429_carries_retry_after(sim):
    sim.add_faults(Fault(status=401), Fault(status=429, retry_after="7"))
    assert post(sim, body()).json() == INVALID_KEY
    resp = post(sim, body())
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7" and resp.text == "Too Many Requests"
    assert [r["status"] for r in sim.received] == [401, 429]


def test_fault_is_applied_before_any_check(sim):
    sim.add_faults(Fault(status=500, body="upstream Zoom error"))
    resp = post(sim, {"bad": True}, key="wrong")
    assert resp.status_code == 500 and resp.text == "upstream Zoom error"
    assert sim.received[-1]["fault"]["status"] == 500


def test_fault_body_without_status_is_a_malformed_201(sim):
    sim.add_faults(Fault(body="<html>gateway page</html>"))
    resp = post(sim, body())
    assert resp.status_code == 201 and resp.text == "<html>gateway page</html>"
    assert sim.meetings == []


def test_fault_retry_after_alone_processes_normally(sim):
    sim.add_faults(Fault(retry_after="3"))
    resp = post(sim, body())
    assert resp.status_code == 201 and resp.headers["Retry-After"] == "3"
    assert len(sim.meetings) == 1


def test_fault_delay_times_out_the_client_but_still_creates(sim):
    sim.add_faults(Fault(delay=0.4))
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(sim, body(), timeout=0.1)
    assert len(sim.received) == 1  # recorded on arrival
    _wait_until_answered(sim)
    assert len(sim.meetings) == 1  # the ambiguity a client must handle: POST timed out, meeting exists


def test_fault_delay_with_status(sim):
    sim.add_faults(Fault(delay=0.05, status=500))
    t0 = time.monotonic()
    assert post(sim, body()).status_code == 500 and time.monotonic() - t0 >= 0.05


def test_fault_drop_and_session_recovers(sim):
    sim.add_faults(Fault(drop=True))
    with requests.Session() as http:
        with pytest.raises(requests.exceptions.ConnectionError):
            post(sim, body(), http=http)
        assert sim.received[-1]["status"] is None and sim.meetings == []
        assert post(sim, body(), http=http).status_code == 201


def test_faults_consumed_only_by_the_endpoint(sim):
    sim.add_faults(Fault(status=503))
    assert checked(requests.get(sim.base_url + "/__sim/state", timeout=5)).json()["faults_pending"] == 1
    assert checked(requests.post(sim.base_url + "/zoom/other", timeout=5)).status_code == 404
    assert post(sim, body()).status_code == 503


def test_add_faults_refuses_bad_values(sim):
    with pytest.raises(TypeError):
        sim.add_faults({"status": 500})
    with pytest.raises(ValueError):
        sim.add_faults(Fault(body={"json": "not text"}))
    with pytest.raises(ValueError):
        sim.add_faults(Fault(delay=-1))


def test_keep_alive_survives_refusals(sim):
    with requests.Session() as http:
        assert post(sim, body(), http=http, key="wrong").status_code == 401
        assert post(sim, body(duration=1), http=http).status_code == 400
        assert post(sim, body(), http=http, content_type="text/plain").status_code == 400
        assert post(sim, body(), http=http).status_code == 201
    assert len({r["connection"] for r in sim.received}) == 1


# ---------------------------------------------------------------- control endpoints
def test_control_endpoints(sim):
    root = sim.base_url
    assert checked(requests.get(root + "/__sim/state", timeout=5)).json() == {
        "received": 0,
        "meetings": [],
        "faults_pending": 0,
    }
    resp = checked(requests.post(root + "/__sim/faults", json=[{"status": 500}, {"body": "x"}], timeout=5))
    assert resp.json() == {"status": True, "faults_pending": 2}
    assert post(sim, body()).status_code == 500
    assert post(sim, body()).text == "x"
    created = post(sim, body()).json()
    state = checked(requests.get(root + "/__sim/state", timeout=5)).json()
    assert state["received"] == 3 and state["meetings"] == [created] and state["faults_pending"] == 0
    bad = checked(requests.post(root + "/__sim/faults", json=[{"body": 5}], timeout=5))
    assert bad.status_code == 400 and "Invalid faults" in bad.text
    assert checked(requests.post(root + "/__sim/reset", timeout=5)).json() == {"status": True}
    assert sim.meetings == [] and sim.received == []


# ---------------------------------------------------------------- secrets
def test_key_and_token_never_echoed(bearer_sim):
    post(bearer_sim, body(moduleID=KEY, name=TOKEN), token=TOKEN)  # a client bug: secrets in the body
    post(bearer_sim, body(name=f"{KEY} {TOKEN}"), token=TOKEN)  # accepted: the answer echoes the name
    post(bearer_sim, body(), key=TOKEN, token=KEY)
    post(bearer_sim, body(), token=KEY)
    assert bearer_sim.received[1]["status"] == 201
    assert bearer_sim.meetings[0]["name"] == "<redacted> <redacted>"
    dumped = json.dumps([bearer_sim.received, bearer_sim.meetings, repr(bearer_sim)])
    dumped += requests.get(bearer_sim.base_url + "/__sim/state", timeout=5).text
    assert KEY not in dumped and TOKEN not in dumped


def test_program_mode_takes_the_key_from_the_environment():
    script = str(REPO / "infra" / "local" / "luminus_sim.py")
    env = {"PATH": "/usr/bin:/bin", "LUMINUS_SIM_SUBSCRIPTION_KEY": KEY, "LUMINUS_SIM_BEARER_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, script, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        base = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:[0-9]+", base)
        url = base + "/zoom/Meeting"
        headers = {"Ocp-Apim-Subscription-Key": KEY, "Authorization": f"Bearer {TOKEN}", "Content-Type": JSON_PATCH}
        assert checked(requests.post(url, data=json.dumps(body()), headers=headers, timeout=5)).status_code == 201
        assert checked(requests.post(url, data=json.dumps(body()), timeout=5)).status_code == 401
        state = checked(requests.get(base + "/__sim/state", timeout=5)).json()
        assert state["received"] == 2 and len(state["meetings"]) == 1
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert KEY not in out + err and TOKEN not in out + err


def test_program_mode_without_key_is_a_usage_error():
    script = str(REPO / "infra" / "local" / "luminus_sim.py")
    done = subprocess.run(
        [sys.executable, script, "--port", "0"],
        check=False,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=10,
    )
    assert done.returncode == 2 and "LUMINUS_SIM_SUBSCRIPTION_KEY" in done.stderr
    helptext = subprocess.run(
        [sys.executable, script, "--help"], check=False, capture_output=True, text=True, timeout=10
    ).stdout
    assert "--key" not in helptext and "--token" not in helptext
