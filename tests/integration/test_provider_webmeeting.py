"""The Web Meeting v6 adapter (zoomops.providers.webmeeting) against the strict simulator on 127.0.0.1.

The simulator was written from the same document; besides refusing what the document forbids, it notes
every accepted request that leans on a silence of the document (``undocumented()``), so a clean run
asserts that list is empty.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import asdict, replace
from datetime import UTC, date, datetime

import pytest

from infra.local.webmeeting_sim import Fault, WebMeetingSimulator
from zoomops.errors import Unavailable
from zoomops.http import TransportError
from zoomops.providers.webmeeting import WebMeetingClient, WebMeetings, WebMeetingUnavailable
from zoomops.provision.spec import MeetingSpec, NeedsManualChange, PlatformRefused

KEY = "wm-provider-KEY-9f1c3b7a2e"
HOST = "jane.doe@example.edu"
NOW = datetime(2024, 8, 1, 12, 0, tzinfo=UTC)
READ_TIMEOUT = 0.3


@pytest.fixture(scope="module")
def sim():
    with WebMeetingSimulator(KEY) as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh(sim):
    sim.reset()
    yield
    deadline = time.monotonic() + 5  # a delayed request must not land in the next test's records
    while any(r["status"] is None and not (r["fault"] or {}).get("drop") for r in sim.received):
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    sim.reset()


@pytest.fixture
def client(sim):
    c = WebMeetingClient(KEY, sim.base_url, read_timeout=READ_TIMEOUT, backoff=0.01, max_wait=1)
    yield c
    c.close()


@pytest.fixture
def memory() -> dict:
    return {}


@pytest.fixture
def provider(client, memory):
    return WebMeetings(client, memory, now=lambda: NOW)


def spec(**changes) -> MeetingSpec:
    base = MeetingSpec(
        key="cs101-l1",
        line=2,
        host=HOST,
        topic="CS101 Lecture 1",
        start=datetime(2024, 9, 2, 9, 0),  # Monday 09:00 in Zurich: CEST, UTC+2
        timezone="Europe/Zurich",
        duration=90,
    )
    return replace(base, **changes)


def endpoints(sim) -> list[str]:
    return [r["endpoint"] for r in sim.received]


def remembered(sim, memory, email: str = HOST) -> tuple[str, str]:
    """An organizer the job made on an earlier run: on the platform and in memory."""
    account, user = sim.seed_account(email, "Jane", "Doe")
    memory[email] = {"account_id": account, "user_id": user}
    return account, user


# ---------------------------------------------------------------- create
def test_create_makes_the_organizer_then_the_meeting(sim, provider, memory):
    made = provider.create(spec())
    assert endpoints(sim) == ["create_account", "get_admin", "create_meeting"]
    assert all(r["api_key"] == "valid" and r["status"] == 200 for r in sim.received)
    (organizer,) = sim.organizers()
    assert (organizer["email"], organizer["firstName"], organizer["lastName"]) == (HOST, "jane", "doe")
    assert organizer["sendPassword"] is True and organizer["preferredLanguage"] == "en"
    assert sim.received[0]["body"]["paidUntil"] == "2025-08-01T12:00:00.000Z"  # now + 365 days
    assert sim.received[1]["path"] == f"/api/v6/account/admin/{organizer['accountId']}"
    create = sim.received[2]
    assert create["headers"]["x-user-id"] == organizer["id"]
    assert create["headers"]["content-type"] == "application/json"
    (meeting,) = sim.meetings()
    assert (meeting["topic"], meeting["duration"], meeting["timezone"]) == ("CS101 Lecture 1", "90", "Europe/Zurich")
    assert (meeting["startTime"], meeting["endTime"]) == ("2024-09-02T07:00:00.000Z", "2024-09-02T08:30:00.000Z")
    assert (meeting["isRecurring"], meeting["isRecorded"], meeting["type"]) == (False, False, "standard")
    assert meeting["addedByUserId"] == organizer["id"]
    assert made.meeting_id == meeting["id"] and made.join_url == ""
    assert made.extra == {
        "meeting_number": meeting["meetingId"],
        "organizer": HOST,
        "organizer_account_id": organizer["accountId"],
        "organizer_user_id": organizer["id"],
    }
    assert made.ledger == {
        "id": meeting["id"],
        "organizer": HOST,
        "account_id": organizer["accountId"],
        "user_id": organizer["id"],
    }
    assert memory == {HOST: {"account_id": organizer["accountId"], "user_id": organizer["id"]}}
    assert sim.undocumented() == []  # nothing sent leaned on a silence of the document


@pytest.mark.parametrize(
    "start, duration, expected",
    [
        (datetime(2024, 10, 27, 1, 30), 120, ("2024-10-26T23:30:00.000Z", "2024-10-27T01:30:00.000Z")),
        (datetime(2024, 10, 27, 2, 30), 30, ("2024-10-27T00:30:00.000Z", "2024-10-27T01:00:00.000Z")),
        (datetime(2024, 3, 31, 1, 30), 60, ("2024-03-31T00:30:00.000Z", "2024-03-31T01:30:00.000Z")),
    ],
)
def test_meetings_across_a_dst_change_last_their_real_minutes(sim, provider, start, duration, expected):
    provider.create(spec(start=start, duration=duration))
    (meeting,) = sim.meetings()
    assert (meeting["startTime"], meeting["endTime"]) == expected
    assert sim.undocumented() == []  # duration matches endTime - startTime


def test_organizer_names_come_from_the_extra_columns(sim, provider):
    provider.create(
        spec(host="e0123456@u.nus.edu", extra={"organizer_firstname": "Tan", "organizer_lastname": "Ah Kow"})
    )
    provider.create(spec(host="e7654321@u.nus.edu"))
    first, second = sim.organizers()
    assert (first["firstName"], first["lastName"]) == ("Tan", "Ah Kow")
    assert (second["firstName"], second["lastName"]) == ("e7654321", "")  # no dot in the local part


def test_cloud_recording_is_is_recorded(sim, provider):
    provider.create(spec(auto_recording="cloud"))
    assert sim.meetings()[0]["isRecorded"] is True


def test_second_meeting_of_an_organizer_makes_no_account(sim, provider, memory):
    first = provider.create(spec())
    second = provider.create(spec(key="cs101-l2", topic="CS101 Lecture 2", host="Jane.Doe@Example.EDU"))
    assert endpoints(sim) == ["create_account", "get_admin", "create_meeting", "create_meeting"]
    assert len(sim.accounts()) == 1 and len(memory) == 1
    assert second.ledger["user_id"] == first.ledger["user_id"]
    assert sim.received[-1]["headers"]["x-user-id"] == first.ledger["user_id"]


def test_memory_from_an_earlier_run_is_used(sim, client, memory):
    _, user = remembered(sim, memory)
    WebMeetings(client, memory).create(spec())  # a new adapter: the job loaded memory with its ledger
    assert endpoints(sim) == ["create_meeting"]
    assert sim.received[0]["headers"]["x-user-id"] == user


def test_account_made_but_admin_lookup_failed_is_resumed_without_a_second_account(sim, provider, memory):
    sim.add_faults(*[Fault(status=503, endpoint="get_admin")] * 3)  # every attempt of the lookup
    with pytest.raises(WebMeetingUnavailable) as caught:
        provider.create(spec())
    assert caught.value.status == 503 and not caught.value.maybe_created
    (account,) = sim.accounts()
    assert memory == {HOST: {"account_id": account["id"], "user_id": None}}
    provider.create(spec())
    assert endpoints(sim)[-2:] == ["get_admin", "create_meeting"]
    assert len(sim.accounts()) == 1 and memory[HOST]["user_id"] == account["adminUserId"]


# ---------------------------------------------------------------- an organizer outside memory
def test_existing_email_outside_memory_fails_the_row_with_the_adoption_reason(sim, provider, memory):
    sim.seed_account(HOST, "Jane", "Doe")
    with pytest.raises(PlatformRefused) as caught:
        provider.create(spec())
    message = str(caught.value)
    assert caught.value.status == 409
    assert HOST in message and "Organizer Account ID" in message and "Organizer User ID" in message
    assert "Account already exists" in message  # the platform's own words too
    assert endpoints(sim) == ["create_account"] and sim.meetings() == [] and memory == {}


def test_adopting_by_account_id_reads_the_admin_and_remembers_it(sim, provider, memory):
    account, user = sim.seed_account(HOST, "Jane", "Doe")
    made = provider.create(spec(extra={"organizer_account_id": account}))
    assert endpoints(sim) == ["get_admin", "create_meeting"]
    assert made.ledger["user_id"] == user and memory == {HOST: {"account_id": account, "user_id": user}}
    provider.create(spec(key="second", extra={"organizer_account_id": account}))
    assert endpoints(sim)[-1:] == ["create_meeting"]  # remembered: no second lookup


def test_adopting_by_user_id_is_remembered_once_the_platform_took_it(sim, provider, memory):
    _, user = sim.seed_account(HOST, "Jane", "Doe")
    provider.create(spec(extra={"organizer_user_id": user}))
    assert endpoints(sim) == ["create_meeting"] and sim.received[0]["headers"]["x-user-id"] == user
    assert memory == {HOST: {"account_id": None, "user_id": user}}
    provider.create(spec(key="second"))
    assert endpoints(sim) == ["create_meeting", "create_meeting"]


def test_a_wrong_adopted_user_id_fails_the_row_and_is_not_remembered(sim, provider, memory):
    with pytest.raises(PlatformRefused) as caught:
        provider.create(spec(extra={"organizer_user_id": "0" * 24}))
    assert caught.value.status == 404 and "no user with id" in str(caught.value)
    assert memory == {}


def test_adopting_an_account_whose_admin_is_someone_else_is_refused(sim, provider, memory):
    account, _ = sim.seed_account("someone.else@example.edu")
    with pytest.raises(PlatformRefused) as caught:
        provider.create(spec(extra={"organizer_account_id": account}))
    assert f"account {account}'s admin is not {HOST}" in str(caught.value) and "Organizer User ID" in str(caught.value)
    assert endpoints(sim) == ["get_admin"] and memory == {}


# ---------------------------------------------------------------- update
def test_a_changed_row_is_put_to_its_meeting(sim, provider):
    made = provider.create(spec())
    changed = spec(topic="CS101 Lecture 1 (moved)", start=datetime(2024, 9, 3, 14, 0), duration=60)
    updated = provider.update(changed, made)
    put = sim.received[-1]
    assert (put["method"], put["path"]) == ("PUT", f"/api/v6/meeting/{made.meeting_id}/false")
    assert put["headers"]["x-user-id"] == made.ledger["user_id"] and put["body"]["id"] == made.meeting_id
    (meeting,) = sim.meetings()
    assert (meeting["topic"], meeting["startTime"], meeting["endTime"]) == (
        "CS101 Lecture 1 (moved)",
        "2024-09-03T12:00:00.000Z",
        "2024-09-03T13:00:00.000Z",
    )
    assert meeting["icalSequence"] == "1"
    assert updated.meeting_id == made.meeting_id and updated.ledger == made.ledger
    assert sim.undocumented() == []


def test_a_meeting_cannot_move_to_another_organizer(sim, provider):
    made = provider.create(spec())
    before = len(sim.received)
    with pytest.raises(NeedsManualChange) as caught:
        provider.update(spec(host="other@example.edu"), made)
    assert made.meeting_id in str(caught.value) and "other@example.edu" in str(caught.value)
    assert len(sim.received) == before


# ---------------------------------------------------------------- refused before any call
@pytest.mark.parametrize(
    "changes, field, needle",
    [
        ({"weekdays": (1, 3), "until": date(2024, 11, 15)}, "weekdays", "weekly series"),
        ({"weekdays": (1,), "occurrences": 13}, "weekdays", "no weekday field"),
        ({"host": "e0123456"}, "host", "email"),
        ({"topic": "   "}, "topic", "blank"),
        ({"duration": 0}, "duration", "positive"),
        ({"duration": 60.0}, "duration", "whole number"),
        ({"extra": {"module_id": "x"}}, "module_id", "not a Web Meeting field"),
        ({"start": datetime(2024, 3, 31, 2, 30)}, "start", "does not exist in Europe/Zurich"),
        ({"alternative_hosts": ("ta@example.edu",)}, "alternative_hosts", "no alternative hosts"),
        ({"waiting_room": True}, "waiting_room", "no waiting room"),
        ({"auto_recording": "local"}, "auto_recording", "cloud or none"),
        ({"extra": {"organizer_account_id": "../meeting"}}, "organizer_account_id", "Web Meeting id"),
        ({"extra": {"organizer_user_id": "5e94 59c5"}}, "organizer_user_id", "Web Meeting id"),
    ],
)
def test_what_the_document_cannot_take_is_refused_before_any_call(sim, provider, changes, field, needle):
    row = spec(**changes)
    problems = provider.check(row)
    assert any(f == field and needle in reason for f, reason in problems), problems
    with pytest.raises(PlatformRefused) as caught:
        provider.create(row)
    assert f"{field}: " in str(caught.value)
    with pytest.raises(PlatformRefused):
        provider.plan(row, None)
    assert sim.received == []


# ---------------------------------------------------------------- plan
def test_plan_is_what_a_real_run_sends_and_makes_no_call(sim, provider, memory):
    planned = provider.plan(spec(), None)
    assert sim.received == [] and memory == {}
    made = provider.create(spec())
    assert [(p.method, p.body) for p in planned] == [(r["method"], r["body"]) for r in sim.received]
    assert [p.url.replace("{accountId}", made.ledger["account_id"]) for p in planned] == [
        sim.base_url + r["path"] for r in sim.received
    ]
    again = provider.plan(spec(key="second"), None)
    assert [(p.method, p.url) for p in again] == [("POST", sim.base_url + "/api/v6/meeting")]
    (put,) = provider.plan(spec(duration=60), made)
    assert (put.method, put.url, put.body["id"]) == (
        "PUT",
        f"{sim.base_url}/api/v6/meeting/{made.meeting_id}/false",
        made.meeting_id,
    )


# ---------------------------------------------------------------- faults
def test_a_4xx_fails_the_row_with_the_platform_message(sim, provider, memory):
    remembered(sim, memory)
    sim.add_faults(
        Fault(status=400, body={"responseCode": -4, "responseMessage": "Data not valid: topic", "data": None})
    )
    with pytest.raises(PlatformRefused) as caught:
        provider.create(spec())
    assert caught.value.status == 400
    assert "Data not valid: topic" in str(caught.value) and "responseCode -4" in str(caught.value)


def test_a_non_zero_response_code_in_a_200_fails_the_row(sim, provider, memory):
    remembered(sim, memory)
    sim.add_faults(Fault(body={"responseCode": -7, "responseMessage": "Quota exceeded", "data": None}))
    with pytest.raises(PlatformRefused) as caught:
        provider.create(spec())
    assert caught.value.status == 200 and "(responseCode -7): Quota exceeded" in str(caught.value)


def test_a_wrong_key_is_a_401_refusal_naming_no_key(sim, memory):
    wrong = "wm-wrong-KEY-0000000000"
    client = WebMeetingClient(wrong, sim.base_url, read_timeout=READ_TIMEOUT)
    with pytest.raises(PlatformRefused) as caught:
        WebMeetings(client, memory).create(spec())
    client.close()
    assert caught.value.status == 401 and "Invalid API key" in str(caught.value)
    assert wrong not in str(caught.value) and sim.received[0]["api_key"] == "wrong"


def test_a_5xx_on_a_create_is_not_repeated_and_may_need_checking(sim, provider, memory):
    remembered(sim, memory)
    sim.add_faults(Fault(status=502, endpoint="create_meeting"))
    with pytest.raises(WebMeetingUnavailable) as caught:
        provider.create(spec())
    assert isinstance(caught.value, Unavailable) and not isinstance(caught.value, PlatformRefused)
    assert caught.value.status == 502 and caught.value.maybe_created
    assert "may have been applied" in str(caught.value)
    assert endpoints(sim) == ["create_meeting"]


def test_a_5xx_on_account_creation_leaves_nothing_to_remember_and_a_rerun_succeeds(sim, provider, memory):
    sim.add_faults(Fault(status=500, endpoint="create_account"))
    with pytest.raises(WebMeetingUnavailable):
        provider.create(spec())
    assert memory == {} and sim.accounts() == []
    provider.create(spec())
    assert len(sim.meetings()) == 1


def test_a_429_says_when_to_come_back(sim, provider, memory):
    remembered(sim, memory)
    sim.add_faults(Fault(status=429, retry_after="7", endpoint="create_meeting"))
    with pytest.raises(WebMeetingUnavailable) as caught:
        provider.create(spec())
    assert (caught.value.status, caught.value.retry_after, caught.value.maybe_created) == (429, 7.0, False)
    assert endpoints(sim) == ["create_meeting"]


@pytest.mark.parametrize("fault", [Fault(status=503), Fault(drop=True), Fault(delay=2 * READ_TIMEOUT)])
def test_the_admin_lookup_is_retried(sim, provider, fault):
    sim.add_faults(replace(fault, endpoint="get_admin"))
    provider.create(spec())
    assert endpoints(sim) == ["create_account", "get_admin", "get_admin", "create_meeting"]


def test_a_timed_out_create_is_not_repeated_though_the_meeting_was_made(sim, provider, memory):
    remembered(sim, memory)
    sim.add_faults(Fault(delay=2 * READ_TIMEOUT, endpoint="create_meeting"))
    with pytest.raises(WebMeetingUnavailable) as caught:
        provider.create(spec())
    assert caught.value.maybe_created and "read timeout" in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert isinstance(caught.value.__cause__, TransportError)
    deadline = time.monotonic() + 5
    while not sim.meetings() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sim.meetings()) == 1 and endpoints(sim) == ["create_meeting"]  # made once, sent once


def test_a_timed_out_account_creation_then_asks_for_adoption(sim, provider, memory):
    sim.add_faults(Fault(delay=2 * READ_TIMEOUT, endpoint="create_account"))
    with pytest.raises(WebMeetingUnavailable) as caught:
        provider.create(spec())
    assert caught.value.maybe_created and memory == {}
    deadline = time.monotonic() + 5
    while not sim.accounts() and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(PlatformRefused) as again:
        provider.create(spec())
    assert "Organizer Account ID" in str(again.value) and "earlier attempt" in str(again.value)
    account = sim.accounts()[0]["id"]
    provider.create(spec(extra={"organizer_account_id": account}))
    assert len(sim.meetings()) == 1


def test_a_dropped_update_is_not_repeated(sim, provider):
    made = provider.create(spec())
    sim.add_faults(Fault(drop=True, endpoint="update_meeting"))
    with pytest.raises(WebMeetingUnavailable) as caught:
        provider.update(spec(duration=60), made)
    assert caught.value.maybe_created and "connection error" in str(caught.value)
    assert endpoints(sim)[-1:] == ["update_meeting"] and len(sim.received) == 4


def test_nobody_listening(memory):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = WebMeetingClient(KEY, f"http://127.0.0.1:{port}", connect_timeout=0.5, backoff=0.01)
    with pytest.raises(WebMeetingUnavailable) as caught:
        WebMeetings(client, memory).create(spec())
    client.close()
    assert f"127.0.0.1:{port}" in str(caught.value) and KEY not in str(caught.value)


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"data": {"id": "5e945c36b863b82cefdddf54"}}, "without a responseCode"),
        ({"responseCode": 0, "data": {"topic": "x"}}, "answered no meeting id"),
    ],
)
def test_an_unreadable_success_may_have_created_the_meeting(sim, provider, memory, body, needle):
    remembered(sim, memory)
    sim.add_faults(Fault(body=body, endpoint="create_meeting"))
    with pytest.raises(WebMeetingUnavailable) as caught:
        provider.create(spec())
    assert caught.value.maybe_created and needle in str(caught.value)


# ---------------------------------------------------------------- secrets
def test_no_secret_in_any_output(sim, client, memory, caplog):
    """The key never shows, nor the platform's calendar tokens (icsToken): not in results, plans, errors,
    memory, reprs or logs (urllib3's debug lines included)."""
    caplog.set_level(logging.DEBUG)
    provider = WebMeetings(client, memory, now=lambda: NOW)
    outputs: list[str] = [repr(client), repr(provider.plan(spec(), None))]
    made = provider.create(spec())
    outputs += [repr(made), json.dumps(asdict(made)), repr(provider.plan(spec(), made))]
    outputs.append(repr(provider.update(spec(duration=60), made)))
    faults = [Fault(status=400), Fault(status=500), Fault(drop=True), Fault(delay=2 * READ_TIMEOUT)]
    faults += [Fault(body={"responseCode": -1, "responseMessage": f"bad key {KEY}", "data": None})]
    for fault in faults:
        sim.add_faults(replace(fault, endpoint="create_meeting"))
        with pytest.raises(Unavailable) as caught:
            provider.create(spec())
        outputs += [str(caught.value), repr(caught.value), repr(caught.value.__cause__)]
    sim.seed_account("taken@example.edu")
    with pytest.raises(PlatformRefused) as caught:
        provider.create(spec(host="taken@example.edu"))
    outputs += [str(caught.value), json.dumps(memory), caplog.text]
    secrets = [KEY] + [o["icsToken"] for o in sim.organizers()] + [m["icsToken"] for m in sim.meetings()]
    for output in outputs:
        for secret in secrets:
            assert secret not in output
