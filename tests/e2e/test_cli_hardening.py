"""What real admins do to the CLI, through the installed ``zoomops`` script against the LTI Pro simulator:
re-drive exactly as advised, interrupt a run and resume it, feed it mixed encodings and spreadsheet artefacts.
Each test failed before the hardening it describes."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.local.lti_sim import Fault
from tests.e2e.test_cli import ZOOMOPS, read_out, rows, write_csv, zoomops
from tests.testkit import DOMAIN, HEADER, KEY, SECRET


def _env(base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMOPS_")}
    env.update({"ZOOMOPS_LTI_BASE_URL": base_url, "ZOOMOPS_LTI_KEY": KEY, "ZOOMOPS_LTI_SECRET": SECRET})
    return env


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_the_printed_redrive_command_works_as_printed_and_destroys_nothing(tmp_path, sim):
    sim.add_faults(Fault(status=400, body={"status": False, "errorMessage": "nope"}))  # the first of 2 batches
    source, out = write_csv(tmp_path / "m.csv", *rows(4)), tmp_path / "out"
    first = zoomops("disassociate", str(source), "--out", str(out), "--batch-size", "2", base_url=sim.base_url)
    assert first.returncode == 1
    before = _snapshot(out)
    advice = next(line for line in first.stderr.splitlines() if "re-drive them with:" in line)
    command = shlex.split(advice.split("re-drive them with:", 1)[1])
    assert command[:2] == ["zoomops", "disassociate"] and "--out" in command
    # The old advice (the same folder) is refused now, and the failed rows are still there.
    again = zoomops("disassociate", str(out / "retry.csv"), "--out", str(out), base_url=sim.base_url)
    assert again.returncode == 2 and "never overwritten" in again.stderr
    # The printed command, exactly as printed.
    proc = subprocess.run(
        [str(ZOOMOPS), *command[1:]], env=_env(sim.base_url), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert _snapshot(out) == before  # the earlier run's rows.csv, retry.csv, summary.json untouched
    assert sorted(item["meetingId"] for item in sim.accepted_items()) == [str(1_000_000_000 + i) for i in range(4)]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_accounts_for_every_row_and_resumes_without_resending(tmp_path, sim, signum):
    source, out = write_csv(tmp_path / "m.csv", *rows(6)), tmp_path / "out"
    sim.add_faults(Fault(), Fault(delay=2.0))  # the second batch is slow: the signal arrives while it is in flight
    args = [str(ZOOMOPS), "disassociate", str(source), "--out", str(out), "--batch-size", "2"]
    proc = subprocess.Popen(args, env=_env(sim.base_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(sim.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    assert "Traceback" not in stderr and "the same command again to resume" in stderr
    summary, row_dicts, retry = read_out(out)
    assert summary["interrupted"] and summary["total_rows"] == 6 == len(row_dicts)
    assert [r["status"] for r in row_dicts] == ["sent"] * 4 + ["failed"] * 2  # the batch in flight finished
    assert [r[0] for r in retry[1:]] == [str(1_000_000_004), str(1_000_000_005)]
    assert json.loads((out / "checkpoint.json").read_text())["state"] == "interrupted"
    # The same command resumes: what LTI Pro accepted is not sent again.
    resumed = zoomops(*args[1:], base_url=sim.base_url)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    accepted = [item["meetingId"] for item in sim.accepted_items()]
    assert sorted(accepted) == [str(1_000_000_000 + i) for i in range(6)]  # each exactly once
    summary, row_dicts, _ = read_out(out)
    assert summary["sent"] == 6 and summary["interrupted"] is None and summary["resumed_batches"] == 2


def test_a_line_that_is_not_utf8_is_read_as_cp1252_without_garbling_the_utf8_lines(tmp_path, sim):
    data = (HEADER + "\n").encode() + f"1000000001,ctx-café,{DOMAIN},\n".encode()
    data += f"1000000002,ctx-café,{DOMAIN},\n".encode("cp1252")  # one line pasted from a cp1252 source
    source, out = tmp_path / "mixed.csv", tmp_path / "out"
    source.write_bytes(data)
    proc = zoomops("disassociate", str(source), "--out", str(out), base_url=sim.base_url)
    assert proc.returncode == 0, proc.stderr
    assert [item["contextId"] for item in sim.accepted_items()] == ["ctx-café", "ctx-café"]  # not "ctx-cafÃ©"
    summary, _, _ = read_out(out)
    assert summary["encoding"] == "utf-8, some lines cp1252"
    assert any("line(s) 3:" in w and "cp1252" in w for w in summary["warnings"]), summary["warnings"]


def test_the_admin_user_id_is_signed(tmp_path, sim):
    source, out = write_csv(tmp_path / "m.csv", *rows(2)), tmp_path / "out"
    proc = zoomops("disassociate", str(source), "--out", str(out), "--user-id", "admin-77", base_url=sim.base_url)
    assert proc.returncode == 0, proc.stderr
    assert sim.received[0]["query"]["userId"] == "admin-77" and sim.accepted[0]["user_id"] == "admin-77"


def test_spreadsheet_artefacts_are_named(tmp_path, sim):
    twice = tmp_path / "twice.csv"
    twice.write_text(f"Meeting ID,Context ID,Domain,meeting_id\n1000000001,c,{DOMAIN},1000000002\n")
    proc = zoomops("disassociate", str(twice), "--out", str(tmp_path / "o1"), base_url=sim.base_url)
    assert proc.returncode == 2
    assert "ambiguous header: columns 1 ('Meeting ID') and 4 ('meeting_id') both name Meeting ID" in proc.stderr

    excel = write_csv(tmp_path / "excel.csv", f"8.12346E+10,c,{DOMAIN},", *rows(1))
    proc = zoomops("disassociate", str(excel), "--out", str(tmp_path / "o2"), base_url=sim.base_url)
    assert proc.returncode == 0, proc.stderr
    _, row_dicts, _ = read_out(tmp_path / "o2")
    assert row_dicts[0]["status"] == "rejected" and "Excel turned this ID into a number" in row_dicts[0]["reason"]

    for name, magic in (("book.xlsx.csv", b"PK\x03\x04"), ("old.xls.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")):
        book = tmp_path / name
        book.write_bytes(magic + bytes(range(256)) * 8)
        proc = zoomops("disassociate", str(book), "--out", str(tmp_path / name[:3]), base_url=sim.base_url)
        assert proc.returncode == 2 and "workbook" in proc.stderr and "UTF-16" not in proc.stderr


def test_credentials_and_hosts_are_named(tmp_path, sim):
    sim.add_faults(Fault(status=401))
    source = write_csv(tmp_path / "m.csv", *rows(1))
    refused = zoomops("disassociate", str(source), "--out", str(tmp_path / "a"), base_url=sim.base_url)
    assert refused.returncode == 1 and "credentials" in refused.stderr  # the contract's 1: rows failed
    unreachable = zoomops(
        "disassociate", str(source), "--out", str(tmp_path / "b"), base_url="http://127.0.0.1:9/api/v1/lti/rich"
    )
    assert unreachable.returncode == 1 and "127.0.0.1:9" in unreachable.stderr


def test_version_and_every_help_lists_its_variables_and_exit_statuses():
    version = subprocess.run([str(ZOOMOPS), "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("zoomops ")
    for command, variable in (
        (["disassociate"], "ZOOMOPS_LTI_SECRET"),
        (["token", "status"], "ZOOMOPS_JOBS_TABLE"),
        (["report", "participants"], "ZOOMOPS_ZOOM_SECRET_PREFIX"),
    ):
        shown = subprocess.run([str(ZOOMOPS), *command, "--help"], capture_output=True, text=True, timeout=30)
        assert shown.returncode == 0 and variable in shown.stdout and "exit status:" in shown.stdout, command


def _aws_cli(tmp_path: Path, *args: str, **env: str | None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOMOPS_", "AWS_"))}
    base.update(
        ZOOMOPS_ZOOM_ACCOUNTS="main",
        ZOOMOPS_ZOOM_SECRET_PREFIX="x/zoom/",
        ZOOMOPS_JOBS_TABLE="jobs",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    base.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run([str(ZOOMOPS), *args], env=base, capture_output=True, text=True, timeout=60)


def test_aws_problems_are_one_line_with_exit_4_never_a_traceback(tmp_path):
    no_region = _aws_cli(tmp_path, "token", "status", AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b")
    assert no_region.returncode == 4 and "region" in no_region.stderr and "Traceback" not in no_region.stderr
    unreachable = _aws_cli(
        tmp_path,
        "token",
        "refresh",
        AWS_ACCESS_KEY_ID="a",
        AWS_SECRET_ACCESS_KEY="b",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
    )
    assert unreachable.returncode == 4 and "127.0.0.1:9" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr and len(unreachable.stderr.strip().splitlines()) == 1
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    report = _aws_cli(tmp_path, "report", "participants", "--meeting", "81234567890", "--out", str(not_a_folder))
    assert report.returncode == 2 and "cannot write there" in report.stderr and "Traceback" not in report.stderr
    assert sys.executable  # the same interpreter the script runs on
