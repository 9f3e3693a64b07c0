"""Shared fixtures: the embedded local stack (moto server + LTI Pro simulator), handlers, events."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

EVENTS = Path(__file__).parent / "events"

# Nothing in the suite may reach a real AWS endpoint or credential chain.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


# -- what each test is: its folder says it, and unit tests prove it by opening no socket ---------------
KINDS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        kind = item.path.parent.name
        item.add_marker(getattr(pytest.mark, kind if kind in KINDS else "template"))


@pytest.fixture(autouse=True)
def _unit_tests_open_no_socket(request):
    """A unit test that opens a network socket fails (pytest-socket); Unix sockets stay allowed."""
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    import pytest_socket

    pytest_socket.disable_socket(allow_unix_socket=True)
    try:
        yield
    finally:
        pytest_socket.enable_socket()


@pytest.fixture(scope="session")
def _local_stack():
    from infra.local.stack import LocalStack

    stack = LocalStack(lti_key="test-lti-key", lti_secret="test-lti-SECRET-value-7f3a", visibility_timeout=1)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def stack(_local_stack):
    """The local stack with every resource empty and the simulator's records cleared."""
    _local_stack.reset()
    return _local_stack


@pytest.fixture
def handler(stack):
    """A cold copy of the disassociate handler module (its per-container caches empty)."""
    from infra.local.stack import load_handler

    return load_handler("disassociate")


@pytest.fixture(scope="session")
def _session_sim():
    from infra.local.lti_sim import LtiProSimulator
    from tests.testkit import KEY, SECRET

    with LtiProSimulator(KEY, SECRET) as sim:
        yield sim


@pytest.fixture
def sim(_session_sim):
    """A strict LTI Pro simulator on 127.0.0.1, with no faults and no records from another test."""
    _session_sim.reset()
    yield _session_sim
    _wait_until_answered(_session_sim)  # a delayed request must not land in the next test's records
    _session_sim.reset()


def _wait_until_answered(sim, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = [r for r in list(sim.received) if r["status"] is None and not (r.get("fault") or {}).get("drop")]
        if not pending:
            return
        time.sleep(0.05)


@pytest.fixture
def creds(sim):
    from tests.testkit import KEY, SECRET
    from zoomops.lti.signing import LtiCredentials

    return LtiCredentials(key=KEY, secret=SECRET, base_url=sim.base_url)


@pytest.fixture
def lambda_context():
    from infra.local.stack import LambdaContext

    return LambdaContext()
