"""The Zoom provisioning adapter (zoomops.zoom.meetings) against the Zoom simulator on 127.0.0.1.

The simulator checks every body against Zoom's OpenAPI request schema and computes occurrences itself (in the
meeting's timezone), so what it stored is what Zoom would have stored. Time is a FakeClock shared by the
simulator and the client: the per-host daily cap and its resume time are deterministic.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from infra.local.zoom_sim import PROVISIONING_SCOPE, FakeClock, Fault, ZoomSimulator
from tests.testkit import ZoomSimTokens
from zoomops.errors import ZoomError
from zoomops.provision.spec import HostDailyLimit, MeetingSpec, NeedsManualChange, PlatformRefused, Provisioned
from zoomops.zoom.client import RateLimiter, ZoomClient
from zoomops.zoom.meetings import ZoomMeetings

ACCOUNT, CLIENT_ID, CLIENT_SECRET = "campusProvAcct", "prov-s2s-client", "zoom-PROV-secret-93kd"
PROF, TA, GUEST = "prof.ada@campus.example.edu", "ta.alan@campus.example.edu", "guest.grace@campus.example.edu"
NOBODY = "nobody@campus.example.edu"
START = datetime(2026, 8, 20, 12, tzinfo=UTC).timestamp()  # before the term's first class
NY = ZoneInfo("America/New_York")
UNLIMITED = {"light": None, "medium": None, "heavy": None}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def make_sim(clock):
    sims: list[ZoomSimulator] = []

    def make(**kwargs) -> ZoomSimulator:
        sim = ZoomSimulator(clock=clock, limits=UNLIMITED, **kwargs)
        sim.start()
        sim.add_account(ACCOUNT, CLIENT_ID, CLIENT_SECRET, scope=PROVISIONING_SCOPE)
        for user_id, email in (("ProfAda0000000000000001", PROF), ("TaAlan00000000000000002", TA)):
            sim.add_user(ACCOUNT, user_id=user_id, email=email, timezone="America/Chicago")
        sim.add_user(ACCOUNT, user_id="GuestGrace000000000003", email=GUEST)
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.stop()


@pytest.fixture
def sim(make_sim) -> ZoomSimulator:
    return make_sim()


@pytest.fixture
def make_zoom(clock):
    clients: list[ZoomClient] = []

    def make(sim: ZoomSimulator) -> ZoomMeetings:
        tokens = ZoomSimTokens(sim, ACCOUNT, CLIENT_ID, CLIENT_SECRET, clock)
        limiter = RateLimiter(clock=clock, sleep=clock.advance)  # waits move the fake clock: nothing sleeps
        client = ZoomClient(tokens, limiter=limiter, clock=clock, sleep=clock.advance)
        clients.append(client)
        return ZoomMeetings(client)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def zoom(sim, make_zoom) -> ZoomMeetings:
    return make_zoom(sim)


def spec(**changes) -> MeetingSpec:
    row = {"key": "CS101-lecture", "line": 2, "host": PROF, "topic": "CS101 Lecture", "timezone": "America/New_York"}
    return MeetingSpec(**{**row, "start": datetime(2026, 9, 7, 9, 0), "duration": 75, **changes})


def weekly(**changes) -> MeetingSpec:
    return spec(**{"weekdays": (1, 3), "until": date(2026, 11, 11), **changes})


def stored(sim: ZoomSimulator, provisioned: Provisioned) -> dict:
    (meeting,) = [m for m in sim.meetings(ACCOUNT) if str(m["id"]) == provisioned.meeting_id]
    return meeting


def local(utc_text: str) -> datetime:
    return datetime.fromisoformat(utc_text.replace("Z", "+00:00")).astimezone(NY)


def pick(meeting: dict, *keys: str) -> tuple:
    return tuple(meeting[k] for k in keys)


def writes(sim: ZoomSimulator) -> list[tuple[str, str, int]]:
    return [(r["method"], r["path"], r["status"]) for r in sim.api_requests]


# ------------------------------------------------------------------ create
def test_single_meeting_is_stored_as_the_row_says(sim, zoom):
    row = spec(waiting_room=True, auto_recording="cloud", alternative_hosts=(TA, GUEST), extra={"agenda": "Week 1"})
    made = zoom.create(row)
    meeting = stored(sim, made)
    assert pick(meeting, "topic", "type", "timezone", "duration", "agenda") == (
        "CS101 Lecture",
        2,
        NY.key,
        75,
        "Week 1",
    )
    assert meeting["start_time"] == "2026-09-07T13:00:00Z"  # 09:00 EDT
    settings = meeting["settings"]
    assert (settings["waiting_room"], settings["auto_recording"]) == (True, "cloud")
    assert settings["alternative_hosts"] == f"{TA};{GUEST}"
    assert meeting["password"]  # Zoom made the passcode: none was sent ...
    assert made.join_url == f"https://zoom.us/j/{meeting['id']}"  # ... and none is kept, not even in the URL
    assert made.ledger == {"meeting_id": str(meeting["id"]), "host": PROF, "type": 2}
    assert writes(sim) == [("POST", "/v2/users/prof.ada@campus.example.edu/meetings", 201)]


def test_weekly_series_stays_at_nine_local_across_the_dst_change(sim, zoom):
    made = zoom.create(weekly(start=datetime(2026, 10, 19, 9, 0)))  # Mon/Wed, across 2026-11-01 (EDT -> EST)
    meeting = stored(sim, made)
    assert meeting["type"] == 8
    assert meeting["recurrence"]["weekly_days"] == "2,4"  # Zoom: 2 = Monday, 4 = Wednesday
    assert meeting["recurrence"]["end_date_time"] == "2026-11-12T04:59:59Z"  # 23:59:59 EST on the 11th
    starts = [o["start_time"] for o in meeting["occurrences"]]
    edt = [f"2026-10-{day}T13:00:00Z" for day in (19, 21, 26, 28)]
    est = [f"2026-11-{day:02}T14:00:00Z" for day in (2, 4, 9, 11)]  # after the change another UTC hour; the 11th counts
    assert starts == edt + est
    assert {local(s).strftime("%a %H:%M") for s in starts} == {"Mon 09:00", "Wed 09:00"}  # ... the same local hour
    assert made.ledger["type"] == 8


def test_series_by_number_of_meetings(sim, zoom):
    made = zoom.create(weekly(until=None, occurrences=5, weekdays=(6, 7)))  # Sat and Sun
    meeting = stored(sim, made)
    assert meeting["recurrence"]["weekly_days"] == "1,7" and meeting["recurrence"]["end_times"] == 5
    days = [local(o["start_time"]).strftime("%a %d") for o in meeting["occurrences"]]
    assert days == ["Sat 12", "Sun 13", "Sat 19", "Sun 20", "Sat 26"]  # the first listed day on or after the 7th


@pytest.mark.parametrize("iso_day", range(1, 8))
def test_each_weekday_lands_on_that_day(sim, zoom, iso_day):
    made = zoom.create(weekly(weekdays=(iso_day,), until=None, occurrences=2))
    days = {local(o["start_time"]).isoweekday() for o in stored(sim, made)["occurrences"]}
    assert days == {iso_day}


# ------------------------------------------------------------------ check, cross-checked with what Zoom refuses
DOCUMENTED = [  # (row, field): Zoom itself refuses the body (400, code 300)
    (spec(topic="T" * 201), "topic"),
    (spec(extra={"agenda": "a" * 2001}), "agenda"),
    (spec(timezone="Mars/Olympus_Mons"), "timezone"),
    (spec(auto_recording="tape"), "auto_recording"),
    (weekly(until=None, occurrences=61), "occurrences"),
    (weekly(until=date(2027, 6, 30)), "until"),
    (spec(duration=-5), "duration"),
]


@pytest.mark.parametrize(("row", "field"), DOCUMENTED, ids=[f"{f}-{i}" for i, (_, f) in enumerate(DOCUMENTED)])
def test_check_refuses_what_zoom_refuses(sim, zoom, row, field):
    assert field in [name for name, _ in zoom.check(row)]
    with pytest.raises(PlatformRefused) as info:  # sent anyway: Zoom (the simulator) refuses it too
        zoom.create(row)
    assert info.value.status == 400 and "Validation Failed" in str(info.value)
    assert sim.meetings(ACCOUNT) == []


def test_a_series_over_sixty_meetings_is_refused_saying_so(zoom):
    (reason,) = [r for f, r in zoom.check(weekly(until=date(2027, 6, 30))) if f == "until"]
    assert "has 86 meetings" in reason and "at most 60" in reason


def test_a_valid_row_passes_check_and_zoom(sim, zoom):
    for row in (spec(), weekly(), weekly(until=None, occurrences=60)):
        assert zoom.check(row) == []
        zoom.create(row)
    assert len(sim.meetings(ACCOUNT)) == 3


# ------------------------------------------------------------------ update
def test_update_patches_the_meeting_and_keeps_its_join_url(sim, zoom):
    made = zoom.create(spec())
    changed = spec(topic="CS101 Lecture (room change)", start=datetime(2026, 9, 8, 14, 30), duration=50)
    again = zoom.update(dataclasses.replace(changed, auto_recording="local"), made)
    meeting = stored(sim, made)
    assert pick(meeting, "topic", "start_time", "duration") == (
        "CS101 Lecture (room change)",
        "2026-09-08T18:30:00Z",
        50,
    )
    assert meeting["settings"]["auto_recording"] == "local"
    assert (again.meeting_id, again.join_url, again.ledger) == (made.meeting_id, made.join_url, made.ledger)
    assert writes(sim)[1:] == [("PATCH", f"/v2/meetings/{made.meeting_id}", 204)]  # no GET


def test_update_turns_a_single_meeting_into_a_series(sim, zoom):
    made = zoom.create(spec())
    again = zoom.update(weekly(), made)
    meeting = stored(sim, made)
    assert meeting["type"] == 8 and len(meeting["occurrences"]) == 20 and again.ledger["type"] == 8


def test_update_without_a_join_url_reads_it_once(sim, zoom):
    made = zoom.create(spec())
    again = zoom.update(spec(duration=90), dataclasses.replace(made, join_url=""))
    assert again.join_url == made.join_url
    assert [m for m, _, _ in writes(sim)] == ["POST", "PATCH", "GET"]


def test_update_to_another_host_needs_a_manual_change(sim, zoom):
    made = zoom.create(spec())
    with pytest.raises(NeedsManualChange, match="host changed"):
        zoom.update(spec(host=TA), made)
    with pytest.raises(NeedsManualChange):
        zoom.plan(spec(host=TA), made)
    assert len(sim.api_requests) == 1


def test_update_of_a_meeting_deleted_in_zoom_is_refused(zoom):
    gone = Provisioned("89999999999", "https://zoom.us/j/89999999999", ledger={"host": PROF})
    with pytest.raises(PlatformRefused, match="89999999999 no longer exists") as info:
        zoom.update(spec(), gone)
    assert info.value.status == 404


# ------------------------------------------------------------------ recover
def test_recover_finds_the_meeting_whose_answer_was_lost(sim, zoom):
    lost = zoom.create(spec())  # Zoom made it; suppose the job died before writing its ledger
    zoom.create(spec(topic="CS101 Lab"))  # same time, other topic
    zoom.create(spec(start=datetime(2026, 9, 7, 10, 0)))  # same topic, other time
    zoom.create(spec(host=TA))  # same everything, another host
    before = len(sim.meetings(ACCOUNT))
    found = zoom.recover(spec())
    assert found == lost
    assert len(sim.meetings(ACCOUNT)) == before  # looking made nothing
    assert {r["method"] for r in sim.api_requests[4:]} == {"GET"}


def test_recover_finds_a_series_by_its_first_meeting_in_utc(zoom):
    lost = zoom.create(weekly(start=datetime(2026, 10, 18, 9, 0)))  # a Sunday: the series starts Monday the 19th
    assert zoom.recover(weekly(start=datetime(2026, 10, 18, 9, 0))) == lost
    assert zoom.recover(spec(start=datetime(2026, 10, 19, 9, 0))) is None  # a one-off at that time is not it


def test_recover_returns_none_when_the_create_never_happened(sim, zoom):
    zoom.create(spec(topic="Another course"))
    assert zoom.recover(spec()) is None


def test_recover_pages_through_a_host_with_many_meetings(sim, zoom):
    for n in range(320):  # more than one page of 300
        sim.add_meeting(ACCOUNT, meeting_id=81_000_000_000 + n, host_email=PROF, topic="Office hours", type=2)
    lost = zoom.create(spec(start=datetime(2026, 12, 31, 9, 0)))  # listed last: start times sort the list
    assert zoom.recover(spec(start=datetime(2026, 12, 31, 9, 0))) == lost
    assert sum(r["path"].endswith("/meetings") and r["method"] == "GET" for r in sim.api_requests) == 2


def test_recover_refuses_to_pick_between_two_identical_meetings(zoom):
    zoom.create(spec())
    zoom.create(spec())  # e.g. one made by hand with the same topic and time
    with pytest.raises(PlatformRefused, match="2 Zoom meetings"):
        zoom.recover(spec())


# ------------------------------------------------------------------ errors
def test_unknown_host_is_refused_clearly(sim, zoom):
    with pytest.raises(PlatformRefused) as info:
        zoom.create(spec(host=NOBODY))
    assert f"Zoom user {NOBODY} does not exist on this account" in str(info.value)
    assert info.value.status == 404
    with pytest.raises(PlatformRefused, match="does not exist on this account"):
        zoom.recover(spec(host=NOBODY))


@pytest.mark.parametrize("style", ["observed", "documented"])
def test_the_hosts_daily_cap_defers_that_host_until_midnight_utc(make_sim, make_zoom, clock, style):
    sim = make_sim(meeting_daily_cap=2, meeting_cap_style=style)
    zoom = make_zoom(sim)
    made = zoom.create(spec())
    zoom.update(spec(duration=60), made)
    with pytest.raises(HostDailyLimit) as info:
        zoom.create(spec(topic="CS101 Lab"))
    assert info.value.host == PROF
    assert info.value.resume_after == datetime(2026, 8, 21, tzinfo=UTC)
    assert "daily limit of 100" in str(info.value) and "2026-08-21T00:00:00Z" in str(info.value)
    zoom.create(spec(host=TA))  # another host is not held back
    clock.set(info.value.resume_after.timestamp())
    zoom.create(spec(topic="CS101 Lab"))  # the next UTC day
    assert sim.host_daily_count(ACCOUNT, PROF) == 1


def test_the_cap_also_defers_an_update(make_sim, make_zoom):
    sim = make_sim(meeting_daily_cap=1)
    zoom = make_zoom(sim)
    made = zoom.create(spec())
    with pytest.raises(HostDailyLimit):
        zoom.update(spec(duration=60), made)


def test_a_zoom_failure_passes_through_and_a_create_is_not_resent(sim, zoom):
    sim.add_faults(Fault(status=503))
    with pytest.raises(ZoomError) as info:
        zoom.create(spec())
    assert info.value.status == 503 and not isinstance(info.value, PlatformRefused)
    assert len(sim.api_requests) == 1


def test_plan_is_what_a_real_run_sends(sim, zoom):
    (create,) = zoom.plan(weekly(), None)
    assert sim.api_requests == []  # planning calls nobody
    made = zoom.create(weekly())
    assert (create.method, "/v2" + create.url) == writes(sim)[0][:2] and create.body == zoom.body(weekly())
    (patch,) = zoom.plan(weekly(duration=50), made)
    zoom.update(weekly(duration=50), made)
    assert (patch.method, "/v2" + patch.url) == writes(sim)[1][:2]


def test_no_secret_escapes(make_sim, make_zoom, caplog):
    caplog.set_level(logging.DEBUG)
    sim = make_sim(meeting_daily_cap=4)
    zoom = make_zoom(sim)
    made, series = zoom.create(spec()), zoom.create(weekly())
    seen: list[object] = [made, series, zoom.update(spec(duration=60), made)]
    seen.append(zoom.update(weekly(), dataclasses.replace(series, join_url="")))  # a GET: a fresh start_url
    seen += [zoom.recover(spec(duration=60)), zoom.recover(weekly()), zoom.plan(spec(), None)]
    seen += [zoom.plan(spec(), made), zoom.plan(spec(), dataclasses.replace(made, join_url=""))]
    for failing in (lambda: zoom.create(spec()), lambda: zoom.create(spec(host=NOBODY))):
        with pytest.raises(Exception) as info:
            failing()
        seen.append("".join(traceback.format_exception(info.value)))
    issued = sim.issued_secrets()
    assert len(issued) >= 6  # passcodes and start URLs went by ...
    text = repr(seen) + caplog.text
    assert [s for s in issued if s in text] == []  # ... and none stayed
    assert "pwd=" not in text and "zak=" not in text
