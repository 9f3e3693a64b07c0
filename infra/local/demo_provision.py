"""``make demo``, its first parts: a small semester provisioned with ``zoomops provision`` against the embedded
stack (the Zoom simulator checks every body against Zoom's OpenAPI description), its LTI Pro import file
imported, a re-run that changes nothing, and the removal file given to ``zoomops disassociate``; then Web
Meeting v6 and LumiNUS files dropped in the bucket, run by the provisioning state machine.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .stack import BUCKET, JOBS_TABLE, ZOOM_ACCOUNTS, LambdaContext, LocalStack, load_handler

SEMESTER = Path(__file__).parent / "samples" / "fall-2026-course-meetings.csv"
ZOOMOPS = Path(sys.executable).with_name("zoomops")
HOSTS = ("prof.hopper@campus.example.edu", "dr.lamarr@campus.example.edu")


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMOPS_")}
    env.update(stack.function_env("participant_report"))
    env.update(ZOOMOPS_LTI_BASE_URL=stack.lti.base_url, ZOOMOPS_LTI_KEY=stack.lti_key)
    env["ZOOMOPS_LTI_SECRET"] = stack._lti_secret
    return subprocess.run([str(ZOOMOPS), *args], env=env, capture_output=True, text=True, timeout=300)


def semester(stack: LocalStack) -> bool:
    """Provision, import, re-run, remove; True when every count adds up."""
    account = ZOOM_ACCOUNTS["main"][0]
    for email in HOSTS:
        stack.zoom.add_user(account, email=email, timezone="America/New_York")
    load_handler("token_refresh").handler({"detail": {}}, LambdaContext())
    with tempfile.TemporaryDirectory(prefix="zoomops-demo-") as tmp:
        source = Path(tmp) / SEMESTER.name
        source.write_bytes(SEMESTER.read_bytes())
        print(f"\n1. provision a small semester: zoomops provision {SEMESTER.name} --out fall")
        first = _cli(stack, "provision", str(source), "--out", f"{tmp}/fall")
        print("   " + first.stdout.strip().splitlines()[0] if first.stdout else first.stderr.strip())
        rows = _rows(Path(tmp) / "fall" / "rows.csv")
        for row in rows:
            reason = f"  {row['reason'][:90]}" if row["reason"] else ""
            print(f"    line {row['line']:>2}  {row['status']:<9} {row['meeting_id']:<12} {row['association']}{reason}")
        lecture = next(m for m in stack.zoom.meetings(account, HOSTS[0]) if m.get("occurrences"))
        times = [o["start_time"][11:16] for o in lecture["occurrences"]]
        print(f"   the weekly lecture stays at 09:00 New York: {times[0]}Z before the DST change, {times[-1]}Z after")
        imported = _rows(Path(tmp) / "fall" / "lti-import-001.csv")
        print(f"   lti-import-001.csv ({len(imported)} rows), ready for LTI Pro's Import CSV:")
        for line in (Path(tmp) / "fall" / "lti-import-001.csv").read_text().splitlines()[:4]:
            print(f"     {line}")
        stack.lti.add_associations(*(_association(r) for r in imported))  # what the admin's import does
        print(f"   imported: LTI Pro now holds {len(stack.lti.associations())} association(s)")

        before = len(stack.zoom.api_requests)
        again = _cli(stack, "provision", str(source), "--out", f"{tmp}/fall-again")
        statuses = [r["status"] for r in _rows(Path(tmp) / "fall-again" / "rows.csv")]
        writes = [r for r in stack.zoom.api_requests[before:] if r["method"] in ("POST", "PATCH")]
        print(f"\n   the same file again: {statuses.count('unchanged')} unchanged, {len(writes)} write(s) to Zoom")

        print("\n   remove what it provisioned: zoomops disassociate fall/removal.csv")
        removed = _cli(stack, "disassociate", f"{tmp}/fall/removal.csv", "--out", f"{tmp}/removed")
        print("   " + removed.stdout.strip().splitlines()[0] if removed.stdout else removed.stderr.strip())
        print(f"   LTI Pro now holds {len(stack.lti.associations())} association(s)")
        made = [r for r in rows if r["status"] == "created"]
        return (
            first.returncode == 0
            and again.returncode == 0
            and removed.returncode == 0
            and len(made) == len(imported) == len(rows) - sum(r["status"] == "rejected" for r in rows)
            and not writes
            and stack.lti.associations() == []
        )


WEB_MEETING = (
    "Host,Organizer First Name,Organizer Last Name,Topic,Start,Timezone,Duration\n"
    "ada.lovelace@uni.example.edu,Ada,Lovelace,Analytical Engines seminar,2026-12-08 10:00,Europe/Zurich,60\n"
    "ada.lovelace@uni.example.edu,Ada,Lovelace,Notes on the Engine,2026-12-10 10:00,Europe/Zurich,60\n"
)
LUMINUS = (
    "Host,Topic,Start,Timezone,Duration,Module ID\n"
    "lecturer@nus.edu.sg,CS1010 Lecture 1,2026-12-07 10:00,Asia/Singapore,90,c0a80121-7ac0-4e1c-8a3e-2f6b1d9e4a55\n"
    "lecturer@nus.edu.sg,CS1010 Tutorial,2026-12-08 10:00,Asia/Singapore,50,c0a80121-7ac0-4e1c-8a3e-2f6b1d9e4a55\n"
)


def platforms(stack: LocalStack) -> bool:
    """Web Meeting v6 and LumiNUS files dropped in the bucket: the provisioning state machine (its ASL run by
    moto, each step the real handler) makes the meetings; True when every row is accounted for."""
    stack.workflows()
    handler = load_handler("disassociate").handler
    print("\n2. the same job on the provisioning state machine, for the other platforms:")
    drops = {"provision/webmeeting/spring-seminars.csv": WEB_MEETING, "provision/luminus/cs1010.csv": LUMINUS}
    for key, text in drops.items():
        print(f"   drop {key.rsplit('/', 1)[1]} into s3://{BUCKET}/{key.rsplit('/', 1)[0]}/")
        stack.put_file(key, text.encode())
    stack.dispatch(handler)
    stack.wait_workflows(timeout=120)
    ok = True
    for item in stack.client("dynamodb").scan(TableName=JOBS_TABLE)["Items"]:
        job = stack.job(item["job_id"]["S"]) or {}
        if job.get("kind") != "provision":
            continue
        rows = _rows_text(stack.read(job["results_prefix"] + "rows.csv").decode())
        print(f"   {job['options']['provider']:<10} {job['file']}: {job['state']} (execution {job['job_id']})")
        for row in rows:
            reason = f"  {row['reason'][:80]}" if row["reason"] else ""
            print(f"    line {row['line']:>2}  {row['status']:<9} {row['meeting_id'][:36]:<36}{reason}")
        counted = sum(int(job.get(n, 0)) for n in ("created", "updated", "unchanged", "rejected", "failed", "deferred"))
        ok = ok and job["state"] == "succeeded" and counted == int(job["total_rows"]) == len(rows)
    web, nus = stack.webmeeting.meetings(), stack.luminus.meetings
    print(f"   Web Meeting now has {len(web)} meeting(s) for {len(stack.webmeeting.accounts())} organizer account(s);")
    print(f"   LumiNUS has {len(nus)}: the 50-minute row is refused (its document allows steps of 15 minutes)")
    return ok and len(web) == 2 and len(nus) == 1


def _rows_text(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _association(row: dict[str, str]) -> dict[str, str]:
    found = {"meetingId": row["Meeting ID"], "contextId": row["Context ID"], "domain": row["Domain"]}
    return found | ({"courseId": row["custom_canvas_course_id"]} if row["custom_canvas_course_id"] else {})
