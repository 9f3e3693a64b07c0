"""Zoom S2S OAuth tokens kept in Secrets Manager (zoomops.tokens) against moto and the Zoom simulator.

Per account a credentials secret ``p/<name>/credentials`` ({account_id, client_id, client_secret}) and a
token secret ``p/<name>/token``. Time is a FakeClock shared by the refresher, its lease and the simulator
(tokens expire in simulated time); urllib3's Retry sleeps go to a recorder (``transport``), never really.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests
import urllib3.util.retry

from infra.local.stack import JOBS_TABLE
from infra.local.zoom_sim import DEFAULT_SCOPE, FakeClock, Fault, ZoomSimulator
from zoomops.aws.dynamo import DynamoLease
from zoomops.aws.secrets import SecretsTokenStore
from zoomops.settings import ZoomAccount, parse_accounts
from zoomops.zoom.tokens import OAuthClient, TokenRefresher

START = 1_727_784_000.0  # 2024-10-01T12:00:00Z
LIFE = 3599  # the simulator's expires_in (token_ttl 3600 - 1, as Zoom answers)
MARGIN = 1800
APPS = {  # name -> (account_id, client_id, client_secret)
    "main": ("CampusMainAcct01", "main-s2s-client", "MAIN-client-SECRET-4kq8"),
    "sub": ("CampusSubAcct002", "sub-s2s-client", "SUB-client-SECRET-7zr2"),
}
WRONG_SECRET = "WRONG-client-SECRET-0000"
ALL_SECRETS = [app[2] for app in APPS.values()] + [WRONG_SECRET]


# ------------------------------------------------------------------ fixtures and helpers
@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def transport(monkeypatch, clock):
    slept: list[float] = []
    monkeypatch.setattr(urllib3.util.retry, "time", SimpleNamespace(sleep=slept.append, time=clock))
    return slept


@pytest.fixture(scope="module")
def _stopping():
    """Simulators stop in the background (each stop waits out a server poll): joined once, at the end."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(timeout=10)


@pytest.fixture
def zsim(clock, transport, _stopping):
    sim = ZoomSimulator(clock=clock)
    sim.start()
    for name, (account_id, client_id, secret) in APPS.items():
        sim.add_account(account_id, client_id, secret)
        sim.add_user(account_id, email=f"owner@{name}.campus.example.edu")
    yield sim
    thread = threading.Thread(target=sim.stop, daemon=True)
    thread.start()
    _stopping.append(thread)


def _clean(aws) -> None:
    sm, ddb = aws.client("secretsmanager"), aws.client("dynamodb")
    for page in sm.get_paginator("list_secrets").paginate():
        for secret in page["SecretList"]:
            if secret["Name"].startswith("p/"):
                sm.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
    for item in ddb.scan(TableName=JOBS_TABLE, ProjectionExpression="job_id")["Items"]:
        if item["job_id"]["S"].startswith("token-refresh#"):
            ddb.delete_item(TableName=JOBS_TABLE, Key={"job_id": item["job_id"]})


@pytest.fixture
def stack(_local_stack):
    """The session's moto stack, without conftest's full per-test reset (too slow for this many tests):
    the secrets under p/ and the token-refresh leases are removed before and after each test instead."""
    _clean(_local_stack)
    yield _local_stack
    _clean(_local_stack)


@pytest.fixture
def sm(stack):
    client = stack.client("secretsmanager")
    for name, (account_id, client_id, secret) in APPS.items():
        client.create_secret(
            Name=f"p/{name}/credentials",
            SecretString=json.dumps({"account_id": account_id, "client_id": client_id, "client_secret": secret}),
        )
    return client


@pytest.fixture
def accounts():
    return {a.name: a for a in parse_accounts("main,sub", "p/")}


@pytest.fixture
def main(accounts):
    return accounts["main"]


@pytest.fixture
def make_refresher(zsim, sm, clock):
    def make(*, secrets=None, lease=None, margin=MARGIN, **oauth):
        oauth.setdefault("backoff", 0.01)
        return TokenRefresher(
            SecretsTokenStore(secrets or sm),
            OAuthClient(f"{zsim.base_url}/oauth/token", **oauth),
            margin=margin,
            lease=lease,
            clock=clock,
        )

    return make


