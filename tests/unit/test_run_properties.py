"""Property: for any input a dry run never crashes and every record is accounted for once."""

from __future__ import annotations

import codecs
import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.testkit import DRY_CREDS, HEADER
from zoomops.lti import disassociate
from zoomops.lti.disassociate import result_files

VALID_IDS = ["123456789", "12345678901", "123 4567 8901", "123-456-7890", "0123456789", "1234567890"]
JUNK = [
    "",
    " ",
    "x",
    "=1+1",
    "12345678",
    "123456789012",
    '"',
    '""',
    ",",
    "\n",
    "\r\n",
    "Café",
    "\ufeff",
    "\ufffd",
    "\x00",
    "\t",
    "-",
    "/",
    "https://lms.example.edu",
    "https://lms.example.edu/",
    "ctx-1",
    "CTX-1",
    "a,b",
    'quo"te',
    "line\nbreak",
]


value = st.one_of(st.sampled_from(VALID_IDS), st.sampled_from(JUNK), st.text(max_size=12))


def _quote(v: str, mode: int) -> str:
    if mode == 0:
        return v  # raw: may break the CSV structure on purpose
    return '"' + v.replace('"', '""') + '"'


@st.composite
def csvish(draw) -> bytes:
    header = draw(
        st.sampled_from(
            [
                HEADER,
                "meeting_id,context_id,domain",
                "Domain,Context ID,Meeting ID,Extra",
                "",
                "nonsense,header",
                "meetingId;contextId;domain",
            ]
        )
    )
    rows = draw(st.lists(st.lists(st.tuples(value, st.integers(0, 1)), min_size=0, max_size=6), max_size=18))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [header] + [",".join(_quote(v, m) for v, m in row) for row in rows]
    text = eol.join(lines) + draw(st.sampled_from(["", eol]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    data = text.encode(encoding, errors="replace") if encoding == "cp1252" else text.encode(encoding)
    if draw(st.booleans()):
        data = codecs.BOM_UTF8 + data
    return data


def _check(data: bytes, batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        summary = disassociate.run(
            io.BytesIO(data),
            "prop.csv",
            result_files(out, dry_run=True),
            disassociate.Options(dry_run=True, batch_size=batch_size),
            creds=DRY_CREDS,
        )
        on_disk = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        with open(out / "rows.csv", newline="", encoding="utf-8") as fh:
            records = list(csv.reader(fh))[1:]
        with open(out / "retry.csv", newline="", encoding="utf-8") as fh:
            retry = list(csv.reader(fh))[1:]
        planned_in_requests = 0
        if (out / "requests.jsonl").exists():
            for line in (out / "requests.jsonl").read_text(encoding="utf-8").split("\n")[:-1]:
                body = json.loads(line)["body"]
                assert 1 <= len(body) <= batch_size
                planned_in_requests += len(body)
    assert on_disk["total_rows"] == summary.total_rows
    assert summary.sent + summary.planned + summary.rejected + summary.duplicates + summary.failed == summary.total_rows
    assert summary.sent == summary.failed == 0 and retry == []
    if summary.refused:
        assert summary.total_rows == 0 and records == []
        return
    assert len(records) == summary.total_rows
    assert [int(r[0]) for r in records] == sorted(int(r[0]) for r in records)
    assert len({r[0] for r in records}) == len(records)  # one row per record, each on its own line
    statuses = [r[5] for r in records]
    assert statuses.count("planned") == summary.planned == planned_in_requests
    assert statuses.count("rejected") == summary.rejected
    assert statuses.count("duplicate") == summary.duplicates


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=csvish(), batch_size=st.integers(1, 5))
def test_csvish_input_always_accounted_for(data, batch_size):
    _check(data, batch_size)


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data):
    _check(data, 400)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.binary(max_size=60), body=csvish())
def test_bytes_glued_to_csv_never_crash(prefix, body):
    _check(prefix + body, 3)
