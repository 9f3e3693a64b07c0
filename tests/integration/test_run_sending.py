"""disassociate.run with a real sender: auth circuit, checkpoints, time budget, simulator end to end."""

from __future__ import annotations

import pytest

from infra.local.lti_sim import Fault
from tests.testkit import (
    DOMAIN,
    MemoryCheckpoint,
    RecordingSender,
    SleepRecorder,
    csv_bytes,
    meeting,
    run_file,
    valid_rows,
)
from zoomops.lti import disassociate
from zoomops.lti.client import BatchResult, LtiClient

SIG_FAILED = "Verify LTI signature failed(2203)."


@pytest.fixture
def client(creds):
    c = LtiClient(creds, sleep=SleepRecorder())
    yield c
    c.close()


def test_healthy_run_against_simulator(tmp_path, sim, client, creds):
    lines = valid_rows(5) + ["bad,ctx,x,", valid_rows(1)[0]]
    result = run_file(tmp_path, csv_bytes(*lines), dry_run=False, batch_size=2, sender=client, creds=creds)
    s = result.summary_json
    assert (s["sent"], s["rejected"], s["duplicates"], s["failed"], s["batches"]) == (5, 1, 1, 0, 3)
    assert s["requests_sent"] == 3 and s["dry_run"] is False
    assert [len(call["items"]) for call in sim.accepted] == [2, 2, 1]
    assert [i["meetingId"] for i in sim.accepted_items()] == [meeting(i) for i in range(5)]
    assert result.retry == []
    assert not (result.dir / "requests.jsonl").exists()


def test_401_on_first_batch_fails_every_row_and_stops_sending(tmp_path, sim, client, creds):
    sim.add_faults(Fault(status=401))
    lines = valid_rows(5) + ["bad,ctx,x,"]
    result = run_file(tmp_path, csv_bytes(*lines), dry_run=False, batch_size=2, sender=client, creds=creds)
    assert len(sim.received) == 1  # later batches were not sent
    assert sim.accepted == []
    assert result.statuses() == ["failed"] * 5 + ["rejected"]
    for row in result.rows[:5]:
        assert SIG_FAILED in row["reason"], row
    assert "not sent" in result.rows[2]["reason"]  # a later batch says why it was not tried
    assert result.retry == [[meeting(i), "ctx-1", DOMAIN, ""] for i in range(5)]
    s = result.summary_json
    assert (s["failed"], s["sent"], s["batches"], s["batches_failed"], s["requests_sent"]) == (5, 0, 3, 3, 1)


def test_wrong_secret_run_fails_all_rows_with_lti_message(tmp_path, sim, creds):
    from zoomops.lti.signing import LtiCredentials

    wrong = LtiCredentials(key=creds.key, secret="wrong-secret", base_url=creds.base_url)
    client = LtiClient(wrong, sleep=SleepRecorder())
    try:
        result = run_file(tmp_path, csv_bytes(*valid_rows(3)), dry_run=False, batch_size=1, sender=client, creds=wrong)
    finally:
        client.close()
    assert len(sim.received) == 1
    assert result.statuses() == ["failed"] * 3
    assert all(SIG_FAILED in r["reason"] for r in result.rows)
    assert len(result.retry) == 3


def test_failed_middle_batch_only_its_rows_fail(tmp_path, sim, client, creds):
    sim.add_faults(Fault(), Fault(body={"status": False, "errorCode": "1001", "errorMessage": "too many"}))
    result = run_file(tmp_path, csv_bytes(*valid_rows(5)), dry_run=False, batch_size=2, sender=client, creds=creds)
    assert result.statuses() == ["sent", "sent", "failed", "failed", "sent"]
    assert "too many" in result.rows[2]["reason"] and "1001" in result.rows[2]["reason"]
    assert [r[0] for r in result.retry] == [meeting(2), meeting(3)]
    assert [i["meetingId"] for i in sim.accepted_items()] == [meeting(0), meeting(1), meeting(4)]