@pytest.fixture
def refresher(make_refresher):
    return make_refresher()


def stored(sm, account: ZoomAccount) -> dict:
    return json.loads(sm.get_secret_value(SecretId=account.token_secret, VersionStage="AWSCURRENT")["SecretString"])


def versions(sm, account: ZoomAccount) -> int:
    return len(sm.list_secret_version_ids(SecretId=account.token_secret, IncludeDeprecated=True)["Versions"])


def exists(sm, name: str) -> bool:
    return any(s["Name"] == name for s in sm.list_secrets()["SecretList"])


def whoami(sim: ZoomSimulator, token: str) -> requests.Response:
    return requests.get(f"{sim.base_url}/v2/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)


def set_credentials(sm, name: str, **changes) -> None:
    account_id, client_id, secret = APPS[name]
    value = {"account_id": account_id, "client_id": client_id, "client_secret": secret, **changes}
    sm.put_secret_value(SecretId=f"p/{name}/credentials", SecretString=json.dumps(value))


# ------------------------------------------------------------------ first run, margin, force
def test_first_refresh_creates_the_token_secret(zsim, sm, refresher, main):
    assert not exists(sm, main.token_secret)
    result = refresher.refresh(main)
    assert result.action == "refreshed" and result.error is None
    assert result.expires_at == START + LIFE
    assert result.scope == DEFAULT_SCOPE
    assert result.refreshed_at == "2024-10-01T12:00:00+00:00"

    token = stored(sm, main)
    assert {"access_token", "expires_at", "expires_at_epoch", "scope", "api_url", "refreshed_at"} <= set(token)
    assert token["api_url"] == zsim.base_url
    assert token["expires_at_epoch"] == START + LIFE
    assert token["expires_at"] == "2024-10-01T12:59:59+00:00"
    assert token["refreshed_at"] == "2024-10-01T12:00:00+00:00"
    assert token["scope"] == DEFAULT_SCOPE
    assert versions(sm, main) == 1
    assert zsim.token_requests == {APPS["main"][0]: 1}
    answer = whoami(zsim, token["access_token"])  # the stored token is the real thing
    assert answer.status_code == 200 and answer.json()["account_id"] == APPS["main"][0]
    public = result.public(START)
    assert public["expires_in_seconds"] == LIFE and token["access_token"] not in json.dumps(public)


def test_inside_the_margin_is_fresh_and_past_it_refreshes(zsim, sm, clock, refresher, main):
    first = refresher.refresh(main)
    old = stored(sm, main)
    clock.advance(600)
    assert refresher.refresh(main).action == "fresh"
    clock.advance(LIFE - 600 - MARGIN - 1)  # 1801 s left
    fresh = refresher.refresh(main)
    assert fresh.action == "fresh" and fresh.expires_at == first.expires_at
    assert zsim.token_requests == {APPS["main"][0]: 1} and versions(sm, main) == 1

    clock.advance(2)  # 1799 s left: inside the margin
    again = refresher.refresh(main)
    assert again.action == "refreshed"
    new = stored(sm, main)
    assert new["access_token"] != old["access_token"]
    assert new["expires_at_epoch"] == clock() + LIFE
    assert zsim.token_requests == {APPS["main"][0]: 2} and versions(sm, main) == 2
    # a consumer still holding the old token is not broken by the refresh
    assert whoami(zsim, old["access_token"]).status_code == 200
    assert whoami(zsim, new["access_token"]).status_code == 200


def test_exactly_at_the_margin_refreshes(zsim, clock, refresher, main):
    refresher.refresh(main)
    clock.advance(LIFE - MARGIN)
    assert refresher.refresh(main).action == "refreshed"


def test_force_refreshes_inside_the_margin(zsim, sm, refresher, main):
    refresher.refresh(main)
    assert refresher.refresh(main, force=True).action == "refreshed"
    assert zsim.token_requests == {APPS["main"][0]: 2} and versions(sm, main) == 2


def test_ten_minute_schedule_survives_a_failed_run(zsim, sm, clock, make_refresher, main, stack):
    """Runs every 10 minutes for 3 hours; the first run that should refresh fails (OAuth 503s): the
    stored token stays valid at every run, and the next run refreshes."""
    refresher = make_refresher(lease=DynamoLease(JOBS_TABLE, stack.client("dynamodb"), clock=clock))
    actions = []
    failed_once = False
    for run in range(19):
        if run and not failed_once and stored(sm, main)["expires_at_epoch"] - clock() <= MARGIN:
            zsim.add_faults(*[Fault(status=503, oauth=True) for _ in range(4)])
            failed_once = True
        result = refresher.refresh(main)
        actions.append(result.action)
        assert stored(sm, main)["expires_at_epoch"] - clock() > 0  # always a valid token
        assert result.expires_at == stored(sm, main)["expires_at_epoch"]
        clock.advance(600)
    assert actions.count("failed") == 1
    failed = actions.index("failed")
    assert actions[failed + 1] == "refreshed"
    refreshes = actions.count("refreshed")
    assert refreshes == 6  # 3 h with a 30-minute margin: two a hour (plus the first), one run late
    assert set(actions) == {"refreshed", "fresh", "failed"}


# ------------------------------------------------------------------ several accounts


def test_several_accounts_each_get_their_own_token(zsim, sm, refresher, accounts):
    results = {name: refresher.refresh(account) for name, account in accounts.items()}
    assert {r.action for r in results.values()} == {"refreshed"}
    tokens = {name: stored(sm, account) for name, account in accounts.items()}
    assert tokens["main"]["access_token"] != tokens["sub"]["access_token"]
    assert zsim.token_requests == {APPS["main"][0]: 1, APPS["sub"][0]: 1}
    for name, token in tokens.items():
        assert token["account"] == name
        assert whoami(zsim, token["access_token"]).json()["account_id"] == APPS[name][0]
    assert {name: refresher.refresh(account).action for name, account in accounts.items()} == {
        "main": "fresh",
        "sub": "fresh",
    }


def test_one_accounts_bad_credentials_do_not_stop_the_other(zsim, sm, refresher, accounts):
    set_credentials(sm, "main", client_secret=WRONG_SECRET)
    actions = {name: refresher.refresh(account).action for name, account in accounts.items()}
    assert actions == {"main": "failed", "sub": "refreshed"}


# ------------------------------------------------------------------ failures
@pytest.mark.parametrize(
    "change",
    [
        {"client_secret": WRONG_SECRET},  # 401 invalid_client
        {"client_id": "nobody-knows-me"},  # 401
        {"account_id": "SomeOtherAcct99"},  # 400 Invalid account_id
    ],
    ids=["secret", "client-id", "account-id"],
)
def test_bad_credentials_fail_naming_the_account_and_keep_the_old_token(zsim, sm, clock, refresher, main, change):
    refresher.refresh(main)
    old = stored(sm, main)
    set_credentials(sm, "main", **change)
    clock.advance(LIFE - MARGIN + 60)  # inside the margin: a refresh is due
    result = refresher.refresh(main)
    assert result.action == "failed"
    assert "main" in result.error and "credentials rejected" in result.error
    for secret in ALL_SECRETS:
        assert secret not in result.error and secret not in repr(result)
    assert old["access_token"] not in repr(result) and old["access_token"] not in json.dumps(result.public(clock()))
    assert result.expires_at == old["expires_at_epoch"]  # what is still in the secret
    assert stored(sm, main) == old and versions(sm, main) == 1
    assert sum(zsim.token_requests.values()) == 2  # no retry of a refused credential
    assert refresher.status(main).action == "expiring"  # still usable: consumers keep working
    assert whoami(zsim, old["access_token"]).status_code == 200


def test_bad_credentials_on_the_first_run_leave_no_token(zsim, sm, refresher, main):
    set_credentials(sm, "main", client_secret=WRONG_SECRET)
    result = refresher.refresh(main)
    assert result.action == "failed" and result.expires_at is None and "main" in result.error
    assert not exists(sm, main.token_secret)
    assert refresher.status(main).action == "missing"


@pytest.mark.parametrize("problem", ["missing", "not-json", "no-client-secret"])
def test_credentials_secret_problems_fail_naming_the_account(zsim, sm, refresher, main, problem):
    if problem == "missing":
        sm.delete_secret(SecretId=main.credentials_secret, ForceDeleteWithoutRecovery=True)
    elif problem == "not-json":
        sm.put_secret_value(SecretId=main.credentials_secret, SecretString=f"client_secret={APPS['main'][2]}")
    else:
        set_credentials(sm, "main", client_secret="  ")
    result = refresher.refresh(main)
    assert result.action == "failed" and result.error.startswith("Zoom account main:")
    assert APPS["main"][2] not in result.error
    assert zsim.token_requests == {}  # nothing was sent to Zoom


def test_oauth_5xx_then_success(zsim, sm, refresher, main, transport):
    zsim.add_faults(Fault(status=503, oauth=True), Fault(status=500, oauth=True), Fault(status=429, oauth=True))
    result = refresher.refresh(main)
    assert result.action == "refreshed"
    assert zsim.token_requests == {APPS["main"][0]: 4}
    assert whoami(zsim, stored(sm, main)["access_token"]).status_code == 200
    assert len(transport) == 2  # urllib3's backoff: the first retry is immediate


def test_oauth_5xx_is_bounded_and_keeps_the_old_token(zsim, sm, clock, refresher, main):
    refresher.refresh(main)
    old = stored(sm, main)
    clock.advance(LIFE - MARGIN + 1)
    zsim.add_faults(*[Fault(status=503, oauth=True) for _ in range(6)])
    result = refresher.refresh(main)
    assert result.action == "failed" and "main" in result.error and "503" in result.error
    assert zsim.token_requests == {APPS["main"][0]: 1 + 4}  # 4 attempts, no more
    assert stored(sm, main) == old and result.expires_at == old["expires_at_epoch"]


def test_oauth_timeouts_are_retried_and_bounded(zsim, sm, make_refresher, main):
    refresher = make_refresher(timeout=(1.0, 0.15), attempts=2)
    zsim.add_faults(Fault(delay=0.4, oauth=True))
    started = time.monotonic()
    assert refresher.refresh(main).action == "refreshed"  # one timeout, then an answer
    assert zsim.token_requests == {APPS["main"][0]: 2}

    zsim.add_faults(Fault(delay=0.4, oauth=True), Fault(delay=0.4, oauth=True))
    result = refresher.refresh(main, force=True)
    assert result.action == "failed"
    assert "main" in result.error and "after retries" in result.error
    assert zsim.token_requests == {APPS["main"][0]: 4}  # 2 attempts: bounded
    assert time.monotonic() - started < 1.5
    assert versions(sm, main) == 1


# ------------------------------------------------------------------ concurrency and the lease
class _GatedSecrets:
    """A Secrets Manager client that holds every caller after its first read of one secret until all have
    read it (so every refresher decides from the same old token before any takes the lease)."""

    def __init__(self, client, secret_id: str, barrier: threading.Barrier):
        self._client, self._secret_id, self._barrier = client, secret_id, barrier
        self.exceptions = client.exceptions
        self._gated = False

    def get_secret_value(self, **kwargs):
        try:
            return self._client.get_secret_value(**kwargs)
        finally:
            if kwargs.get("SecretId") == self._secret_id and not self._gated:
                self._gated = True
                self._barrier.wait(timeout=10)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_concurrent_refreshers_ask_zoom_once(zsim, stack, clock, make_refresher, main):
    n = 5
    barrier = threading.Barrier(n)
    sm = stack.client("secretsmanager")
    refreshers = [  # separate clients and leases, as separate Lambda invocations have
        make_refresher(
            secrets=_GatedSecrets(stack.client("secretsmanager"), main.token_secret, barrier),
            lease=DynamoLease(JOBS_TABLE, stack.client("dynamodb"), clock=clock),
        )
        for _ in range(n)
    ]
    zsim.add_faults(Fault(delay=0.3, oauth=True))  # Zoom is slow: the winner holds the lease meanwhile
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda r: r.refresh(main), refreshers))
    assert sorted(r.action for r in results) == ["locked"] * (n - 1) + ["refreshed"]
    assert zsim.token_requests == {APPS["main"][0]: 1}
    assert versions(sm, main) == 1  # one whole write: one consistent token
    token = stored(sm, main)
    winner = next(r for r in results if r.action == "refreshed")
    assert winner.expires_at == token["expires_at_epoch"]
    assert whoami(zsim, token["access_token"]).status_code == 200
    item = stack.client("dynamodb").get_item(TableName=JOBS_TABLE, Key={"job_id": {"S": "token-refresh#main"}})
    assert "Item" not in item  # the lease was released
    # the next run finds the fresh token
    assert (
        make_refresher(lease=DynamoLease(JOBS_TABLE, stack.client("dynamodb"), clock=clock)).refresh(main).action
        == "fresh"
    )


