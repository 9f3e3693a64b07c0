"""The provisioning job (zoomops.provision.run) in-process against the Zoom and LTI Pro simulators on
127.0.0.1, on one FakeClock shared by the simulators, the Zoom client and the job: the next UTC day comes
when the test says so, and no test sleeps."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from infra.local.lti_sim import Fault as LtiFault
from infra.local.lti_sim import LtiProSimulator
from infra.local.zoom_sim import PROVISIONING_SCOPE, FakeClock, Fault, ZoomSimulator
from tests.testkit import ZoomSimTokens, read_csv
from zoomops.lti.client import LtiClient
from zoomops.lti.signing import LtiCredentials
from zoomops.provision.associate import IMPORT_PATH, ApiImport
from zoomops.provision.ledger import FileLedger
from zoomops.provision.run import Context, Options, run
from zoomops.zoom.client import RateLimiter, ZoomClient
from zoomops.zoom.meetings import ZoomMeetings

pytestmark = pytest.mark.integration

ACCOUNT, CLIENT_ID, CLIENT_SECRET = "campusRunAcct", "run-s2s-client", "zoom-RUN-secret-2k4x"
KEY, SECRET = "lti-import-key", "lti-IMPORT-secret-81d0"
START = 1_787_227_200.0  # 2026-08-20T12:00:00Z
HEADER = "Context ID,Domain,custom_canvas_course_id,Host,Topic,Start,Timezone,Duration"
DOMAIN = "https://canvas.example.edu"
UNLIMITED = {"light": None, "medium": None, "heavy": None}


def host(n: int) -> str:
    return f"instructor{n:02d}@campus.example.edu"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def zoom_sim(clock):
    sim = ZoomSimulator(clock=clock, limits=UNLIMITED)
    sim.start()
    sim.add_account(ACCOUNT, CLIENT_ID, CLIENT_SECRET, scope=PROVISIONING_SCOPE)
    for n in range(12):
        sim.add_user(ACCOUNT, email=host(n))
    yield sim
    sim.stop()


@pytest.fixture
def lti_sim():
    with LtiProSimulator(KEY, SECRET) as sim:
        yield sim


@pytest.fixture
def job(zoom_sim, lti_sim, clock, tmp_path):
    """Run the job on a CSV text; the ledger lives across calls, each call writes to a new folder."""
    tokens = ZoomSimTokens(zoom_sim, ACCOUNT, CLIENT_ID, CLIENT_SECRET, clock)
    client = ZoomClient(tokens, limiter=RateLimiter(clock=clock, sleep=clock.advance), clock=clock, sleep=clock.advance)
    ledger = FileLedger(tmp_path / "ledger.jsonl", f"zoom:{ACCOUNT}")
    runs = iter(range(1, 100))

    def go(text: str, **options):
        creds = LtiCredentials(KEY, SECRET, lti_sim.base_url)
        lti = ApiImport(creds, ledger, sender=LtiClient(creds, path=IMPORT_PATH, method="POST"), user_id="admin-1")
        out = tmp_path / f"run-{next(runs)}"
        ctx = Context(ZoomMeetings(client), ledger, ACCOUNT, lti, clock=clock)
        summary = run(io.BytesIO(text.encode()), "term.csv", out, Options(**options), ctx)
        return summary, out

    yield go
    client.close()


def rows(n: int, hosts: int, *, day: str = "2026-09-07") -> str:
    lines = [
        f"ctx-{i},{DOMAIN},{1000 + i},{host(i % hosts)},Section {i},{day} 09:00,America/Chicago,50" for i in range(n)
    ]
    return "\n".join([HEADER, *lines]) + "\n"


def test_deferred_rows_continue_on_the_next_utc_day_and_nothing_is_created_twice(job, zoom_sim, clock):
    summary, out = job(rows(5, 1), daily_cap=3)
    assert (summary.created, summary.deferred) == (3, 2)
    assert summary.resume_after == "2026-08-21T00:00:00+00:00"
    assert len(read_csv(out / "retry.csv")) == 2
    clock.set(START + 12 * 3600)  # 2026-08-21T00:00Z
    summary, out = job(rows(5, 1), daily_cap=3)
    assert (summary.created, summary.unchanged, summary.deferred) == (2, 3, 0) and summary.resume_after is None
    assert len(zoom_sim.meetings(ACCOUNT, host(0))) == 5
    assert summary.total_rows == summary.accounted == 5


def test_zoom_saying_the_hosts_day_is_spent_defers_only_that_hosts_rows(job, zoom_sim):
    zoom_sim.meeting_daily_cap = 2
    summary, out = job(rows(6, 2), workers=1)
    statuses = {r["line"]: r["status"] for r in read_csv(out / "rows.csv")}
    assert (summary.created, summary.deferred) == (4, 2)
    assert [statuses[str(line)] for line in (2, 4, 6)] == ["created", "created", "deferred"]  # host 0
    assert [statuses[str(line)] for line in (3, 5, 7)] == ["created", "created", "deferred"]  # host 1
    assert zoom_sim.throttled == 2  # one 429 a host: the rest of its rows were not sent


def test_1001_rows_make_two_import_files_three_import_calls_and_an_exact_removal_file(job, zoom_sim, lti_sim):
    summary, out = job(rows(1001, 11), associate="csv")
    assert summary.created == 1001 and summary.failed == 0
    first, second = (list(csv.reader((out / f"lti-import-00{n}.csv").open(newline=""))) for n in (1, 2))
    assert len(first) == 1001 and len(second) == 2 and first[0] == second[0]
    removal = list(csv.reader((out / "removal.csv").open(newline="")))
    assert removal == first + second[1:]
    assert {r[0] for r in removal[1:]} == {str(m["id"]) for n in range(11) for m in zoom_sim.meetings(ACCOUNT, host(n))}

    summary, out = job(rows(1001, 11), associate="api")  # the same meetings, now through the import API
    assert summary.unchanged == 1001 and summary.association == {"imported": 1001}
    assert [len(call["items"]) for call in lti_sim.imported] == [400, 400, 201]
    assert all(call["user_id"] == "admin-1" for call in lti_sim.imported)
    assert len(lti_sim.associations()) == 1001
    summary, _ = job(rows(1001, 11), associate="api")  # imported already: not imported again
    assert summary.association == {"already imported": 1001} and len(lti_sim.imported) == 3


def test_a_failed_import_is_retried_by_the_next_run(job, lti_sim):
    lti_sim.add_faults(LtiFault(body={"status": False, "errorCode": "300", "errorMessage": "Invalid request"}))
    summary, out = job(rows(2, 1), associate="api")
    assert summary.created == 2 and summary.association == {"import failed": 2}
    assert len(read_csv(out / "retry.csv")) == 2 and "Invalid request" in read_csv(out / "rows.csv")[0]["association"]
    summary, out = job(rows(2, 1), associate="api")
    assert summary.unchanged == 2 and summary.association == {"imported": 2}


def test_a_lost_create_answer_is_found_on_the_next_run(job, zoom_sim):
    zoom_sim.add_faults(Fault(lose_answer=True))  # Zoom makes the meeting; its answer never arrives
    summary, out = job(rows(1, 1), associate="none")
    (row,) = read_csv(out / "rows.csv")
    assert summary.failed == 1 and "the next run looks for it first" in row["reason"]
    assert len(zoom_sim.meetings(ACCOUNT, host(0))) == 1
    summary, out = job(rows(1, 1), associate="none")
    (row,) = read_csv(out / "rows.csv")
    assert summary.created == 1 and "interrupted create" in row["reason"]
    assert len(zoom_sim.meetings(ACCOUNT, host(0))) == 1


def test_the_summary_always_adds_up_and_secrets_stay_out(job, zoom_sim, tmp_path):
    text = rows(4, 2) + f"ctx-x,{DOMAIN},,nobody@campus.example.edu,Ghost,2026-09-07 09:00,America/Chicago,50\n"
    text += f"ctx-y,{DOMAIN},,{host(0)},Bad,2026-09-07 25:00,America/Chicago,50\n"
    summary, out = job(text)
    assert (summary.created, summary.failed, summary.rejected) == (4, 1, 1)
    assert summary.total_rows == summary.accounted == 6
    written = json.loads((out / "summary.json").read_text())
    assert written["total_rows"] == 6 and written["files"] == sorted(written["files"])
    everything = "".join(p.read_text() for p in Path(out).iterdir()) + (tmp_path / "ledger.jsonl").read_text()
    for secret in zoom_sim.issued_secrets():
        assert secret not in everything
