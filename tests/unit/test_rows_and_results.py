"""Row rules, de-duplication, batching and the result files (through disassociate.run)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.testkit import (
    DOMAIN,
    TEMPLATE_HEADER,
    FailingSender,
    RecordingSender,
    csv_bytes,
    meeting,
    run_file,
    valid_rows,
)
from zoomops.jobs.results import cell
from zoomops.lti import disassociate
from zoomops.lti.rows import Deduplicator, Record, check

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def rec(meeting_id="123456789", context="ctx", domain=DOMAIN, course="", line=2) -> Record:
    return Record(line, meeting_id, context, domain, course)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "raw, expected",
    [
        ("123456789", "123456789"),
        ("12345678901", "12345678901"),
        ("123 4567 8901", "12345678901"),
        ("123-4567-8901", "12345678901"),
        (" 123\u00a04567\t8901 ", "12345678901"),
        ("0123456789", "0123456789"),
    ],
)
def test_meeting_id_normalised(raw, expected):
    assert check(rec(meeting_id=raw)) == (expected, "ctx", DOMAIN)


@pytest.mark.parametrize(
    "raw, needle",
    [
        ("12345678", "9-11 digits, got 8"),
        ("123456789012", "9-11 digits, got 12"),
        ("1234 5678", "got 8"),
        ("12345678a", "must be digits"),
        ("１２３４５６７８９", "must be digits"),  # full-width digits are not ASCII
        ("123.456.789", "must be digits"),
        ("+123456789", "must be digits"),
    ],
)
def test_meeting_id_rejected(raw, needle):
    verdict = check(rec(meeting_id=raw))
    assert isinstance(verdict, str)
    assert verdict.startswith("meeting_id: ")
    assert needle in verdict


def test_domain_trailing_slash_removed_otherwise_kept():
    assert check(rec(domain=" https://LMS.Example.edu/ ")) == ("123456789", "ctx", "https://LMS.Example.edu")
    assert check(rec(domain="https://lms.example.edu/canvas/")) == (
        "123456789",
        "ctx",
        "https://lms.example.edu/canvas",
    )


def test_missing_fields_in_run_name_line_field_reason(tmp_path):
    data = csv_bytes(
        f",ctx,{DOMAIN},",  # 2: meeting missing
        f"{meeting(1)},,{DOMAIN},",  # 3: context missing
        f"{meeting(2)},ctx,,",  # 4: domain missing
        f"{meeting(3)},ctx,/,",  # 5: domain only a slash
        f"{meeting(4)},ctx",  # 6: short row, domain missing
        f"{meeting(5)},   ,{DOMAIN},",  # 7: blank context
        f"abc,ctx,{DOMAIN},",  # 8: not digits
        f"12345678,ctx,{DOMAIN},",  # 9: 8 digits
        f"123456789012,ctx,{DOMAIN},",  # 10: 12 digits
        f"{meeting(6)},ctx,{DOMAIN},",  # 11: fine
    )
    result = run_file(tmp_path, data)
    reasons = {int(r["line"]): r["reason"] for r in result.rows if r["status"] == "rejected"}
    assert reasons == {
        2: "line 2: meeting_id: required",
        3: "line 3: context_id: required",
        4: "line 4: domain: required",
        5: "line 5: domain: required",
        6: "line 6: domain: required",
        7: "line 7: context_id: required",
        8: "line 8: meeting_id: must be digits (spaces and dashes allowed), got 'abc'",
        9: "line 9: meeting_id: must have 9-11 digits, got 8 in '12345678'",
        10: "line 10: meeting_id: must have 9-11 digits, got 12 in '123456789012'",
    }
    assert result.by_line()[11]["status"] == "planned"
    s = result.summary_json
    assert (s["total_rows"], s["rejected"], s["planned"], s["sent"]) == (10, 9, 1, 0)


def test_replacement_character_rejected_with_field():
    verdict = check(rec(context="ca\ufffde"))
    assert verdict.startswith("context_id: ") and "\ufffd" in verdict
    assert check(rec(course="x\ufffd")).startswith("course_id: ")
    assert check(rec(domain="https://\ufffd")).startswith("domain: ")


# ------------------------------------------------------------------ duplicates
def test_duplicates_point_at_first_line(tmp_path):
    data = csv_bytes(
        f"12345678901,ctx,{DOMAIN},",  # 2
        f"123 4567 8901,ctx,{DOMAIN}/,",  # 3: same as 2 (spaces, trailing slash)
        f"123-4567-8901, ctx ,{DOMAIN} ,other-course",  # 4: same as 2
        f"12345678901,ctx,{DOMAIN.upper()},",  # 5: domain differs in case -> distinct
        f"12345678901,CTX,{DOMAIN},",  # 6: context differs -> distinct
        "0123456789,ctx,https://a.edu,",  # 7
        "123456789,ctx,https://a.edu,",  # 8: distinct from 7 (leading zero)
        "0123456789,ctx,https://a.edu/,",  # 9: same as 7
        f"12345678901,ctx,{DOMAIN.upper()}/,",  # 10: same as 5
    )
    result = run_file(tmp_path, data)
    rows = result.by_line()
    status = {line: r["status"] for line, r in rows.items()}
    assert status == {
        2: "planned",
        3: "duplicate",
        4: "duplicate",
        5: "planned",
        6: "planned",
        7: "planned",
        8: "planned",
        9: "duplicate",
        10: "duplicate",
    }
    assert rows[3]["reason"] == "same meeting, context and domain as line 2"
    assert rows[4]["reason"] == "same meeting, context and domain as line 2"
    assert rows[9]["reason"] == "same meeting, context and domain as line 7"
    assert rows[10]["reason"] == "same meeting, context and domain as line 5"
    assert result.summary_json["duplicates"] == 4
    sent_ids = [item["meetingId"] for item in result.requests[0]["body"]]
    assert sent_ids == ["12345678901", "12345678901", "12345678901", "0123456789", "123456789"]


def test_deduplicator_directly():
    dedup = Deduplicator()
    assert dedup.first_line("123456789", "c", "d", 2) is None
    assert dedup.first_line("0123456789", "c", "d", 3) is None
    assert dedup.first_line("00123456789", "c", "d", 4) is None
    assert dedup.first_line("123456789", "c", "d", 5) == 2
    assert dedup.first_line("0123456789", "c", "d", 6) == 3
    assert dedup.first_line("99999999999", "c", "d", 7) is None
    assert dedup.first_line("99999999999", "c2", "d", 8) is None
    assert dedup.first_line("99999999999", "c", "D", 9) is None
    assert dedup.first_line("99999999999", "c2", "d", 10) == 8


# ------------------------------------------------------------------ batching
def test_over_1000_rows_all_processed_with_warning(tmp_path):
    result = run_file(tmp_path, csv_bytes(*valid_rows(1203)))
    s = result.summary_json
    assert (s["total_rows"], s["planned"]) == (1203, 1203)
    assert len(result.rows) == 1203
    assert any("1000" in w for w in s["warnings"]), s["warnings"]


def test_exactly_1000_rows_no_limit_warning(tmp_path):
    s = run_file(tmp_path, csv_bytes(*valid_rows(1000))).summary_json
    assert s["total_rows"] == 1000
    assert not any("1000" in w for w in s["warnings"])


def test_batch_boundaries_801_rows(tmp_path):
    result = run_file(tmp_path, csv_bytes(*valid_rows(801)), batch_size=400)
    assert [len(r["body"]) for r in result.requests] == [400, 400, 1]
    assert [r["batch"] for r in result.requests] == [0, 1, 2]
    assert result.summary_json["batches"] == 3
    sent = [item["meetingId"] for r in result.requests for item in r["body"]]
    assert sent == [meeting(i) for i in range(801)]


def test_batch_boundaries_with_sender_and_small_batch(tmp_path):
    sender = RecordingSender()
    lines = valid_rows(7) + ["bad,ctx,x,", valid_rows(1)[0]]  # one reject, one duplicate
    result = run_file(tmp_path, csv_bytes(*lines), dry_run=False, batch_size=3, sender=sender)
    assert [len(b) for b in sender.bodies] == [3, 3, 1]
    s = result.summary_json
    assert (s["sent"], s["rejected"], s["duplicates"], s["batches"], s["requests_sent"]) == (7, 1, 1, 3, 3)
    assert [int(r["line"]) for r in result.rows] == list(range(2, 11))  # rows.csv in line order


@pytest.mark.parametrize("size", [0, -1, 401, 1000])
def test_options_refuse_bad_batch_size(size):
    with pytest.raises(ValueError, match="batch size"):
        disassociate.Options(batch_size=size)


@pytest.mark.parametrize("size", [1, 400])
def test_options_accept_batch_size_bounds(size):
    assert disassociate.Options(batch_size=size).batch_size == size


def test_options_refuse_blank_user_id():
    with pytest.raises(ValueError, match="user id"):
        disassociate.Options(user_id="  ")


def test_user_id_body_form(tmp_path):
    result = run_file(tmp_path, csv_bytes(*valid_rows(2)), user_id="admin-7")
    body = result.requests[0]["body"]
    assert body["userId"] == "admin-7"
    assert [i["meetingId"] for i in body["meetingList"]] == [meeting(0), meeting(1)]
    assert result.summary_json["user_id"] == "admin-7"


def test_dry_run_requests_jsonl_shape(tmp_path):
    result = run_file(tmp_path, csv_bytes(*valid_rows(3)), batch_size=2)
    assert len(result.requests) == 2
    first = result.requests[0]
    assert first["method"] == "PUT"
    assert first["url"].endswith(
        "/meeting/bulkDisassociate?" + f"key={first['query']['key']}&timestamp={first['query']['timestamp']}"
    )
    assert set(first["query"]) == {"key", "timestamp"}
    assert first["headers"]["Content-Type"] == "application/json"
    assert len(first["headers"]["X-Lti-Signature"]) == 27
    assert result.summary_json["dry_run"] is True and result.summary_json["planned"] == 3


def test_summary_fields(tmp_path):
    s = run_file(tmp_path, csv_bytes(*valid_rows(2))).summary_json
    for name in (
        "file",
        "encoding",
        "total_rows",
        "sent",
        "rejected",
        "duplicates",
        "failed",
        "batches",
        "dry_run",
        "started_at",
        "finished_at",
    ):
        assert name in s, name
    assert s["file"] == "input.csv"
    assert s["started_at"] <= s["finished_at"]


def test_run_requires_sender_and_creds(tmp_path):
    from zoomops.lti.disassociate import result_files

    out = result_files(tmp_path / "o", dry_run=False)
    with pytest.raises(ValueError, match="sender"):
        disassociate.run(io.BytesIO(csv_bytes()), "x", out, disassociate.Options(), creds=None)
    with pytest.raises(ValueError, match="credentials"):
        disassociate.run(io.BytesIO(csv_bytes()), "x", out, disassociate.Options(dry_run=True), creds=None)
    out.close()


# ------------------------------------------------------------------ formula safety
@pytest.mark.parametrize(
    "value, shown",
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=x", "'\t=x"),
        ("  =x", "'  =x"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_cell(value, shown):
    assert cell(value) == shown


FORMULA_CONTEXT = '=HYPERLINK("http://evil.example","x")'


def _assert_no_formula_cells(rows_raw):
    for row in rows_raw:
        for value in row:
            assert not value.startswith(FORMULA_START), row


def test_rows_csv_formula_safe_for_planned_rejected_duplicate(tmp_path):
    data = csv_bytes(
        f'{meeting(1)},"{FORMULA_CONTEXT.replace(chr(34), chr(34) * 2)}",{DOMAIN},+cmd',  # planned
        f'=1+2,"{FORMULA_CONTEXT.replace(chr(34), chr(34) * 2)}",@evil,-x',  # rejected
        f'{meeting(1)},"{FORMULA_CONTEXT.replace(chr(34), chr(34) * 2)}",{DOMAIN},\t=y',  # duplicate
        f"-{meeting(3)},ctx,{DOMAIN},",  # planned: leading dash is a separator
    )
    result = run_file(tmp_path, data)
    assert result.statuses() == ["planned", "rejected", "duplicate", "planned"]
    _assert_no_formula_cells(result.rows_raw)
    assert result.rows[0]["context_id"] == "'" + FORMULA_CONTEXT
    assert result.rows[0]["course_id"] == "'+cmd"
    assert result.rows[1]["meeting_id"] == "'=1+2"
    assert result.rows[1]["domain"] == "'@evil"
    assert result.rows[2]["course_id"] == "'\t=y"
    assert result.rows[3]["meeting_id"] == f"'-{meeting(3)}"
    # What is sent is the real value, not the display-safe one.
    assert result.requests[0]["body"][0]["contextId"] == FORMULA_CONTEXT


def test_rows_csv_formula_safe_for_failed_rows_and_reason(tmp_path):
    data = csv_bytes(f'{meeting(1)},"{FORMULA_CONTEXT.replace(chr(34), chr(34) * 2)}",{DOMAIN},')
    sender = FailingSender(message="=cmd|' /C calc'!A0")
    result = run_file(tmp_path, data, dry_run=False, sender=sender)
    assert result.statuses() == ["failed"]
    _assert_no_formula_cells(result.rows_raw)
    assert result.rows[0]["context_id"] == "'" + FORMULA_CONTEXT
    assert result.rows[0]["reason"] == "'=cmd|' /C calc'!A0"
    # retry.csv is for re-import, not display: the original value exactly.
    assert result.retry == [[meeting(1), FORMULA_CONTEXT, DOMAIN, ""]]


# ------------------------------------------------------------------ retry.csv
def test_retry_csv_has_exactly_the_failed_rows_raw(tmp_path):
    from zoomops.lti.client import BatchResult

    lines = [
        f"123 4567 8901,ctx-a,{DOMAIN}/,crs-1",  # batch 0 (fails)
        f" 222-333-4444 ,ctx-b,{DOMAIN}//,",  # batch 0 (fails)
        "junk,ctx,dom,",  # rejected
        f"{meeting(3)},ctx-c,{DOMAIN},",  # batch 1 (ok)
        f"{meeting(4)},ctx-d,{DOMAIN},",  # batch 1 (ok)
        f"123 4567 8901,ctx-a,{DOMAIN},",  # duplicate of line 2
        f'{meeting(5)},"ctx, with ""quotes""",{DOMAIN},',  # batch 2 (fails)
    ]
    sender = RecordingSender(
        BatchResult(False, "LTI Pro answered: nope", 1, 200),
        BatchResult(True, "", 1, 200),
        BatchResult(False, "gave up after 5 attempts: HTTP 503", 5, 503),
    )
    result = run_file(tmp_path, csv_bytes(*lines), dry_run=False, batch_size=2, sender=sender)
    assert result.statuses() == ["failed", "failed", "rejected", "sent", "sent", "duplicate", "failed"]
    assert result.retry == [
        ["123 4567 8901", "ctx-a", DOMAIN + "/", "crs-1"],
        [" 222-333-4444 ", "ctx-b", DOMAIN + "//", ""],
        [meeting(5), 'ctx, with "quotes"', DOMAIN, ""],
    ]
    header_line = (result.dir / "retry.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header_line == ",".join(TEMPLATE_HEADER)
    s = result.summary_json
    assert (s["failed"], s["sent"], s["batches_failed"], s["requests_sent"]) == (3, 2, 2, 7)
    assert s["sent"] + s["rejected"] + s["duplicates"] + s["failed"] == s["total_rows"]


def test_rows_csv_has_one_record_per_input_record(tmp_path):
    data = csv_bytes(f'{meeting(1)},"a\nb",{DOMAIN},', "x,y,z,", f'{meeting(1)},"a\nb",{DOMAIN},')
    result = run_file(tmp_path, data)
    text = (result.dir / "rows.csv").read_text(encoding="utf-8")
    assert len(list(csv.reader(io.StringIO(text, newline="")))) == 1 + 3
    assert json.loads((result.dir / "summary.json").read_text())["total_rows"] == 3
