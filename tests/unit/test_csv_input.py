"""Reading the CSV: encodings, refusals, header mapping, line numbers (through disassociate.run)."""

from __future__ import annotations

import codecs
import io
import os

import pytest

from tests.testkit import DOMAIN, HEADER, FailingSender, csv_bytes, meeting, run_file, valid_rows
from zoomops.errors import FileRefused
from zoomops.jobs.csvreader import CsvSource, normalise_header
from zoomops.lti.rows import IMPORT_TEMPLATE

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa"


def assert_refused(result, *needles: str) -> None:
    """A refused file: reason in summary.json, no row in rows.csv or retry.csv."""
    refused = result.summary_json["refused"]
    assert refused, result.summary_json
    assert refused.startswith("input.csv: ")
    for needle in needles:
        assert needle in refused, (needle, refused)
    assert result.rows == [] and result.retry == []
    assert result.summary_json["total_rows"] == 0
    assert result.summary.refused == refused


# ------------------------------------------------------------------ refusals
def test_empty_file_refused(tmp_path):
    assert_refused(run_file(tmp_path, b""), "empty")


@pytest.mark.parametrize("data", [b"   ", b"\n\n\r\n", b" \t \r\n  \n"])
def test_whitespace_only_refused(tmp_path, data):
    assert_refused(run_file(tmp_path, data), "whitespace")


def test_header_only_is_zero_rows_with_warning(tmp_path):
    result = run_file(tmp_path, csv_bytes())
    assert result.summary_json["refused"] is None
    assert result.summary_json["total_rows"] == 0
    assert result.rows == [] and result.requests == []
    assert any("no rows" in w for w in result.summary_json["warnings"]), result.summary_json["warnings"]


def test_no_header_refused_naming_missing_columns(tmp_path):
    data = csv_bytes(*valid_rows(3), header=None)
    result = run_file(tmp_path, data)
    assert_refused(result, "line 1", "Meeting ID", "Context ID", "Domain")
    assert "missing column(s) Meeting ID, Context ID, Domain" in result.summary_json["refused"]


def test_header_missing_some_columns_names_only_those(tmp_path):
    result = run_file(tmp_path, csv_bytes("123456789,x", header="Meeting ID,Course"))
    assert_refused(result, "missing column(s) Context ID, Domain")
    assert "missing column(s) Meeting ID" not in result.summary_json["refused"]


def test_random_bytes_with_nul_refused(tmp_path):
    data = os.urandom(4096) + b"\x00" + os.urandom(4096)
    assert_refused(run_file(tmp_path, data), "binary")


def test_png_refused(tmp_path):
    assert_refused(run_file(tmp_path, PNG + os.urandom(512)), "binary")


def test_control_characters_refused(tmp_path):
    data = bytes(range(1, 9)) * 40 + b"\x0b\x0c\x0e\x0f" * 40
    assert_refused(run_file(tmp_path, data), "binary")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_refused(tmp_path, codec):
    text = HEADER + "\n" + f"{meeting(1)},ctx,{DOMAIN},\n"
    data = text.encode(codec)
    if codec == "utf-16":
        assert data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    assert_refused(run_file(tmp_path, data), "UTF-16")


def test_bytes_in_neither_utf8_nor_cp1252_cost_their_row_only(tmp_path):
    # 0x81 is undefined in cp1252 and invalid in UTF-8: early or late in a file, the same answer.
    result = run_file(
        tmp_path,
        csv_bytes(
            f"{meeting(1)},c\x81tx,{DOMAIN},".encode("latin-1").decode("latin-1"),
            f"{meeting(2)},ctx,{DOMAIN},",
            encoding="latin-1",
        ),
    )
    assert result.summary_json["refused"] is None and result.summary_json["encoding"] == "cp1252"
    assert [r["status"] for r in result.rows] == ["rejected", "planned"]
    assert "context_id: holds bytes that are not text" in result.rows[0]["reason"]


# ------------------------------------------------------------------ encodings
def test_cp1252_file_is_read_and_reported(tmp_path):
    data = csv_bytes(f"{meeting(1)},Café,{DOMAIN},Crème", encoding="cp1252")
    assert "Café".encode() not in data
    result = run_file(tmp_path, data, dry_run=False, sender=FailingSender())
    assert result.summary_json["encoding"] == "cp1252"
    assert result.rows[0]["context_id"] == "Café"
    assert result.rows[0]["course_id"] == "Crème"
    assert result.rows[0]["status"] == "failed"
    # retry.csv (UTF-8) holds the value as the admin wrote it.
    assert result.retry == [[meeting(1), "Café", DOMAIN, "Crème"]]


def test_non_utf8_past_the_sniffed_sample_falls_back_to_cp1252(tmp_path):
    filler = valid_rows(3000)  # > 64 KiB of plain ASCII first
    data = csv_bytes(*filler) + f"{meeting(5000)},Café,{DOMAIN},\n".encode("cp1252")
    assert len(data) > 64 * 1024
    result = run_file(tmp_path, data)
    assert result.summary_json["encoding"] == "cp1252"
    assert result.rows[-1]["context_id"] == "Café"
    assert result.rows[-1]["status"] == "planned"
    assert any("cp1252" in w for w in result.summary_json["warnings"])


