"""The one Zoom client (zoomops.zoom) against the Zoom simulator over real HTTP on 127.0.0.1.

Time is frozen: the simulator, the client and its rate limiter share one FakeClock, and every wait goes
to a recorder (which may advance that clock) instead of sleeping. urllib3's own Retry sleeps and reads the
time through its module's ``time``: the ``transport`` fixture swaps that for a recorder on the same clock,
so transport retries never really sleep either (and a Retry-After date means the same thing to it).
Only the threaded limiter test runs on the real clock (about a second of work).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.local.zoom_sim import FakeClock
from tests.testkit import http_date
from zoomops.zoom.client import (
    RateLimiter,
    category_of,
    parse_retry_after,
    quote_uuid,
)

START = 1_727_784_000.0  # 2024-10-01T12:00:00Z (FakeClock's default)


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


@pytest.fixture
def clock():
    return FakeClock(START)


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
