"""zoomops.cli in process: parser contract, exit codes from the summary, progress lines."""

from __future__ import annotations

import io

import pytest

from tests.testkit import SECRET, csv_bytes, valid_rows
from zoomops import cli
from zoomops.cli import disassociate as dis_cli
from zoomops.cli.common import Progress
from zoomops.lti.disassociate import Summary


def test_parser_contract():
    parser = cli.build_parser()
    args = parser.parse_args(
        ["disassociate", "f.csv", "--out", "d", "--dry-run", "--user-id", "u", "--batch-size", "7"]
    )
    assert (args.command, args.file, args.out, args.dry_run, args.user_id, args.batch_size) == (
        "disassociate",
        "f.csv",
        "d",
        True,
        "u",
        7,
    )
    defaults = parser.parse_args(["disassociate", "f.csv", "--out", "d"])
    assert (defaults.dry_run, defaults.user_id, defaults.batch_size) == (False, None, 400)


@pytest.mark.parametrize("value", ["0", "401", "-3", "1.5", "x"])
def test_parser_refuses_bad_batch_size(value, capsys):
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["disassociate", "f.csv", "--out", "d", "--batch-size", value])
    assert info.value.code == 2
    assert "--batch-size" in capsys.readouterr().err


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"sent": 3, "total_rows": 3}, 0),
        ({"sent": 1, "rejected": 1, "duplicates": 1, "total_rows": 3}, 0),
        ({"planned": 2, "total_rows": 2, "dry_run": True}, 0),
        ({"sent": 1, "failed": 1, "total_rows": 2}, 1),
        ({"refused": "x.csv: the file is empty"}, 2),
    ],
)
def test_report_exit_codes(tmp_path, capsys, fields, code):
    summary = Summary(file="x.csv", encoding="utf-8", **fields)
    assert dis_cli.report(summary, tmp_path) == code
    out, err = capsys.readouterr()
    if code == 2:
        assert "the file is empty" in err
    else:
        assert "x.csv" in out
    if code == 1:
        assert "retry.csv" in err


def test_progress_line_shows_counts():
    stream = io.StringIO()
    progress = Progress(io.BytesIO(), "batches", out=stream, interval=0.0)
    progress.update(Summary(file="f", total_rows=800, sent=790, rejected=10), 2)
    line = stream.getvalue()
    assert "800 rows read" in line and "batch 2" in line and "sent 790" in line and "rejected 10" in line


def test_progress_is_rate_limited():
    stream = io.StringIO()
    progress = Progress(io.BytesIO(), "batches", out=stream, interval=3600.0)
    progress.update(Summary(file="f"), 1)
    assert stream.getvalue() == ""


def test_main_dry_run_in_process(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOOMOPS_LTI_BASE_URL", "http://127.0.0.1:9/api/v1/lti/rich/")
    monkeypatch.setenv("ZOOMOPS_LTI_KEY", "k")
    monkeypatch.setenv("ZOOMOPS_LTI_SECRET", SECRET)
    source = tmp_path / "m.csv"
    source.write_bytes(csv_bytes(*valid_rows(3)))
    assert cli.main(["disassociate", str(source), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    out, _ = capsys.readouterr()
    assert "3 planned" in out and "requests.jsonl" in out
    url = (tmp_path / "o" / "requests.jsonl").read_text().split('"url":"')[1].split('"')[0]
    assert url.startswith("http://127.0.0.1:9/api/v1/lti/rich/meeting/bulkDisassociate?")  # no '//' from the '/'
