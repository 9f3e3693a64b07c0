"""The console in a real headless Chromium (Debian's, driven by Playwright), against the embedded local stack as
``make serve`` runs it: the console's API with the JWT check in front of the api function, moto's cognito-idp,
the LTI Pro and Zoom simulators, the queue delivered in the background.

Sign in; every main page passes axe-core (no serious or critical violation) at 1280 and 390 px; the removal flow
by keyboard only (upload, preview, confirm, progress to done, download and check the files, re-drive); a CSV
whose cells are script and a formula shows them as text; the jobs list and a job's page; a report request
followed to its files; a token refresh. Screenshots of every main page go to out/screenshots/console/ (ignored by
git). ``make browser`` installs Chromium and axe-core.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from pathlib import Path

import pytest
import requests

from infra.local.lti_sim import Fault
from infra.local.serve import LocalConsole
from infra.local.stack import ZOOM_ACCOUNTS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ZOOMOPS_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "out" / "screenshots" / "console"
# As this machine's Chromium must run: no sandbox (root), nothing reaching beyond 127.0.0.1.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "Console-e2e-pass-4!"
PAGES = ["jobs", "removal", "reports", "tokens", "provisioning"]
SCRIPT = "<script>document.title='pwned'</script>"
FORMULA = '=HYPERLINK("http://x")'
DOMAIN = "https://canvas.example.edu"
LECTURE = "81234567890"  # the Zoom simulator's demo lecture (past instances)


def removal_csv() -> bytes:
    rows = [
        ("Meeting ID", "Context ID", "Domain", "custom_canvas_course_id"),
        ("812 3456 7001", SCRIPT, DOMAIN, "101"),
        ("81234567002", FORMULA, DOMAIN, "102"),
        ("81234567003", "course-ok", DOMAIN, "103"),
        ("not-a-meeting", "course-bad", DOMAIN, "104"),
        ("81234567003", "course-ok", DOMAIN, "103"),
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


@pytest.fixture(scope="module")
def site(_local_stack):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (it installs Debian's chromium)")
    if not AXE.exists():
        pytest.fail(f"no axe-core at {AXE}: run `make browser` (npm ci)")
    _local_stack.reset()
    limits = dict(_local_stack.zoom.limits)
    _local_stack.zoom.limits.update(light=80.0, medium=60.0, heavy=40.0)
    previous = os.environ.get("ZOOMOPS_ZOOM_PLAN")
    os.environ["ZOOMOPS_ZOOM_PLAN"] = "business"
    with LocalConsole(_local_stack, password=PASSWORD) as console:
        requests.post(f"{console.api.base_url}/tokens/refresh", json={}, timeout=60).raise_for_status()
        yield console
    _local_stack.zoom.limits.update(limits)
    if previous is None:
        os.environ.pop("ZOOMOPS_ZOOM_PLAN", None)
    else:
        os.environ["ZOOMOPS_ZOOM_PLAN"] = previous


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)  # a fresh profile each launch
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and "Failed to load resource" not in message.text  # the 401 of a wrong password, shown in the page
            and problems.append(f"console: {message.text}")
        ),
    )
    yield page
    context.close()
    assert problems == []  # no script error, no CSP violation, no alert()


def wait_until(page, expression: str, timeout: float = 20.0) -> None:
    """Poll a JS expression through the driver (page.wait_for_function compiles its predicate inside the page,
    which the console's CSP, rightly, refuses: no eval)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.05)


def sign_in(page, site: LocalConsole) -> None:
    page.goto(site.url)
    page.get_by_label("User (email)").fill(site.user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").wait_for()
    wait_until(page, "document.getElementById('who-name').textContent !== ''")


def show(page, name: str) -> None:
    page.goto(f"{page.url.split('#')[0]}#/{name}")
    page.get_by_role("heading", level=1, name=name.capitalize()).wait_for()
    page.wait_for_load_state("networkidle")


def axe_violations(page) -> list[dict]:
    page.evaluate(AXE.read_text())  # evaluated by the driver, like a browser extension: the page's CSP still holds
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" "))}))"""
    )


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def phone(page, name: str) -> None:
    """The page at 390 px: no sideways scrolling (wide tables scroll in their own box), a screenshot; back to 1280."""
    page.set_viewport_size({"width": 390, "height": 900})
    assert sideways(page) <= 0, f"{name} scrolls sideways"
    shot(page, name)
    page.set_viewport_size({"width": 1280, "height": 900})


def tab_to(page, predicate: str, limit: int = 40) -> None:
    """Press Tab until document.activeElement matches ``predicate`` (a JS expression over ``el``)."""
    wait_until(page, "document.activeElement !== null")
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!(el && ({predicate})); }})()"):
            return
    raise AssertionError(f"Tab never reached {predicate}")


def at_heading(page) -> None:
    wait_until(page, "document.activeElement?.tagName === 'H1'")


def finished(page, timeout: float = 30.0) -> str:
    badge = page.locator(".job-head .badge")
    wait_until(
        page,
        "() => ['succeeded','partially failed','rejected','failed'].includes("
        "document.querySelector('.job-head .badge')?.textContent)",
        timeout=timeout,
    )
    return badge.text_content()


def read_download(page, link_name: str) -> str:
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == link_name.removeprefix("Download ")
    return Path(download.value.path()).read_text(encoding="utf-8-sig")


# -- the tests ---------------------------------------------------------------------------------------------------
def test_sign_in_then_every_page_is_accessible_at_desktop_and_phone_widths(page, site) -> None:
    page.goto(site.url)
    page.get_by_role("heading", name="Sign in to zoomops").wait_for()
    assert axe_violations(page) == []
    shot(page, "sign-in-1280")
    page.get_by_label("User (email)").fill(site.user)
    page.get_by_label("Password").fill("Not-the-password-1!")
    page.get_by_role("button", name="Sign in").click()
    assert "wrong user name or password" in page.get_by_role("alert").filter(has_text="wrong").text_content()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    wait_until(page, "document.getElementById('who-name').textContent !== ''")
    assert page.locator("#who-name").text_content() == site.user
    # the token is kept out of the address bar, cookies and localStorage
    assert "eyJ" not in page.url and page.context.cookies() == []
    assert page.evaluate("localStorage.length") == 0
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for name in PAGES:
            show(page, name)
            assert axe_violations(page) == [], (name, width)
            assert sideways(page) <= 0, f"{name} scrolls sideways at {width} px"
            shot(page, f"{name}-{width}")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in to zoomops").wait_for()
    assert page.evaluate("sessionStorage.length") == 0


def test_removal_by_keyboard_preview_confirm_download_and_redrive(page, site) -> None:
    choosers: list = []
    page.on(
        "filechooser", lambda chooser: choosers.append(chooser)
    )  # intercepting from the start: no race with the key press
    sign_in(page, site)
    page.locator("body").focus()
    tab_to(page, "el.matches('nav a[href=\"#/removal\"]')")
    page.keyboard.press("Enter")
    page.get_by_role("heading", level=1, name="Removal").wait_for()
    at_heading(page)  # a new page moves the focus to its heading
    tab_to(page, "el.type === 'file'")
    page.keyboard.press("Space")  # opens the file chooser (intercepted since the test began)
    wait_until(page, "document.activeElement?.type === 'file'")
    deadline = time.monotonic() + 10
    while not choosers and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert choosers, "Space on the file input opened no file chooser"
    choosers[0].set_files({"name": "spring 2027.csv", "mimeType": "text/csv", "buffer": removal_csv()})
    tab_to(page, "el.tagName === 'BUTTON' && el.textContent === 'Upload and preview'")
    page.keyboard.press("Enter")

    # the preview of the dry run: counts, the rejected row with its line and reason, what would be sent
    page.get_by_role("heading", name="Preview").wait_for()
    at_heading(page)
    page.get_by_role("table", name=re.compile("What would be sent")).wait_for()
    rejected = page.get_by_role("table", name=re.compile("Rejected rows"))
    assert rejected.locator("tbody tr").count() == 1
    first = rejected.locator("tbody tr").first.locator("td")
    assert first.nth(0).text_content() == "5" and first.nth(3).text_content() == "not-a-meeting"
    assert "meeting" in first.nth(2).text_content().lower()
    # CSV cells are text: the script is shown, not run; the formula is shown as written
    assert page.get_by_role("cell", name=SCRIPT, exact=True).count() == 1
    # (the API may show the formula-guarded cell of rows.csv: either way, text ending in the formula, no link)
    assert page.locator("td").filter(has_text=re.compile(re.escape(FORMULA) + "$")).count() == 1
    assert page.locator('main a[href^="http://x"]').count() == 0
    assert page.title() != "pwned" and page.evaluate("document.querySelectorAll('main script').length") == 0
    assert axe_violations(page) == []
    shot(page, "removal-preview-1280")
    phone(page, "removal-preview-390")
    preview_url = page.url

    # confirm (LTI Pro refuses the first request: those rows fail and land in retry.csv)
    site.stack.lti.add_faults(Fault(status=400))
    tab_to(page, "el.tagName === 'BUTTON' && el.textContent.startsWith('Remove ')")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url != preview_url and "#/jobs/dis-" in url)
    at_heading(page)
    assert finished(page) == "partially failed"
    page.get_by_role("heading", name="Result files").wait_for()
    assert page.locator("progress").first.get_attribute("value") == "1"
    assert "Finished" in page.locator(".progress-text").first.text_content()
    assert axe_violations(page) == []
    shot(page, "removal-done-1280")
    phone(page, "removal-done-390")
    tab_to(page, "el.textContent === 'Download rows.csv'")
    rows = list(csv.DictReader(io.StringIO(read_download(page, "Download rows.csv"))))
    statuses = {row["line"]: row["status"] for row in rows}
    assert statuses == {"2": "failed", "3": "failed", "4": "failed", "5": "rejected", "6": "duplicate"}
    guarded = next(row for row in rows if row["line"] == "3")
    assert guarded["context_id"] != FORMULA and guarded["context_id"].endswith(FORMULA)  # never runs as a formula
    tab_to(page, "el.textContent === 'Download retry.csv'")
    retry = list(csv.reader(io.StringIO(read_download(page, "Download retry.csv"))))
    assert len(retry) == 1 + 3 and [SCRIPT, FORMULA, "course-ok"] == [r[1] for r in retry[1:]]

    # re-drive the failed rows in one action: a new job, and LTI Pro now takes them
    done_url = page.url
    tab_to(page, "el.tagName === 'BUTTON' && el.textContent.startsWith('Re-drive 3 failed rows')")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url != done_url and "#/jobs/dis-" in url)
    at_heading(page)
    assert finished(page) == "succeeded"
    sent = {item["meetingId"] for item in site.stack.lti.accepted_items()}
    assert {"81234567001", "81234567002", "81234567003"} <= sent


def test_jobs_list_filters_by_state_and_opens_a_job(page, site) -> None:
    rows = [{"meetingId": "81300000101", "contextId": "list-course", "domain": DOMAIN}]
    created = requests.post(f"{site.api.base_url}/disassociate-jobs", json={"rows": rows}, timeout=30).json()
    deadline = time.monotonic() + 30
    while requests.get(f"{site.api.base_url}/disassociate-jobs/{created['jobId']}", timeout=10).json()["state"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    sign_in(page, site)
    show(page, "jobs")
    table = page.get_by_role("table")
    table.get_by_role("link", name=created["jobId"]).wait_for()
    assert table.locator("tbody tr").first.get_by_role("link").text_content() == created["jobId"]  # newest first
    shot(page, "jobs-list-1280")
    phone(page, "jobs-list-390")
    page.get_by_label("State").select_option("succeeded")
    wait_until(page, "() => [...document.querySelectorAll('tbody .badge')].every((b) => b.textContent === 'succeeded')")
    states = table.locator("tbody tr .badge").all_text_contents()
    assert states and set(states) == {"succeeded"}
    table.get_by_role("link", name=created["jobId"]).click()
    page.get_by_role("heading", level=1, name="Removal job").wait_for()
    assert finished(page) == "succeeded"
    assert created["jobId"] in page.locator(".job-head").text_content()


def test_report_by_meeting_ids_runs_to_its_attendance_file(page, site) -> None:
    sign_in(page, site)
    show(page, "reports")
    page.get_by_role("textbox", name="Meeting IDs").fill(f"{LECTURE[:3]} {LECTURE[3:7]} {LECTURE[7:]}".replace(" ", ""))
    page.get_by_role("button", name="Request report").click()
    page.get_by_role("heading", level=1, name="Report job").wait_for()
    assert finished(page, timeout=60.0) == "succeeded"
    shot(page, "report-done-1280")
    link = page.get_by_role("link", name="Download attendance.csv")
    link.focus()
    attendance = list(csv.DictReader(io.StringIO(read_download(page, "Download attendance.csv"))))
    assert attendance and all(row["meeting_id"] == LECTURE for row in attendance)


def test_provisioning_preview_then_create_and_download_the_import_and_removal_files(page, site) -> None:
    hosts = ("prof.console@campus.example.edu", "dr.console@campus.example.edu")
    for email in hosts:
        site.stack.zoom.add_user(ZOOM_ACCOUNTS["main"][0], email=email, timezone="America/New_York")
    requests.post(f"{site.api.base_url}/tokens/refresh", json={"force": True}, timeout=60).raise_for_status()
    header = "Context ID,Domain,custom_canvas_course_id,Host,Topic,Start,Timezone,Duration,Repeat,Until"
    rows = [
        f"cs-101,{DOMAIN},101,{hosts[0]},<script>document.title='pwned'</script>,2027-01-11 09:00,"
        "America/New_York,75,Mon;Wed,2027-03-31",
        f"bio-201,{DOMAIN},201,{hosts[1]},BIO201 Lab,2027-01-12 13:30,America/New_York,60,,",
        f"phy-110,{DOMAIN},310,{hosts[1]},PHY110 Review,2027-01-13 25:00,America/New_York,60,,",
    ]
    sign_in(page, site)
    show(page, "provisioning")
    page.locator("input[type=file]").set_input_files(
        {"name": "spring 2027.csv", "mimeType": "text/csv", "buffer": ("\n".join([header, *rows]) + "\n").encode()}
    )
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("heading", level=1, name="Provisioning job").wait_for()
    assert finished(page, timeout=60.0) == "succeeded"
    page.get_by_role("heading", name="Preview").wait_for()
    assert site.stack.zoom.meetings(ZOOM_ACCOUNTS["main"][0], hosts[0]) == []
    rejected = page.get_by_role("table", name=re.compile("Rejected rows"))
    cells = rejected.locator("tbody tr").first.locator("td")
    assert rejected.locator("tbody tr").count() == 1 and cells.nth(0).text_content() == "4"
    assert cells.nth(1).text_content() == "Start" and "25:00" in cells.nth(2).text_content()
    planned = page.get_by_role("table", name=re.compile("What would be created"))
    assert planned.locator("tbody tr").count() == 2
    assert planned.locator("td").filter(has_text="<script>document.title='pwned'</script>").count() == 1  # as text
    assert page.title() != "pwned" and axe_violations(page) == []
    shot(page, "provisioning-preview-1280")
    phone(page, "provisioning-preview-390")
    preview_url = page.url

    page.get_by_role("button", name="Create the meetings now").click()
    page.wait_for_url(lambda url: url != preview_url and "#/jobs/pro-" in url)
    assert finished(page, timeout=90.0) == "succeeded"
    page.get_by_role("heading", name="Result files").wait_for()
    page.get_by_role("link", name="Download lti-import-001.csv").focus()
    imported = list(csv.reader(io.StringIO(read_download(page, "Download lti-import-001.csv"))))
    assert imported[0] == ["Meeting ID", "Context ID", "Domain", "custom_canvas_course_id"]
    assert [row[1] for row in imported[1:]] == ["cs-101", "bio-201"]  # the 25:00 row was rejected, not created
    page.get_by_role("link", name="Download removal.csv").focus()
    assert list(csv.reader(io.StringIO(read_download(page, "Download removal.csv")))) == imported
    page.get_by_role("link", name="Download rows.csv").focus()
    statuses = [r["status"] for r in csv.DictReader(io.StringIO(read_download(page, "Download rows.csv")))]
    assert statuses == ["created", "created", "rejected"] and page.title() != "pwned"
    assert axe_violations(page) == []
    shot(page, "provisioning-done-1280")


def test_token_refresh_updates_every_account(page, site) -> None:
    sign_in(page, site)
    show(page, "tokens")
    table = page.get_by_role("table", name="Zoom accounts")
    assert sorted(table.locator("tbody tr td:first-child").all_text_contents()) == sorted(ZOOM_ACCOUNTS)
    page.get_by_role("button", name="Refresh now").click()
    page.get_by_text(re.compile(r"^Refreshed at ")).wait_for()
    lives = table.locator("tbody tr meter")
    assert lives.count() == len(ZOOM_ACCOUNTS)
    assert all(int(float(v)) > 3000 for v in (lives.nth(i).get_attribute("value") for i in range(lives.count())))
    assert "refreshed" in json.dumps(table.locator("tbody tr td:nth-child(4)").all_text_contents())


def test_hosted_sign_in_is_a_pkce_code_flow_that_leaves_no_code_in_the_address_bar(browser, site, monkeypatch) -> None:
    """The deployed sign-in, with Cognito's hosted page and token endpoint played by the test (intercepted in the
    browser: nothing leaves 127.0.0.1): the authorize request, the state check, the PKCE verifier, the code wiped."""
    import base64
    import hashlib
    from urllib.parse import parse_qs, urlsplit

    from infra.local import cognito
    from infra.local.api_adapter import ConsoleSite, LocalApi
    from infra.local.stack import load_handler

    domain = "zoomops-test.auth.us-east-1.amazoncognito.com"
    hosted = {
        "SIGN_IN": "hosted",
        "AUTH_DOMAIN": domain,
        "SCOPE": "openid email zoomops/console",
        "IDENTITY_PROVIDER": "Campus",
    }
    for name, value in {**site.console_env(), **{f"ZOOMOPS_CONSOLE_{k}": v for k, v in hosted.items()}}.items():
        monkeypatch.setenv(name, value)
    pool = site.pool
    authorizer = cognito.JwtAuthorizer(issuer=pool.issuer, audience=[pool.client_id], jwks_url=pool.jwks_url)
    tokens = cognito.password_sign_in(site.stack.client("cognito-idp"), pool, site.user, PASSWORD)
    seen: dict = {}

    def cognito_pages(route) -> None:
        url = urlsplit(route.request.url)
        if url.path == "/oauth2/authorize":
            seen["authorize"] = {k: v[0] for k, v in parse_qs(url.query).items()}
            back = f"{seen['authorize']['redirect_uri']}?code=one-time-code&state={seen['authorize']['state']}"
            route.fulfill(status=302, headers={"Location": back})
        else:
            seen["token"] = {k: v[0] for k, v in parse_qs(route.request.post_data or "").items()}
            body = {"access_token": tokens["accessToken"], "id_token": tokens["idToken"], "expires_in": 3600}
            route.fulfill(
                status=200,
                content_type="application/json",
                headers={"Access-Control-Allow-Origin": seen["authorize"]["redirect_uri"].rsplit("/console", 1)[0]},
                body=json.dumps(body),
            )

    site_handler = ConsoleSite(handler=load_handler("console").handler, authorizer=authorizer)
    with LocalApi(site.api_handler, console=site_handler) as deployed:
        context = browser.new_context()
        context.route(f"https://{domain}/**", cognito_pages)
        page = context.new_page()
        page.goto(f"{deployed.base_url}/console")
        errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.get_by_role("button", name="Sign in with a zoomops account").wait_for()  # the break-glass way in
        page.get_by_role("button", name="Sign in with your campus account").click()
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").wait_for()
        page.get_by_role("heading", level=1, name="Jobs").wait_for()
        assert "code=" not in page.url and "state=" not in page.url and "eyJ" not in page.url
        assert errors == []  # the token endpoint is within the CSP's connect-src
        context.close()
    asked = seen["authorize"]
    assert asked["response_type"] == "code" and asked["client_id"] == pool.client_id
    assert asked["redirect_uri"] == f"{deployed.base_url}/console"
    assert asked["scope"] == "openid email zoomops/console" and asked["identity_provider"] == "Campus"
    assert asked["code_challenge_method"] == "S256"
    exchange = seen["token"]
    assert exchange["grant_type"] == "authorization_code" and exchange["code"] == "one-time-code"
    assert exchange["redirect_uri"] == asked["redirect_uri"] and exchange["client_id"] == pool.client_id
    digest = hashlib.sha256(exchange["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).decode().rstrip("=") == asked["code_challenge"]
