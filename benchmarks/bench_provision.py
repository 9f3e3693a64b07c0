"""Benchmark: provisioning course meetings, creates per second against the simulator at Zoom Pro limits.

    python benchmarks/bench_provision.py [--out benchmarks/results/provision.json] [--rows N] [--hosts H]
                                         [--latency S] [--compare-rows K]

Starts the Zoom simulator on 127.0.0.1 with ``--latency`` (0.1 s) before every API answer and Zoom's Pro
per-category limits (light 30/s, medium 20/s, heavy 10/s: QPS token buckets that answer 429 beyond them) and
its cap of 100 meeting creates/updates per host per UTC day, with ``--hosts`` (40) users in one account. A
course-meetings CSV of ``--rows`` (1,500) rows (deterministic seed) spreads courses over those hosts, each
host teaching in its own timezone (the Americas, Europe, Asia, Australia): weekly lectures, labs and
seminars (until the term's last day, or a number of occurrences; the series cross a DST change) and single
meetings (reviews, exams), some with a waiting room or cloud recording. Then, each run through
``provision.run`` with ``--associate csv`` and one ``ZoomClient`` whose ``RateLimiter`` has the simulator's
rates (fresh client and limiter per run; the simulator's records and buckets reset in between):

* **first run**: the job's default workers, a new ledger: every row a create (Medium, ``POST
  /users/{userId}/meetings``);
* **re-run**: the same file and ledger: nothing to send, every row unchanged;
* **workers**: the first ``--compare-rows`` (100) rows, each time with a new ledger, at 1 and 2 workers and
  the default, then the default again with ``--slow-latency`` (0.5 s, a slower answer than the simulator's):
  how many creates must be in flight to fill the Medium rate.

Reported: wall times; creates per second and as a share of the Medium rate, over the whole run and over the
active span of the Medium category (its first to its last request; goal ≥ 90%); 429s the simulator answered
vs rows that failed because of one (goal 0 unhandled); the rows' statuses (goal: all created, then all
unchanged); the LTI Pro import files written; the re-run's requests (goal 0). Figures go to a JSON file and a
Markdown table next to it (the Markdown is printed). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import figures  # benchmarks/figures.py: this folder is on sys.path when a benchmark runs
from zoombench import StaticTokens, TimedLimiter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core")]
DEFAULT_OUT = HERE / "results" / "provision.json"

ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET = "BenchProvisionAcct1", "bench-provision-client", "bench-provision-not-real"
RATES = {"light": 30.0, "medium": 20.0, "heavy": 10.0}
SEED = 20270111
DOMAIN = "https://canvas.example.edu"
TERM_START, TERM_END = date(2027, 1, 11), date(2027, 4, 30)  # a Monday; US clocks go forward on 2027-03-14
HEADER = (
    "Context ID",
    "Domain",
    "custom_canvas_course_id",
    "Host",
    "Topic",
    "Start",
    "Timezone",
    "Duration",
    "Repeat",
    "Until",
    "Occurrences",
    "Waiting Room",
    "Auto Recording",
)
# Where the hosts teach (weights: how many of them do); each host's rows are in its own timezone.
TIMEZONES = {
    "America/New_York": 30,
    "America/Chicago": 20,
    "America/Denver": 8,
    "America/Phoenix": 4,
    "America/Los_Angeles": 20,
    "Pacific/Honolulu": 2,
    "Europe/London": 6,
    "Asia/Singapore": 5,
    "Australia/Sydney": 5,
}
DEPARTMENTS = ("BIOL", "CHEM", "CS", "ECON", "ENGL", "HIST", "MATH", "PHYS", "PSYC", "STAT")
# (topic, weekdays, minutes, ends with: "until" | occurrences | None for a single meeting, first day offset)
MEETINGS = (
    ("Lecture", "Mon;Wed;Fri", 50, "until", 0),
    ("Tutorial", "Tue;Thu", 75, "until", 1),
    ("Lab", "Wed", 110, 14, 2),
    ("Seminar", "Thu", 170, "until", 3),
    ("Office hours", "Mon;Thu", 60, 28, 0),
    ("Discussion", "Fri", 50, 15, 4),
    ("Midterm review", "", 90, None, 46),
    ("Final exam", "", 120, None, 106),
)
GOAL_SHARE, GOAL_UNHANDLED = 0.90, 0
COMPARE_WORKERS = (1, 2)


def host(n: int) -> str:
    return f"instructor{n:03d}@campus.example.edu"


def host_zones(hosts: int) -> list[str]:
    import random

    rng = random.Random(SEED)
    return rng.choices(list(TIMEZONES), list(TIMEZONES.values()), k=hosts)


def generate_csv(path: Path, rows: int, hosts: int) -> dict:
    """Write ``rows`` course-meetings rows, courses dealt round-robin to the hosts; returns the mix."""
    import random

    rng = random.Random(SEED)
    zones = host_zones(hosts)
    mix: Counter[str] = Counter()
    written, course = 0, 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HEADER)
        while written < rows:
            n = course % hosts
            dept, number = DEPARTMENTS[course % len(DEPARTMENTS)], 100 + rng.randrange(400)
            section = f"{dept} {number}-{course:04d}"
            context = f"{rng.getrandbits(160):040x}"  # LTI context ids are often SHA-1 hex
            hour = rng.choice((8, 9, 10, 11, 13, 14, 15, 16, 17))  # never the hour clocks skip
            kinds = rng.sample(MEETINGS, rng.randint(2, 4))
            for topic, days, minutes, ends, offset in kinds:
                if written >= rows:
                    break
                start = datetime.combine(TERM_START + timedelta(days=offset), datetime.min.time())
                start = start.replace(hour=hour, minute=rng.choice((0, 0, 30)))
                until = TERM_END.isoformat() if ends == "until" else ""
                occurrences = str(ends) if isinstance(ends, int) else ""
                recording = rng.choice(("", "", "cloud", "none"))
                waiting = rng.choice(("", "", "true", "false"))
                writer.writerow(
                    (
                        context,
                        DOMAIN,
                        str(10_000 + course),
                        host(n),
                        f"{section} {topic}",
                        start.strftime("%Y-%m-%d %H:%M"),
                        zones[n],
                        str(minutes),
                        days,
                        until,
                        occurrences,
                        waiting,
                        recording,
                    )
                )
                mix["weekly" if days else "single"] += 1
                mix[zones[n]] += 1
                written += 1
                hour = min(hour + 2, 18)  # the course's next meeting later in the day
            course += 1
    return {"courses": course, "weekly": mix.pop("weekly", 0), "single": mix.pop("single", 0), "timezones": dict(mix)}


def subset(source: Path, target: Path, rows: int) -> None:
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    target.write_text("".join(lines[: rows + 1]), encoding="utf-8")


def measure(sim, source: Path, ledger_path: Path, out: Path, workers: int | None) -> dict:
    from zoomops.provision.ledger import FileLedger
    from zoomops.provision.run import Context, Options, run
    from zoomops.zoom.client import ZoomClient
    from zoomops.zoom.meetings import ZoomMeetings

    sim.reset()  # records, faults, the token buckets and the hosts' daily counts (the meetings stay)
    limiter = TimedLimiter(RATES)
    client = ZoomClient(StaticTokens(sim.base_url, ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET), limiter=limiter)
    options = Options(associate="csv") if workers is None else Options(associate="csv", workers=workers)
    ctx = Context(ZoomMeetings(client), FileLedger(ledger_path, f"zoom:{ACCOUNT_ID}"), ACCOUNT_ID)
    with source.open("rb") as stream:
        started = time.monotonic()
        summary = run(stream, source.name, out, options, ctx)
        wall = time.monotonic() - started
    client.close()
    with (out / "rows.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    statuses = dict(Counter(r["status"] for r in rows))
    unhandled = [r for r in rows if r["status"] == "failed" and ("429" in r["reason"] or "rate limit" in r["reason"])]
    records = sim.api_requests
    by_call = dict(Counter(f"{r['method']} {r['category']}" for r in records))
    creates = sum(1 for r in records if r["method"] == "POST" and r["category"] == "medium")
    medium = limiter.count.get("medium", 0)
    span = limiter.last["medium"] - limiter.first["medium"] if "medium" in limiter.first else 0.0
    rate = RATES["medium"]
    return {
        "workers": options.workers,
        "latency_s": sim.latency,
        "rows": summary.total_rows,
        "statuses": statuses,
        "association": summary.association,
        "stopped": summary.stopped,
        "import_files": sum(1 for p in out.glob("lti-import-*.csv")),
        "files": summary.files,
        "wall_s": wall,
        "requests": len(records),
        "requests_by_call": by_call,
        "creates_sent": creates,
        "created": summary.created,
        "creates_per_s": summary.created / wall,
        "wall_s_per_create": wall / summary.created if summary.created else None,
        "share_of_medium_over_run": medium / (rate * wall),
        "medium_active_span_s": span,
        "medium_active_from_s": limiter.first["medium"] - started if "medium" in limiter.first else None,
        "medium_active_to_s": limiter.last["medium"] - started if "medium" in limiter.last else None,
        # n requests spaced at 1/rate span (n - 1)/rate seconds: that is 100% of the allowed rate
        "share_of_medium_over_active_span": (medium - 1) / (rate * span) if span > 0 else None,
        "creates_per_s_over_active_span": (medium - 1) / span if span > 0 else None,
        "limiter_wait_s": limiter.waited.get("medium", 0.0),
        "http_429_answered": sim.throttled,
        "http_429_seen_by_client": client.stats["throttled"],
        "http_429_unhandled": len(unhandled),
    }


def run(rows: int, hosts: int, latency: float, compare_rows: int, slow_latency: float) -> dict:
    from infra.local.zoom_sim import PROVISIONING_SCOPE, ZoomSimulator
    from zoomops.provision.run import Options

    logging.getLogger("urllib3").setLevel(logging.ERROR)
    sim = ZoomSimulator(latency=latency, limits=dict(RATES))
    sim.add_account(ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, scope=PROVISIONING_SCOPE)
    for n, zone in enumerate(host_zones(hosts)):
        sim.add_user(ACCOUNT_ID, email=host(n), first_name="Instructor", last_name=f"{n:03d}", timezone=zone)
    sim.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-provision-") as tmp:
            folder = Path(tmp)
            source = folder / "spring-2027-course-meetings.csv"
            mix = generate_csv(source, rows, hosts)
            first = measure(sim, source, folder / "ledger.jsonl", folder / "run-1", None)
            again = measure(sim, source, folder / "ledger.jsonl", folder / "run-2", None)
            small = folder / "subset.csv"
            subset(source, small, compare_rows)
            compared = [
                measure(sim, small, folder / f"ledger-w{w}.jsonl", folder / f"run-w{w}", w) for w in COMPARE_WORKERS
            ]
            compared.append(measure(sim, small, folder / "ledger-wd.jsonl", folder / "run-wd", None))
            sim.latency = slow_latency  # slower answers: do the default workers still fill the Medium rate?
            compared.append(measure(sim, small, folder / "ledger-slow.jsonl", folder / "run-slow", None))
            sim.latency = latency
    finally:
        sim.stop()
    per_host = rows / hosts
    return {
        "benchmark": "provisioning creates",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "setup": {
            "rows": rows,
            "hosts": hosts,
            "rows_per_host": per_host,
            "host_daily_cap": sim.meeting_daily_cap,
            "mix": mix,
            "latency_s": latency,
            "limits_per_s": RATES,
            "limiter_rates_per_s": RATES,
            "default_workers": Options().workers,
            "compare_rows": compare_rows,
            "slow_latency_s": slow_latency,
        },
        "first": first,
        "rerun": again,
        "workers": compared,
        "rate_floor_s": rows / RATES["medium"],
    }


def markdown(r: dict) -> str:
    f, a, setup = r["first"], r["rerun"], r["setup"]

    def met(ok: bool) -> str:
        return "met" if ok else "**not met**"

    def pct(x) -> str:
        return "-" if x is None else f"{100 * x:.0f}%"

    def statuses(x: dict) -> str:
        return ", ".join(f"{k} {v:,}" for k, v in sorted(x["statuses"].items()))

    mix = setup["mix"]
    zones = ", ".join(f"{k} {v}" for k, v in sorted(mix["timezones"].items(), key=lambda kv: -kv[1]))
    lines = [
        "# Provisioning benchmark",
        "",
        f"{setup['rows']:,} course-meetings rows ({mix['weekly']:,} weekly series, {mix['single']:,} single meetings; "
        f"{mix['courses']:,} courses) over {setup['hosts']} hosts ({setup['rows_per_host']:.1f} rows each, under "
        f"Zoom's {setup['host_daily_cap']} creates/updates per host per day), through `provision.run` with "
        f"`--associate csv`, against the Zoom simulator on 127.0.0.1 with {setup['latency_s'] * 1000:.0f} ms latency "
        f"per answer and Pro limits (light {RATES['light']:.0f}/s, medium {RATES['medium']:.0f}/s, heavy "
        f"{RATES['heavy']:.0f}/s, 429 beyond); the client's shared limiter at the same rates. Rows by timezone: "
        f"{zones}. {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, {r['when']}.",
        "",
        "| run | workers | latency ms | rows | requests | wall s | creates/s | share of medium, run "
        "| medium active span s | share of medium, active span | 429 answered | unhandled 429 | statuses "
        "| import files |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    runs = [("first run (new ledger)", f), ("re-run (same file and ledger)", a)]
    runs += [(f"first {setup['compare_rows']} rows, new ledger", x) for x in r["workers"]]
    for name, x in runs:
        sent = x["created"] > 0
        rate, span = (f"{x['creates_per_s']:.1f}", f"{x['medium_active_span_s']:.1f}") if sent else ("-", "-")
        lines.append(
            f"| {name} | {x['workers']} | {x['latency_s'] * 1000:.0f} | {x['rows']:,} | {x['requests']:,} | "
            f"{x['wall_s']:.2f} | {rate} | {pct(x['share_of_medium_over_run'] if sent else None)} | "
            f"{span} | {pct(x['share_of_medium_over_active_span'])} | "
            f"{x['http_429_answered']} | {x['http_429_unhandled']} | {statuses(x)} | {x['import_files']} |"
        )
    one = next((x for x in r["workers"] if x["workers"] == 1 and x["created"]), None)
    if one is not None:
        need = RATES["medium"] * one["wall_s_per_create"]
        slow = r["workers"][-1]
        lines += [
            "",
            f"With one worker a row took {one['wall_s_per_create'] * 1000:.0f} ms end to end at "
            f"{one['latency_s'] * 1000:.0f} ms latency, so {RATES['medium']:.0f} creates/s need about {need:.1f} "
            f"creates in flight; the default {setup['default_workers']} workers fill the Medium rate while a create "
            f"takes under {setup['default_workers'] / RATES['medium'] * 1000:.0f} ms. At "
            f"{slow['latency_s'] * 1000:.0f} ms latency they made {slow['creates_per_s']:.1f} creates/s "
            f"({pct(slow['share_of_medium_over_active_span'])} of the Medium rate over its active span).",
        ]
    active = f["share_of_medium_over_active_span"] or 0.0
    before, after = f["medium_active_from_s"] or 0.0, f["wall_s"] - (f["medium_active_to_s"] or f["wall_s"])
    all_created = f["statuses"] == {"created": setup["rows"]}
    all_unchanged = a["statuses"] == {"unchanged": setup["rows"]}
    lines += [
        "",
        f"In the first run the creates went out from {before:.2f} s to {f['medium_active_to_s'] or 0:.2f} s: "
        f"{before:.2f} s before them (reading and checking the file, the ledger) and {after:.2f} s after the last "
        f"one was sent (its answer, the import files and rows.csv). The rate limit alone needs "
        f"{r['rate_floor_s']:.1f} s for {setup['rows']:,} creates.",
        "",
        "| figure | value | goal | |",
        "|---|---:|---:|---|",
        f"| creates/s, first run, over its Medium active span | {f['creates_per_s_over_active_span'] or 0:.1f} "
        f"({pct(active)} of {RATES['medium']:.0f}/s) | ≥ {GOAL_SHARE:.0%} | {met(active >= GOAL_SHARE)} |",
        f"| creates/s, first run, over the whole run | {f['creates_per_s']:.1f} "
        f"({pct(f['creates_per_s'] / RATES['medium'])}) | | |",
        f"| 429s answered vs rows failed by one (first run) | {f['http_429_answered']} / {f['http_429_unhandled']} "
        f"| 0 unhandled | {met(f['http_429_unhandled'] <= GOAL_UNHANDLED)} |",
        f"| rows created (first run) | {f['created']:,} of {setup['rows']:,} | all | {met(all_created)} |",
        f"| LTI Pro import files (first run) | {f['import_files']} | ⌈rows ÷ 1000⌉ | "
        f"{met(f['import_files'] == -(-setup['rows'] // 1000))} |",
        f"| re-run: requests, rows unchanged, wall s | {a['requests']} / {a['statuses'].get('unchanged', 0):,} / "
        f"{a['wall_s']:.2f} | 0 / all | {met(a['requests'] == 0 and all_unchanged)} |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON figures (a .md is written next to it)")
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--compare-rows", type=int, default=100, help="rows of the worker-count comparison")
    parser.add_argument("--slow-latency", type=float, default=0.5, help="latency of the comparison's last run")
    args = parser.parse_args(argv)
    result = run(args.rows, args.hosts, args.latency, args.compare_rows, args.slow_latency)
    figures.write(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
