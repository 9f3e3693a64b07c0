"""LTI Pro signing and the HTTP client, against the strict simulator over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time

import pytest

from infra.local.lti_sim import Fault, LtiProSimulator
from tests.testkit import (
    DOMAIN,
    KEY,
    SECRET,
    FailingSender,
    RecordingSender,
    SleepRecorder,
    StepClock,
    csv_bytes,
    meeting,
    run_file,
)
from zoomops.lti.client import LtiClient
from zoomops.lti.signing import LtiCredentials, encode_body, sign_call, signature

SIG_FAILED = "Verify LTI signature failed(2203)."
ITEMS = [
    {"meetingId": "1234567890", "contextId": "ctx-1", "domain": DOMAIN},
    {"meetingId": "0123456789", "contextId": "ctx-2", "domain": DOMAIN, "courseId": "42"},
]
BODY = encode_body(ITEMS, None)


def expected_signature(base: str, secret: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), base.encode("utf-8"), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@pytest.fixture
def client_factory(creds):
    made = []

    def make(**kwargs):
        kwargs.setdefault("sleep", SleepRecorder())
        client = LtiClient(kwargs.pop("creds", creds), **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


# ------------------------------------------------------------------ signing
def test_signature_reference_example():
    params = {"key": "KLAIJC9OTI2Hm-vxn3UVHK", "timestamp": "1634769623355"}
    sig = signature(params, "some-secret")
    assert sig == expected_signature("key=KLAIJC9OTI2Hm-vxn3UVHK&timestamp=1634769623355", "some-secret")
    assert len(sig) == 27
    assert "=" not in sig
    assert re.fullmatch(r"[A-Za-z0-9_-]{27}", sig)


def test_signature_sorts_params_by_name():
    unsorted = {"userId": "u-1", "timestamp": "1700000000000", "key": "k"}
    base = "key=k&timestamp=1700000000000&userId=u-1"  # userId after timestamp
    assert signature(unsorted, "s") == expected_signature(base, "s")
    assert signature(unsorted, "s") != expected_signature("key=k&userId=u-1&timestamp=1700000000000", "s")
    assert signature({"timestamp": "1", "key": "k"}, "s") == signature({"key": "k", "timestamp": "1"}, "s")


def test_signature_depends_on_secret_and_values():
    params = {"key": "k", "timestamp": "1700000000000"}
    assert signature(params, "a") != signature(params, "b")
    assert signature(params, "a") != signature({"key": "k", "timestamp": "1700000000001"}, "a")


def test_sign_call_puts_key_and_ms_timestamp_in_query_and_signature_in_header():
    creds = LtiCredentials(key=KEY, secret=SECRET, base_url="https://applications.zoom.us/api/v1/lti/rich/")
    now = 1_700_000_000.25
    call = sign_call(creds, BODY, now)
    assert call.method == "PUT"
    assert call.query == {"key": KEY, "timestamp": "1700000000250"}
    assert call.url == (
        f"https://applications.zoom.us/api/v1/lti/rich/meeting/bulkDisassociate?key={KEY}&timestamp=1700000000250"
    )
    assert call.headers["X-Lti-Signature"] == expected_signature(f"key={KEY}&timestamp=1700000000250", SECRET)
    assert call.headers["Content-Type"] == "application/json"
    assert call.body == BODY
    record = call.as_record(3)
    assert SECRET not in record
    parsed = json.loads(record)
    assert parsed["batch"] == 3 and parsed["body"] == ITEMS and parsed["query"] == call.query


def test_encode_body_forms():
    assert json.loads(encode_body(ITEMS, None)) == ITEMS
    assert json.loads(encode_body(ITEMS, "admin-1")) == {"userId": "admin-1", "meetingList": ITEMS}
    assert (
        json.loads(encode_body([{"meetingId": "1", "contextId": "Café", "domain": "d"}], None))[0]["contextId"]
        == "Café"
    )


def test_credentials_validate_and_hide_secret():
    creds = LtiCredentials(key=KEY, secret=SECRET, base_url="http://x")
    assert SECRET not in repr(creds)
    for name in ("key", "secret", "base_url"):
        values = {"key": KEY, "secret": SECRET, "base_url": "http://x", name: ""}
        with pytest.raises(ValueError, match=name):
            LtiCredentials(**values)


# ------------------------------------------------------------------ client vs simulator
def test_accepted_batch(sim, client_factory):
    result = client_factory().send(BODY)
    assert (result.ok, result.attempts, result.status) == (True, 1, 200)
    assert result.message == "Processing Bulk Disassociate"
    assert sim.accepted_items() == ITEMS
    (req,) = sim.received
    assert req["method"] == "PUT"
    assert req["path"].endswith("/meeting/bulkDisassociate")
    assert req["headers"]["content-type"] == "application/json"
    assert req["headers"]["user-agent"].startswith("zoomops/")


def test_user_id_form_accepted_with_the_user_id_signed(sim, client_factory):
    result = client_factory().send(encode_body(ITEMS, "admin-9"), user_id="admin-9")
    assert result.ok
    assert sim.accepted[0]["user_id"] == "admin-9"
    assert json.loads(sim.received[0]["body_text"]) == {"userId": "admin-9", "meetingList": ITEMS}
    assert sim.received[0]["query"]["userId"] == "admin-9"  # in the query, so in the signature base string


def test_user_id_only_in_the_body_is_refused_as_unsigned(sim, client_factory):
    """Zoom's LTI Pro articles sign the admin userId (key=...&timestamp=...&userId=...): a body-only userId is
    what zoomops used to send, and LTI Pro refuses it."""
    result = client_factory().send(encode_body(ITEMS, "admin-9"))
    assert not result.ok and result.auth_failed and sim.accepted == []


def test_503_then_success(sim, client_factory):
    sleep = SleepRecorder()
    sim.add_faults(Fault(status=503))
    result = client_factory(sleep=sleep).send(BODY)
    assert (result.ok, result.attempts) == (True, 2)
    assert [r["status"] for r in sim.received] == [503, 200]
    assert len(sleep.waits) == 1
    assert sim.accepted_items() == ITEMS


def test_429_retry_after_honoured(sim, client_factory):
    sleep = SleepRecorder()
    sim.add_faults(Fault(status=429, retry_after="1"))
    result = client_factory(sleep=sleep).send(BODY)
    assert result.ok and result.attempts == 2
    assert sleep.waits == [1.0]


def test_retry_after_over_limit_gives_up_without_waiting(sim, client_factory):
    sleep = SleepRecorder()
    sim.add_faults(Fault(status=429, retry_after="3600"))
    result = client_factory(sleep=sleep, max_wait=120).send(BODY)
    assert not result.ok and result.status == 429 and result.attempts == 1
    assert "3600" in result.message and "120" in result.message
    assert sleep.waits == []
    assert len(sim.received) == 1


def test_unparseable_retry_after_falls_back_to_backoff(sim, client_factory):
    sleep = SleepRecorder()
    sim.add_faults(Fault(status=503, retry_after="soon"))
    result = client_factory(sleep=sleep).send(BODY)
    assert result.ok and result.attempts == 2
    assert len(sleep.waits) == 1 and 0 <= sleep.waits[0] <= 120


def test_every_attempt_freshly_signed(sim, client_factory):
    clock = StepClock(time.time(), step=7.0)
    sim.add_faults(Fault(status=503), Fault(status=502))
    result = client_factory(clock=clock).send(BODY)
    assert result.ok and result.attempts == 3
    stamps = [r["query"]["timestamp"] for r in sim.received]
    sigs = [r["headers"]["x-lti-signature"] for r in sim.received]
    assert stamps == [str(int(t * 1000)) for t in clock.calls]
    assert len(set(stamps)) == 3 and len(set(sigs)) == 3
    for req in sim.received:
        base = f"key={req['query']['key']}&timestamp={req['query']['timestamp']}"
        assert req["headers"]["x-lti-signature"] == expected_signature(base, SECRET)


def test_read_timeout_then_success(sim, creds):
    sim.add_faults(Fault(delay=1.0))
    client = LtiClient(creds, read_timeout=0.3, sleep=SleepRecorder())
    try:
        started = time.monotonic()
        result = client.send(BODY)
        elapsed = time.monotonic() - started
    finally:
        client.close()
    assert result.ok and result.attempts == 2
    assert elapsed < 1.0  # did not wait for the slow answer
    assert len(sim.received) == 2
    assert len(sim.accepted) == 1


def test_read_timeout_every_time_gives_up(sim, creds):
    sim.add_faults(Fault(delay=1.0), Fault(delay=1.0))
    client = LtiClient(creds, read_timeout=0.2, attempts=2, sleep=SleepRecorder())
    try:
        result = client.send(BODY)
    finally:
        client.close()
    assert not result.ok and result.attempts == 2 and result.status is None
    assert "timeout" in result.message


def test_dropped_connection_then_success(sim, client_factory):
    sim.add_faults(Fault(drop=True))
    result = client_factory().send(BODY)
    assert result.ok and result.attempts == 2
    assert len(sim.received) == 2 and len(sim.accepted) == 1


def test_connection_refused_is_retried_then_fails(client_factory):
    creds = LtiCredentials(key=KEY, secret=SECRET, base_url="http://127.0.0.1:9/api/v1/lti/rich")
    sleep = SleepRecorder()
    result = client_factory(creds=creds, sleep=sleep, attempts=3, connect_timeout=0.5).send(BODY)
    assert not result.ok and result.attempts == 3 and result.status is None
    assert len(sleep.waits) == 2
    assert "gave up after 3 attempts" in result.message


def test_401_is_auth_failure_without_retry(sim, client_factory):
    sleep = SleepRecorder()
    sim.add_faults(Fault(status=401))
    result = client_factory(sleep=sleep).send(BODY)
    assert not result.ok
    assert result.auth_failed and result.status == 401 and result.attempts == 1
    assert SIG_FAILED in result.message
    assert len(sim.received) == 1 and sleep.waits == []


def test_wrong_secret_gets_401_from_simulator(sim, client_factory):
    wrong = LtiCredentials(key=KEY, secret="not-the-secret", base_url=sim.base_url)
    result = client_factory(creds=wrong).send(BODY)
    assert result.auth_failed and result.status == 401
    assert SIG_FAILED in result.message
    assert sim.accepted == [] and len(sim.received) == 1


def test_wrong_key_gets_401(sim, client_factory):
    wrong = LtiCredentials(key="other-key", secret=SECRET, base_url=sim.base_url)
    assert client_factory(creds=wrong).send(BODY).auth_failed


def test_status_false_is_failure_with_lti_message(sim, client_factory):
    sim.add_faults(Fault(body={"status": False, "errorMessage": "Meeting not found in context"}))
    result = client_factory().send(BODY)
    assert not result.ok and not result.auth_failed
    assert result.status == 200 and result.attempts == 1
    assert "Meeting not found in context" in result.message


def test_over_limit_batch_reports_simulator_message():
    with LtiProSimulator(KEY, SECRET, max_batch=1) as small:
        client = LtiClient(LtiCredentials(KEY, SECRET, small.base_url), sleep=SleepRecorder())
        try:
            result = client.send(BODY)
        finally:
            client.close()
    assert not result.ok and result.status == 200
    assert "exceeds the limit of 1" in result.message and "1001" in result.message


def test_non_retryable_4xx_fails_once(sim, client_factory):
    result = client_factory().send(b'{"not": "a list"}')
    assert not result.ok and result.status == 400 and result.attempts == 1
    assert "HTTP 400" in result.message and "userId" in result.message
    assert len(sim.received) == 1


def test_retries_are_bounded(sim, client_factory):
    sleep = SleepRecorder()
    sim.add_faults(*[Fault(status=503) for _ in range(5)])
    result = client_factory(attempts=3, sleep=sleep).send(BODY)
    assert not result.ok and result.attempts == 3 and result.status == 503
    assert "gave up after 3 attempts" in result.message
    assert len(sim.received) == 3
    assert len(sleep.waits) == 2
    assert sim.accepted == []


def test_backoff_grows_and_is_capped(sim, client_factory):
    sleep = SleepRecorder()
    sim.add_faults(*[Fault(status=500) for _ in range(5)])
    result = client_factory(attempts=5, backoff=0.5, max_wait=120, sleep=sleep).send(BODY)
    assert not result.ok and result.attempts == 5
    assert len(sleep.waits) == 4
    assert all(0 <= w <= 120 for w in sleep.waits)
    assert sleep.waits[-1] > sleep.waits[0]
    assert sleep.waits[-1] >= 0.5 * 2**2  # exponential, not constant


def test_one_pooled_connection_for_sequential_batches(sim, client_factory):
    client = client_factory()
    for _ in range(4):
        assert client.send(BODY).ok
    assert len({r["connection"] for r in sim.received}) == 1
    assert len(sim.accepted) == 4


def test_pooled_connection_survives_error_answers(sim, client_factory):
    sim.add_faults(Fault(status=503), Fault(body={"status": False, "errorMessage": "x"}))
    client = client_factory()
    client.send(BODY)
    client.send(BODY)
    assert [r["status"] for r in sim.received] == [503, 200, 200]
    assert len({r["connection"] for r in sim.received}) == 1


def test_signature_failure_answered_as_200_counts_as_refused_credentials(sim, creds):
    from infra.local.lti_sim import Fault

    sim.add_faults(
        Fault(body={"status": False, "errorCode": "401", "errorMessage": "Verify LTI signature failed(2203)."})
    )
    result = LtiClient(creds).send(BODY)
    assert not result.ok and result.auth_failed and result.attempts == 1


def test_no_retry_or_wait_that_would_pass_the_time_limit(sim, creds):
    from infra.local.lti_sim import Fault

    sim.add_faults(Fault(status=503), Fault(status=429, retry_after="30"))
    waits = []
    left = iter([100.0, 100.0, 40.0, 40.0, 40.0])
    result = LtiClient(creds, sleep=waits.append).send(BODY, time_left=lambda: next(left))
    assert result.out_of_time and not result.ok
    assert len(sim.received) == 2 and waits == [0.0]  # the 30 s Retry-After was not waited out


def test_cut_off_response_body_is_retried_not_a_crash(creds):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def serve():
        for _ in range(2):
            conn, _ = server.accept()
            conn.recv(65536)
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"sta')
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    client = LtiClient(
        LtiCredentials(creds.key, creds.secret, f"http://127.0.0.1:{port}"), attempts=2, sleep=lambda s: None
    )
    result = client.send(BODY)
    server.close()
    assert not result.ok and result.attempts == 2 and "gave up after 2 attempts" in result.message


def test_cp1252_value_round_trips_through_retry_csv(tmp_path, sim, creds):
    from zoomops.lti.client import LtiClient

    data = csv_bytes(f"{meeting(1)},Café,{DOMAIN},", encoding="cp1252")
    first = run_file(tmp_path, data, dry_run=False, sender=FailingSender())
    retry_bytes = (first.dir / "retry.csv").read_bytes()
    client = LtiClient(creds, sleep=lambda s: None)
    try:
        second = run_file(tmp_path, retry_bytes, dry_run=False, sender=client, creds=creds)
    finally:
        client.close()
    assert second.statuses() == ["sent"]
    assert sim.accepted_items() == [{"meetingId": meeting(1), "contextId": "Café", "domain": DOMAIN}]


def test_retry_csv_fed_back_sends_exactly_the_failed_rows(tmp_path, sim, creds):
    from zoomops.lti.client import BatchResult

    lines = [
        f"123 4567 8901,ctx-a,{DOMAIN}/,crs-1",
        f"{meeting(2)},ctx-b,{DOMAIN},",
        f"{meeting(3)},ctx-c,{DOMAIN},",
        f"{meeting(4)},ctx-d,{DOMAIN},",
    ]
    sender = RecordingSender(BatchResult(False, "LTI Pro answered: nope", 1, 200), BatchResult(True, "", 1, 200))
    first = run_file(tmp_path, csv_bytes(*lines), dry_run=False, batch_size=2, sender=sender)
    assert first.statuses() == ["failed", "failed", "sent", "sent"]

    client = LtiClient(creds, sleep=lambda s: None)
    try:
        second = run_file(
            tmp_path,
            (first.dir / "retry.csv").read_bytes(),
            dry_run=False,
            sender=client,
            creds=creds,
            name="retry.csv",
        )
    finally:
        client.close()
    assert second.statuses() == ["sent", "sent"]
    assert second.retry == []
    assert sim.accepted_items() == [
        {"meetingId": "12345678901", "contextId": "ctx-a", "domain": DOMAIN, "courseId": "crs-1"},
        {"meetingId": meeting(2), "contextId": "ctx-b", "domain": DOMAIN},
    ]
    assert len(sim.received) == 1
