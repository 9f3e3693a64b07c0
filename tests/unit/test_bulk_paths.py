"""The column-wise fast paths agree exactly with the plain per-row definitions they replace."""

from __future__ import annotations

import csv
import io
import sys
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.testkit import HEADER
from zoomops.jobs.csvreader import CsvSource
from zoomops.jobs.results import WHITESPACE, cell
from zoomops.lti.disassociate import result_files
from zoomops.lti.rows import IMPORT_TEMPLATE, Chunk, Deduplicator, Record, check, check_chunk
from zoomops.lti.signing import encode_body, encode_item_columns, encode_items

fields = st.text(alphabet=st.sampled_from(list('ab1 9-",\r\n\t=@+\\/é\x00\u2028\ufffd')), max_size=8)
meeting_like = st.one_of(
    st.from_regex(r"[0-9]{8,12}", fullmatch=True),
    st.from_regex(r" ?[0-9]{3}[ -][0-9]{4}[ -][0-9]{4} ?", fullmatch=True),
    fields,
)
rows = st.lists(st.tuples(meeting_like, fields, fields, fields), max_size=40)


def test_whitespace_table_is_exactly_what_isspace_accepts():
    assert WHITESPACE == "".join(chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace())


@settings(max_examples=200, deadline=None)
@given(rows, st.one_of(st.none(), fields.filter(bool)))
def test_item_columns_encode_exactly_like_json_dumps(data, user_id):
    valid = [(m, c, d, k) for m, c, d, k in data]
    meetings = ["".join(ch for ch in m if ch.isdigit()) or "1" for m, *_ in valid]
    items = []
    for meeting, (_, context, domain, course) in zip(meetings, valid):
        item = {"meetingId": meeting, "contextId": context, "domain": domain}
        if course:
            item["courseId"] = course
        items.append(item)
    encoded = encode_item_columns(meetings, [v[1] for v in valid], [v[2] for v in valid], [v[3] for v in valid])
    assert encode_items(encoded, user_id) == encode_body(items, user_id)


@settings(max_examples=200, deadline=None)
@given(rows, st.sampled_from(["sent", "failed", "planned"]), fields)
def test_column_writer_matches_csv_writer_with_cell(tmp_path_factory, data, status, reason):
    out = result_files(tmp_path_factory.mktemp("cols"), dry_run=False)
    lines = list(range(2, len(data) + 2))
    out.columns(lines, *([row[i] for row in data] for i in range(4)), status=status, reason=reason)
    out.close()
    expected = io.StringIO()
    writer = csv.writer(expected)
    writer.writerow(("line", "meeting_id", "context_id", "domain", "course_id", "status", "reason"))
    for line, row in zip(lines, data):
        writer.writerow((line, *map(cell, row), status, cell(reason)))
    assert (out.dir / "rows.csv").read_bytes().decode() == expected.getvalue()


def reference_records(text: str) -> list[tuple[int, list[str]]]:
    """Start line of each non-blank record, by csv.reader's own line count, row by row."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    next(reader)
    records, start = [], reader.line_num + 1
    for row in reader:
        if any(cell.strip() for cell in row):  # blank lines and ",,," lines are not records
            records.append((start, row))
        start = reader.line_num + 1
    return records


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(fields, min_size=0, max_size=5), max_size=30),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.integers(min_value=1, max_value=7),
)
def test_chunk_line_numbers_match_csv_reader(records, eol, size):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=eol)
    writer.writerow(HEADER.split(","))
    writer.writerows(records)
    text = buffer.getvalue()
    source = CsvSource(io.BytesIO(text.encode()), IMPORT_TEMPLATE, "t.csv")
    try:
        got = [line for chunk in source.chunks(size) for line in chunk.lines]
    except ValueError:  # refused / malformed: compared elsewhere
        return
    assert got == [line for line, _ in reference_records(text)]


@settings(max_examples=300, deadline=None)
@given(rows)
def test_check_chunk_agrees_with_check(data):
    chunk = Chunk(list(range(2, len(data) + 2)), *([row[i] for row in data] for i in range(4)))
    ms, cs, ds, ks, rejected = check_chunk(chunk)
    for i, row in enumerate(data):
        verdict = check(Record(i + 2, *row))
        if isinstance(verdict, str):
            assert rejected[i] == verdict
        else:
            assert i not in rejected and (ms[i], cs[i], ds[i]) == verdict and ks[i] == row[3].strip()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"0?[0-9]{9,10}", fullmatch=True), st.sampled_from("abc"), st.sampled_from(["x", "X", "y"])
        ),
        max_size=60,
    ),
    st.integers(min_value=1, max_value=9),
)
def test_first_lines_match_a_plain_dict(keys, size):
    dedup, naive = Deduplicator(), {}
    got, want = [], []
    for start in range(0, len(keys), size):
        part = keys[start : start + size]
        lines = list(range(start + 2, start + 2 + len(part)))
        got += dedup.first_lines(*([k[i] for k in part] for i in range(3)), lines)
        want += [naive.setdefault(k, line) for k, line in zip(part, lines)]
    assert got == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 2)), min_size=1, max_size=25), st.sampled_from(["\n", "\r\n"]))
def test_stray_quotes_never_cost_another_line(lines, eol):
    """Lines with a quote opened and never closed: each costs its own row; every other line is read."""
    from tests.testkit import DRY_CREDS, HEADER
    from zoomops.lti import disassociate

    text = [HEADER]
    for n, (stray, field) in enumerate(lines):
        values = [f"{100000000 + n}", f"ctx-{n}", "https://lms.example.edu", ""]
        if stray:
            values[field] = '"' + values[field]
        text.append(",".join(values))
    data = (eol.join(text) + eol).encode()
    with tempfile.TemporaryDirectory() as tmp:
        summary = disassociate.run(
            io.BytesIO(data),
            "q.csv",
            result_files(tmp, dry_run=True),
            disassociate.Options(dry_run=True),
            creds=DRY_CREDS,
        )
        with open(f"{tmp}/rows.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    assert [int(r["line"]) for r in rows] == list(range(2, len(lines) + 2))  # no physical line lost
    assert [r["status"] for r in rows] == ["rejected" if stray else "planned" for stray, _ in lines]
    assert summary.total_rows == len(lines)