def test_refresher_that_read_before_another_finished_does_not_ask_again(zsim, sm, stack, clock, make_refresher, main):
    first = make_refresher(lease=DynamoLease(JOBS_TABLE, stack.client("dynamodb"), clock=clock))
    done = []

    class Interleaved:
        """B reads the token secret (none yet); A runs its whole refresh; then B goes on."""

        exceptions = sm.exceptions

        def get_secret_value(self, **kwargs):
            try:
                return sm.get_secret_value(**kwargs)
            finally:
                if kwargs.get("SecretId") == main.token_secret and not done:
                    done.append(first.refresh(main))

        def __getattr__(self, name):
            return getattr(sm, name)

    second = make_refresher(secrets=Interleaved(), lease=DynamoLease(JOBS_TABLE, stack.client("dynamodb"), clock=clock))
    result = second.refresh(main)
    assert done[0].action == "refreshed"
    assert zsim.token_requests == {APPS["main"][0]: 1}
    assert result.action == "fresh"
    assert versions(sm, main) == 1


def test_dynamo_lease_is_exclusive_and_expires(stack, clock):
    ddb = stack.client("dynamodb")
    a, b = DynamoLease(JOBS_TABLE, ddb, clock=clock), DynamoLease(JOBS_TABLE, ddb, clock=clock)
    assert a.acquire("token-refresh#x", ttl=60)
    assert not b.acquire("token-refresh#x", ttl=60)
    assert a.acquire("token-refresh#x", ttl=60)  # the owner may renew
    assert b.acquire("token-refresh#y", ttl=60)  # another name is another lease
    item = ddb.get_item(TableName=JOBS_TABLE, Key={"job_id": {"S": "token-refresh#x"}})["Item"]
    assert int(item["lease_until"]["N"]) == int(START + 60)
    assert int(item["expiration"]["N"]) > int(item["lease_until"]["N"])  # the table's TTL cleans up
    clock.advance(30)
    assert not b.acquire("token-refresh#x", ttl=60)
    clock.advance(31)  # a's lease is over: taken over
    assert b.acquire("token-refresh#x", ttl=60)
    a.release("token-refresh#x")  # a no longer owns it: b's lease stays
    assert not a.acquire("token-refresh#x", ttl=60)
    b.release("token-refresh#x")
    assert a.acquire("token-refresh#x", ttl=60)


