"""The one Zoom client (zoomops.zoom) against the Zoom simulator over real HTTP on 127.0.0.1.

Time is frozen: the simulator, the client and its rate limiter share one FakeClock, and every wait goes
to a recorder (which may advance that clock) instead of sleeping. urllib3's own Retry sleeps and reads the
time through its module's ``time``: the ``transport`` fixture swaps that for a recorder on the same clock,
so transport retries never really sleep either (and a Retry-After date means the same thing to it).
Only the threaded limiter test runs on the real clock (about a second of work).
"""

from __future__ import annotations

import base64
import logging
import socket
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import requests
import urllib3.util.retry

from infra.local.zoom_sim import DEMO_UUIDS, FakeClock, Fault, ZoomSimulator, seed_demo
from tests.testkit import http_date
from zoomops.aws.secrets import SecretTokenSource
from zoomops.errors import DailyLimitReached, TokenUnavailable, ZoomError
from zoomops.zoom import client as zoom
from zoomops.zoom.client import (
    MAX_PAGE_SIZE,
    RateLimiter,
    Token,
    ZoomClient,
    quote_uuid,
)

ACCOUNT_ID = "CampusMainAcct01"
CLIENT_ID = "campus-s2s-client-id"
CLIENT_SECRET = "zoom-CLIENT-secret-7Qx9w2"
START = 1_727_784_000.0  # 2024-10-01T12:00:00Z (FakeClock's default)
NEXT_MIDNIGHT = datetime(2024, 10, 2, tzinfo=UTC)
LECTURE_UUIDS = [DEMO_UUIDS["leading_slash"], DEMO_UUIDS["double_slash"], DEMO_UUIDS["plain"]]


# ------------------------------------------------------------------ helpers and fixtures
class Waits:
    """A sleep() that records; with ``advance`` it also moves the fake clock (time passes while waiting)."""

    def __init__(self, clock: FakeClock, *, advance: bool = True):
        self.clock, self.advance, self.waits = clock, advance, []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
        if self.advance and seconds > 0:
            self.clock.advance(seconds)


class StoredToken:
    """A TokenSource like the token secret behind a cache: token() answers the cached copy until forced."""

    def __init__(self, clock: FakeClock, body: dict):
        self.clock, self.stored, self._cached = clock, body, None
        self.reads = self.forced = 0

    def token(self, *, force: bool = False) -> Token:
        if force:
            self.forced += 1
        if force or self._cached is None:
            self.reads += 1
            body = self.stored
            self._cached = Token(body["access_token"], body["api_url"], self.clock() + body["expires_in"])
        return self._cached


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def transport(monkeypatch, clock):
    """What urllib3's Retry would have slept (it never really sleeps here); it reads the fake clock."""
    slept: list[float] = []
    monkeypatch.setattr(urllib3.util.retry, "time", SimpleNamespace(sleep=slept.append, time=clock))
    return slept


@pytest.fixture
def issued():
    """Every access token the tests obtained (for the secret-hygiene searches)."""
    return []


