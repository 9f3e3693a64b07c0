"""The token_refresh handler through real EventBridge scheduled events, against moto and the Zoom simulator."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from infra.local.stack import ZOOM_ACCOUNTS, ZOOM_SECRET_PREFIX, LambdaContext, LocalStack, load_handler
from infra.local.zoom_sim import Fault
from tests.conftest import load_event

SCHEDULED = load_event("eventbridge_scheduled.json")


@pytest.fixture
def refresher(stack: LocalStack):
    return load_handler("token_refresh")


def invoke(module, clock=None) -> dict:
    if clock is not None:
        module.runtime.use(clock=clock)
    return module.handler(SCHEDULED, LambdaContext(function_name="zoomops-token-refresh", timeout_seconds=120))


def actions(response: dict) -> dict[str, str]:
    return {entry["account"]: entry["action"] for entry in response["accounts"]}


def oauth_calls(stack: LocalStack) -> dict[str, int]:
    return {name: stack.zoom.token_requests.get(account_id, 0) for name, (account_id, _) in ZOOM_ACCOUNTS.items()}


def test_first_run_creates_a_token_per_account_then_nothing_inside_the_margin(stack, refresher):
    assert actions(invoke(refresher)) == {"main": "refreshed", "sub": "refreshed"}
    token = stack.zoom_token("main")
    assert set(token) >= {"access_token", "expires_at", "expires_at_epoch", "scope", "api_url", "refreshed_at"}
    assert token["api_url"] == stack.zoom.base_url and token["expires_at_epoch"] > time.time() + 3000
    assert oauth_calls(stack) == {"main": 1, "sub": 1}

    assert actions(invoke(refresher)) == {"main": "fresh", "sub": "fresh"}
    assert oauth_calls(stack) == {"main": 1, "sub": 1}


def test_a_run_past_the_margin_refreshes(stack, refresher):
    invoke(refresher)
    first = stack.zoom_token("main")["access_token"]
    now = time.time()
    assert actions(invoke(refresher, clock=lambda: now + 3600 - 1700)) == {"main": "refreshed", "sub": "refreshed"}
    assert stack.zoom_token("main")["access_token"] != first
    assert oauth_calls(stack) == {"main": 2, "sub": 2}


def test_clock_near_expiry_refreshes_and_status_reports_it(stack, refresher):
    invoke(refresher)
    now = time.time()
    response = invoke(refresher, clock=lambda: now + 3590)  # 10 s before expiry: frozen, not slept
    assert actions(response) == {"main": "refreshed", "sub": "refreshed"}
    assert all(entry["expires_in_seconds"] > 3000 for entry in response["accounts"])


def test_bad_credentials_fail_that_account_only_and_keep_the_old_token(stack, refresher, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    invoke(refresher)
    old = stack.zoom_token("sub")
    sm = stack.client("secretsmanager")
    creds = json.loads(sm.get_secret_value(SecretId=f"{ZOOM_SECRET_PREFIX}sub/credentials")["SecretString"])
    wrong = dict(creds, client_secret="definitely-Wrong-secret-91")
    sm.put_secret_value(SecretId=f"{ZOOM_SECRET_PREFIX}sub/credentials", SecretString=json.dumps(wrong))
    now = time.time()
    response = invoke(refresher, clock=lambda: now + 2000)
    assert actions(response) == {"main": "refreshed", "sub": "failed"}
    error = next(e["error"] for e in response["accounts"] if e["account"] == "sub")
    assert "sub" in error and "credentials rejected" in error
    assert stack.zoom_token("sub") == old  # the still-valid token stays in place
    out = capsys.readouterr().out
    assert '"TokenRefreshFailures":[1.0]' in out.replace(" ", "")
    everything = out + caplog.text + json.dumps(response)
    for secret in (
        "definitely-Wrong-secret-91",
        creds["client_secret"],
        old["access_token"],
        stack.zoom_token("main")["access_token"],
    ):
        assert secret not in everything


def test_oauth_5xx_is_retried(stack, refresher):
    stack.zoom.add_faults(Fault(status=503, oauth=True), Fault(status=502, oauth=True))
    assert actions(invoke(refresher)) == {"main": "refreshed", "sub": "refreshed"}


def test_concurrent_refreshers_leave_one_consistent_token(stack):
    modules = [load_handler("token_refresh") for _ in range(2)]
    start = threading.Barrier(2)
    results = []

    def run(module):
        start.wait()
        results.append(invoke(module))

    threads = [threading.Thread(target=run, args=(m,)) for m in modules]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert oauth_calls(stack) == {"main": 1, "sub": 1}  # the lease kept the second refresher out
    for name in ZOOM_ACCOUNTS:
        states = sorted(actions(r)[name] for r in results)
        assert states in (["locked", "refreshed"], ["fresh", "refreshed"])
        token = stack.zoom_token(name)
        assert token["access_token"] and token["api_url"] == stack.zoom.base_url


def test_consumers_use_the_stored_token_and_never_the_oauth_endpoint(stack, refresher):
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from zoomops.aws.secrets import SecretTokenSource
    from zoomops.zoom.client import ZoomClient

    invoke(refresher)
    before = dict(stack.zoom.token_requests)
    for _ in range(5):  # five cold consumers
        source = SecretTokenSource(
            f"{ZOOM_SECRET_PREFIX}main/token", SecretsProvider(boto3_client=stack.client("secretsmanager"))
        )
        user = ZoomClient(source).get("/users/me")
        assert user["email"].endswith("@campus.example.edu")
    assert stack.zoom.token_requests == before
