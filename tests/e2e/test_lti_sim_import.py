"""End-to-end tests of the LTI Pro simulator's bulk import and of the association state it keeps, over real
HTTP on 127.0.0.1.  Signatures are computed here with hmac/hashlib/base64 directly (not with the project's
client), so these tests pin the simulator to the documented scheme.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest
import requests

from infra.local.lti_sim import Fault, LtiProSimulator

KEY = "KLAIJC9OTI2Hm-vxn3UVHK"
SECRET = "s3cr3t-LTI-import-XYZ"
NOW = 1_700_000_000.0
IMPORT, DISASSOCIATE = "/meeting/bulkImport", "/meeting/bulkDisassociate"
IMPORTED = {"status": True, "result": "Processing Bulk Import"}
DISASSOCIATED = {"status": True, "result": "Processing Bulk Disassociate"}
UNAUTHORIZED = {"status": False, "errorCode": "401", "errorMessage": "Verify LTI signature failed(2203)."}
CANVAS = "https://canvas.campus.example.edu"


class Clock:
    now = NOW

    def __call__(self) -> float:
        return self.now


CLOCK = Clock()


@pytest.fixture(scope="module")
def sim():
    with LtiProSimulator(KEY, SECRET, clock=CLOCK) as s:  # the documented 400-meeting limit
        yield s


@pytest.fixture(autouse=True)
def _fresh(sim):
    CLOCK.now = NOW
    sim.reset()
    yield
    sim.reset()


def sign(params: dict[str, str], secret: str = SECRET) -> str:
    base = "&".join(f"{k}={params[k]}" for k in sorted(params))
    digest = hmac.new(secret.encode(), base.encode(), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def item(mid: str = "81234567890", ctx: str = "ctx-cs101", **extra) -> dict:
    return {"meetingId": mid, "contextId": ctx, "domain": CANVAS, **extra}


def call(
    sim,
    path: str,
    body,
    *,
    method: str | None = None,
    params: dict | None = None,
    signature: str | None = None,
    raw: bytes | None = None,
) -> requests.Response:
    method = method or ("POST" if path == IMPORT else "PUT")
    if params is None:
        params = {"key": KEY, "timestamp": str(int(CLOCK.now * 1000))}
        if isinstance(body, dict) and isinstance(body.get("userId"), str):
            params["userId"] = body["userId"]  # the admin userId is signed, as Zoom's LTI Pro articles say
    headers = {"X-Lti-Signature": sign(params) if signature is None else signature, "Content-Type": "application/json"}
    data = raw if raw is not None else json.dumps(body).encode()
    r = requests.request(method, f"{sim.base_url}{path}?{urlencode(params)}", data=data, headers=headers, timeout=5)
    assert SECRET not in r.text and all(SECRET not in v for v in r.headers.values())
    return r


def root(sim) -> str:
    return sim.base_url.split("/api/", 1)[0]


# ---------------------------------------------------------------- bulkImport
def test_import_a_list(sim):
    items = [item("111"), item("222", courseId="4711")]
    r = call(sim, IMPORT, items)
    assert r.status_code == 200 and r.json() == IMPORTED
    assert r.headers["Content-Type"].startswith("application/json")
    assert sim.imported_items() == items and sim.accepted == []
    assert sim.imported[0]["user_id"] is None and sim.imported[0]["timestamp"] == int(NOW * 1000)
    assert sim.associations() == items
    assert sim.received[-1]["path"] == "/api/v1/lti/rich/meeting/bulkImport" and sim.received[-1]["status"] == 200


def test_import_with_the_admin_user_id(sim):
    r = call(sim, IMPORT, {"userId": "zoom-admin-1", "meetingList": [item("333")]})
    assert r.json() == IMPORTED and sim.imported[0]["user_id"] == "zoom-admin-1"
    # a userId query parameter is signed like any other query parameter
    params = {"key": KEY, "timestamp": str(int(NOW * 1000)), "userId": "zoom-admin-2"}
    assert call(sim, IMPORT, [item("444")], params=params).json() == IMPORTED
    assert sim.imported[1]["user_id"] == "zoom-admin-2"
    unsigned = sign({"key": KEY, "timestamp": params["timestamp"]})
    assert call(sim, IMPORT, [item("555")], params=params, signature=unsigned).json() == UNAUTHORIZED
    assert [a["meetingId"] for a in sim.associations()] == ["333", "444"]


def test_import_checks_what_disassociate_checks(sim):
    ts = str(int(NOW * 1000))
    assert call(sim, IMPORT, [item()], signature=sign({"key": KEY, "timestamp": ts}, "wrong")).json() == UNAUTHORIZED
    stale = {"key": KEY, "timestamp": str(int(NOW * 1000) - 3_600_001)}
    assert call(sim, IMPORT, [item()], params=stale).json() == UNAUTHORIZED
    r = call(sim, IMPORT, [item()], params={"timestamp": ts})
    assert r.status_code == 400 and r.json()["errorMessage"] == "Missing required parameter: key"
    r = call(sim, IMPORT, None, raw=b'[{"meetingId": "1", "meetingId": "2", "contextId": "c", "domain": "d"}]')
    assert r.status_code == 400
    for body, needle in (
        ([], "empty"),
        ([item("12a")], "digits"),
        ([item(colour="red")], "'colour'"),
        ({"userId": "u"}, "meetingList"),
        ("text", "list"),
    ):
        r = call(sim, IMPORT, body)
        assert r.status_code == 400 and needle in r.json()["errorMessage"], (body, r.text)
    assert sim.imported == [] and sim.associations() == []


def test_methods_and_paths(sim):
    r = call(sim, IMPORT, [item()], method="PUT")
    assert r.status_code == 405 and r.headers["Allow"] == "POST" and r.json()["errorCode"] == "405"
    r = call(sim, DISASSOCIATE, [item()], method="POST")
    assert r.status_code == 405 and r.headers["Allow"] == "PUT"
    assert call(sim, "/meeting/bulkimport", [item()]).status_code == 404


def test_at_most_400_meetings_per_import(sim):
    over = [item(str(10_000 + n)) for n in range(401)]
    r = call(sim, IMPORT, over)
    assert r.status_code == 200
    assert r.json() == {
        "status": False,
        "errorCode": "1001",
        "errorMessage": "The number of meetings exceeds the limit of 400.",
    }
    assert sim.imported == [] and sim.associations() == []
    assert call(sim, IMPORT, {"userId": "u", "meetingList": over[:400]}).json() == IMPORTED
    assert len(sim.associations()) == 400


# ---------------------------------------------------------------- associations
def test_import_then_disassociate(sim):
    assert call(sim, IMPORT, [item("1"), item("2", courseId="c-2"), item("3")]).json() == IMPORTED
    # importing a known (meeting, context, domain) again updates it, without a duplicate
    assert call(sim, IMPORT, [item("1", courseId="c-1")]).json() == IMPORTED
    assert sim.associations() == [item("1", courseId="c-1"), item("2", courseId="c-2"), item("3")]
    # disassociate matches on (meetingId, contextId, domain); its courseId does not matter
    assert call(sim, DISASSOCIATE, [item("1", courseId="other"), item("3")]).json() == DISASSOCIATED
    assert sim.associations() == [item("2", courseId="c-2")]
    # nothing to match: the same answer, nothing changes
    assert call(sim, DISASSOCIATE, [item("9"), item("2", ctx="ctx-other")]).json() == DISASSOCIATED
    assert call(sim, DISASSOCIATE, [{**item("2"), "domain": CANVAS + "/"}]).json() == DISASSOCIATED
    assert sim.associations() == [item("2", courseId="c-2")]
    assert call(sim, DISASSOCIATE, {"userId": "zoom-admin-1", "meetingList": [item("2")]}).json() == DISASSOCIATED
    assert sim.associations() == []
    assert [len(c["items"]) for c in sim.accepted] == [2, 2, 1, 1] and len(sim.imported) == 2


def test_one_meeting_in_two_courses(sim):
    call(sim, IMPORT, [item("7", ctx="ctx-a"), item("7", ctx="ctx-b")])
    call(sim, DISASSOCIATE, [item("7", ctx="ctx-a")])
    assert sim.associations() == [item("7", ctx="ctx-b")]


def test_refused_or_faulted_calls_change_nothing(sim):
    sim.add_associations(item("1"))
    call(sim, IMPORT, [item("2")], signature="x" * 27)
    call(sim, DISASSOCIATE, [item("1")], signature="x" * 27)
    sim.add_faults(Fault(status=503, retry_after="1"), Fault(body={"status": False, "errorCode": "9"}))
    r = call(sim, IMPORT, [item("2")])
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"  # bulkImport consumes faults too
    assert call(sim, DISASSOCIATE, [item("1")]).json() == {"status": False, "errorCode": "9"}
    assert sim.associations() == [item("1")] and sim.imported == [] and sim.accepted == []
    assert [r["status"] for r in sim.received] == [401, 401, 503, 200]


def test_seeding_associations(sim):
    sim.add_associations(item("1"), item("2", courseId="c"))
    assert sim.associations() == [item("1"), item("2", courseId="c")]
    with pytest.raises(ValueError, match="meetingId"):
        sim.add_associations(item("x1"))
    assert sim.received == []  # seeding is not a request


def test_control_endpoints(sim):
    call(sim, IMPORT, {"userId": "zoom-admin-1", "meetingList": [item("5")]})
    r = requests.get(root(sim) + "/__sim/associations", timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert body["associations"] == [item("5")]
    assert body["imported"][0]["items"] == [item("5")] and body["imported"][0]["user_id"] == "zoom-admin-1"
    assert set(body["imported"][0]) == {"timestamp", "user_id", "items", "signature"}
    assert requests.post(root(sim) + "/__sim/associations", timeout=5).status_code == 405
    state = requests.get(root(sim) + "/__sim/state", timeout=5).json()
    assert state == {"received": 1, "accepted": [], "faults_pending": 0}  # the state keeps its shape
    assert requests.post(root(sim) + "/__sim/reset", timeout=5).json() == {"status": True}
    assert requests.get(root(sim) + "/__sim/associations", timeout=5).json() == {"associations": [], "imported": []}
    assert SECRET not in r.text and SECRET not in repr(sim)
