"""The LumiNUS adapter (zoomops.providers.luminus) against the strict simulator on 127.0.0.1.

Expected bodies are written here from the document (luminus-zoom-conferencing-api.txt). Every schema rule
is refused by ``check()`` before any call (``sim.received == []``); a few are also sent raw to show the
platform refuses the same, in its own words.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from infra.local.luminus_sim import Fault, LuminusSimulator
from zoomops.errors import Unavailable
from zoomops.http import TransportError
from zoomops.providers.luminus import LuminusClient, LuminusManualChange, LuminusMeetings, LuminusUnavailable
from zoomops.provision.spec import MeetingSpec, NeedsManualChange, PlatformRefused

KEY = "7c2d9e4f1a3b5c6d8e0f1a2b3c4d5e6f"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.provider-test-token.c2lnbmF0dXJl"
MODULE = "c0a80121-7ac0-4e1c-8a3e-2f6b1d9e4a55"
LESSON = "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
GROUP, GROUP2 = "0b6f4d1e-2c3a-4b5d-9e8f-7a6b5c4d3e2f", "1c7f5e2a-3d4b-4c6e-8f9a-8b7c6d5e4f3a"
USER = "9d8c7b6a-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
PARENT = "2d8a6f3b-4e5c-4d7f-9a0b-9c8d7e6f5a4b"
CHANNEL = "3e9b7a4c-5f6d-4e8a-8b1c-0d9e8f7a6b5c"
READ_TIMEOUT = 0.3
JSON_PATCH = "application/json-patch+json"


@pytest.fixture(scope="module")
def sim():
    with LuminusSimulator(KEY, bearer_token=TOKEN) as s:
        yield s


def _wait_until_answered(s: LuminusSimulator, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [r for r in s.received if r["status"] is None and not (r["fault"] or {}).get("drop")]:
            return
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def _fresh(sim):
    sim.reset()
    yield
    _wait_until_answered(sim)  # a delayed request must not land in the next test's records
    sim.reset()


@pytest.fixture
def client(sim):
    c = LuminusClient(KEY, sim.base_url, token=TOKEN, read_timeout=READ_TIMEOUT, backoff=0.01)
    yield c
    c.close()


@pytest.fixture
def provider(client):
    return LuminusMeetings(client)


def spec(**changes) -> MeetingSpec:
    base = MeetingSpec(
        key="cs1010-l1",
        line=2,
        host="lecturer@nus.edu.sg",
        topic="CS1010 Lecture 1",
        start=datetime(2024, 8, 12, 10, 0),
        timezone="Asia/Singapore",
        duration=90,
        extra={"module_id": MODULE},
    )
    return replace(base, **changes)


def extra(**cells: str) -> dict[str, str]:
    return {"module_id": MODULE, **cells}


FULL_ROW = spec(
    alternative_hosts=("ta1@nus.edu.sg", "e0123456"),
    waiting_room=True,
    auto_recording="local",
    extra=extra(
        lesson_id=LESSON,
        access_groups=f"{GROUP}:3; {GROUP2} : 1;",
        access_users=f"{USER}:2",
        access_public="6",
        access_inherit=PARENT,
        send_email="yes",
        publish_recording="No",
        mute_upon_entry="true",
        authentication="nus",
        meeting_type="Time table",
        export_multimedia="n",
        channel_id=CHANNEL,
        channel_name="CS1010 recordings",
        publish_channel="Y",
    ),
)
# What the document's "Meeting input to create" should carry for FULL_ROW, field by field.
FULL_BODY = {
    "moduleID": MODULE,
    "lessonID": LESSON,
    "access": {
        "groupAccess": [{"groupID": GROUP, "accessRole": 3}, {"groupID": GROUP2, "accessRole": 1}],
        "userAccess": [{"userID": USER, "accessRole": 2}],
        "publicAccess": 6,
        "inheritedResourceID": PARENT,
    },
    "name": "CS1010 Lecture 1",
    "startDate": "2024-08-12T10:00:00+08:00",
    "duration": 90,
    "isSendEmail": True,
    "isPublishRecordURL": False,
    "isWaitingRoom": True,
    "meetingAuthentication": True,
    "muteUponEntry": True,
    "recordType": 2,
    "authenticationOpt": 1,
    "alternativeHosts": "ta1@nus.edu.sg,e0123456",
    "meetingType": 3,
    "exportMultimediaWeb": False,
    "channelID": CHANNEL,
    "channelName": "CS1010 recordings",
    "publishMutimediaChannel": True,
}


# ---------------------------------------------------------------- create
def test_create_sends_the_documented_body_and_keeps_only_safe_fields(sim, provider):
    made = provider.create(FULL_ROW)
    (request,) = sim.received
    assert (request["method"], request["path"], request["status"]) == ("POST", "/zoom/Meeting", 201)
    assert request["headers"]["content-type"] == JSON_PATCH
    assert request["headers"]["ocp-apim-subscription-key"] == "<redacted>"
    assert request["headers"]["authorization"] == "Bearer <redacted>"
    assert request["body"] == FULL_BODY and list(request["body"]) == list(FULL_BODY)  # the document's order
    (meeting,) = sim.meetings
    start, end = (datetime.fromisoformat(meeting[f]) for f in ("startDate", "endDate"))
    assert (start, end - start) == (datetime(2024, 8, 12, 2, 0, tzinfo=UTC), timedelta(minutes=90))
    assert (meeting["recordType"], meeting["authenticationOpt"], meeting["meetingType"]) == (2, 1, 3)
    assert made.meeting_id == meeting["id"]
    assert made.join_url == f"https://nus-sg.zoom.us/j/{meeting['meetingID']}"  # no pwd=
    assert made.extra == {
        "zoom_meeting_id": meeting["meetingID"],
        "join_url": made.join_url,
        "created_by": meeting["email"],
    }
    assert made.ledger == {
        "id": meeting["id"],
        "zoom_meeting_id": meeting["meetingID"],
        "module_id": MODULE,
        "body": FULL_BODY,
    }


def test_a_minimal_row_sends_only_the_required_fields(sim, provider):
    provider.create(spec())
    assert sim.received[0]["body"] == {
        "moduleID": MODULE,
        "name": "CS1010 Lecture 1",
        "startDate": "2024-08-12T10:00:00+08:00",
        "duration": 90,
    }


def test_cloud_recording_and_no_authentication(sim, provider):
    provider.create(spec(auto_recording="cloud", waiting_room=False, extra=extra(authentication="none")))
    body = sim.received[0]["body"]
    assert (body["recordType"], body["isWaitingRoom"], body["meetingAuthentication"]) == (1, False, False)
    assert "authenticationOpt" not in body


def test_start_date_carries_the_offset_of_the_zone_at_that_time(sim, provider):
    provider.create(spec(timezone="Europe/London", start=datetime(2024, 7, 1, 9, 0)))
    provider.create(spec(timezone="Europe/London", start=datetime(2024, 12, 2, 9, 0)))
    provider.create(spec(timezone="America/New_York", start=datetime(2024, 11, 3, 1, 30)))  # repeated hour: first
    assert [r["body"]["startDate"] for r in sim.received] == [
        "2024-07-01T09:00:00+01:00",
        "2024-12-02T09:00:00+00:00",
        "2024-11-03T01:30:00-04:00",
    ]


def test_without_a_bearer_token_no_authorization_is_sent():
    with LuminusSimulator(KEY) as plain:
        client = LuminusClient(KEY, plain.base_url)
        LuminusMeetings(client).create(spec())
        client.close()
        assert "authorization" not in plain.received[0]["headers"]


# ---------------------------------------------------------------- update, recover, plan
def test_a_changed_row_needs_a_manual_change_and_makes_no_call(sim, provider):
    made = provider.create(spec())
    changed = spec(topic="CS1010 Lecture 1 (moved)", duration=60, extra=extra(meeting_type="exam"))
    for attempt in (provider.update, provider.plan):
        with pytest.raises(LuminusManualChange) as caught:
            attempt(changed, made)
        assert isinstance(caught.value, NeedsManualChange)
        message = str(caught.value)
        assert made.extra["zoom_meeting_id"] in message and made.meeting_id in message and MODULE in message
        assert 'topic (name): "CS1010 Lecture 1" -> "CS1010 Lecture 1 (moved)"' in message
        assert "duration: 90 -> 60" in message and "meeting_type (meetingType): (none) -> 1" in message
        assert caught.value.changes == {
            "name": ("CS1010 Lecture 1", "CS1010 Lecture 1 (moved)"),
            "duration": (90, 60),
            "meetingType": (None, 1),
        }
    assert len(sim.received) == 1  # the create only


def test_an_unchanged_row_needs_nothing(sim, provider):
    made = provider.create(spec())
    assert provider.update(spec(), made) is made and provider.plan(spec(), made) == []
    assert len(sim.received) == 1


def test_recover_cannot_look(sim, provider):
    assert provider.recover(spec()) is None and sim.received == []


def test_plan_is_what_create_sends(sim, provider):
    (planned,) = provider.plan(FULL_ROW, None)
    assert sim.received == []
    provider.create(FULL_ROW)
    assert (planned.method, planned.url, planned.body) == ("POST", sim.endpoint_url, sim.received[0]["body"])


# ---------------------------------------------------------------- every schema rule, refused before any call
def _long(n: int) -> str:
    return "x" * n


REFUSED = [
    # required: moduleID (the others always come from the row)
    pytest.param({"extra": {}}, "module_id", "is required", id="module-missing"),
    pytest.param({"extra": extra(module_id="  ")}, "module_id", "is required", id="module-blank"),
    # format: uuid
    pytest.param({"extra": extra(module_id="CS1010")}, "module_id", "must be a UUID", id="module-code"),
    pytest.param({"extra": extra(module_id="{" + MODULE + "}")}, "module_id", "must be a UUID", id="module-braces"),
    pytest.param({"extra": extra(module_id=MODULE.replace("-", ""))}, "module_id", "UUID", id="module-nohyphens"),
    pytest.param({"extra": extra(module_id=MODULE[:-1] + "g")}, "module_id", "UUID", id="module-nonhex"),
    pytest.param({"extra": extra(lesson_id="lesson-1")}, "lesson_id", "lessonID", id="lesson"),
    pytest.param({"extra": extra(channel_id="channel")}, "channel_id", "channelID", id="channel"),
    pytest.param({"extra": extra(access_inherit="parent")}, "access_inherit", "inheritedResourceID", id="inherit"),
    pytest.param({"extra": extra(access_groups="tutorial-1:1")}, "access_groups", "groupID must be a UUID", id="group"),
    pytest.param({"extra": extra(access_users="e0123456:2")}, "access_users", "userID must be a UUID", id="user"),
    # name: maxLength 200
    pytest.param({"topic": _long(201)}, "topic", "at most 200 characters", id="name-201"),
    pytest.param({"topic": "é" * 201}, "topic", "got 201", id="name-201-characters"),
    # startDate: date-time (a wall-clock time that does not exist has no offset)
    pytest.param(
        {"timezone": "America/New_York", "start": datetime(2024, 3, 10, 2, 30)}, "start", "does not exist", id="dst-gap"
    ),
    # duration: minimum 15, maximum 1485, "0, 15, 30 and 45 mins"
    *[
        pytest.param(
            {"duration": d},
            "duration",
            f"steps of 15 (LumiNUS: up to 24 hrs and 0, 15, 30 or 45 mins), got {d}",
            id=f"duration-{d}",
        )
        for d in (50, 0, 14, 20, -15, 1486, 1500)
    ],
    # recordType 1..2 (from auto_recording)
    pytest.param({"auto_recording": "both"}, "auto_recording", "none, cloud or local", id="record"),
    # authenticationOpt 1..2 and meetingAuthentication
    pytest.param({"extra": extra(authentication="sso")}, "authentication", "none, nus", id="authentication"),
    pytest.param({"extra": extra(authentication="3")}, "authentication", "none, nus", id="authentication-3"),
    # meetingType 1..3
    pytest.param({"extra": extra(meeting_type="lecture")}, "meeting_type", "exam, custom or timetable", id="type"),
    pytest.param({"extra": extra(meeting_type="4")}, "meeting_type", "exam, custom or timetable", id="type-4"),
    pytest.param({"extra": extra(meeting_type="0")}, "meeting_type", "exam, custom or timetable", id="type-0"),
    # accessRole / publicAccess: enum 1..6
    pytest.param({"extra": extra(access_groups=f"{GROUP}:7")}, "access_groups", "role must be one of 1", id="role-7"),
    pytest.param({"extra": extra(access_groups=f"{GROUP}:0")}, "access_groups", "role must be one of", id="role-0"),
    pytest.param({"extra": extra(access_groups=f"{GROUP}:admin")}, "access_groups", "role must be", id="role-word"),
    pytest.param({"extra": extra(access_groups=f"{GROUP}:1;{GROUP2}:9")}, "access_groups", "entry 2", id="role-2nd"),
    pytest.param({"extra": extra(access_groups=GROUP)}, "access_groups", "<groupID UUID>:<role 1-6>", id="no-role"),
    pytest.param({"extra": extra(access_groups=":3")}, "access_groups", "<groupID UUID>:<role 1-6>", id="no-id"),
    pytest.param({"extra": extra(access_users=f"{USER}:2.0")}, "access_users", "role must be", id="user-role"),
    pytest.param({"extra": extra(access_public="0")}, "access_public", "role must be one of", id="public-0"),
    pytest.param({"extra": extra(access_public="7")}, "access_public", "role must be one of", id="public-7"),
    pytest.param({"extra": extra(access_public="owner")}, "access_public", "role must be", id="public-word"),
    # booleans
    *[
        pytest.param({"extra": extra(**{key: "maybe"})}, key, "yes or no", id=key)
        for key in ("send_email", "publish_recording", "mute_upon_entry", "export_multimedia", "publish_channel")
    ],
    # alternativeHosts: "emails or IDs: multiple values separated by a comma"
    pytest.param({"alternative_hosts": ("a@nus.edu.sg;b@nus.edu.sg",)}, "alternative_hosts", "item 1", id="hosts-semi"),
    pytest.param(
        {"alternative_hosts": ("ok@nus.edu.sg", "Tan Ah Kow")}, "alternative_hosts", "item 2", id="hosts-name"
    ),
    pytest.param({"alternative_hosts": ("",)}, "alternative_hosts", "neither an email nor an ID", id="hosts-empty"),
    # ours: a filled column LumiNUS never sees is a mistake
    pytest.param({"extra": extra(modul_id=MODULE)}, "modul_id", "not a LumiNUS field", id="unknown-column"),
    # no recurrence in the document
    pytest.param({"weekdays": (1, 3), "until": date(2024, 11, 15)}, "weekdays", "no recurrence", id="weekly-until"),
    pytest.param({"weekdays": (2,), "occurrences": 13}, "weekdays", "one row per meeting", id="weekly-count"),
]


@pytest.mark.parametrize("changes, field, needle", REFUSED)
def test_every_schema_rule_is_refused_by_check_before_any_call(sim, provider, changes, field, needle):
    row = spec(**changes)
    problems = provider.check(row)
    assert any(f == field and needle in reason for f, reason in problems), problems
    for attempt in (provider.create, provider.body, lambda r: provider.plan(r, None)):
        with pytest.raises(PlatformRefused) as caught:
            attempt(row)
        assert str(caught.value).startswith("not sent: ") and f"{field}: " in str(caught.value)
    assert sim.received == []


def test_check_names_every_broken_rule_at_once(sim, provider):
    row = spec(topic=_long(300), duration=50, weekdays=(1,), extra={"access_public": "9", "send_email": "si"})
    fields = [field for field, _ in provider.check(row)]
    assert sorted(fields) == ["access_public", "duration", "module_id", "send_email", "topic", "weekdays"]
    assert sim.received == []


def test_a_valid_row_passes_check(provider):
    assert provider.check(FULL_ROW) == [] and provider.check(spec(duration=1485)) == []


@pytest.mark.parametrize(
    "changes, needle",
    [
        ({"duration": 50}, "duration: must be a multiple of 15 minutes, got 50"),
        ({"name": _long(201)}, "name: must be at most 200 characters"),
        ({"moduleID": "CS1010"}, "moduleID: must be a UUID"),
        ({"access": {"publicAccess": 0}}, "access.publicAccess: must be one of 1, 2, 3, 4, 5, 6"),
    ],
)
def test_the_platform_refuses_what_check_refuses_in_its_own_words(sim, client, changes, needle):
    body = {**LuminusMeetings(client).body(spec()), **changes}
    with pytest.raises(PlatformRefused) as caught:
        client.add_meeting(body)
    assert caught.value.status == 400 and str(caught.value).startswith("LumiNUS refused POST /zoom/Meeting (HTTP 400)")
    assert "Bad Request; " in str(caught.value) and needle in str(caught.value)
    assert sim.meetings == []


# ---------------------------------------------------------------- faults
@pytest.mark.parametrize(
    "fault, status, needle",
    [
        (Fault(status=400), 400, "Bad Request"),
        (
            Fault(status=400, body="Bad Request\nmoduleID: module is archived"),
            400,
            "Bad Request; moduleID: module is archived",
        ),
        (Fault(status=403), 403, "Login user not authorized to perform this action"),
        (Fault(status=401), 401, "Access denied due to invalid subscription key"),
        (Fault(status=404), 404, "Not Found"),
    ],
)
def test_a_4xx_fails_the_row_with_the_platform_text(sim, provider, fault, status, needle):
    sim.add_faults(fault)
    with pytest.raises(PlatformRefused) as caught:
        provider.create(spec())
    assert caught.value.status == status and needle in str(caught.value)
    assert len(sim.received) == 1


def test_a_wrong_token_is_the_documented_403(sim):
    client = LuminusClient(KEY, sim.base_url, token="not-the-token-at-all")
    with pytest.raises(PlatformRefused) as caught:
        LuminusMeetings(client).create(spec())
    client.close()
    assert caught.value.status == 403 and "Login user not authorized" in str(caught.value)
    assert "not-the-token-at-all" not in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_is_not_repeated_and_may_need_checking(sim, provider, status):
    sim.add_faults(Fault(status=status, body="upstream said https://nus-sg.zoom.us/j/81234567890?pwd=Zx9secret"))
    with pytest.raises(LuminusUnavailable) as caught:
        provider.create(spec())
    error = caught.value
    assert isinstance(error, Unavailable) and not isinstance(error, PlatformRefused)
    assert (error.status, error.maybe_created) == (status, True) and "may have been created" in str(error)
    assert "pwd=<redacted>" in str(error) and "Zx9secret" not in str(error)
    assert len(sim.received) == 1


def test_a_429_is_retry_later_with_its_wait(sim, provider):
    sim.add_faults(Fault(status=429, retry_after="12"))
    with pytest.raises(LuminusUnavailable) as caught:
        provider.create(spec())
    assert (caught.value.status, caught.value.retry_after, caught.value.maybe_created) == (429, 12.0, False)


def test_a_timed_out_create_is_not_repeated_though_the_meeting_was_made(sim, provider):
    sim.add_faults(Fault(delay=2 * READ_TIMEOUT))
    with pytest.raises(LuminusUnavailable) as caught:
        provider.create(spec())
    assert caught.value.maybe_created and "read timeout" in str(caught.value)
    assert isinstance(caught.value.__cause__, TransportError) and "127.0.0.1" in str(caught.value)
    _wait_until_answered(sim)
    assert len(sim.meetings) == 1 and len(sim.received) == 1  # made once, sent once


def test_a_dropped_connection_is_not_repeated(sim, provider):
    sim.add_faults(Fault(drop=True))
    with pytest.raises(LuminusUnavailable) as caught:
        provider.create(spec())
    assert caught.value.maybe_created and "connection error" in str(caught.value)
    assert len(sim.received) == 1 and sim.meetings == []
    assert provider.create(spec()).meeting_id  # the pooled session recovers


@pytest.mark.parametrize("body", ["<html>gateway page</html>", '["not", "an object"]', '{"meetingID": "81234567890"}'])
def test_an_unreadable_201_may_have_created_the_meeting(sim, provider, body):
    sim.add_faults(Fault(body=body))
    with pytest.raises(LuminusUnavailable) as caught:
        provider.create(spec())
    message = str(caught.value)
    assert caught.value.maybe_created and "created: check" in message and "before re-running" in message
    assert "gateway page" not in str(caught.value)  # an answer body is never quoted from a 201


def test_nobody_listening():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = LuminusClient(KEY, f"http://127.0.0.1:{port}", token=TOKEN, connect_timeout=0.5, backoff=0.01)
    with pytest.raises(LuminusUnavailable) as caught:
        LuminusMeetings(client).create(spec())
    client.close()
    assert f"127.0.0.1:{port}" in str(caught.value) and KEY not in str(caught.value) and TOKEN not in str(caught.value)


# ---------------------------------------------------------------- secrets
def test_no_secret_in_any_output(sim, client, caplog):
    """Neither the key nor the token, nor any meeting's meetingPassword, hostKey or join passcode: not in
    results, ledgers, plans, errors, reprs or logs (urllib3's debug lines included)."""
    caplog.set_level(logging.DEBUG)
    provider = LuminusMeetings(client)
    outputs: list[str] = [repr(client), repr(provider.plan(FULL_ROW, None))]
    made = [provider.create(FULL_ROW), provider.create(spec(key="second"))]
    outputs += [repr(m) for m in made] + [json.dumps(asdict(m)) for m in made]
    with pytest.raises(LuminusManualChange) as changed:
        provider.update(spec(duration=60), made[1])
    outputs += [str(changed.value), repr(changed.value.changes)]
    for fault in (
        Fault(status=400),
        Fault(status=500),
        Fault(drop=True),
        Fault(delay=2 * READ_TIMEOUT),
        Fault(body="x"),
    ):
        sim.add_faults(fault)
        with pytest.raises(Unavailable) as caught:
            provider.create(spec())
        outputs += [str(caught.value), repr(caught.value), repr(caught.value.__cause__)]
    outputs.append(caplog.text)
    secrets = [KEY, TOKEN]
    for meeting in sim.meetings:
        secrets += [
            meeting["meetingPassword"],
            meeting["hostKey"],
            parse_qs(urlsplit(meeting["joinUrl"]).query)["pwd"][0],
        ]
    assert len(secrets) == 2 + 3 * len(sim.meetings) >= 8
    for output in outputs:
        for secret in secrets:
            assert secret not in output
