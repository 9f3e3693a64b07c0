"""The Zoom adapter's pure parts: body mapping, weekday numbering, check(), error mapping (no socket: a stub
client stands in for ZoomClient). Its limits are compared with Zoom's OpenAPI description (the fixture)."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from zoomops.errors import DailyLimitReached, ZoomError
from zoomops.provision.spec import HostDailyLimit, MeetingSpec, PlatformRefused
from zoomops.zoom import meetings
from zoomops.zoom.meetings import ZoomMeetings, count_days, series_days, weekly_days, zoom_weekday

OPS = json.loads((Path(__file__).parents[1] / "fixtures" / "zoom_openapi_subset.json").read_text())["operations"]
CREATE, UPDATE = "POST /users/{userId}/meetings", "PATCH /meetings/{meetingId}"
HOST = "prof.ada@campus.example.edu"
MIDNIGHT = datetime(2026, 9, 8, tzinfo=UTC)


class StubClient:
    """Answers from a script; records calls. Raises what it is given."""

    def __init__(self, *, answer=None, listing=(), raises: Exception | None = None, meeting=None):
        self.answer, self.listing, self.raises, self.meeting = answer, list(listing), raises, meeting or {}
        self.calls: list[tuple] = []

    def call(self, method, path, *, params=None, json=None):
        self.calls.append((method, path, json))
        if self.raises is not None:
            raise self.raises
        return self.answer

    def get(self, path, params=None):
        self.calls.append(("GET", path, params))
        return self.meeting

    def paginate(self, path, key, params=None, page_size=300):
        self.calls.append(("LIST", path, params))
        if self.raises is not None:
            raise self.raises
        yield from self.listing


def spec(**changes) -> MeetingSpec:
    base = MeetingSpec(
        key="k",
        line=2,
        host=HOST,
        topic="CS101",
        start=datetime(2026, 9, 7, 9),
        timezone="America/New_York",
        duration=60,
    )
    return dataclasses.replace(base, **changes)


def weekly(**changes) -> MeetingSpec:
    return spec(**{"weekdays": (1, 3), "until": date(2026, 12, 9), **changes})


def zoom(**stub) -> ZoomMeetings:
    return ZoomMeetings(StubClient(**stub))  # type: ignore[arg-type]


# ------------------------------------------------------------------ weekdays
@pytest.mark.parametrize(("iso", "zoom_day"), [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 1)])
def test_iso_weekdays_become_zoom_days(iso, zoom_day):
    assert zoom_weekday(iso) == zoom_day


def test_weekly_days_are_sorted_unique_and_comma_separated():
    assert weekly_days((7, 1, 3, 1)) == "1,2,4"  # Sun, Mon, Wed


# ------------------------------------------------------------------ body
def test_single_meeting_body():
    assert zoom().body(spec()) == {
        "topic": "CS101",
        "type": 2,
        "start_time": "2026-09-07T09:00:00",
        "timezone": "America/New_York",
        "duration": 60,
        "settings": {"alternative_hosts": ""},
    }


def test_settings_and_agenda():
    body = zoom().body(
        spec(waiting_room=False, auto_recording="none", alternative_hosts=("a@x.edu", "b@x.edu"), extra={"agenda": "A"})
    )
    assert body["settings"] == {"alternative_hosts": "a@x.edu;b@x.edu", "waiting_room": False, "auto_recording": "none"}
    assert body["agenda"] == "A"


@pytest.mark.parametrize(
    ("until", "tz", "end"),
    [
        (date(2026, 10, 28), "America/New_York", "2026-10-29T03:59:59Z"),  # EDT
        (date(2026, 12, 9), "America/New_York", "2026-12-10T04:59:59Z"),  # EST
        (date(2026, 12, 9), "Asia/Tokyo", "2026-12-09T14:59:59Z"),
        (date(2026, 12, 9), "UTC", "2026-12-09T23:59:59Z"),
    ],
)
def test_weekly_until_ends_at_the_end_of_the_local_day(until, tz, end):
    body = zoom().body(weekly(until=until, timezone=tz))
    assert body["type"] == 8
    assert body["recurrence"] == {"type": 2, "repeat_interval": 1, "weekly_days": "2,4", "end_date_time": end}


def test_weekly_by_occurrences():
    body = zoom().body(weekly(until=None, occurrences=12, weekdays=(5,)))
    assert body["recurrence"] == {"type": 2, "repeat_interval": 1, "weekly_days": "6", "end_times": 12}


def test_no_passcode_is_ever_sent():
    body = json.dumps(zoom().body(weekly(waiting_room=True, auto_recording="cloud")))
    assert "password" not in body and "passcode" not in body


# ------------------------------------------------------------------ check: every rule
RULES = [
    (spec(host=""), "host", "required"),
    (spec(host="me"), "host", "app's owner"),
    (spec(host="prof ada"), "host", "not an email address or a Zoom user ID"),
    (spec(topic="  "), "topic", "required"),
    (spec(topic="x" * 201), "topic", "at most 200"),
    (spec(extra={"agenda": "x" * 2001}), "agenda", "at most 2000"),
    (spec(extra={"room": "B12"}), "room", "not a Zoom meeting field"),
    (spec(timezone="Eastern"), "timezone", "not a timezone ID"),
    (spec(start=datetime(2026, 9, 7, 9, tzinfo=UTC)), "start", "without an offset"),
    (spec(start=datetime(2026, 3, 8, 2, 30)), "start", "does not exist on 2026-03-08"),
    (weekly(start=datetime(2026, 3, 1, 2, 30), weekdays=(7,)), "start", "does not exist on 2026-03-08"),
    (spec(duration=0), "duration", "at least 1"),
    (spec(until=date(2026, 12, 9)), "weekdays", "belong to a weekly series"),
    (spec(occurrences=3), "weekdays", "belong to a weekly series"),
    (weekly(weekdays=(1, 8)), "weekdays", "not weekdays"),
    (weekly(occurrences=4), "occurrences", "not both"),
    (weekly(until=None), "until", "needs its last day"),
    (weekly(until=None, occurrences=0), "occurrences", "1 to 60"),
    (weekly(until=None, occurrences=61), "occurrences", "1 to 60"),
    (weekly(until=date(2026, 9, 1)), "until", "would be empty"),
    (weekly(until=date(2027, 6, 30)), "until", "has 86 meetings; Zoom allows at most 60"),
    (spec(auto_recording="always"), "auto_recording", "none, local or cloud"),
    (spec(waiting_room="yes"), "waiting_room", "true or false"),
    (spec(alternative_hosts=("a@x.edu;b@x.edu",)), "alternative_hosts", "not an email address"),
]


@pytest.mark.parametrize(("row", "field", "reason"), RULES, ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(RULES)])
def test_check_names_the_field_and_the_reason(row, field, reason):
    problems = zoom().check(row)
    assert [r for f, r in problems if f == field and reason in r], problems


@pytest.mark.parametrize(
    "row",
    [
        spec(),
        spec(host="KdYKjnimT4KPd8FFgQt9FQ", alternative_hosts=("ta@x.edu", "Xy_z-12")),
        spec(start=datetime(2026, 11, 1, 1, 30)),  # happens twice (clocks go back): Zoom can take it
        weekly(),
        weekly(until=None, occurrences=60),
        weekly(weekdays=(1,), until=date(2026, 9, 7) + timedelta(weeks=59)),  # exactly 60 Mondays
        spec(extra={"agenda": "x" * 2000, "room": ""}),
    ],
)
def test_valid_rows_pass(row):
    assert zoom().check(row) == []


def test_limits_are_zooms_documented_ones():
    for op in (CREATE, UPDATE):
        body = OPS[op]["request_body"]["properties"]
        assert body["topic"]["maxLength"] == meetings.TOPIC_MAX
        assert body["agenda"]["maxLength"] == meetings.AGENDA_MAX
        assert body["recurrence"]["properties"]["end_times"]["maximum"] == meetings.MAX_OCCURRENCES
        settings = body["settings"]["properties"]
        assert sorted(settings["auto_recording"]["enum"]) == sorted(meetings.AUTO_RECORDING)
        assert settings["alternative_hosts"]["type"] == "string"  # "A semicolon-separated list": not an array
        assert "password" in body  # documented, and deliberately never sent


def test_counting_and_walking_a_series_agree():
    rng = random.Random(7)
    for _ in range(300):
        days = tuple(rng.sample(range(1, 8), rng.randint(1, 7)))
        first = date(2026, 1, 1) + timedelta(days=rng.randint(0, 365))
        last = first + timedelta(days=rng.randint(-3, 200))
        row = weekly(start=datetime.combine(first, datetime.min.time()), weekdays=days, until=last)
        assert count_days(first, last, days) == len(series_days(row, limit=10_000))


# ------------------------------------------------------------------ errors and answers (stub client)
def test_a_create_keeps_nothing_secret():
    answer = {
        "id": 85746065432,
        "join_url": "https://zoom.us/j/85746065432?pwd=Secr3tEncrypted.1",
        "start_url": "https://zoom.us/s/85746065432?zak=eyJ.secret",
        "password": "Pa55code",
        "h323_password": "123456",
        "pstn_password": "123456",
        "encrypted_password": "Secr3tEncrypted.1",
    }
    made = zoom(answer=answer).create(spec())
    assert made.meeting_id == "85746065432" and made.join_url == "https://zoom.us/j/85746065432"
    text = repr(made)
    assert not any(str(answer[k]) in text for k in ("start_url", "password", "encrypted_password", "h323_password"))


def test_a_create_answer_without_an_id_is_an_error():
    with pytest.raises(ZoomError, match="no meeting id"):
        zoom(answer={"join_url": "https://zoom.us/j/1"}).create(spec())


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (DailyLimitReached("medium", MIDNIGHT), HostDailyLimit),  # create is Medium: only the host's cap is daily
        (DailyLimitReached("heavy", MIDNIGHT, per_user=True), HostDailyLimit),
        (DailyLimitReached("heavy", MIDNIGHT), DailyLimitReached),  # the account's: the job stops
        (
            ZoomError(404, "POST /users/x/meetings: User x not exist or not belong to this account.", 1001),
            PlatformRefused,
        ),
        (ZoomError(400, "POST /users/x/meetings: Validation Failed.", 300), PlatformRefused),
        (ZoomError(400, "POST /users/x/meetings: Invalid access token, does not contain scopes", 4711), ZoomError),
        (ZoomError(401, "POST /users/x/meetings: Invalid access token.", 124), ZoomError),
        (ZoomError(429, "POST /users/x/meetings: still rate limited after 6 waits"), ZoomError),
        (ZoomError(502, "POST /users/x/meetings: Bad Gateway"), ZoomError),
        (ZoomError(None, "POST /users/x/meetings: read timeout"), ZoomError),
    ],
)
def test_error_mapping_on_create(error, expected):
    with pytest.raises(Exception) as info:
        zoom(raises=error).create(spec())
    assert type(info.value) is expected
    if expected is HostDailyLimit:
        assert info.value.host == HOST and info.value.resume_after == MIDNIGHT
    if expected is PlatformRefused:
        assert info.value.status == error.status and f"(code {error.code})" in str(info.value)


def test_a_daily_limit_while_recovering_stops_the_job():
    with pytest.raises(DailyLimitReached):
        zoom(raises=DailyLimitReached("medium", MIDNIGHT)).recover(spec())


def test_recover_accepts_either_reading_of_a_repeated_local_time():
    row = spec(start=datetime(2026, 11, 1, 1, 30))  # 01:30 EDT (05:30Z) and 01:30 EST (06:30Z)
    for utc in ("2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"):
        listed = {"id": 81234567890, "topic": "CS101", "type": 2, "start_time": utc, "duration": 60}
        stub = StubClient(listing=[listed], meeting={"join_url": "https://zoom.us/j/81234567890?pwd=x"})
        found = ZoomMeetings(stub).recover(row)  # type: ignore[arg-type]
        assert found is not None and found.join_url == "https://zoom.us/j/81234567890"
        assert stub.calls[-1][0] == "GET"  # the list had no join URL: read it