@pytest.fixture(scope="module")
def _stopping():
    """Simulators stop in the background (each stop waits out a server poll): joined once, at the end."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(timeout=10)


@pytest.fixture
def stack(_local_stack):
    """The session's moto stack without conftest's full reset: these tests remove their p/ secrets."""

    def clean() -> None:
        sm = _local_stack.client("secretsmanager")
        for page in sm.get_paginator("list_secrets").paginate():
            for secret in page["SecretList"]:
                if secret["Name"].startswith("p/"):
                    sm.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)

    clean()
    yield _local_stack
    clean()


@pytest.fixture
def zoom_factory(clock, transport, issued, _stopping):
    sims = []

    def make(**kwargs) -> ZoomSimulator:
        sim = ZoomSimulator(clock=kwargs.pop("clock", clock), **kwargs)
        sim.start()
        sim.add_account(ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET)
        sim.demo = seed_demo(sim, ACCOUNT_ID)
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        thread = threading.Thread(target=sim.stop, daemon=True)
        thread.start()
        _stopping.append(thread)


@pytest.fixture
def zsim(zoom_factory):
    return zoom_factory()


def issue_token(sim: ZoomSimulator, issued: list | None = None) -> dict:
    """What token_refresh does: one POST to the simulator's OAuth endpoint (counted by the simulator)."""
    answer = requests.post(
        f"{sim.base_url}/oauth/token",
        data={"grant_type": "account_credentials", "account_id": ACCOUNT_ID},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    if issued is not None:
        issued.append(body["access_token"])
    return body


@pytest.fixture
def tokens(zsim, clock, issued):
    return StoredToken(clock, issue_token(zsim, issued))


@pytest.fixture
def make_client(clock):
    made = []

    def make(token_source, *, waits: Waits | None = None, limiter: RateLimiter | None = None, **kwargs):
        waits = waits or Waits(clock)
        limiter = limiter or RateLimiter(clock=clock, sleep=waits)
        client = ZoomClient(token_source, limiter=limiter, clock=clock, sleep=waits, **kwargs)
        client.waits = waits
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def sdk_log_guard():
    """zoomops.aws.guard_sdk_logs (what every runtime calls first), undone after the test."""
    from zoomops.aws import guard_sdk_logs

    names = ("botocore", "boto3", "s3transfer")
    saved = {name: logging.getLogger(name).level for name in names}
    yield guard_sdk_logs
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def statuses(sim: ZoomSimulator) -> list:
    return [r["status"] for r in sim.api_requests]


def plain_session() -> requests.Session:
    """A session without urllib3 Retry: the client's own 429 handling, isolated from the transport's."""
    return requests.Session()


def meetings_path(sim) -> str:
    return f"/users/{sim.demo['users']['instructor']}/meetings"  # a Medium endpoint


def report_path(uuid: str) -> str:
    return f"/report/meetings/{quote_uuid(uuid)}/participants"  # a Heavy endpoint


# ------------------------------------------------------------------ pure helpers


# ------------------------------------------------------------------ RateLimiter (fake clock)


# ------------------------------------------------------------------ basics
def test_get_uses_the_tokens_api_url_and_bearer(zsim, tokens, make_client):
    client = make_client(tokens)
    user = client.get("/users/me")
    assert user["email"] == zsim.demo["emails"]["instructor"]
    (record,) = zsim.api_requests
    assert record["path"] == "/v2/users/me" and record["account"] == ACCOUNT_ID and record["status"] == 200
    assert client.stats == {"requests": 1, "throttled": 0, "token_rereads": 0}


def test_expired_token_401_rereads_then_succeeds(zsim, clock, tokens, make_client, issued):
    """A token read just before it lapsed: Zoom answers 401, the client takes the secret's newer one."""
    client = make_client(tokens)
    client.get("/users/me")
    clock.advance(3600)  # the cached token has lapsed; token_refresh has long written a new one
    tokens.stored = issue_token(zsim, issued)
    assert client.get("/users/me")["id"] == zsim.demo["users"]["instructor"]
    assert statuses(zsim) == [200, 401, 200]
    assert tokens.forced == 1


# ------------------------------------------------------------------ 401
def test_401_forces_one_reread_then_succeeds(zsim, tokens, make_client, issued):
    client = make_client(tokens)
    assert client.get("/users/me")["email"]
    zsim.revoke_tokens()  # the token the client cached is dead ...
    tokens.stored = issue_token(zsim, issued)  # ... and the secret already holds a new one
    assert client.get("/users/me")["email"]
    assert statuses(zsim) == [200, 401, 200]
    assert tokens.forced == 1 and tokens.reads == 2
    assert client.stats["token_rereads"] == 1
    # the new token is kept: no more re-reads
    client.get("/users/me")
    assert tokens.forced == 1 and statuses(zsim)[-1] == 200


def test_second_401_raises_after_exactly_one_reread(zsim, tokens, make_client):
    client = make_client(tokens)
    zsim.revoke_tokens()  # and nobody stores a new one
    with pytest.raises(ZoomError) as info:
        client.get("/users/me")
    assert info.value.status == 401
    assert info.value.code == 124
    assert statuses(zsim) == [401, 401]
    assert tokens.forced == 1


def test_401_with_secret_token_source_over_secrets_manager(stack, zsim, clock, make_client, issued):
    """token_refresh writes the secret, the client reads it through Powertools' cache and force-fetches on 401."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from zoomops.aws.secrets import SecretsTokenStore
    from zoomops.settings import parse_accounts
    from zoomops.zoom.tokens import OAuthClient, TokenRefresher

    sm = stack.client("secretsmanager")
    sm.create_secret(
        Name="p/main/credentials",
        SecretString=(
            f'{{"account_id": "{ACCOUNT_ID}", "client_id": "{CLIENT_ID}", "client_secret": "{CLIENT_SECRET}"}}'
        ),
    )
    (account,) = parse_accounts("main", "p/")
    refresher = TokenRefresher(SecretsTokenStore(sm), OAuthClient(f"{zsim.base_url}/oauth/token"), clock=clock)
    assert refresher.refresh(account).action == "refreshed"
    source = SecretTokenSource(account.token_secret, SecretsProvider(boto3_client=sm), max_age=300)
    client = make_client(source)
    assert client.get("/users/me")["email"]

    zsim.revoke_tokens()
    assert refresher.refresh(account, force=True).action == "refreshed"  # a new token in the secret
    assert client.get("/users/me")["email"]  # cached old token -> 401 -> force fetch -> new token
    assert statuses(zsim) == [200, 401, 200]
    assert client.stats["token_rereads"] == 1
    assert zsim.token_requests == {ACCOUNT_ID: 2}  # both by the refresher, none by the client

    zsim.revoke_tokens()  # now the secret's token is dead too: one re-read, then a clear error
    with pytest.raises(ZoomError) as info:
        client.get("/users/me")
    assert info.value.status == 401
    assert statuses(zsim)[-2:] == [401, 401]
    assert zsim.token_requests == {ACCOUNT_ID: 2}


def test_secret_token_source_fields_and_unusable_secret(stack, clock):
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    sm = stack.client("secretsmanager")
    sm.create_secret(
        Name="p/main/token",
        SecretString=(
            '{"access_token": "tok-123", "api_url": "https://eu01api-www4local.zoom.us/", '
            '"expires_at_epoch": 1727787599.0, "expires_at": "2024-10-01T12:59:59+00:00"}'
        ),
    )
    sm.create_secret(Name="p/empty/token", SecretString='{"access_token": "tok-9"}')
    provider = SecretsProvider(boto3_client=sm)
    token = SecretTokenSource("p/main/token", provider).token()
    assert token == Token("tok-123", "https://eu01api-www4local.zoom.us", 1727787599.0)  # regional base kept
    assert "tok-123" not in repr(token)
    with pytest.raises(TokenUnavailable) as info:  # not a ZoomError: no instance of a run should "fail" on it
        SecretTokenSource("p/empty/token", provider).token()
    assert "p/empty/token" in str(info.value) and "tok-9" not in str(info.value)
    assert "zoomops token refresh" in str(info.value)


# ------------------------------------------------------------------ 429: QPS
@pytest.mark.parametrize(
    "retry_after, expected", [("2", 2.0), (http_date(START + 5), 5.0)], ids=["seconds", "http-date"]
)
def test_qps_429_retry_after_pauses_the_category(zsim, clock, tokens, make_client, retry_after, expected):
    """The client's own 429 path (transport without urllib3 Retry): wait Retry-After, for every thread."""
    frozen = Waits(clock, advance=False)
    limiter = RateLimiter(clock=clock, sleep=frozen)
    client = make_client(tokens, waits=frozen, limiter=limiter, session=plain_session())
    zsim.add_faults(Fault(rate_limit_type="QPS", retry_after=retry_after))
    assert client.get(meetings_path(zsim))["meetings"]
    assert statuses(zsim) == [429, 200]
    assert frozen.waits == [pytest.approx(expected)]
    assert client.stats["throttled"] == 1
    # the pause is the limiter's: another caller sharing it waits too, other categories do not
    assert limiter.acquire("medium") >= expected
    assert limiter.acquire("light") == 0.0


@pytest.mark.parametrize(
    "retry_after, expected", [("2", 2.0), (http_date(START + 5), 5.0)], ids=["seconds", "http-date"]
)
def test_qps_429_retry_after_with_the_default_session(
    zsim, clock, tokens, make_client, transport, retry_after, expected
):
    frozen = Waits(clock, advance=False)
    client = make_client(tokens, waits=frozen)
    zsim.add_faults(Fault(rate_limit_type="QPS", retry_after=retry_after))
    assert client.get(meetings_path(zsim))["meetings"]
    assert transport == []  # the transport did not wait on its own ...
    assert frozen.waits == [pytest.approx(expected)]  # ... the client did, through the shared limiter
    assert client.stats["throttled"] == 1


def test_429_without_headers_backs_off_with_jitter(zsim, clock, tokens, make_client):
    client = make_client(tokens)  # default session: a bare 429 has no Retry-After for urllib3 to act on
    zsim.add_faults(Fault(status=429), Fault(rate_limit_type="QPS"), Fault(status=429))
    assert client.get(meetings_path(zsim))["meetings"]
    assert statuses(zsim) == [429, 429, 429, 200]
    assert client.stats["throttled"] == 3
    w = client.waits.waits
    assert len(w) == 3
    for n, wait in enumerate(w):  # 0.25 s doubling, times a jitter factor in [1, 1.5]
        assert 0.25 * 2**n <= wait <= 0.25 * 2**n * 1.5
    assert clock() - START == pytest.approx(sum(w))  # the waits are real waits (on the fake clock)


def test_429_backoff_applies_the_jitter_factor(zsim, clock, tokens, make_client, monkeypatch):
    factors = iter([1.5, 1.0])
    monkeypatch.setattr(zoom.random, "uniform", lambda a, b: next(factors))
    client = make_client(tokens)
    zsim.add_faults(Fault(status=429), Fault(status=429))
    client.get(meetings_path(zsim))
    assert client.waits.waits == pytest.approx([0.375, 0.5])


def test_429_is_bounded(zsim, tokens, make_client):
    client = make_client(tokens, max_429_retries=3)
    zsim.add_faults(*[Fault(status=429) for _ in range(10)])
    with pytest.raises(ZoomError) as info:
        client.get(meetings_path(zsim))
    assert info.value.status == 429
    assert "still rate limited after 3 waits" in str(info.value)
    assert statuses(zsim) == [429] * 4
    assert len(client.waits.waits) == 3


def test_429_asking_for_a_wait_over_max_wait_gives_up_at_once(zsim, tokens, make_client):
    client = make_client(tokens, session=plain_session(), max_wait=60)
    zsim.add_faults(Fault(rate_limit_type="QPS", retry_after="120"))
    with pytest.raises(ZoomError) as info:
        client.get(meetings_path(zsim))
    assert info.value.status == 429 and "120" in str(info.value)
    assert statuses(zsim) == [429]
    assert client.waits.waits == []


def test_429_backoff_never_exceeds_max_wait(zsim, tokens, make_client, monkeypatch):
    monkeypatch.setattr(zoom.random, "uniform", lambda a, b: 1.4)
    client = make_client(tokens, max_wait=0.3, max_429_retries=6)
    zsim.add_faults(Fault(status=429), Fault(status=429), Fault(status=429))
    assert client.get(meetings_path(zsim))["meetings"]
    assert all(w <= 0.3 for w in client.waits.waits)


def test_sims_own_qps_limit_is_respected_when_the_limiter_is_too_fast(zoom_factory, clock, issued, make_client):
    """A limiter set faster than the account's plan: Zoom's 429s (no Retry-After) are waited out, none leak."""
    sim = zoom_factory(limits={"medium": 5.0}, qps_retry_after=False)
    tokens = StoredToken(clock, issue_token(sim, issued))
    waits = Waits(clock)
    client = make_client(tokens, waits=waits, limiter=RateLimiter({"medium": 1000.0}, clock=clock, sleep=waits))
    for _ in range(12):
        client.get(meetings_path(sim))
    assert sim.throttled > 0 and client.stats["throttled"] == sim.throttled
    assert statuses(sim).count(200) == 12


# ------------------------------------------------------------------ 429: daily limit
@pytest.mark.parametrize(
    "retry_after, resume",
    [
        (None, NEXT_MIDNIGHT),  # the simulator sends the next 00:00 UTC as an HTTP date
        ("2024-10-01T18:30:00Z", datetime(2024, 10, 1, 18, 30, tzinfo=UTC)),  # an ISO time
        ("600", datetime(2024, 10, 1, 12, 10, tzinfo=UTC)),  # seconds
        ("", NEXT_MIDNIGHT),  # no usable header: the next 00:00 UTC
    ],
    ids=["http-date", "iso", "seconds", "no-header"],
)
def test_daily_limit_stops_with_resume_after(zsim, tokens, make_client, retry_after, resume):
    client = make_client(tokens, session=plain_session())
    zsim.add_faults(Fault(rate_limit_type="Daily-limit", retry_after=retry_after))
    with pytest.raises(DailyLimitReached) as info:
        client.get(report_path(DEMO_UUIDS["plain"]))
    assert info.value.resume_after == resume
    assert info.value.category == "heavy" and info.value.status == 429
    assert resume.isoformat(timespec="seconds") in str(info.value)
    assert statuses(zsim) == [429]  # no further request: it stops instead of spinning
    assert client.waits.waits == []


def test_daily_limit_without_retry_after_uses_next_utc_midnight_at_year_end(zsim, clock, tokens, make_client):
    clock.set(datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
    tokens._cached = None
    tokens.stored = issue_token(zsim)
    client = make_client(tokens, session=plain_session())
    zsim.add_faults(Fault(rate_limit_type="Daily-limit", retry_after=""))
    with pytest.raises(DailyLimitReached) as info:
        client.get(report_path(DEMO_UUIDS["plain"]))
    assert info.value.resume_after == datetime(2025, 1, 1, tzinfo=UTC)


def test_simulated_daily_cap_stops_heavy_work(zoom_factory, clock, issued, make_client):
    sim = zoom_factory(daily_limit=2)
    tokens = StoredToken(clock, issue_token(sim, issued))
    client = make_client(tokens, session=plain_session())
    for uuid in LECTURE_UUIDS[:2]:
        assert client.get(report_path(uuid))["participants"]
    with pytest.raises(DailyLimitReached) as info:
        client.get(report_path(LECTURE_UUIDS[2]))
    assert info.value.resume_after == NEXT_MIDNIGHT
    assert statuses(sim) == [200, 200, 429]
    # light and medium work goes on
    assert client.get("/users/me")["email"]


def test_daily_limit_with_the_default_session_stops_at_once(zoom_factory, clock, issued, make_client, transport):
    sim = zoom_factory(daily_limit=0)
    tokens = StoredToken(clock, issue_token(sim, issued))
    client = make_client(tokens)
    with pytest.raises(DailyLimitReached) as info:
        client.get(report_path(DEMO_UUIDS["plain"]))
    assert info.value.resume_after == NEXT_MIDNIGHT
    assert statuses(sim) == [429]  # (today: 4 requests, and urllib3 slept 43,200 s before each retry)
    assert transport == []


# ------------------------------------------------------------------ 5xx, dropped connections, timeouts
def test_5xx_then_success(zsim, tokens, make_client, transport):
    client = make_client(tokens)
    zsim.add_faults(Fault(status=503), Fault(status=500), Fault(status=502))
    assert client.get("/users/me")["email"]
    assert statuses(zsim) == [503, 500, 502, 200]
    # urllib3's backoff (0.5 s factor, 0.5 s jitter), bounded by max_wait; the first retry is immediate
    assert len(transport) == 2 and all(0 < s <= 60 for s in transport)


def test_5xx_is_bounded(zsim, tokens, make_client, transport):
    client = make_client(tokens, attempts=3)
    zsim.add_faults(*[Fault(status=500) for _ in range(6)])
    with pytest.raises(ZoomError) as info:
        client.get("/users/me")
    assert info.value.status == 500
    assert statuses(zsim) == [500] * 3
    assert len(transport) <= 2


def test_dropped_connection_is_retried(zsim, tokens, make_client):
    client = make_client(tokens)
    zsim.add_faults(Fault(drop=True))
    assert client.get("/users/me")["email"]
    assert len(zsim.api_requests) == 2


def test_read_timeout_is_retried_and_bounded(zsim, tokens, make_client):
    client = make_client(tokens, read_timeout=0.15, attempts=2)
    zsim.add_faults(Fault(delay=0.4))
    started = time.monotonic()
    assert client.get("/users/me")["email"]
    zsim.add_faults(Fault(delay=0.4), Fault(delay=0.4))
    with pytest.raises(ZoomError) as info:
        client.get("/users/me")
    assert info.value.status is None and "after retries" in str(info.value)
    assert len(zsim.api_requests) == 4  # 2 + 2: bounded
    assert time.monotonic() - started < 2.0


def test_connection_refused_is_bounded(clock, make_client, transport):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = StoredToken(clock, {"access_token": "t", "api_url": f"http://127.0.0.1:{port}", "expires_in": 3599})
    client = make_client(source, attempts=3)
    with pytest.raises(ZoomError) as info:
        client.get("/users/me")
    assert info.value.status is None and "ConnectionError" in str(info.value)
    assert len(transport) <= 2


def test_other_errors_carry_zooms_code_and_message(zsim, tokens, make_client):
    client = make_client(tokens)
    with pytest.raises(ZoomError) as info:
        client.get("/users/nobody@nowhere.example/meetings")
    assert info.value.status == 404 and info.value.code == 1001
    assert "User does not exist" in str(info.value)
    assert statuses(zsim) == [404]  # a 4xx is not retried


# ------------------------------------------------------------------ pagination
def test_paginate_page_size_2_yields_every_item_once(zsim, tokens, make_client):
    for n in range(5):
        zsim.add_user(ACCOUNT_ID, email=f"extra{n}@campus.example.edu")
    client = make_client(tokens)
    users = list(client.paginate("/users", "users", params={"status": "active"}, page_size=2))
    assert len(users) == 7 and len({u["id"] for u in users}) == 7
    sent = zsim.api_requests
    assert len(sent) == 4
    assert all(r["query"]["page_size"] == "2" and r["query"]["status"] == "active" for r in sent)
    assert "next_page_token" not in sent[0]["query"]
    assert all(r["query"]["next_page_token"] for r in sent[1:])
    assert len({r["query"].get("next_page_token") for r in sent}) == 4


def test_paginate_caps_page_size_at_300(zsim, tokens, make_client):
    for n in range(648):
        zsim.add_user(ACCOUNT_ID, email=f"student{n}@students.campus.example.edu")
    client = make_client(tokens)
    ids = [u["id"] for u in client.paginate("/users", "users", page_size=1000)]
    assert len(ids) == 650 and len(set(ids)) == 650
    sent = zsim.api_requests
    assert [r["query"]["page_size"] for r in sent] == [str(MAX_PAGE_SIZE)] * 3
    assert all(r["status"] == 200 for r in sent)


def test_paginate_registrants_default_page_size(zsim, tokens, make_client):
    client = make_client(tokens)
    rows = list(client.paginate(f"/meetings/{zsim.demo['meetings']['lecture']}/registrants", "registrants"))
    assert sorted(r["email"] for r in rows) == [
        "s1001@students.campus.example.edu",
        "s1002@students.campus.example.edu",
        "s1003@students.campus.example.edu",
    ]
    assert [r["query"]["page_size"] for r in zsim.api_requests] == ["300"]


def test_paginate_empty_list(zsim, tokens, make_client):
    client = make_client(tokens)
    path = f"/past_meetings/{quote_uuid(DEMO_UUIDS['single_participant'])}/participants"
    assert list(client.paginate(path, "participants")) == []
    assert len(zsim.api_requests) == 1


# ------------------------------------------------------------------ UUIDs end to end
@pytest.mark.parametrize("kind", ["leading_slash", "double_slash", "plain"])
def test_instances_are_found_with_quote_uuid(zsim, tokens, make_client, kind):
    client = make_client(tokens)
    uuid = DEMO_UUIDS[kind]
    past = list(client.paginate(f"/past_meetings/{quote_uuid(uuid)}/participants", "participants"))
    report = list(client.paginate(report_path(uuid), "participants"))
    assert len(past) >= 3 and len(report) == len(past)
    raw = zsim.api_requests[0]["path"]
    assert ("%252F" in raw) == (kind != "plain")


def test_single_encoded_slash_uuid_is_not_found(zsim, tokens, make_client):
    """The control: without the double encoding Zoom (and the simulator) cannot route the UUID."""
    from urllib.parse import quote

    client = make_client(tokens)
    with pytest.raises(ZoomError) as info:
        client.get(f"/past_meetings/{quote(DEMO_UUIDS['leading_slash'], safe='')}/participants")
    assert info.value.status == 404


def test_instance_listing_round_trip(zsim, tokens, make_client):
    client = make_client(tokens)
    listed = client.get(f"/past_meetings/{zsim.demo['meetings']['lecture']}/instances")["meetings"]
    assert [m["uuid"] for m in listed] == LECTURE_UUIDS
    for m in listed:
        assert client.get(f"/past_meetings/{quote_uuid(m['uuid'])}/participants")["participants"]


# ------------------------------------------------------------------ consumers never call OAuth
def test_consumers_never_call_the_oauth_endpoint(zsim, clock, tokens, make_client, issued):
    assert zsim.token_requests == {ACCOUNT_ID: 1}  # the fixture's own request
    clients = [make_client(tokens) for _ in range(3)]
    for client in clients:
        client.get("/users/me")
        list(client.paginate("/users", "users", page_size=1))
        for uuid in LECTURE_UUIDS:
            list(client.paginate(report_path(uuid), "participants", page_size=2))
    zsim.add_faults(Fault(status=503), Fault(status=429), Fault(rate_limit_type="QPS", retry_after="1"))
    clients[0].get("/users/me")
    zsim.revoke_tokens()
    tokens.stored = issue_token(zsim, issued)  # the test's (token_refresh's) second request
    clients[1].get("/users/me")  # 401 -> re-read the stored token, never the OAuth endpoint
    clock.advance(4000)  # and even with every token expired: 401s, a clear error, no OAuth call
    with pytest.raises(ZoomError):
        clients[2].get("/users/me")
    assert len(zsim.api_requests) >= 38
    assert zsim.token_requests == {ACCOUNT_ID: 2}


# ------------------------------------------------------------------ threads, real clock
def test_shared_rate_limiter_keeps_threads_under_zooms_medium_limit():
    """4 threads x 6 Medium calls through one client: the simulator's 20/s bucket never says 429."""
    with ZoomSimulator(limits={"medium": 20.0}) as sim:  # real clock
        sim.add_account(ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET)
        seed_demo(sim, ACCOUNT_ID)
        body = issue_token(sim)
        path = "/users/DemoInstructorAda00001/meetings"  # Medium
        headers = {"Authorization": f"Bearer {body['access_token']}"}

        # control: 4 threads x 8 calls at once, without the limiter, do trip the limit
        def burst(_) -> list[int]:
            with requests.Session() as session:
                return [
                    session.get(f"{sim.base_url}/v2{path}", headers=headers, timeout=5).status_code for _ in range(8)
                ]

        with ThreadPoolExecutor(4) as pool:
            codes = [code for codes in pool.map(burst, range(4)) for code in codes]
        assert 429 in codes and sim.throttled > 0
        sim.reset()  # full buckets again

        source = StoredToken(time.time, body)
        client = ZoomClient(source, limiter=RateLimiter({"medium": 20.0}))
        barrier = threading.Barrier(4)

        def work(_) -> int:
            barrier.wait()
            return sum(1 for _ in range(6) if client.get(path)["meetings"])

        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            done = sum(pool.map(work, range(4)))
        elapsed = time.monotonic() - started
        client.close()
        assert done == 24
        assert sim.throttled == 0 and client.stats["throttled"] == 0
        assert statuses(sim) == [200] * 24
        assert elapsed >= 23 / 20 - 0.05  # spaced at 1/rate across the threads


# ------------------------------------------------------------------ no secret anywhere
def test_no_token_secret_or_authorization_header_anywhere(
    stack, zoom_factory, clock, issued, make_client, caplog, sdk_log_guard
):
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    sdk_log_guard()  # what the runtime does first: botocore logs whole Secrets Manager calls at DEBUG
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    def capture(call) -> None:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - every failure's text is searched
            texts.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc))])
        else:
            texts.append("ok")

    sim = zoom_factory(daily_limit=1)
    tokens = StoredToken(clock, issue_token(sim, issued))
    client = make_client(tokens, attempts=2, max_429_retries=1)
    capture(lambda: client.get("/users/me"))
    capture(lambda: list(client.paginate("/users", "users", page_size=1)))
    capture(lambda: client.get(report_path(DEMO_UUIDS["plain"])))
    capture(lambda: client.get(report_path(DEMO_UUIDS["pair"])))  # daily limit
    sim.add_faults(Fault(status=500), Fault(status=500))
    capture(lambda: client.get("/users/me"))
    sim.add_faults(Fault(status=429), Fault(status=429))
    capture(lambda: client.get("/users/me"))
    sim.add_faults(Fault(status=403, body={"code": 200, "message": "No permission."}))
    capture(lambda: client.get("/users/me"))
    sim.revoke_tokens()
    capture(lambda: client.get("/users/me"))  # 401 twice

    # the secret-backed source: a token secret that lacks a field, and one that works
    sm = stack.client("secretsmanager")
    good = issue_token(sim, issued)
    sm.create_secret(
        Name="p/main/token",
        SecretString=(
            f'{{"access_token": "{good["access_token"]}", "api_url": "{sim.base_url}", '
            f'"expires_at_epoch": {START + 3599}}}'
        ),
    )
    sm.create_secret(Name="p/broken/token", SecretString=f'{{"access_token": "{good["access_token"]}"}}')
    provider = SecretsProvider(boto3_client=sm)
    broken = SecretTokenSource("p/broken/token", provider)
    capture(lambda: make_client(broken).get("/users/me"))
    source = SecretTokenSource("p/main/token", provider)
    secret_client = make_client(source)
    capture(lambda: secret_client.get("/users/me"))
    texts.extend(
        [
            repr(client),
            repr(secret_client),
            repr(source),
            repr(tokens.token()),
            repr(source.token()),
            repr(client.stats),
            repr(client.limiter),
        ]
    )

    assert "ok" in texts and any("DailyLimitReached" in t for t in texts) and any("401" in t for t in texts)
    assert caplog.records  # urllib3 did log at DEBUG: there was something to search
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    forbidden = [CLIENT_SECRET, basic, *issued]
    haystacks = texts + [caplog.text] + [r.getMessage() + repr(r.args) for r in caplog.records]
    for needle in forbidden:
        for hay in haystacks:
            assert needle not in hay
    assert not any("Bearer " in hay for hay in haystacks)
