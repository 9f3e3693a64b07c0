"""Fixtures for the zoomops unit tests: one strict LTI Pro simulator per session, reset per test."""

from __future__ import annotations

import pytest

from infra.local.lti_sim import LtiProSimulator
from zoomops.lti import LtiCredentials
from zoomops_testkit import KEY, SECRET


@pytest.fixture(scope="session")
def _session_sim():
    with LtiProSimulator(KEY, SECRET) as sim:
        yield sim


@pytest.fixture
def sim(_session_sim):
    """The simulator, with no faults and no records left from another test."""
    _session_sim.reset()
    yield _session_sim
    _session_sim.reset()


@pytest.fixture
def creds(sim) -> LtiCredentials:
    return LtiCredentials(key=KEY, secret=SECRET, base_url=sim.base_url)
