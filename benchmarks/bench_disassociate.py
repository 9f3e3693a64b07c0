"""Benchmark of bulk disassociate's hot path on a large LTI Pro import CSV.

    python benchmarks/bench_disassociate.py [--rows N] [--out PATH] [--repeats R]
    python benchmarks/bench_disassociate.py --profile [--rows N] [--profile-mode MODE]

Generates a realistic import-template CSV (deterministic seed) in a temporary
directory, then measures, each in its own fresh child process so that peak RSS
belongs to one measurement only:

* ``baseline`` - a bare ``csv.reader`` pass over the file (text mode, utf-8,
  ``newline=''``), counting rows;
* ``dry_run``  - ``disassociate.run`` with real ``ResultFiles`` on a dry run:
  parse, validate, de-duplicate, batch, sign, and write rows.csv/requests.jsonl;
* ``pipeline`` - the same run with a null result sink, to separate parsing,
  validation and signing from writing the result files.

The sequence baseline, dry_run, pipeline is repeated (3 times by default); the
median wall time of each is reported. Figures go to a JSON file and a Markdown
table next to it (and the Markdown is printed). Nothing here is asserted: the
goals (>= 0.5x the bare reader, < 150 MB peak RSS, requests == ceil(planned /
batch size)) are reported as met or not.

``--profile`` runs one child under cProfile instead and prints the top 25
functions by own time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from datetime import UTC
from pathlib import Path

import figures  # benchmarks/figures.py: this folder is on sys.path when a benchmark runs

# The children import this module too: modules only the parent needs (random,
# statistics, subprocess, ...) are imported where they are used, so they do not
# add to a child's RSS.

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "disassociate.json"
MODES = ("baseline", "dry_run", "pipeline")
SEED = 20240603
DUPLICATE_POOL = 5_000  # earlier valid rows that duplicates are drawn from (bounded)
MEETINGS_PER_COURSE = 20
INVALID_RATE = 0.01
DUPLICATE_RATE = 0.01
SPACED_RATE = 0.15
QUOTED_COMMA_RATE = 0.002
BATCH_SIZE = 400
GOAL_RATIO = 0.5
GOAL_RSS_MB = 150.0
BENCH_KEY = "bench-key"
BENCH_SECRET = "bench-secret"
BENCH_BASE_URL = "http://127.0.0.1:9/api/v1/lti/rich"  # discard port: nothing is ever sent


# --------------------------------------------------------------------------- data


def _spaced(meeting: str) -> str:
    """Zoom's printed form: 123 4567 8901 (11 digits) or 123 456 7890 (10 digits)."""
    if len(meeting) == 11:
        return f"{meeting[:3]} {meeting[3:7]} {meeting[7:]}"
    return f"{meeting[:3]} {meeting[3:6]} {meeting[6:]}"


def _invalid_row(rng, context: str, domain: str, course: str) -> list[str]:
    kind = rng.randrange(7)
    meeting = str(rng.randrange(10**9, 10**11))
    if kind == 0:
        return ["", context, domain, course]  # meeting id missing
    if kind == 1:
        return [meeting[:5] + "abc" + meeting[8:], context, domain, course]  # letters
    if kind == 2:
        return [str(rng.randrange(10**5, 10**7)), context, domain, course]  # too short
    if kind == 3:
        return [str(rng.randrange(10**12, 10**13)), context, domain, course]  # too long
    if kind == 4:
        return [meeting, "", domain, course]  # context missing
    if kind == 5:
        return [meeting, context, "  ", course]  # domain blank
    return ["n/a", context, domain, course]


