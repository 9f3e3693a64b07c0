"""A run killed mid-file (as a Lambda timeout kills it) resumes on redelivery and sends nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from infra.local.lti_sim import Fault
from infra.local.stack import ROOT, LambdaContext, LocalStack
from tests.integration.test_disassociate_handler import meetings_csv

LAMBDA_TIMEOUT = 3.0  # the killed invocation's idempotency lock lapses after this


def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_killed_invocation_resumes_without_resending(stack: LocalStack, handler):
    stack.put_file("incoming/big.csv", meetings_csv(1000), metadata={"batch-size": "100"})
    event, _ = stack.receive_events()
    if not json.loads(event["Records"][0]["body"]).get("Records"):  # moto's s3:TestEvent
        event, _ = stack.receive_events()

    # The fourth request hangs; the process is killed while waiting for it, like a timeout would.
    stack.lti.add_faults(Fault(), Fault(), Fault(), Fault(status=503, delay=20))
    worker = subprocess.Popen(
        [sys.executable, "-m", "infra.local.invoke", "disassociate", "--timeout", str(LAMBDA_TIMEOUT)],
        cwd=ROOT,
        env={**os.environ, **stack.function_env(), "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    worker.stdin.write(json.dumps(event).encode())
    worker.stdin.close()
    _wait_for(lambda: len(stack.lti.received) >= 4 or worker.poll() is not None, timeout=60)
    assert worker.poll() is None, worker.stderr.read().decode()
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert len(stack.lti.accepted) == 3

    time.sleep(LAMBDA_TIMEOUT)  # the dead invocation's in-progress idempotency record expires
    stack.dispatch(handler.handler, context_factory=lambda: LambdaContext(timeout_seconds=900), timeout=60)

    sent = Counter(item["meetingId"] for item in stack.lti.accepted_items())
    assert len(sent) == 1000 and max(sent.values()) == 1, "every meeting sent exactly once"
    assert len(stack.lti.accepted) == 10
    summary = json.loads(stack.results("big.csv")["summary.json"])
    assert (summary["sent"], summary["failed"], summary["batches"]) == (1000, 0, 10)
    assert summary["requests_sent"] == 7  # only the batches the dead run had not finished
    assert stack.keys("processed/") == ["processed/big.csv"]
