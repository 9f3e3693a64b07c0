"""``zoomops report participants`` as a subprocess against the local stack (moto + the Zoom simulator).

The token_refresh handler runs first so the token secrets exist; the CLI reads them from Secrets Manager
(moto) and asks the simulator of the stack, whose demo data is from September 2024. Each test reads the
written folder back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.local.stack import LambdaContext, LocalStack, load_handler
from infra.local.zoom_sim import DEMO_UUIDS, Fault
from tests.conftest import load_event
from tests.testkit import participant_files, read_csv
from zoomops.zoom.reports.files import instance_key
from zoomops.zoom.reports.pseudonymise import Pseudonymiser

ZOOMOPS = Path(sys.executable).with_name("zoomops")
LECTURE, OFFICE = "81234567890", "82345678901"
PEOPLE = (
    "Ada Lovelace",
    "Alan Turing",
    "ada.lovelace@campus.example.edu",
    "alan.turing@campus.example.edu",
    "@students.campus.example.edu",
    "spam@elsewhere.example.com",
    "Lovelace",
    "Turing",
    "Student 100",
)
KEY = "cli-pseudonym-key-for-the-campus-0042"


@pytest.fixture(scope="module")
def refresher():
    return load_handler("token_refresh")


@pytest.fixture
def zoomops(stack: LocalStack, refresher):
    """Run the CLI with the report function's environment (tokens refreshed first)."""
    refresher.handler(load_event("eventbridge_scheduled.json"), LambdaContext(function_name="zoomops-token-refresh"))

    def run(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMOPS_")}
        env.update(stack.function_env("participant_report"))
        env.update(extra_env or {})
        return subprocess.run(
            [str(ZOOMOPS), "report", "participants", *map(str, args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    yield run
    stack.zoom.latency = 0.0


def only_run(out: Path) -> Path:
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]


def write_csv(path: Path, *lines: str) -> Path:
    path.write_text("Meeting ID,Context ID,Domain,custom_canvas_course_id\n" + "".join(f"{x}\n" for x in lines))
    return path


def test_from_meeting_ids_with_progress_then_a_second_run_skips_everything(zoomops, stack, tmp_path):
    out = tmp_path / "reports"
    stack.zoom.latency = 0.15  # eight planning calls take > 1 s: the CLI shows its progress while writing
    proc = zoomops("--meeting", LECTURE, OFFICE, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert (
        "2 meetings asked for: 2 planned; 5 instances: 5 written (15 participant rows, 1 single-participant), "
        "0 already done, "
        "0 too recent, 0 failed; 5 registrants" in proc.stdout
    )
    assert "instances written" in proc.stderr  # a progress line
    files = participant_files(out)
    assert len(files) == 10
    base = out / instance_key(LECTURE, "2024-09-02", DEMO_UUIDS["leading_slash"])
    rows = read_csv(base.with_name(base.name + ".csv"))
    assert [r["name"] for r in rows] == ["Ada Lovelace", "Student 1001", "Student 1001", "Student 1002"]
    run = only_run(out)
    assert f"results: {out}/runs/{run.name}/" in proc.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["instances_written"], summary["rows_written"], summary["failed"]) == (5, 15, [])
    assert len(read_csv(run / "attendance.csv")) == 14 and len(read_csv(run / "instances.csv")) == 5
    single_base = out / instance_key(OFFICE, "2024-09-03", DEMO_UUIDS["single_participant"])
    single = json.loads(single_base.with_name(single_base.name + ".json").read_text())
    assert single["single_participant"] is True and len(single["participants"]) == 1
    assert len(read_csv(out / f"registrants/meeting={LECTURE}/registrants.csv")) == 5
    assert len(json.loads((out / "manifest.json").read_text())["done"]) == 5

    stack.zoom.latency = 0.0
    before = {f: f.stat().st_mtime_ns for f in files}
    again = zoomops("--meeting", LECTURE, OFFICE, "--out", out)
    assert again.returncode == 0, again.stderr
    assert "5 instances: 0 written (0 participant rows, 0 single-participant), 5 already done" in again.stdout
    assert {f: f.stat().st_mtime_ns for f in participant_files(out)} == before


def test_from_a_csv_pseudonymised(zoomops, tmp_path):
    source = write_csv(
        tmp_path / "courses.csv",
        "812 3456 7890,ctx-1,https://lms.example.edu,11",
        "81234567890,ctx-2,https://lms.example.edu,12",
        "823-4567-8901,ctx-1,https://lms.example.edu,",
        "nonsense,ctx-1,https://lms.example.edu,",
    )
    out = tmp_path / "private"
    proc = zoomops("--csv", source, "--out", out, "--pseudonymise", extra_env={"ZOOMOPS_PSEUDONYM_KEY": KEY})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("2 meetings asked for: 2 planned; 5 instances: 5 written (15 participant rows")
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) == 10 + 4 + 3 + 1  # instances, registrants, the run's three files, manifest.json
    for path in written:
        text = path.read_text(encoding="utf-8")
        for person in PEOPLE:
            assert person not in text, (path, person)
    alias = Pseudonymiser(KEY.encode())("s1001@students.campus.example.edu")
    attendance = read_csv(only_run(out) / "attendance.csv")
    assert {r["instance_uuid"] for r in attendance if r["participant"] == alias} == {
        DEMO_UUIDS["leading_slash"],
        DEMO_UUIDS["plain"],
    }
    for line in proc.stdout.splitlines() + proc.stderr.splitlines():
        assert not any(person in line for person in PEOPLE)


def test_from_users_and_dates(zoomops, tmp_path):
    out = tmp_path / "ada"
    proc = zoomops(
        "--user", "ada.lovelace@campus.example.edu", "--from", "2024-09-01", "--to", "2024-09-09", "--out", out
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1 meetings asked for: 1 planned; 2 instances: 2 written")
    assert {p.parent.name for p in participant_files(out)} == {"date=2024-09-02", "date=2024-09-09"}
    instances = read_csv(only_run(out) / "instances.csv")
    assert sorted(r["instance_uuid"] for r in instances) == sorted(
        [DEMO_UUIDS["leading_slash"], DEMO_UUIDS["double_slash"]]
    )


def test_failures_exit_1_and_a_daily_limit_exit_3_resumable(zoomops, stack, tmp_path):
    out = tmp_path / "lecture"
    stack.zoom.add_faults(*[Fault()] * 4, Fault(status=404))  # planning, then the first report request
    failed = zoomops("--meeting", LECTURE, "--out", out)
    assert failed.returncode == 1
    line = next(x for x in failed.stderr.splitlines() if x.startswith("failed: meeting"))
    assert line.startswith(f"failed: meeting {LECTURE} ") and "404" in line
    assert "2 written" in failed.stdout and "1 failed" in failed.stdout
    assert json.loads((only_run(out) / "summary.json").read_text())["failed"][0]["meeting_id"] == LECTURE

    stack.zoom.reset()
    stack.zoom.add_faults(*[Fault()] * 4, Fault(rate_limit_type="Daily-limit", category="heavy"))
    stopped = zoomops("--meeting", LECTURE, OFFICE, "--out", out, "--workers", "1")
    assert stopped.returncode == 3
    midnight = datetime.fromtimestamp(stack.zoom.clock() // 86_400 * 86_400 + 86_400, UTC)
    assert f"stopped early (daily-limit); run the same command again after {midnight.isoformat()}" in stopped.stderr
    # stdout counts every meeting asked for, and says what is left, not only the ones it started
    assert stopped.stdout.startswith("2 meetings asked for: ") and "left for the next run" in stopped.stdout
    assert json.loads((out / "manifest.json").read_text())["resume_after"] == midnight.isoformat()


def test_refusals_exit_2(zoomops, tmp_path):
    out = tmp_path / "out"
    cases = [
        (["--user", "ada.lovelace@campus.example.edu", "--from", "2024-09-31"], "from must be a date"),
        (["--meeting", LECTURE, "--account", "nope"], "nope"),
        (["--meeting", LECTURE, "--pseudonymise"], "16 bytes"),  # no ZOOMOPS_PSEUDONYM_KEY
        (["--csv", tmp_path / "missing.csv"], "missing.csv"),
    ]
    for args, words in cases:
        proc = zoomops(*args, "--out", out)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert words in proc.stderr, (args, proc.stderr)
    assert not out.exists() or not participant_files(out)


def test_a_refused_csv_exits_2(zoomops, tmp_path):
    source = tmp_path / "not-an-import.csv"
    source.write_text("Name,Email\nAda,ada@example.edu\n")
    proc = zoomops("--csv", source, "--out", tmp_path / "out")
    assert proc.returncode == 2 and proc.stderr.startswith("zoomops: ") and "Traceback" not in proc.stderr