def generate_csv(path: Path, rows: int, seed: int = SEED) -> dict:
    """Write ``rows`` data rows in the LTI Pro import template; returns what was injected."""
    import random

    rng = random.Random(seed)
    domains = [
        "https://canvas.example.edu",
        "https://example.instructure.com",
        "https://lms.example.ac.uk/",  # trailing slash: valid, stripped before sending
        "https://moodle.example.org",
        "https://d2l.example.edu",
    ]
    domain_weights = [50, 30, 10, 6, 4]
    injected = {"invalid": 0, "duplicate": 0, "spaced": 0, "quoted_comma": 0, "courses": 0}
    sample: list[list[str]] = []  # earlier valid rows, duplicates are drawn from here
    written = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")  # what Excel and LTI Pro's template use
        writer.writerow(("Meeting ID", "Context ID", "Domain", "custom_canvas_course_id"))
        while written < rows:
            injected["courses"] += 1
            context = f"{rng.getrandbits(160):040x}"  # LTI context ids are often SHA-1 hex
            domain = rng.choices(domains, domain_weights)[0]
            course = str(rng.randrange(1000, 400_000))
            if rng.random() < QUOTED_COMMA_RATE * MEETINGS_PER_COURSE:
                # a course id written with a thousands separator: csv.writer quotes it
                course = f"{int(course) // 1000},{int(course) % 1000:03d}"
                injected["quoted_comma"] += 1
            course_context = context
            if rng.random() < QUOTED_COMMA_RATE * MEETINGS_PER_COURSE / 2:
                course_context = f"{context[:20]}, section {rng.randrange(1, 9)}"
                injected["quoted_comma"] += 1
            for _ in range(rng.randint(MEETINGS_PER_COURSE - 5, MEETINGS_PER_COURSE + 5)):
                if written >= rows:
                    break
                draw = rng.random()
                if draw < INVALID_RATE:
                    row = _invalid_row(rng, course_context, domain, course)
                    injected["invalid"] += 1
                elif draw < INVALID_RATE + DUPLICATE_RATE and sample:
                    row = list(rng.choice(sample))
                    if rng.random() < 0.5 and " " not in row[0]:
                        row[0] = _spaced(row[0])  # the same meeting, written as Zoom prints it
                    injected["duplicate"] += 1
                else:
                    meeting = str(rng.randrange(10**9, 10**11))  # 10-11 digits
                    row = [meeting, course_context, domain, course]
                    if rng.random() < SPACED_RATE:
                        row[0] = _spaced(meeting)
                        injected["spaced"] += 1
                    if len(sample) < DUPLICATE_POOL:
                        sample.append(row)
                    elif rng.random() < 0.05:
                        sample[rng.randrange(DUPLICATE_POOL)] = row
                writer.writerow(row)
                written += 1
    injected["rows"] = written
    return injected


# ------------------------------------------------------------------------ children


class NullResults:
    """A ResultFiles stand-in that writes nothing."""

    def columns(self, lines, meeting, context, domain, course, status, reason=""):
        pass

    def request(self, line):
        pass

    def finish(self, summary):
        pass

    def close(self):
        pass


def _max_rss_kib() -> int:
    """ru_maxrss, KiB on Linux.

    Linux carries a parent's peak over into a child it spawns (vfork + exec keeps the
    larger of the two), so this is never below the parent's own peak: the parent
    therefore stays small (the CSV is generated in a child too), and the child also
    reports VmHWM, the peak of its own address space only.
    """
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _vm_hwm_kib() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _child_work(mode: str, csv_path: str, workdir: str):
    """Imports and set-up (outside the timed region); returns the callable to time."""
    if mode == "baseline":

        def work():
            count = 0
            with open(csv_path, encoding="utf-8", newline="") as handle:
                for _ in csv.reader(handle):
                    count += 1
            return {"rows": count - 1}  # the header is not a row

        return work

    from zoomops.lti import disassociate
    from zoomops.lti.disassociate import result_files
    from zoomops.lti.signing import LtiCredentials

    creds = LtiCredentials(key=BENCH_KEY, secret=BENCH_SECRET, base_url=BENCH_BASE_URL)
    options = disassociate.Options(dry_run=True)
    out_dir = Path(workdir)

    def work():
        out = result_files(out_dir, dry_run=True) if mode == "dry_run" else NullResults()
        with open(csv_path, "rb") as stream:
            summary = disassociate.run(stream, Path(csv_path).name, out, options, creds=creds)
        return {"rows": summary.total_rows, "summary": summary.as_dict()}

    return work


def child_main(mode: str, csv_path: str, workdir: str, profile: bool, rows: int, seed: int) -> None:
    if mode == "generate":
        print(json.dumps(generate_csv(Path(csv_path), rows, seed)))
        return
    rss_before = _max_rss_kib()
    work = _child_work(mode, csv_path, workdir)
    rss_ready = _max_rss_kib()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        result = work()
        profiler.disable()
        seconds = time.perf_counter() - started
        print(
            f"{mode}: {result['rows']} rows in {seconds:.2f}s under cProfile "
            f"(peak RSS {_max_rss_kib() / 1024:.1f} MB)\n",
            file=sys.stderr,
        )
        pstats.Stats(profiler, stream=sys.stderr).strip_dirs().sort_stats("tottime").print_stats(25)
        return
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    result.update(
        mode=mode,
        seconds=seconds,
        max_rss_kib=_max_rss_kib(),
        vm_hwm_kib=_vm_hwm_kib(),
        rss_at_start_kib=rss_before,
        rss_after_imports_kib=rss_ready,
    )
    if mode == "dry_run":
        requests_file = Path(workdir) / "requests.jsonl"
        rows_file = Path(workdir) / "rows.csv"
        with open(requests_file, "rb") as handle:
            result["requests_jsonl_lines"] = sum(1 for _ in handle)
        result["requests_jsonl_bytes"] = requests_file.stat().st_size
        result["rows_csv_bytes"] = rows_file.stat().st_size
    print(json.dumps(result))


