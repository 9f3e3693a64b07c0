"""The pure parts of the Web Meeting v6 and LumiNUS adapters: bodies from rows, time conversion, check(),
plan(), answer handling. No socket (enforced): clients are built but never called; answers are fakes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from zoomops.providers.luminus import LuminusClient, LuminusManualChange, LuminusMeetings, LuminusUnavailable
from zoomops.providers.webmeeting import WebMeetingClient, WebMeetings, WebMeetingUnavailable
from zoomops.providers.webmeeting.body import account_body, iso_utc, meeting_body, zoned_start
from zoomops.provision.spec import MeetingSpec, NeedsManualChange, PlatformRefused, Provisioned

WM_KEY = "wm-unit-KEY-5b8e2d1f"
LU_KEY, LU_TOKEN = "lu-unit-KEY-0a9b8c7d", "lu-unit-TOKEN-1f2e3d4c"
WM_URL, LU_URL = "https://meeting.example.xyz", "https://luminus.example.net"
MODULE = "c0a80121-7ac0-4e1c-8a3e-2f6b1d9e4a55"
GROUP = "0b6f4d1e-2c3a-4b5d-9e8f-7a6b5c4d3e2f"
NOW = datetime(2024, 8, 1, 12, 0, tzinfo=UTC)


def row(**changes) -> MeetingSpec:
    base = MeetingSpec(
        key="k",
        line=2,
        host="jane.doe@example.edu",
        topic="Lecture",
        start=datetime(2024, 9, 2, 9, 0),
        timezone="Europe/Zurich",
        duration=60,
    )
    return replace(base, **changes)


def lrow(**changes) -> MeetingSpec:
    """A LumiNUS row: its module always given."""
    return row(**{"extra": {"module_id": MODULE}, **changes})


class FakeResponse:
    def __init__(self, status: int, body, *, content_type: str = "application/json", headers: dict | None = None):
        self.status_code, self.reason = status, "Reason"
        self.text = body if isinstance(body, str) else json.dumps(body)
        self.headers = {"Content-Type": content_type, **(headers or {})}

    def json(self):
        return json.loads(self.text)


@pytest.fixture
def wm() -> WebMeetings:
    return WebMeetings(WebMeetingClient(WM_KEY, WM_URL), {}, now=lambda: NOW)


@pytest.fixture
def lu() -> LuminusMeetings:
    return LuminusMeetings(LuminusClient(LU_KEY, LU_URL, token=LU_TOKEN))


# ================================================================ Web Meeting: times
@pytest.mark.parametrize(
    "start, zone, duration, expected",
    [
        (datetime(2024, 9, 2, 9, 0), "Europe/Zurich", 60, ("2024-09-02T07:00:00.000Z", "2024-09-02T08:00:00.000Z")),
        (datetime(2024, 12, 2, 9, 0), "Europe/Zurich", 60, ("2024-12-02T08:00:00.000Z", "2024-12-02T09:00:00.000Z")),
        # across the autumn change: 01:30 CEST + 120 real minutes = 02:30 CET
        (datetime(2024, 10, 27, 1, 30), "Europe/Zurich", 120, ("2024-10-26T23:30:00.000Z", "2024-10-27T01:30:00.000Z")),
        # the repeated hour: its first occurrence (CEST)
        (datetime(2024, 10, 27, 2, 30), "Europe/Zurich", 30, ("2024-10-27T00:30:00.000Z", "2024-10-27T01:00:00.000Z")),
        (datetime(2024, 8, 12, 10, 0), "Asia/Singapore", 90, ("2024-08-12T02:00:00.000Z", "2024-08-12T03:30:00.000Z")),
        (datetime(2024, 8, 12, 10, 0), "UTC", 45, ("2024-08-12T10:00:00.000Z", "2024-08-12T10:45:00.000Z")),
    ],
)
def test_web_meeting_times_are_utc_with_milliseconds(start, zone, duration, expected):
    body = meeting_body(row(start=start, timezone=zone, duration=duration))
    assert (body["startTime"], body["endTime"]) == expected and body["duration"] == duration
    assert body["timezone"] == zone


def test_iso_utc_and_the_missing_hour():
    assert iso_utc(datetime(2024, 1, 2, 3, 4, 5, 678_999, tzinfo=UTC)) == "2024-01-02T03:04:05.678Z"
    assert zoned_start(row(start=datetime(2024, 3, 31, 2, 30))) is None  # Zurich springs 02:00 -> 03:00
    assert zoned_start(row(start=datetime(2024, 3, 31, 3, 0))) is not None


def test_web_meeting_bodies_follow_the_documents_examples():
    body = meeting_body(row(), meeting_id="5e945c36b863b82cefdddf54", send_timezone=False)
    assert list(body) == [
        "topic",
        "id",
        "startTime",
        "endTime",
        "duration",
        "type",
        "isRecurring",
        "isRecorded",
        "isDialin",
        "invitedParticipants",
        "recurring",
        "meetingPermissionId",
    ]
    assert (body["type"], body["recurring"], body["invitedParticipants"], body["meetingPermissionId"]) == (
        "standard",
        {},
        [],
        None,
    )
    assert account_body(row(), paid_until=NOW) == {
        "sendPassword": True,
        "accountType": "trial",
        "adminFirstname": "jane",
        "adminLastname": "doe",
        "adminEmail": "jane.doe@example.edu",
        "adminPreferredLanguage": "en",
        "paidUntil": "2024-08-01T12:00:00.000Z",
    }


@pytest.mark.parametrize(
    "host, extra, names",
    [
        ("jane.doe@example.edu", {}, ("jane", "doe")),
        ("mary.ann.smith@example.edu", {}, ("mary", "ann.smith")),
        ("e0123456@u.nus.edu", {}, ("e0123456", "")),
        ("e0123456@u.nus.edu", {"organizer_firstname": " Tan ", "organizer_lastname": "Ah Kow"}, ("Tan", "Ah Kow")),
        ("e0123456@u.nus.edu", {"organizer_lastname": "Tan"}, ("", "Tan")),
    ],
)
def test_organizer_names(host, extra, names):
    body = account_body(row(host=host, extra=extra), paid_until=NOW)
    assert (body["adminFirstname"], body["adminLastname"]) == names


def test_web_meeting_check_passes_a_plain_row(wm):
    assert wm.check(row()) == [] and wm.check(row(auto_recording="cloud", waiting_room=False)) == []


# ================================================================ Web Meeting: plan (no call)
def test_plan_for_a_new_organizer_a_remembered_one_and_adoptions(wm):
    steps = wm.plan(row(), None)
    assert [(p.method, p.url) for p in steps] == [
        ("POST", f"{WM_URL}/api/v6/account"),
        ("GET", f"{WM_URL}/api/v6/account/admin/{{accountId}}"),
        ("POST", f"{WM_URL}/api/v6/meeting"),
    ]
    assert steps[0].body["adminEmail"] == "jane.doe@example.edu" and wm.memory == {}
    wm.memory["jane.doe@example.edu"] = {"account_id": "a" * 24, "user_id": None}  # account made, lookup failed
    assert [p.method for p in wm.plan(row(), None)] == ["GET", "POST"]
    wm.memory["jane.doe@example.edu"] = {"account_id": "a" * 24, "user_id": "u" * 24}
    (only,) = wm.plan(row(host="Jane.Doe@EXAMPLE.edu"), None)
    assert only.method == "POST" and "u" * 24 in only.note
    adopt = wm.plan(row(host="x@example.edu", extra={"organizer_account_id": "b" * 24}), None)
    assert [p.url for p in adopt] == [f"{WM_URL}/api/v6/account/admin/{'b' * 24}", f"{WM_URL}/api/v6/meeting"]
    (by_user,) = wm.plan(row(host="y@example.edu", extra={"organizer_user_id": "c" * 24}), None)
    assert "adopted" in by_user.note


def test_plan_for_a_change_and_for_another_organizer(wm):
    previous = Provisioned("m" * 24, ledger={"id": "m" * 24, "user_id": "u" * 24, "organizer": "jane.doe@example.edu"})
    (put,) = wm.plan(row(duration=90), previous)
    assert (put.method, put.url, put.body["id"], put.body["duration"]) == (
        "PUT",
        f"{WM_URL}/api/v6/meeting/{'m' * 24}/false",
        "m" * 24,
        90,
    )
    with pytest.raises(NeedsManualChange):
        wm.plan(row(host="other@example.edu"), previous)
    with pytest.raises(PlatformRefused, match="no Web Meeting meeting id"):
        wm.plan(row(), Provisioned("x"))
    assert wm.recover(row()) is None


# ================================================================ Web Meeting: answers
@pytest.mark.parametrize(
    "method, response, error, status, maybe",
    [
        (
            "POST",
            FakeResponse(200, {"responseCode": -4, "responseMessage": "Data not valid"}),
            PlatformRefused,
            200,
            None,
        ),
        ("POST", FakeResponse(404, {"responseCode": -4, "responseMessage": "Not found"}), PlatformRefused, 404, None),
        ("POST", FakeResponse(500, {"responseCode": -99}), WebMeetingUnavailable, 500, True),
        ("GET", FakeResponse(500, {"responseCode": -99}), WebMeetingUnavailable, 500, False),
        ("PUT", FakeResponse(200, "<html>proxy</html>", content_type="text/html"), WebMeetingUnavailable, 200, True),
        ("POST", FakeResponse(429, {}, headers={"Retry-After": "5"}), WebMeetingUnavailable, 429, False),
        ("POST", FakeResponse(301, "", content_type="text/html"), PlatformRefused, 301, None),
    ],
)
def test_web_meeting_answers_become_errors(method, response, error, status, maybe):
    client = WebMeetingClient(WM_KEY, WM_URL)
    with pytest.raises(error) as caught:
        client._verdict(f"{method} /api/v6/x", method, response)
    assert caught.value.status == status
    if maybe is not None:
        assert caught.value.maybe_created is maybe


def test_web_meeting_success_and_a_message_that_echoes_the_key():
    client = WebMeetingClient(WM_KEY, WM_URL)
    assert client._verdict("GET x", "GET", FakeResponse(200, {"responseCode": 0, "data": [1]})) == [1]
    echo = FakeResponse(401, {"responseCode": -1, "responseMessage": f"Invalid API key {WM_KEY}"})
    with pytest.raises(PlatformRefused) as caught:
        client._verdict("POST x", "POST", echo)
    assert WM_KEY not in str(caught.value) and "<redacted>" in str(caught.value)
    assert WM_KEY not in repr(client)


# ================================================================ LumiNUS: bodies
@pytest.mark.parametrize(
    "start, zone, expected",
    [
        (datetime(2024, 8, 12, 10, 0), "Asia/Singapore", "2024-08-12T10:00:00+08:00"),
        (datetime(2024, 8, 12, 10, 0), "UTC", "2024-08-12T10:00:00+00:00"),
        (datetime(2024, 8, 12, 10, 0), "Asia/Kolkata", "2024-08-12T10:00:00+05:30"),
        (datetime(2024, 3, 10, 3, 0), "America/New_York", "2024-03-10T03:00:00-04:00"),
        (datetime(2024, 3, 9, 3, 0), "America/New_York", "2024-03-09T03:00:00-05:00"),
    ],
)
def test_luminus_start_date_keeps_the_wall_clock_with_its_offset(lu, start, zone, expected):
    assert lu.body(lrow(start=start, timezone=zone))["startDate"] == expected


@pytest.mark.parametrize("duration", [15, 30, 45, 60, 1470, 1485])
def test_luminus_durations_in_range_pass(lu, duration):
    assert lu.check(lrow(duration=duration)) == []


@pytest.mark.parametrize("topic", ["", "x" * 200, "é" * 200])
def test_luminus_names_up_to_200_characters_pass(lu, topic):
    assert lu.body(lrow(topic=topic))["name"] == topic


@pytest.mark.parametrize(
    "cells, fields",
    [
        ({"send_email": "YES", "mute_upon_entry": "0"}, {"isSendEmail": True, "muteUponEntry": False}),
        (
            {"publish_recording": " true ", "export_multimedia": "N"},
            {"isPublishRecordURL": True, "exportMultimediaWeb": False},
        ),
        ({"publish_channel": "1"}, {"publishMutimediaChannel": True}),
        ({"authentication": "Zoom"}, {"meetingAuthentication": True, "authenticationOpt": 2}),
        ({"authentication": "1"}, {"meetingAuthentication": True, "authenticationOpt": 1}),
        ({"authentication": "off"}, {"meetingAuthentication": False}),
        ({"meeting_type": "Exam"}, {"meetingType": 1}),
        ({"meeting_type": "custom"}, {"meetingType": 2}),
        ({"meeting_type": "TIME-TABLE"}, {"meetingType": 3}),
        ({"meeting_type": "3"}, {"meetingType": 3}),
        ({"channel_name": "  Recordings "}, {"channelName": "Recordings"}),
        ({"send_email": "", "meeting_type": " ", "authentication": ""}, {}),
    ],
)
def test_luminus_spreadsheet_cells(lu, cells, fields):
    body = lu.body(lrow(extra={"module_id": MODULE, **cells}))
    assert {k: v for k, v in body.items() if k not in ("moduleID", "name", "startDate", "duration")} == fields


def test_luminus_access_cells_tolerate_spaces_line_breaks_and_a_trailing_separator(lu):
    other = "1c7f5e2a-3d4b-4c6e-8f9a-8b7c6d5e4f3a"
    body = lu.body(
        lrow(extra={"module_id": MODULE, "access_groups": f" {GROUP} : 4 \n{other}:5;", "access_public": " 2"})
    )
    assert body["access"] == {
        "groupAccess": [{"groupID": GROUP, "accessRole": 4}, {"groupID": other, "accessRole": 5}],
        "publicAccess": 2,
    }


def test_luminus_alternative_hosts_joined_by_a_comma(lu):
    body = lu.body(lrow(alternative_hosts=(" ta1@nus.edu.sg", "e0123456 ", "KDcuGIm1QgePTO8WbOqwIQ")))
    assert body["alternativeHosts"] == "ta1@nus.edu.sg,e0123456,KDcuGIm1QgePTO8WbOqwIQ"


def test_luminus_host_is_not_sent(lu):
    assert "jane" not in json.dumps(lu.body(lrow()))  # the meeting belongs to the signed-in user


# ================================================================ LumiNUS: answers
ANSWER = {
    "id": "fdd0d5e9-6482-4c80-9bf5-a872256c41a4",
    "meetingID": "81234567890",
    "meetingPassword": "pA55w0rd",
    "joinUrl": "https://nus-sg.zoom.us/j/81234567890?pwd=Zx9c0dEsecretValue&uname=x",
    "hostKey": "654321",
    "email": "zoomops@nus.edu.sg",
}


def test_luminus_result_keeps_only_safe_fields(lu):
    made = lu._provisioned(lrow(), lu.body(lrow()), ANSWER)
    assert made.meeting_id == ANSWER["id"]
    assert made.join_url == "https://nus-sg.zoom.us/j/81234567890?uname=x"
    assert made.extra == {
        "zoom_meeting_id": "81234567890",
        "join_url": made.join_url,
        "created_by": "zoomops@nus.edu.sg",
    }
    text = repr(made)
    assert all(secret not in text for secret in ("pA55w0rd", "654321", "Zx9c0dEsecretValue"))


def test_luminus_join_url_with_the_passcode_elsewhere_is_not_shown(lu):
    answer = {**ANSWER, "joinUrl": "https://nus-sg.zoom.us/j/81234567890/pA55w0rd"}
    assert lu._provisioned(lrow(), lu.body(lrow()), answer).join_url == ""


def test_luminus_answer_without_an_id_may_have_created_the_meeting(lu):
    with pytest.raises(LuminusUnavailable) as caught:
        lu._provisioned(lrow(), lu.body(lrow()), {"meetingID": "1", "meetingPassword": "pA55w0rd"})
    assert caught.value.maybe_created and MODULE in str(caught.value) and "pA55w0rd" not in str(caught.value)


@pytest.mark.parametrize(
    "response, status, needle",
    [
        (
            FakeResponse(400, f"Bad Request\nname: {LU_KEY} x", content_type="text/plain"),
            400,
            "Bad Request; name: <redacted> x",
        ),
        (FakeResponse(403, f"token {LU_TOKEN} refused", content_type="text/plain"), 403, "token <redacted> refused"),
        (FakeResponse(401, {"statusCode": 401, "message": "Access denied"}), 401, "Access denied"),
        (
            FakeResponse(500, "see https://z.us/j/1?pwd=abc123&x=1", content_type="text/plain"),
            500,
            "pwd=<redacted>&x=1",
        ),
    ],
)
def test_luminus_error_text_is_the_platforms_without_secrets(response, status, needle):
    client = LuminusClient(LU_KEY, LU_URL, token=LU_TOKEN)
    with pytest.raises((PlatformRefused, LuminusUnavailable)) as caught:
        client._verdict(response)
    assert caught.value.status == status and needle in str(caught.value)
    assert LU_KEY not in repr(client) and LU_TOKEN not in repr(client)


# ================================================================ LumiNUS: no update
def test_luminus_change_without_a_recorded_body_still_needs_a_hand(lu):
    previous = Provisioned("fdd0d5e9-6482-4c80-9bf5-a872256c41a4", extra={"zoom_meeting_id": "81234567890"})
    with pytest.raises(LuminusManualChange) as caught:
        lu.update(lrow(), previous)
    assert "81234567890" in str(caught.value) and "ledger does not hold" in str(caught.value) and not lu.recover(lrow())