def test_a_crashed_refreshers_expired_lease_is_taken_over(zsim, sm, stack, clock, make_refresher, main):
    ddb = stack.client("dynamodb")
    lease_item = {
        "job_id": {"S": "token-refresh#main"},
        "owner": {"S": "a-run-that-crashed"},
        "lease_until": {"N": str(int(START + 30))},
        "expiration": {"N": str(int(START + 3630))},
    }
    ddb.put_item(TableName=JOBS_TABLE, Item=lease_item)
    refresher = make_refresher(lease=DynamoLease(JOBS_TABLE, ddb, clock=clock))
    assert refresher.refresh(main).action == "locked"  # still held: nothing sent
    assert zsim.token_requests == {} and not exists(sm, main.token_secret)
    clock.advance(31)
    assert refresher.refresh(main).action == "refreshed"
    assert zsim.token_requests == {APPS["main"][0]: 1}
    assert "Item" not in ddb.get_item(TableName=JOBS_TABLE, Key={"job_id": {"S": "token-refresh#main"}})


def test_lease_is_released_when_the_refresh_fails(zsim, sm, stack, clock, make_refresher, main):
    ddb = stack.client("dynamodb")
    set_credentials(sm, "main", client_secret=WRONG_SECRET)
    refresher = make_refresher(lease=DynamoLease(JOBS_TABLE, ddb, clock=clock))
    assert refresher.refresh(main).action == "failed"
    assert "Item" not in ddb.get_item(TableName=JOBS_TABLE, Key={"job_id": {"S": "token-refresh#main"}})
    set_credentials(sm, "main")
    assert make_refresher(lease=DynamoLease(JOBS_TABLE, ddb, clock=clock)).refresh(main).action == "refreshed"