def run_child(
    mode: str, csv_path: Path, workdir: Path, *, profile: bool = False, rows: int = 0, seed: int = SEED
) -> dict | None:
    import subprocess

    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--csv",
        str(csv_path),
        "--workdir",
        str(workdir),
        "--rows",
        str(rows),
        "--seed",
        str(seed),
    ]
    if profile:
        command.append("--profile")
        subprocess.run(command, check=True, stdout=sys.stdout, stderr=sys.stdout)
        return None
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -------------------------------------------------------------------------- report


def _mb(kib: int) -> float:
    return round(kib / 1024, 1)


def build_report(
    args, csv_path: Path, injected: dict, generate_seconds: float, runs: dict[str, list[dict]], parent_rss_kib: int
) -> dict:
    import math
    import platform
    import statistics
    from datetime import datetime

    figures: dict[str, dict] = {}
    for mode in MODES:
        samples = runs[mode]
        seconds = statistics.median(s["seconds"] for s in samples)
        rows = samples[0]["rows"]
        figures[mode] = {
            "rows": rows,
            "seconds_median": round(seconds, 3),
            "seconds_all": [round(s["seconds"], 3) for s in samples],
            "rows_per_s": round(rows / seconds),
            "peak_rss_mb": _mb(max(s["max_rss_kib"] for s in samples)),
            "peak_rss_mb_all": [_mb(s["max_rss_kib"]) for s in samples],
            "vm_hwm_mb": _mb(max(s["vm_hwm_kib"] or 0 for s in samples)),
            "rss_after_imports_mb": _mb(max(s["rss_after_imports_kib"] for s in samples)),
        }
    base = figures["baseline"]["rows_per_s"]
    for mode in ("dry_run", "pipeline"):
        figures[mode]["ratio_to_baseline"] = round(figures[mode]["rows_per_s"] / base, 3)

    dry = runs["dry_run"][0]
    summary = dry["summary"]
    expected = math.ceil(summary["planned"] / BATCH_SIZE)
    requests = {
        "requests_jsonl_lines": dry["requests_jsonl_lines"],
        "summary_batches": summary["batches"],
        "valid_unique_rows": summary["planned"],
        "batch_size": BATCH_SIZE,
        "expected_ceil_valid_over_batch": expected,
        "match": dry["requests_jsonl_lines"] == summary["batches"] == expected,
    }
    pipeline_summary = runs["pipeline"][0]["summary"]
    counts = {k: summary[k] for k in ("total_rows", "planned", "rejected", "duplicates", "failed", "batches")}
    counts["accounted"] = sum(summary[k] for k in ("sent", "planned", "rejected", "duplicates", "failed"))
    counts["adds_up"] = counts["accounted"] == summary["total_rows"]
    counts["pipeline_same_counts"] = all(pipeline_summary[k] == summary[k] for k in counts if k in summary)
    counts["generator_injected"] = injected

    ratio = figures["dry_run"]["ratio_to_baseline"]
    rss = figures["dry_run"]["peak_rss_mb"]
    return {
        "benchmark": "bulk disassociate dry run vs bare csv.reader",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "input": {
            "rows": injected["rows"],
            "courses": injected["courses"],
            "file_bytes": csv_path.stat().st_size,
            "file_mb": round(csv_path.stat().st_size / 2**20, 1),
            "seed": args.seed,
            "generate_seconds": round(generate_seconds, 2),
        },
        "repeats": args.repeats,
        "parent_peak_rss_mb": _mb(parent_rss_kib),
        "figures": figures,
        "requests": requests,
        "counts": counts,
        "outputs": {
            "rows_csv_mb": round(dry["rows_csv_bytes"] / 2**20, 1),
            "requests_jsonl_mb": round(dry["requests_jsonl_bytes"] / 2**20, 1),
        },
        "goals": {
            "dry_run_ratio_ge_0_5": {"value": ratio, "goal": GOAL_RATIO, "met": ratio >= GOAL_RATIO},
            "dry_run_peak_rss_lt_150_mb": {"value": rss, "goal": GOAL_RSS_MB, "met": rss < GOAL_RSS_MB},
            "requests_eq_ceil_valid_over_batch": {"met": requests["match"]},
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "machine": platform.machine(),
        },
    }


