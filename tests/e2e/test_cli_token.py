"""``zoomops token refresh|status`` as a subprocess against the local stack (moto + Zoom simulator)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from infra.local.stack import ZOOM_SECRET_PREFIX, LocalStack

ZOOMOPS = Path(sys.executable).with_name("zoomops")


def zoomops(stack: LocalStack, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMOPS_")}
    env.update(stack.function_env("token_refresh"))
    return subprocess.run([str(ZOOMOPS), "token", *args], env=env, capture_output=True, text=True, timeout=60)


def test_status_before_any_refresh_says_missing_and_exits_1(stack):
    proc = zoomops(stack, "status", "--json")
    assert proc.returncode == 1
    assert {row["account"]: row["action"] for row in json.loads(proc.stdout)} == {"main": "missing", "sub": "missing"}


def test_refresh_then_status_never_print_a_token(stack):
    proc = zoomops(stack, "refresh")
    assert proc.returncode == 0, proc.stderr
    assert "main" in proc.stdout and "refreshed" in proc.stdout and "59m" in proc.stdout
    status = zoomops(stack, "status", "--json")
    assert status.returncode == 0
    rows = {row["account"]: row for row in json.loads(status.stdout)}
    assert rows["main"]["action"] == "valid" and rows["main"]["expires_in_seconds"] > 3000
    assert "meeting:read:admin" in rows["main"]["scope"] and rows["main"]["refreshed_at"]
    for name in ("main", "sub"):
        token = stack.zoom_token(name)["access_token"]
        assert token not in proc.stdout + proc.stderr + status.stdout + status.stderr


def test_refresh_one_account_with_force(stack):
    zoomops(stack, "refresh")
    proc = zoomops(stack, "refresh", "--account", "sub", "--force")
    assert proc.returncode == 0 and "sub" in proc.stdout and "main" not in proc.stdout


def test_refused_credentials_exit_4_naming_the_account_not_the_secret(stack):
    sm = stack.client("secretsmanager")
    creds = json.loads(sm.get_secret_value(SecretId=f"{ZOOM_SECRET_PREFIX}sub/credentials")["SecretString"])
    sm.put_secret_value(
        SecretId=f"{ZOOM_SECRET_PREFIX}sub/credentials",
        SecretString=json.dumps(dict(creds, client_secret="Wrong-Secret-zz9")),
    )
    proc = zoomops(stack, "refresh")
    assert proc.returncode == 4
    assert "Zoom account sub: credentials rejected" in proc.stderr
    assert "Wrong-Secret-zz9" not in proc.stdout + proc.stderr and creds["client_secret"] not in proc.stderr


def test_unknown_account_and_missing_configuration_exit_2(stack):
    assert zoomops(stack, "refresh", "--account", "nope").returncode == 2
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMOPS_")}
    proc = subprocess.run([str(ZOOMOPS), "token", "status"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "ZOOMOPS_ZOOM_ACCOUNTS" in proc.stderr
