"""A run asked to stop (a signal) or hit by an error while sending still accounts for every row: the batches
left are "failed: not sent", in retry.csv, and the summary says why (the CLI then exits 3 and resumes)."""

from __future__ import annotations

from tests.testkit import RecordingSender, csv_bytes, run_file, valid_rows
from zoomops.lti.client import BatchResult


class ExplodingSender(RecordingSender):
    """Accepts the first batch, then raises (a bug, or a second Ctrl-C in the middle of a request)."""

    def __init__(self, error: BaseException):
        super().__init__()
        self.error = error

    def send(self, body, time_left=None, user_id=None) -> BatchResult:
        if self.bodies:
            raise self.error
        return super().send(body, time_left, user_id)


def test_an_error_while_sending_leaves_every_row_accounted_for_and_the_rest_unsent(tmp_path):
    result = run_file(
        tmp_path,
        csv_bytes(*valid_rows(6)),
        dry_run=False,
        batch_size=2,
        sender=ExplodingSender(RuntimeError("socket gone")),
        stop=lambda: None,
    )
    assert result.statuses() == ["sent", "sent", "failed", "failed", "failed", "failed"]
    assert "RuntimeError during batch 1: socket gone" in result.summary_json["interrupted"]
    assert len(result.retry) == 4 and result.summary_json["failed"] == 4


def test_a_second_ctrl_c_during_a_request_still_writes_every_file(tmp_path):
    result = run_file(
        tmp_path,
        csv_bytes(*valid_rows(4)),
        dry_run=False,
        batch_size=2,
        sender=ExplodingSender(KeyboardInterrupt()),
        stop=lambda: None,
    )
    assert result.statuses() == ["sent", "sent", "failed", "failed"]
    assert result.summary_json["interrupted"].startswith("stopped by KeyboardInterrupt")


def test_a_stop_asked_for_between_batches_sends_nothing_more(tmp_path):
    asked: list[str] = []
    sender = RecordingSender()

    def progress(summary, batches):
        asked.append("interrupted by Ctrl-C")

    result = run_file(
        tmp_path,
        csv_bytes(*valid_rows(6)),
        dry_run=False,
        batch_size=2,
        sender=sender,
        progress=progress,
        stop=lambda: asked[0] if asked else None,
    )
    assert len(sender.bodies) == 1 and result.statuses() == ["sent"] * 2 + ["failed"] * 4
    assert all(r["reason"] == "not sent: interrupted by Ctrl-C" for r in result.rows[2:])


def test_without_a_stop_an_error_goes_up_as_before(tmp_path):
    """The Lambda path (no stop): the invocation fails and SQS redelivers; the checkpoint makes that safe."""
    import pytest

    with pytest.raises(RuntimeError):
        run_file(
            tmp_path,
            csv_bytes(*valid_rows(4)),
            dry_run=False,
            batch_size=2,
            sender=ExplodingSender(RuntimeError("boom")),
        )
