"""``zoomops credentials webmeeting|luminus`` as a subprocess against the local stack's Secrets Manager (moto).

What is stored must be what ``zoomops provision`` reads (``provision.platforms``' readers, the same ones the
provisioning tests run end to end); the values come from stdin only, are never shown, and refused input
stores nothing (exit 2). AWS failures exit 4.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local.stack import LOCAL, LocalStack, aws_env
from tests.testkit import Terminal
from zoomops.aws.secrets import put_secret
from zoomops.provision import platforms

pytestmark = pytest.mark.e2e

ZOOMOPS = Path(sys.executable).with_name("zoomops")
WM_SECRET, LU_SECRET = LOCAL.webmeeting_secret, LOCAL.luminus_secret
API_KEY = "wm-API-key-3f9c1e7a5b"
SUB_KEY = "9a8b7c6d5e4f30211f2e3d4c5b6a7980"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.credentials-test.c2lnbmF0dXJl"


@pytest.fixture
def secrets(stack: LocalStack) -> dict[str, str]:
    """The two secrets holding the template's placeholders (created when the stack has none), by name -> ARN."""
    client = stack.client("secretsmanager")
    arns = {}
    for name, value in ((WM_SECRET, {"api_key": "CHANGE_ME"}), (LU_SECRET, {"subscription_key": "CHANGE_ME"})):
        arns[name] = put_secret(client, name, json.dumps(value), create_description="as the stack makes it")[0]
    return arns