def test_permanent_503_fails_batch_after_bounded_attempts(tmp_path, sim, creds):
    sim.add_faults(*[Fault(status=503)] * 3)
    client = LtiClient(creds, attempts=3, sleep=SleepRecorder())
    try:
        result = run_file(tmp_path, csv_bytes(*valid_rows(3)), dry_run=False, batch_size=2, sender=client, creds=creds)
    finally:
        client.close()
    assert result.statuses() == ["failed", "failed", "sent"]  # the 503s hit batch 0 only; no circuit
    assert "gave up after 3 attempts" in result.rows[0]["reason"]
    assert result.summary_json["requests_sent"] == 4
    assert len(result.retry) == 2


def test_checkpoint_skips_accepted_batches(tmp_path):
    checkpoint = MemoryCheckpoint({0})
    sender = RecordingSender()
    result = run_file(
        tmp_path, csv_bytes(*valid_rows(5)), dry_run=False, batch_size=2, sender=sender, checkpoint=checkpoint
    )
    assert [[i["meetingId"] for i in b] for b in sender.bodies] == [[meeting(2), meeting(3)], [meeting(4)]]
    assert result.statuses() == ["sent"] * 5
    assert "earlier attempt" in result.rows[0]["reason"]
    assert result.rows[2]["reason"] == ""
    assert checkpoint.marked == [1, 2]
    s = result.summary_json
    assert (s["sent"], s["requests_sent"], s["batches"]) == (5, 2, 3)


def test_checkpoint_not_marked_for_failed_batch(tmp_path):
    checkpoint = MemoryCheckpoint()
    sender = RecordingSender(BatchResult(True, "", 1, 200), BatchResult(False, "no", 1, 200))
    run_file(tmp_path, csv_bytes(*valid_rows(4)), dry_run=False, batch_size=2, sender=sender, checkpoint=checkpoint)
    assert checkpoint.marked == [0]


def test_out_of_time_before_any_batch(tmp_path):
    sender = RecordingSender()
    with pytest.raises(disassociate.OutOfTime):
        run_file(tmp_path, csv_bytes(*valid_rows(3)), dry_run=False, sender=sender, time_left=lambda: 5.0)
    assert sender.bodies == []


def test_out_of_time_mid_file_then_resume_sends_nothing_twice(tmp_path, sim, client, creds):
    data = csv_bytes(*valid_rows(5))
    checkpoint = MemoryCheckpoint()
    budget = iter([300.0, 300.0, 10.0, 10.0])
    with pytest.raises(disassociate.OutOfTime):
        run_file(
            tmp_path,
            data,
            dry_run=False,
            batch_size=2,
            sender=client,
            creds=creds,
            checkpoint=checkpoint,
            time_left=lambda: next(budget),
            min_time_left=60,
        )
    assert checkpoint.accepted == {0, 1}
    assert len(sim.accepted) == 2

    result = run_file(
        tmp_path,
        data,
        dry_run=False,
        batch_size=2,
        sender=client,
        creds=creds,
        checkpoint=checkpoint,
        time_left=lambda: 900.0,
    )
    assert result.statuses() == ["sent"] * 5
    assert [i["meetingId"] for i in sim.accepted_items()] == [meeting(i) for i in range(5)]
    assert len(sim.received) == 3


def test_progress_called_once_per_batch(tmp_path):
    seen = []
    run_file(
        tmp_path,
        csv_bytes(*valid_rows(5)),
        batch_size=2,
        progress=lambda summary, done: seen.append((done, summary.planned)),
    )
    assert seen == [(1, 2), (2, 4), (3, 5)]


def test_long_run_of_rejects_flushes_early_and_keeps_line_order(tmp_path):
    sender = RecordingSender()
    lines = valid_rows(1) + ["junk,ctx,x,"] * 20 + valid_rows(1, start=1)
    result = run_file(tmp_path, csv_bytes(*lines), dry_run=False, batch_size=2, sender=sender)
    assert [int(r["line"]) for r in result.rows] == list(range(2, 24))
    assert result.summary_json["sent"] == 2 and result.summary_json["rejected"] == 20
    assert sum(len(b) for b in sender.bodies) == 2
