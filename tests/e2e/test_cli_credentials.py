"""``zoomops credentials lti|zoom`` as a subprocess against the local stack (moto + LTI Pro and Zoom simulators).

What is stored must be what the functions read: the LTI secret through ``aws.lti_credentials`` (then a
signed request the LTI Pro simulator accepts), a Zoom account's credentials through the token refresher
(then ``zoomops token refresh`` against the Zoom simulator). No value ever shows on stdout or stderr.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from infra.local.stack import LTI_SECRET, ZOOM_SECRET_PREFIX, LocalStack
from tests.testkit import Terminal
from zoomops import cli

ZOOMOPS = Path(sys.executable).with_name("zoomops")
MAIN_CREDENTIALS = f"{ZOOM_SECRET_PREFIX}main/credentials"


def env_for(stack: LocalStack, **changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOMOPS_", "AWS_"))}
    env.update(stack.function_env("token_refresh"))
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def credentials(stack: LocalStack, *args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(ZOOMOPS), "credentials", *args],
        input=stdin,
        env=env or env_for(stack),
        capture_output=True,
        text=True,
        timeout=60,
    )
    shown = proc.stdout + proc.stderr
    for value in (line.strip("\ufeff\r ") for line in stdin.split("\n")):
        assert len(value) < 6 or value == "CHANGE_ME" or value not in shown, "a value from stdin was shown"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def token(stack: LocalStack, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ZOOMOPS), "token", *args], env=env or env_for(stack), capture_output=True, text=True, timeout=60
    )


def stored(stack: LocalStack, secret_id: str) -> tuple[dict, str]:
    value = stack.client("secretsmanager").get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
    return json.loads(value["SecretString"]), value["VersionId"]


def lines(*values: str) -> str:
    return "".join(f"{v}\n" for v in values)


def read_like_disassociate(stack: LocalStack, base_url: str):
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from zoomops.aws.secrets import lti_credentials

    provider = SecretsProvider(boto3_client=stack.client("secretsmanager"))
    return lti_credentials(LTI_SECRET, base_url, max_age=1, provider=provider)


def test_lti_stores_what_the_disassociate_function_reads(stack):
    from zoomops.lti.client import LtiClient
    from zoomops.lti.signing import encode_body

    right, _ = stored(stack, LTI_SECRET)  # the key and secret the LTI Pro simulator expects
    arn = stack.client("secretsmanager").describe_secret(SecretId=LTI_SECRET)["ARN"]
    body = encode_body([{"meetingId": "1000000001", "contextId": "ctx", "domain": "https://lms.example.edu"}], None)
    versions = []
    for secret, user_id, ok in (("Wrong-LTI-secret-91x", None, False), (right["secret"], "admin@example.edu", True)):
        extra = ("--user-id", user_id) if user_id else ()
        proc = credentials(stack, "lti", "--secret-id", arn, *extra, stdin=lines(right["key"], secret))
        assert proc.returncode == 0, proc.stderr
        value, version = stored(stack, LTI_SECRET)
        assert proc.stdout == f"stored LTI Pro credentials in {arn}: version {version}\n"
        assert value == {"key": right["key"], "secret": secret, **({"user_id": user_id} if user_id else {})}
        creds, default_user = read_like_disassociate(stack, stack.lti.base_url)
        assert (creds.key, creds.secret, default_user) == (right["key"], secret, user_id)
        client = LtiClient(creds, attempts=1)
        try:
            assert client.send(body).ok is ok
        finally:
            client.close()
        versions.append(version)
    assert len(set(versions)) == 2  # each write is a new version


def test_zoom_stores_what_the_refresher_reads_then_token_refresh_works(stack):
    from zoomops.aws.secrets import SecretsTokenStore
    from zoomops.settings import parse_accounts

    right, first_version = stored(stack, MAIN_CREDENTIALS)
    wrong = dict(right, client_secret="Wrong-Zoom-secret-5q")
    proc = credentials(stack, "zoom", "--account", "main", stdin=lines(*wrong.values()))
    assert proc.returncode == 0, proc.stderr
    value, version = stored(stack, MAIN_CREDENTIALS)
    assert value == wrong and version != first_version and version in proc.stdout
    assert proc.stdout.startswith("stored Zoom account main credentials in arn:aws:secretsmanager:")
    assert "zoomops token refresh --account main" in proc.stderr
    [account] = parse_accounts("main", ZOOM_SECRET_PREFIX)
    store = SecretsTokenStore(stack.client("secretsmanager"))
    assert store.credentials(account) == wrong
    refused = token(stack, "refresh", "--account", "main", "--force")
    assert refused.returncode == 4 and "credentials rejected" in refused.stderr

    proc = credentials(stack, "zoom", "--account", "main", stdin=lines(*right.values()))
    assert proc.returncode == 0, proc.stderr
    assert store.credentials(account) == right
    refreshed = token(stack, "refresh", "--account", "main", "--force")
    assert refreshed.returncode == 0 and "refreshed" in refreshed.stdout, refreshed.stderr
    ids = stack.client("secretsmanager").list_secret_version_ids(SecretId=MAIN_CREDENTIALS)["Versions"]
    assert len(ids) == 3


def test_zoom_creates_the_secret_of_a_new_account(stack):
    name, suffix = "extra-1", uuid.uuid4().hex[:8]
    values = {
        "account_id": f"Extra{suffix}",
        "client_id": f"extra-client-{suffix}",
        "client_secret": f"Extra-{uuid.uuid4().hex}",
    }
    stack.zoom.add_account(*values.values())
    proc = credentials(stack, "zoom", "--account", name, stdin=lines(*values.values()))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("(new secret)") and f"{ZOOM_SECRET_PREFIX}{name}/credentials" in proc.stdout
    assert "not in ZOOMOPS_ZOOM_ACCOUNTS" in proc.stderr
    assert stored(stack, f"{ZOOM_SECRET_PREFIX}{name}/credentials")[0] == values
    env = env_for(stack, ZOOMOPS_ZOOM_ACCOUNTS=f"main,{name}")
    refreshed = token(stack, "refresh", "--account", name, env=env)
    assert refreshed.returncode == 0 and "refreshed" in refreshed.stdout, refreshed.stderr
    again = credentials(stack, "zoom", "--account", name, stdin=lines(*values.values()), env=env)
    assert again.returncode == 0 and "new secret" not in again.stdout and "note:" not in again.stderr


@pytest.mark.parametrize(
    "text",
    [
        "Acct-01\nclient-01\nSecret-Fmt-01\n",
        "Acct-01\r\nclient-01\r\nSecret-Fmt-01\r\n",
        "\ufeffAcct-01\nclient-01\nSecret-Fmt-01\n\n\n",
        "Acct-01\nclient-01\nSecret-Fmt-01",
    ],
    ids=["lf", "crlf", "bom-blank-lines", "no-final-newline"],
)
def test_line_formats(stack, text):
    proc = credentials(stack, "zoom", "--account", "main", stdin=text)
    assert proc.returncode == 0, proc.stderr
    assert stored(stack, MAIN_CREDENTIALS)[0] == {
        "account_id": "Acct-01",
        "client_id": "client-01",
        "client_secret": "Secret-Fmt-01",
    }


@pytest.mark.parametrize(
    "args, text, message",
    [
        (["zoom", "--account", "main"], "", "account_id is missing"),
        (["zoom", "--account", "main"], "Acct-01\nclient-01\n", "client_secret is missing"),
        (["zoom", "--account", "main"], "Acct-01\n\nSecret-Refused-1\n", "client_id is empty"),
        (["zoom", "--account", "main"], "Acct 01\nclient-01\nSecret-Refused-2\n", "account_id contains whitespace"),
        (
            ["zoom", "--account", "main"],
            "Acct-01\nclient-01\n Secret-Refused-3\n",
            "client_secret has leading or trailing whitespace",
        ),
        (["zoom", "--account", "main"], "Acct-01\nclient:01\nSecret-Refused-4\n", "client_id contains ':'"),
        (
            ["zoom", "--account", "main"],
            "CHANGE_ME\nclient-01\nSecret-Refused-5\n",
            "account_id is still the placeholder",
        ),
        (
            ["zoom", "--account", "main"],
            "Acct-01\nclient-01\nSecret-Refused-6\nmore\n",
            "stdin has 4 lines; expected 3",
        ),
        (
            ["zoom", "--account", "bad name"],
            "Acct-01\nclient-01\nSecret-Refused-7\n",
            "--account: account name 'bad name'",
        ),
        (["zoom", "--account", "main,sub"], "Acct-01\nclient-01\nSecret-Refused-8\n", "--account 'main,sub'"),
        (["lti", "--secret-id", LTI_SECRET], "\nSecret-Refused-9\n", "key is empty"),
        (["lti", "--secret-id", LTI_SECRET], "Key-Refused-10\n", "secret is missing"),
        (
            ["lti", "--secret-id", LTI_SECRET, "--user-id", "a b"],
            "Key-01\nSecret-Refused-11\n",
            "--user-id contains whitespace",
        ),
        (["zoom"], "Acct-01\nclient-01\nSecret-Refused-12\n", "--account"),
    ],
)
def test_refused_input_names_the_field_exits_2_and_stores_nothing(stack, args, text, message):
    before = {sid: stored(stack, sid)[1] for sid in (LTI_SECRET, MAIN_CREDENTIALS)}
    proc = credentials(stack, *args, stdin=text)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert proc.stdout == ""
    assert {sid: stored(stack, sid)[1] for sid in before} == before


def test_missing_prefix_exits_2_naming_the_variable(stack):
    proc = credentials(
        stack,
        "zoom",
        "--account",
        "main",
        stdin=lines("Acct-01", "client-01", "Secret-NoPrefix-1"),
        env=env_for(stack, ZOOMOPS_ZOOM_SECRET_PREFIX=None),
    )
    assert proc.returncode == 2 and "ZOOMOPS_ZOOM_SECRET_PREFIX" in proc.stderr


@pytest.mark.parametrize("case", ["unknown-secret", "unreachable", "no-credentials"])
def test_aws_failure_exits_1_without_any_value(stack, tmp_path, case):
    args = ["lti", "--secret-id", LTI_SECRET]
    env = env_for(stack, AWS_MAX_ATTEMPTS="1")
    if case == "unknown-secret":
        args[-1] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:zoomops-nope/lti-AbCdEf"
        expected = "ResourceNotFoundException"
    elif case == "unreachable":
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
        expected = "EndpointConnectionError"
    else:
        env = env_for(
            stack,
            AWS_ACCESS_KEY_ID=None,
            AWS_SECRET_ACCESS_KEY=None,
            AWS_SESSION_TOKEN=None,
            AWS_CONFIG_FILE=str(tmp_path / "none"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        )
        expected = "NoCredentialsError"
    proc = credentials(stack, *args, stdin=lines("Key-Failure-01", "Secret-Failure-01"), env=env)
    assert proc.returncode == 4, proc.stderr
    assert f"could not store LTI Pro credentials in {args[-1]}: {expected}" in proc.stderr
    assert proc.stdout == ""


def test_no_region_exits_4_without_any_value(stack, tmp_path):
    env = env_for(stack, AWS_DEFAULT_REGION=None, AWS_REGION=None, AWS_CONFIG_FILE=str(tmp_path / "none"))
    proc = credentials(
        stack, "lti", "--secret-id", LTI_SECRET, stdin=lines("Key-Region-01", "Secret-Region-01"), env=env
    )
    assert proc.returncode == 4 and "region" in proc.stderr and proc.stdout == ""


def test_terminal_prompts_without_echo(stack):
    """On a TTY the values are asked for one by one and never echoed."""
    values = {"account_id": "Acct-Tty-01", "client_id": "client-tty-01", "client_secret": "Secret-Tty-0xq"}
    with Terminal([str(ZOOMOPS), "credentials", "zoom", "--account", "main"], env_for(stack)) as tty:
        for name, value in values.items():
            tty.read_until(f"{name}: ".encode())
            tty.type(value)
        tty.read_until(b"next: zoomops token refresh")
        assert tty.proc.wait(timeout=30) == 0
    shown = tty.shown
    assert b"stored Zoom account main credentials" in shown
    for value in values.values():
        assert value.encode() not in shown
    assert stored(stack, MAIN_CREDENTIALS)[0] == values


def test_in_process_debug_logs_never_hold_a_value(stack, monkeypatch, capsys, caplog):
    """botocore logs request bodies at DEBUG: the command raises its loggers first."""
    caplog.set_level(logging.DEBUG)
    secret = "Secret-Debug-Log-77"
    monkeypatch.setattr(sys, "stdin", io.StringIO(lines("Acct-Log-01", "client-log-01", secret)))
    assert cli.main(["credentials", "zoom", "--account", "main"]) == 0
    out, err = capsys.readouterr()
    assert "version" in out and secret not in out + err
    assert secret not in caplog.text and all(secret not in str(r.args) for r in caplog.records)
    assert stored(stack, MAIN_CREDENTIALS)[0]["client_secret"] == secret
