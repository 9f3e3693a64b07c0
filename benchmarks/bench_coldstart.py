"""Benchmark: each handler's import time (the cold start's init phase) against ``import boto3`` alone.

    python benchmarks/bench_coldstart.py [--out benchmarks/results/coldstart.json] [--rounds N]

Every measurement is a fresh interpreter (``python -c ...``) timing one import with
``time.perf_counter`` inside it, so interpreter start-up is left out and nothing is cached between
samples (the OS file cache is warm, as it is on a warm Lambda host). The environment is what Lambda
gives a function: ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_REGION``, ``_HANDLER``,
plus the function's own variables as template.yaml sets them (sample values; the handler validates
them at import, and nothing reaches the network at import). Tracing is on, as in the template, so
Powertools Tracer patches botocore and requests at import as it does in Lambda.

The rounds interleave boto3 and the four handlers (so a noisy neighbour hits all of them alike), and
the figure is each handler's median over boto3's median from the same run. Nothing is asserted: the
goal (at most 1.3x) is reported as met or not. What each handler imports beyond boto3, by package
(``-X importtime``), is kept to show where the time goes.

When ``make build`` has run, a second table measures the built layer itself (``.aws-sam/build``) on a
Python without site-packages and without writing bytecode, as Lambda's read-only ``/opt`` behaves: the
layer as built (bytecode compiled in) against a copy without it. The api handler is left out there
(pydantic_core in the layer is the arm64 build, which this machine cannot load), and on a machine that is
not arm64 the layer's other compiled modules (charset_normalizer's, wrapt's) fall back to their pure-Python
versions, which makes both columns a little slower than on Lambda.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import figures  # benchmarks/figures.py: this folder is on sys.path when a benchmark runs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "results" / "coldstart.json"
BUILT_LAYER = ROOT / ".aws-sam" / "build" / "CoreLayer" / "python"
GOAL_RATIO = 1.3

LAMBDA_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "_HANDLER": "app.handler",
    "POWERTOOLS_METRICS_NAMESPACE": "zoomops",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "AWS_EC2_METADATA_DISABLED": "true",
}
SECRETS = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
MACHINES = "arn:aws:states:us-east-1:123456789012:stateMachine:"
ZOOM = {
    "ZOOMOPS_ZOOM_ACCOUNTS": "main",
    "ZOOMOPS_ZOOM_SECRET_PREFIX": "zoomops/zoom/",
    "ZOOMOPS_JOBS_TABLE": "zoomops-JobsTable-1",
}
FUNCTIONS = {  # folder -> its variables as the template sets them (sample values)
    "disassociate": {
        "ZOOMOPS_LTI_SECRET_ID": SECRETS + "zoomops-lti-AbCdEf",
        "ZOOMOPS_LTI_BASE_URL": "https://lti.example.edu/api",
        "ZOOMOPS_JOBS_TABLE": "zoomops-JobsTable-1",
        "ZOOMOPS_IDEMPOTENCY_TABLE": "zoomops-IdempotencyTable-1",
        "ZOOMOPS_BATCH_SIZE": "400",
        "ZOOMOPS_INLINE_MAX_BYTES": "1048576",
        "ZOOMOPS_REMOVAL_MACHINE": MACHINES + "zoomops-removal",
        "ZOOMOPS_PROVISION_MACHINE": MACHINES + "zoomops-provisioning",
    },
    "token_refresh": {
        **ZOOM,
        "ZOOMOPS_ZOOM_OAUTH_URL": "https://zoom.us/oauth/token",
        "ZOOMOPS_TOKEN_MARGIN_SECONDS": "1800",
    },
    "participant_report": {
        **ZOOM,
        "ZOOMOPS_ZOOM_PLAN": "pro",
        "ZOOMOPS_REPORTS_BUCKET": "zoomops-files",
        "ZOOMOPS_REPORTS_PREFIX": "reports/",
        "ZOOMOPS_MANIFEST_TABLE": "zoomops-ManifestTable-1",
        "ZOOMOPS_REPORT_LOOKBACK_DAYS": "7",
        "ZOOMOPS_REPORT_USERS": "",
        "ZOOMOPS_REPORT_WORKERS": "8",
        "ZOOMOPS_PSEUDONYM_SECRET_ID": "",
        "ZOOMOPS_REPORT_MACHINE": MACHINES + "zoomops-reports",
    },
    "api": {
        **ZOOM,
        "ZOOMOPS_FILES_BUCKET": "zoomops-files",
        "ZOOMOPS_TOKEN_REFRESH_FUNCTION": "zoomops-TokenRefreshFunction-1",
        "ZOOMOPS_REPORT_MACHINE": MACHINES + "zoomops-reports",
        "ZOOMOPS_PROVISION_MACHINE": MACHINES + "zoomops-provisioning",
    },
}
TIMED = "import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
# What every handler must import whatever it does (Logger, Metrics and Tracer in every function, as the
# issue asks): the floor the handlers' figures sit on, measured in the same run.
FLOOR = (
    "from aws_lambda_powertools import Logger, Metrics, Tracer; "
    "Logger(); Metrics(); Tracer(patch_modules=('botocore',))"
)


def _env(folder: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOMOPS_", "POWERTOOLS_", "AWS_"))}
    env.update(LAMBDA_ENV)
    env["PYTHONPATH"] = str(ROOT / "layers" / "core")
    if folder:
        env.update(
            FUNCTIONS[folder],
            LAMBDA_TASK_ROOT=str(ROOT / "functions" / folder),
            AWS_LAMBDA_FUNCTION_NAME=f"zoomops-{folder}",
            POWERTOOLS_SERVICE_NAME=folder,
        )
        env["PYTHONPATH"] = f"{ROOT / 'functions' / folder}{os.pathsep}{env['PYTHONPATH']}"
    return env


def sample(folder: str | None, flags: tuple[str, ...] = (), code: str | None = None) -> subprocess.CompletedProcess:
    code = code or ("import app" if folder else "import boto3")
    return subprocess.run(
        [sys.executable, *flags, "-c", TIMED.format(code=code)],
        env=_env(folder),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )


def layer_sample(folder: str, layer: Path) -> float:
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", **_env(folder)}
    env["PYTHONPATH"] = f"{ROOT / 'functions' / folder}{os.pathsep}{layer}"
    env = {k: v for k, v in env.items() if not k.startswith("VIRTUAL_ENV")}
    answer = subprocess.run(
        [sys.executable, "-S", "-c", TIMED.format(code="import app")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(answer.stdout.strip())


def built_layer(rounds: int) -> dict | None:
    """The built layer with its bytecode against the same files without (Lambda cannot write any to /opt)."""
    if not BUILT_LAYER.is_dir():
        return None
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        bare = Path(scratch) / "python"
        shutil.copytree(BUILT_LAYER, bare, ignore=shutil.ignore_patterns("__pycache__"))
        result = {}
        for folder in ("disassociate", "token_refresh", "participant_report"):
            with_pyc, without = [], []
            for _ in range(rounds):
                with_pyc.append(layer_sample(folder, BUILT_LAYER))
                without.append(layer_sample(folder, bare))
            result[folder] = {
                "with_bytecode_ms": round(statistics.median(with_pyc) * 1000, 1),
                "without_bytecode_ms": round(statistics.median(without) * 1000, 1),
            }
        return result


def _self_times(folder: str | None) -> dict[str, int]:
    """Module -> its own import microseconds, from ``-X importtime``."""
    times = {}
    for line in sample(folder, ("-X", "importtime")).stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[0].isdigit():
            times[parts[2]] = int(parts[0])
    return times


def beyond_boto3(folder: str, boto3: dict[str, int], count: int = 6) -> list[dict]:
    """Where a handler's time over ``import boto3`` goes: its modules boto3 does not import, by package
    (own import time, one ``-X importtime`` run)."""
    packages: dict[str, int] = {}
    for module, micros in _self_times(folder).items():
        if module not in boto3:
            top = module.split(".")[0]
            packages[top] = packages.get(top, 0) + micros
    ranked = sorted(packages.items(), key=lambda kv: -kv[1])
    return [{"package": name, "ms": round(micros / 1000, 1)} for name, micros in ranked[:count]]


def run(rounds: int) -> dict:
    names = [None, *FUNCTIONS]
    times: dict[str, list[float]] = {name or "boto3": [] for name in names}
    floor = []
    for _ in range(rounds):
        for name in names:
            times[name or "boto3"].append(float(sample(name).stdout.strip()))
        floor.append(float(sample("token_refresh", code=FLOOR).stdout.strip()))  # in a function's environment
    boto3 = statistics.median(times["boto3"])
    boto3_modules = _self_times(None)
    handlers = {}
    for folder in FUNCTIONS:
        median = statistics.median(times[folder])
        handlers[folder] = {
            "median_ms": round(median * 1000, 1),
            "ratio_to_boto3": round(median / boto3, 2),
            "min_ms": round(min(times[folder]) * 1000, 1),
            "beyond_boto3": beyond_boto3(folder, boto3_modules),
        }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rounds": rounds,
        "boto3": {"median_ms": round(boto3 * 1000, 1), "min_ms": round(min(times["boto3"]) * 1000, 1)},
        "powertools_floor": {
            "median_ms": round(statistics.median(floor) * 1000, 1),
            "ratio_to_boto3": round(statistics.median(floor) / boto3, 2),
        },
        "handlers": handlers,
        "goal_ratio": GOAL_RATIO,
        "met": all(h["ratio_to_boto3"] <= GOAL_RATIO for h in handlers.values()),
        "built_layer": built_layer(max(3, rounds // 3)),
    }


def markdown(result: dict) -> str:
    lines = [
        "# Cold-start benchmark: handler import vs `import boto3`",
        "",
        f"{result['rounds']} rounds, each a fresh interpreter per sample, boto3 and the handlers interleaved; "
        f"Lambda's environment variables and the template's; tracing on. {result['machine']['cpus']} CPUs, "
        f"Python {result['machine']['python']}, {result['when']}.",
        "",
        "| import | median ms | min ms | × boto3 | goal | |",
        "|---|---:|---:|---:|---:|---|",
        f"| `import boto3` | {result['boto3']['median_ms']} | {result['boto3']['min_ms']} | 1.00 | | |",
        f"| floor: Powertools Logger + Metrics + Tracer, nothing else | {result['powertools_floor']['median_ms']} | "
        f"| {result['powertools_floor']['ratio_to_boto3']:.2f} | | |",
    ]
    for folder, h in result["handlers"].items():
        verdict = "met" if h["ratio_to_boto3"] <= result["goal_ratio"] else "not met"
        lines.append(
            f"| functions/{folder}/app.py | {h['median_ms']} | {h['min_ms']} | {h['ratio_to_boto3']:.2f} "
            f"| <= {result['goal_ratio']} | {verdict} |"
        )
    lines += [
        "",
        "What each handler imports beyond `import boto3`, by package (own import ms, one `-X importtime` "
        "run; botocore itself comes in through Tracer's patch):",
        "",
    ]
    for folder, h in result["handlers"].items():
        lines.append(f"- {folder}: " + ", ".join(f"{r['package']} {r['ms']}" for r in h["beyond_boto3"]))
    layer = result.get("built_layer")
    lines += ["", "## The built layer (`make build`): bytecode compiled in, or not", ""]
    if layer is None:
        lines.append("Not measured: run `make build` first.")
    else:
        lines += [
            "Imported with `python -S` and no bytecode writes, as from Lambda's read-only `/opt`. Off arm64, "
            "the layer's compiled modules fall back to pure Python, so both columns are a little slow.",
            "",
            "| handler import on the built layer | with bytecode ms | without ms | saved per cold start |",
            "|---|---:|---:|---:|",
        ]
        for folder, f in layer.items():
            lines.append(
                f"| functions/{folder}/app.py | {f['with_bytecode_ms']} | {f['without_bytecode_ms']} "
                f"| {f['without_bytecode_ms'] - f['with_bytecode_ms']:.0f} ms |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON figures (a .md is written next to it)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    result = run(args.rounds)
    figures.write(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
