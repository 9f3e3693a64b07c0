"""End-to-end tests of the strict LTI Pro simulator, over real HTTP on 127.0.0.1.

Signatures are computed here with hmac/hashlib/base64 directly (not with the
project's client), so these tests pin the simulator to the documented scheme.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from infra.local.lti_sim import Fault, LtiProSimulator

KEY = "KLAIJC9OTI2Hm-vxn3UVHK"
SECRET = "s3cr3t-LTI-value-XYZ"
NOW = 1_700_000_000.0  # seconds; the injected clock starts here
WINDOW_MS = 3_600_000
MAX_BATCH = 5
PATH = "/meeting/bulkDisassociate"
UNAUTHORIZED = {"status": False, "errorCode": "401", "errorMessage": "Verify LTI signature failed(2203)."}
ACCEPTED = {"status": True, "result": "Processing Bulk Disassociate"}
REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


CLOCK = FakeClock(NOW)


@pytest.fixture(scope="module")
def sim():
    with LtiProSimulator(KEY, SECRET, max_batch=MAX_BATCH, window_ms=WINDOW_MS, clock=CLOCK) as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh(sim):
    CLOCK.now = NOW
    sim.reset()
    yield
    sim.reset()


@pytest.fixture
def http():
    with requests.Session() as s:
        yield s


# ---------------------------------------------------------------- helpers
def sign(params: dict[str, str], secret: str = SECRET) -> str:
    base = "&".join(f"{k}={params[k]}" for k in sorted(params))
    digest = hmac.new(secret.encode(), base.encode(), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def now_ms() -> int:
    return int(CLOCK.now * 1000)


def item(mid: str = "1234567890", **extra) -> dict:
    out = {"meetingId": mid, "contextId": "ctx-1", "domain": "https://lms.example.edu"}
    out.update(extra)
    return out


def checked(resp: requests.Response) -> requests.Response:
    assert SECRET not in resp.text
    assert all(SECRET not in v for v in resp.headers.values())
    return resp


def put(
    sim: LtiProSimulator,
    body,
    *,
    http: requests.Session | None = None,
    key: str = KEY,
    timestamp: int | None = None,
    params: dict | None = None,
    signature: str | None = None,
    content_type: str | None = "application/json",
    raw: bytes | None = None,
    timeout: float = 5.0,
) -> requests.Response:
    if params is None:
        params = {"key": key, "timestamp": str(now_ms() if timestamp is None else timestamp)}
    headers = {"X-Lti-Signature": sign(params) if signature is None else signature}
    if content_type is not None:
        headers["Content-Type"] = content_type
    data = raw if raw is not None else json.dumps(body).encode()
    url = f"{sim.base_url}{PATH}?{urlencode(params)}"
    resp = (http or requests).put(url, data=data, headers=headers, timeout=timeout)
    return checked(resp)


def sim_root(sim: LtiProSimulator) -> str:
    return sim.base_url.split("/api/", 1)[0]


# ---------------------------------------------------------------- happy paths
def test_base_url(sim):
    assert sim.base_url.startswith("http://127.0.0.1:")
    assert sim.base_url.endswith("/api/v1/lti/rich")


def test_reference_example_signature_shape():
    sig = sign({"key": KEY, "timestamp": "1634769623355"})
    assert len(sig) == 27 and "=" not in sig


def test_plain_list_accepted_and_recorded(sim):
    items = [item("111"), item("222", courseId="Course 1")]
    resp = put(sim, items)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.json() == ACCEPTED
    assert len(sim.accepted) == 1
    call = sim.accepted[0]
    assert call["timestamp"] == now_ms()
    assert call["user_id"] is None
    assert call["items"] == items
    assert call["signature"] == sign({"key": KEY, "timestamp": str(now_ms())})
    assert sim.accepted_items() == items
    rec = sim.received[-1]
    assert rec["method"] == "PUT" and rec["status"] == 200
    assert rec["path"] == "/api/v1/lti/rich/meeting/bulkDisassociate"
    assert rec["query"] == {"key": KEY, "timestamp": str(now_ms())}
    assert rec["headers"]["x-lti-signature"] == call["signature"]
    assert json.loads(rec["body_text"]) == items


def test_user_id_form_accepted_when_the_user_id_is_signed(sim):
    params = {"key": KEY, "timestamp": str(now_ms()), "userId": "admin-user-1"}
    resp = put(sim, {"userId": "admin-user-1", "meetingList": [item("333")]}, params=params)
    assert resp.status_code == 200 and resp.json() == ACCEPTED
    assert sim.accepted[0]["user_id"] == "admin-user-1"
    assert sim.accepted_items() == [item("333")]


@pytest.mark.parametrize("query_user", [None, "someone-else"])
def test_user_id_in_the_body_must_be_the_signed_query_user_id(sim, query_user):
    params = {"key": KEY, "timestamp": str(now_ms())}
    if query_user:
        params["userId"] = query_user
    resp = put(sim, {"userId": "admin-user-1", "meetingList": [item("333")]}, params=params)
    assert resp.status_code == 401 and resp.json()["errorMessage"] == "Verify LTI signature failed(2203)."
    assert sim.accepted == []


def test_extra_query_param_is_part_of_signature(sim):
    params = {"key": KEY, "timestamp": str(now_ms()), "userId": "u1"}
    resp = put(sim, [item()], params=params)
    assert resp.status_code == 200 and resp.json() == ACCEPTED
    wrong = sign({"key": KEY, "timestamp": params["timestamp"]})  # signed without userId
    assert put(sim, [item()], params=params, signature=wrong).status_code == 401


def test_charset_parameter_allowed_and_timestamp_edge_of_window(sim):
    resp = put(sim, [item()], content_type="application/json; charset=utf-8", timestamp=now_ms() - WINDOW_MS)
    assert resp.status_code == 200 and resp.json() == ACCEPTED


def test_keep_alive_session_survives_errors(sim, http):
    assert put(sim, [item()], http=http, signature="x" * 27).status_code == 401
    assert put(sim, [item()], http=http, content_type="text/plain").status_code == 415
    assert put(sim, [item()], http=http).status_code == 200
    conns = {r["connection"] for r in sim.received}
    assert len(conns) == 1  # one pooled connection carried all three
    assert len(sim.accepted) == 1


# ---------------------------------------------------------------- auth failures
def test_wrong_signature(sim):
    resp = put(sim, [item()], signature=sign({"key": KEY, "timestamp": str(now_ms())}, secret="other"))
    assert resp.status_code == 401 and resp.json() == UNAUTHORIZED
    assert sim.accepted == [] and sim.received[-1]["status"] == 401


def test_padded_signature_rejected(sim):
    good = sign({"key": KEY, "timestamp": str(now_ms())})
    resp = put(sim, [item()], signature=good + "=")
    assert resp.status_code == 401 and resp.json() == UNAUTHORIZED


def test_standard_base64_signature_rejected(sim):
    params = {"key": KEY, "timestamp": str(now_ms())}
    base = "&".join(f"{k}={params[k]}" for k in sorted(params))
    std = base64.b64encode(hmac.new(SECRET.encode(), base.encode(), hashlib.sha1).digest()).decode()
    assert put(sim, [item()], signature=std).status_code == 401


def test_missing_signature(sim):
    url = f"{sim.base_url}{PATH}?{urlencode({'key': KEY, 'timestamp': now_ms()})}"
    resp = checked(requests.put(url, json=[item()], timeout=5))
    assert resp.status_code == 401 and resp.json() == UNAUTHORIZED


def test_wrong_key(sim):
    params = {"key": "other-key", "timestamp": str(now_ms())}
    resp = put(sim, [item()], params=params)  # correctly signed, but unknown key
    assert resp.status_code == 401 and resp.json() == UNAUTHORIZED


@pytest.mark.parametrize("offset_ms", [-(WINDOW_MS + 1), WINDOW_MS + 1])
def test_timestamp_outside_window(sim, offset_ms):
    resp = put(sim, [item()], timestamp=now_ms() + offset_ms)
    assert resp.status_code == 401 and resp.json() == UNAUTHORIZED


def test_stale_after_clock_moves(sim):
    ts = now_ms()
    assert put(sim, [item()], timestamp=ts).status_code == 200
    CLOCK.now += WINDOW_MS / 1000 + 1  # 60 minutes and a second later, no sleeping
    assert put(sim, [item()], timestamp=ts).json() == UNAUTHORIZED


@pytest.mark.parametrize("ts", ["1700000000", "17e11", "-1", "1700000000000.0"])
def test_timestamp_in_seconds_or_not_digits(sim, ts):
    params = {"key": KEY, "timestamp": ts}
    assert put(sim, [item()], params=params).status_code == 401


@pytest.mark.parametrize("missing", ["timestamp", "key"])
def test_missing_query_parameter(sim, missing):
    params = {"key": KEY, "timestamp": str(now_ms())}
    del params[missing]
    resp = put(sim, [item()], params=params)
    assert resp.status_code == 400
    assert resp.json() == {
        "status": False,
        "errorCode": "400",
        "errorMessage": f"Missing required parameter: {missing}",
    }


def test_duplicate_query_parameter(sim):
    url = f"{sim.base_url}{PATH}?key={KEY}&timestamp={now_ms()}&timestamp={now_ms()}"
    sig = sign({"key": KEY, "timestamp": str(now_ms())})
    resp = checked(requests.put(url, json=[item()], headers={"X-Lti-Signature": sig}, timeout=5))
    assert resp.status_code == 400


# ---------------------------------------------------------------- path, method, content
def test_unknown_path_and_wrong_method(sim):
    resp = checked(requests.put(sim.base_url + "/meeting/bulkdisassociate", json=[], timeout=5))
    assert resp.status_code == 404
    assert resp.json() == {"status": False, "errorCode": "404", "errorMessage": "Not Found"}
    resp = checked(requests.post(sim.base_url + PATH, json=[item()], timeout=5))
    assert resp.status_code == 405 and resp.json()["errorCode"] == "405"


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type(sim, ctype):
    resp = put(sim, [item()], content_type=ctype)
    assert resp.status_code == 415
    assert resp.json()["status"] is False and resp.json()["errorCode"] == "415"
    assert sim.accepted == []


@pytest.mark.parametrize("raw", [b"", b"[{", b"\xff\xfe[]", b"NaN"])
def test_malformed_body(sim, raw):
    resp = put(sim, None, raw=raw)
    assert resp.status_code == 400 and resp.json()["errorCode"] == "400"


# ---------------------------------------------------------------- body shape
def test_batch_over_limit_is_200_status_false(sim):
    resp = put(sim, [item(str(1000 + i)) for i in range(MAX_BATCH + 1)])
    assert resp.status_code == 200
    assert resp.json() == {
        "status": False,
        "errorCode": "1001",
        "errorMessage": f"The number of meetings exceeds the limit of {MAX_BATCH}.",
    }
    assert sim.accepted == []
    assert put(sim, [item(str(1000 + i)) for i in range(MAX_BATCH)]).json() == ACCEPTED


@pytest.mark.parametrize(
    "body, needles",
    [
        ([item("1"), {"meetingId": "2", "contextId": "c"}], ["index 1", "'domain'"]),
        ([item("12a")], ["index 0", "meetingId", "digits"]),
        ([item(" 123")], ["index 0", "meetingId"]),
        ([item(), {"meetingId ": "2", "contextId": "c", "domain": "d"}], ["index 1", "'meetingId '"]),
        ([item(), item(), item(colour="red")], ["index 2", "'colour'"]),
        ([item(domain="")], ["index 0", "'domain'"]),
        ([item(contextId=5)], ["index 0", "'contextId'"]),
        ([item(courseId=None)], ["index 0", "'courseId'"]),
        ([item(meetingId=123)], ["index 0", "'meetingId'"]),
        (["123"], ["index 0"]),
        ([], ["empty"]),
        ({"meetingList": [item()]}, ["userId"]),
        ({"userId": "", "meetingList": [item()]}, ["userId"]),
        ({"userId": "u", "meetingList": {"a": 1}}, ["meetingList"]),
        ({"userId": "u", "meetingList": [item()], "extra": 1}, ["'extra'"]),
        ({"userId": "u", "meetingList": [item(), item("x")]}, ["index 1", "meetingId"]),
        ({"userId": "u", "meetingList": []}, ["empty"]),
        ("just a string", ["list"]),
    ],
)
def test_bad_body_is_400_naming_the_problem(sim, body, needles):
    resp = put(sim, body)
    assert resp.status_code == 400, resp.text
    payload = resp.json()
    assert payload["status"] is False and payload["errorCode"] == "400"
    for needle in needles:
        assert needle in payload["errorMessage"], (needle, payload["errorMessage"])
    assert sim.accepted == []


def test_duplicate_json_keys_rejected(sim):
    raw = b'[{"meetingId": "1", "meetingId": "2", "contextId": "c", "domain": "d"}]'
    assert put(sim, None, raw=raw).status_code == 400


# ---------------------------------------------------------------- faults
def test_fault_status_with_retry_after_then_normal(sim):
    sim.add_faults(Fault(status=503, retry_after="1"), Fault(status=429, retry_after="2"))
    r1 = put(sim, [item()])
    assert r1.status_code == 503 and r1.headers["Retry-After"] == "1"
    assert r1.json()["status"] is False and r1.json()["errorCode"] == "503"
    r2 = put(sim, [item()])
    assert r2.status_code == 429 and r2.headers["Retry-After"] == "2"
    r3 = put(sim, [item()])
    assert r3.status_code == 200 and r3.json() == ACCEPTED
    assert [r["status"] for r in sim.received] == [503, 429, 200]
    assert len(sim.accepted) == 1


def test_fault_is_applied_before_validation(sim):
    sim.add_faults(Fault(status=500))
    resp = put(sim, [item()], signature="bogus")
    assert resp.status_code == 500 and resp.json()["errorCode"] == "500"
    assert put(sim, [item()], signature="bogus").status_code == 401


def test_fault_401_default_body(sim):
    sim.add_faults(Fault(status=401))
    resp = put(sim, [item()])
    assert resp.status_code == 401 and resp.json() == UNAUTHORIZED
    assert sim.accepted == []


def test_fault_body_without_status_answers_200(sim):
    body = {"status": False, "errorCode": "2000", "errorMessage": "scripted"}
    sim.add_faults(Fault(body=body))
    resp = put(sim, [item()])
    assert resp.status_code == 200 and resp.json() == body
    assert sim.accepted == []


def test_fault_delay_provokes_read_timeout_then_processes(sim):
    sim.add_faults(Fault(delay=0.6))
    with pytest.raises(requests.exceptions.ReadTimeout):
        put(sim, [item("1")], timeout=0.15)
    assert len(sim.received) == 1  # recorded on arrival, before the delay
    # a delay without status is processed normally once the delay is over
    sim.add_faults(Fault(delay=0.1))
    t0 = time.monotonic()
    resp = put(sim, [item("2")])
    assert resp.status_code == 200 and time.monotonic() - t0 >= 0.1
    assert sim.accepted_items()[-1]["meetingId"] == "2"


def test_fault_delay_with_status(sim):
    sim.add_faults(Fault(delay=0.05, status=504))
    assert put(sim, [item()]).status_code == 504


def test_fault_drop(sim, http):
    sim.add_faults(Fault(drop=True))
    with pytest.raises(requests.exceptions.ConnectionError):
        put(sim, [item()], http=http)
    assert sim.received[-1]["status"] is None
    assert sim.accepted == []
    assert put(sim, [item()], http=http).status_code == 200  # the session recovers


def test_faults_only_consumed_by_endpoint(sim):
    sim.add_faults(Fault(status=503))
    assert checked(requests.get(sim_root(sim) + "/__sim/state", timeout=5)).json()["faults_pending"] == 1
    assert checked(requests.get(sim.base_url + "/nope", timeout=5)).status_code == 404
    assert put(sim, [item()]).status_code == 503


def test_add_faults_rejects_bad_values(sim):
    with pytest.raises(TypeError):
        sim.add_faults({"status": 503})
    with pytest.raises(ValueError):
        sim.add_faults(Fault(delay=-1))


# ---------------------------------------------------------------- control endpoints
def test_control_endpoints(sim):
    root = sim_root(sim)
    state = checked(requests.get(root + "/__sim/state", timeout=5)).json()
    assert state["received"] == 0 and state["accepted"] == []

    faults = [{"status": 503, "retry_after": "1"}, {"body": {"status": False, "errorCode": "9"}}]
    resp = checked(requests.post(root + "/__sim/faults", json=faults, timeout=5))
    assert resp.status_code == 200
    assert put(sim, [item()]).status_code == 503
    assert put(sim, [item()]).json() == {"status": False, "errorCode": "9"}
    assert put(sim, [item("42")], params=None).json() == ACCEPTED

    state = checked(requests.get(root + "/__sim/state", timeout=5)).json()
    assert state["received"] == 3  # control calls are not counted
    assert len(state["accepted"]) == 1
    assert state["accepted"][0]["items"] == [item("42")]
    assert state["accepted"][0]["user_id"] is None
    assert set(state["accepted"][0]) == {"timestamp", "user_id", "items", "signature"}

    bad = checked(requests.post(root + "/__sim/faults", json=[{"sttus": 503}], timeout=5))
    assert bad.status_code == 400
    bad = checked(requests.post(root + "/__sim/faults", json={"status": 503}, timeout=5))
    assert bad.status_code == 400

    checked(requests.post(root + "/__sim/faults", json=[{"status": 500}], timeout=5))
    assert checked(requests.post(root + "/__sim/reset", timeout=5)).json() == {"status": True}
    state = checked(requests.get(root + "/__sim/state", timeout=5)).json()
    assert state == {"received": 0, "accepted": [], "faults_pending": 0}
    assert put(sim, [item()]).status_code == 200  # the reset cleared the pending fault


def test_secret_never_in_state_or_repr(sim):
    put(sim, [item()])
    put(sim, [item()], signature="bad")
    state = requests.get(sim_root(sim) + "/__sim/state", timeout=5).text
    assert SECRET not in state
    assert SECRET not in repr(sim)
    assert SECRET not in json.dumps(sim.received)


def test_cli_runs_in_foreground():
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "infra" / "local" / "lti_sim.py"), "--key", KEY, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"LTI_SIM_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
    )
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:") and base.endswith("/api/v1/lti/rich")
        ts = str(int(time.time() * 1000))
        params = {"key": KEY, "timestamp": ts}
        resp = checked(
            requests.put(
                f"{base}{PATH}?{urlencode(params)}",
                json=[item("987654321")],
                headers={"X-Lti-Signature": sign(params)},
                timeout=5,
            )
        )
        assert resp.json() == ACCEPTED
        state = requests.get(base.split("/api/")[0] + "/__sim/state", timeout=5).json()
        assert state["accepted"][0]["items"] == [item("987654321")]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert SECRET not in out + err


# ---------------------------------------------------------------- the shared simhttp mechanism
def _tiny_sim():
    """The recipe in simhttp's docstring: a tiny simulator that gets the fault queue and the /__sim/ control
    routes (state, reset, faults, plus one of its own) from simhttp."""
    from dataclasses import dataclass
    from urllib.parse import urlsplit

    from infra.local.simhttp import SIM_PREFIX, ControlError, FaultBase, SimHandler, SimulatorBase

    @dataclass
    class TinyFault(FaultBase):
        status: int | None = None
        retry_after: str | None = None
        delay: float = 0.0
        drop: bool = False
        kind: str = "api"

    class TinyHandler(SimHandler):
        def error_body(self, status, message):
            return {"error": message}

        def _dispatch(self):
            body = self._read_body()
            path = urlsplit(self.path).path
            if path.startswith(SIM_PREFIX):
                return self._control(path, body)
            fault = self.server.sim._next_fault(kind="api")
            if fault is not None and fault.status is not None:
                return self._send(fault.status, self.error_body(fault.status, "scripted"))
            return self._send(204, None) if self.command == "DELETE" else self._send(200, {"ok": True})

    class TinySim(SimulatorBase):
        handler_class, fault_class, thread_name = TinyHandler, TinyFault, "tiny-sim"

        def __init__(self):
            self._init_server("127.0.0.1", 0)
            self.resets = 0

        def _state(self):
            return {"faults_pending": self._pending_faults(), "resets": self.resets}

        def reset(self):
            super().reset()
            self.resets += 1

        def _control_routes(self):
            def boom(body):
                raise ControlError(409, "not now")

            return {**super()._control_routes(), "boom": ("POST", boom)}

    return TinySim(), TinyFault


def test_simhttp_plug_in_recipe():
    tiny, TinyFault = _tiny_sim()
    with tiny, requests.Session() as h:
        base = tiny.base_url
        tiny.add_faults(TinyFault(status=503, kind="other"))
        with pytest.raises(TypeError):
            tiny.add_faults(Fault(status=503))  # another simulator's Fault class
        r = h.post(f"{base}/__sim/faults", json=[{"status": 502}], timeout=5)
        assert r.json() == {"status": True, "faults_pending": 2}
        assert h.get(f"{base}/x", timeout=5).status_code == 502  # the first fault of kind "api"
        assert h.get(f"{base}/x", timeout=5).json() == {"ok": True}
        r = h.delete(f"{base}/x", timeout=5)
        assert r.status_code == 204 and r.content == b"" and "Content-Length" not in r.headers
        assert h.get(f"{base}/__sim/state", timeout=5).json() == {"faults_pending": 1, "resets": 0}
        for bad in (b"{", b'{"a": 1, "a": 2}', b'{"status": 502}', b'[{"colour": 1}]', b'[{"status": "x"}]'):
            r = h.post(f"{base}/__sim/faults", data=bad, timeout=5)
            assert r.status_code == 400 and "error" in r.json(), bad
        r = h.get(f"{base}/__sim/reset", timeout=5)
        assert r.status_code == 405 and r.headers["Allow"] == "POST"
        assert h.post(f"{base}/__sim/nothing", timeout=5).status_code == 404
        assert h.post(f"{base}/__sim/boom", timeout=5).json() == {"error": "not now"}
        assert h.post(f"{base}/__sim/reset", timeout=5).json() == {"status": True}
        r = h.get(f"{base}/__sim/state", timeout=5)
        assert r.json() == {"faults_pending": 0, "resets": 1}
        assert r.raw.version == 11 and int(r.headers["Content-Length"]) == len(r.content)
