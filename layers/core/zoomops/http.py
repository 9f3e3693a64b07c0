"""The one way zoomops builds an HTTP session: pooled, with urllib3's Retry policy (or none)."""

from __future__ import annotations

USER_AGENT = "zoomops/0.1"


def pooled_session(*, retry=None, pool_maxsize: int = 10, user_agent: str = USER_AGENT):
    """A ``requests.Session`` whose adapter pools connections and applies ``retry`` (None: no retries)."""
    import requests  # edge dependency, imported on first use
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_maxsize=pool_maxsize, max_retries=retry if retry is not None else 0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session