def markdown(report: dict) -> str:
    f, inp, req, goals = report["figures"], report["input"], report["requests"], report["goals"]
    ok = lambda met: "met" if met else "**not met**"  # noqa: E731
    lines = [
        "# Bulk disassociate benchmark",
        "",
        f"{inp['rows']:,} rows ({inp['courses']:,} courses), {inp['file_mb']} MB CSV; "
        f"median of {report['repeats']} interleaved runs, each in a fresh process; "
        f"{report['machine']['cpu_count']} CPUs, Python {report['machine']['python']}, "
        f"{report['when']}.",
        "",
        "| measurement | median s | rows/s | × baseline | peak RSS MB (ru_maxrss) | VmHWM MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "baseline": "bare `csv.reader` pass",
        "dry_run": "dry run (parse→validate→batch→sign, rows.csv + requests.jsonl)",
        "pipeline": "dry run, null result sink (no output files)",
    }
    for mode in MODES:
        m = f[mode]
        ratio = f"{m['ratio_to_baseline']:.2f}" if "ratio_to_baseline" in m else "1.00"
        lines.append(
            f"| {labels[mode]} | {m['seconds_median']:.2f} | {m['rows_per_s']:,} | {ratio} "
            f"| {m['peak_rss_mb']} | {m['vm_hwm_mb']} |"
        )
    lines += [
        "",
        "| figure | value | goal | |",
        "|---|---:|---:|---|",
        f"| dry run rows/s ÷ bare reader rows/s | {goals['dry_run_ratio_ge_0_5']['value']:.2f} | ≥ 0.5 "
        f"| {ok(goals['dry_run_ratio_ge_0_5']['met'])} |",
        f"| dry run peak RSS | {goals['dry_run_peak_rss_lt_150_mb']['value']} MB | < 150 MB "
        f"| {ok(goals['dry_run_peak_rss_lt_150_mb']['met'])} |",
        f"| requests (requests.jsonl lines / summary.batches) | {req['requests_jsonl_lines']:,} / "
        f"{req['summary_batches']:,} | ceil({req['valid_unique_rows']:,} / {req['batch_size']}) = "
        f"{req['expected_ceil_valid_over_batch']:,} | {ok(req['match'])} |",
        "",
        f"Rows: {report['counts']['total_rows']:,} total = {report['counts']['planned']:,} planned + "
        f"{report['counts']['rejected']:,} rejected + {report['counts']['duplicates']:,} duplicates "
        f"(adds up: {report['counts']['adds_up']}). Outputs: rows.csv {report['outputs']['rows_csv_mb']} MB, "
        f"requests.jsonl {report['outputs']['requests_jsonl_mb']} MB.",
        "",
        f"ru_maxrss is never below the spawning parent's peak on Linux ({report['parent_peak_rss_mb']} MB "
        "here), which is why the bare reader shows it; VmHWM is the child's own peak.",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="data rows to generate")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results path; a .md is written next to it")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--profile", action="store_true", help="run one child under cProfile and print the top 25 by tottime"
    )
    parser.add_argument("--profile-mode", choices=MODES[1:], default="dry_run")
    parser.add_argument("--child", choices=MODES + ("generate",), help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        child_main(args.child, args.csv, args.workdir, args.profile, args.rows, args.seed)
        return 0
    if args.rows < 1 or args.repeats < 1:
        parser.error("--rows and --repeats must be at least 1")

    import tempfile

    with tempfile.TemporaryDirectory(prefix="zoomops-bench-") as tmp:
        tmp_path = Path(tmp)
        csv_path = tmp_path / "lti-pro-import.csv"
        started = time.perf_counter()
        # in a child, so the parent's peak RSS (which its children inherit) stays small
        injected = run_child("generate", csv_path, tmp_path, rows=args.rows, seed=args.seed)
        generate_seconds = time.perf_counter() - started
        size_mb = csv_path.stat().st_size / 2**20
        print(
            f"generated {injected['rows']:,} rows, {size_mb:.1f} MB in {generate_seconds:.1f}s: {csv_path}",
            file=sys.stderr,
        )
        with open(csv_path, "rb") as handle:  # warm the page cache so run 1 is not penalised
            while handle.read(1 << 20):
                pass

        if args.profile:
            run_child(args.profile_mode, csv_path, tmp_path / "profile", profile=True)
            return 0

        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for repeat in range(args.repeats):
            for mode in MODES:
                workdir = tmp_path / f"{mode}-{repeat}"
                result = run_child(mode, csv_path, workdir)
                runs[mode].append(result)
                print(
                    f"  run {repeat + 1}/{args.repeats} {mode:9s} {result['seconds']:7.2f}s "
                    f"{result['rows'] / result['seconds']:>10,.0f} rows/s  "
                    f"ru_maxrss {result['max_rss_kib'] / 1024:6.1f} MB  "
                    f"VmHWM {(result['vm_hwm_kib'] or 0) / 1024:6.1f} MB",
                    file=sys.stderr,
                )
                if mode == "dry_run":
                    # the child already counted them; free the disk (100+ MB a run)
                    for file in workdir.iterdir():
                        file.unlink()
        report = build_report(args, csv_path, injected, generate_seconds, runs, _max_rss_kib())

    figures.write(args.out, report, markdown(report))
    print(f"written: {args.out} and {args.out.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