def test_small_cp1252_file_ending_in_accent_has_no_64k_warning(tmp_path):
    data = (HEADER + "\n" + f"{meeting(1)},ctx,{DOMAIN},Café").encode("cp1252")  # no final newline
    result = run_file(tmp_path, data)
    assert result.summary_json["encoding"] == "cp1252"
    assert result.rows[0]["course_id"] == "Café"
    assert result.summary_json["warnings"] == []  # detected up front, not by the late fallback


def test_utf8_bom_and_crlf(tmp_path):
    data = codecs.BOM_UTF8 + csv_bytes(f"{meeting(1)},Ünïcode,{DOMAIN},c1", f"{meeting(2)},ctx,{DOMAIN}/,", eol="\r\n")
    result = run_file(tmp_path, data)
    assert result.summary_json["encoding"].startswith("utf-8")
    assert result.summary_json["refused"] is None
    assert [r["line"] for r in result.rows] == ["2", "3"]
    assert result.rows[0]["meeting_id"] == meeting(1)  # BOM not glued to the header or a value
    assert result.rows[0]["context_id"] == "Ünïcode"
    assert result.rows[0]["course_id"] == "c1"
    assert result.rows[1]["domain"] == DOMAIN + "/"
    assert not any("\r" in v for r in result.rows for v in r.values())
    assert result.statuses() == ["planned", "planned"]


def test_plain_utf8_encoding_reported(tmp_path):
    result = run_file(tmp_path, csv_bytes(f"{meeting(1)},Zürich,{DOMAIN},"))
    assert result.summary_json["encoding"] == "utf-8"
    assert result.rows[0]["context_id"] == "Zürich"


# ------------------------------------------------------------------ line numbers
def test_quoted_commas_and_newlines_keep_physical_line_numbers(tmp_path):
    data = csv_bytes(
        f'{meeting(1)},"a, b",{DOMAIN},',  # line 2
        f'{meeting(2)},"multi\nline\ncontext",{DOMAIN},',  # lines 3-5
        f'{meeting(3)},plain,{DOMAIN},"x, ""y"""',  # line 6
        "",  # line 7 blank
        f'"",ctx,{DOMAIN},',  # line 8: rejected
    )
    result = run_file(tmp_path, data)
    rows = result.by_line()
    assert sorted(rows) == [2, 3, 6, 8]
    assert rows[2]["context_id"] == "a, b"
    assert rows[3]["context_id"] == "multi\nline\ncontext"
    assert rows[6]["course_id"] == 'x, "y"'
    assert rows[8]["status"] == "rejected"
    assert rows[8]["reason"] == "line 8: meeting_id: required"


def test_crlf_quoted_newline_line_numbers(tmp_path):
    data = csv_bytes(f'{meeting(1)},"two\r\nlines",{DOMAIN},', "1,x,y,", eol="\r\n")
    result = run_file(tmp_path, data)
    assert [r["line"] for r in result.rows] == ["2", "4"]
    assert result.rows[1]["reason"].startswith("line 4: meeting_id:")


def test_blank_lines_above_header(tmp_path):
    data = b"\n\n" + csv_bytes(f"{meeting(1)},ctx,{DOMAIN},")
    result = run_file(tmp_path, data)
    assert result.rows[0]["line"] == "4"
    assert result.rows[0]["status"] == "planned"


# ------------------------------------------------------------------ header mapping
@pytest.mark.parametrize(
    "header",
    [
        "meeting_id,context_id,domain,course_id",
        "meetingId,contextId,domain,courseId",
        " MEETING-ID , Context ID ,DOMAIN, Custom_Canvas_Course_ID ",
        "Meeting Id,context-id,Domain,custom canvas course id",
        "meeting id,CONTEXT_ID, domain ,canvas_course_id",
    ],
)
def test_header_aliases(tmp_path, header):
    result = run_file(tmp_path, csv_bytes(f"{meeting(1)},ctx,{DOMAIN},crs", header=header))
    assert result.summary_json["refused"] is None
    assert result.rows[0]["status"] == "planned"
    assert result.requests[0]["body"] == [
        {"meetingId": meeting(1), "contextId": "ctx", "domain": DOMAIN, "courseId": "crs"}
    ]


def test_reordered_and_extra_columns(tmp_path):
    header = "Notes,Domain,custom_canvas_course_id,Context ID,Host,Meeting ID"
    data = csv_bytes(f"hello,{DOMAIN}/,42,ctx-9,someone,123 4567 8901", header=header)
    result = run_file(tmp_path, data)
    row = result.rows[0]
    assert (row["meeting_id"], row["context_id"], row["domain"], row["course_id"]) == (
        "123 4567 8901",
        "ctx-9",
        DOMAIN + "/",
        "42",
    )
    assert result.requests[0]["body"] == [
        {"meetingId": "12345678901", "contextId": "ctx-9", "domain": DOMAIN, "courseId": "42"}
    ]