def env_for(stack: LocalStack, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOMOPS_", "AWS_"))}
    return {**env, **aws_env(stack.endpoint), **settings}


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


def stored(stack: LocalStack, secret_id: str) -> tuple[dict, str]:
    value = stack.client("secretsmanager").get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
    return json.loads(value["SecretString"]), value["VersionId"]


def test_webmeeting_stores_the_api_key_that_provision_reads(stack, secrets):
    arn = secrets[WM_SECRET]
    history = stack.client("secretsmanager").list_secret_version_ids(SecretId=WM_SECRET)["Versions"]
    for secret_id in (arn, WM_SECRET):  # the stack output's ARN, or the name
        proc = credentials(stack, "webmeeting", "--secret-id", secret_id, stdin=f"{API_KEY}\n")
        assert proc.returncode == 0, proc.stderr
        value, version = stored(stack, WM_SECRET)
        assert value == {"api_key": API_KEY}
        assert proc.stdout == f"stored Web Meeting API key in {arn}: version {version}\n"
        assert proc.stderr == f"next: zoomops provision reads it with ZOOMOPS_WEBMEETING_SECRET_ID={arn}\n"
    read = platforms.webmeeting_credential({"ZOOMOPS_WEBMEETING_SECRET_ID": arn}, client=stack.client("secretsmanager"))
    assert read.values == {"api_key": API_KEY} and API_KEY not in repr(read)
    versions = stack.client("secretsmanager").list_secret_version_ids(SecretId=WM_SECRET)["Versions"]
    assert len(versions) == len(history) + 2  # each write is a new version


def test_luminus_stores_the_key_and_an_optional_token_that_provision_reads(stack, secrets):
    client = stack.client("secretsmanager")
    env = {"ZOOMOPS_LUMINUS_SECRET_ID": LU_SECRET}
    proc = credentials(stack, "luminus", "--secret-id", LU_SECRET, stdin=f"{SUB_KEY}\r\n{TOKEN}\r\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"stored LumiNUS credentials in {secrets[LU_SECRET]}: version ")
    assert stored(stack, LU_SECRET)[0] == {"subscription_key": SUB_KEY, "token": TOKEN}
    assert platforms.luminus_credential(env, client=client).values == {"subscription_key": SUB_KEY, "token": TOKEN}

    # Without a token line (or with an empty one), the new version has none: the old token is not kept.
    for text in (f"{SUB_KEY}\n", f"\ufeff{SUB_KEY}\n\n\n"):
        proc = credentials(stack, "luminus", "--secret-id", LU_SECRET, stdin=text)
        assert proc.returncode == 0, proc.stderr
        assert stored(stack, LU_SECRET)[0] == {"subscription_key": SUB_KEY}
        assert platforms.luminus_credential(env, client=client).values == {"subscription_key": SUB_KEY, "token": None}


@pytest.mark.parametrize("token", [TOKEN, ""], ids=["token", "no-token"])
def test_luminus_on_a_terminal_asks_for_the_token_and_takes_enter_as_none(stack, secrets, token):
    with Terminal([str(ZOOMOPS), "credentials", "luminus", "--secret-id", LU_SECRET], env_for(stack)) as tty:
        tty.read_until(b"subscription_key: ")
        tty.type(SUB_KEY)
        tty.read_until(b"token (optional, Enter for none): ")
        tty.type(token)
        tty.read_until(b"next: zoomops provision reads it with ZOOMOPS_LUMINUS_SECRET_ID=")
        assert tty.proc.wait(timeout=30) == 0
    shown = tty.shown
    assert b"stored LumiNUS credentials" in shown
    assert SUB_KEY.encode() not in shown and TOKEN.encode() not in shown
    assert stored(stack, LU_SECRET)[0] == {"subscription_key": SUB_KEY, **({"token": token} if token else {})}


@pytest.mark.parametrize(
    "args, text, message",
    [
        (["webmeeting"], "", "api_key is missing: expected 1 lines on stdin (api_key), got 0"),
        (["webmeeting"], f"{API_KEY}\nsecond-line-01\n", "stdin has 2 lines; expected 1: api_key, one per line"),
        (["webmeeting"], "wm key with spaces\n", "api_key contains whitespace"),
        (["webmeeting"], "CHANGE_ME\n", "api_key is still the placeholder CHANGE_ME"),
        (["luminus"], "\n\n", "subscription_key is missing: expected 1 or 2 lines: subscription_key, then token"),
        (["luminus"], f"\n{TOKEN}\n", "subscription_key is empty"),
        (["luminus"], f"{SUB_KEY}\nBearer {TOKEN}\n", "token contains whitespace"),
        (["luminus"], f"{SUB_KEY}\nCHANGE_ME\n", "token is still the placeholder CHANGE_ME"),
        (
            ["luminus"],
            f"{SUB_KEY}\n{TOKEN}\nthird-line-01\n",
            "stdin has 3 lines; expected 1 or 2 lines: subscription_key, then token (optional), one per line",
        ),
    ],
    ids=[
        "wm-nothing",
        "wm-two-lines",
        "wm-whitespace",
        "wm-placeholder",
        "lu-nothing",
        "lu-empty-key",
        "lu-token-whitespace",
        "lu-token-placeholder",
        "lu-three-lines",
    ],
)
def test_refused_input_names_the_field_exits_2_and_stores_nothing(stack, secrets, args, text, message):
    before = {sid: stored(stack, sid)[1] for sid in secrets}
    secret_id = WM_SECRET if args[0] == "webmeeting" else LU_SECRET
    proc = credentials(stack, *args, "--secret-id", secret_id, stdin=text)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert proc.stderr.rstrip().endswith("; nothing stored") and proc.stdout == ""
    assert {sid: stored(stack, sid)[1] for sid in secrets} == before


@pytest.mark.parametrize("kind", ["webmeeting", "luminus"])
def test_usage_and_aws_failures(stack, secrets, kind):
    spaced = credentials(stack, kind, "--secret-id", "zoomops local/x", stdin="Value-Usage-01\n")
    assert spaced.returncode == 2 and "--secret-id must be a secret name or ARN without whitespace" in spaced.stderr
    missing = credentials(stack, kind, stdin="Value-Usage-02\n")
    assert missing.returncode == 2 and "--secret-id" in missing.stderr
    unknown = "arn:aws:secretsmanager:us-east-1:123456789012:secret:zoomops-nope/x-AbCdEf"
    failed = credentials(stack, kind, "--secret-id", unknown, stdin="Value-Failure-03\n")
    what = "Web Meeting API key" if kind == "webmeeting" else "LumiNUS credentials"
    assert failed.returncode == 4 and failed.stdout == "", failed.stderr
    assert f"could not store {what} in {unknown}: ResourceNotFoundException" in failed.stderr
    unreachable = env_for(stack, AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_MAX_ATTEMPTS="1")
    down = credentials(stack, kind, "--secret-id", WM_SECRET, stdin="Value-Failure-04\n", env=unreachable)
    assert down.returncode == 4 and "EndpointConnectionError" in down.stderr and down.stdout == ""


def test_help_shows_the_secret_shape_and_examples():
    for kind, shape in (("webmeeting", '{"api_key": ...}'), ("luminus", '{"subscription_key": ...[, "token": ...]}')):
        shown = subprocess.run([str(ZOOMOPS), "credentials", kind, "--help"], capture_output=True, text=True)
        assert shown.returncode == 0 and shape in shown.stdout
        assert f"examples:\n  zoomops credentials {kind} --secret-id" in shown.stdout
        assert f"ZOOMOPS_{kind.upper()}_SECRET_ID" in shown.stdout
    listed = subprocess.run([str(ZOOMOPS), "credentials", "--help"], capture_output=True, text=True).stdout
    assert "webmeeting" in listed and "luminus" in listed