# ------------------------------------------------------------------ status()
def test_status_valid_expiring_expired_missing(zsim, sm, clock, refresher, main, accounts):
    assert refresher.status(main).action == "missing"
    refresher.refresh(main)
    valid = refresher.status(main)
    assert valid.action == "valid" and valid.expires_at == START + LIFE and valid.scope == DEFAULT_SCOPE
    assert valid.refreshed_at == "2024-10-01T12:00:00+00:00"
    clock.advance(LIFE - MARGIN - 1)
    assert refresher.status(main).action == "valid"  # 1801 s left
    clock.advance(1)
    assert refresher.status(main).action == "expiring"  # 1800 s left: the margin
    clock.advance(MARGIN - 1)
    assert refresher.status(main).action == "expiring"  # 1 s left
    clock.advance(1)
    expired = refresher.status(main)
    assert expired.action == "expired" and expired.remaining(clock()) == 0
    assert refresher.status(accounts["sub"]).action == "missing"
    assert zsim.token_requests == {APPS["main"][0]: 1}  # status() never asks Zoom
    assert versions(sm, main) == 1  # nor writes


def test_status_of_an_unusable_token_secret_is_missing(sm, refresher, main):
    sm.create_secret(Name=main.token_secret, SecretString="not json")
    assert refresher.status(main).action == "missing"
    sm.put_secret_value(SecretId=main.token_secret, SecretString='{"access_token": ""}')
    assert refresher.status(main).action == "missing"