def test_course_column_optional(tmp_path):
    result = run_file(tmp_path, csv_bytes(f"{meeting(1)},ctx,{DOMAIN}", header="Meeting ID,Context ID,Domain"))
    assert result.rows[0]["course_id"] == ""
    assert result.requests[0]["body"] == [{"meetingId": meeting(1), "contextId": "ctx", "domain": DOMAIN}]


def test_normalise_and_map_header_directly():
    assert normalise_header("\ufeff Meeting_ID ") == "meetingid"
    assert IMPORT_TEMPLATE.map_header(["x", "Domain", "meetingId", "courseId", "context id"]) == {
        "domain": 1,
        "meeting_id": 2,
        "course_id": 3,
        "context_id": 4,
    }
    with pytest.raises(FileRefused) as info:
        IMPORT_TEMPLATE.map_header(["Meeting ID", "Domain"])
    assert info.value.line == 1
    assert "missing column(s) Context ID (found 'Meeting ID', 'Domain')" in info.value.reason


def test_csv_source_streams_from_any_reader():
    class Trickle:
        """Hands out at most 7 bytes per read, like a slow network body."""

        def __init__(self, data: bytes):
            self._io = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._io.read(min(n, 7) if n and n > 0 else 7)

    data = csv_bytes(*valid_rows(50))
    source = CsvSource(Trickle(data), IMPORT_TEMPLATE, "t.csv")
    records = list(source)
    assert [r.line for r in records] == list(range(2, 52))
    assert records[-1].meeting_id == meeting(49)
    assert source.encoding == "utf-8"


# ------------------------------------------------------------------ robustness bug
@pytest.mark.parametrize(
    "tail",
    [
        b'123456789,"unbalanced quote\n' + b"1234567890,ctx,https://lms.example.edu,\n" * 4000,
        b"123456789," + b"x" * 140_000 + b",https://lms.example.edu,\n",
    ],
    ids=["unbalanced-quote", "huge-field"],
)
def test_oversized_field_does_not_crash_the_run(tmp_path, tail):
    result = run_file(tmp_path, csv_bytes() + tail)
    summary = result.summary
    assert summary.accounted == summary.total_rows
    assert summary.refused or summary.rejected >= 1


def test_utf8_character_cut_by_the_sniffed_sample_stays_utf8(tmp_path):
    from zoomops.jobs.csvreader import SNIFF_BYTES

    head = csv_bytes(*valid_rows(1500))
    assert len(head) < SNIFF_BYTES - 200
    prefix = head + f"{meeting(9000)},".encode()
    pad = SNIFF_BYTES - len(prefix) - 1  # 'é' (2 bytes) straddles the end of the sample
    data = prefix + b"a" * pad + f"é,{DOMAIN},\n".encode()
    assert data[SNIFF_BYTES - 1 : SNIFF_BYTES + 1] == "é".encode()
    result = run_file(tmp_path, data)
    assert result.summary_json["encoding"] == "utf-8"
    assert not any("cp1252" in w for w in result.summary_json["warnings"])
    assert result.rows[-1]["context_id"] == "a" * pad + "é"
    assert result.rows[-1]["status"] == "planned"


def test_exact_template_column_beats_an_earlier_loose_alias(tmp_path):
    data = csv_bytes(f"7,{meeting(1)},ctx,{DOMAIN},", header="ID," + HEADER)
    result = run_file(tmp_path, data)
    assert result.rows[0]["meeting_id"] == meeting(1)
    assert result.rows[0]["status"] == "planned"


def test_unclosed_quote_mid_file_costs_one_row_not_the_lines_after_it(tmp_path):
    data = csv_bytes(
        f"{meeting(1)},ctx,{DOMAIN},",
        f'{meeting(2)},"ctx,{DOMAIN},',
        f"{meeting(3)},ctx,{DOMAIN},",
        f"{meeting(4)},ctx,{DOMAIN},",
    )
    result = run_file(tmp_path, data)
    summary = result.summary_json
    assert (summary["total_rows"], summary["planned"], summary["rejected"]) == (4, 3, 1)
    assert [(r["line"], r["status"]) for r in result.rows] == [
        ("2", "planned"),
        ("3", "rejected"),
        ("4", "planned"),
        ("5", "planned"),
    ]
    assert "is not closed where it should be" in result.rows[1]["reason"] and result.rows[1]["reason"].startswith(
        "line 3:"
    )


def test_text_after_a_closing_quote_rejects_that_record_only(tmp_path):
    data = csv_bytes(f'{meeting(1)},"ctx" x,{DOMAIN},', f"{meeting(2)},ctx,{DOMAIN},")
    result = run_file(tmp_path, data)
    assert [(r["line"], r["status"]) for r in result.rows] == [("2", "rejected"), ("3", "planned")]
    assert "not valid CSV" in result.rows[0]["reason"]


def test_excel_empty_rows_are_blank_lines_not_rejections(tmp_path):
    data = csv_bytes(f"{meeting(1)},ctx,{DOMAIN},", ",,,", " , ,,", f"{meeting(2)},ctx,{DOMAIN},")
    result = run_file(tmp_path, data)
    assert [(r["line"], r["status"]) for r in result.rows] == [("2", "planned"), ("5", "planned")]
