"""Benchmark: participant reports, concurrent ReportRun vs a sequential one-request-at-a-time run.

    python benchmarks/bench_reports.py [--out benchmarks/results/reports.json] [--meetings N] [--latency S]

Starts the Zoom simulator on 127.0.0.1 with ``--latency`` (0.1 s) before every API answer and Zoom's Pro
per-category limits (light 30/s, medium 20/s, heavy 10/s: QPS token buckets that answer 429 beyond them), and
fills one account with ``--meetings`` (200) recurring meetings × 3 past instances × 3-5 participants (a few
rejoin), some with registrants and some UUIDs that need double encoding. Then:

* **concurrent**: ``ReportRun`` (``FolderSink`` into a temp dir, ``FileManifest``) with its default workers,
  through one ``ZoomClient`` whose ``RateLimiter`` has the same rates as the simulator;
* **sequential**: the same, with ``workers=1`` (a one-thread pool: one request at a time) and a fresh client
  and limiter of the same rates. If that run would take over 3 minutes (estimated as requests × latency), it
  runs on a 20-meeting subset and its wall time is scaled per request (the report says so).

Reported: wall times and the speed-up (goal ≥ 5×); per category, the share of the allowed rate used
(requests / (rate × wall time), over the whole run and over the category's active span from its first to its
last request; goal ≥ 90% for the bottleneck category); 429s the simulator answered vs 429s that reached the
run as failures (goal 0 unhandled). Figures go to a JSON file and a Markdown table next to it (the Markdown is
printed). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import logging
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import figures  # benchmarks/figures.py: this folder is on sys.path when a benchmark runs
from zoombench import StaticTokens, TimedLimiter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core")]
DEFAULT_OUT = HERE / "results" / "reports.json"

ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET = "BenchReportsAcct1", "bench-reports-client", "bench-reports-secret-not-real"
RATES = {"light": 30.0, "medium": 20.0, "heavy": 10.0}
FIRST_MEETING = 86_000_000_000
RUN_CLOCK = datetime(2024, 12, 1, tzinfo=UTC).timestamp()  # after every instance (min_age passes)
SEQUENTIAL_BUDGET = 180.0
SUBSET = 20
GOAL_SPEEDUP, GOAL_SHARE, GOAL_UNHANDLED = 5.0, 0.90, 0


def _uuid(n: int, k: int) -> str:
    raw = base64.b64encode(hashlib.sha256(f"bench-{n}-{k}".encode()).digest()[:16]).decode()
    if n % 10 == 0 and k == 0:
        return "/" + raw[1:]  # begins with '/': double encoding
    if n % 10 == 5 and k == 1:
        return raw[:4] + "//" + raw[6:]  # holds '//'
    return raw.replace("/", "A")


def build(sim, meetings: int) -> list[str]:
    hosts = [
        sim.add_user(ACCOUNT_ID, email=f"host{h:02d}@campus.example.edu", first_name="Host", last_name=f"{h:02d}")
        for h in range(10)
    ]
    ids = []
    for n in range(meetings):
        meeting_id = FIRST_MEETING + n
        registrants = None
        if n % 4 == 0:
            registrants = [
                {
                    "email": f"r{n}-{r}@students.campus.example.edu",
                    "first_name": "Reg",
                    "last_name": str(r),
                    "status": ("approved", "approved", "pending", "denied")[r % 4],
                }
                for r in range(5)
            ]
        host = hosts[n % len(hosts)]["email"]
        sim.add_meeting(
            ACCOUNT_ID,
            meeting_id=meeting_id,
            host_email=host,
            topic=f"Course {n}",
            type=8,
            start_time="2024-09-02T09:00:00Z",
            duration=60,
            registrants=registrants,
        )
        for k in range(3):
            day = f"2024-{9 + k // 2:02d}-{1 + (n % 27):02d}T{8 + k:02d}:00:00Z"
            people = [{"name": "Host", "user_email": host, "join_time": day}]
            for s in range(2 + (n + k) % 3):  # 3-5 participants with the host
                people.append(
                    {
                        "name": f"Student {n}-{s}",
                        "user_email": f"s{n}-{s}@students.campus.example.edu",
                        "join_time": day,
                        "duration": 1800 + 60 * s,
                    }
                )
            if (n + k) % 7 == 0:  # a rejoin
                people.append(
                    {
                        "name": f"Student {n}-0",
                        "user_email": f"s{n}-0@students.campus.example.edu",
                        "join_time": day,
                        "duration": 600,
                    }
                )
            sim.add_instance(ACCOUNT_ID, meeting_id, uuid=_uuid(n, k), start_time=day, participants=people)
        ids.append(str(meeting_id))
    return ids


def measure(sim, meeting_ids: list[str], workers: int | None) -> dict:
    from zoomops.zoom.client import ZoomClient
    from zoomops.zoom.reports.files import FileManifest, FolderSink
    from zoomops.zoom.reports.run import Options, ReportRun

    sim.reset()  # records, faults and the token buckets
    limiter = TimedLimiter(RATES)
    client = ZoomClient(StaticTokens(sim.base_url, ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET), limiter=limiter)
    options = Options() if workers is None else Options(workers=workers)
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        run = ReportRun(
            client, FolderSink(tmp), FileManifest(Path(tmp) / "manifest.json"), options, clock=lambda: RUN_CLOCK
        )
        started = time.monotonic()
        summary = run.run(meeting_ids)
        wall = time.monotonic() - started
        files = sum(1 for p in Path(tmp).rglob("*") if p.is_file())
    client.close()
    records = sim.api_requests
    by_category: dict[str, int] = {}
    for record in records:
        by_category[record["category"]] = by_category.get(record["category"], 0) + 1
    shares = {}
    for category, count in sorted(by_category.items()):
        rate = RATES[category]
        span = limiter.last[category] - limiter.first[category] if category in limiter.first else 0.0
        shares[category] = {
            "requests": count,
            "rate_per_s": rate,
            "share_of_run": count / (rate * wall),
            "active_span_s": span,
            "active_from_s": limiter.first[category] - started if category in limiter.first else None,
            "active_to_s": limiter.last[category] - started if category in limiter.last else None,
            # n requests spaced at 1/rate span (n - 1)/rate seconds: that is 100% of the allowed rate
            "share_of_active_span": (count - 1) / (rate * span) if span > 0 else None,
        }
    unhandled = [f for f in summary.failed if "429" in f["reason"]]
    return {
        "workers": options.workers,
        "meetings": summary.meetings,
        "instances": summary.instances,
        "instances_written": summary.instances_written,
        "rows_written": summary.rows_written,
        "registrants_written": summary.registrants_written,
        "failed": len(summary.failed),
        "stopped": summary.stopped,
        "files": files,
        "wall_s": wall,
        "requests": len(records),
        "requests_per_s": len(records) / wall,
        "by_category": shares,
        "http_429_answered": sim.throttled,
        "http_429_seen_by_client": summary.throttled,
        "http_429_unhandled": len(unhandled),
    }


def run(meetings: int, latency: float) -> dict:
    from infra.local.zoom_sim import ZoomSimulator

    logging.getLogger("urllib3").setLevel(logging.ERROR)
    sim = ZoomSimulator(latency=latency, limits=dict(RATES))
    sim.add_account(ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET)
    ids = build(sim, meetings)
    sim.start()
    try:
        concurrent = measure(sim, ids, None)
        estimate = concurrent["requests"] * latency
        subset = estimate > SEQUENTIAL_BUDGET
        sequential = measure(sim, ids[:SUBSET] if subset else ids, 1)
    finally:
        sim.stop()
    per_request = sequential["wall_s"] / sequential["requests"]
    sequential_full = per_request * concurrent["requests"] if subset else sequential["wall_s"]
    medium, heavy = (concurrent["by_category"].get(c, {}).get("requests", 0) for c in ("medium", "heavy"))
    floor = max(medium / RATES["medium"], heavy / RATES["heavy"])
    bottleneck = max(concurrent["by_category"], key=lambda c: concurrent["by_category"][c]["requests"] / RATES[c])
    return {
        "benchmark": "participant reports",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "setup": {
            "meetings": meetings,
            "instances_per_meeting": 3,
            "participants_per_instance": "3-5 (+ rejoins)",
            "latency_s": latency,
            "limits_per_s": RATES,
            "limiter_rates_per_s": RATES,
        },
        "concurrent": concurrent,
        "sequential": sequential,
        "sequential_subset": SUBSET if subset else None,
        "sequential_estimate_s": sequential_full,
        "speedup": sequential_full / concurrent["wall_s"],
        "bottleneck_category": bottleneck,
        "rate_floor_s": floor,
        "best_possible_speedup": sequential_full / floor if floor else None,
    }


def markdown(r: dict) -> str:
    c, s = r["concurrent"], r["sequential"]

    def met(ok: bool) -> str:
        return "met" if ok else "**not met**"

    def pct(x) -> str:
        return "-" if x is None else f"{100 * x:.0f}%"

    setup = r["setup"]
    lines = [
        "# Participant reports benchmark",
        "",
        f"{setup['meetings']} meetings × 3 instances × {setup['participants_per_instance']} participants against the "
        f"Zoom simulator on 127.0.0.1 with {setup['latency_s'] * 1000:.0f} ms latency per answer and Pro limits "
        f"(light {RATES['light']:.0f}/s, medium {RATES['medium']:.0f}/s, heavy {RATES['heavy']:.0f}/s, 429 beyond); "
        f"the client's shared limiter at the same rates. {r['machine']['cpus']} CPUs, Python "
        f"{r['machine']['python']}, {r['when']}.",
        "",
        "| run | workers | meetings | instances written | requests | wall s | req/s | 429 answered | unhandled 429 "
        "| failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, x in (("concurrent (ReportRun defaults)", c), ("sequential (workers=1)", s)):
        lines.append(
            f"| {name} | {x['workers']} | {x['meetings']} | {x['instances_written']} | {x['requests']:,} | "
            f"{x['wall_s']:.1f} | {x['requests_per_s']:.1f} | {x['http_429_answered']} | "
            f"{x['http_429_unhandled']} | {x['failed']} |"
        )
    if r["sequential_subset"]:
        lines += [
            "",
            f"The sequential run covered the first {r['sequential_subset']} meetings only (the full one was "
            f"estimated over 3 minutes); its wall time is scaled per request to the concurrent run's "
            f"{c['requests']:,} requests: {r['sequential_estimate_s']:.1f} s.",
        ]
    lines += [
        "",
        "| category | requests | allowed/s | share of allowed rate over the run | active span s "
        "| share over its active span |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for category, x in c["by_category"].items():
        lines.append(
            f"| {category} | {x['requests']:,} | {x['rate_per_s']:.0f} | {pct(x['share_of_run'])} | "
            f"{x['active_span_s']:.1f} | {pct(x['share_of_active_span'])} |"
        )
    bottleneck = c["by_category"][r["bottleneck_category"]]
    spans = {k: (x["active_from_s"], x["active_to_s"]) for k, x in c["by_category"].items()}
    if "medium" in spans and "heavy" in spans:
        (m0, m1), (h0, h1) = spans["medium"], spans["heavy"]
        overlap = max(0.0, min(m1, h1) - max(m0, h0))
        lines += [
            "",
            f"In the concurrent run medium requests went out from {m0:.1f} s to {m1:.1f} s and heavy ones "
            f"from {h0:.1f} s to {h1:.1f} s (overlap {overlap:.1f} s).",
        ]
    lines += [
        "",
        "| figure | value | goal | |",
        "|---|---:|---:|---|",
        f"| speed-up, sequential ÷ concurrent wall time | {r['speedup']:.2f}× | ≥ {GOAL_SPEEDUP:.0f}× | "
        f"{met(r['speedup'] >= GOAL_SPEEDUP)} |",
        f"| share of the allowed rate, bottleneck category ({r['bottleneck_category']}), over the run | "
        f"{pct(bottleneck['share_of_run'])} | ≥ {GOAL_SHARE:.0%} | {met(bottleneck['share_of_run'] >= GOAL_SHARE)} |",
        f"| the same over its active span | {pct(bottleneck['share_of_active_span'])} | ≥ {GOAL_SHARE:.0%} | "
        f"{met((bottleneck['share_of_active_span'] or 0) >= GOAL_SHARE)} |",
        f"| 429s answered vs unhandled (concurrent) | {c['http_429_answered']} / {c['http_429_unhandled']} "
        f"| 0 unhandled | {met(c['http_429_unhandled'] <= GOAL_UNHANDLED)} |",
        "",
        f"The rate limits alone need at least {r['rate_floor_s']:.1f} s for these requests (medium and heavy in "
        f"parallel), so no implementation can beat {r['best_possible_speedup']:.2f}× over the sequential run here.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON figures (a .md is written next to it)")
    parser.add_argument("--meetings", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args(argv)
    result = run(args.meetings, args.latency)
    figures.write(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
