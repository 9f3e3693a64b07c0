"""Benchmark: Zoom OAuth token requests per simulated hour, managed tokens vs per-invocation tokens.

    python benchmarks/bench_tokens.py [--out benchmarks/results/tokens.json] [--invocations N] [--hours H]

Starts moto (``ThreadedMotoServer`` on 127.0.0.1, a free port) as AWS and the Zoom simulator on a
FakeClock, then simulates ``--hours`` (1) of traffic:

* **managed** (zoomops): the ``token_refresh`` schedule runs every 10 simulated minutes
  (``TokenRefresher.refresh`` with a 1,800 s margin and the DynamoDB lease, as the handler builds it), and
  ``--invocations`` (1,000) consumer invocations are spread evenly over the hour, each a cold container: a
  new ``SecretTokenSource`` (new Powertools provider, empty cache) and a new ``ZoomClient`` making one
  API call (``GET /v2/users/me``). Nothing but the schedule talks to the OAuth endpoint.
* **naive**: the same invocations, each asking the OAuth endpoint for its own token (POST
  ``/oauth/token``, Basic auth) and then making the same call with it. Really done against the
  simulator, so the figure is counted, not assumed.

The simulator counts OAuth token requests and API answers. Figures go to a JSON file and a Markdown
table next to it (the Markdown is printed). Nothing is asserted: the goals (at most 2 OAuth requests per
hour; 0 consumer API errors) are reported as met or not. Wall times are this machine's, over loopback:
they compare the two designs' per-invocation overhead, not Zoom's latency.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import figures  # benchmarks/figures.py: this folder is on sys.path when a benchmark runs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core")]
DEFAULT_OUT = HERE / "results" / "tokens.json"

REGION = "us-east-1"
JOBS_TABLE = "zoomops-bench-jobs"
ACCOUNT_NAME = "main"
SECRET_PREFIX = "zoomops-bench/"
ACCOUNT_ID = "BenchCampusAcct01"
CLIENT_ID = "bench-s2s-client"
CLIENT_SECRET = "bench-client-secret-not-real"
SCHEDULE = 600  # token_refresh every 10 minutes
MARGIN = 1800
START = 1_727_784_000.0  # 2024-10-01T12:00:00Z
GOAL_OAUTH_PER_HOUR = 2
GOAL_ERRORS = 0


def _aws(endpoint: str, service: str):
    import boto3

    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def _timeline(hours: float, invocations: int) -> list[tuple[float, str]]:
    """(offset seconds, kind): schedule runs every 10 minutes from 0, invocations spread evenly.
    At equal times the schedule goes first (a deployment has its token before its consumers run)."""
    span = hours * 3600
    runs = [(i * SCHEDULE, "refresh") for i in range(int(span // SCHEDULE) + (span % SCHEDULE > 0))]
    calls = [(i * span / invocations, "invoke") for i in range(invocations)]
    return sorted(runs + calls, key=lambda e: (e[0], e[1] != "refresh"))


def run(hours: float, invocations: int) -> dict:
    import requests
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from moto.server import ThreadedMotoServer

    from infra.local.zoom_sim import FakeClock, ZoomSimulator, seed_demo
    from zoomops.aws import guard_sdk_logs
    from zoomops.aws.dynamo import DynamoLease
    from zoomops.aws.secrets import SecretsTokenStore, SecretTokenSource
    from zoomops.errors import ZoomError
    from zoomops.settings import parse_accounts
    from zoomops.zoom.client import RateLimiter, ZoomClient
    from zoomops.zoom.tokens import OAuthClient, TokenRefresher

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    guard_sdk_logs()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    clock = FakeClock(START)
    sim = ZoomSimulator(clock=clock)
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        sm, ddb = _aws(endpoint, "secretsmanager"), _aws(endpoint, "dynamodb")
        ddb.create_table(
            TableName=JOBS_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        )
        (account,) = parse_accounts(ACCOUNT_NAME, SECRET_PREFIX)
        sm.create_secret(
            Name=account.credentials_secret,
            SecretString=json.dumps({"account_id": ACCOUNT_ID, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
        )
        sim.start()
        sim.add_account(ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET)
        seed_demo(sim, ACCOUNT_ID)
        oauth_url = f"{sim.base_url}/oauth/token"
        refresher = TokenRefresher(
            SecretsTokenStore(sm),
            OAuthClient(oauth_url),
            margin=MARGIN,
            lease=DynamoLease(JOBS_TABLE, ddb, clock=clock),
            clock=clock,
        )
        timeline = _timeline(hours, invocations)

        # ---- managed: the schedule refreshes, consumers read the secret
        actions: dict[str, int] = {}
        errors: list[str] = []
        rereads = waits = 0
        latency: list[float] = []
        min_left = float("inf")
        started = time.perf_counter()
        for offset, kind in timeline:
            clock.set(START + offset)
            if kind == "refresh":
                result = refresher.refresh(account)
                actions[result.action] = actions.get(result.action, 0) + 1
                continue
            t0 = time.perf_counter()
            source = SecretTokenSource(account.token_secret, SecretsProvider(boto3_client=sm))  # cold container
            client = ZoomClient(
                source, limiter=RateLimiter(clock=clock, sleep=lambda s: None), clock=clock, sleep=lambda s: None
            )
            try:
                client.get("/users/me")
                min_left = min(min_left, source.token().expires_at - clock())
            except ZoomError as exc:
                errors.append(str(exc))
            finally:
                client.close()
            latency.append(time.perf_counter() - t0)
            rereads += client.stats["token_rereads"]
            waits += client.stats["throttled"]
        managed_wall = time.perf_counter() - started
        managed = {
            "oauth_token_requests": sum(sim.token_requests.values()),
            "refresh_runs": sum(actions.values()),
            "refresh_actions": actions,
            "token_secret_versions": len(
                sm.list_secret_version_ids(SecretId=account.token_secret, IncludeDeprecated=True)["Versions"]
            ),
            "consumer_invocations": invocations,
            "consumer_api_errors": len(errors),
            "consumer_error_samples": errors[:5],
            "consumer_api_requests": len(sim.api_requests),
            "consumer_api_200": sum(1 for r in sim.api_requests if r["status"] == 200),
            "consumer_token_rereads_on_401": rereads,
            "consumer_429s": waits,
            "min_token_life_left_at_a_call_s": None if min_left == float("inf") else round(min_left, 1),
            "wall_s": round(managed_wall, 3),
            "per_invocation_ms_median": round(statistics.median(latency) * 1000, 2) if latency else None,
            "per_invocation_ms_p95": round(_percentile(latency, 0.95) * 1000, 2),
        }

        # ---- naive: every invocation asks the OAuth endpoint itself
        sim.reset()
        clock.set(START)
        naive_errors: list[str] = []
        naive_latency: list[float] = []
        started = time.perf_counter()
        for offset, kind in timeline:
            if kind != "invoke":
                continue
            clock.set(START + offset)
            t0 = time.perf_counter()
            with requests.Session() as session:  # cold container
                try:
                    answer = session.post(
                        oauth_url,
                        data={"grant_type": "account_credentials", "account_id": ACCOUNT_ID},
                        auth=(CLIENT_ID, CLIENT_SECRET),
                        timeout=10,
                    )
                    answer.raise_for_status()
                    body = answer.json()
                    call = session.get(
                        f"{body['api_url']}/v2/users/me",
                        timeout=10,
                        headers={"Authorization": f"Bearer {body['access_token']}"},
                    )
                    if call.status_code != 200:
                        naive_errors.append(f"HTTP {call.status_code}")
                except requests.RequestException as exc:
                    naive_errors.append(type(exc).__name__)
            naive_latency.append(time.perf_counter() - t0)
        naive = {
            "oauth_token_requests": sum(sim.token_requests.values()),
            "consumer_invocations": invocations,
            "consumer_api_errors": len(naive_errors),
            "consumer_api_requests": len(sim.api_requests),
            "wall_s": round(time.perf_counter() - started, 3),
            "per_invocation_ms_median": round(statistics.median(naive_latency) * 1000, 2) if naive_latency else None,
            "per_invocation_ms_p95": round(_percentile(naive_latency, 0.95) * 1000, 2),
        }
    finally:
        sim.stop()
        moto.stop()

    per_hour = managed["oauth_token_requests"] / hours
    return {
        "benchmark": "tokens",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "simulated_hours": hours,
        "schedule_s": SCHEDULE,
        "margin_s": MARGIN,
        "token_life_s": 3599,
        "managed": managed,
        "naive": naive,
        "goals": {
            "oauth_requests_per_hour": {
                "value": per_hour,
                "goal": f"<= {GOAL_OAUTH_PER_HOUR}",
                "met": per_hour <= GOAL_OAUTH_PER_HOUR,
            },
            "consumer_api_errors": {
                "value": managed["consumer_api_errors"],
                "goal": f"== {GOAL_ERRORS}",
                "met": managed["consumer_api_errors"] == GOAL_ERRORS,
            },
        },
    }


def markdown(r: dict) -> str:
    m, n, g = r["managed"], r["naive"], r["goals"]
    actions = ", ".join(f"{k} {v}" for k, v in sorted(m["refresh_actions"].items()))

    def met(ok: bool) -> str:
        return "met" if ok else "**not met**"

    lines = [
        "# Zoom OAuth token benchmark",
        "",
        f"{r['simulated_hours']:g} simulated hour(s) on a FakeClock; token_refresh every {r['schedule_s'] // 60} "
        f"minutes (margin {r['margin_s']} s, tokens live {r['token_life_s']} s); {m['consumer_invocations']:,} "
        f"consumer invocations spread evenly, each a cold container making one API call. moto (Secrets "
        f"Manager, DynamoDB) and the Zoom simulator on 127.0.0.1; {r['cpus']} CPUs, Python {r['python']}, "
        f"{r['when']}.",
        "",
        "| design | OAuth token requests | consumer API calls | API errors | wall s | ms/invocation (median / p95) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| zoomops: schedule refreshes the secret, consumers read it | {m['oauth_token_requests']:,} | "
        f"{m['consumer_api_requests']:,} | {m['consumer_api_errors']} | {m['wall_s']:.2f} | "
        f"{m['per_invocation_ms_median']} / {m['per_invocation_ms_p95']} |",
        f"| naive: every invocation asks the OAuth endpoint | {n['oauth_token_requests']:,} | "
        f"{n['consumer_api_requests']:,} | {n['consumer_api_errors']} | {n['wall_s']:.2f} | "
        f"{n['per_invocation_ms_median']} / {n['per_invocation_ms_p95']} |",
        "",
        "| figure | value | goal | |",
        "|---|---:|---:|---|",
        f"| OAuth token requests per hour (zoomops) | {g['oauth_requests_per_hour']['value']:g} | "
        f"{g['oauth_requests_per_hour']['goal']} | {met(g['oauth_requests_per_hour']['met'])} |",
        f"| consumer API errors (zoomops) | {g['consumer_api_errors']['value']} | "
        f"{g['consumer_api_errors']['goal']} | {met(g['consumer_api_errors']['met'])} |",
        "",
        f"Schedule runs: {m['refresh_runs']} ({actions}); "
        f"token secret versions written: {m['token_secret_versions']}. Consumers: "
        f"{m['consumer_api_200']:,} answers 200, {m['consumer_token_rereads_on_401']} re-reads after a 401, "
        f"{m['consumer_429s']} 429s; the shortest token life left at a consumer call was "
        f"{m['min_token_life_left_at_a_call_s']} s.",
        "",
        "The naive figure is counted, not assumed: each invocation really POSTed to the simulator's OAuth "
        "endpoint. Wall times are loopback figures: the zoomops path's cost per cold invocation is one "
        "Secrets Manager read (moto here); the naive path's is one OAuth round trip (the simulator here; Zoom's "
        "is slower and rate limited).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON figures (a .md is written next to it)")
    parser.add_argument("--invocations", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.invocations < 1 or args.hours <= 0:
        parser.error("--invocations must be >= 1 and --hours > 0")
    result = run(args.hours, args.invocations)
    figures.write(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
