"""The property behind "interruption-safe with resume": for random CSVs, random faults (5xx, 429, 401,
timeouts, dropped connections) and an interruption at a random batch, a resume of the same run folder ends
with every valid row sent exactly once (or accounted for as rejected or duplicate), and nothing LTI Pro
accepted is ever sent again. Runs the real client against the strict simulator over HTTP, and the CLI's own
checkpoint (``RunFolder``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from infra.local.lti_sim import Fault
from tests.testkit import DOMAIN, HEADER, KEY, SECRET
from zoomops.jobs.runfolder import RunFolder
from zoomops.lti import disassociate
from zoomops.lti.client import LtiClient
from zoomops.lti.signing import LtiCredentials

# Faults that never let a request through: LTI Pro did not accept what it answered this way.
FAULTS = st.sampled_from(
    [
        Fault(status=500),
        Fault(status=503),
        Fault(status=429, retry_after="0"),
        Fault(status=401),
        Fault(delay=0.4, status=503),  # a read timeout (the client waits 0.2 s), then nothing accepted
        Fault(drop=True),
    ]
)
ROW = st.one_of(
    st.integers(0, 40).map(lambda n: f"{1_000_000_000 + n},ctx-{n % 3},{DOMAIN},"),  # valid, repeats = duplicates
    st.sampled_from(["12,ctx,dom,", f"abc,ctx,{DOMAIN},", f"1000000001,,{DOMAIN},"]),  # rejected
)


@given(
    lines=st.lists(ROW, min_size=1, max_size=30),
    batch_size=st.integers(1, 5),
    faults=st.lists(FAULTS, max_size=4),
    stop_after=st.integers(0, 8),
)
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_a_resume_sends_every_row_exactly_once_whatever_happened_before(
    tmp_path_factory, sim, lines, batch_size, faults, stop_after
):
    valid = {tuple(line.split(",")[:3]) for line in lines if _valid(line)}
    assume(valid)  # with nothing to send there is no batch to interrupt
    stop_after %= -(-len(valid) // batch_size)  # interrupted before one of the run's batches
    sim.reset()
    work = Path(tmp_path_factory.mktemp("resume"))
    source = work / "m.csv"
    source.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    creds = LtiCredentials(KEY, SECRET, sim.base_url)
    options = disassociate.Options(batch_size=batch_size)
    sim.add_faults(*faults)
    first = _run(source, work / "out", options, creds, stop_after=stop_after)
    accepted = Counter(_keys(sim.accepted_items()))
    sim.reset()  # the faults are gone; what LTI Pro accepted is remembered by the run folder's checkpoint
    second = _run(source, work / "out", options, creds, stop_after=None)
    accepted.update(_keys(sim.accepted_items()))

    assert first.interrupted and first.total_rows == second.total_rows == len(lines)
    assert second.failed == 0 and second.interrupted is None
    assert second.sent + second.rejected + second.duplicates == len(lines)  # every row accounted for
    assert second.sent == len(valid)
    assert set(accepted) == valid and set(accepted.values()) <= {1}  # each sent exactly once, nothing re-sent


def _run(source: Path, out: Path, options, creds, *, stop_after: int | None):
    folder = RunFolder(out, "disassociate", source, {"batch_size": options.batch_size})
    read_from = folder.prepare()
    done = [0]

    def progress(summary, batches):
        done[0] = batches

    def stop():
        return "interrupted" if stop_after is not None and done[0] >= stop_after else None

    client = LtiClient(creds, read_timeout=0.2, attempts=2, backoff=0.0, sleep=lambda s: None)
    try:
        with read_from.open("rb") as stream:
            summary = disassociate.run(
                stream,
                source.name,
                disassociate.result_files(out, dry_run=False),
                options,
                sender=client,
                creds=creds,
                checkpoint=folder,
                progress=progress,
                stop=stop,
            )
    finally:
        client.close()
    folder.finish(interrupted=summary.interrupted)
    return summary


def _valid(line: str) -> bool:
    meeting, context, _domain, _ = line.split(",")
    return meeting.isdigit() and len(meeting) == 10 and bool(context)


def _keys(items: list[dict]) -> list[tuple[str, str, str]]:
    return [(i["meetingId"], i["contextId"], i["domain"]) for i in items]
