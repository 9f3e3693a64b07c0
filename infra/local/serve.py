"""``make serve``: the console on the embedded local stack, until Ctrl-C.

Starts moto's server (AWS, with cognito-idp as the console's user pool), the LTI Pro and Zoom simulators, the
jobs API and the console's API (what template.yaml's ConsoleApi routes: the static console, and the jobs API under
``/console/api`` behind the JWT check) on 127.0.0.1; delivers the files bucket's queue to the disassociate function
in the background, as Lambda's event source would; adds some finished jobs of each kind and refreshes the Zoom
tokens; then prints the console's address and a local sign-in.

    python -m infra.local.serve [--port 8765] [--no-demo]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import requests

from infra.local import cognito
from infra.local.api_adapter import ConsoleSite, LocalApi
from infra.local.lti_sim import Fault
from infra.local.stack import REGION, ZOOM_ACCOUNTS, LocalStack, load_handler

SAMPLE = Path(__file__).parent / "samples" / "fall-2026-meetings.csv"
DEMO_MEETING = "81234567890"  # the Zoom simulator's recurring demo lecture
API_BASE = "/console/api"


def demo_password() -> str:
    """A fresh password per run (printed; it only opens this machine's local stack)."""
    return f"Local-{secrets.token_urlsafe(9)}-7"


class LocalConsole:
    """The console's API on 127.0.0.1 in front of the console and api functions, with the user pool it trusts,
    the jobs API beside it, and the queue delivered in the background."""

    def __init__(self, stack: LocalStack, *, port: int = 0, user: str = cognito.DEMO_USER, password: str = ""):
        self.stack, self.port = stack, port
        self.user, self.password = user, password or demo_password()
        self.pool: cognito.LocalPool | None = None
        self.site: LocalApi | None = None
        self.api_handler: Any = None
        self.api: LocalApi | None = None
        self._stop = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._saved_env: dict[str, str | None] = {}
        self._own_workflows = False

    @property
    def url(self) -> str:
        assert self.site is not None
        return f"{self.site.base_url}/console"

    def console_env(self) -> dict[str, str]:
        """The console function's environment, as template.yaml sets it, but for password sign-in."""
        assert self.pool is not None
        return {
            "ZOOMOPS_CONSOLE_SIGN_IN": "password",
            "ZOOMOPS_CONSOLE_REGION": REGION,
            "ZOOMOPS_CONSOLE_USER_POOL_ID": self.pool.pool_id,
            "ZOOMOPS_CONSOLE_CLIENT_ID": self.pool.client_id,
            "ZOOMOPS_CONSOLE_AUTH_DOMAIN": "",
            "ZOOMOPS_CONSOLE_SCOPE": "",
            "ZOOMOPS_CONSOLE_API_BASE": API_BASE,
            "ZOOMOPS_CONSOLE_UPLOAD_ORIGIN": self.stack.endpoint,  # presigned uploads go to moto
        }

    def start(self) -> LocalConsole:
        # The state machines template.yaml deploys: a provisioning file the queue delivers starts one.
        self._own_workflows = self.stack.sfn is None
        self.stack.workflows()
        idp = self.stack.client("cognito-idp")
        self.pool = cognito.create_pool(idp, endpoint=self.stack.endpoint, region=REGION)
        cognito.add_user(idp, self.pool, self.user, self.password)
        for name, value in self.console_env().items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        pool = self.pool
        authorizer = cognito.JwtAuthorizer(issuer=pool.issuer, audience=[pool.client_id], jwks_url=pool.jwks_url)
        site = ConsoleSite(
            handler=load_handler("console").handler,
            authorizer=authorizer,
            sign_in=lambda user, password: cognito.password_sign_in(idp, pool, user, password),
        )
        # One container of the api function behind both APIs, as deployed (its router is per module, not per call).
        self.api_handler = _one_at_a_time(self.stack.load_api().handler)
        self.site = LocalApi(self.api_handler, console=site, port=self.port).__enter__()
        self.api = LocalApi(self.api_handler).__enter__()
        self._dispatcher = threading.Thread(target=self._deliver, name="queue-dispatcher", daemon=True)
        self._dispatcher.start()
        return self

    def _deliver(self) -> None:
        handler = load_handler("disassociate").handler
        while not self._stop.is_set():
            try:
                self.stack.dispatch(handler, timeout=5)
            except Exception as error:  # moto stopping under us at shutdown, or a bug: say so and go on
                if not self._stop.is_set():
                    print(f"queue dispatcher: {type(error).__name__}: {error}", file=sys.stderr)
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        if self._dispatcher is not None:
            self._dispatcher.join(15)
        for server in (self.site, self.api):
            if server is not None:
                server.__exit__(None, None, None)
        self.stack.wait_background(10)
        if self._own_workflows:
            self.stack.close_workflows()
            self._own_workflows = False
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def __enter__(self) -> LocalConsole:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _one_at_a_time(handler):
    lock = threading.Lock()

    def serialised(event: dict, context: Any) -> dict:
        with lock:
            return handler(event, context)

    return serialised


# -- demo data: finished jobs of each kind, fresh tokens ----------------------------------------------------------
def _wait(url: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(url, timeout=10).json()
        if job["state"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def _removal(api: str, body: bytes, name: str, *, dry_run: bool, batch_size: int = 400) -> dict:
    created = requests.post(
        f"{api}/disassociate-jobs", json={"fileName": name, "dryRun": dry_run, "batchSize": batch_size}, timeout=30
    ).json()
    upload = created["upload"]
    requests.put(upload["url"], data=body, headers=upload["headers"], timeout=30).raise_for_status()
    return _wait(f"{api}/disassociate-jobs/{created['jobId']}")


def seed_demo(console: LocalConsole) -> list[str]:
    """Some history to look at; returns one line per job made."""
    assert console.api is not None
    api, stack, lines = console.api.base_url, console.stack, []
    requests.post(f"{api}/tokens/refresh", timeout=60).raise_for_status()
    lines.append("Zoom tokens refreshed for every account")
    body = SAMPLE.read_bytes()
    for name, dry_run in (("fall-2026-meetings.csv", True), ("fall-2026-meetings.csv", False)):
        job = _removal(api, body, name, dry_run=dry_run)
        lines.append(f"removal {job['jobId']} {'(dry run) ' if dry_run else ''}{job['state']}")
    stack.lti.add_faults(Fault(status=400))  # LTI Pro refuses the first request (not retried): two rows fail
    rows = b"Meeting ID,Context ID,Domain\n" + b"".join(
        f"8140000{i:04d},demo-course-{i % 3},https://canvas.example.edu\n".encode() for i in range(6)
    )
    job = _removal(api, rows, "spring-cleanup.csv", dry_run=False, batch_size=2)
    lines.append(f"removal {job['jobId']} {job['state']} (LTI Pro refused a batch: re-drive it from the console)")
    lines += _provisioning(console)
    report = requests.post(f"{api}/report-jobs", json={"meetingIds": [DEMO_MEETING]}, timeout=30).json()
    stack.wait_background(60)
    job = _wait(f"{api}/report-jobs/{report['jobId']}")
    lines.append(f"report {job['jobId']} {job['state']}")
    return lines


def _provisioning(console: LocalConsole) -> list[str]:
    """A small semester planned (dry run), then confirmed: its LTI import file and removal file to download."""
    from infra.local.demo_provision import HOSTS, SEMESTER

    assert console.api is not None
    api, lines = console.api.base_url, []
    for email in HOSTS:
        console.stack.zoom.add_user(ZOOM_ACCOUNTS["main"][0], email=email, timezone="America/New_York")
    requests.post(f"{api}/tokens/refresh", json={"force": True}, timeout=60).raise_for_status()
    created = requests.post(f"{api}/provision-jobs", json={"fileName": SEMESTER.name, "dryRun": True}, timeout=30)
    upload = created.json()["upload"]
    requests.put(upload["url"], data=SEMESTER.read_bytes(), headers=upload["headers"], timeout=30).raise_for_status()
    planned = _wait(f"{api}/provision-jobs/{created.json()['jobId']}")
    lines.append(f"provisioning {planned['jobId']} (dry run) {planned['state']}")
    confirmed = requests.post(f"{api}/provision-jobs/{planned['jobId']}/confirm", timeout=30).json()
    done = _wait(f"{api}/provision-jobs/{confirmed['jobId']}")
    lines.append(f"provisioning {done['jobId']} {done['state']}: {done['progress']['created']} meetings created")
    return lines


def _port_or_any(port: int) -> int:
    """``port`` if it is free on 127.0.0.1, else 0 (any free port)."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            print(f"port {port}: {error.strerror}; using a free port", file=sys.stderr)
            return 0
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("ZOOMOPS_CONSOLE_PORT", "8765")))
    parser.add_argument("--no-demo", action="store_true", help="start without the demo jobs")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    warnings.filterwarnings("ignore", "No application metrics to publish")
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    with LocalStack(lti_key="serve-lti-key", lti_secret=secrets.token_hex(16)) as stack:
        console = LocalConsole(stack, port=_port_or_any(args.port)).start()
        try:
            if not args.no_demo:
                print("adding demo jobs…", flush=True)
                for line in seed_demo(console):
                    print(f"  {line}")
            print(
                f"\nzoomops console: {console.url}\n"
                f"  sign in as     {console.user}\n"
                f"  password       {console.password}\n"
                f"  (jobs API without sign-in, as IAM callers see it: {console.api.base_url if console.api else ''})\n"
                "Ctrl-C stops everything.",
                flush=True,
            )
            stop.wait()
        finally:
            print("\nstopping…", flush=True)
            console.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
