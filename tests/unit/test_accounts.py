"""Zoom S2S OAuth tokens kept in Secrets Manager (zoomops.tokens) against moto and the Zoom simulator.

Per account a credentials secret ``p/<name>/credentials`` ({account_id, client_id, client_secret}) and a
token secret ``p/<name>/token``. Time is a FakeClock shared by the refresher, its lease and the simulator
(tokens expire in simulated time); urllib3's Retry sleeps go to a recorder (``transport``), never really.
"""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest
import requests
import urllib3.util.retry

from infra.local.stack import JOBS_TABLE
from infra.local.zoom_sim import FakeClock, ZoomSimulator
from zoomops.aws.secrets import SecretsTokenStore
from zoomops.errors import ConfigError
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


# ------------------------------------------------------------------ several accounts
def test_parse_accounts_names_and_secret_names():
    assert parse_accounts(" main , sub-2,Sub_3 ,", "zoomops/prod/") == [
        ZoomAccount("main", "zoomops/prod/main/credentials", "zoomops/prod/main/token"),
        ZoomAccount("sub-2", "zoomops/prod/sub-2/credentials", "zoomops/prod/sub-2/token"),
        ZoomAccount("Sub_3", "zoomops/prod/Sub_3/credentials", "zoomops/prod/Sub_3/token"),
    ]


@pytest.mark.parametrize(
    "names", ["", " ", " , ,", "main,bad name", "a/b", "x.y", "main;sub", "main,main", "main, sub ,main"]
)
def test_parse_accounts_errors_name_the_variable(names):
    with pytest.raises(ConfigError) as info:
        parse_accounts(names, "p/")
    assert "ZOOMOPS_ZOOM_ACCOUNTS" in str(info.value)


@pytest.mark.parametrize("names", ["café", "main,ü", "sub²"])
def test_parse_accounts_rejects_non_ascii_names(names):
    with pytest.raises(ConfigError) as info:
        parse_accounts(names, "p/")
    assert "ZOOMOPS_ZOOM_ACCOUNTS" in str(info.value)


# ------------------------------------------------------------------ failures


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


# ------------------------------------------------------------------ status()


# ------------------------------------------------------------------ nothing secret anywhere
