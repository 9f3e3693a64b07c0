"""The installed ``zoomops`` console script, run as a subprocess against the LTI Pro simulator."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local.lti_sim import Fault
from tests.testkit import DOMAIN, HEADER, KEY, SECRET

ZOOMOPS = Path(sys.executable).with_name("zoomops")
CONTRACT = "zoomops disassociate FILE --out DIR [--dry-run] [--user-id ID] [--batch-size N]"
ENV_VARS = ("ZOOMOPS_LTI_BASE_URL", "ZOOMOPS_LTI_KEY", "ZOOMOPS_LTI_SECRET")


def test_console_script_is_installed():
    assert ZOOMOPS.exists(), f"make setup installs the zoomops console script at {ZOOMOPS}"


def write_csv(path: Path, *lines: str) -> Path:
    path.write_bytes(("\n".join([HEADER, *lines]) + "\n").encode("utf-8"))
    return path


def rows(n: int, start: int = 0) -> list[str]:
    return [f"{1_000_000_000 + i},ctx-{i},{DOMAIN}," for i in range(start, start + n)]


def zoomops(
    *args: str, base_url: str | None = "http://127.0.0.1:9/api/v1/lti/rich", drop: tuple = (), timeout: float = 60
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMOPS_")}
    env.update({"ZOOMOPS_LTI_BASE_URL": base_url, "ZOOMOPS_LTI_KEY": KEY, "ZOOMOPS_LTI_SECRET": SECRET})
    for name in drop:
        env.pop(name, None)
    proc = subprocess.run([str(ZOOMOPS), *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def read_out(out: Path) -> tuple[dict, list[dict], list[list[str]]]:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    with open(out / "rows.csv", newline="", encoding="utf-8") as fh:
        row_dicts = list(csv.DictReader(fh))
    with open(out / "retry.csv", newline="", encoding="utf-8") as fh:
        retry = list(csv.reader(fh))
    for path in out.iterdir():
        assert SECRET.encode() not in path.read_bytes(), path
    return summary, row_dicts, retry


def test_success_exit_0_and_files(tmp_path, sim):
    source = write_csv(tmp_path / "meetings.csv", *rows(5), "bad-id,ctx,x,", rows(1)[0])
    out = tmp_path / "out"
    proc = zoomops("disassociate", str(source), "--out", str(out), "--batch-size", "2", base_url=sim.base_url)
    assert proc.returncode == 0, proc.stderr
    summary, row_dicts, retry = read_out(out)
    assert (summary["total_rows"], summary["sent"], summary["rejected"], summary["duplicates"], summary["failed"]) == (
        7,
        5,
        1,
        1,
        0,
    )
    assert summary["batches"] == 3 and summary["file"] == "meetings.csv" and summary["dry_run"] is False
    assert [r["status"] for r in row_dicts] == ["sent"] * 5 + ["rejected", "duplicate"]
    assert retry == [["Meeting ID", "Context ID", "Domain", "custom_canvas_course_id"]]
    assert not (out / "requests.jsonl").exists()
    assert [len(call["items"]) for call in sim.accepted] == [2, 2, 1]
    assert "meetings.csv: 7 rows" in proc.stdout


def test_permanent_batch_failure_exit_1_with_retry_csv(tmp_path, sim):
    sim.add_faults(Fault(), Fault(body={"status": False, "errorCode": "300", "errorMessage": "Meeting does not exist"}))
    source = write_csv(tmp_path / "m.csv", *rows(3), f"123 4567 8901,ctx-x,{DOMAIN}/,crs")
    out = tmp_path / "out"
    proc = zoomops("disassociate", str(source), "--out", str(out), "--batch-size", "2", base_url=sim.base_url)
    assert proc.returncode == 1, proc.stderr
    summary, row_dicts, retry = read_out(out)
    assert (summary["sent"], summary["failed"]) == (2, 2)
    assert [r["status"] for r in row_dicts] == ["sent", "sent", "failed", "failed"]
    assert "Meeting does not exist" in row_dicts[2]["reason"]
    assert retry[1:] == [[str(1_000_000_002), "ctx-2", DOMAIN, ""], ["123 4567 8901", "ctx-x", DOMAIN + "/", "crs"]]
    assert "retry.csv" in proc.stderr


def test_401_exit_1_every_row_in_retry_csv(tmp_path, sim):
    sim.add_faults(Fault(status=401))
    source = write_csv(tmp_path / "m.csv", *rows(3))
    out = tmp_path / "out"
    proc = zoomops("disassociate", str(source), "--out", str(out), "--batch-size", "1", base_url=sim.base_url)
    assert proc.returncode == 1
    summary, row_dicts, retry = read_out(out)
    assert len(sim.received) == 1
    assert summary["failed"] == 3 and len(retry) == 4
    assert all("Verify LTI signature failed(2203)." in r["reason"] for r in row_dicts)


def test_refused_file_exit_2_summary_written(tmp_path, sim):
    source = tmp_path / "image.csv"
    source.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    out = tmp_path / "out"
    proc = zoomops("disassociate", str(source), "--out", str(out), base_url=sim.base_url)
    assert proc.returncode == 2
    assert "binary" in proc.stderr and "refused" in proc.stderr
    summary, row_dicts, retry = read_out(out)
    assert summary["refused"] and "binary" in summary["refused"]
    assert row_dicts == [] and len(retry) == 1
    assert sim.received == []


def test_no_header_exit_2_names_missing_columns(tmp_path, sim):
    source = tmp_path / "noheader.csv"
    source.write_bytes(("\n".join(rows(2)) + "\n").encode())
    proc = zoomops("disassociate", str(source), "--out", str(tmp_path / "out"), base_url=sim.base_url)
    assert proc.returncode == 2
    assert "Meeting ID, Context ID, Domain" in proc.stderr


@pytest.mark.parametrize("missing", ENV_VARS)
def test_missing_env_var_exit_2_names_it(tmp_path, missing):
    source = write_csv(tmp_path / "m.csv", *rows(1))
    proc = zoomops("disassociate", str(source), "--out", str(tmp_path / "out"), drop=(missing,))
    assert proc.returncode == 2
    assert missing in proc.stderr
    assert not (tmp_path / "out").exists()


def test_bad_base_url_exit_2(tmp_path):
    source = write_csv(tmp_path / "m.csv", *rows(1))
    proc = zoomops("disassociate", str(source), "--out", str(tmp_path / "out"), base_url="ftp://x")
    assert proc.returncode == 2 and "ZOOMOPS_LTI_BASE_URL" in proc.stderr


def test_missing_input_file_exit_2(tmp_path):
    proc = zoomops("disassociate", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "nope.csv" in proc.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--batch-size", "401"], "--batch-size"),
        (["--batch-size", "0"], "--batch-size"),
        (["--batch-size", "ten"], "--batch-size"),
        (["--frobnicate"], "--frobnicate"),
        (["--user-id", " "], "user id"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, needle):
    source = write_csv(tmp_path / "m.csv", *rows(1))
    proc = zoomops("disassociate", str(source), "--out", str(tmp_path / "out"), *args)
    assert proc.returncode == 2
    assert needle in proc.stderr


def test_no_out_option_exit_2(tmp_path):
    source = write_csv(tmp_path / "m.csv", *rows(1))
    proc = zoomops("disassociate", str(source))
    assert proc.returncode == 2 and "--out" in proc.stderr


def test_dry_run_writes_requests_and_sends_nothing(tmp_path, sim):
    source = write_csv(tmp_path / "m.csv", *rows(5))
    out = tmp_path / "out"
    proc = zoomops(
        "disassociate", str(source), "--out", str(out), "--dry-run", "--batch-size", "2", base_url=sim.base_url
    )
    assert proc.returncode == 0, proc.stderr
    assert sim.received == []
    summary, row_dicts, retry = read_out(out)
    assert summary["dry_run"] is True and summary["planned"] == 5 and summary["sent"] == 0
    assert [r["status"] for r in row_dicts] == ["planned"] * 5
    lines = (out / "requests.jsonl").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    records = [json.loads(line) for line in lines[:-1]]
    assert len(records) == 3
    for number, record in enumerate(records):
        assert record["batch"] == number
        assert record["method"] == "PUT"
        assert record["url"].startswith(sim.base_url + "/meeting/bulkDisassociate?")
        assert record["query"]["key"] == KEY and record["query"]["timestamp"].isdigit()
        assert len(record["headers"]["X-Lti-Signature"]) == 27
        assert record["headers"]["Content-Type"] == "application/json"
    assert [len(r["body"]) for r in records] == [2, 2, 1]
    assert records[0]["body"][0] == {"meetingId": "1000000000", "contextId": "ctx-0", "domain": DOMAIN}


def test_dry_run_requests_are_valid_when_replayed(tmp_path, sim):
    """What requests.jsonl records is exactly a request the API accepts (signature included)."""
    import requests

    source = write_csv(tmp_path / "m.csv", *rows(2))
    out = tmp_path / "out"
    assert zoomops("disassociate", str(source), "--out", str(out), "--dry-run", base_url=sim.base_url).returncode == 0
    (record,) = [json.loads(line) for line in (out / "requests.jsonl").read_text().split("\n")[:-1]]
    answer = requests.put(record["url"], headers=record["headers"], data=json.dumps(record["body"]), timeout=5)
    assert answer.status_code == 200 and answer.json()["status"] is True
    assert len(sim.accepted_items()) == 2


def test_user_id_sends_admin_form(tmp_path, sim):
    source = write_csv(tmp_path / "m.csv", *rows(2))
    out = tmp_path / "out"
    proc = zoomops("disassociate", str(source), "--out", str(out), "--user-id", "admin-42", base_url=sim.base_url)
    assert proc.returncode == 0, proc.stderr
    (call,) = sim.accepted
    assert call["user_id"] == "admin-42"
    body = json.loads(sim.received[0]["body_text"])
    assert set(body) == {"userId", "meetingList"} and len(body["meetingList"]) == 2
    assert json.loads((out / "summary.json").read_text())["user_id"] == "admin-42"


def test_retry_csv_redrives_the_failed_rows(tmp_path, sim):
    sim.add_faults(Fault(status=400))
    source = write_csv(tmp_path / "m.csv", *rows(3))
    first = tmp_path / "first"
    assert (
        zoomops("disassociate", str(source), "--out", str(first), "--batch-size", "2", base_url=sim.base_url).returncode
        == 1
    )
    sim.reset()
    second = tmp_path / "second"
    proc = zoomops("disassociate", str(first / "retry.csv"), "--out", str(second), base_url=sim.base_url)
    assert proc.returncode == 0, proc.stderr
    assert [i["meetingId"] for i in sim.accepted_items()] == ["1000000000", "1000000001"]


def test_contract_option_names():
    import zoomops.cli.disassociate as cli_module

    assert CONTRACT in " ".join(cli_module.__doc__.split())
    for name in ENV_VARS:
        assert name in cli_module.__doc__
    proc = subprocess.run([str(ZOOMOPS), "disassociate", "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    usage = " ".join(proc.stdout.split("\n\n")[0].split())
    assert usage == "usage: zoomops disassociate [-h] --out DIR [--dry-run] [--user-id ID] [--batch-size N] FILE"
    top = subprocess.run([str(ZOOMOPS), "--help"], capture_output=True, text=True, timeout=30)
    assert top.returncode == 0 and "disassociate" in top.stdout


def test_unclosed_quote_costs_one_row_and_the_rest_is_read(tmp_path, sim):
    source = tmp_path / "big.csv"
    source.write_bytes((HEADER + '\n1234567890,"unbalanced,x,\n' + "\n".join(rows(4000, 1)) + "\n").encode())
    out = tmp_path / "out"
    proc = zoomops("disassociate", str(source), "--out", str(out), "--dry-run", base_url=sim.base_url)
    assert proc.returncode == 0, proc.stderr
    summary, row_dicts, _ = read_out(out)
    assert (summary["total_rows"], summary["planned"], summary["rejected"]) == (4001, 4000, 1)
    assert row_dicts[0]["line"] == "2" and row_dicts[0]["status"] == "rejected"
    assert "is not closed where it should be" in row_dicts[0]["reason"]
    assert [r["line"] for r in row_dicts[1:3]] == ["3", "4"]  # the swallowed lines, read again