def test_refresh_replaces_an_unusable_token_secret(zsim, sm, refresher, main):
    sm.create_secret(Name=main.token_secret, SecretString="{}")
    assert refresher.refresh(main).action == "refreshed"
    assert whoami(zsim, stored(sm, main)["access_token"]).status_code == 200


# ------------------------------------------------------------------ nothing secret anywhere
def test_no_client_secret_or_token_in_logs_errors_or_results(zsim, sm, clock, make_refresher, accounts, caplog):
    from zoomops.aws import guard_sdk_logs

    saved = {name: logging.getLogger(name).level for name in ("botocore", "boto3", "s3transfer")}
    guard_sdk_logs()  # what token_refresh's runtime() does first
    try:
        caplog.set_level(logging.DEBUG)
        refresher = make_refresher(timeout=(1.0, 0.1), attempts=2)
        results = [refresher.refresh(a) for a in accounts.values()]
        clock.advance(LIFE - MARGIN + 1)
        zsim.add_faults(Fault(status=503, oauth=True), Fault(status=503, oauth=True))
        results.append(refresher.refresh(accounts["main"]))
        zsim.add_faults(Fault(delay=0.3, oauth=True), Fault(delay=0.3, oauth=True))
        results.append(refresher.refresh(accounts["main"]))
        set_credentials(sm, "sub", client_secret=WRONG_SECRET)
        results.append(refresher.refresh(accounts["sub"]))
        results += [refresher.status(a) for a in accounts.values()]
        tokens = [stored(sm, a)["access_token"] for a in accounts.values()]
        records = list(caplog.records)
        text = caplog.text
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)

    assert [r.action for r in results] == [
        "refreshed",
        "refreshed",
        "failed",
        "failed",
        "failed",
        "expiring",
        "expiring",
    ]
    basics = [base64.b64encode(f"{cid}:{secret}".encode()).decode() for _, cid, secret in APPS.values()]
    forbidden = ALL_SECRETS + tokens + basics
    haystacks = [text] + [r.getMessage() + repr(r.args) for r in records]
    haystacks += [repr(r) + json.dumps(r.public(clock())) for r in results]
    haystacks += [repr(refresher), repr(refresher._oauth)]
    assert records  # urllib3 logged at DEBUG: there was something to search
    for needle in forbidden:
        for hay in haystacks:
            assert needle not in hay
    assert not any("Basic " in hay or "Bearer " in hay for hay in haystacks)
