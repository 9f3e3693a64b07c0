"""``make demo``, as a newcomer runs it: the demo module in a subprocess on its own embedded stack (moto's server
and the simulators on 127.0.0.1), exiting 0 only when every job's counts add up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_runs_every_job_and_its_counts_add_up():
    proc = subprocess.run(
        [sys.executable, "-m", "infra.local.demo"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert out.rstrip().endswith("demo finished: every row accounted for")
    for step in (
        "1. provision a small semester",
        "2. the same job on the provisioning state machine",
        "3. bulk disassociate",
        "4. dry run",
        "5. Zoom tokens",
        "6. the same jobs over the API",
    ):
        assert step in out, step
    assert "Traceback" not in proc.stderr and "demo-lti-secret" not in out + proc.stderr
