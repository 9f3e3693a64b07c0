"""The report manifest in DynamoDB (the stack's), against moto: a run that ended clears Zoom's daily stop only
when it is over, so a stop a parallel child recorded meanwhile holds for the children after it."""

from __future__ import annotations

import uuid

import pytest

from infra.local.stack import MANIFEST_TABLE
from zoomops.aws.dynamo import DynamoManifest

pytestmark = pytest.mark.integration


def test_the_dynamo_manifest_keeps_a_daily_stop_recorded_after_a_run_began(stack):
    manifest = DynamoManifest(MANIFEST_TABLE, stack.client("dynamodb"), f"claim-{uuid.uuid4().hex[:6]}")
    manifest.set_resume_after("2024-10-02T00:00:00+00:00")
    manifest.set_resume_after(None, passed="2024-10-01T15:00:00+00:00")  # a child that began before the stop
    assert manifest.resume_after() == "2024-10-02T00:00:00+00:00"
    manifest.set_resume_after(None, passed="2024-10-02T00:00:05+00:00")
    assert manifest.resume_after() is None
