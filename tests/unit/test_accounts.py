"""Zoom S2S OAuth tokens kept in Secrets Manager (zoomops.tokens) against moto and the Zoom simulator.

Per account a credentials secret ``p/<name>/credentials`` ({account_id, client_id, client_secret}) and a
token secret ``p/<name>/token``. Time is a FakeClock shared by the refresher, its lease and the simulator
(tokens expire in simulated time); urllib3's Retry sleeps go to a recorder (``transport``), never really.
"""

from __future__ import annotations

import pytest

from zoomops.errors import ConfigError
from zoomops.settings import ZoomAccount, parse_accounts

# ------------------------------------------------------------------ fixtures and helpers


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


# ------------------------------------------------------------------ status()


# ------------------------------------------------------------------ nothing secret anywhere
