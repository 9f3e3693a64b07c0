"""End-to-end tests of the strict Zoom simulator (S2S OAuth + Meeting API subset), over real HTTP on 127.0.0.1.

Requests are built here with ``requests`` and ``urllib.parse`` directly (not with the project's client), so
these tests pin the simulator to Zoom's documented behaviour; every 200 body is validated against the
schemas extracted from Zoom's OpenAPI description (tests/fixtures/zoom_openapi_subset.json), and must not
carry any property that schema does not declare.
"""

from __future__ import annotations

import base64
import email.utils
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from jsonschema import Draft4Validator, Draft202012Validator

from infra.local import zoom_openapi_subset
from infra.local.zoom_sim import (
    DEFAULT_SCOPE,
    ROUTES,
    FakeClock,
    Fault,
    ZoomSimulator,
    seed_demo,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "zoom_openapi_subset.json"
SHARED_SPEC = REPO.parent / "shared" / "reference" / "zoom-meeting-api-openapi.json"
SUBSET = json.loads(FIXTURE.read_text(encoding="utf-8"))

ACCOUNT = "campusAcct_01"
CLIENT_ID = "zSimClientId01"
SECRET = "s3cret-Zoom-CLIENT-value-9b2e"
OTHER_ACCOUNT = "otherAcct_02"
OTHER_CLIENT = "zSimClientId02"
OTHER_SECRET = "an0ther-SECRET-value-77c1"
NARROW_CLIENT = "zSimNarrow03"  # an app on ACCOUNT with meeting:read:admin only

START = 1_727_784_000.0  # 2024-10-01T12:00:00Z
CLOCK = FakeClock(START)
LECTURE, OFFICE, REVIEW, BIG = 81234567890, 82345678901, 83456789012, 89999999999
BIG_UUID = "BigLectureInstance0001A=="
INVALID = {"code": 124, "message": "Invalid access token."}
EXPIRED = {"code": 124, "message": "Access token is expired."}
PAGE_TOKEN_ERROR = {"code": 300, "message": "The next page token is invalid or expired."}
QPS_MESSAGE = "You have reached the maximum per-second rate limit for this API. Try again later."
DAILY_MESSAGE = (
    "You have reached the maximum daily rate limit for this API. "
    "Refer to the response header for details on when you can make the next request."
)
REPORT_FIELDS = {
    "id",
    "user_id",
    "name",
    "user_email",
    "join_time",
    "leave_time",
    "duration",
    "failover",
    "status",
    "registrant_id",
    "participant_user_id",
    "bo_mtg_id",
}
UNLIMITED = {"light": None, "medium": None, "heavy": None}

SEEN: list[str] = []  # every response body and header block, checked for secrets after each test


def _capture(response, *args, **kwargs):
    SEEN.append(response.text)
    SEEN.append(json.dumps(dict(response.headers)))


def _session() -> requests.Session:
    s = requests.Session()
    s.hooks["response"].append(_capture)
    return s


def q1(uuid: str) -> str:
    return quote(uuid, safe="")


def q2(uuid: str) -> str:
    return quote(quote(uuid, safe=""), safe="")


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sim():
    s = ZoomSimulator(clock=CLOCK, limits=UNLIMITED)
    s.add_account(ACCOUNT, CLIENT_ID, SECRET)
    s.add_account(ACCOUNT, NARROW_CLIENT, SECRET + "-narrow", scope="meeting:read:admin")
    s.add_account(OTHER_ACCOUNT, OTHER_CLIENT, OTHER_SECRET)
    demo = seed_demo(s, ACCOUNT)
    s.add_meeting(
        ACCOUNT,
        meeting_id=BIG,
        host_email=demo["emails"]["instructor"],
        topic="Big lecture",
        type=2,
        start_time="2024-09-20T09:00:00Z",
        duration=60,
    )
    s.add_instance(
        ACCOUNT,
        BIG,
        uuid=BIG_UUID,
        start_time="2024-09-20T09:00:00Z",
        participants=[
            {
                "name": f"P{n}",
                "user_email": f"p{n}@students.campus.example.edu",
                "join_time": "2024-09-20T09:00:00Z",
                "duration": 600 + n,
            }
            for n in range(305)
        ],
    )
    with s:
        s.demo = demo
        yield s


@pytest.fixture(autouse=True)
def _fresh(sim):
    CLOCK.set(START)
    sim.reset()
    SEEN.clear()
    yield
    sim.reset()
    leaked = [
        text
        for text in SEEN
        if SECRET in text or OTHER_SECRET in text or base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode() in text
    ]
    SEEN.clear()
    assert not leaked, "a client secret appeared in a response"


@pytest.fixture
def http():
    with _session() as s:
        yield s


def get_token(http, base: str, client=(CLIENT_ID, SECRET), account=ACCOUNT) -> str:
    r = http.post(
        f"{base}/oauth/token", data={"grant_type": "account_credentials", "account_id": account}, auth=client, timeout=5
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
def token(sim, http):
    return get_token(http, sim.base_url)


def api(http, sim, path: str, token: str | None, params=None, **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(f"{sim.base_url}/v2{path}", params=params, headers=headers, timeout=5, **kw)


# ---------------------------------------------------------------- schema helpers
def schema_of(template: str) -> dict:
    return SUBSET["paths"][template]["get"]["response_200"]


def undeclared(instance, schema, where="$") -> list[str]:
    out = []
    if isinstance(instance, dict) and isinstance(schema.get("properties"), dict):
        props = schema["properties"]
        out += [f"{where}.{k}" for k in instance if k not in props]
        for k, v in instance.items():
            if k in props:
                out += undeclared(v, props[k], f"{where}.{k}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(instance):
            out += undeclared(v, schema["items"], f"{where}[{i}]")
    return out


def assert_conforms(body, template: str) -> None:
    schema = schema_of(template)
    for validator in (Draft4Validator, Draft202012Validator):  # no format checker: lenient about `format`
        errors = sorted(validator(schema).iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{template}: {errors[0].message} at {list(errors[0].path)}"
    assert not undeclared(body, schema), f"{template}: undeclared properties {undeclared(body, schema)}"


def walk(http, sim, path, token, key, template, params=None) -> list[dict]:
    """Every page of a paginated endpoint, each validated; returns all rows."""
    params = dict(params or {})
    rows, pages = [], 0
    while True:
        r = api(http, sim, path, token, params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert_conforms(body, template)
        assert {"page_size", "total_records", "next_page_token", key} <= set(body)
        rows += body[key]
        pages += 1
        assert body["total_records"] >= len(rows)
        if body["next_page_token"] == "":
            assert len(rows) == body["total_records"]
            return rows
        assert pages < 500
        params["next_page_token"] = body["next_page_token"]


# ================================================================ OAuth
def test_token_from_form_body(sim, http):
    r = http.post(
        f"{sim.base_url}/oauth/token",
        data={"grant_type": "account_credentials", "account_id": ACCOUNT},
        auth=(CLIENT_ID, SECRET),
        timeout=5,
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "api_url"}
    assert len(body["access_token"]) >= 40 and SECRET not in body["access_token"]
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3599
    assert body["scope"] == DEFAULT_SCOPE
    assert body["api_url"] == sim.base_url
    assert sim.token_requests == {ACCOUNT: 1}


def test_token_from_query_string(sim, http):
    r = http.post(
        f"{sim.base_url}/oauth/token",
        params={"grant_type": "account_credentials", "account_id": ACCOUNT},
        auth=(CLIENT_ID, SECRET),
        timeout=5,
    )
    assert r.status_code == 200
    assert api(http, sim, "/users/me", r.json()["access_token"]).status_code == 200


def test_grant_in_a_json_body_is_not_read(sim, http):
    r = http.post(
        f"{sim.base_url}/oauth/token",
        json={"grant_type": "account_credentials", "account_id": ACCOUNT},
        auth=(CLIENT_ID, SECRET),
        timeout=5,
    )
    assert r.status_code == 400
    assert r.json() == {"reason": "unsupported grant type", "error": "unsupported_grant_type"}


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(f"{CLIENT_ID}:wrong-secret".encode()).decode(),
        "Basic " + base64.b64encode(f"nobody:{SECRET}".encode()).decode(),
        "Basic " + base64.b64encode(CLIENT_ID.encode()).decode(),  # no colon
        "Basic not*base64!",
        "Bearer " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode(),
        None,
    ],
    ids=["wrong-secret", "unknown-client", "no-colon", "garbled", "not-basic", "missing"],
)
def test_bad_client_credentials(sim, http, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    r = http.post(
        f"{sim.base_url}/oauth/token",
        data={"grant_type": "account_credentials", "account_id": ACCOUNT},
        headers=headers,
        timeout=5,
    )
    assert r.status_code == 401
    assert r.json() == {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
    assert sim.token_requests == {ACCOUNT: 1}


@pytest.mark.parametrize("account", [OTHER_ACCOUNT, "no-such-account", None])
def test_wrong_or_missing_account(sim, http, account):
    data = {"grant_type": "account_credentials"}
    if account:
        data["account_id"] = account
    r = http.post(f"{sim.base_url}/oauth/token", data=data, auth=(CLIENT_ID, SECRET), timeout=5)
    assert r.status_code == 400
    assert r.json() == {"reason": "Invalid account_id", "error": "invalid_request"}
    assert sim.token_requests == {(OTHER_ACCOUNT if account == OTHER_ACCOUNT else "?"): 1}


@pytest.mark.parametrize("grant", ["client_credentials", "", None])
def test_bad_grant_type(sim, http, grant):
    data = {"account_id": ACCOUNT}
    if grant is not None:
        data["grant_type"] = grant
    r = http.post(f"{sim.base_url}/oauth/token", data=data, auth=(CLIENT_ID, SECRET), timeout=5)
    assert r.status_code == 400
    assert r.json() == {"reason": "unsupported grant type", "error": "unsupported_grant_type"}


def test_token_endpoint_only_accepts_post(sim, http):
    r = http.get(
        f"{sim.base_url}/oauth/token",
        params={"grant_type": "account_credentials", "account_id": ACCOUNT},
        auth=(CLIENT_ID, SECRET),
        timeout=5,
    )
    assert r.status_code == 405
    assert sim.token_requests == {}


def test_token_expires_by_the_clock(sim, http, token):
    assert api(http, sim, "/users/me", token).status_code == 200
    sim.advance(3599)
    assert api(http, sim, "/users/me", token).status_code == 200
    sim.advance(1)
    r = api(http, sim, "/users/me", token)
    assert r.status_code == 401 and r.json() == EXPIRED
    assert api(http, sim, "/users/me", get_token(http, sim.base_url)).status_code == 200


def test_several_tokens_are_valid_at_once(sim, http):
    tokens = [get_token(http, sim.base_url) for _ in range(3)]
    assert len(set(tokens)) == 3
    for t in tokens:
        assert api(http, sim, "/users/me", t).status_code == 200
    assert sim.token_requests == {ACCOUNT: 3}


def test_revoke_makes_tokens_invalid(sim, http):
    mine = get_token(http, sim.base_url)
    other = get_token(http, sim.base_url, (OTHER_CLIENT, OTHER_SECRET), OTHER_ACCOUNT)
    assert sim.revoke_tokens(ACCOUNT) >= 1
    r = api(http, sim, "/users/me", mine)
    assert r.status_code == 401 and r.json() == INVALID
    assert api(http, sim, "/users", other).status_code == 200
    fresh = get_token(http, sim.base_url)
    assert api(http, sim, "/users/me", fresh).status_code == 200
    r = http.post(f"{sim.base_url}/__sim/revoke", json={}, timeout=5)
    assert r.status_code == 200 and r.json()["revoked"] >= 2
    assert api(http, sim, "/users/me", fresh).json() == INVALID
    assert api(http, sim, "/users", other).json() == INVALID


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-token-we-issued", "Basic abc", "bearer  "])
def test_api_without_a_valid_bearer_token(sim, http, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    r = http.get(f"{sim.base_url}/v2/users/me", headers=headers, timeout=5)
    assert r.status_code == 401 and r.json() == INVALID


def test_the_token_decides_the_account(sim, http):
    other = get_token(http, sim.base_url, (OTHER_CLIENT, OTHER_SECRET), OTHER_ACCOUNT)
    assert api(http, sim, "/users", other).json()["users"] == []
    r = api(http, sim, f"/meetings/{LECTURE}/registrants", other)
    assert r.status_code == 404 and r.json() == {"code": 3001, "message": f"Meeting does not exist: {LECTURE}."}
    assert sim.api_requests[-1]["account"] == OTHER_ACCOUNT


def test_missing_scope_is_refused(sim, http):
    narrow = get_token(http, sim.base_url, (NARROW_CLIENT, SECRET + "-narrow"))
    assert api(http, sim, f"/past_meetings/{LECTURE}/instances", narrow).status_code == 200
    r = api(http, sim, f"/report/meetings/{LECTURE}/participants", narrow)
    assert r.status_code == 400 and r.json()["code"] == 4711
    assert "report:read:admin" in r.json()["message"]


# ================================================================ conformance with the OpenAPI subset
def test_sim_categories_scopes_and_parameters_match_the_spec():
    assert {r.template for r in ROUTES} == set(SUBSET["paths"])
    assert SUBSET["source"]["servers"] == ["https://api.zoom.us/v2"]
    for route in ROUTES:
        doc = SUBSET["paths"][route.template]["get"]
        assert route.category == doc["rate_limit_label"], route.template
        assert set(doc["scopes"]) <= route.scopes, route.template
        assert set(route.query) <= set(doc["query_parameters"]), route.template
        assert (route.list_key is not None) == ("next_page_token" in doc["response_200"]["properties"])


def _endpoint_cases(demo) -> list[tuple[str, str, dict]]:
    uuids = demo["instances"]
    return [
        ("/users", "/users", {}),
        ("/users/{userId}", "/users/me", {}),
        ("/users/{userId}", f"/users/{quote(demo['emails']['ta'], safe='@')}", {}),
        ("/users/{userId}/meetings", f"/users/{demo['users']['instructor']}/meetings", {}),
        ("/users/{userId}/meetings", "/users/me/meetings", {"type": "previous_meetings"}),
        ("/past_meetings/{meetingId}/instances", f"/past_meetings/{LECTURE}/instances", {}),
        ("/past_meetings/{meetingId}/participants", f"/past_meetings/{q2(uuids['leading_slash'])}/participants", {}),
        ("/past_meetings/{meetingId}/participants", f"/past_meetings/{LECTURE}/participants", {}),
        ("/report/meetings/{meetingId}/participants", f"/report/meetings/{q1(uuids['plain'])}/participants", {}),
        ("/report/meetings/{meetingId}/participants", f"/report/meetings/{BIG}/participants", {}),
        (
            "/metrics/meetings/{meetingId}/participants",
            f"/metrics/meetings/{q2(uuids['double_slash'])}/participants",
            {"type": "past"},
        ),
        ("/meetings/{meetingId}/registrants", f"/meetings/{LECTURE}/registrants", {}),
        ("/meetings/{meetingId}/registrants", f"/meetings/{REVIEW}/registrants", {"status": "pending"}),
    ]


def test_every_endpoint_answers_per_the_openapi_schema(sim, http, token):
    cases = _endpoint_cases(sim.demo)
    assert {template for template, _, _ in cases} == set(SUBSET["paths"])
    for route in ROUTES:
        for template, path, params in cases:
            if template != route.template:
                continue
            if route.list_key is None:
                r = api(http, sim, path, token, params)
                assert r.status_code == 200, (path, r.text)
                assert_conforms(r.json(), template)
                continue
            rows = walk(http, sim, path, token, route.list_key, template, {**params, "page_size": 2})
            assert rows, path
            assert rows == walk(http, sim, path, token, route.list_key, template, {**params, "page_size": 300})
            assert sim.api_requests[-1]["category"] == route.category


def test_report_rows_carry_exactly_the_documented_fields(sim, http, token):
    rows = walk(
        http,
        sim,
        f"/report/meetings/{q1(sim.demo['instances']['plain'])}/participants",
        token,
        "participants",
        "/report/meetings/{meetingId}/participants",
    )
    assert len(rows) == 5
    assert all(set(row) == REPORT_FIELDS for row in rows)
    guest = [row for row in rows if row["user_email"] == ""]
    assert len(guest) == 1 and guest[0]["name"] == "" and guest[0]["id"] == ""
    host = [row for row in rows if row["user_email"] == sim.demo["emails"]["instructor"]][0]
    assert host["participant_user_id"] == host["id"] == sim.demo["users"]["instructor"]
    assert host["duration"] == 95 * 60
    registered = [row for row in rows if row["user_email"] == "s1001@students.campus.example.edu"][0]
    assert registered["registrant_id"]


# ================================================================ pagination
def test_pagination_with_page_size_two(sim, http, token):
    path = f"/report/meetings/{q1(sim.demo['instances']['plain'])}/participants"
    sizes, params = [], {"page_size": 2}
    while True:
        body = api(http, sim, path, token, params).json()
        assert body["page_size"] == 2 and body["total_records"] == 5 and body["page_count"] == 3
        sizes.append(len(body["participants"]))
        if not body["next_page_token"]:
            break
        params["next_page_token"] = body["next_page_token"]
    assert sizes == [2, 2, 1]


def test_page_size_defaults_to_30_and_is_capped_at_300(sim, http, token):
    path = f"/past_meetings/{q1(BIG_UUID)}/participants"
    first = api(http, sim, path, token).json()
    assert first["page_size"] == 30 and len(first["participants"]) == 30 and first["total_records"] == 305
    big = api(http, sim, path, token, {"page_size": 1000}).json()
    assert big["page_size"] == 300 and len(big["participants"]) == 300 and big["next_page_token"]
    rest = api(http, sim, path, token, {"page_size": 1000, "next_page_token": big["next_page_token"]}).json()
    assert len(rest["participants"]) == 5 and rest["next_page_token"] == ""
    names = [p["name"] for p in big["participants"] + rest["participants"]]
    assert names == [f"P{n}" for n in range(305)]


@pytest.mark.parametrize("size", ["0", "-1", "abc", "2.5"])
def test_invalid_page_size(sim, http, token, size):
    r = api(http, sim, "/users", token, {"page_size": size})
    assert r.status_code == 400 and r.json()["code"] == 300


def test_next_page_token_expires_after_15_minutes(sim, http, token):
    path = f"/past_meetings/{q1(BIG_UUID)}/participants"
    tok = api(http, sim, path, token, {"page_size": 100}).json()["next_page_token"]
    sim.advance(15 * 60 - 1)
    again = api(http, sim, path, token, {"page_size": 100, "next_page_token": tok})
    assert again.status_code == 200 and again.json()["participants"][0]["name"] == "P100"
    # the same token may be used again (a retry) while it lives
    assert api(http, sim, path, token, {"page_size": 100, "next_page_token": tok}).json() == again.json()
    sim.advance(1)
    r = api(http, sim, path, token, {"page_size": 100, "next_page_token": tok})
    assert r.status_code == 400 and r.json() == PAGE_TOKEN_ERROR


def test_next_page_token_is_bound_to_path_and_account(sim, http, token):
    tok = api(http, sim, f"/past_meetings/{q1(BIG_UUID)}/participants", token, {"page_size": 2}).json()[
        "next_page_token"
    ]
    r = api(http, sim, f"/report/meetings/{q1(BIG_UUID)}/participants", token, {"next_page_token": tok})
    assert r.status_code == 400 and r.json() == PAGE_TOKEN_ERROR
    other = get_token(http, sim.base_url, (OTHER_CLIENT, OTHER_SECRET), OTHER_ACCOUNT)
    assert api(http, sim, "/users", other, {"next_page_token": tok}).json() == PAGE_TOKEN_ERROR
    assert api(http, sim, "/users", token, {"next_page_token": "made-up"}).json() == PAGE_TOKEN_ERROR


# ================================================================ UUIDs in paths
@pytest.mark.parametrize("which", ["leading_slash", "double_slash"])
@pytest.mark.parametrize(
    "endpoint",
    ["past_meetings/{}/participants", "report/meetings/{}/participants", "metrics/meetings/{}/participants?type=past"],
)
def test_slashy_uuids_must_be_double_encoded(sim, http, token, which, endpoint):
    uuid = sim.demo["instances"][which]
    ok = api(http, sim, "/" + endpoint.format(q2(uuid)), token)
    assert ok.status_code == 200 and ok.json()["participants"]
    assert "%252F" in sim.api_requests[-1]["path"]
    single = api(http, sim, "/" + endpoint.format(q1(uuid)), token)
    assert single.status_code == 404
    assert single.json() == {"code": 3001, "message": f"Meeting does not exist: {uuid}."}


def test_plain_uuid_works_single_or_double_encoded(sim, http, token):
    uuid = sim.demo["instances"]["plain"]
    once = api(http, sim, f"/past_meetings/{q1(uuid)}/participants", token)
    twice = api(http, sim, f"/past_meetings/{q2(uuid)}/participants", token)
    assert once.status_code == twice.status_code == 200
    assert once.json()["participants"] == twice.json()["participants"]


def test_unencoded_slash_breaks_the_route(sim, http, token):
    r = api(http, sim, f"/past_meetings/{sim.demo['instances']['double_slash']}/participants", token)
    assert r.status_code == 404 and r.json()["code"] == 404


def test_numeric_id_means_the_latest_instance(sim, http, token):
    latest = api(http, sim, f"/report/meetings/{LECTURE}/participants", token).json()["participants"]
    plain = api(http, sim, f"/report/meetings/{q1(sim.demo['instances']['plain'])}/participants", token)
    assert latest == plain.json()["participants"]
    instances = api(http, sim, f"/past_meetings/{LECTURE}/instances", token).json()["meetings"]
    assert [i["uuid"] for i in instances] == [
        sim.demo["instances"][k] for k in ("leading_slash", "double_slash", "plain")
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/past_meetings/{}/participants",
        "/report/meetings/{}/participants",
        "/past_meetings/{}/instances",
        "/meetings/{}/registrants",
    ],
)
def test_unknown_meeting(sim, http, token, path):
    r = api(http, sim, path.format(12345678901), token)
    assert r.status_code == 404 and r.json() == {"code": 3001, "message": "Meeting does not exist: 12345678901."}
    if "instances" not in path and "registrants" not in path:
        r = api(http, sim, path.format(q1("NoSuchInstance00000000==")), token)
        assert r.status_code == 404 and r.json()["code"] == 3001


# ================================================================ single participant
def test_single_participant_instance(sim, http, token):
    uuid = q1(sim.demo["instances"]["single_participant"])
    for path in (f"/past_meetings/{uuid}/participants", f"/report/meetings/{uuid}/participants"):
        r = api(http, sim, path, token)
        assert r.status_code == 200
        assert r.json()["participants"] == [] and r.json()["total_records"] == 0
        assert r.json()["next_page_token"] == ""
    metrics = api(http, sim, f"/metrics/meetings/{uuid}/participants", token, {"type": "past"})
    assert metrics.status_code == 200
    assert_conforms(metrics.json(), "/metrics/meetings/{meetingId}/participants")
    [row] = metrics.json()["participants"]
    assert row["email"] == sim.demo["emails"]["ta"] and row["user_name"] == "Alan Turing"
    # without type=past the dashboard looks at live meetings only
    r = api(http, sim, f"/metrics/meetings/{uuid}/participants", token)
    assert r.status_code == 404 and r.json()["code"] == 3001
    # the latest office-hours instance has two people
    assert len(api(http, sim, f"/report/meetings/{OFFICE}/participants", token).json()["participants"]) == 2


# ================================================================ registrants, users, meetings
def test_registrants_by_status(sim, http, token):
    def emails(meeting, **params):
        r = api(http, sim, f"/meetings/{meeting}/registrants", token, params)
        assert r.status_code == 200, r.text
        assert_conforms(r.json(), "/meetings/{meetingId}/registrants")
        return sorted(x["email"] for x in r.json()["registrants"])

    assert (
        emails(LECTURE)
        == emails(LECTURE, status="approved")
        == [
            "s1001@students.campus.example.edu",
            "s1002@students.campus.example.edu",
            "s1003@students.campus.example.edu",
        ]
    )
    assert emails(LECTURE, status="pending") == ["s1004@students.campus.example.edu"]
    assert emails(LECTURE, status="denied") == ["spam@elsewhere.example.com"]
    assert emails(OFFICE) == []
    r = api(http, sim, f"/meetings/{LECTURE}/registrants", token, {"status": "maybe"})
    assert r.status_code == 400 and r.json()["code"] == 300


def test_users_and_their_meetings(sim, http, token):
    demo = sim.demo
    assert api(http, sim, "/users/me", token).json()["id"] == demo["users"]["instructor"]
    assert api(http, sim, f"/users/{demo['emails']['ta']}", token).json()["id"] == demo["users"]["ta"]
    r = api(http, sim, "/users/nobody@example.com", token)
    assert r.status_code == 404 and r.json()["code"] == 1001

    def ids(user, **params):
        r = api(http, sim, f"/users/{user}/meetings", token, params)
        assert r.status_code == 200, r.text
        return sorted(m["id"] for m in r.json()["meetings"])

    assert ids("me") == [LECTURE, REVIEW, BIG]
    assert ids("me", type="previous_meetings") == [LECTURE, BIG]
    assert ids("me", type="upcoming") == [LECTURE, REVIEW]  # recurring + future; BIG was a one-off, past
    assert ids("me", type="live") == []
    assert ids(demo["users"]["ta"], type="previous_meetings") == [OFFICE]
    assert ids("me", **{"from": "2024-09-01", "to": "2024-09-10"}) == [LECTURE]
    assert ids("me", **{"from": "2025-01-01"}) == [REVIEW]
    for bad in ({"type": "whenever"}, {"from": "2024-13-01"}, {"to": "yesterday"}):
        r = api(http, sim, "/users/me/meetings", token, bad)
        assert r.status_code == 400 and r.json()["code"] == 300


def test_methods_and_unknown_paths(sim, http, token):
    r = http.post(f"{sim.base_url}/v2/users", json={}, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    r = api(http, sim, "/webinars/1/registrants", token)
    assert r.status_code == 404 and r.json()["code"] == 404
    r = api(http, sim, "/users/", token)
    assert r.status_code == 404
    assert http.get(f"{sim.base_url}/nowhere", timeout=5).status_code == 404


# ================================================================ rate limits
def _small_sim(**kw) -> ZoomSimulator:
    s = ZoomSimulator(clock=FakeClock(START), **kw)
    s.add_account(ACCOUNT, CLIENT_ID, SECRET)
    s.add_account(OTHER_ACCOUNT, OTHER_CLIENT, OTHER_SECRET)
    seed_demo(s, ACCOUNT)
    seed_demo(s, OTHER_ACCOUNT)
    return s


def test_qps_limit_with_retry_after(http):
    with _small_sim(limits={"light": 3}) as s:
        t = get_token(http, s.base_url)
        assert [api(http, s, "/users/me", t).status_code for _ in range(3)] == [200] * 3
        r = api(http, s, "/users/me", t)
        assert r.status_code == 429
        assert r.json() == {"code": 429, "message": QPS_MESSAGE}
        assert r.headers["X-RateLimit-Category"] == "Light"
        assert r.headers["X-RateLimit-Type"] == "QPS"
        assert r.headers["X-RateLimit-Limit"] == "3"
        assert r.headers["X-RateLimit-Remaining"] == "0"
        assert r.headers["Retry-After"] == "1"
        # other categories and other accounts have their own buckets
        assert api(http, s, "/users", t).status_code == 200
        other = get_token(http, s.base_url, (OTHER_CLIENT, OTHER_SECRET), OTHER_ACCOUNT)
        assert api(http, s, "/users/me", other).status_code == 200
        s.advance(1 / 3)  # one token back at 3/s
        assert api(http, s, "/users/me", t).status_code == 200
        assert api(http, s, "/users/me", t).status_code == 429
        state = http.get(f"{s.base_url}/__sim/state", timeout=5).json()
        assert state["throttled"] == 2 == s.throttled
        assert [rec["status"] for rec in s.api_requests].count(429) == 2


def test_qps_limit_without_retry_after(http):
    with _small_sim(limits={"medium": 1}, qps_retry_after=False) as s:
        t = get_token(http, s.base_url)
        assert api(http, s, "/users", t).status_code == 200
        r = api(http, s, f"/past_meetings/{LECTURE}/instances", t)
        assert r.status_code == 429 and "Retry-After" not in r.headers
        assert r.headers["X-RateLimit-Category"] == "Medium" and r.headers["X-RateLimit-Type"] == "QPS"


def test_daily_limit_on_heavy_requests(http):
    with _small_sim(daily_limit=2) as s:
        t = get_token(http, s.base_url)
        path = f"/report/meetings/{LECTURE}/participants"
        first = api(http, s, path, t)
        assert first.status_code == 200 and first.headers["X-RateLimit-Remaining"] == "1"
        assert api(http, s, path, t).headers["X-RateLimit-Remaining"] == "0"
        r = api(http, s, f"/metrics/meetings/{LECTURE}/participants", t, {"type": "past"})
        assert r.status_code == 429
        assert r.json() == {"code": 429, "message": DAILY_MESSAGE}
        assert r.headers["X-RateLimit-Type"] == "Daily-limit"
        assert r.headers["X-RateLimit-Category"] == "Heavy"
        assert r.headers["X-RateLimit-Remaining"] == "0"
        resume = email.utils.parsedate_to_datetime(r.headers["Retry-After"])
        assert resume == datetime(2024, 10, 2, tzinfo=UTC)
        assert r.headers["Retry-After"].endswith("GMT")
        # light/medium calls are not capped; other accounts have their own cap
        assert api(http, s, "/users/me", t).status_code == 200
        other = get_token(http, s.base_url, (OTHER_CLIENT, OTHER_SECRET), OTHER_ACCOUNT)
        assert api(http, s, path, other).status_code == 200
        s.clock.set(resume.timestamp() - 1)
        t = get_token(http, s.base_url)  # the first one expired long ago
        assert api(http, s, path, t).status_code == 429
        s.advance(1)
        assert api(http, s, path, t).status_code == 200


def test_latency_overlaps_between_concurrent_requests():
    with _small_sim(latency=0.3, limits=UNLIMITED) as s:
        with _session() as h:
            t = get_token(h, s.base_url)
        results: list[int] = []

        def one() -> None:
            with _session() as h:
                results.append(api(h, s, "/users/me", t).status_code)

        began = time.monotonic()
        threads = [threading.Thread(target=one) for _ in range(5)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(5)
        elapsed = time.monotonic() - began
        assert results == [200] * 5
        assert 0.3 <= elapsed < 1.2


# ================================================================ faults
def test_scripted_status_faults(sim, http, token):
    sim.add_faults(Fault(status=503, retry_after="2"), Fault(status=401), Fault(body={"odd": True}))
    r = api(http, sim, "/users/me", token)
    assert r.status_code == 503 and r.headers["Retry-After"] == "2" and r.json()["code"] == 503
    r = api(http, sim, "/users/me", token)
    assert r.status_code == 401 and r.json() == INVALID
    r = api(http, sim, "/users/me", token)
    assert r.status_code == 200 and r.json() == {"odd": True}
    assert api(http, sim, "/users/me", token).json()["email"] == sim.demo["emails"]["instructor"]
    assert [rec["status"] for rec in sim.api_requests] == [503, 401, 200, 200]


def test_scripted_rate_limit_faults(sim, http, token):
    sim.add_faults(
        Fault(rate_limit_type="QPS"),
        Fault(rate_limit_type="Daily-limit", category="heavy"),
        Fault(status=429),  # a 429 with none of the headers
    )
    r = api(http, sim, "/users", token)
    assert r.status_code == 429 and r.json()["message"] == QPS_MESSAGE
    assert r.headers["X-RateLimit-Type"] == "QPS" and r.headers["X-RateLimit-Category"] == "Medium"
    assert "Retry-After" not in r.headers
    r = api(http, sim, "/users", token)
    assert r.status_code == 429 and r.json()["message"] == DAILY_MESSAGE
    assert r.headers["X-RateLimit-Category"] == "Heavy"
    assert email.utils.parsedate_to_datetime(r.headers["Retry-After"]) == datetime(2024, 10, 2, tzinfo=UTC)
    r = api(http, sim, "/users", token)
    assert r.status_code == 429 and not any(h.lower().startswith(("x-ratelimit", "retry-after")) for h in r.headers)
    assert sim.throttled == 3
    assert api(http, sim, "/users", token).status_code == 200


def test_drop_and_delay_faults(sim, http, token):
    sim.add_faults(Fault(drop=True), Fault(delay=0.5))
    with pytest.raises(requests.ConnectionError):
        api(http, sim, "/users/me", token)
    with pytest.raises(requests.ReadTimeout):
        http.get(f"{sim.base_url}/v2/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=0.15)
    assert api(http, sim, "/users/me", token).status_code == 200


def test_oauth_faults_are_consumed_by_the_token_endpoint_only(sim, http):
    sim.add_faults(Fault(status=502), Fault(oauth=True, status=503, retry_after="1"))
    r = http.post(
        f"{sim.base_url}/oauth/token",
        data={"grant_type": "account_credentials", "account_id": ACCOUNT},
        auth=(CLIENT_ID, SECRET),
        timeout=5,
    )
    assert r.status_code == 503 and r.headers["Retry-After"] == "1" and set(r.json()) == {"reason", "error"}
    t = get_token(http, sim.base_url)
    assert sim.token_requests == {ACCOUNT: 2}
    assert api(http, sim, "/users/me", t).status_code == 502
    assert api(http, sim, "/users/me", t).status_code == 200


# ================================================================ control endpoints and plumbing
def test_control_endpoints(sim, http, token):
    api(http, sim, "/users/me", token)
    r = http.post(f"{sim.base_url}/__sim/faults", json=[{"status": 500}, {"drop": False, "delay": 0}], timeout=5)
    assert r.status_code == 200 and r.json()["faults_pending"] == 2
    state = http.get(f"{sim.base_url}/__sim/state", timeout=5).json()
    assert state == {"token_requests": {ACCOUNT: 1}, "api_requests": 1, "throttled": 0, "faults_pending": 2}
    assert api(http, sim, "/users/me", token).status_code == 500
    for bad in (
        {"status": 500},
        [{"status": "500"}],
        [{"nope": 1}],
        [{"rate_limit_type": "Hourly"}],
        [{"rate_limit_type": "QPS", "status": 503}],
    ):
        assert http.post(f"{sim.base_url}/__sim/faults", json=bad, timeout=5).status_code == 400
    assert http.post(f"{sim.base_url}/__sim/reset", timeout=5).json() == {"status": True}
    assert http.get(f"{sim.base_url}/__sim/state", timeout=5).json() == {
        "token_requests": {},
        "api_requests": 0,
        "throttled": 0,
        "faults_pending": 0,
    }
    assert http.post(f"{sim.base_url}/__sim/state", timeout=5).status_code == 405
    assert http.get(f"{sim.base_url}/__sim/reset", timeout=5).status_code == 405
    assert http.get(f"{sim.base_url}/__sim/nothing", timeout=5).status_code == 404
    r = http.post(f"{sim.base_url}/__sim/advance", json={"seconds": 3600}, timeout=5)
    assert r.status_code == 200 and CLOCK() == START + 3600
    assert api(http, sim, "/users/me", token).json() == EXPIRED  # the clock really moved
    assert api(http, sim, "/users/me", token).status_code == 401  # tokens survive reset, but expire
    assert sim.api_requests[-1] == {
        "method": "GET",
        "path": "/v2/users/me",
        "query": {},
        "account": ACCOUNT,
        "category": "light",
        "status": 401,
    }


def test_keep_alive_with_content_length(sim, token):
    conn = HTTPConnection("127.0.0.1", sim.port, timeout=5)
    try:
        for _ in range(2):
            conn.request("GET", "/v2/users/me", headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200 and resp.version == 11
            assert int(resp.headers["Content-Length"]) == len(body)
            assert resp.headers.get("Connection", "").lower() != "close"
            SEEN.append(body.decode())
    finally:
        conn.close()


def test_stop_does_not_hang_on_an_open_connection_or_a_delayed_request():
    s = _small_sim()
    s.start()
    s.add_faults(Fault(delay=30))
    conn = HTTPConnection("127.0.0.1", s.port, timeout=10)
    conn.request("GET", "/v2/users/me")
    time.sleep(0.1)
    began = time.monotonic()
    s.stop()
    assert time.monotonic() - began < 3
    conn.close()
    s.stop()  # idempotent


def test_data_api_is_strict(sim):
    with pytest.raises(KeyError):
        sim.add_user("no-such-account", email="x@example.com")
    with pytest.raises(ValueError):
        sim.add_meeting(ACCOUNT, meeting_id=1, host_email="stranger@example.com")
    with pytest.raises(ValueError):
        sim.add_meeting(ACCOUNT, meeting_id=LECTURE, host_email=sim.demo["emails"]["instructor"])
    with pytest.raises(ValueError):
        sim.add_instance(
            ACCOUNT,
            LECTURE,
            uuid="Another0000000000000000==",
            start_time="2024-09-30T09:00:00Z",
            participants=[{"name": "x", "e_mail": "typo@example.com"}],
        )
    with pytest.raises(RuntimeError):
        ZoomSimulator().advance(1)
    with pytest.raises(ValueError):
        ZoomSimulator(limits={"ultra": 5})
    assert SECRET not in repr(sim) and SECRET not in repr(sim._clients)


def test_command_line():
    env = {"ZOOM_SIM_CLIENT_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "infra" / "local" / "zoom_sim.py"),
            "--account",
            f"{ACCOUNT}:{CLIENT_ID}",
            "--port",
            "0",
            "--seed-demo",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        with _session() as h:
            t = get_token(h, base)
            rows = h.get(
                f"{base}/v2/past_meetings/{q2('/kLm3nOp4QrS5tUv6wXy7A==')}/participants",
                headers={"Authorization": f"Bearer {t}"},
                timeout=5,
            ).json()["participants"]
            assert len(rows) == 4
            state = h.get(f"{base}/__sim/state", timeout=5).json()
            assert state["token_requests"] == {ACCOUNT: 1} and state["api_requests"] == 1
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert SECRET not in out and SECRET not in err


def test_seed_demo_is_deterministic():
    def dump() -> str:
        s = ZoomSimulator(clock=FakeClock(START))
        s.add_account(ACCOUNT, CLIENT_ID, SECRET)
        ids = seed_demo(s, ACCOUNT)
        return json.dumps([ids, {k: vars(v) for k, v in s._accounts.items()}], sort_keys=True, default=str)

    assert dump() == dump()


# ================================================================ the fixture is what the spec says
@pytest.mark.skipif(not SHARED_SPEC.exists(), reason="the shared Zoom OpenAPI description is not available")
def test_subset_fixture_regenerates_exactly():
    assert zoom_openapi_subset.generate(SHARED_SPEC) == FIXTURE.read_text(encoding="utf-8")
