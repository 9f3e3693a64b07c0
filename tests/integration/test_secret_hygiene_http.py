"""The LTI secret never shows: not in output, logs, exceptions, reprs or any written file."""

from __future__ import annotations

import logging

import pytest

from infra.local.lti_sim import Fault, LtiProSimulator
from tests.testkit import DOMAIN, KEY, SECRET, SleepRecorder, csv_bytes, meeting, run_file, valid_rows
from zoomops import cli
from zoomops.lti import disassociate
from zoomops.lti.client import LtiClient
from zoomops.lti.signing import LtiCredentials, encode_body
from zoomops.settings import CliLtiSettings

assert SECRET == "S3CRET-xyzzy-42"

BODY = encode_body([{"meetingId": meeting(1), "contextId": "c", "domain": DOMAIN}], None)


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_secret_in_dir(directory) -> int:
    files = [p for p in directory.rglob("*") if p.is_file()]
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    return len(files)


def assert_no_secret_in_logs(caplog) -> None:
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in str(record.args)
    assert SECRET not in caplog.text


def _cli(monkeypatch, capsys, base_url, *args):
    monkeypatch.setenv("ZOOMOPS_LTI_BASE_URL", base_url)
    monkeypatch.setenv("ZOOMOPS_LTI_KEY", KEY)
    monkeypatch.setenv("ZOOMOPS_LTI_SECRET", SECRET)
    try:
        code = cli.main(list(args))
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert SECRET not in out and SECRET not in err
    return code, out, err


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=401),
        Fault(status=503),
        Fault(drop=True),
        Fault(delay=1.0),
        Fault(status=400),
        Fault(body={"status": False, "errorMessage": "x"}),
    ],
    ids=["401", "503", "drop", "timeout", "400", "status-false"],
)
def test_client_failures_never_show_the_secret(sim, debug_logs, fault):
    sim.add_faults(*[fault] * 2)
    creds = LtiCredentials(KEY, SECRET, sim.base_url)
    client = LtiClient(creds, attempts=2, read_timeout=0.3, sleep=SleepRecorder())
    try:
        result = client.send(BODY)
    finally:
        client.close()
    assert not result.ok
    assert SECRET not in result.message and SECRET not in repr(result)
    assert_no_secret_in_logs(debug_logs)


def test_connection_refused_exception_text_has_no_secret(debug_logs):
    creds = LtiCredentials(KEY, SECRET, "http://127.0.0.1:9/api/v1/lti/rich")
    client = LtiClient(creds, attempts=2, sleep=SleepRecorder())
    try:
        result = client.send(BODY)
    finally:
        client.close()
    assert not result.ok and "connection" in result.message
    assert SECRET not in result.message
    assert_no_secret_in_logs(debug_logs)


def test_reprs_and_exceptions_have_no_secret(tmp_path, monkeypatch):
    creds = LtiCredentials(KEY, SECRET, "http://127.0.0.1:9/x")
    assert SECRET not in repr(creds) and SECRET not in str(creds)
    settings = CliLtiSettings.from_env(
        {"ZOOMOPS_LTI_BASE_URL": "http://h/x", "ZOOMOPS_LTI_KEY": KEY, "ZOOMOPS_LTI_SECRET": SECRET}
    )
    assert settings.secret == SECRET
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    with LtiProSimulator(KEY, SECRET) as other:
        assert SECRET not in repr(other)

    # an exception raised out of a run (time budget) carries no secret either
    client = LtiClient(creds)
    try:
        with pytest.raises(disassociate.OutOfTime) as info:
            run_file(
                tmp_path, csv_bytes(*valid_rows(2)), dry_run=False, creds=creds, sender=client, time_left=lambda: 1.0
            )
    finally:
        client.close()
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


@pytest.mark.parametrize("scenario", ["ok", "dry-run", "401", "status-false", "refused", "bad-batch-size"])
def test_cli_paths_never_show_the_secret(tmp_path, sim, monkeypatch, capsys, debug_logs, scenario):
    source = tmp_path / "meetings.csv"
    source.write_bytes(csv_bytes(*valid_rows(3), f"{meeting(9)},=x,{DOMAIN},"))
    out = tmp_path / "out"
    args = ["disassociate", str(source), "--out", str(out), "--batch-size", "2"]
    expected = 0
    if scenario == "dry-run":
        args.append("--dry-run")
    elif scenario == "401":
        sim.add_faults(Fault(status=401))
        expected = 1
    elif scenario == "status-false":
        sim.add_faults(Fault(body={"status": False, "errorMessage": "nope"}))
        expected = 1
    elif scenario == "refused":
        source.write_bytes(b"\x00\x01binary")
        expected = 2
    elif scenario == "bad-batch-size":
        args[-1] = "401"
        expected = 2
    code, stdout, stderr = _cli(monkeypatch, capsys, sim.base_url, *args)
    assert code == expected, (stdout, stderr)
    assert_no_secret_in_logs(debug_logs)
    if scenario != "bad-batch-size":
        assert assert_no_secret_in_dir(out) >= 3
    if scenario == "dry-run":
        assert (out / "requests.jsonl").read_text().count("X-Lti-Signature") == 2
    if scenario in ("ok", "401"):
        assert any("bulkDisassociate" in r.getMessage() for r in debug_logs.records)  # logs really captured
