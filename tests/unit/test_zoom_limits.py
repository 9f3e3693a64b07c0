"""The one Zoom client (zoomops.zoom) against the Zoom simulator over real HTTP on 127.0.0.1.

Time is frozen: the simulator, the client and its rate limiter share one FakeClock, and every wait goes
to a recorder (which may advance that clock) instead of sleeping. urllib3's own Retry sleeps and reads the
time through its module's ``time``: the ``transport`` fixture swaps that for a recorder on the same clock,
so transport retries never really sleep either (and a Retry-After date means the same thing to it).
Only the threaded limiter test runs on the real clock (about a second of work).
"""

from __future__ import annotations

import email.utils
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import requests
import urllib3.util.retry

from infra.local.zoom_sim import DEMO_UUIDS, FakeClock, ZoomSimulator, seed_demo
from zoomops.zoom.client import (
    RateLimiter,
    Token,
    ZoomClient,
    category_of,
    parse_retry_after,
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


def http_date(epoch: float) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


# ------------------------------------------------------------------ pure helpers
@pytest.mark.parametrize(
    "path, category",
    [
        ("/users/me", "light"),
        ("/users", "medium"),
        ("/users/abc/meetings", "medium"),
        ("/past_meetings/123/participants", "medium"),
        ("/past_meetings/123/instances", "medium"),
        ("/meetings/123/registrants", "medium"),
        ("/report/meetings/123/participants", "heavy"),
        ("/metrics/meetings/123/participants", "heavy"),
        ("/something/new", "medium"),
    ],
)
def test_category_of_follows_zoom_categories(path, category):
    assert category_of(path) == category


def test_parse_retry_after_forms():
    assert parse_retry_after(None, START) is None
    assert parse_retry_after("", START) is None
    assert parse_retry_after("7", START) == 7.0
    assert parse_retry_after(" 7 ", START) == 7.0
    assert parse_retry_after(http_date(START + 90), START) == pytest.approx(90.0)
    assert parse_retry_after("2024-10-01T12:05:00Z", START) == pytest.approx(300.0)
    assert parse_retry_after("2024-10-01T12:05:00+00:00", START) == pytest.approx(300.0)
    assert parse_retry_after(http_date(START - 90), START) == 0.0  # a past date: go now, never negative
    assert parse_retry_after("soon", START) is None


@pytest.mark.parametrize(
    "uuid, expected",
    [
        ("/kLm3nOp4QrS5tUv6wXy7A==", "%252FkLm3nOp4QrS5tUv6wXy7A%253D%253D"),  # leading '/': double
        ("Qw8//eRtYuIoPaSdFgHjKl==", "Qw8%252F%252FeRtYuIoPaSdFgHjKl%253D%253D"),  # '//' inside: double
        ("Zx3cVbNmAsDfGhJkLqWeRt==", "Zx3cVbNmAsDfGhJkLqWeRt%3D%3D"),  # plain: once
        ("ab/cd+ef==", "ab%2Fcd%2Bef%3D%3D"),  # a single '/' inside is not special: once
        ("85746065432", "85746065432"),  # a numeric meeting ID is untouched
    ],
)
def test_quote_uuid(uuid, expected):
    assert quote_uuid(uuid) == expected


# ------------------------------------------------------------------ RateLimiter (fake clock)
def test_rate_limiter_spaces_requests_at_one_over_rate(clock):
    frozen = Waits(clock, advance=False)
    limiter = RateLimiter({"medium": 20.0, "heavy": 10.0}, clock=clock, sleep=frozen)
    waited = [limiter.acquire("medium") for _ in range(5)]
    assert waited == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20])
    assert frozen.waits == pytest.approx([0.05, 0.10, 0.15, 0.20])  # no sleep(0) for the free slot
    # categories are independent
    assert limiter.acquire("heavy") == 0.0
    assert limiter.acquire("heavy") == pytest.approx(0.1)
    # a category without a rate is never held back
    assert limiter.acquire("unknown") == 0.0


def test_rate_limiter_with_time_passing(clock):
    waits = Waits(clock)
    limiter = RateLimiter({"light": 30.0}, clock=clock, sleep=waits)
    assert [limiter.acquire("light") for _ in range(4)] == pytest.approx([0.0] + [1 / 30] * 3)
    clock.advance(10)  # idle: no burst credit piles up, but no wait either
    assert limiter.acquire("light") == 0.0
    assert limiter.acquire("light") == pytest.approx(1 / 30)


def test_rate_limiter_pause_holds_back_one_category(clock):
    frozen = Waits(clock, advance=False)
    limiter = RateLimiter({"medium": 20.0, "light": 30.0}, clock=clock, sleep=frozen)
    limiter.pause("medium", 3.0)
    limiter.pause("medium", 1.0)  # a shorter pause does not shorten the longer one
    assert limiter.acquire("medium") == pytest.approx(3.0)
    assert limiter.acquire("medium") == pytest.approx(3.05)
    assert limiter.acquire("light") == 0.0


def test_rate_limiter_default_rates_are_zooms_pro_plan(clock):
    frozen = Waits(clock, advance=False)
    limiter = RateLimiter(clock=clock, sleep=frozen)
    for category, rate in (("light", 30), ("medium", 20), ("heavy", 10)):
        limiter.acquire(category)
        assert limiter.acquire(category) == pytest.approx(1 / rate)


def test_rate_limiter_threads_get_distinct_slots(clock):
    frozen = Waits(clock, advance=False)
    limiter = RateLimiter({"medium": 20.0}, clock=clock, sleep=frozen)
    barrier = threading.Barrier(10)

    def work() -> list[float]:
        barrier.wait()
        return [limiter.acquire("medium") for _ in range(5)]

    with ThreadPoolExecutor(10) as pool:
        waited = [w for ws in pool.map(lambda _: work(), range(10)) for w in ws]
    assert sorted(round(w / 0.05) for w in waited) == list(range(50))  # every slot exactly once


# ------------------------------------------------------------------ basics


# ------------------------------------------------------------------ 401


# ------------------------------------------------------------------ 429: QPS


# ------------------------------------------------------------------ 429: daily limit


# ------------------------------------------------------------------ 5xx, dropped connections, timeouts


# ------------------------------------------------------------------ pagination


# ------------------------------------------------------------------ UUIDs end to end


# ------------------------------------------------------------------ consumers never call OAuth


# ------------------------------------------------------------------ threads, real clock


# ------------------------------------------------------------------ no secret anywhere
