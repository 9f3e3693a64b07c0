"""The console function (functions/console/app.py): its answers, headers and config.json, what it refuses to
serve, and what its static files may contain (no inline script or style, no HTML sinks)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infra.local.stack import load_handler

STATIC = Path(__file__).resolve().parents[2] / "functions" / "console" / "static"
HOSTED = {
    "ZOOMOPS_CONSOLE_SIGN_IN": "hosted",
    "ZOOMOPS_CONSOLE_REGION": "eu-west-1",
    "ZOOMOPS_CONSOLE_USER_POOL_ID": "eu-west-1_AbCdEf123",
    "ZOOMOPS_CONSOLE_CLIENT_ID": "4example5client6id7",
    "ZOOMOPS_CONSOLE_AUTH_DOMAIN": "zoomops-123456789012.auth.eu-west-1.amazoncognito.com",
    "ZOOMOPS_CONSOLE_IDENTITY_PROVIDER": "Campus",
    "ZOOMOPS_CONSOLE_SCOPE": "openid email zoomops/console",
    "ZOOMOPS_CONSOLE_API_BASE": "/console/api",
    "ZOOMOPS_CONSOLE_UPLOAD_ORIGIN": "https://zoomops-files-123456789012-eu-west-1.s3.eu-west-1.amazonaws.com",
}


@pytest.fixture
def console(monkeypatch):
    for name, value in HOSTED.items():
        monkeypatch.setenv(name, value)
    return load_handler("console")


def get(module, path: str, *, method: str = "GET", headers: dict | None = None) -> dict:
    event = {"rawPath": path, "headers": headers or {}, "requestContext": {"http": {"method": method, "path": path}}}
    return module.handler(event, None)


def test_the_page_and_its_files_are_served_with_their_types(console) -> None:
    for path in ("/console", "/console/"):
        page = get(console, path)
        assert page["statusCode"] == 200 and page["headers"]["Content-Type"] == "text/html; charset=utf-8"
        assert '<script type="module" src="/console/app.js"></script>' in page["body"]
    assert get(console, "/console/app.js")["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert get(console, "/console/js/views/removal.js")["statusCode"] == 200
    assert get(console, "/console/app.css")["headers"]["Content-Type"] == "text/css; charset=utf-8"


def test_every_answer_carries_the_security_headers(console) -> None:
    for path in ("/console", "/console/app.js", "/console/config.json", "/console/nope"):
        headers = get(console, path)["headers"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_the_content_security_policy_allows_no_inline_code_and_only_the_needed_origins(console) -> None:
    policy = dict(
        (part.split(" ", 1) + [""])[:2]
        for part in get(console, "/console")["headers"]["Content-Security-Policy"].split("; ")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert "unsafe" not in " ".join(policy.values())
    assert policy["connect-src"].split() == [
        "'self'",
        HOSTED["ZOOMOPS_CONSOLE_UPLOAD_ORIGIN"],
        f"https://{HOSTED['ZOOMOPS_CONSOLE_AUTH_DOMAIN']}",
    ]
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'" and policy["trusted-types"] == "'none'"


def test_config_json_is_built_from_the_environment_and_never_cached(console) -> None:
    answer = get(console, "/console/config.json")
    assert answer["headers"]["Cache-Control"] == "no-store"
    assert json.loads(answer["body"]) == {
        "signIn": "hosted",
        "region": "eu-west-1",
        "userPoolId": "eu-west-1_AbCdEf123",
        "clientId": "4example5client6id7",
        "authDomain": HOSTED["ZOOMOPS_CONSOLE_AUTH_DOMAIN"],
        "identityProvider": "Campus",
        "scope": "openid email zoomops/console",
        "apiBase": "/console/api",
        "uploadOrigin": HOSTED["ZOOMOPS_CONSOLE_UPLOAD_ORIGIN"],
    }


def test_files_are_revalidated_by_etag(console) -> None:
    first = get(console, "/console/app.js")
    assert first["headers"]["Cache-Control"] == "no-cache"
    again = get(console, "/console/app.js", headers={"if-none-match": first["headers"]["ETag"]})
    assert again["statusCode"] == 304 and again["body"] == ""
    assert get(console, "/console/app.js", headers={"if-none-match": '"other"'})["statusCode"] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/console/../functions/console/app.py",
        "/console/..%2fapp.py",
        "/console/%2e%2e/%2e%2e/template.yaml",
        "/console/js/../../app.py",
        "/console/js/../app.js/../../app.py",
        "/console//etc/passwd",
        "/console/app.py",
        "/console/.env",
        "/console/api/tokens",
        "/consoleapp.js",
        "/app.js",
    ],
)
def test_nothing_outside_the_static_files_is_served(console, path: str) -> None:
    answer = get(console, path)
    assert answer["statusCode"] == 404, path
    assert "import" not in answer["body"] and "def " not in answer["body"]


def test_only_get_and_head_are_answered(console) -> None:
    assert get(console, "/console", method="POST")["statusCode"] == 405
    head = get(console, "/console/app.js", method="HEAD")
    assert head["statusCode"] == 200 and head["body"] == ""


def test_a_missing_or_wrong_setting_stops_the_cold_start_naming_it(monkeypatch) -> None:
    for name, value in HOSTED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ZOOMOPS_CONSOLE_AUTH_DOMAIN")
    with pytest.raises(RuntimeError, match="ZOOMOPS_CONSOLE_AUTH_DOMAIN"):
        load_handler("console")
    monkeypatch.setenv("ZOOMOPS_CONSOLE_SIGN_IN", "open")
    with pytest.raises(RuntimeError, match="ZOOMOPS_CONSOLE_SIGN_IN"):
        load_handler("console")


def test_password_mode_needs_no_sign_in_domain(monkeypatch) -> None:
    for name, value in HOSTED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ZOOMOPS_CONSOLE_SIGN_IN", "password")
    for name in ("ZOOMOPS_CONSOLE_AUTH_DOMAIN", "ZOOMOPS_CONSOLE_SCOPE", "ZOOMOPS_CONSOLE_IDENTITY_PROVIDER"):
        monkeypatch.delenv(name)
    module = load_handler("console")
    policy = get(module, "/console")["headers"]["Content-Security-Policy"]
    assert "amazoncognito" not in policy


# -- the static files themselves: safe by construction ------------------------------------------------------
def test_the_page_has_no_inline_script_style_or_handlers() -> None:
    html = (STATIC / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*['\"`]"
)


@pytest.mark.parametrize("script", sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*.js")))
def test_scripts_never_write_markup(script: str) -> None:
    """Every value (a CSV cell, a Zoom name) reaches the page as text; Trusted Types would refuse it anyway."""
    assert SINKS.findall((STATIC / script).read_text()) == []
