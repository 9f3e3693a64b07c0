"""The admins' console: its static files and config.json, behind API Gateway (HTTP API, payload 2.0).

Thin and dependency-free (no layer, no AWS permissions: it holds no data). The files are the ones beside this
module under static/, read once per container; nothing else on disk can be asked for (a request names a file of
that list or gets 404, so ``..`` and encoded variants lead nowhere). Every answer carries a strict
Content-Security-Policy (scripts, styles and connections from this origin only, plus the sign-in domain and the
upload bucket; Trusted Types on, so no string ever reaches an HTML sink), ``nosniff``, ``no-referrer`` and
``frame-ancestors 'none'``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
SIGN_IN_MODES = ("hosted", "password")


def _setting(name: str, *, required: bool = True) -> str:
    value = os.environ.get(name, "").strip()
    if required and not value:
        raise RuntimeError(f"{name} is not set")  # a cold-start error naming the variable
    return value


def load_config() -> dict[str, str]:
    """config.json, from the environment template.yaml (or the local server) gives the function."""
    mode = _setting("ZOOMOPS_CONSOLE_SIGN_IN")
    if mode not in SIGN_IN_MODES:
        raise RuntimeError(f"ZOOMOPS_CONSOLE_SIGN_IN must be one of {', '.join(SIGN_IN_MODES)}, not {mode!r}")
    return {
        "signIn": mode,
        "region": _setting("ZOOMOPS_CONSOLE_REGION"),
        "userPoolId": _setting("ZOOMOPS_CONSOLE_USER_POOL_ID"),
        "clientId": _setting("ZOOMOPS_CONSOLE_CLIENT_ID"),
        "authDomain": _setting("ZOOMOPS_CONSOLE_AUTH_DOMAIN", required=mode == "hosted"),
        "identityProvider": _setting("ZOOMOPS_CONSOLE_IDENTITY_PROVIDER", required=False),
        "scope": _setting("ZOOMOPS_CONSOLE_SCOPE", required=mode == "hosted"),
        "apiBase": _setting("ZOOMOPS_CONSOLE_API_BASE"),
        "uploadOrigin": _setting("ZOOMOPS_CONSOLE_UPLOAD_ORIGIN"),
    }


def content_security_policy(config: dict[str, str]) -> str:
    connect = ["'self'", config["uploadOrigin"]]
    if config["authDomain"]:
        connect.append(f"https://{config['authDomain']}")
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {' '.join(connect)}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types 'none'",
        )
    )


def load_files() -> dict[str, tuple[bytes, str]]:
    """Every file under static/ by its path there (``index.html``, ``js/api.js``): bytes and content type."""
    files = {}
    for path in sorted(STATIC.rglob("*")):
        if path.is_file() and path.suffix in TYPES:
            files[path.relative_to(STATIC).as_posix()] = (path.read_bytes(), TYPES[path.suffix])
    return files


CONFIG = load_config()
FILES = load_files()
CONFIG_JSON = json.dumps(CONFIG, indent=2).encode()
SECURITY_HEADERS = {
    "Content-Security-Policy": content_security_policy(CONFIG),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def _answer(status: int, body: bytes, content_type: str, **headers: str) -> dict:
    return {
        "statusCode": status,
        "headers": {**SECURITY_HEADERS, "Content-Type": content_type, **headers},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def _file_name(path: str) -> str | None:
    """``/console`` and ``/console/`` are index.html; ``/console/<name>`` is <name>; anything else none."""
    if path in ("/console", "/console/"):
        return "index.html"
    return path[len("/console/") :] if path.startswith("/console/") else None


def handler(event: dict, context: object) -> dict:
    method = event.get("requestContext", {}).get("http", {}).get("method", "GET")
    if method not in ("GET", "HEAD"):
        return _answer(405, b"method not allowed\n", "text/plain; charset=utf-8", Allow="GET, HEAD")
    name = _file_name(event.get("rawPath") or "/")
    if name == "config.json":
        return _answer(200, CONFIG_JSON, "application/json", **{"Cache-Control": "no-store"})
    if name not in FILES:
        return _answer(404, b"not found\n", "text/plain; charset=utf-8", **{"Cache-Control": "no-store"})
    body, content_type = FILES[name]
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    cache = {"Cache-Control": "no-cache", "ETag": etag}  # revalidate: file names carry no version
    if (event.get("headers") or {}).get("if-none-match") == etag:
        return {"statusCode": 304, "headers": {**SECURITY_HEADERS, **cache}, "body": ""}
    return _answer(200, body if method == "GET" else b"", content_type, **cache)
