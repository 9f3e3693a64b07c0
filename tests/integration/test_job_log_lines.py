"""One structured (JSON) log line per job, with its counts: what an operator queries in CloudWatch Logs
Insights. Read from each handler's real Powertools logger, never containing a secret."""

from __future__ import annotations

import io
import json

import pytest

from infra.local.stack import LambdaContext, LocalStack, load_handler
from tests.conftest import load_event
from tests.testkit import csv_bytes, valid_rows

SCHEDULED = load_event("eventbridge_scheduled.json")
LECTURE = 81234567890  # the Zoom simulator's demo data (infra/local/zoom_sim.seed_demo)


@pytest.fixture
def loaded(stack: LocalStack, monkeypatch: pytest.MonkeyPatch):
    """A cold handler, in its own function's environment, whose log lines go to a buffer. Powertools keeps
    one logger per service for the whole process: its stream and level are put back afterwards."""
    changed = []

    def load(folder: str):
        for name, value in stack.function_env(folder).items():
            monkeypatch.setenv(name, value)
        module = load_handler(folder)
        handler = module.logger.registered_handler
        changed.append((module.logger, handler, handler.stream, module.logger.log_level))
        return _buffered(module)

    yield load
    for logger, handler, stream, level in changed:
        handler.setStream(stream)
        logger.setLevel(level)


def _buffered(module):
    """(module, reader of its INFO-and-up log lines: those with a given message, or all of them)."""
    buffer = io.StringIO()
    module.logger.registered_handler.setStream(buffer)
    module.logger.setLevel("INFO")

    def lines(message: str | None = None) -> list[dict]:
        records = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
        return [r for r in records if message is None or r["message"] == message]

    return module, lines


def test_a_disassociate_job_logs_one_line_whose_counts_add_up(stack: LocalStack, loaded):
    module, lines = loaded("disassociate")
    body = csv_bytes(
        *valid_rows(5),
        *valid_rows(1),  # the sixth row repeats the first
        "not-a-meeting,ctx-1,canvas.example.edu,101",
    )
    stack.put_file("incoming/logged.csv", body)
    stack.dispatch(module.handler)
    [line] = lines("disassociate job finished")
    assert (line["total_rows"], line["sent"], line["rejected"], line["duplicates"], line["failed"]) == (7, 5, 1, 1, 0)
    assert line["total_rows"] == line["sent"] + line["rejected"] + line["duplicates"] + line["failed"]
    assert line["job_id"] and line["state"] and line["file"] == "incoming/logged.csv"
    assert line["service"] == "disassociate" and line["level"] == "INFO" and line["function_name"]
    assert stack._lti_secret not in json.dumps(lines())


def test_a_token_refresh_logs_one_line_per_account_without_the_token(stack: LocalStack, loaded):
    assert stack.zoom_token("main") is None
    module, lines = loaded("token_refresh")
    module.handler(SCHEDULED, LambdaContext(function_name="zoomops-token-refresh", timeout_seconds=120))
    logged = lines("token checked")
    assert sorted(line["account"] for line in logged) == ["main", "sub"]
    assert all(line["service"] == "token_refresh" for line in logged)
    assert all(line["action"] == "refreshed" and line["expires_in_seconds"] > 3000 for line in logged)
    token = stack.zoom_token("main")["access_token"]
    assert token not in json.dumps(lines())


def test_a_report_run_logs_one_line_with_its_counts(stack: LocalStack, loaded, monkeypatch: pytest.MonkeyPatch):
    load_handler("token_refresh").handler(SCHEDULED, LambdaContext(function_name="zoomops-token-refresh"))
    module, lines = loaded("participant_report")
    result = module.handler(
        {"meeting_ids": [str(LECTURE)]}, LambdaContext(function_name="zoomops-participant-report", timeout_seconds=120)
    )
    [line] = lines("participant report run finished")
    assert line["instances"] == result["instances"] == 3
    assert line["instances_written"] == result["instances_written"] and line["rows_written"] > 0
    assert line["run_id"] == result["run_id"] and line["service"] == "participant_report"
